"""The IaC modules of iac/: cfn-lint, checkov, terraform fmt, HCL parsing, each module COMPLIANT
by check-iac, the key policy every module writes (the account statement first), one provider per
Terraform module, and the approved-exception path the SCP leaves open.

The version floors and `terraform init` on the example roots are in test_terraform_floors.py and
test_terraform_init.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import hcl2
import pytest

from cfnlint.decode import cfn_yaml

from support import ROOT, VENV_BIN, checkov_offline_env, load_tf, one, scp

CFN = ROOT / "iac" / "cloudformation"
TF_ROOT = ROOT / "iac" / "terraform"
TF = TF_ROOT / "kms-key"
TF_REPLICA = TF_ROOT / "kms-replica-key"
TF_POLICY = TF_ROOT / "kms-key-policy"


@pytest.mark.parametrize("template", sorted(CFN.glob("*.yaml")), ids=lambda p: p.name)
def test_cfn_lint_is_clean(template):
    proc = subprocess.run([str(VENV_BIN / "cfn-lint"), "--format", "json", str(template)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_checkov_passes_every_check_on_the_modules():
    proc = subprocess.run([str(VENV_BIN / "checkov"), "-d", "iac", "--compact", "-o", "json"],
                          capture_output=True, text=True, cwd=ROOT, env=checkov_offline_env(), timeout=600)
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert {r["check_type"] for r in reports} == {"cloudformation", "terraform"}
    failed = [(f["check_id"], f["resource"]) for r in reports for f in r["results"]["failed_checks"]]
    assert not failed
    passed = {f["check_id"] for r in reports for f in r["results"]["passed_checks"]}
    assert "CKV_AWS_7" in passed  # rotation, checkov's own way
    # The only skips are the documented ones (iac/terraform/kms-key-policy/main.tf): a key
    # policy's resource "*" is the key itself, and its account statement is KMS's default one.
    skipped = {(f["check_id"], f["resource"].rsplit(".", 2)[-2]) for r in reports for f in r["results"]["skipped_checks"]}
    assert skipped == {(c, "aws_iam_policy_document") for c in ("CKV_AWS_109", "CKV_AWS_111", "CKV_AWS_356")}


def test_terraform_fmt():
    """`terraform fmt -check` over every module and example. terraform is part of the image
    (/usr/local/bin/terraform): its absence fails the test."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail("terraform is not on PATH; it is part of the image (/usr/local/bin/terraform)")
    proc = subprocess.run([terraform, "fmt", "-check", "-recursive", "-diff", str(TF_ROOT)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", sorted(TF_ROOT.rglob("*.tf")), ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_terraform_parses(path):
    with path.open() as f:
        body = hcl2.load(f)
    assert body


def test_terraform_variables_rotation_on_by_default_and_period_range():
    with (TF / "variables.tf").open() as f:
        variables = {k: v for block in hcl2.load(f)["variable"] for k, v in block.items()}
    # bc-python-hcl2 (checkov's parser) wraps attribute values in one-element lists (support.one).
    assert one(variables["enable_key_rotation"]["default"]) is True
    assert one(variables["rotation_period_in_days"]["default"]) == 365
    condition = str(one(one(variables["rotation_period_in_days"]["validation"])["condition"]))
    assert ">= 90" in condition and "<= 2560" in condition


def test_cloudformation_parameters_rotation_on_by_default_and_period_range():
    text = (CFN / "kms-key.yaml").read_text()
    period = re.search(r"  RotationPeriodInDays:\n((?:    .*\n)+)", text).group(1)
    assert "MinValue: 90" in period and "MaxValue: 2560" in period and "Default: 365" in period
    rotation = re.search(r"  EnableKeyRotation:\n((?:    .*\n)+)", text).group(1)
    assert 'Default: "true"' in rotation


def test_cloudformation_key_is_compliant(check_iac):
    run = check_iac("--max-rotation-period-days", "365", "--output", "json", str(CFN / "kms-key.yaml"))
    assert run.code == 0, run.stdout + run.stderr
    [key] = run.findings()
    assert (key["resource"], key["complianceType"], key["reason"]) == ("Key", "COMPLIANT", "ROTATION_ON")


def test_cloudformation_replica_follows_a_primary_declared_elsewhere(check_iac):
    """A replica stack is in another Region than its primary's, so its primary is never in the same
    template: check-iac says so (UNKNOWN_PRIMARY) rather than guess; the primary's template is
    checked COMPLIANT above."""
    [replica] = check_iac("--output", "json", str(CFN / "kms-replica-key.yaml")).findings()
    assert (replica["complianceType"], replica["reason"]) == ("UNKNOWN", "UNKNOWN_PRIMARY")


def with_defaults(tmp_path, **defaults):
    module = tmp_path / "kms-key"
    shutil.copytree(TF, module)
    shutil.copytree(TF_POLICY, tmp_path / "kms-key-policy")
    text = (module / "variables.tf").read_text()
    for name, value in defaults.items():
        text, n = re.subn(rf'(variable "{name}" \{{.*?default\s*=\s*)[^\n]+', rf"\g<1>{value}", text,
                          count=1, flags=re.S)
        assert n == 1, name
    (module / "variables.tf").write_text(text)
    return module


def test_terraform_key_is_compliant(check_iac):
    run = check_iac("--max-rotation-period-days", "365", "--output", "json", str(TF))
    assert run.code == 0, run.stdout + run.stderr
    assert [(f["resource"], f["complianceType"]) for f in run.findings()] == [("aws_kms_key.this", "COMPLIANT")]


def test_terraform_multi_region_primary_is_compliant(check_iac, tmp_path):
    module = with_defaults(tmp_path, multi_region="true")
    run = check_iac("--max-rotation-period-days", "365", "--output", "json", str(module))
    assert run.code == 0, run.stdout + run.stderr
    assert [(f["resource"], f["complianceType"]) for f in run.findings()] == [("aws_kms_key.this", "COMPLIANT")]


def test_terraform_replica_module_follows_a_primary_declared_elsewhere(check_iac):
    """The replica module takes its primary as a variable (the primary is in another Region's
    provider, so in another module call): check-iac, which follows module calls but not module
    outputs, says UNKNOWN_PRIMARY rather than guess, as for the CloudFormation
    replica stack. The primary's module is checked COMPLIANT above."""
    [replica] = check_iac("--output", "json", str(TF_REPLICA)).findings()
    assert (replica["resource"], replica["complianceType"], replica["reason"]) == (
        "aws_kms_replica_key.this", "UNKNOWN", "UNKNOWN_PRIMARY")


def test_terraform_exception_tag_is_recorded_and_honoured(check_iac, tmp_path):
    module = with_defaults(tmp_path, enable_key_rotation="false",
                           rotation_exception='"owner=payments expires=2099-12-31 ticket=SEC-1"')
    [key] = check_iac("--output", "json", str(module)).findings()
    assert (key["complianceType"], key["reason"]) == ("NOT_APPLICABLE", "EXCEPTION_VALID")
    module = with_defaults(tmp_path / "off", enable_key_rotation="false")
    [key] = check_iac("--output", "json", str(module)).findings()
    assert (key["complianceType"], key["reason"]) == ("NON_COMPLIANT", "ROTATION_OFF")


# --- The key policy --------------------------------------------------------------------------
# KMS ignores IAM policies for a key unless its key policy allows it: "Unless the key policy
# explicitly allows it, you cannot use IAM policies to allow access to a KMS key" (AWS KMS
# Developer Guide, "Key policies in AWS KMS"). The default key policy's first statement gives the
# account (arn:<partition>:iam::<account>:root) kms:* ("Default key policy"); the guardrail's own
# roles get their KMS permissions from IAM, so every key the modules make needs it. It also lets a
# deployer allowed kms:PutKeyPolicy by IAM pass CreateKey's and ReplicateKey's policy lockout safety
# check (KMS API reference, CreateKey and ReplicateKey, "BypassPolicyLockoutSafetyCheck").

ACCOUNT_STATEMENT_CFN = {"Sid": "EnableIAMPolicies", "Effect": "Allow",
                         "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                         "Action": "kms:*", "Resource": "*"}


def cfn_template(name: str) -> dict:
    return cfn_yaml.loads((CFN / name).read_text(), str(CFN / name))


@pytest.mark.parametrize(("template", "resource", "sids"), [
    ("kms-key.yaml", "Key", ["EnableIAMPolicies", "KeyAdministration", "KeyUse", "GrantsForAwsServicesOnly"]),
    ("kms-replica-key.yaml", "ReplicaKey", ["EnableIAMPolicies", "KeyAdministration", "KeyUse"]),
])
def test_cloudformation_key_policy_starts_with_the_account_statement(template, resource, sids):
    statements = cfn_template(template)["Resources"][resource]["Properties"]["KeyPolicy"]["Statement"]
    assert json.loads(json.dumps(statements[0])) == ACCOUNT_STATEMENT_CFN
    assert [st["Sid"] for st in statements] == sids


def test_terraform_key_policy_starts_with_the_account_statement():
    """The policy document (iac/terraform/kms-key-policy) builds the account's ARN from the
    partition and account the provider is in (data sources aws_partition, aws_caller_identity)."""
    body = load_tf(TF_POLICY)
    assert {k for d in body["data"] for k in d} == {"aws_partition", "aws_caller_identity", "aws_iam_policy_document"}
    [document] = [d["aws_iam_policy_document"]["key"] for d in body["data"] if "aws_iam_policy_document" in d]
    first = document["statement"][0]
    assert one(first["sid"]) == "EnableIAMPolicies"
    assert one(first.get("effect", ["Allow"])) == "Allow"
    assert [(one(p["type"]), one(p["identifiers"])) for p in first["principals"]] == [
        ("AWS", ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"])]
    assert (one(first["actions"]), one(first["resources"])) == (["kms:*"], ["*"])
    assert [one(st["sid"]) for st in document["statement"]] == [
        "EnableIAMPolicies", "KeyAdministration", "KeyUse", "GrantsForAwsServicesOnly"]
    [output] = body["output"]
    assert one(output["json"]["value"]) == "${data.aws_iam_policy_document.key.json}"


@pytest.mark.parametrize(("module", "resource"), [(TF, "aws_kms_key"), (TF_REPLICA, "aws_kms_replica_key")],
                         ids=["kms-key", "kms-replica-key"])
def test_terraform_key_and_replica_take_the_one_policy_document(module, resource):
    """No copy of the statements: both modules call ../kms-key-policy and use its output."""
    body = load_tf(module)
    assert "data" not in body
    [call] = [m["policy"] for m in body["module"]]
    assert one(call["source"]) == "../kms-key-policy"
    [key] = [r[resource]["this"] for r in body["resource"] if resource in r]
    assert one(key["policy"]) == "${module.policy.json}"


# --- One provider for one Region ------------------------------------------------------------

@pytest.mark.parametrize("module", [TF, TF_REPLICA, TF_POLICY], ids=lambda p: p.name)
def test_terraform_modules_need_only_the_default_provider(module):
    """`configuration_aliases` makes every caller pass that provider (Terraform, "Providers Within
    Modules"); terraform init refuses a single-provider call of the module of b483cef
    (test_terraform_init.py). No module declares one or picks a provider per resource."""
    body = load_tf(module)
    [settings] = body["terraform"]
    [providers] = settings["required_providers"]
    assert "configuration_aliases" not in one(providers["aws"])
    resources = [attrs for r in body.get("resource", []) for inst in r.values() for attrs in inst.values()]
    assert resources == [] or all("provider" not in attrs for attrs in resources)


def test_create_replica_is_refused_with_a_message_naming_the_replica_module():
    """Old callers that still pass create_replica = true get an error that says where replicas
    went, not a key silently without its replica (the validation runs at plan and validate)."""
    variables = {k: v for d in load_tf(TF)["variable"] for k, v in d.items()}
    [validation] = variables["create_replica"]["validation"]
    assert one(validation["condition"]) == "${!var.create_replica}"
    assert "kms-replica-key" in one(validation["error_message"])
    assert one(variables["create_replica"]["default"]) is False
    # Rotation off without a recorded exception stays refused.
    [rotation] = variables["enable_key_rotation"]["validation"]
    assert one(rotation["condition"]) == "${var.enable_key_rotation || var.rotation_exception != None}"


# --- The exception tag and the SCP ----------------------------------------------------------
# conformance-pack/scp-deny-disable-key-rotation.json (DenyChangingRotationExceptionTag) denies
# kms:CreateKey, kms:ReplicateKey, kms:TagResource and kms:UntagResource whose request carries the
# exception tag key (aws:TagKeys) unless aws:PrincipalArn is the role KmsRotationExceptionApprover
# (any path). For a role session aws:PrincipalArn is the role's ARN (IAM User Guide, "AWS global
# condition context keys", aws:PrincipalArn), so a CloudFormation service role or a Terraform
# provider that assumes that role is the approver.

def scp_guard() -> tuple[str, str, set[str]]:
    """(tag key, approver role name, denied actions) of the SCP statement that guards the tag."""
    [statement] = [s for s in scp()["Statement"] if s["Sid"] == "DenyChangingRotationExceptionTag"]
    tag = statement["Condition"]["ForAnyValue:StringEquals"]["aws:TagKeys"]
    # The role by name, with or without a path, or IAM Identity Center's role for a permission set
    # of that name (AWSReservedSSO_<name>_<suffix>): one name in all.
    names = [arn.rsplit("/", 1)[1] for arn in statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]]
    roles = {n.removeprefix("AWSReservedSSO_").rsplit("_", 1)[0] if n.startswith("AWSReservedSSO_") else n
             for n in names}
    [role] = roles
    return tag, role, set(statement["Action"])


def cfn_parameter_description(template: str, name: str) -> str:
    return " ".join(cfn_template(template)["Parameters"][name]["Description"].split())


def tf_variable(module, name: str) -> dict:
    return {k: v for d in load_tf(module)["variable"] for k, v in d.items()}[name]


def test_the_modules_tag_the_key_the_scp_guards():
    tag, _, actions = scp_guard()
    assert {"kms:CreateKey", "kms:ReplicateKey", "kms:TagResource"} <= actions
    for template, resource in (("kms-key.yaml", "Key"), ("kms-replica-key.yaml", "ReplicaKey")):
        tags = cfn_template(template)["Resources"][resource]["Properties"]["Tags"]
        assert tags[1]["Fn::If"][1]["Key"] == tag
    for module in (TF, TF_REPLICA):
        assert one(tf_variable(module, "exception_tag_key")["default"]) == tag


@pytest.mark.parametrize(("template", "action"), [("kms-key.yaml", "kms:CreateKey"), ("kms-replica-key.yaml", "kms:ReplicateKey")])
def test_cloudformation_says_how_an_approved_exception_is_deployed(template, action):
    _, role, _ = scp_guard()
    text = cfn_parameter_description(template, "RotationException")
    assert role in text and action in text and "--role-arn" in text
    assert role in " ".join(cfn_template(template)["Description"].split())


@pytest.mark.parametrize(("module", "action"), [(TF, "kms:CreateKey"), (TF_REPLICA, "kms:ReplicateKey")],
                         ids=["kms-key", "kms-replica-key"])
def test_terraform_says_how_an_approved_exception_is_deployed(module, action):
    _, role, _ = scp_guard()
    text = " ".join(one(tf_variable(module, "rotation_exception")["description"]).split())
    assert role in text and action in text and "assume" in text
