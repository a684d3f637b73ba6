//! The AWS side of a CLI run: the standard SDK configuration (with the rule's retry policy), the
//! caller, the accounts and Regions to work in ([`Session::targets`]), and clients for each.
//!
//! Accounts other than the caller's are read through the role `--role-name`, assumed with
//! aws-config's `AssumeRoleProvider` (credentials cached and refreshed for runs longer than a
//! session). The AWS pages this rests on: STS AssumeRole
//! (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html), Organizations
//! ListAccounts, whose `State` ACTIVE marks accounts that can be worked in (`Status` was retired
//! on September 9, 2026)
//! (https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html), and
//! Account ListRegions with `RegionOptStatusContains` ENABLED and ENABLED_BY_DEFAULT
//! (https://docs.aws.amazon.com/accounts/latest/reference/API_ListRegions.html).

use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use futures::StreamExt;

use crate::args::{parse_accounts_file, AccountId, ScopeArgs};
use crate::gate::Gate;
use crate::CliError;
use kms_rotation_core::aws_error::describe;
use kms_rotation_core::clients::load_sdk_config;
use kms_rotation_core::kms::KmsReader;
use kms_rotation_core::kms::KmsRegion;
use kms_rotation_core::params::RuleParameters;

/// Accounts whose role is assumed, or whose Regions are listed, at once.
const ACCOUNTS_AT_ONCE: usize = 16;

/// Who runs the command (sts:GetCallerIdentity).
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: String,
    /// `aws`, `aws-cn`, `aws-us-gov`: from the caller's ARN.
    pub partition: String,
    /// The caller's ARN (the evidence manifest names who ran the command); `None` when STS
    /// gave none.
    pub arn: Option<String>,
}

/// Which accounts to work in, from the flags (an accounts file is read before any AWS call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// The caller's own account.
    Caller,
    Listed(Vec<AccountId>),
    /// Every ACTIVE account of the caller's organization.
    Organization,
}

impl Accounts {
    /// The accounts the flags name; `Caller` when none does.
    pub fn from_flags(scope: &ScopeArgs) -> Result<Self, CliError> {
        if scope.organization {
            return Ok(Self::Organization);
        }
        let mut ids = scope.accounts.clone();
        if let Some(path) = &scope.accounts_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::Usage(format!(
                    "cannot read --accounts-file {}: {e}",
                    path.display()
                ))
            })?;
            ids = parse_accounts_file(&text).map_err(|e| {
                CliError::Usage(format!("invalid --accounts-file {}: {e}", path.display()))
            })?;
            if ids.is_empty() {
                return Err(CliError::Usage(format!(
                    "--accounts-file {} names no account",
                    path.display()
                )));
            }
        }
        if ids.is_empty() {
            return Ok(Self::Caller);
        }
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(id.clone()));
        Ok(Self::Listed(ids))
    }

    /// Whether the flags ask for more than the caller's own account and Regions.
    pub fn is_multi(&self, scope: &ScopeArgs) -> bool {
        *self != Self::Caller || scope.all_regions
    }
}

/// The accounts and Regions of a run: KMS in each one that could be reached, and the ones that
/// could not, named.
pub struct Targets {
    /// By account, then Region, in the order given.
    pub kms: Vec<KmsRegion>,
    /// An account (every Region of it) or an account-Region that could not be reached.
    pub failed: Vec<CliError>,
    /// The organization's id, when `--organization` listed its accounts.
    pub organization_id: Option<String>,
    /// The accounts asked for.
    pub accounts: usize,
    /// What the run was asked to work on: the accounts and the Regions (`--region`s, or every
    /// enabled one); what a `--state` file is the state of.
    pub asked: String,
    /// Each reachable account's configuration (its credentials), for other services than KMS.
    pub configs: std::collections::HashMap<String, SdkConfig>,
}

impl Targets {
    /// How many distinct Regions the reachable account-Regions are in, for the summaries.
    pub fn region_count(&self) -> usize {
        self.kms
            .iter()
            .map(|k| k.region.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len()
    }
}

/// One account, reached: KMS in each of its Regions, and its configuration.
type Reached = (Vec<KmsRegion>, SdkConfig);

/// The SDK configuration, the caller, and the Regions of this run.
#[derive(Debug, Clone)]
pub struct Session {
    sdk: SdkConfig,
    regions: Vec<String>,
    home_region: String,
    /// Asked of STS once, by the commands that need it.
    caller: std::sync::Arc<tokio::sync::OnceCell<Caller>>,
}

impl Session {
    /// Load the standard configuration; check that credentials resolve and that there is a
    /// Region. `regions` (from `--region`) overrides the environment's Region;
    /// with `all_regions` the Regions are listed per account by [`Session::targets`].
    pub async fn load(regions: &[String], all_regions: bool) -> Result<Self, CliError> {
        let sdk = load_sdk_config().await;
        let env_region = sdk.region().map(|r| r.as_ref().to_owned());
        let regions = match distinct(regions) {
            r if !r.is_empty() => r,
            _ if all_regions => Vec::new(),
            _ => vec![env_region.clone().ok_or(CliError::NoRegion)?],
        };
        let home_region = env_region
            .or_else(|| regions.first().cloned())
            .ok_or(CliError::NoRegion)?;
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
        Ok(Self {
            sdk,
            regions,
            home_region,
            caller: Default::default(),
        })
    }

    /// The Regions, in the order given, without repeats (empty with `--all-regions`).
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// Who runs the command (sts:GetCallerIdentity, asked once).
    pub async fn caller(&self) -> Result<&Caller, CliError> {
        self.caller
            .get_or_try_init(|| caller(&self.sdk, &self.home_region))
            .await
    }

    /// KMS in one Region of the caller's account.
    pub async fn kms_region(
        &self,
        region: &str,
        params: &RuleParameters,
    ) -> Result<KmsRegion, CliError> {
        let account = &self.caller().await?.account;
        Ok(kms_region(&self.sdk, account, region, params, None))
    }

    pub fn config_client(&self, region: &str) -> aws_sdk_config::Client {
        aws_sdk_config::Client::from_conf(
            aws_sdk_config::config::Builder::from(&self.sdk)
                .region(Region::new(region.to_owned()))
                .build(),
        )
    }

    /// KMS in every account and Region of the run. An account whose role cannot be assumed, or
    /// whose Regions cannot be listed, is named in `failed` and the others go on; an
    /// organization that cannot be listed is an error.
    pub async fn targets(
        &self,
        accounts: &Accounts,
        scope: &ScopeArgs,
        params: &RuleParameters,
    ) -> Result<Targets, CliError> {
        let caller = self.caller().await?;
        // Every KMS request of the run holds one of --max-in-flight permits.
        let gate = self
            .sdk
            .http_client()
            .map(|inner| Gate::new(scope.max_in_flight as usize, inner));
        let gate = gate.as_ref();
        let (ids, organization_id) = match accounts {
            Accounts::Caller => (vec![caller.account.clone()], None),
            Accounts::Listed(ids) => (ids.iter().map(ToString::to_string).collect(), None),
            Accounts::Organization => {
                let (ids, org) = self.organization().await?;
                (ids, Some(org))
            }
        };
        let count = ids.len();
        let mut sorted = ids.clone();
        sorted.sort();
        let asked = format!(
            "accounts [{}] in {}",
            sorted.join(","),
            if self.regions.is_empty() {
                "every enabled Region".to_owned()
            } else {
                format!("[{}]", self.regions.join(","))
            }
        );
        let reached: Vec<(String, Result<Reached, CliError>)> = futures::stream::iter(ids)
            .map(|account| async move {
                let result = self.account(caller, &account, scope, params, gate).await;
                (account, result)
            })
            .buffered(ACCOUNTS_AT_ONCE)
            .collect()
            .await;
        let mut targets = Targets {
            kms: Vec::new(),
            failed: Vec::new(),
            organization_id,
            accounts: count,
            asked,
            configs: Default::default(),
        };
        for (account, result) in reached {
            match result {
                Ok((kms, config)) => {
                    targets.kms.extend(kms);
                    targets.configs.insert(account, config);
                }
                Err(e) => targets.failed.push(e),
            }
        }
        Ok(targets)
    }

    /// KMS in each Region of one account, with the credentials to read it.
    async fn account(
        &self,
        caller: &Caller,
        account: &str,
        scope: &ScopeArgs,
        params: &RuleParameters,
        gate: Option<&Gate>,
    ) -> Result<Reached, CliError> {
        let unreachable = |message: String| CliError::Unreachable {
            account: account.to_owned(),
            region: None,
            message,
        };
        let sdk = if account == caller.account {
            self.sdk.clone()
        } else {
            let role = format!("role/{}", scope.role_name);
            let role_arn =
                kms_rotation_core::arn::Arn::iam(&caller.partition, account, &role).to_string();
            let provider = AssumeRoleProvider::builder(&role_arn)
                .session_name("kms-rotation")
                .region(Region::new(self.home_region.clone()))
                .configure(&self.sdk)
                .build()
                .await;
            // Assumed once here, so that a role that cannot be assumed is named before any key
            // is read; the clients take these credentials first, then refresh them as they
            // expire.
            let first = provider.provide_credentials().await.map_err(|e| {
                unreachable(format!(
                    "sts:AssumeRole {role_arn} failed: {}. The role must exist in the account and trust the identity you run as (--role-name; see docs/operator-guide.md, Many accounts)",
                    chain(&e)
                ))
            })?;
            let primed = Primed {
                first: std::sync::Mutex::new(Some(first)),
                provider,
            };
            // An identity cache of its own: a shared one keeps 64 identities, and with more
            // accounts than that their credentials would push each other out (one AssumeRole a
            // few keys, measured by make bench-org). The account's clients share this one.
            self.sdk
                .to_builder()
                .credentials_provider(SharedCredentialsProvider::new(primed))
                .identity_cache(aws_config::identity::IdentityCache::lazy().build())
                .build()
        };
        let regions = if self.regions.is_empty() {
            enabled_regions(&sdk, &self.home_region)
                .await
                .map_err(unreachable)?
        } else {
            self.regions.clone()
        };
        let kms = regions
            .iter()
            .map(|region| kms_region(&sdk, account, region, params, gate))
            .collect();
        Ok((kms, sdk))
    }

    /// The ACTIVE accounts of the caller's organization, in the order listed, and its id.
    async fn organization(&self) -> Result<(Vec<String>, String), CliError> {
        let org = aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::config::Builder::from(&self.sdk)
                .region(Region::new(self.home_region.clone()))
                .build(),
        );
        organization_accounts(&org).await
    }
}

/// Whether an account of ListAccounts is ACTIVE, by its `State`. The older `Status` was retired
/// on September 9, 2026 (the Organizations API model, `Account.Status`: "will be retired on
/// September 9, 2026 ... use the State parameter instead"); it is read only when an answer has no
/// `State` (an older endpoint or an emulator).
fn is_active(account: &aws_sdk_organizations::types::Account) -> bool {
    use aws_sdk_organizations::types::{AccountState, AccountStatus};
    match account.state() {
        Some(state) => *state == AccountState::Active,
        None => account.status() == Some(&AccountStatus::Active),
    }
}

/// The ACTIVE accounts of the organization (ListAccounts, every page) and its id
/// (DescribeOrganization).
async fn organization_accounts(
    org: &aws_sdk_organizations::Client,
) -> Result<(Vec<String>, String), CliError> {
    let failed =
        |operation: &'static str, message: String| CliError::Organizations { operation, message };
    let id = org
        .describe_organization()
        .send()
        .await
        .map_err(|e| failed("DescribeOrganization", describe(&e)))?
        .organization
        .and_then(|o| o.id)
        .ok_or_else(|| failed("DescribeOrganization", "the answer has no Id".into()))?;
    let pages: Vec<_> = org
        .list_accounts()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| failed("ListAccounts", describe(&e)))?;
    let ids = pages
        .into_iter()
        .flat_map(|page| page.accounts.unwrap_or_default())
        .filter(is_active)
        .filter_map(|a| a.id)
        .collect();
    Ok((ids, id))
}

/// A role's credentials: the first ones, taken when the role was checked, then the provider's
/// (which assumes the role again). The clients' identity cache asks again only as they expire, so
/// an account costs one AssumeRole an hour.
#[derive(Debug)]
struct Primed {
    first: std::sync::Mutex<Option<aws_credential_types::Credentials>>,
    provider: AssumeRoleProvider,
}

impl ProvideCredentials for Primed {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let first = self
            .first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match first {
            Some(credentials) => {
                aws_credential_types::provider::future::ProvideCredentials::ready(Ok(credentials))
            }
            None => self.provider.provide_credentials(),
        }
    }
}

/// The caller's account and partition (sts:GetCallerIdentity, which needs no permission).
async fn caller(sdk: &SdkConfig, region: &str) -> Result<Caller, CliError> {
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(sdk)
            .region(Region::new(region.to_owned()))
            .build(),
    );
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| CliError::Sts(describe(&e)))?;
    let account = out
        .account
        .ok_or_else(|| CliError::Sts("the answer has no Account".into()))?;
    let partition = out
        .arn
        .as_deref()
        .and_then(|arn| kms_rotation_core::arn::Arn::parse(arn).ok())
        .map_or("aws", |arn| arn.partition)
        .to_owned();
    Ok(Caller {
        account,
        partition,
        arn: out.arn,
    })
}

/// The Regions enabled in the account of `sdk`'s credentials.
async fn enabled_regions(sdk: &SdkConfig, home_region: &str) -> Result<Vec<String>, String> {
    let account = aws_sdk_account::Client::from_conf(
        aws_sdk_account::config::Builder::from(sdk)
            .region(Region::new(home_region.to_owned()))
            .build(),
    );
    list_enabled_regions(&account).await
}

/// account:ListRegions of the caller's own account (no AccountId), every page, with
/// RegionOptStatusContains ENABLED and ENABLED_BY_DEFAULT; sorted by name.
async fn list_enabled_regions(account: &aws_sdk_account::Client) -> Result<Vec<String>, String> {
    use aws_sdk_account::types::RegionOptStatus;
    let regions: Vec<aws_sdk_account::types::Region> = account
        .list_regions()
        .region_opt_status_contains(RegionOptStatus::Enabled)
        .region_opt_status_contains(RegionOptStatus::EnabledByDefault)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| {
            format!(
                "account:ListRegions failed: {}. Grant account:ListRegions to the role, or name the Regions with --region",
                describe(&e)
            )
        })?;
    let mut names: Vec<String> = regions.into_iter().filter_map(|r| r.region_name).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

fn kms_client(sdk: &SdkConfig, region: &str, gate: Option<&Gate>) -> aws_sdk_kms::Client {
    let mut config = aws_sdk_kms::config::Builder::from(sdk).region(Region::new(region.to_owned()));
    if let Some(gate) = gate {
        config = config.http_client(gate.http_client());
    }
    aws_sdk_kms::Client::from_conf(config.build())
}

fn kms_region(
    sdk: &SdkConfig,
    account: &str,
    region: &str,
    params: &RuleParameters,
    gate: Option<&Gate>,
) -> KmsRegion {
    let client = kms_client(sdk, region, gate);
    KmsRegion {
        account_id: account.to_owned(),
        region: region.to_owned(),
        reader: KmsReader::new(client.clone(), params),
        client,
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
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    #[tokio::test]
    async fn all_regions_are_the_enabled_ones_of_every_page() {
        use aws_sdk_account::operation::list_regions::ListRegionsOutput;
        use aws_sdk_account::types::{Region as AccountRegion, RegionOptStatus};
        let region = |name: &str, status| {
            AccountRegion::builder()
                .region_name(name)
                .region_opt_status(status)
                .build()
        };
        // Only a request that asks for ENABLED and ENABLED_BY_DEFAULT is answered.
        let asks_enabled = |r: &aws_sdk_account::operation::list_regions::ListRegionsInput| {
            r.region_opt_status_contains()
                == [RegionOptStatus::Enabled, RegionOptStatus::EnabledByDefault]
        };
        let first = mock!(aws_sdk_account::Client::list_regions)
            .match_requests(move |r| asks_enabled(r) && r.next_token().is_none())
            .then_output(move || {
                ListRegionsOutput::builder()
                    .regions(region("us-east-1", RegionOptStatus::EnabledByDefault))
                    .regions(region("af-south-1", RegionOptStatus::Enabled))
                    .next_token("page2")
                    .build()
            });
        let second = mock!(aws_sdk_account::Client::list_regions)
            .match_requests(move |r| asks_enabled(r) && r.next_token() == Some("page2"))
            .then_output(move || {
                ListRegionsOutput::builder()
                    .regions(region("eu-west-1", RegionOptStatus::EnabledByDefault))
                    .build()
            });
        let client = mock_client!(aws_sdk_account, RuleMode::MatchAny, [&first, &second]);
        assert_eq!(
            list_enabled_regions(&client).await.unwrap(),
            ["af-south-1", "eu-west-1", "us-east-1"]
        );

        let denied = mock!(aws_sdk_account::Client::list_regions).then_error(|| {
            aws_sdk_account::operation::list_regions::ListRegionsError::AccessDeniedException(
                aws_sdk_account::types::error::AccessDeniedException::builder()
                    .message("not authorized to perform: account:ListRegions")
                    .build()
                    .unwrap(),
            )
        });
        let client = mock_client!(aws_sdk_account, [&denied]);
        let e = list_enabled_regions(&client).await.unwrap_err();
        assert!(
            e.starts_with("account:ListRegions failed:") && e.contains("--region"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn the_organization_is_its_active_accounts_of_every_page() {
        use aws_sdk_organizations::operation::describe_organization::DescribeOrganizationOutput;
        use aws_sdk_organizations::operation::list_accounts::ListAccountsOutput;
        use aws_sdk_organizations::types::{Account, AccountState, AccountStatus, Organization};
        // An answer of today carries State (Status was retired on 2026-09-09); an older one only
        // Status.
        let account = |id: &str, state| Account::builder().id(id).state(state).build();
        let old_style = |id: &str, status| Account::builder().id(id).status(status).build();
        let org = mock!(aws_sdk_organizations::Client::describe_organization).then_output(|| {
            DescribeOrganizationOutput::builder()
                .organization(Organization::builder().id("o-abc123def4").build())
                .build()
        });
        let first = mock!(aws_sdk_organizations::Client::list_accounts)
            .match_requests(|r| r.next_token().is_none())
            .then_output(move || {
                ListAccountsOutput::builder()
                    .accounts(account("111111111111", AccountState::Active))
                    .accounts(account("222222222222", AccountState::Suspended))
                    .accounts(old_style("555555555555", AccountStatus::Active))
                    .accounts(old_style("666666666666", AccountStatus::Suspended))
                    // State wins over a stale Status.
                    .accounts(
                        Account::builder()
                            .id("777777777777")
                            .state(AccountState::Closed)
                            .status(AccountStatus::Active)
                            .build(),
                    )
                    .next_token("t2")
                    .build()
            });
        let second = mock!(aws_sdk_organizations::Client::list_accounts)
            .match_requests(|r| r.next_token() == Some("t2"))
            .then_output(move || {
                ListAccountsOutput::builder()
                    .accounts(account("333333333333", AccountState::PendingClosure))
                    .accounts(account("444444444444", AccountState::Active))
                    .accounts(account("888888888888", AccountState::PendingActivation))
                    .build()
            });
        let client = mock_client!(
            aws_sdk_organizations,
            RuleMode::MatchAny,
            [&org, &first, &second]
        );
        let (ids, id) = organization_accounts(&client).await.unwrap();
        assert_eq!(ids, ["111111111111", "555555555555", "444444444444"]);
        assert_eq!(id, "o-abc123def4");

        let denied = mock!(aws_sdk_organizations::Client::describe_organization).then_error(|| {
            aws_sdk_organizations::operation::describe_organization::DescribeOrganizationError::AwsOrganizationsNotInUseException(
                aws_sdk_organizations::types::error::AwsOrganizationsNotInUseException::builder()
                    .message("Your account is not a member of an organization.")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_organizations, [&denied]);
        let e = organization_accounts(&client)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("organizations:DescribeOrganization failed")
                && e.contains("--accounts-file"),
            "{e}"
        );
    }

    #[test]
    fn accounts_come_from_one_flag_checked_before_any_call() {
        let scope = |accounts: &[&str], file: Option<&std::path::Path>, org: bool| ScopeArgs {
            accounts: accounts.iter().map(|a| a.parse().unwrap()).collect(),
            accounts_file: file.map(ToOwned::to_owned),
            organization: org,
            ..ScopeArgs::default()
        };
        assert_eq!(
            Accounts::from_flags(&scope(&[], None, false)).unwrap(),
            Accounts::Caller
        );
        assert_eq!(
            Accounts::from_flags(&scope(&[], None, true)).unwrap(),
            Accounts::Organization
        );
        // Repeats dropped, order kept.
        let listed = Accounts::from_flags(&scope(
            &["222222222222", "111111111111", "222222222222"],
            None,
            false,
        ))
        .unwrap();
        assert_eq!(
            listed,
            Accounts::Listed(vec![
                "222222222222".parse().unwrap(),
                "111111111111".parse().unwrap()
            ])
        );
        let dir =
            std::env::temp_dir().join(format!("kms-rotation-accounts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("accounts.txt");
        std::fs::write(
            &file,
            "# prod\n111111111111\n\n  222222222222  # payments\n",
        )
        .unwrap();
        assert_eq!(
            Accounts::from_flags(&scope(&[], Some(&file), false)).unwrap(),
            Accounts::Listed(vec![
                "111111111111".parse().unwrap(),
                "222222222222".parse().unwrap()
            ])
        );
        std::fs::write(&file, "111111111111\n12345\n").unwrap();
        let e = Accounts::from_flags(&scope(&[], Some(&file), false))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2: `12345` is not an AWS account id"),
            "{e}"
        );
        std::fs::write(&file, "# nobody\n").unwrap();
        let e = Accounts::from_flags(&scope(&[], Some(&file), false))
            .unwrap_err()
            .to_string();
        assert!(e.contains("names no account"), "{e}");
        let e = Accounts::from_flags(&scope(&[], Some(&dir.join("missing")), false))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot read --accounts-file"), "{e}");
    }

    #[test]
    fn regions_keep_their_order_without_repeats() {
        let given: Vec<String> = ["eu-west-1", "us-east-1", "eu-west-1", " "]
            .map(String::from)
            .to_vec();
        assert_eq!(distinct(&given), ["eu-west-1", "us-east-1"]);
    }
}
