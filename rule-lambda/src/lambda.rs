//! The Lambda handler: the runtime's event in, [`rule::run`] in the middle, an outcome or a
//! typed error (with a stable `errorType`) out.

use std::time::{Duration, SystemTime};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tokio::time::Instant;

use kms_rotation_core::clients::Clients;
use kms_rotation_core::event::Invocation;
use kms_rotation_core::rule::{self, Options, Outcome, RuleError};

/// The error the runtime reports: `errorType` names the kind, `errorMessage` says what to do.
pub struct HandlerError(pub RuleError);

/// The runtime logs errors with `{:?}`: make that the readable message.
impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.error_type(), self.0)
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        Diagnostic {
            error_type: e.0.error_type().to_owned(),
            error_message: e.0.to_string(),
        }
    }
}

/// The log filter: `RUST_LOG` (default `info`), except that the targets that print whole events
/// or HTTP bodies (the Config event carries the result token; STS answers carry credentials) are
/// held at DEBUG whatever `RUST_LOG` says.
pub fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::try_new(rust_log.unwrap_or("info"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for capped in [
        "lambda_runtime::layers::api_response=debug",
        "lambda_runtime_api_client=debug",
        "aws_smithy_runtime::client::orchestrator=debug",
        "aws_smithy_runtime_api=debug",
        "hyper=info",
    ] {
        if let Ok(directive) = capped.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

pub use kms_rotation_core::rule::PAGE_SIZE_VARIABLE;

/// The handler's options from the function's environment; a bad value stops the function at start
/// with a message naming the variable.
pub fn options_from_env(var: impl Fn(&str) -> Option<String>) -> Result<Options, String> {
    let mut opts = Options::default();
    if let Some(raw) = var(PAGE_SIZE_VARIABLE).filter(|v| !v.trim().is_empty()) {
        opts.page_size = raw
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=kms_rotation_core::kms::MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                format!("{PAGE_SIZE_VARIABLE} must be an integer from 1 to 1000, got {raw:?}")
            })?;
    }
    Ok(opts)
}

/// Handle one Config event.
pub async fn handler(
    event: LambdaEvent<Value>,
    clients: &Clients,
    opts: &Options,
) -> Result<Outcome, HandlerError> {
    // Stop starting keys a margin before the deadline: at most `deadline_margin`, and at most a
    // quarter of the time the invocation has, so short timeouts still get work done.
    let left = remaining(event.context.deadline());
    let stop_at = left.map(|left| Instant::now() + left - opts.deadline_margin.min(left / 4));
    let result = match Invocation::parse(event.payload) {
        Ok(inv) => rule::run(&inv, clients, stop_at, opts).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = &result {
        tracing::error!(error_type = e.error_type(), error = %e, "invocation failed");
    }
    result.map_err(HandlerError)
}

/// Time left before the runtime's deadline. `None` when the deadline is not a time still ahead:
/// Lambda always sends one, but local emulators send none, or a duration instead of a time
/// (`cargo lambda watch` sends `600000`), and a deadline that has passed before the work starts
/// would only make every key "not started".
fn remaining(deadline: SystemTime) -> Option<Duration> {
    match deadline.duration_since(SystemTime::now()) {
        Ok(left) => Some(left),
        Err(_) => {
            tracing::warn!(
                ?deadline,
                "the invocation's deadline is not in the future; running without one"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filter_caps_the_targets_that_print_events_and_bodies() {
        let text = log_filter(Some("trace")).to_string();
        assert!(
            text.contains("lambda_runtime::layers::api_response=debug"),
            "{text}"
        );
        assert!(
            text.contains("aws_smithy_runtime::client::orchestrator=debug"),
            "{text}"
        );
        assert!(log_filter(Some("not a [filter"))
            .to_string()
            .contains("info"));
        assert!(log_filter(None).to_string().contains("info"));
    }

    #[test]
    fn page_size_from_the_environment() {
        let env = |value: &'static str| move |_: &str| Some(value.to_owned());
        assert_eq!(options_from_env(|_| None).unwrap().page_size, 1000);
        assert_eq!(options_from_env(env("")).unwrap().page_size, 1000);
        assert_eq!(options_from_env(env("7")).unwrap().page_size, 7);
        for bad in ["0", "1001", "x", "-3"] {
            let err = options_from_env(env(bad)).unwrap_err();
            assert!(
                err.contains("KMS_ROTATION_LIST_KEYS_PAGE_SIZE must be an integer from 1 to 1000"),
                "{err}"
            );
        }
    }

    #[test]
    fn deadlines() {
        assert_eq!(remaining(SystemTime::UNIX_EPOCH), None);
        assert_eq!(
            remaining(SystemTime::UNIX_EPOCH + Duration::from_millis(600_000)),
            None
        );
        let left = remaining(SystemTime::now() + Duration::from_secs(60)).unwrap();
        assert!(left > Duration::from_secs(59) && left <= Duration::from_secs(60));
    }
}
