//! # kms-rotation
//!
//! Every customer-managed AWS KMS key that can rotate must have automatic rotation on
//! (CIS AWS Foundations 3.6, Security Hub KMS.4). This library is the whole logic of the AWS Config
//! rule `kms-rotation-rule` and of the operator CLI `kms-rotation`; the binaries only wire it up.
//!
//! One concern a module:
//! - [`decision`]: the pure verdict for one key, a table-like `match`.
//! - [`exception`]: the approved-exception tag.
//! - [`params`]: the rule parameters.
//! - [`event`]: the Config event, parsed.
//! - [`kms`]: the KMS reader.
//! - [`pace`]: the adaptive client-side rate ceiling per KMS API.
//! - [`config`]: the Config writer (PutEvaluations) and reads.
//! - [`evaluate`]: the one driver of the decision, shared by the rule and the CLI.
//! - [`rule`]: one Config invocation, end to end.
//! - [`lambda`]: the Lambda handler around [`rule`].
//! - [`clients`]: SDK clients and cross-account role assumption.
//! - [`remediate`]: which keys EnableKeyRotation fixes, their order and batches; applying them.
//! - [`iac`]: the KMS keys of CloudFormation, Terraform and plans, for the decision before deployment.
//! - [`findings`]: verdicts as OCSF Compliance Findings and ASFF findings (pure).
//! - [`securityhub`]: Security Hub import, read-back and exception sync.
//! - [`cli`]: the operator CLI `kms-rotation` (audit, remediate, exceptions, rescan).

pub mod aws_error;
pub mod cli;
pub mod clients;
pub mod config;
pub mod decision;
pub mod evaluate;
pub mod event;
pub mod exception;
pub mod findings;
pub mod iac;
pub mod kms;
pub mod lambda;
pub mod pace;
pub mod params;
pub mod remediate;
pub mod rule;
pub mod securityhub;
