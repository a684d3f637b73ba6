"""The two regular-expression engines AWS evaluates our patterns with, for the tests.

- Java-style: CloudFormation's `AllowedPattern` and SSM's `allowedPattern` are documented as Java
  regular expressions (CloudFormation User Guide, "Parameters" section: "AllowedPattern: A regular
  expression ... "; SSM Document syntax, "allowedPattern: ... the regular expression"). Java's
  `Matcher.find()` is modelled with Python's `re`, which agrees with Java on every construct our
  patterns may use (ASCII classes, groups, alternation, bounded repetition, `^`, `$`), except
  that a Java `$` also matches before ONE final line terminator of any kind (\\n, \\r\\n, \\r,
  \\u0085, \\u2028, \\u2029) and Python's only before a final \\n: `java_search` models Java's.
- RE2: the SSM Agent and Go/C++ services use RE2 (`google-re2`, the bindings of Google's RE2
  library, pinned in tests/requirements.txt). RE2 rejects lookaround and backreferences when it
  compiles a pattern, and its `$` (without the m flag) matches only at the very end of the text.

`portable_problems` names the constructs that one engine reads differently from the other or
rejects; a pattern we ship must have none and must compile in both engines.
"""

from __future__ import annotations

import re

import re2

_JAVA_FINAL_TERMINATOR = r"(?=(?:\r\n|[\n\r\u0085\u2028\u2029])?\Z)"

# Constructs with no meaning, or another meaning, in one of the two engines.
_NOT_PORTABLE = {
    r"(?=": "lookahead",
    r"(?!": "negative lookahead",
    r"(?<=": "lookbehind",
    r"(?<!": "negative lookbehind",
    r"(?P": "Python-only named group",
    r"(?>": "atomic group (not RE2)",
    r"\Z": "\\Z differs (RE2: unsupported)",
    r"\z": "\\z (not Python)",
    r"\A": "\\A",
    r"\d": "\\d is Unicode-aware in Python",
    r"\w": "\\w is Unicode-aware in Python",
    r"\s": "\\s is Unicode-aware in Python",
    r"\b": "word boundary",
    r"\p{": "Unicode class",
    r"(?i": "inline flags",
    r"(?m": "inline flags",
    r"(?s": "inline flags",
}
_BACKREFERENCE = re.compile(r"\\[1-9]|\\k<")
_POSSESSIVE = re.compile(r"(?<!\\)[*+?}]\+")


def portable_problems(pattern: str) -> list[str]:
    """Why `pattern` is not safe in both Java and RE2 (empty list: it is)."""
    problems = [why for construct, why in _NOT_PORTABLE.items() if construct in pattern]
    if _BACKREFERENCE.search(pattern):
        problems.append("backreference")
    if _POSSESSIVE.search(pattern):
        problems.append("possessive quantifier (not RE2)")
    if not pattern.isascii():
        problems.append("non-ASCII character")
    try:
        re.compile(pattern)
    except re.error as exc:
        problems.append(f"Java-style (re) does not compile it: {exc}")
    try:
        re2.compile(pattern)
    except Exception as exc:  # noqa: BLE001 - re2 raises its own error type
        problems.append(f"RE2 does not compile it: {exc}")
    return problems


def java_search(pattern: str, value: str) -> bool:
    """Java's `Pattern.compile(pattern).matcher(value).find()`, for our portable patterns."""
    translated = pattern
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        translated = pattern[:-1] + _JAVA_FINAL_TERMINATOR
    return re.search(translated, value) is not None


def re2_search(pattern: str, value: str) -> bool:
    """RE2's partial match (what a find-style check does): `$` is the very end of the text."""
    return re2.search(pattern, value) is not None


def both_accept(pattern: str, value: str) -> bool:
    return java_search(pattern, value) and re2_search(pattern, value)


def both_refuse(pattern: str, value: str) -> bool:
    return not java_search(pattern, value) and not re2_search(pattern, value)
