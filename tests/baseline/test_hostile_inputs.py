"""Hostile values against the runbook's parameter patterns, beyond test_runbook_static.py's cases:
Unicode look-alikes (digits and letters that are not ASCII), invisible and control characters,
encodings, and separators that could smuggle a second value.

Each value is tried with both engines AWS may use (regex_engines.py): RE2 must refuse it, and a
Java-style engine must refuse it too, with one documented exception: Java's `$` matches before a
single final line terminator, so a VALID value followed by exactly one terminator passes Java.
Such a value carries nothing else (KMS and IAM refuse it as an identifier), and the local runner
accepts only what both engines accept.
"""

from __future__ import annotations

import re

import pytest

from regex_engines import java_search, portable_problems, re2_search

JAVA_LINE_TERMINATORS = ("\r\n", "\n", "\r", "\u0085", "\u2028", "\u2029")

UUID = "1234abcd-12ab-34cd-56ef-1234567890ab"
ARN = f"arn:aws:kms:us-east-1:111122223333:key/{UUID}"
ROLE = "arn:aws:iam::111122223333:role/KmsRotationRemediation"

INVISIBLE = ["\u200b", "\u200d", "\ufeff", "\u202e", "\u00a0", "\u2028", "\r", "\t", "\x00", "\x0b", "\x1b[31m"]

HOSTILE_KEY_IDS = [
    # Look-alike digits and letters.
    UUID.replace("1234", "\uff11\uff12\uff13\uff14"),  # fullwidth digits
    UUID.replace("1234", "\u0661\u0662\u0663\u0664"),  # Arabic-Indic digits
    UUID.replace("abcd", "\u0430bcd"),  # Cyrillic a
    UUID.replace("-", "\u2010"),  # Unicode hyphen
    ARN.replace("arn:", "\u0430rn:"),
    ARN.replace("kms", "\uff4bms"),
    f"mrk-{'ａ' * 32}",
    # Invisible or control characters anywhere.
    *[UUID[:8] + c + UUID[8:] for c in INVISIBLE],
    *[UUID + c for c in INVISIBLE],
    *[c + UUID for c in INVISIBLE],
    f"{UUID}\r\n",
    # Encodings and separators that would carry a second value.
    f"{UUID}%0a",
    f"{UUID}%00",
    f"{UUID},{UUID}",
    f"{UUID} {UUID}",
    f'{UUID}","KeyId":"*',
    f"{UUID}' OR '1'='1",
    f"{UUID}`id`",
    f"{UUID}&&id",
    f"{UUID}|id",
    f"{ARN}/../../*",
    f"{ARN}?x=1",
    f"{ARN}#x",
    "{{ssm:/secret/param}}",
    "{{ssm-secure:/x}}",
    "{{ automation:EXECUTION_ID }}",
    "arn:aws:kms:us-east-1:*:key/*",
    "arn:aws:kms:*:111122223333:key/" + UUID,
]

HOSTILE_ROLES = [
    ROLE.replace("111122223333", "\uff11" * 12),
    ROLE.replace("arn:", "\u0430rn:"),
    ROLE.replace("iam", "\u0456am"),  # Ukrainian i
    *[ROLE + c for c in INVISIBLE],
    *[ROLE[:30] + c + ROLE[30:] for c in INVISIBLE],
    f"{ROLE}\r\n",
    f"{ROLE}%0a",
    f"{ROLE},{ROLE}",
    f"{ROLE} {ROLE}",
    f'{ROLE}","AutomationAssumeRole":"*',
    f"{ROLE}`id`",
    f"{ROLE}$(id)",
    "arn:aws:iam::*:role/KmsRotationRemediation",
    "arn:aws:iam::111122223333:role/Kms\u00e9Rotation",  # IAM names are ASCII
    "arn:aws:iam::111122223333:root",
    "arn:aws:iam::111122223333:role",
    "arn:aws:iam::111122223333:role/",
]


def refused(pattern: str, value: str) -> bool:
    if re2_search(pattern, value) or re.fullmatch(pattern, value):
        return False
    if java_search(pattern, value):
        # Only a valid value plus one final line terminator may pass Java's `$`.
        return any(
            value.endswith(t) and re2_search(pattern, value[: -len(t)])
            for t in JAVA_LINE_TERMINATORS
        )
    return True


@pytest.mark.parametrize("value", HOSTILE_KEY_IDS, ids=ascii)
def test_key_id_pattern_refuses_look_alikes_and_smuggled_values(runbook, value):
    assert refused(runbook["parameters"]["KeyId"]["allowedPattern"], value)


@pytest.mark.parametrize("value", HOSTILE_ROLES, ids=ascii)
def test_role_pattern_refuses_look_alikes_and_smuggled_values(runbook, value):
    assert refused(runbook["parameters"]["AutomationAssumeRole"]["allowedPattern"], value)


def test_patterns_are_ascii_and_anchored(runbook):
    """The premise of the tests above: no construct whose meaning differs between engines."""
    for name in ("KeyId", "AutomationAssumeRole"):
        pattern = runbook["parameters"][name]["allowedPattern"]
        assert pattern.startswith("^") and pattern.endswith("$"), name
        assert portable_problems(pattern) == [], name
        assert ".*" not in pattern, name
