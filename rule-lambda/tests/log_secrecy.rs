//! No secrets in the logs: the log of a faulty cross-account run, at every level the rule is run
//! with, holds no credentials and no result token.
//!
//! This test has a binary of its own, with one global subscriber whose filter is reloaded per
//! level. tracing caches each callsite's interest once per process, computed on whichever thread
//! reaches the callsite first: in a binary shared with other tests, a test running without a
//! subscriber could reach "periodic evaluation finished" first and have it cached as "never",
//! so the capture here would miss it (it did once, on a fresh clone). With a global subscriber
//! and no other test in the process, every callsite's interest is the capture's, and
//! `reload::Handle::reload` rebuilds the cache when the filter changes.
//!
//! That is why it is not a module of `tests/it`, the binary that holds every other integration
//! test: it shares only the fake AWS (the `fake-aws` crate) and the events and options of
//! `tests/support/fixtures.rs` with it.

#[path = "support/fixtures.rs"]
mod fixtures;

use std::sync::{Arc, Mutex};

use fake_aws::*;
use fixtures::{event, invocation, options, periodic, small_pages, with_parameters, with_token};
use kms_rotation::rule::run;
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter};

// =============================================================================================
// No secrets in the logs
// =============================================================================================

/// A `MakeWriter` that appends to a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// What must never be logged: credentials (env and assumed), the result token.
const RESULT_TOKEN: &str = "eyJjb25maWdSdWxlSWQiOiJjb25maWctcnVsZS1rbXNyb3QiLCJleHAiOjE3OTU4NjM2MDB9.R3aLt0k3nS1gn4tur3+/x9Qw==";

fn assert_no_secrets(log: &str) {
    for (what, secret) in [
        ("assumed secret access key", ASSUMED_SECRET_ACCESS_KEY),
        ("assumed session token", ASSUMED_SESSION_TOKEN),
        ("environment secret access key", BASE_SECRET_ACCESS_KEY),
        ("environment session token", BASE_SESSION_TOKEN),
        ("result token", RESULT_TOKEN),
    ] {
        assert!(!log.contains(secret), "the log holds the {what}");
        // A recognisable part of it, in case it was cut or re-encoded.
        assert!(
            !log.contains(&secret[..24]),
            "the log holds the start of the {what}"
        );
    }
}

/// The log of a faulty cross-account run (real-looking token, faults, failed keys and errors),
/// then a change event and a refused event: every logging path of the rule, under `filter`.
fn captured_log(
    capture: &Capture,
    filter: &reload::Handle<EnvFilter, tracing_subscriber::Registry>,
    level: &str,
) -> (String, String) {
    filter
        .reload(EnvFilter::new(level))
        .expect("the capture's filter can be reloaded");
    capture.0.lock().unwrap().clear();
    let fake = FakeAws::new(account(36), FaultPlan::everywhere(2, 0.7));
    let role = json!({"ExecutionRoleName": "KmsRotationRuleEvaluation"});
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let inv = periodic(role.clone(), RESULT_TOKEN);
        let _ = rt.block_on(run(&inv, &fake.clients(), None, &small_pages()));
        let inv = invocation(with_token(
            with_parameters(event("change-minimal.json", &key_id(1)), role.clone()),
            RESULT_TOKEN,
        ));
        let _ = rt.block_on(run(&inv, &fake.clients(), None, &options()));
        let bad = with_parameters(
            with_token(event("scheduled.json", ""), RESULT_TOKEN),
            json!({"ExecutionRoleName": "arn:aws:iam::1:role/x"}),
        );
        let _ = rt.block_on(kms_rotation::lambda::handler(
            lambda_runtime::LambdaEvent::new(bad, lambda_runtime::Context::default()),
            &fake.clients(),
            &options(),
        ));
    }
    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    if std::env::var_os("SHOW_LOG").is_some() {
        println!("{log}");
    }
    // The capture saw the runs: the periodic summary, a failed key, the refused event.
    for seen in [
        "periodic evaluation finished",
        "key not evaluated",
        "invocation failed",
    ] {
        assert!(log.contains(seen), "{level}: no {seen:?} in the capture");
    }
    (log, fake.journal(|j| j.injected_summary()))
}

#[test]
fn no_credentials_or_result_token_in_the_logs_of_a_faulty_cross_account_run() {
    let capture = Capture::default();
    let (filter, handle) = reload::Layer::new(EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_writer(capture.clone()),
        )
        .init();
    // The default level, debug everywhere, and everything the rule itself logs.
    for level in ["info", "debug", "kms_rotation=trace,info"] {
        let (log, injected) = captured_log(&capture, &handle, level);
        assert_no_secrets(&log);
        println!(
            "no_secrets_in_logs[{level}]: {} log lines scanned, faults injected {injected}",
            log.lines().count()
        );
    }
}

// TRACE is checked end to end (tests/e2e/test_logs.py), with the real transport: the SDK's
// orchestrator logs each raw response at TRACE, and only a real connection's streaming body keeps
// AssumeRole's credentials out of that line; this fake's in-memory body would show them.
