"""Fixtures of the shift-left tests: a runner for `kms-rotation check-iac` (support.Run)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support import ROOT, Run


@pytest.fixture(scope="session")
def check_iac(binaries):
    exe = binaries / "kms-rotation"

    def run(*args: str, cwd: Path = ROOT) -> Run:
        proc = subprocess.run(
            [str(exe), "check-iac", *args], capture_output=True, text=True, cwd=cwd, timeout=120
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run
