//! Infrastructure as code, read before deployment: the KMS keys a CloudFormation template, a
//! Terraform module or a Terraform plan would create, as the facts the rule's decision needs.
//!
//! Each format is read into the same typed description ([`KeyResource`]): a key's spec, origin,
//! key store, state, rotation and tags, each either known from the source or [`Unknowable`]
//! before deployment, with its line. [`assess`] then builds the rule's [`kms_rotation_core::decision::KeyFacts`]
//! and calls [`kms_rotation_core::decision::decide`]: the verdicts are the rule's own; a fact the decision asks
//! for that the source cannot tell makes the key UNKNOWN, never a guess.
//!
//! - [`value`]: the resolved values of a template ([`Val`]), known or not.
//! - [`yaml`]: YAML and JSON with line numbers and CloudFormation's short-form tags.
//! - [`cfn`]: CloudFormation templates (`AWS::KMS::Key`, `AWS::KMS::ReplicaKey`); with
//!   [`cfn_foreach`] (`Fn::ForEach` loops) and [`cfn_params`] (the parameter values deployed).
//! - [`cdk`]: CDK cloud assemblies (`cdk.out`): which of their files are templates.
//! - [`terraform`]: Terraform source (`aws_kms_key`, `aws_kms_replica_key`, external keys).
//! - [`tf_json`]: Terraform's JSON syntax (`*.tf.json`), translated for [`terraform`].
//! - [`tf_vars`]: a Terraform root module's var files (`terraform.tfvars`, `--var-file`).
//! - [`plan`]: Terraform plan JSON (`terraform show -json`).
//! - [`assess`]: the facts, the decision, the finding.
#![warn(unreachable_pub)]

pub(crate) mod assess;
pub(crate) mod cdk;
pub(crate) mod cfn;
pub(crate) mod cfn_foreach;
pub mod cfn_params;
pub(crate) mod plan;
pub mod scan;
pub(crate) mod terraform;
pub(crate) mod tf_json;
pub(crate) mod tf_modules;
pub mod tf_vars;
pub(crate) mod value;
pub(crate) mod yaml;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod scratch;
#[cfg(test)]
mod table_walk;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub(crate) use assess::assess_unit;
pub use assess::{Finding, Outcome};
pub(crate) use value::{Fact, Unknowable};

/// CloudFormation's resource types of KMS keys (read by [`cfn`] and by [`cfn_foreach`]'s loops).
pub(crate) const CFN_KEY: &str = "AWS::KMS::Key";
pub(crate) const CFN_REPLICA_KEY: &str = "AWS::KMS::ReplicaKey";

/// Why a file could not be checked. Every message names the problem; the caller names the file.
#[derive(Debug, Error)]
pub enum IacError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("not valid YAML or JSON: {0}")]
    Yaml(String),
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not valid Terraform (HCL): {0}")]
    Hcl(String),
    #[error("not a Terraform plan: {0}")]
    Plan(String),
    #[error("not a CloudFormation template: {0}")]
    Template(String),
    /// A parameter value the template cannot take (CloudFormation would refuse the stack).
    #[error("{0}")]
    Parameter(String),
    #[error("module call not followed: {0}")]
    Module(String),
    /// A bound that no real template or module reaches: the file is refused, not read further.
    #[error("refused: {0}")]
    Limit(String),
}

impl From<yaml::ParseError> for IacError {
    fn from(e: yaml::ParseError) -> Self {
        match e {
            yaml::ParseError::Syntax(m) => Self::Yaml(m),
            yaml::ParseError::Limit(m) => Self::Limit(m),
        }
    }
}

/// The largest file `check-iac` reads: 32 MiB. A CloudFormation template is at most 1 MB
/// (CloudFormation quotas, "Template body size in an Amazon S3 object"); the margin is for
/// Terraform plan JSON, which has no documented limit.
pub(crate) const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// A file's text, refused when it is larger than [`MAX_FILE_BYTES`]. At most that many bytes (plus
/// one) are read, whatever the file is (a FIFO or `/dev/zero` has no size to trust).
pub(crate) fn read_text(path: &Path) -> Result<String, IacError> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(IacError::Limit(format!(
            "larger than {} MiB, the most check-iac reads from one file",
            MAX_FILE_BYTES / (1024 * 1024)
        )));
    }
    Ok(text)
}

/// One KMS key resource, as the source describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyResource {
    /// The logical ID (CloudFormation) or the address (Terraform).
    pub name: String,
    /// `AWS::KMS::Key`, `aws_kms_key`, ...
    pub resource_type: String,
    /// The file that declares it.
    pub file: PathBuf,
    /// 1-based line of its declaration.
    pub line: usize,
    pub kind: KeyKind,
    /// What was assumed to read it, for the message (a parameter taken at its default).
    pub notes: Vec<String>,
    /// The Terraform module calls that create it, from the root down (empty at the root and
    /// for CloudFormation and plans).
    pub via: Vec<tf_modules::Call>,
}

/// A key of its own, or a multi-Region replica that shares its primary's rotation.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyKind {
    Key(KeyProps),
    Replica(ReplicaProps),
}

/// The properties of a key that the decision reads. Defaults are applied by the readers.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyProps {
    pub key_spec: Fact<String>,
    pub origin: Fact<String>,
    pub custom_key_store_id: Fact<Option<String>>,
    pub enabled: Fact<bool>,
    pub rotation_enabled: Fact<bool>,
    /// `None` when not set: KMS then rotates every 365 days.
    pub rotation_period_days: Fact<Option<i64>>,
    pub tags: Fact<Tags>,
}

/// A multi-Region replica: its own state and tags, its primary's everything else.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaProps {
    /// The name of the primary key in the same template or module.
    pub primary: Fact<String>,
    pub enabled: Fact<bool>,
    pub tags: Fact<Tags>,
}

/// Tag keys with their values; a value may be unknown before deployment.
pub(crate) type Tags = Vec<(String, Fact<String>)>;

/// The formats `check-iac` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    CloudFormation,
    TerraformPlan,
}

/// What a file is, from its name: `.tf` is Terraform; `.json`, `.yaml`, `.yml`, `.template` are
/// CloudFormation or a plan, told apart by their content. Anything else is not read.
pub(crate) fn candidate(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("tf" | "json" | "yaml" | "yml" | "template")
    )
}

/// The keys of one file that is not Terraform source: `Ok(None)` when the file is valid YAML or
/// JSON but neither a template nor a plan (a workflow file, a package.json), so it is skipped. A
/// template is read with the parameter values `parameters` (the others at their defaults).
pub(crate) fn read_document(
    path: &Path,
    parameters: &cfn_params::ParameterValues,
) -> Result<Option<(Format, Vec<KeyResource>)>, IacError> {
    let text = read_text(path)?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        let value: serde_json::Value = serde_json::from_str(&text)?;
        if plan::looks_like_plan(&value) {
            return plan::read(path, &text, &value).map(|k| Some((Format::TerraformPlan, k)));
        }
    }
    let root = yaml::parse(&text)?;
    if !cfn::looks_like_template(&root) {
        return Ok(None);
    }
    cfn::read_with(path, &root, parameters).map(|k| Some((Format::CloudFormation, k)))
}
