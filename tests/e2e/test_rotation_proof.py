"""Proof of rotation end to end: `maxKeyMaterialAgeInDays` through the real CLI against moto.

moto creates every key "now" and cannot backdate one, so the fault proxy (tools/faultproxy.py,
`age_keys_days`) makes every key look 400 days old in DescribeKey's CreationDate. moto implements
RotateKeyOnDemand and ListKeyRotations (a rotation dated when it was asked for), so a key rotated
on demand has young material and a key never rotated has material as old as the key.
"""

from __future__ import annotations

import json


from faultproxy import FaultProxy, Plan
from localaws import REGION
from support import run_cli


def audit(binaries, proxy: FaultProxy, *flags: str) -> tuple[int, dict[str, dict], str]:
    out = run_cli(binaries, "audit", "--output", "json", "--region", REGION, *flags,
                  env={"AWS_ENDPOINT_URL": proxy.url})
    records = {r["resourceId"]: r for r in map(json.loads, out.stdout.splitlines())}
    return out.returncode, records, out.stderr


def test_key_material_older_than_the_maximum_is_non_compliant(binaries, kms, proxy):
    # Given three keys that look 400 days old: rotation on and rotated on demand today; rotation
    # on and never rotated; imported material never rotated
    rotated = kms.create_key(Description="rotated on demand")["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=rotated)
    kms.rotate_key_on_demand(KeyId=rotated)
    stale = kms.create_key(Description="never rotated")["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=stale)
    imported = kms.create_key(Description="imported", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    proxy.reset(Plan(age_keys_days=400))

    # When the audit holds key material to 365 days
    code, records, stderr = audit(binaries, proxy, "--max-key-material-age-days", "365")

    # Then the key rotated today passes, the others do not, each with its own fix
    assert code == 1, stderr
    assert (records[rotated]["complianceType"], records[rotated]["reason"]) == ("COMPLIANT", "ROTATION_ON")
    assert (records[stale]["complianceType"], records[stale]["reason"]) == ("NON_COMPLIANT", "MATERIAL_TOO_OLD")
    assert "days old (never rotated; created" in records[stale]["annotation"]
    assert f"aws kms rotate-key-on-demand --key-id {stale}" in records[stale]["annotation"]
    assert (records[imported]["complianceType"], records[imported]["reason"]) == ("NON_COMPLIANT", "MATERIAL_TOO_OLD")
    assert "import new key material (ImportType NEW_KEY_MATERIAL)" in records[imported]["annotation"]
    # ListKeyRotations was asked once for each of the three keys, and for nothing else
    assert proxy.journal.operations["kms.ListKeyRotations"] == 3, proxy.journal.operations


def test_without_the_parameter_list_key_rotations_is_never_called(binaries, kms, proxy):
    # Given the same kinds of key, as old
    on = kms.create_key(Description="never rotated")["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=on)
    imported = kms.create_key(Description="imported", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    proxy.reset(Plan(age_keys_days=400))

    # When the audit runs with the defaults
    code, records, stderr = audit(binaries, proxy)

    # Then nothing asks for the key rotations, and imported material is out of scope as before
    assert code == 0, stderr
    assert records[on]["reason"] == "ROTATION_ON"
    assert (records[imported]["complianceType"], records[imported]["reason"]) == ("NOT_APPLICABLE", "IMPORTED_MATERIAL")
    assert proxy.journal.operations["kms.ListKeyRotations"] == 0
