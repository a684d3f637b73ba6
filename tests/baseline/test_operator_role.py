"""The operator role of member-account-roles.yaml: the role `kms-rotation --accounts ... |
--accounts-file ... | --organization` assumes in each member account (`--role-name`, default
KmsRotationOperator).

It is granted exactly the calls the CLI makes in a member account, read from the Rust source:
every AWS KMS and AWS Account Management operation called as an SDK fluent builder
(`.<snake_case_operation>()`, the operation names taken from botocore's service models) in the
sources the CLI's build compiles (support.build_sources("cli"): the KMS reader in
crates/kms-rotation-core, the IaC checker, and the CLI crate crates/kms-rotation-cli:
EnableKeyRotation in apply.rs, GetKeyPolicy in key_policy.rs, account:ListRegions in session.rs for
--all-regions). kms:EnableKeyRotation only with
OperatorCanRemediate=true. Calls made in the caller's own account only (organizations:ListAccounts,
sts:GetCallerIdentity, Config, Security Hub) are of other services and are not the role's.

The IAM policies of these shapes are also checked by parliament, for wildcards and for
resource-level scoping in test_iam_policies.py (CASES, "operator-read-only" and
"operator-remediates").
"""

from __future__ import annotations

import re

import botocore.session
import pytest
from botocore import xform_name

from regex_engines import both_accept, both_refuse
from support import (
    CENTRAL_ROLE_ARN,
    OPERATOR_ARN,
    ROOT,
    CLI_SRC,
    build_sources,
    rust_label,
    sdk_operations,
    TEMPLATES_DIR,
    Resolver,
    allowed_actions,
    as_list,
    load_cfn,
    roles,
    statements,
)

TEMPLATE = load_cfn(TEMPLATES_DIR / "member-account-roles.yaml")

# Where the CLI's calls in a member account are made: every source file of the CLI's build (the
# KMS reader and the modules that drive it: the CLI judges keys with the rule's own code).
CLI_SOURCES = build_sources("cli")
# The services whose calls go to the member account with the role's credentials.
MEMBER_SERVICES = {"kms": "kms", "account": "account", "securityhub": "securityhub",
                   "events": "events"}  # model -> IAM prefix

ENABLE = "kms:EnableKeyRotation"
# `securityhub export` / `sync-exceptions` across accounts, only with OperatorCanSendFindings=true.
FINDINGS = {"securityhub:GetFindings", "securityhub:BatchImportFindings", "securityhub:BatchUpdateFindings"}
# `exceptions --notify` (docs/notices.md), only with OperatorCanSendNotices=true.
NOTICES = {"events:PutEvents"}


def operations() -> dict[str, str]:
    """snake_case SDK method -> IAM action, for every operation of the member-account services:
    botocore's models, and the operations of the Rust SDK crate the CLI compiles against that
    botocore's pinned models do not have yet (kms:GetKeyLastUsage), named as IAM names them (the
    operation's name: KMS API Reference, "GetKeyLastUsage")."""
    session = botocore.session.get_session()
    out = {}
    for model_name, prefix in MEMBER_SERVICES.items():
        model = session.get_service_model(model_name)
        for op in model.operation_names:
            out[xform_name(op)] = f"{prefix}:{op}"
        # The Rust SDK names EventBridge's crate after the service, botocore after its endpoint.
        crate = {"events": "aws-sdk-eventbridge"}.get(model_name, f"aws-sdk-{model_name}")
        for method in sdk_operations(crate):
            out.setdefault(method, f"{prefix}:" + "".join(w.title() for w in method.split("_")))
    return out


OPERATIONS = operations()


def calls_in(text: str) -> set[str]:
    """The member-account operations `text` calls as SDK builders (`.list_keys()`), its unit
    tests (a top-level `#[cfg(test)] mod tests`) left out."""
    code = re.split(r"\n#\[cfg\(test\)\]\s*\nmod tests\b", text)[0]
    return {
        OPERATIONS[method]
        for method in re.findall(r"\.\s*([a-z][a-z0-9_]*)\s*\(\)", code)
        if method in OPERATIONS
    }


def member_account_calls() -> dict[str, set[str]]:
    """IAM action -> the files that call it."""
    found: dict[str, set[str]] = {}
    for path in CLI_SOURCES:
        for action in calls_in(path.read_text()):
            found.setdefault(action, set()).add(rust_label(path))
    return found


def resolver(**params: str) -> Resolver:
    return Resolver(TEMPLATE, {"CentralFunctionRoleArn": CENTRAL_ROLE_ARN, **params})


def granted(r: Resolver) -> set[str]:
    return allowed_actions(r, "OperatorRole")


def mismatch(calls: set[str], grant: set[str], remediates: bool,
             sends_findings: bool = False, sends_notices: bool = False) -> tuple[set[str], set[str]]:
    """(called but not granted, granted but not called) for the operator role."""
    needed = calls if remediates else calls - {ENABLE}
    if not sends_findings:
        needed = needed - FINDINGS
    if not sends_notices:
        needed = needed - NOTICES
    return needed - grant, grant - needed


READ_ONLY = resolver(OperatorPrincipalArn=OPERATOR_ARN)
REMEDIATES = resolver(OperatorPrincipalArn=OPERATOR_ARN, OperatorCanRemediate="true")
SENDS_FINDINGS = resolver(OperatorPrincipalArn=OPERATOR_ARN, OperatorCanSendFindings="true")
SENDS_NOTICES = resolver(OperatorPrincipalArn=OPERATOR_ARN, OperatorCanSendNotices="true")


# --------------------------------------------------------------------------- the calls


def test_the_cli_calls_are_read_from_the_source():
    calls = member_account_calls()
    # The scan sees the calls the issue names, each where it is made (a scan that finds nothing
    # would make the tests below vacuous).
    assert calls.get("kms:EnableKeyRotation") == {"kms-rotation-cli/src/apply.rs"}, calls
    assert calls.get("account:ListRegions") == {"kms-rotation-cli/src/session.rs"}, calls
    for action in FINDINGS:
        assert calls.get(action) == {"kms-rotation-cli/src/securityhub.rs"}, (action, calls)
    # The reader's calls, in the core crate the rule and the CLI share.
    for action in ("kms:ListKeys", "kms:ListAliases", "kms:DescribeKey", "kms:GetKeyRotationStatus",
                   "kms:ListResourceTags", "kms:ListKeyRotations"):
        assert "kms-rotation-core/src/kms.rs" in calls.get(action, set()), action
    # PutEvents in the notifier the rule and the CLI share.
    assert calls.get("events:PutEvents") == {"kms-rotation-core/src/notice.rs"}, calls
    # GetKeyPolicy only in the CLI's crate: the Lambda's build never has it.
    assert calls.get("kms:GetKeyPolicy") == {"kms-rotation-cli/src/key_policy.rs"}, calls


def test_operator_role_grants_exactly_the_cli_calls():
    calls = set(member_account_calls())
    for r, remediates, sends, notices in ((READ_ONLY, False, False, False), (REMEDIATES, True, False, False),
                                          (SENDS_FINDINGS, False, True, False),
                                          (SENDS_NOTICES, False, False, True)):
        missing, extra = mismatch(calls, granted(r), remediates, sends, notices)
        assert not missing, f"the CLI calls these, the operator role lacks them: {missing}"
        assert not extra, f"the operator role grants these, the CLI never calls them: {extra}"
    assert ENABLE not in granted(READ_ONLY)
    assert ENABLE in granted(REMEDIATES)
    assert not FINDINGS & granted(READ_ONLY)
    assert FINDINGS <= granted(SENDS_FINDINGS) and ENABLE not in granted(SENDS_FINDINGS)
    assert not NOTICES & (granted(READ_ONLY) | granted(REMEDIATES) | granted(SENDS_FINDINGS))
    assert NOTICES <= granted(SENDS_NOTICES) and not (FINDINGS | {ENABLE}) & granted(SENDS_NOTICES)


def test_the_comparison_and_the_scan_catch_a_difference():
    """The two tests above mean something only if these mistakes fail them."""
    calls = set(member_account_calls())
    grant = granted(REMEDIATES)
    # A role that lacks one call (here ListRegions, as the roles once lacked ListKeyRotations).
    missing, extra = mismatch(calls, grant - {"account:ListRegions"}, remediates=True)
    assert missing == {"account:ListRegions"} and not extra
    # A read-only role that may change keys after all.
    missing, extra = mismatch(calls, granted(READ_ONLY) | {ENABLE}, remediates=False)
    assert extra == {ENABLE} and not missing
    # A role granted something the CLI does not call.
    missing, extra = mismatch(calls, grant | {"kms:DisableKeyRotation"}, remediates=True)
    assert extra == {"kms:DisableKeyRotation"} and not missing
    # A new SDK call, written over two lines as rustfmt does, is seen; a test's is not.
    new_call = "        kms.client\n            .disable_key_rotation()\n            .key_id(k)\n"
    assert calls_in(new_call) == {"kms:DisableKeyRotation"}
    assert calls_in("fn f() {}\n#[cfg(test)]\nmod tests {\n    c.schedule_key_deletion();\n}\n") == set()
    assert calls_in("let o = org.list_accounts().send().await;") == set()  # not a member-account call


# --------------------------------------------------------------------------- the role


def test_operator_role_exists_only_with_a_principal_in_the_roles_region():
    assert "OperatorRole" not in roles(resolver())  # the default: no operator role
    assert "OperatorRole" not in roles(resolver(OperatorPrincipalArn=OPERATOR_ARN, CreateRoles="false"))
    role = roles(READ_ONLY)["OperatorRole"]
    assert role["RoleName"] == "KmsRotationOperator"
    renamed = resolver(OperatorPrincipalArn=OPERATOR_ARN, OperatorRoleName="ops-kms")
    assert roles(renamed)["OperatorRole"]["RoleName"] == "ops-kms"
    # The other roles are unchanged by it.
    assert set(roles(READ_ONLY)) == {"EvaluationRole", "RemediationRole", "OperatorRole"}
    output = TEMPLATE["Outputs"]["OperatorRoleArn"]
    assert output["Condition"] == TEMPLATE["Resources"]["OperatorRole"]["Condition"]
    assert READ_ONLY.resolve(output["Value"]) == "arn:aws:iam::111122223333:role/KmsRotationOperator"


def test_operator_role_only_creates_nothing_else():
    """OperatorRoleOnly=true, for an organization whose rule-function.yaml StackSet already
    creates the runbook and the remediation role under the same names."""
    only = Resolver(TEMPLATE, {"OperatorPrincipalArn": OPERATOR_ARN, "OperatorRoleOnly": "true"})
    assert set(dict(only.resources())) == {"OperatorRole"}
    assert only.resolve(TEMPLATE["Outputs"]["OperatorRoleArn"]["Value"]).endswith(":role/KmsRotationOperator")
    assert not only.condition(TEMPLATE["Outputs"]["RemediationRoleArn"]["Condition"])
    # Without it, everything as before (the central function's ARN is then required: a Rule).
    assert {"EvaluationRole", "RemediationRole", "RemediationDocument"} <= set(dict(READ_ONLY.resources()))
    rules = TEMPLATE["Rules"]
    assert rules["CentralFunctionRoleArnIsGiven"]["RuleCondition"] == {"Fn::Equals": [{"Ref": "OperatorRoleOnly"}, "false"]}
    assert rules["CentralFunctionRoleArnIsGiven"]["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CentralFunctionRoleArn"}, ""]}]}
    assert rules["OperatorPrincipalArnIsGiven"]["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "OperatorPrincipalArn"}, ""]}]}


def test_operator_role_trusts_only_the_operator_principal():
    [st] = statements(roles(READ_ONLY)["OperatorRole"]["AssumeRolePolicyDocument"])
    assert st == {"Effect": "Allow", "Principal": {"AWS": OPERATOR_ARN}, "Action": "sts:AssumeRole"}
    raw = TEMPLATE["Resources"]["OperatorRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert raw["Statement"][0]["Principal"] == {"AWS": {"Ref": "OperatorPrincipalArn"}}


def test_operator_role_is_scoped_to_this_accounts_keys_and_account():
    by_sid = {
        st["Sid"]: st
        for policy in roles(REMEDIATES)["OperatorRole"]["Policies"]
        for st in statements(policy["PolicyDocument"])
    }
    keys = "arn:aws:kms:*:111122223333:key/*"
    for sid, st in by_sid.items():
        actions = set(as_list(st["Action"]))
        if actions <= {"kms:ListKeys", "kms:ListAliases"}:
            assert st["Resource"] == "*", sid  # no resource types (test_iam_policies checks it)
        elif actions == {"account:ListRegions"}:
            assert st["Resource"] == "arn:aws:account::111122223333:account", sid
        else:
            assert all(a.startswith("kms:") for a in actions), sid
            assert st["Resource"] == keys, sid
        assert "Condition" not in st, sid


def test_the_default_role_name_is_the_clis():
    args = (CLI_SRC / "args.rs").read_text()
    [default] = re.findall(r'pub const DEFAULT_ROLE_NAME: &str = "([^"]+)";', args)
    assert TEMPLATE["Parameters"]["OperatorRoleName"]["Default"] == default
    assert TEMPLATE["Parameters"]["OperatorRoleName"]["AllowedPattern"] == (
        TEMPLATE["Parameters"]["EvaluationRoleName"]["AllowedPattern"])


@pytest.mark.parametrize(
    "value,accepted",
    [
        ("", True),
        ("arn:aws:iam::999988887777:role/kms-operator", True),
        ("arn:aws:iam::999988887777:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Ops_0123abcd", True),
        ("arn:aws:iam::999988887777:user/alice", True),
        ("arn:aws-us-gov:iam::999988887777:role/ops", True),
        ("arn:aws-cn:iam::999988887777:role/ops", True),
        # Not one principal: a whole account, a wildcard, a session, another service.
        ("arn:aws:iam::999988887777:root", False),
        ("999988887777", False),
        ("*", False),
        ("arn:aws:iam::999988887777:role/*", False),
        ("arn:aws:sts::999988887777:assumed-role/ops/session", False),
        ("arn:aws:iam::99998888777:role/ops", False),
        ("arn:aws:iam::999988887777:role/ops\narn:aws:iam::111122223333:root", False),
        ("arn:aws:iam::999988887777:role/ops x", False),
    ],
)
def test_operator_principal_pattern(value, accepted):
    pattern = TEMPLATE["Parameters"]["OperatorPrincipalArn"]["AllowedPattern"]
    if accepted:
        assert both_accept(pattern, value)
    else:
        assert both_refuse(pattern, value)


def test_the_guide_has_the_section_the_cli_errors_point_to():
    guide = (ROOT / "docs" / "operator-guide.md").read_text()
    assert "## Many accounts" in guide
    section = guide[guide.index("## Many accounts"):]
    section = section[: section.find("\n## ", 1)] if "\n## " in section[1:] else section
    for text in ("--accounts-file", "--organization", "--role-name", "--all-regions", "--max-in-flight",
                 "KmsRotationOperator", "OperatorPrincipalArn", "OperatorCanRemediate",
                 "member-account-roles.yaml", "account:ListRegions"):
        assert text in section, text
    assert "Many accounts" in (CLI_SRC / "session.rs").read_text()
