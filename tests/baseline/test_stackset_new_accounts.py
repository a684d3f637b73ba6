"""The organization StackSets of docs/deploy.md deploy correctly in every Region of a NEW account.

An account that joins a target OU later is deployed by automatic deployment with the StackSet's
own parameter values: "Accounts added to the target OUs and their child OUs in the future won't
use the overridden values" (CloudFormation API reference, UpdateStackInstances, DeploymentTargets;
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackInstances.html;
cloudformation-coverage-roadmap issue 1291 reports the same for CreateStackInstances). So these
tests render each template exactly as such an account gets it: with the parameters of the
guide's own `create-stack-set` command (read from docs/deploy.md section 2, so the guide and the
tests cannot drift), in each Region of the rollout, with Conditions, Fn::If, Ref, Fn::Sub and the
pseudo parameters evaluated (tests/baseline/cfn_render.py), and check:

- CloudFormation would accept the parameters in every Region (declared, AllowedPattern, Rules);
- no name in a global namespace is created by two Regions' stacks of one account: IAM "user,
  group, role, and policy names must be unique within the account" and "are not distinguished by
  case" (IAM API reference, CreateRole RoleName; pinned below from botocore's IAM model);
- every Region-bound reference points at the stack's own Region: Lambda's code bucket (Lambda
  reads the zip from a bucket in the function's Region: AWS::Lambda::Function Code, CreateFunction)
  and every ARN with a Region field;
- the Rules refuse giving neither or both of CodeS3Bucket and CodeS3BucketPrefix (AWS
  CloudFormation User Guide, "Rules").

On the b483cef templates and guide these fail: the guide's create-stack-set passed
CodeS3Bucket=$BUCKET_PREFIX-us-east-1 (the eu-west-1 stacks of a new account read a us-east-1
bucket) and relied on per-Region overrides for CreateRemediationRole (without them both Regions
create the role KmsRotationRemediation).
"""

from __future__ import annotations

import botocore.session
import pytest

from cfn_render import (
    GLOBAL_NAME_PROPERTIES,
    GUIDE,
    ORGANIZATION_SECTION,
    GuideStackSet,
    ParameterError,
    StackRenderer,
    expanded_shell,
    foreign_region_arns,
    global_names,
    guide_section,
    guide_stack_sets,
    region_arns,
    unclassified_types,
)
from support import TEMPLATES_DIR, load_cfn

NEW_ACCOUNT = "444455556666"
SECTION = guide_section(GUIDE.read_text(), *ORGANIZATION_SECTION)
EXPANDED, VARIABLES = expanded_shell(SECTION)
STACK_SETS = guide_stack_sets(EXPANDED)
TEMPLATES = ("rule-function.yaml", "member-account-roles.yaml")
IAM_TYPES = {kind for kind in GLOBAL_NAME_PROPERTIES if kind.startswith("AWS::IAM::")}


def stack_set_of(template: str) -> GuideStackSet:
    found = [s for s in STACK_SETS.values() if s.template == template]
    assert len(found) == 1, f"docs/deploy.md section 2 must create one stack set of {template}, found {len(found)}"
    return found[0]


def rollout_regions() -> list[str]:
    """Every Region any stack set of the guide is deployed to, in order, without repeats."""
    regions: list[str] = []
    for stack_set in STACK_SETS.values():
        regions += [r for r in stack_set.regions if r not in regions]
    return regions


def render(template: str, region: str, parameters: dict[str, str] | None = None) -> StackRenderer:
    """The stack a new account gets in one Region: the StackSet's parameters, nothing else."""
    given = stack_set_of(template).parameters if parameters is None else parameters
    return StackRenderer(load_cfn(TEMPLATES_DIR / template), given, NEW_ACCOUNT, region)


def folded(kind: str, name: str) -> tuple[str, str]:
    """IAM names are not distinguished by case (CreateRole RoleName)."""
    return (kind, name.lower()) if kind in IAM_TYPES else (kind, name)


# --------------------------------------------------------------------------- the guide


def test_iam_names_are_unique_per_account_and_case_insensitive():
    """The rule the duplicate check applies, as the IAM model states it."""
    iam = botocore.session.get_session().get_service_model("iam")
    doc = iam.operation_model("CreateRole").input_shape.members["RoleName"].documentation
    assert "IAM user, group, role, and policy names must be unique within the account" in doc
    assert "Names are not distinguished by case" in doc


def test_section_2_defines_every_variable_it_uses():
    assert not VARIABLES.undefined, f"docs/deploy.md section 2 uses undefined variables: {sorted(VARIABLES.undefined)}"
    assert "BUCKET_PREFIX" in VARIABLES.values


def test_the_guide_deploys_both_templates_as_stack_sets_over_a_two_region_rollout():
    for template in TEMPLATES:
        stack_set = stack_set_of(template)
        assert stack_set.instance_calls, f"{stack_set.name}: no create-stack-instances"
        assert stack_set.options.get("--permission-model") == ["SERVICE_MANAGED"], stack_set.name
        assert any(v.startswith("Enabled=true") for v in stack_set.options.get("--auto-deployment", [])), stack_set.name
    assert len(stack_set_of("rule-function.yaml").regions) >= 2, "the function's stack set must cover two Regions"


@pytest.mark.parametrize("name", sorted(STACK_SETS))
def test_stack_instances_carry_no_parameter_overrides(name):
    """Overrides never reach accounts that join later, so the guide must not rely on them."""
    for call in STACK_SETS[name].instance_calls:
        assert "--parameter-overrides" not in call, f"{name}: create-stack-instances with --parameter-overrides"


# --------------------------------------------------------------------------- a new account


@pytest.mark.parametrize("template", TEMPLATES)
def test_cloudformation_accepts_the_stack_set_parameters_in_every_region(template):
    for region in rollout_regions():
        try:
            stack = render(template, region)
        except ParameterError as err:
            pytest.fail(f"{template} in {region}: {err}")
        assert stack.rule_violations() == [], f"{template} in {region}"


@pytest.mark.parametrize("template", TEMPLATES)
def test_no_global_name_is_created_by_two_regions_of_one_account(template):
    assert unclassified_types(load_cfn(TEMPLATES_DIR / template)) == set(), (
        "classify the new resource type in cfn_render.py: regional, or named in a global namespace")
    first_region: dict[tuple[str, str], str] = {}
    for region in rollout_regions():
        for kind, name in global_names(render(template, region)):
            key = folded(kind, name)
            assert key not in first_region, (
                f"{template}: {kind} {name} is created in {first_region[key]} and in {region} of a new account")
            first_region[key] = region


def test_each_region_reads_the_code_from_its_own_regions_bucket():
    prefix = VARIABLES.values.get("BUCKET_PREFIX", "undefined-bucket-prefix")
    for region in stack_set_of("rule-function.yaml").regions:
        function = render("rule-function.yaml", region).created()["Function"][1]
        bucket = function["Code"]["S3Bucket"]
        assert bucket == f"{prefix}-{region}", f"the {region} function reads its code from {bucket}"


@pytest.mark.parametrize("template", TEMPLATES)
def test_no_arn_names_another_region(template):
    for region in rollout_regions():
        assert foreign_region_arns(render(template, region)) == [], f"{template} in {region}"
    # Not vacuous: the function's stack has ARNs of its own Region (its role's policy, the pack's
    # LambdaFunctionArn).
    own = region_arns(render("rule-function.yaml", "eu-west-1"))
    assert {logical_id for logical_id, _arn, _region in own} >= {"FunctionRole", "ConformancePack"}


def test_every_regions_pack_names_a_remediation_role_the_account_has_once():
    stack_set = stack_set_of("rule-function.yaml")
    stacks = {region: render("rule-function.yaml", region) for region in stack_set.regions}
    roles = [folded(kind, name) for stack in stacks.values() for kind, name in global_names(stack)
             if kind == "AWS::IAM::Role"]
    for region, stack in stacks.items():
        created = stack.created()
        assert {"Function", "ConfigInvokePermission", "LogGroup", "RemediationDocument", "ConformancePack"} <= set(created), region
        pack = created["ConformancePack"][1]
        given = {p["ParameterName"]: p["ParameterValue"] for p in pack["ConformancePackInputParameters"]}
        role_arn = given["AutomationAssumeRoleArn"]
        assert role_arn.startswith(f"arn:aws:iam::{NEW_ACCOUNT}:role/"), role_arn
        role = folded("AWS::IAM::Role", role_arn.split(":role/", 1)[1])
        assert roles.count(role) == 1, f"{region}: the pack names {role_arn}; the account's stacks create it {roles.count(role)} times"


@pytest.mark.parametrize("name", sorted(STACK_SETS))
def test_each_region_of_a_stack_set_creates_something(name):
    stack_set = STACK_SETS[name]
    for region in stack_set.regions:
        assert render(stack_set.template, region).created(), f"{name}: nothing to create in {region}"


def test_the_home_region_alone_creates_the_operator_role():
    regions = rollout_regions()
    with_role = [r for r in regions if "OperatorRole" in render("member-account-roles.yaml", r).created()]
    assert with_role == [stack_set_of("member-account-roles.yaml").parameters["HomeRegion"]]


# --------------------------------------------------------------------------- the templates alone

BASE = {"CodeS3Key": "kms-rotation-rule/r1/bootstrap.zip"}


@pytest.mark.parametrize(
    "given,refused",
    [
        ({}, True),
        ({"CodeS3Bucket": "code-us-east-1", "CodeS3BucketPrefix": "code"}, True),
        ({"CodeS3Bucket": "code-us-east-1"}, False),
        ({"CodeS3BucketPrefix": "code"}, False),
    ],
    ids=["neither", "both", "bucket", "prefix"],
)
def test_rules_require_exactly_one_code_bucket_parameter(given, refused):
    template = load_cfn(TEMPLATES_DIR / "rule-function.yaml")
    assert "CodeS3BucketPrefix" in template["Parameters"], "rule-function.yaml has no CodeS3BucketPrefix"
    violations = StackRenderer(template, {**BASE, **given}, NEW_ACCOUNT, "eu-west-1").rule_violations()
    assert bool(violations) == refused, violations
    if refused:
        assert all("CodeS3Bucket" in v and "CodeS3BucketPrefix" in v for v in violations), violations


def test_without_home_region_every_stack_creates_its_roles_as_before():
    """HomeRegion empty (the default) keeps the single-account behaviour and CreateRemediationRole."""
    for region in ("us-east-1", "eu-west-1"):
        single = StackRenderer(load_cfn(TEMPLATES_DIR / "rule-function.yaml"), {"CodeS3Bucket": "b-" + region},
                               NEW_ACCOUNT, region)
        assert "RemediationRole" in single.created()
        assert single.created()["Function"][1]["Code"]["S3Bucket"] == "b-" + region
        without = StackRenderer(load_cfn(TEMPLATES_DIR / "rule-function.yaml"),
                                {"CodeS3Bucket": "b-" + region, "CreateRemediationRole": "false"}, NEW_ACCOUNT, region)
        assert "RemediationRole" not in without.created()
        members = StackRenderer(load_cfn(TEMPLATES_DIR / "member-account-roles.yaml"),
                                {"CentralFunctionRoleArn": "arn:aws:iam::999988887777:role/f"}, NEW_ACCOUNT, region)
        assert {"EvaluationRole", "RemediationRole", "RemediationDocument"} <= set(members.created())


def test_member_account_roles_with_home_region_create_the_roles_once_and_the_runbook_everywhere():
    params = {"CentralFunctionRoleArn": "arn:aws:iam::999988887777:role/f", "HomeRegion": "us-east-1",
              "OperatorPrincipalArn": "arn:aws:iam::999988887777:role/op"}
    home = StackRenderer(load_cfn(TEMPLATES_DIR / "member-account-roles.yaml"), params, NEW_ACCOUNT, "us-east-1")
    other = StackRenderer(load_cfn(TEMPLATES_DIR / "member-account-roles.yaml"), params, NEW_ACCOUNT, "eu-west-1")
    assert {"EvaluationRole", "RemediationRole", "OperatorRole", "RemediationDocument"} <= set(home.created())
    assert set(other.created()) == {"RemediationDocument"}


@pytest.mark.parametrize(
    "given,problem",
    [
        ({"CodeS3Bucket": "b-1", "NoSuchParameter": "x"}, "not declared"),
        ({"CodeS3BucketPrefix": "p" * 48}, "AllowedPattern"),
        ({"CodeS3Bucket": "b-1", "HomeRegion": "useast1"}, "AllowedPattern"),
        ({"CodeS3Bucket": "b-1", "DeployConformancePack": "yes"}, "not one of"),
    ],
)
def test_the_renderer_refuses_what_cloudformation_refuses(given, problem):
    with pytest.raises(ParameterError, match=problem):
        StackRenderer(load_cfn(TEMPLATES_DIR / "rule-function.yaml"), given, NEW_ACCOUNT, "us-east-1")


def test_the_checks_catch_a_role_in_two_regions_and_a_foreign_bucket():
    """Without HomeRegion and with one bucket, as the old guide's new accounts got it."""
    old_style = {"CodeS3Bucket": "code-us-east-1", "DeployConformancePack": "true"}
    stacks = [StackRenderer(load_cfn(TEMPLATES_DIR / "rule-function.yaml"), old_style, NEW_ACCOUNT, region)
              for region in ("us-east-1", "eu-west-1")]
    names = [global_names(stack) for stack in stacks]
    assert names[0] & names[1] == {("AWS::IAM::Role", "KmsRotationRemediation")}
    assert stacks[1].created()["Function"][1]["Code"]["S3Bucket"].endswith("us-east-1")
