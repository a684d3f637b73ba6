"""Helpers of the baseline tests: loading the pack files, resolving CloudFormation intrinsics."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import yaml
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = ROOT / "conformance-pack"
TEMPLATES_DIR = PACK_DIR / "templates"
VENV_BIN = ROOT / ".venv" / "bin"

ACCOUNT_ID = "111122223333"
REGION = "us-east-1"
PARTITION = "aws"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:  # noqa: BLE001 - anything means "not yet"
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def load_cfn(path: Path) -> dict:
    """A CloudFormation template (short-form tags like !Ref become {"Ref": ...}), as plain data."""
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


# --------------------------------------------------------------------------- intrinsics

NO_VALUE = object()


class Resolver:
    """Evaluate a template's intrinsic functions for one set of parameter values.

    Enough for these templates: Ref, Fn::Sub, Fn::GetAtt, Fn::If, Fn::Equals, Fn::Not, Fn::And,
    Fn::Or, Condition, AWS::NoValue and the pseudo parameters. Attributes of resources become
    plausible ARNs of the resource's type.
    """

    def __init__(self, template: dict, parameters: dict[str, str] | None = None):
        self.template = template
        given = parameters or {}
        self.params: dict[str, str] = {}
        for name, spec in template.get("Parameters", {}).items():
            if name in given:
                self.params[name] = str(given[name])
            elif "Default" in spec:
                self.params[name] = str(spec["Default"])
            else:
                raise KeyError(f"parameter {name} has no default; pass a value")
        self.pseudo = {
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::StackName": "stack",
            "AWS::URLSuffix": "amazonaws.com",
        }

    # -- conditions

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resource_enabled(self, logical_id: str) -> bool:
        cond = self.template["Resources"][logical_id].get("Condition")
        return cond is None or self.condition(cond)

    # -- values

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        resource = self.template["Resources"][name]
        return self._physical_name(name, resource)

    def _physical_name(self, logical_id: str, resource: dict) -> str:
        props = resource.get("Properties", {})
        for key in ("RoleName", "FunctionName", "LogGroupName", "Name", "ConfigRuleName"):
            if key in props:
                return self.resolve(props[key])
        return f"{logical_id}-generated"

    def getatt(self, logical_id: str, attribute: str) -> str:
        resource = self.template["Resources"][logical_id]
        kind = resource["Type"]
        name = self._physical_name(logical_id, resource)
        prefix = f"arn:{PARTITION}"
        arns = {
            "AWS::IAM::Role": f"{prefix}:iam::{ACCOUNT_ID}:role/{name}",
            "AWS::Lambda::Function": f"{prefix}:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
            "AWS::Logs::LogGroup": f"{prefix}:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*",
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        raise KeyError(f"GetAtt {logical_id}.{attribute} not modelled")

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(self.resolve(variables[expr]))
            if "." in expr and not expr.startswith("AWS::"):
                res, attr = expr.split(".", 1)
                return self.getatt(res, attr)
            return str(self.ref(expr))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(i) for i in node]
            return [i for i in items if i is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self._sub(arg[0], arg[1])
                return self._sub(arg, {})
            if key == "Fn::GetAtt":
                res, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.getatt(res, attr)
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                raise KeyError(f"{key} not modelled")
        out = {}
        for k, v in node.items():
            value = self.resolve(v)
            if value is not NO_VALUE:
                out[k] = value
        return out

    # -- resources

    def resources(self, kind: str | None = None) -> Iterator[tuple[str, dict]]:
        """(logical id, resolved Properties) of the enabled resources, optionally of one type."""
        for logical_id, resource in self.template["Resources"].items():
            if kind and resource["Type"] != kind:
                continue
            if self.resource_enabled(logical_id):
                yield logical_id, self.resolve(resource.get("Properties", {}))


def iam_policies(resolver: Resolver) -> Iterator[tuple[str, str, dict]]:
    """(label, kind, policy) of every IAM policy of a template: kind is 'trust' or 'identity'."""
    for logical_id, props in resolver.resources("AWS::IAM::Role"):
        yield f"{logical_id} trust policy", "trust", props["AssumeRolePolicyDocument"]
        for policy in props.get("Policies", []):
            yield f"{logical_id} policy {policy['PolicyName']}", "identity", policy["PolicyDocument"]
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id, props in resolver.resources(kind):
            yield f"{logical_id}", "identity", props["PolicyDocument"]


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]
