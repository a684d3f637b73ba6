"""The IaC modules of iac/: cfn-lint, checkov, terraform fmt (when terraform is installed),
HCL parsing, and each module COMPLIANT by check-iac."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import hcl2
import pytest

from conftest import ROOT

CFN = ROOT / "iac" / "cloudformation"
TF = ROOT / "iac" / "terraform" / "kms-key"
VENV_BIN = ROOT / ".venv" / "bin"


def offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_", "CKV_"))}
    env.update(BC_SKIP_MAPPING="TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE",
               HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", NO_PROXY="")
    return env


@pytest.mark.parametrize("template", sorted(CFN.glob("*.yaml")), ids=lambda p: p.name)
def test_cfn_lint_is_clean(template):
    proc = subprocess.run([str(VENV_BIN / "cfn-lint"), "--format", "json", str(template)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_checkov_passes_every_check_on_the_modules():
    proc = subprocess.run([str(VENV_BIN / "checkov"), "-d", "iac", "--compact", "-o", "json"],
                          capture_output=True, text=True, cwd=ROOT, env=offline_env(), timeout=600)
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert {r["check_type"] for r in reports} == {"cloudformation", "terraform"}
    failed = [(f["check_id"], f["resource"]) for r in reports for f in r["results"]["failed_checks"]]
    assert not failed
    passed = {f["check_id"] for r in reports for f in r["results"]["passed_checks"]}
    assert "CKV_AWS_7" in passed  # rotation, checkov's own way


def test_terraform_fmt(capsys):
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed on this machine: `terraform fmt -check` not run "
                    "(the HCL itself is parsed by test_terraform_parses)")
    proc = subprocess.run([terraform, "fmt", "-check", "-recursive", "-diff", str(ROOT / "iac" / "terraform")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", sorted(TF.glob("*.tf")), ids=lambda p: p.name)
def test_terraform_parses(path):
    with path.open() as f:
        body = hcl2.load(f)
    assert body


def test_terraform_variables_rotation_on_by_default_and_period_range():
    with (TF / "variables.tf").open() as f:
        variables = {k: v for block in hcl2.load(f)["variable"] for k, v in block.items()}
    # bc-python-hcl2 (checkov's parser) wraps attribute values in one-element lists.
    def one(v):
        return v[0] if isinstance(v, list) and len(v) == 1 else v

    assert one(variables["enable_key_rotation"]["default"]) is True
    assert one(variables["rotation_period_in_days"]["default"]) == 365
    condition = str(one(one(variables["rotation_period_in_days"]["validation"])["condition"]))
    assert ">= 90" in condition and "<= 2560" in condition


def test_cloudformation_parameters_rotation_on_by_default_and_period_range():
    text = (CFN / "kms-key.yaml").read_text()
    period = re.search(r"  RotationPeriodInDays:\n((?:    .*\n)+)", text).group(1)
    assert "MinValue: 90" in period and "MaxValue: 2560" in period and "Default: 365" in period
    rotation = re.search(r"  EnableKeyRotation:\n((?:    .*\n)+)", text).group(1)
    assert 'Default: "true"' in rotation


def test_cloudformation_key_is_compliant(check_iac):
    run = check_iac("--max-rotation-period-days", "365", "--output", "json", str(CFN / "kms-key.yaml"))
    assert run.code == 0, run.stdout + run.stderr
    [key] = run.findings()
    assert (key["resource"], key["complianceType"], key["reason"]) == ("Key", "COMPLIANT", "ROTATION_ON")


def test_cloudformation_replica_follows_a_primary_declared_elsewhere(check_iac):
    """A replica stack is in another Region than its primary's, so its primary is never in the same
    template: check-iac says so (UNKNOWN_PRIMARY) rather than guess; the primary's template is
    checked COMPLIANT above."""
    [replica] = check_iac("--output", "json", str(CFN / "kms-replica-key.yaml")).findings()
    assert (replica["complianceType"], replica["reason"]) == ("UNKNOWN", "UNKNOWN_PRIMARY")


def with_defaults(tmp_path, **defaults):
    module = tmp_path / "kms-key"
    shutil.copytree(TF, module)
    text = (module / "variables.tf").read_text()
    for name, value in defaults.items():
        text, n = re.subn(rf'(variable "{name}" \{{.*?default\s*=\s*)[^\n]+', rf"\g<1>{value}", text,
                          count=1, flags=re.S)
        assert n == 1, name
    (module / "variables.tf").write_text(text)
    return module


def test_terraform_key_is_compliant(check_iac):
    run = check_iac("--max-rotation-period-days", "365", "--output", "json", str(TF))
    assert run.code == 0, run.stdout + run.stderr
    assert [(f["resource"], f["complianceType"]) for f in run.findings()] == [("aws_kms_key.this", "COMPLIANT")]


def test_terraform_multi_region_primary_and_replica_are_compliant(check_iac, tmp_path):
    module = with_defaults(tmp_path, multi_region="true", create_replica="true")
    run = check_iac("--output", "json", str(module))
    assert run.code == 0, run.stdout + run.stderr
    assert {(f["resource"], f["complianceType"]) for f in run.findings()} == {
        ("aws_kms_key.this", "COMPLIANT"), ("aws_kms_replica_key.this", "COMPLIANT")}


def test_terraform_exception_tag_is_recorded_and_honoured(check_iac, tmp_path):
    module = with_defaults(tmp_path, enable_key_rotation="false",
                           rotation_exception='"owner=payments expires=2099-12-31 ticket=SEC-1"')
    [key] = check_iac("--output", "json", str(module)).findings()
    assert (key["complianceType"], key["reason"]) == ("NOT_APPLICABLE", "EXCEPTION_VALID")
    module = with_defaults(tmp_path / "off", enable_key_rotation="false")
    [key] = check_iac("--output", "json", str(module)).findings()
    assert (key["complianceType"], key["reason"]) == ("NON_COMPLIANT", "ROTATION_OFF")
