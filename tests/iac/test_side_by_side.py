"""docs/shift-left.md sets check-iac, Checkov's CKV_AWS_7 and the Guard rules side by side on the
fixture corpus: one table with the three verdicts of every fixture key where any two of them differ.
This runs the three tools (Checkov through test_checkov_comparison's cached run, Guard through
test_guard's per-key cut, both on the same fixtures) and checks that the table holds exactly those
keys with exactly those verdicts, so the document cannot drift from what the tools say.

Two verdicts differ when one blocks and the other passes (check-iac blocks NON_COMPLIANT, Checkov
FAILED, Guard FAIL; a key Checkov does not check passes), or when check-iac says UNKNOWN, which the
other two cannot say (as in test_checkov_comparison.py and test_guard.py's DIFFERENCES). A module
call check-iac could not read (UNKNOWN_MODULE) is a row too. Guard reads CloudFormation only: for
Terraform and plan fixtures its cell is "—" and is not compared."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import FIXTURES, GUARD, ROOT
from test_checkov_comparison import checkov_verdicts
from test_guard import MAX, TEMPLATES, guard_verdicts, write_params

DOC = ROOT / "docs" / "shift-left.md"
HEADING = "### Side by side: check-iac, Checkov and Guard"
NOT_RUN = "—"


def doc_rows() -> dict[tuple[str, str], tuple[str, str, str]]:
    """The side-by-side table of the document: (file, resource) -> (check-iac, Checkov, Guard)."""
    text = DOC.read_text()
    assert HEADING in text, f"{DOC.name} has no section {HEADING!r}"
    section = text.split(HEADING, 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            key = (cells[0].strip("`"), cells[1].strip("`"))
            assert key not in rows, f"{key} twice in the table"
            rows[key] = (cells[2], cells[3], cells[4])
    return rows


@pytest.fixture(scope="module")
def guard_fixture_verdicts(tmp_path_factory) -> dict[tuple[str, str], str]:
    """Guard's verdict on every CloudFormation fixture key, as test_guard.py computes it."""
    assert GUARD.is_file(), f"{GUARD} is missing: run `make cfn-guard`"
    workdir = tmp_path_factory.mktemp("side-by-side")
    params = write_params(workdir, {"maxRotationPeriodInDays": str(MAX)})
    return {(str(path.relative_to(FIXTURES)), resource): verdict
            for path in TEMPLATES if path.is_relative_to(FIXTURES)
            for resource, verdict in guard_verdicts(path, workdir, params).items()}


def differs(ours: str, checkov: str, guard: str) -> bool:
    """Whether any two of the three differ: one blocks and another passes, or check-iac says
    UNKNOWN (neither Checkov nor Guard has that answer)."""
    verdict = ours.split(" ")[0]
    said = ["unknown" if verdict == "UNKNOWN" else verdict == "NON_COMPLIANT", checkov == "FAILED"]
    if guard != NOT_RUN:
        said.append(guard == "FAIL")
    return len(set(said)) > 1


def test_the_side_by_side_table_is_what_the_three_tools_say(check_iac, guard_fixture_verdicts):
    run = check_iac("--max-rotation-period-days", str(MAX), "--output", "json", str(FIXTURES.relative_to(ROOT)))
    assert run.code == 1, run.stderr
    theirs = checkov_verdicts()
    assert theirs, "checkov reported nothing"
    want = {}
    for f in run.findings():
        key = (str(Path(f["file"]).relative_to(FIXTURES.relative_to(ROOT))), f["resource"])
        verdicts = (f"{f['complianceType']} ({f['reason']})", theirs.get(key, "not checked"),
                    guard_fixture_verdicts.get(key, NOT_RUN))
        if differs(*verdicts):
            want[key] = verdicts
    # Guard judged every CloudFormation fixture key check-iac reports.
    assert set(guard_fixture_verdicts) <= {(str(Path(f["file"]).relative_to(FIXTURES.relative_to(ROOT))), f["resource"])
                                           for f in run.findings()}
    got = doc_rows()
    lines = "\n".join(f"| `{file}` | `{resource}` | {a} | {b} | {c} | |" for (file, resource), (a, b, c) in sorted(want.items()))
    assert got == want, f"the table of {DOC.name} should hold exactly these rows (why: to write):\n{lines}"
    # Each of the three disagrees with another somewhere, and Guard's column is filled where it runs.
    assert len(want) >= 20
    assert any(g != NOT_RUN for _, _, g in want.values())
