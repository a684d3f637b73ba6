"""The rule end to end: the real binary, under the Lambda runtime emulator (`cargo lambda watch`),
against moto. Every assertion is on what reached moto (its request recorder)."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from collections import Counter

import pytest

import localaws
from localaws import ROOT, event, put_evaluations

NOTIFICATION_TIME = "2026-11-28T10:00:00.000Z"
PAGE_SIZE = 7


def kms_calls(requests):
    return [r for r in requests if r["headers"].get("X-Amz-Target", "").startswith("TrentService.")]


def only_evaluation(requests):
    batches = put_evaluations(requests)
    assert len(batches) == 1 and len(batches[0]) == 1, batches
    return batches[0][0]


# The cases `localaws.seed_account` creates with rotation on, and with rotation off on a key that
# could rotate (symmetric, AWS_KMS origin, Enabled); every other named case cannot rotate or is
# not evaluated. Filler i rotates when i is even.
ROTATING_CASES = {"rotation-on", "rotation-on-180-days"}
ROTATION_OFF_CASES = {"rotation-off", "prod-rotation-off", "exception-valid", "exception-expired",
                      "exception-malformed", "multi-region-replica"}


def seeded_rotation(key) -> str | None:
    """'on' or 'off' for a seeded key that could rotate, None for one that cannot or is skipped."""
    if key.case.startswith("filler-"):
        return "on" if int(key.case.removeprefix("filler-")) % 2 == 0 else "off"
    if key.case in ROTATING_CASES:
        return "on"
    if key.case in ROTATION_OFF_CASES:
        return "off"
    return None


def key_ids_asked(requests, target: str) -> Counter:
    """How many times each key id was the KeyId of a `target` request (an id or an ARN)."""
    return Counter(r["body"]["KeyId"].rsplit("/", 1)[-1] for r in kms_calls(requests) if r["target"] == target)


def test_periodic_run_over_a_mixed_account(rule, moto, kms_for_region):
    """30 keys (14 cases and 16 fillers), listed in pages of 7 (the rule's
    KMS_ROTATION_LIST_KEYS_PAGE_SIZE in this suite)."""
    keys = localaws.seed_account(kms_for_region, fillers=16)
    assert len(keys) == 30
    moto.start_recording()

    ok, result = rule.invoke(event("scheduled"))

    assert ok, result
    requests = moto.recorded()
    batches = put_evaluations(requests)
    evaluations = [e for batch in batches for e in batch]
    assert all(len(b) <= 100 for b in batches)
    by_id = {e["ComplianceResourceId"]: e for e in evaluations}
    # Every key in the Region, exactly once; nothing else.
    assert Counter(e["ComplianceResourceId"] for e in evaluations) == Counter({k.key_id: 1 for k in keys})
    for key in keys:
        e = by_id[key.key_id]
        assert e["ComplianceType"] == key.expected, (key.case, e)
        assert key.says in e["Annotation"], (key.case, e["Annotation"])
        assert len(e["Annotation"]) <= 256
        assert e["ComplianceResourceType"] == "AWS::KMS::Key"
    # OrderingTimestamp is the notification's creation time (boto3 sends epoch seconds).
    assert {e["OrderingTimestamp"] for e in evaluations} == {1795860000}
    put = [r for r in requests if r["target"] == "PutEvaluations"]
    assert all(r["body"].get("TestMode") is True and r["body"]["ResultToken"] == "TESTMODE" for r in put)
    assert result["evaluations"] == len(keys)
    assert result["nonCompliant"] == sum(k.expected == "NON_COMPLIANT" for k in keys)
    # API economy, key by key, from how each key was seeded: one DescribeKey per key;
    # GetKeyRotationStatus once for each key that could rotate; tags once for each key that could
    # rotate and does not (the only keys an exception can matter for).
    could_rotate = {k.key_id: 1 for k in keys if seeded_rotation(k) is not None}
    rotation_off = {k.key_id: 1 for k in keys if seeded_rotation(k) == "off"}
    assert len(could_rotate) == 2 + 6 + 16 and len(rotation_off) == 6 + 8
    assert key_ids_asked(requests, "DescribeKey") == Counter({k.key_id: 1 for k in keys})
    assert key_ids_asked(requests, "GetKeyRotationStatus") == Counter(could_rotate)
    assert key_ids_asked(requests, "ListResourceTags") == Counter(rotation_off)
    list_keys = [r["body"] for r in requests if r["target"] == "ListKeys"]
    assert len(list_keys) == -(-len(keys) // PAGE_SIZE) > 1
    assert all(body["Limit"] == PAGE_SIZE for body in list_keys)
    assert [body.get("Marker") for body in list_keys] == [None] + [str(PAGE_SIZE * i) for i in range(1, len(list_keys))]


def test_after_remediation_the_rule_finds_every_fixable_key_compliant(rule, moto, kms_for_region, binaries, aws_env):
    """The whole story: the CLI fixes what the rule flags (a replica through its primary), and the
    rule's next periodic run agrees; what cannot or must not rotate is left as it was."""
    keys = localaws.seed_account(kms_for_region, fillers=4)
    cli = [str(binaries / "kms-rotation"), "remediate", "--apply", "--yes", "--batch-size", "3", "--output", "json"]

    done = subprocess.run(cli, env={**os.environ, **aws_env}, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    changed = {json.loads(line)["resourceId"] for line in done.stdout.splitlines()
               if json.loads(line)["outcome"] == "changed"}
    assert changed == {k.key_id for k in keys if k.fixable}
    moto.start_recording()
    ok, result = rule.invoke(event("scheduled"))
    assert ok, result
    by_id = {e["ComplianceResourceId"]: e for b in put_evaluations(moto.recorded()) for e in b}
    for key in keys:
        want = "COMPLIANT" if key.fixable else key.expected
        assert by_id[key.key_id]["ComplianceType"] == want, (key.case, by_id[key.key_id])
    assert result["nonCompliant"] == 0


def test_change_event_is_decided_from_the_item_without_calling_kms(rule, moto, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    moto.start_recording()

    ok, result = rule.invoke(event("change-rotation-off", key_id))

    assert ok, result
    requests = moto.recorded()
    e = only_evaluation(requests)
    assert (e["ComplianceResourceId"], e["ComplianceType"]) == (key_id, "NON_COMPLIANT")
    assert "Automatic rotation is off" in e["Annotation"]
    assert kms_calls(requests) == []


def test_change_event_with_a_minimal_item_asks_kms(rule, moto, kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id)
    moto.start_recording()

    ok, result = rule.invoke(event("change-minimal", key_id))

    assert ok, result
    requests = moto.recorded()
    e = only_evaluation(requests)
    assert (e["ComplianceResourceId"], e["ComplianceType"]) == (key_id, "COMPLIANT")
    assert [r["target"] for r in kms_calls(requests)] == ["DescribeKey", "GetKeyRotationStatus"]


@pytest.mark.parametrize(
    "fixture, says",
    [
        ("change-deleted", "Configuration item status ResourceDeleted"),
        ("change-left-scope", "left the rule's scope"),
        ("oversized", "no configuration item"),
    ],
)
def test_deleted_left_scope_and_oversized_items(rule, moto, kms, fixture, says):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    moto.start_recording()

    ok, result = rule.invoke(event(fixture, key_id))

    assert ok, result
    requests = moto.recorded()
    e = only_evaluation(requests)
    assert (e["ComplianceResourceId"], e["ComplianceType"]) == (key_id, "NOT_APPLICABLE")
    assert says in e["Annotation"]
    if fixture == "oversized":
        history = [r for r in requests if r["target"] == "GetResourceConfigHistory"]
        assert [h["body"] for h in history] == [
            {"resourceType": "AWS::KMS::Key", "resourceId": key_id, "limit": 1}
        ]


@pytest.mark.parametrize(
    "fixture, error_type, says",
    [
        ("malformed", "InvalidEvent", "invokingEvent is not valid JSON"),
        ("unknown-message-type", "InvalidEvent", "unknown invokingEvent messageType"),
        ("bad-parameters", "InvalidRuleParameters", "maxRotationPeriodInDays must be an integer from 90 to 2560, got 30"),
    ],
)
def test_bad_input_fails_clearly_and_the_runtime_keeps_serving(rule, moto, kms, fixture, error_type, says):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    moto.start_recording()

    ok, error = rule.invoke(event(fixture, key_id))

    assert not ok
    assert error["errorType"] == error_type
    assert says in error["errorMessage"]
    assert put_evaluations(moto.recorded()) == [], "nothing is sent for a refused event"
    # The next invocation is served normally.
    ok, result = rule.invoke(event("change-minimal", key_id))
    assert ok, result
    assert result["evaluations"] == 1


def test_credentials_and_region_come_from_the_standard_environment(moto_endpoint, binaries, moto, kms_for_region, tmp_path):
    east = kms_for_region("us-east-1").create_key()["KeyMetadata"]["KeyId"]
    west = kms_for_region("us-west-2").create_key()["KeyMetadata"]["KeyId"]
    env = {"AWS_ACCESS_KEY_ID": "AKIAE2ETESTWEST", "AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-west-2"}
    with localaws.LambdaWatch(moto_endpoint, tmp_path / "watch.log", region="us-west-2", extra_env=env) as watch:
        moto.start_recording()
        ok, result = watch.invoke(event("scheduled"))
    assert ok, result
    requests = moto.recorded()
    ids = [e["ComplianceResourceId"] for b in put_evaluations(requests) for e in b]
    assert ids == [west] and east not in ids
    for r in requests:
        assert "Credential=AKIAE2ETESTWEST/" in r["headers"]["Authorization"]
        assert "/us-west-2/" in r["headers"]["Authorization"]


def test_cargo_lambda_invoke_reaches_the_function(rule, moto, kms, tmp_path):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    data = tmp_path / "event.json"
    data.write_text(__import__("json").dumps(event("change-minimal", key_id)))
    moto.start_recording()

    out = subprocess.run(
        [str(localaws.cargo_lambda()), "lambda", "invoke", localaws.FUNCTION,
         "--invoke-address", "127.0.0.1", "--invoke-port", str(rule.port), "--data-file", str(data)],
        capture_output=True, text=True, timeout=300,
    )

    assert out.returncode == 0, out.stderr
    assert '"evaluations":1' in out.stdout.replace(" ", "")
    assert only_evaluation(moto.recorded())["ComplianceType"] == "NON_COMPLIANT"


def test_release_zip_is_built(binaries):
    """The deployable artifact: `cargo lambda build --release --x86-64 --output-format zip`."""
    subprocess.run(
        [str(localaws.cargo_lambda()), "lambda", "build", "--release", "--x86-64",
         "--output-format", "zip", "--bin", localaws.FUNCTION],
        cwd=ROOT, check=True, timeout=3000, env=localaws.venv_path_env(),
    )
    artifact = ROOT / "target" / "lambda" / localaws.FUNCTION / "bootstrap.zip"
    assert artifact.is_file()
    with zipfile.ZipFile(artifact) as z:
        info = z.getinfo("bootstrap")
        assert info.external_attr >> 16 & 0o111, "bootstrap must be executable"
        assert info.file_size > 1_000_000
