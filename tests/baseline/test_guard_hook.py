"""The optional Guard Hook (conformance-pack/templates/guard-hook.yaml): the template as
CloudFormation renders it, its execution role, its organization StackSet (docs/deploy.md, "The
Guard Hook (optional)"), and the rules run by the real `cfn-guard` on the input the Hook gives them.

AWS pages this rests on:
- AWS::CloudFormation::GuardHook and its S3Location (Uri s3://<bucket>/<file>; rules end in .guard,
  .zip or .tar.gz, input parameters in .yaml, .json, .zip or .tar.gz), CloudFormation Template
  Reference:
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudformation-guardhook.html
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-cloudformation-guardhook-s3location.html
  The property values allowed (Alias pattern, FailureMode, HookStatus, TargetOperations, Actions,
  InvocationPoints) are read from AWS's resource schema for the type, as cfn-lint ships it.
- The execution role: trust principal hooks.cloudformation.amazonaws.com and its S3 permissions,
  CloudFormation Hooks User Guide, "Prepare to create a Guard Hook":
  https://docs.aws.amazon.com/cloudformation-cli/latest/hooks-userguide/guard-hooks-prepare-to-create-hook.html
  aws:SourceAccount in a Hook's trust policy, CloudFormation User Guide, "Use third-party public
  extensions" (example trust policy for a Hook extension):
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/registry-public.html
  s3:GetObject for the current version, s3:GetObjectVersion for a given version, Amazon S3 API
  Reference, GetObject: https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
- The input of the rules for RESOURCE and CLOUD_CONTROL operations (HookContext, the proposed
  resource under Resources.<logical id>, in the syntax as ResourceType / ResourceProperties and in
  the example as Type / Properties), CloudFormation Hooks User Guide, "Write Guard rules to
  evaluate resources for Guard Hooks":
  https://docs.aws.amazon.com/cloudformation-cli/latest/hooks-userguide/guard-hooks-write-rules.html
- Control Tower's CT.KMS.PR.1 (its rule specification's scenarios: SKIP when KeySpec is given and
  not SYMMETRIC_DEFAULT, otherwise FAIL unless EnableKeyRotation is true), AWS Control Tower
  Controls Reference, "AWS KMS controls":
  https://docs.aws.amazon.com/controltower/latest/controlreference/kms-rules.html

The cfn-guard CLI is the one `make cfn-guard` installs (CFN_GUARD names another binary); GUARD_RULES
names another rules file, to run these tests on an older version of the rules.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from cfn_render import (
    GUIDE,
    ORGANIZATION_SECTION,
    ParameterError,
    StackRenderer,
    expanded_shell,
    foreign_region_arns,
    global_names,
    guide_section,
    guide_stack_sets,
)
from support import GUARD, ROOT, TEMPLATES_DIR, as_list, iam_policies, load_cfn
from test_iam_policies import as_resource_policy, parliament_findings
from test_lint import LINTED

TEMPLATE = TEMPLATES_DIR / "guard-hook.yaml"
RULES = Path(os.environ.get("GUARD_RULES") or ROOT / "conformance-pack" / "guard" / "kms-key-rotation.guard")
SHIFT_LEFT = ROOT / "docs" / "shift-left.md"
FAIL_EXIT = 19  # cfn-guard validate's exit status when a rule fails

ACCOUNT = "444455556666"
REGION = "eu-west-1"
HOOK_TYPE = "AWS::CloudFormation::GuardHook"
SCHEMA = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", HOOK_TYPE).schema

GUIDE_TEXT = GUIDE.read_text()
ORGANIZATION = guide_section(GUIDE_TEXT, *ORGANIZATION_SECTION)
HOOK_SECTION = guide_section(GUIDE_TEXT, "### The Guard Hook (optional)", "### 2.1 ")
EXPANDED, VARIABLES = expanded_shell(ORGANIZATION)
STACK_SETS = guide_stack_sets(EXPANDED)


def render(parameters: dict[str, str], region: str = REGION) -> StackRenderer:
    return StackRenderer(load_cfn(TEMPLATE), parameters, ACCOUNT, region)


def hook_of(stack: StackRenderer) -> dict:
    [props] = [p for kind, p in stack.created().values() if kind == HOOK_TYPE]
    return props


def grants(stack: StackRenderer) -> set[tuple[str, str]]:
    """(action, resource) of every Allow of the role's identity policies."""
    out = set()
    for _label, kind, policy in iam_policies(stack):
        if kind != "identity":
            continue
        for statement in as_list(policy["Statement"]):
            assert statement["Effect"] == "Allow" and "Condition" not in statement, statement
            out |= {(a, r) for a in as_list(statement["Action"]) for r in as_list(statement["Resource"])}
    return out


# --------------------------------------------------------------------------- the template


def test_the_template_is_linted_and_checked_with_the_others():
    """tests/baseline/test_lint.py runs cfn-lint (and checkov) on every template it globs."""
    assert TEMPLATE in LINTED


def test_the_failure_mode_is_a_parameter_that_defaults_to_warn():
    """A first rollout must not block deployments: WARN by default, FAIL on request; the values
    are those of the resource schema."""
    spec = load_cfn(TEMPLATE)["Parameters"]["FailureMode"]
    assert spec["Default"] == "WARN"
    assert sorted(spec["AllowedValues"]) == sorted(SCHEMA["properties"]["FailureMode"]["enum"]) == ["FAIL", "WARN"]
    assert hook_of(render({"RulesS3Bucket": "rules"}))["FailureMode"] == "WARN"
    assert hook_of(render({"RulesS3Bucket": "rules", "FailureMode": "FAIL"}))["FailureMode"] == "FAIL"
    status = load_cfn(TEMPLATE)["Parameters"]["HookStatus"]
    assert sorted(status["AllowedValues"]) == sorted(SCHEMA["properties"]["HookStatus"]["enum"])
    assert status["Default"] == "ENABLED"  # the schema's default is DISABLED: a Hook that never runs


def alias_samples() -> list[str]:
    """Every first segment of 1..4 characters from letters that spell AWS in any case (and two
    that do not), with valid and invalid other segments: the prefix rule and the lengths."""
    firsts = ["".join(p) for n in range(1, 5) for p in itertools.product("aAwWsSx1", repeat=n)]
    samples = [f"{first}::Guard::KmsKeyRotation" for first in firsts]
    samples += ["Private::Guard::KmsKeyRotation", "Private::G::KmsKeyRotation", "Private::Guard",
                "Private::Guard::Kms-Key", "P" * 64 + "::Gu::Kk", "P" * 65 + "::Gu::Kk", "Awsome::Gu::Kk",
                "Private::Guard::KmsKeyRotation::Extra", "Aws5::Gu::Kk", "xaws::Gu::Kk"]
    return samples


def test_the_alias_pattern_accepts_exactly_what_the_resource_schema_accepts():
    """The schema writes `^(?!(?i)aws)...` (not beginning with AWS in any case), which RE2 cannot
    read; the template's pattern spells the same set without lookahead (test_patterns.py checks
    it is portable). Python needs the scoped form of the inline flag to compile the schema's."""
    schema = re.compile(SCHEMA["properties"]["Alias"]["pattern"].replace("(?!(?i)aws)", "(?!(?i:aws))"))
    ours = re.compile(load_cfn(TEMPLATE)["Parameters"]["HookAlias"]["AllowedPattern"])
    samples = alias_samples()
    differ = [s for s in samples if bool(schema.search(s)) != bool(ours.search(s))]
    assert differ == []
    assert ours.search(load_cfn(TEMPLATE)["Parameters"]["HookAlias"]["Default"])
    assert sum(bool(ours.search(s)) for s in samples) > 1000 and not ours.search("AwS1::Guard::KmsKeyRotation")


def hook_input_types(rules: str) -> set[str]:
    """The resource types the rules check in a Hook's resource input (ResourceType == '...')."""
    return set(re.findall(r"ResourceType == '([^']+)'", rules))


def test_the_hook_targets_what_the_rules_check_in_a_resource_input_and_never_deletions():
    """A target the rules cannot check in a resource input (AWS::KMS::ReplicaKey: its primary is
    not in the input) would be invoked and pass: a silent pass. RESOURCE and CLOUD_CONTROL are the
    operations whose input is a resource input; DELETE is left out, so deleting a key that does
    not rotate is never refused."""
    hook = hook_of(render({"RulesS3Bucket": "rules"}))
    definitions = SCHEMA["definitions"]
    assert set(hook["TargetFilters"]["TargetNames"]) == hook_input_types(RULES.read_text()) == {"AWS::KMS::Key"}
    assert hook["TargetOperations"] == ["RESOURCE", "CLOUD_CONTROL"]
    assert set(hook["TargetOperations"]) <= set(definitions["TargetOperation"]["enum"])
    assert hook["TargetFilters"]["Actions"] == ["CREATE", "UPDATE"]
    assert set(definitions["Action"]["enum"]) - set(hook["TargetFilters"]["Actions"]) == {"DELETE"}
    assert hook["TargetFilters"]["InvocationPoints"] == definitions["InvocationPoint"]["enum"] == ["PRE_PROVISION"]


def test_the_hook_reads_the_rules_and_the_parameters_file_from_s3():
    plain = hook_of(render({"RulesS3Bucket": "rules"}))
    assert plain["RuleLocation"] == {"Uri": "s3://rules/kms-rotation-rule/guard/kms-key-rotation.guard"}
    assert "Options" not in plain and "LogBucket" not in plain
    full = hook_of(render({"RulesS3Bucket": "rules", "RulesS3Key": "g/r1/k.guard", "RulesS3ObjectVersion": "v1",
                           "InputParamsS3Key": "g/r1/params.yaml", "InputParamsS3ObjectVersion": "v2",
                           "LogBucket": "reports"}))
    assert full["RuleLocation"] == {"Uri": "s3://rules/g/r1/k.guard", "VersionId": "v1"}
    assert full["Options"] == {"InputParams": {"Uri": "s3://rules/g/r1/params.yaml", "VersionId": "v2"}}
    assert full["LogBucket"] == "reports"
    regional = hook_of(render({"RulesS3BucketPrefix": "code", "InputParamsS3Key": "g/p.json"}, "ap-southeast-2"))
    assert regional["RuleLocation"]["Uri"].startswith("s3://code-ap-southeast-2/")
    assert regional["Options"]["InputParams"]["Uri"] == "s3://code-ap-southeast-2/g/p.json"


@pytest.mark.parametrize(
    "given",
    [{"RulesS3Key": "guard/rules.yaml"}, {"RulesS3Key": "guard/rules.guard.txt"},
     {"InputParamsS3Key": "guard/params.txt"}, {"HookAlias": "AWS::Guard::Kms"}, {"FailureMode": "IGNORE"}],
)
def test_cloudformation_refuses_files_the_hook_cannot_read_and_invalid_values(given):
    with pytest.raises(ParameterError):
        render({"RulesS3Bucket": "rules", **given})


@pytest.mark.parametrize(
    "given,refused",
    [
        ({}, True),
        ({"RulesS3Bucket": "rules", "RulesS3BucketPrefix": "code"}, True),
        ({"RulesS3BucketPrefix": "code", "RulesS3ObjectVersion": "v1"}, True),
        ({"RulesS3BucketPrefix": "code", "InputParamsS3Key": "p.yaml", "InputParamsS3ObjectVersion": "v1"}, True),
        ({"RulesS3Bucket": "rules", "InputParamsS3ObjectVersion": "v1"}, True),
        ({"RulesS3Bucket": "rules", "RulesS3ObjectVersion": "v1", "InputParamsS3Key": "p.yaml",
          "InputParamsS3ObjectVersion": "v2"}, False),
        ({"RulesS3BucketPrefix": "code", "InputParamsS3Key": "p.yaml"}, False),
    ],
    ids=["no-bucket", "both", "prefix-and-version", "prefix-and-params-version", "params-version-without-key",
         "bucket-and-versions", "prefix"],
)
def test_the_rules_section_refuses_incoherent_locations(given, refused):
    """One bucket or a per-Region prefix; a version only with one bucket (each Region's bucket has
    versions of its own); a parameters version only with its key."""
    assert bool(render(given).rule_violations()) == refused


# --------------------------------------------------------------------------- the execution role


ROLE_SHAPES = {
    "rules-only": ({"RulesS3Bucket": "rules", "RulesS3Key": "g/k.guard"},
                   {("s3:GetObject", "arn:aws:s3:::rules/g/k.guard")}),
    "with-parameters": ({"RulesS3Bucket": "rules", "RulesS3Key": "g/k.guard", "InputParamsS3Key": "g/p.yaml"},
                        {("s3:GetObject", "arn:aws:s3:::rules/g/k.guard"),
                         ("s3:GetObject", "arn:aws:s3:::rules/g/p.yaml")}),
    "versions": ({"RulesS3Bucket": "rules", "RulesS3Key": "g/k.guard", "RulesS3ObjectVersion": "v1",
                  "InputParamsS3Key": "g/p.yaml", "InputParamsS3ObjectVersion": "v2"},
                 {("s3:GetObjectVersion", "arn:aws:s3:::rules/g/k.guard"),
                  ("s3:GetObjectVersion", "arn:aws:s3:::rules/g/p.yaml")}),
    "log-bucket": ({"RulesS3Bucket": "rules", "RulesS3Key": "g/k.guard", "LogBucket": "reports"},
                   {("s3:GetObject", "arn:aws:s3:::rules/g/k.guard"), ("s3:PutObject", "arn:aws:s3:::reports/*")}),
    "region-prefix": ({"RulesS3BucketPrefix": "code", "RulesS3Key": "g/k.guard", "InputParamsS3Key": "g/p.yaml"},
                      {("s3:GetObject", f"arn:aws:s3:::code-{REGION}/g/k.guard"),
                       ("s3:GetObject", f"arn:aws:s3:::code-{REGION}/g/p.yaml")}),
}


@pytest.mark.parametrize("shape", sorted(ROLE_SHAPES))
def test_the_role_may_read_the_two_objects_and_write_reports_and_nothing_else(shape):
    """Exactly the objects the Hook downloads (the version it is given, when it is given one), and
    s3:PutObject on the report bucket only when there is one: no s3:ListBucket, no other bucket."""
    parameters, expected = ROLE_SHAPES[shape]
    assert grants(render(parameters)) == expected


@pytest.mark.parametrize("shape", sorted(ROLE_SHAPES))
def test_parliament_has_no_findings_on_the_role(shape):
    stack = render(ROLE_SHAPES[shape][0])
    policies = list(iam_policies(stack))
    assert {kind for _, kind, _ in policies} == {"trust", "identity"}
    for label, kind, policy in policies:
        if kind == "trust":
            policy = as_resource_policy(policy, f"arn:aws:iam::{ACCOUNT}:role/hook-role")
        assert parliament_findings(label, policy) == [], label


def test_the_role_trusts_the_hooks_service_of_its_own_account_and_has_no_name():
    """hooks.cloudformation.amazonaws.com, as the Guard Hooks guide's trust policy names it, limited
    to this account with aws:SourceAccount; no RoleName, since IAM names are global to the
    account and every Region's stack creates its own role."""
    [(logical_id, role)] = list(render({"RulesS3Bucket": "rules"}).resources("AWS::IAM::Role"))
    assert "RoleName" not in role and "ManagedPolicyArns" not in role
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "hooks.cloudformation.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }
    hook = load_cfn(TEMPLATE)["Resources"]["KmsKeyRotationGuardHook"]["Properties"]
    assert hook["ExecutionRole"] == {"Fn::GetAtt": [logical_id, "Arn"]}


# --------------------------------------------------------------------------- the organization


def hook_stack_set():
    [stack_set] = [s for s in STACK_SETS.values() if s.template == TEMPLATE.name]
    return stack_set


def test_the_guide_deploys_the_hook_in_every_region_of_the_rollout_in_warn_mode():
    stack_set = hook_stack_set()
    function = [s for s in STACK_SETS.values() if s.template == "rule-function.yaml"][0]
    assert stack_set.regions == function.regions and len(stack_set.regions) >= 2
    assert stack_set.options["--capabilities"] == ["CAPABILITY_IAM"]  # no named IAM resource
    assert stack_set.parameters["FailureMode"] == "WARN"
    assert "ParameterKey=FailureMode,ParameterValue=FAIL" in HOOK_SECTION  # the switch, later


@pytest.mark.parametrize("region", hook_stack_set().regions)
def test_a_new_account_gets_a_working_hook_in_each_region_from_the_stack_sets_own_values(region):
    """As automatic deployment renders it: parameters accepted, Rules hold, no global name, every
    ARN in the stack's Region, and the Hook reads its own Region's bucket."""
    stack = StackRenderer(load_cfn(TEMPLATE), hook_stack_set().parameters, ACCOUNT, region)
    assert stack.rule_violations() == []
    assert global_names(stack) == set()
    assert foreign_region_arns(stack) == []
    bucket = f"{VARIABLES.values['BUCKET_PREFIX']}-{region}"
    hook = hook_of(stack)
    assert hook["RuleLocation"]["Uri"].startswith(f"s3://{bucket}/")
    assert hook["Options"]["InputParams"]["Uri"].startswith(f"s3://{bucket}/")


def code_bucket_policy(bucket: str) -> dict:
    """The bucket policy section 2 puts on each Region's code bucket, for one bucket."""
    [text] = re.findall(r"<<POLICY\n(.*?)\nPOLICY", EXPANDED, flags=re.S)
    return json.loads(text.replace(f"{VARIABLES.values['BUCKET_PREFIX']}-cmd-region", bucket))


@pytest.mark.parametrize("region", hook_stack_set().regions)
def test_the_code_bucket_policy_lets_the_hook_role_of_every_member_account_read_both_objects(region):
    """Cross-account reads need the identity policy and the bucket policy: the objects the role
    may read are the ones the guide uploads, and the organization-wide bucket policy covers them."""
    stack = StackRenderer(load_cfn(TEMPLATE), hook_stack_set().parameters, ACCOUNT, region)
    bucket = f"{VARIABLES.values['BUCKET_PREFIX']}-{region}"
    [statement] = code_bucket_policy(bucket)["Statement"]
    assert statement["Action"] == "s3:GetObject" and "aws:PrincipalOrgID" in statement["Condition"]["StringEquals"]
    objects = {resource for _action, resource in grants(stack)}
    assert len(objects) == 2
    for arn in objects:
        assert fnmatch.fnmatchcase(arn, statement["Resource"]), (arn, statement["Resource"])
    uploaded = {key.replace("$GUARD_PREFIX", VARIABLES.values["GUARD_PREFIX"])
                for key in re.findall(r'--key "([^"]+)" --body', HOOK_SECTION)}
    assert uploaded == {arn.split(f"{bucket}/", 1)[1] for arn in objects}


# --------------------------------------------------------------------------- the rules, as the Hook runs them


@pytest.fixture(scope="session")
def guide_params(tmp_path_factory) -> Path:
    """The parameters file deploy.md writes and uploads, which the guide's stack set points the
    Hook at (InputParamsS3Key): its exact text."""
    [(name, text)] = re.findall(r"cat > (\S+) <<'PARAMS'\n(.*?\n)PARAMS\n", HOOK_SECTION, flags=re.S)
    assert f'--key "$GUARD_PREFIX/params.yaml" --body {name}' in HOOK_SECTION
    assert hook_stack_set().parameters["InputParamsS3Key"] == f"{VARIABLES.values['GUARD_PREFIX']}/params.yaml"
    path = tmp_path_factory.mktemp("guide") / "params.yaml"
    path.write_text(text)
    return path


def shift_left_rows() -> list[tuple[dict, str, str]]:
    """(proposed properties, this Hook, CT.KMS.PR.1) of the key-by-key table of shift-left.md."""
    text = SHIFT_LEFT.read_text()
    table = text[text.index("| proposed properties | this Hook | CT.KMS.PR.1 | why |"):].split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows.append((yaml.safe_load(cells[0].strip("`")), cells[1], cells[2]))
    return rows


ROWS = shift_left_rows()
SHAPES = ["syntax", "example"]


def hook_input(properties: dict, shape: str) -> dict:
    """A Guard Hook's resource input for creating the key AppKey, as the Hooks guide documents it:
    its syntax names ResourceType / ResourceProperties, its example Type / Properties."""
    context = {
        "AWSAccountID": ACCOUNT,
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/app/1a2345b6-0000-00a0-a123-00abc0abc000",
        "HookTypeName": "Private::Guard::KmsKeyRotation",
        "HookTypeVersion": "00000001",
        "InvocationPoint": "CREATE_PRE_PROVISION",
        "TargetName": "AWS::KMS::Key",
        "TargetType": "RESOURCE",
        "TargetLogicalId": "AppKey",
        "ChangeSetId": "",
    }
    keys = ("ResourceType", "ResourceProperties") if shape == "syntax" else ("Type", "Properties")
    return {"HookContext": context, "Resources": {"AppKey": {keys[0]: "AWS::KMS::Key", keys[1]: properties}}}


def guard_status(data: Path, params: Path) -> str:
    """`cfn-guard validate` with `-o json` (the default summary panics on a ResourceType input
    that fails: test_guard_inputs.py pins it)."""
    proc = subprocess.run([str(GUARD), "validate", "-r", str(RULES), "-d", str(data), "-i", str(params),
                           "-o", "json", "-S", "none"], capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, FAIL_EXIT), proc.stderr
    return json.loads(proc.stdout)["status"]


def test_the_table_has_the_cases_that_matter():
    """A compliant key, rotation off, a period above the parameters file's maximum, an HMAC key,
    and a difference with CT.KMS.PR.1 each way."""
    verdicts = {json.dumps(props, sort_keys=True): (hook, ct) for props, hook, ct in ROWS}
    assert verdicts[json.dumps({"EnableKeyRotation": True, "RotationPeriodInDays": 365}, sort_keys=True)] == (
        "deployed", "deployed")
    assert verdicts[json.dumps({"EnableKeyRotation": False})] == ("refused", "refused")
    assert verdicts[json.dumps({"EnableKeyRotation": True, "RotationPeriodInDays": 730}, sort_keys=True)][0] == "refused"
    assert verdicts[json.dumps({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, sort_keys=True)][0] == "deployed"
    assert ("refused", "deployed") in verdicts.values() and ("deployed", "refused") in verdicts.values()
    assert {hook for hook, _ in verdicts.values()} == {ct for _, ct in verdicts.values()} == {"deployed", "refused"}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("row", range(len(ROWS)), ids=[json.dumps(r[0]) for r in ROWS])
def test_the_hook_refuses_exactly_the_keys_the_docs_say(guard_cli, guide_params, tmp_path, row, shape):
    properties, verdict, _ct = ROWS[row]
    data = tmp_path / "hook-input.json"
    data.write_text(json.dumps(hook_input(properties, shape)))
    assert guard_status(data, guide_params) == {"refused": "FAIL", "deployed": "PASS"}[verdict]


@pytest.mark.parametrize("row", range(len(ROWS)), ids=[json.dumps(r[0]) for r in ROWS])
def test_check_iac_decides_each_row_as_the_hook_does(binaries, guide_params, tmp_path, row):
    """check-iac with the parameters file's maximum: NON_COMPLIANT where the Hook refuses,
    COMPLIANT or NOT_APPLICABLE where it deploys."""
    properties, verdict, _ct = ROWS[row]
    maximum = yaml.safe_load(guide_params.read_text())["KmsRotationRuleParameters"]["maxRotationPeriodInDays"]
    template = tmp_path / "key.json"
    template.write_text(json.dumps({"Resources": {"AppKey": {"Type": "AWS::KMS::Key", "Properties": properties}}}))
    proc = subprocess.run([str(binaries / "kms-rotation"), "check-iac", "--max-rotation-period-days", str(maximum),
                           "--output", "json", str(template)], capture_output=True, text=True, timeout=120)
    [finding] = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    want = {"refused": {"NON_COMPLIANT"}, "deployed": {"COMPLIANT", "NOT_APPLICABLE"}}[verdict]
    assert finding["complianceType"] in want, finding


def ct_kms_pr_1(properties: dict) -> str:
    """CT.KMS.PR.1's documented scenarios: SKIP when KeySpec is given and not SYMMETRIC_DEFAULT;
    otherwise PASS only when EnableKeyRotation is given and is bool(true)."""
    if properties.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        return "deployed"
    return "deployed" if properties.get("EnableKeyRotation") is True else "refused"


@pytest.mark.parametrize("row", range(len(ROWS)), ids=[json.dumps(r[0]) for r in ROWS])
def test_the_ct_kms_pr_1_column_follows_its_rule_specification(row):
    properties, _hook, ct = ROWS[row]
    assert ct == ct_kms_pr_1(properties)
