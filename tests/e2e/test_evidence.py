"""`kms-rotation evidence` end to end: the real binary against moto (tools/moto_server.py adds the
paged ListKeyRotations moto answers 500 to, and a GetKeyLastUsage moto does not have), and the
package it writes checked as an auditor would: the CSV parses and says what the JSON lines say,
the manifest's and SHA256SUMS' hashes match the files, and the page, opened in headless chromium
(as tests/e2e/test_report.py opens the report), shows the same counts.

AWS's pages: KMS API Reference "ListKeyRotations" (RotationType AUTOMATIC | ON_DEMAND),
"RotateKeyOnDemand", "GetKeyLastUsage" (no KeyLastUsage: no use since tracking began).
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import hashlib
import json
import subprocess

from localaws import ACCOUNT, OTHER_REGION, REGION
from support import create_key, day, exception_tag, json_lines, run_cli
from test_report import browser, rendered_dom

FILES = ("evidence.csv", "evidence.jsonl", "evidence.html", "manifest.json")
# A tag value a spreadsheet would run, and markup a page would: both must stay text.
FORMULA_OWNER = "=HYPERLINK(\"http://x\")"
HOSTILE_OWNER = "<script>document.body.dataset.pwned=1</script>"


def test_the_evidence_package_says_what_kms_says_and_its_files_are_what_the_manifest_hashes(
    binaries, kms, kms_for_region, moto, tmp_path
):
    rotated = create_key(kms, Description="rotating, rotated on demand twice, used")
    kms.enable_key_rotation(KeyId=rotated)
    kms.rotate_key_on_demand(KeyId=rotated)
    kms.rotate_key_on_demand(KeyId=rotated)
    kms.encrypt(KeyId=rotated, Plaintext=b"evidence")
    kms.create_alias(AliasName="alias/evidence/rotated", TargetKeyId=rotated)
    off = create_key(kms, Description="not rotating, never used")
    excepted = create_key(kms, Tags=exception_tag(f"owner={FORMULA_OWNER} expires={day(60)} ticket=SEC-7"))
    hostile = create_key(kms, Tags=exception_tag(f"owner={HOSTILE_OWNER} expires={day(30)}"))
    asymmetric = create_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    other = kms_for_region(OTHER_REGION)
    there = create_key(other, Description="rotating, other Region")
    other.enable_key_rotation(KeyId=there)

    out = tmp_path / "evidence"
    moto.start_recording()
    run = run_cli(binaries, "evidence", "--region", REGION, "--region", OTHER_REGION, "--last-use", "--output-dir", str(out))
    moto.stop_recording()
    assert run.returncode == 1, run.stderr  # NON_COMPLIANT keys, everything read
    assert sorted(p.name for p in out.iterdir()) == sorted([*FILES, "SHA256SUMS"])
    assert run.stdout.split() == [str(out / name) for name in (*FILES, "SHA256SUMS")]

    # The JSON lines: audit's line with the evidence.
    lines = json_lines((out / "evidence.jsonl").read_text())
    by_key = {line["resourceId"]: line for line in lines}
    assert set(by_key) == {rotated, off, excepted, hostile, asymmetric, there}
    assert {line["accountId"] for line in lines} == {ACCOUNT}
    audit = run_cli(binaries, "audit", "--region", REGION, "--region", OTHER_REGION, "--output", "json")
    assert {k["resourceId"]: k["complianceType"] for k in json_lines(audit.stdout)} == {
        k: v["complianceType"] for k, v in by_key.items()
    }
    e = by_key[rotated]["evidence"]
    assert (e["rotation"], e["rotationCount"], e["lastRotationType"]) == ("on", 2, "ON_DEMAND")
    assert e["keyMaterialAgeDays"] == 0
    assert dt.datetime.fromisoformat(e["lastRotationDate"]) >= dt.datetime.fromisoformat(e["keyCreationDate"])
    last_use = by_key[rotated]["lastUse"]
    assert last_use["status"] == "used" and last_use["operation"] == "Encrypt"
    assert by_key[rotated]["alias"] == "alias/evidence/rotated"
    e = by_key[off]["evidence"]
    assert (e["rotation"], e["rotationCount"], e.get("lastRotationDate")) == ("off", 0, None)
    assert by_key[off]["lastUse"] == {"status": "not_used_since_tracking_began", "trackingStartDate": e["keyCreationDate"]}
    e = by_key[excepted]["evidence"]
    assert (by_key[excepted]["complianceType"], by_key[excepted]["reason"]) == ("NOT_APPLICABLE", "EXCEPTION_VALID")
    assert (e["exceptionOwner"], e["exceptionExpires"], e["exceptionTicket"]) == (FORMULA_OWNER, day(60), "SEC-7")
    e = by_key[asymmetric]["evidence"]
    assert (by_key[asymmetric]["complianceType"], e["rotation"], e["rotationCount"]) == ("NOT_APPLICABLE", "unsupported", None)

    # Each customer managed key asked GetKeyLastUsage once (--last-use); the asymmetric key has
    # no rotation history to list and is not asked for one.
    calls = collections.Counter((r["target"], r["body"].get("KeyId")) for r in moto.recorded())
    assert {k for (op, k) in calls if op == "GetKeyLastUsage"} == set(by_key)
    assert all(n == 1 for (op, _), n in calls.items() if op == "GetKeyLastUsage")
    assert ("ListKeyRotations", asymmetric) not in calls

    # The CSV: one row a key, the same facts; a formula is written as text.
    with (out / "evidence.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(lines)
    for row in rows:
        line = by_key[row["keyId"]]
        assert (row["accountId"], row["region"], row["complianceType"], row["reason"]) == (
            line["accountId"], line["region"], line["complianceType"], line["reason"]
        )
        assert row["rotation"] == line["evidence"]["rotation"]
        count = line["evidence"].get("rotationCount")
        assert row["rotationCount"] == ("" if count is None else str(count))
    row = next(r for r in rows if r["keyId"] == excepted)
    assert row["exceptionOwner"] == "'" + FORMULA_OWNER
    row = next(r for r in rows if r["keyId"] == rotated)
    assert (row["rotationCount"], row["lastRotationType"], row["lastUseOperation"]) == ("2", "ON_DEMAND", "Encrypt")

    # The manifest and SHA256SUMS: every file's hash, as an auditor checks it.
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["files"]:
        data = (out / entry["name"]).read_bytes()
        assert (entry["bytes"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest()), entry["name"]
    assert [f["name"] for f in manifest["files"]] == list(FILES[:3])
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == 4
    assert manifest["caller"]["account"] == ACCOUNT
    assert manifest["parameters"]["exceptionTagKey"] == "kms-rotation-exception"
    assert manifest["lastUse"] is True and manifest["errors"] == []
    assert manifest["scope"] == {"accounts": 1, "accountRegions": 2}
    assert manifest["counts"]["keys"] == len(lines)
    assert {(c["framework"], c["control"]) for c in manifest["controls"]} >= {
        ("CIS AWS Foundations Benchmark v6.0.0", "4.6"),
        ("CIS AWS Foundations Benchmark v1.4.0", "3.8"),
    }
    assert manifest["started"] <= manifest["finished"]

    # The page, rendered: the same counts as the JSON, hostile text as text, nothing fetched.
    html = (out / "evidence.html").read_text()
    for reference in ("http-equiv=\"refresh\"", "<script", "src=", "href=", "url(", "@import"):
        assert reference not in html, f"the page contains {reference!r}"
    dom = rendered_dom(browser(), out / "evidence.html", tmp_path / "profile")
    body = dom.find_all("body")[0]
    assert "data-pwned" not in body.attrs and not dom.find_all("script")
    totals = collections.Counter(line["complianceType"] for line in lines)
    assert dom.by_id("count-keys").text() == str(len(lines))
    for compliance in ("COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"):
        assert dom.by_id(f"count-{compliance}").text() == str(totals[compliance]), compliance
    assert dom.by_id("count-rotation-on").text() == str(sum(line["evidence"]["rotation"] == "on" for line in lines))
    (account,) = dom.find_all("tr", data_account=ACCOUNT)
    assert (account.attrs["data-keys"], account.attrs["data-non-compliant"]) == (str(len(lines)), str(totals["NON_COMPLIANT"]))
    listed = {tr.attrs["data-key"] for tr in dom.find_all("tr", data_key=None)}
    assert listed == {k for k, v in by_key.items() if v["complianceType"] != "COMPLIANT" or v["evidence"].get("exceptionOwner")}
    assert HOSTILE_OWNER in dom.by_id("keys").text()
    assert "4.6" in dom.by_id("controls").text()

    # Evidence is never overwritten, and that is said before any AWS call.
    moto.start_recording()
    again = run_cli(binaries, "evidence", "--region", REGION, "--output-dir", str(out))
    assert again.returncode == 2 and "already holds evidence" in again.stderr, again.stderr
    assert moto.recorded() == []
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_last_use_is_read_only_when_asked(binaries, kms, moto, tmp_path):
    create_key(kms, Description="one key")
    moto.start_recording()
    run = run_cli(binaries, "evidence", "--region", REGION, "--output-dir", str(tmp_path / "e"))
    moto.stop_recording()
    assert run.returncode == 1, run.stderr
    targets = [r["target"] for r in moto.recorded()]
    assert "GetKeyLastUsage" not in targets and "ListKeyRotations" in targets
    (line,) = json_lines((tmp_path / "e" / "evidence.jsonl").read_text())
    assert "lastUse" not in line


def test_audit_and_remediate_show_last_use_when_asked(binaries, kms, moto):
    """`--last-use` (issue 24 §4): audit reads it for every customer managed key, remediate for
    the keys it would change only; the remediation order's rule (in use before unused for
    --unused-days) is tested in plan.rs, as moto's keys are all new."""
    used = create_key(kms, Description="used, rotation off")
    kms.encrypt(KeyId=used, Plaintext=b"x")
    idle = create_key(kms, Description="never used, rotation off")
    rotating = create_key(kms, Description="rotation on")
    kms.enable_key_rotation(KeyId=rotating)

    audit = run_cli(binaries, "audit", "--region", REGION, "--last-use", "--output", "json")
    assert audit.returncode == 1, audit.stderr
    lines = {k["resourceId"]: k for k in json_lines(audit.stdout)}
    assert lines[used]["lastUse"]["operation"] == "Encrypt"
    assert lines[idle]["lastUse"]["status"] == "not_used_since_tracking_began"
    assert "lastUse" in lines[rotating]
    table = run_cli(binaries, "audit", "--region", REGION, "--last-use")
    assert "Last use: not used since tracking began" in " ".join(table.stdout.split())  # wrapped at 60

    moto.start_recording()
    plan = run_cli(binaries, "remediate", "--region", REGION, "--last-use", "--unused-days", "30", "--output", "json")
    moto.stop_recording()
    assert plan.returncode == 0, plan.stderr  # a plan: nothing failed
    rows = {r["resourceId"]: r for r in json_lines(plan.stdout)}
    assert rows[used]["lastUse"]["operation"] == "Encrypt" and rows[used]["outcome"] == "planned"
    assert "lastUse" not in rows[rotating]
    asked = {r["body"].get("KeyId") for r in moto.recorded() if r["target"] == "GetKeyLastUsage"}
    assert asked == {used, idle}
    # --unused-days means nothing without --last-use: clap says so before any AWS call.
    refused = run_cli(binaries, "remediate", "--region", REGION, "--unused-days", "30")
    assert refused.returncode == 2 and "--last-use" in refused.stderr, refused.stderr


def test_a_resumed_run_writes_the_evidence_the_state_file_kept(binaries, kms, moto, tmp_path):
    """`--state`/`--resume` as in audit: a second run resumes every account-Region the first
    finished (no key read again) and writes the same keys with the same evidence."""
    rotating = create_key(kms)
    kms.enable_key_rotation(KeyId=rotating)
    kms.rotate_key_on_demand(KeyId=rotating)
    create_key(kms)
    state = tmp_path / "evidence.state"
    first = run_cli(binaries, "evidence", "--region", REGION, "--output-dir", str(tmp_path / "a"), "--state", str(state))
    assert first.returncode == 1, first.stderr
    moto.start_recording()
    again = run_cli(binaries, "evidence", "--region", REGION, "--output-dir", str(tmp_path / "b"),
                    "--state", str(state), "--resume")
    moto.stop_recording()
    assert again.returncode == 1, again.stderr
    read_again = {r["target"] for r in moto.recorded()} & {"DescribeKey", "GetKeyRotationStatus", "ListKeyRotations"}
    assert read_again == set()
    a = json_lines((tmp_path / "a" / "evidence.jsonl").read_text())
    b = json_lines((tmp_path / "b" / "evidence.jsonl").read_text())
    assert b == a and {line["resourceId"] for line in b} >= {rotating}
    assert next(line for line in b if line["resourceId"] == rotating)["evidence"]["rotationCount"] == 1
    # A state file of evidence is not one of audit (nor the other way round).
    other = run_cli(binaries, "audit", "--region", REGION, "--state", str(state), "--resume")
    assert other.returncode == 2, other.stderr
