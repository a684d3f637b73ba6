"""The CloudFormation Guard rules of conformance-pack/guard/ (run with the Guard engine from PyPI,
cfn-guard-rs, pinned in tests/requirements.txt) against `kms-rotation check-iac` on the same
templates: per key, NON_COMPLIANT fails in Guard, COMPLIANT and NOT_APPLICABLE pass, and every case
where they cannot agree is listed below with its reason (docs/shift-left.md, "Guard rules")."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from cfn_guard_rs import run_checks
from cfnlint.decode import decode

from conftest import FIXTURES, ROOT

RULES_DIR = ROOT / "conformance-pack" / "guard"
RULES = "\n".join(p.read_text() for p in sorted(RULES_DIR.glob("*.guard")))
TEMPLATES = sorted((FIXTURES / "cloudformation").rglob("*.yaml")) + sorted(
    (FIXTURES / "cloudformation").rglob("*.json")) + sorted((ROOT / "iac" / "cloudformation").glob("*.yaml"))
MAX = 365  # as the corpus of test_check_iac.py: --max-rotation-period-days 365
PARAMS = {"KmsRotationRuleParameters": {"maxRotationPeriodInDays": MAX}}
KEY_TYPES = {"AWS::KMS::Key", "AWS::KMS::ReplicaKey"}

# Where Guard and check-iac cannot agree: (file, resource) -> (check-iac verdict, Guard, why).
DIFFERENCES = {
    ("tests/iac/fixtures/cloudformation/conditions.yaml", "EnvKey"): (
        "UNKNOWN", "FAIL", "!If [IsProd, true, false] on a parameter without a default: Guard has no "
        "UNKNOWN and does not pass what it cannot show rotates"),
    ("tests/iac/fixtures/cloudformation/nested/kms-child.yaml", "ChildKey"): (
        "UNKNOWN", "FAIL", "EnableKeyRotation: !Ref Rotate, a parameter without a default (passed by "
        "the parent stack)"),
    ("tests/iac/fixtures/cloudformation/parameters.yaml", "PeriodFromParameterKey"): (
        "UNKNOWN", "FAIL", "RotationPeriodInDays: !Ref RotationPeriod, no default: the period cannot be "
        "checked against the maximum"),
    ("tests/iac/fixtures/cloudformation/exception-expired.yaml", "LegacyKey"): (
        "NON_COMPLIANT", "PASS", "the exception tag is well formed but expired on 2020-01-31: Guard "
        "cannot compare a date with today"),
    ("tests/iac/fixtures/cloudformation/replica-elsewhere.yaml", "Replica"): (
        "UNKNOWN", "PASS", "the primary is in another stack (PrimaryKeyArn: !Ref): its template decides"),
    ("iac/cloudformation/kms-replica-key.yaml", "ReplicaKey"): (
        "UNKNOWN", "PASS", "the module's replica stack: the primary is in another Region's stack"),
}


def load(path: Path) -> dict:
    template, matches = decode(str(path))
    assert template is not None, matches
    return json.loads(json.dumps(template))  # cfn-lint's str_node/dict_node to plain JSON types


def guard(data: dict, params: dict | None = PARAMS):
    return run_checks({**data, **(params or {})}, RULES)


def failed_rules(report) -> set[str]:
    return {c.Rule.name for c in report.not_compliant if c.Rule is not None}


def primary_of(resource: dict) -> str | None:
    arn = resource.get("Properties", {}).get("PrimaryKeyArn")
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        att = arn["Fn::GetAtt"]
        return att[0] if isinstance(att, list) else att.split(".")[0]
    return None


def guard_verdicts(template: dict, params: dict | None = PARAMS) -> dict[str, str]:
    """PASS or FAIL per key. Guard reports a failing value at its path, which is a parameter's
    Default or a replica's primary when the value comes from there, so each key is run alone: the
    template with only that key (and a replica's primary) in Resources."""
    out = {}
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") not in KEY_TYPES:
            continue
        alone = copy.deepcopy(template)
        alone["Resources"] = {name: resource}
        primary = primary_of(resource)
        if primary in template["Resources"]:
            alone["Resources"][primary] = template["Resources"][primary]
        report = guard(alone, params)
        if resource["Type"] == "AWS::KMS::Key":
            out[name] = "FAIL" if report.status == "FAIL" else "PASS"
        else:
            out[name] = "FAIL" if "kms_replica_key_rotation" in failed_rules(report) else "PASS"
    return out


@pytest.fixture(scope="module")
def check_iac_verdicts(check_iac):
    run = check_iac("--max-rotation-period-days", str(MAX), "--output", "json",
                    *(str(p.relative_to(ROOT)) for p in TEMPLATES))
    assert run.code == 1, run.stderr
    return {(f["file"], f["resource"]): f["complianceType"] for f in run.findings()}


def test_guard_and_check_iac_agree_on_every_key(check_iac_verdicts):
    seen, disagreements = set(), []
    for path in TEMPLATES:
        rel = str(path.relative_to(ROOT))
        for resource, got in guard_verdicts(load(path)).items():
            verdict = check_iac_verdicts[(rel, resource)]
            seen.add((rel, resource))
            if (rel, resource) in DIFFERENCES:
                want_verdict, want_guard, _ = DIFFERENCES[(rel, resource)]
                if (verdict, got) != (want_verdict, want_guard):
                    disagreements.append(f"{rel} {resource}: documented difference changed: "
                                         f"check-iac {verdict}, Guard {got}")
                continue
            want = {"NON_COMPLIANT": "FAIL", "COMPLIANT": "PASS", "NOT_APPLICABLE": "PASS"}.get(verdict)
            if got != want:
                disagreements.append(f"{rel} {resource}: check-iac {verdict}, Guard {got}")
    assert not disagreements, "\n".join(disagreements)
    # Every key check-iac reports was judged by Guard, and every documented difference exists.
    assert seen == set(check_iac_verdicts)
    assert set(DIFFERENCES) <= seen
    assert len(seen) >= 25


def test_the_corpus_covers_both_outcomes_and_every_skip():
    verdicts = {(p.name, r): v for p in TEMPLATES for r, v in guard_verdicts(load(p)).items()}
    assert verdicts[("rotation-off.yaml", "DataKey")] == "FAIL"
    assert verdicts[("compliant-basic.yaml", "AppKey")] == "PASS"
    for skipped in [("hmac-and-asymmetric.yaml", "TokenMacKey"), ("hmac-and-asymmetric.yaml", "SigningKey"),
                    ("imported-material.yaml", "ByokKey"), ("disabled-key.yaml", "ParkedKey"),
                    ("exception-valid.yaml", "LegacyKey")]:
        assert verdicts[skipped] == "PASS", skipped


def test_a_whole_template_fails_exactly_when_one_of_its_keys_fails():
    for path in TEMPLATES:
        template = load(path)
        per_key = guard_verdicts(template)
        assert (guard(template).status == "FAIL") == ("FAIL" in per_key.values()), path


def key_template(properties: dict | None, tags: list | None = None) -> dict:
    resource: dict = {"Type": "AWS::KMS::Key"}
    if properties is not None:
        resource["Properties"] = dict(properties, **({"Tags": tags} if tags else {}))
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"K": resource}}


def test_the_rules_can_fail():
    assert guard(key_template({"EnableKeyRotation": False})).status == "FAIL"
    assert guard(key_template({"Description": "no rotation"})).status == "FAIL"
    assert guard(key_template(None)).status == "FAIL"  # no Properties at all: rotation off
    assert guard(key_template({"EnableKeyRotation": True, "RotationPeriodInDays": 30})).status == "FAIL"
    assert guard(key_template({"EnableKeyRotation": True})).status == "PASS"


@pytest.mark.parametrize("value", [
    "owner=payments-team expires=2099-12-31 ticket=SEC-42",
    "expires=2099-12-31 owner=payments-team",
    "owner=payments-team expires=2099-12-31 approver=me",
    "owner=payments-team",
    "expires=2099-12-31",
    "owner= expires=2099-12-31",
    "owner=payments-team expires=31/12/2099",
    "approved by security until 2030",
])
def test_exception_tags_are_read_as_check_iac_reads_them(check_iac, tmp_path, value):
    template = key_template({"EnableKeyRotation": False}, [{"Key": "kms-rotation-exception", "Value": value}])
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template))
    verdict = check_iac("--output", "json", str(path)).findings()[0]["complianceType"]
    want = {"NON_COMPLIANT": "FAIL", "NOT_APPLICABLE": "PASS"}[verdict]
    assert guard_verdicts(template)["K"] == want, (value, verdict)


def test_the_maximum_and_evaluate_disabled_keys_are_input_parameters(check_iac):
    slow = load(FIXTURES / "cloudformation" / "period-too-long.yaml")
    assert guard_verdicts(slow)["SlowKey"] == "FAIL"
    assert guard_verdicts(slow, params=None)["SlowKey"] == "PASS"  # no maximum, as check-iac without one
    disabled_path = FIXTURES / "cloudformation" / "disabled-key.yaml"
    disabled = load(disabled_path)
    evaluated = {"KmsRotationRuleParameters": {"evaluateDisabledKeys": True}}
    assert guard_verdicts(disabled)["ParkedKey"] == "PASS"
    assert guard_verdicts(disabled, params=evaluated)["ParkedKey"] == "FAIL"
    run = check_iac("--evaluate-disabled-keys", "--output", "json", str(disabled_path))
    assert run.findings()[0]["complianceType"] == "NON_COMPLIANT"


def hook_input(properties: dict) -> dict:
    """A Guard Hook's resource input, in the shape the CloudFormation Hooks User Guide documents
    ("Write Guard rules to evaluate resources for Guard Hooks"): values already resolved."""
    return {
        "HookContext": {"TargetName": "AWS::KMS::Key", "TargetType": "RESOURCE", "TargetLogicalId": "K",
                        "InvocationPoint": "CREATE_PRE_PROVISION"},
        "Resources": {"K": {"ResourceType": "AWS::KMS::Key", "ResourceProperties": properties}},
    }


def test_the_rules_read_a_guard_hooks_resource_input():
    assert guard(hook_input({"EnableKeyRotation": True, "RotationPeriodInDays": 365})).status == "PASS"
    assert guard(hook_input({"EnableKeyRotation": "true"})).status == "PASS"
    assert guard(hook_input({"EnableKeyRotation": False})).status == "FAIL"
    assert guard(hook_input({"EnableKeyRotation": True, "RotationPeriodInDays": 730})).status == "FAIL"
    assert guard(hook_input({"KeySpec": "HMAC_256"})).status == "SKIP"
    assert guard(hook_input({"Origin": "EXTERNAL"})).status == "SKIP"
