"""Every input of every runbook step has exactly the type its action's reference page gives it.

The Automation "variables" page lists, among the unsupported scenarios, referencing a value "that
is a different variable type" than the action requires ("You must provide the type required by
the Automation action"):
https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-variables.html

The types below are copied from the Systems Manager Automation actions reference
(https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-actions.html), one page
per action, named in ACTIONS. The inputs of an API call ("API operation inputs": "Type:
Determined by chosen API operation") take their types from botocore's model of that operation.
"""

from __future__ import annotations

import copy

import botocore.session
import pytest

from runbook_runner import WHOLE_PLACEHOLDER

SESSION = botocore.session.get_session()
ACTIONS_REFERENCE = "https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-actions.html"

# action -> (reference page, {input: type}, required inputs, takes API operation inputs)
ACTIONS: dict[str, tuple[str, dict[str, str], set[str], bool]] = {
    "aws:executeAwsApi": (
        "https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-executeAwsApi.html",
        {"Service": "String", "Api": "String"},
        {"Service", "Api"},
        True,
    ),
    "aws:assertAwsResourceProperty": (
        "https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-assertAwsResourceProperty.html",
        {"Service": "String", "Api": "String", "PropertySelector": "String", "DesiredValues": "StringList"},
        {"Service", "Api", "PropertySelector", "DesiredValues"},
        True,
    ),
    "aws:waitForAwsResourceProperty": (
        "https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-waitForAwsResourceProperty.html",
        {"Service": "String", "Api": "String", "PropertySelector": "String", "DesiredValues": "StringList"},
        {"Service", "Api", "PropertySelector", "DesiredValues"},
        True,
    ),
    "aws:branch": (
        "https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-branch.html",
        {"Choices": "MapList", "Default": "String"},
        {"Choices"},
        False,
    ),
    # InputPayload: "A JSON or YAML object that will be passed to the first parameter of the
    # handler" (the page's type line says String; the object is what every example passes).
    "aws:executeScript": (
        "https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-executeScript.html",
        {"Runtime": "String", "Handler": "String", "InputPayload": "Object", "Script": "String",
         "Attachment": "String"},
        {"Runtime", "Handler"},
        False,
    ),
}

# aws:branch operations (automation-action-branch.html, "Operation"), by the type they compare.
BRANCH_OPERATIONS = {
    "StringEquals": "String", "EqualsIgnoreCase": "String", "StartsWith": "String",
    "EndsWith": "String", "Contains": "String",
    "NumericEquals": "Integer", "NumericGreater": "Integer", "NumericLesser": "Integer",
    "NumericGreaterOrEquals": "Integer", "NumericLesserOrEquals": "Integer",
    "BooleanEquals": "Boolean",
}
# Output types an aws:executeAwsApi / aws:executeScript output may declare (executeAwsApi page,
# "Outputs", Type).
OUTPUT_TYPES = {"String", "Integer", "Boolean", "StringList", "StringMap", "MapList"}
# System variables (automation-variables.html): all text.
SYSTEM_VARIABLES = {"global:ACCOUNT_ID", "global:REGION", "global:AWS_PARTITION", "global:DATE",
                    "global:DATE_TIME", "automation:EXECUTION_ID"}

BOTOCORE_TYPES = {"string": "String", "integer": "Integer", "long": "Integer", "boolean": "Boolean",
                  "timestamp": "String", "structure": "StringMap", "map": "StringMap"}


def declared_types(doc: dict) -> dict[str, str]:
    """Type of each name a step may reference: parameters, step outputs, system variables."""
    types = {name: spec.get("type", "String") for name, spec in doc["parameters"].items()}
    for step in doc["mainSteps"]:
        for output in step.get("outputs", []):
            types[f"{step['name']}.{output['Name']}"] = output["Type"]
    types.update({name: "String" for name in SYSTEM_VARIABLES})
    return types


def value_type(value, types: dict[str, str]) -> str:
    """The type SSM sees for a value written in the runbook."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, str):
        whole = WHOLE_PLACEHOLDER.match(value)
        return types[whole.group(1)] if whole else "String"  # embedded placeholders render as text
    if isinstance(value, list):
        kinds = {value_type(v, types) for v in value}
        if kinds <= {"String"}:
            return "StringList"
        if kinds <= {"StringMap"} or all(isinstance(v, dict) for v in value):
            return "MapList"
        return "List of " + "/".join(sorted(kinds))
    if isinstance(value, dict):
        return "StringMap"
    return type(value).__name__


def botocore_type(shape) -> str:
    if shape.type_name == "list":
        member = botocore_type(shape.member)
        return {"String": "StringList", "StringMap": "MapList"}.get(member, f"List of {member}")
    return BOTOCORE_TYPES[shape.type_name]


def choice_problems(step: str, choice: dict, types: dict[str, str], top: bool) -> list[str]:
    problems = []
    if top and not isinstance(choice.get("NextStep"), str):
        problems.append(f"{step}: a choice needs a NextStep (String)")
    for op in ("And", "Or"):
        if op in choice:
            for sub in choice[op]:
                problems += choice_problems(step, sub, types, top=False)
            return problems
    if "Not" in choice:
        return problems + choice_problems(step, choice["Not"], types, top=False)
    ops = [op for op in BRANCH_OPERATIONS if op in choice]
    if len(ops) != 1:
        return problems + [f"{step}: a choice needs exactly one operation, has {ops}"]
    expected = BRANCH_OPERATIONS[ops[0]]
    variable = choice.get("Variable")
    if not (isinstance(variable, str) and WHOLE_PLACEHOLDER.match(variable)):
        problems.append(f"{step}: Variable must be one parameter or step output, got {variable!r}")
    else:
        got = value_type(variable, types)
        if got != expected:
            problems.append(f"{step}: {ops[0]} compares {expected}, Variable {variable} is {got}")
    got = value_type(choice[ops[0]], types)
    if got != expected:
        problems.append(f"{step}: {ops[0]} needs a {expected} value, got {choice[ops[0]]!r} ({got})")
    return problems


def type_problems(doc: dict) -> list[str]:
    """Every input whose type is not the one its action's reference page gives."""
    types = declared_types(doc)
    problems = []
    for step in doc["mainSteps"]:
        name, action, inputs = step["name"], step["action"], step.get("inputs", {})
        if action not in ACTIONS:
            problems.append(f"{name}: action {action} not encoded from {ACTIONS_REFERENCE}")
            continue
        _page, expected, required, api_inputs = ACTIONS[action]
        missing = required - set(inputs)
        if missing:
            problems.append(f"{name}: missing required inputs {sorted(missing)}")
        api_shape = None
        if api_inputs:
            model = SESSION.get_service_model(inputs["Service"])
            api_shape = model.operation_model(inputs["Api"]).input_shape
        for key, value in inputs.items():
            if key in expected:
                want = expected[key]
                if want == "Object":
                    if not isinstance(value, dict):
                        problems.append(f"{name}.{key}: must be an object, got {type(value).__name__}")
                    continue
                got = value_type(value, types)
                if got != want:
                    problems.append(f"{name}.{key}: {action} takes {want}, got {value!r} ({got})")
            elif api_shape is not None and key in api_shape.members:
                want = botocore_type(api_shape.members[key])
                got = value_type(value, types)
                if got != want:
                    problems.append(f"{name}.{key}: {inputs['Api']} takes {want}, got {value!r} ({got})")
            else:
                problems.append(f"{name}: {action} has no input {key}")
        if action == "aws:branch":
            for choice in inputs.get("Choices", []):
                problems += choice_problems(name, choice, types, top=True)
        for output in step.get("outputs", []):
            if output.get("Type") not in OUTPUT_TYPES:
                problems.append(f"{name}.{output.get('Name')}: output type {output.get('Type')}")
    return problems


def test_every_action_the_runbook_uses_is_encoded(runbook):
    assert {s["action"] for s in runbook["mainSteps"]} <= set(ACTIONS)
    for page, *_ in ACTIONS.values():
        assert page.startswith("https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-")


def test_every_step_input_has_the_documented_type(runbook):
    assert type_problems(runbook) == []


def test_numbers_are_compared_as_numbers(runbook):
    """The period check is an aws:branch NumericEquals on the Integer output (issue 10, item 2),
    not a DesiredValues (StringList) with an Integer in it."""
    steps = {s["name"]: s for s in runbook["mainSteps"]}
    [choice] = steps["CheckRotationPeriod"]["inputs"]["Choices"]
    assert choice["Variable"] == "{{ ReportRotationStatus.RotationPeriodInDays }}"
    assert choice["NumericEquals"] == "{{ RotationPeriodInDays }}"
    assert declared_types(runbook)["ReportRotationStatus.RotationPeriodInDays"] == "Integer"
    for step in runbook["mainSteps"]:
        for value in step.get("inputs", {}).get("DesiredValues", []):
            assert value_type(value, declared_types(runbook)) == "String", step["name"]


def _with_step(runbook: dict, step: dict) -> dict:
    doc = copy.deepcopy(runbook)
    doc["mainSteps"].insert(-1, step)
    return doc


@pytest.mark.parametrize(
    "step,expected",
    [
        (   # The step of issue 10, item 2: an Integer parameter in DesiredValues (a StringList).
            {"name": "AssertRotationPeriod", "action": "aws:assertAwsResourceProperty",
             "inputs": {"Service": "kms", "Api": "GetKeyRotationStatus", "KeyId": "{{ KeyId }}",
                        "PropertySelector": "$.RotationPeriodInDays",
                        "DesiredValues": ["{{ RotationPeriodInDays }}"]}},
            "DesiredValues: aws:assertAwsResourceProperty takes StringList",
        ),
        (
            {"name": "Enable", "action": "aws:executeAwsApi",
             "inputs": {"Service": "kms", "Api": "EnableKeyRotation", "KeyId": "{{ KeyId }}",
                        "RotationPeriodInDays": "365"}},
            "Enable.RotationPeriodInDays: EnableKeyRotation takes Integer",
        ),
        (
            {"name": "Compare", "action": "aws:branch",
             "inputs": {"Choices": [{"NextStep": "ConfirmRotation", "Variable": "{{ KeyId }}",
                                     "NumericEquals": 365}]}},
            "NumericEquals compares Integer, Variable {{ KeyId }} is String",
        ),
        (
            {"name": "Compare", "action": "aws:branch",
             "inputs": {"Choices": [{"NextStep": "ConfirmRotation",
                                     "Variable": "{{ ReportRotationStatus.RotationPeriodInDays }}",
                                     "StringEquals": "365"}]}},
            "StringEquals compares String",
        ),
        (
            {"name": "Script", "action": "aws:executeScript",
             "inputs": {"Runtime": "python3.11", "Handler": "h", "Script": "def h(e, c): pass",
                        "InputPayload": "{{ KeyId }}"}},
            "Script.InputPayload: must be an object",
        ),
    ],
    ids=["integer-in-desired-values", "string-for-an-integer-api-input", "numeric-op-on-a-string",
         "string-op-on-an-integer", "payload-not-an-object"],
)
def test_the_type_check_catches_each_kind_of_mismatch(runbook, step, expected):
    """The check above means something only if it sees these mistakes."""
    problems = type_problems(_with_step(runbook, step))
    assert any(expected in p for p in problems), problems
