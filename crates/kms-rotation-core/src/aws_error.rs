//! One way to turn an SDK error into text, for every service this crate calls, and the one place
//! where errors are recognized by their code.
//!
//! An error that the operation's API model defines is recognized through the SDK's typed
//! operation error (`DescribeKeyError::NotFoundException`, `GetFindingsError::InvalidAccessException`,
//! ...), next to the call. The functions here are for the errors that no model of the operations
//! this crate calls defines, so that the SDK has no variant for them and only the code says what
//! happened: access denied and throttling. Checked in the SDK sources
//! (`aws-sdk-*/src/operation/<operation>.rs`, the operation's `...Error` enum):
//! - KMS (aws-sdk-kms 1.129): `ListKeysError`, `DescribeKeyError`, `GetKeyRotationStatusError`,
//!   `ListKeyRotationsError` and `ListResourceTagsError` have no `AccessDeniedException` and no
//!   `ThrottlingException` variant; the crate has no such error shape at all (its
//!   `types::error` has neither), as KMS's model defines none.
//! - AWS Config (aws-sdk-config 1.131): `PutEvaluationsError`, `GetResourceConfigHistoryError`,
//!   `GetComplianceDetailsByConfigRuleError`, `DescribeConfigRulesError`,
//!   `DescribeConformancePackComplianceError` and `StartConfigRulesEvaluationError` have neither.
//! - Security Hub (aws-sdk-securityhub 1.137): `GetFindingsError`, `BatchImportFindingsError` and
//!   `BatchUpdateFindingsError` have neither (the crate's `AccessDeniedException` and
//!   `ThrottlingException` belong to other operations); Security Hub throttles these with
//!   `TooManyRequestsException`, which no model defines.
//! - `AccessDenied`, `AccessDeniedFault` and `Throttling` are the same errors as awsQuery
//!   services (STS, older APIs) name them.

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

/// Whether an error code means the caller lacks a permission. By code, because no operation this
/// crate calls models the error (see the module's documentation).
pub fn is_access_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDeniedException" | "AccessDenied" | "AccessDeniedFault"
    )
}

/// Whether the service answered that the caller lacks a permission ([`is_access_denied`]).
pub fn denied<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code().is_some_and(is_access_denied)
}

/// Whether an error code means the call was throttled. By code, because no operation this crate
/// calls models the error (see the module's documentation).
pub fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "TooManyRequestsException" | "ThrottlingException" | "Throttling"
    )
}

/// Whether the service answered that the call was throttled ([`is_throttling`]).
pub fn throttled<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code().is_some_and(is_throttling)
}
