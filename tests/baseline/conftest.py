"""Fixtures of the baseline tests (conformance pack, runbook, templates, SCP).

`moto_endpoint` is overridden here (tests/conftest.py's `aws_env` and `kms` use it unchanged):
moto 5.2.5 ignores `RotationPeriodInDays` - EnableKeyRotation drops it and GetKeyRotationStatus
never returns it - so the runbook's period check could not pass against plain moto. This fixture
runs moto in a thread of the test process with those two KMS operations completed as the KMS API
reference describes them (period 90..2560, default 365, else ValidationException; the status
returns KeyId, KeyRotationEnabled and, when enabled, RotationPeriodInDays). Nothing else is
changed: moto still lets ANY key rotate (asymmetric, HMAC, pending deletion), so it is the
runbook's own checks that must keep those keys out.

One moto bug is fixed as well: a replica shares its primary's MultiRegionConfiguration dict, and
DescribeKey on the replica sets MultiRegionKeyType to REPLICA in it - so the primary then says
REPLICA too. Here the replica gets its own copy.
"""

from __future__ import annotations

import json

import pytest
from localaws import free_port  # tools/, on pytest's pythonpath (pytest.ini)
from support import PACK_DIR, RUNBOOK_PATH, load_cfn, load_yaml, wait_http  # tests/, on pytest's pythonpath


def _patch_moto_rotation_period() -> None:
    import copy

    from moto.kms.exceptions import ValidationException
    from moto.kms.models import KmsBackend
    from moto.kms.responses import KmsResponse

    if getattr(KmsResponse, "_rotation_period_patched", False):
        return

    original_replicate_key = KmsBackend.replicate_key

    def replicate_key(self, key_id, replica_region):
        replica = original_replicate_key(self, key_id, replica_region)
        replica.multi_region_configuration = copy.deepcopy(replica.multi_region_configuration)
        replica.multi_region_configuration["MultiRegionKeyType"] = "REPLICA"
        return replica

    def enable_key_rotation(self) -> str:
        key_id = self._get_param("KeyId")
        period = self._get_param("RotationPeriodInDays", 365)
        self._validate_cmk_id(key_id)
        if not isinstance(period, int) or not 90 <= period <= 2560:
            raise ValidationException(
                f"1 validation error detected: Value '{period}' at 'rotationPeriodInDays' failed "
                "to satisfy constraint: Member must have value between 90 and 2560"
            )
        self.kms_backend.enable_key_rotation(key_id)
        key = self.kms_backend.keys[self.kms_backend.get_key_id(key_id)]
        key.rotation_period_in_days = period
        return json.dumps(None)

    def get_key_rotation_status(self) -> str:
        key_id = self._get_param("KeyId")
        self._validate_cmk_id(key_id)
        key = self.kms_backend.keys[self.kms_backend.get_key_id(key_id)]
        enabled = self.kms_backend.get_key_rotation_status(key_id)
        body = {"KeyId": key.arn, "KeyRotationEnabled": enabled}
        if enabled:
            body["RotationPeriodInDays"] = getattr(key, "rotation_period_in_days", 365)
        return json.dumps(body)

    KmsResponse.enable_key_rotation = enable_key_rotation
    KmsResponse.get_key_rotation_status = get_key_rotation_status
    KmsBackend.replicate_key = replicate_key
    KmsResponse._rotation_period_patched = True


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server (in a thread of this process) whose KMS honours RotationPeriodInDays."""
    from moto.server import ThreadedMotoServer

    _patch_moto_rotation_period()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/")
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def runbook() -> dict:
    return load_yaml(RUNBOOK_PATH)


@pytest.fixture(scope="session")
def pack() -> dict:
    return load_cfn(PACK_DIR / "kms-rotation-conformance-pack.yaml")


@pytest.fixture(scope="session")
def rule_parameters() -> list[str]:
    return json.loads((PACK_DIR / "rule-parameters.json").read_text())["parameters"]
