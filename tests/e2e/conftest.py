"""End-to-end fixtures: the rule served by `cargo lambda watch`, talking to moto."""

from __future__ import annotations

import pytest

import localaws


@pytest.fixture(scope="session")
def rule(moto_endpoint, binaries, tmp_path_factory):
    """The `kms-rotation-rule` binary under the Lambda runtime emulator, in us-east-1."""
    log = tmp_path_factory.mktemp("lambda") / "watch.log"
    with localaws.LambdaWatch(moto_endpoint, log) as watch:
        yield watch
