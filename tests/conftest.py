"""Shared pytest fixtures: moto on a free loopback port (one per test session), the AWS
environment pointing at it, the project's binaries built once and the pinned cfn-guard CLI.
Shared helpers that are not fixtures are in tests/support.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import localaws  # tools/, on pytest's pythonpath (pytest.ini)
import pytest

from support import GUARD, ROOT, pinned_guard_version

REGION = localaws.REGION


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """Start `moto_server` on a free port; stop it at the end, even on failure."""
    with localaws.MotoServer(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@pytest.fixture(scope="session")
def moto_endpoint(moto_server) -> str:
    return moto_server.url


@pytest.fixture
def moto(moto_endpoint) -> localaws.Moto:
    """The moto control API and recorder, for whichever moto `moto_endpoint` is."""
    return localaws.Moto(moto_endpoint)


@pytest.fixture
def aws_env(moto_endpoint, monkeypatch):
    """Standard AWS environment pointing at moto, with a clean moto state for the test."""
    env = localaws.aws_environment(moto_endpoint)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    localaws.Moto(moto_endpoint).reset()
    return env


@pytest.fixture
def kms(aws_env):
    return boto3.client("kms", region_name=REGION, endpoint_url=aws_env["AWS_ENDPOINT_URL"])


@pytest.fixture
def kms_for_region(aws_env):
    return lambda region: boto3.client("kms", region_name=region, endpoint_url=aws_env["AWS_ENDPOINT_URL"])


@pytest.fixture(scope="session")
def binaries() -> Path:
    """Build the project's binaries once (debug) and return the directory that holds them."""
    build = subprocess.run(["cargo", "build", "--quiet", "--bins"], cwd=ROOT, capture_output=True, text=True)
    if build.returncode != 0:
        # Every test that needs the binaries reports this; cargo's own words say why.
        pytest.fail(f"`cargo build --bins` exited {build.returncode}:\n{build.stderr[-4000:]}", pytrace=False)
    return ROOT / "target" / "debug"


@pytest.fixture(scope="session")
def guard_cli() -> Path:
    """The cfn-guard binary `make cfn-guard` installs. Missing is a failure, not a skip: `make test`
    installs it, and the tests that use it are about what that engine does."""
    assert GUARD.is_file(), f"{GUARD} is missing: run `make cfn-guard` (cargo install of the cfn-guard crate)"
    version = subprocess.run([str(GUARD), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.split() == ["cfn-guard", pinned_guard_version()], version
    return GUARD
