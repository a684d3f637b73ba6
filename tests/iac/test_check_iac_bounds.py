"""check-iac on hostile input: every bound stops the work with exit 2 and a message naming the file
and the limit, and the other files are still checked. Each run has an address-space limit far
above what a real template needs, so a bound that no longer holds fails this test instead of
taking the machine down."""

from __future__ import annotations

import resource
import shutil
import subprocess

from support import FIXTURES, ROOT, Run

MEMORY_LIMIT = 2 * 1024**3  # bytes of address space for one check-iac run


def run_bounded(binaries, *args: str) -> Run:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    proc = subprocess.run([str(binaries / "kms-rotation"), "check-iac", "--output", "json", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, preexec_fn=limit)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def alias_bomb(levels: int = 10) -> str:
    """Ten levels of anchors, each a list naming the one before ten times: 10^10 nodes once
    expanded, in 719 bytes (the issue's file)."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    lines.append(f"Resources:\n  Key:\n    Type: AWS::KMS::Key\n    Properties:\n      Tags: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def with_a_good_template(tmp_path):
    shutil.copy(FIXTURES / "cloudformation" / "rotation-off.yaml", tmp_path)


def test_an_alias_bomb_is_refused_before_it_is_expanded(binaries, tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    assert len(bomb.read_bytes()) < 1024
    with_a_good_template(tmp_path)
    run = run_bounded(binaries, str(tmp_path))
    assert run.code == 2, run.stderr
    error = next(line for line in run.stderr.splitlines() if line.startswith("error: "))
    assert "bomb.yaml" in error and "refused" in error and "more than 1000000 nodes" in error, error
    # The other file was checked, its keys reported.
    assert {f["resource"] for f in run.findings()} == {"DataKey", "ExplicitlyOff"}


def test_a_file_over_the_size_limit_is_refused(binaries, tmp_path):
    big = tmp_path / "big.yaml"
    chunk = b"# padding\n" * 100_000  # 1 MB
    with big.open("wb") as f:
        for _ in range(50):
            f.write(chunk)
    with_a_good_template(tmp_path)
    run = run_bounded(binaries, str(tmp_path))
    assert run.code == 2, run.stderr
    assert any("big.yaml" in line and "larger than 32 MiB" in line for line in run.stderr.splitlines()), run.stderr
    assert {f["resource"] for f in run.findings()} == {"DataKey", "ExplicitlyOff"}


def test_deep_nesting_is_refused(binaries, tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("Resources: " + "[" * 100_000 + "]" * 100_000 + "\n")
    run = run_bounded(binaries, str(deep))
    assert run.code == 2
    assert "deep.yaml" in run.stderr


def test_aliases_within_the_budget_are_read(binaries, tmp_path):
    """Real templates use anchors for shared tags: read as if written out."""
    template = tmp_path / "anchors.yaml"
    template.write_text(
        "Resources:\n"
        "  A:\n    Type: AWS::KMS::Key\n    Properties: &props\n      EnableKeyRotation: false\n"
        "  B:\n    Type: AWS::KMS::Key\n    Properties: *props\n")
    run = run_bounded(binaries, str(template))
    assert run.code == 1, run.stderr
    assert {f["resource"]: f["reason"] for f in run.findings()} == {"A": "ROTATION_OFF", "B": "ROTATION_OFF"}
