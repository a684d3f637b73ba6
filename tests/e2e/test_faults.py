"""The rule end to end when AWS misbehaves: the real binary under `cargo lambda watch`, talking to
moto through a fault-injecting proxy (tools/faultproxy.py) that throttles, fails with 500/503,
resets connections and answers slowly, on KMS, Config and STS alike, by a seeded plan.

The property of every test: each key of the account ends with exactly one evaluation Config took,
with the right ComplianceType and the invocation's OrderingTimestamp, or it is named in the
invocation's error. Each test prints how many faults it injected (`pytest -s`).
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

import localaws
from faultproxy import FaultProxy, Plan
from localaws import event

NOTIFICATION_EPOCH = 1795860000  # tests/events/scheduled.json's notificationCreationTime
ROLE = {"ExecutionRoleName": "KmsRotationRuleEvaluation"}


@pytest.fixture(scope="module")
def rule_behind_proxy(proxy, binaries, tmp_path_factory):
    """The rule, with AWS_ENDPOINT_URL pointing at the fault proxy."""
    log = tmp_path_factory.mktemp("lambda-faults") / "watch.log"
    with localaws.LambdaWatch(proxy.url, log) as watch:
        yield watch


def periodic(parameters: dict | None = None, token: str = "TESTMODE") -> dict:
    return event("scheduled", ruleParameters=json.dumps(parameters or {}), resultToken=token)


def invoke(watch, payload: dict) -> tuple[bool, dict, set[str]]:
    """Invoke the rule; also the key ids its log names as "key not evaluated" in this invocation.

    The rule logs one such line per key it leaves without an evaluation (the error message shows
    only the first 20), before its "periodic evaluation finished" line."""
    start = watch.log.stat().st_size
    ok, result = watch.invoke(payload)
    logged: set[str] = set()
    if ok or result.get("errorType") != "KeysNotEvaluated":
        return ok, result, logged
    deadline = time.monotonic() + 30
    while True:
        text = watch.log.read_bytes()[start:].decode(errors="replace")
        if "periodic evaluation finished" in text or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert "periodic evaluation finished" in text, "the rule's log did not reach the run's end"
    for line in text.splitlines():
        if "key not evaluated" in line and "{" in line:
            fields = json.loads(line[line.index("{"):]).get("fields", {})
            logged.add(fields["key_id"])
    return ok, result, logged


def check_property(proxy: FaultProxy, keys, ok: bool, result: dict, logged: set[str]) -> tuple[int, int]:
    """Every key taken once and rightly, or named (in the error or, by id, in the rule's log).
    Only keys that no ListKeys answer carried may be neither, and only when the error says the
    listing broke off. Returns (evaluated, named)."""
    message = "" if ok else result.get("errorMessage", "")
    if not ok and result.get("errorType") == "AssumeRoleFailed":
        # The role could not be assumed: nothing was read or sent; the error names the role.
        assert not any(op.startswith(("kms.", "config.")) for op in proxy.journal.operations)
        assert "sts:AssumeRole arn:aws:iam::" in message
        return 0, 0
    taken = Counter(t.resource_id for t in proxy.journal.taken)
    by_id = {t.resource_id: t for t in proxy.journal.taken}
    # Whatever reached Config about a key says one thing, with the invocation's timestamp.
    seen: dict[str, tuple] = {}
    for body in proxy.journal.put_evaluations:
        for e in body.get("Evaluations", []):
            said = (e["ComplianceType"], e.get("Annotation"), e["OrderingTimestamp"])
            assert seen.setdefault(e["ComplianceResourceId"], said) == said, e
            assert e["OrderingTimestamp"] == NOTIFICATION_EPOCH, e
    evaluated = named = 0
    unnamed = []
    for key in keys:
        n = taken[key.key_id]
        if n:
            assert n == 1, (key.case, n)
            assert by_id[key.key_id].compliance == key.expected, (key.case, by_id[key.key_id])
            assert key.key_id not in message and key.key_id not in logged, f"{key.case} both sent and named"
            evaluated += 1
        elif key.key_id in message or key.key_id in logged:
            named += 1
        else:
            unnamed.append(key)
    # A key that was listed is never excused, key by key.
    dropped = [k.case for k in unnamed if k.key_id in proxy.journal.listed]
    assert not dropped, f"listed keys neither sent nor named: {dropped}; {message}"
    if unnamed:
        assert "listing the keys broke off" in message, ([k.case for k in unnamed], message)
    # Every key the error names is also in the log, so the log is the whole list.
    for key in keys:
        if key.key_id in message and not ok:
            assert key.key_id in logged, (key.case, "named in the error, not in the log")
    assert set(taken) <= {k.key_id for k in keys}, "an evaluation of a key that does not exist"
    return evaluated, named


def report(name: str, proxy: FaultProxy, evaluated: int, named: int) -> None:
    j = proxy.journal
    print(f"{name}: faults injected {sum(j.injected.values())} {dict(j.injected)} over "
          f"{sum(j.attempts.values())} attempts; {evaluated} evaluated, {named} named")


@pytest.mark.parametrize("seed, share", [(1, 0.3), (2, 0.3), (3, 0.6)])
def test_periodic_cross_account_run_through_faults(rule_behind_proxy, proxy, kms_for_region, seed, share):
    # Given an account with a key of every case, and a share of KMS, Config and STS attempts
    # failing: throttled, 500, 503, reset, or answered late
    # Faults fall by a hash of the request, and moto's random source is seeded at every reset
    # (localaws.Moto.reset), so the key ids, and so the faults, are the same on every run.
    keys = localaws.seed_account(kms_for_region, fillers=40)
    proxy.reset(Plan(seed=seed, kms=share, config=share, sts=min(share, 0.3), slow_seconds=0.5))

    # When a cross-account periodic run evaluates them
    ok, result, logged = invoke(rule_behind_proxy, periodic(ROLE))

    # Then every key is evaluated once and rightly, or named in the error
    evaluated, named = check_property(proxy, keys, ok, result, logged)
    report(f"periodic_cross_account_run_through_faults[seed {seed}, share {share}]", proxy, evaluated, named)
    assert sum(proxy.journal.injected.values()) >= 10
    assert evaluated > 0
    assert proxy.journal.attempts["AssumeRole"] >= 1
    if ok:
        assert result["evaluations"] == len(keys)
    else:
        assert result["errorType"] in ("KeysNotEvaluated", "AssumeRoleFailed"), result


def test_failed_evaluations_are_sent_again(rule_behind_proxy, proxy, kms_for_region):
    # Given Config lists half of every batch in FailedEvaluations
    keys = localaws.seed_account(kms_for_region, fillers=8)
    proxy.reset(Plan(seed=5, failed_evaluations=0.5))

    ok, result, logged = invoke(rule_behind_proxy, periodic())

    evaluated, named = check_property(proxy, keys, ok, result, logged)
    report("failed_evaluations_are_sent_again", proxy, evaluated, named)
    assert proxy.journal.injected["failed_evaluations"] > 0
    assert len(proxy.journal.put_evaluations) > 1, "refused evaluations were sent again"
    if not ok:
        assert "config:PutEvaluations did not take" in result["errorMessage"]


def test_invalid_result_token_names_every_key(rule_behind_proxy, proxy, kms_for_region):
    keys = localaws.seed_account(kms_for_region, fillers=0)
    proxy.reset(Plan(invalid_result_token=True))

    ok, result, logged = invoke(rule_behind_proxy, periodic(token="stale-token-of-an-old-invocation"))

    assert not ok and result["errorType"] == "KeysNotEvaluated", result
    assert "InvalidResultTokenException" in result["errorMessage"]
    evaluated, named = check_property(proxy, keys, ok, result, logged)
    report("invalid_result_token_names_every_key", proxy, evaluated, named)
    assert (evaluated, named) == (0, len(keys))


def test_assume_role_denied_reads_and_sends_nothing(rule_behind_proxy, proxy, kms_for_region):
    localaws.seed_account(kms_for_region, fillers=0)
    proxy.reset(Plan(assume_role_denied=True))

    ok, result, logged = invoke(rule_behind_proxy, periodic(ROLE))

    assert not ok and result["errorType"] == "AssumeRoleFailed", result
    assert "arn:aws:iam::123456789012:role/KmsRotationRuleEvaluation" in result["errorMessage"]
    ops = proxy.journal.operations
    assert ops == Counter({"sts.AssumeRole": 1}), ops  # AccessDenied is not retried
    report("assume_role_denied_reads_and_sends_nothing", proxy, 0, 0)


def test_the_rule_calls_only_read_only_kms_operations(rule_behind_proxy, proxy, kms_for_region):
    """No key material can leak from a function that never asks for any."""
    localaws.seed_account(kms_for_region, fillers=2)
    proxy.reset(Plan())

    ok, result, logged = invoke(rule_behind_proxy, periodic(ROLE))

    assert ok, result
    kms_ops = {op for op in proxy.journal.operations if op.startswith("kms.")}
    assert kms_ops <= {"kms.ListKeys", "kms.ListAliases", "kms.DescribeKey", "kms.GetKeyRotationStatus",
                       "kms.ListResourceTags"}
    config_ops = {op for op in proxy.journal.operations if op.startswith("config.")}
    assert config_ops <= {"config.PutEvaluations", "config.GetComplianceDetailsByConfigRule",
                          "config.GetResourceConfigHistory"}


@pytest.fixture(scope="module")
def rule_small_pages(proxy, binaries, tmp_path_factory):
    """The rule behind the proxy, listing 10 keys a page."""
    log = tmp_path_factory.mktemp("lambda-small-pages") / "watch.log"
    env = {"KMS_ROTATION_LIST_KEYS_PAGE_SIZE": "10"}
    with localaws.LambdaWatch(proxy.url, log, extra_env=env) as watch:
        yield watch


def test_listing_that_breaks_with_keys_in_flight_sends_every_listed_key(rule_small_pages, proxy, kms_for_region):
    # Given 54 keys listed 10 a page, the third page refused (AccessDenied, not retried), and every
    # key read held back 0.3 s: the 20 keys of pages 1 and 2 are still being evaluated when the
    # listing breaks, as they always are in a large account
    keys = localaws.seed_account(kms_for_region, fillers=40)
    proxy.reset(Plan(list_keys_denied_from_page=3, key_read_delay=0.3))

    # When a periodic run evaluates them
    ok, result, logged = invoke(rule_small_pages, periodic())

    # Then the run fails saying where the listing broke, and each of the 20 listed keys reached
    # Config (nothing else failed); the keys never listed are the only ones left out
    assert not ok and result["errorType"] == "KeysNotEvaluated", result
    message = result["errorMessage"]
    assert "listing the keys broke off (kms:ListKeys: page 3 (Marker " in message, message
    assert "AccessDeniedException" in message, message
    assert proxy.journal.injected["list_keys_denied"] == 1
    listed = proxy.journal.listed
    assert len(listed) == 20, len(listed)
    evaluated, named = check_property(proxy, keys, ok, result, logged)
    report("listing_that_breaks_with_keys_in_flight", proxy, evaluated, named)
    taken = {t.resource_id for t in proxy.journal.taken}
    assert taken == listed, (len(taken), len(listed))
    assert (evaluated, named) == (20, 0)
    assert "20 evaluation(s) were sent" in message, message
