"""The files agree with each other: pack <-> runbook, pack <-> rule parameters, templates <-> runbook."""

from __future__ import annotations

import json
import re

import pytest

from regex_engines import both_accept
from support import PACK_DIR, ROOT, TEMPLATES_DIR, Resolver, load_cfn

RULE_PARAMETERS = {
    "maxRotationPeriodInDays",
    "evaluateDisabledKeys",
    "exceptionTagKey",
    "ExecutionRoleName",
    "getKeyRotationStatusPerSecond",
    "describeKeyPerSecond",
    "maxKeyMaterialAgeInDays",
    "rotationGraceDays",
    "exceptionNoticeDays",
}
SINGLE_ACCOUNT = {
    "LambdaFunctionArn": "arn:aws:lambda:us-east-1:111122223333:function:kms-rotation-rule",
    "AutomationAssumeRoleArn": "arn:aws:iam::111122223333:role/KmsRotationRemediation",
}
ORGANIZATION = {
    **SINGLE_ACCOUNT,
    "AutomationAssumeRoleArn": "arn:aws:iam::{{global:ACCOUNT_ID}}:role/KmsRotationRemediation",
    "ExecutionRoleName": "KmsRotationRuleEvaluation",
    "MaxRotationPeriodInDays": "365",
}
FUNCTION_TEMPLATES = ["rule-function.yaml", "member-account-roles.yaml"]


def pack_resource(pack: dict, kind: str) -> dict:
    [props] = [r["Properties"] for r in pack["Resources"].values() if r["Type"] == kind]
    return props


def resolved(pack: dict, params: dict, kind: str) -> dict:
    resolver = Resolver(pack, params)
    [props] = [p for _, p in resolver.resources(kind)]
    return props


def test_pack_holds_only_config_resources(pack):
    kinds = sorted(r["Type"] for r in pack["Resources"].values())
    assert kinds == ["AWS::Config::ConfigRule", "AWS::Config::RemediationConfiguration"]


# --------------------------------------------------------------------------- rule


def test_rule_is_the_custom_lambda_rule(pack):
    rule = pack_resource(pack, "AWS::Config::ConfigRule")
    assert rule["ConfigRuleName"] == {"Ref": "ConfigRuleName"}
    assert pack["Parameters"]["ConfigRuleName"]["Default"] == "kms-rotation-rule"
    assert rule["Scope"] == {"ComplianceResourceTypes": ["AWS::KMS::Key"]}
    source = rule["Source"]
    assert source["Owner"] == "CUSTOM_LAMBDA"
    assert source["SourceIdentifier"] == {"Ref": "LambdaFunctionArn"}
    assert "Default" not in pack["Parameters"]["LambdaFunctionArn"]
    details = {d["MessageType"]: d for d in source["SourceDetails"]}
    assert set(details) == {
        "ConfigurationItemChangeNotification",
        "OversizedConfigurationItemChangeNotification",
        "ScheduledNotification",
    }
    assert all(d["EventSource"] == "aws.config" for d in details.values())
    assert details["ScheduledNotification"]["MaximumExecutionFrequency"] == {
        "Ref": "MaximumExecutionFrequency"
    }
    assert set(pack["Parameters"]["MaximumExecutionFrequency"]["AllowedValues"]) == {
        "One_Hour", "Three_Hours", "Six_Hours", "Twelve_Hours", "TwentyFour_Hours"
    }


def test_rule_parameters_file_lists_the_accepted_names(rule_parameters):
    assert len(rule_parameters) == len(set(rule_parameters))
    assert set(rule_parameters) == RULE_PARAMETERS


def test_pack_input_parameters_are_accepted_rule_parameters(pack, rule_parameters):
    rule = pack_resource(pack, "AWS::Config::ConfigRule")
    assert set(rule["InputParameters"]) <= set(rule_parameters)
    assert {"maxRotationPeriodInDays", "evaluateDisabledKeys", "exceptionTagKey",
            "ExecutionRoleName"} <= set(rule["InputParameters"])


@pytest.mark.parametrize(
    "params,expected",
    [
        (SINGLE_ACCOUNT, {"evaluateDisabledKeys": "false", "exceptionTagKey": "kms-rotation-exception",
                          "rotationGraceDays": "7"}),
        (
            ORGANIZATION,
            {
                "maxRotationPeriodInDays": "365",
                "evaluateDisabledKeys": "false",
                "exceptionTagKey": "kms-rotation-exception",
                "ExecutionRoleName": "KmsRotationRuleEvaluation",
                "rotationGraceDays": "7",
            },
        ),
        (
            {**SINGLE_ACCOUNT, "MaxKeyMaterialAgeInDays": "400"},
            {"evaluateDisabledKeys": "false", "exceptionTagKey": "kms-rotation-exception",
             "rotationGraceDays": "7", "maxKeyMaterialAgeInDays": "400"},
        ),
        (
            {**SINGLE_ACCOUNT, "ExceptionNoticeDays": "14"},
            {"evaluateDisabledKeys": "false", "exceptionTagKey": "kms-rotation-exception",
             "rotationGraceDays": "7", "exceptionNoticeDays": "14"},
        ),
    ],
    ids=["single-account", "organization", "material-age", "notices"],
)
def test_empty_optional_parameters_are_left_out(pack, params, expected):
    rule = resolved(pack, params, "AWS::Config::ConfigRule")
    assert rule["InputParameters"] == expected


def test_input_parameters_fit_configs_limit(pack):
    long_values = {**ORGANIZATION, "ExecutionRoleName": "r" * 64, "ExceptionTagKey": "k" * 128,
                   "MaxKeyMaterialAgeInDays": "3650", "ExceptionNoticeDays": "365"}
    rule = resolved(pack, long_values, "AWS::Config::ConfigRule")
    assert len(json.dumps(rule["InputParameters"])) <= 1024


# --------------------------------------------------------------------------- remediation


def test_remediation_parameters_match_the_runbook(pack, runbook):
    remediation = pack_resource(pack, "AWS::Config::RemediationConfiguration")
    given = remediation["Parameters"]
    declared = runbook["parameters"]
    assert set(given) == set(declared), "every runbook parameter is given, and nothing else"
    required = {name for name, spec in declared.items() if "default" not in spec}
    assert required <= set(given)
    assert given["KeyId"] == {"ResourceValue": {"Value": "RESOURCE_ID"}}
    assert given["AutomationAssumeRole"] == {"StaticValue": {"Values": [{"Ref": "AutomationAssumeRoleArn"}]}}
    assert given["RotationPeriodInDays"] == {"StaticValue": {"Values": [{"Ref": "RotationPeriodInDays"}]}}
    # Exactly one ResourceValue: the console's "Remediate" fills it with the key's resource ID.
    assert [k for k, v in given.items() if "ResourceValue" in v] == ["KeyId"]


def test_remediation_configuration(pack):
    remediation = pack_resource(pack, "AWS::Config::RemediationConfiguration")
    assert remediation["ConfigRuleName"] == {"Ref": "ConfigRuleName"}
    assert remediation["TargetType"] == "SSM_DOCUMENT"
    assert remediation["TargetId"] == {"Ref": "RemediationDocumentName"}
    assert remediation["ResourceType"] == "AWS::KMS::Key"
    assert remediation["Automatic"] == {"Ref": "AutomaticRemediation"}
    assert pack["Parameters"]["AutomaticRemediation"]["Default"] == "false"
    assert remediation["MaximumAutomaticAttempts"] == 5
    assert remediation["RetryAttemptSeconds"] == 60
    assert set(remediation["ExecutionControls"]["SsmControls"]) == {
        "ConcurrentExecutionRatePercentage", "ErrorPercentage"
    }
    remediation_resource = next(
        r for r in pack["Resources"].values() if r["Type"] == "AWS::Config::RemediationConfiguration"
    )
    assert remediation_resource["DependsOn"] in ("KmsRotationRule", ["KmsRotationRule"])


@pytest.mark.parametrize("params", [SINGLE_ACCOUNT, ORGANIZATION], ids=["single-account", "organization"])
def test_static_remediation_values_pass_the_runbooks_patterns(pack, runbook, params):
    remediation = resolved(pack, params, "AWS::Config::RemediationConfiguration")
    for name, value in remediation["Parameters"].items():
        if "StaticValue" in value:
            [text] = value["StaticValue"]["Values"]
            spec = runbook["parameters"][name]
            if spec["type"] == "Integer":
                assert re.fullmatch(r"[0-9]+", str(text)) and 90 <= int(text) <= 2560, name
            else:
                assert both_accept(spec["allowedPattern"], str(text)), name
    controls = remediation["ExecutionControls"]["SsmControls"]
    assert all(1 <= int(v) <= 100 for v in controls.values())


def test_automation_role_is_a_literal_arn_parameter(pack):
    spec = pack["Parameters"]["AutomationAssumeRoleArn"]
    assert spec["Type"] == "String" and "Default" not in spec


def test_pack_document_name_is_the_one_the_templates_create(pack):
    default = pack["Parameters"]["RemediationDocumentName"]["Default"]
    for name in FUNCTION_TEMPLATES:
        template = load_cfn(TEMPLATES_DIR / name)
        assert template["Parameters"]["RemediationDocumentName"]["Default"] == default
        assert template["Parameters"]["RemediationRoleName"]["Default"] == "KmsRotationRemediation"


# --------------------------------------------------------------------------- templates


@pytest.mark.parametrize("name", FUNCTION_TEMPLATES)
def test_templates_embed_the_runbook_verbatim(runbook, name):
    template = load_cfn(TEMPLATES_DIR / name)
    document = template["Resources"]["RemediationDocument"]["Properties"]
    assert document["DocumentType"] == "Automation"
    assert document["DocumentFormat"] == "YAML"
    assert document["Name"] == {"Ref": "RemediationDocumentName"}
    assert document["Content"] == runbook, (
        f"{name}: the SSM document differs from runbook-enable-key-rotation.yaml; paste it again"
    )


def test_function_matches_the_cargo_lambda_build():
    template = load_cfn(TEMPLATES_DIR / "rule-function.yaml")
    function = template["Resources"]["Function"]["Properties"]
    assert function["Runtime"] == "provided.al2023"
    assert function["Handler"] == "bootstrap"
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    assert set(template["Parameters"]["Architecture"]["AllowedValues"]) == {"x86_64", "arm64"}
    assert set(function["Code"]) >= {"S3Bucket", "S3Key"}
    assert template["Parameters"]["FunctionName"]["Default"] == "kms-rotation-rule"
    log_group = template["Resources"]["LogGroup"]["Properties"]
    assert log_group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${FunctionName}"}
    assert "RetentionInDays" in log_group


def test_deploy_guide_has_the_commands():
    guide = (ROOT / "docs" / "deploy.md").read_text()
    for text in [
        "cargo lambda build --release --x86-64 --output-format zip",
        "--arm64",
        "target/lambda/kms-rotation-rule/bootstrap.zip",
        "aws cloudformation deploy",
        "aws configservice put-conformance-pack",
        "aws cloudformation create-stack-set",
        "--auto-deployment Enabled=true",
        "DeployConformancePack=true",
        "aws organizations attach-policy",
        "kms-rotation remediate",
        "kms-rotation-exception",
        "owner=",
        "expires=",
    ]:
        assert text in guide, text
    for path in PACK_DIR.rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".json"):
            assert path.name in guide, f"docs/deploy.md does not mention {path.name}"
