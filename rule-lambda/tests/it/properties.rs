//! Property tests: arbitrary and mutated input never panics and always gets a valid decision or a
//! clear error.
//!
//! Covered: the whole Lambda payload, the fields of a Config event, the `invokingEvent` and its
//! configuration item (mutated from the fixtures in `tests/events/`), the rule parameters, the
//! exception tag, and the decision itself. Runs that parse are taken end to end through
//! `rule::run` against `fake_aws::FakeAws`, which checks every PutEvaluations as Config would.
//!
//! Cases per property: `PROPTEST_CASES` if set, else the default named in each test (kept so that
//! `make test` stays quick; `make fuzz` sets `PROPTEST_CASES=100000`). Without `PROPTEST_CASES` or
//! `PROPTEST_RNG_SEED` the seed is fixed, so `make test` draws the same cases every run; `make fuzz`
//! draws new ones. Failures are not persisted to files; proptest prints the minimal failing input.

use std::sync::OnceLock;

use crate::fixtures;
use aws_sdk_kms::types::{KeyManagerType, KeySpec, KeyState, OriginType};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use fake_aws::{FakeAws, FaultPlan, Kind};
use kms_rotation::decision::{
    decide, Compliance, KeyFacts, Known, RotationStatus, Step, MAX_ANNOTATION_CHARS,
};
use kms_rotation::event::{Invocation, Message, KMS_KEY};
use kms_rotation::exception::{Exception, ExceptionTag};
use kms_rotation::params::{RuleParameters, ACCEPTED};
use kms_rotation::rule::{run, RuleError};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};

/// Default cases of the properties that run the rule end to end (each case makes a few SDK calls,
/// about 3 ms in a debug build); the pure properties default to 5000.
const RUNS: u32 = 1000;

/// `PROPTEST_CASES`, or `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The same cases on every `make test` run (a fixed seed), so CI cannot fail by the luck of the
/// draw; `make fuzz` (which sets `PROPTEST_CASES`) or `PROPTEST_RNG_SEED` explores new ones.
fn runner(default_cases: u32) -> TestRunner {
    let explore = std::env::var_os("PROPTEST_CASES").is_some()
        || std::env::var_os("PROPTEST_RNG_SEED").is_some();
    let defaults = Config::default();
    TestRunner::new(Config {
        cases: cases(default_cases),
        failure_persistence: None,
        rng_seed: if explore {
            defaults.rng_seed
        } else {
            RngSeed::Fixed(20_261_128)
        },
        ..defaults
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

// =============================================================================================
// Strategies
// =============================================================================================

/// Strings an attacker or a broken producer might send.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "[a-zA-Z0-9:/_.=+-]{0,40}",
        1 => Just(String::new()),
        1 => (300usize..3000, any::<char>()).prop_map(|(n, c)| c.to_string().repeat(n)),
        1 => (769usize..2000).prop_map(|n| "k".repeat(n)),
        1 => prop::sample::select(vec![
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/aws/s3",
            "*",
            "../../etc/passwd",
            "$(curl evil)",
            "{{ssm:secret}}",
            "key\u{0}id",
            "key\nid\r\n",
            "\u{202e}lave\u{202d}",
            "ключ-🔑-键",
            "\u{200b}",
            "TESTMODE",
            "null",
            "true",
            "2026-11-28T09:59:58.123Z",
            "9999999999999999999999",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Any JSON value, hostile strings included.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Field names: the ones the rule reads, mostly, so mutations land where they matter.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "messageType", "configurationItem", "configurationItemSummary",
            "notificationCreationTime", "configurationItemCaptureTime", "configurationItemStatus",
            "resourceType", "resourceId", "ARN", "awsRegion", "tags", "configuration",
            "supplementaryConfiguration", "KeyRotationStatus", "keyId", "keyManager", "keyState",
            "keySpec", "customerMasterKeySpec", "origin", "customKeyStoreId",
            "multiRegionConfiguration", "multiRegionKeyType", "primaryKey", "arn",
            "invokingEvent", "ruleParameters", "resultToken", "eventLeftScope", "accountId",
            "configRuleArn", "configRuleName", "kms-rotation-exception",
        ])
        .prop_map(str::to_owned),
        1 => hostile_string(),
    ]
}

/// One edit of a JSON document: at a path chosen by `path` indices, set, remove or replace.
#[derive(Debug, Clone)]
enum Mutation {
    Set(Vec<prop::sample::Index>, String, Value),
    Remove(Vec<prop::sample::Index>),
    Replace(Vec<prop::sample::Index>, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let path = prop::collection::vec(any::<prop::sample::Index>(), 0..4);
    prop_oneof![
        (path.clone(), field_name(), json_value()).prop_map(|(p, k, v)| Mutation::Set(p, k, v)),
        path.clone().prop_map(Mutation::Remove),
        (path, json_value()).prop_map(|(p, v)| Mutation::Replace(p, v)),
    ]
}

/// Walk down `path` (each index picks a child of an object or array) and apply the edit there.
fn apply(doc: &mut Value, m: &Mutation) {
    /// A step down: an object's key or an array's index.
    enum Step {
        Key(String),
        At(usize),
    }
    fn walk<'a>(v: &'a mut Value, path: &[prop::sample::Index]) -> &'a mut Value {
        // Find the way down first, reading only; then take it.
        let mut steps = Vec::new();
        let mut cur: &Value = v;
        for i in path {
            let (step, child) = match cur {
                Value::Object(map) if !map.is_empty() => {
                    let (k, c) = map.iter().nth(i.index(map.len())).unwrap();
                    (Step::Key(k.clone()), c)
                }
                Value::Array(a) if !a.is_empty() => {
                    let n = i.index(a.len());
                    (Step::At(n), &a[n])
                }
                _ => break,
            };
            if !(child.is_object() || child.is_array()) {
                break;
            }
            steps.push(step);
            cur = child;
        }
        steps.into_iter().fold(v, |v, step| match step {
            Step::Key(k) => v.get_mut(&k).unwrap(),
            Step::At(n) => v.get_mut(n).unwrap(),
        })
    }
    match m {
        Mutation::Set(path, key, value) => {
            if let Value::Object(map) = walk(doc, path) {
                map.insert(key.clone(), value.clone());
            }
        }
        Mutation::Remove(path) => {
            let target = walk(doc, path);
            match target {
                Value::Object(map) if !map.is_empty() => {
                    let key = map.keys().nth(path.len() % map.len()).unwrap().clone();
                    map.remove(&key);
                }
                Value::Array(a) if !a.is_empty() => {
                    a.pop();
                }
                _ => {}
            }
        }
        Mutation::Replace(path, value) => {
            if let Value::Object(map) = walk(doc, path) {
                if let Some(key) = map.keys().nth(path.len() % map.len().max(1)).cloned() {
                    map.insert(key, value.clone());
                }
            }
        }
    }
}

const FIXTURES: &[&str] = &[
    "scheduled.json",
    "change-rotation-off.json",
    "change-minimal.json",
    "change-deleted.json",
    "change-left-scope.json",
    "oversized.json",
];

/// A rule parameters value: mostly accepted names, with valid, edge and hostile values.
fn rule_parameters() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        4 => prop::sample::select(ACCEPTED.to_vec()).prop_map(str::to_owned),
        1 => hostile_string(),
    ];
    let value = prop_oneof![
        2 => (-10i64..3000).prop_map(|n| json!(n.to_string())),
        1 => (-10i64..3000).prop_map(|n| json!(n)),
        1 => any::<bool>().prop_map(|b| json!(b)),
        1 => prop::sample::select(vec!["", "true", "FALSE", "365", "90", "2560", "KmsRotationRuleEvaluation", "aws:x", "arn:aws:iam::1:role/x", "a/b", " 365 "]).prop_map(|s| json!(s)),
        1 => json_value(),
    ];
    prop::collection::vec((name, value), 0..5)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

fn kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(Kind::ALL.to_vec())
}

// =============================================================================================
// Running a parsed event
// =============================================================================================

/// Error types the Lambda reports; anything else is unclear.
const ERROR_TYPES: &[&str] = &[
    "InvalidRuleParameters",
    "InvalidEvent",
    "AssumeRoleFailed",
    "ConfigCallFailed",
    "KeysNotEvaluated",
];

/// Run a parsed invocation against a fake account in which the event's key (if any) has `kind`;
/// check the answer is a valid decision or a clear error.
fn run_and_check(inv: &Invocation, kind: Kind) -> Result<(), TestCaseError> {
    // The resource the event is about (its type and id; every key for a periodic run) and its time.
    let (resource_type, resource_id, at): (&str, Option<&str>, DateTime<Utc>) = match &inv.message {
        Message::Change(item) => (
            &item.resource_type,
            Some(&item.resource_id),
            item.capture_time,
        ),
        Message::Oversized(s) => (&s.resource_type, Some(&s.resource_id), s.capture_time),
        Message::Scheduled {
            notification_creation_time,
        } => (KMS_KEY, None, *notification_creation_time),
    };
    let keys = match resource_id {
        Some(id) => vec![(id.to_owned(), kind)],
        None => fake_aws::account(3),
    };
    let fake = FakeAws::new(keys.clone(), FaultPlan::none());
    let result = runtime().block_on(run(inv, &fake.clients(), None, &fixtures::options()));
    let (received, refused) = fake.journal(|j| (j.received.clone(), j.refused.clone()));

    // Whatever Config refused, it refused for a reason outside the rule's control: a resource id
    // Config itself could never have sent (empty, or longer than 768 characters).
    for (operation, reason) in &refused {
        let id_len = resource_id.map(|id| id.chars().count());
        prop_assert!(
            operation == "PutEvaluations"
                && reason.starts_with("ComplianceResourceId length")
                && !matches!(id_len, Some(1..=768)),
            "the rule sent what Config refuses: {operation}: {reason}"
        );
    }
    for e in &received {
        prop_assert!(matches!(
            e.compliance.as_str(),
            "COMPLIANT" | "NON_COMPLIANT" | "NOT_APPLICABLE"
        ));
        let n = e.annotation.chars().count();
        prop_assert!(
            (1..=MAX_ANNOTATION_CHARS).contains(&n),
            "annotation of {n} chars"
        );
        prop_assert_eq!(e.ordering_millis, at.timestamp_millis());
        // An evaluation is of the resource Config sent (a periodic run's: keys).
        prop_assert_eq!(&e.resource_type, resource_type);
    }
    match (&result, resource_id) {
        (Ok(outcome), Some(id)) => {
            // A change event: exactly one evaluation, of its resource.
            prop_assert_eq!(outcome.evaluations, 1);
            prop_assert_eq!(received.len(), 1);
            prop_assert_eq!(&received[0].resource_id, id);
        }
        (Ok(outcome), None) => {
            // A periodic run that returns no error evaluated every key of the account, once, with
            // the verdict its kind calls for under the run's parameters; and nothing else.
            prop_assert_eq!(outcome.evaluations, keys.len());
            prop_assert_eq!(received.len(), keys.len(), "{:?}", received);
            let max = inv.parameters.max_rotation_period_in_days;
            for (id, kind) in &keys {
                let got: Vec<_> = received.iter().filter(|e| &e.resource_id == id).collect();
                prop_assert_eq!(
                    got.len(),
                    1,
                    "key {} ({:?}) sent {} times",
                    id,
                    kind,
                    got.len()
                );
                prop_assert!(got[0].taken, "Config did not take {id}");
                prop_assert_eq!(
                    got[0].compliance.as_str(),
                    scheduled_verdict(*kind, max),
                    "{:?} under maxRotationPeriodInDays {:?}: {}",
                    kind,
                    max,
                    got[0].annotation
                );
            }
        }
        (Err(e), _) => {
            prop_assert!(ERROR_TYPES.contains(&e.error_type()));
            let message = e.to_string();
            prop_assert!(message.len() > 10, "unclear error: {message:?}");
            if let RuleError::Event(_) = e {
                prop_assert!(false, "a parsed event failed as an event: {message}");
            }
            // Against a healthy fake, a failure is Config refusing an impossible resource id.
            prop_assert!(
                !refused.is_empty(),
                "failed with nothing refused: {message}"
            );
        }
    }
    Ok(())
}

/// The verdict of a key of `fake_aws::account(3)` (a rotating key every 365 days, a key with
/// rotation off and no exception, a rotating key every 730 days), by hand.
fn scheduled_verdict(kind: Kind, max_period: Option<i32>) -> &'static str {
    let rotating = |days: i32| match max_period {
        Some(max) if days > max => "NON_COMPLIANT",
        _ => "COMPLIANT",
    };
    match kind {
        Kind::RotationOn => rotating(365),
        Kind::LongPeriod => rotating(730),
        Kind::RotationOff => "NON_COMPLIANT",
        other => panic!("no verdict written down for {other:?}"),
    }
}

fn check_parse(payload: Value, kind: Kind) -> Result<(), TestCaseError> {
    match Invocation::parse(payload) {
        Ok(inv) => run_and_check(&inv, kind),
        Err(e) => {
            let message = e.to_string();
            prop_assert!(message.len() > 10, "unclear error: {message:?}");
            let error_type = RuleError::from(e).error_type();
            prop_assert!(matches!(
                error_type,
                "InvalidEvent" | "InvalidRuleParameters"
            ));
            Ok(())
        }
    }
}

// =============================================================================================
// The event
// =============================================================================================

#[test]
fn arbitrary_payloads_are_refused_or_decided_without_panicking() {
    runner(5000)
        .run(&(json_value(), kind()), |(payload, kind)| {
            check_parse(payload, kind)
        })
        .unwrap();
}

#[test]
fn config_events_with_arbitrary_fields_get_a_decision_or_a_clear_error() {
    let fields = prop::collection::vec((field_name(), json_value()), 1..4);
    runner(RUNS)
        .run(
            &(
                prop::sample::select(FIXTURES),
                hostile_string(),
                fields,
                kind(),
            ),
            |(fixture, key, fields, kind)| {
                let mut event = fixtures::event(fixture, &json_escape(&key));
                for (name, value) in fields {
                    event[name.as_str()] = value;
                }
                check_parse(event, kind)
            },
        )
        .unwrap();
}

#[test]
fn mutated_invoking_events_get_a_decision_or_a_clear_error() {
    let mutations = prop::collection::vec(mutation(), 1..5);
    runner(RUNS)
        .run(
            &(
                prop::sample::select(FIXTURES),
                hostile_string(),
                mutations,
                kind(),
            ),
            |(fixture, key, mutations, kind)| {
                let mut event = fixtures::event(fixture, &json_escape(&key));
                let mut invoking: Value =
                    serde_json::from_str(event["invokingEvent"].as_str().unwrap()).unwrap();
                for m in &mutations {
                    apply(&mut invoking, m);
                }
                event["invokingEvent"] = Value::String(invoking.to_string());
                check_parse(event, kind)
            },
        )
        .unwrap();
}

#[test]
fn truncated_and_byte_flipped_invoking_events_are_refused_or_decided() {
    runner(RUNS)
        .run(
            &(
                prop::sample::select(FIXTURES),
                any::<prop::sample::Index>(),
                any::<u8>(),
                any::<bool>(),
                kind(),
            ),
            |(fixture, at, byte, truncate, kind)| {
                let mut event = fixtures::event(fixture, "1234abcd-12ab-34cd-56ef-1234567890ab");
                let text = event["invokingEvent"].as_str().unwrap().as_bytes().to_vec();
                let i = at.index(text.len());
                let bytes = if truncate {
                    text[..i].to_vec()
                } else {
                    let mut t = text;
                    t[i] = byte;
                    t
                };
                event["invokingEvent"] = Value::String(String::from_utf8_lossy(&bytes).into());
                check_parse(event, kind)
            },
        )
        .unwrap();
}

#[test]
fn change_events_with_hostile_items_get_exactly_one_valid_evaluation() {
    // A full configuration item whose values are hostile but well-typed: the decision is made
    // from the item, and what is sent is valid for Config (or Config's refusal is named).
    let item = (
        hostile_string(),
        prop::sample::select(vec!["AWS", "CUSTOMER", "", "customer"]),
        prop::sample::select(vec![
            "Enabled",
            "Disabled",
            "PendingDeletion",
            "PendingImport",
            "Unavailable",
            "Creating",
            "Updating",
            "PendingReplicaDeletion",
            "Frozen",
            "",
        ]),
        prop::sample::select(vec![
            "SYMMETRIC_DEFAULT",
            "RSA_2048",
            "ECC_NIST_P256",
            "HMAC_256",
            "SM2",
            "ML_DSA_44",
            "SYMMETRIC_DEFAULT ",
            "",
        ]),
        prop::sample::select(vec![
            "AWS_KMS",
            "EXTERNAL",
            "AWS_CLOUDHSM",
            "EXTERNAL_KEY_STORE",
            "x",
        ]),
        prop_oneof![
            Just(json!(true)),
            Just(json!(false)),
            Just(json!("true")),
            Just(json!("FALSE")),
            Just(json!(null)),
            json_value()
        ],
        prop::collection::btree_map(hostile_string(), hostile_string(), 0..4),
        prop::option::of(hostile_string()),
    );
    runner(RUNS)
        .run(
            &(item, rule_parameters(), kind()),
            |((id, manager, state, spec, origin, rotation, tags, exception), params, kind)| {
                let mut tags: serde_json::Map<String, Value> = tags
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                if let Some(v) = exception {
                    tags.insert("kms-rotation-exception".into(), Value::String(v));
                }
                let invoking = json!({
                    "messageType": "ConfigurationItemChangeNotification",
                    "notificationCreationTime": "2026-11-28T10:00:01.456Z",
                    "configurationItem": {
                        "configurationItemCaptureTime": "2026-11-28T09:59:58.123Z",
                        "configurationItemStatus": "OK",
                        "resourceType": "AWS::KMS::Key",
                        "resourceId": id,
                        "ARN": format!("arn:aws:kms:us-east-1:123456789012:key/{id}"),
                        "tags": tags,
                        "configuration": {
                            "keyId": id, "keyManager": manager, "keyState": state,
                            "keySpec": spec, "origin": origin
                        },
                        "supplementaryConfiguration": {"KeyRotationStatus": rotation}
                    }
                });
                let mut event = fixtures::event("change-minimal.json", "x");
                event["invokingEvent"] = Value::String(invoking.to_string());
                event["ruleParameters"] = Value::String(params.to_string());
                check_parse(event, kind)
            },
        )
        .unwrap();
}

/// A key id put into a fixture's JSON text must be escaped as a JSON string's content.
fn json_escape(s: &str) -> String {
    let quoted = Value::String(s.to_owned()).to_string();
    // The fixture's invokingEvent is itself a JSON string inside JSON: escape twice.
    let inner = &quoted[1..quoted.len() - 1];
    let twice = Value::String(inner.to_owned()).to_string();
    twice[1..twice.len() - 1].to_owned()
}

// =============================================================================================
// The rule parameters
// =============================================================================================

#[test]
fn rule_parameters_are_accepted_in_range_or_refused_naming_the_problem() {
    let raw = prop_oneof![
        4 => rule_parameters().prop_map(|v| v.to_string()),
        1 => json_value().prop_map(|v| v.to_string()),
        1 => any::<String>(),
    ];
    runner(5000)
        .run(&raw, |raw| {
            match RuleParameters::parse(Some(&raw)) {
                Ok(p) => {
                    if let Some(d) = p.max_rotation_period_in_days {
                        prop_assert!((90..=2560).contains(&d));
                    }
                    prop_assert!((1..=1000).contains(&p.get_key_rotation_status_per_second));
                    prop_assert!((1..=2000).contains(&p.describe_key_per_second));
                    let key = &p.exception_tag_key;
                    prop_assert!(!key.is_empty() && key.chars().count() <= 128);
                    prop_assert!(!key.to_ascii_lowercase().starts_with("aws:"));
                    prop_assert!(!key.chars().any(char::is_control));
                    if let Some(role) = &p.execution_role_name {
                        // The rule builds arn:<partition>:iam::<account>:role/<name>: no path, no
                        // ARN, nothing that could steer it to another role or account.
                        prop_assert!((1..=64).contains(&role.len()));
                        prop_assert!(role
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    prop_assert!(
                        message.starts_with("ruleParameters") || message.contains("rule parameter"),
                        "unclear: {message}"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}

// =============================================================================================
// The exception tag and the decision
// =============================================================================================

/// Tag values that look like exceptions, valid or not.
fn exception_value() -> impl Strategy<Value = String> {
    let date = prop_oneof![
        // Days up to 31: February 30th, April 31st and the leap days are all drawn.
        3 => (2000i32..2100, 1u32..13, 1u32..32).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        // Around today, so the expiry day itself and the days either side of it are drawn.
        2 => prop::sample::select(vec![
            "2026-11-25",
            "2026-11-26",
            "2026-11-27",
            "2026-11-28",
            "2026-11-29",
            "2026-11-30",
            "2026-12-01",
        ])
        .prop_map(str::to_owned),
        1 => prop::sample::select(vec![
            "2027-02-30",
            "2027-13-01",
            "27-01-01",
            "2027/01/01",
            "2027-1-1",
            "+12027-01-01",
            "２０２７-01-01",
            "2027-01-01T00:00:00Z",
            "9999-12-31",
            "0000-01-01",
            "2028-02-29",
            "2100-02-29",
            "2000-02-29",
            "2027-00-10",
            "2027-04-00",
            "2027-01-01\u{200b}",
            " 2027-01-01",
        ])
        .prop_map(str::to_owned),
    ];
    let field = prop_oneof![
        3 => hostile_string().prop_map(|s| format!("owner={s}")),
        3 => date.clone().prop_map(|d| format!("expires={d}")),
        1 => hostile_string().prop_map(|s| format!("ticket={s}")),
        1 => prop::sample::select(vec!["Owner=x", "EXPIRES=2099-01-01", "owner:x", "approved", "owner=", "expires=", "=x", "owner==x"]).prop_map(str::to_owned),
    ];
    let sep = prop::sample::select(vec![" ", "  ", "\t", "\n", "\u{a0}", "\u{200b}", ",", ";"]);
    let loose = prop::collection::vec((field, sep), 0..5).prop_map(|fs| {
        fs.into_iter()
            .map(|(f, s)| format!("{f}{s}"))
            .collect::<String>()
    });
    // An owner, a date and maybe a ticket, in any order, between whitespace: mostly valid, so
    // both sides of the parser and of the expiry day are drawn often.
    let space = prop::sample::select(vec![" ", "   ", "\t", "\n", "\u{a0}", "\u{3000}"]);
    let well_formed = (
        "[a-z0-9@._-]{1,12}",
        date,
        prop::option::of("[A-Z]{2,4}-[0-9]{1,4}"),
        prop::collection::vec(space, 4),
    )
        .prop_flat_map(|(owner, date, ticket, spaces)| {
            let mut fields = vec![format!("owner={owner}"), format!("expires={date}")];
            fields.extend(ticket.map(|t| format!("ticket={t}")));
            (Just(fields).prop_shuffle(), Just(spaces))
        })
        .prop_map(|(fields, spaces)| {
            let mut value = spaces[0].to_owned();
            for (field, space) in fields.iter().zip(spaces.iter().skip(1)) {
                value.push_str(field);
                value.push_str(space);
            }
            value
        });
    prop_oneof![3 => loose, 2 => well_formed]
}

/// The day every decision property runs on, and the same day counted from 1970-01-01.
const TODAY: (u32, u32, u32) = (2026, 11, 28);
const TODAY_EPOCH_DAY: i64 = 20_785;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(TODAY.0 as i32, TODAY.1, TODAY.2).unwrap()
}

/// What an exception tag value must mean, worked out from the documented format (README, "Approved
/// exceptions"; `docs/decision-table.md` 6d..6f) without `Exception::parse`, chrono or anything
/// else of the product's: `owner=<who> expires=<YYYY-MM-DD> [ticket=<id>]`, fields in any order
/// between whitespace, each at most once, none empty, nothing else; the date a day of the calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExpectedException {
    owner: String,
    /// (year, month, day)
    expires: (u32, u32, u32),
    ticket: Option<String>,
}

impl ExpectedException {
    /// Valid through the whole expiry day.
    fn in_force(&self) -> bool {
        self.expires >= TODAY
    }
}

fn expected_exception(value: &str) -> Option<ExpectedException> {
    let mut fields: Vec<(&str, &str)> = Vec::new();
    for word in value.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        let eq = word.find('=')?;
        fields.push((&word[..eq], &word[eq + 1..]));
    }
    let only = |name: &str| -> Result<Option<&str>, ()> {
        match fields
            .iter()
            .filter(|(n, _)| *n == name)
            .collect::<Vec<_>>()[..]
        {
            [] => Ok(None),
            [(_, v)] if !v.is_empty() => Ok(Some(*v)),
            _ => Err(()),
        }
    };
    let known = ["owner", "expires", "ticket"];
    if fields.iter().any(|(n, _)| !known.contains(n)) {
        return None;
    }
    let owner = only("owner").ok()??;
    let expires = calendar_day(only("expires").ok()??)?;
    let ticket = only("ticket").ok()?;
    Some(ExpectedException {
        owner: owner.to_owned(),
        expires,
        ticket: ticket.map(str::to_owned),
    })
}

/// `YYYY-MM-DD` of ASCII digits naming a day that exists (proleptic Gregorian, years 0000..9999).
fn calendar_day(s: &str) -> Option<(u32, u32, u32)> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *<&[u8; 10]>::try_from(s.as_bytes()).ok()?
    else {
        return None;
    };
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let (y, m, d) = (
        number(&[y0, y1, y2, y3])?,
        number(&[m0, m1])?,
        number(&[d0, d1])?,
    );
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let last = *month_days.get(usize::try_from(m).ok()?.checked_sub(1)?)?;
    (1..=last).contains(&d).then_some((y, m, d))
}

/// `expires=` exactly as documented: four digits, two, two.
fn is_yyyy_mm_dd(s: &str) -> bool {
    s.len() == 10
        && s.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// The product's parser against the oracle above, both ways: whatever it accepts the format
/// allows, with the same owner, expiry and ticket; whatever the format allows it accepts.
#[test]
fn exception_tags_parse_without_panicking_and_need_an_owner_and_an_expiry() {
    runner(5000)
        .run(&prop_oneof![exception_value(), any::<String>()], |value| {
            let parsed = Exception::parse(&value);
            if let Ok(e) = &parsed {
                let fields: Vec<&str> = value.split_whitespace().collect();
                prop_assert!(fields.iter().any(|f| f.starts_with("owner=")));
                prop_assert!(fields.iter().any(|f| f.starts_with("expires=")));
                prop_assert!(fields.iter().all(|f| f.contains('=')));
                prop_assert!(!e.owner.is_empty());
            }
            match (parsed, expected_exception(&value)) {
                (Ok(e), Some(want)) => {
                    let got = ExpectedException {
                        owner: e.owner,
                        expires: (
                            u32::try_from(e.expires.year()).unwrap_or(u32::MAX),
                            e.expires.month(),
                            e.expires.day(),
                        ),
                        ticket: e.ticket,
                    };
                    prop_assert_eq!(got, want, "{:?}", value);
                }
                (Ok(e), None) => {
                    prop_assert!(false, "{value:?} is not an exception, accepted as {e:?}")
                }
                (Err(reason), Some(want)) => {
                    prop_assert!(false, "{value:?} ({want:?}) refused: {reason}")
                }
                (Err(_), None) => {}
            }
            Ok(())
        })
        .unwrap();
}

/// The oracle itself, held to hand-worked examples (so a mistake in it is caught here, not taken
/// for the product's), and the decision on a rotatable key with rotation off under each.
#[test]
fn exception_examples_by_hand() {
    let valid = |owner: &str, expires, ticket: Option<&str>| {
        Some(ExpectedException {
            owner: owner.to_owned(),
            expires,
            ticket: ticket.map(str::to_owned),
        })
    };
    #[rustfmt::skip]
    let table = [
        ("owner=team-a expires=2027-03-31 ticket=SEC-42", valid("team-a", (2027, 3, 31), Some("SEC-42"))),
        ("ticket=T-1 expires=2026-11-28 owner=a", valid("a", (2026, 11, 28), Some("T-1"))),
        ("  owner=a\texpires=2026-11-29\n", valid("a", (2026, 11, 29), None)),
        ("owner=a\u{a0}expires=2026-11-27", valid("a", (2026, 11, 27), None)),
        ("owner==x expires=2028-02-29", valid("=x", (2028, 2, 29), None)),
        ("owner=a expires=2000-02-29", valid("a", (2000, 2, 29), None)),
        ("owner=a expires=0000-01-01", valid("a", (0, 1, 1), None)),
        ("owner=a expires=2100-02-29", None),
        ("owner=a expires=2027-02-30", None),
        ("owner=a expires=2027-04-31", None),
        ("owner=a expires=2027-13-01", None),
        ("owner=a expires=2027-00-01", None),
        ("owner=a expires=2027-01-00", None),
        ("owner=a expires=+12027-01-01", None),
        ("owner=a expires=2027-1-1", None),
        ("owner=a expires=２０２７-01-01", None),
        ("owner=a expires=2027-01-01\u{200b}", None),
        ("owner=a\u{200b}expires=2027-01-01", None),
        ("owner=a,expires=2027-01-01", None),
        ("owner=a expires=2027-01-01 approved", None),
        ("owner=a expires=2027-01-01 until=2028-01-01", None),
        ("owner=a owner=b expires=2027-01-01", None),
        ("owner=a expires=2027-01-01 expires=2027-01-02", None),
        ("owner=a expires=2027-01-01 ticket=", None),
        ("owner= expires=2027-01-01", None),
        ("Owner=a expires=2027-01-01", None),
        ("owner=a EXPIRES=2027-01-01", None),
        ("expires=2027-01-01", None),
        ("owner=a", None),
        ("", None),
    ];
    let facts = KeyFacts::sample("1234abcd-12ab-34cd-56ef-1234567890ab");
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    assert_eq!((today() - epoch).num_days(), TODAY_EPOCH_DAY);
    for (value, want) in table {
        assert_eq!(expected_exception(value), want, "oracle: {value:?}");
        assert_eq!(Exception::parse(value).is_ok(), want.is_some(), "{value:?}");
        // Expired the day after its expiry day, not before.
        let excepted = want.as_ref().is_some_and(|e| e.expires >= (2026, 11, 28));
        let tag = ExceptionTag::from_tags(TAG, [(TAG, value)]);
        let known = Known {
            rotation: Some(&RotationStatus::Disabled),
            exception: Some(&tag),
            ..Known::default()
        };
        let Step::Verdict(v) = decide(&facts, known, &RuleParameters::default(), today()) else {
            panic!("{value:?}: no verdict with every fact known");
        };
        let compliance = if excepted {
            Compliance::NotApplicable
        } else {
            Compliance::NonCompliant
        };
        assert_eq!(v.compliance, compliance, "{value:?}: {}", v.annotation);
    }
}

/// The documented format is `expires=YYYY-MM-DD`; chrono's `%Y` also takes a signed year of any
/// length, so `expires=+12027-01-01` is a valid exception for ten thousand years.
#[test]
fn exception_expiry_must_be_written_yyyy_mm_dd() {
    for lookalike in [
        "+12027-01-01",
        "-2027-01-01",
        "27-01-01",
        "2027-1-1",
        "+2027-01-01",
    ] {
        let value = format!("owner=team-payments expires={lookalike}");
        assert!(
            Exception::parse(&value).is_err(),
            "{value:?} accepted as an exception"
        );
    }
    runner(5000)
        .run(&exception_value(), |value| {
            if let Ok(e) = Exception::parse(&value) {
                let expires = value
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix("expires="))
                    .unwrap();
                prop_assert!(
                    is_yyyy_mm_dd(expires),
                    "expires={} accepted as {}",
                    expires,
                    e.expires
                );
            }
            Ok(())
        })
        .unwrap();
}

fn key_facts() -> impl Strategy<Value = KeyFacts> {
    let state = prop_oneof![
        6 => Just(KeyState::Enabled),
        1 => prop::sample::select(vec![
            "Disabled", "PendingDeletion", "PendingReplicaDeletion", "Creating", "Updating",
            "PendingImport", "Unavailable", "Frozen",
        ])
        .prop_map(KeyState::from),
    ];
    let spec = prop_oneof![
        6 => Just(KeySpec::SymmetricDefault),
        1 => prop::sample::select(vec!["RSA_2048", "ECC_NIST_P256", "HMAC_256", "SM2", "ML_DSA_44", "FUTURE_SPEC"])
            .prop_map(KeySpec::from),
    ];
    let origin = prop_oneof![
        6 => Just(OriginType::AwsKms),
        1 => prop::sample::select(vec!["EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE", "FUTURE"])
            .prop_map(OriginType::from),
    ];
    (
        hostile_string(),
        prop_oneof![6 => Just(KeyManagerType::Customer), 1 => Just(KeyManagerType::Aws)],
        state,
        spec,
        origin,
        prop::option::weighted(0.1, "cks-[0-9a-f]{17}"),
        prop::option::weighted(0.2, hostile_string()),
    )
        .prop_map(
            |(
                key_id,
                key_manager,
                key_state,
                key_spec,
                origin,
                custom_key_store_id,
                replica_of,
            )| {
                KeyFacts {
                    arn: Some(format!("arn:aws:kms:us-east-1:123456789012:key/{key_id}")),
                    key_id,
                    key_manager,
                    key_state,
                    key_spec,
                    origin,
                    custom_key_store_id,
                    replica_of,
                    created: None,
                }
            },
        )
}

fn rotation_status() -> impl Strategy<Value = RotationStatus> {
    prop_oneof![
        3 => (prop::option::of(-5i32..4000), prop::option::of(0i64..4_000_000_000)).prop_map(|(p, n)| {
            RotationStatus::Enabled {
                period_days: p,
                next_rotation: n.and_then(|s| DateTime::from_timestamp(s, 0)),
            }
        }),
        3 => Just(RotationStatus::Disabled),
        1 => hostile_string().prop_map(RotationStatus::Unsupported),
        1 => Just(RotationStatus::KeyNotFound),
        1 => hostile_string().prop_map(RotationStatus::AccessDenied),
    ]
}

/// The default exception tag key.
const TAG: &str = "kms-rotation-exception";

/// A key's exception tag as KMS would hold it: the product reads it with `ExceptionTag::from_tags`;
/// the oracle reads the raw value with `expected_exception`.
#[derive(Debug, Clone)]
enum TagOnKey {
    Absent,
    Value(String),
    Unreadable(String),
}

impl TagOnKey {
    fn as_read_by_the_rule(&self) -> ExceptionTag {
        match self {
            Self::Absent => ExceptionTag::Absent,
            Self::Value(v) => ExceptionTag::from_tags(TAG, [("env", "prod"), (TAG, v.as_str())]),
            Self::Unreadable(why) => ExceptionTag::Unreadable(why.clone()),
        }
    }

    /// A valid exception, in force today, by the oracle.
    fn excepts(&self) -> bool {
        matches!(self, Self::Value(v) if expected_exception(v).is_some_and(|e| e.in_force()))
    }
}

fn tag_on_key() -> impl Strategy<Value = TagOnKey> {
    prop_oneof![
        1 => Just(TagOnKey::Absent),
        4 => exception_value().prop_map(TagOnKey::Value),
        1 => hostile_string().prop_map(TagOnKey::Unreadable),
    ]
}

/// The decision table (`docs/decision-table.md`), written apart from `decide`: the verdict a key
/// must get, whether its rotation status is read, and whether its tags are.
fn expected_verdict(
    facts: &KeyFacts,
    rotation: &RotationStatus,
    tag: &TagOnKey,
    params: &RuleParameters,
) -> (Compliance, bool, bool) {
    use Compliance::*;
    // Rows 1 to 5: decided from the key's facts alone.
    let state_skipped = match facts.key_state.as_str() {
        "PendingDeletion"
        | "PendingReplicaDeletion"
        | "Creating"
        | "Updating"
        | "PendingImport"
        | "Unavailable" => true,
        "Disabled" => !params.evaluate_disabled_keys,
        _ => false, // Enabled, and states newer than the table (3d)
    };
    let cannot_rotate = facts.key_spec.as_str() != "SYMMETRIC_DEFAULT"
        || matches!(
            facts.origin.as_str(),
            "EXTERNAL" | "AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE"
        )
        || facts.custom_key_store_id.is_some();
    if facts.key_manager.as_str() == "AWS" || state_skipped || cannot_rotate {
        return (NotApplicable, false, false);
    }
    // Rows 6 and 7: the rotation status.
    match rotation {
        RotationStatus::Unsupported(_) | RotationStatus::KeyNotFound => {
            (NotApplicable, true, false)
        }
        RotationStatus::AccessDenied(_) => (NonCompliant, true, false),
        RotationStatus::Disabled if tag.excepts() => (NotApplicable, true, true),
        RotationStatus::Disabled => (NonCompliant, true, true),
        RotationStatus::Enabled {
            period_days,
            next_rotation,
        } => {
            let within = match (params.max_rotation_period_in_days, period_days) {
                (None, _) => true,
                (Some(max), Some(days)) => *days <= max,
                (Some(_), None) => false,
            };
            // 7d: on an Enabled key, KMS's next rotation date more than rotationGraceDays before
            // today (days counted from the Unix epoch, UTC).
            let overdue = facts.key_state.as_str() == "Enabled"
                && next_rotation.is_some_and(|next| {
                    TODAY_EPOCH_DAY - next.timestamp().div_euclid(86_400)
                        > i64::from(params.rotation_grace_days)
                });
            let compliance = if within && !overdue {
                Compliant
            } else {
                NonCompliant
            };
            (compliance, true, false)
        }
    }
}

#[test]
fn decision_never_calls_a_key_compliant_or_excepted_without_proof() {
    let params = (prop::option::of(90i32..=2560), any::<bool>()).prop_map(|(max, disabled)| {
        RuleParameters {
            max_rotation_period_in_days: max,
            evaluate_disabled_keys: disabled,
            ..RuleParameters::default()
        }
    });
    runner(5000)
        .run(
            &(key_facts(), rotation_status(), tag_on_key(), params),
            |(facts, rotation, tag, params)| {
                let exception = tag.as_read_by_the_rule();
                // Answer what the decision asks, once each, as evaluate.rs does.
                let (mut asked_rotation, mut asked_tag) = (0, 0);
                let mut known = Known::default();
                let verdict = loop {
                    match decide(&facts, known, &params, today()) {
                        Step::Verdict(v) => break v,
                        Step::NeedRotationStatus => {
                            asked_rotation += 1;
                            prop_assert!(asked_rotation == 1, "rotation status asked twice");
                            known.rotation = Some(&rotation);
                        }
                        Step::NeedExceptionTag => {
                            asked_tag += 1;
                            prop_assert!(asked_tag == 1, "tags asked twice");
                            known.exception = Some(&exception);
                        }
                        Step::NeedKeyMaterial => {
                            prop_assert!(
                                params.max_key_material_age_in_days.is_some(),
                                "key material asked without maxKeyMaterialAgeInDays"
                            );
                            prop_assert!(known.material.is_none(), "key material asked twice");
                            known.material = Some(&NEVER_ROTATED);
                        }
                    }
                };
                let n = verdict.annotation.chars().count();
                prop_assert!((1..=MAX_ANNOTATION_CHARS).contains(&n));
                if facts.key_manager == KeyManagerType::Aws {
                    prop_assert_eq!(verdict.compliance, Compliance::NotApplicable);
                    prop_assert_eq!(asked_rotation + asked_tag, 0);
                }
                if verdict.compliance == Compliance::Compliant {
                    // Only a key KMS says rotates, within the maximum period when one is set.
                    let RotationStatus::Enabled { period_days, .. } = &rotation else {
                        return Err(TestCaseError::fail(format!("COMPLIANT with {rotation:?}")));
                    };
                    prop_assert_eq!(asked_rotation, 1);
                    if let Some(max) = params.max_rotation_period_in_days {
                        prop_assert!(matches!(period_days, Some(p) if *p <= max));
                    }
                }
                // The whole verdict, and what was read for it, as the decision table says. In
                // particular a key that can rotate and does not is NOT_APPLICABLE only under a
                // valid, unexpired exception (by the oracle's reading of the tag, not the
                // product's); a value that merely looks like one never silences it.
                let (compliance, reads_rotation, reads_tags) =
                    expected_verdict(&facts, &rotation, &tag, &params);
                prop_assert_eq!(verdict.compliance, compliance, "{}", verdict.annotation);
                prop_assert_eq!(asked_rotation, usize::from(reads_rotation));
                prop_assert_eq!(asked_tag, usize::from(reads_tags));
                Ok(())
            },
        )
        .unwrap();
}

/// ListKeyRotations' answer for a key that never rotated.
static NEVER_ROTATED: kms_rotation::decision::KeyMaterial =
    kms_rotation::decision::KeyMaterial::LastRotated(None);
