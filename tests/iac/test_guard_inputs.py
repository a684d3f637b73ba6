"""The Guard rules on the inputs Guard really gets, read by the real `cfn-guard` CLI (see
test_guard.py): raw YAML and JSON templates as users pass them, the input parameters file, and a
Guard Hook's input.

- Guard's YAML loader keeps short-form `!GetAtt Primary.Arn` as the string "Primary.Arn" under
  Fn::GetAtt, while `!GetAtt [Primary, Arn]`, the full `Fn::GetAtt:` and JSON give a list
  (cloudformation-guard, guard/src/rules/libyaml/loader.rs, handle_single_value_func_ref). The four
  are the forms the CloudFormation Template Reference documents for Fn::GetAtt.
- A quoted number ('730' in YAML, "730" in JSON) stays a string for Guard. CloudFormation accepts it
  for an Integer property such as AWS::KMS::Key RotationPeriodInDays, and a Number parameter's value
  "becomes a string" where the template references it (CloudFormation User Guide, "Parameters
  template section syntax":
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html).
- Config passes rule parameters as strings (`{"maxRotationPeriodInDays":"365"}`, the AWS Config
  Developer Guide's custom rule event example; crates/kms-rotation-core/src/params.rs reads them so), and the
  conformance pack's MaxRotationPeriodInDays is a String parameter: the parameters file a user gives
  Guard may say "365" or 365, and '' means no maximum, as for the rule.
- A Guard Hook's resource input is documented twice over in the CloudFormation Hooks User Guide,
  "Write Guard rules to evaluate resources for Guard Hooks"
  (https://docs.aws.amazon.com/cloudformation-cli/latest/hooks-userguide/guard-hooks-write-rules.html):
  its syntax names Resources.<id>.ResourceType / ResourceProperties, its example
  Resources.<id>.Type / Properties; both with HookContext and the current state under Previous. A
  stack input is the proposed template's sections at the top, with HookContext and Previous. The
  fixtures under guard-fixtures/ follow those examples with a KMS key in place of the S3 bucket.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support import FIXTURES, GUARD
from test_guard import RULES, guard_verdicts, run_guard, write_params

pytestmark = pytest.mark.usefixtures("guard_cli")  # every test runs the cfn-guard CLI

GUARD_FIXTURES = Path(__file__).resolve().parent / "guard-fixtures"  # apart from the check-iac corpus (fixtures/)
GETATT_FORMS = ["replica-getatt-short.yaml", "replica-getatt-list.yaml", "replica-getatt-long.yaml", "replica-getatt.json"]
QUOTED = ["quoted-numbers.yaml", "quoted-numbers.json"]
ABOVE_MAX = "RotationPeriodInDays is above maxRotationPeriodInDays."
OUT_OF_RANGE = "RotationPeriodInDays must be 90..2560."
BAD_MAX = "maxRotationPeriodInDays must be a whole number of days from 90 to 2560 (365 or '365'), or '' for no maximum."


@pytest.fixture
def max_365(tmp_path) -> Path:
    """maxRotationPeriodInDays as Config and the conformance pack pass it: the string "365"."""
    return write_params(tmp_path, {"maxRotationPeriodInDays": "365"}, "max-365.json")


@pytest.mark.parametrize("name", GETATT_FORMS)
def test_a_replica_fails_with_its_unrotated_primary_whatever_the_getatt_form(tmp_path, name):
    """The replica rule applies to every documented Fn::GetAtt form, short-form `!GetAtt A.Arn`
    included (the one Guard's loader reads as a string)."""
    verdicts = guard_verdicts(GUARD_FIXTURES / name, tmp_path, None)
    assert verdicts == {"RotatedPrimary": "PASS", "RotatedReplica": "PASS",
                        "UnrotatedPrimary": "FAIL", "UnrotatedReplica": "FAIL"}


def test_the_short_form_replica_fails_by_the_replica_rule_with_its_message(tmp_path):
    replica = GUARD_FIXTURES / "replica-getatt-short.yaml"
    report = run_guard(replica)
    assert report.failed_rules == {"kms_key_rotation", "kms_replica_key_rotation"}
    assert report.messages.count("EnableKeyRotation is not set: rotation is off. Set EnableKeyRotation: true "
                                 "(or record an approved exception in the kms-rotation-exception tag).") == 2


def test_a_replica_fails_when_its_primary_has_no_properties_or_is_not_declared(tmp_path):
    """A primary without Properties has rotation off (check-iac: the replica NON_COMPLIANT); a
    !GetAtt of an undeclared resource cannot be shown to rotate (check-iac: UNKNOWN), so it fails."""
    path = GUARD_FIXTURES / "replica-primary-edge-cases.yaml"
    assert guard_verdicts(path, tmp_path, None) == {"BarePrimary": "FAIL", "BareReplica": "FAIL", "OrphanReplica": "FAIL"}
    messages = run_guard(path).messages
    assert "The replica's primary does not set EnableKeyRotation: its rotation is off, so the replica's is too." in messages
    assert "PrimaryKeyArn is !GetAtt of a resource this template does not declare." in messages


@pytest.mark.parametrize("name", GETATT_FORMS + QUOTED)
def test_check_iac_agrees_on_the_loader_fixtures(check_iac, tmp_path, max_365, name):
    """check-iac, with the same maximum, gives the same verdict per key on these files."""
    path = GUARD_FIXTURES / name
    run = check_iac("--max-rotation-period-days", "365", "--output", "json", str(path))
    want = {f["resource"]: {"NON_COMPLIANT": "FAIL", "COMPLIANT": "PASS", "NOT_APPLICABLE": "PASS"}[f["complianceType"]]
            for f in run.findings()}
    assert guard_verdicts(path, tmp_path, max_365) == want


@pytest.mark.parametrize("name", QUOTED)
def test_quoted_rotation_periods_are_numbers(tmp_path, max_365, name):
    """'180' passes under a maximum of "365", '730' (as a property or as a Number parameter's quoted
    Default) is above it, '3000' is out of KMS's 90..2560 with or without a maximum."""
    path = GUARD_FIXTURES / name
    assert guard_verdicts(path, tmp_path, max_365) == {
        "QuotedKey": "PASS", "QuotedLongKey": "FAIL", "QuotedOutOfRangeKey": "FAIL", "QuotedDefaultKey": "FAIL"}
    assert guard_verdicts(path, tmp_path, None) == {
        "QuotedKey": "PASS", "QuotedLongKey": "PASS", "QuotedOutOfRangeKey": "FAIL", "QuotedDefaultKey": "PASS"}
    messages = run_guard(path, max_365).messages
    assert messages.count(ABOVE_MAX) == 3  # '730', the Default '730' and '3000'
    assert messages.count(OUT_OF_RANGE) == 1  # '3000'


@pytest.mark.parametrize("maximum", ["365", 365])
def test_the_maximum_is_read_as_a_string_or_a_number(tmp_path, maximum):
    """A key every 180 days passes and one every 730 days fails under maxRotationPeriodInDays
    "365" or 365, and the parameter itself is accepted."""
    params = write_params(tmp_path, {"maxRotationPeriodInDays": maximum})
    within = run_guard(FIXTURES / "cloudformation" / "period-too-long.yaml", params)
    assert within.failed_rules == {"kms_key_rotation"}
    assert within.messages == [ABOVE_MAX]  # SlowKey (730) only; QuarterlyKey (90) passes
    assert run_guard(FIXTURES / "cloudformation" / "compliant-basic.yaml", params).status == "PASS"


@pytest.mark.parametrize("parameters", [None, {}, {"evaluateDisabledKeys": "false"}, {"maxRotationPeriodInDays": ""}])
def test_without_a_maximum_any_period_kms_accepts_passes(tmp_path, parameters):
    """No parameters file, a file without maxRotationPeriodInDays, or '' (the pack's "not set"):
    no maximum, as the rule without maxRotationPeriodInDays; KMS's 90..2560 still holds."""
    params = None if parameters is None else write_params(tmp_path, parameters)
    assert run_guard(FIXTURES / "cloudformation" / "period-too-long.yaml", params).status == "PASS"
    assert run_guard(GUARD_FIXTURES / "quoted-numbers.yaml", params).messages == [OUT_OF_RANGE]


@pytest.mark.parametrize("maximum", ["abc", "30", 3000, " "])
def test_a_maximum_the_rule_would_refuse_fails_the_run(tmp_path, maximum):
    """The rule refuses maxRotationPeriodInDays outside 90..2560 or not a whole number; Guard fails
    with the parameter named rather than quietly applying no maximum."""
    params = write_params(tmp_path, {"maxRotationPeriodInDays": maximum})
    report = run_guard(FIXTURES / "cloudformation" / "compliant-basic.yaml", params)
    assert report.status == "FAIL"
    assert "kms_rotation_rule_parameters" in report.failed_rules


def test_a_guard_hook_resource_input_in_the_documented_example_shape(max_365):
    """Resources.<id>.Type / Properties with the proposed state: rotation turned off fails, turned
    on every 365 days passes; Previous (the current state) does not decide."""
    off = run_guard(GUARD_FIXTURES / "hook-resource-rotation-off.yaml", max_365)
    assert off.failed_rules == {"kms_key_rotation"}
    assert off.messages == ["EnableKeyRotation is not true: rotation is off."]
    assert run_guard(GUARD_FIXTURES / "hook-resource-rotation-on.yaml", max_365).status == "PASS"
    assert run_guard(GUARD_FIXTURES / "hook-resource-rotation-on.yaml").status == "PASS"


def test_a_guard_hook_resource_input_in_the_documented_syntax_with_string_values(max_365):
    """Resources.<id>.ResourceType / ResourceProperties, EnableKeyRotation "true" and
    RotationPeriodInDays "730" as strings: in bounds without a maximum, above "365"."""
    strings = GUARD_FIXTURES / "hook-resource-strings.json"
    assert run_guard(strings).status == "PASS"
    above = run_guard(strings, max_365)
    assert above.failed_rules == {"kms_key_rotation_hook"}
    assert above.messages == [ABOVE_MAX]


def test_a_guard_hook_does_not_check_a_replica_whose_primary_is_not_in_its_input(max_365):
    report = run_guard(GUARD_FIXTURES / "hook-resource-replica.yaml", max_365)
    assert report.status in ("PASS", "SKIP")
    assert "kms_replica_key_rotation" not in report.failed_rules


def test_a_guard_hook_stack_input_is_read_as_the_proposed_template(max_365):
    """The stack input's proposed template has an unrotated primary and its replica: both fail;
    the Previous template (rotation on) is not evaluated."""
    report = run_guard(GUARD_FIXTURES / "hook-stack.yaml", max_365)
    assert report.failed_rules == {"kms_key_rotation", "kms_replica_key_rotation"}
    assert len(report.messages) == 2



def test_the_default_summary_of_the_cli_cannot_print_a_failure_in_the_documented_hook_syntax(max_365):
    """What docs/shift-left.md tells a user trying a ResourceType-shaped input with the CLI: the
    default output (single-line summary) looks up the failing resource's Type and panics, exit 101;
    `-o json` (run_guard) reports the failure. When a new cfn-guard fixes this, drop the advice."""
    data = GUARD_FIXTURES / "hook-resource-strings.json"
    proc = subprocess.run([str(GUARD), "validate", "-r", str(RULES), "-d", str(data), "-i", str(max_365)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 101 and "panicked" in proc.stderr, (proc.returncode, proc.stderr[-500:])
    assert run_guard(data, max_365).status == "FAIL"


@pytest.mark.parametrize("data", [
    # A template's key with an empty map of properties: CloudFormation creates it with rotation off.
    "Resources:\n  K:\n    Type: AWS::KMS::Key\n    Properties: {}\n",
    # A Guard Hook's resource input (documented syntax) with empty or no ResourceProperties.
    '{"Resources": {"K": {"ResourceType": "AWS::KMS::Key", "ResourceProperties": {}}}}',
    '{"Resources": {"K": {"ResourceType": "AWS::KMS::Key"}}}',
    # The documented example's shape.
    '{"Resources": {"K": {"Type": "AWS::KMS::Key", "Properties": {}}}}',
])
def test_a_key_with_no_or_empty_properties_fails(tmp_path, data):
    """Guard skips a block over an empty map; such a key has rotation off (AWS::KMS::Key
    EnableKeyRotation defaults to false), and check-iac says ROTATION_OFF. The rules at b483cef and
    before this test passed the first and the last."""
    path = tmp_path / ("key.yaml" if data.startswith("Resources") else "key.json")
    path.write_text(data)
    report = run_guard(path)
    assert report.status == "FAIL", report
    assert any("rotation off" in m for m in report.messages), report.messages
