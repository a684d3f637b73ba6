//! The Lambda handler: the runtime's event in, [`rule::run`] in the middle, an outcome or a
//! typed error (with a stable `errorType`) out.

use std::time::{Duration, SystemTime};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tokio::time::Instant;

use crate::clients::Clients;
use crate::event::Invocation;
use crate::rule::{self, Options, Outcome, RuleError};

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
