"""No credentials, tokens or key material in the rule's logs.

The real binary runs under `cargo lambda watch` (whose log file holds everything the function
writes), behind the fault proxy (tools/faultproxy.py), with distinctive environment credentials.
It assumes a member role (moto's STS hands out fresh credentials, which the proxy notes), takes a
real-looking result token (the proxy plays Config for it, as moto only takes TESTMODE), meets
faults, a refused token and a refused event: every path that logs. Then the log is searched for
each secret.
"""

from __future__ import annotations

import json

import pytest

import localaws
from faultproxy import FaultProxy, Plan
from localaws import event

ENV_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYE2ELOGSECRET"
ENV_TOKEN = "FwoGZXIvYXdzEE2ELogTestSessionTokenQ2hvb3NlIGEgcmVhbCBsb29raW5nIHRva2Vu=="
RESULT_TOKEN = (
    "eyJjb25maWdSdWxlSWQiOiJjb25maWctcnVsZS1rbXNyb3QiLCJyZXN1bHRUb2tlbiI6ImUyZS1sb2dzIn0."
    "Zm9yLXRoZS1lMmUtbG9nLXRlc3Q"
)
ROLE = json.dumps({"ExecutionRoleName": "KmsRotationRuleEvaluation"})


def run_everything(watch, proxy, kms_for_region) -> list[dict]:
    """The runs whose log is searched; returns the STS credentials handed out meanwhile."""
    keys = localaws.seed_account(kms_for_region, fillers=2)
    # A cross-account periodic run with a real token, through faults.
    proxy.reset(Plan(seed=9, kms=0.3, config=0.3, sts=0.2, kinds=("throttling", "internal", "reset"),
                     accept_token=RESULT_TOKEN))
    ok, result = watch.invoke(event("scheduled", ruleParameters=ROLE, resultToken=RESULT_TOKEN))
    assert ok or result["errorType"] == "KeysNotEvaluated", result
    credentials = list(proxy.journal.sts_credentials)
    # A change event whose token Config refuses.
    proxy.reset(Plan(invalid_result_token=True))
    ok, result = watch.invoke(event("change-rotation-off", keys[0].key_id, ruleParameters=ROLE,
                                    resultToken=RESULT_TOKEN))
    assert not ok and "InvalidResultTokenException" in result["errorMessage"], result
    credentials += proxy.journal.sts_credentials
    # A refused event.
    ok, result = watch.invoke(event("bad-parameters", resultToken=RESULT_TOKEN))
    assert not ok and result["errorType"] == "InvalidRuleParameters", result
    assert credentials, "the role was assumed, so STS handed out credentials"
    return credentials


def secrets_in(log: str, credentials: list[dict]) -> list[str]:
    found = []
    checks = [("environment secret access key", ENV_SECRET), ("environment session token", ENV_TOKEN),
              ("result token", RESULT_TOKEN)]
    for c in credentials:
        checks += [("assumed secret access key", c["SecretAccessKey"]),
                   ("assumed session token", c["SessionToken"])]
    for what, secret in checks:
        # The whole secret, or a recognisable part of it (cut or wrapped).
        if secret in log or secret[:20] in log:
            found.append(what)
    # The rule never asks KMS for key material, so none can be logged (test_faults checks the
    # operations); these would be the names of the fields that carry it.
    for field in ("Plaintext", "CiphertextBlob", "KeyMaterial"):
        if field in log:
            found.append(f"a {field} field")
    return sorted(set(found))


@pytest.mark.parametrize(
    "level",
    [
        "info",
        "debug",
        "trace",
    ],
)
def test_no_credentials_tokens_or_key_material_in_the_log(moto_endpoint, binaries, kms_for_region,
                                                           tmp_path, level):
    log_path = tmp_path / "watch.log"
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAE2ELOGTESTKEY001",
        "AWS_SECRET_ACCESS_KEY": ENV_SECRET,
        "AWS_SESSION_TOKEN": ENV_TOKEN,
        "RUST_LOG": level,
    }
    with FaultProxy(moto_endpoint) as proxy, \
            localaws.LambdaWatch(proxy.url, log_path, extra_env=env) as watch:
        start = log_path.stat().st_size
        credentials = run_everything(watch, proxy, kms_for_region)
    log = log_path.read_bytes()[start:].decode(errors="replace")
    # The log is the function's: its summary and its error lines are there.
    assert "periodic evaluation finished" in log
    assert "invocation failed" in log
    assert secrets_in(log, credentials) == [], f"RUST_LOG={level}"
    print(f"no_secrets_in_the_log[{level}]: {len(log.splitlines())} lines scanned, "
          f"{len(credentials)} STS credential set(s) looked for")
