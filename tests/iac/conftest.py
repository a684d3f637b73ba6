"""Fixtures of the shift-left tests: the kms-rotation binary and a runner for check-iac."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def findings(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def check_iac(binaries):
    exe = binaries / "kms-rotation"

    def run(*args: str, cwd: Path = ROOT) -> Run:
        proc = subprocess.run(
            [str(exe), "check-iac", *args], capture_output=True, text=True, cwd=cwd, timeout=120
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run
