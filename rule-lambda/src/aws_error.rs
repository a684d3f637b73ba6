//! One way to turn an SDK error into text, for every service this crate calls.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// AWS's error code, when the service answered.
pub fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<String> {
    e.code().map(str::to_owned)
}

/// `Code: message` when the service answered with an AWS error; `HTTP <status>` when something
/// answered that is not an AWS error (an endpoint that lacks the operation, a proxy); otherwise
/// the whole error chain (timeouts, connection failures, ...), so the reason is never just
/// "dispatch failure".
pub fn describe<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (e.code(), e.raw_response()) {
        (Some(code), _) => format!("{code}: {}", e.message().unwrap_or("no message")),
        (None, Some(raw)) => format!(
            "HTTP {} with no AWS error in the answer (does the endpoint implement this operation?)",
            raw.status().as_u16()
        ),
        (None, None) => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

/// Whether an error code means the caller lacks a permission.
pub fn is_access_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDeniedException" | "AccessDenied" | "AccessDeniedFault"
    )
}
