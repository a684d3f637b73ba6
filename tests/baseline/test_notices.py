"""conformance-pack/templates/notices.yaml: the EventBridge rules of the exception notices and of
Config's compliance changes, tested against moto (tools/moto_server.py, which adds EventBridge's
TestEventPattern and delivery to SNS topic targets to moto 5.2.5).

- The patterns are read from the template (resolved with its parameters), never copied, and tried
  with TestEventPattern: every notice variant the rule and the CLI send matches the notice rule; a
  same-shaped event with another source or detail-type does not; AWS's example compliance-change
  event matches the compliance rule for the rule's own name and a conformance pack's
  (`kms-rotation-rule-conformance-pack-abc123`), not for another rule's; the owner example
  matches its owner only.
- End to end: the template deployed through moto's CloudFormation, an SQS queue subscribed to the
  topic, a notice put on the default bus, the event read back from the queue; and the central-bus
  variant, where a second account's default bus receives the forwarded event and routes it to a
  queue of its own.

The compliance-change fixture, tests/events/aws-examples/config-rules-compliance-change.json, is
AWS's example with only the rule name and the resource (type AWS::KMS::Key, the KMS guides'
example key ID) changed. The AWS pages give no single EventBridge example of this event, so it
joins two of the AWS Config Developer Guide's, each kept as the page has it:
- the envelope (version, id, source, account, time, region, resources), "Amazon EventBridge
  format for AWS Config":
  https://docs.aws.amazon.com/config/latest/developerguide/monitor-config-with-cloudwatchevents.html
  (detail-type: "Config Rules Compliance Change", the event name of
  https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-config.html);
- the detail, the notification's `Message` of "Example Compliance Change Notification"
  (configRuleName, resourceType, newEvaluationResult, oldEvaluationResult,
  notificationCreationTime, messageType ComplianceChangeNotification, recordVersion):
  https://docs.aws.amazon.com/config/latest/developerguide/example-config-rule-compliance-notification.html
Hence the detail's account and Region (123456789012, us-east-2) differ from the envelope's
(111122223333, us-east-1); no pattern here looks at either.

What moto cannot show (docs/notices.md, "What only a real account proves"): moto's CloudFormation
skips AWS::SNS::TopicPolicy (the test sets the template's own policy with SetTopicAttributes), and
moto enforces no topic policy, KMS key policy, bus policy or target role; EventBridge cannot
publish to a topic under alias/aws/sns is AWS's rule, not moto's; moto re-stamps a forwarded
event's `account` with the receiving account and drops its `resources` (AWS keeps both).
"""

from __future__ import annotations

import ast
import json
import re
import uuid

import boto3
import localaws  # tools/, on pytest's pythonpath (pytest.ini)
import pytest
from botocore.exceptions import ClientError

from support import ROOT, TEMPLATES_DIR, Resolver, day, load_cfn

TEMPLATE_PATH = TEMPLATES_DIR / "notices.yaml"
TEMPLATE = load_cfn(TEMPLATE_PATH)
EXAMPLE_PATH = ROOT / "tests" / "events" / "aws-examples" / "config-rules-compliance-change.json"
DOC = (ROOT / "docs" / "notices.md").read_text()

REGION = localaws.REGION
MEMBER = localaws.ACCOUNT  # moto's default account: the aws_env credentials
CENTRAL = "222233334444"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{MEMBER}:key/{KEY_ID}"

SOURCE = "kms-rotation-rule"
EXPIRING = "KMS Key Rotation Exception Expiring"
EXPIRED = "KMS Key Rotation Exception Expired"


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    """moto as tools/moto_server.py runs it (tests/conftest.py's server), not the baseline's
    in-process moto: TestEventPattern and SNS targets are that script's additions."""
    with localaws.MotoServer(tmp_path_factory.mktemp("moto-notices") / "moto.log") as server:
        yield server.url


# --------------------------------------------------------------------------- events


def notice_detail(status: str = "EXPIRING_SOON", days_left: int = 7, *, owner: str = "team-payments",
                  ticket: str | None = "SEC-101", compliance: str | None = "NOT_APPLICABLE",
                  annotation: str | None = "approved exception: owner team-payments",
                  sent_by: str = "kms-rotation-rule") -> dict:
    """The detail of a notice, as docs/notices.md gives the schema."""
    return {
        "keyId": KEY_ID,
        "keyArn": KEY_ARN,
        "accountId": MEMBER,
        "region": REGION,
        "owner": owner,
        "ticket": ticket,
        "expires": day(days_left),
        "daysLeft": days_left,
        "status": status,
        "exceptionTagKey": "kms-rotation-exception",
        "compliance": compliance,
        "annotation": annotation,
        "sentBy": sent_by,
    }


def envelope(source: str, detail_type: str, detail: dict, resources: list[str] | None = None) -> dict:
    """An event as EventBridge delivers it (the fields TestEventPattern requires, and detail)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": MEMBER,
        "time": "2026-12-01T06:00:00Z",
        "region": REGION,
        "resources": [KEY_ARN] if resources is None else resources,
        "detail": detail,
    }


# Every notice the rule's periodic run and `kms-rotation exceptions --notify` send.
NOTICES = {
    "expiring-in-7-days": (EXPIRING, notice_detail()),
    "expiring-today": (EXPIRING, notice_detail(days_left=0)),
    "expiring-without-ticket": (EXPIRING, notice_detail(days_left=30, ticket=None)),
    "expiring-sent-by-the-cli": (EXPIRING, notice_detail(
        days_left=3, compliance=None, annotation=None, sent_by="kms-rotation exceptions")),
    "expired-yesterday": (EXPIRED, notice_detail(
        "EXPIRED", -1, compliance="NON_COMPLIANT", annotation="exception expired: rotation is off")),
    "expired-sent-by-the-cli": (EXPIRED, notice_detail(
        "EXPIRED", -40, compliance=None, annotation=None, sent_by="kms-rotation exceptions")),
}


def aws_example(rule_name: str | None = None, message_type: str | None = None) -> dict:
    event = json.loads(EXAMPLE_PATH.read_text())
    if rule_name is not None:
        event["detail"]["configRuleName"] = rule_name
        for result in ("newEvaluationResult", "oldEvaluationResult"):
            event["detail"][result]["evaluationResultIdentifier"]["evaluationResultQualifier"]["configRuleName"] = rule_name
    if message_type is not None:
        event["detail"]["messageType"] = message_type
    return event


# --------------------------------------------------------------------------- the template's patterns


def patterns(**params: str) -> dict[str, dict]:
    """{logical id: EventPattern} of the template's enabled rules, resolved for `params`."""
    resolver = Resolver(TEMPLATE, params)
    return {
        logical_id: resolver.resolve(resource["Properties"]["EventPattern"])
        for logical_id, resource in TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::Events::Rule" and resolver.resource_enabled(logical_id)
    }


@pytest.fixture
def events(aws_env):
    return boto3.client("events", region_name=REGION, endpoint_url=aws_env["AWS_ENDPOINT_URL"])


def matches(events, pattern: dict, event: dict) -> bool:
    return events.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(event))["Result"]


def test_the_template_has_the_two_rules_and_the_example_only_with_an_owner():
    assert set(patterns()) == {"NoticeRule", "ComplianceChangeRule"}
    assert set(patterns(ExampleOwner="team-payments")) == {"NoticeRule", "ComplianceChangeRule", "OwnerExampleRule"}
    assert TEMPLATE["Parameters"]["ConfigRuleNamePrefix"]["Default"] == "kms-rotation-rule"


@pytest.mark.parametrize("name", NOTICES)
def test_every_notice_matches_the_notice_rule(events, name):
    detail_type, detail = NOTICES[name]
    pattern = patterns()["NoticeRule"]
    assert matches(events, pattern, envelope(SOURCE, detail_type, detail))
    # ...and not the compliance-change rule.
    assert not matches(events, patterns()["ComplianceChangeRule"], envelope(SOURCE, detail_type, detail))


@pytest.mark.parametrize(
    "source,detail_type",
    [
        ("my.kms-rotation-rule", EXPIRING),  # another source, even one that contains ours
        ("kms-rotation", EXPIRED),
        ("aws.config", EXPIRING),
        (SOURCE, "KMS Key Rotation Exception Renewed"),  # another detail-type
        (SOURCE, "Config Rules Compliance Change"),
        (SOURCE, "kms key rotation exception expiring"),  # matching is case-sensitive
    ],
)
def test_a_same_shaped_event_of_another_source_or_detail_type_does_not_match(events, source, detail_type):
    assert not matches(events, patterns()["NoticeRule"], envelope(source, detail_type, notice_detail()))


@pytest.mark.parametrize("rule_name", ["kms-rotation-rule", "kms-rotation-rule-conformance-pack-abc123"])
def test_the_aws_example_compliance_change_matches_for_the_rules_names(events, rule_name):
    event = aws_example(rule_name)
    assert matches(events, patterns()["ComplianceChangeRule"], event)
    assert not matches(events, patterns()["NoticeRule"], event)


def test_the_fixture_is_the_aws_example_with_the_rule_name_and_resource_only_adapted():
    event = aws_example()
    assert (event["source"], event["detail-type"]) == ("aws.config", "Config Rules Compliance Change")
    detail = event["detail"]
    assert detail["configRuleName"] == "kms-rotation-rule"
    assert (detail["resourceType"], detail["resourceId"]) == ("AWS::KMS::Key", KEY_ID)
    assert (detail["messageType"], detail["recordVersion"]) == ("ComplianceChangeNotification", "1.0")
    assert detail["configRuleARN"] == "arn:aws:config:us-east-2:123456789012:config-rule/config-rule-9rpvxc"


@pytest.mark.parametrize(
    "rule_name",
    ["cmk-backing-key-rotation-enabled", "securityhub-kms-rotation-rule-1a2b3c", "kms-rotation", "KMS-ROTATION-RULE"],
)
def test_another_rules_compliance_change_does_not_match(events, rule_name):
    assert not matches(events, patterns()["ComplianceChangeRule"], aws_example(rule_name))


def test_only_compliance_change_notifications_match(events):
    event = aws_example(message_type="ConfigRulesEvaluationStarted")
    assert not matches(events, patterns()["ComplianceChangeRule"], event)


def test_the_prefix_is_the_parameter(events):
    pattern = patterns(ConfigRuleNamePrefix="acme-kms")["ComplianceChangeRule"]
    assert matches(events, pattern, aws_example("acme-kms-conformance-pack-x1"))
    assert not matches(events, pattern, aws_example("kms-rotation-rule"))


@pytest.mark.parametrize("name", NOTICES)
def test_the_owner_example_matches_its_owner_only(events, name):
    detail_type, detail = NOTICES[name]
    pattern = patterns(ExampleOwner="team-payments")["OwnerExampleRule"]
    assert matches(events, pattern, envelope(SOURCE, detail_type, detail))
    other = {**detail, "owner": "team-data"}
    assert not matches(events, pattern, envelope(SOURCE, detail_type, other))
    assert not matches(events, pattern, envelope("my.app", detail_type, detail))


def test_test_event_pattern_refuses_an_event_without_the_mandatory_fields(events):
    """As AWS's TestEventPattern does (tools/moto_server.py): the event must carry id, account,
    source, time, region and detail-type."""
    event = envelope(SOURCE, EXPIRING, notice_detail())
    for field in ("id", "account", "source", "time", "region", "detail-type"):
        partial = {k: v for k, v in event.items() if k != field}
        with pytest.raises(ClientError) as raised:
            matches(events, patterns()["NoticeRule"], partial)
        assert raised.value.response["Error"]["Code"] == "InvalidEventPatternException"
        assert field in raised.value.response["Error"]["Message"]
    del event["resources"]  # not required in practice, though the API reference lists it
    assert matches(events, patterns()["NoticeRule"], event)


def doc_examples() -> list[dict]:
    """The example events of docs/notices.md (its JSON blocks that are whole notice events)."""
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC, re.S)]
    return [b for b in blocks if b.get("source") == SOURCE and "detail" in b]


def test_the_docs_schema_and_examples_are_the_notices(events):
    section = DOC.split("## The event", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([A-Za-z]+)` \|", section, re.M)
    assert documented == list(notice_detail()), "docs/notices.md's table lists the detail's fields, in order"
    examples = doc_examples()
    assert {e["detail-type"] for e in examples} == {EXPIRING, EXPIRED}
    for example in examples:
        assert list(example["detail"]) == documented
        assert example["resources"] == [example["detail"]["keyArn"]]
        assert example["detail"]["status"] == ("EXPIRED" if example["detail-type"] == EXPIRED else "EXPIRING_SOON")
        assert matches(events, patterns()["NoticeRule"], example)


# --------------------------------------------------------------------------- end to end on moto


def client(service: str, aws_env: dict, credentials: dict | None = None):
    extra = {}
    if credentials:
        extra = dict(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                     aws_session_token=credentials["SessionToken"])
    return boto3.client(service, region_name=REGION, endpoint_url=aws_env["AWS_ENDPOINT_URL"], **extra)


def deploy(aws_env: dict, name: str, **params: str) -> dict[str, str]:
    """Create the stack through moto's CloudFormation; its Outputs."""
    cfn = client("cloudformation", aws_env)
    cfn.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE_PATH.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


class StackResolver(Resolver):
    """The template's intrinsics with the deployed stack's physical names and ARNs."""

    def __init__(self, params: dict[str, str], physical: dict[str, str], arns: dict[str, str]):
        super().__init__(TEMPLATE, params)
        self.pseudo["AWS::AccountId"] = MEMBER
        self.physical, self.arns = physical, arns

    def ref(self, name):
        return self.physical[name] if name in self.physical else super().ref(name)

    def getatt(self, logical_id, attribute):
        assert attribute == "Arn", attribute
        return self.arns[logical_id]


def set_the_templates_topic_policy(aws_env: dict, outputs: dict[str, str], **params: str) -> dict:
    """moto's CloudFormation skips AWS::SNS::TopicPolicy (CREATE_COMPLETE with no such resource):
    set the template's own policy, resolved for this stack, with SetTopicAttributes."""
    arns = {"NoticeRule": outputs["NoticeRuleArn"], "ComplianceChangeRule": outputs["ComplianceChangeRuleArn"]}
    if "OwnerExampleRuleArn" in outputs:
        arns["OwnerExampleRule"] = outputs["OwnerExampleRuleArn"]
    resolver = StackResolver(params, {"NoticeTopic": outputs["NoticeTopicArn"]}, arns)
    policy = resolver.resolve(TEMPLATE["Resources"]["NoticeTopicPolicy"]["Properties"]["PolicyDocument"])
    client("sns", aws_env).set_topic_attributes(
        TopicArn=outputs["NoticeTopicArn"], AttributeName="Policy", AttributeValue=json.dumps(policy))
    return policy


def document(policy) -> dict:
    """A policy of a stack's resource, as moto 5.2.5 returns it: KMS GetKeyPolicy gives the
    template's object itself (AWS: a JSON string), IAM GetRolePolicy the object's Python repr
    (AWS: URL-encoded JSON, which boto3 decodes)."""
    if isinstance(policy, dict):
        return policy
    try:
        return json.loads(policy)
    except ValueError:
        return ast.literal_eval(policy)


def queue(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def drain(sqs, url: str) -> list[dict]:
    """Every message body in the queue (moto delivers within PutEvents), as JSON."""
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return bodies
        for message in got:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def put(aws_env: dict, source: str, detail_type: str, detail: dict, credentials: dict | None = None) -> str:
    """PutEvents on the default bus, as the rule does; the event's ID."""
    answer = client("events", aws_env, credentials).put_events(Entries=[{
        "Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), "Resources": [detail.get("keyArn", KEY_ARN)],
    }])
    assert answer["FailedEntryCount"] == 0, answer
    return answer["Entries"][0]["EventId"]


def test_deployed_stack_delivers_a_notice_to_the_topics_subscriber(aws_env):
    outputs = deploy(aws_env, "kms-rotation-notices")
    topic = outputs["NoticeTopicArn"]

    # The created topic is encrypted with the created key, which rotates.
    sns, kms = client("sns", aws_env), client("kms", aws_env)
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["KmsMasterKeyId"] == outputs["NoticeTopicKeyArn"]
    assert kms.get_key_rotation_status(KeyId=outputs["NoticeTopicKeyArn"])["KeyRotationEnabled"] is True
    key_policy = document(kms.get_key_policy(KeyId=outputs["NoticeTopicKeyArn"], PolicyName="default")["Policy"])
    [eventbridge] = [s for s in key_policy["Statement"] if s["Principal"] == {"Service": "events.amazonaws.com"}]
    assert set(eventbridge["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}

    policy = set_the_templates_topic_policy(aws_env, outputs)
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Action"] == "sns:Publish"
    assert statement["Resource"] == topic
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == [outputs["NoticeRuleArn"], outputs["ComplianceChangeRuleArn"]]
    assert json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]) == policy

    sqs = client("sqs", aws_env)
    url, arn = queue(sqs, "notices")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)

    detail = notice_detail("EXPIRED", -2, compliance="NON_COMPLIANT", annotation="exception expired")
    event_id = put(aws_env, SOURCE, EXPIRED, detail)
    [message] = drain(sqs, url)
    assert message["TopicArn"] == topic
    event = json.loads(message["Message"])  # EventBridge publishes the event JSON as the message
    assert event["id"] == event_id
    assert (event["source"], event["detail-type"]) == (SOURCE, EXPIRED)
    assert (event["account"], event["region"], event["resources"]) == (MEMBER, REGION, [KEY_ARN])
    assert event["detail"] == detail

    # Config's compliance change of the rule reaches the topic too (moto accepts the aws.config
    # source from PutEvents; AWS reserves it to AWS services).
    example = aws_example("kms-rotation-rule-conformance-pack-abc123")
    put(aws_env, "aws.config", "Config Rules Compliance Change", example["detail"])
    [message] = drain(sqs, url)
    assert json.loads(message["Message"])["detail"] == example["detail"]

    # Nothing else does.
    put(aws_env, "my.app", EXPIRED, detail)
    put(aws_env, "aws.config", "Config Rules Compliance Change", aws_example("cmk-backing-key-rotation-enabled")["detail"])
    assert drain(sqs, url) == []


def test_the_owner_example_rule_delivers_its_owners_notices_once_more(aws_env):
    outputs = deploy(aws_env, "kms-rotation-notices-owner", ExampleOwner="team-payments")
    policy = set_the_templates_topic_policy(aws_env, outputs, ExampleOwner="team-payments")
    assert outputs["OwnerExampleRuleArn"] in policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]

    sqs, sns = client("sqs", aws_env), client("sns", aws_env)
    url, arn = queue(sqs, "owner-notices")
    sns.subscribe(TopicArn=outputs["NoticeTopicArn"], Protocol="sqs", Endpoint=arn)

    put(aws_env, SOURCE, EXPIRING, notice_detail(owner="team-payments"))
    assert len(drain(sqs, url)) == 2  # the notice rule's and the example's (same topic here)
    put(aws_env, SOURCE, EXPIRING, notice_detail(owner="team-data"))
    assert len(drain(sqs, url)) == 1


def test_central_bus_variant_forwards_to_the_central_accounts_bus(aws_env):
    # The central account: its default bus allows the organization's accounts, and routes the
    # notices to a queue of its own.
    sts = client("sts", aws_env)
    central = sts.assume_role(RoleArn=f"arn:aws:iam::{CENTRAL}:role/setup", RoleSessionName="notices")["Credentials"]
    assert client("sts", aws_env, central).get_caller_identity()["Account"] == CENTRAL
    central_bus = f"arn:aws:events:{REGION}:{CENTRAL}:event-bus/default"
    central_events, central_sqs = client("events", aws_env, central), client("sqs", aws_env, central)
    central_events.put_permission(EventBusName="default", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OrganizationPutsEvents", "Effect": "Allow", "Principal": "*", "Action": "events:PutEvents",
            "Resource": central_bus, "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
        }],
    }))
    url, arn = queue(central_sqs, "central-notices")
    central_events.put_rule(Name="kms-rotation-notices", EventPattern=json.dumps(patterns()["NoticeRule"]))
    central_events.put_targets(Rule="kms-rotation-notices", Targets=[{"Id": "queue", "Arn": arn}])

    # The member account: the stack forwards to the central bus through its role.
    outputs = deploy(aws_env, "kms-rotation-notices-central", CentralEventBusArn=central_bus)
    assert "NoticeTopicArn" not in outputs  # no topic in this variant
    assert client("sns", aws_env).list_topics()["Topics"] == []
    targets = client("events", aws_env).list_targets_by_rule(Rule=outputs["NoticeRuleArn"].split("/")[-1])["Targets"]
    assert targets == [{"Id": "central-event-bus", "Arn": central_bus, "RoleArn": outputs["ForwardRoleArn"]}]
    iam = client("iam", aws_env)
    role_name = outputs["ForwardRoleArn"].split("/")[-1]
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": MEMBER}}
    [policy_name] = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    [grant] = document(iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"])["Statement"]
    assert (grant["Action"], grant["Resource"]) == ("events:PutEvents", central_bus)

    detail = notice_detail(days_left=5)
    put(aws_env, SOURCE, EXPIRING, detail)
    [event] = drain(central_sqs, url)
    assert (event["source"], event["detail-type"]) == (SOURCE, EXPIRING)
    assert event["detail"] == detail
    assert event["detail"]["accountId"] == MEMBER  # the member account travels in the detail

    # Events the stack's rules do not match stay in the member account.
    put(aws_env, "my.app", EXPIRING, detail)
    assert drain(central_sqs, url) == []


def test_an_existing_topic_is_the_target_and_keeps_its_policy(aws_env):
    sns = client("sns", aws_env)
    topic = sns.create_topic(Name="security-notices")["TopicArn"]
    before = sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]

    outputs = deploy(aws_env, "kms-rotation-notices-existing", NoticeTopicArn=topic)
    assert outputs["NoticeTopicArn"] == topic and "NoticeTopicKeyArn" not in outputs
    assert [t["TopicArn"] for t in sns.list_topics()["Topics"]] == [topic]  # no topic created
    assert client("kms", aws_env).list_keys()["Keys"] == []  # nor a key
    events = client("events", aws_env)
    for output in ("NoticeRuleArn", "ComplianceChangeRuleArn"):
        targets = events.list_targets_by_rule(Rule=outputs[output].split("/")[-1])["Targets"]
        assert targets == [{"Id": "notice-topic", "Arn": topic}]
    # The template gives an existing topic no policy (docs/notices.md gives the statement to add).
    assert TEMPLATE["Resources"]["NoticeTopicPolicy"]["Condition"] == "CreateTopic"
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"] == before
