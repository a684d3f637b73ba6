"""The version floors of the Terraform modules (iac/terraform/*/versions.tf) against a table of
documented minimums.

Each module's `required_version` and `hashicorp/aws` constraint must be the highest documented
minimum of what the module uses: every provider resource, data source and argument, every
Terraform function and language feature found in the source (parsed with python-hcl2) must be in
the table below, and the floors must equal the maximum over what is used (and cover the floors of
the modules it calls). A use that is not in the table fails the test until its minimum is looked
up and added with its source.

`version` is the first release with the item when `exact`; otherwise it is a release documented
to have it already (the floor may then be higher than strictly needed, never lower).

The floors at commit b483cef (Terraform >= 1.5, aws >= 5.30) are refused:
test_the_floors_of_b483cef_are_refused checks them against the same table.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import ROOT, load_tf, one
from test_terraform_init import VERSIONS_TF_B483CEF

TF = ROOT / "iac" / "terraform"
MODULES = ["kms-key", "kms-key-policy", "kms-replica-key"]

Version = tuple[int, ...]


def version(text: str) -> Version:
    return tuple(int(p) for p in text.split("."))


@dataclass(frozen=True)
class Minimum:
    version: str
    source: str
    exact: bool = True


PROVIDER_CHANGELOG = "hashicorp/terraform-provider-aws CHANGELOG"
TERRAFORM_CHANGELOG = "hashicorp/terraform CHANGELOG"

# hashicorp/aws: resource and data source types ("resource.TYPE", "data.TYPE") and their arguments
# ("resource.TYPE.ARG"). An argument listed under BASE_ARGUMENTS is covered by its type's entry.
PROVIDER: dict[str, Minimum] = {
    "resource.aws_kms_key": Minimum(
        "0.1.3", f"{PROVIDER_CHANGELOG} 0.1.3 (July 25, 2017): 'resource/aws_kms_key: Retry lookups after creation' (#1039)",
        exact=False),
    "resource.aws_kms_alias": Minimum(
        "0.1.3", f"{PROVIDER_CHANGELOG} 0.1.3 (July 25, 2017): 'resource/aws_kms_alias: Retry lookups after creation' (#1040)",
        exact=False),
    "resource.aws_kms_key.multi_region": Minimum(
        "3.64.0", "hashicorp/terraform-provider-aws release v3.64.0 (multi-Region keys, closing issue #19896)"),
    "resource.aws_kms_replica_key": Minimum(
        "3.64.0", "hashicorp/terraform-provider-aws release v3.64.0 (multi-Region keys, closing issue #19896)"),
    "resource.aws_kms_key.customer_master_key_spec": Minimum(
        "3.64.0", "hashicorp/terraform-provider-aws PR #11062 (2020, asymmetric keys: 'resource/aws_kms_key: Add support for "
        "asymmetric keys with customer_master_key_spec'), released before v3.64.0", exact=False),
    "resource.aws_kms_key.rotation_period_in_days": Minimum(
        "5.49.0", f"{PROVIDER_CHANGELOG} 5.49.0: 'resource/aws_kms_key: Add rotation_period_in_days argument' (#37140, "
        ".changelog/37140.txt)"),
    "data.aws_iam_policy_document": Minimum(
        "1.19.0", f"{PROVIDER_CHANGELOG} 1.19.0 (May 16, 2018) NOTES on data-source/aws_iam_policy_document", exact=False),
    "data.aws_partition": Minimum(
        "3.10.0", f"{PROVIDER_CHANGELOG} 3.10.0 (October 9, 2020) NOTES: 'data-source/aws_partition: The id attribute has "
        "changed' (#15399)", exact=False),
    "data.aws_caller_identity": Minimum(
        "3.13.0", f"{PROVIDER_CHANGELOG} 3.13.0 (October 29, 2020) NOTES: 'data-source/aws_caller_identity: The id attribute "
        "has changed' (#15896)", exact=False),
}

# Arguments that are part of their type's entry (documented together with it).
BASE_ARGUMENTS: dict[str, set[str]] = {
    "resource.aws_kms_key": {"description", "key_usage", "policy", "deletion_window_in_days", "enable_key_rotation", "tags"},
    "resource.aws_kms_alias": {"name", "target_key_id"},
    "resource.aws_kms_replica_key": {"description", "primary_key_arn", "deletion_window_in_days", "policy", "tags"},
    "data.aws_iam_policy_document": {"statement"},
    "data.aws_partition": set(),
    "data.aws_caller_identity": set(),
}

# Terraform: functions ("function.NAME") and language features ("feature.NAME").
TERRAFORM: dict[str, Minimum] = {
    "function.lower": Minimum("0.12.0", "Terraform 0.12 functions (present before 0.12)", exact=False),
    "function.merge": Minimum("0.12.0", "Terraform 0.12 functions (present before 0.12)", exact=False),
    "function.floor": Minimum("0.12.0", "Terraform 0.12 functions (present before 0.12)", exact=False),
    "function.regex": Minimum("0.12.7", f"{TERRAFORM_CHANGELOG} 0.12.7: new functions regex and regexall"),
    "function.can": Minimum("0.12.20", f"{TERRAFORM_CHANGELOG} 0.12.20: new functions try and can"),
    "function.one": Minimum("0.15.0", f"{TERRAFORM_CHANGELOG} 0.15.0: new function one"),
    "function.startswith": Minimum("1.3.0", f"{TERRAFORM_CHANGELOG} 1.3.0: 'Added functions: startswith and endswith' (#31220)"),
    "function.endswith": Minimum("1.3.0", f"{TERRAFORM_CHANGELOG} 1.3.0: 'Added functions: startswith and endswith' (#31220)"),
    "feature.required_providers_source": Minimum(
        "0.13.0", f"{TERRAFORM_CHANGELOG} 0.13.0: provider source addresses in required_providers"),
    "feature.variable_validation": Minimum(
        "0.13.0", f"{TERRAFORM_CHANGELOG} 0.13.0: custom validation rules for input variables are no longer experimental"),
    "feature.configuration_aliases": Minimum(
        "0.15.0", f"{TERRAFORM_CHANGELOG} 0.15.0: configuration_aliases in required_providers"),
    "feature.validation_refers_to_other_objects": Minimum(
        "1.9.0", f"{TERRAFORM_CHANGELOG} 1.9.0: 'Input variable validation rules can refer to other objects' (#34955)"),
}

VARIABLE_ATTRIBUTES = {"description", "type", "default", "validation"}
TOP_LEVEL_BLOCKS = {"terraform", "variable", "locals", "resource", "data", "module", "output"}
# The parser's line markers, and meta-arguments that every Terraform the floors allow has had
# (count, provider, depends_on, lifecycle: before 0.12). for_each is not here: it is newer.
META_ARGUMENTS = {"__start_line__", "__end_line__", "count", "provider", "depends_on", "lifecycle"}
FUNCTION_CALL = re.compile(r"(?<![\w.])([a-z][a-z0-9_]*)\(")
REFERENCE = re.compile(r"(?<![\w.])(var|local|data|module)\.([A-Za-z_][\w-]*)")


@dataclass
class Floors:
    terraform: Version
    aws: Version


@dataclass
class Uses:
    provider: set[str]
    terraform: set[str]
    calls: set[str]  # local module sources, relative to the module


def lower_bound(constraint: str) -> Version:
    match = re.fullmatch(r">=\s*([0-9]+(?:\.[0-9]+){1,2})", constraint.strip())
    assert match, f"floor {constraint!r} is not of the form '>= X.Y.Z'"
    floor = version(match.group(1))
    return floor + (0,) * (3 - len(floor))


def floors(body: dict[str, list]) -> Floors:
    [settings] = body["terraform"]
    [providers] = settings["required_providers"]
    aws = one(providers["aws"])
    return Floors(lower_bound(one(settings["required_version"])), lower_bound(aws["version"]))


def expressions(value) -> list[str]:
    """Every string that holds an expression (python-hcl2 writes them as "${...}")."""
    if isinstance(value, dict):
        return [e for v in value.values() for e in expressions(v)]
    if isinstance(value, list):
        return [e for v in value for e in expressions(v)]
    return [value] if isinstance(value, str) and "${" in value else []


def uses(body: dict[str, list]) -> Uses:
    provider: set[str] = set()
    terraform: set[str] = set()
    calls: set[str] = set()
    unknown_blocks = set(body) - TOP_LEVEL_BLOCKS
    assert not unknown_blocks, f"block types not in the table: {unknown_blocks}"
    for kind in ("resource", "data"):
        for entry in body.get(kind, []):
            for rtype, instances in entry.items():
                provider.add(f"{kind}.{rtype}")
                for attrs in instances.values():
                    provider.update(f"{kind}.{rtype}.{arg}" for arg in set(attrs) - META_ARGUMENTS)
    for entry in body.get("module", []):
        for attrs in entry.values():
            calls.add(one(attrs["source"]))
    for entry in body.get("variable", []):
        for name, attrs in entry.items():
            extra = set(attrs) - VARIABLE_ATTRIBUTES - META_ARGUMENTS
            assert not extra, f"variable {name}: attributes not in the table: {extra}"
            for validation in attrs.get("validation", []):
                terraform.add("feature.variable_validation")
                refs = {m.group(0) for e in expressions(validation) for m in REFERENCE.finditer(e)}
                if refs - {f"var.{name}"}:
                    terraform.add("feature.validation_refers_to_other_objects")
    for settings in body.get("terraform", []):
        for providers in settings.get("required_providers", []):
            for spec in providers.values():
                spec = one(spec)
                if "source" in spec:
                    terraform.add("feature.required_providers_source")
                if "configuration_aliases" in spec:
                    terraform.add("feature.configuration_aliases")
    # A variable's type constraint (list(string), map(string)) is not a function call.
    values = [body.get(block, []) for block in ("resource", "data", "module", "output", "locals")]
    values += [{k: v for k, v in attrs.items() if k != "type"} for entry in body.get("variable", []) for attrs in entry.values()]
    for expr in expressions(values):
        terraform.update(f"function.{m.group(1)}" for m in FUNCTION_CALL.finditer(expr))
    return Uses(provider, terraform, calls)


def covered(item: str) -> bool:
    """A provider argument is covered by its own entry or by its type's base arguments."""
    if item in PROVIDER:
        return True
    kind, rtype, *arg = item.split(".")
    return bool(arg) and arg[0] in BASE_ARGUMENTS.get(f"{kind}.{rtype}", set())


def minimum(items: set[str], table: dict[str, Minimum]) -> Version:
    return max((version(table[i].version) for i in items if i in table), default=(0, 0, 0))


def problems(module: Path) -> list[str]:
    """What is wrong with the module's floors: uses not in the table, floors below a documented
    minimum or a called module's floor, floors above the maximum of what is used."""
    body = load_tf(module)
    found = uses(body)
    declared = floors(body)
    out = [f"{item}: no documented minimum in the table" for item in sorted(found.provider) if not covered(item)]
    out += [f"{item}: no documented minimum in the table" for item in sorted(found.terraform - set(TERRAFORM))]
    need_tf = minimum(found.terraform, TERRAFORM)
    need_aws = minimum(found.provider, PROVIDER)
    for source in sorted(found.calls):
        called = floors(load_tf((module / source).resolve()))
        need_tf, need_aws = max(need_tf, called.terraform), max(need_aws, called.aws)
    for what, have, need, table, items in (
            ("required_version", declared.terraform, need_tf, TERRAFORM, found.terraform),
            ("hashicorp/aws", declared.aws, need_aws, PROVIDER, found.provider)):
        if have < need:
            why = [f"{i} needs {table[i].version} ({table[i].source})" for i in sorted(items)
                   if i in table and version(table[i].version) > have]
            out.append(f"{what} >= {'.'.join(map(str, have))} is below {'.'.join(map(str, need))}: {why or 'a called module'}")
        elif have > need:
            out.append(f"{what} >= {'.'.join(map(str, have))} is above the highest documented minimum {'.'.join(map(str, need))}")
    return out


@pytest.mark.parametrize("name", MODULES)
def test_each_floor_is_the_highest_documented_minimum_of_what_the_module_uses(name):
    """Terraform and the AWS provider refuse (or, worse, misread) a module that uses what the
    installed release does not have; the floor must say so before `terraform init` picks a
    release. The table above names the source of every minimum."""
    assert problems(TF / name) == []


def test_the_table_sees_what_the_kms_key_module_depends_on():
    """The two uses that set kms-key's floors are found by the parser (so a test that passes is
    not one that saw nothing): rotation_period_in_days (aws 5.49.0) and the validation of
    enable_key_rotation that refers to rotation_exception (Terraform 1.9.0)."""
    found = uses(load_tf(TF / "kms-key"))
    assert "resource.aws_kms_key.rotation_period_in_days" in found.provider
    assert "feature.validation_refers_to_other_objects" in found.terraform
    assert floors(load_tf(TF / "kms-key")) == Floors(version("1.9.0"), version("5.49.0"))


def test_the_floors_of_b483cef_are_refused(tmp_path):
    """The old floors accept Terraform 1.5..1.8, which rejects a validation that refers to
    another variable, and AWS provider 5.30..5.48, which has no rotation_period_in_days."""
    module = tmp_path / "kms-key"
    shutil.copytree(TF / "kms-key", module)
    shutil.copytree(TF / "kms-key-policy", tmp_path / "kms-key-policy")
    (module / "versions.tf").write_text(VERSIONS_TF_B483CEF)
    found = problems(module)
    assert len(found) == 2, found
    assert found[0].startswith("required_version >= 1.5.0 is below 1.9.0") and "validation_refers_to_other_objects" in found[0]
    assert found[1].startswith("hashicorp/aws >= 5.30.0 is below 5.49.0") and "rotation_period_in_days" in found[1]


def test_an_unlisted_argument_fails_until_its_minimum_is_recorded(tmp_path):
    """A new argument (here bypass_policy_lockout_safety_check) is not silently assumed to be old."""
    module = tmp_path / "kms-key"
    shutil.copytree(TF / "kms-key", module)
    shutil.copytree(TF / "kms-key-policy", tmp_path / "kms-key-policy")
    main = module / "main.tf"
    main.write_text(main.read_text().replace("  key_usage ", "  bypass_policy_lockout_safety_check = false\n  key_usage ", 1))
    assert problems(module) == ["resource.aws_kms_key.bypass_policy_lockout_safety_check: no documented minimum in the table"]
