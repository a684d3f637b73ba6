"""docs/shift-left.md compares check-iac with Checkov's CKV_AWS_7 on the fixture corpus: this runs
both and checks that every resource where they differ is in the document's table with both
verdicts as they are today."""

from __future__ import annotations

import functools
import json
import subprocess

from support import FIXTURES, ROOT, VENV_BIN, checkov_offline_env

DOC = ROOT / "docs" / "shift-left.md"


@functools.cache
def checkov_verdicts() -> dict[tuple[str, str], str]:
    """Checkov's CKV_AWS_7 on the fixtures, run once per test session (test_side_by_side.py reuses
    it). HCL_PARSE_TIMEOUT_SEC: Checkov's default 10-second parse timeout drops whole .tf files on a
    loaded machine, which would make its verdicts depend on the load."""
    proc = subprocess.run([str(VENV_BIN / "checkov"), "-d", str(FIXTURES), "--check", "CKV_AWS_7",
                           "--compact", "-o", "json"],
                          capture_output=True, text=True, env={**checkov_offline_env(), "HCL_PARSE_TIMEOUT_SEC": "120"},
                          timeout=600)
    reports = json.loads(proc.stdout)
    verdicts = {}
    for report in reports if isinstance(reports, list) else [reports]:
        for outcome, key in (("PASSED", "passed_checks"), ("FAILED", "failed_checks")):
            for r in report["results"][key]:
                name = r["resource"].split(".", 1)[1] if r["resource"].startswith("AWS::") else r["resource"]
                verdicts[(r["file_path"].lstrip("/"), name)] = outcome
    return verdicts


def test_every_difference_with_checkov_is_documented(check_iac):
    ours = {(f["file"].removeprefix("tests/iac/fixtures/"), f["resource"]): f["complianceType"]
            for f in check_iac("--max-rotation-period-days", "365", "--output", "json",
                               str(FIXTURES.relative_to(ROOT))).findings()}
    theirs = checkov_verdicts()
    assert theirs, "checkov reported nothing"
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| `")]
    differences = []
    for (file, resource), verdict in sorted(ours.items()):
        checkov = theirs.get((file, resource), "not checked")
        agree = (verdict == "NON_COMPLIANT") == (checkov == "FAILED") and verdict != "UNKNOWN"
        if not agree:
            differences.append((file, resource, verdict, checkov))
    assert len(differences) >= 10
    for file, resource, verdict, checkov in differences:
        matching = [r for r in rows if f"`{file}`" in r and f"`{resource}`" in r]
        assert matching, f"{file} {resource} ({verdict} vs checkov {checkov}) is not in {DOC.name}"
        assert verdict in matching[0] and checkov in matching[0], matching[0]
