"""Every pattern we ship works in both regex engines AWS may evaluate it with (issue 10, item 3).

- CloudFormation `AllowedPattern` (templates and the conformance pack): a Java regular
  expression. https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html
- SSM `allowedPattern` (the runbook, also embedded in the templates): SSM documents' parameter
  patterns; the SSM Agent evaluates them with RE2, so lookaround (`$(?!\\n)`, which the runbook
  used) does not compile there.
  https://docs.aws.amazon.com/systems-manager/latest/userguide/documents-syntax-data-elements-parameters.html
- The SCP has no regular expression: its `ArnNotLike` values are IAM wildcards (`*`, `?`).
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN

Each pattern must be anchored (`^...$`), compile in Python's `re` (Java-style) and in RE2
(`google-re2`), and use no construct the two read differently (regex_engines.portable_problems).
Every default value must pass its own pattern in both engines.
"""

from __future__ import annotations

import json
import re

import pytest
from cfnlint.decode import cfn_yaml

from regex_engines import both_accept, both_refuse, portable_problems
from support import PACK_DIR, TEMPLATES_DIR, load_cfn, load_yaml

SOURCES = sorted(TEMPLATES_DIR.glob("*.yaml")) + [
    PACK_DIR / "kms-rotation-conformance-pack.yaml",
    PACK_DIR / "runbook-enable-key-rotation.yaml",
]


def walk(node, where: str):
    """(where, parameter spec) of every parameter declaration, embedded documents included."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("Parameters", "parameters") and isinstance(value, dict):
                for name, spec in value.items():
                    if isinstance(spec, dict) and ("AllowedPattern" in spec or "allowedPattern" in spec):
                        yield f"{where}:{name}", spec
            if key == "TemplateBody" and isinstance(value, str):
                # An embedded conformance pack template.
                yield from walk(json.loads(json.dumps(cfn_yaml.loads(value))), f"{where}/TemplateBody")
            else:
                yield from walk(value, where)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, where)


def load(path):
    return load_yaml(path) if path.name.startswith("runbook") else load_cfn(path)


PATTERNS = [
    (where, spec)
    for path in SOURCES
    for where, spec in walk(load(path), path.name)
]


def pattern_of(spec: dict) -> str:
    return spec.get("AllowedPattern", spec.get("allowedPattern"))


def test_there_are_patterns_to_check():
    wheres = {w.split(":")[0] for w, _ in PATTERNS}
    assert {"rule-function.yaml", "member-account-roles.yaml", "runbook-enable-key-rotation.yaml"} <= wheres
    assert len(PATTERNS) >= 12


@pytest.mark.parametrize("where,spec", PATTERNS, ids=[w for w, _ in PATTERNS])
def test_pattern_is_anchored_and_portable_between_java_and_re2(where, spec):
    pattern = pattern_of(spec)
    assert pattern.startswith("^") and pattern.endswith("$"), where
    assert portable_problems(pattern) == [], where


@pytest.mark.parametrize("where,spec", PATTERNS, ids=[w for w, _ in PATTERNS])
def test_pattern_is_only_on_text_and_its_default_passes(where, spec):
    kind = spec.get("Type", spec.get("type"))
    assert kind == "String", f"{where}: a pattern on a {kind} parameter"
    default = spec.get("Default", spec.get("default"))
    if default is not None:
        assert both_accept(pattern_of(spec), str(default)), where


def test_the_portability_check_refuses_what_re2_or_java_would():
    assert portable_problems(r"^[0-9]+$(?!\n)")  # the runbook's old ending
    assert portable_problems(r"^(a)\1$")
    assert portable_problems(r"^\d+$")
    assert portable_problems(r"^(?P<x>a)$")
    assert portable_problems(r"^a++$")
    assert portable_problems(r"^[0-9]+$") == []


@pytest.mark.parametrize(
    "name,good,bad",
    [
        ("FunctionName", ["kms-rotation-rule", "a"], ["", "a b", "x" * 65, "fn\nx"]),
        ("CodeS3Bucket", ["artifacts-bucket", "my.bucket.1"], ["A", "-bucket", "b", "b" * 64]),
        ("ExecutionRoleName", ["", "KmsRotationRuleEvaluation"], ["a/b", "r" * 65]),
        ("OrganizationId", ["", "o-abcdefghij"], ["o-ABC", "o-short", "x-abcdefghij"]),
        ("ConformancePackName", ["kms-rotation"], ["1pack", "kms_rotation", ""]),
        ("MaxRotationPeriodInDays", ["", "90", "2560"], ["0", "abc", "09", "12345"]),
    ],
)
def test_rule_function_patterns_accept_and_refuse_in_both_engines(name, good, bad):
    spec = load_cfn(TEMPLATES_DIR / "rule-function.yaml")["Parameters"][name]
    for value in good:
        assert both_accept(spec["AllowedPattern"], value), value
    for value in bad:
        assert both_refuse(spec["AllowedPattern"], value), value


def test_scp_arn_patterns_are_iam_wildcards_not_regexes():
    scp = json.loads((PACK_DIR / "scp-deny-disable-key-rotation.json").read_text())
    values = [
        value
        for st in scp["Statement"]
        for op, keys in st.get("Condition", {}).items()
        if op.startswith("Arn")
        for value in (v for vs in keys.values() for v in (vs if isinstance(vs, list) else [vs]))
    ]
    assert len(values) >= 6
    for value in values:
        # ARN wildcards: six colon-separated parts, only `*` and `?` special; nothing from regex.
        assert value.count(":") >= 5 and value.startswith("arn:"), value
        assert not re.search(r"[\^$()\[\]{}|+\\]|\.\*", value), value
