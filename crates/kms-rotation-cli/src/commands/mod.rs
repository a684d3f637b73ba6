//! One module a command: each is called from [`crate::run`] and none imports another (the steps
//! they share are the crate's other modules; tests/baseline/test_layering.py fails on a command
//! that imports a sibling).
//!
//! - `audit`: every key of every account and Region, evaluated; exposure of NON_COMPLIANT keys.
//! - `evidence`: every customer managed key with its rotation evidence, written as files.
//! - `exceptions`: the exception tags, classified.
//! - `rescan`: asks Config for StartConfigRulesEvaluation.
//! - `check_iac`: the decision on templates and plans, before deployment (no AWS call).
//! - `remediate`: the remediation plan, confirmed and applied in batches.
//! - [`securityhub`]: `securityhub export` and `securityhub sync-exceptions`.

pub(crate) mod audit;
pub(crate) mod check_iac;
pub(crate) mod evidence;
pub(crate) mod exceptions;
pub(crate) mod remediate;
pub(crate) mod rescan;
pub mod securityhub;
