"""The runbook executed step by step (runbook_runner) against moto, one case per kind of key.

moto lets ANY key rotate (asymmetric, HMAC, disabled, pending deletion...), so every "not made
compliant" case below proves the runbook's own checks, not KMS's, kept the key out - and that the
execution then ends Failed with a message saying why (issue 10, item 4): a Config remediation
that reports success must mean the key now rotates.
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
        "DescribeKey", "CheckRotationPeriodRange", "CheckKeyCanRotate", "CheckMultiRegion",
        "EnableKeyRotation", "WaitForKeyRotationEnabled", "ReportRotationStatus",
        "CheckRotationPeriod", "ConfirmRotation",
    ]
    assert result.outputs["ConfirmRotation.Message"] == (
        f"Key {key['Arn']}: automatic rotation every 180 days is on."
    )
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
def test_key_that_cannot_rotate_fails_with_the_reason_and_is_not_touched(runbook, aws_env, kms, key_spec, key_usage):
    key = kms.create_key(KeySpec=key_spec, KeyUsage=key_usage)["KeyMetadata"]

    result = runner(runbook, aws_env).run(params(key["KeyId"]))

    assert result.status == "Failed"
    assert result.steps == ["DescribeKey", "CheckRotationPeriodRange", "CheckKeyCanRotate", "ExplainNoChange"]
    assert result.failed_step == "ExplainNoChange"
    assert "EnableKeyRotation" not in result.api_names()
    assert rotation(kms, key["KeyId"])[0] is False
    message = result.failure
    assert key["Arn"] in message and f"KeySpec is {key_spec}" in message
    assert "SYMMETRIC_DEFAULT" in message and "not made compliant" in message


def test_pending_deletion_key_fails_and_stays_pending_deletion(runbook, aws_env, kms):
    key = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)

    result = runner(runbook, aws_env).run(params(key["KeyId"]))

    assert result.status == "Failed" and result.failed_step == "ExplainNoChange"
    assert "EnableKeyRotation" not in result.api_names()
    assert "KeyState is PendingDeletion" in result.failure
    assert "KMSInvalidStateException" in result.failure and "cancel-key-deletion" in result.failure
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert rotation(kms, key["KeyId"])[0] is False


def test_disabled_key_fails_saying_disabled_exception_and_how_to_fix_it(runbook, aws_env, kms):
    """evaluateDisabledKeys=true makes a disabled key NON_COMPLIANT, so Config remediates it; KMS
    would refuse (DisabledException), and the console must not say the remediation succeeded."""
    key = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=key["KeyId"])
    result = runner(runbook, aws_env).run(params(key["KeyId"]))
    assert result.status == "Failed" and result.failed_step == "ExplainNoChange"
    assert "KeyState is Disabled" in result.failure and "DisabledException" in result.failure
    assert f"aws kms enable-key --key-id {key['Arn']}" in result.failure
    assert "EnableKeyRotation" not in result.api_names()
    assert rotation(kms, key["KeyId"])[0] is False
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"


def test_key_with_imported_material_fails_and_points_to_on_demand_rotation(runbook, aws_env, kms):
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    result = runner(runbook, aws_env).run(params(key["KeyId"]))
    assert result.status == "Failed" and result.failed_step == "ExplainNoChange"
    message = result.failure
    assert "Origin is EXTERNAL" in message and "rotate-key-on-demand" in message
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


def test_replica_of_a_primary_pending_deletion_fails_and_is_left_unchanged(runbook, aws_env, kms, replica):
    primary, replica_meta, west = replica
    kms.schedule_key_deletion(KeyId=primary["KeyId"], PendingWindowInDays=7)

    result = runner(moto_compatible(runbook), aws_env, region=REPLICA_REGION).run(
        params(replica_meta["KeyId"])
    )

    assert result.status == "Failed" and result.failed_step == "EnableKeyRotationOnPrimary"
    assert "PendingDeletion" in result.failure and primary["Arn"] in result.failure
    assert rotation(kms, primary["Arn"])[0] is False


def test_multi_region_primary_is_changed_in_place(runbook, aws_env, kms, replica):
    primary, _, _ = replica
    result = runner(moto_compatible(runbook), aws_env).run(params(primary["KeyId"]))
    assert result.status == "Success", result.failure
    assert "DescribeMultiRegionConfiguration" in result.steps
    assert result.steps[-1] == "ConfirmRotation", (result.steps, result.outputs)
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
        {"RotationPeriodInDays": "ninety"},
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


@pytest.mark.parametrize("period", [89, 2561, 0, -1, 10000])
def test_a_period_outside_kms_range_fails_before_any_change(runbook, aws_env, kms, period):
    key = kms.create_key()["KeyMetadata"]
    result = runner(runbook, aws_env).run(params(key["KeyId"], RotationPeriodInDays=period))
    assert result.status == "Failed" and result.failed_step == "FailRotationPeriodOutOfRange"
    assert f"RotationPeriodInDays {period} is outside 90..2560" in result.failure
    assert result.api_names() == ["DescribeKey"]
    assert rotation(kms, key["KeyId"])[0] is False


@pytest.mark.parametrize("period", [90, 2560])
def test_the_range_limits_themselves_are_accepted(runbook, aws_env, kms, period):
    key = kms.create_key()["KeyMetadata"]
    result = runner(runbook, aws_env).run(params(key["KeyId"], RotationPeriodInDays=period))
    assert result.status == "Success", result.failure
    assert rotation(kms, key["KeyId"]) == (True, period)


def test_a_period_other_than_requested_fails_the_numeric_check(runbook, aws_env, kms):
    """The verification compares numbers (NumericEquals on the Integer output): if KMS reports
    another period than the requested one, the execution fails and says both."""
    doc = copy.deepcopy(runbook)
    [enable] = [s for s in doc["mainSteps"] if s["name"] == "EnableKeyRotation"]
    enable["inputs"]["RotationPeriodInDays"] = 400  # what a misbehaving step would set
    key = kms.create_key()["KeyMetadata"]
    result = runner(doc, aws_env).run(params(key["KeyId"], RotationPeriodInDays=180))
    assert result.status == "Failed" and result.failed_step == "FailRotationPeriodMismatch"
    assert "period of 400 days, not the 180 requested" in result.failure


def test_a_period_kms_rejects_fails_the_execution_and_changes_nothing(runbook, aws_env, kms):
    """Belt and braces: with the range check bypassed, KMS's own range check stops the run."""
    doc = copy.deepcopy(runbook)
    [check] = [s for s in doc["mainSteps"] if s["name"] == "CheckRotationPeriodRange"]
    check["inputs"]["Choices"] = []
    key = kms.create_key()["KeyMetadata"]
    result = runner(doc, aws_env).run(params(key["KeyId"], RotationPeriodInDays=30))
    assert result.status == "Failed" and result.failed_step == "EnableKeyRotation"
    assert rotation(kms, key["KeyId"])[0] is False
