//! # kms-rotation
//!
//! The package that builds the two binaries of the project, thin over the library crates in
//! `crates/`:
//! - `kms-rotation-rule` (feature `lambda`): the AWS Config rule as a Lambda function, [`lambda`]
//!   around `kms_rotation_core::rule`. Built with `--no-default-features --features lambda`, its
//!   dependency tree holds nothing of the CLI.
//! - `kms-rotation` (feature `cli`): the operator CLI, all in `kms_rotation_cli`.
//!
//! The library re-exports the crates' modules under the paths the integration tests use.
#![warn(unreachable_pub)]

pub use kms_rotation_core::{
    clients, config, decision, evaluate, event, exception, kms, notice, pace, params, rule,
};

#[cfg(feature = "cli")]
pub use kms_rotation_cli as cli;
#[cfg(feature = "cli")]
pub use kms_rotation_cli::{exposure, findings, securityhub};

#[cfg(feature = "lambda")]
pub mod lambda;
