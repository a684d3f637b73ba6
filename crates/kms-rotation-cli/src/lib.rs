//! # kms-rotation-cli
//!
//! The operator CLI `kms-rotation`: audit, remediate, exceptions, rescan, check-iac, securityhub.
//! Every verdict comes from [`kms_rotation_core::evaluate::evaluate_key_id`], the rule's own driver
//! of [`kms_rotation_core::decision::decide`]; the binary (`rule-lambda`'s `kms-rotation`) only
//! parses and calls [`run`].
//!
//! The commands, one module each in [`commands`], never import each other; the steps they share
//! are the modules here:
//! - [`args`]: the command line (clap).
//! - `session`: SDK configuration, the caller, the accounts and Regions of a run (`--accounts`,
//!   `--organization`, `--role-name`, `--all-regions`), clients for each.
//! - `fleet`: every key of many account-Regions at once, under one bound on keys in flight;
//!   Ctrl-C. `gate`: the bound on KMS requests in flight (`--max-in-flight`).
//! - `state`: `--state FILE` / `--resume`.
//! - `sweep`: every key of many account-Regions evaluated, the engine of `audit`, `remediate`,
//!   `exceptions` and `securityhub`; `exception_review`: an exception tag classified.
//! - `report`: `audit --report FILE.html`, one self-contained page.
//! - `apply`: EnableKeyRotation, rate-limited and verified: the only change made to KMS.
//! - `plan`: the pure plan of remediation (batches in exposure order).
//! - [`exposure`]: a key policy classified public, cross-account or private, for that order;
//!   `key_policy` reads it.
//! - [`findings`]: verdicts as OCSF and ASFF findings (`finding_subjects`: the audited keys as
//!   their subjects); [`securityhub`]: Security Hub import,
//!   read-back and exception sync.
//! - `config_rules`: Config's rules found and evaluated again (`rescan`).
//! - `output`: the reports of `audit`, `exceptions` and `remediate`: tables, JSON lines, exit
//!   status; progress on a terminal.
#![warn(unreachable_pub)]

mod apply;
pub mod args;
pub mod commands;
mod config_rules;
mod evidence;
mod evidence_package;
mod exception_review;
pub mod exposure;
mod finding_subjects;
pub mod findings;
mod fleet;
mod gate;
pub mod key_policy;
mod last_use;
mod output;
mod plan;
mod report;
pub mod securityhub;
mod session;
mod state;
#[cfg(test)]
mod state_releases_tests;
mod sweep;

use thiserror::Error;

use args::{AwsArgs, Cli, Command, RuleArgs, ScopeArgs, TemplateRuleArgs};
use kms_rotation_core::aws_error::is_access_denied;
use kms_rotation_core::clients::MAX_ATTEMPTS;
use kms_rotation_core::config::{ConfigError, Refusal};
use kms_rotation_core::kms::KmsError;
use kms_rotation_core::params::{ParamError, RuleParameters, DEFAULT_ROTATION_GRACE_DAYS};
use session::{Accounts, Session};

/// The exit status of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Nothing to report.
    Clean = 0,
    /// Findings: NON_COMPLIANT keys, failed changes, expired or malformed exceptions.
    Findings = 1,
    /// An error: bad input, no credentials, a key that could not be evaluated.
    Error = 2,
    /// Stopped by Ctrl-C (128 + SIGINT): what was done is reported, and recorded with --state.
    Interrupted = 130,
}

/// Why a command could not do its job. Every message says what to do.
#[derive(Debug, Error)]
pub enum CliError {
    #[error("no AWS credentials found: set AWS_PROFILE (or pass --profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login` for an SSO profile (the SDK says: {0})")]
    NoCredentials(String),
    #[error("no AWS Region: pass --region REGION (repeatable) or set AWS_REGION")]
    NoRegion,
    #[error("{0}")]
    Usage(String),
    #[error("{}", explain_kms(&format!("{region} of account {account}"), error))]
    Kms {
        account: String,
        region: String,
        error: Box<KmsError>,
    },
    #[error("{}", explain_config(region, error))]
    Config { region: String, error: ConfigError },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{}", commands::securityhub::explain(.0))]
    SecurityHub(#[from] crate::securityhub::HubError),
    /// A key that cannot be written as a finding (its message says what to do).
    #[error("{0}")]
    Finding(#[from] crate::findings::FindingError),
    /// An account (every Region of it, when `region` is None) or an account-Region that could
    /// not be read.
    #[error("account {account}{}: {message}", region.as_ref().map(|r| format!(" in {r}")).unwrap_or_default())]
    Unreachable {
        account: String,
        region: Option<String>,
        message: String,
    },
    /// `exceptions --notify`: notices EventBridge did not take (each key is in the log).
    #[error("account {account} in {region}: {failed} exception notice(s) not put on the default event bus (the log names each key and EventBridge's answer): grant events:PutEvents on the default event bus of the account in {region}, for events:source kms-rotation-rule (OperatorCanSendNotices=true in member-account-roles.yaml; docs/notices.md)")]
    Notices {
        account: String,
        region: String,
        failed: usize,
    },
    /// The run was interrupted (Ctrl-C); what is left is said in the summary.
    #[error("interrupted: {0}")]
    Interrupted(String),
    #[error("sts:GetCallerIdentity failed (the account id is needed for the findings): {0}")]
    Sts(String),
    /// An Organizations call of `--organization` failed.
    #[error("organizations:{operation} failed: {message}. --organization runs from the management account or a delegated administrator, with organizations:{operation} allowed; or list the accounts with --accounts-file")]
    Organizations {
        operation: &'static str,
        message: String,
    },
    /// `--report FILE.html` could not be written; the audit itself was printed.
    #[error("cannot write --report {}: {source}: pass --report a file in a directory that exists and that you may write to (the audit above is complete)", path.display())]
    Report {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// `--resume`: a line the state file keeps for a finished account-Region is not an audit line.
    #[error(
        "the state file has a line that is not an audit line ({0}): run again without --resume"
    )]
    StateLine(serde_json::Error),
    /// The `--state FILE` could not be read or written.
    #[error("--state {}: {}", path.display(), op.explain(source))]
    StateFile {
        path: std::path::PathBuf,
        op: StateFileOp,
        source: std::io::Error,
    },
}

/// What was being done with a `--state` file when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFileOp {
    /// Reading an earlier run's records.
    Read,
    /// Opening it to append this run's records.
    Open,
    /// Appending a record (progress) during the run.
    Record,
}

impl StateFileOp {
    /// What failed and what to do about it.
    fn explain(self, e: &std::io::Error) -> String {
        match self {
            Self::Read => format!(
                "cannot read it ({e}): check the path and its permissions, or name another file"
            ),
            Self::Open => format!(
                "cannot open it for writing ({e}): check that its directory exists and is writable, or name another file"
            ),
            Self::Record => format!(
                "cannot record progress ({e}): the run stopped here; free disk space or fix the file's permissions, then run the same command with --resume"
            ),
        }
    }
}

impl CliError {
    /// A KMS failure in `region` of `account`.
    pub fn kms(account: &str, region: &str, error: KmsError) -> Self {
        Self::Kms {
            account: account.to_owned(),
            region: region.to_owned(),
            error: Box::new(error),
        }
    }
}

/// A KMS failure, in words that say what to do.
pub fn explain_kms(region: &str, e: &KmsError) -> String {
    let op = e.operation;
    let key = if e.key_id.is_empty() {
        String::new()
    } else {
        format!(" on key {}", e.key_id)
    };
    // By code: KMS's operations model none of these errors (aws_error.rs says which enums were
    // checked); the typed ones (NotFound, UnsupportedOperation) are values before this point.
    match e.code.as_deref() {
        Some(code) if is_access_denied(code) => format!(
            "access denied on kms:{op}{key} in {region}: grant kms:{op} to the identity you run as (see docs/operator-guide.md, Permissions). {}",
            e.message
        ),
        Some(code) if kms_rotation_core::aws_error::is_throttling(code) => format!(
            "kms:{op}{key} in {region} was throttled {MAX_ATTEMPTS} times in a row: run again later, or lower --max-rate. {}",
            e.message
        ),
        // What KMS answers in a Region that is not enabled in the account (an opt-in Region),
        // as well as to unknown credentials: both are said.
        Some("UnrecognizedClientException") => format!(
            "AWS did not recognise the credentials for kms:{op} in {region}: if they work in other Regions, {region} is probably not enabled in the account (an opt-in Region: enable it, or leave it out of --region); otherwise refresh them (`aws sso login`, new keys) or check AWS_PROFILE. {}",
            e.message
        ),
        Some(
            "InvalidClientTokenId"
            | "ExpiredTokenException"
            | "ExpiredToken"
            | "InvalidSignatureException",
        ) => format!(
            "AWS refused the credentials (kms:{op} in {region}): refresh them (`aws sso login`, new keys) or check AWS_PROFILE. {}",
            e.message
        ),
        Some(_) => format!("kms:{op}{key} in {region} failed: {}", e.message),
        None => format!(
            "kms:{op}{key} in {region} got no AWS answer: check the network, the Region name and AWS_ENDPOINT_URL if set. {}",
            e.message
        ),
    }
}

fn explain_config(region: &str, e: &ConfigError) -> String {
    let (operation, message, code) = match e {
        ConfigError::Api {
            operation,
            message,
            code,
            ..
        } => (*operation, message.as_str(), code.as_deref()),
        ConfigError::Refused {
            refusal, message, ..
        } => return explain_refusal(region, *refusal, message),
        ConfigError::Rejected { .. } | ConfigError::Several(_) => {
            return format!("{e} (in {region})")
        }
    };
    match code {
        // Not modeled by the operations called: matched by code (aws_error.rs).
        Some(code) if is_access_denied(code) => format!(
            "access denied on config:{operation} in {region}: grant config:{operation} to the identity you run as. {message}"
        ),
        Some(_) => format!("config:{operation} in {region} failed: {message}"),
        None => format!(
            "config:{operation} in {region} got no AWS answer: check the network, the Region name and AWS_ENDPOINT_URL if set. {message}"
        ),
    }
}

/// What to do about a refusal Config's API model names.
fn explain_refusal(region: &str, refusal: Refusal, message: &str) -> String {
    match refusal {
        Refusal::NoSuchRule => format!(
            "no AWS Config rule by that name in {region}: list the rules with `aws configservice describe-config-rules --region {region}` (a rule deployed by a conformance pack carries a suffix). {message}"
        ),
        Refusal::NoSuchConformancePack => format!(
            "no conformance pack by that name in {region}: list them with `aws configservice describe-conformance-packs --region {region}`. {message}"
        ),
        Refusal::LimitExceeded => format!(
            "AWS Config is already evaluating this rule in {region}, or too many evaluations were asked for: wait a few minutes and run again. {message}"
        ),
        Refusal::Busy => format!(
            "the rule is busy in {region} (being evaluated, created or deleted): run again in a few minutes. {message}"
        ),
    }
}

/// The rule parameters from their flags: typed values (clap checked them with the rule's ranges),
/// checked again by the rule's own constructor.
pub fn rule_parameters(args: &RuleArgs) -> Result<RuleParameters, CliError> {
    let t = &args.template;
    RuleParameters::from_values(
        t.max_rotation_period_days,
        t.evaluate_disabled_keys,
        &t.exception_tag_key,
        args.max_key_material_age_days,
        args.rotation_grace_days,
    )
    .map_err(|e| CliError::Usage(flag_error(&e)))
}

/// The rule parameters of `check-iac`: those a template can be decided with; the others keep
/// their defaults.
fn template_parameters(t: &TemplateRuleArgs) -> Result<RuleParameters, CliError> {
    RuleParameters::from_values(
        t.max_rotation_period_days,
        t.evaluate_disabled_keys,
        &t.exception_tag_key,
        None,
        DEFAULT_ROTATION_GRACE_DAYS,
    )
    .map_err(|e| CliError::Usage(flag_error(&e)))
}

/// A parameter error, naming the flag rather than the rule parameter.
fn flag_error(e: &ParamError) -> String {
    let flag = match e {
        ParamError::OutOfRange { name, .. }
        | ParamError::NotBool { name, .. }
        | ParamError::BadName { name, .. } => match *name {
            "maxRotationPeriodInDays" => "--max-rotation-period-days",
            "maxKeyMaterialAgeInDays" => "--max-key-material-age-days",
            "rotationGraceDays" => "--rotation-grace-days",
            "evaluateDisabledKeys" => "--evaluate-disabled-keys",
            "exceptionTagKey" => "--exception-tag-key",
            other => other,
        },
        _ => "a flag",
    };
    format!("invalid {flag}: {e}")
}

/// Run one command; errors are printed on stderr and become exit status 2.
pub async fn run(cli: Cli) -> Exit {
    match dispatch(cli).await {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Error
        }
    }
}

/// The SDK configuration and Regions of a command that calls AWS.
async fn load(aws: &AwsArgs, scope: Option<&ScopeArgs>) -> Result<Session, CliError> {
    Session::load(&aws.regions, scope.is_some_and(|s| s.all_regions)).await
}

async fn dispatch(cli: Cli) -> Result<Exit, CliError> {
    // Flags are checked before any AWS call.
    match &cli.command {
        Command::Audit(args) => {
            let params = rule_parameters(&args.rule)?;
            commands::audit::check_flags(args)?;
            let accounts = Accounts::from_flags(&args.scope)?;
            let session = load(&args.aws, Some(&args.scope)).await?;
            commands::audit::command(&session, &params, args, &accounts, &args.scope).await
        }
        Command::Remediate(args) => {
            let params = rule_parameters(&args.rule)?;
            commands::remediate::check_flags(args, &params)?;
            let accounts = Accounts::from_flags(&args.scope)?;
            let session = load(&args.aws, Some(&args.scope)).await?;
            commands::remediate::command(&session, &params, args, &accounts, &args.scope).await
        }
        Command::Evidence(args) => {
            let params = rule_parameters(&args.rule)?;
            let accounts = Accounts::from_flags(&args.scope)?;
            let session = load(&args.aws, Some(&args.scope)).await?;
            commands::evidence::command(&session, &params, args, &accounts, &args.scope).await
        }
        Command::Exceptions(args) => {
            let params = RuleParameters::from_values(
                None,
                false,
                &args.exception_tag_key,
                None,
                DEFAULT_ROTATION_GRACE_DAYS,
            )
            .map_err(|e| CliError::Usage(flag_error(&e)))?;
            let accounts = Accounts::from_flags(&args.scope)?;
            let session = load(&args.aws, Some(&args.scope)).await?;
            commands::exceptions::command(&session, &params, args, &accounts, &args.scope).await
        }
        Command::CheckIac(args) => {
            let params = template_parameters(&args.rule)?;
            commands::check_iac::command(args, &params)
        }
        Command::Rescan(args) => {
            // The caller's account only: rescan takes no --accounts, --organization or
            // --all-regions (clap refuses them by name).
            let session = load(&args.aws, None).await?;
            commands::rescan::command(&session, args).await
        }
        Command::Securityhub(sub) => {
            let (args, export) = match sub {
                args::SecurityhubCommand::Export(a) => (a, true),
                args::SecurityhubCommand::SyncExceptions(a) => (a, false),
            };
            let params = rule_parameters(&args.rule)?;
            let accounts = Accounts::from_flags(&args.scope)?;
            let session = load(&args.aws, Some(&args.scope)).await?;
            let scope = &args.scope;
            if export {
                commands::securityhub::export(&session, &params, args, &accounts, scope).await
            } else {
                commands::securityhub::sync_exceptions(&session, &params, args, &accounts, scope)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(max: Option<i32>, tag: &str) -> RuleArgs {
        RuleArgs {
            template: TemplateRuleArgs {
                max_rotation_period_days: max,
                evaluate_disabled_keys: true,
                exception_tag_key: tag.into(),
            },
            max_key_material_age_days: None,
            rotation_grace_days: 7,
        }
    }

    #[test]
    fn flags_become_rule_parameters_with_the_rules_ranges() {
        let p = rule_parameters(&rule(Some(365), "waiver")).unwrap();
        assert_eq!(p.max_rotation_period_in_days, Some(365));
        assert!(p.evaluate_disabled_keys);
        assert_eq!(p.exception_tag_key, "waiver");
        assert_eq!(
            rule_parameters(&rule(None, "kms-rotation-exception"))
                .unwrap()
                .max_rotation_period_in_days,
            None
        );
        let e = rule_parameters(&rule(Some(89), "x"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid --max-rotation-period-days:"), "{e}");
        assert!(e.contains("from 90 to 2560"), "{e}");
        let e = rule_parameters(&rule(None, "aws:x"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid --exception-tag-key:"), "{e}");
    }

    #[test]
    fn config_refusals_say_what_to_do() {
        let refused = |refusal| ConfigError::Refused {
            operation: "StartConfigRulesEvaluation",
            refusal,
            message: "m".into(),
        };
        for (refusal, says) in [
            (
                Refusal::NoSuchRule,
                "no AWS Config rule by that name in eu-west-1: list the rules",
            ),
            (
                Refusal::NoSuchConformancePack,
                "no conformance pack by that name in eu-west-1",
            ),
            (
                Refusal::LimitExceeded,
                "AWS Config is already evaluating this rule in eu-west-1",
            ),
            (Refusal::Busy, "the rule is busy in eu-west-1"),
        ] {
            let text = explain_config("eu-west-1", &refused(refusal));
            assert!(text.starts_with(says), "{refusal:?}: {text}");
            assert!(text.ends_with(" m"), "{text}");
        }
    }

    #[test]
    fn access_denied_names_the_action() {
        let e = KmsError {
            operation: "ListKeys",
            key_id: String::new(),
            message: "AccessDeniedException: not allowed".into(),
            code: Some("AccessDeniedException".into()),
        };
        let text = explain_kms("eu-west-1", &e);
        assert!(
            text.starts_with("access denied on kms:ListKeys in eu-west-1: grant kms:ListKeys"),
            "{text}"
        );
    }
}
