//! The rule's integration tests, in one binary (one link, one process; every shared helper is
//! used by some module, so none needs `allow(dead_code)`):
//!
//! - `mocks`: the rule end to end against `aws-smithy-mocks` rules (helpers in `common`);
//! - `notices`: the periodic run's exception notices against mocked EventBridge answers;
//! - `faults`: fault injection against the workspace's fake AWS (`fake-aws`);
//! - `properties`: proptest over events, parameters and exception tags, run against the fake;
//! - `securityhub`: the Security Hub commands against mocked answers.
//!
//! `tests/log_secrecy.rs` is a binary of its own: it installs a process-global tracing
//! subscriber (see the comment at its top). Both use the events and options of
//! `tests/support/fixtures.rs`.

#[path = "../support/fixtures.rs"]
mod fixtures;

mod common;
mod faults;
mod mocks;
mod notices;
mod properties;
mod securityhub;
