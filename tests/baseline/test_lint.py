"""cfn-lint and checkov on the CloudFormation templates and the conformance pack."""

from __future__ import annotations

import json
import subprocess

import pytest

from support import PACK_DIR, ROOT, TEMPLATES_DIR, VENV_BIN, checkov_offline_env

TEMPLATES = sorted(TEMPLATES_DIR.glob("*.yaml"))
# A conformance pack is a CloudFormation template restricted to Config resources, so cfn-lint
# validates its resource properties (Source, SourceDetails, Parameters, ExecutionControls...).
LINTED = TEMPLATES + [PACK_DIR / "kms-rotation-conformance-pack.yaml"]

# cfn-lint findings that are accepted: {(file name, rule id): reason}. Errors are never accepted.
ALLOWED_CFN_LINT_WARNINGS: dict[tuple[str, str], str] = {}

# checkov failures waived inline (Metadata.checkov.skip with a comment) - the exact set, so a new
# waiver must be added here too, on purpose: {(resource, check id)}.
EXPECTED_CHECKOV_SKIPS = {
    # Logs hold key IDs and verdicts only; CloudWatch Logs' default encryption is enough.
    ("AWS::Logs::LogGroup.LogGroup", "CKV_AWS_158"),
    # No DLQ: Config re-invokes on the next change and on every periodic run.
    ("AWS::Lambda::Function.Function", "CKV_AWS_116"),
    # No VPC: the function only calls public AWS APIs.
    ("AWS::Lambda::Function.Function", "CKV_AWS_117"),
}


def test_the_expected_files_exist():
    names = {p.name for p in TEMPLATES}
    assert {"rule-function.yaml", "member-account-roles.yaml"} <= names
    # Issue 10, item 1: the PrincipalOrgID permission for config.amazonaws.com is gone.
    assert "org-lambda-permission.yaml" not in names


@pytest.mark.parametrize("path", LINTED, ids=lambda p: p.name)
def test_cfn_lint_has_no_errors(path):
    proc = subprocess.run(
        [str(VENV_BIN / "cfn-lint"), "--format", "json", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    # Exit code 0 = clean; otherwise the findings are in the JSON on stdout.
    assert proc.returncode == 0 or proc.stdout.strip(), proc.stderr
    findings = json.loads(proc.stdout or "[]")
    unexpected = [
        f"{f['Level']} {f['Rule']['Id']} line {f['Location']['Start']['LineNumber']}: {f['Message']}"
        for f in findings
        if f["Level"] == "Error" or (path.name, f["Rule"]["Id"]) not in ALLOWED_CFN_LINT_WARNINGS
    ]
    assert not unexpected, "\n".join(unexpected)


def run_checkov(*extra: str) -> dict:
    proc = subprocess.run(
        [
            str(VENV_BIN / "checkov"),
            "-d", str(TEMPLATES_DIR.relative_to(ROOT)),
            "--framework", "cloudformation",
            "--compact", "-o", "json",
            "--skip-download",
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=checkov_offline_env(),
        timeout=600,
    )
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def checkov_report() -> dict:
    """The failures, with the command of the project's CI (--quiet: failed checks only)."""
    return run_checkov("--quiet")


@pytest.fixture(scope="module")
def checkov_full_report() -> dict:
    """Without --quiet, so the report lists the skipped (waived) checks too."""
    return run_checkov()


def test_checkov_has_no_unwaived_failures(checkov_report):
    summary = checkov_report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in checkov_report["results"].get("failed_checks", [])
    ]
    assert not failed, "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 8


def test_checkov_waivers_are_the_reviewed_ones_with_reasons(checkov_full_report):
    assert checkov_full_report["summary"]["failed"] == 0
    skipped = checkov_full_report["results"].get("skipped_checks", [])
    assert {(c["resource"], c["check_id"]) for c in skipped} == EXPECTED_CHECKOV_SKIPS
    for check in skipped:
        reason = check["check_result"].get("suppress_comment") or ""
        assert len(reason) > 40, f"{check['check_id']} on {check['resource']} needs a real reason"
