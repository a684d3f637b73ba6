//! The exception notices of the periodic run (`exceptionNoticeDays`, `kms_rotation::notice`)
//! against mocked EventBridge answers: which keys get a notice, what it says, how PutEvents'
//! limits and refusals are met (EventBridge API Reference, PutEvents:
//! <https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html>), and that no
//! answer of EventBridge changes or fails an evaluation.

use crate::common::*;
use crate::fixtures::*;
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsInput, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_smithy_mocks::{mock, MockResponse, Rule};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use kms_rotation::notice::{NoticeOutcome, Notifier};
use kms_rotation::notice::{EXPIRED, EXPIRING, SOURCE};
use kms_rotation::rule::{run, Outcome, RuleError};
use serde_json::{json, Value};

/// What EventBridge says of one entry: taken, or refused with this code.
type EntryAnswer = Option<&'static str>;

/// PutEvents, recording every request; `answer(call, entry)` decides each entry (call and entry
/// from 0), or `refuse(call)` refuses a whole call with an HTTP error.
struct PutEvents {
    rule: Rule,
    calls: Recorder<PutEventsInput>,
}

impl PutEvents {
    fn accepting() -> Self {
        Self::answering(|_, _| None, |_| None)
    }

    fn answering(
        answer: impl Fn(usize, &Value) -> EntryAnswer + Send + Sync + 'static,
        refuse: impl Fn(usize) -> Option<HttpResponse> + Send + Sync + 'static,
    ) -> Self {
        let calls = Recorder::default();
        let recorder = calls.clone();
        let rule = mock!(aws_sdk_eventbridge::Client::put_events).then_compute_response(
            move |req| -> MockResponse<PutEventsOutput, PutEventsError> {
                let n = recorder.push(req);
                if let Some(http) = refuse(n) {
                    return MockResponse::Http(http);
                }
                let results: Vec<PutEventsResultEntry> = req
                    .entries()
                    .iter()
                    .map(|e| match answer(n, &detail_of(e)) {
                        None => PutEventsResultEntry::builder()
                            .event_id(format!("event-{n}"))
                            .build(),
                        Some(code) => PutEventsResultEntry::builder()
                            .error_code(code)
                            .error_message("refused")
                            .build(),
                    })
                    .collect();
                let failed = results.iter().filter(|r| r.error_code().is_some()).count();
                MockResponse::Output(
                    PutEventsOutput::builder()
                        .failed_entry_count(failed as i32)
                        .set_entries(Some(results))
                        .build(),
                )
            },
        );
        Self { rule, calls }
    }

    /// Every entry sent, each with its detail, in the order sent.
    fn entries(&self) -> Vec<(String, Value)> {
        self.calls
            .requests()
            .iter()
            .flat_map(|r| r.entries().to_vec())
            .map(|e| {
                assert_eq!(e.source(), Some(SOURCE));
                assert_eq!(e.event_bus_name(), None, "the default event bus");
                assert_eq!(e.resources().len(), 1);
                (e.detail_type().unwrap().to_owned(), detail_of(&e))
            })
            .collect()
    }
}

fn detail_of(e: &aws_sdk_eventbridge::types::PutEventsRequestEntry) -> Value {
    serde_json::from_str(e.detail().unwrap()).unwrap()
}

/// One key with rotation off and this exception tag (or none), and its rules.
fn off_key(id: &str, exception: Option<String>) -> Vec<Rule> {
    let tagged: Vec<(&str, &str)> = exception
        .as_deref()
        .map(|v| vec![("kms-rotation-exception", v)])
        .unwrap_or_default();
    vec![describe(key(id)), rotation_off(id), tags(id, &tagged)]
}

/// A periodic run over `keys` (each with its rules) and EventBridge as `events` answers.
async fn run_with_events(
    parameters: Value,
    keys: &[(&str, Vec<Rule>)],
    events: &PutEvents,
) -> (Result<Outcome, RuleError>, PutEvaluations) {
    let ids: Vec<&str> = keys.iter().map(|(id, _)| *id).collect();
    let (list, _) = list_keys(&[&ids]);
    let put = PutEvaluations::accepting();
    let mut kms = vec![&list];
    kms.extend(keys.iter().flat_map(|(_, rules)| rules.iter()));
    let clients = clients_with_events(&kms, &[&put.rule], &[], &[&events.rule]);
    let result = run(&scheduled(parameters), &clients, None, &options()).await;
    (result, put)
}

fn exception(days: i64) -> Option<String> {
    Some(format!(
        "owner=payments-team expires={} ticket=SEC-{days}",
        days_from_today(days)
    ))
}

#[tokio::test]
async fn a_notice_goes_out_for_each_exception_a_verdict_rests_on_within_the_window() {
    // Given keys with rotation off: an exception expiring in 10 days, one expired 3 days ago,
    // one expiring in 100 days, no exception; and a rotating key (its tags are never read)
    let rotating = (
        "rotating",
        vec![
            describe(key("rotating")),
            rotation_on("rotating", 365, "2027-05-01T00:00:00Z"),
        ],
    );
    let keys = [
        ("soon", off_key("soon", exception(10))),
        ("expired", off_key("expired", exception(-3))),
        ("later", off_key("later", exception(100))),
        ("none", off_key("none", None)),
        rotating,
    ];
    let events = PutEvents::accepting();

    // When the periodic run has exceptionNoticeDays 30
    let (result, put) = run_with_events(json!({"exceptionNoticeDays": "30"}), &keys, &events).await;

    // Then the evaluations are those of a run without notices
    let outcome = result.unwrap();
    assert_eq!(put.resource_ids().len(), 5);
    assert_eq!(compliance(&put.of("soon")), "NOT_APPLICABLE");
    assert_eq!(compliance(&put.of("expired")), "NON_COMPLIANT");
    // And one PutEvents call carried the two notices due, with the documented detail
    assert_eq!(events.calls.len(), 1);
    let mut sent = events.entries();
    sent.sort_by(|a, b| a.0.cmp(&b.0));
    let [(expired_type, expired), (soon_type, soon)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (expired_type.as_str(), soon_type.as_str()),
        (EXPIRED, EXPIRING)
    );
    assert_eq!(soon["keyId"], "soon");
    assert_eq!(soon["keyArn"], key_arn("soon"));
    assert_eq!(soon["accountId"], ACCOUNT);
    assert_eq!(soon["region"], REGION);
    assert_eq!(soon["owner"], "payments-team");
    assert_eq!(soon["ticket"], "SEC-10");
    assert_eq!(soon["expires"], days_from_today(10));
    assert_eq!(soon["daysLeft"], 10);
    assert_eq!(soon["status"], "EXPIRING_SOON");
    assert_eq!(soon["compliance"], "NOT_APPLICABLE");
    assert_eq!(soon["exceptionTagKey"], "kms-rotation-exception");
    assert_eq!(soon["sentBy"], "kms-rotation-rule");
    assert_eq!(
        soon["annotation"].as_str(),
        Some(annotation(&put.of("soon")))
    );
    assert_eq!(expired["daysLeft"], -3);
    assert_eq!(expired["status"], "EXPIRED");
    assert_eq!(expired["compliance"], "NON_COMPLIANT");
    assert_eq!(outcome.notices, Some(NoticeOutcome { sent: 2, failed: 0 }));
    // And the invocation's result says so
    let result = serde_json::to_value(&outcome).unwrap();
    assert_eq!(result["notices"], json!({"sent": 2, "failed": 0}));
}

#[tokio::test]
async fn no_notice_and_no_eventbridge_call_unless_exception_notice_days_is_set() {
    // Given an expired exception, and EventBridge that fails the test if it is called
    let keys = [("expired", off_key("expired", exception(-3)))];
    let (list, _) = list_keys(&[&["expired"]]);
    let put = PutEvaluations::accepting();
    let mut kms = vec![&list];
    kms.extend(keys[0].1.iter());
    let clients = clients(&kms, &[&put.rule], &[]);
    // When the rule runs with the default parameters
    let outcome = run(&scheduled(json!({})), &clients, None, &options())
        .await
        .unwrap();
    // Then the result has no notices, and carries no "notices" field
    assert_eq!(outcome.notices, None);
    assert!(serde_json::to_value(&outcome)
        .unwrap()
        .get("notices")
        .is_none());
    assert_eq!(compliance(&put.only()), "NON_COMPLIANT");
}

#[tokio::test]
async fn notices_go_in_calls_of_at_most_ten_entries() {
    // Given 23 keys whose exceptions expired
    let ids: Vec<String> = (0..23).map(|i| format!("key-{i:02}")).collect();
    let keys: Vec<(&str, Vec<Rule>)> = ids
        .iter()
        .map(|id| (id.as_str(), off_key(id, exception(-1))))
        .collect();
    let events = PutEvents::accepting();
    let (result, put) = run_with_events(json!({"exceptionNoticeDays": 0}), &keys, &events).await;
    let outcome = result.unwrap();
    // Then three calls of 10, 10 and 3 entries carried each key's notice once
    let mut sizes: Vec<usize> = events
        .calls
        .requests()
        .iter()
        .map(|r| r.entries().len())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [3, 10, 10]);
    let mut noticed: Vec<String> = events
        .entries()
        .into_iter()
        .map(|(_, d)| d["keyId"].as_str().unwrap().to_owned())
        .collect();
    noticed.sort();
    assert_eq!(noticed, ids);
    assert_eq!(outcome.notices.unwrap().sent, 23);
    assert_eq!(put.resource_ids().len(), 23);
}

#[tokio::test]
async fn a_refused_put_events_is_counted_and_changes_no_evaluation() {
    // Given EventBridge refuses every call (the role may not put events)
    let keys = [
        ("soon", off_key("soon", exception(2))),
        ("expired", off_key("expired", exception(-2))),
    ];
    let events = PutEvents::answering(
        |_, _| None,
        |_| {
            Some(json_error(
                400,
                "AccessDeniedException",
                "not authorized to perform: events:PutEvents",
            ))
        },
    );
    // When the periodic run sends its notices
    let (result, put) = run_with_events(json!({"exceptionNoticeDays": "7"}), &keys, &events).await;
    // Then the run succeeds with both evaluations, and both notices are counted as failed
    let outcome = result.unwrap();
    assert_eq!(outcome.evaluations, 2);
    assert_eq!(compliance(&put.of("soon")), "NOT_APPLICABLE");
    assert_eq!(compliance(&put.of("expired")), "NON_COMPLIANT");
    assert_eq!(outcome.notices, Some(NoticeOutcome { sent: 0, failed: 2 }));
    // And an access denial is not retried
    assert_eq!(events.calls.len(), 1);
}

#[tokio::test]
async fn entries_refused_with_a_transient_code_are_sent_again_and_the_others_counted() {
    // Given EventBridge throttles key "b"'s entry on the first call, and refuses key "c"'s as
    // malformed every time
    let keys = [
        ("a", off_key("a", exception(-1))),
        ("b", off_key("b", exception(-1))),
        ("c", off_key("c", exception(-1))),
    ];
    let events = PutEvents::answering(
        |call, detail| match (call, detail["keyId"].as_str()) {
            (0, Some("b")) => Some("ThrottlingException"),
            (_, Some("c")) => Some("MalformedDetail"),
            _ => None,
        },
        |_| None,
    );
    let (result, _) = run_with_events(json!({"exceptionNoticeDays": "7"}), &keys, &events).await;
    let outcome = result.unwrap();
    // Then the second call carried only "b", and "c" was given up at once
    let requests = events.calls.requests();
    assert_eq!(requests.len(), 2);
    let second: Vec<Value> = requests[1].entries().iter().map(detail_of).collect();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["keyId"], "b");
    assert_eq!(outcome.notices, Some(NoticeOutcome { sent: 2, failed: 1 }));
}

#[tokio::test]
async fn a_call_that_fails_while_others_are_in_flight_loses_only_its_own_notices() {
    // Given 30 expired exceptions (three calls of ten, sent at once) and EventBridge that
    // answers the call carrying key-00's notice with a 500 every time, the others with success
    let ids: Vec<String> = (0..30).map(|i| format!("key-{i:02}")).collect();
    let keys: Vec<(&str, Vec<Rule>)> = ids
        .iter()
        .map(|id| (id.as_str(), off_key(id, exception(-1))))
        .collect();
    let carries_key_00 = |req: &PutEventsInput| {
        req.entries()
            .iter()
            .any(|e| detail_of(e)["keyId"] == "key-00")
    };
    // (A retried request reaches a rule without its input: the failing rule answers from a
    // sequence, which needs none.)
    let doomed = mock!(aws_sdk_eventbridge::Client::put_events)
        .match_requests(carries_key_00)
        .sequence()
        .http_response(|| json_error(500, "InternalException", "try again"))
        .repeatedly()
        .build();
    let events = PutEvents::accepting();
    let ids_ref: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (list, _) = list_keys(&[&ids_ref]);
    let put = PutEvaluations::accepting();
    let mut kms = vec![&list];
    kms.extend(keys.iter().flat_map(|(_, rules)| rules.iter()));
    let clients = clients_with_events(&kms, &[&put.rule], &[], &[&doomed, &events.rule]);
    let outcome = run(
        &scheduled(json!({"exceptionNoticeDays": "1"})),
        &clients,
        None,
        &options(),
    )
    .await
    .unwrap();
    // Then the doomed call was retried by the SDK and given up; the two others were taken
    assert_eq!(doomed.num_calls(), MAX_ATTEMPTS as usize);
    assert_eq!(events.calls.len(), 2);
    assert!(events.entries().iter().all(|(_, d)| d["keyId"] != "key-00"));
    assert_eq!(
        outcome.notices,
        Some(NoticeOutcome {
            sent: 20,
            failed: 10
        })
    );
    // And every key was evaluated and reported
    assert_eq!(put.resource_ids().len(), 30);
    assert_eq!(outcome.evaluations, 30);
}

#[tokio::test]
async fn the_notifier_sends_nothing_for_no_notices() {
    let clients = clients(&[], &[], &[]);
    let outcome = Notifier::new(clients.events.clone()).send(&[]).await;
    assert_eq!(outcome, NoticeOutcome::default());
}
