"""Findings where security teams look, end to end: `kms-rotation audit --output ocsf|asff` and
`kms-rotation securityhub export|sync-exceptions`, the real binary against moto.

- OCSF lines are validated against the published OCSF schema of the version they name
  (`metadata.version`): the schema export of schema.ocsf.io that the PyPI package
  ocsf-json-schema ships, turned into JSON Schema by that package, checked with jsonschema.
- ASFF lines are validated against botocore's model of AwsSecurityFinding (required members,
  types, enums, list and string limits), and against the limits the ASFF documentation states.
- moto 5.2.5 has BatchImportFindings and GetFindings (it ignores GetFindings' filters, which the
  CLI checks again itself); it has no BatchUpdateFindings, so `sync-exceptions --apply` is tested
  with aws-smithy-mocks (rule-lambda/tests/it/securityhub.rs) and only its plan here.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import boto3
import botocore.session
import jsonschema
import pytest
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from localaws import ACCOUNT, REGION
from support import day, exception_tag, json_lines, run_cli

SH_PRODUCT = f"arn:aws:securityhub:{REGION}::product/aws/securityhub"
OUR_PRODUCT = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"


@pytest.fixture
def hub(aws_env):
    return boto3.client("securityhub", region_name=REGION, endpoint_url=aws_env["AWS_ENDPOINT_URL"])


@pytest.fixture
def keys(kms):
    """One key per kind of verdict the findings must carry."""

    def create(**kw):
        return kms.create_key(**kw)["KeyMetadata"]["Arn"]

    off = create(Description="off")
    on = create(Description="on")
    kms.enable_key_rotation(KeyId=on)
    excepted = create(Tags=exception_tag(f"owner=payments expires={day(60)} ticket=SEC-42"))
    expired = create(Tags=exception_tag(f"owner=payments expires={day(-1)}"))
    asymmetric = create(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    return {"off": off, "on": on, "excepted": excepted, "expired": expired, "asymmetric": asymmetric}


# ---------------------------------------------------------------------------------------------
# OCSF
# ---------------------------------------------------------------------------------------------

_OCSF_VALIDATORS: dict[str, jsonschema.Draft202012Validator] = {}


def ocsf_validator(version: str) -> jsonschema.Draft202012Validator:
    if version not in _OCSF_VALIDATORS:
        schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version)).get_class_schema(
            class_name="compliance_finding", profiles=["cloud"]
        )
        jsonschema.Draft202012Validator.check_schema(schema)
        _OCSF_VALIDATORS[version] = jsonschema.Draft202012Validator(schema)
    return _OCSF_VALIDATORS[version]


def ocsf_errors(finding: dict) -> list[str]:
    v = ocsf_validator(finding["metadata"]["version"])
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(finding)]


def test_the_ocsf_validator_refuses_what_the_schema_refuses():
    # The premise of the test below: the validator is strict (closed objects, enums, required).
    good = {
        "class_uid": 2003, "category_uid": 2, "activity_id": 1, "type_uid": 200301, "time": 1,
        "severity_id": 1, "metadata": {"version": "1.5.0", "product": {"name": "x"}},
        "finding_info": {"uid": "u"}, "compliance": {"status_id": 1},
        "cloud": {"provider": "AWS"},
    }
    assert ocsf_errors(good) == []
    for bad in (
        {**good, "class_uid": 2004},
        {**good, "compliance": {"status_id": 7}},
        {**good, "finding_info": {}},
        {**good, "resources": [{"arn": "x"}]},
        {k: v for k, v in good.items() if k != "cloud"},
    ):
        assert ocsf_errors(bad), bad


def test_audit_ocsf_is_one_valid_compliance_finding_per_key(binaries, keys):
    p = run_cli(binaries, "audit", "--output", "ocsf")
    assert p.returncode == 1, p.stderr  # NON_COMPLIANT keys
    found = json_lines(p.stdout)
    by_arn = {f["resources"][0]["uid"]: f for f in found}
    assert set(by_arn) == set(keys.values())
    for f in found:
        assert ocsf_errors(f) == [], f
        assert f["class_uid"] == 2003 and f["metadata"]["version"] == "1.5.0"
        assert f["cloud"]["account"]["uid"] == ACCOUNT
        assert f["resources"][0]["region"] == REGION
        assert f["resources"][0]["owner"]["account"]["uid"] == ACCOUNT
        assert f["compliance"]["control"] == "KMS.4"
        assert f["compliance"]["standards"][:5] == [
            "CIS AWS Foundations Benchmark v1.4.0/3.8",
            "CIS AWS Foundations Benchmark v3.0.0/3.6",
            "CIS AWS Foundations Benchmark v5.0.0/3.6",
            "CIS AWS Foundations Benchmark v6.0.0/4.6",
            "CIS AWS Foundations Benchmark v7.0.0/4.6",
        ]
    status = {name: by_arn[arn]["compliance"] for name, arn in keys.items()}
    assert status["off"]["status_id"] == 3 and status["off"]["status"] == "Fail"
    assert status["on"]["status_id"] == 1 and status["on"]["status"] == "Pass"
    assert status["asymmetric"]["status_id"] not in (1, 3)
    assert status["off"]["status_code"] == "ROTATION_OFF"
    assert status["expired"]["status_code"] == "EXCEPTION_EXPIRED"
    off = by_arn[keys["off"]]
    assert f"aws kms enable-key-rotation --key-id {keys['off']}" in off["remediation"]["desc"]
    assert off["severity_id"] == 3 and off["status"] == "New"
    excepted = by_arn[keys["excepted"]]
    assert excepted["unmapped"]["exception"] == {"owner": "payments", "expires": day(60), "ticket": "SEC-42"}
    assert excepted["status"] == "Suppressed"
    # The uid is stable: a second run names the same findings.
    again = json_lines(run_cli(binaries, "audit", "--output", "ocsf").stdout)
    assert sorted(f["finding_info"]["uid"] for f in again) == sorted(f["finding_info"]["uid"] for f in found)
    assert len({f["finding_info"]["uid"] for f in found}) == len(found)


# ---------------------------------------------------------------------------------------------
# ASFF, against botocore's model
# ---------------------------------------------------------------------------------------------

MODEL = botocore.session.get_session().get_service_model("securityhub")
# Limits the ASFF documentation states that the model does not carry.
DOC_LIMITS = {"Id": 512, "GeneratorId": 512, "Title": 256, "Description": 1024, "Text": 512}


def asff_errors(value, shape=None, path="AwsSecurityFinding") -> list[str]:
    """Every way `value` breaks botocore's shape (AwsSecurityFinding at the top)."""
    shape = shape or MODEL.shape_for("AwsSecurityFinding")
    errs: list[str] = []
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        for name in shape.required_members:
            if name not in value:
                errs.append(f"{path}.{name}: required")
        for name, v in value.items():
            if name not in shape.members:
                errs.append(f"{path}.{name}: not a member of {shape.name}")
            else:
                errs += asff_errors(v, shape.members[name], f"{path}.{name}")
    elif t == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        if "min" in meta and len(value) < meta["min"] or "max" in meta and len(value) > meta["max"]:
            errs.append(f"{path}: {len(value)} items outside {meta}")
        for i, v in enumerate(value):
            errs += asff_errors(v, shape.member, f"{path}[{i}]")
    elif t == "map":
        if not isinstance(value, dict):
            return [f"{path}: not a map"]
        for k, v in value.items():
            errs += asff_errors(k, shape.key, f"{path} key")
            errs += asff_errors(v, shape.value, f"{path}[{k}]")
    elif t == "string":
        if not isinstance(value, str):
            return [f"{path}: not a string"]
        if shape.enum and value not in shape.enum:
            errs.append(f"{path}: {value!r} not in {shape.enum}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value, re.S):
            errs.append(f"{path}: {value!r} does not match {meta['pattern']}")
        if "max" in meta and len(value) > meta["max"] or "min" in meta and len(value) < meta["min"]:
            errs.append(f"{path}: length {len(value)} outside {meta}")
        limit = DOC_LIMITS.get(path.rsplit(".", 1)[-1])
        if limit and len(value) > limit:
            errs.append(f"{path}: longer than the documented {limit}")
    elif t == "boolean":
        if not isinstance(value, bool):
            errs.append(f"{path}: not a boolean")
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errs.append(f"{path}: not an integer")
    elif t in ("double", "float"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errs.append(f"{path}: not a number")
    else:
        errs.append(f"{path}: unexpected shape type {t}")
    return errs


def test_the_asff_validator_refuses_what_the_model_refuses():
    assert asff_errors({"Id": "x"})  # required members missing
    base = {
        "SchemaVersion": "2018-10-08", "Id": "i", "ProductArn": "p", "GeneratorId": "g",
        "AwsAccountId": ACCOUNT, "CreatedAt": "t", "UpdatedAt": "t", "Title": "t",
        "Description": "d", "Resources": [{"Type": "AwsKmsKey", "Id": "k"}],
    }
    assert asff_errors(base) == []
    for bad in (
        {**base, "Compliance": {"Status": "OK"}},
        {**base, "Resources": [{"Type": "AwsKmsKey"}]},
        {**base, "Title": " "},
        {**base, "Title": "x" * 257},
        {**base, "Unknown": 1},
        {**base, "Resources": [{"Type": "AwsKmsKey", "Id": "k", "Details": {"AwsKmsKey": {"KeyRotationStatus": "yes"}}}]},
    ):
        assert asff_errors(bad), bad


def test_audit_asff_is_one_valid_security_finding_per_key(binaries, keys):
    p = run_cli(binaries, "audit", "--output", "asff")
    assert p.returncode == 1, p.stderr
    found = json_lines(p.stdout)
    assert len(found) == len(keys)
    by_arn = {f["Resources"][0]["Id"]: f for f in found}
    assert set(by_arn) == set(keys.values())
    for f in found:
        assert asff_errors(f) == [], f
        assert f["SchemaVersion"] == "2018-10-08"
        assert f["ProductArn"] == OUR_PRODUCT
        assert f["AwsAccountId"] == ACCOUNT
        assert f["Resources"][0]["Type"] == "AwsKmsKey"
        assert f["Compliance"]["RelatedRequirements"] == [
            "CIS AWS Foundations Benchmark v1.4.0/3.8",
            "CIS AWS Foundations Benchmark v3.0.0/3.6",
            "CIS AWS Foundations Benchmark v5.0.0/3.6",
            "CIS AWS Foundations Benchmark v6.0.0/4.6",
            "CIS AWS Foundations Benchmark v7.0.0/4.6",
            "NIST.800-53.r5 SC-12",
            "PCI DSS v4.0.1/3.7.4",
        ]
    status = {name: by_arn[arn]["Compliance"]["Status"] for name, arn in keys.items()}
    assert status == {
        "off": "FAILED", "on": "PASSED", "excepted": "NOT_AVAILABLE",
        "expired": "FAILED", "asymmetric": "NOT_AVAILABLE",
    }
    excepted = by_arn[keys["excepted"]]["ProductFields"]
    assert excepted["kms-rotation/Reason"] == "EXCEPTION_VALID"
    assert excepted["kms-rotation/ExceptionOwner"] == "payments"
    assert excepted["kms-rotation/ExceptionExpires"] == day(60)
    assert excepted["kms-rotation/ExceptionTicket"] == "SEC-42"


# ---------------------------------------------------------------------------------------------
# securityhub export, against moto
# ---------------------------------------------------------------------------------------------


def all_findings(hub) -> list[dict]:
    out, token = [], None
    while True:
        page = hub.get_findings(**({"NextToken": token} if token else {}))
        out += page["Findings"]
        token = page.get("NextToken")
        if not token:
            return out


def test_export_plans_by_default_then_sends_and_updates_without_duplicates(binaries, keys, hub):
    # Plan: nothing reaches Security Hub, exit 1 (findings not sent).
    p = run_cli(binaries, "securityhub", "export", "--output", "json")
    assert p.returncode == 1, p.stderr
    plan = json_lines(p.stdout)
    assert {r["action"] for r in plan} == {"create"} and len(plan) == len(keys)
    assert {r["result"] for r in plan} == {"planned"}
    assert all_findings(hub) == []

    # Apply: one finding per key.
    p = run_cli(binaries, "securityhub", "export", "--apply", "--output", "json")
    assert p.returncode == 0, p.stderr
    first = {f["Id"]: f for f in all_findings(hub)}
    assert len(first) == len(keys)
    for f in first.values():
        assert asff_errors(f) == [], f
        assert f["ProductArn"] == OUR_PRODUCT

    # Again: the same findings, updated; CreatedAt kept.
    p = run_cli(binaries, "securityhub", "export", "--apply", "--output", "json")
    assert p.returncode == 0, p.stderr
    assert {r["action"] for r in json_lines(p.stdout)} == {"update"}
    second = {f["Id"]: f for f in all_findings(hub)}
    assert set(second) == set(first)
    for fid, f in second.items():
        assert f["CreatedAt"] == first[fid]["CreatedAt"]
        assert f["UpdatedAt"] >= first[fid]["UpdatedAt"]


def test_export_archives_the_finding_of_a_key_that_no_longer_exists(binaries, keys, hub):
    run_cli(binaries, "securityhub", "export", "--apply")
    # A finding sent earlier for a key that is gone (moto cannot delete a key outright).
    gone = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-00000000dead"
    [template] = [f for f in all_findings(hub) if f["Resources"][0]["Id"] == keys["off"]]
    stale = json.loads(json.dumps(template).replace(keys["off"], gone).replace(keys["off"].rsplit("/", 1)[1], gone.rsplit("/", 1)[1]))
    assert hub.batch_import_findings(Findings=[stale])["SuccessCount"] == 1

    p = run_cli(binaries, "securityhub", "export", "--apply", "--output", "json")
    assert p.returncode == 0, p.stderr
    [archive] = [r for r in json_lines(p.stdout) if r["action"] == "archive"]
    assert archive["resourceArn"] == gone
    by_arn = {f["Resources"][0]["Id"]: f for f in all_findings(hub)}
    assert by_arn[gone]["RecordState"] == "ARCHIVED"
    assert by_arn[gone]["CreatedAt"] == stale["CreatedAt"]
    assert {by_arn[a]["RecordState"] for a in keys.values()} == {"ACTIVE"}


# ---------------------------------------------------------------------------------------------
# securityhub sync-exceptions (plan), against moto
# ---------------------------------------------------------------------------------------------


def control_finding(key_arn: str, control: str, n: int, **extra) -> dict:
    """A finding shaped like Security Hub's own control findings (moto does not run controls)."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"arn:aws:securityhub:{REGION}:{ACCOUNT}:security-control/{control}/finding/{n:08d}",
        "ProductArn": SH_PRODUCT,
        "GeneratorId": f"security-control/{control}",
        "AwsAccountId": ACCOUNT,
        "CreatedAt": now,
        "UpdatedAt": now,
        "Title": control,
        "Description": control,
        "Resources": [{"Type": "AwsKmsKey", "Id": key_arn}],
        "Compliance": {"Status": "FAILED", "SecurityControlId": control},
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        **extra,
    }


def test_sync_plans_to_suppress_only_kms4_findings_of_excepted_keys(binaries, keys, hub, kms):
    # A second excepted key, whose finding someone else already suppressed for their own reason.
    other = kms.create_key(Tags=exception_tag(f"owner=data expires={day(30)}"))["KeyMetadata"]["Arn"]
    hub.batch_import_findings(
        Findings=[
            control_finding(keys["excepted"], "KMS.4", 1),
            control_finding(keys["excepted"], "KMS.3", 2),  # another control: never touched
            control_finding(keys["off"], "KMS.4", 3),  # no exception: nothing to do
            # Suppressed by someone else, for their own reason: left alone and listed.
            control_finding(
                keys["expired"], "KMS.4", 4, Workflow={"Status": "SUPPRESSED"},
                Note={"Text": "risk accepted RISK-7", "UpdatedBy": "alice", "UpdatedAt": "2026-01-01T00:00:00Z"},
            ),
            # Suppressed by this tool earlier; its exception expired since: back to NEW.
            control_finding(
                keys["expired"], "KMS.4", 5, Workflow={"Status": "SUPPRESSED"},
                Note={"Text": "kms-rotation: approved exception ...", "UpdatedBy": "kms-rotation", "UpdatedAt": "2026-01-01T00:00:00Z"},
                UserDefinedFields={"kms-rotation-exception": "suppressed"},
            ),
            control_finding(
                other, "KMS.4", 6, Workflow={"Status": "SUPPRESSED"},
                Note={"Text": "accepted until the migration", "UpdatedBy": "bob", "UpdatedAt": "2026-01-01T00:00:00Z"},
            ),
        ]
    )
    p = run_cli(binaries, "securityhub", "sync-exceptions", "--output", "json")
    assert p.returncode == 1, p.stderr  # changes planned, not made
    plan = {r["findingId"].rsplit("/", 1)[1]: r for r in json_lines(p.stdout)}
    # 2 (another control), 3 (no exception) and 4 (someone else's suppression of a key without
    # an exception) are not touched; 6 (someone else's suppression of an excepted key) is listed.
    assert set(plan) == {"00000001", "00000005", "00000006"}
    assert plan["00000001"]["action"] == "suppress"
    assert plan["00000001"]["resourceArn"] == keys["excepted"]
    for part in ("owner payments", f"expires {day(60)}", "ticket SEC-42"):
        assert part in plan["00000001"]["note"]
    assert plan["00000006"]["action"] == "leave"
    assert "someone else" in plan["00000006"]["note"]
    assert plan["00000005"]["action"] == "release"
    assert f"expired on {day(-1)}" in plan["00000005"]["note"]
    assert {r["result"] for r in plan.values()} == {"planned", "left"}
    # Nothing changed in Security Hub.
    assert {f["Workflow"]["Status"] for f in all_findings(hub) if f["Id"].endswith("00000001")} == {"NEW"}


def test_sync_with_nothing_to_do_exits_0(binaries, keys, hub):
    p = run_cli(binaries, "securityhub", "sync-exceptions")
    assert p.returncode == 0, p.stderr
    assert "0 KMS.4 finding(s) to change" in p.stdout
