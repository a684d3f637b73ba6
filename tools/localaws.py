"""The local AWS: moto in server mode, the rule under `cargo lambda watch`, moto's request
recorder, and a seeded account with one key for each case moto can represent.

Shared by `make demo` (tools/demo.py) and the end-to-end tests (tests/e2e/).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"  # the rule's Region in the demo and the tests
OTHER_REGION = "us-west-2"  # where the multi-Region primary lives
FUNCTION = "kms-rotation-rule"
EVENTS = ROOT / "tests" / "events"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check, what: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log else ""
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready\n{tail}")
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - anything means "not yet"
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready within {timeout:.0f}s ({last})")


def _on_a_free_port(server, start, attempts: int = 3) -> None:
    """Run `start()`, which starts `server.proc` on `server.port`. The port was free when
    `free_port` chose it, but another process may take it before ours binds it: when the process
    exits before it is ready, start again on another free port."""
    for attempt in range(attempts):
        try:
            start()
            return
        except RuntimeError:
            exited = server.proc is not None and server.proc.poll() is not None
            if not exited or attempt == attempts - 1:
                raise
            server.port = free_port()


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process started in its own session, and everything it started."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def aws_environment(endpoint: str, region: str = REGION) -> dict[str, str]:
    """The standard AWS environment variables, pointing at the local endpoint."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


class Moto:
    """A running moto server: its control API and its request recorder."""

    def __init__(self, url: str):
        self.url = url

    def post(self, path: str) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}{path}", method="POST"), timeout=10)

    def reset(self, seed: int = 20261129) -> None:
        """A clean state, and moto's random source seeded, so the key ids (and so the faults the
        proxy picks by hashing them) are the same on every run."""
        self.post("/moto-api/reset")
        self.post(f"/moto-api/seed?a={seed}")

    def start_recording(self) -> None:
        self.post("/moto-api/recorder/reset-recording")
        self.post("/moto-api/recorder/start-recording")

    def stop_recording(self) -> None:
        self.post("/moto-api/recorder/stop-recording")

    def recorded(self) -> list[dict]:
        """Every request moto received since recording started: target, body (decoded JSON), headers."""
        raw = urllib.request.urlopen(f"{self.url}/moto-api/recorder/download-recording", timeout=10).read()
        requests = []
        for line in raw.decode().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode()
            try:
                payload = json.loads(body) if body else {}
            except json.JSONDecodeError:
                payload = {"raw": body}
            headers = entry.get("headers") or {}
            target = headers.get("X-Amz-Target", "")
            requests.append({"target": target.split(".")[-1], "body": payload, "headers": headers})
        return requests


class MotoServer(Moto):
    """moto in server mode (tools/moto_server.py: ListKeys paged as AWS does) on a free loopback
    port; stopped on exit, even on failure."""

    def __init__(self, log: Path):
        self.port = free_port()
        super().__init__(f"http://127.0.0.1:{self.port}")
        self.log = log
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "MotoServer":
        # moto's recorder writes its file to the working directory unless told otherwise.
        env = {**os.environ, "MOTO_RECORDER_FILEPATH": str(self.log.with_suffix(".recording"))}

        def start() -> None:
            self.url = f"http://127.0.0.1:{self.port}"
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "tools" / "moto_server.py"), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=open(self.log, "wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
            _wait(lambda: urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2), "moto", 30, self.proc, self.log)

        _on_a_free_port(self, start)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc:
            _stop(self.proc)


def put_evaluations(requests: list[dict]) -> list[list[dict]]:
    """The Evaluations of each PutEvaluations request, in order."""
    return [r["body"].get("Evaluations", []) for r in requests if r["target"] == "PutEvaluations"]


def cargo_lambda() -> str:
    """cargo-lambda from the project's venv (beside this Python), else from PATH."""
    return shutil.which("cargo-lambda", path=str(Path(sys.executable).parent)) or "cargo-lambda"


def venv_path_env() -> dict[str, str]:
    """The environment with this Python's bin directory first on PATH: cargo-lambda finds zig
    through `python3 -m ziglang`, which must be the venv's Python."""
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}


class LambdaWatch:
    """The rule's binary served by `cargo lambda watch` (the Lambda runtime emulator)."""

    def __init__(self, endpoint: str, log: Path, region: str = REGION, extra_env: dict | None = None):
        self.port = free_port()
        self.log = log
        self.env = {**venv_path_env(), **aws_environment(endpoint, region), **(extra_env or {})}
        self.env.setdefault("RUST_LOG", "info")
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "LambdaWatch":
        def start() -> None:
            self.proc = subprocess.Popen(
                [cargo_lambda(), "lambda", "watch", "--ignore-changes", "--invoke-address", "127.0.0.1",
                 "--invoke-port", str(self.port), "-p", "rule-lambda", "--bin", FUNCTION,
                 # The Lambda's own build: nothing of the CLI (rule-lambda/Cargo.toml).
                 "--no-default-features", "--features", "lambda"],
                cwd=ROOT,
                env=self.env,
                stdout=open(self.log, "wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            _wait(lambda: socket.create_connection(("127.0.0.1", self.port), timeout=1).close() or True,
                  "cargo lambda watch", 600, self.proc, self.log)

        _on_a_free_port(self, start)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc:
            _stop(self.proc)

    def invoke(self, payload: dict, timeout: float = 600) -> tuple[bool, dict]:
        """Invoke the function; (True, result) on success, (False, {errorType, errorMessage}) on error."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/2015-03-31/functions/{FUNCTION}/invocations",
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                body = json.loads(resp.read() or b"null")
                return not (isinstance(body, dict) and "errorType" in body), body
        except urllib.error.HTTPError as err:
            return False, json.loads(err.read() or b"{}")


def event(name: str, key_id: str | None = None, **overrides) -> dict:
    """A fixture event from tests/events/, with KEY_ID replaced and top-level fields overridden."""
    text = (EVENTS / f"{name}.json").read_text()
    if key_id is not None:
        text = text.replace("KEY_ID", key_id)
    payload = json.loads(text)
    payload.update(overrides)
    return payload


@dataclass
class SeededKey:
    key_id: str
    case: str
    expected: str  # ComplianceType the rule must report
    says: str  # a phrase the annotation must contain
    fixable: bool = False  # whether remediation turns it COMPLIANT


def seed_account(kms_for_region, fillers: int = 16) -> list[SeededKey]:
    """Create one key for each case moto can represent, plus `fillers` plain keys (half rotating).

    `kms_for_region(region)` returns a boto3 KMS client. moto cannot represent AWS-managed keys,
    rotation periods, custom key stores or a pending import, so those cases live in the mock tests.
    """
    kms = kms_for_region(REGION)
    keys: list[SeededKey] = []

    def add(case, expected, says, fixable=False, **create):
        meta = kms.create_key(Description=f"demo: {case}", **create)["KeyMetadata"]
        keys.append(SeededKey(meta["KeyId"], case, expected, says, fixable))
        kms.create_alias(AliasName=f"alias/demo/{case}", TargetKeyId=meta["KeyId"])
        return meta["KeyId"]

    on = add("rotation-on", "COMPLIANT", "Automatic rotation is on")
    kms.enable_key_rotation(KeyId=on)
    custom = add("rotation-on-180-days", "COMPLIANT", "Automatic rotation is on")
    kms.enable_key_rotation(KeyId=custom, RotationPeriodInDays=180)
    add("rotation-off", "NON_COMPLIANT", "Automatic rotation is off", fixable=True)
    add("asymmetric-rsa", "NOT_APPLICABLE", "KeySpec RSA_2048 (asymmetric)", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    add("asymmetric-ecc", "NOT_APPLICABLE", "KeySpec ECC_NIST_P256 (asymmetric)", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    add("hmac", "NOT_APPLICABLE", "KeySpec HMAC_256 (HMAC)", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    add("imported-material", "NOT_APPLICABLE", "Imported key material", Origin="EXTERNAL")
    disabled = add("disabled", "NOT_APPLICABLE", "Key is disabled")
    kms.disable_key(KeyId=disabled)
    doomed = add("pending-deletion", "NOT_APPLICABLE", "pending deletion")
    kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=7)

    future = (dt.date.today() + dt.timedelta(days=90)).isoformat()
    past = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    tag = "kms-rotation-exception"
    add("exception-valid", "NOT_APPLICABLE", "approved exception: owner team-payments",
        Tags=[{"TagKey": tag, "TagValue": f"owner=team-payments expires={future} ticket=SEC-101"}])
    add("exception-expired", "NON_COMPLIANT", f"exception expired on {past}", fixable=True,
        Tags=[{"TagKey": tag, "TagValue": f"owner=team-data expires={past} ticket=SEC-77"}])
    add("exception-malformed", "NON_COMPLIANT", "is malformed", fixable=True,
        Tags=[{"TagKey": tag, "TagValue": "approved until next year"}])
    add("prod-rotation-off", "NON_COMPLIANT", "Automatic rotation is off", fixable=True,
        Tags=[{"TagKey": "env", "TagValue": "prod"}])

    # A multi-Region key whose primary is in another Region: the replica, here, names the primary.
    west = kms_for_region(OTHER_REGION)
    primary = west.create_key(MultiRegion=True, Description="demo: multi-region primary")["KeyMetadata"]
    west.replicate_key(KeyId=primary["KeyId"], ReplicaRegion=REGION)
    kms.create_alias(AliasName="alias/demo/multi-region-replica", TargetKeyId=primary["KeyId"])
    keys.append(SeededKey(primary["KeyId"], "multi-region-replica", "NON_COMPLIANT",
                          f"primary key {primary['Arn']}", fixable=True))

    for i in range(fillers):
        rotating = i % 2 == 0
        key_id = add(f"filler-{i:02d}", "COMPLIANT" if rotating else "NON_COMPLIANT",
                     "Automatic rotation is on" if rotating else "Automatic rotation is off",
                     fixable=not rotating)
        if rotating:
            kms.enable_key_rotation(KeyId=key_id)
    return keys


def aliases(kms) -> dict[str, str]:
    """Key id -> alias name, for display."""
    out: dict[str, str] = {}
    for page in kms.get_paginator("list_aliases").paginate():
        for a in page["Aliases"]:
            if a.get("TargetKeyId"):
                out.setdefault(a["TargetKeyId"], a["AliasName"])
    return out
