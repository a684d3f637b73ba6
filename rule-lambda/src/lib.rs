//! # kms-rotation
//!
//! Every customer-managed AWS KMS key that can rotate must have automatic rotation on
//! (CIS AWS Foundations 3.8 in v1.4, 3.6 in v3 and v5, 4.6 in v6 and v7; Security Hub KMS.4). This library is the logic of the AWS Config rule
//! `kms-rotation-rule` and of the operator CLI `kms-rotation`; the binaries only wire it up.
//!
//! The shared core, one concern a module:
//! - [`decision`]: the pure verdict for one key, a table-like `match`.
//! - [`exception`]: the approved-exception tag.
//! - [`params`]: the rule parameters.
//! - [`event`]: the Config event, parsed.
//! - [`kms`]: the KMS reader (and `pace`, its adaptive rate ceiling per KMS API).
//! - [`config`]: the Config writer (PutEvaluations, holding the result token) and reader.
//! - [`evaluate`]: the one driver of the decision, shared by the rule and the CLI.
//! - [`rule`]: one Config invocation, end to end.
//! - [`clients`]: SDK clients and cross-account role assumption.
//!
//! Each door adds its glue behind a feature (both on by default):
//! - `lambda`: [`lambda`], the Lambda handler around [`rule`].
//! - `cli`: `cli`, the operator CLI `kms-rotation` (audit, remediate, exceptions, rescan,
//!   check-iac, securityhub), with `remediate` (the pure plan of remediation), `exposure` (a key
//!   policy classified public, cross-account or private, for the remediation order), `iac` (the
//!   KMS keys of CloudFormation, Terraform and plans), `findings` (verdicts as OCSF and ASFF
//!   findings) and `securityhub` (Security Hub import, read-back and exception sync).
//!
//! Items are `pub(crate)` unless another crate (a binary, the tests, the bench) uses them; the
//! `unreachable_pub` lint keeps it so, and the compiler then reports what nothing uses.
#![warn(unreachable_pub)]

mod aws_error;
#[cfg(feature = "cli")]
pub mod cli;
pub mod clients;
pub mod config;
pub mod decision;
pub mod evaluate;
pub mod event;
pub mod exception;
#[cfg(feature = "cli")]
pub mod exposure;
#[cfg(feature = "cli")]
pub mod findings;
#[cfg(feature = "cli")]
mod iac;
pub mod kms;
#[cfg(feature = "lambda")]
pub mod lambda;
mod pace;
pub mod params;
#[cfg(feature = "cli")]
mod remediate;
pub mod rule;
#[cfg(feature = "cli")]
pub mod securityhub;
