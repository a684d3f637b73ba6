"""End-to-end fixtures: the rule served by `cargo lambda watch`, talking to moto."""

from __future__ import annotations

import pytest

import localaws


@pytest.fixture(scope="session")
def rule(moto_endpoint, binaries, tmp_path_factory):
    """The `kms-rotation-rule` binary under the Lambda runtime emulator, in us-east-1."""
    log = tmp_path_factory.mktemp("lambda") / "watch.log"
    # Small ListKeys pages, so paging is exercised (tools/moto_server.py pages as AWS does).
    env = {"KMS_ROTATION_LIST_KEYS_PAGE_SIZE": "7"}
    with localaws.LambdaWatch(moto_endpoint, log, extra_env=env) as watch:
        yield watch
