"""The organization deployment is a documented, confused-deputy-safe form (issue 10, item 1).

Before: one Lambda permission for principal config.amazonaws.com with PrincipalOrgID. The IAM
global condition keys page says aws:PrincipalOrgID is in the request context only when the
principal belongs to an organization, which a service principal does not; Lambda documents
PrincipalOrgID for accounts and roles, and SourceAccount/SourceArn for service principals.

Now: templates/rule-function.yaml is deployed by a service-managed StackSet with automatic
deployment to every account and Region (accounts that join later get it without a manual step),
with DeployConformancePack=true. Config in each account invokes the function of its own account,
under a permission limited with SourceAccount = that account; the pack gets that function's ARN
from CloudFormation (Fn::GetAtt), so the pack template needs no pseudo parameter.

Pages:
- Lambda AddPermission (botocore's model carries its text):
  https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html
- AWS Config, custom Lambda rules, restricted Lambda policy (SourceAccount):
  https://docs.aws.amazon.com/config/latest/developerguide/evaluate-config_develop-rules_nodejs.html#restricted-lambda-policy
- IAM global condition keys, aws:PrincipalOrgID:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgid
- StackSets with service-managed permissions and automatic deployment:
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-manage-auto-deployment.html
- AWS::Config::ConformancePack (ConformancePackInputParameters, TemplateBody):
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-config-conformancepack.html
"""

from __future__ import annotations

import json
import re

import botocore.session
from cfnlint.decode import cfn_yaml

from support import PACK_DIR, ROOT, TEMPLATES_DIR, Resolver, load_cfn

LAMBDA = botocore.session.get_session().get_service_model("lambda")
STACKSET_PARAMS = {"CodeS3Bucket": "artifacts-bucket", "DeployConformancePack": "true",
                   "ReservedConcurrency": "0"}

# The documented forms of a Lambda permission: for a service principal, SourceAccount and/or
# SourceArn; PrincipalOrgID only for account or role principals (AddPermission's own text).
SERVICE_PRINCIPAL_CONDITIONS = {"SourceAccount", "SourceArn"}


def all_permissions():
    for path in sorted(TEMPLATES_DIR.glob("*.yaml")):
        template = load_cfn(path)
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::Lambda::Permission":
                yield path.name, logical_id, resource["Properties"]


def test_addpermission_documents_source_conditions_for_service_principals():
    """The rule the test below applies, as the Lambda API model states it."""
    op = LAMBDA.operation_model("AddPermission")
    principal_doc = op.input_shape.members["Principal"].documentation
    assert "If you specify a service, use <code>SourceArn</code> or <code>SourceAccount</code>" in principal_doc
    assert "specify the organization ID as the <code>PrincipalOrgID</code>" in op.documentation
    assert "To grant permission to another account, specify the account ID as the <code>Principal</code>" in op.documentation


def test_every_invoke_permission_has_a_documented_form():
    permissions = list(all_permissions())
    assert permissions
    for name, logical_id, props in permissions:
        where = f"{name} {logical_id}"
        assert props["Principal"] == "config.amazonaws.com", where
        assert "PrincipalOrgID" not in props, f"{where}: PrincipalOrgID with a service principal"
        assert set(props) & SERVICE_PRINCIPAL_CONDITIONS, f"{where}: no SourceAccount/SourceArn"
        # The function's own account: never another account's Config.
        assert props.get("SourceAccount") == {"Ref": "AWS::AccountId"}, where


def test_no_template_grants_an_organization_wide_invoke():
    assert not (TEMPLATES_DIR / "org-lambda-permission.yaml").exists()
    for path in TEMPLATES_DIR.glob("*.yaml"):
        assert "PrincipalOrgID" not in path.read_text(), path.name


def test_stackset_instance_creates_function_permission_runbook_and_pack_in_its_own_account():
    resolver = Resolver(load_cfn(TEMPLATES_DIR / "rule-function.yaml"), STACKSET_PARAMS)
    resources = dict(resolver.resources())
    assert {"Function", "FunctionRole", "ConfigInvokePermission", "RemediationDocument",
            "RemediationRole", "ConformancePack"} <= set(resources)
    pack = resources["ConformancePack"]
    given = {p["ParameterName"]: p["ParameterValue"] for p in pack["ConformancePackInputParameters"]}
    assert given["LambdaFunctionArn"] == "arn:aws:lambda:us-east-1:111122223333:function:kms-rotation-rule"
    assert given["AutomationAssumeRoleArn"] == "arn:aws:iam::111122223333:role/KmsRotationRemediation"
    assert given["RemediationDocumentName"] == "KmsRotation-EnableKeyRotation"
    assert "ExecutionRoleName" not in given, "each account's function reads its own account"
    raw = load_cfn(TEMPLATES_DIR / "rule-function.yaml")["Resources"]["ConformancePack"]
    assert raw["Properties"]["ConformancePackInputParameters"][0]["ParameterValue"] == {
        "Fn::GetAtt": ["Function", "Arn"]}
    assert raw["DependsOn"] == "ConfigInvokePermission", "Config checks the permission at rule creation"
    # No cross-account role to assume.
    assert "AssumeEvaluationRoleInMemberAccounts" not in json.dumps(resources["FunctionRole"])
    # Without the pack flag (single account), no pack.
    single = Resolver(load_cfn(TEMPLATES_DIR / "rule-function.yaml"), {"CodeS3Bucket": "b"})
    assert "ConformancePack" not in dict(single.resources())


def test_the_stack_passes_every_pack_parameter_it_knows_under_the_same_name():
    template = load_cfn(TEMPLATES_DIR / "rule-function.yaml")
    pack = load_cfn(PACK_DIR / "kms-rotation-conformance-pack.yaml")
    given = template["Resources"]["ConformancePack"]["Properties"]["ConformancePackInputParameters"]
    names = [p["ParameterName"] for p in given]
    # Every pack parameter but ExecutionRoleName (a central function's, not this deployment's).
    assert len(names) == len(set(names))
    assert set(names) == set(pack["Parameters"]) - {"ExecutionRoleName"}
    for p in given:
        if p["ParameterValue"] == {"Ref": p["ParameterName"]}:
            ours, theirs = template["Parameters"][p["ParameterName"]], pack["Parameters"][p["ParameterName"]]
            assert str(ours.get("Default")) == str(theirs.get("Default")), p["ParameterName"]
            if "AllowedValues" in theirs:
                assert ours["AllowedValues"] == theirs["AllowedValues"], p["ParameterName"]


def test_embedded_pack_is_the_pack_file_verbatim():
    template = load_cfn(TEMPLATES_DIR / "rule-function.yaml")
    body = template["Resources"]["ConformancePack"]["Properties"]["TemplateBody"]
    assert json.loads(json.dumps(cfn_yaml.loads(body))) == load_cfn(PACK_DIR / "kms-rotation-conformance-pack.yaml"), (
        "rule-function.yaml: the embedded pack differs from kms-rotation-conformance-pack.yaml; paste it again")
    assert len(body.encode()) <= 51200  # PutConformancePack TemplateBody maximum (botocore model)


def test_pack_template_uses_no_pseudo_parameter_or_resource_attribute():
    """Whether a conformance pack template resolves AWS::AccountId / Fn::Sub / Fn::GetAtt is not
    documented; every account-specific value reaches the pack as a pack parameter instead."""
    pack = load_cfn(PACK_DIR / "kms-rotation-conformance-pack.yaml")
    text = json.dumps(pack["Resources"])
    assert not re.search(r"AWS::(AccountId|Region|Partition|StackName|URLSuffix)", text)
    for fn in ("Fn::Sub", "Fn::GetAtt", "Fn::ImportValue", "Fn::Join"):
        assert fn not in text, fn
    refs = set(re.findall(r'"Ref": "([^"]+)"', text)) - {"AWS::NoValue"}
    assert refs <= set(pack["Parameters"]), refs - set(pack["Parameters"])


def test_deploy_guide_has_no_per_account_fallback_and_uses_auto_deployment():
    guide = (ROOT / "docs" / "deploy.md").read_text()
    what_is_deployed = guide[: guide.index("## 1. Single account")]
    organization = guide[guide.index("## 2. Organization"): guide.index("### 2.1")]
    assert "org-lambda-permission.yaml" not in what_is_deployed
    assert "--principal-org-id" not in guide
    # The "if it fails, add a permission per account" fallback of the old guide.
    assert "If the\nrule's evaluations in member accounts fail" not in guide
    assert "add one permission\nper member account instead" not in guide
    assert "aws lambda add-permission" not in organization
    for text in ("--permission-model SERVICE_MANAGED", "--auto-deployment Enabled=true",
                 "DeployConformancePack=true", "SourceAccount"):
        assert text in organization, text
