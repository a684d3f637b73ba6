"""End-to-end fixtures: the rule served by `cargo lambda watch`, talking to moto, and the fault
proxy (tools/faultproxy.py) in front of moto."""

from __future__ import annotations

import pytest

import localaws
from faultproxy import FaultProxy


@pytest.fixture(scope="session")
def rule(moto_endpoint, binaries, tmp_path_factory):
    """The `kms-rotation-rule` binary under the Lambda runtime emulator, in us-east-1."""
    log = tmp_path_factory.mktemp("lambda") / "watch.log"
    # Small ListKeys pages, so paging is exercised (tools/moto_server.py pages as AWS does).
    env = {"KMS_ROTATION_LIST_KEYS_PAGE_SIZE": "7"}
    with localaws.LambdaWatch(moto_endpoint, log, extra_env=env) as watch:
        yield watch


@pytest.fixture(scope="module")
def proxy(moto_endpoint):
    """The fault proxy in front of moto, one per test module; each test gives it its plan
    (`proxy.reset(Plan(...))`, which also clears its journal)."""
    with FaultProxy(moto_endpoint) as p:
        yield p
