//! The command line, as clap types: every command, flag and default of `kms-rotation`.

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::plan::{PriorityTag, DEFAULT_BATCH_SIZE, DEFAULT_MAX_RATE, MAX_RATE_CEILING};
use kms_rotation_core::params::{
    exception_tag_key_of, int_in, ParamError, DEFAULT_EXCEPTION_TAG_KEY,
    DEFAULT_ROTATION_GRACE_DAYS, KEY_MATERIAL_AGE_DAYS, ROTATION_GRACE_DAYS, ROTATION_PERIOD_DAYS,
};

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

/// `kms-rotation`: audit, remediate, exceptions, evidence, rescan, check-iac, securityhub. Each command
/// takes the flags it uses, and only those (the groups below, flattened into each command).
#[derive(Debug, Parser)]
#[command(name = "kms-rotation", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command's `--profile`, if it calls AWS and one was given: the binary makes it
    /// AWS_PROFILE before the runtime starts.
    pub fn profile(&self) -> Option<&str> {
        self.command.aws().and_then(|aws| aws.profile.as_deref())
    }
}

/// Parse the command line (`Cli::parse`'s errors and exit status). The releases before issue 22
/// took `--region`, `--profile`, the account and the rule-parameter flags anywhere on the line,
/// before the command too (`kms-rotation --region eu-west-1 audit`); that form still works: the
/// flags before the command are moved after it when the command takes them. A flag the command
/// does not take is refused by clap, naming it, wherever it is.
pub fn parse_from<I, T>(argv: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
    match Cli::try_parse_from(&argv) {
        Err(e) if e.kind() == ErrorKind::UnknownArgument => match flags_after_command(&argv) {
            Some(moved) => Cli::try_parse_from(moved),
            None => Err(e),
        },
        parsed => parsed,
    }
}

/// `argv` with the flags written before the command moved after it (after `securityhub export`
/// for a command with subcommands); `None` when nothing stands before the command but known flags
/// of some command, each with its value.
fn flags_after_command(argv: &[std::ffi::OsString]) -> Option<Vec<std::ffi::OsString>> {
    use clap::CommandFactory;
    let cli = Cli::command();
    // Every long flag of every command, and whether it takes a value.
    let mut flags = std::collections::HashMap::new();
    let mut stack: Vec<&clap::Command> = cli.get_subcommands().collect();
    while let Some(command) = stack.pop() {
        stack.extend(command.get_subcommands());
        for arg in command.get_arguments() {
            if let Some(long) = arg.get_long() {
                flags.insert(long.to_owned(), arg.get_action().takes_values());
            }
        }
    }
    let words: Vec<String> = argv
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let mut at = 1;
    while at < words.len() && cli.find_subcommand(&words[at]).is_none() {
        let (name, inline_value) = match words[at].strip_prefix("--")?.split_once('=') {
            Some((name, _)) => (name, true),
            None => (&words[at][2..], false),
        };
        let takes_value = *flags.get(name)?;
        at += if takes_value && !inline_value { 2 } else { 1 };
    }
    let command = cli.find_subcommand(words.get(at)?)?;
    let nested = words
        .get(at + 1)
        .is_some_and(|w| command.find_subcommand(w).is_some());
    let end = at + 1 + usize::from(nested);
    let mut moved = vec![argv[0].clone()];
    moved.extend_from_slice(&argv[at..end]);
    moved.extend_from_slice(&argv[1..at]);
    moved.extend_from_slice(&argv[end..]);
    Some(moved)
}

impl Command {
    /// The AWS configuration flags of a command that calls AWS; `None` for `check-iac`.
    pub fn aws(&self) -> Option<&AwsArgs> {
        match self {
            Self::Audit(a) => Some(&a.aws),
            Self::Remediate(a) => Some(&a.aws),
            Self::Exceptions(a) => Some(&a.aws),
            Self::Rescan(a) => Some(&a.aws),
            Self::Evidence(a) => Some(&a.aws),
            Self::Securityhub(
                SecurityhubCommand::Export(a) | SecurityhubCommand::SyncExceptions(a),
            ) => Some(&a.aws),
            Self::CheckIac(_) => None,
        }
    }
}

/// The AWS configuration of every command that calls AWS (all but `check-iac`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "AWS")]
pub struct AwsArgs {
    /// AWS Region to work in; repeat for several. Default: the environment's Region (AWS_REGION,
    /// the profile's region).
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// Named profile from ~/.aws/config (same as AWS_PROFILE).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

/// Which accounts and Regions `audit`, `remediate`, `exceptions` and `securityhub` work on. Without any of
/// these, the caller's own account in the Regions of --region (or the environment's Region).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Accounts and Regions")]
pub struct ScopeArgs {
    /// Work in these accounts (12-digit ids, comma-separated), through the role --role-name in
    /// each; the caller's own account is read with the caller's credentials.
    #[arg(long, value_name = "ID,ID...", value_delimiter = ',')]
    pub accounts: Vec<AccountId>,
    /// Work in the accounts listed in FILE: one 12-digit id a line; blank lines and `#` comments
    /// are skipped.
    #[arg(long, value_name = "FILE", conflicts_with = "accounts")]
    pub accounts_file: Option<std::path::PathBuf>,
    /// Work in every ACTIVE account of the organization (organizations:ListAccounts, from the
    /// management account or a delegated administrator). Its id also tells cross-account key
    /// policies inside the organization from those outside it.
    #[arg(long, conflicts_with_all = ["accounts", "accounts_file"])]
    pub organization: bool,
    /// The role assumed in each member account (arn:<caller's partition>:iam::<account>:role/NAME).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_ROLE_NAME)]
    pub role_name: String,
    /// Every Region enabled in each account (account:ListRegions), instead of --region.
    #[arg(long, conflicts_with = "regions")]
    pub all_regions: bool,
    /// KMS requests in flight at once across all accounts and Regions (every attempt, listing
    /// pages included). Each account-Region is also paced on its own, within its KMS quotas.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_IN_FLIGHT,
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
  kms-rotation audit --last-use --output json          # lastUse: kms:GetKeyLastUsage
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
they are; with --last-use, keys in use before keys unused for --unused-days at each step. With --state FILE each key is recorded before EnableKeyRotation is sent; --resume never \
sends it twice for one key (such a key is only verified).

Exit status: 0 when everything planned succeeded, 1 when a change failed or was not applied, 2 on \
error, 130 when stopped by Ctrl-C (the batch in progress is finished).

Examples:
  kms-rotation remediate --priority-tag env=prod --priority-tag env=staging
  kms-rotation remediate --last-use --unused-days 90    # keys in use before idle ones
  kms-rotation remediate --apply --priority-tag env=prod --batch-size 25
  kms-rotation remediate --apply --yes --output json > remediation.jsonl   # in a script")]
    Remediate(RemediateArgs),
    /// List every key carrying the exception tag: owner, expiry, ticket; flag expired, expiring
    /// and malformed ones; with --notify, tell their owners through EventBridge.
    #[command(after_help = "\
The tag value is `owner=<who> expires=<YYYY-MM-DD> [ticket=<id>]`; an exception is valid through \
its expiry day (UTC).

--notify puts one event per expiring or expired exception on the default event bus of the key's \
account and Region (source kms-rotation-rule, as the rule's exceptionNoticeDays does); \
conformance-pack/templates/notices.yaml routes them to owners (docs/notices.md).

Exit status: 0 when every exception is valid (expiring soon included), 1 when one is expired or \
malformed, 2 on error (a notice EventBridge did not take included).

Examples:
  kms-rotation exceptions
  kms-rotation exceptions --within-days 14 --output json
  kms-rotation exceptions --organization --all-regions --within-days 14 --notify")]
    Exceptions(ExceptionsArgs),
    /// Rotation evidence for auditors: every customer managed key's verdict, rotation status,
    /// period, history and dates, as CSV, JSON lines and one HTML page, with a manifest of
    /// SHA-256 hashes.
    #[command(after_help = "\
Writes into --output-dir: evidence.csv (one row a customer managed key), evidence.jsonl (audit's \
JSON line with an `evidence` object), evidence.html (one self-contained page: counts, a table per \
account, the control mapping with its sources, the keys not COMPLIANT or under an exception), \
manifest.json (caller, rule parameters, scope, times, counts, errors, each file's SHA-256) and \
SHA256SUMS (check with `sha256sum -c SHA256SUMS`). A directory that already holds a manifest is \
refused: evidence is never overwritten.

Per key: rotation on/off (kms:GetKeyRotationStatus), period, next rotation date, the rotations \
(kms:ListKeyRotations, paged: count, last date, AUTOMATIC or ON_DEMAND), creation date, key \
material age, the exception's owner, expiry and ticket (keys with rotation off), and with \
--last-use the last cryptographic use (kms:GetKeyLastUsage). A fact KMS refuses (access denied, \
not available) is a note on the key, never a guess. AWS managed keys are counted, not listed.

Exit status: 0 evidence written and no key NON_COMPLIANT, 1 written and some key NON_COMPLIANT, \
2 error (a key, account or Region that could not be read is named on stderr and in the \
manifest), 130 stopped by Ctrl-C (nothing is written; with --state, run it again with --resume).

Examples:
  kms-rotation evidence --output-dir evidence-2026-12
  kms-rotation evidence --organization --all-regions --last-use --output-dir evidence --state evidence.state")]
    Evidence(EvidenceArgs),
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
    /// Make the changes. Without it, the plan is printed and nothing is sent.
    #[arg(long)]
    pub apply: bool,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
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
    #[command(flatten)]
    pub rule: TemplateRuleArgs,
}

/// The rule parameters that decide a key in a template as well as a deployed one (`check-iac`
/// takes these only). Each flag is checked as the rule checks its parameter, with the same range
/// (kms_rotation_core::params), and an error names the flag.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Rule parameters")]
pub struct TemplateRuleArgs {
    /// Keys rotating less often than this are NON_COMPLIANT (rule parameter
    /// maxRotationPeriodInDays, 90..2560). Default: any period is compliant.
    #[arg(long, value_name = "DAYS",
          value_parser = RuleInt::new("maxRotationPeriodInDays", ROTATION_PERIOD_DAYS).map(|n| n as i32))]
    pub max_rotation_period_days: Option<i32>,
    /// Evaluate disabled keys instead of reporting them NOT_APPLICABLE (evaluateDisabledKeys).
    #[arg(long)]
    pub evaluate_disabled_keys: bool,
    /// The tag that records an approved exception (exceptionTagKey).
    #[arg(long, value_name = "KEY", default_value = DEFAULT_EXCEPTION_TAG_KEY,
          value_parser = TagKey)]
    pub exception_tag_key: String,
}

/// Every rule parameter, as flags: the commands that decide deployed keys (`audit`, `remediate`,
/// `securityhub`). The two beyond [`TemplateRuleArgs`] need facts only a deployed key has (its
/// key material's age, its NextRotationDate).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Rule parameters")]
pub struct RuleArgs {
    #[command(flatten)]
    pub template: TemplateRuleArgs,
    /// Keys whose current key material is older than this are NON_COMPLIANT: proof that material
    /// is renewed, from ListKeyRotations (rule parameter maxKeyMaterialAgeInDays, 90..3650).
    /// Default: not checked.
    #[arg(long, value_name = "DAYS",
          value_parser = RuleInt::new("maxKeyMaterialAgeInDays", KEY_MATERIAL_AGE_DAYS).map(|n| n as u32))]
    pub max_key_material_age_days: Option<u32>,
    /// Keys with rotation on whose NextRotationDate is more than this many days past are
    /// NON_COMPLIANT, overdue (rotationGraceDays, 0..365).
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_ROTATION_GRACE_DAYS,
          value_parser = RuleInt::new("rotationGraceDays", ROTATION_GRACE_DAYS).map(|n| n as u32))]
    pub rotation_grace_days: u32,
}

/// An integer rule parameter's flag: the rule's own check of the parameter (its range from
/// kms_rotation_core::params, one definition for the rule and the CLI); the error names the flag.
#[derive(Debug, Clone)]
pub struct RuleInt {
    parameter: &'static str,
    range: std::ops::RangeInclusive<i64>,
}

impl RuleInt {
    pub const fn new(parameter: &'static str, range: std::ops::RangeInclusive<i64>) -> Self {
        Self { parameter, range }
    }
}

impl TypedValueParser for RuleInt {
    type Value = i64;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<i64, clap::Error> {
        int_in(
            value.to_string_lossy().trim(),
            self.parameter,
            self.range.clone(),
        )
        .map_err(|e| invalid_flag(cmd, arg, &e))
    }
}

/// `--exception-tag-key`: the rule's check of exceptionTagKey; empty means the default, as in
/// `InputParameters`.
#[derive(Debug, Clone, Copy)]
pub struct TagKey;

impl TypedValueParser for TagKey {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        match value.to_string_lossy().trim() {
            "" => Ok(DEFAULT_EXCEPTION_TAG_KEY.to_owned()),
            key => exception_tag_key_of(key).map_err(|e| invalid_flag(cmd, arg, &e)),
        }
    }
}

/// `invalid --flag: <the rule's message>`, a usage error (exit status 2).
fn invalid_flag(cmd: &clap::Command, arg: Option<&clap::Arg>, e: &ParamError) -> clap::Error {
    let flag = arg
        .and_then(clap::Arg::get_long)
        .map_or_else(|| "value".to_owned(), |long| format!("--{long}"));
    clap::Error::raw(ErrorKind::ValueValidation, format!("invalid {flag}: {e}\n")).with_cmd(cmd)
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[arg(long, value_enum, default_value_t = AuditOutput::Table)]
    pub output: AuditOutput,
    /// Also read when each customer managed key was last used for a cryptographic operation
    /// (kms:GetKeyLastUsage, one call a key): `lastUse` in JSON, after the annotation in a table.
    #[arg(long)]
    pub last_use: bool,
    /// Also write one self-contained HTML page: compliance by account and Region, the
    /// NON_COMPLIANT keys (exposed first), exceptions by expiry, the run's figures.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct EvidenceArgs {
    /// The directory the evidence is written into (created when missing; one that already holds
    /// a manifest.json is refused).
    #[arg(long, value_name = "DIR")]
    pub output_dir: std::path::PathBuf,
    /// Also read when each key was last used for a cryptographic operation (kms:GetKeyLastUsage,
    /// one call a key).
    #[arg(long)]
    pub last_use: bool,
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

/// A long run that survives Ctrl-C, a crash or a lost connection.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Resuming an interrupted run")]
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
    /// Make the changes. Without it, the plan is printed and nothing changes.
    #[arg(long)]
    pub apply: bool,
    /// Run every batch without asking (for scripts). Without it, --apply asks before each batch
    /// and refuses to run when stdin is not a terminal.
    #[arg(long)]
    pub yes: bool,
    /// The rotation period to enable, in days (90..2560).
    #[arg(long, value_name = "DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(i32).range(ROTATION_PERIOD_DAYS))]
    pub rotation_period_days: i32,
    /// Keys changed per batch (EnableKeyRotation calls).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Keys whose tag KEY has value VALUE go first; repeat, highest priority first.
    #[arg(long = "priority-tag", value_name = "KEY=VALUE")]
    pub priority_tags: Vec<PriorityTag>,
    /// Read when each key to change was last used (kms:GetKeyLastUsage) and, after exposure and
    /// --priority-tag, change keys in use before keys unused for --unused-days.
    #[arg(long)]
    pub last_use: bool,
    /// With --last-use: a key whose last use (or, not used since, the start of KMS's tracking) is
    /// at least this many days old goes after the keys in use.
    #[arg(long, value_name = "DAYS", default_value_t = 90, requires = "last_use",
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub unused_days: u32,
    /// Ceiling on EnableKeyRotation calls a second in each account-Region (KMS's quota is per
    /// account and Region, 15/s by default). Each account-Region starts at it and slows down on
    /// its own when KMS throttles it; account-Regions change their keys at the same time, all
    /// within --max-in-flight.
    #[arg(long, value_name = "PER_SECOND", default_value_t = DEFAULT_MAX_RATE,
          value_parser = clap::value_parser!(u32).range(1..=MAX_RATE_CEILING as i64))]
    pub max_rate: u32,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct ExceptionsArgs {
    /// The tag that records an approved exception (exceptionTagKey).
    #[arg(long, value_name = "KEY", default_value = DEFAULT_EXCEPTION_TAG_KEY,
          value_parser = TagKey)]
    pub exception_tag_key: String,
    /// Flag exceptions that expire within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub within_days: u32,
    /// Also put an EventBridge event on the default event bus of each key's account and Region
    /// for every exception expiring within --within-days or expired, as the rule's periodic run
    /// does with exceptionNoticeDays (source kms-rotation-rule; docs/notices.md). Needs
    /// events:PutEvents there (OperatorCanSendNotices=true in member-account-roles.yaml).
    #[arg(long)]
    pub notify: bool,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
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
    // `rescan` works in the caller's account, in the Regions of --region: no --accounts.
    #[command(flatten)]
    pub aws: AwsArgs,
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
        let Command::Remediate(r) = cli.command else {
            panic!("not remediate")
        };
        assert_eq!(r.aws.regions, ["us-east-1", "eu-west-1"]);
        assert!(!r.apply && !r.yes);
        assert_eq!(r.rotation_period_days, 365);
        assert_eq!(r.batch_size, 25);
        assert_eq!(r.max_rate, 15);
        assert_eq!(r.rule.template.exception_tag_key, "kms-rotation-exception");
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
        // Anywhere after the command: each command takes the flags it uses, and only those.
        let cli = Cli::try_parse_from([
            "kms-rotation",
            "audit",
            "--accounts",
            "111111111111,222222222222",
            "--all-regions",
            "--role-name",
            "Auditor",
            "--state",
            "s.jsonl",
            "--resume",
        ])
        .unwrap();
        let Command::Audit(a) = cli.command else {
            panic!("not audit")
        };
        assert_eq!(
            a.scope.accounts,
            [
                "111111111111".parse().unwrap(),
                "222222222222".parse().unwrap()
            ]
        );
        assert!(a.scope.all_regions && !a.scope.organization);
        assert_eq!(a.scope.role_name, "Auditor");
        assert_eq!(a.scope.max_in_flight, 256);
        assert!(a.state.resume && a.state.state.is_some() && a.report.is_none());
        let cli = Cli::try_parse_from(["kms-rotation", "exceptions", "--organization"]).unwrap();
        let Command::Exceptions(e) = cli.command else {
            panic!("not exceptions")
        };
        assert!(e.scope.organization);
        assert_eq!(e.scope.role_name, DEFAULT_ROLE_NAME);
    }

    /// The long flags of a command's help, as clap builds it.
    fn flags_of(path: &[&str]) -> Vec<String> {
        let mut cmd = Cli::command();
        cmd.build();
        let mut cmd = &cmd;
        for name in path {
            cmd = cmd.find_subcommand(name).unwrap();
        }
        cmd.get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect()
    }

    const AWS_FLAGS: &[&str] = &[
        "--region",
        "--profile",
        "--accounts",
        "--accounts-file",
        "--organization",
        "--role-name",
        "--all-regions",
        "--max-in-flight",
    ];

    #[test]
    fn each_command_takes_the_flags_it_uses_and_only_those() {
        let check_iac = flags_of(&["check-iac"]);
        for flag in AWS_FLAGS.iter().chain(&[
            "--max-key-material-age-days",
            "--rotation-grace-days",
            "--state",
        ]) {
            assert!(!check_iac.iter().any(|f| f == flag), "check-iac {flag}");
        }
        for flag in [
            "--max-rotation-period-days",
            "--evaluate-disabled-keys",
            "--exception-tag-key",
            "--output",
            "--allow-unknown",
        ] {
            assert!(check_iac.iter().any(|f| f == flag), "check-iac {flag}");
        }
        // The help clap prints (what an operator reads) names no AWS flag either.
        let help = Cli::command()
            .find_subcommand_mut("check-iac")
            .unwrap()
            .render_long_help()
            .to_string();
        for flag in AWS_FLAGS {
            assert!(
                !help.contains(&format!("{flag} ")),
                "check-iac --help: {flag}"
            );
        }
        for path in [
            &["audit"][..],
            &["remediate"],
            &["exceptions"],
            &["securityhub", "export"],
            &["securityhub", "sync-exceptions"],
        ] {
            let flags = flags_of(path);
            for flag in AWS_FLAGS {
                assert!(flags.iter().any(|f| f == flag), "{path:?} {flag}");
            }
        }
        let rescan = flags_of(&["rescan"]);
        assert!(rescan.iter().any(|f| f == "--region") && rescan.iter().any(|f| f == "--profile"));
        for flag in [
            "--accounts",
            "--organization",
            "--all-regions",
            "--max-rotation-period-days",
        ] {
            assert!(!rescan.iter().any(|f| f == flag), "rescan {flag}");
        }
        let exceptions = flags_of(&["exceptions"]);
        for flag in [
            "--max-rotation-period-days",
            "--rotation-grace-days",
            "--state",
        ] {
            assert!(!exceptions.iter().any(|f| f == flag), "exceptions {flag}");
        }
        // A flag given to a command that does not take it is refused, by name.
        for args in [
            &["check-iac", "--region", "eu-west-1", "."][..],
            &["check-iac", "--accounts", "111111111111", "."],
            &["rescan", "--organization", "--rule-name", "r"],
            &["exceptions", "--max-rotation-period-days", "365"],
        ] {
            let argv = std::iter::once("kms-rotation").chain(args.iter().copied());
            let e = Cli::try_parse_from(argv).unwrap_err().to_string();
            assert!(e.contains(&format!("'{}'", args[1])), "{args:?}: {e}");
        }
    }

    #[test]
    fn a_flag_before_the_command_still_works_when_the_command_takes_it() {
        let parse = |args: &[&str]| {
            let argv = std::iter::once("kms-rotation").chain(args.iter().copied());
            parse_from(argv)
        };
        // The form the releases before took: the same as the flags after the command.
        let before = parse(&[
            "--region",
            "eu-west-1",
            "--region=us-east-1",
            "audit",
            "--output",
            "json",
        ])
        .unwrap();
        let after = parse(&[
            "audit",
            "--region",
            "eu-west-1",
            "--region=us-east-1",
            "--output",
            "json",
        ])
        .unwrap();
        assert_eq!(format!("{before:?}"), format!("{after:?}"));
        let Command::Audit(audit) = &before.command else {
            panic!("{before:?}")
        };
        assert_eq!(audit.aws.regions, ["eu-west-1", "us-east-1"]);
        let cli = parse(&[
            "--accounts=111111111111",
            "--all-regions",
            "securityhub",
            "sync-exceptions",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Securityhub(_)), "{cli:?}");
        assert_eq!(
            parse(&["--profile", "ops", "rescan", "--rule-name", "r"])
                .unwrap()
                .profile(),
            Some("ops")
        );
        // A flag the command does not take: clap's own error, naming it, before or after.
        for args in [
            &["--region", "eu-west-1", "check-iac", "."][..],
            &["check-iac", "--region", "eu-west-1", "."],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(
                err.to_string().contains("unexpected argument '--region'"),
                "{err}"
            );
        }
        // A bad value before the command is refused as after it.
        let err = parse(&["--max-rotation-period-days", "30", "audit"]).unwrap_err();
        assert!(
            err.to_string().contains("--max-rotation-period-days"),
            "{err}"
        );
        // Words that are not flags before the command are clap's to refuse.
        assert!(parse(&["stray", "audit"]).is_err());
    }

    #[test]
    fn the_profile_is_the_commands() {
        let profile = |args: &[&str]| {
            let argv = std::iter::once("kms-rotation").chain(args.iter().copied());
            Cli::try_parse_from(argv)
                .unwrap()
                .profile()
                .map(str::to_owned)
        };
        assert_eq!(
            profile(&["audit", "--profile", "ops"]).as_deref(),
            Some("ops")
        );
        assert_eq!(
            profile(&["securityhub", "export", "--profile", "hub"]).as_deref(),
            Some("hub")
        );
        assert_eq!(
            profile(&["rescan", "--rule-name", "r", "--profile", "p"]).as_deref(),
            Some("p")
        );
        assert_eq!(profile(&["check-iac", "."]), None);
        assert_eq!(profile(&["audit"]), None);
    }

    #[test]
    fn a_bad_rule_parameter_names_the_flag_and_the_rules_range() {
        for (args, says) in [
            (
                &["audit", "--max-rotation-period-days", "30"][..],
                "invalid --max-rotation-period-days: rule parameter maxRotationPeriodInDays must be an integer from 90 to 2560, got 30",
            ),
            (
                &["check-iac", "--max-rotation-period-days", "2561", "."],
                "invalid --max-rotation-period-days: rule parameter maxRotationPeriodInDays must be an integer from 90 to 2560, got 2561",
            ),
            (
                &["remediate", "--max-key-material-age-days", "89"],
                "invalid --max-key-material-age-days: rule parameter maxKeyMaterialAgeInDays must be an integer from 90 to 3650, got 89",
            ),
            (
                &["securityhub", "export", "--rotation-grace-days", "366"],
                "invalid --rotation-grace-days: rule parameter rotationGraceDays must be an integer from 0 to 365, got 366",
            ),
            (
                &["audit", "--rotation-grace-days=-1"],
                "invalid --rotation-grace-days:",
            ),
            (
                &["audit", "--max-rotation-period-days", "a year"],
                "invalid --max-rotation-period-days:",
            ),
            (
                &["exceptions", "--exception-tag-key", "aws:x"],
                "invalid --exception-tag-key: rule parameter exceptionTagKey must not start with the reserved prefix aws:",
            ),
        ] {
            let argv = std::iter::once("kms-rotation").chain(args.iter().copied());
            let e = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ValueValidation, "{args:?}");
            assert_eq!(e.exit_code(), 2, "{args:?}");
            assert!(e.to_string().contains(says), "{args:?}: {e}");
        }
        // The edges of each range are accepted, and the values kept.
        let cli = Cli::try_parse_from([
            "kms-rotation",
            "audit",
            "--max-rotation-period-days",
            "2560",
            "--max-key-material-age-days",
            "90",
            "--rotation-grace-days",
            "0",
            "--exception-tag-key",
            "",
        ])
        .unwrap();
        let Command::Audit(a) = cli.command else {
            panic!("not audit")
        };
        assert_eq!(a.rule.template.max_rotation_period_days, Some(2560));
        assert_eq!(a.rule.max_key_material_age_days, Some(90));
        assert_eq!(a.rule.rotation_grace_days, 0);
        assert_eq!(a.rule.template.exception_tag_key, DEFAULT_EXCEPTION_TAG_KEY);
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
