"""Authorization in a member account as deployed, decided by a policy engine (principalmapper,
tests/baseline/authz.py), not by reading our own policies back.

Principals: the roles of conformance-pack/templates/rule-function.yaml (FunctionRole,
RemediationRole) and member-account-roles.yaml (KmsRotationRuleEvaluation, KmsRotationRemediation,
KmsRotationOperator in its three shapes), rendered with support.Resolver, plus the people our SCP
names (an administrator, KmsRotationExceptionApprover, KmsRotationBreakGlass) and a deployer.
Keys: the key policies of iac/cloudformation/kms-key.yaml and kms-replica-key.yaml, of the
Terraform modules' key and replica (data "aws_iam_policy_document", followed from the resources'
`policy`), KMS's default key policy and a key whose policy names one administrator role only.
SCPs: conformance-pack/scp-deny-disable-key-rotation.json next to FullAWSAccess.
Actions: every call the code makes, read from the source by the readers of test_iam_policies.py
(the rule), test_operator_role.py (the CLI) and the runbook's steps.

What the engine does not model is tested by hand at the end; docs/authorization.md lists both and
holds the matrix below (a test keeps it equal to this file's table).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

import botocore.session
import pytest

import authz
from authz import ACCOUNT_ID, DEFAULT_KEY_POLICY, IAC_DIR, PARTITION, decide, is_key_action, principal, resource_arn, role_arn
from support import (
    CENTRAL_ROLE_ARN,
    EXCEPTION_TAG,
    OPERATOR_ARN,
    ROOT,
    RUNBOOK_PATH,
    CLI_SRC,
    CORE_SRC,
    as_list,
    iam_policies,
    load_cfn,
    load_yaml,
    runbook_calls,
    sar_privilege,
    scp,
    statements,
)
from test_iam_policies import ORG_ID, POLICIES, RESOLVERS, arn_like, rule_calls
from test_operator_role import ENABLE, FINDINGS, NOTICES, member_account_calls

DOC = ROOT / "docs" / "authorization.md"
RUNBOOK = load_yaml(RUNBOOK_PATH)

# --------------------------------------------------------------------------- the calls, from the source

# The rule (FunctionRole, or KmsRotationRuleEvaluation when it evaluates another account): its
# KMS and Config calls (test_iam_policies.rule_calls reads the sources of the Lambda's build, which has none of the CLI crate).
RULE_CALLS = {c for c in rule_calls() if c.split(":")[0] in ("kms", "config", "events")}
# The operator CLI in a member account (test_operator_role.member_account_calls).
CLI_CALLS = set(member_account_calls())


# The runbook's calls (support.runbook_calls, the reading test_iam_policies checks against the
# remediation role).
RUNBOOK_CALLS = runbook_calls(RUNBOOK)


def sts_callers() -> dict[str, str]:
    """Where the code calls sts:AssumeRole (neither reader above covers STS): the rule in
    clients.rs (`.assume_role()`, for ExecutionRoleName), the CLI in cli/session.rs (aws-config's
    AssumeRoleProvider, for --accounts/--organization). sts:GetCallerIdentity is called too but
    "No permissions are required to perform this operation" (STS API reference, GetCallerIdentity)."""
    found = {}
    if re.search(r"\.sts\s*\.assume_role\(\)", (CORE_SRC / "clients.rs").read_text()):
        found["rule"] = "clients.rs"
    if "AssumeRoleProvider::builder" in (CLI_SRC / "session.rs").read_text():
        found["cli"] = "cli/session.rs"
    return found


def period_of_the_runbook() -> int:
    return int(RUNBOOK["parameters"]["RotationPeriodInDays"]["default"])


def period_of_the_cli() -> int:
    args = (CLI_SRC / "args.rs").read_text()
    [days] = re.findall(r"default_value_t = (\d+),[^;]*?pub rotation_period_days", args, re.S)
    return int(days)


# --------------------------------------------------------------------------- the keys

KEY_ADMIN = role_arn("KeyAdmin")
APP = role_arn("App")
PRIMARY = f"arn:{PARTITION}:kms:us-west-2:{ACCOUNT_ID}:key/mrk-1234abcd12ab34cd56ef1234567890ab"
CFN_PARAMETERS = {"AliasName": "app", "KeyAdministratorArns": KEY_ADMIN, "KeyUserArns": APP}
ONE_ADMIN_KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "OnlyTheAdministrator", "Effect": "Allow", "Principal": {"AWS": KEY_ADMIN},
                   "Action": "kms:*", "Resource": "*"}],
}


def terraform_keys() -> dict[str, dict]:
    found = authz.terraform_key_policies({"administrator_arns": [KEY_ADMIN], "user_arns": [APP]})
    [key] = [policy for name, (policy, _) in found.items() if name.startswith("aws_kms_key.")]
    [replica] = [policy for name, (policy, _) in found.items() if name.startswith("aws_kms_replica_key.")]
    return {"TF key": key, "TF replica": replica}


def key_arn(n: int, mrk: bool = False) -> str:
    key_id = f"mrk-{n:032x}" if mrk else f"{n:08x}-12ab-34cd-56ef-1234567890ab"
    return f"arn:{PARTITION}:kms:{authz.REGION}:{ACCOUNT_ID}:key/{key_id}"


KEY_POLICIES: dict[str, dict] = {
    "CFN key": authz.cfn_key_policy(IAC_DIR / "cloudformation" / "kms-key.yaml", CFN_PARAMETERS),
    "CFN replica": authz.cfn_key_policy(IAC_DIR / "cloudformation" / "kms-replica-key.yaml",
                                        {**CFN_PARAMETERS, "PrimaryKeyArn": PRIMARY}),
    **terraform_keys(),
    "default": DEFAULT_KEY_POLICY,
    "one admin": ONE_ADMIN_KEY_POLICY,
}
KEY_ARNS = {name: key_arn(i + 1, mrk="replica" in name) for i, name in enumerate(KEY_POLICIES)}
ALL_KEYS = frozenset(KEY_POLICIES)
# The keys whose policy lets IAM policies grant access (the account statement): every module's,
# by design (issue 20), and KMS's default. Not the one-administrator key.
ACCOUNT_KEYS = ALL_KEYS - {"one admin"}
NO_KEY: frozenset[str] = frozenset()

# --------------------------------------------------------------------------- the principals


def template_role(case: str, logical_id: str, arn: str | None = None) -> authz.Node:
    """A role of a template shape (test_iam_policies.RESOLVERS), its identity policies rendered
    with support.iam_policies."""
    resolver = RESOLVERS[case]
    policies = [policy for label, kind, policy in iam_policies(resolver)
                if kind == "identity" and label.startswith(f"{logical_id} policy ")]
    [trust] = [policy for label, kind, policy in iam_policies(resolver) if label == f"{logical_id} trust policy"]
    return principal(arn or resolver.getatt(logical_id, "Arn"), policies, trust)


@dataclass(frozen=True)
class Caller:
    """One of our roles, the calls its code makes, and those its shape must NOT be allowed."""

    label: str
    case: str
    logical_id: str
    calls: frozenset[str]
    refused: frozenset[str] = frozenset()
    period: int = 365

    @property
    def node(self) -> authz.Node:
        return template_role(self.case, self.logical_id)


CALLERS = [
    Caller("FunctionRole", "rule-function.yaml[single-account]", "FunctionRole", frozenset(RULE_CALLS)),
    Caller("KmsRotationRuleEvaluation", "member-account-roles.yaml[roles-region]", "EvaluationRole",
           frozenset(RULE_CALLS)),
    Caller("RemediationRole (rule-function.yaml)", "rule-function.yaml[single-account]", "RemediationRole",
           frozenset(RUNBOOK_CALLS), period=period_of_the_runbook()),
    Caller("KmsRotationRemediation (member-account-roles.yaml)", "member-account-roles.yaml[roles-region]",
           "RemediationRole", frozenset(RUNBOOK_CALLS), period=period_of_the_runbook()),
    Caller("KmsRotationOperator, read-only", "member-account-roles.yaml[operator-read-only]", "OperatorRole",
           frozenset(CLI_CALLS), frozenset({ENABLE} | FINDINGS | NOTICES), period_of_the_cli()),
    Caller("KmsRotationOperator, OperatorCanRemediate", "member-account-roles.yaml[operator-remediates]",
           "OperatorRole", frozenset(CLI_CALLS), frozenset(FINDINGS | NOTICES), period_of_the_cli()),
    Caller("KmsRotationOperator, OperatorCanSendFindings", "member-account-roles.yaml[operator-sends-findings]",
           "OperatorRole", frozenset(CLI_CALLS), frozenset({ENABLE} | NOTICES), period_of_the_cli()),
    Caller("KmsRotationOperator, OperatorCanSendNotices", "member-account-roles.yaml[operator-sends-notices]",
           "OperatorRole", frozenset(CLI_CALLS), frozenset({ENABLE} | FINDINGS), period_of_the_cli()),
]


# The source of the exception notices (crates/kms-rotation-core/src/notice.rs), which PutEvents
# carries as events:source (EventBridge User Guide, "Using IAM policy conditions in Amazon
# EventBridge", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html).
[NOTICE_SOURCE] = re.findall(r'pub const SOURCE: &str = "([^"]+)";', (CORE_SRC / "notice.rs").read_text())


def request_keys(node: authz.Node, action: str, period: int) -> dict[str, Any]:
    """The condition keys of the request: EnableKeyRotation carries kms:RotationPeriodInDays (our
    code always sends RotationPeriodInDays); PutEvents, events:source."""
    extra = {"kms:RotationPeriodInDays": str(period)} if action == "kms:EnableKeyRotation" else {}
    if action == "events:PutEvents":
        extra["events:source"] = NOTICE_SOURCE
    return authz.context(node, action, **extra)


def allowed_on(node: authz.Node, action: str, keys: dict[str, Any], scps=None) -> frozenset[str] | bool:
    """The keys on which AWS allows the request (key actions), or whether it allows it at all."""
    if not is_key_action(action):
        return decide(node, action, resource_arn(action, ""), keys, scps=scps)
    return frozenset(
        name for name, policy in KEY_POLICIES.items()
        if decide(node, action, KEY_ARNS[name], keys, resource_policy=policy, scps=scps)
    )


def expected_for(caller: Caller, action: str) -> frozenset[str] | bool:
    """The table: a call the shape refuses is denied everywhere; any other call is allowed, on
    every key whose policy grants the account (and never on the one-administrator key)."""
    if action in caller.refused:
        return NO_KEY if is_key_action(action) else False
    return ACCOUNT_KEYS if is_key_action(action) else True


CALL_ROWS = [(c, a) for c in CALLERS for a in sorted(c.calls)]


# --------------------------------------------------------------------------- the guardrails

ADMIN = principal(role_arn("Admin"), [authz.ADMINISTRATOR_ACCESS])
APPROVER = principal(role_arn("KmsRotationExceptionApprover"), [authz.ADMINISTRATOR_ACCESS])
APPROVER_PATH = principal(role_arn("KmsRotationExceptionApprover", "/security/"), [authz.ADMINISTRATOR_ACCESS])
BREAK_GLASS = principal(role_arn("KmsRotationBreakGlass"), [authz.ADMINISTRATOR_ACCESS])
BREAK_GLASS_PATH = principal(role_arn("KmsRotationBreakGlass", "/ops/"), [authz.ADMINISTRATOR_ACCESS])
LOOK_ALIKE = principal(role_arn("EvilKmsRotationBreakGlass"), [authz.ADMINISTRATOR_ACCESS])
# IAM Identity Center's role for a permission set named KmsRotationBreakGlass (IAM Identity Center
# User Guide, "Referencing permission sets in resource policies, Amazon EKS, and AWS KMS").
BREAK_GLASS_SSO = principal(role_arn("AWSReservedSSO_KmsRotationBreakGlass_0123456789abcdef",
                                     "/aws-reserved/sso.amazonaws.com/eu-west-1/"), [authz.ADMINISTRATOR_ACCESS])
APPROVER_SSO = principal(role_arn("AWSReservedSSO_KmsRotationExceptionApprover_0123456789abcdef",
                                  "/aws-reserved/sso.amazonaws.com/"), [authz.ADMINISTRATOR_ACCESS])
NAMED_ADMIN = principal(KEY_ADMIN, [])  # no IAM policy: only what key policies name it for
DEPLOYER = principal(role_arn("Deployer"), [{"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}])
NO_KMS = principal(role_arn("NoKms"), [{"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}])
REMEDIATION = template_role("member-account-roles.yaml[roles-region]", "RemediationRole")
FUNCTION = template_role("rule-function.yaml[single-account]", "FunctionRole")
EVALUATION = template_role("member-account-roles.yaml[roles-region]", "EvaluationRole")


@dataclass(frozen=True)
class Case:
    label: str
    node: authz.Node
    action: str
    keys: tuple[tuple[str, Any], ...]
    expected: frozenset[str] | bool
    why: str


def case(label: str, node: authz.Node, action: str, expected: frozenset[str] | bool, why: str, **keys: Any) -> Case:
    names = {"tag_keys": "aws:TagKeys", "period": "kms:RotationPeriodInDays", "source": "events:source"}
    return Case(label, node, action, tuple((names[k], v) for k, v in keys.items()), expected, why)


NAMING_KEY_ADMIN = ALL_KEYS - {"default"}
CASES = [
    case("administrator", ADMIN, "kms:EnableKeyRotation", ACCOUNT_KEYS, "IAM *:* via the account statement",
         period="365"),
    case("administrator", ADMIN, "kms:EnableKeyRotation", NO_KEY, "SCP DenyRotationPeriodAboveOrgMaximum",
         period="366"),
    case("administrator", ADMIN, "kms:DisableKeyRotation", NO_KEY, "SCP DenyDisableKeyRotation"),
    case("administrator", ADMIN, "kms:TagResource", NO_KEY, "SCP DenyChangingRotationExceptionTag",
         tag_keys=[EXCEPTION_TAG]),
    case("administrator", ADMIN, "kms:TagResource", NO_KEY, "SCP (ForAnyValue: one of the keys is enough)",
         tag_keys=["team", EXCEPTION_TAG]),
    case("administrator", ADMIN, "kms:TagResource", ACCOUNT_KEYS, "another tag key", tag_keys=["team"]),
    case("administrator", ADMIN, "kms:UntagResource", NO_KEY, "SCP DenyChangingRotationExceptionTag",
         tag_keys=[EXCEPTION_TAG]),
    case("administrator", ADMIN, "kms:CreateKey", False, "SCP DenyChangingRotationExceptionTag",
         tag_keys=[EXCEPTION_TAG]),
    case("administrator", ADMIN, "kms:CreateKey", True, "no tags"),
    case("administrator", ADMIN, "kms:DescribeKey", ACCOUNT_KEYS, "KMS: the one-administrator key grants no account"),
    case("KmsRotationExceptionApprover", APPROVER, "kms:TagResource", ACCOUNT_KEYS, "exempt from the SCP",
         tag_keys=[EXCEPTION_TAG]),
    case("security/KmsRotationExceptionApprover", APPROVER_PATH, "kms:TagResource", ACCOUNT_KEYS,
         "exempt, with a path", tag_keys=[EXCEPTION_TAG]),
    case("KmsRotationExceptionApprover", APPROVER, "kms:UntagResource", ACCOUNT_KEYS, "exempt from the SCP",
         tag_keys=[EXCEPTION_TAG]),
    case("KmsRotationExceptionApprover", APPROVER, "kms:CreateKey", True, "exempt from the SCP",
         tag_keys=[EXCEPTION_TAG]),
    case("KmsRotationExceptionApprover", APPROVER, "kms:DisableKeyRotation", NO_KEY, "not break-glass"),
    case("KmsRotationBreakGlass", BREAK_GLASS, "kms:DisableKeyRotation", ACCOUNT_KEYS, "exempt from the SCP"),
    case("ops/KmsRotationBreakGlass", BREAK_GLASS_PATH, "kms:DisableKeyRotation", ACCOUNT_KEYS, "exempt, with a path"),
    case("KmsRotationBreakGlass", BREAK_GLASS, "kms:EnableKeyRotation", ACCOUNT_KEYS, "exempt from the SCP",
         period="730"),
    case("KmsRotationBreakGlass", BREAK_GLASS, "kms:TagResource", NO_KEY, "not the approver",
         tag_keys=[EXCEPTION_TAG]),
    case("EvilKmsRotationBreakGlass", LOOK_ALIKE, "kms:DisableKeyRotation", NO_KEY, "a look-alike is not exempt"),
    case("SSO permission set KmsRotationBreakGlass", BREAK_GLASS_SSO, "kms:DisableKeyRotation", ACCOUNT_KEYS,
         "exempt: Identity Center's role for the permission set"),
    case("SSO permission set KmsRotationExceptionApprover", APPROVER_SSO, "kms:TagResource", ACCOUNT_KEYS,
         "exempt: Identity Center's role for the permission set", tag_keys=[EXCEPTION_TAG]),
    case("KmsRotationRemediation", REMEDIATION, "kms:EnableKeyRotation", NO_KEY,
         "SCP: a pack RotationPeriodInDays above 365 fails", period="730"),
    case("KeyAdmin (named in the key policy, no IAM policy)", NAMED_ADMIN, "kms:DescribeKey", NAMING_KEY_ADMIN,
         "the key policy alone grants it"),
    case("KeyAdmin (named in the key policy, no IAM policy)", NAMED_ADMIN, "kms:DisableKeyRotation", NO_KEY,
         "the SCP's Deny beats the key policy's Allow"),
    case("deployer (IAM kms:*)", DEPLOYER, "kms:PutKeyPolicy", ACCOUNT_KEYS,
         "CreateKey/ReplicateKey policy lockout check"),
    case("a role without KMS permissions", NO_KMS, "kms:DescribeKey", NO_KEY, "no IAM allow"),
    case("FunctionRole", FUNCTION, "events:PutEvents", False,
         "events:source: only the rule's own notices, never another source's events", source="aws.config"),
    case("KmsRotationRuleEvaluation", EVALUATION, "events:PutEvents", False,
         "events:source: only the rule's own notices", source="aws.kms"),
]


# --------------------------------------------------------------------------- tests: inputs


def test_the_calls_are_read_from_the_source():
    """The readers find the calls (an empty reading would make every test below vacuous)."""
    assert {"kms:ListKeys", "kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:ListResourceTags",
            "config:PutEvaluations", "config:GetComplianceDetailsByConfigRule"} <= RULE_CALLS
    assert RUNBOOK_CALLS == {"kms:DescribeKey", "kms:EnableKeyRotation", "kms:GetKeyRotationStatus"}
    assert {ENABLE, "kms:GetKeyPolicy", "account:ListRegions"} | FINDINGS <= CLI_CALLS
    assert sts_callers() == {"rule": "clients.rs", "cli": "cli/session.rs"}
    assert period_of_the_runbook() == period_of_the_cli() == 365


def test_the_key_policies_are_rendered():
    """Every module key policy is fully evaluated (no Ref, no ${...} left) and names the key
    administrator; the Terraform key and replica take their policy from the same
    data "aws_iam_policy_document" (found by globbing iac/terraform)."""
    for name, policy in KEY_POLICIES.items():
        text = repr(policy)
        assert "${" not in text and "'Ref'" not in text and "Fn::" not in text, name
        if name not in ("default",):
            assert KEY_ADMIN in text, name
    found = authz.terraform_key_policies({"administrator_arns": [KEY_ADMIN], "user_arns": [APP]})
    sources = {name: docs for name, (_, docs) in found.items()}
    assert len(sources) == 2 and len({frozenset(d) for d in sources.values()}) == 1, sources
    [docs] = {frozenset(d) for d in sources.values()}
    assert len(docs) == 1 and docs <= authz.all_policy_documents(), docs


# --------------------------------------------------------------------------- tests: the matrix


@pytest.mark.parametrize("caller,action", CALL_ROWS, ids=[f"{c.label}-{a}" for c, a in CALL_ROWS])
def test_every_call_of_our_code_is_allowed_where_it_must_be(caller: Caller, action: str):
    """Each call the code makes, by the principal that makes it, on each key (or on its resource):
    allowed on every key whose policy grants the account - each module's and KMS's default - and
    denied on a key whose policy names one administrator only, as KMS does ("Unless the key policy
    explicitly allows it, you cannot use IAM policies to allow access to a KMS key", KMS Developer
    Guide, "Key policies in AWS KMS"). Calls the shape must not make (a read-only operator's
    EnableKeyRotation, Security Hub without OperatorCanSendFindings) are denied."""
    node = caller.node
    got = allowed_on(node, action, request_keys(node, action, caller.period))
    want = expected_for(caller, action)
    if isinstance(want, frozenset):
        assert got == want, (f"{caller.label} {action}: allowed on {sorted(got)}, expected {sorted(want)}; "
                             f"denied on {sorted(want - got)}, wrongly allowed on {sorted(got - want)}")
    else:
        assert got is want, f"{caller.label} {action} on {resource_arn(action, '')}"


def test_our_roles_are_denied_on_a_key_that_names_one_administrator_only():
    """Decision table row ACCESS_DENIED (docs/decision-table.md): on a key whose policy names one
    administrator role and not the account, every key call of our roles is denied by KMS, however
    wide their IAM policies - while the same calls pass on a key with the default policy."""
    for caller in CALLERS:
        node = caller.node
        for action in sorted(a for a in caller.calls - caller.refused if is_key_action(a)):
            keys = request_keys(node, action, caller.period)
            assert not decide(node, action, KEY_ARNS["one admin"], keys, resource_policy=ONE_ADMIN_KEY_POLICY)
            assert decide(node, action, KEY_ARNS["default"], keys, resource_policy=DEFAULT_KEY_POLICY)


@pytest.mark.parametrize("c", CASES, ids=[f"{c.label}-{c.action}-{c.why}" for c in CASES])
def test_the_denials_we_promise(c: Case):
    """The SCP's promises on every key (docs/deploy.md, "The service control policy"): an
    administrator cannot disable rotation, set a period above 365 days or touch the exception tag;
    KmsRotationExceptionApprover (with or without a path) can tag; KmsRotationBreakGlass can disable.
    And the policy lockout check of CreateKey and ReplicateKey (KMS API reference, CreateKey and
    ReplicateKey, `Policy`: "The key policy must allow the calling principal to make a subsequent
    PutKeyPolicy request on the KMS key"): a deployer allowed kms:* by IAM passes it on every
    module's key policy. And the notices' PutEvents grant holds for the rule's own source only."""
    assert is_key_action(c.action) == isinstance(c.expected, frozenset)
    got = allowed_on(c.node, c.action, authz.context(c.node, c.action, **dict(c.keys)))
    assert got == c.expected, f"{c.label} {c.action} {dict(c.keys)}: got {got}, expected {c.expected}"


# --------------------------------------------------------------------------- tests: STS


def test_the_rule_function_assumes_the_evaluation_role_in_the_organization_only():
    """rule.rs assumes ExecutionRoleName in the evaluated account: the function role's IAM policy
    (aws:ResourceOrgID, IAM global condition keys) and the evaluation role's trust policy (the
    function role only) must both allow it - a cross-account AssumeRole needs both (IAM User Guide,
    "Cross-account policy evaluation logic")."""
    function = template_role("rule-function.yaml[organization]", "FunctionRole", CENTRAL_ROLE_ARN)
    other = principal(CENTRAL_ROLE_ARN.replace("FunctionRole-ABCDEF", "Other"), [p.policy_doc for p in function.attached_policies])
    evaluation = template_role("member-account-roles.yaml[roles-region]", "EvaluationRole")
    target = evaluation.arn
    assert target == role_arn("KmsRotationRuleEvaluation")

    def assume(node, org_id):
        keys = authz.context(node, "sts:AssumeRole", **{"aws:ResourceOrgID": org_id})
        return decide(node, "sts:AssumeRole", target, keys, resource_policy=evaluation.trust_policy)

    assert assume(function, ORG_ID)
    assert not assume(function, "o-zzzzzzzzzz")  # a role of that name outside the organization
    assert not assume(other, ORG_ID)  # the trust policy names the function role only


def test_the_operator_assumes_the_operator_role():
    """cli/session.rs assumes --role-name (KmsRotationOperator) with the identity given as
    OperatorPrincipalArn, which needs sts:AssumeRole on it in its own IAM policy (operator guide);
    nobody else may."""
    operator_role = template_role("member-account-roles.yaml[operator-read-only]", "OperatorRole")
    may_assume = [{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/KmsRotationOperator"}]}]
    operator = principal(OPERATOR_ARN, may_assume)
    stranger = principal(OPERATOR_ARN.replace("kms-rotation-operator", "someone"), may_assume)
    for node, expected in ((operator, True), (stranger, False)):
        keys = authz.context(node, "sts:AssumeRole")
        assert decide(node, "sts:AssumeRole", operator_role.arn, keys,
                      resource_policy=operator_role.trust_policy) is expected, node.arn


@pytest.mark.parametrize("case_,logical_id,service", [
    ("rule-function.yaml[single-account]", "RemediationRole", "ssm.amazonaws.com"),
    ("member-account-roles.yaml[roles-region]", "RemediationRole", "ssm.amazonaws.com"),
    ("rule-function.yaml[single-account]", "FunctionRole", "lambda.amazonaws.com"),
])
def test_the_services_assume_our_roles(case_: str, logical_id: str, service: str):
    """SSM Automation assumes the remediation role (aws:SourceAccount of this account only: Systems
    Manager User Guide, "Cross-service confused deputy prevention"); Lambda the function role.
    No other service, and SSM on behalf of another account, may."""
    role = template_role(case_, logical_id)
    own = {"aws:SourceAccount": ACCOUNT_ID}
    assert authz.service_may(service, "sts:AssumeRole", role.arn, role.trust_policy, own)
    assert not authz.service_may("ec2.amazonaws.com", "sts:AssumeRole", role.arn, role.trust_policy, own)
    if service == "ssm.amazonaws.com":
        assert not authz.service_may(service, "sts:AssumeRole", role.arn, role.trust_policy,
                                     {"aws:SourceAccount": "444455556666"})


# --------------------------------------------------------------------------- tests: the engine itself


def test_the_engine_is_right_where_it_matters():
    """Control cases, so that a broken engine cannot pass the tests above."""
    default = KEY_ARNS["default"]
    evaluation = CALLERS[1].node
    keys = authz.context(evaluation, "kms:DescribeKey")
    # An IAM allow alone passes the default key policy; no IAM allow, no access.
    assert decide(evaluation, "kms:DescribeKey", default, keys, resource_policy=DEFAULT_KEY_POLICY)
    assert not decide(NO_KMS, "kms:DescribeKey", default, authz.context(NO_KMS, "kms:DescribeKey"),
                      resource_policy=DEFAULT_KEY_POLICY)
    # IAM *:* is not enough when the key policy names neither the account nor the principal...
    admin_keys = authz.context(ADMIN, "kms:DescribeKey")
    assert decide(ADMIN, "kms:DescribeKey", default, admin_keys)  # (no key policy: IAM alone says yes)
    assert not decide(ADMIN, "kms:DescribeKey", default, admin_keys, resource_policy=ONE_ADMIN_KEY_POLICY)
    # ...and a key policy that names the role allows without any IAM policy.
    one_admin = KEY_ARNS["one admin"]
    named_keys = authz.context(NAMED_ADMIN, "kms:DescribeKey")
    assert decide(NAMED_ADMIN, "kms:DescribeKey", one_admin, named_keys, resource_policy=ONE_ADMIN_KEY_POLICY)
    # An explicit SCP Deny wins over that key policy Allow.
    deny = [[authz.Policy("scp", "deny-describe", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:DescribeKey", "Resource": "*"}]})]]
    assert not decide(NAMED_ADMIN, "kms:DescribeKey", one_admin, named_keys, resource_policy=ONE_ADMIN_KEY_POLICY,
                      scps=deny)
    # SCPs are an allow list: without FullAWSAccess, our deny-only SCP would deny everything.
    ours_only = [[authz.Policy("scp", "ours", scp())]]
    assert not decide(evaluation, "kms:DescribeKey", default, keys, resource_policy=DEFAULT_KEY_POLICY, scps=ours_only)
    # Another account's administrator gets nothing from this account's default key policy.
    stranger = principal(role_arn("Admin", account="444455556666"), [authz.ADMINISTRATOR_ACCESS])
    assert not decide(stranger, "kms:DescribeKey", default, authz.context(stranger, "kms:DescribeKey"),
                      resource_policy=DEFAULT_KEY_POLICY)


# --------------------------------------------------------------------------- tests: what the engine does not model


def test_gap_arn_conditions_are_case_sensitive_on_aws():
    """principalmapper matches ArnLike/ArnNotLike case-insensitively (`_compose_pattern` compiles
    with re.IGNORECASE); IAM's ARN condition operators are case-sensitive (IAM User Guide,
    "Condition operators", ARN condition operators). So the engine exempts a role named
    `kmsrotationbreakglass` from the SCP, and AWS does not: checked here with a case-sensitive
    ArnLike (test_iam_policies.arn_like)."""
    lower = principal(role_arn("kmsrotationbreakglass"), [authz.ADMINISTRATOR_ACCESS])
    keys = authz.context(lower, "kms:DisableKeyRotation")
    engine = decide(lower, "kms:DisableKeyRotation", KEY_ARNS["default"], keys, resource_policy=DEFAULT_KEY_POLICY)
    assert engine, "principalmapper now matches ARNs case-sensitively: update docs/authorization.md"
    [deny] = [st for st in statements(scp()) if st["Sid"] == "DenyDisableKeyRotation"]
    patterns = as_list(deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"])
    assert not any(arn_like(p, lower.arn) for p in patterns)  # on AWS: not exempt, so denied
    assert any(arn_like(p, BREAK_GLASS.arn) for p in patterns)


# Every condition key of every policy evaluated here, with where AWS says a request carries it.
# The engine takes whatever context it is given, so this table is what makes the context true.
CONDITION_KEYS = {
    "aws:PrincipalArn": ("global", "IAM global condition keys, aws:PrincipalArn (every signed request)"),
    "aws:ResourceOrgID": ("global", "IAM global condition keys, aws:ResourceOrgID (resource account in an organization)"),
    "aws:SourceAccount": ("global", "Systems Manager User Guide, Cross-service confused deputy prevention"),
    "aws:TagKeys": ("kms:TagResource kms:UntagResource kms:CreateKey", "Service Authorization Reference, AWS KMS"),
    "kms:RotationPeriodInDays": ("kms:EnableKeyRotation", "Service Authorization Reference, AWS KMS"),
    "kms:GrantIsForAWSResource": ("kms:CreateGrant kms:ListGrants kms:RevokeGrant", "Service Authorization Reference, AWS KMS"),
    "events:source": ("events:PutEvents", "Service Authorization Reference, Amazon EventBridge; EventBridge User Guide, "
                      "Using IAM policy conditions in Amazon EventBridge"),
}


def every_policy() -> dict[str, dict]:
    """The key policies, the SCP and every IAM policy of the templates' shapes
    (test_iam_policies.POLICIES)."""
    policies = {f"key policy {name}": policy for name, policy in KEY_POLICIES.items()}
    policies["SCP"] = scp()
    policies.update({label: policy for label, _, policy in POLICIES})
    return policies


def test_gap_condition_keys_are_in_the_request():
    """principalmapper infers no service condition key and few global ones; every key our policies
    test is given explicitly, and AWS puts it in the request: the Service Authorization Reference
    (parliament's copy) lists each service key for the actions of its statement."""
    used: dict[str, set[str]] = {}
    for policy in every_policy().values():
        for st in statements(policy):
            for block in st.get("Condition", {}).values():
                for key in block:
                    used.setdefault(key, set()).update(as_list(st.get("Action", [])))
    assert set(used) == set(CONDITION_KEYS), f"new condition keys: {set(used) - set(CONDITION_KEYS)}"
    for key, (actions, _) in CONDITION_KEYS.items():
        if actions == "global":
            continue
        for action in actions.split():
            listed = {k for r in sar_privilege(action)["resource_types"] for k in r["condition_keys"]}
            assert key in listed, f"{key} is not in the request context of {action}"
        # The statements that use it are about those actions only (ReplicateKey's tags are
        # authorized as kms:TagResource and kms:CreateKey, test_iam_policies).
        assert used[key] <= set(actions.split()) | {"kms:ReplicateKey"}, (key, used[key])


def test_gap_no_not_elements():
    """principalmapper treats NotPrincipal in a resource policy as a match of the caller and has
    doubtful NotAction/NotResource edge cases; none of our policies uses them, so they never
    decide here."""
    for name, policy in every_policy().items():
        for st in statements(policy):
            assert not {"NotPrincipal", "NotAction", "NotResource"} & set(st), name


def test_gap_policy_lockout_safety_check():
    """The engine does not know that CreateKey, ReplicateKey and PutKeyPolicy refuse a key policy
    that would not let the caller call PutKeyPolicy later; botocore's KMS model states it (the
    `Policy` member of each), and no module turns it off (BypassPolicyLockoutSafetyCheck), so the
    deployer case above (kms:PutKeyPolicy on each module's policy) is the check AWS runs."""
    kms = botocore.session.get_session().get_service_model("kms")
    for op in ("CreateKey", "ReplicateKey", "PutKeyPolicy"):
        doc = kms.operation_model(op).input_shape.members["Policy"].documentation
        assert "must allow the calling principal to make a subsequent <code>PutKeyPolicy</code>" in doc, op
    for path in sorted((IAC_DIR / "cloudformation").glob("*.yaml")):
        for resource in load_cfn(path)["Resources"].values():
            assert resource.get("Properties", {}).get("BypassPolicyLockoutSafetyCheck") in (None, False), path
    for path in sorted((IAC_DIR / "terraform").rglob("*.tf")):
        assert "bypass_policy_lockout_safety_check" not in path.read_text(), path
    assert any(c.node is DEPLOYER and c.action == "kms:PutKeyPolicy" and c.expected == ACCOUNT_KEYS for c in CASES)


def test_gap_no_session_policy_no_boundary_no_path():
    """The engine is given no session policy and no permissions boundary, and role ARNs without a
    path: right only if our AssumeRole calls pass no Policy/PolicyArns, our roles have no
    PermissionsBoundary, and the ARN the code assumes (role/<name>, rule.rs and cli/session.rs) is
    the one the templates create (no Path)."""
    clients = (CORE_SRC / "clients.rs").read_text()
    call = clients[clients.index(".assume_role()"):clients.index(".send()", clients.index(".assume_role()"))]
    assert ".policy(" not in call and ".policy_arns(" not in call, call
    session = (CLI_SRC / "session.rs").read_text()
    builder = session[session.index("AssumeRoleProvider::builder"):session.index(".build()", session.index("AssumeRoleProvider::builder"))]
    assert ".policy(" not in builder and ".policy_arns(" not in builder, builder
    # Both build the ARN with the one Arn type, as role/<name> (no path): arn.rs's Arn::iam.
    assert re.search(r'format!\("role/\{name\}"\);\s*let role_arn = Arn::iam\(', (CORE_SRC / "rule.rs").read_text())
    assert re.search(r'format!\("role/\{\}", scope\.role_name\);\s*let role_arn =\s*kms_rotation_core::arn::Arn::iam\(', session)
    arn = (CORE_SRC / "arn.rs").read_text()
    assert '"arn:{}:{}:{}:{}:{}",\n            self.partition, self.service, self.region, self.account, self.resource' in arn
    for case_, resolver in RESOLVERS.items():
        for logical_id, props in resolver.resources("AWS::IAM::Role"):
            assert "PermissionsBoundary" not in props and "Path" not in props, f"{case_} {logical_id}"


def test_gap_each_request_names_the_resource_aws_authorizes():
    """The engine evaluates whatever resource it is given. The one each request is authorized
    against is the Service Authorization Reference's resource type for the action (parliament's
    copy); each ARN used here matches that type's ARN format."""
    actions = {a for c in CALLERS for a in c.calls} | {c.action for c in CASES}
    for action in sorted(actions):
        kind = authz.sar_resource_type(action)
        arn = resource_arn(action, KEY_ARNS["CFN key"])
        if not kind:
            assert arn == "*", action
            continue
        template = authz.sar_arn_template(action, kind)
        pattern = re.escape(template)
        pattern = re.sub(r"\\\$\\\{[A-Za-z]+\\\}", "[^:]+", pattern)
        assert re.fullmatch(pattern, arn), f"{action}: {arn} is not a {kind} ({template})"


def test_gap_scps_do_not_reach_the_management_account_or_service_linked_roles():
    """The engine exempts service-linked roles by name (AWSServiceRoleFor*) and has no notion of
    the management account, which SCPs do not restrict either (Organizations User Guide, "Service
    control policies"): the guardrail cannot protect keys there, and the deployment guide says so.
    Our roles are ordinary roles, so the SCP applies to them (the remediation case above)."""
    assert "SCPs do not restrict the management account or service-linked roles." in (
        ROOT / "docs" / "deploy.md").read_text()
    for caller in CALLERS:
        assert not authz.engine_treats_as_service_linked(caller.node)


def test_gap_grants_are_not_used():
    """The engine does not model grants. None of our principals calls a grant operation, and none
    relies on one: every call above is allowed by policies alone."""
    for caller in CALLERS:
        assert not {a for a in caller.calls if "Grant" in a}, caller.label


# --------------------------------------------------------------------------- the documented matrix


def cell(result: frozenset[str] | bool, key: str | None) -> str:
    if isinstance(result, bool):
        return "allow" if result else "**deny**"
    return "allow" if key in result else "**deny**"


def matrix_markdown() -> str:
    """The tables of docs/authorization.md, from this file's expectations: the calls of each role
    grouped by result, then the guardrail and control cases."""
    keys = list(KEY_POLICIES)
    grouped: dict[tuple[str, bool, Any], list[str]] = {}
    for caller, action in CALL_ROWS:
        want = expected_for(caller, action)
        group = (caller.label, isinstance(want, frozenset), want)
        grouped.setdefault(group, []).append(f"`{action}`")
    key_rows = [f"| {label} | {', '.join(actions)} | " + " | ".join(cell(want, k) for k in keys) + " |"
                for (label, on_key, want), actions in grouped.items() if on_key]
    other_rows = [f"| {label} | {', '.join(actions)} | {cell(want, None)} |"
                  for (label, on_key, want), actions in grouped.items() if not on_key]
    case_rows = []
    for c in CASES:
        extra = "; ".join(f"{k} = {', '.join(as_list(v))}" for k, v in c.keys)
        action = f"`{c.action}`" + (f" ({extra})" if extra else "")
        if isinstance(c.expected, frozenset):
            cells = " | ".join(cell(c.expected, k) for k in keys)
        else:
            cells = " | ".join([cell(c.expected, None)] + ["-"] * (len(keys) - 1))
        case_rows.append(f"| {c.label} | {action} | {cells} | {c.why} |")
    columns = " | ".join(keys)
    rule = "|---|---|" + "---|" * len(keys)
    return (
        "Calls on a key (key policy and IAM decide together):\n\n"
        f"| principal | actions | {columns} |\n{rule}\n" + "\n".join(key_rows) + "\n\n"
        "Calls on other resources (no key policy; the resource is the one the Service Authorization "
        "Reference names: `*`, the Config rule, the Security Hub hub or product, the account):\n\n"
        "| principal | actions | result |\n|---|---|---|\n" + "\n".join(other_rows) + "\n\n"
        "Guardrails and controls (`CreateKey` has no key yet: one result, first column):\n\n"
        f"| principal | action | {columns} | why |\n{rule}---|\n" + "\n".join(case_rows) + "\n"
    )


def test_the_documented_matrix_is_this_files_table():
    """docs/authorization.md shows the matrix these tests assert (regenerate it with
    `PYTHONPATH=tests .venv/bin/python tests/baseline/test_authorization.py`: tests/support.py is on
    pytest's path, not on a script's)."""
    text = DOC.read_text()
    begin, end = "<!-- matrix:begin -->\n", "<!-- matrix:end -->"
    documented = text[text.index(begin) + len(begin):text.index(end)]
    assert documented.strip() == matrix_markdown().strip()


if __name__ == "__main__":
    sys.stdout.write(matrix_markdown())
