"""A small interpreter for SSM Automation runbooks (schemaVersion 0.3), enough to run ours.

It executes a runbook step by step against boto3 (pointed at moto by the tests), the way SSM
Automation does for the actions the runbook uses:

- ``aws:executeAwsApi``: call ``Service``/``Api`` with the other inputs, then fill the outputs
  from JSONPath-like selectors (``$.KeyMetadata.Arn``).
- ``aws:assertAwsResourceProperty``: call the API once; fail the step unless the selected
  property is one of ``DesiredValues``.
- ``aws:waitForAwsResourceProperty``: the same, polling until ``timeoutSeconds``.
- ``aws:branch``: ``Choices`` with ``Variable`` + operator, ``And``/``Or``/``Not``, ``Default``.
- ``aws:executeScript``: Python only; the script runs in this process (its boto3 clients see the
  same environment, so moto) and its return value is the step's ``Payload``.

Parameters are validated like SSM does before an execution starts: unknown names, missing
required ones, type (String/Integer/Boolean), ``allowedPattern``, ``allowedValues``, ``maxChars``.
A value passes ``allowedPattern`` only if a Java-style and an RE2 engine both accept it
(regex_engines.py): we do not rely on which engine SSM uses.
``{{ Name }}`` / ``{{ Step.Output }}`` / ``{{ global:ACCOUNT_ID }}`` are substituted; a value
that is exactly one placeholder keeps the type of what it refers to (an Integer parameter stays an
int), a placeholder inside longer text is rendered as text. An unresolved placeholder is an error.
Selectors that match nothing leave the output unset (a later reference to it then fails).

Not modelled: ``maxAttempts``, ``timeoutSeconds`` of actions other than the wait, ``onCancel``,
and every action type the runbook does not use (an unknown action fails loudly).
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import boto3
from botocore import xform_name

from regex_engines import both_accept

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}")
WHOLE_PLACEHOLDER = re.compile(r"^\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}$")

API_ACTIONS = (
    "aws:executeAwsApi",
    "aws:assertAwsResourceProperty",
    "aws:waitForAwsResourceProperty",
)
# Inputs of the API actions that are not API parameters.
NON_API_INPUTS = {"Service", "Api", "PropertySelector", "DesiredValues"}


class RunbookError(Exception):
    """The runbook itself is wrong (unknown action, bad reference, ...)."""


class ParameterError(RunbookError):
    """SSM would refuse to start the execution with these parameters."""


@dataclass
class ApiCall:
    service: str
    api: str
    params: dict[str, Any]
    region: str


@dataclass
class Execution:
    status: str = "InProgress"  # Success | Failed
    steps: list[str] = field(default_factory=list)  # names of the steps that ran, in order
    failed_step: str | None = None
    failure: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # "Step.Output" -> value
    calls: list[ApiCall] = field(default_factory=list)  # aws:*AwsApi / assert / wait calls

    @property
    def document_outputs(self) -> dict[str, Any]:
        return dict(self.outputs)

    def api_names(self) -> list[str]:
        return [c.api for c in self.calls]


# --------------------------------------------------------------------------- parameters


def resolve_parameters(doc: dict, given: dict[str, Any]) -> dict[str, Any]:
    """Apply defaults, types and constraints like StartAutomationExecution does."""
    declared = doc.get("parameters", {})
    unknown = set(given) - set(declared)
    if unknown:
        raise ParameterError(f"unknown parameters: {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given:
            raw = given[name]
        elif "default" in spec:
            raw = spec["default"]
        else:
            raise ParameterError(f"missing required parameter {name}")
        values[name] = _check_parameter(name, spec, raw)
    return values


def _check_parameter(name: str, spec: dict, raw: Any) -> Any:
    kind = spec.get("type", "String")
    text = raw if isinstance(raw, str) else str(raw)
    if kind == "String":
        if not isinstance(raw, str):
            raise ParameterError(f"{name}: expected String, got {raw!r}")
        value: Any = raw
    elif kind == "Integer":
        if isinstance(raw, bool) or not re.fullmatch(r"-?[0-9]+", text):
            raise ParameterError(f"{name}: expected Integer, got {raw!r}")
        value = int(text)
    elif kind == "Boolean":
        if text.lower() not in ("true", "false"):
            raise ParameterError(f"{name}: expected Boolean, got {raw!r}")
        value = text.lower() == "true"
    else:
        raise RunbookError(f"{name}: parameter type {kind} not supported by this runner")
    pattern = spec.get("allowedPattern")
    if pattern is not None and kind != "String":
        raise RunbookError(f"{name}: allowedPattern on a {kind} parameter")
    # A find-style search, not fullmatch: the pattern's own anchors must do the work, as in SSM.
    if pattern is not None and not both_accept(pattern, text):
        raise ParameterError(f"{name}: {raw!r} does not match allowedPattern")
    if "allowedValues" in spec and text not in [str(v) for v in spec["allowedValues"]]:
        raise ParameterError(f"{name}: {raw!r} not in allowedValues")
    if "maxChars" in spec and len(text) > int(spec["maxChars"]):
        raise ParameterError(f"{name}: longer than maxChars {spec['maxChars']}")
    if "minChars" in spec and len(text) < int(spec["minChars"]):
        raise ParameterError(f"{name}: shorter than minChars {spec['minChars']}")
    return value


# --------------------------------------------------------------------------- selectors


_SELECTOR_PART = re.compile(r"\.([A-Za-z0-9_]+)|\[([0-9]+)\]")


def select(data: Any, selector: str) -> tuple[bool, Any]:
    """Evaluate a `$.A.B[0].C` selector; return (found, value)."""
    if not selector.startswith("$"):
        raise RunbookError(f"selector must start with $: {selector}")
    rest = selector[1:]
    pos = 0
    current = data
    while pos < len(rest):
        m = _SELECTOR_PART.match(rest, pos)
        if not m:
            raise RunbookError(f"selector not supported by this runner: {selector}")
        pos = m.end()
        if m.group(1) is not None:
            if not isinstance(current, dict) or m.group(1) not in current:
                return False, None
            current = current[m.group(1)]
        else:
            index = int(m.group(2))
            if not isinstance(current, list) or index >= len(current):
                return False, None
            current = current[index]
    return True, current


def selector_path(selector: str) -> list[str]:
    """The field names of a selector, e.g. `$.KeyMetadata.Arn` -> ['KeyMetadata', 'Arn']."""
    return [m.group(1) for m in _SELECTOR_PART.finditer(selector[1:]) if m.group(1)]


def as_ssm_text(value: Any) -> str:
    """How SSM compares a selected value with DesiredValues: booleans are `True`/`False`."""
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return str(value)


def _typed_output(name: str, kind: str, value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        value = value.isoformat()
    expected: dict[str, Callable[[Any], bool]] = {
        "String": lambda v: isinstance(v, str),
        "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "Boolean": lambda v: isinstance(v, bool),
        "StringList": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
        "StringMap": lambda v: isinstance(v, dict),
        "MapList": lambda v: isinstance(v, list) and all(isinstance(i, dict) for i in v),
    }
    if kind not in expected:
        raise RunbookError(f"output {name}: unknown type {kind}")
    if not expected[kind](value):
        raise RunbookError(f"output {name}: {value!r} is not of type {kind}")
    return value


# --------------------------------------------------------------------------- runner


class RunbookRunner:
    def __init__(
        self,
        doc: dict,
        region: str,
        endpoint_url: str | None = None,
        account_id: str = "123456789012",
        poll_seconds: float = 0.2,
    ):
        if str(doc.get("schemaVersion")) != "0.3":
            raise RunbookError("only Automation runbooks (schemaVersion 0.3) are supported")
        self.doc = doc
        self.region = region
        self.endpoint_url = endpoint_url
        self.account_id = account_id
        self.poll_seconds = poll_seconds
        self.steps = {step["name"]: step for step in doc["mainSteps"]}
        if len(self.steps) != len(doc["mainSteps"]):
            raise RunbookError("step names must be unique")

    # -- public

    def run(self, parameters: dict[str, Any]) -> Execution:
        params = resolve_parameters(self.doc, parameters)
        execution = Execution()
        order = [step["name"] for step in self.doc["mainSteps"]]
        current: str | None = order[0]
        while current is not None:
            step = self.steps[current]
            execution.steps.append(current)
            try:
                next_step = self._run_step(step, params, execution)
            except Exception as exc:  # noqa: BLE001 - any failure of a step is the step's failure
                on_failure = step.get("onFailure", "Abort")
                if on_failure == "Continue":
                    next_step = None
                elif isinstance(on_failure, str) and on_failure.startswith("step:"):
                    current = on_failure[len("step:"):]
                    continue
                else:
                    execution.status = "Failed"
                    execution.failed_step = current
                    execution.failure = f"{type(exc).__name__}: {exc}"
                    return execution
            if next_step is not None:
                current = next_step
            elif step.get("isEnd"):
                current = None
            elif "nextStep" in step:
                current = step["nextStep"]
            else:
                index = order.index(current) + 1
                current = order[index] if index < len(order) else None
        execution.status = "Success"
        return execution

    # -- substitution

    def _lookup(self, name: str, params: dict, execution: Execution) -> Any:
        if name in params:
            return params[name]
        if name in execution.outputs:
            return execution.outputs[name]
        globals_ = {
            "global:ACCOUNT_ID": self.account_id,
            "global:REGION": self.region,
            "global:AWS_PARTITION": "aws",
        }
        if name in globals_:
            return globals_[name]
        raise RunbookError(f"unresolved reference {{{{ {name} }}}}")

    def substitute(self, value: Any, params: dict, execution: Execution) -> Any:
        if isinstance(value, str):
            whole = WHOLE_PLACEHOLDER.match(value)
            if whole:
                return self._lookup(whole.group(1), params, execution)
            return PLACEHOLDER.sub(
                lambda m: as_ssm_text(self._lookup(m.group(1), params, execution)), value
            )
        if isinstance(value, list):
            return [self.substitute(v, params, execution) for v in value]
        if isinstance(value, dict):
            return {k: self.substitute(v, params, execution) for k, v in value.items()}
        return value

    # -- steps

    def _run_step(self, step: dict, params: dict, execution: Execution) -> str | None:
        action = step["action"]
        if action == "aws:branch":
            return self._branch(step, params, execution)
        inputs = self.substitute(step.get("inputs", {}), params, execution)
        if action == "aws:executeAwsApi":
            response = self._call(inputs, execution)
            self._set_outputs(step, response, execution)
        elif action == "aws:assertAwsResourceProperty":
            self._assert(inputs, execution, deadline=None)
        elif action == "aws:waitForAwsResourceProperty":
            timeout = float(step.get("timeoutSeconds", 3600))
            self._assert(inputs, execution, deadline=time.monotonic() + timeout)
        elif action == "aws:executeScript":
            payload = self._script(inputs)
            self._set_outputs(step, {"Payload": payload}, execution)
        else:
            raise RunbookError(f"action {action} not supported by this runner")
        return None

    def _client(self, service: str):
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint_url)

    def _call(self, inputs: dict, execution: Execution) -> dict:
        service, api = inputs["Service"], inputs["Api"]
        api_params = {k: v for k, v in inputs.items() if k not in NON_API_INPUTS}
        execution.calls.append(ApiCall(service, api, api_params, self.region))
        response = getattr(self._client(service), xform_name(api))(**api_params)
        response.pop("ResponseMetadata", None)
        return response

    def _assert(self, inputs: dict, execution: Execution, deadline: float | None) -> None:
        desired = [str(v) for v in inputs["DesiredValues"]]
        while True:
            response = self._call(inputs, execution)
            found, value = select(response, inputs["PropertySelector"])
            actual = as_ssm_text(value) if found else None
            if actual in desired:
                return
            if deadline is None or time.monotonic() >= deadline:
                raise AssertionError(
                    f"{inputs['Api']} {inputs['PropertySelector']} is {actual!r}, "
                    f"expected one of {desired}"
                )
            time.sleep(self.poll_seconds)

    def _script(self, inputs: dict) -> Any:
        runtime = inputs.get("Runtime", "")
        if not runtime.startswith("python3"):
            raise RunbookError(f"script runtime {runtime} not supported by this runner")
        namespace: dict[str, Any] = {"__name__": "runbook_script"}
        exec(compile(inputs["Script"], "<runbook script>", "exec"), namespace)  # noqa: S102
        handler = namespace[inputs["Handler"]]
        return handler(inputs.get("InputPayload", {}), None)

    def _set_outputs(self, step: dict, response: Any, execution: Execution) -> None:
        for output in step.get("outputs", []):
            found, value = select(response, output["Selector"])
            if found:
                key = f"{step['name']}.{output['Name']}"
                execution.outputs[key] = _typed_output(key, output.get("Type", "String"), value)

    # -- branch

    def _branch(self, step: dict, params: dict, execution: Execution) -> str:
        inputs = step["inputs"]
        for choice in inputs.get("Choices", []):
            if self._condition(choice, params, execution):
                return choice["NextStep"]
        if "Default" in inputs:
            return inputs["Default"]
        raise RunbookError(f"{step['name']}: no choice matched and no Default")

    def _condition(self, cond: dict, params: dict, execution: Execution) -> bool:
        if "And" in cond:
            return all(self._condition(c, params, execution) for c in cond["And"])
        if "Or" in cond:
            return any(self._condition(c, params, execution) for c in cond["Or"])
        if "Not" in cond:
            return not self._condition(cond["Not"], params, execution)
        variable = self.substitute(cond["Variable"], params, execution)
        operators: dict[str, Callable[[Any, Any], bool]] = {
            "StringEquals": lambda a, b: str(a) == str(b),
            "EqualsIgnoreCase": lambda a, b: str(a).lower() == str(b).lower(),
            "StartsWith": lambda a, b: str(a).startswith(str(b)),
            "EndsWith": lambda a, b: str(a).endswith(str(b)),
            "Contains": lambda a, b: str(b) in str(a),
            "BooleanEquals": lambda a, b: _as_bool(a) == _as_bool(b),
            "NumericEquals": lambda a, b: float(a) == float(b),
            "NumericGreater": lambda a, b: float(a) > float(b),
            "NumericLesser": lambda a, b: float(a) < float(b),
            "NumericGreaterOrEquals": lambda a, b: float(a) >= float(b),
            "NumericLesserOrEquals": lambda a, b: float(a) <= float(b),
        }
        used = [op for op in operators if op in cond]
        if len(used) != 1:
            raise RunbookError(f"branch choice needs exactly one operator: {cond}")
        op = used[0]
        return operators[op](variable, self.substitute(cond[op], params, execution))


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise RunbookError(f"not a boolean: {value!r}")
