"""The CloudFormation Guard rules of conformance-pack/guard/ run by the real `cfn-guard` CLI on the
raw template files, as a user runs them (`cfn-guard validate -r ... -d template.yaml -i params.yaml`),
against `kms-rotation check-iac` on the same files: per key, NON_COMPLIANT fails in Guard, COMPLIANT
and NOT_APPLICABLE pass, and every case where they cannot agree is listed below with its reason
(docs/shift-left.md, "Guard rules").

The CLI is the `cfn-guard` crate at the version pinned in the Makefile (`make cfn-guard` installs it
into .tools/bin; CFN_GUARD names another binary). Guard's own YAML loader reads the files, so what
it does with short-form tags and quoted numbers is what is tested (test_guard_inputs.py pins those).
GUARD_RULES names another rules file or directory, to run these tests on an older version of the
rules."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cfnlint.decode import decode

from support import FIXTURES, GUARD, ROOT

RULES = Path(os.environ.get("GUARD_RULES") or ROOT / "conformance-pack" / "guard")
TEMPLATES = sorted((FIXTURES / "cloudformation").rglob("*.yaml")) + sorted(
    (FIXTURES / "cloudformation").rglob("*.json")) + sorted((ROOT / "iac" / "cloudformation").glob("*.yaml"))
MAX = 365  # as the corpus of test_check_iac.py: --max-rotation-period-days 365
KEY_TYPES = {"AWS::KMS::Key", "AWS::KMS::ReplicaKey"}
FAIL_EXIT = 19  # cfn-guard validate's exit status when a rule fails (0 when none does)

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
    ("tests/iac/fixtures/cloudformation/foreach-keys.yaml", "LegacybillingKey"): (
        "NON_COMPLIANT", "PASS", "created by Fn::ForEach::LegacyKeys with EnableKeyRotation: false: Guard "
        "does not expand Fn::ForEach (AWS::LanguageExtensions), so it never sees the keys a loop creates"),
    ("tests/iac/fixtures/cloudformation/foreach-keys.yaml", "LegacyauditlogKey"): (
        "NON_COMPLIANT", "PASS", "the same loop's second key (&{Name} drops the '-' of audit-log)"),
    ("tests/iac/fixtures/cloudformation/foreach-keys.yaml", "ProdApiKey"): (
        "NON_COMPLIANT", "PASS", "nested loops: RotationPeriodInDays 730 from !FindInMap [Period, !Ref Env, Days] "
        "with Env = Prod; not expanded by Guard"),
    ("tests/iac/fixtures/cloudformation/foreach-keys.yaml", "Fn::ForEach::TeamKeys"): (
        "UNKNOWN", "PASS", "a loop over a CommaDelimitedList parameter without a default: its keys are known "
        "only at deployment; Guard does not expand the loop"),
    ("iac/cloudformation/kms-replica-key.yaml", "ReplicaKey"): (
        "UNKNOWN", "PASS", "the module's replica stack: the primary is in another Region's stack"),
}


@dataclass
class GuardReport:
    """What `cfn-guard validate -o json` says about one data file."""

    code: int
    status: str  # PASS, FAIL or SKIP
    failed_rules: set[str]
    messages: list[str]  # the custom messages (<<...>>) of the failing clauses
    stderr: str


def custom_messages(node: object) -> list[str]:
    """The <<custom messages>> of every failing clause in a `-o json` report, depth first."""
    if isinstance(node, list):
        return [message for value in node for message in custom_messages(value)]
    if not isinstance(node, dict):
        return []
    own = (node.get("messages") or {}).get("custom_message") if "context" in node else None
    return ([own] if own else []) + [message for value in node.values() for message in custom_messages(value)]


def run_guard(data: Path, params: Path | None = None) -> GuardReport:
    """`cfn-guard validate` on one raw data file, with an input parameters file when given."""
    command = [str(GUARD), "validate", "-r", str(RULES), "-d", str(data), "-o", "json", "-S", "none"]
    if params is not None:
        command += ["-i", str(params)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, FAIL_EXIT), f"{data}: exit {proc.returncode}\n{proc.stderr}"
    report = json.loads(proc.stdout)
    failed = {entry["Rule"]["name"] for entry in report["not_compliant"] if "Rule" in entry}
    assert (proc.returncode == FAIL_EXIT) == (report["status"] == "FAIL"), (data, report["status"])
    return GuardReport(proc.returncode, report["status"], failed, custom_messages(report["not_compliant"]), proc.stderr)


def write_params(directory: Path, parameters: dict[str, object], name: str = "params.json") -> Path:
    """An input parameters file (`cfn-guard validate -i`), as a user writes one."""
    path = directory / name
    path.write_text(json.dumps({"KmsRotationRuleParameters": parameters}))
    return path


def load(path: Path) -> dict:
    """The template's resources, read by cfn-lint: only to know each key's name, type and primary."""
    template, matches = decode(str(path))
    assert template is not None, matches
    return json.loads(json.dumps(template))


def primary_of(resource: dict) -> str | None:
    arn = resource.get("Properties", {}).get("PrimaryKeyArn")
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        att = arn["Fn::GetAtt"]
        return att[0] if isinstance(att, list) else att.split(".")[0]
    return None


def only_resources(path: Path, keep: set[str]) -> str:
    """The template's own text with only the resources named in `keep` left under Resources. YAML is
    cut line by line (every other line, tags and quotes included, stays as written); JSON is JSON."""
    text = path.read_text()
    if path.suffix == ".json":
        template = json.loads(text)
        template["Resources"] = {k: v for k, v in template["Resources"].items() if k in keep}
        return json.dumps(template, indent=2)
    out, in_resources, current = [], False, None
    for line in text.splitlines(keepends=True):
        if line.strip() and not line[0].isspace() and not line.startswith("#"):
            in_resources, current = line.rstrip() == "Resources:", None
        elif in_resources and (match := re.match(r"^  '?([A-Za-z0-9:]+)'?:\s*$", line)):
            current = match.group(1)
        if not in_resources or current is None or current in keep:
            out.append(line)
    return "".join(out)


def guard_verdicts(path: Path, workdir: Path, params: Path | None) -> dict[str, str]:
    """PASS or FAIL per key. Guard reports a failing value at its path, which is a parameter's
    Default or a replica's primary when the value comes from there, so each key is run alone: the
    file cut to that key (and a replica's primary) in Resources."""
    resources = load(path).get("Resources", {})
    out = {}
    for name, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") not in KEY_TYPES:
            continue  # a Fn::ForEach loop is a list: Guard does not expand it
        keep = {name} | ({primary} if (primary := primary_of(resource)) in resources else set())
        cut = workdir / f"{path.stem}--{name}{path.suffix}"
        cut.write_text(only_resources(path, keep))
        assert set(load(cut)["Resources"]) == keep, f"{path}: cut to {keep}"
        report = run_guard(cut, params)
        if resource["Type"] == "AWS::KMS::Key":
            out[name] = "FAIL" if report.status == "FAIL" else "PASS"
        else:
            out[name] = "FAIL" if "kms_replica_key_rotation" in report.failed_rules else "PASS"
    return out


@pytest.fixture(scope="module")
def params_file(tmp_path_factory) -> Path:
    """maxRotationPeriodInDays as the conformance pack passes it: a string."""
    return write_params(tmp_path_factory.mktemp("params"), {"maxRotationPeriodInDays": str(MAX)})


@pytest.fixture(scope="module")
def corpus_verdicts(guard_cli, params_file, tmp_path_factory) -> dict[tuple[str, str], str]:
    workdir = tmp_path_factory.mktemp("cut")
    return {(str(path.relative_to(ROOT)), resource): verdict
            for path in TEMPLATES for resource, verdict in guard_verdicts(path, workdir, params_file).items()}


@pytest.fixture(scope="module")
def check_iac_verdicts(check_iac):
    run = check_iac("--max-rotation-period-days", str(MAX), "--output", "json",
                    *(str(p.relative_to(ROOT)) for p in TEMPLATES))
    assert run.code == 1, run.stderr
    return {(f["file"], f["resource"]): f["complianceType"] for f in run.findings()}


def test_guard_and_check_iac_agree_on_every_key(corpus_verdicts, check_iac_verdicts):
    disagreements = []
    # Guard does not expand Fn::ForEach (AWS::LanguageExtensions): a key that only a loop creates is
    # not in what it reads, and the file passes.
    looped = {key for key in check_iac_verdicts if key not in corpus_verdicts}
    assert all("Fn::ForEach" in (ROOT / file).read_text() for file, _ in looped), looped
    for key, got in {**dict.fromkeys(looped, "PASS"), **corpus_verdicts}.items():
        verdict = check_iac_verdicts[key]
        if key in DIFFERENCES:
            want_verdict, want_guard, _ = DIFFERENCES[key]
            if (verdict, got) != (want_verdict, want_guard):
                disagreements.append(f"{key}: documented difference changed: check-iac {verdict}, Guard {got}")
            continue
        want = {"NON_COMPLIANT": "FAIL", "COMPLIANT": "PASS", "NOT_APPLICABLE": "PASS"}.get(verdict)
        if got != want:
            disagreements.append(f"{key}: check-iac {verdict}, Guard {got}")
    assert not disagreements, "\n".join(disagreements)
    # Every key check-iac reports was judged by Guard, and every documented difference exists.
    assert set(corpus_verdicts) | looped == set(check_iac_verdicts)
    assert set(DIFFERENCES) <= set(corpus_verdicts) | looped
    assert len(corpus_verdicts) >= 25


def test_the_corpus_covers_both_outcomes_and_every_skip(corpus_verdicts):
    verdicts = {(Path(f).name, r): v for (f, r), v in corpus_verdicts.items()}
    assert verdicts[("rotation-off.yaml", "DataKey")] == "FAIL"
    assert verdicts[("compliant-basic.yaml", "AppKey")] == "PASS"
    # A replica of an unrotated primary, written `!GetAtt UnrotatedPrimary.Arn` (short form).
    assert verdicts[("multi-region.yaml", "UnrotatedReplica")] == "FAIL"
    assert verdicts[("multi-region.yaml", "RotatedReplica")] == "PASS"
    for skipped in [("hmac-and-asymmetric.yaml", "TokenMacKey"), ("hmac-and-asymmetric.yaml", "SigningKey"),
                    ("imported-material.yaml", "ByokKey"), ("disabled-key.yaml", "ParkedKey"),
                    ("exception-valid.yaml", "LegacyKey")]:
        assert verdicts[skipped] == "PASS", skipped


def test_a_whole_template_fails_exactly_when_one_of_its_keys_fails(corpus_verdicts, params_file):
    for path in TEMPLATES:
        rel = str(path.relative_to(ROOT))
        per_key = [v for (f, _), v in corpus_verdicts.items() if f == rel]
        report = run_guard(path, params_file)
        assert (report.status == "FAIL") == ("FAIL" in per_key), rel
        assert "DEPRECATION" not in report.stderr, (rel, report.stderr)


def test_the_maximum_as_a_number_or_a_string_gives_the_same_verdicts(guard_cli, tmp_path):
    """Config and conformance packs pass rule parameters as strings ("365"); a parameters file may
    equally say 365. Both are the same maximum."""
    as_number = write_params(tmp_path, {"maxRotationPeriodInDays": MAX}, "number.json")
    as_string = write_params(tmp_path, {"maxRotationPeriodInDays": str(MAX)}, "string.json")
    statuses = {path.name: (run_guard(path, as_number).status, run_guard(path, as_string).status) for path in TEMPLATES}
    assert all(number == string for number, string in statuses.values()), statuses
    assert statuses["compliant-basic.yaml"] == ("PASS", "PASS")
    assert statuses["period-too-long.yaml"] == ("FAIL", "FAIL")


def write_key(directory: Path, properties: str | None, name: str = "key.yaml") -> Path:
    """A one-key YAML template; `properties` is the YAML of its Properties, indented by the caller."""
    text = "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  K:\n    Type: AWS::KMS::Key\n"
    if properties is not None:
        text += "    Properties:\n" + properties
    path = directory / name
    path.write_text(text)
    return path


def test_the_rules_can_fail(guard_cli, tmp_path):
    assert run_guard(write_key(tmp_path, "      EnableKeyRotation: false\n")).status == "FAIL"
    assert run_guard(write_key(tmp_path, "      Description: no rotation\n")).status == "FAIL"
    assert run_guard(write_key(tmp_path, None)).status == "FAIL"  # no Properties at all: rotation off
    assert run_guard(write_key(tmp_path, "      EnableKeyRotation: true\n      RotationPeriodInDays: 30\n")).status == "FAIL"
    assert run_guard(write_key(tmp_path, "      EnableKeyRotation: true\n")).status == "PASS"


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
def test_exception_tags_are_read_as_check_iac_reads_them(guard_cli, check_iac, tmp_path, value):
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"K": {"Type": "AWS::KMS::Key", "Properties": {
        "EnableKeyRotation": False, "Tags": [{"Key": "kms-rotation-exception", "Value": value}]}}}}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template))
    verdict = check_iac("--output", "json", str(path)).findings()[0]["complianceType"]
    want = {"NON_COMPLIANT": "FAIL", "NOT_APPLICABLE": "PASS"}[verdict]
    assert guard_verdicts(path, tmp_path, None)["K"] == want, (value, verdict)


def test_the_maximum_and_evaluate_disabled_keys_are_input_parameters(guard_cli, check_iac, params_file, tmp_path):
    slow = FIXTURES / "cloudformation" / "period-too-long.yaml"
    assert guard_verdicts(slow, tmp_path, params_file)["SlowKey"] == "FAIL"
    assert guard_verdicts(slow, tmp_path, None)["SlowKey"] == "PASS"  # no maximum, as check-iac without one
    disabled = FIXTURES / "cloudformation" / "disabled-key.yaml"
    evaluated = write_params(tmp_path, {"evaluateDisabledKeys": "true"}, "evaluate.json")
    assert guard_verdicts(disabled, tmp_path, None)["ParkedKey"] == "PASS"
    assert guard_verdicts(disabled, tmp_path, evaluated)["ParkedKey"] == "FAIL"
    run = check_iac("--evaluate-disabled-keys", "--output", "json", str(disabled))
    assert run.findings()[0]["complianceType"] == "NON_COMPLIANT"
