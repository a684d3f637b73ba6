//! The test events and run options, shared by the integration-test binary (`tests/it`) and
//! `tests/log_secrecy.rs`: the fixtures under `tests/events/` (at the workspace root), edited.

use std::time::Duration;

use kms_rotation::event::Invocation;
use kms_rotation::rule::Options;
use serde_json::Value;

/// Options for a test run: small pages are set per test.
pub fn options() -> Options {
    Options {
        page_size: 1000,
        concurrency: 8,
        deadline_margin: Duration::from_secs(10),
    }
}

/// A fixture, with `KEY_ID` replaced by `key_id`.
pub fn event(name: &str, key_id: &str) -> Value {
    let path = format!("{}/../tests/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text.replace("KEY_ID", key_id)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Set the rule parameters (a JSON string in the event).
pub fn with_parameters(mut event: Value, parameters: Value) -> Value {
    event["ruleParameters"] = Value::String(parameters.to_string());
    event
}

/// Set the result token.
pub fn with_token(mut event: Value, token: &str) -> Value {
    event["resultToken"] = Value::String(token.to_owned());
    event
}

pub fn invocation(event: Value) -> Invocation {
    Invocation::parse(event).expect("the test event parses")
}

/// The scheduled event, with these rule parameters and this result token.
pub fn periodic(parameters: Value, token: &str) -> Invocation {
    invocation(with_token(
        with_parameters(event("scheduled.json", ""), parameters),
        token,
    ))
}

/// The test options with ListKeys pages of 50, so paging is exercised.
pub fn small_pages() -> Options {
    Options {
        page_size: 50,
        ..options()
    }
}
