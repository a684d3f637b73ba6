"""moto's server with fidelity fixes, moto's behaviour being otherwise unchanged:

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
- EventBridge delivers to an SNS topic target, as EventBridge does: the event JSON is the
  message, published through moto's SNS backend, so the topic's subscriptions (an SQS queue)
  receive it. moto 5.2.5 raises NotImplementedError for an SNS target (Rule.send_to_targets),
  which fails the PutEvents call. An InputTransformer target gets the transformed input, as
  moto's other targets do.
- EventBridge TestEventPattern answers `{"Result": bool}` with moto's own pattern matcher (the one
  its rules use; moto 5.2.5 raises NotImplementedError). As AWS does, the event must carry id,
  account, source, time, region and detail-type (EventBridge API Reference, TestEventPattern:
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_TestEventPattern.html, which
  lists `resources` too; AWS accepts an event without it), else InvalidEventPatternException -
  the API's one documented client error; the message text is ours.
  (tests/baseline/test_notices.py runs this script as its server, like tests/conftest.py; the
  baseline's in-process moto of tests/baseline/conftest.py has neither fix.)

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


# --------------------------------------------------------------------------- EventBridge

# TestEventPattern: the fields the event must carry (see the module docstring).
TEST_EVENT_REQUIRED_FIELDS = ("id", "account", "source", "time", "region", "detail-type")


def patch_events() -> None:
    """EventBridge: delivery to SNS topic targets and TestEventPattern. Idempotent; importing this
    module applies it (and the KMS fixes above)."""
    import copy

    from moto.core.exceptions import JsonRESTError
    from moto.events.models import EventPattern, Rule
    from moto.events.responses import EventsHandler
    from moto.events.utils import EventTemplateParser
    from moto.sns.models import sns_backends
    from moto.utilities.arns import parse_arn

    if getattr(Rule, "_sns_targets_patched", False):
        return
    original_send_to_targets = Rule.send_to_targets

    def send_to_targets(self, original_event, transform_input: bool = True) -> None:
        sns = [t for t in self.targets if parse_arn(t["Arn"]).service == "sns"]
        if not sns:
            return original_send_to_targets(self, original_event, transform_input)
        if not self.event_pattern.matches_event(original_event):
            return None
        others = copy.copy(self)  # moto's own targets, without the SNS ones it cannot deliver
        others.targets = [t for t in self.targets if t not in sns]
        original_send_to_targets(others, original_event, transform_input)
        for target in sns:
            arn = parse_arn(target["Arn"])
            transformer = target.get("InputTransformer")
            if transform_input and transformer:
                message = EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=original_event,
                )
            else:
                # The whole event, as EventBridge delivers it: `time` as an ISO 8601 string.
                message = copy.deepcopy(dict(original_event))
                message.pop("ingestion-time", None)  # moto's own field, not in EventBridge's events
                if isinstance(message.get("time"), (int, float)):
                    message["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(message["time"]))
            body = message if isinstance(message, str) else json.dumps(message)
            sns_backends[arn.account][arn.region].publish(body, arn=target["Arn"])
        return None

    def test_event_pattern(self):
        pattern = EventPattern.load(self._get_param("EventPattern"))

        def invalid(reason: str) -> JsonRESTError:
            return JsonRESTError("InvalidEventPatternException", f"Event is not valid. Reason: {reason}")

        try:
            event = json.loads(self._get_param("Event") or "")
        except ValueError:
            raise invalid("not JSON") from None
        if not isinstance(event, dict):
            raise invalid("not a JSON object")
        missing = [name for name in TEST_EVENT_REQUIRED_FIELDS if name not in event]
        if missing:
            raise invalid(f"the mandatory field(s) {', '.join(missing)} missing")
        return json.dumps({"Result": pattern.matches_event(event)})

    Rule.send_to_targets = send_to_targets
    EventsHandler.test_event_pattern = test_event_pattern
    Rule._sns_targets_patched = True


patch_events()

if __name__ == "__main__":
    main()
