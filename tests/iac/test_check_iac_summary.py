"""check-iac's summary line (stderr) and exit status never hide work left undone: module calls not
followed, templates, plans and Terraform modules with no KMS key, files skipped, files refused over
a limit and files unreadable are each counted and said, so that "0 keys" never reads as success
when something was not checked. A key created through module calls shows the call chain in the
table and, in SARIF, as the result's relatedLocations (SARIF 2.1.0 §3.27.22, "relatedLocations
property": locations "relevant to understanding the result"; validated with sarif-pydantic's model,
as tests/iac/test_check_iac.py does)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from support import FIXTURES, ROOT
from test_check_iac import validate_sarif
from test_check_iac_bounds import alias_bomb

TF = FIXTURES / "terraform"
NOT_FOLLOWED = "module calls not followed (UNKNOWN_MODULE: their keys are not known)"


def summary(stderr: str) -> str:
    """The summary: the last line of stderr."""
    return stderr.strip().splitlines()[-1]


def test_a_root_whose_only_key_is_in_an_unread_module_says_so(check_iac):
    """Before: "check-iac: 1 files checked, 1 keys (1 UNKNOWN)": the module call counted as a key."""
    run = check_iac(str(TF / "modules-uninitialized"))
    assert run.code == 1
    assert summary(run.stderr) == f"check-iac: 1 files checked, 0 keys, 1 {NOT_FOLLOWED}"
    # --allow-unknown is unchanged: the row is UNKNOWN, and only UNKNOWN rows are left.
    allowed = check_iac("--allow-unknown", str(TF / "modules-uninitialized"))
    assert allowed.code == 0
    assert summary(allowed.stderr) == summary(run.stderr)


def test_keys_and_unread_module_calls_are_counted_apart(check_iac):
    run = check_iac(str(TF / "modules-registry"))
    assert run.code == 1
    assert summary(run.stderr) == f"check-iac: 2 files checked, 1 keys (1 NON_COMPLIANT), 1 {NOT_FOLLOWED}"


def test_files_with_no_key_are_counted(check_iac, tmp_path):
    """A template without a key, a Terraform root that creates none, a YAML file that is not a
    template: exit 0, but the line says that nothing was found in each. Before: "check-iac: 2
    files checked, 0 keys, 1 files skipped (neither a template nor a plan)"."""
    (tmp_path / "bucket.yaml").write_text("Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n")
    (tmp_path / "vpc").mkdir()
    (tmp_path / "vpc" / "main.tf").write_text('resource "aws_vpc" "this" {\n  cidr_block = "10.0.0.0/16"\n}\n')
    shutil.copy(FIXTURES / "other" / "workflow.yaml", tmp_path)
    run = check_iac(str(tmp_path))
    assert run.code == 0, run.stderr
    assert summary(run.stderr) == (
        "check-iac: 2 files checked, 0 keys, 1 templates or plans with no KMS key, 1 Terraform root modules with no KMS"
        " key, 1 files skipped (neither a template nor a plan)")


def test_files_refused_over_a_limit_are_counted_apart_from_unreadable_ones(check_iac, tmp_path):
    """Before: "check-iac: 1 files checked, 2 keys (2 NON_COMPLIANT), 2 files unreadable"."""
    (tmp_path / "bomb.yaml").write_text(alias_bomb())
    (tmp_path / "broken.yaml").write_text("Resources: [\n")
    shutil.copy(FIXTURES / "cloudformation" / "rotation-off.yaml", tmp_path)
    run = check_iac(str(tmp_path))
    assert run.code == 2, run.stderr
    assert summary(run.stderr) == (
        "check-iac: 1 files checked, 2 keys (2 NON_COMPLIANT), 1 files refused over a limit, 1 files unreadable")


def test_the_whole_fixture_corpus(check_iac):
    run = check_iac("--max-rotation-period-days", "365", str(FIXTURES.relative_to(ROOT)))
    assert run.code == 1
    assert summary(run.stderr) == (
        "check-iac: 39 files checked, 85 keys (31 COMPLIANT, 31 NON_COMPLIANT, 13 NOT_APPLICABLE, 10 UNKNOWN), "
        f"2 {NOT_FOLLOWED}, 1 templates or plans with no KMS key, 5 files skipped (neither a template nor a plan)")


def two_roots_calling_one_module(tmp_path: Path) -> Path:
    """Two roots, each calling ../kms: the key has the same address in both."""
    (tmp_path / "kms").mkdir()
    (tmp_path / "kms" / "main.tf").write_text(
        'variable "rotate" {}\nresource "aws_kms_key" "this" {\n  enable_key_rotation = var.rotate\n}\n')
    for name, rotate in (("prod", "true"), ("dev", "false")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "main.tf").write_text(f'module "key" {{\n  source = "../kms"\n  rotate = {rotate}\n}}\n')
    return tmp_path


def test_the_table_tells_two_keys_of_one_address_apart_by_their_call(check_iac, tmp_path):
    """Before: two rows "module.key.aws_kms_key.this", one COMPLIANT and one NON_COMPLIANT, at the
    same location, with nothing saying which root is which."""
    root = two_roots_calling_one_module(tmp_path)
    run = check_iac(str(root / "dev"), str(root / "prod"))
    assert run.code == 1
    for name, verdict in (("dev", "NON_COMPLIANT"), ("prod", "COMPLIANT")):
        call = f"via module.key ({root / name / 'main.tf'}:1)"
        [line] = [line for line in run.stdout.splitlines() if call in line]
        row = run.stdout.splitlines().index(line)
        assert "module.key.aws_kms_key.this" in run.stdout.splitlines()[row - 1]
        assert verdict in run.stdout.splitlines()[row - 1]


def test_sarif_results_carry_the_module_call_chain_as_related_locations(check_iac):
    """Nested calls: root -> module.nested (root main.tf:43) -> module.nested.module.kms (wrapper's
    main.tf:7), in that order, each a location with its own id (§3.28.2) and a message."""
    run = check_iac("--output", "sarif", str((TF / "modules").relative_to(ROOT)))
    doc = json.loads(run.stdout)
    validate_sarif(doc)
    results = {r["locations"][0]["logicalLocations"][0]["name"]: r for r in doc["runs"][0]["results"]}
    nested = results["module.nested.module.kms.aws_kms_key.this[0]"]["relatedLocations"]
    assert [(loc["id"], loc["physicalLocation"]["artifactLocation"]["uri"],
             loc["physicalLocation"]["region"]["startLine"], loc["message"]["text"]) for loc in nested] == [
        (0, str((TF / "modules" / "root" / "main.tf").relative_to(ROOT)), 43, "module call module.nested"),
        (1, str((TF / "modules" / "wrapper" / "main.tf").relative_to(ROOT)), 7,
         "module call module.nested.module.kms"),
    ]
    # A key declared in the root has no call to show.
    root_keys = [r for name, r in results.items() if not name.startswith("module.")]
    assert all("relatedLocations" not in r for r in root_keys)
