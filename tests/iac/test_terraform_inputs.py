"""`kms-rotation check-iac` on Terraform as it is written and deployed: JSON syntax (`*.tf.json`),
the values a root module is deployed with (its var files, `--var-file`, `--var`) and plan JSON
with keys in nested child modules.

Terraform pages the behaviour rests on:
- JSON Configuration Syntax, https://developer.hashicorp.com/terraform/language/syntax/json
  (`.tf.json` files, block types as JSON objects, strings as templates, `"//"` comments);
- Input Variables, https://developer.hashicorp.com/terraform/language/values/variables
  ("Variable Definition Precedence": terraform.tfvars, terraform.tfvars.json, *.auto.tfvars(.json)
  in lexical order, then -var/-var-file; "Values for Undeclared Variables": a warning from a file,
  an error from -var);
- JSON Output Format, https://developer.hashicorp.com/terraform/internals/json-format
  (`resource_changes` with `module_address`; `planned_values.root_module.child_modules`, nested,
  unknown values omitted).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from support import FIXTURES, verdicts

TF = FIXTURES / "terraform"
PLAN = FIXTURES / "plan"


def by_resource(run) -> dict[str, dict]:
    return {f["resource"]: f for f in run.findings()}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# --- JSON syntax -------------------------------------------------------------------------------


def test_tf_json_keys_are_read_with_their_json_lines(check_iac):
    """A module written in JSON syntax (with a native variables.tf beside it) gives the same
    verdicts as its native twin: `"${var.rotate}"` is the variable (false by default in the
    .tf file), a template builds the exception tag, `for_each` expands, `"//"` is ignored."""
    run = check_iac("--max-rotation-period-days", "365", "--output", "json", str(TF / "json"))
    assert run.code == 1, run.stderr
    assert verdicts(run) == {
        "aws_kms_key.rotated": ("COMPLIANT", "ROTATION_ON"),
        "aws_kms_key.from_variable": ("NON_COMPLIANT", "ROTATION_OFF"),
        "aws_kms_key.waived": ("NOT_APPLICABLE", "EXCEPTION_VALID"),
        'aws_kms_key.per_tier["fast"]': ("COMPLIANT", "ROTATION_ON"),
        'aws_kms_key.per_tier["slow"]': ("NON_COMPLIANT", "PERIOD_ABOVE_MAXIMUM"),
    }
    found = by_resource(run)["aws_kms_key.from_variable"]
    lines = (TF / "json" / "main.tf.json").read_text().splitlines()
    assert found["file"].endswith("main.tf.json")
    assert '"from_variable"' in lines[found["line"] - 1]
    assert 'variable rotate taken at its default "false"' in found["message"]
    assert "enable_key_rotation" in found["fix"]


def test_tf_json_module_called_from_native_syntax(check_iac, tmp_path):
    """A module call follows into a directory of `.tf.json` files, its arguments as the JSON
    module's variables."""
    write(tmp_path, {
        "root/main.tf": 'module "kms" {\n  source = "../kms"\n  rotate = false\n}\n',
        "kms/main.tf.json": json.dumps({
            "variable": {"rotate": {"default": True}},
            "resource": {"aws_kms_key": {"k": {"enable_key_rotation": "${var.rotate}"}}},
        }, indent=1),
    })
    run = check_iac("--output", "json", str(tmp_path / "root"))
    assert verdicts(run) == {"module.kms.aws_kms_key.k": ("NON_COMPLIANT", "ROTATION_OFF")}, run.stderr


def test_tf_json_that_is_not_a_configuration_is_refused_naming_it(check_iac, tmp_path):
    """Terraform requires a JSON object at the root of a `.tf.json` file: broken JSON or another
    root is an error naming the file, exit 2 (never skipped as "neither a template nor a plan"),
    the module's other files still checked."""
    write(tmp_path, {
        "broken.tf.json": '{"resource": {"aws_kms_key": {"k": {}}}',
        "list.tf.json": "[]",
        "good.tf": 'resource "aws_kms_key" "ok" {\n  enable_key_rotation = true\n}\n',
    })
    run = check_iac("--output", "json", str(tmp_path))
    assert run.code == 2
    assert f"error: {tmp_path / 'broken.tf.json'}: not valid JSON" in run.stderr
    assert f"error: {tmp_path / 'list.tf.json'}: " in run.stderr
    assert "skipped" not in run.stderr
    assert verdicts(run) == {"aws_kms_key.ok": ("COMPLIANT", "ROTATION_ON")}


# --- var files ---------------------------------------------------------------------------------


def test_auto_tfvars_win_over_terraform_tfvars_and_the_message_says_where(check_iac):
    """terraform.tfvars sets rotate = false, prod.auto.tfvars (loaded after it) true; the
    exception's expiry comes from terraform.tfvars. Without the var files both keys are unknown."""
    run = check_iac("--output", "json", str(TF / "tfvars"))
    assert verdicts(run) == {
        "aws_kms_key.app": ("COMPLIANT", "ROTATION_ON"),
        "aws_kms_key.legacy": ("NOT_APPLICABLE", "EXCEPTION_VALID"),
    }
    found = by_resource(run)
    assert 'variable rotate = "true" from ' in found["aws_kms_key.app"]["message"]
    assert found["aws_kms_key.app"]["message"].rstrip(".").endswith("prod.auto.tfvars")
    assert "terraform.tfvars" in found["aws_kms_key.legacy"]["message"]
    assert run.code == 0


def test_var_file_comes_after_the_automatic_files(check_iac):
    """`--var-file` (terraform's -var-file) wins over terraform.tfvars and *.auto.tfvars."""
    run = check_iac("--output", "json", "--var-file", str(TF / "tfvars" / "env" / "lapsed.tfvars"),
                    str(TF / "tfvars"))
    assert run.code == 1
    assert verdicts(run) == {
        "aws_kms_key.app": ("NON_COMPLIANT", "ROTATION_OFF"),
        "aws_kms_key.legacy": ("NON_COMPLIANT", "EXCEPTION_EXPIRED"),
    }
    assert "lapsed.tfvars" in by_resource(run)["aws_kms_key.legacy"]["message"]


def test_var_comes_last(check_iac):
    """`--var KEY=VALUE` (terraform's -var) wins over every file."""
    run = check_iac("--output", "json", "--var-file", str(TF / "tfvars" / "env" / "lapsed.tfvars"),
                    "--var", "rotate=true", str(TF / "tfvars"))
    assert verdicts(run)["aws_kms_key.app"] == ("COMPLIANT", "ROTATION_ON")
    assert 'variable rotate = "true" from --var' in by_resource(run)["aws_kms_key.app"]["message"]


def test_tfvars_json_comes_after_tfvars(check_iac, tmp_path):
    write(tmp_path, {
        "main.tf": 'variable "rotate" {}\nresource "aws_kms_key" "k" {\n  enable_key_rotation = var.rotate\n}\n',
        "terraform.tfvars": "rotate = true\n",
        "terraform.tfvars.json": '{"rotate": false}',
    })
    run = check_iac("--output", "json", str(tmp_path))
    assert verdicts(run) == {"aws_kms_key.k": ("NON_COMPLIANT", "ROTATION_OFF")}


def test_a_malformed_var_file_is_exit_2_naming_it(check_iac, tmp_path):
    """A var file Terraform would refuse (here a reference, which variable definitions files
    cannot hold) is an error naming it; the keys are still reported."""
    root = tmp_path / "root"
    shutil.copytree(TF / "tfvars", root)
    (root / "prod.auto.tfvars").write_text("rotate = var.other\n")
    run = check_iac("--output", "json", str(root))
    assert run.code == 2
    assert f"error: {root / 'prod.auto.tfvars'}: " in run.stderr
    assert "not a literal value" in run.stderr
    assert set(verdicts(run)) == {"aws_kms_key.app", "aws_kms_key.legacy"}


def test_a_var_file_over_the_size_bound_is_refused(check_iac, tmp_path):
    big = tmp_path / "big.tfvars"
    with big.open("w") as f:
        f.write("rotate = true\n")
        f.write("# padding\n" * (33 * 1024 * 1024 // 10))
    run = check_iac("--output", "json", "--var-file", str(big), str(TF / "tfvars"))
    assert run.code == 2
    assert f"error: {big}: refused: larger than 32 MiB" in run.stderr


def test_undeclared_variables_as_terraform_treats_them(check_iac, tmp_path):
    """From a file: a warning, the run otherwise unchanged. From `--var`: an error (exit 2)."""
    root = tmp_path / "root"
    shutil.copytree(TF / "tfvars", root)
    (root / "extra.auto.tfvars").write_text('region = "eu-west-1"\n')
    run = check_iac("--output", "json", str(root))
    assert run.code == 0, run.stderr
    assert "warning: " in run.stderr and "undeclared variable region" in run.stderr
    sarif = json.loads(check_iac("--output", "sarif", str(root)).stdout)
    notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [n["level"] for n in notes] == ["warning"] and "region" in notes[0]["message"]["text"]
    cli = check_iac("--output", "json", "--var", "region=eu-west-1", str(root))
    assert cli.code == 2
    assert "--var region" in cli.stderr


def test_a_called_modules_var_files_do_not_apply(check_iac, tmp_path):
    """Only the root's var files are Terraform's: the root's terraform.tfvars reaches the child
    through the call's argument, and the terraform.tfvars of the child's directory is not read."""
    write(tmp_path, {
        "root/main.tf": 'variable "rotate_child" {}\nmodule "child" {\n  source = "../child"\n  rotate = var.rotate_child\n}\n',
        "root/terraform.tfvars": "rotate_child = true\n",
        "child/main.tf": 'variable "rotate" {}\nresource "aws_kms_key" "k" {\n  enable_key_rotation = var.rotate\n}\n',
        "child/terraform.tfvars": "rotate = false\nunused = 1\n",
    })
    run = check_iac("--output", "json", str(tmp_path))
    assert verdicts(run) == {"module.child.aws_kms_key.k": ("COMPLIANT", "ROTATION_ON")}
    assert "warning" not in run.stderr


# --- plan JSON with child modules --------------------------------------------------------------

NESTED = {
    "aws_kms_key.root": ("COMPLIANT", "ROTATION_ON"),
    'module.app["prod.eu-west-1"].module.kms.aws_kms_key.this': ("COMPLIANT", "ROTATION_ON"),
    'module.app["prod.eu-west-1"].module.kms.aws_kms_replica_key.west': ("COMPLIANT", "ROTATION_ON"),
    'module.app["dev"].module.kms.aws_kms_key.this': ("NON_COMPLIANT", "ROTATION_OFF"),
    'module.app["dev"].module.kms.aws_kms_replica_key.west': ("NON_COMPLIANT", "REPLICA_ROTATION_OFF"),
}


def test_plan_keys_two_modules_down_under_their_full_address(check_iac):
    """resource_changes of keys in module.app[*].module.kms, each replica's primary found by
    the reference in its module's configuration (its ARN is unknown until apply), also under a
    for_each key that holds a period (module.app["prod.eu-west-1"])."""
    run = check_iac("--output", "json", str(PLAN / "nested-modules.json"))
    assert verdicts(run) == NESTED


def test_plan_without_resource_changes_is_read_from_nested_child_modules(check_iac):
    """The same plan with only planned_values: child_modules are read recursively."""
    run = check_iac("--output", "json", str(PLAN / "planned-values-only.json"))
    assert verdicts(run) == NESTED
    assert "0 keys" not in run.stderr


def test_an_attribute_planned_values_omit_is_unknown(check_iac, tmp_path):
    """planned_values omits a value known only after apply: rotation omitted is UNKNOWN, not
    the provider's default false."""
    plan = json.loads((PLAN / "planned-values-only.json").read_text())
    del plan["planned_values"]["root_module"]["resources"][0]["values"]["enable_key_rotation"]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    run = check_iac("--output", "json", str(path))
    assert verdicts(run)["aws_kms_key.root"] == ("UNKNOWN", "UNKNOWN_VALUE")
    assert "enable_key_rotation is known only after apply" in by_resource(run)["aws_kms_key.root"]["message"]
