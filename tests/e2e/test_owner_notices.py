"""Exception notices end to end on moto (docs/notices.md): the rule's periodic run with
`exceptionNoticeDays` and `kms-rotation exceptions --notify` put their events on the default event
bus; an EventBridge rule with the notice pattern of conformance-pack/templates/notices.yaml routes
them to an SQS queue, where each arrives as EventBridge delivers it (source, detail-type,
resources, detail). A PutEvents refusal (the fault proxy answers AccessDeniedException, as AWS does
to a role without events:PutEvents: EventBridge API Reference, PutEvents, "Errors") changes no
evaluation and fails no invocation.

moto matches the pattern with its own matcher; tests/baseline/test_notices.py tests the patterns
themselves, and docs/notices.md gives the smoke test that proves the routing on a real account.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import boto3
import pytest

import localaws
from faultproxy import Plan
from localaws import REGION, event
from support import TEMPLATES_DIR, load_cfn, run_cli

SOURCE = "kms-rotation-rule"


def notice_pattern() -> dict:
    """The pattern of notices.yaml's rule for the notices (the one whose source is the rule's)."""
    template = load_cfn(TEMPLATES_DIR / "notices.yaml")
    patterns = [
        r["Properties"]["EventPattern"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Events::Rule"
        and SOURCE in (r["Properties"].get("EventPattern") or {}).get("source", [])
        and "detail" not in r["Properties"]["EventPattern"]
    ]
    assert len(patterns) == 1, patterns
    return patterns[0]


class Inbox:
    """An SQS queue behind an EventBridge rule with the notice pattern, on the default bus."""

    def __init__(self, endpoint: str):
        self.sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
        events = boto3.client("events", region_name=REGION, endpoint_url=endpoint)
        self.url = self.sqs.create_queue(QueueName="kms-rotation-notices")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="kms-rotation-notices", EventPattern=json.dumps(notice_pattern()))
        events.put_targets(Rule="kms-rotation-notices", Targets=[{"Id": "queue", "Arn": arn}])

    def events(self, expected: int) -> list[dict]:
        """Every event delivered (after `expected` have arrived, or a few seconds)."""
        got: list[dict] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = answer.get("Messages", [])
            for m in messages:
                got.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
            if not messages and len(got) >= expected:
                break
            if not messages:
                time.sleep(0.1)
        return got


@pytest.fixture
def inbox(aws_env) -> Inbox:
    return Inbox(aws_env["AWS_ENDPOINT_URL"])


def periodic(parameters: dict) -> dict:
    return event("scheduled", ruleParameters=json.dumps(parameters))


def by_case(keys):
    return {k.case: k.key_id for k in keys}


def test_the_periodic_run_puts_a_notice_for_each_exception_due_and_a_rule_routes_it(rule, moto, kms_for_region, inbox):
    keys = by_case(localaws.seed_account(kms_for_region, fillers=2))
    today = dt.date.today()
    moto.start_recording()

    # exception-valid expires in 90 days, exception-expired expired yesterday.
    ok, result = rule.invoke(periodic({"exceptionNoticeDays": "100"}))

    assert ok, result
    assert result["notices"] == {"sent": 2, "failed": 0}
    delivered = {e["detail"]["keyId"]: e for e in inbox.events(2)}
    assert set(delivered) == {keys["exception-valid"], keys["exception-expired"]}
    soon, expired = delivered[keys["exception-valid"]], delivered[keys["exception-expired"]]
    assert (soon["source"], soon["detail-type"]) == (SOURCE, "KMS Key Rotation Exception Expiring")
    assert (expired["source"], expired["detail-type"]) == (SOURCE, "KMS Key Rotation Exception Expired")
    assert soon["resources"] == [f"arn:aws:kms:{REGION}:123456789012:key/{keys['exception-valid']}"]
    assert soon["detail"] == {
        "keyId": keys["exception-valid"],
        "keyArn": soon["resources"][0],
        "accountId": "123456789012",
        "region": REGION,
        "owner": "team-payments",
        "ticket": "SEC-101",
        "expires": (today + dt.timedelta(days=90)).isoformat(),
        "daysLeft": 90,
        "status": "EXPIRING_SOON",
        "exceptionTagKey": "kms-rotation-exception",
        "compliance": "NOT_APPLICABLE",
        "annotation": soon["detail"]["annotation"],
        "sentBy": "kms-rotation-rule",
    }
    assert "approved exception: owner team-payments" in soon["detail"]["annotation"]
    assert (expired["detail"]["status"], expired["detail"]["daysLeft"], expired["detail"]["owner"]) == (
        "EXPIRED", -1, "team-data")
    assert expired["detail"]["compliance"] == "NON_COMPLIANT"
    # The evaluations are the ones the run reports without notices.
    batches = localaws.put_evaluations(moto.recorded())
    taken = {e["ComplianceResourceId"]: e["ComplianceType"] for b in batches for e in b}
    assert taken[keys["exception-valid"]] == "NOT_APPLICABLE"
    assert taken[keys["exception-expired"]] == "NON_COMPLIANT"
    assert len(taken) == len(keys)


def test_a_shorter_window_sends_the_expired_exception_only_and_none_without_the_parameter(rule, kms_for_region, inbox):
    keys = by_case(localaws.seed_account(kms_for_region, fillers=0))

    ok, result = rule.invoke(periodic({"exceptionNoticeDays": "30"}))
    assert ok, result
    assert result["notices"] == {"sent": 1, "failed": 0}
    assert [e["detail"]["keyId"] for e in inbox.events(1)] == [keys["exception-expired"]]

    ok, result = rule.invoke(periodic({}))
    assert ok, result
    assert "notices" not in result
    assert inbox.events(0) == []


@pytest.fixture(scope="module")
def rule_behind_proxy(proxy, binaries, tmp_path_factory):
    log = tmp_path_factory.mktemp("lambda-notices") / "watch.log"
    with localaws.LambdaWatch(proxy.url, log) as watch:
        yield watch


def test_a_refused_put_events_changes_no_evaluation_and_fails_nothing(rule_behind_proxy, proxy, kms_for_region, inbox):
    keys = localaws.seed_account(kms_for_region, fillers=2)
    proxy.reset(Plan(put_events_denied=True))

    ok, result = rule_behind_proxy.invoke(periodic({"exceptionNoticeDays": "100"}))

    assert ok, result
    assert result["notices"] == {"sent": 0, "failed": 2}
    assert result["evaluations"] == len(keys)
    assert result["nonCompliant"] == sum(k.expected == "NON_COMPLIANT" for k in keys)
    # One call (AccessDenied is not retried), nothing delivered, and the log names each key.
    assert proxy.journal.operations["events.PutEvents"] == 1
    assert proxy.journal.injected["put_events_denied"] == 1
    assert inbox.events(0) == []
    log = rule_behind_proxy.log.read_text()
    assert log.count("exception notice not sent") >= 2
    assert "events:PutEvents" in log


def test_exceptions_notify_puts_the_same_notices(binaries, aws_env, kms_for_region, inbox):
    keys = by_case(localaws.seed_account(kms_for_region, fillers=0))

    run = run_cli(binaries, "exceptions", "--notify", "--within-days", "100", "--region", REGION,
                  "--output", "json")

    # Findings: an expired and a malformed exception.
    assert run.returncode == 1, run.stderr
    assert "Notices (EventBridge, default bus of each key's account and Region): 2 sent, 0 not sent" in run.stderr
    delivered = {e["detail"]["keyId"]: e["detail"] for e in inbox.events(2)}
    assert set(delivered) == {keys["exception-valid"], keys["exception-expired"]}
    for detail in delivered.values():
        assert detail["sentBy"] == "kms-rotation exceptions"
        assert detail["compliance"] is None and detail["annotation"] is None
    assert delivered[keys["exception-expired"]]["status"] == "EXPIRED"
    assert delivered[keys["exception-valid"]]["daysLeft"] == 90


def test_exceptions_notify_refused_is_an_error_that_says_what_to_grant(binaries, aws_env, proxy, kms_for_region,
                                                                         monkeypatch, inbox):
    localaws.seed_account(kms_for_region, fillers=0)
    proxy.reset(Plan(put_events_denied=True))

    run = run_cli(binaries, "exceptions", "--notify", "--region", REGION, env={"AWS_ENDPOINT_URL": proxy.url})

    assert run.returncode == 2, run.stderr
    # The exceptions are listed as without --notify.
    assert "EXPIRED" in run.stdout and "MALFORMED" in run.stdout
    assert "0 sent, 1 not sent" in run.stdout
    assert "exception notice(s) not put on the default event bus" in run.stdout + run.stderr
    assert "OperatorCanSendNotices=true" in run.stdout + run.stderr
    assert inbox.events(0) == []
