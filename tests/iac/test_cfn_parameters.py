"""`check-iac --parameters FILE` and `--parameter KEY=VALUE`: a CloudFormation template decided for the
parameter values it is deployed with, read as the AWS CLI reads them.

- `aws cloudformation create-stack --parameters file://params.json`: a JSON list of the API's
  `Parameter` structures (CloudFormation API reference, "Parameter" data type; botocore's model
  cloudformation/2010-05-15 shape `Parameter`: ParameterKey, ParameterValue, UsePreviousValue,
  ResolvedValue; "UsePreviousValue: ... If you specify true, do not specify a parameter value").
- `aws cloudformation deploy --parameter-overrides Key=Value ...` and its JSON file forms, a list of
  "Key=Value" strings or CodePipeline's `{"Parameters": {...}}` (AWS CLI v2,
  awscli/customizations/cloudformation/deploy.py: StringEquals-, CloudFormationLike- and
  CodePipelineLikeParameterOverrideParser; a value is split at the first "=").
- A parameter the template does not declare: CreateStack answers `ValidationError: Parameters: [X] do
  not exist in the template` (as quoted in aws-samples/amazon-ec2-image-builder-samples issue 18 and
  buildkite/elastic-ci-stack-for-aws PR 2), so check-iac refuses it too (exit 2, the files named).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import FIXTURES, verdicts

CFN = FIXTURES / "cloudformation"
PARAMETERS = CFN / "parameters.yaml"
EXCEPTION = CFN / "exception-from-parameter.yaml"
FOREACH = CFN / "foreach-keys.yaml"
VALID_EXCEPTION = "owner=payments-team expires=2099-12-31 ticket=SEC-42"


def write(tmp_path: Path, content: object, name: str = "params.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_a_create_stack_parameters_file_decides_rotation_and_period(check_iac, tmp_path):
    """The values of `create-stack --parameters file://` replace the defaults; without them the period
    is UNKNOWN and the default "true" is assumed."""
    params = write(tmp_path, [{"ParameterKey": "EnableRotation", "ParameterValue": "false"},
                              {"ParameterKey": "RotationPeriod", "ParameterValue": "730"}], "prod.json")
    run = check_iac("--max-rotation-period-days", "365", "--parameters", str(params), "--output", "json",
                    str(PARAMETERS))
    assert run.code == 1, run.stderr
    assert verdicts(run) == {"DefaultedKey": ("NON_COMPLIANT", "ROTATION_OFF"),
                             "PeriodFromParameterKey": ("NON_COMPLIANT", "PERIOD_ABOVE_MAXIMUM")}
    by = {f["resource"]: f for f in run.findings()}
    assert f'parameter EnableRotation = "false" from {params}' in by["DefaultedKey"]["message"]
    assert f'parameter RotationPeriod = "730" from {params}' in by["PeriodFromParameterKey"]["message"]


@pytest.mark.parametrize("form", ["create-stack", "deploy-list", "codepipeline", "flag"])
def test_every_cli_form_gives_the_exception_the_deployment_will_have(check_iac, tmp_path, form):
    """Row 6g before deployment is NON_COMPLIANT (the tag's value is a parameter without a default); given
    the value the stack is deployed with, the exception is read as the rule reads it."""
    value = {"create-stack": [{"ParameterKey": "RotationException", "ParameterValue": VALID_EXCEPTION}],
             "deploy-list": [f"RotationException={VALID_EXCEPTION}"],
             "codepipeline": {"Parameters": {"RotationException": VALID_EXCEPTION}, "Tags": {"team": "pay"}}}
    args = (["--parameter", f"RotationException={VALID_EXCEPTION}"] if form == "flag"
            else ["--parameters", str(write(tmp_path, value[form]))])
    run = check_iac(*args, "--output", "json", str(EXCEPTION))
    assert run.code == 0, run.stderr
    assert verdicts(run)["WaivedByParameterKey"] == ("NOT_APPLICABLE", "EXCEPTION_VALID")
    source = "--parameter" if form == "flag" else str(tmp_path / "params.json")
    message = {f["resource"]: f["message"] for f in run.findings()}["WaivedByParameterKey"]
    assert f"parameter RotationException = {VALID_EXCEPTION!r}".replace("'", '"') + f" from {source}" in message


def test_use_previous_value_is_known_only_at_deployment(check_iac, tmp_path):
    params = write(tmp_path, [{"ParameterKey": "EnableRotation", "UsePreviousValue": True}])
    run = check_iac("--parameters", str(params), "--output", "json", str(PARAMETERS))
    by = {f["resource"]: f for f in run.findings()}
    assert by["DefaultedKey"]["complianceType"] == "UNKNOWN"
    assert "UsePreviousValue" in by["DefaultedKey"]["message"] and str(params) in by["DefaultedKey"]["message"]


def test_the_last_value_wins_files_in_order_then_flags(check_iac, tmp_path):
    first = write(tmp_path, ["EnableRotation=false"], "first.json")
    second = write(tmp_path, {"Parameters": {"EnableRotation": "true"}}, "second.json")
    run = check_iac("--parameters", str(first), "--parameters", str(second), "--output", "json", str(PARAMETERS))
    assert verdicts(run)["DefaultedKey"] == ("COMPLIANT", "ROTATION_ON")
    run = check_iac("--parameters", str(second), "--parameter", "EnableRotation=false", "--output", "json",
                    str(PARAMETERS))
    assert verdicts(run)["DefaultedKey"] == ("NON_COMPLIANT", "ROTATION_OFF")


def test_a_parameter_the_template_does_not_declare_is_refused(check_iac, tmp_path):
    """CloudFormation refuses the stack ("Parameters: [EnableRotaton] do not exist in the template"):
    a misspelt key would otherwise leave the default in place unseen."""
    params = write(tmp_path, [{"ParameterKey": "EnableRotaton", "ParameterValue": "false"}])
    run = check_iac("--parameters", str(params), "--output", "json", str(PARAMETERS), str(CFN / "rotation-off.yaml"))
    assert run.code == 2
    error = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert any(str(PARAMETERS) in line and "EnableRotaton" in line and str(params) in line for line in error), error
    assert "do not exist in the template" in run.stderr


@pytest.mark.parametrize("content, says", [
    ("EnableRotation=false", "not valid JSON"),
    ({"EnableRotation": "false"}, "Parameters"),
    ([{"ParameterKey": "EnableRotation", "ParameterValue": False}], "not a string"),
    ([{"ParameterKey": "EnableRotation", "ParameterValue": "false", "UsePreviousValue": True}], "do not specify"),
    ([{"ParameterKey": "EnableRotation"}], "neither ParameterValue nor UsePreviousValue"),
    ([{"Key": "EnableRotation", "Value": "false"}], "unknown member"),
    (["EnableRotation"], "Key=Value"),
])
def test_a_malformed_parameters_file_stops_the_run_naming_the_file(check_iac, tmp_path, content, says):
    params = write(tmp_path, content)
    run = check_iac("--parameters", str(params), "--output", "json", str(PARAMETERS))
    assert run.code == 2
    assert run.stdout == ""
    assert f"error: {params}: " in run.stderr and says in run.stderr, run.stderr


def test_a_missing_parameters_file_or_a_bad_pair_is_an_error(check_iac, tmp_path):
    run = check_iac("--parameters", str(tmp_path / "missing.json"), str(PARAMETERS))
    assert run.code == 2 and "missing.json" in run.stderr
    run = check_iac("--parameter", "EnableRotation", str(PARAMETERS))
    assert run.code == 2 and "Key=Value" in run.stderr


def test_a_loop_over_a_parameter_is_expanded_for_the_values_given(check_iac, tmp_path):
    """Fn::ForEach over a CommaDelimitedList parameter without a default is one UNKNOWN row; with the
    deployment's value ("red, blue": CloudFormation trims each item) it is the keys themselves."""
    run = check_iac("--output", "json", str(FOREACH))
    assert verdicts(run)["Fn::ForEach::TeamKeys"] == ("UNKNOWN", "UNKNOWN_VALUE")
    params = write(tmp_path, ["Teams=red, blue"])
    run = check_iac("--parameters", str(params), "--output", "json", str(FOREACH))
    got = verdicts(run)
    assert "Fn::ForEach::TeamKeys" not in got
    assert got["TeamKeyred"] == got["TeamKeyblue"] == ("COMPLIANT", "ROTATION_ON")
    message = {f["resource"]: f["message"] for f in run.findings()}["TeamKeyblue"]
    assert f'parameter Teams = "red, blue" from {params}' in message
