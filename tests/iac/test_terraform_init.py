"""`terraform init` on the example roots of iac/terraform/examples/, which call the modules the way
their documentation says (docs/shift-left.md): a single-Region key with only the default aws
provider, and a multi-Region primary plus a replica with an aliased provider.

Providers cannot be downloaded here, so each test gives Terraform a filesystem mirror of its own
(Terraform CLI configuration, "Provider Installation", `filesystem_mirror`, unpacked layout
HOSTNAME/NAMESPACE/TYPE/VERSION/TARGET/terraform-provider-TYPE_vVERSION): an executable stub
named as the hashicorp/aws release. `terraform init` selects a release by the version
constraints and checks the module tree (provider requirements, configuration aliases) without
running the provider; `terraform validate` and `plan` run it to read its schema, so they cannot run
here (docs/shift-left.md says what they add on a machine with the real provider).

Everything is copied to a temporary directory (TF_DATA_DIR there too): nothing is written to the
repository. terraform is part of the image (/usr/local/bin/terraform): its absence fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

from support import ROOT

TF = ROOT / "iac" / "terraform"
AWS = "registry.terraform.io/hashicorp/aws"


def terraform() -> str:
    exe = shutil.which("terraform")
    if exe is None:
        pytest.fail("terraform is not on PATH; it is part of the image (/usr/local/bin/terraform)")
    return exe


def mirror(tmp: Path, *versions: str) -> Path:
    """A CLI configuration whose only way to install hashicorp/aws is a local mirror holding
    these releases (linux_amd64 stubs, never run by init)."""
    root = tmp / "mirror"
    for v in versions:
        target = root / AWS / v / "linux_amd64"
        target.mkdir(parents=True)
        stub = target / f"terraform-provider-aws_v{v}_x5"
        stub.write_text("#!/bin/sh\necho 'stub provider: not runnable' >&2\nexit 1\n")
        stub.chmod(0o755)
    config = tmp / "terraform.tfrc"
    config.write_text('provider_installation {\n  filesystem_mirror {\n'
                      f'    path    = "{root}"\n    include = ["{AWS}"]\n  }}\n}}\n')
    return config


def tree(tmp: Path) -> Path:
    """A copy of iac/terraform (modules and examples keep their relative paths)."""
    copy = tmp / "terraform"
    shutil.copytree(TF, copy, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl"))
    return copy


def init(root: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.update(TF_CLI_CONFIG_FILE=str(config), TF_DATA_DIR=str(root / ".tfdata"), TF_IN_AUTOMATION="1",
               CHECKPOINT_DISABLE="1")
    return subprocess.run([terraform(), f"-chdir={root}", "init", "-backend=false", "-input=false", "-no-color"],
                          capture_output=True, text=True, env=env, timeout=120)


def output(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def test_terraform_is_installed():
    """`make test` runs in the image that has terraform; no test here is skipped for its absence."""
    assert subprocess.run([terraform(), "version"], capture_output=True, text=True, timeout=30).returncode == 0


def test_a_single_region_key_needs_only_the_default_provider(tmp_path):
    """examples/single-region declares one aws provider, no alias, and passes no `providers` to
    the module: init accepts it (the module has no configuration_aliases)."""
    root = tree(tmp_path) / "examples" / "single-region"
    with (root / "main.tf").open() as f:
        body = hcl2.load(f)
    assert [list(p) for p in body["provider"]] == [["aws"]] and "alias" not in body["provider"][0]["aws"]
    assert [("providers" in call) for m in body["module"] for call in m.values()] == [False]
    proc = init(root, mirror(tmp_path, "5.49.0"))
    assert proc.returncode == 0, output(proc)
    assert "Installed hashicorp/aws v5.49.0" in proc.stdout


def test_a_primary_and_its_replica_with_an_aliased_provider(tmp_path):
    """examples/multi-region: the primary with the default provider, the replica module with
    providers = { aws = aws.replica }."""
    root = tree(tmp_path) / "examples" / "multi-region"
    assert "providers = { aws = aws.replica }" in (root / "main.tf").read_text()
    proc = init(root, mirror(tmp_path, "5.49.0"))
    assert proc.returncode == 0, output(proc)
    assert "- replica in ../../kms-replica-key" in proc.stdout


def test_the_provider_floor_is_enforced(tmp_path):
    """A mirror that offers only hashicorp/aws 5.48.0 (no rotation_period_in_days, added in 5.49.0)
    makes init refuse the module."""
    root = tree(tmp_path) / "examples" / "single-region"
    proc = init(root, mirror(tmp_path, "5.48.0"))
    assert proc.returncode != 0
    assert "no available releases match the given constraints" in output(proc)
    assert ">= 5.49.0" in output(proc)


# iac/terraform/kms-key/versions.tf at commit b483cef, verbatim (its main.tf used aws.replica only
# for the replica; the aliases declared here are what every caller must pass).
VERSIONS_TF_B483CEF = """terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source                = "hashicorp/aws"
      version               = ">= 5.30"
      configuration_aliases = [aws.replica]
    }
  }
}
"""


def test_the_module_of_b483cef_refuses_a_single_region_caller(tmp_path):
    """With `configuration_aliases = [aws.replica]`, Terraform requires every caller to pass
    aws.replica, even with create_replica = false: init fails with "Missing required provider
    configuration". The same example root passes with today's module (test above)."""
    copy = tree(tmp_path)
    (copy / "kms-key" / "versions.tf").write_text(VERSIONS_TF_B483CEF)
    proc = init(copy / "examples" / "single-region", mirror(tmp_path, "5.49.0"))
    assert proc.returncode != 0
    assert "Missing required provider configuration" in output(proc)
    assert 'the local name "aws.replica"' in output(proc)


def test_the_floor_of_b483cef_let_init_pick_a_provider_without_rotation_period(tmp_path):
    """The old floor (>= 5.30) accepted 5.48.0, where aws_kms_key has no rotation_period_in_days:
    init succeeded and only a later validate or plan would have failed, on an unknown argument."""
    copy = tree(tmp_path)
    (copy / "kms-key" / "versions.tf").write_text(VERSIONS_TF_B483CEF)
    root = copy / "examples" / "old-caller"
    root.mkdir()
    text = (copy / "examples" / "single-region" / "main.tf").read_text()
    text = text.replace('provider "aws" {\n  region = "eu-west-1"\n}\n',
                        'provider "aws" {\n  region = "eu-west-1"\n}\n\n'
                        'provider "aws" {\n  alias  = "replica"\n  region = "eu-central-1"\n}\n')
    text = text.replace('source = "../../kms-key"\n', 'source = "../../kms-key"\n  providers = { aws = aws, aws.replica = aws.replica }\n')
    (root / "main.tf").write_text(text)
    proc = init(root, mirror(tmp_path, "5.48.0"))
    assert proc.returncode == 0, output(proc)
    assert "Installed hashicorp/aws v5.48.0" in proc.stdout
