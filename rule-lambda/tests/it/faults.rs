//! Fault injection: the rule keeps its promise when AWS misbehaves.
//!
//! The property checked in every test: each in-scope key ends with **exactly one** evaluation
//! taken by Config, with the right ComplianceType and the invocation's OrderingTimestamp, or it is
//! **named** in the invocation's error (`RuleError::Incomplete`'s `failed` / `unsent`, or the
//! Config error's resource ids). Never a wrong ComplianceType, never a second evaluation of a key
//! that differs from the first, never a panic.
//!
//! The AWS side is `fake_aws::FakeAws` (the workspace's `fake-aws` crate), an in-memory KMS,
//! Config and STS behind the SDK's real pipeline (serialization, signing, retries with the
//! production attempt count, error parsing): faults are injected per HTTP attempt by a seeded
//! hash, so every run is reproducible. Each test prints how many faults it injected
//! (`cargo test -p rule-lambda --test it faults:: -- --nocapture`).

use std::collections::{HashMap, HashSet};

use std::time::Duration;

use crate::fixtures::{event, invocation, options, periodic, small_pages, with_token};
use fake_aws::*;
use kms_rotation::rule::{run, Incomplete, Options, Outcome, RuleError};
use serde_json::json;

/// notificationCreationTime of tests/events/scheduled.json, in milliseconds.
const SCHEDULED_MS: i64 = 1_795_860_000_000;
/// configurationItemCaptureTime of the change fixtures (2026-11-28T09:59:58.123Z).
const CAPTURE_MS: i64 = 1_795_859_998_123;

/// Keys the error names, and whether the listing broke off.
#[derive(Debug, Default)]
struct Named {
    ids: HashSet<String>,
    listing_failed: bool,
    not_started: usize,
}

fn named(result: &Result<Outcome, RuleError>) -> Named {
    let mut out = Named::default();
    match result {
        Ok(_) => {}
        Err(RuleError::Incomplete(Incomplete {
            failed,
            not_started,
            listing,
            unsent,
            ..
        })) => {
            out.ids.extend(failed.iter().map(|e| e.key_id.clone()));
            out.ids.extend(unsent.iter().flat_map(|e| e.unsent()));
            out.listing_failed = listing.is_some();
            out.not_started = not_started.len();
            out.ids.extend(not_started.iter().cloned());
        }
        Err(RuleError::Config(e)) => out.ids.extend(e.unsent()),
        Err(other) => panic!("unexpected error kind: {other}"),
    }
    out
}

/// The property, for one run over `fake`'s keys. Returns (evaluated, named) counts.
fn check_property(
    fake: &FakeAws,
    result: &Result<Outcome, RuleError>,
    in_scope: &[(String, Kind)],
    max_period: Option<i32>,
    ordering_ms: i64,
) -> (usize, usize) {
    let named = named(result);
    fake.journal(|j| {
        assert!(
            j.refused.is_empty(),
            "the fake refused requests: {:?}",
            j.refused
        );
        let taken = j.taken();
        // Everything Config received about a key, taken or not, says the same thing with the
        // same timestamp: no second opinion, no older timestamp.
        let mut first: HashMap<&str, &Received> = HashMap::new();
        for r in &j.received {
            let f = first.entry(&r.resource_id).or_insert(r);
            assert_eq!(
                (&f.compliance, &f.annotation, f.ordering_millis),
                (&r.compliance, &r.annotation, r.ordering_millis),
                "two different evaluations of {}",
                r.resource_id
            );
            assert_eq!(r.ordering_millis, ordering_ms, "{r:?}");
            assert_eq!(r.resource_type, "AWS::KMS::Key");
        }
        let listed: HashSet<&str> = in_scope.iter().map(|(id, _)| id.as_str()).collect();
        for id in taken.keys() {
            assert!(
                listed.contains(id.as_str()),
                "evaluation of an unknown key {id}"
            );
        }
        let (mut evaluated, mut failed) = (0, 0);
        let mut unaccounted = Vec::new();
        for (id, kind) in in_scope {
            match (taken.get(id).map(Vec::len), named.ids.contains(id)) {
                (Some(1), false) => {
                    let e = &taken[id][0];
                    assert_eq!(
                        e.compliance,
                        kind.expected(max_period),
                        "{kind:?} {id}: {}",
                        e.annotation
                    );
                    assert!((1..=256).contains(&e.annotation.chars().count()));
                    evaluated += 1;
                }
                (None, true) => failed += 1,
                (Some(n), named) => panic!("{id} ({kind:?}) taken {n} times, named: {named}"),
                (None, false) => unaccounted.push(id.clone()),
            }
        }
        // Keys neither evaluated nor named: only keys that no ListKeys answer ever carried, and
        // only when the error says the listing broke off. A key that was listed is never
        // excused, checked key by key.
        let dropped: Vec<&String> = unaccounted
            .iter()
            .filter(|id| j.listed.contains(id.as_str()))
            .collect();
        assert!(
            dropped.is_empty(),
            "{} listed key(s) neither evaluated nor named (listing failed: {}, not started: {}): {:?}",
            dropped.len(),
            named.listing_failed,
            named.not_started,
            &dropped[..dropped.len().min(5)]
        );
        if !unaccounted.is_empty() {
            assert!(
                named.listing_failed,
                "{} key(s) never listed, and the error does not say the listing broke off: {:?}",
                unaccounted.len(),
                &unaccounted[..unaccounted.len().min(5)]
            );
        }
        // The outcome counts what Config took.
        let outcome = match result {
            Ok(o) => o,
            Err(RuleError::Incomplete(i)) => &i.outcome,
            Err(_) => return (evaluated, failed),
        };
        assert_eq!(
            outcome.evaluations,
            taken.values().map(Vec::len).sum::<usize>()
        );
        (evaluated, failed)
    })
}

fn report(test: &str, fake: &FakeAws, evaluated: usize, named: usize) {
    let (summary, attempts) =
        fake.journal(|j| (j.injected_summary(), j.attempts.values().sum::<usize>()));
    println!(
        "{test}: faults injected {summary} over {attempts} attempts; {evaluated} key(s) evaluated, {named} named in the error"
    );
}

// =============================================================================================
// Throttling, 5xx, connection resets and timeouts on KMS and Config
// =============================================================================================

#[tokio::test]
async fn periodic_run_under_faults_evaluates_each_key_once_or_names_it() {
    let mut totals = (0, 0, 0);
    for seed in 1..=4u64 {
        // Given 180 keys of every kind, paged 50 at a time, and half of all KMS and Config
        // attempts failing with throttling, 500, 503, a reset connection or a timeout
        let fake = FakeAws::new(account(180), FaultPlan::everywhere(seed, 0.5));
        let clients = fake.clients();

        // When a periodic run evaluates them
        let result = run(
            &periodic(json!({"maxRotationPeriodInDays": "365"}), "TESTMODE"),
            &clients,
            None,
            &small_pages(),
        )
        .await;

        // Then every key is evaluated once and rightly, or named in the error
        let (evaluated, named) =
            check_property(&fake, &result, fake.keys(), Some(365), SCHEDULED_MS);
        report(
            &format!("periodic_run_under_faults[seed {seed}]"),
            &fake,
            evaluated,
            named,
        );
        totals.0 += evaluated;
        totals.1 += named;
        totals.2 += fake.journal(|j| j.total_injected());
    }
    // The faults did their job: some keys recovered through retries, some were named.
    assert!(totals.0 > 0 && totals.2 > 500, "{totals:?}");
}

#[tokio::test]
async fn periodic_run_under_rare_faults_evaluates_every_key() {
    // Given 10% of attempts fail: the SDK's retries absorb them all
    let fake = FakeAws::new(account(360), FaultPlan::everywhere(7, 0.1));
    let result = run(
        &periodic(json!({}), "TESTMODE"),
        &fake.clients(),
        None,
        &small_pages(),
    )
    .await;
    let (evaluated, named) = check_property(&fake, &result, fake.keys(), None, SCHEDULED_MS);
    report("periodic_run_under_rare_faults", &fake, evaluated, named);
    assert!(fake.journal(|j| j.total_injected()) > 50);
    let outcome = result.expect("every fault was retried away");
    assert_eq!(outcome.evaluations, 360);
}

/// One key at a time, so the order of attempts, and so which ones the seeded plan fails, is the
/// same on every run: with keys in flight together, the SDK's retry quota (a connection reset
/// costs 10 of its 500 tokens) could run dry in a different order each run.
#[tokio::test]
async fn every_fault_kind_alone_is_retried_or_named() {
    let one_at_a_time = Options {
        concurrency: 1,
        ..small_pages()
    };
    for fault in Fault::ALL {
        let plan = FaultPlan {
            kinds: vec![fault],
            ..FaultPlan::everywhere(11, 0.6)
        };
        let fake = FakeAws::new(account(72), plan);
        let result = run(
            &periodic(json!({}), "TESTMODE"),
            &fake.clients(),
            None,
            &one_at_a_time,
        )
        .await;
        let (evaluated, named) = check_property(&fake, &result, fake.keys(), None, SCHEDULED_MS);
        report(
            &format!("every_fault_kind_alone[{fault:?}]"),
            &fake,
            evaluated,
            named,
        );
        let injected = fake.journal(|j| j.injected.clone());
        assert_eq!(injected.len(), 1, "{injected:?}");
        assert!(evaluated > 0, "{fault:?}: nothing got through");
    }
}

#[tokio::test]
async fn change_events_under_faults_send_one_evaluation_or_name_the_key() {
    let mut injected = 0;
    for seed in 1..=3u64 {
        for (id, kind) in account(Kind::ALL.len()) {
            // Given a change event whose item lacks the key's facts (so KMS is asked), and 60%
            // of attempts failing
            let fake = FakeAws::new(vec![(id.clone(), kind)], FaultPlan::everywhere(seed, 0.6));
            let inv = invocation(event("change-minimal.json", &id));

            // When the rule runs
            let result = run(&inv, &fake.clients(), None, &options()).await;

            // Then one evaluation with the capture time, or an error naming the key
            if let Err(e) = &result {
                assert!(e.to_string().contains(&id), "{kind:?}: {e}");
                assert!(
                    matches!(e.error_type(), "KeysNotEvaluated" | "ConfigCallFailed"),
                    "{e}"
                );
            }
            check_property(&fake, &result, &[(id, kind)], None, CAPTURE_MS);
            injected += fake.journal(|j| j.total_injected());
        }
    }
    println!("change_events_under_faults: faults injected {injected} over 54 runs");
    assert!(injected > 50);
}

// =============================================================================================
// PutEvaluations: FailedEvaluations and InvalidResultToken
// =============================================================================================

#[tokio::test]
async fn failed_evaluations_are_sent_again_until_taken_or_named() {
    for (seed, share) in [(3u64, 0.3), (4, 0.8)] {
        // Given Config lists a share of every batch in FailedEvaluations
        let plan = FaultPlan {
            failed_evaluations: share,
            ..FaultPlan::everywhere(seed, 0.0)
        };
        let fake = FakeAws::new(account(250), plan);
        let result = run(
            &periodic(json!({}), "TESTMODE"),
            &fake.clients(),
            None,
            &options(),
        )
        .await;
        let (evaluated, named) = check_property(&fake, &result, fake.keys(), None, SCHEDULED_MS);
        report(
            &format!("failed_evaluations[share {share}]"),
            &fake,
            evaluated,
            named,
        );
        // 0.8^4: about 40% of the keys are still refused after three retries, and named.
        if share > 0.5 {
            let err = result.unwrap_err();
            assert!(
                err.to_string()
                    .contains("config:PutEvaluations did not take"),
                "{err}"
            );
        } else {
            // 0.3^4: a key or two may be refused four times in a row; the rest were taken.
            assert!(named <= 10, "{named}");
        }
        assert_eq!(evaluated + named, 250);
    }
}

/// A PutEvaluations call refused whole (HTTP 400 InvalidParameterValueException, which the SDK
/// does not retry; AWS Config API Reference, PutEvaluations, "Errors") while other batches are in
/// flight: the writer keeps several batches in flight, so the refusal comes back while they wait
/// on Config; they are taken, and the refused batch's 100 keys are named. Config is slow here
/// (60 ms an attempt, under the test clients' 100 ms attempt timeout; paused time), so the batches are in flight together whenever the writer lets
/// them be; a writer that sends one batch at a time has nothing else in flight at the refusal.
#[tokio::test(start_paused = true)]
async fn a_batch_refused_while_others_are_in_flight_is_named_and_the_others_are_taken() {
    let plan = FaultPlan {
        put_fail_refused: vec![3],
        put_latency: Duration::from_millis(60),
        ..FaultPlan::none()
    };
    let fake = FakeAws::new(account(1000), plan);
    let result = run(
        &periodic(json!({}), "TESTMODE"),
        &fake.clients(),
        None,
        &options(),
    )
    .await;
    let (evaluated, named) = check_property(&fake, &result, fake.keys(), None, SCHEDULED_MS);
    report(
        "put_refused_while_others_in_flight",
        &fake,
        evaluated,
        named,
    );
    assert_eq!((evaluated, named), (900, 100));
    let others = fake.journal(|j| j.others_in_flight_at_refusal.clone());
    assert_eq!(others.len(), 1);
    assert!(others[0] >= 1, "nothing else was in flight: {others:?}");
    assert!(fake.journal(|j| j.put_peak_in_flight) > 1);
}

#[tokio::test]
async fn invalid_result_token_sends_nothing_and_names_every_key() {
    // Given Config refuses the result token
    let plan = FaultPlan {
        invalid_result_token: true,
        ..FaultPlan::none()
    };
    let fake = FakeAws::new(account(150), plan);
    let result = run(
        &periodic(json!({}), "expired-token-from-an-old-invocation"),
        &fake.clients(),
        None,
        &options(),
    )
    .await;
    let (evaluated, named) = check_property(&fake, &result, fake.keys(), None, SCHEDULED_MS);
    report("invalid_result_token", &fake, evaluated, named);
    assert_eq!((evaluated, named), (0, 150));
    let err = result.unwrap_err();
    assert!(
        err.to_string().contains("InvalidResultTokenException"),
        "{err}"
    );
    // The token is not retried: it is not transient.
    assert_eq!(fake.journal(|j| j.attempts["PutEvaluations"]), 2);
}

#[tokio::test]
async fn invalid_result_token_on_a_change_event_names_the_key() {
    let plan = FaultPlan {
        invalid_result_token: true,
        ..FaultPlan::none()
    };
    let (id, kind) = (key_id(1), Kind::RotationOff);
    let fake = FakeAws::new(vec![(id.clone(), kind)], plan);
    let inv = invocation(with_token(event("change-rotation-off.json", &id), "stale"));
    let result = run(&inv, &fake.clients(), None, &options()).await;
    let err = result.as_ref().unwrap_err();
    assert_eq!(err.error_type(), "ConfigCallFailed");
    assert!(err.to_string().contains(&id), "{err}");
    check_property(&fake, &result, &[(id, kind)], None, CAPTURE_MS);
    report("invalid_result_token_on_a_change_event", &fake, 0, 1);
}

// =============================================================================================
// STS: AssumeRole faults and denial
// =============================================================================================

#[tokio::test]
async fn assume_role_under_faults_then_every_call_signed_by_the_role() {
    for seed in 1..=3u64 {
        // Given ExecutionRoleName, and 50% of STS, KMS and Config attempts failing
        let fake = FakeAws::new(account(90), FaultPlan::everywhere(seed, 0.5));
        let result = run(
            &periodic(
                json!({"ExecutionRoleName": "KmsRotationRuleEvaluation"}),
                "TESTMODE",
            ),
            &fake.clients(),
            None,
            &small_pages(),
        )
        .await;
        match &result {
            // STS failed on every one of its MAX_ATTEMPTS (8) attempts: nothing was read or sent.
            Err(RuleError::AssumeRole(e)) => {
                assert_eq!(fake.journal(|j| j.signers.len()), 0, "{e}");
                report(
                    &format!("assume_role_under_faults[seed {seed}]"),
                    &fake,
                    0,
                    0,
                );
                continue;
            }
            _ => {
                let (evaluated, named) =
                    check_property(&fake, &result, fake.keys(), None, SCHEDULED_MS);
                report(
                    &format!("assume_role_under_faults[seed {seed}]"),
                    &fake,
                    evaluated,
                    named,
                );
            }
        }
        // Every KMS and Config attempt, retries included, was signed by the assumed role.
        let signers: HashSet<String> =
            fake.journal(|j| j.signers.iter().map(|(_, k)| k.clone()).collect());
        assert_eq!(signers, HashSet::from([ASSUMED_ACCESS_KEY_ID.to_owned()]));
        assert!(fake.journal(|j| j.attempts["AssumeRole"]) >= 1);
    }
}

#[tokio::test]
async fn assume_role_denied_fails_before_any_kms_or_config_call() {
    let plan = FaultPlan {
        assume_role_denied: true,
        ..FaultPlan::none()
    };
    let fake = FakeAws::new(account(20), plan);
    let result = run(
        &periodic(
            json!({"ExecutionRoleName": "KmsRotationRuleEvaluation"}),
            "TESTMODE",
        ),
        &fake.clients(),
        None,
        &options(),
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.error_type(), "AssumeRoleFailed");
    assert!(
        err.to_string()
            .contains("arn:aws:iam::123456789012:role/KmsRotationRuleEvaluation"),
        "{err}"
    );
    // AccessDenied is not retried, and no key was read or reported with the wrong credentials.
    fake.journal(|j| {
        assert_eq!(j.attempts.get("AssumeRole"), Some(&1));
        assert!(j.signers.is_empty(), "{:?}", j.signers);
        assert!(j.received.is_empty());
    });
    report("assume_role_denied", &fake, 0, 0);
}

// =============================================================================================
// The Lambda deadline
// =============================================================================================

#[tokio::test(start_paused = true)]
async fn deadline_arriving_mid_run_stops_starting_keys_and_says_how_many() {
    // Given KMS answers in 3 ms, 600 keys, 8 at a time, and 30% of attempts failing
    let fake = FakeAws::new(account(600), FaultPlan::everywhere(5, 0.3));
    fake.set_latency(Duration::from_millis(3));
    let stop_at = tokio::time::Instant::now() + Duration::from_millis(300);

    // When the time to stop starting keys comes mid-run
    let result = run(
        &periodic(json!({}), "TESTMODE"),
        &fake.clients(),
        Some(stop_at),
        &small_pages(),
    )
    .await;

    // Then what was evaluated was sent once and rightly, the rest is failed (named) or counted
    // as not started, and nothing else is missing
    let (evaluated, named) = check_property(&fake, &result, fake.keys(), None, SCHEDULED_MS);
    let Err(RuleError::Incomplete(incomplete)) = &result else {
        panic!("the deadline left keys out: {result:?}")
    };
    assert!(incomplete.listing.is_none());
    assert!(
        !incomplete.not_started.is_empty() && evaluated > 0,
        "{incomplete}"
    );
    assert_eq!(evaluated + named, 600);
    assert!(result
        .unwrap_err()
        .to_string()
        .contains("not evaluated: the Lambda's deadline was near"),);
    report("deadline_mid_run", &fake, evaluated, named);
}

/// The property asks that a key without an evaluation be *named* in the error, keys not
/// started before the deadline included (the first 20 in the message, all in the error value).
#[tokio::test(start_paused = true)]
async fn keys_not_started_before_the_deadline_are_named_in_the_error() {
    let fake = FakeAws::new(account(200), FaultPlan::none());
    fake.set_latency(Duration::from_millis(3));
    let stop_at = tokio::time::Instant::now() + Duration::from_millis(100);
    let result = run(
        &periodic(json!({}), "TESTMODE"),
        &fake.clients(),
        Some(stop_at),
        &small_pages(),
    )
    .await;
    let message = result.unwrap_err().to_string();
    let taken = fake.journal(|j| j.taken());
    let missing: Vec<&String> = fake
        .keys()
        .iter()
        .map(|(id, _)| id)
        .filter(|id| !taken.contains_key(*id))
        .collect();
    assert!(!missing.is_empty());
    // At least the first 20 of them, as the error does for failed keys.
    for id in missing.iter().take(20) {
        assert!(message.contains(id.as_str()), "{id} not named: {message}");
    }
}

/// A stalled connection (accepted, never answered) must not hold the invocation until Lambda
/// kills it: the production SDK configuration (`clients::load_sdk_config`) gives up an attempt
/// after `ATTEMPT_TIMEOUT` (3 s) and a whole call after `OPERATION_TIMEOUT` (25 s). A one-hour
/// stall, and a bound of 30 s: the operation timeout must end it.
#[tokio::test(start_paused = true)]
async fn a_stalled_call_is_given_up_and_the_key_named_with_the_production_sdk_config() {
    let plan = FaultPlan {
        kinds: vec![Fault::Timeout],
        stall: Duration::from_secs(3600),
        ..FaultPlan::everywhere(1, 1.0)
    };
    let (id, kind) = (key_id(3), Kind::RotationOn);
    let fake = FakeAws::new(vec![(id.clone(), kind)], plan);
    // The production configuration, with only the transport and credentials swapped.
    let sdk = kms_rotation::clients::load_sdk_config().await;
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk)
            .http_client(fake.http_client())
            .region(aws_sdk_kms::config::Region::new(REGION))
            .credentials_provider(aws_credential_types::Credentials::for_tests())
            .build(),
    );
    let mut clients = fake.clients();
    clients.kms = kms;
    let inv = invocation(event("change-minimal.json", &id));
    let bounded = tokio::time::timeout(
        Duration::from_secs(30),
        run(&inv, &clients, None, &options()),
    )
    .await;
    let result = bounded.expect("the run was still waiting on one stalled DescribeKey");
    assert!(result.unwrap_err().to_string().contains(&id));
}

/// The same stall under the test clients' attempt timeout: retried, then the key is named.
#[tokio::test(start_paused = true)]
async fn a_stalled_call_is_given_up_and_the_key_named_under_an_attempt_timeout() {
    let plan = FaultPlan {
        kinds: vec![Fault::Timeout],
        stall: Duration::from_secs(3600),
        ..FaultPlan::everywhere(1, 1.0)
    };
    let (id, kind) = (key_id(3), Kind::RotationOn);
    let fake = FakeAws::new(vec![(id.clone(), kind)], plan);
    let inv = invocation(event("change-minimal.json", &id));
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        run(&inv, &fake.clients(), None, &options()),
    )
    .await
    .expect("bounded by the attempt timeout");
    let err = result.unwrap_err();
    assert!(err.to_string().contains(&id), "{err}");
    assert!(err.to_string().contains("timeout"), "{err}");
    let attempts = fake.journal(|j| j.attempts["DescribeKey"]);
    assert_eq!(attempts, kms_rotation::clients::MAX_ATTEMPTS as usize);
    report("stalled_call_under_an_attempt_timeout", &fake, 0, 1);
}

// =============================================================================================
// The listing breaks while keys are in flight
// =============================================================================================

/// ListKeys refused from page `page` on (AccessDenied, not retried), pages of 10 keys, and key
/// reads slow enough that the keys of the earlier pages are still being evaluated when the listing
/// breaks, as they always are in a large account. Every key of pages 1..page-1 must be sent or
/// named, key by key; only the keys of the refused pages may be covered by "the listing broke off".
async fn listing_breaks_on_page(page: usize, concurrency: usize) {
    let plan = FaultPlan {
        list_keys_denied_from_page: Some(page),
        key_read_latency: Duration::from_millis(20),
        ..FaultPlan::none()
    };
    let fake = FakeAws::new(account(60), plan);
    let opts = Options {
        page_size: 10,
        concurrency,
        ..options()
    };
    let result = run(
        &periodic(json!({}), "TESTMODE"),
        &fake.clients(),
        None,
        &opts,
    )
    .await;
    let before: Vec<&(String, Kind)> = fake.keys()[..(page - 1) * 10].iter().collect();
    let listed = fake.journal(|j| j.listed.clone());
    assert_eq!(
        listed,
        before.iter().map(|(id, _)| id.clone()).collect(),
        "the keys of pages 1..{} and only those were listed",
        page - 1
    );
    let (evaluated, named) = check_property(&fake, &result, fake.keys(), None, SCHEDULED_MS);
    // Nothing failed but the listing, so every listed key was evaluated and taken.
    assert_eq!((evaluated, named), (before.len(), 0));
    let message = result.as_ref().unwrap_err().to_string();
    assert!(
        message.contains(&format!("page {page} (Marker m{})", (page - 1) * 10)),
        "the error says where the listing broke: {message}"
    );
    assert!(message.contains("AccessDeniedException"), "{message}");
    assert!(
        message.contains(&format!("{} evaluation(s) were sent", before.len())),
        "{message}"
    );
    report(
        &format!("listing_breaks_on_page[{page}, concurrency {concurrency}]"),
        &fake,
        evaluated,
        named,
    );
}

#[tokio::test]
async fn when_the_listing_breaks_every_key_already_listed_is_sent_or_named() {
    // The production concurrency (64, more than the 20 keys listed before page 3), and fewer
    // keys in flight than listed.
    for concurrency in [64, 4] {
        listing_breaks_on_page(3, concurrency).await;
    }
    // The first page refused: nothing was listed, nothing sent, and the error says so.
    let fake = FakeAws::new(
        account(30),
        FaultPlan {
            list_keys_denied_from_page: Some(1),
            ..FaultPlan::none()
        },
    );
    let result = run(
        &periodic(json!({}), "TESTMODE"),
        &fake.clients(),
        None,
        &small_pages(),
    )
    .await;
    check_property(&fake, &result, fake.keys(), None, SCHEDULED_MS);
    let message = result.unwrap_err().to_string();
    assert!(message.contains("page 1 (the first page)"), "{message}");
    assert_eq!(fake.journal(|j| j.received.len()), 0);
}

/// The same when evaluations fail too: a key whose reads fail after the listing broke is named,
/// not dropped.
#[tokio::test]
async fn when_the_listing_breaks_under_faults_listed_keys_are_sent_or_named() {
    for seed in 1..=3u64 {
        let plan = FaultPlan {
            list_keys_denied_from_page: Some(4),
            key_read_latency: Duration::from_millis(5),
            kms: 0.3,
            config: 0.3,
            ..FaultPlan::everywhere(seed, 0.0)
        };
        let fake = FakeAws::new(account(50), plan);
        let opts = Options {
            page_size: 10,
            ..options()
        };
        let result = run(
            &periodic(json!({}), "TESTMODE"),
            &fake.clients(),
            None,
            &opts,
        )
        .await;
        let listed = fake.journal(|j| j.listed.len());
        let (evaluated, named) = check_property(&fake, &result, fake.keys(), None, SCHEDULED_MS);
        assert_eq!(evaluated + named, listed, "seed {seed}");
        report(
            &format!("listing_breaks_under_faults[seed {seed}]"),
            &fake,
            evaluated,
            named,
        );
    }
}
