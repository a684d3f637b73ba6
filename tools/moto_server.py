"""moto's server with two fidelity fixes, moto's behaviour being otherwise unchanged:

- ListKeys pages as AWS pages it: moto 5 ignores `Limit` and `Marker` and returns every key in
  one page, so the rule's paging could not be exercised end to end;
- a multi-Region replica shares its primary key's rotation setting, as in AWS: moto keeps a
  separate copy on each replica, so enabling rotation on the primary never reached the replica;
- ListKeyRotations answers, paged as AWS pages it: moto 5.2.5 answers 500 (its backend returns a
  list where its response handler unpacks two values);
- GetKeyLastUsage (KMS API Reference, 2026), which moto does not have: Encrypt and
  GenerateDataKey record the key's last use (operation and time), and GetKeyLastUsage answers
  `KeyLastUsage` for a key used since the server started, none otherwise, with the key's
  creation date as `TrackingStartDate` and `KeyCreationDate`. Only a real account shows what
  KMS tracks (docs/operator-guide.md, "Rotation evidence").

Usage: the same arguments as `moto_server` (python tools/moto_server.py -H 127.0.0.1 -p 5000).
"""

from __future__ import annotations

import json
import time

from moto.kms.models import KmsBackend, kms_backends
from moto.kms.responses import KmsResponse
from moto.server import main


def list_keys(self) -> str:
    keys = list(self.kms_backend.list_keys())
    limit = int(self._get_param("Limit") or 1000)
    start = int(self._get_param("Marker") or 0)
    end = start + limit
    more = end < len(keys)
    return json.dumps(
        {
            "Keys": [{"KeyArn": key.arn, "KeyId": key.id} for key in keys[start:end]],
            "NextMarker": str(end) if more else None,
            "Truncated": more,
        }
    )


KmsResponse.list_keys = list_keys


def rotation_holder(backend: KmsBackend, key_id: str):
    """The key whose rotation setting applies: a replica's primary, else the key itself."""
    key = backend.keys[backend.get_key_id(key_id)]
    config = getattr(key, "multi_region_configuration", None) or {}
    primary_region = (config.get("PrimaryKey") or {}).get("Region")
    if key.multi_region and primary_region and primary_region != backend.region_name:
        primary = kms_backends[backend.account_id][primary_region].keys.get(key.id)
        if primary is not None:
            return primary
    return key


def enable_key_rotation(self, key_id: str, *args, **kwargs) -> None:
    rotation_holder(self, key_id).key_rotation_status = True


def disable_key_rotation(self, key_id: str) -> None:
    rotation_holder(self, key_id).key_rotation_status = False


def get_key_rotation_status(self, key_id: str) -> bool:
    return rotation_holder(self, key_id).key_rotation_status


def known_key(response: KmsResponse):
    """The key of the request's KeyId; NotFoundException (as moto answers it) for another."""
    key_id = response._get_param("KeyId")
    response._validate_key_id(key_id)
    return response.kms_backend.keys[response.kms_backend.get_key_id(key_id)]


def list_key_rotations(self) -> str:
    key = known_key(self)
    rotations = list(key.rotations)
    limit = int(self._get_param("Limit") or 1000)
    start = int(self._get_param("Marker") or 0)
    end = start + limit
    more = end < len(rotations)
    answer = {"Rotations": rotations[start:end], "Truncated": more}
    if more:
        answer["NextMarker"] = str(end)
    return json.dumps(answer)


KmsResponse.list_key_rotations = list_key_rotations

LAST_USE: dict[str, tuple[str, float]] = {}


def recording_use(operation: str, method):
    def wrapper(self, key_id, *args, **kwargs):
        answer = method(self, key_id, *args, **kwargs)
        LAST_USE[self.any_id_to_key_id(key_id)] = (operation, time.time())
        return answer

    return wrapper


KmsBackend.encrypt = recording_use("Encrypt", KmsBackend.encrypt)
KmsBackend.generate_data_key = recording_use("GenerateDataKey", KmsBackend.generate_data_key)


def get_key_last_usage(self) -> str:
    key = known_key(self)
    answer = {"KeyId": key.arn, "TrackingStartDate": key.creation_date, "KeyCreationDate": key.creation_date}
    if key.id in LAST_USE:
        operation, at = LAST_USE[key.id]
        answer["KeyLastUsage"] = {"Operation": operation, "Timestamp": at}
    return json.dumps(answer)


KmsResponse.get_key_last_usage = get_key_last_usage

KmsBackend.enable_key_rotation = enable_key_rotation
KmsBackend.disable_key_rotation = disable_key_rotation
KmsBackend.get_key_rotation_status = get_key_rotation_status

if __name__ == "__main__":
    main()
