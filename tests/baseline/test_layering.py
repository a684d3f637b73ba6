"""The layering of the Rust workspace, as the compiler and cargo see it (issue 22).

- The Lambda (`rule-lambda` built with `--no-default-features --features lambda`, as `make
  package` builds it) has nothing of the CLI or the IaC checker in its dependency tree.
- `fake-aws` and `bench` depend on the core crate only, so a CLI edit never rebuilds them.
- Inside each library crate the modules form no cycle, and the CLI's commands
  (crates/kms-rotation-cli/src/commands/) never import each other: the steps they share are the
  crate's other modules (the sweep, the fleet, the session, the output).

The module graph is read from the `crate::` paths of each file (the first module named after
`crate::`, or `crate::commands::<name>`), with `use crate::{a, b::c}` groups expanded; comments
and doc comments are not code and are left out.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CRATES = ROOT / "crates"

# Crates of the CLI and the IaC checker (and the crates only they use) that the Lambda must not
# link: the list of issue 22's "done when", plus our own CLI and IaC crates.
NOT_IN_THE_LAMBDA = {
    "clap", "comfy-table", "indicatif", "hcl-edit", "yaml-rust2", "walkdir", "mimalloc",
    "aws-sdk-securityhub", "aws-sdk-organizations", "aws-sdk-account",
    "kms-rotation-cli", "kms-rotation-iac",
}


def cargo_tree(*args: str) -> set[str]:
    out = subprocess.run(
        ["cargo", "tree", "--locked", "--offline", "-e", "normal", "--prefix", "none", *args],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    return {line.split(" ")[0] for line in out.splitlines() if line.strip()}


def test_the_lambda_links_nothing_of_the_cli():
    lambda_tree = cargo_tree("-p", "rule-lambda", "--no-default-features", "--features", "lambda")
    assert "kms-rotation-core" in lambda_tree and "lambda_runtime" in lambda_tree
    assert not lambda_tree & NOT_IN_THE_LAMBDA, lambda_tree & NOT_IN_THE_LAMBDA
    # The check can fail: the CLI's build has them.
    cli_tree = cargo_tree("-p", "rule-lambda", "--no-default-features", "--features", "cli")
    assert NOT_IN_THE_LAMBDA <= cli_tree, NOT_IN_THE_LAMBDA - cli_tree


def workspace_path_dependencies() -> dict[str, set[str]]:
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--offline", "--no-deps", "--format-version", "1"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout)
    members = {p["name"] for p in meta["packages"]}
    return {
        p["name"]: {d["name"] for d in p["dependencies"] if d["name"] in members and d.get("kind") is None}
        for p in meta["packages"]
    }


def test_fake_aws_and_the_bench_depend_on_the_core_only():
    deps = workspace_path_dependencies()
    assert deps["fake-aws"] == {"kms-rotation-core"}, deps["fake-aws"]
    assert deps["kms-rotation-bench"] == {"kms-rotation-core", "fake-aws"}, deps["kms-rotation-bench"]
    assert deps["kms-rotation-core"] == set(), deps["kms-rotation-core"]
    assert deps["kms-rotation-iac"] == {"kms-rotation-core"}, deps["kms-rotation-iac"]
    assert deps["kms-rotation-cli"] == {"kms-rotation-core", "kms-rotation-iac"}, deps["kms-rotation-cli"]


# --- the module graph -------------------------------------------------------------------------

COMMENT = re.compile(r"//[^\n]*")
USE_GROUP = re.compile(r"\bcrate::\{([^;]*?)\};", re.S)
PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)(?:::([a-z_][a-z0-9_]*))?")


def module_of(src: Path, file: Path) -> str:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("lib", "mod"):
        parts = parts[:-1]
    return "/".join(parts) or "crate"


def references(text: str) -> set[str]:
    """The modules a file's code names through `crate::`."""
    code = COMMENT.sub("", text)
    # `use crate::{a, b::c, d::{e, f}}`: each first segment, as if written `crate::a` ...
    for group in USE_GROUP.findall(code):
        depth, item, items = 0, "", []
        for ch in group:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                items.append(item)
                item = ""
            else:
                item += ch
        items.append(item)
        code += "".join(f" crate::{i.strip()} " for i in items if i.strip())
    found = set()
    for first, second in PATH.findall(code):
        if first == "commands" and second:
            found.add(f"commands/{second}")
        else:
            found.add(first)
    return found


SUPER = re.compile(r"\bsuper::(\{|[a-z_][a-z0-9_]*)")


def as_crate_paths(module: str, text: str) -> str:
    """`super::x` written as the `crate::` path it means: in a module file directly under src/ (or
    in commands/), `super` is the crate root (or `commands`). Inside a file's inline test module
    `super` is the file's own module, which names no other module, so nothing is lost."""
    parent = "crate::commands::" if module.startswith("commands/") else "crate::"
    if "/" in module and not module.startswith("commands/"):
        return text  # deeper files: none today
    return SUPER.sub(lambda m: parent + m.group(1), text)


def module_graph(files: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the crate's modules it names (files: module name -> source text)."""
    modules = set(files)
    graph = {}
    for module, text in files.items():
        named = {m for m in references(as_crate_paths(module, text)) if m in modules and m != module}
        graph[module] = named
    return graph


def crate_files(crate: str) -> dict[str, str]:
    src = CRATES / crate / "src"
    return {module_of(src, f): f.read_text() for f in sorted(src.rglob("*.rs"))}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle found by a depth-first search (one per back edge)."""
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def command_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted(
        (a, b) for a, targets in graph.items() if a.startswith("commands/")
        for b in targets if b.startswith("commands/")
    )


@pytest.mark.parametrize("crate", ["kms-rotation-core", "kms-rotation-iac", "kms-rotation-cli"])
def test_no_module_cycle(crate):
    graph = module_graph(crate_files(crate))
    assert len(graph) > 5, graph
    assert cycles(graph) == []


def test_commands_never_import_each_other():
    graph = module_graph(crate_files("kms-rotation-cli"))
    commands = {m for m in graph if m.startswith("commands/")}
    assert {"commands/audit", "commands/remediate", "commands/securityhub"} <= commands, commands
    assert command_imports(graph) == []
    # The commands are reached from the crate root only.
    for module, targets in graph.items():
        if module not in ("crate", "commands"):
            assert not targets & commands, (module, targets & commands)


def test_the_checks_fail_on_a_command_that_imports_another():
    files = crate_files("kms-rotation-cli")
    files["commands/audit"] += "\nuse crate::commands::exceptions::command as _sibling;\n"
    graph = module_graph(files)
    assert command_imports(graph) == [("commands/audit", "commands/exceptions")]
    # and on a cycle through a shared module, written as a `use crate::{..}` group
    files = crate_files("kms-rotation-cli")
    files["fleet"] += "\nuse crate::{output::warn, sweep::{Plan, Tally}};\n"
    assert ["fleet", "sweep", "fleet"] in [c[-3:] for c in cycles(module_graph(files))] or any(
        "fleet" in c and "sweep" in c for c in cycles(module_graph(files)))
    # comments do not count
    files = crate_files("kms-rotation-cli")
    files["fleet"] += "\n// see crate::sweep::Plan\n/// and [`crate::sweep`]\n"
    assert cycles(module_graph(files)) == []
