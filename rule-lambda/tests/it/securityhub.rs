//! Security Hub against mocked answers: the exact requests `securityhub export` and
//! `securityhub sync-exceptions` send (BatchImportFindings, GetFindings filters and paging,
//! BatchUpdateFindings), and what they do with FailedFindings, UnprocessedFindings and
//! throttling. Each test reads given / when / then; a request no rule matches fails the test.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{ACCOUNT, REGION};
use aws_sdk_securityhub::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_securityhub::operation::batch_import_findings::{
    BatchImportFindingsInput, BatchImportFindingsOutput,
};
use aws_sdk_securityhub::operation::batch_update_findings::{
    BatchUpdateFindingsInput, BatchUpdateFindingsOutput,
};
use aws_sdk_securityhub::operation::get_findings::{GetFindingsInput, GetFindingsOutput};
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingIdentifier, BatchUpdateFindingsUnprocessedFinding,
    Compliance, ComplianceStatus, ImportFindingsError, Note, RecordState, Resource,
    StringFilterComparison, Workflow, WorkflowStatus,
};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use chrono::{DateTime, Utc};
use kms_rotation::decision::{Compliance as Verdict, Reason, Verdict as V};
use kms_rotation::evaluate::KeyEvaluation;
use kms_rotation::findings::{asff, product_arn, Asff, Subject, Times, GENERATOR_ID};
use kms_rotation::securityhub::{
    plan_sync, securityhub_product_arn, suppress_note, Hub, KeyException, SyncStep, MARKER_FIELD,
    MARKER_RELEASED, MARKER_SUPPRESSED, NOTE_AUTHOR,
};

// ---------------------------------------------------------------------------------------------
// Doubles
// ---------------------------------------------------------------------------------------------

fn hub(rules: &[&Rule]) -> Hub {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, rules, |b| b
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(crate::common::MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(5))
        )
        .retry_partition(RetryPartition::new(format!(
            "securityhub-mock-{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))));
    Hub::new(client, REGION)
}

/// The requests an operation received, in order.
#[derive(Clone)]
struct Seen<I>(Arc<Mutex<Vec<I>>>);

impl<I> Default for Seen<I> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<I: Clone> Seen<I> {
    fn push(&self, i: &I) -> usize {
        let mut v = self.0.lock().unwrap();
        v.push(i.clone());
        v.len() - 1
    }
    fn all(&self) -> Vec<I> {
        self.0.lock().unwrap().clone()
    }
}

/// A restJson1 error, as Security Hub sends it.
fn hub_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = serde_json::json!({ "Code": code, "Message": message }).to_string();
    let mut r = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    r.headers_mut().insert("x-amzn-errortype", code.to_owned());
    r
}

fn too_many_requests() -> HttpResponse {
    hub_error(429, "TooManyRequestsException", "Rate exceeded")
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn key_arn(id: &str) -> String {
    crate::common::key_arn(id)
}

/// The ASFF finding of key `id` (no ARN known: the account is the caller's).
fn finding_of(id: &str, c: Verdict, r: Reason) -> Asff {
    let e = KeyEvaluation {
        key_id: id.into(),
        facts: None,
        verdict: V::new(c, r, "why"),
    };
    let s = Subject::new(REGION, &e, None, None, Some(ACCOUNT), None).unwrap();
    asff(&s, &Times::at(now(), None), false)
}

fn findings(n: usize) -> Vec<Asff> {
    (0..n)
        .map(|i| {
            finding_of(
                &format!("k-{i:03}"),
                Verdict::NonCompliant,
                Reason::RotationOff,
            )
        })
        .collect()
}

/// BatchImportFindings that refuses the ids `refuse(call, input)` names.
fn importing(
    refuse: impl Fn(usize, &BatchImportFindingsInput) -> Vec<String> + Send + Sync + 'static,
) -> (Rule, Seen<BatchImportFindingsInput>) {
    let seen = Seen::default();
    let s = seen.clone();
    let rule =
        mock!(aws_sdk_securityhub::Client::batch_import_findings).then_compute_output(move |req| {
            let call = s.push(req);
            let refused = refuse(call, req);
            let n = req.findings().len() as i32;
            BatchImportFindingsOutput::builder()
                .failed_count(refused.len() as i32)
                .success_count(n - refused.len() as i32)
                .set_failed_findings(Some(
                    refused
                        .into_iter()
                        .map(|id| {
                            ImportFindingsError::builder()
                                .id(id)
                                .error_code("InvalidInput")
                                .error_message("Finding is not valid")
                                .build()
                        })
                        .collect(),
                ))
                .build()
        });
    (rule, seen)
}

fn ids(req: &BatchImportFindingsInput) -> Vec<String> {
    req.findings()
        .iter()
        .map(|f| f.id.clone().unwrap())
        .collect()
}

// =============================================================================================
// BatchImportFindings
// =============================================================================================

#[tokio::test]
async fn import_sends_at_most_100_findings_a_call_in_order() {
    // Given 250 findings
    let all = findings(250);
    let (rule, seen) = importing(|_, _| vec![]);
    // When they are sent
    let report = hub(&[&rule]).import(&all).await;
    // Then three calls of 100, 100 and 50 carry every finding once, in order
    let calls = seen.all();
    assert_eq!(
        calls.iter().map(|c| c.findings().len()).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    let sent: Vec<String> = calls.iter().flat_map(ids).collect();
    assert_eq!(sent, all.iter().map(|a| a.id.clone()).collect::<Vec<_>>());
    assert_eq!(report.done.len(), 250);
    assert!(report.refused.is_empty());
}

#[tokio::test]
async fn import_request_is_an_asff_finding_of_the_custom_integration() {
    // Given one NON_COMPLIANT key
    let a = finding_of("k-1", Verdict::NonCompliant, Reason::RotationOff);
    let (rule, seen) = importing(|_, _| vec![]);
    // When it is sent
    hub(&[&rule]).import(std::slice::from_ref(&a)).await;
    // Then the request carries the finding as ASFF wants it
    let req = seen.all().remove(0);
    let f: &AwsSecurityFinding = &req.findings()[0];
    assert_eq!(f.schema_version.as_deref(), Some("2018-10-08"));
    assert_eq!(
        f.id.as_deref(),
        Some(format!("kms-rotation-rule/KMS.4/{}", key_arn("k-1")).as_str())
    );
    assert_eq!(
        f.product_arn.as_deref(),
        Some(product_arn("aws", REGION, ACCOUNT).as_str())
    );
    assert_eq!(
        f.product_arn.as_deref(),
        Some("arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default")
    );
    assert_eq!(f.generator_id.as_deref(), Some(GENERATOR_ID));
    assert_eq!(f.aws_account_id.as_deref(), Some(ACCOUNT));
    assert_eq!(f.created_at.as_deref(), Some("2026-11-29T10:00:00.000Z"));
    let c = f.compliance.as_ref().unwrap();
    assert_eq!(c.status, Some(ComplianceStatus::Failed));
    assert_eq!(
        c.related_requirements(),
        [
            "CIS AWS Foundations Benchmark v1.4.0/3.8",
            "CIS AWS Foundations Benchmark v3.0.0/3.6",
            "CIS AWS Foundations Benchmark v5.0.0/3.6",
            "CIS AWS Foundations Benchmark v6.0.0/4.6",
            "CIS AWS Foundations Benchmark v7.0.0/4.6",
            "NIST.800-53.r5 SC-12",
            "PCI DSS v4.0.1/3.7.4"
        ]
    );
    assert_eq!(
        c.status_reasons()[0].reason_code.as_deref(),
        Some("ROTATION_OFF")
    );
    let r = &f.resources()[0];
    assert_eq!(r.r#type.as_deref(), Some("AwsKmsKey"));
    assert_eq!(r.id.as_deref(), Some(key_arn("k-1").as_str()));
    let k = r.details.as_ref().unwrap().aws_kms_key.as_ref().unwrap();
    assert_eq!(k.key_id.as_deref(), Some("k-1"));
    assert_eq!(k.key_rotation_status, Some(false));
    assert_eq!(f.record_state, Some(RecordState::Active));
    assert!(f
        .remediation
        .as_ref()
        .and_then(|r| r.recommendation.as_ref())
        .and_then(|r| r.text.as_deref())
        .unwrap()
        .contains("aws kms enable-key-rotation --key-id"));
    assert_eq!(
        f.product_fields.as_ref().unwrap()["kms-rotation/Reason"],
        "ROTATION_OFF"
    );
}

#[tokio::test]
async fn failed_findings_are_sent_again_alone_then_named() {
    // Given Security Hub refuses k-001 once and k-002 every time
    let all = findings(3);
    let (once, always) = (all[1].id.clone(), all[2].id.clone());
    let (rule, seen) = importing(move |call, req| {
        ids(req)
            .into_iter()
            .filter(|id| *id == always || (*id == once && call == 0))
            .collect()
    });
    // When the findings are sent
    let report = hub(&[&rule]).import(&all).await;
    // Then only the refused findings are sent again, three attempts in all, and the one refused
    // every time is named with Security Hub's error
    let calls: Vec<Vec<String>> = seen.all().iter().map(ids).collect();
    assert_eq!(
        calls,
        [
            vec![all[0].id.clone(), all[1].id.clone(), all[2].id.clone()],
            vec![all[1].id.clone(), all[2].id.clone()],
            vec![all[2].id.clone()],
        ]
    );
    assert_eq!(report.done, [all[0].id.clone(), all[1].id.clone()]);
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].id, all[2].id);
    assert_eq!(report.refused[0].code, "InvalidInput");
}

#[tokio::test]
async fn throttled_imports_are_retried_and_then_sent() {
    // Given BatchImportFindings is throttled twice, then answers
    let seen: Seen<BatchImportFindingsInput> = Seen::default();
    let s = seen.clone();
    let rule = mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .sequence()
        .http_response(too_many_requests)
        .times(2)
        .output(move || {
            s.push(&BatchImportFindingsInput::builder().build().unwrap());
            BatchImportFindingsOutput::builder()
                .failed_count(0)
                .success_count(2)
                .build()
        })
        .build();
    // When two findings are sent
    let all = findings(2);
    let report = hub(&[&rule]).import(&all).await;
    // Then they are sent, after the retries
    assert_eq!(report.done.len(), 2);
    assert!(report.refused.is_empty());
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn imports_throttled_every_time_are_named_not_dropped() {
    // Given BatchImportFindings is throttled every time
    let rule = mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .sequence()
        .http_response(too_many_requests)
        .repeatedly()
        .build();
    // When a finding is sent
    let all = findings(1);
    let report = hub(&[&rule]).import(&all).await;
    // Then it is named as refused, with the throttling error
    assert!(report.done.is_empty());
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].code, "TooManyRequestsException");
}

// =============================================================================================
// GetFindings
// =============================================================================================

fn control_finding(
    id: &str,
    key: &str,
    control: &str,
    workflow: WorkflowStatus,
) -> AwsSecurityFinding {
    AwsSecurityFinding::builder()
        .id(id)
        .product_arn(securityhub_product_arn("aws", REGION))
        .resources(Resource::builder().r#type("AwsKmsKey").id(key).build())
        .compliance(
            Compliance::builder()
                .status(ComplianceStatus::Failed)
                .security_control_id(control)
                .build(),
        )
        .workflow(Workflow::builder().status(workflow).build())
        .record_state(RecordState::Active)
        .build()
}

fn filter_value(f: Option<&[aws_sdk_securityhub::types::StringFilter]>) -> Vec<(String, String)> {
    f.unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s.comparison.as_ref().unwrap().as_str().to_owned(),
                s.value.clone().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn kms4_findings_are_asked_for_by_control_product_and_state_and_paged() {
    // Given two pages of findings, one of another control among them
    let seen: Seen<GetFindingsInput> = Seen::default();
    let s = seen.clone();
    let rule = mock!(aws_sdk_securityhub::Client::get_findings).then_compute_output(move |req| {
        s.push(req);
        match req.next_token() {
            None => GetFindingsOutput::builder()
                .findings(control_finding(
                    "f-1",
                    &key_arn("k-1"),
                    "KMS.4",
                    WorkflowStatus::New,
                ))
                .findings(control_finding(
                    "f-x",
                    &key_arn("k-1"),
                    "KMS.3",
                    WorkflowStatus::New,
                ))
                .next_token("page-2")
                .build(),
            Some(_) => GetFindingsOutput::builder()
                .findings(control_finding(
                    "f-2",
                    &key_arn("k-2"),
                    "KMS.4",
                    WorkflowStatus::Suppressed,
                ))
                .build(),
        }
    });
    // When the KMS.4 findings are read
    let found = hub(&[&rule]).control_findings("aws").await.unwrap();
    // Then GetFindings was asked for KMS.4 findings of Security Hub itself, active, on KMS keys,
    // page after page, and another control's finding is dropped even when the answer holds it
    let calls = seen.all();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].next_token(), Some("page-2"));
    let f = calls[0].filters().unwrap();
    let eq = |v: &str| {
        vec![(
            StringFilterComparison::Equals.as_str().to_owned(),
            v.to_owned(),
        )]
    };
    assert_eq!(
        filter_value(f.compliance_security_control_id.as_deref()),
        eq("KMS.4")
    );
    assert_eq!(
        filter_value(f.product_arn.as_deref()),
        eq("arn:aws:securityhub:us-east-1::product/aws/securityhub")
    );
    assert_eq!(filter_value(f.record_state.as_deref()), eq("ACTIVE"));
    assert_eq!(filter_value(f.resource_type.as_deref()), eq("AwsKmsKey"));
    assert_eq!(calls[0].max_results(), Some(100));
    let ids: Vec<&str> = found.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["f-1", "f-2"]);
}

#[tokio::test]
async fn own_findings_are_asked_for_by_product_and_generator() {
    let seen: Seen<GetFindingsInput> = Seen::default();
    let s = seen.clone();
    let mine = finding_of("k-1", Verdict::NonCompliant, Reason::RotationOff);
    let sdk = kms_rotation::securityhub::to_sdk(&mine);
    let rule = mock!(aws_sdk_securityhub::Client::get_findings).then_compute_output(move |req| {
        s.push(req);
        GetFindingsOutput::builder().findings(sdk.clone()).build()
    });
    let product = product_arn("aws", REGION, ACCOUNT);
    let own = hub(&[&rule]).own_findings(&product).await.unwrap();
    let f = seen.all()[0].filters().cloned().unwrap();
    assert_eq!(filter_value(f.product_arn.as_deref())[0].1, product);
    assert_eq!(filter_value(f.generator_id.as_deref())[0].1, GENERATOR_ID);
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].id, mine.id);
    assert_eq!(
        own[0].resource_arn.as_deref(),
        Some(key_arn("k-1").as_str())
    );
    assert_eq!(
        own[0].created_at.as_deref(),
        Some("2026-11-29T10:00:00.000Z")
    );
}

#[tokio::test]
async fn get_findings_denied_is_an_error_naming_the_operation() {
    let rule = mock!(aws_sdk_securityhub::Client::get_findings).then_http_response(|| {
        hub_error(
            403,
            "AccessDeniedException",
            "not authorized to perform: securityhub:GetFindings",
        )
    });
    let e = hub(&[&rule]).control_findings("aws").await.unwrap_err();
    assert_eq!(e.operation, "GetFindings");
    assert_eq!(e.code.as_deref(), Some("AccessDeniedException"));
}

// =============================================================================================
// BatchUpdateFindings
// =============================================================================================

fn updating(
    unprocessed: impl Fn(usize, &BatchUpdateFindingsInput) -> Vec<String> + Send + Sync + 'static,
) -> (Rule, Seen<BatchUpdateFindingsInput>) {
    let seen = Seen::default();
    let s = seen.clone();
    let rule =
        mock!(aws_sdk_securityhub::Client::batch_update_findings).then_compute_output(move |req| {
            let call = s.push(req);
            let refused = unprocessed(call, req);
            BatchUpdateFindingsOutput::builder()
                .set_processed_findings(Some(
                    req.finding_identifiers()
                        .iter()
                        .filter(|i| !refused.contains(i.id.as_ref().unwrap()))
                        .cloned()
                        .collect(),
                ))
                .set_unprocessed_findings(Some(
                    refused
                        .iter()
                        .map(|id| {
                            BatchUpdateFindingsUnprocessedFinding::builder()
                                .finding_identifier(
                                    AwsSecurityFindingIdentifier::builder()
                                        .id(id)
                                        .product_arn(securityhub_product_arn("aws", REGION))
                                        .build(),
                                )
                                .error_code("FindingNotFound")
                                .error_message("gone")
                                .build()
                        })
                        .collect(),
                ))
                .build()
        });
    (rule, seen)
}

fn sync_plan(
    findings: &[AwsSecurityFinding],
    keys: &[(&str, KeyException)],
) -> Vec<kms_rotation::securityhub::SyncItem> {
    let cf: Vec<_> = findings
        .iter()
        .filter_map(kms_rotation::securityhub::ControlFinding::from_sdk)
        .collect();
    let keys: HashMap<String, KeyException> =
        keys.iter().map(|(k, e)| (key_arn(k), e.clone())).collect();
    plan_sync(&cf, &keys, "aws", REGION, "kms-rotation-exception")
}

fn valid() -> KeyException {
    KeyException::Valid {
        owner: "payments".into(),
        expires: "2027-03-31".into(),
        ticket: Some("SEC-42".into()),
    }
}

#[tokio::test]
async fn suppression_sends_workflow_note_and_marker_for_the_finding_only() {
    // Given Security Hub's KMS.4 finding of a key under a valid exception, and one of another key
    let items = sync_plan(
        &[
            control_finding("f-1", &key_arn("k-1"), "KMS.4", WorkflowStatus::New),
            control_finding("f-2", &key_arn("k-2"), "KMS.4", WorkflowStatus::New),
        ],
        &[
            ("k-1", valid()),
            ("k-2", KeyException::NotExcepted("ROTATION_OFF".into())),
        ],
    );
    let (rule, seen) = updating(|_, _| vec![]);
    // When the plan is applied
    let report = hub(&[&rule]).update(&items).await;
    // Then one BatchUpdateFindings suppresses f-1 alone, with the note and the marker
    let calls = seen.all();
    assert_eq!(calls.len(), 1);
    let req = &calls[0];
    let ids: Vec<(&str, &str)> = req
        .finding_identifiers()
        .iter()
        .map(|i| (i.id.as_deref().unwrap(), i.product_arn.as_deref().unwrap()))
        .collect();
    assert_eq!(
        ids,
        [(
            "f-1",
            "arn:aws:securityhub:us-east-1::product/aws/securityhub"
        )]
    );
    assert_eq!(
        req.workflow().and_then(|w| w.status.clone()),
        Some(WorkflowStatus::Suppressed)
    );
    let note = req.note().unwrap();
    assert_eq!(note.updated_by.as_deref(), Some(NOTE_AUTHOR));
    assert_eq!(
        note.text.as_deref(),
        Some(
            suppress_note(
                "payments",
                "2027-03-31",
                Some("SEC-42"),
                "kms-rotation-exception"
            )
            .as_str()
        )
    );
    assert_eq!(
        req.user_defined_fields().unwrap()[MARKER_FIELD],
        MARKER_SUPPRESSED
    );
    assert!(req.severity().is_none() && req.types().is_empty());
    assert_eq!(report.done, ["f-1"]);
}

#[tokio::test]
async fn release_sets_new_with_the_reason_and_leaves_someone_elses_suppression() {
    // Given our suppression of k-1 (its exception expired) and someone else's of k-2
    let ours = AwsSecurityFinding::builder()
        .id("f-1")
        .product_arn(securityhub_product_arn("aws", REGION))
        .resources(
            Resource::builder()
                .r#type("AwsKmsKey")
                .id(key_arn("k-1"))
                .build(),
        )
        .compliance(
            Compliance::builder()
                .status(ComplianceStatus::Failed)
                .security_control_id("KMS.4")
                .build(),
        )
        .workflow(
            Workflow::builder()
                .status(WorkflowStatus::Suppressed)
                .build(),
        )
        .note(
            Note::builder()
                .text(suppress_note(
                    "payments",
                    "2026-01-01",
                    None,
                    "kms-rotation-exception",
                ))
                .updated_by(NOTE_AUTHOR)
                .updated_at("2025-12-01T00:00:00Z")
                .build(),
        )
        .user_defined_fields(MARKER_FIELD, MARKER_SUPPRESSED)
        .build();
    let mut theirs = control_finding("f-2", &key_arn("k-2"), "KMS.4", WorkflowStatus::Suppressed);
    theirs.note = Some(
        Note::builder()
            .text("risk accepted, RISK-7")
            .updated_by("arn:aws:iam::123456789012:user/alice")
            .updated_at("2025-12-01T00:00:00Z")
            .build(),
    );
    let expired = KeyException::Expired {
        owner: "payments".into(),
        expires: "2026-01-01".into(),
    };
    let items = sync_plan(
        &[ours, theirs],
        &[("k-1", expired.clone()), ("k-2", expired)],
    );
    let (rule, seen) = updating(|_, _| vec![]);
    // When the plan is applied
    hub(&[&rule]).update(&items).await;
    // Then only f-1 is set back to NEW, with a note saying the exception expired
    let calls = seen.all();
    assert_eq!(calls.len(), 1);
    let req = &calls[0];
    assert_eq!(req.finding_identifiers().len(), 1);
    assert_eq!(req.finding_identifiers()[0].id.as_deref(), Some("f-1"));
    assert_eq!(
        req.workflow().and_then(|w| w.status.clone()),
        Some(WorkflowStatus::New)
    );
    assert!(req
        .note()
        .unwrap()
        .text
        .as_deref()
        .unwrap()
        .contains("expired on 2026-01-01"));
    assert_eq!(
        req.user_defined_fields().unwrap()[MARKER_FIELD],
        MARKER_RELEASED
    );
}

#[tokio::test]
async fn unprocessed_findings_are_sent_again_then_named() {
    // Given two findings to suppress (same note), one of which Security Hub never processes
    let items = sync_plan(
        &[
            control_finding("f-1", &key_arn("k-1"), "KMS.4", WorkflowStatus::New),
            control_finding("f-2", &key_arn("k-2"), "KMS.4", WorkflowStatus::Notified),
        ],
        &[("k-1", valid()), ("k-2", valid())],
    );
    assert!(items
        .iter()
        .all(|i| matches!(i.step, SyncStep::Suppress(_))));
    let (rule, seen) = updating(|_, _| vec!["f-2".to_owned()]);
    // When the plan is applied
    let report = hub(&[&rule]).update(&items).await;
    // Then both go in one call, f-2 alone again until the attempts run out, and it is named
    let calls: Vec<usize> = seen
        .all()
        .iter()
        .map(|r| r.finding_identifiers().len())
        .collect();
    assert_eq!(calls, [2, 1, 1]);
    assert_eq!(report.done, ["f-1"]);
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].id, "f-2");
    assert_eq!(report.refused[0].code, "FindingNotFound");
}

#[tokio::test]
async fn throttled_updates_are_retried() {
    let items = sync_plan(
        &[control_finding(
            "f-1",
            &key_arn("k-1"),
            "KMS.4",
            WorkflowStatus::New,
        )],
        &[("k-1", valid())],
    );
    let rule = mock!(aws_sdk_securityhub::Client::batch_update_findings)
        .sequence()
        .http_response(too_many_requests)
        .output(|| {
            BatchUpdateFindingsOutput::builder()
                .processed_findings(
                    AwsSecurityFindingIdentifier::builder()
                        .id("f-1")
                        .product_arn(securityhub_product_arn("aws", REGION))
                        .build(),
                )
                .build()
        })
        .build();
    let report = hub(&[&rule]).update(&items).await;
    assert_eq!(report.done, ["f-1"]);
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn nothing_to_change_sends_nothing() {
    // A client with no rule fails the test on any request.
    let report = hub(&[]).update(&[]).await;
    assert!(report.done.is_empty() && report.refused.is_empty());
    let report = hub(&[]).import(&[]).await;
    assert!(report.done.is_empty());
}
