"""Render a CloudFormation template as one stack in a given account and Region.

support.Resolver evaluates the intrinsic functions with one fixed account and Region; a StackSet
puts the same template, with the same parameter values, in several Regions of each account, so
the tests of the organization deployment need the account and the Region as inputs. On top of
that, this module does what CloudFormation does before it creates anything: it refuses parameters
the template does not declare and values outside AllowedValues / AllowedPattern (AWS
CloudFormation User Guide, "Parameters"), and it evaluates the template's Rules (User Guide,
"Rules": each assertion of a rule whose RuleCondition holds must be true, or the stack is not
created and CloudFormation returns the AssertDescription).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Iterator

from support import PARTITION, ROOT, Resolver

# Properties that name a resource in a namespace wider than one Region: IAM names are global to
# the account (IAM API reference, CreateRole RoleName: "IAM user, group, role, and policy names must
# be unique within the account"), S3 bucket names to the partition (S3 User Guide, "Bucket naming
# rules").
GLOBAL_NAME_PROPERTIES: dict[str, str] = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::S3::Bucket": "BucketName",
}

# Types whose names (if any) live in one Region of one account: a Lambda function, its
# permission, a log group, an SSM document, a conformance pack.
REGIONAL_TYPES = {
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
    "AWS::Logs::LogGroup",
    "AWS::SSM::Document",
    "AWS::Config::ConformancePack",
}

# arn:partition:service:region:account:... with a Region field that names one Region.
ARN_WITH_REGION = re.compile(r"arn:aws[a-z-]*:([a-z0-9-]+):([a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2}):")


class ParameterError(ValueError):
    """CloudFormation would refuse the parameters before creating anything."""


class StackRenderer(Resolver):
    """One stack of a template, in one account and Region, with the given parameter values."""

    def __init__(self, template: dict, parameters: dict[str, str], account: str, region: str):
        declared = template.get("Parameters", {})
        unknown = sorted(set(parameters) - set(declared))
        if unknown:
            # CreateStack / CreateStackSet: "Parameters: [...] do not exist in the template".
            raise ParameterError(f"parameters not declared by the template: {unknown}")
        super().__init__(template, parameters)
        for name, value in self.params.items():
            check_parameter_value(name, declared[name], value)
        self.account = account
        self.region = region
        self.pseudo.update({"AWS::AccountId": account, "AWS::Region": region})

    def getatt(self, logical_id: str, attribute: str) -> str:
        resource = self.template["Resources"][logical_id]
        name = self._physical_name(logical_id, resource)
        prefix = f"arn:{PARTITION}"
        arns = {
            "AWS::IAM::Role": f"{prefix}:iam::{self.account}:role/{name}",
            "AWS::Lambda::Function": f"{prefix}:lambda:{self.region}:{self.account}:function:{name}",
            "AWS::Logs::LogGroup": f"{prefix}:logs:{self.region}:{self.account}:log-group:{name}:*",
        }
        if attribute == "Arn" and resource["Type"] in arns:
            return arns[resource["Type"]]
        raise KeyError(f"GetAtt {logical_id}.{attribute} not modelled")

    def rule_violations(self) -> list[str]:
        """The AssertDescription of every failed assertion of the template's Rules."""
        failed = []
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.resolve(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.resolve(assertion["Assert"]):
                    failed.append(f"{name}: {assertion.get('AssertDescription', '(no description)')}")
        return failed

    def created(self) -> dict[str, tuple[str, dict]]:
        """{logical id: (type, resolved Properties)} of the resources this stack creates."""
        return {
            logical_id: (self.template["Resources"][logical_id]["Type"], props)
            for logical_id, props in self.resources()
        }


def check_parameter_value(name: str, spec: dict, value: str) -> None:
    """CloudFormation's own checks of one parameter value (User Guide, "Parameters")."""
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(v) for v in allowed]:
        raise ParameterError(f"{name}={value!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    # The template's patterns are anchored and portable (test_patterns.py); Python's re agrees.
    if pattern is not None and spec.get("Type", "String") == "String" and not re.search(pattern, value):
        raise ParameterError(f"{name}={value!r} does not match AllowedPattern {pattern}")


def global_names(stack: StackRenderer) -> set[tuple[str, str]]:
    """(type, name) of every resource the stack creates under a name in a global namespace."""
    names = set()
    for _logical_id, (kind, props) in stack.created().items():
        key = GLOBAL_NAME_PROPERTIES.get(kind)
        if key and key in props:
            names.add((kind, str(props[key])))
    return names


def unclassified_types(template: dict) -> set[str]:
    """Resource types that are neither known regional nor listed with their global name key."""
    kinds = {r["Type"] for r in template["Resources"].values()}
    return kinds - REGIONAL_TYPES - set(GLOBAL_NAME_PROPERTIES)


def strings(node: Any) -> Iterator[str]:
    """Every string in a resolved value, depth first."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def region_arns(stack: StackRenderer) -> list[tuple[str, str, str]]:
    """(logical id, ARN prefix, Region) of every ARN with a Region field in the created resources."""
    found = []
    for logical_id, (_kind, props) in stack.created().items():
        for text in strings(props):
            for match in ARN_WITH_REGION.finditer(text):
                found.append((logical_id, match.group(0), match.group(2)))
    return found


def foreign_region_arns(stack: StackRenderer) -> list[str]:
    """ARNs in the created resources whose Region field names another Region than the stack's."""
    return [f"{logical_id}: {arn}" for logical_id, arn, region in region_arns(stack) if region != stack.region]


# --------------------------------------------------------------------------- the guide's StackSets
#
# docs/deploy.md section 2 is the source of the StackSet parameters the tests render with, so the
# guide and the tests cannot drift: its ```sh blocks are read in order, shell variables are
# expanded, and the `aws cloudformation create-stack-set` / `create-stack-instances` calls are
# taken apart (tokenised like tests/baseline/test_smoke_script.py does for the smoke test).

GUIDE = ROOT / "docs" / "deploy.md"
ORGANIZATION_SECTION = ("## 2. Organization", "### 2.1 ")
_ASSIGNMENT = re.compile(r"^\s*([A-Z][A-Z0-9_]*)=(.*)$")
_FOR_LOOP = re.compile(r"^\s*for ([A-Za-z_][A-Za-z0-9_]*) in ")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
_TRAILING_COMMENT = re.compile(r"\s+#\s.*$")


def guide_section(text: str, start: str, end: str) -> str:
    return text[text.index(start): text.index(end)]


def sh_blocks(markdown: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", markdown, flags=re.S)


class ShellVariables:
    """The variables a sequence of shell blocks defines, in order, and the ones it uses undefined.

    Command substitutions (`$(aws ...)`, `$(git ...)`) and loop variables get a stand-in value
    (`cmd-<name>`), since only AWS would know theirs.
    """

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.undefined: set[str] = set()

    def expand(self, text: str) -> str:
        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name in self.values:
                return self.values[name]
            self.undefined.add(name)
            return "undefined-" + name.lower().replace("_", "-")

        return _VARIABLE.sub(replace, text)

    def read_line(self, line: str) -> str:
        """Define what the line assigns; return the line with the variables expanded."""
        loop = _FOR_LOOP.match(line)
        if loop:
            self.values[loop.group(1)] = f"cmd-{loop.group(1).lower()}"
        assignment = _ASSIGNMENT.match(line)
        if assignment:
            name, raw = assignment.groups()
            raw = _TRAILING_COMMENT.sub("", raw).strip()
            if raw.startswith("$("):
                self.values[name] = f"cmd-{name.lower().replace('_', '-')}"
            else:
                self.values[name] = " ".join(shlex.split(self.expand(raw)))
        return self.expand(line)


def expanded_shell(markdown: str) -> tuple[str, ShellVariables]:
    """The ```sh blocks of a piece of the guide with every variable expanded, and the variables."""
    variables = ShellVariables()
    lines = [variables.read_line(line) for block in sh_blocks(markdown) for line in block.splitlines()]
    return "\n".join(lines), variables


@dataclass
class GuideStackSet:
    """One `create-stack-set` of the guide and the `create-stack-instances` of that stack set."""

    name: str
    template: str
    parameters: dict[str, str]
    options: dict[str, list[str]]
    instance_calls: list[dict[str, list[str]]] = field(default_factory=list)

    @property
    def regions(self) -> list[str]:
        return [region for call in self.instance_calls for region in call.get("--regions", [])]


def cli_options(tokens: list[str]) -> dict[str, list[str]]:
    """{--option: [values]} of one CLI call (tokens after `aws service operation`)."""
    options: dict[str, list[str]] = {}
    current = None
    for token in tokens:
        if token.startswith("--"):
            current = token
            options.setdefault(current, [])
        elif current:
            options[current].append(token)
    return options


def stack_set_parameters(values: list[str]) -> dict[str, str]:
    """`ParameterKey=K,ParameterValue=V` shorthand values as {K: V}."""
    parameters = {}
    for value in values:
        match = re.fullmatch(r"ParameterKey=([^,]+),ParameterValue=(.*)", value)
        if not match:
            raise ValueError(f"not a ParameterKey=...,ParameterValue=... value: {value}")
        parameters[match.group(1)] = match.group(2)
    return parameters


def guide_stack_sets(expanded: str) -> dict[str, GuideStackSet]:
    """The stack sets an expanded piece of the guide creates, by stack set name."""
    from test_smoke_script import aws_calls  # the smoke test's CLI tokeniser, reused

    sets: dict[str, GuideStackSet] = {}
    for _line, tokens in aws_calls(expanded):
        if tokens[:2] == ["cloudformation", "create-stack-set"]:
            options = cli_options(tokens[2:])
            [name] = options["--stack-set-name"]
            [body] = options["--template-body"]
            sets[name] = GuideStackSet(
                name=name,
                template=body.rsplit("/", 1)[-1],
                parameters=stack_set_parameters(options.get("--parameters", [])),
                options=options,
            )
        elif tokens[:2] == ["cloudformation", "create-stack-instances"]:
            options = cli_options(tokens[2:])
            [name] = options["--stack-set-name"]
            sets[name].instance_calls.append(options)
    return sets
