//! One way to turn an SDK error into text, for every service this crate calls.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// AWS's error code, when the service answered.
pub fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<String> {
    e.code().map(str::to_owned)
}

/// `Code: message` when the service answered; otherwise the whole error chain (timeouts,
/// connection failures, ...), so the reason is never just "dispatch failure".
pub fn describe<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.code() {
        Some(code) => format!("{code}: {}", e.message().unwrap_or("no message")),
        None => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

/// Whether an error code means the caller lacks a permission.
pub fn is_access_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDeniedException" | "AccessDenied" | "AccessDeniedFault"
    )
}
