//! The SDK clients, built once per process, and their cross-account twins (RDK's
//! `ExecutionRoleName`): the same clients with the credentials of a role assumed in the
//! evaluated account.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use thiserror::Error;

use crate::aws_error::describe;

#[derive(Debug, Error)]
#[error("sts:AssumeRole {role_arn} failed: {message}. The role must exist in the evaluated account and trust the rule's execution role (see docs/deploy.md)")]
pub struct AssumeRoleError {
    pub role_arn: String,
    pub message: String,
}

/// Attempts per AWS call: throttling, 5xx and network errors are retried with exponential backoff
/// and jitter (the SDK's standard retry mode) before a key is reported as failed.
pub const MAX_ATTEMPTS: u32 = 8;
/// One HTTP attempt is given up after this (KMS and Config answer in milliseconds; a connection
/// that is accepted and never answered must not hold a key until the Lambda's deadline).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// A whole call, retries included, is given up after this; the key is then reported as failed.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(25);

/// The retry policy both binaries use: the SDK's standard mode, [`MAX_ATTEMPTS`] attempts,
/// backoff from 200 ms up to 5 s with jitter. (Slowing down on throttling is the KMS reader's
/// job: see `crate::pace::Pacer`.)
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(5))
}

/// The timeouts both binaries use: the SDK's 3.1 s connect timeout, [`ATTEMPT_TIMEOUT`] and
/// [`OPERATION_TIMEOUT`].
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(3100))
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The standard AWS configuration (environment, profiles, `AWS_ENDPOINT_URL`, IMDS, ...), with the
/// retry policy both binaries use and one shared HTTP client.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .http_client(shared_http_client())
        .load()
        .await
}

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc, proxies from the environment),
/// made once: every client built from the configuration shares its connection pool. Without it
/// the SDK makes one per client, and a run over hundreds of account-Regions kept thousands of
/// idle connections (and their buffers) alive: 590 MiB where one pool needs a fraction (make
/// bench-org, docs/performance.md).
fn shared_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    use aws_smithy_http_client::{Builder, Connector};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = Connector::builder().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The clients the rule and the CLI use.
#[derive(Clone, Debug)]
pub struct Clients {
    pub kms: aws_sdk_kms::Client,
    pub config: aws_sdk_config::Client,
    pub sts: aws_sdk_sts::Client,
    /// Notices to exception owners (`crate::notice`).
    pub events: aws_sdk_eventbridge::Client,
}

impl Clients {
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            kms: aws_sdk_kms::Client::new(sdk),
            config: aws_sdk_config::Client::new(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
            events: aws_sdk_eventbridge::Client::new(sdk),
        }
    }

    /// The same clients, signing with the credentials of `role_arn`.
    #[tracing::instrument(skip(self))]
    pub async fn assume_role(&self, role_arn: &str) -> Result<Self, AssumeRoleError> {
        let fail = |message: String| AssumeRoleError {
            role_arn: role_arn.to_owned(),
            message,
        };
        let out = self
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name("kms-rotation-rule")
            .send()
            .await
            .map_err(|e| fail(describe(&e)))?;
        let c = out
            .credentials
            .ok_or_else(|| fail("the answer has no Credentials".into()))?;
        let expiry = std::time::SystemTime::try_from(c.expiration).ok();
        let credentials = Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            expiry,
            "AssumeRole",
        );
        Ok(Self {
            kms: aws_sdk_kms::Client::from_conf(
                self.kms
                    .config()
                    .to_builder()
                    .credentials_provider(credentials.clone())
                    .build(),
            ),
            config: aws_sdk_config::Client::from_conf(
                self.config
                    .config()
                    .to_builder()
                    .credentials_provider(credentials.clone())
                    .build(),
            ),
            // The notices go to the evaluated account's default event bus.
            events: aws_sdk_eventbridge::Client::from_conf(
                self.events
                    .config()
                    .to_builder()
                    .credentials_provider(credentials)
                    .build(),
            ),
            sts: self.sts.clone(),
        })
    }
}
