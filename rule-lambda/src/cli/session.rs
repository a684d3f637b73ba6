//! The AWS side of a CLI run: the standard SDK configuration (with the rule's retry policy), the
//! Regions to work in, and per-Region clients.

use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::ProvideCredentials;

use super::CliError;
use crate::clients::load_sdk_config;
use crate::kms::KmsReader;
use crate::kms::KmsRegion;
use crate::params::RuleParameters;

/// The SDK configuration and the Regions of this run.
#[derive(Debug, Clone)]
pub struct Session {
    sdk: SdkConfig,
    regions: Vec<String>,
}

impl Session {
    /// Load the standard configuration; check that credentials resolve and that there is a Region.
    /// `regions` (from `--region`) overrides the environment's Region.
    pub async fn load(regions: &[String]) -> Result<Self, CliError> {
        let sdk = load_sdk_config().await;
        let regions = match distinct(regions) {
            r if !r.is_empty() => r,
            _ => vec![sdk
                .region()
                .map(|r| r.as_ref().to_owned())
                .ok_or(CliError::NoRegion)?],
        };
        let provider = sdk
            .credentials_provider()
            .ok_or_else(|| CliError::NoCredentials("no credentials provider".into()))?;
        match provider.provide_credentials().await {
            Ok(_) => {}
            Err(CredentialsError::CredentialsNotLoaded(_)) => {
                return Err(CliError::NoCredentials(
                    "none in the environment, a profile, web identity, the container or instance metadata".into(),
                ))
            }
            Err(e) => return Err(CliError::NoCredentials(chain(&e))),
        }
        Ok(Self { sdk, regions })
    }

    /// The Regions, in the order given, without repeats.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    pub fn kms_client(&self, region: &str) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::config::Builder::from(&self.sdk)
                .region(Region::new(region.to_owned()))
                .build(),
        )
    }

    pub fn kms_region(&self, region: &str, params: &RuleParameters) -> KmsRegion {
        let client = self.kms_client(region);
        KmsRegion {
            region: region.to_owned(),
            reader: KmsReader::new(client.clone(), params),
            client,
        }
    }

    /// KMS in every Region of the session, in the order given.
    pub fn kms_regions(&self, params: &RuleParameters) -> Vec<KmsRegion> {
        self.regions()
            .iter()
            .map(|r| self.kms_region(r, params))
            .collect()
    }

    pub fn config_client(&self, region: &str) -> aws_sdk_config::Client {
        aws_sdk_config::Client::from_conf(
            aws_sdk_config::config::Builder::from(&self.sdk)
                .region(Region::new(region.to_owned()))
                .build(),
        )
    }
}

/// An error and its sources, by their Display only (the SDK's Debug forms are pages long).
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// The values in their first-seen order, repeats and blanks dropped.
fn distinct(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        if !out.iter().any(|o| o == v) {
            out.push(v.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_keep_their_order_without_repeats() {
        let given: Vec<String> = ["eu-west-1", "us-east-1", "eu-west-1", " "]
            .map(String::from)
            .to_vec();
        assert_eq!(distinct(&given), ["eu-west-1", "us-east-1"]);
    }
}
