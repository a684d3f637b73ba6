//! # kms-rotation-core
//!
//! Every customer-managed AWS KMS key that can rotate must have automatic rotation on
//! (CIS AWS Foundations 3.8 in v1.4, 3.6 in v3 and v5, 4.6 in v6 and v7; Security Hub KMS.4). This
//! crate is the logic of the AWS Config rule `kms-rotation-rule`, which the operator CLI
//! (`kms-rotation-cli`) and the pre-deployment check (`kms-rotation-iac`) reuse: one decision,
//! many doors. It has no feature and nothing of the CLI; the Lambda's binary (`rule-lambda`) only
//! wires it up.
//!
//! One concern a module:
//! - [`decision`]: the pure verdict for one key, a table-like `match`.
//! - [`exception`]: the approved-exception tag.
//! - [`params`]: the rule parameters.
//! - [`event`]: the Config event, parsed.
//! - [`kms`]: the KMS reader, with [`pace`], its adaptive rate ceiling per KMS API.
//! - [`config`]: the Config writer (PutEvaluations, holding the result token) and reader.
//! - [`notice`]: notices to exception owners, EventBridge events on the default bus.
//! - [`evaluate`]: the one driver of the decision, shared by the rule and the CLI.
//! - [`rule`]: one Config invocation, end to end.
//! - [`clients`]: SDK clients and cross-account role assumption.
//! - [`arn`]: the one ARN type (parse and format).
//! - [`aws_error`]: what an SDK error says (code, access denied, throttling).
//!
//! The SDK calls of this crate are the Lambda's (tests/baseline/test_iam_policies.py reads them
//! from this crate's source and checks that the rule's roles grant each one).
#![warn(unreachable_pub)]

pub mod arn;
pub mod aws_error;
pub mod clients;
pub mod config;
pub mod decision;
pub mod evaluate;
pub mod event;
pub mod exception;
pub mod kms;
pub mod notice;
pub mod pace;
pub mod params;
pub mod rule;
