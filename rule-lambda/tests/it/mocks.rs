//! The rule end to end against mocked AWS services: every request the rule sends and every answer
//! AWS can give, through `kms_rotation::rule::run` and the Lambda handler.
//!
//! Each test reads given / when / then. Clients panic on any request no rule matches, so a test
//! that registers no rule for an operation asserts that the operation is never called.

use crate::common::*;
use crate::fixtures::*;
use aws_sdk_kms::operation::list_key_rotations::{ListKeyRotationsInput, ListKeyRotationsOutput};
use aws_sdk_kms::operation::list_keys::ListKeysOutput;
use aws_sdk_kms::operation::list_resource_tags::ListResourceTagsOutput;
use aws_sdk_kms::types::{
    KeyListEntry, KeyManagerType, KeySpec, KeyState, KeyUsageType, MultiRegionConfiguration,
    MultiRegionKey, MultiRegionKeyType, OriginType, Tag,
};
use aws_smithy_mocks::{mock, Rule};
use kms_rotation::event::{EventError, Invocation, Message};
use kms_rotation::rule::{run, Options, Outcome, RuleError};
use serde_json::{json, Value};

const K: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

/// A periodic run (TESTMODE) over `keys`, listed in one page, with these KMS rules besides ListKeys.
async fn periodic_run(
    parameters: Value,
    keys: &[&str],
    kms: &[&Rule],
) -> (Result<Outcome, RuleError>, PutEvaluations) {
    let (list, _) = list_keys(&[keys]);
    let put = PutEvaluations::accepting();
    let mut kms_rules = vec![&list];
    kms_rules.extend_from_slice(kms);
    let clients = clients(&kms_rules, &[&put.rule], &[]);
    let result = run(&scheduled(parameters), &clients, None, &options()).await;
    (result, put)
}

/// A change event run (TESTMODE) with these KMS rules and Config answering PutEvaluations only.
async fn change_run(event: Value, kms: &[&Rule]) -> (Result<Outcome, RuleError>, PutEvaluations) {
    let put = PutEvaluations::accepting();
    let clients = clients(kms, &[&put.rule], &[]);
    let result = run(&invocation(event), &clients, None, &options()).await;
    (result, put)
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

fn ordering_ms(e: &aws_sdk_config::types::Evaluation) -> i64 {
    e.ordering_timestamp.to_millis().unwrap()
}

/// The premise of every "without calling KMS" test: a request no rule matches fails the test.
#[tokio::test]
#[should_panic(expected = "no rules matched")]
async fn test_clients_fail_on_any_call_no_rule_expects() {
    let clients = clients(&[], &[], &[]);
    let _ = clients.kms.describe_key().key_id(K).send().await;
}

// =============================================================================================
// ListKeys paging
// =============================================================================================

#[tokio::test]
async fn periodic_run_pages_through_list_keys_and_evaluates_every_key_once() {
    // Given three pages of keys, two a page
    let keys = ["k1", "k2", "k3", "k4", "k5"];
    let (list, list_calls) = list_keys(&[&keys[0..2], &keys[2..4], &keys[4..5]]);
    let describes: Vec<Rule> = keys.iter().map(|id| describe(key(id))).collect();
    let rotations: Vec<Rule> = keys
        .iter()
        .map(|id| rotation_on(id, 365, "2027-05-01T00:00:00Z"))
        .collect();
    let mut kms = vec![&list];
    kms.extend(describes.iter().chain(&rotations));
    let put = PutEvaluations::accepting();
    let clients = clients(&kms, &[&put.rule], &[]);

    // When the rule runs with a page size of 2
    let opts = Options {
        page_size: 2,
        ..options()
    };
    let outcome = run(&scheduled(json!({})), &clients, None, &opts)
        .await
        .unwrap();

    // Then ListKeys was asked for each page with the marker of the page before
    let requests: Vec<(Option<i32>, Option<String>)> = list_calls
        .requests()
        .into_iter()
        .map(|r| (r.limit, r.marker))
        .collect();
    assert_eq!(
        requests,
        vec![
            (Some(2), None),
            (Some(2), Some("marker-1".to_owned())),
            (Some(2), Some("marker-2".to_owned())),
        ]
    );
    // And every key was described and read exactly once, and reported exactly once
    for rule in describes.iter().chain(&rotations) {
        assert_eq!(rule.num_calls(), 1);
    }
    assert_eq!(put.resource_ids(), keys);
    assert_eq!(put.requests().len(), 1);
    assert_eq!(outcome.evaluations, 5);
    assert_eq!(outcome.compliant, 5);
    assert_eq!(outcome.put_evaluations_calls, 1);
}

#[tokio::test]
async fn listing_that_breaks_off_fails_the_run_after_sending_what_was_evaluated() {
    // Given ListKeys answers page 1, then is throttled on page 2 every time; and a real token
    let page_1 = mock!(aws_sdk_kms::Client::list_keys)
        .match_requests(|req| req.marker().is_none())
        .then_output(|| {
            ListKeysOutput::builder()
                .keys(
                    KeyListEntry::builder()
                        .key_id(K)
                        .key_arn(key_arn(K))
                        .build(),
                )
                .truncated(true)
                .next_marker("marker-1")
                .build()
        });
    let page_2 = mock!(aws_sdk_kms::Client::list_keys)
        .match_requests(|req| req.marker() == Some("marker-1"))
        .sequence()
        .http_response(throttling)
        .repeatedly()
        .build();
    let (d, r) = (
        describe(key(K)),
        rotation_on(K, 365, "2027-05-01T00:00:00Z"),
    );
    let (details, details_calls) = compliance_details(&["0000dead-12ab-34cd-56ef-1234567890ab"]);
    let put = PutEvaluations::accepting();
    let clients = clients(&[&page_1, &page_2, &d, &r], &[&put.rule, &details], &[]);
    let inv = invocation(with_token(event("scheduled.json", ""), "real-token"));

    // When the rule runs
    let err = run(&inv, &clients, None, &options()).await.unwrap_err();

    // Then the key of page 1 was sent, the run fails saying the listing broke off,
    // and no key is declared gone on the strength of an incomplete listing
    assert_eq!(page_2.num_calls(), MAX_ATTEMPTS as usize);
    assert_eq!(put.resource_ids(), [K]);
    let message = err.to_string();
    assert!(
        message.contains(
            "listing the keys broke off (kms:ListKeys: page 2 (Marker marker-1) could not be read after 1 key(s) were listed"
        ),
        "{message}"
    );
    assert!(message.contains("ThrottlingException"), "{message}");
    assert_eq!(details_calls.len(), 0);
}

#[tokio::test]
async fn no_key_is_started_once_the_deadline_is_near() {
    // Given the time to stop starting keys has already come
    let (list, _) = list_keys(&[&["k1", "k2"]]);
    let (d, r) = (describe_every_key(), rotation_on_for_every_key());
    let put = PutEvaluations::accepting();
    let clients = clients(&[&list, &d, &r], &[&put.rule], &[]);
    let stop_at = Some(tokio::time::Instant::now());

    // When the rule runs
    let err = run(&scheduled(json!({})), &clients, stop_at, &options())
        .await
        .unwrap_err();

    // Then no key was described or reported, and the error says why
    assert_eq!(d.num_calls(), 0);
    assert_eq!(put.requests().len(), 0);
    assert!(
        err.to_string()
            .starts_with("2 key(s) not evaluated: the Lambda's deadline was near"),
        "{err}"
    );
}

// =============================================================================================
// GetKeyRotationStatus answers
// =============================================================================================

#[tokio::test]
async fn rotation_on_is_compliant_and_names_the_period_and_next_date() {
    // Given a key rotating every 365 days, next on 2027-05-01
    let (d, r, t) = (
        describe(key(K)),
        rotation_on(K, 365, "2027-05-01T00:00:00Z"),
        tags(K, &[]),
    );

    // When the rule runs
    let (result, put) = periodic_run(json!({}), &[K], &[&d, &r, &t]).await;

    // Then the key is COMPLIANT, the annotation names the period and the date, and no tags are read
    result.unwrap();
    let e = put.only();
    assert_eq!(e.compliance_resource_type, "AWS::KMS::Key");
    assert_eq!(e.compliance_resource_id, K);
    assert_eq!(compliance(&e), "COMPLIANT");
    assert_eq!(
        annotation(&e),
        "Automatic rotation is on, every 365 days; next rotation 2027-05-01."
    );
    assert_eq!(t.num_calls(), 0);
}

#[tokio::test]
async fn rotation_off_is_non_compliant_after_looking_for_an_exception_tag() {
    // Given a key with rotation off and no tags
    let (d, r, t) = (
        describe(key(K)),
        rotation_off(K),
        tags(K, &[("Owner", "payments")]),
    );

    // When the rule runs
    let (result, put) = periodic_run(json!({}), &[K], &[&d, &r, &t]).await;

    // Then the tags were read once and the key is NON_COMPLIANT, with the command that fixes it
    result.unwrap();
    assert_eq!(t.num_calls(), 1);
    let e = put.only();
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(
        annotation(&e).starts_with("Automatic rotation is off."),
        "{e:?}"
    );
    assert!(
        annotation(&e).contains(&format!("aws kms enable-key-rotation --key-id {K}")),
        "{e:?}"
    );
}

#[tokio::test]
async fn unsupported_operation_is_not_applicable() {
    // Given KMS says the key cannot rotate
    let d = describe(key(K));
    let r = rotation_fails(K, || {
        json_error(
            400,
            "UnsupportedOperationException",
            "arn:aws:kms:us-east-1:123456789012:key/x origin is EXTERNAL which is not valid for this operation.",
        )
    });

    // When the rule runs
    let (result, put) = periodic_run(json!({}), &[K], &[&d, &r]).await;

    // Then the key is NOT_APPLICABLE with KMS's reason, after one call (no retry)
    result.unwrap();
    let e = put.only();
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(annotation(&e).starts_with("KMS does not support automatic rotation for this key: "));
    assert!(annotation(&e).contains("origin is EXTERNAL"), "{e:?}");
    assert_eq!(r.num_calls(), 1);
}

#[tokio::test]
async fn key_deleted_before_the_rotation_status_is_read_is_not_applicable() {
    // Given the key disappears between DescribeKey and GetKeyRotationStatus
    let d = describe(key(K));
    let r = rotation_fails(K, || {
        json_error(
            400,
            "NotFoundException",
            "Key 'arn:aws:kms:us-east-1:123456789012:key/x' does not exist",
        )
    });

    // When the rule runs
    let (result, put) = periodic_run(json!({}), &[K], &[&d, &r]).await;

    // Then the key is NOT_APPLICABLE
    result.unwrap();
    let e = put.only();
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert_eq!(annotation(&e), "Key no longer exists.");
}

#[tokio::test]
async fn access_denied_on_the_rotation_status_is_non_compliant() {
    // Given the rule's role may not read the rotation status
    let d = describe(key(K));
    let r = rotation_fails(K, || {
        json_error(
            400,
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/rule/fn is not authorized to perform: kms:GetKeyRotationStatus",
        )
    });

    // When the rule runs
    let (result, put) = periodic_run(json!({}), &[K], &[&d, &r]).await;

    // Then the key is NON_COMPLIANT, saying what permission is missing
    result.unwrap();
    let e = put.only();
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(annotation(&e).starts_with("Cannot read the rotation status: access denied."));
    assert!(annotation(&e).contains("kms:GetKeyRotationStatus"), "{e:?}");
}

#[tokio::test]
async fn throttling_is_retried_and_the_key_then_evaluated() {
    // Given GetKeyRotationStatus is throttled once, then answers
    let d = describe(key(K));
    let r = rotation_fails_then_on(K, throttling, 1);

    // When the rule runs
    let (result, put) = periodic_run(json!({}), &[K], &[&d, &r]).await;

    // Then the call was retried and the key evaluated
    let outcome = result.unwrap();
    assert_eq!(r.num_calls(), 2);
    assert_eq!(compliance(&put.only()), "COMPLIANT");
    assert_eq!(outcome.compliant, 1);
}

#[tokio::test]
async fn keys_that_fail_after_retries_are_not_reported_and_fail_the_invocation() {
    // Given one good key, one throttled every time, one answered with 500 every time
    let (good, throttled, broken) = ("k-good", "k-throttled", "k-broken");
    let d: Vec<Rule> = [good, throttled, broken]
        .iter()
        .map(|id| describe(key(id)))
        .collect();
    let r_good = rotation_on(good, 365, "2027-05-01T00:00:00Z");
    let r_throttled = rotation_fails(throttled, throttling);
    let r_broken = rotation_fails(broken, internal_error);

    // When the rule runs
    let (result, put) = periodic_run(
        json!({}),
        &[good, throttled, broken],
        &[&d[0], &d[1], &d[2], &r_good, &r_throttled, &r_broken],
    )
    .await;

    // Then the SDK retried each failing call up to its attempt limit
    assert_eq!(r_throttled.num_calls(), MAX_ATTEMPTS as usize);
    assert_eq!(r_broken.num_calls(), MAX_ATTEMPTS as usize);
    // And only the good key was sent to Config
    assert_eq!(put.resource_ids(), [good]);
    // And the invocation fails naming both keys that were not evaluated
    let err = result.unwrap_err();
    assert_eq!(err.error_type(), "KeysNotEvaluated");
    let message = err.to_string();
    let RuleError::Incomplete(incomplete) = err else {
        panic!("expected Incomplete, got {message}")
    };
    assert_eq!(incomplete.failed.len(), 2);
    assert_eq!(incomplete.outcome.evaluations, 1);
    assert!(
        message.contains("2 key(s) could not be evaluated"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "kms:GetKeyRotationStatus {throttled}: ThrottlingException"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "kms:GetKeyRotationStatus {broken}: KMSInternalException"
        )),
        "{message}"
    );
}

// =============================================================================================
// DescribeKey answers
// =============================================================================================

/// A periodic run over one key described by `metadata`, whose rotation status would be off if
/// anyone asked. Returns the evaluation and how many times the status was asked.
async fn one_key(
    parameters: Value,
    metadata: aws_sdk_kms::types::builders::KeyMetadataBuilder,
) -> (aws_sdk_config::types::Evaluation, usize) {
    let id = metadata.get_key_id().clone().unwrap();
    let (d, r, t) = (describe(metadata), rotation_off(&id), tags(&id, &[]));
    let (result, put) = periodic_run(parameters, &[&id], &[&d, &r, &t]).await;
    result.unwrap();
    (put.only(), r.num_calls())
}

#[tokio::test]
async fn aws_managed_key_is_not_applicable_without_reading_its_rotation_status() {
    let (e, status_calls) = one_key(json!({}), key(K).key_manager(KeyManagerType::Aws)).await;
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(annotation(&e).starts_with("AWS managed key"), "{e:?}");
    assert_eq!(status_calls, 0);
}

#[tokio::test]
async fn asymmetric_key_is_not_applicable() {
    let metadata = key(K)
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::SignVerify);
    let (e, status_calls) = one_key(json!({}), metadata).await;
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(
        annotation(&e)
            .starts_with("KeySpec RSA_2048 (asymmetric) does not support automatic rotation"),
        "{e:?}"
    );
    assert_eq!(status_calls, 0);
}

#[tokio::test]
async fn hmac_key_is_not_applicable() {
    let metadata = key(K)
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac);
    let (e, status_calls) = one_key(json!({}), metadata).await;
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(
        annotation(&e).starts_with("KeySpec HMAC_256 (HMAC) does not support automatic rotation"),
        "{e:?}"
    );
    assert_eq!(status_calls, 0);
}

#[tokio::test]
async fn imported_key_material_is_not_applicable() {
    let (e, status_calls) = one_key(json!({}), key(K).origin(OriginType::External)).await;
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(annotation(&e).contains("Origin EXTERNAL"), "{e:?}");
    assert!(annotation(&e).contains("rotate-key-on-demand"), "{e:?}");
    assert_eq!(status_calls, 0);
}

#[tokio::test]
async fn key_in_a_custom_key_store_is_not_applicable() {
    let metadata = key(K)
        .origin(OriginType::AwsCloudhsm)
        .custom_key_store_id("cks-1234567890abcdef0")
        .cloud_hsm_cluster_id("cluster-1a23b4cdefg");
    let (e, status_calls) = one_key(json!({}), metadata).await;
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(
        annotation(&e).contains("custom key store (Origin AWS_CLOUDHSM)"),
        "{e:?}"
    );
    assert_eq!(status_calls, 0);
}

#[tokio::test]
async fn key_pending_deletion_is_not_applicable_without_reading_its_rotation_status() {
    let metadata = key(K)
        .key_state(KeyState::PendingDeletion)
        .enabled(false)
        .deletion_date(aws_smithy_types::DateTime::from_secs(1_765_000_000))
        .pending_deletion_window_in_days(7);
    let (e, status_calls) = one_key(json!({}), metadata).await;
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(
        annotation(&e).starts_with("Key is pending deletion (KeyState PendingDeletion)"),
        "{e:?}"
    );
    assert_eq!(status_calls, 0);
}

#[tokio::test]
async fn disabled_key_is_not_applicable_by_default() {
    let metadata = key(K).key_state(KeyState::Disabled).enabled(false);
    let (e, status_calls) = one_key(json!({}), metadata).await;
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(annotation(&e).starts_with("Key is disabled"), "{e:?}");
    assert!(annotation(&e).contains("evaluateDisabledKeys"), "{e:?}");
    assert_eq!(status_calls, 0);
}

#[tokio::test]
async fn disabled_key_is_evaluated_with_evaluate_disabled_keys() {
    let metadata = key(K).key_state(KeyState::Disabled).enabled(false);
    let (e, status_calls) = one_key(json!({"evaluateDisabledKeys": "true"}), metadata).await;
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(
        annotation(&e).starts_with("Automatic rotation is off."),
        "{e:?}"
    );
    assert_eq!(status_calls, 1);
}

#[tokio::test]
async fn multi_region_replica_is_fixed_through_its_primary() {
    // Given a replica whose primary is in us-west-2, with rotation off
    let primary = "arn:aws:kms:us-west-2:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab";
    let replica = "mrk-1234abcd12ab34cd56ef1234567890ab";
    let metadata = key(replica).multi_region(true).multi_region_configuration(
        MultiRegionConfiguration::builder()
            .multi_region_key_type(MultiRegionKeyType::Replica)
            .primary_key(
                MultiRegionKey::builder()
                    .arn(primary)
                    .region("us-west-2")
                    .build(),
            )
            .replica_keys(
                MultiRegionKey::builder()
                    .arn(key_arn(replica))
                    .region(REGION)
                    .build(),
            )
            .build(),
    );

    // When the rule runs
    let (e, status_calls) = one_key(json!({}), metadata).await;

    // Then it is NON_COMPLIANT, and the annotation points at the primary key
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(
        annotation(&e).contains(&format!("enable rotation on its primary key {primary}")),
        "{e:?}"
    );
    assert_eq!(status_calls, 1);
}

#[tokio::test]
async fn keys_that_cannot_be_described_are_reported_without_reading_their_rotation_status() {
    // Given one key DescribeKey may not see and one deleted after ListKeys
    let (denied, deleted) = ("k-denied", "k-deleted");
    let d_denied = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(move |req| req.key_id() == Some(denied))
        .then_http_response(|| {
            json_error(
                400,
                "AccessDeniedException",
                "not authorized to perform: kms:DescribeKey",
            )
        });
    let d_deleted = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(move |req| req.key_id() == Some(deleted))
        .then_http_response(|| json_error(400, "NotFoundException", "Key does not exist"));

    // When the rule runs (no GetKeyRotationStatus rule: it must not be called)
    let (result, put) = periodic_run(json!({}), &[denied, deleted], &[&d_denied, &d_deleted]).await;

    // Then
    result.unwrap();
    let e = put.of(denied);
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(
        annotation(&e).starts_with("Cannot describe the key: access denied."),
        "{e:?}"
    );
    let e = put.of(deleted);
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert_eq!(annotation(&e), "Key no longer exists.");
}

// =============================================================================================
// Exception tags
// =============================================================================================

/// A periodic run over one key with rotation off and these tags.
async fn rotation_off_with_tags(
    parameters: Value,
    key_tags: &[(&str, &str)],
) -> (aws_sdk_config::types::Evaluation, usize) {
    let (d, r, t) = (describe(key(K)), rotation_off(K), tags(K, key_tags));
    let (result, put) = periodic_run(parameters, &[K], &[&d, &r, &t]).await;
    result.unwrap();
    (put.only(), t.num_calls())
}

#[tokio::test]
async fn valid_exception_tag_makes_a_key_with_rotation_off_not_applicable() {
    let expires = days_from_today(30);
    let value = format!("owner=payments-team expires={expires} ticket=SEC-42");
    let (e, tag_calls) = rotation_off_with_tags(
        json!({}),
        &[("Owner", "x"), ("kms-rotation-exception", &value)],
    )
    .await;
    assert_eq!(tag_calls, 1);
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert_eq!(
        annotation(&e),
        format!("Automatic rotation is off under an approved exception: owner payments-team, expires {expires}, ticket SEC-42.")
    );
}

#[tokio::test]
async fn exception_tag_valid_through_its_expiry_day() {
    let expires = days_from_today(0);
    let value = format!("owner=payments-team expires={expires}");
    let (e, _) = rotation_off_with_tags(json!({}), &[("kms-rotation-exception", &value)]).await;
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
}

#[tokio::test]
async fn expired_exception_tag_is_non_compliant() {
    let expired = days_from_today(-1);
    let value = format!("owner=payments-team expires={expired}");
    let (e, _) = rotation_off_with_tags(json!({}), &[("kms-rotation-exception", &value)]).await;
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(
        annotation(&e).starts_with(&format!("Automatic rotation is off and its exception expired on {expired} (owner payments-team).")),
        "{e:?}"
    );
}

#[tokio::test]
async fn malformed_exception_tag_is_non_compliant_and_says_so() {
    let (e, _) = rotation_off_with_tags(
        json!({}),
        &[("kms-rotation-exception", "approved until 2027")],
    )
    .await;
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(
        annotation(&e).contains("the exception tag kms-rotation-exception is malformed"),
        "{e:?}"
    );
    assert!(
        annotation(&e).contains("expected owner=<who> expires=<YYYY-MM-DD>"),
        "{e:?}"
    );
}

#[tokio::test]
async fn exception_tag_key_parameter_picks_the_tag() {
    // Given the default tag says nothing valid, but the configured tag holds a valid exception
    let value = format!("owner=platform expires={}", days_from_today(10));
    let (e, _) = rotation_off_with_tags(
        json!({"exceptionTagKey": "rotation-waiver"}),
        &[
            ("kms-rotation-exception", "junk"),
            ("rotation-waiver", &value),
        ],
    )
    .await;
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(annotation(&e).contains("owner platform"), "{e:?}");
}

#[tokio::test]
async fn exception_tag_on_a_later_page_of_tags_is_found() {
    // Given ListResourceTags returns the exception tag on its second page
    let expires = days_from_today(30);
    let (d, r) = (describe(key(K)), rotation_off(K));
    let value = format!("owner=payments-team expires={expires}");
    let t = mock!(aws_sdk_kms::Client::list_resource_tags).then_compute_output(move |req| {
        let tag = |k: &str, v: &str| Tag::builder().tag_key(k).tag_value(v).build().unwrap();
        match req.marker() {
            None => ListResourceTagsOutput::builder()
                .tags(tag("Owner", "payments"))
                .truncated(true)
                .next_marker("tags-2")
                .build(),
            Some("tags-2") => ListResourceTagsOutput::builder()
                .tags(tag("kms-rotation-exception", &value))
                .truncated(false)
                .build(),
            Some(other) => panic!("unexpected marker {other}"),
        }
    });

    // When the rule runs
    let (result, put) = periodic_run(json!({}), &[K], &[&d, &r, &t]).await;

    // Then both pages were read and the exception applies
    result.unwrap();
    assert_eq!(t.num_calls(), 2);
    assert_eq!(compliance(&put.only()), "NOT_APPLICABLE");
}

#[tokio::test]
async fn tags_that_cannot_be_read_leave_a_key_with_rotation_off_non_compliant() {
    let (d, r) = (describe(key(K)), rotation_off(K));
    let t = mock!(aws_sdk_kms::Client::list_resource_tags).then_http_response(|| {
        json_error(
            400,
            "AccessDeniedException",
            "not authorized to perform: kms:ListResourceTags",
        )
    });
    let (result, put) = periodic_run(json!({}), &[K], &[&d, &r, &t]).await;
    result.unwrap();
    let e = put.only();
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(
        annotation(&e).starts_with("Automatic rotation is off; the key's tags could not be read to look for an exception (access denied on kms:ListResourceTags"),
        "{e:?}"
    );
}

#[tokio::test]
async fn tags_are_not_read_for_compliant_or_not_applicable_keys() {
    // Given a rotating key, an AWS-managed key and an asymmetric key, all with tags to read
    let (on, aws, rsa) = ("k-on", "k-aws", "k-rsa");
    let d = [
        describe(key(on)),
        describe(key(aws).key_manager(KeyManagerType::Aws)),
        describe(
            key(rsa)
                .key_spec(KeySpec::Rsa4096)
                .key_usage(KeyUsageType::EncryptDecrypt),
        ),
    ];
    let r = rotation_on(on, 365, "2027-05-01T00:00:00Z");
    let t = [on, aws, rsa].map(|id| tags(id, &[]));

    // When the rule runs
    let (result, put) = periodic_run(
        json!({}),
        &[on, aws, rsa],
        &[&d[0], &d[1], &d[2], &r, &t[0], &t[1], &t[2]],
    )
    .await;

    // Then no key's tags were read
    result.unwrap();
    assert_eq!(compliance(&put.of(on)), "COMPLIANT");
    assert_eq!(compliance(&put.of(aws)), "NOT_APPLICABLE");
    assert_eq!(compliance(&put.of(rsa)), "NOT_APPLICABLE");
    for t in &t {
        assert_eq!(t.num_calls(), 0);
    }
}

// =============================================================================================
// maxRotationPeriodInDays
// =============================================================================================

#[tokio::test]
async fn rotation_period_above_the_maximum_is_non_compliant() {
    let (d, r) = (
        describe(key(K)),
        rotation_on(K, 730, "2027-05-01T00:00:00Z"),
    );
    let (result, put) =
        periodic_run(json!({"maxRotationPeriodInDays": "365"}), &[K], &[&d, &r]).await;
    result.unwrap();
    let e = put.only();
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(
        annotation(&e).starts_with(
            "Automatic rotation is on every 730 days, longer than the maximum of 365 days"
        ),
        "{e:?}"
    );
    assert!(
        annotation(&e).contains("--rotation-period-in-days 365"),
        "{e:?}"
    );
}

#[tokio::test]
async fn rotation_period_at_the_maximum_is_compliant() {
    let (d, r) = (
        describe(key(K)),
        rotation_on(K, 365, "2027-05-01T00:00:00Z"),
    );
    let (result, put) =
        periodic_run(json!({"maxRotationPeriodInDays": 365}), &[K], &[&d, &r]).await;
    result.unwrap();
    let e = put.only();
    assert_eq!(compliance(&e), "COMPLIANT");
    assert!(annotation(&e).contains("every 365 days"), "{e:?}");
}

// =============================================================================================
// PutEvaluations
// =============================================================================================

#[tokio::test]
async fn put_evaluations_sends_batches_of_at_most_100() {
    for (keys, calls, sizes) in [
        (0, 0, vec![]),
        (1, 1, vec![1]),
        (100, 1, vec![100]),
        (101, 2, vec![100, 1]),
        (250, 3, vec![100, 100, 50]),
    ] {
        // Given an account with this many keys, all rotating
        let ids: Vec<String> = (0..keys).map(|n| format!("key-{n:04}")).collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let (d, r) = (describe_every_key(), rotation_on_for_every_key());

        // When the rule runs
        let (result, put) = periodic_run(
            json!({"getKeyRotationStatusPerSecond": "1000"}),
            &id_refs,
            &[&d, &r],
        )
        .await;

        // Then the evaluations went in batches of at most 100, each key exactly once
        let outcome = result.unwrap();
        let requests = put.requests();
        assert_eq!(requests.len(), calls, "{keys} keys");
        let got: Vec<usize> = requests.iter().map(|r| r.evaluations().len()).collect();
        assert_eq!(got, sizes, "{keys} keys");
        assert_eq!(put.resource_ids(), ids, "{keys} keys");
        assert_eq!(outcome.evaluations, keys);
        assert_eq!(outcome.put_evaluations_calls, calls);
    }
}

#[tokio::test]
async fn testmode_token_sends_test_mode() {
    let (d, r) = (
        describe(key(K)),
        rotation_on(K, 365, "2027-05-01T00:00:00Z"),
    );
    let (result, put) = periodic_run(json!({}), &[K], &[&d, &r]).await;
    result.unwrap();
    let request = &put.requests()[0];
    assert_eq!(request.result_token(), Some("TESTMODE"));
    assert_eq!(request.test_mode(), Some(true));
}

#[tokio::test]
async fn real_token_is_sent_as_is_without_test_mode() {
    // Given a real result token (so the periodic clean-up also runs, finding nothing)
    let token = "eyJyZXN1bHRUb2tlbiI6InJlYWwifQ==";
    let (list, _) = list_keys(&[&[K]]);
    let (d, r) = (
        describe(key(K)),
        rotation_on(K, 365, "2027-05-01T00:00:00Z"),
    );
    let (details, _) = compliance_details(&[]);
    let put = PutEvaluations::accepting();
    let clients = clients(&[&list, &d, &r], &[&put.rule, &details], &[]);
    let inv = invocation(with_token(event("scheduled.json", ""), token));

    // When the rule runs
    run(&inv, &clients, None, &options()).await.unwrap();

    // Then PutEvaluations carries the token and no TestMode
    let request = &put.requests()[0];
    assert_eq!(request.result_token(), Some(token));
    assert_eq!(request.test_mode(), None);
}

#[tokio::test]
async fn ordering_timestamp_is_the_notification_time_for_periodic_runs() {
    let (d, r) = (
        describe(key(K)),
        rotation_on(K, 365, "2027-05-01T00:00:00Z"),
    );
    let (result, put) = periodic_run(json!({}), &[K], &[&d, &r]).await;
    result.unwrap();
    // scheduled.json: notificationCreationTime
    assert_eq!(ordering_ms(&put.only()), ms("2026-11-28T10:00:00.000Z"));
}

#[tokio::test]
async fn ordering_timestamp_is_the_capture_time_for_change_events() {
    let (result, put) = change_run(event("change-rotation-off.json", K), &[]).await;
    result.unwrap();
    // change-rotation-off.json: configurationItemCaptureTime (not notificationCreationTime)
    assert_eq!(ordering_ms(&put.only()), ms("2026-11-28T09:59:58.123Z"));
}

#[tokio::test]
async fn failed_evaluations_are_sent_again_until_taken() {
    // Given Config refuses the evaluation of k2 once
    let keys = ["k1", "k2", "k3"];
    let (d, r) = (describe_every_key(), rotation_on_for_every_key());
    let (list, _) = list_keys(&[&keys]);
    let put = PutEvaluations::answering(|n, _| if n == 0 { vec!["k2".into()] } else { vec![] });
    let clients = clients(&[&list, &d, &r], &[&put.rule], &[]);

    // When the rule runs
    let outcome = run(&scheduled(json!({})), &clients, None, &options())
        .await
        .unwrap();

    // Then the second call carried only k2, and the run succeeded
    let requests = put.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].evaluations().len(), 3);
    let second: Vec<&str> = requests[1]
        .evaluations()
        .iter()
        .map(|e| e.compliance_resource_id.as_str())
        .collect();
    assert_eq!(second, ["k2"]);
    assert_eq!(requests[1].evaluations()[0], requests[0].evaluations()[1]);
    assert_eq!(outcome.evaluations, 3);
}

#[tokio::test]
async fn evaluations_refused_every_time_fail_the_invocation_naming_them() {
    // Given Config refuses the evaluation of k2 every time
    let keys = ["k1", "k2", "k3"];
    let (d, r) = (describe_every_key(), rotation_on_for_every_key());
    let (list, _) = list_keys(&[&keys]);
    let put = PutEvaluations::answering(|_, _| vec!["k2".into()]);
    let clients = clients(&[&list, &d, &r], &[&put.rule], &[]);

    // When the rule runs
    let err = run(&scheduled(json!({})), &clients, None, &options())
        .await
        .unwrap_err();

    // Then it was sent four times (once and three retries), and the error names it
    assert_eq!(put.requests().len(), 4);
    let message = err.to_string();
    assert!(
        message.contains("config:PutEvaluations did not take 1 evaluation(s) after 3 retries: k2"),
        "{message}"
    );
    let RuleError::Incomplete(incomplete) = err else {
        panic!("expected Incomplete: {message}")
    };
    assert_eq!(incomplete.outcome.evaluations, 2, "k1 and k3 were taken");
}

#[tokio::test]
async fn change_event_evaluation_refused_every_time_fails_naming_the_key() {
    let put = PutEvaluations::answering(|_, _| vec![K.into()]);
    let clients = clients(&[], &[&put.rule], &[]);
    let err = run(
        &invocation(event("change-rotation-off.json", K)),
        &clients,
        None,
        &options(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RuleError::Config(_)), "{err}");
    assert!(
        err.to_string().ends_with(&format!("after 3 retries: {K}")),
        "{err}"
    );
    assert_eq!(put.requests().len(), 4);
}

// =============================================================================================
// Change events
// =============================================================================================

#[tokio::test]
async fn change_event_with_a_full_item_is_decided_without_calling_kms() {
    // Given a change event whose item records everything (rotation off, no tags),
    // and a KMS client that fails any call
    let event = event("change-rotation-off.json", K);

    // When the rule runs
    let (result, put) = change_run(event, &[]).await;

    // Then the key is NON_COMPLIANT from the item alone
    let outcome = result.unwrap();
    let e = put.only();
    assert_eq!(e.compliance_resource_id, K);
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(
        annotation(&e).starts_with("Automatic rotation is off."),
        "{e:?}"
    );
    assert_eq!(outcome.non_compliant, 1);
    assert_eq!(outcome.put_evaluations_calls, 1);
}

#[tokio::test]
async fn change_event_with_rotation_on_reads_the_rotation_status_for_its_next_date() {
    // Given the item says rotation is on (it never says NextRotationDate, which the overdue row
    // needs)
    let mut event = event("change-rotation-off.json", K);
    edit_invoking_event(&mut event, |ie| {
        ie["configurationItem"]["supplementaryConfiguration"]["KeyRotationStatus"] = json!(true)
    });
    let r = rotation_on(K, 365, "2999-05-01T00:00:00Z");
    let (result, put) = change_run(event, &[&r]).await;
    result.unwrap();
    // Then only GetKeyRotationStatus was called (the item has the key's facts and tags)
    assert_eq!(r.num_calls(), 1);
    let e = put.only();
    assert_eq!(compliance(&e), "COMPLIANT");
    assert_eq!(
        annotation(&e),
        "Automatic rotation is on, every 365 days; next rotation 2999-05-01."
    );
}

#[tokio::test]
async fn change_event_finds_an_overdue_rotation_as_the_periodic_run_does() {
    // Given the item says rotation is on, and KMS's next rotation date is a year past
    let mut event = event("change-rotation-off.json", K);
    edit_invoking_event(&mut event, |ie| {
        ie["configurationItem"]["supplementaryConfiguration"]["KeyRotationStatus"] = json!(true)
    });
    let past = (chrono::Utc::now() - chrono::Duration::days(365)).format("%Y-%m-%dT00:00:00Z");
    let r = rotation_on(K, 365, &past.to_string());
    let (result, put) = change_run(event, &[&r]).await;
    result.unwrap();
    // Then it is NON_COMPLIANT, not COMPLIANT from the item's flag alone
    let e = put.only();
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(
        annotation(&e).starts_with("Automatic rotation is on but overdue since"),
        "{e:?}"
    );
}

#[tokio::test]
async fn change_event_with_a_maximum_period_reads_only_the_rotation_status() {
    // Given the item says rotation is on, but never says the period
    let mut event = with_parameters(
        event("change-rotation-off.json", K),
        json!({"maxRotationPeriodInDays": "180"}),
    );
    edit_invoking_event(&mut event, |ie| {
        ie["configurationItem"]["supplementaryConfiguration"]["KeyRotationStatus"] = json!(true)
    });
    let r = rotation_on(K, 365, "2027-05-01T00:00:00Z");

    // When the rule runs (no DescribeKey rule: the item has the key's facts)
    let (result, put) = change_run(event, &[&r]).await;

    // Then only GetKeyRotationStatus was called, and the period decides
    result.unwrap();
    assert_eq!(r.num_calls(), 1);
    let e = put.only();
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(
        annotation(&e).contains("every 365 days, longer than the maximum of 180 days"),
        "{e:?}"
    );
}

#[tokio::test]
async fn change_event_with_a_minimal_item_describes_the_key_and_reads_its_rotation_status() {
    // Given a change event whose item has an empty configuration
    let (d, r) = (
        describe(key(K)),
        rotation_on(K, 365, "2027-05-01T00:00:00Z"),
    );

    // When the rule runs
    let (result, put) = change_run(event("change-minimal.json", K), &[&d, &r]).await;

    // Then DescribeKey and GetKeyRotationStatus were each called once for the key
    result.unwrap();
    assert_eq!(d.num_calls(), 1);
    assert_eq!(r.num_calls(), 1);
    let e = put.only();
    assert_eq!(e.compliance_resource_id, K);
    assert_eq!(compliance(&e), "COMPLIANT");
    assert_eq!(ordering_ms(&e), ms("2026-11-28T09:59:58.123Z"));
}

#[tokio::test]
async fn deleted_key_is_not_applicable_without_calling_kms() {
    let (result, put) = change_run(event("change-deleted.json", K), &[]).await;
    result.unwrap();
    let e = put.only();
    assert_eq!(e.compliance_resource_id, K);
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(
        annotation(&e).starts_with("Configuration item status ResourceDeleted"),
        "{e:?}"
    );
}

#[tokio::test]
async fn key_that_left_the_scope_is_not_applicable_without_calling_kms() {
    let (result, put) = change_run(event("change-left-scope.json", K), &[]).await;
    result.unwrap();
    let e = put.only();
    assert_eq!(e.compliance_resource_id, K);
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert_eq!(annotation(&e), "The key left the rule's scope.");
}

#[tokio::test]
async fn change_event_takes_the_exception_from_the_items_tags() {
    // Given the item records a valid exception tag (and KMS fails any call)
    let expires = days_from_today(30);
    let mut event = event("change-rotation-off.json", K);
    edit_invoking_event(
        &mut event,
        |ie| {
            ie["configurationItem"]["tags"] =
                json!({"kms-rotation-exception": format!("owner=data-team expires={expires}")})
        },
    );

    // When the rule runs
    let (result, put) = change_run(event, &[]).await;

    // Then the exception applies without ListResourceTags
    result.unwrap();
    let e = put.only();
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(
        annotation(&e).contains(&format!("owner data-team, expires {expires}")),
        "{e:?}"
    );
}

// =============================================================================================
// Oversized change events
// =============================================================================================

/// The item GetResourceConfigHistory returns: configuration and supplementary values are JSON text.
fn history_item(rotation: &str) -> aws_sdk_config::types::ConfigurationItem {
    let configuration = json!({
        "keyId": K, "arn": key_arn(K), "keyManager": "CUSTOMER", "keyState": "Enabled",
        "keySpec": "SYMMETRIC_DEFAULT", "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "keyUsage": "ENCRYPT_DECRYPT", "origin": "AWS_KMS", "multiRegion": false
    });
    aws_sdk_config::types::ConfigurationItem::builder()
        .version("1.3")
        .account_id(ACCOUNT)
        .configuration_item_capture_time(aws_smithy_types::DateTime::from_secs(1_764_323_998))
        .configuration_item_status(aws_sdk_config::types::ConfigurationItemStatus::Ok)
        .resource_type(aws_sdk_config::types::ResourceType::Key)
        .resource_id(K)
        .arn(key_arn(K))
        .aws_region(REGION)
        .configuration(configuration.to_string())
        .supplementary_configuration("KeyRotationStatus", rotation)
        .build()
}

#[tokio::test]
async fn oversized_event_reads_the_latest_item_from_config() {
    // Given Config's history holds the item: rotation off (and KMS fails any call)
    let (history, history_calls) = config_history(history_item("false"));
    let put = PutEvaluations::accepting();
    let clients = clients(&[], &[&put.rule, &history], &[]);

    // When the rule runs on an oversized event
    run(
        &invocation(event("oversized.json", K)),
        &clients,
        None,
        &options(),
    )
    .await
    .unwrap();

    // Then the history was asked for the key's latest item only
    let requests = history_calls.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].resource_type(),
        Some(&aws_sdk_config::types::ResourceType::Key)
    );
    assert_eq!(requests[0].resource_id(), Some(K));
    assert_eq!(requests[0].limit(), Some(1));
    // And that item decided, timed at the summary's capture time
    let e = put.only();
    assert_eq!(e.compliance_resource_id, K);
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(
        annotation(&e).starts_with("Automatic rotation is off."),
        "{e:?}"
    );
    assert_eq!(ordering_ms(&e), ms("2026-11-28T09:59:58.123Z"));
}

#[tokio::test]
async fn oversized_event_item_with_rotation_on_is_compliant() {
    // The item from Config's history says rotation is on; GetKeyRotationStatus gives the date
    // the overdue row needs.
    let (history, _) = config_history(history_item("true"));
    let put = PutEvaluations::accepting();
    let r = rotation_on(K, 365, "2999-05-01T00:00:00Z");
    let clients = clients(&[&r], &[&put.rule, &history], &[]);
    run(
        &invocation(event("oversized.json", K)),
        &clients,
        None,
        &options(),
    )
    .await
    .unwrap();
    assert_eq!(compliance(&put.only()), "COMPLIANT");
}

#[tokio::test]
async fn oversized_event_for_an_undiscovered_resource_is_not_applicable() {
    // Given Config has no item for the key
    let history =
        mock!(aws_sdk_config::Client::get_resource_config_history).then_http_response(|| {
            json_error(
                400,
                "ResourceNotDiscoveredException",
                "Resource 1234 of resourceType:AWS::KMS::Key is unknown or has not been discovered",
            )
        });
    let put = PutEvaluations::accepting();
    let clients = clients(&[], &[&put.rule, &history], &[]);

    // When the rule runs
    run(
        &invocation(event("oversized.json", K)),
        &clients,
        None,
        &options(),
    )
    .await
    .unwrap();

    // Then the key is NOT_APPLICABLE
    let e = put.only();
    assert_eq!(e.compliance_resource_id, K);
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(
        annotation(&e).starts_with("AWS Config has no configuration item for this key"),
        "{e:?}"
    );
}

/// AWS Config's own example events (tests/events/aws-examples/, from the AWS Config Developer
/// Guide's "Example Events for AWS Config Rules" and "Example Oversized Configuration Item Change
/// Notification"): an `AWS::EC2::Instance` item. The evaluation must name the item's own resource
/// type (`Evaluation.ComplianceResourceType`, AWS Config API Reference), never a phantom
/// `AWS::KMS::Key` `i-00000000`, and nothing may be read for it: no KMS call, no
/// GetResourceConfigHistory (no mock rule answers them, so such a call fails the test).
#[tokio::test]
async fn items_of_another_resource_type_are_reported_under_their_own_type() {
    for (fixture, capture_ms) in [
        ("aws-examples/change-ec2-instance.json", 1_455_672_994_043),
        (
            "aws-examples/oversized-ec2-instance.json",
            1_475_772_376_261,
        ),
    ] {
        // Given AWS's example event for an EC2 instance, with this rule's (default) parameters
        let put = PutEvaluations::accepting();
        let clients = clients(&[], &[&put.rule], &[]);
        let inv = invocation(with_parameters(event(fixture, ""), json!({})));

        // When the rule runs
        let outcome = run(&inv, &clients, None, &options()).await.unwrap();

        // Then one NOT_APPLICABLE evaluation names the instance under its own type
        assert_eq!(outcome.not_applicable, 1, "{fixture}");
        let e = put.only();
        assert_eq!(
            e.compliance_resource_type, "AWS::EC2::Instance",
            "{fixture}"
        );
        assert_eq!(e.compliance_resource_id, "i-00000000", "{fixture}");
        assert_eq!(compliance(&e), "NOT_APPLICABLE", "{fixture}");
        assert_eq!(
            annotation(&e),
            "Resource type AWS::EC2::Instance is not in this rule's scope (AWS::KMS::Key).",
            "{fixture}"
        );
        assert_eq!(
            e.ordering_timestamp.to_millis().unwrap(),
            capture_ms,
            "{fixture}"
        );
    }
}

/// An item of another type that left the scope, or was deleted, is reported under its own type
/// too.
#[tokio::test]
async fn left_scope_and_deleted_items_of_another_type_keep_their_type() {
    for (left_scope, status) in [(true, "OK"), (false, "ResourceDeleted")] {
        let put = PutEvaluations::accepting();
        let clients = clients(&[], &[&put.rule], &[]);
        let mut payload = with_parameters(
            event("aws-examples/change-ec2-instance.json", ""),
            json!({}),
        );
        payload["eventLeftScope"] = json!(left_scope);
        edit_invoking_event(&mut payload, |ie| {
            ie["configurationItem"]["configurationItemStatus"] = json!(status)
        });
        run(&invocation(payload), &clients, None, &options())
            .await
            .unwrap();
        let e = put.only();
        assert_eq!(e.compliance_resource_type, "AWS::EC2::Instance");
        assert_eq!(compliance(&e), "NOT_APPLICABLE");
    }
}

// =============================================================================================
// Periodic clean-up of deleted keys
// =============================================================================================

#[tokio::test]
async fn periodic_run_reports_keys_that_no_longer_exist_as_not_applicable() {
    // Given Config has results for K and for a key that is gone from KMS, and a real token
    let gone = "0000dead-12ab-34cd-56ef-1234567890ab";
    let (list, _) = list_keys(&[&[K]]);
    let (d, r) = (
        describe(key(K)),
        rotation_on(K, 365, "2027-05-01T00:00:00Z"),
    );
    let (details, details_calls) = compliance_details(&[K, gone]);
    let put = PutEvaluations::accepting();
    let clients = clients(&[&list, &d, &r], &[&put.rule, &details], &[]);
    let inv = invocation(with_token(event("scheduled.json", ""), "real-token"));

    // When the rule runs
    let outcome = run(&inv, &clients, None, &options()).await.unwrap();

    // Then Config was asked for this rule's results, and the gone key is NOT_APPLICABLE
    let requests = details_calls.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].config_rule_name(), Some("kms-rotation-rule"));
    assert_eq!(put.resource_ids(), [gone, K]);
    assert_eq!(compliance(&put.of(K)), "COMPLIANT");
    let e = put.of(gone);
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert_eq!(annotation(&e), "Key no longer exists.");
    assert_eq!(outcome.not_applicable, 1);
}

#[tokio::test]
async fn periodic_run_under_testmode_does_not_clean_up() {
    let (d, r) = (
        describe(key(K)),
        rotation_on(K, 365, "2027-05-01T00:00:00Z"),
    );
    let (list, _) = list_keys(&[&[K]]);
    let (details, details_calls) = compliance_details(&["0000dead-12ab-34cd-56ef-1234567890ab"]);
    let put = PutEvaluations::accepting();
    let clients = clients(&[&list, &d, &r], &[&put.rule, &details], &[]);

    run(&scheduled(json!({})), &clients, None, &options())
        .await
        .unwrap();

    assert_eq!(details_calls.len(), 0);
    assert_eq!(details.num_calls(), 0);
    assert_eq!(put.resource_ids(), [K]);
}

// =============================================================================================
// Cross-account: ExecutionRoleName
// =============================================================================================

#[tokio::test]
async fn execution_role_is_assumed_in_the_events_account_and_used_for_kms_and_config() {
    // Given the rule parameter ExecutionRoleName
    let (sts, sts_calls) = assume_role_ok();
    let (list, _) = list_keys(&[&[K]]);
    let (d, r) = (
        describe(key(K)),
        rotation_on(K, 365, "2027-05-01T00:00:00Z"),
    );
    let put = PutEvaluations::accepting();
    let signers = Signers::default();
    let clients = clients_signed(&[&list, &d, &r], &[&put.rule], &[&sts], &signers);

    // When the rule runs
    run(
        &scheduled(json!({"ExecutionRoleName": "KmsRotationRuleRole"})),
        &clients,
        None,
        &options(),
    )
    .await
    .unwrap();

    // Then the role in the event's account was assumed
    let requests = sts_calls.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].role_arn(),
        Some("arn:aws:iam::123456789012:role/KmsRotationRuleRole")
    );
    // And every KMS and Config request was signed with the role's credentials
    let signed = signers.access_key_ids();
    assert_eq!(
        signed.len(),
        4,
        "ListKeys, DescribeKey, GetKeyRotationStatus, PutEvaluations: {signed:?}"
    );
    assert!(signed.iter().all(|k| k == ASSUMED_ACCESS_KEY), "{signed:?}");
    assert_eq!(compliance(&put.only()), "COMPLIANT");
}

#[tokio::test]
async fn execution_role_arn_uses_the_rules_partition() {
    // Given a rule in the aws-cn partition
    let (sts, sts_calls) = assume_role_ok();
    let (list, _) = list_keys(&[&[]]);
    let put = PutEvaluations::accepting();
    let clients = clients(&[&list], &[&put.rule], &[&sts]);
    let mut event = with_parameters(
        event("scheduled.json", ""),
        json!({"ExecutionRoleName": "R"}),
    );
    event["configRuleArn"] =
        json!("arn:aws-cn:config:cn-north-1:123456789012:config-rule/config-rule-kmsrot");

    // When the rule runs
    run(&invocation(event), &clients, None, &options())
        .await
        .unwrap();

    // Then the role ARN is in aws-cn
    assert_eq!(
        sts_calls.requests()[0].role_arn(),
        Some("arn:aws-cn:iam::123456789012:role/R")
    );
}

#[tokio::test]
async fn execution_role_that_cannot_be_assumed_fails_before_any_kms_or_config_call() {
    // Given STS refuses the role (and KMS and Config fail any call)
    let sts = mock!(aws_sdk_sts::Client::assume_role).then_http_response(|| {
        query_error(
            403,
            "AccessDenied",
            "User: arn:aws:sts::111122223333:assumed-role/rule/fn is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/R",
        )
    });
    let clients = clients(&[], &[], &[&sts]);

    // When the rule runs
    let err = run(
        &scheduled(json!({"ExecutionRoleName": "R"})),
        &clients,
        None,
        &options(),
    )
    .await
    .unwrap_err();

    // Then it fails with AssumeRole naming the role, after one STS call
    assert!(matches!(err, RuleError::AssumeRole(_)), "{err}");
    assert_eq!(err.error_type(), "AssumeRoleFailed");
    let message = err.to_string();
    assert!(
        message
            .starts_with("sts:AssumeRole arn:aws:iam::123456789012:role/R failed: AccessDenied: "),
        "{message}"
    );
    assert_eq!(sts.num_calls(), 1);
}

// =============================================================================================
// Bad input
// =============================================================================================

#[test]
fn every_fixture_parses_or_is_refused_with_a_clear_message() {
    for name in FIXTURES {
        let result = Invocation::parse(event(name, K));
        match *name {
            "scheduled.json"
            | "bad-parameters.json"
            | "unknown-message-type.json"
            | "malformed.json" => {}
            _ => {
                let inv = result.as_ref().unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(inv.account_id, ACCOUNT, "{name}");
                assert_eq!(
                    inv.config_rule_name.as_deref(),
                    Some("kms-rotation-rule"),
                    "{name}"
                );
                assert!(inv.result_token.is_test_mode(), "{name}");
            }
        }
        match (*name, result) {
            ("scheduled.json", Ok(inv)) => assert!(matches!(inv.message, Message::Scheduled { .. })),
            ("change-left-scope.json", Ok(inv)) => {
                assert!(inv.event_left_scope);
                let Message::Change(item) = inv.message else { panic!("{name}") };
                assert_eq!(item.resource_id, K);
            }
            ("change-rotation-off.json" | "change-minimal.json", Ok(inv)) => {
                assert!(!inv.event_left_scope);
                let Message::Change(item) = inv.message else { panic!("{name}") };
                assert_eq!(item.resource_id, K);
                assert_eq!(item.arn.as_deref(), Some(key_arn(K).as_str()));
                assert!(item.is_live());
                assert_eq!(item.key_facts().is_some(), *name == "change-rotation-off.json", "{name}");
            }
            ("change-deleted.json", Ok(inv)) => {
                let Message::Change(item) = inv.message else { panic!("{name}") };
                assert_eq!(item.resource_id, K);
                assert!(!item.is_live());
            }
            ("oversized.json", Ok(inv)) => {
                let Message::Oversized(summary) = inv.message else { panic!("{name}") };
                assert_eq!(summary.resource_id, K);
                assert_eq!(summary.resource_type, "AWS::KMS::Key");
            }
            ("malformed.json", Err(e)) => {
                assert!(matches!(e, EventError::InvokingEvent(_)), "{e:?}");
                assert!(e.to_string().starts_with("invokingEvent is not valid JSON for its messageType: "), "{e}");
            }
            ("unknown-message-type.json", Err(e)) => assert_eq!(
                e.to_string(),
                "unknown invokingEvent messageType \"ConfigurationSnapshotDeliveryCompleted\"; expected ConfigurationItemChangeNotification, OversizedConfigurationItemChangeNotification or ScheduledNotification"
            ),
            ("bad-parameters.json", Err(e)) => {
                assert!(matches!(e, EventError::Parameters(_)), "{e:?}");
                assert_eq!(
                    e.to_string(),
                    "rule parameter maxRotationPeriodInDays must be an integer from 90 to 2560, got 30"
                );
            }
            (name, result) => panic!("{name}: unexpected {result:?}"),
        }
    }
}

#[test]
fn payloads_that_are_not_config_events_are_refused_without_panicking() {
    for (payload, expected) in [
        (json!([1, 2, 3]), "the event is not an AWS Config rule event: "),
        (json!("hello"), "the event is not an AWS Config rule event: "),
        (json!({}), "the event is not an AWS Config rule event: missing field `eventLeftScope`"),
        (json!({"eventLeftScope": false}), "the Config event has no resultToken"),
        (json!({"eventLeftScope": false, "resultToken": "TESTMODE"}), "the Config event has no invokingEvent"),
        (
            json!({"eventLeftScope": false, "resultToken": "TESTMODE", "invokingEvent": "{\"messageType\":\"ScheduledNotification\"}", "accountId": ACCOUNT}),
            "invokingEvent is not valid JSON for its messageType: ScheduledNotification has no notificationCreationTime",
        ),
    ] {
        let err = Invocation::parse(payload.clone()).unwrap_err();
        assert!(err.to_string().starts_with(expected), "{payload}: {err}");
    }
    let mut no_account = event("scheduled.json", "");
    no_account.as_object_mut().unwrap().remove("accountId");
    assert_eq!(
        Invocation::parse(no_account).unwrap_err().to_string(),
        "the Config event has no accountId"
    );
}

#[tokio::test]
async fn lambda_handler_reports_bad_events_with_their_error_type() {
    for (name, error_type, message) in [
        (
            "malformed.json",
            "InvalidEvent",
            "invokingEvent is not valid JSON",
        ),
        (
            "unknown-message-type.json",
            "InvalidEvent",
            "unknown invokingEvent messageType",
        ),
        (
            "bad-parameters.json",
            "InvalidRuleParameters",
            "rule parameter maxRotationPeriodInDays",
        ),
    ] {
        // Given clients that fail any call
        let clients = clients(&[], &[], &[]);
        let payload = event(name, K);

        // When the handler gets the event
        let event = lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default());
        let err = kms_rotation::lambda::handler(event, &clients, &options())
            .await
            .unwrap_err();

        // Then it fails with the stable error type and a clear message
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, error_type, "{name}");
        assert!(
            diagnostic.error_message.starts_with(message),
            "{name}: {}",
            diagnostic.error_message
        );
    }
}

#[tokio::test]
async fn lambda_handler_runs_a_good_event() {
    let put = PutEvaluations::accepting();
    let clients = clients(&[], &[&put.rule], &[]);
    let event = lambda_runtime::LambdaEvent::new(
        event("change-deleted.json", K),
        lambda_runtime::Context::default(),
    );
    let outcome = kms_rotation::lambda::handler(event, &clients, &options())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(outcome.not_applicable, 1);
    assert_eq!(compliance(&put.only()), "NOT_APPLICABLE");
}

// =============================================================================================
// Proof of rotation: ListKeyRotations (maxKeyMaterialAgeInDays)
// =============================================================================================

/// ListKeyRotations (KMS API Reference: `Rotations[].RotationDate`, `KeyMaterialState`,
/// `Truncated`/`NextMarker`), answered in two pages: an automatic rotation on `first`, then an
/// on-demand rotation on `second` and imported material still `PENDING_ROTATION` dated the day
/// before today's test date, which is not current key material.
fn key_rotations(first: &str, second: &str) -> (Rule, Recorder<ListKeyRotationsInput>) {
    use aws_sdk_kms::types::{KeyMaterialState, RotationType, RotationsListEntry};
    let calls = Recorder::default();
    let recorder = calls.clone();
    let (first, second) = (first.to_owned(), second.to_owned());
    let date = |d: &str| {
        aws_smithy_types::DateTime::from_str(
            &format!("{d}T00:00:00Z"),
            aws_smithy_types::date_time::Format::DateTime,
        )
        .unwrap()
    };
    let rule = mock!(aws_sdk_kms::Client::list_key_rotations).then_compute_output(move |req| {
        recorder.push(req);
        match req.marker() {
            None => ListKeyRotationsOutput::builder()
                .rotations(
                    RotationsListEntry::builder()
                        .key_id(K)
                        .rotation_date(date(&first))
                        .rotation_type(RotationType::Automatic)
                        .build(),
                )
                .truncated(true)
                .next_marker("rotations-2")
                .build(),
            Some(_) => ListKeyRotationsOutput::builder()
                .rotations(
                    RotationsListEntry::builder()
                        .key_id(K)
                        .rotation_date(date(&second))
                        .rotation_type(RotationType::OnDemand)
                        .build(),
                )
                .rotations(
                    RotationsListEntry::builder()
                        .key_id(K)
                        .rotation_date(date("2099-01-01"))
                        .key_material_state(KeyMaterialState::PendingRotation)
                        .build(),
                )
                .truncated(false)
                .build(),
        }
    });
    (rule, calls)
}

fn old_key() -> Rule {
    describe(key(K).creation_date(aws_smithy_types::DateTime::from_secs(1_704_067_200)))
    // 2024-01-01
}

async fn scheduled_one_key(
    parameters: Value,
    kms: &[&Rule],
) -> (Result<Outcome, RuleError>, PutEvaluations) {
    let (l, _) = list_keys(&[&[K]]);
    let put = PutEvaluations::accepting();
    let mut rules: Vec<&Rule> = vec![&l];
    rules.extend_from_slice(kms);
    let clients = clients(&rules, &[&put.rule], &[]);
    let result = run(&scheduled(parameters), &clients, None, &options()).await;
    (result, put)
}

#[tokio::test]
async fn key_material_age_comes_from_every_page_of_list_key_rotations() {
    // Given a key created 2024-01-01 with rotation on, and a maximum material age of 180 days
    let params = json!({"maxKeyMaterialAgeInDays": "180"});
    let r = rotation_on(K, 365, "2099-05-01T00:00:00Z");

    // When its last rotation (page 2) was recent, it is COMPLIANT; the material waiting in
    // PENDING_ROTATION (dated in the future) was not taken as the current one
    let recent = days_from_today(-30);
    let (rotations, calls) = key_rotations("2024-06-01", &recent);
    let (result, put) = scheduled_one_key(params.clone(), &[&old_key(), &r, &rotations]).await;
    result.unwrap();
    assert_eq!(compliance(&put.only()), "COMPLIANT", "{:?}", put.only());
    let asked = calls.requests();
    assert_eq!(asked.len(), 2, "both pages read");
    assert_eq!(asked[1].marker(), Some("rotations-2"));
    assert_eq!(asked[0].key_id(), Some(K));

    // When its last rotation is 2025-01-01, it is NON_COMPLIANT with the date and the fix
    let r = rotation_on(K, 365, "2099-05-01T00:00:00Z");
    let (rotations, _) = key_rotations("2024-06-01", "2025-01-01");
    let (result, put) = scheduled_one_key(params, &[&old_key(), &r, &rotations]).await;
    result.unwrap();
    let e = put.only();
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(annotation(&e).contains("(last rotated 2025-01-01), older than the maximum of 180 days (maxKeyMaterialAgeInDays). Fix: aws kms rotate-key-on-demand"), "{e:?}");
}

#[tokio::test]
async fn list_key_rotations_errors_are_verdicts_or_name_the_key() {
    let params = json!({"maxKeyMaterialAgeInDays": "180"});
    // Access denied: NON_COMPLIANT, naming the permission
    let r = rotation_on(K, 365, "2099-05-01T00:00:00Z");
    let denied = mock!(aws_sdk_kms::Client::list_key_rotations).then_http_response(|| {
        json_error(
            400,
            "AccessDeniedException",
            "not authorized to perform: kms:ListKeyRotations",
        )
    });
    let (result, put) = scheduled_one_key(params.clone(), &[&old_key(), &r, &denied]).await;
    result.unwrap();
    let e = put.only();
    assert_eq!(compliance(&e), "NON_COMPLIANT");
    assert!(
        annotation(&e).contains("Grant kms:ListKeyRotations"),
        "{e:?}"
    );

    // Throttled past the retries: no evaluation, the key is named
    let r = rotation_on(K, 365, "2099-05-01T00:00:00Z");
    let throttled = mock!(aws_sdk_kms::Client::list_key_rotations)
        .sequence()
        .http_response(throttling)
        .repeatedly()
        .build();
    let (result, put) = scheduled_one_key(params, &[&old_key(), &r, &throttled]).await;
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains(&format!("kms:ListKeyRotations {K}: ThrottlingException")),
        "{message}"
    );
    assert!(put.evaluations().is_empty());
    assert_eq!(throttled.num_calls(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn the_default_run_never_calls_list_key_rotations() {
    // Given the default parameters and a key old enough to be checked if the parameter were set
    // (no ListKeyRotations rule: a call would fail the test)
    let r = rotation_on(K, 365, "2099-05-01T00:00:00Z");
    let (result, put) = scheduled_one_key(json!({}), &[&old_key(), &r]).await;
    result.unwrap();
    assert_eq!(compliance(&put.only()), "COMPLIANT");
    // Nor with the parameter, for a key younger than the maximum (its material cannot be older)
    let r = rotation_on(K, 365, "2099-05-01T00:00:00Z");
    let young = describe(key(K).creation_date(aws_smithy_types::DateTime::from_secs(
        chrono::Utc::now().timestamp() - 10 * 86_400,
    )));
    let (result, put) =
        scheduled_one_key(json!({"maxKeyMaterialAgeInDays": "90"}), &[&young, &r]).await;
    result.unwrap();
    assert_eq!(compliance(&put.only()), "COMPLIANT");
}

// =============================================================================================
// Errors recognized by the operation's error type, not by their code
// =============================================================================================

/// An error's metadata with a message and no code: what a modeled error built in code carries.
/// The reader must recognize such an error by its type alone.
fn no_code(message: &str) -> aws_smithy_types::error::ErrorMetadata {
    aws_smithy_types::error::ErrorMetadata::builder()
        .message(message)
        .build()
}

#[tokio::test]
async fn modeled_kms_errors_are_recognized_by_their_type() {
    use aws_sdk_kms::operation::describe_key::DescribeKeyError;
    use aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusError;
    use aws_sdk_kms::types::error::{NotFoundException, UnsupportedOperationException};

    // Given DescribeKey's NotFoundException for one key, GetKeyRotationStatus's
    // UnsupportedOperationException and NotFoundException for two others, none with a code
    let (deleted, unsupported, gone) = ("k-deleted", "k-unsupported", "k-gone");
    let d_deleted = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(move |req| req.key_id() == Some(deleted))
        .then_error(|| {
            DescribeKeyError::NotFoundException(
                NotFoundException::builder()
                    .meta(no_code("Key does not exist"))
                    .build(),
            )
        });
    let d_unsupported = describe(key(unsupported));
    let d_gone = describe(key(gone));
    let r_unsupported = mock!(aws_sdk_kms::Client::get_key_rotation_status)
        .match_requests(move |req| req.key_id() == Some(unsupported))
        .then_error(|| {
            GetKeyRotationStatusError::UnsupportedOperationException(
                UnsupportedOperationException::builder()
                    .meta(no_code(
                        "origin is EXTERNAL which is not valid for this operation.",
                    ))
                    .build(),
            )
        });
    let r_gone = mock!(aws_sdk_kms::Client::get_key_rotation_status)
        .match_requests(move |req| req.key_id() == Some(gone))
        .then_error(|| {
            GetKeyRotationStatusError::NotFoundException(
                NotFoundException::builder()
                    .meta(no_code("Key does not exist"))
                    .build(),
            )
        });

    // When the rule runs
    let (result, put) = periodic_run(
        json!({}),
        &[deleted, unsupported, gone],
        &[&d_deleted, &d_unsupported, &d_gone, &r_unsupported, &r_gone],
    )
    .await;

    // Then each is a verdict, not a failed key, after one call each
    result.unwrap();
    let e = put.of(deleted);
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert_eq!(annotation(&e), "Key no longer exists.");
    let e = put.of(unsupported);
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(
        annotation(&e).starts_with("KMS does not support automatic rotation for this key: "),
        "{e:?}"
    );
    assert!(annotation(&e).contains("origin is EXTERNAL"), "{e:?}");
    let e = put.of(gone);
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert_eq!(annotation(&e), "Key no longer exists.");
    assert_eq!(d_deleted.num_calls(), 1);
    assert_eq!(r_unsupported.num_calls(), 1);
    assert_eq!(r_gone.num_calls(), 1);
}

#[tokio::test]
async fn key_deleted_before_its_rotations_are_listed_is_not_applicable() {
    use aws_sdk_kms::operation::list_key_rotations::ListKeyRotationsError;
    use aws_sdk_kms::types::error::NotFoundException;

    let params = json!({"maxKeyMaterialAgeInDays": "180"});
    // Given ListKeyRotations answers NotFoundException as KMS sends it
    let r = rotation_on(K, 365, "2099-05-01T00:00:00Z");
    let gone = mock!(aws_sdk_kms::Client::list_key_rotations)
        .then_http_response(|| json_error(400, "NotFoundException", "Key does not exist"));
    let (result, put) = scheduled_one_key(params.clone(), &[&old_key(), &r, &gone]).await;
    // Then the key is NOT_APPLICABLE
    result.unwrap();
    let e = put.only();
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert_eq!(annotation(&e), "Key no longer exists.");
    assert_eq!(gone.num_calls(), 1);

    // And the same for the modeled error without a code
    let r = rotation_on(K, 365, "2099-05-01T00:00:00Z");
    let gone = mock!(aws_sdk_kms::Client::list_key_rotations).then_error(|| {
        ListKeyRotationsError::NotFoundException(
            NotFoundException::builder()
                .meta(no_code("Key does not exist"))
                .build(),
        )
    });
    let (result, put) = scheduled_one_key(params, &[&old_key(), &r, &gone]).await;
    result.unwrap();
    let e = put.only();
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert_eq!(annotation(&e), "Key no longer exists.");
}

#[tokio::test]
async fn undiscovered_resource_is_recognized_by_its_type() {
    use aws_sdk_config::operation::get_resource_config_history::GetResourceConfigHistoryError;
    use aws_sdk_config::types::error::ResourceNotDiscoveredException;

    // Given Config's history answers the modeled ResourceNotDiscoveredException without a code
    let history = mock!(aws_sdk_config::Client::get_resource_config_history).then_error(|| {
        GetResourceConfigHistoryError::ResourceNotDiscoveredException(
            ResourceNotDiscoveredException::builder()
                .meta(no_code("Resource has not been discovered"))
                .build(),
        )
    });
    let put = PutEvaluations::accepting();
    let clients = clients(&[], &[&put.rule, &history], &[]);

    // When the rule runs on an oversized event
    run(
        &invocation(event("oversized.json", K)),
        &clients,
        None,
        &options(),
    )
    .await
    .unwrap();

    // Then the key is NOT_APPLICABLE
    let e = put.only();
    assert_eq!(compliance(&e), "NOT_APPLICABLE");
    assert!(
        annotation(&e).starts_with("AWS Config has no configuration item for this key"),
        "{e:?}"
    );
}

#[tokio::test]
async fn security_hub_not_enabled_is_recognized_by_its_type_and_explained() {
    use aws_sdk_securityhub::operation::get_findings::GetFindingsError;
    use aws_sdk_securityhub::types::error::InvalidAccessException;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use kms_rotation::cli::commands::securityhub::explain;
    use kms_rotation::securityhub::Hub;

    /// A restJson1 error, as Security Hub sends it.
    fn hub_error(status: u16, code: &str, message: &str) -> HttpResponse {
        let body = json!({ "Code": code, "Message": message }).to_string();
        let mut r = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
        r.headers_mut().insert("x-amzn-errortype", code.to_owned());
        r
    }
    fn hub(rule: &Rule) -> Hub {
        let client = aws_smithy_mocks::mock_client!(
            aws_sdk_securityhub,
            aws_smithy_mocks::RuleMode::MatchAny,
            &[rule]
        );
        Hub::new(client, REGION)
    }

    let not_enabled_text =
        format!("Security Hub is not enabled in {REGION} for this account: enable it");

    // Given GetFindings answers InvalidAccessException, as Security Hub sends it
    let rule = mock!(aws_sdk_securityhub::Client::get_findings).then_http_response(|| {
        hub_error(
            401,
            "InvalidAccessException",
            "Account 123456789012 is not subscribed to AWS Security Hub",
        )
    });
    let e = hub(&rule).control_findings("aws").await.unwrap_err();
    // Then the error says so, and the CLI explains it
    assert!(e.not_enabled, "{e:?}");
    assert_eq!(e.code.as_deref(), Some("InvalidAccessException"));
    assert!(
        explain(&e).starts_with(&not_enabled_text),
        "{}",
        explain(&e)
    );

    // And the modeled error without a code is recognized the same
    let rule = mock!(aws_sdk_securityhub::Client::get_findings).then_error(|| {
        GetFindingsError::InvalidAccessException(
            InvalidAccessException::builder()
                .meta(no_code("not subscribed"))
                .build(),
        )
    });
    let e = hub(&rule)
        .own_findings("arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default")
        .await
        .unwrap_err();
    assert!(e.not_enabled, "{e:?}");
    assert!(
        explain(&e).starts_with(&not_enabled_text),
        "{}",
        explain(&e)
    );

    // While access denied (no model defines it for GetFindings) is not "not enabled"
    let rule = mock!(aws_sdk_securityhub::Client::get_findings).then_http_response(|| {
        hub_error(
            403,
            "AccessDeniedException",
            "not authorized to perform: securityhub:GetFindings",
        )
    });
    let e = hub(&rule).control_findings("aws").await.unwrap_err();
    assert!(!e.not_enabled, "{e:?}");
    assert!(
        explain(&e).starts_with(&format!(
            "access denied on securityhub:GetFindings in {REGION}"
        )),
        "{}",
        explain(&e)
    );
}

// =============================================================================================
// AWS managed keys known by their aliases (no DescribeKey)
// =============================================================================================

fn alias(name: &str, target: Option<&str>) -> aws_sdk_kms::types::AliasListEntry {
    aws_sdk_kms::types::AliasListEntry::builder()
        .alias_name(name)
        .set_target_key_id(target.map(str::to_owned))
        .build()
}

/// ListAliases in two pages: an AWS managed key's alias, a customer key's, and a predefined
/// `alias/aws/...` that names no key.
fn two_pages_of_aliases(aws_managed: &str, customer: &str) -> Rule {
    let (a, c) = (aws_managed.to_owned(), customer.to_owned());
    mock!(aws_sdk_kms::Client::list_aliases).then_compute_output(move |req| match req.marker() {
        None => aws_sdk_kms::operation::list_aliases::ListAliasesOutput::builder()
            .aliases(alias("alias/aws/s3", Some(&a)))
            .aliases(alias("alias/aws/dynamodb", None))
            .truncated(true)
            .next_marker("page-2")
            .build(),
        Some(_) => aws_sdk_kms::operation::list_aliases::ListAliasesOutput::builder()
            .aliases(alias("alias/app-payments", Some(&c)))
            .truncated(false)
            .build(),
    })
}

#[tokio::test]
async fn an_aws_managed_key_named_by_its_alias_is_not_applicable_without_describe_key() {
    use kms_rotation::evaluate::{evaluate_listed_key, AwsManagedKeys};
    use kms_rotation::kms::KmsReader;
    use kms_rotation::params::RuleParameters;
    let (aws_managed, customer) = ("aaaa0000-0000-0000-0000-000000000001", K);
    // Given the account's aliases (two pages), and DescribeKey answering only for the customer
    // key
    let aliases = two_pages_of_aliases(aws_managed, customer);
    let (d, r) = (
        describe(key(customer)),
        rotation_on(customer, 365, "2999-05-01T00:00:00Z"),
    );
    let clients = clients(&[&aliases, &d, &r], &[], &[]);
    let params = RuleParameters::default();
    let kms = KmsReader::new(clients.kms, &params);
    let today = chrono::Utc::now().date_naive();

    // When the aliases are learnt, then both keys evaluated
    let known = AwsManagedKeys::default();
    assert_eq!(known.learn(&kms).await.unwrap(), 1, "one AWS managed key");
    assert_eq!(aliases.num_calls(), 2, "both pages read");
    let by_alias = evaluate_listed_key(&kms, aws_managed, &known, &params, today)
        .await
        .unwrap();
    let described = evaluate_listed_key(&kms, customer, &known, &params, today)
        .await
        .unwrap();

    // Then the AWS managed key is NOT_APPLICABLE (AWS_MANAGED) with no DescribeKey, and the
    // customer key (its alias is not alias/aws/) is described and decided
    assert_eq!(by_alias.verdict.reason.code(), "AWS_MANAGED");
    assert!(
        by_alias
            .verdict
            .annotation
            .starts_with("AWS managed key (alias/aws/s3):"),
        "{by_alias:?}"
    );
    assert!(by_alias.facts.is_none());
    assert_eq!(d.num_calls(), 1, "only the customer key was described");
    assert_eq!(described.verdict.reason.code(), "ROTATION_ON");
}

#[tokio::test]
async fn aliases_that_cannot_be_read_leave_every_key_described() {
    use kms_rotation::evaluate::{evaluate_listed_key, AwsManagedKeys};
    use kms_rotation::kms::KmsReader;
    use kms_rotation::params::RuleParameters;
    // Given ListAliases is denied (a role deployed before kms:ListAliases was granted)
    let denied = mock!(aws_sdk_kms::Client::list_aliases).then_http_response(|| {
        json_error(
            400,
            "AccessDeniedException",
            "not authorized to perform: kms:ListAliases",
        )
    });
    let aws_managed = "aaaa0000-0000-0000-0000-000000000001";
    let d = describe(key(aws_managed).key_manager(KeyManagerType::Aws));
    let clients = clients(&[&denied, &d], &[], &[]);
    let params = RuleParameters::default();
    let kms = KmsReader::new(clients.kms, &params);

    // When the aliases are learnt and the key evaluated
    let known = AwsManagedKeys::default();
    let e = known.learn(&kms).await.unwrap_err();
    assert_eq!(e.operation, "ListAliases");
    let got = evaluate_listed_key(
        &kms,
        aws_managed,
        &known,
        &params,
        chrono::Utc::now().date_naive(),
    )
    .await
    .unwrap();

    // Then DescribeKey decides it, as before aliases were read
    assert_eq!(d.num_calls(), 1);
    assert_eq!(got.verdict.reason.code(), "AWS_MANAGED");
    assert!(got.facts.is_some());
}

// ---------------------------------------------------------------------------------------------
// Key policies: the exposure `remediate` orders by
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn key_policy_is_read_as_default_and_access_denied_makes_the_exposure_unknown() {
    use kms_rotation::cli::key_policy::key_policy as read_key_policy;
    use kms_rotation::exposure::{classify, Exposure};
    use kms_rotation::kms::KmsReader;
    use kms_rotation::params::RuleParameters;

    // Given a key whose policy lets anyone in, and one whose policy the caller may not read
    let public = json!({"Version": "2012-10-17", "Statement": {
        "Sid": "Open", "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "kms:Decrypt", "Resource": "*"
    }})
    .to_string();
    let (readable, calls) = key_policy(K, &public);
    let denied = mock!(aws_sdk_kms::Client::get_key_policy)
        .match_requests(|req| req.key_id() == Some("denied"))
        .then_http_response(|| {
            json_error(
                400,
                "AccessDeniedException",
                "not authorized to perform: kms:GetKeyPolicy",
            )
        });
    let throttled = mock!(aws_sdk_kms::Client::get_key_policy)
        .match_requests(|req| req.key_id() == Some("throttled"))
        .sequence()
        .http_response(throttling)
        .repeatedly()
        .build();
    let kms = KmsReader::new(
        clients(&[&readable, &denied, &throttled], &[], &[]).kms,
        &RuleParameters::default(),
    );

    // When the policies are read
    let text = read_key_policy(&kms, K).await.unwrap().expect("a policy");
    let none = read_key_policy(&kms, "denied").await.unwrap();
    let error = read_key_policy(&kms, "throttled").await.unwrap_err();

    // Then the policy named "default" is read and classified; access denied is no policy (unknown)
    assert_eq!(
        calls
            .requests()
            .iter()
            .map(|r| r.policy_name().unwrap_or_default().to_owned())
            .collect::<Vec<_>>(),
        ["default"]
    );
    let got = classify(&text, ACCOUNT, None);
    assert_eq!(got.exposure, Exposure::Public);
    assert!(
        got.reason.starts_with("Statement[0] (Sid \"Open\")"),
        "{got:?}"
    );
    assert_eq!(none, None);
    // Other errors are errors, after the SDK's retries, naming the operation and key.
    assert_eq!(error.operation, "GetKeyPolicy");
    assert_eq!(error.key_id, "throttled");
    assert_eq!(error.code.as_deref(), Some("ThrottlingException"));
}
