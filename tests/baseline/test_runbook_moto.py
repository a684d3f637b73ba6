"""The runbook executed step by step (runbook_runner) against moto, one case per kind of key.

moto lets ANY key rotate (asymmetric, HMAC, pending deletion...), so every "left unchanged" case
below proves the runbook's own checks, not KMS's, kept the key out.
"""

from __future__ import annotations

import copy

import boto3
import pytest

from runbook_runner import ParameterError, RunbookRunner

REGION = "us-east-1"
REPLICA_REGION = "us-west-2"
ROLE = "arn:aws:iam::123456789012:role/KmsRotationRemediation"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def moto_compatible(runbook: dict) -> dict:
    """moto names multi-Region keys `mrk-<uuid with dashes>`; AWS uses `mrk-<32 hex digits>`,
    which is all the runbook accepts. Widen only that, only for the multi-Region cases."""
    doc = copy.deepcopy(runbook)
    spec = doc["parameters"]["KeyId"]
    assert spec["allowedPattern"].count("mrk-[0-9a-f]{32}") == 2
    spec["allowedPattern"] = spec["allowedPattern"].replace(
        "mrk-[0-9a-f]{32}", f"mrk-(?:[0-9a-f]{{32}}|{UUID})"
    )
    return doc


def runner(doc: dict, aws_env: dict, region: str = REGION) -> RunbookRunner:
    return RunbookRunner(doc, region=region, endpoint_url=aws_env["AWS_ENDPOINT_URL"], poll_seconds=0.05)


def rotation(kms, key_id: str) -> tuple[bool, int | None]:
    status = kms.get_key_rotation_status(KeyId=key_id)
    return status["KeyRotationEnabled"], status.get("RotationPeriodInDays")


def params(key_id: str, **extra) -> dict:
    return {"AutomationAssumeRole": ROLE, "KeyId": key_id, **extra}


# --------------------------------------------------------------------------- keys that rotate


def test_symmetric_key_without_rotation_ends_with_rotation_on_and_the_period(runbook, aws_env, kms):
    key = kms.create_key(Description="app data")["KeyMetadata"]
    assert rotation(kms, key["KeyId"]) == (False, None)

    result = runner(runbook, aws_env).run(params(key["KeyId"], RotationPeriodInDays=180))

    assert result.status == "Success", result.failure
    assert rotation(kms, key["KeyId"]) == (True, 180)
    assert result.steps == [
        "DescribeKey", "CheckKeyCanRotate", "CheckMultiRegion", "EnableKeyRotation",
        "WaitForKeyRotationEnabled", "AssertRotationPeriod", "ReportRotationStatus",
    ]
    assert result.outputs["ReportRotationStatus.KeyRotationEnabled"] is True
    assert result.outputs["ReportRotationStatus.RotationPeriodInDays"] == 180
    assert result.outputs["ReportRotationStatus.KeyArn"] == key["Arn"]
    [enable] = [c for c in result.calls if c.api == "EnableKeyRotation"]
    assert enable.params == {"KeyId": key["Arn"], "RotationPeriodInDays": 180}


def test_default_period_is_365_and_a_key_arn_is_accepted(runbook, aws_env, kms):
    key = kms.create_key()["KeyMetadata"]
    result = runner(runbook, aws_env).run(params(key["Arn"]))
    assert result.status == "Success", result.failure
    assert rotation(kms, key["KeyId"]) == (True, 365)


def test_key_already_rotating_is_idempotent(runbook, aws_env, kms):
    key = kms.create_key()["KeyMetadata"]
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=365)

    first = runner(runbook, aws_env).run(params(key["KeyId"]))
    second = runner(runbook, aws_env).run(params(key["KeyId"]))

    for result in (first, second):
        assert result.status == "Success", result.failure
        assert result.outputs["ReportRotationStatus.RotationPeriodInDays"] == 365
    assert rotation(kms, key["KeyId"]) == (True, 365)
    assert first.steps == second.steps


def test_a_rotating_key_gets_the_requested_period(runbook, aws_env, kms):
    key = kms.create_key()["KeyMetadata"]
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=730)
    result = runner(runbook, aws_env).run(params(key["KeyId"], RotationPeriodInDays=365))
    assert result.status == "Success", result.failure
    assert rotation(kms, key["KeyId"]) == (True, 365)


# --------------------------------------------------------------------------- keys left unchanged


@pytest.mark.parametrize(
    "key_spec,key_usage",
    [
        ("RSA_2048", "SIGN_VERIFY"),
        ("RSA_3072", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_P256", "SIGN_VERIFY"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ],
)
def test_key_that_cannot_rotate_ends_cleanly_and_is_not_touched(runbook, aws_env, kms, key_spec, key_usage):
    key = kms.create_key(KeySpec=key_spec, KeyUsage=key_usage)["KeyMetadata"]

    result = runner(runbook, aws_env).run(params(key["KeyId"]))

    assert result.status == "Success", result.failure
    assert result.steps == ["DescribeKey", "CheckKeyCanRotate", "ExplainNoChange"]
    assert "EnableKeyRotation" not in result.api_names()
    assert rotation(kms, key["KeyId"])[0] is False
    message = result.outputs["ExplainNoChange.Message"]
    assert key["Arn"] in message and f"KeySpec is {key_spec}" in message
    assert "SYMMETRIC_DEFAULT" in message


def test_pending_deletion_key_ends_cleanly_and_stays_pending_deletion(runbook, aws_env, kms):
    key = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)

    result = runner(runbook, aws_env).run(params(key["KeyId"]))

    assert result.status == "Success", result.failure
    assert result.steps[-1] == "ExplainNoChange"
    assert "EnableKeyRotation" not in result.api_names()
    assert "KeyState is PendingDeletion" in result.outputs["ExplainNoChange.Message"]
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert rotation(kms, key["KeyId"])[0] is False


def test_disabled_key_ends_cleanly(runbook, aws_env, kms):
    key = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=key["KeyId"])
    result = runner(runbook, aws_env).run(params(key["KeyId"]))
    assert result.status == "Success", result.failure
    assert "KeyState is Disabled" in result.outputs["ExplainNoChange.Message"]
    assert rotation(kms, key["KeyId"])[0] is False


def test_key_with_imported_material_ends_cleanly(runbook, aws_env, kms):
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    result = runner(runbook, aws_env).run(params(key["KeyId"]))
    assert result.status == "Success", result.failure
    message = result.outputs["ExplainNoChange.Message"]
    assert "Origin is EXTERNAL" in message
    assert "EnableKeyRotation" not in result.api_names()


# --------------------------------------------------------------------------- multi-Region keys


@pytest.fixture
def replica(aws_env, kms):
    primary = kms.create_key(MultiRegion=True, Description="mrk primary")["KeyMetadata"]
    replica = kms.replicate_key(KeyId=primary["KeyId"], ReplicaRegion=REPLICA_REGION)[
        "ReplicaKeyMetadata"
    ]
    west = boto3.client("kms", region_name=REPLICA_REGION, endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    meta = west.describe_key(KeyId=replica["KeyId"])["KeyMetadata"]
    assert meta["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    return primary, meta, west


def test_replica_enables_rotation_on_its_primary_in_the_primarys_region(runbook, aws_env, kms, replica):
    primary, replica_meta, west = replica

    result = runner(moto_compatible(runbook), aws_env, region=REPLICA_REGION).run(
        params(replica_meta["KeyId"], RotationPeriodInDays=200)
    )

    assert result.status == "Success", result.failure
    assert result.steps[-1] == "EnableKeyRotationOnPrimary"
    # No EnableKeyRotation in the replica's Region: it went to the primary, in us-east-1.
    assert "EnableKeyRotation" not in result.api_names()
    assert rotation(kms, primary["Arn"]) == (True, 200)
    assert result.outputs["EnableKeyRotationOnPrimary.Changed"] is True
    assert primary["Arn"] in result.outputs["EnableKeyRotationOnPrimary.Message"]

    again = runner(moto_compatible(runbook), aws_env, region=REPLICA_REGION).run(
        params(replica_meta["Arn"], RotationPeriodInDays=200)
    )
    assert again.status == "Success", again.failure
    assert again.outputs["EnableKeyRotationOnPrimary.Changed"] is False
    assert rotation(kms, primary["Arn"]) == (True, 200)


def test_replica_of_a_primary_pending_deletion_is_left_unchanged(runbook, aws_env, kms, replica):
    primary, replica_meta, west = replica
    kms.schedule_key_deletion(KeyId=primary["KeyId"], PendingWindowInDays=7)

    result = runner(moto_compatible(runbook), aws_env, region=REPLICA_REGION).run(
        params(replica_meta["KeyId"])
    )

    assert result.status == "Success", result.failure
    assert result.outputs["EnableKeyRotationOnPrimary.Changed"] is False
    assert "PendingDeletion" in result.outputs["EnableKeyRotationOnPrimary.Message"]
    assert rotation(kms, primary["Arn"])[0] is False


def test_multi_region_primary_is_changed_in_place(runbook, aws_env, kms, replica):
    primary, _, _ = replica
    result = runner(moto_compatible(runbook), aws_env).run(params(primary["KeyId"]))
    assert result.status == "Success", result.failure
    assert "DescribeMultiRegionConfiguration" in result.steps
    assert result.steps[-1] == "ReportRotationStatus", (result.steps, result.outputs)
    assert rotation(kms, primary["KeyId"]) == (True, 365)


def test_moto_multi_region_ids_are_rejected_by_the_real_pattern(runbook, aws_env, replica):
    """The runbook itself only takes AWS's mrk-<32 hex> form (see moto_compatible)."""
    _, replica_meta, _ = replica
    with pytest.raises(ParameterError):
        runner(runbook, aws_env, region=REPLICA_REGION).run(params(replica_meta["KeyId"]))


# --------------------------------------------------------------------------- failures


def test_unknown_key_fails_at_describe_key(runbook, aws_env, kms):
    result = runner(runbook, aws_env).run(params("1234abcd-12ab-34cd-56ef-1234567890ab"))
    assert result.status == "Failed"
    assert result.failed_step == "DescribeKey"
    assert "NotFoundException" in result.failure


@pytest.mark.parametrize(
    "bad",
    [
        {"KeyId": "alias/app"},
        {"KeyId": "*"},
        {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab; aws kms disable-key"},
        {"RotationPeriodInDays": 89},
        {"RotationPeriodInDays": 2561},
        {"AutomationAssumeRole": "arn:aws:iam::123456789012:user/alice"},
        {"Unknown": "x"},
    ],
    ids=repr,
)
def test_bad_parameters_are_refused_before_anything_runs(runbook, aws_env, kms, bad):
    key = kms.create_key()["KeyMetadata"]
    with pytest.raises(ParameterError):
        runner(runbook, aws_env).run({**params(key["KeyId"]), **bad})
    assert rotation(kms, key["KeyId"])[0] is False


def test_a_period_kms_rejects_fails_the_execution_and_changes_nothing(runbook, aws_env, kms):
    """Belt and braces: with the pattern bypassed, KMS's own range check stops the run."""
    doc = copy.deepcopy(runbook)
    del doc["parameters"]["RotationPeriodInDays"]["allowedPattern"]
    key = kms.create_key()["KeyMetadata"]
    result = runner(doc, aws_env).run(params(key["KeyId"], RotationPeriodInDays=30))
    assert result.status == "Failed" and result.failed_step == "EnableKeyRotation"
    assert rotation(kms, key["KeyId"])[0] is False
