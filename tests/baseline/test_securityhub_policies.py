"""The least-privilege IAM policies of docs/security-hub.md, per command: linted with parliament,
exactly the actions each command calls, resources scoped wherever IAM allows, and every Security
Hub call in the code granted."""

from __future__ import annotations

import json
import re

import parliament
import pytest

from support import CLI_SRC, ROOT, as_list, sar_privilege

DOC = ROOT / "docs" / "security-hub.md"
CODE = [CLI_SRC / "securityhub.rs", CLI_SRC / "commands" / "securityhub.rs", CLI_SRC / "finding_subjects.rs"]

KMS_READ = {"kms:ListKeys", "kms:ListAliases", "kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:ListResourceTags"}
EXPECTED = {
    "audit --output ocsf": KMS_READ,
    "securityhub export": KMS_READ | {"securityhub:GetFindings", "securityhub:BatchImportFindings"},
    "securityhub sync-exceptions": KMS_READ | {"securityhub:GetFindings", "securityhub:BatchUpdateFindings"},
}


def policies() -> dict[str, dict]:
    """Each `### `command`` heading of the IAM section with the JSON block under it."""
    text = DOC.read_text()
    section = text.split("## IAM", 1)[1].split("\n## ", 1)[0]
    out = {}
    for heading, body in re.findall(r"^### (.+?)\n(.*?)(?=^### |\Z)", section, re.M | re.S):
        [block] = re.findall(r"```json\n(.*?)```", body, re.S)
        command = re.findall(r"`([^`]+)`", heading)[0]
        out[command] = json.loads(block)
    return out


def actions(policy: dict) -> set[str]:
    return {a for st in policy["Statement"] if st["Effect"] == "Allow" for a in as_list(st["Action"])}


def resource_types(action: str) -> set[str]:
    return {r["resource_type"].rstrip("*") for r in sar_privilege(action)["resource_types"]}


def test_every_command_has_its_policy():
    assert set(policies()) == set(EXPECTED)


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_parliament_has_no_findings(command):
    result = parliament.analyze_policy_string(json.dumps(policies()[command]))
    assert [f"{f.issue}: {f.detail}" for f in result.findings] == []


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_exactly_the_actions_the_command_calls(command):
    assert actions(policies()[command]) == EXPECTED[command]


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_resource_star_only_for_actions_without_resource_types(command):
    for st in policies()[command]["Statement"]:
        for action in as_list(st["Action"]):
            assert "*" not in action
            if "*" in as_list(st["Resource"]):
                assert resource_types(action) == {""}, f"{action} can be scoped"
            else:
                assert resource_types(action) - {""}, f"{action} takes no resource"


def test_security_hub_resources_are_the_ones_iam_names():
    p = policies()
    [imp] = [st for st in p["securityhub export"]["Statement"] if "securityhub:BatchImportFindings" in as_list(st["Action"])]
    assert re.fullmatch(r"arn:aws:securityhub:\*:(\d{12}):product/\1/default", imp["Resource"])
    for command in ("securityhub export", "securityhub sync-exceptions"):
        for st in p[command]["Statement"]:
            if set(as_list(st["Action"])) & {"securityhub:GetFindings", "securityhub:BatchUpdateFindings"}:
                assert st["Resource"] == "arn:aws:securityhub:*:111122223333:hub/default"


def test_every_security_hub_call_in_the_code_is_granted():
    called = set()
    for path in CODE:
        for op in re.findall(r"\.(get_findings|batch_import_findings|batch_update_findings|[a-z_]+_findings?)\(\)", path.read_text()):
            called.add("securityhub:" + "".join(part.title() for part in op.split("_")))
    assert called == {"securityhub:GetFindings", "securityhub:BatchImportFindings", "securityhub:BatchUpdateFindings"}
    granted = set().union(*(actions(p) for p in policies().values()))
    assert called <= granted
