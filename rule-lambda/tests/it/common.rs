//! Test doubles for the mock tests: SDK clients answered by `aws-smithy-mocks` rules, builders for
//! KMS and Config answers, recorders of the requests sent, and the event fixtures.
//!
//! Every client runs the SDK's real pipeline (serialization, signing, error parsing, retries);
//! only the HTTP exchange is replaced. Errors are real HTTP error responses, so error codes and
//! retry classification are the SDK's own. A request that no rule matches panics, which is how a
//! test asserts "no such call".

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fixtures::{event, invocation, with_parameters};
use aws_sdk_config::operation::get_compliance_details_by_config_rule::{
    GetComplianceDetailsByConfigRuleInput, GetComplianceDetailsByConfigRuleOutput,
};
use aws_sdk_config::operation::get_resource_config_history::{
    GetResourceConfigHistoryInput, GetResourceConfigHistoryOutput,
};
use aws_sdk_config::operation::put_evaluations::{PutEvaluationsInput, PutEvaluationsOutput};
use aws_sdk_config::types::{
    ComplianceType, EvaluationResult, EvaluationResultIdentifier, EvaluationResultQualifier,
};
use aws_sdk_kms::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
use aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusOutput;
use aws_sdk_kms::operation::list_aliases::ListAliasesOutput;
use aws_sdk_kms::operation::list_keys::{ListKeysInput, ListKeysOutput};
use aws_sdk_kms::operation::list_resource_tags::ListResourceTagsOutput;
use aws_sdk_kms::types::builders::KeyMetadataBuilder;
use aws_sdk_kms::types::{
    KeyListEntry, KeyManagerType, KeySpec, KeyState, KeyUsageType, OriginType, Tag,
};
use aws_sdk_sts::operation::assume_role::{AssumeRoleInput, AssumeRoleOutput};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::DateTime;
use kms_rotation::clients::Clients;
use kms_rotation::event::Invocation;
use serde_json::Value;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// The access key id of the credentials STS hands out in the assume-role tests.
pub const ASSUMED_ACCESS_KEY: &str = "ASIAASSUMEDROLEKEY01";
/// The attempts per call the test clients make (the first one and two retries).
pub const MAX_ATTEMPTS: u32 = 3;

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/// The SDK's standard retries, with backoffs of a few milliseconds so tests stay fast.
fn fast_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

/// A retry partition of its own for every client: the SDK's retry token bucket is shared per
/// partition across the process, and tests run in parallel.
fn own_partition(service: &str) -> RetryPartition {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    RetryPartition::new(format!(
        "{service}-mock-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Clients whose calls are answered by the given rules (first matching rule wins).
pub fn clients(kms: &[&Rule], config: &[&Rule], sts: &[&Rule]) -> Clients {
    clients_signed(kms, config, sts, &Signers::default())
}

/// Like [`clients`], with EventBridge answered by `events` (the exception notices).
pub fn clients_with_events(
    kms: &[&Rule],
    config: &[&Rule],
    sts: &[&Rule],
    events: &[&Rule],
) -> Clients {
    Clients {
        events: mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, events, |b| b
            .retry_config(fast_retries())
            .retry_partition(own_partition("events"))),
        ..clients(kms, config, sts)
    }
}

/// Like [`clients`], recording the access key id that signs each KMS and Config request.
pub fn clients_signed(
    kms: &[&Rule],
    config: &[&Rule],
    sts: &[&Rule],
    signers: &Signers,
) -> Clients {
    let (k, c) = (signers.clone(), signers.clone());
    // The periodic run reads the account's aliases beside its keys; unless a test gives its own
    // ListAliases rule (rules match in order), the account has none.
    let no_aliases = mock!(aws_sdk_kms::Client::list_aliases)
        .then_output(|| ListAliasesOutput::builder().build());
    let kms: Vec<&Rule> = kms.iter().copied().chain([&no_aliases]).collect();
    Clients {
        kms: mock_client!(aws_sdk_kms, RuleMode::MatchAny, &kms, |b| b
            .retry_config(fast_retries())
            .retry_partition(own_partition("kms"))
            .interceptor(k.clone())),
        config: mock_client!(aws_sdk_config, RuleMode::MatchAny, config, |b| b
            .retry_config(fast_retries())
            .retry_partition(own_partition("config"))
            .interceptor(c.clone())),
        sts: mock_client!(aws_sdk_sts, RuleMode::MatchAny, sts, |b| b
            .retry_config(fast_retries())
            .retry_partition(own_partition("sts"))),
        // No rule: a PutEvents call panics (no notice unless a test asks for them).
        events: mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, &[], |b| b
            .retry_config(fast_retries())
            .retry_partition(own_partition("events"))),
    }
}

/// Records the access key id that signed each request (from its Authorization header).
#[derive(Debug, Clone, Default)]
pub struct Signers(Arc<Mutex<Vec<String>>>);

impl Signers {
    pub fn access_key_ids(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Intercept for Signers {
    fn name(&self) -> &'static str {
        "Signers"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = context
            .request()
            .headers()
            .get("authorization")
            .and_then(|auth| auth.split("Credential=").nth(1))
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("(unsigned)")
            .to_owned();
        self.0.lock().unwrap().push(key);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Recorded requests
// ---------------------------------------------------------------------------------------------

/// The requests a rule answered, in order.
#[derive(Debug)]
pub struct Recorder<I>(Arc<Mutex<Vec<I>>>);

impl<I> Clone for Recorder<I> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<I> Default for Recorder<I> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<I: Clone> Recorder<I> {
    /// Record a request; returns its index (0 for the first).
    pub fn push(&self, input: &I) -> usize {
        let mut calls = self.0.lock().unwrap();
        calls.push(input.clone());
        calls.len() - 1
    }
    pub fn requests(&self) -> Vec<I> {
        self.0.lock().unwrap().clone()
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

// ---------------------------------------------------------------------------------------------
// Errors, as the services send them
// ---------------------------------------------------------------------------------------------

/// An awsJson 1.1 error (KMS, Config): `{"__type": code, "message": ...}`.
pub fn json_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = serde_json::json!({ "__type": code, "message": message }).to_string();
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

/// An awsQuery error (STS).
pub fn query_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"#
    );
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

pub fn throttling() -> HttpResponse {
    json_error(400, "ThrottlingException", "Rate exceeded")
}

pub fn internal_error() -> HttpResponse {
    json_error(
        500,
        "KMSInternalException",
        "We encountered an internal error. Please try again.",
    )
}

// ---------------------------------------------------------------------------------------------
// KMS
// ---------------------------------------------------------------------------------------------

pub fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}")
}

/// DescribeKey's metadata for a customer-managed, enabled, symmetric, single-Region key with
/// KMS-generated material. Tests change what they need with the SDK builder's own setters.
pub fn key(id: &str) -> KeyMetadataBuilder {
    aws_sdk_kms::types::KeyMetadata::builder()
        .key_id(id)
        .arn(key_arn(id))
        .aws_account_id(ACCOUNT)
        .creation_date(DateTime::from_secs(1_768_465_800))
        .enabled(true)
        .description("test key")
        .key_manager(KeyManagerType::Customer)
        .key_state(KeyState::Enabled)
        .key_spec(KeySpec::SymmetricDefault)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .origin(OriginType::AwsKms)
        .multi_region(false)
}

/// DescribeKey for one key answers with `metadata`.
pub fn describe(metadata: KeyMetadataBuilder) -> Rule {
    let id = metadata
        .get_key_id()
        .clone()
        .expect("the metadata has a KeyId");
    let metadata = metadata.build().expect("KeyMetadata");
    mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(move |req| req.key_id() == Some(id.as_str()))
        .then_output(move || {
            DescribeKeyOutput::builder()
                .key_metadata(metadata.clone())
                .build()
        })
}

/// DescribeKey for any key answers with `key(id)`: for tests with many keys.
pub fn describe_every_key() -> Rule {
    mock!(aws_sdk_kms::Client::describe_key).then_compute_output(|req| {
        DescribeKeyOutput::builder()
            .key_metadata(key(req.key_id().unwrap()).build().unwrap())
            .build()
    })
}

pub fn rotation_on_output(id: &str, days: i32, next: &str) -> GetKeyRotationStatusOutput {
    GetKeyRotationStatusOutput::builder()
        .key_id(key_arn(id))
        .key_rotation_enabled(true)
        .rotation_period_in_days(days)
        .next_rotation_date(
            DateTime::from_str(next, aws_smithy_types::date_time::Format::DateTime).unwrap(),
        )
        .build()
}

pub fn rotation_off_output(id: &str) -> GetKeyRotationStatusOutput {
    GetKeyRotationStatusOutput::builder()
        .key_id(key_arn(id))
        .key_rotation_enabled(false)
        .build()
}

fn rotation_of(
    id: &str,
) -> aws_smithy_mocks::RuleBuilder<
    aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusInput,
    GetKeyRotationStatusOutput,
    aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusError,
> {
    let id = id.to_owned();
    mock!(aws_sdk_kms::Client::get_key_rotation_status)
        .match_requests(move |req| req.key_id() == Some(id.as_str()))
}

/// GetKeyRotationStatus for `id`: rotation on, every `days`, next on `next` (RFC 3339).
pub fn rotation_on(id: &str, days: i32, next: &str) -> Rule {
    let out = rotation_on_output(id, days, next);
    rotation_of(id).then_output(move || out.clone())
}

/// GetKeyRotationStatus for `id`: rotation off.
pub fn rotation_off(id: &str) -> Rule {
    let out = rotation_off_output(id);
    rotation_of(id).then_output(move || out.clone())
}

/// GetKeyRotationStatus for `id` answers with an HTTP error, every time.
pub fn rotation_fails(id: &str, error: fn() -> HttpResponse) -> Rule {
    rotation_of(id)
        .sequence()
        .http_response(error)
        .repeatedly()
        .build()
}

/// GetKeyRotationStatus for `id` answers with `error` `times` times, then with rotation on.
pub fn rotation_fails_then_on(id: &str, error: fn() -> HttpResponse, times: usize) -> Rule {
    let out = rotation_on_output(id, 365, "2027-05-01T00:00:00Z");
    rotation_of(id)
        .sequence()
        .http_response(error)
        .times(times)
        .output(move || out.clone())
        .build()
}

/// GetKeyRotationStatus for any key: rotation on every 365 days.
pub fn rotation_on_for_every_key() -> Rule {
    mock!(aws_sdk_kms::Client::get_key_rotation_status).then_compute_output(|req| {
        rotation_on_output(req.key_id().unwrap(), 365, "2027-05-01T00:00:00Z")
    })
}

/// ListResourceTags for `id`: one page with these tags.
pub fn tags(id: &str, tags: &[(&str, &str)]) -> Rule {
    let id = id.to_owned();
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().tag_key(*k).tag_value(*v).build().unwrap())
        .collect();
    mock!(aws_sdk_kms::Client::list_resource_tags)
        .match_requests(move |req| req.key_id() == Some(id.as_str()))
        .then_output(move || {
            ListResourceTagsOutput::builder()
                .set_tags(Some(tags.clone()))
                .truncated(false)
                .build()
        })
}

/// ListKeys answering `pages` in order: page n+1 is served for the marker `marker-n`, which the
/// previous page returned as its `NextMarker`. The requests are recorded.
pub fn list_keys(pages: &[&[&str]]) -> (Rule, Recorder<ListKeysInput>) {
    let pages: Vec<Vec<String>> = pages
        .iter()
        .map(|p| p.iter().map(|s| s.to_string()).collect())
        .collect();
    let calls = Recorder::default();
    let recorder = calls.clone();
    let rule = mock!(aws_sdk_kms::Client::list_keys).then_compute_output(move |req| {
        recorder.push(req);
        let page = match req.marker() {
            None => 0,
            Some(m) => m
                .strip_prefix("marker-")
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("ListKeys sent a marker it was never given: {m}")),
        };
        let keys = pages[page].iter().map(|id| {
            KeyListEntry::builder()
                .key_id(id)
                .key_arn(key_arn(id))
                .build()
        });
        let last = page + 1 == pages.len();
        ListKeysOutput::builder()
            .set_keys(Some(keys.collect()))
            .truncated(!last)
            .set_next_marker((!last).then(|| format!("marker-{}", page + 1)))
            .build()
    });
    (rule, calls)
}

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

/// PutEvaluations, recording every request.
pub struct PutEvaluations {
    pub rule: Rule,
    calls: Recorder<PutEvaluationsInput>,
}

impl PutEvaluations {
    /// Config takes every evaluation.
    pub fn accepting() -> Self {
        Self::answering(|_, _| Vec::new())
    }

    /// Config answers call `n` (from 0) with FailedEvaluations for the resource ids `failed`
    /// returns; each failed evaluation is the one that was sent.
    pub fn answering(
        failed: impl Fn(usize, &PutEvaluationsInput) -> Vec<String> + Send + Sync + 'static,
    ) -> Self {
        let calls = Recorder::default();
        let recorder = calls.clone();
        let rule = mock!(aws_sdk_config::Client::put_evaluations).then_compute_output(move |req| {
            let n = recorder.push(req);
            let ids = failed(n, req);
            let failed: Vec<_> = req
                .evaluations()
                .iter()
                .filter(|e| ids.contains(&e.compliance_resource_id))
                .cloned()
                .collect();
            PutEvaluationsOutput::builder()
                .set_failed_evaluations(Some(failed))
                .build()
        });
        Self { rule, calls }
    }

    pub fn requests(&self) -> Vec<PutEvaluationsInput> {
        self.calls.requests()
    }

    /// Every evaluation sent, in order.
    pub fn evaluations(&self) -> Vec<aws_sdk_config::types::Evaluation> {
        self.requests()
            .into_iter()
            .flat_map(|r| r.evaluations.unwrap_or_default())
            .collect()
    }

    /// The one evaluation of a run that sent exactly one, in exactly one call.
    pub fn only(&self) -> aws_sdk_config::types::Evaluation {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "PutEvaluations calls: {requests:#?}");
        let evaluations = requests[0].evaluations();
        assert_eq!(evaluations.len(), 1, "evaluations: {evaluations:#?}");
        evaluations[0].clone()
    }

    /// The evaluation sent for `id`, which must have been sent exactly once.
    pub fn of(&self, id: &str) -> aws_sdk_config::types::Evaluation {
        let found: Vec<_> = self
            .evaluations()
            .into_iter()
            .filter(|e| e.compliance_resource_id == id)
            .collect();
        assert_eq!(found.len(), 1, "evaluations of {id}: {found:#?}");
        found[0].clone()
    }

    /// The resource ids sent, sorted.
    pub fn resource_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .evaluations()
            .into_iter()
            .map(|e| e.compliance_resource_id)
            .collect();
        ids.sort();
        ids
    }
}

/// What an evaluation says, for assertions.
pub fn compliance(e: &aws_sdk_config::types::Evaluation) -> &str {
    e.compliance_type.as_str()
}

pub fn annotation(e: &aws_sdk_config::types::Evaluation) -> &str {
    e.annotation().unwrap_or_default()
}

/// GetResourceConfigHistory answers with `item`, recording the requests.
pub fn config_history(
    item: aws_sdk_config::types::ConfigurationItem,
) -> (Rule, Recorder<GetResourceConfigHistoryInput>) {
    let calls = Recorder::default();
    let recorder = calls.clone();
    let rule = mock!(aws_sdk_config::Client::get_resource_config_history).then_compute_output(
        move |req| {
            recorder.push(req);
            GetResourceConfigHistoryOutput::builder()
                .configuration_items(item.clone())
                .build()
        },
    );
    (rule, calls)
}

/// GetComplianceDetailsByConfigRule: one page listing results for these key ids.
pub fn compliance_details(ids: &[&str]) -> (Rule, Recorder<GetComplianceDetailsByConfigRuleInput>) {
    let results: Vec<EvaluationResult> = ids
        .iter()
        .map(|id| {
            EvaluationResult::builder()
                .evaluation_result_identifier(
                    EvaluationResultIdentifier::builder()
                        .evaluation_result_qualifier(
                            EvaluationResultQualifier::builder()
                                .config_rule_name("kms-rotation-rule")
                                .resource_type("AWS::KMS::Key")
                                .resource_id(*id)
                                .build(),
                        )
                        .ordering_timestamp(DateTime::from_secs(1_764_000_000))
                        .build(),
                )
                .compliance_type(ComplianceType::NonCompliant)
                .build()
        })
        .collect();
    let calls = Recorder::default();
    let recorder = calls.clone();
    let rule = mock!(aws_sdk_config::Client::get_compliance_details_by_config_rule)
        .then_compute_output(move |req| {
            recorder.push(req);
            GetComplianceDetailsByConfigRuleOutput::builder()
                .set_evaluation_results(Some(results.clone()))
                .build()
        });
    (rule, calls)
}

// ---------------------------------------------------------------------------------------------
// STS
// ---------------------------------------------------------------------------------------------

/// AssumeRole hands out credentials with [`ASSUMED_ACCESS_KEY`], recording the requests.
pub fn assume_role_ok() -> (Rule, Recorder<AssumeRoleInput>) {
    let calls = Recorder::default();
    let recorder = calls.clone();
    let rule = mock!(aws_sdk_sts::Client::assume_role).then_compute_output(move |req| {
        recorder.push(req);
        AssumeRoleOutput::builder()
            .credentials(
                aws_sdk_sts::types::Credentials::builder()
                    .access_key_id(ASSUMED_ACCESS_KEY)
                    .secret_access_key("assumed-secret")
                    .session_token("assumed-session-token")
                    .expiration(DateTime::from_secs(4_102_444_800))
                    .build()
                    .unwrap(),
            )
            .build()
    });
    (rule, calls)
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// Every fixture under `tests/events/`.
pub const FIXTURES: &[&str] = &[
    "scheduled.json",
    "change-rotation-off.json",
    "change-minimal.json",
    "change-deleted.json",
    "change-left-scope.json",
    "oversized.json",
    "malformed.json",
    "bad-parameters.json",
    "unknown-message-type.json",
];

/// Edit the `invokingEvent` JSON string of an event as JSON.
pub fn edit_invoking_event(event: &mut Value, edit: impl FnOnce(&mut Value)) {
    let mut invoking: Value =
        serde_json::from_str(event["invokingEvent"].as_str().unwrap()).unwrap();
    edit(&mut invoking);
    event["invokingEvent"] = Value::String(invoking.to_string());
}

/// The scheduled event, with these rule parameters.
pub fn scheduled(parameters: Value) -> Invocation {
    invocation(with_parameters(event("scheduled.json", ""), parameters))
}

/// An expiry date `days` from today (UTC), as the exception tag writes it.
pub fn days_from_today(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Key policies
// ---------------------------------------------------------------------------------------------

/// GetKeyPolicy for `id` (PolicyName `default`) answers with `policy`, recording the requests.
pub fn key_policy(
    id: &str,
    policy: &str,
) -> (
    Rule,
    Recorder<aws_sdk_kms::operation::get_key_policy::GetKeyPolicyInput>,
) {
    let (id, policy) = (id.to_owned(), policy.to_owned());
    let calls = Recorder::default();
    let recorder = calls.clone();
    let rule = mock!(aws_sdk_kms::Client::get_key_policy)
        .match_requests(move |req| req.key_id() == Some(id.as_str()))
        .then_compute_output(move |req| {
            recorder.push(req);
            aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput::builder()
                .policy(policy.clone())
                .policy_name("default")
                .build()
        });
    (rule, calls)
}
