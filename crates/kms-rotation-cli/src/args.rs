//! The command line, as clap types: every command, flag and default of `kms-rotation`.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::plan::{PriorityTag, DEFAULT_BATCH_SIZE, DEFAULT_MAX_RATE, MAX_RATE_CEILING};
use kms_rotation_core::params::{DEFAULT_EXCEPTION_TAG_KEY, ROTATION_PERIOD_DAYS};

const ABOUT: &str =
    "Operator CLI of the AWS Config rule kms-rotation-rule: every customer managed \
KMS key that can rotate must have automatic rotation on. Uses the rule's own decision.";

const AFTER_HELP: &str = "\
Exit status: 0 nothing to report, 1 findings (NON_COMPLIANT keys, failed changes, expired or \
malformed exceptions), 2 error (bad flags, no credentials, a key, account or Region that could \
not be read: named on stderr, after everything else is done), 130 stopped by Ctrl-C.

AWS configuration is the standard one: AWS_PROFILE or --profile, AWS_REGION or --region, \
AWS_ENDPOINT_URL, SSO, instance roles.

Many accounts: --accounts, --accounts-file or --organization, each member account read through \
the role --role-name (the caller's own account with its own credentials); --all-regions for \
every Region enabled in each account. Every row carries accountId and region.

Examples:
  kms-rotation audit --region us-east-1 --region eu-west-1
  kms-rotation audit --organization --all-regions --output json --state audit.state > audit.jsonl
  kms-rotation audit --accounts-file accounts.txt --region eu-west-1 --report kms.html
  kms-rotation remediate --priority-tag env=prod                 # the plan; changes nothing
  kms-rotation remediate --apply --priority-tag env=prod --batch-size 25
  kms-rotation exceptions --within-days 30
  kms-rotation rescan --rule-name kms-rotation-rule

The operator's guide: docs/operator-guide.md";

/// `kms-rotation`: audit, remediate, exceptions, rescan.
#[derive(Debug, Parser)]
#[command(name = "kms-rotation", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// AWS Region to work in; repeat for several. Default: the environment's Region (AWS_REGION,
    /// the profile's region).
    #[arg(long = "region", value_name = "REGION", global = true)]
    pub regions: Vec<String>,
    /// Named profile from ~/.aws/config (same as AWS_PROFILE).
    #[arg(long, value_name = "NAME", global = true)]
    pub profile: Option<String>,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Which accounts and Regions `audit`, `remediate`, `exceptions` and `securityhub` work on. Without any of
/// these, the caller's own account in the Regions of --region (or the environment's Region).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Accounts and Regions")]
pub struct ScopeArgs {
    /// Work in these accounts (12-digit ids, comma-separated), through the role --role-name in
    /// each; the caller's own account is read with the caller's credentials.
    #[arg(long, value_name = "ID,ID...", value_delimiter = ',', global = true)]
    pub accounts: Vec<AccountId>,
    /// Work in the accounts listed in FILE: one 12-digit id a line; blank lines and `#` comments
    /// are skipped.
    #[arg(long, value_name = "FILE", global = true, conflicts_with = "accounts")]
    pub accounts_file: Option<std::path::PathBuf>,
    /// Work in every ACTIVE account of the organization (organizations:ListAccounts, from the
    /// management account or a delegated administrator). Its id also tells cross-account key
    /// policies inside the organization from those outside it.
    #[arg(long, global = true, conflicts_with_all = ["accounts", "accounts_file"])]
    pub organization: bool,
    /// The role assumed in each member account (arn:<caller's partition>:iam::<account>:role/NAME).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_ROLE_NAME, global = true)]
    pub role_name: String,
    /// Every Region enabled in each account (account:ListRegions), instead of --region.
    #[arg(long, global = true, conflicts_with = "regions")]
    pub all_regions: bool,
    /// KMS requests in flight at once across all accounts and Regions (every attempt, listing
    /// pages included). Each account-Region is also paced on its own, within its KMS quotas.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_IN_FLIGHT, global = true,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_in_flight: u32,
}

/// The role `--role-name` assumes by default: the operator role of
/// conformance-pack/templates/member-account-roles.yaml.
pub const DEFAULT_ROLE_NAME: &str = "KmsRotationOperator";
/// The default of `--max-in-flight`.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 256;

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for AccountId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("`{s}` is not an AWS account id (12 digits)"))
        }
    }
}

/// The account ids of an accounts file: one a line, `#` comments and blank lines skipped. An
/// error names the first bad line.
pub fn parse_accounts_file(text: &str) -> Result<Vec<AccountId>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        out.push(line.parse().map_err(|e| format!("line {}: {e}", n + 1))?);
    }
    Ok(out)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate every KMS key in the Regions with the rule's decision; list the verdicts.
    #[command(after_help = "\
The exposure of each NON_COMPLIANT key comes from its key policy (kms:GetKeyPolicy): public, \
cross_account, unknown (the policy could not be read) or private.

Exit status: 0 when no key is NON_COMPLIANT, 1 when some key is, 2 on error (a key, account or \
Region that could not be evaluated is an error: it is named on stderr, never dropped), 130 when \
stopped by Ctrl-C (the keys in flight are finished; with --state, run it again with --resume).

Examples:
  kms-rotation audit
  kms-rotation audit --region us-east-1 --region eu-west-1 --output json > audit.jsonl
  kms-rotation audit --max-rotation-period-days 365 --evaluate-disabled-keys
  kms-rotation audit --output ocsf > findings.ocsf.jsonl   # OCSF Compliance Findings (class 2003)
  kms-rotation audit --output asff > findings.asff.jsonl   # AWS Security Finding Format
  kms-rotation audit --organization --all-regions --state audit.state --report kms.html
  kms-rotation audit --organization --all-regions --state audit.state --resume   # after Ctrl-C")]
    Audit(AuditArgs),
    /// Enable rotation on NON_COMPLIANT keys, in batches, highest priority first. Plans only,
    /// unless --apply.
    #[command(after_help = "\
Only keys the rule reports NON_COMPLIANT because rotation is off (or its period is above \
--max-rotation-period-days) are changed. Multi-Region replicas are changed through their primary \
key. Keys that cannot rotate, AWS managed keys and keys under a valid exception are never touched.
Running it again is safe: keys already fixed show as already compliant.

Across accounts and Regions (--accounts, --organization, --all-regions) the plan is one: \
publicly exposed keys first, then cross-account, unknown, then --priority-tag matches, wherever \
they are. With --state FILE each key is recorded before EnableKeyRotation is sent; --resume never \
sends it twice for one key (such a key is only verified).

Exit status: 0 when everything planned succeeded, 1 when a change failed or was not applied, 2 on \
error, 130 when stopped by Ctrl-C (the batch in progress is finished).

Examples:
  kms-rotation remediate --priority-tag env=prod --priority-tag env=staging
  kms-rotation remediate --apply --priority-tag env=prod --batch-size 25
  kms-rotation remediate --apply --yes --output json > remediation.jsonl   # in a script")]
    Remediate(RemediateArgs),
    /// List every key carrying the exception tag: owner, expiry, ticket; flag expired, expiring
    /// and malformed ones.
    #[command(after_help = "\
The tag value is `owner=<who> expires=<YYYY-MM-DD> [ticket=<id>]`; an exception is valid through \
its expiry day (UTC).

Exit status: 0 when every exception is valid (expiring soon included), 1 when one is expired or \
malformed, 2 on error.

Examples:
  kms-rotation exceptions
  kms-rotation exceptions --within-days 14 --output json")]
    Exceptions(ExceptionsArgs),
    /// Ask AWS Config to evaluate the rule again (StartConfigRulesEvaluation), in each Region.
    #[command(after_help = "\
Examples:
  kms-rotation rescan --rule-name kms-rotation-rule
  kms-rotation rescan --conformance-pack kms-rotation --region us-east-1 --region eu-west-1")]
    Rescan(RescanArgs),
    /// Check CloudFormation templates, Terraform modules and plans before deployment, with the
    /// rule's own decision: no AWS call.
    #[command(after_help = "\
Reads CloudFormation templates (YAML with short-form intrinsics, or JSON), Terraform source (.tf, \
a directory at a time) and Terraform plan JSON (terraform show -json). A directory is searched \
for .yaml, .yml, .json, .template and .tf files; files that are neither a template nor a plan \
are skipped, and so is every file of a CDK cloud assembly (cdk.out) but its *.template.json. \
Fn::ForEach loops (AWS::LanguageExtensions) are expanded; --parameters and --parameter give the \
CloudFormation parameter values the stack is deployed with. A value that cannot be known before deployment is reported UNKNOWN with its line.

Exit status: 0 nothing to report, 1 a key NON_COMPLIANT or UNKNOWN (UNKNOWN only without \
--allow-unknown), 2 a file could not be read (named on stderr; the others are still checked).

Examples:
  kms-rotation check-iac templates/ modules/kms
  kms-rotation check-iac --max-rotation-period-days 365 --output sarif . > kms.sarif
  terraform show -json plan.out > plan.json && kms-rotation check-iac plan.json
  cdk synth && kms-rotation check-iac cdk.out
  kms-rotation check-iac --parameters prod-params.json --parameter Env=prod template.yaml")]
    CheckIac(CheckIacArgs),
    /// AWS Security Hub: send the findings (export), and keep its KMS.4 findings in step with
    /// approved exceptions (sync-exceptions). Plans only, unless --apply.
    #[command(subcommand)]
    Securityhub(SecurityhubCommand),
}

/// The `securityhub` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecurityhubCommand {
    /// Send one ASFF finding per key with BatchImportFindings (custom integration product
    /// .../product/<account>/default); archive the findings of deleted keys. Plans only, unless
    /// --apply.
    #[command(after_help = "\
A second run updates the same findings (one Id per key and control), never duplicates them. \
A finding sent earlier for a key that no longer exists is sent once more as ARCHIVED (only when \
every key of the Region was listed).

Exit status: 0 nothing left to do (everything sent), 1 findings not sent (a plan without \
--apply, or findings Security Hub refused, named on stderr), 2 error.

Across accounts (--accounts, --organization), each account's findings go to its own hub, with \
the role --role-name (OperatorCanSendFindings=true in member-account-roles.yaml).

Examples:
  kms-rotation securityhub export --region us-east-1            # the plan; sends nothing
  kms-rotation securityhub export --apply --region us-east-1 --region eu-west-1
  kms-rotation securityhub export --apply --organization --all-regions")]
    Export(SecurityhubArgs),
    /// Suppress Security Hub's own KMS.4 finding of each key under a valid exception, with a
    /// note of owner, expiry and ticket; set it back to NEW when the exception ends. Plans
    /// only, unless --apply.
    #[command(after_help = "\
Only findings of control KMS.4 made by Security Hub itself, about keys evaluated in this run, \
are considered. A finding is released (set back to NEW) only if this command suppressed it: its \
user-defined field kms-rotation-exception is `suppressed` and its note is still the one this \
command wrote. A finding someone else suppressed or resolved is left as it is, and listed.

Exit status: 0 nothing left to do, 1 changes not made (a plan without --apply, or changes \
Security Hub refused, named on stderr), 2 error.

Examples:
  kms-rotation securityhub sync-exceptions --region us-east-1
  kms-rotation securityhub sync-exceptions --apply --output json")]
    SyncExceptions(SecurityhubArgs),
}

/// The flags of both `securityhub` subcommands.
#[derive(Debug, Args)]
pub struct SecurityhubArgs {
    #[command(flatten)]
    pub rule: RuleArgs,
    /// Make the changes. Without it, the plan is printed and nothing is sent.
    #[arg(long)]
    pub apply: bool,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// How `audit` prints its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditOutput {
    /// A table for people; the summary last.
    Table,
    /// One JSON object a line on stdout; the summary on stderr.
    Json,
    /// One OCSF Compliance Finding (class 2003, OCSF 1.5.0) a line; the summary on stderr.
    Ocsf,
    /// One AWS Security Finding Format finding a line, as BatchImportFindings takes it.
    Asff,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A table for people; the summary last.
    Table,
    /// One JSON object a line on stdout; the summary on stderr.
    Json,
}

/// How `check-iac` prints its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IacOutput {
    /// A table for people; the summary on stderr.
    Table,
    /// One JSON object a line: file, line, resource, type, complianceType, reason, fix, via, message.
    Json,
    /// SARIF 2.1.0, for code hosts that annotate the lines.
    Sarif,
}

#[derive(Debug, Args)]
pub struct CheckIacArgs {
    /// Template, Terraform file, plan JSON, or a directory to search.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub rule: RuleArgs,
    #[arg(long, value_enum, default_value_t = IacOutput::Table)]
    pub output: IacOutput,
    /// Exit 0 rather than 1 when the only findings are UNKNOWN.
    #[arg(long)]
    pub allow_unknown: bool,
    /// CloudFormation parameter values the stack is deployed with (repeatable; a later value
    /// wins): a JSON file as `create-stack --parameters file://` takes it, or as `deploy
    /// --parameter-overrides` does. A parameter the template does not declare is an error.
    #[arg(long, value_name = "FILE")]
    pub parameters: Vec<std::path::PathBuf>,
    /// One CloudFormation parameter value, KEY=VALUE (repeatable; after --parameters files).
    #[arg(long, value_name = "KEY=VALUE")]
    pub parameter: Vec<String>,
    /// A Terraform variable definitions file for every root module checked, as terraform's
    /// -var-file (after terraform.tfvars and *.auto.tfvars, which are read by themselves).
    /// Repeatable; later files win.
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<std::path::PathBuf>,
    /// A Terraform root variable, as terraform's -var; applied after every --var-file.
    /// Repeatable.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
}

/// The rule parameters, as flags; validated exactly as the rule validates `InputParameters`.
#[derive(Debug, Clone, Args)]
pub struct RuleArgs {
    /// Keys rotating less often than this are NON_COMPLIANT (rule parameter
    /// maxRotationPeriodInDays, 90..2560). Default: any period is compliant.
    #[arg(long, value_name = "DAYS")]
    pub max_rotation_period_days: Option<i64>,
    /// Evaluate disabled keys instead of reporting them NOT_APPLICABLE (evaluateDisabledKeys).
    #[arg(long)]
    pub evaluate_disabled_keys: bool,
    /// The tag that records an approved exception (exceptionTagKey).
    #[arg(long, value_name = "KEY", default_value = DEFAULT_EXCEPTION_TAG_KEY)]
    pub exception_tag_key: String,
    /// Keys whose current key material is older than this are NON_COMPLIANT: proof that material
    /// is renewed, from ListKeyRotations (rule parameter maxKeyMaterialAgeInDays, 90..3650).
    /// Default: not checked.
    #[arg(long, value_name = "DAYS")]
    pub max_key_material_age_days: Option<i64>,
    /// Keys with rotation on whose NextRotationDate is more than this many days past are
    /// NON_COMPLIANT, overdue (rotationGraceDays, 0..365).
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    pub rotation_grace_days: i64,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub rule: RuleArgs,
    #[arg(long, value_enum, default_value_t = AuditOutput::Table)]
    pub output: AuditOutput,
    /// Also write one self-contained HTML page: compliance by account and Region, the
    /// NON_COMPLIANT keys (exposed first), exceptions by expiry, the run's figures.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub state: StateArgs,
}

/// A long run that survives Ctrl-C, a crash or a lost connection.
#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// Record in FILE each account-Region as it is finished (and, for remediate, each key before
    /// EnableKeyRotation is called), so that an interrupted run can be resumed.
    #[arg(long, value_name = "FILE")]
    pub state: Option<std::path::PathBuf>,
    /// Go on from the --state FILE of an interrupted run of the same command: finished
    /// account-Regions are not read again, and no key is sent EnableKeyRotation twice.
    #[arg(long, requires = "state")]
    pub resume: bool,
}

#[derive(Debug, Args)]
pub struct RemediateArgs {
    #[command(flatten)]
    pub rule: RuleArgs,
    /// Make the changes. Without it, the plan is printed and nothing changes.
    #[arg(long)]
    pub apply: bool,
    /// Run every batch without asking (for scripts). Without it, --apply asks before each batch
    /// and refuses to run when stdin is not a terminal.
    #[arg(long)]
    pub yes: bool,
    /// The rotation period to enable, in days (90..2560).
    #[arg(long, value_name = "DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(i32).range(*ROTATION_PERIOD_DAYS.start()..=*ROTATION_PERIOD_DAYS.end()))]
    pub rotation_period_days: i32,
    /// Keys changed per batch (EnableKeyRotation calls).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Keys whose tag KEY has value VALUE go first; repeat, highest priority first.
    #[arg(long = "priority-tag", value_name = "KEY=VALUE")]
    pub priority_tags: Vec<PriorityTag>,
    #[command(flatten)]
    pub state: StateArgs,
    /// Ceiling on EnableKeyRotation calls a second in each account-Region (KMS's quota is per
    /// account and Region, 15/s by default). Each account-Region starts at it and slows down on
    /// its own when KMS throttles it; account-Regions change their keys at the same time, all
    /// within --max-in-flight.
    #[arg(long, value_name = "PER_SECOND", default_value_t = DEFAULT_MAX_RATE,
          value_parser = clap::value_parser!(u32).range(1..=MAX_RATE_CEILING as i64))]
    pub max_rate: u32,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct ExceptionsArgs {
    /// The tag that records an approved exception (exceptionTagKey).
    #[arg(long, value_name = "KEY", default_value = DEFAULT_EXCEPTION_TAG_KEY)]
    pub exception_tag_key: String,
    /// Flag exceptions that expire within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub within_days: u32,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Args)]
#[group(id = "which_rule", required = true, multiple = true, args = ["rule_name", "conformance_pack"])]
pub struct RescanArgs {
    /// The Config rule's name: the rule named exactly NAME or, when there is none, the
    /// conformance pack's rule whose name starts with NAME-conformance-pack- (Config adds that
    /// suffix to the rules a pack deploys).
    #[arg(long, value_name = "NAME")]
    pub rule_name: Option<String>,
    /// The conformance pack whose rule to evaluate again (with --rule-name: that rule of the
    /// pack).
    #[arg(long, value_name = "PACK")]
    pub conformance_pack: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse_with_their_defaults() {
        let cli = Cli::try_parse_from([
            "kms-rotation",
            "remediate",
            "--region",
            "us-east-1",
            "--priority-tag",
            "env=prod",
            "--priority-tag",
            "tier=1",
            "--region",
            "eu-west-1",
        ])
        .unwrap();
        assert_eq!(cli.regions, ["us-east-1", "eu-west-1"]);
        let Command::Remediate(r) = cli.command else {
            panic!("not remediate")
        };
        assert!(!r.apply && !r.yes);
        assert_eq!(r.rotation_period_days, 365);
        assert_eq!(r.batch_size, 25);
        assert_eq!(r.max_rate, 15);
        assert_eq!(r.rule.exception_tag_key, "kms-rotation-exception");
        assert_eq!(
            r.priority_tags,
            vec![
                PriorityTag::new("env", "prod"),
                PriorityTag::new("tier", "1")
            ]
        );
    }

    #[test]
    fn audit_prints_ocsf_and_asff_and_securityhub_plans_by_default() {
        let cli = Cli::try_parse_from(["kms-rotation", "audit", "--output", "ocsf"]).unwrap();
        let Command::Audit(a) = cli.command else {
            panic!("not audit")
        };
        assert_eq!(a.output, AuditOutput::Ocsf);
        let cli = Cli::try_parse_from(["kms-rotation", "securityhub", "sync-exceptions"]).unwrap();
        let Command::Securityhub(SecurityhubCommand::SyncExceptions(s)) = cli.command else {
            panic!("not sync-exceptions")
        };
        assert!(!s.apply);
        let cli =
            Cli::try_parse_from(["kms-rotation", "securityhub", "export", "--apply"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Securityhub(SecurityhubCommand::Export(SecurityhubArgs {
                apply: true,
                ..
            }))
        ));
    }

    #[test]
    fn accounts_and_regions_flags_parse_anywhere_on_the_line() {
        let cli = Cli::try_parse_from([
            "kms-rotation",
            "--accounts",
            "111111111111,222222222222",
            "audit",
            "--all-regions",
            "--role-name",
            "Auditor",
            "--state",
            "s.jsonl",
            "--resume",
        ])
        .unwrap();
        assert_eq!(
            cli.scope.accounts,
            [
                "111111111111".parse().unwrap(),
                "222222222222".parse().unwrap()
            ]
        );
        assert!(cli.scope.all_regions && !cli.scope.organization);
        assert_eq!(cli.scope.role_name, "Auditor");
        assert_eq!(cli.scope.max_in_flight, 256);
        let Command::Audit(a) = cli.command else {
            panic!("not audit")
        };
        assert!(a.state.resume && a.state.state.is_some() && a.report.is_none());
        let cli = Cli::try_parse_from(["kms-rotation", "exceptions", "--organization"]).unwrap();
        assert!(cli.scope.organization);
        assert_eq!(cli.scope.role_name, DEFAULT_ROLE_NAME);
    }

    #[test]
    fn out_of_range_flags_are_refused() {
        for args in [
            &["remediate", "--rotation-period-days", "89"][..],
            &["remediate", "--rotation-period-days", "2561"],
            &["remediate", "--max-rate", "16"],
            &["remediate", "--batch-size", "0"],
            &["remediate", "--priority-tag", "env"],
            &["remediate", "--priority-tag", "=prod"],
            &["audit", "--output", "yaml"],
            &["rescan"],
            &["securityhub"],
            &["securityhub", "export", "--output", "ocsf"],
            &["audit", "--accounts", "1234"],
            &["audit", "--accounts", "111111111111,abc"],
            &["audit", "--accounts", "111111111111", "--organization"],
            &["audit", "--organization", "--accounts-file", "a.txt"],
            &["audit", "--all-regions", "--region", "eu-west-1"],
            &["audit", "--resume"],
            &["remediate", "--resume"],
            &["audit", "--max-in-flight", "0"],
        ] {
            let argv = std::iter::once("kms-rotation").chain(args.iter().copied());
            assert!(Cli::try_parse_from(argv).is_err(), "{args:?}");
        }
    }
}
