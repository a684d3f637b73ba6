"""Every IAM policy of the templates, and the SCP, checked with parliament and for least privilege.

Policies are taken from the templates with their intrinsic functions evaluated, for each
deployment shape (single account, organization), so conditional statements are checked too.
"""

from __future__ import annotations

import json
import re

import parliament
import pytest

from support import (
    CENTRAL_ROLE_ARN,
    CORE_SRC,
    OPERATOR_ARN,
    RUNBOOK_PATH,
    SCP_PATH,
    build_sources,
    TEMPLATES_DIR,
    Resolver,
    allowed_actions,
    as_list,
    iam_policies,
    load_cfn,
    load_yaml,
    roles,
    runbook_calls,
    sar_privilege,
    scp,
    statements,
)

ORG_ID = "o-abcdefghij"

# Each template with the parameter sets of its deployment shapes.
CASES = {
    "rule-function.yaml": {
        "single-account": {"CodeS3Bucket": "artifacts-bucket"},
        "organization": {
            "CodeS3Bucket": "artifacts-bucket",
            "ExecutionRoleName": "KmsRotationRuleEvaluation",
            "OrganizationId": ORG_ID,
            "CreateRemediationResources": "false",
        },
        "cross-account-without-org-id": {
            "CodeS3Bucket": "artifacts-bucket",
            "ExecutionRoleName": "KmsRotationRuleEvaluation",
        },
        # The organization deployment: this template as a service-managed StackSet instance in
        # every member account and Region, with the pack (docs/deploy.md section 2).
        "org-stackset-roles-region": {
            "CodeS3Bucket": "artifacts-bucket",
            "DeployConformancePack": "true",
            "ReservedConcurrency": "0",
        },
        "org-stackset-other-region": {
            "CodeS3Bucket": "artifacts-bucket",
            "DeployConformancePack": "true",
            "CreateRemediationRole": "false",
            "ReservedConcurrency": "0",
        },
    },
    "member-account-roles.yaml": {
        "roles-region": {"CentralFunctionRoleArn": CENTRAL_ROLE_ARN},
        "other-region": {"CentralFunctionRoleArn": CENTRAL_ROLE_ARN, "CreateRoles": "false"},
        # With the operator role of the CLI (tests/baseline/test_operator_role.py), read-only and
        # allowed to remediate.
        "operator-read-only": {"CentralFunctionRoleArn": CENTRAL_ROLE_ARN, "OperatorPrincipalArn": OPERATOR_ARN},
        "operator-remediates": {"CentralFunctionRoleArn": CENTRAL_ROLE_ARN, "OperatorPrincipalArn": OPERATOR_ARN,
                                "OperatorCanRemediate": "true"},
        "operator-sends-findings": {"CentralFunctionRoleArn": CENTRAL_ROLE_ARN,
                                    "OperatorPrincipalArn": OPERATOR_ARN, "OperatorCanSendFindings": "true"},
        "operator-sends-notices": {"CentralFunctionRoleArn": CENTRAL_ROLE_ARN,
                                   "OperatorPrincipalArn": OPERATOR_ARN, "OperatorCanSendNotices": "true"},
    },
}

RESOLVERS = {
    f"{name}[{shape}]": Resolver(load_cfn(TEMPLATES_DIR / name), params)
    for name, shapes in CASES.items()
    for shape, params in shapes.items()
}

POLICIES = [
    (f"{case}: {label}", kind, policy)
    for case, resolver in RESOLVERS.items()
    for label, kind, policy in iam_policies(resolver)
]

# Actions without resource-level permissions in the IAM Service Authorization Reference: the only
# ones an Allow statement may grant on Resource "*". (Checked against parliament's copy of the
# reference below, so a wrong entry fails.)
RESOURCE_STAR_ALLOWED = {"kms:ListKeys", "kms:ListAliases", "config:PutEvaluations", "config:GetResourceConfigHistory"}

# parliament findings accepted, {(policy label regex, issue, the action or text it is about):
# reason}. Each must still be needed (test_every_parliament_waiver_is_still_needed).
PARLIAMENT_WAIVERS: dict[tuple[str, str, str], str] = {
    (r"member-account-roles\.yaml\[operator-", "UNKNOWN_ACTION", "kms:GetKeyLastUsage"): (
        "GetKeyLastUsage was added to KMS in 2026 (KMS API Reference, GetKeyLastUsage; in "
        "aws-sdk-kms 1.129): parliament 1.6.4's copy of the Service Authorization Reference "
        "predates it. `evidence --last-use` calls it; the role grants it on the account's keys."
    ),
}
USED_WAIVERS: set[tuple[str, str, str]] = set()

# What each role may do: exactly these actions (least privilege, from the rule's design).
FUNCTION_ACTIONS = {
    "kms:ListKeys", "kms:ListAliases", "kms:DescribeKey", "kms:GetKeyRotationStatus",
    "kms:ListResourceTags", "kms:ListKeyRotations", "config:PutEvaluations", "config:GetComplianceDetailsByConfigRule",
    "config:GetResourceConfigHistory",
    # exceptionNoticeDays: the exception notices (docs/notices.md).
    "events:PutEvents",
}
LOG_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
REMEDIATION_ACTIONS = {"kms:DescribeKey", "kms:EnableKeyRotation", "kms:GetKeyRotationStatus"}


def parliament_findings(label: str, policy: dict) -> list[str]:
    result = parliament.analyze_policy_string(json.dumps(policy))
    out = []
    for f in result.findings:
        subject = (f.location or {}).get("string")
        waived = [
            w for w in PARLIAMENT_WAIVERS
            if re.search(w[0], label) and w[1] == f.issue and w[2] == subject
        ]
        USED_WAIVERS.update(waived)
        if not waived:
            out.append(f"{f.issue}: {f.detail} {f.location}")
    return out


def test_there_are_policies_to_check():
    kinds = {kind for _, kind, _ in POLICIES}
    assert kinds == {"trust", "identity"}
    assert len(POLICIES) >= 10


def as_resource_policy(policy: dict, role_arn: str) -> dict:
    """A role's trust policy is a resource policy whose resource is the role; IAM leaves Resource
    implicit. parliament only knows explicit ones (it reports MALFORMED otherwise, as its own
    source notes), so give each statement the role as Resource to have the rest checked."""
    return {
        **policy,
        "Statement": [{**st, "Resource": role_arn} for st in statements(policy)],
    }


@pytest.mark.parametrize("label,kind,policy", POLICIES, ids=[p[0] for p in POLICIES])
def test_parliament_has_no_findings(label, kind, policy):
    if kind == "trust":
        policy = as_resource_policy(policy, "arn:aws:iam::111122223333:role/any-role")
    assert parliament_findings(label, policy) == []


def test_every_parliament_waiver_is_still_needed():
    """A waiver parliament no longer needs (an upgrade that knows the action) is taken out."""
    for label, kind, policy in POLICIES:
        if kind == "trust":
            policy = as_resource_policy(policy, "arn:aws:iam::111122223333:role/any-role")
        parliament_findings(label, policy)
    assert USED_WAIVERS == set(PARLIAMENT_WAIVERS)


def test_parliament_has_no_findings_on_the_scp():
    assert parliament_findings("scp", json.loads(SCP_PATH.read_text())) == []


@pytest.mark.parametrize("label,kind,policy", POLICIES, ids=[p[0] for p in POLICIES])
def test_no_wildcard_actions_and_resource_star_only_where_unavoidable(label, kind, policy):
    for st in statements(policy):
        assert "NotAction" not in st and "NotResource" not in st, label
        for action in as_list(st["Action"]):
            assert "*" not in action, f"{label}: wildcard action {action}"
        if kind == "identity" and "*" in as_list(st.get("Resource", [])):
            for action in as_list(st["Action"]):
                assert action in RESOURCE_STAR_ALLOWED, f"{label}: {action} on Resource '*'"


def test_resource_star_allow_list_matches_the_iam_reference():
    for action in RESOURCE_STAR_ALLOWED:
        types = {r["resource_type"] for r in sar_privilege(action)["resource_types"]}
        assert types == {""}, f"{action} supports resource-level permissions: {types}"
    # ...and everything else the roles are granted does support them, so is scoped.
    operator = allowed_actions(RESOLVERS["member-account-roles.yaml[operator-remediates]"], "OperatorRole")
    operator |= allowed_actions(RESOLVERS["member-account-roles.yaml[operator-sends-findings]"], "OperatorRole")
    operator |= allowed_actions(RESOLVERS["member-account-roles.yaml[operator-sends-notices]"], "OperatorRole")
    for action in FUNCTION_ACTIONS | LOG_ACTIONS | REMEDIATION_ACTIONS | operator | {"sts:AssumeRole"}:
        if action not in RESOURCE_STAR_ALLOWED:
            types = {r["resource_type"] for r in sar_privilege(action)["resource_types"]}
            assert types - {""}, f"{action} has no resource type: add it to the allow-list"


def test_function_role_is_least_privilege():
    for shape in ("single-account", "org-stackset-roles-region", "org-stackset-other-region"):
        resolver = RESOLVERS[f"rule-function.yaml[{shape}]"]
        # The organization deployment needs no sts:AssumeRole: each account's function reads
        # its own account.
        assert allowed_actions(resolver, "FunctionRole") == FUNCTION_ACTIONS | LOG_ACTIONS, shape
    org = RESOLVERS["rule-function.yaml[organization]"]
    assert allowed_actions(org, "FunctionRole") == FUNCTION_ACTIONS | LOG_ACTIONS | {"sts:AssumeRole"}


# The rule's own calls: the SDK operations the Lambda's code sends, read from every source file
# the Lambda's build compiles (support.build_sources("lambda"): the crates in `cargo tree` of
# rule-lambda with only the `lambda` feature, that is kms-rotation-core and the Lambda glue; the
# CLI's calls are in another crate, which that build does not have), so that a new call without its
# permission fails here. (The roles once lacked kms:ListKeyRotations, which maxKeyMaterialAgeInDays
# calls: on AWS every old key would have been MATERIAL_AGE_UNKNOWN.) An operation is attributed to
# the one service of the rule (KMS, Config, STS) whose botocore model has it.
RULE_SERVICES = ("kms", "config", "sts", "events")


def rule_calls() -> set[str]:
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    services: dict[str, set[str]] = {}
    names: dict[tuple[str, str], str] = {}
    for service in RULE_SERVICES:
        for op in session.get_service_model(service).operation_names:
            services.setdefault(xform_name(op), set()).add(service)
            names[(service, xform_name(op))] = op
    calls = set()
    for path in build_sources("lambda"):
        for method in re.findall(r"\.client\s*\.\s*([a-z_]+)\(\)", path.read_text()):
            if method in services:
                [service] = services[method]  # one service has it, or the attribution is ambiguous
                calls.add(f"{service}:{names[(service, method)]}")
    return calls


def test_every_call_of_the_rule_is_granted_to_both_evaluation_roles():
    calls = rule_calls()
    # The reader covers every KMS read the decision needs.
    assert {"kms:ListKeys", "kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:ListResourceTags",
            "kms:ListKeyRotations", "kms:ListAliases", "config:PutEvaluations"} <= calls, calls
    assert calls <= FUNCTION_ACTIONS, calls - FUNCTION_ACTIONS
    for case, role in [("rule-function.yaml[single-account]", "FunctionRole"),
                       ("member-account-roles.yaml[roles-region]", "EvaluationRole")]:
        assert calls <= allowed_actions(RESOLVERS[case], role), case


def test_function_role_assumes_only_the_named_role_in_the_organization():
    props = dict(RESOLVERS["rule-function.yaml[organization]"].resources("AWS::IAM::Role"))
    [assume] = [
        st
        for st in statements(props["FunctionRole"]["Policies"][0]["PolicyDocument"])
        if st["Action"] == "sts:AssumeRole"
    ]
    assert assume["Resource"] == "arn:aws:iam::*:role/KmsRotationRuleEvaluation"
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": ORG_ID}}


def test_logs_are_scoped_to_the_functions_own_log_group():
    props = dict(RESOLVERS["rule-function.yaml[single-account]"].resources("AWS::IAM::Role"))
    [logs] = [
        st
        for st in statements(props["FunctionRole"]["Policies"][0]["PolicyDocument"])
        if set(as_list(st["Action"])) == LOG_ACTIONS
    ]
    assert logs["Resource"] == (
        "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/kms-rotation-rule:*"
    )


def test_notices_are_put_on_the_default_bus_with_the_rules_source_only():
    """events:PutEvents (exceptionNoticeDays; exceptions --notify) is granted on the account's
    default event bus only, for events whose source is the rule's (the events:source condition
    key: EventBridge User Guide, "Using IAM policy conditions in Amazon EventBridge",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html). The source
    is the one the code sends (crates/kms-rotation-core/src/notice.rs, SOURCE)."""
    [source] = re.findall(r'pub const SOURCE: &str = "([^"]+)";', (CORE_SRC / "notice.rs").read_text())
    for case, role, bus in [
        ("rule-function.yaml[single-account]", "FunctionRole", "arn:aws:events:us-east-1:111122223333:event-bus/default"),
        ("member-account-roles.yaml[roles-region]", "EvaluationRole", "arn:aws:events:*:111122223333:event-bus/default"),
        ("member-account-roles.yaml[operator-sends-notices]", "OperatorRole", "arn:aws:events:*:111122223333:event-bus/default"),
    ]:
        found = [st for policy in roles(RESOLVERS[case])[role]["Policies"]
                 for st in statements(policy["PolicyDocument"]) if "events:PutEvents" in as_list(st["Action"])]
        assert [(st["Resource"], st["Condition"]) for st in found] == [
            (bus, {"StringEquals": {"events:source": source}})], case
    for shape in ("operator-read-only", "operator-remediates", "operator-sends-findings"):
        assert "events:PutEvents" not in allowed_actions(RESOLVERS[f"member-account-roles.yaml[{shape}]"], "OperatorRole")


def test_member_evaluation_role_is_read_only_and_trusts_only_the_function_role():
    resolver = RESOLVERS["member-account-roles.yaml[roles-region]"]
    assert allowed_actions(resolver, "EvaluationRole") == FUNCTION_ACTIONS
    trust = dict(resolver.resources("AWS::IAM::Role"))["EvaluationRole"]["AssumeRolePolicyDocument"]
    [st] = statements(trust)
    assert st == {
        "Effect": "Allow",
        "Principal": {"AWS": CENTRAL_ROLE_ARN},
        "Action": "sts:AssumeRole",
    }
    # The parameter is the only thing it can trust: no account root, no wildcard.
    raw = load_cfn(TEMPLATES_DIR / "member-account-roles.yaml")
    principal = raw["Resources"]["EvaluationRole"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"][0]["Principal"]
    assert principal == {"AWS": {"Ref": "CentralFunctionRoleArn"}}


@pytest.mark.parametrize(
    "case",
    [
        "rule-function.yaml[single-account]",
        "rule-function.yaml[org-stackset-roles-region]",
        "member-account-roles.yaml[roles-region]",
    ],
)
def test_remediation_role_has_only_the_runbooks_actions_and_a_confused_deputy_guard(case):
    resolver = RESOLVERS[case]
    assert allowed_actions(resolver, "RemediationRole") == REMEDIATION_ACTIONS
    role = dict(resolver.resources("AWS::IAM::Role"))["RemediationRole"]
    [st] = statements(role["AssumeRolePolicyDocument"])
    assert st["Principal"] == {"Service": "ssm.amazonaws.com"}
    assert st["Condition"] == {"StringEquals": {"aws:SourceAccount": "111122223333"}}
    assert role["RoleName"] == "KmsRotationRemediation"


def test_remediation_role_covers_every_call_of_the_runbook():
    runbook = load_yaml(RUNBOOK_PATH)
    called = runbook_calls(runbook)
    assert called == REMEDIATION_ACTIONS


def test_every_invoke_permission_has_a_confused_deputy_condition():
    permissions = [
        (case, logical_id, props)
        for case, resolver in RESOLVERS.items()
        for logical_id, props in resolver.resources("AWS::Lambda::Permission")
    ]
    assert len(permissions) >= 5
    for case, logical_id, props in permissions:
        assert props["Action"] == "lambda:InvokeFunction"
        assert props["Principal"] == "config.amazonaws.com"
        assert props.get("SourceAccount") or props.get("SourceArn"), f"{case} {logical_id}"
    own = dict(RESOLVERS["rule-function.yaml[single-account]"].resources())
    assert own["ConfigInvokePermission"]["SourceAccount"] == "111122223333"


# --------------------------------------------------------------------------- SCP


def test_scp_fits_the_organizations_size_limit():
    # Service control policies are limited to 5,120 characters.
    assert len(SCP_PATH.read_text()) <= 5120


# IAM Identity Center names a permission set's role AWSReservedSSO_<permission set>_<suffix> under
# the path aws-reserved/sso.amazonaws.com/[<Region>/] (IAM Identity Center User Guide, "Referencing
# permission sets in resource policies, Amazon EKS, and AWS KMS"): a permission set named after
# the role matches only these patterns.
BREAK_GLASS = [
    "arn:*:iam::*:role/KmsRotationBreakGlass",
    "arn:*:iam::*:role/*/KmsRotationBreakGlass",
    "arn:*:iam::*:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_KmsRotationBreakGlass_*",
    "arn:*:iam::*:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_KmsRotationBreakGlass_*",
]
APPROVER = [
    "arn:*:iam::*:role/KmsRotationExceptionApprover",
    "arn:*:iam::*:role/*/KmsRotationExceptionApprover",
    "arn:*:iam::*:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_KmsRotationExceptionApprover_*",
    "arn:*:iam::*:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_KmsRotationExceptionApprover_*",
]


def arn_like(pattern: str, value: str) -> bool:
    """IAM's ArnLike: case-sensitive, `*` any run of characters (slashes included), `?` one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


def exempt(patterns: list[str], principal_arn: str) -> bool:
    return any(arn_like(p, principal_arn) for p in patterns)


def test_scp_denies_disabling_rotation_except_to_break_glass():
    by_sid = {st["Sid"]: st for st in statements(scp())}
    deny = by_sid["DenyDisableKeyRotation"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "kms:DisableKeyRotation"
    assert deny["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": BREAK_GLASS}}


SSO = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com"


@pytest.mark.parametrize(
    "principal,exempted",
    [
        ("arn:aws:iam::111122223333:role/KmsRotationBreakGlass", True),
        # Roles with an IAM path (issue 10, item 6).
        ("arn:aws:iam::111122223333:role/security/KmsRotationBreakGlass", True),
        # A permission set of IAM Identity Center named KmsRotationBreakGlass: its role, with and
        # without the Region in the path (IAM Identity Center User Guide, "Referencing permission
        # sets in resource policies, Amazon EKS, and AWS KMS").
        (f"{SSO}/AWSReservedSSO_KmsRotationBreakGlass_0123456789abcdef", True),
        (f"{SSO}/eu-west-1/AWSReservedSSO_KmsRotationBreakGlass_0123456789abcdef", True),
        # Another permission set whose name only starts with it stays denied.
        (f"{SSO}/AWSReservedSSO_KmsRotationBreakGlassX_0123456789abcdef", False),
        ("arn:aws-us-gov:iam::111122223333:role/KmsRotationBreakGlass", True),
        ("arn:aws-cn:iam::111122223333:role/ops/KmsRotationBreakGlass", True),
        # Look-alikes stay denied.
        ("arn:aws:iam::111122223333:role/EvilKmsRotationBreakGlass", False),
        ("arn:aws:iam::111122223333:role/path/EvilKmsRotationBreakGlass", False),
        ("arn:aws:iam::111122223333:role/KmsRotationBreakGlassX", False),
        ("arn:aws:iam::111122223333:role/KmsRotationBreakGlass/x", False),
        ("arn:aws:iam::111122223333:user/KmsRotationBreakGlass", False),
        ("arn:aws:iam::111122223333:role/kmsrotationbreakglass", False),
    ],
)
def test_scp_break_glass_exemption_matches_the_role_with_any_path_and_nothing_else(principal, exempted):
    for sid in ("DenyDisableKeyRotation", "DenyRotationPeriodAboveOrgMaximum"):
        st = {st["Sid"]: st for st in statements(scp())}[sid]
        assert exempt(as_list(st["Condition"]["ArnNotLike"]["aws:PrincipalArn"]), principal) is exempted
    approver = principal.replace("KmsRotationBreakGlass", "KmsRotationExceptionApprover")
    tag = {st["Sid"]: st for st in statements(scp())}["DenyChangingRotationExceptionTag"]
    assert exempt(as_list(tag["Condition"]["ArnNotLike"]["aws:PrincipalArn"]), approver) is exempted


def test_scp_denies_rotation_periods_above_the_org_maximum():
    by_sid = {st["Sid"]: st for st in statements(scp())}
    deny = by_sid["DenyRotationPeriodAboveOrgMaximum"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "kms:EnableKeyRotation"
    assert deny["Condition"]["NumericGreaterThan"] == {"kms:RotationPeriodInDays": "365"}
    assert deny["Condition"]["ArnNotLike"] == {"aws:PrincipalArn": BREAK_GLASS}
    # The runbook's default period must pass the SCP.
    runbook = load_yaml(RUNBOOK_PATH)
    assert runbook["parameters"]["RotationPeriodInDays"]["default"] <= 365


def test_scp_protects_the_exception_tag():
    by_sid = {st["Sid"]: st for st in statements(scp())}
    deny = by_sid["DenyChangingRotationExceptionTag"]
    assert set(deny["Action"]) == {
        "kms:TagResource", "kms:UntagResource", "kms:CreateKey", "kms:ReplicateKey"
    }
    assert deny["Condition"]["ForAnyValue:StringEquals"] == {"aws:TagKeys": "kms-rotation-exception"}
    assert deny["Condition"]["ArnNotLike"] == {"aws:PrincipalArn": APPROVER}
    # ReplicateKey: the Service Authorization Reference (parliament's copy) lists no aws:TagKeys
    # for it, because KMS authorizes its Tags with kms:TagResource (and kms:CreateKey) in the
    # replica Region - both denied here with aws:TagKeys. It is listed as well, so the request
    # is refused at its first authorization whenever the context carries the tag keys.
    for action in set(deny["Action"]) - {"kms:ReplicateKey"}:
        keys = {
            key
            for r in sar_privilege(action)["resource_types"]
            for key in r.get("condition_keys", [])
        }
        assert "aws:TagKeys" in keys, f"{action} does not support aws:TagKeys"


@pytest.mark.parametrize(
    "statement,issue",
    [
        ({"Effect": "Allow", "Action": "kms:DescribeKeys", "Resource": "*"}, "UNKNOWN_ACTION"),
        (
            {"Effect": "Allow", "Action": "kms:DescribeKey",
             "Resource": "arn:aws:logs:us-east-1:111122223333:log-group:x:*"},
            "RESOURCE_MISMATCH",
        ),
        (
            {"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "ssm.amazonaws.com"},
             "Resource": "arn:aws:iam::111122223333:role/x",
             "Condition": {"StringEquals": {"aws:SourceAcount": "111122223333"}}},
            "UNKNOWN_CONDITION_FOR_ACTION",
        ),
    ],
    ids=["misspelled-action", "wrong-resource-type", "misspelled-condition-key"],
)
def test_parliament_catches_the_mistakes_it_is_trusted_with(statement, issue):
    """A clean result above means something only if parliament sees these mistakes."""
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    assert issue in [f.issue for f in parliament.analyze_policy_string(json.dumps(policy)).findings]


def test_scp_covers_every_kms_operation_that_can_set_tags():
    """Issue 10, item 6: any KMS API with a Tags input can set the exception tag (botocore's KMS
    model is the list); each is denied, and ReplicateKey's tags are authorized by actions that
    are denied with aws:TagKeys too (the KMS API reference, ReplicateKey, "Required permissions")."""
    import botocore.session

    kms = botocore.session.get_session().get_service_model("kms")
    tagging = {f"kms:{op}" for op in kms.operation_names if "Tags" in kms.operation_model(op).input_shape.members}
    assert tagging >= {"kms:CreateKey", "kms:ReplicateKey", "kms:TagResource"}
    deny = {st["Sid"]: st for st in statements(scp())}["DenyChangingRotationExceptionTag"]
    assert tagging <= set(deny["Action"])
    doc = kms.operation_model("ReplicateKey").documentation
    assert "To use the <code>Tags</code> parameter, <code>kms:TagResource</code>" in doc
    assert {"kms:TagResource", "kms:CreateKey"} <= set(deny["Action"])
