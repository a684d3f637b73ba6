"""A fault-injecting HTTP proxy in front of moto, for the end-to-end fault tests.

The rule talks to the proxy (its AWS_ENDPOINT_URL); the proxy forwards each request to moto or
answers it with a fault instead, chosen by a seeded hash of (operation, what the request is about,
how many times that request was seen), so a run injects the same faults whatever order its
concurrent calls arrive in. It counts what it injected.

Faults, each a share of the attempts to a service (KMS, Config, STS):
- `throttling`: HTTP 400 `ThrottlingException` (awsJson 1.1: `{"__type": ..., "message": ...}`,
  as KMS and Config send it; STS, an awsQuery service, gets the XML `Throttling` error);
- `internal`: HTTP 500 (`KMSInternalException`, `InternalFailure`);
- `unavailable`: HTTP 503 `ServiceUnavailable`;
- `reset`: the connection is closed with a TCP reset before any answer;
- `slow`: the answer is held back `slow_seconds` and then forwarded.

Besides the faults, the proxy can play Config's PutEvaluations itself (moto only takes TestMode):
list a share of the evaluations in `FailedEvaluations`, refuse the token
(`InvalidResultTokenException`), or accept a real-looking token. And it can deny STS AssumeRole.
Every PutEvaluations answer it passes back is recorded: what Config took, and what it did not.
For runs over many accounts and Regions it can deny AssumeRole into some accounts only
(`assume_role_denied_accounts`), and refuse KMS requests signed for some Regions
(`kms_denied_regions`: `UnrecognizedClientException`, AWS's answer in a Region not enabled in the
account).

Used as a context manager: `with FaultProxy(moto_url) as proxy: ... proxy.url ...`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("throttling", "internal", "unavailable", "reset", "slow")


@dataclass
class Plan:
    """What to inject. Shares are per attempt, per service: 0.0 (never) to 1.0 (always)."""

    seed: int = 0
    kms: float = 0.0
    config: float = 0.0
    sts: float = 0.0
    kinds: tuple[str, ...] = FAULTS
    slow_seconds: float = 1.0
    # PutEvaluations, answered by the proxy instead of moto:
    failed_evaluations: float = 0.0  # share of evaluations listed in FailedEvaluations
    invalid_result_token: bool = False  # every call: InvalidResultTokenException
    accept_token: str | None = None  # a non-TESTMODE token the proxy takes (moto would not)
    assume_role_denied: bool = False
    # AssumeRole whose RoleArn names one of these accounts: STS's AccessDenied, as above.
    assume_role_denied_accounts: tuple[str, ...] = ()
    # KMS requests signed for one of these Regions (SigV4 credential scope): HTTP 400
    # UnrecognizedClientException, as AWS answers in a Region not enabled in the account.
    kms_denied_regions: tuple[str, ...] = ()
    # ListKeys answers AccessDeniedException (not retried) from this page on (1 = the first page).
    list_keys_denied_from_page: int | None = None
    # Seconds DescribeKey, GetKeyRotationStatus and ListResourceTags are held back, so keys are
    # still being evaluated when the listing breaks, as they are in a large account.
    key_read_delay: float = 0.0
    # Days subtracted from every DescribeKey CreationDate: keys look that much older (moto cannot
    # backdate a key), for the key material age checks.
    age_keys_days: int = 0
    # EventBridge PutEvents (the exception notices) answers AccessDeniedException, as AWS does to
    # a role without events:PutEvents; other EventBridge calls pass.
    put_events_denied: bool = False


@dataclass
class Taken:
    resource_id: str
    compliance: str
    annotation: str
    ordering: float


@dataclass
class Journal:
    injected: Counter = field(default_factory=Counter)
    attempts: Counter = field(default_factory=Counter)  # by operation
    put_evaluations: list[dict] = field(default_factory=list)  # every request body
    taken: list[Taken] = field(default_factory=list)
    refused: list[Taken] = field(default_factory=list)  # listed in FailedEvaluations
    sts_credentials: list[dict] = field(default_factory=list)  # what AssumeRole handed out
    operations: Counter = field(default_factory=Counter)  # "Service.Operation"
    listed: set = field(default_factory=set)  # every key id a successful ListKeys answer carried


def _unit(seed: int, *parts) -> float:
    digest = hashlib.sha256(repr((seed,) + parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _json(status: int, body: dict) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode()


def _json_error(status: int, code: str, message: str) -> tuple[int, dict, bytes]:
    return _json(status, {"__type": code, "message": message})


def _header(headers: dict, name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


def signed_region(headers: dict) -> str:
    """The Region a request was signed for: `Credential=AKID/date/REGION/service/aws4_request`."""
    auth = _header(headers, "Authorization")
    if "Credential=" not in auth:
        return ""
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    return scope[2] if len(scope) > 2 else ""


def role_account(text: str) -> str:
    """The account of an AssumeRole request's RoleArn (`arn:aws:iam::ACCOUNT:role/NAME`)."""
    arn = urllib.parse.parse_qs(text).get("RoleArn", [""])[0]
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def _query_error(status: int, code: str, message: str) -> tuple[int, dict, bytes]:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"
    )
    return status, {"Content-Type": "text/xml"}, body.encode()


class FaultProxy:
    def __init__(self, upstream: str, plan: Plan | None = None):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.plan = plan or Plan()
        self.journal = Journal()
        self._seen: Counter = Counter()
        self._pages: dict[str, int] = {}  # ListKeys NextMarker -> the page number it asks for
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's client expects

            def log_message(self, *args):  # quiet
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                answer = proxy._handle(self.command, self.path, dict(self.headers), body)
                if answer is None:  # reset
                    self.close_connection = True
                    try:
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.connection.close()
                    except OSError:
                        pass
                    return
                status, headers, payload = answer
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

            def finish(self):
                try:
                    super().finish()
                except (OSError, ValueError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self, plan: Plan) -> None:
        """A new plan, and a clean journal."""
        with self._lock:
            self.plan = plan
            self.journal = Journal()
            self._seen = Counter()
            self._pages = {}

    # ------------------------------------------------------------------------------------------

    def _forward(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            fwd = {k: v for k, v in headers.items() if k.lower() not in ("connection", "keep-alive")}
            conn.request(method, path, body=body, headers=fwd)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def _handle(self, method: str, path: str, headers: dict, body: bytes):
        target = headers.get("X-Amz-Target") or headers.get("x-amz-target") or ""
        text = body.decode(errors="replace")
        if target.startswith("TrentService."):
            service, operation = "kms", target.split(".", 1)[1]
        elif target.startswith("StarlingDoveService."):
            service, operation = "config", target.split(".", 1)[1]
        elif "Action=AssumeRole" in text:
            service, operation = "sts", "AssumeRole"
        elif target.startswith("AWSEvents."):
            return self._events(target.split(".", 1)[1], method, path, headers, body)
        else:  # moto's own API, or anything else: straight through
            return self._forward(method, path, headers, body)
        payload = {}
        if service != "sts":
            try:
                payload = json.loads(text or "{}")
            except json.JSONDecodeError:
                payload = {}
        if operation == "PutEvaluations":
            identity = ",".join(sorted(e.get("ComplianceResourceId", "") for e in payload.get("Evaluations", [])))
        elif service == "sts":
            identity = text
        else:
            identity = f"{payload.get('KeyId', '')}|{payload.get('Marker', '')}"
        with self._lock:
            plan, journal = self.plan, self.journal
            self._seen[(operation, identity)] += 1
            attempt = self._seen[(operation, identity)]
            journal.attempts[operation] += 1
            journal.operations[f"{service}.{operation}"] += 1
        share = {"kms": plan.kms, "config": plan.config, "sts": plan.sts}[service]
        if share > 0 and plan.kinds and _unit(plan.seed, operation, identity, attempt) < share:
            kind = plan.kinds[int(_unit(plan.seed ^ 0xFA17, operation, identity, attempt) * len(plan.kinds))]
            with self._lock:
                journal.injected[kind] += 1
            if kind == "reset":
                return None
            if kind == "slow":
                time.sleep(plan.slow_seconds)
            else:
                return self._fault(service, kind)
        if service == "sts":
            if plan.assume_role_denied or role_account(text) in plan.assume_role_denied_accounts:
                with self._lock:
                    journal.injected["assume_role_denied"] += 1
                return _query_error(
                    403, "AccessDenied",
                    "User: arn:aws:sts::999988887777:assumed-role/central/fn is not authorized to perform: sts:AssumeRole",
                )
            answer = self._forward(method, path, headers, body)
            self._record_credentials(answer)
            return answer
        if service == "kms" and plan.kms_denied_regions and signed_region(headers) in plan.kms_denied_regions:
            with self._lock:
                journal.injected["kms_region_denied"] += 1
            return _json_error(
                400, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        if operation == "PutEvaluations":
            return self._put_evaluations(plan, journal, method, path, headers, body, payload)
        if operation == "ListKeys":
            return self._list_keys(plan, journal, method, path, headers, body, payload)
        if operation in ("DescribeKey", "GetKeyRotationStatus", "ListResourceTags") and plan.key_read_delay:
            time.sleep(plan.key_read_delay)
        if operation == "DescribeKey" and plan.age_keys_days:
            status, headers_out, payload_out = self._forward(method, path, headers, body)
            if status == 200:
                data = json.loads(payload_out)
                meta = data.get("KeyMetadata", {})
                if "CreationDate" in meta:
                    meta["CreationDate"] = float(meta["CreationDate"]) - plan.age_keys_days * 86400
                payload_out = json.dumps(data).encode()
            return status, headers_out, payload_out
        return self._forward(method, path, headers, body)

    def _events(self, operation, method, path, headers, body):
        """EventBridge: counted, and PutEvents refused when the plan says so."""
        with self._lock:
            plan, journal = self.plan, self.journal
            journal.attempts[operation] += 1
            journal.operations[f"events.{operation}"] += 1
        if operation == "PutEvents" and plan.put_events_denied:
            with self._lock:
                journal.injected["put_events_denied"] += 1
            return _json_error(
                400, "AccessDeniedException",
                "User: arn:aws:sts::123456789012:assumed-role/rule/fn is not authorized to perform: events:PutEvents",
            )
        return self._forward(method, path, headers, body)

    def _list_keys(self, plan, journal, method, path, headers, body, payload):
        marker = payload.get("Marker")
        with self._lock:
            page = 1 if not marker else self._pages.get(marker, 0)
        if plan.list_keys_denied_from_page is not None and page >= plan.list_keys_denied_from_page:
            with self._lock:
                journal.injected["list_keys_denied"] += 1
            return _json_error(
                400, "AccessDeniedException",
                "User: arn:aws:sts::123456789012:assumed-role/rule/fn is not authorized to perform: kms:ListKeys",
            )
        answer = self._forward(method, path, headers, body)
        if answer[0] == 200:
            data = json.loads(answer[2] or b"{}")
            with self._lock:
                journal.listed.update(k["KeyId"] for k in data.get("Keys", []))
                if data.get("NextMarker"):
                    self._pages[data["NextMarker"]] = page + 1
        return answer

    def _fault(self, service: str, kind: str):
        if service == "sts":
            return {
                "throttling": _query_error(400, "Throttling", "Rate exceeded"),
                "internal": _query_error(500, "InternalFailure", "internal error"),
                "unavailable": _query_error(503, "ServiceUnavailable", "unavailable"),
            }[kind]
        internal = "KMSInternalException" if service == "kms" else "InternalFailure"
        return {
            "throttling": _json_error(400, "ThrottlingException", "Rate exceeded"),
            "internal": _json_error(500, internal, "We encountered an internal error. Please try again."),
            "unavailable": _json_error(503, "ServiceUnavailable", "Service unavailable"),
        }[kind]

    def _record_credentials(self, answer) -> None:
        status, _, body = answer
        text = body.decode(errors="replace")
        if status == 200 and "<SecretAccessKey>" in text:
            def between(tag):
                return text.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]
            with self._lock:
                self.journal.sts_credentials.append({
                    "AccessKeyId": between("AccessKeyId"),
                    "SecretAccessKey": between("SecretAccessKey"),
                    "SessionToken": between("SessionToken"),
                })

    def _put_evaluations(self, plan, journal, method, path, headers, body, payload):
        evaluations = payload.get("Evaluations", [])
        token = payload.get("ResultToken", "")
        with self._lock:
            journal.put_evaluations.append(payload)
        if plan.invalid_result_token:
            with self._lock:
                journal.injected["invalid_result_token"] += 1
            return _json_error(400, "InvalidResultTokenException", "The resultToken provided is invalid")
        failed = []
        if plan.failed_evaluations > 0:
            with self._lock:
                for e in evaluations:
                    rid = e.get("ComplianceResourceId", "")
                    self._seen[("FailedEvaluations", rid)] += 1
                    n = self._seen[("FailedEvaluations", rid)]
                    if _unit(plan.seed ^ 0xFE, rid, n) < plan.failed_evaluations:
                        failed.append(e)
                journal.injected["failed_evaluations"] += len(failed)
        if failed or (plan.accept_token is not None and token == plan.accept_token):
            answer = _json(200, {"FailedEvaluations": failed})
        else:
            answer = self._forward(method, path, headers, body)
            if answer[0] == 200:
                failed = json.loads(answer[2] or b"{}").get("FailedEvaluations", [])
        if answer[0] == 200:
            failed_ids = {(f["ComplianceResourceId"], f["ComplianceType"]) for f in failed}
            with self._lock:
                for e in evaluations:
                    t = Taken(e["ComplianceResourceId"], e["ComplianceType"], e.get("Annotation", ""),
                              e.get("OrderingTimestamp"))
                    (journal.refused if (t.resource_id, t.compliance) in failed_ids else journal.taken).append(t)
        return answer
