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
#[derive(Debug)]
pub struct HandlerError(pub RuleError);

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
    let deadline = remaining(event.context.deadline()).map(|left| Instant::now() + left);
    let result = match Invocation::parse(event.payload) {
        Ok(inv) => rule::run(&inv, clients, deadline, opts).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = &result {
        tracing::error!(error_type = e.error_type(), error = %e, "invocation failed");
    }
    result.map_err(HandlerError)
}

/// Time left before the runtime's deadline; `None` when the context has none (local tools).
fn remaining(deadline: SystemTime) -> Option<Duration> {
    if deadline == SystemTime::UNIX_EPOCH {
        return None;
    }
    Some(
        deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    )
}
