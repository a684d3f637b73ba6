"""check-iac and Checkov's CKV_AWS_7 on a corpus of public IaC, against the verdicts expected for
each key. The corpus and its expectations live outside this repository (they hold public code):

    python3 tools/corpus_compare.py --corpus /work/corpus --binary target/debug/kms-rotation

`CORPUS/expected.json` (or `--expected`) is:

    {"gathered": "YYYY-MM-DD",
     "sources": [{"dir", "repo", "commit", "paths"}, ...],
     "keys": [{"file", "resource", "expected", "why", "line"?, "module_row"?, "checkov"?}, ...],
     "not_keys": [{"file", "resource", "why"}, ...]}

- `file` is relative to the corpus, `resource` check-iac's name for the key (logical ID, or the
  Terraform address with its module path and instance key); `line` tells two blocks of one name apart.
- `expected` is COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE or UNKNOWN (only for a key whose verdict
  depends on a value known at deployment): the rule's decision table (docs/decision-table.md) on
  what the source declares, checked against the source's own tests where it has them.
- `module_row`: the module call (in `file`) that creates the key, for a module check-iac may not be
  able to read; its UNKNOWN_MODULE row then stands for the key.
- `checkov`: `{"file", "resource"}` when Checkov names the key differently from check-iac (default:
  the same file and address, with or without instance keys; a CloudFormation key is
  `AWS::KMS::Key.<id>` in Checkov's report).
- `not_keys`: UNKNOWN_MODULE rows for module calls that create no KMS key (counted apart).

Scoring, as in issue 21: a tool is right on a key when its verdict is the expected one; Checkov's
PASSED is right for COMPLIANT and NOT_APPLICABLE, FAILED for NON_COMPLIANT; a key a tool does not
report (silent) counts as NOT_APPLICABLE for both. The gate view: a tool blocks a key when check-iac
says NON_COMPLIANT or UNKNOWN (its exit 1 without --allow-unknown) or Checkov says FAILED; it should
block exactly the keys expected NON_COMPLIANT or UNKNOWN.

Checkov runs offline (as the tests run it, tests/support.py's checkov_offline_env) with
`HCL_PARSE_TIMEOUT_SEC=120`: its default 10-second parse timeout drops whole files on a loaded
machine. `--checkov-json FILE` reuses a saved Checkov report (`checkov -d CORPUS --check CKV_AWS_7
-o json --compact`) instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERDICTS = ("COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE", "UNKNOWN")
SILENT = "silent"


@dataclass
class Row:
    """One key: what is expected, and what each tool said."""

    file: str
    resource: str
    expected: str
    why: str
    check_iac: str = SILENT
    checkov: str = SILENT

    def check_iac_right(self) -> bool:
        said = "NOT_APPLICABLE" if self.check_iac == SILENT else self.check_iac.split(" ")[0]
        return said == self.expected

    def checkov_right(self) -> bool:
        said = {"PASSED": ("COMPLIANT", "NOT_APPLICABLE"), "FAILED": ("NON_COMPLIANT",),
                SILENT: ("NOT_APPLICABLE",)}[self.checkov]
        return self.expected in said

    def should_block(self) -> bool:
        return self.expected in ("NON_COMPLIANT", "UNKNOWN")

    def check_iac_blocks(self) -> bool:
        return self.check_iac.split(" ")[0] in ("NON_COMPLIANT", "UNKNOWN")

    def checkov_blocks(self) -> bool:
        return self.checkov == "FAILED"


def offline_env() -> dict[str, str]:
    """Checkov without network access or the platform's mappings (tests/support.py, checkov_offline_env)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_", "CKV_"))}
    env.update(BC_SKIP_MAPPING="TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE", HCL_PARSE_TIMEOUT_SEC="120",
               HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", NO_PROXY="")
    return env


def run_check_iac(binary: Path, corpus: Path) -> list[dict]:
    proc = subprocess.run([str(binary), "check-iac", "--output", "json", str(corpus)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode not in (0, 1, 2):
        sys.exit(f"check-iac failed ({proc.returncode}): {proc.stderr}")
    print(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "check-iac: no summary", file=sys.stderr)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    for r in rows:
        r["file"] = str(Path(r["file"]).relative_to(corpus))
    return rows


def run_checkov(checkov: Path, corpus: Path) -> list[dict]:
    proc = subprocess.run([str(checkov), "-d", str(corpus), "--check", "CKV_AWS_7", "-o", "json", "--compact"],
                          capture_output=True, text=True, env=offline_env(), timeout=3600)
    return checkov_results(json.loads(proc.stdout))


def checkov_results(report: object) -> list[dict]:
    """Every PASSED and FAILED result: file (relative), resource name, lines, outcome."""
    out = []
    for r in report if isinstance(report, list) else [report]:
        for outcome, key in (("PASSED", "passed_checks"), ("FAILED", "failed_checks")):
            for c in r.get("results", {}).get(key, []):
                name = c["resource"].removeprefix("AWS::KMS::Key.")
                out.append({"file": c["file_path"].lstrip("/"), "resource": name,
                            "lines": c["file_line_range"], "outcome": outcome})
    return out


def check_iac_verdict(key: dict, rows: list[dict]) -> str:
    matches = [r for r in rows if r["file"] == key["file"] and r["resource"] == key["resource"]
               and ("line" not in key or r["line"] == key["line"])]
    if not matches and "module_row" in key:
        matches = [r for r in rows if r["file"] == key["file"] and r["resource"] == key["module_row"]
                   and r["reason"] == "UNKNOWN_MODULE"]
    if not matches:
        return SILENT
    return f"{matches[0]['complianceType']} ({matches[0]['reason']})"


def checkov_verdict(key: dict, results: list[dict]) -> str:
    want = key.get("checkov") or {"file": key["file"], "resource": key["resource"]}
    names = {want["resource"], re.sub(r"\[[^\]]*\]", "", want["resource"])}  # with or without instance keys
    matches = [r for r in results if r["file"] == want["file"] and r["resource"] in names]
    if "line" in key:
        matches = [r for r in matches if r["lines"][0] <= key["line"] <= r["lines"][1]]
    return matches[0]["outcome"] if matches else SILENT


def table(rows: list[Row]) -> str:
    lines = ["| file | resource | expected | check-iac | Checkov CKV_AWS_7 |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| `{r.file}` | `{r.resource}` | {r.expected} | {r.check_iac} | {r.checkov} |")
    return "\n".join(lines)


def summary(rows: list[Row], stray: list[dict]) -> str:
    n = len(rows)
    ours = sum(r.check_iac_right() for r in rows)
    theirs = sum(r.checkov_right() for r in rows)
    gate_ours = sum(r.check_iac_blocks() == r.should_block() for r in rows)
    gate_theirs = sum(r.checkov_blocks() == r.should_block() for r in rows)
    out = [
        f"keys in corpus: {n}",
        "expected: " + ", ".join(f"{sum(r.expected == v for r in rows)} {v}" for v in VERDICTS),
        f"right (verdict): check-iac {ours}, Checkov {theirs}",
        f"right (gate: blocks exactly the keys expected NON_COMPLIANT or UNKNOWN): check-iac {gate_ours}, Checkov {gate_theirs}",
        f"silent: check-iac {sum(r.check_iac == SILENT for r in rows)}, Checkov {sum(r.checkov == SILENT for r in rows)}",
        f"UNKNOWN_MODULE rows for module calls that create no KMS key: {len(stray)}",
    ]
    return "\n".join(out)


def wrong(rows: list[Row]) -> str:
    lines = []
    for r in rows:
        if not r.check_iac_right() or r.check_iac == SILENT:
            lines.append(f"- `{r.file}` `{r.resource}`: expected {r.expected}, check-iac {r.check_iac}"
                         f" (Checkov {r.checkov}): {r.why}")
    return "\n".join(lines) or "(none)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--binary", type=Path, default=ROOT / "target" / "debug" / "kms-rotation")
    parser.add_argument("--expected", type=Path, help="default: CORPUS/expected.json")
    parser.add_argument("--checkov", type=Path, default=ROOT / ".venv" / "bin" / "checkov")
    parser.add_argument("--checkov-json", type=Path, help="a saved Checkov JSON report of the corpus, instead of running it")
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    spec = json.loads((args.expected or corpus / "expected.json").read_text())
    ours = run_check_iac(args.binary, corpus)
    theirs = (checkov_results(json.loads(args.checkov_json.read_text())) if args.checkov_json
              else run_checkov(args.checkov, corpus))
    rows = [Row(k["file"], k["resource"], k["expected"], k["why"],
                check_iac_verdict(k, ours), checkov_verdict(k, theirs)) for k in spec["keys"]]
    stray_names = {(s["file"], s["resource"]) for s in spec.get("not_keys", [])}
    stray = [r for r in ours if (r["file"], r["resource"]) in stray_names]
    known = {(k["file"], k["resource"]) for k in spec["keys"]} | {(k["file"], k.get("module_row")) for k in spec["keys"]}
    unexpected = [r for r in ours if (r["file"], r["resource"]) not in known | stray_names]
    print(f"Corpus gathered {spec.get('gathered', '?')}; sources:")
    for s in spec["sources"]:
        print(f"- {s['dir']}: {s['repo']} @ {s['commit']}: {s['paths']}")
    print()
    print(table(rows))
    print()
    print(summary(rows, stray))
    print()
    print("check-iac wrong or silent:")
    print(wrong(rows))
    if unexpected:
        print()
        print("check-iac rows not in the expectations (add them):")
        for r in unexpected:
            print(f"- `{r['file']}` `{r['resource']}` {r['complianceType']} ({r['reason']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
