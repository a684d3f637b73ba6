"""What docs/deploy.md says about StackSet operations and automatic remediation, against AWS's models.

botocore's service models carry the text of the AWS API references the AWS CLI is generated from:

- CloudFormation: parameter overrides never reach accounts that join later (UpdateStackInstances
  DeploymentTargets, https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackInstances.html);
  one operation at a time unless ManagedExecution is active (CreateStackSet ManagedExecution,
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html); no
  waiter for stack set operations, whose statuses are those of DescribeStackSetOperation.
- Config: RetryAttemptSeconds is a window in which MaximumAutomaticAttempts attempts may be made,
  after which Config adds a remediation exception for the resource
  (https://docs.aws.amazon.com/config/latest/APIReference/API_RemediationConfiguration.html), and a
  remediation exception blocks automatic remediation until it is deleted
  (https://docs.aws.amazon.com/config/latest/APIReference/API_DescribeRemediationExceptions.html).

The b483cef guide fails here: it said the 5 attempts come "60 seconds apart", created its stack set
without managed execution and ran a second create-stack-instances right after the first.
"""

from __future__ import annotations

import re

import botocore.session
import pytest

from cfn_render import GUIDE, ORGANIZATION_SECTION, expanded_shell, guide_section, guide_stack_sets, sh_blocks
from support import PACK_DIR, load_cfn
from test_smoke_script import aws_calls, check_call

SESSION = botocore.session.get_session()
CLOUDFORMATION = SESSION.get_service_model("cloudformation")
CONFIG = SESSION.get_service_model("config")
TEXT = GUIDE.read_text()
ORGANIZATION = guide_section(TEXT, *ORGANIZATION_SECTION)
AUTOMATIC_REMEDIATION = guide_section(TEXT, "### Turning on automatic remediation", "## 4. ")
PROVEN = guide_section(TEXT, "## 5. ", "## 6. ")
# AWS CLI commands that are the CLI's own (customizations), not API operations in botocore.
CLI_CUSTOMIZATIONS = {("s3", "cp"), ("s3", "mb"), ("s3", "sync"), ("cloudformation", "deploy"),
                      ("cloudformation", "package")}


def plain(html: str) -> str:
    """A model's documentation as text: tags dropped, whitespace collapsed, lower case."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip().lower()


def guide_calls() -> list[tuple[int, list[str]]]:
    calls = [call for block in sh_blocks(TEXT) for call in aws_calls(block)]
    return [(n, tokens) for n, tokens in calls if tuple(tokens[:2]) not in CLI_CUSTOMIZATIONS]


# --------------------------------------------------------------------------- StackSets


def test_overrides_do_not_reach_accounts_that_join_later_per_the_model():
    targets = CLOUDFORMATION.operation_model("UpdateStackInstances").input_shape.members["DeploymentTargets"]
    assert ("accounts added to the target ous and their child ous in the future won't use the overridden values"
            in plain(targets.documentation))
    assert "--parameter-overrides" not in "\n".join(sh_blocks(ORGANIZATION))


def test_stack_sets_are_created_with_managed_execution():
    managed = CLOUDFORMATION.shape_for("ManagedExecution").members["Active"].documentation
    assert "queues conflicting operations" in plain(managed)
    assert "performs one operation at a time in request order" in plain(managed)  # when false
    conflict = CLOUDFORMATION.shape_for("OperationInProgressException").documentation
    assert "only one operation can be performed for a stack set at a given time" in plain(conflict)
    for operation in ("CreateStackInstances", "UpdateStackSet", "UpdateStackInstances"):
        errors = {e.name for e in CLOUDFORMATION.operation_model(operation).error_shapes}
        assert "OperationInProgressException" in errors, operation
    stack_sets = guide_stack_sets(expanded_shell(ORGANIZATION)[0])
    assert stack_sets
    for name, stack_set in stack_sets.items():
        assert stack_set.options.get("--managed-execution") == ["Active=true"], name


def test_the_guide_polls_stack_set_operations_because_no_waiter_exists():
    waiters = SESSION.get_waiter_model("cloudformation").waiter_names
    assert not [w for w in waiters if "StackSet" in w], waiters
    assert "aws cloudformation wait stack-set" not in TEXT
    calls = {" ".join(tokens[:2]) for _, tokens in aws_calls("\n".join(sh_blocks(ORGANIZATION)))}
    assert "cloudformation describe-stack-set-operation" in calls
    statuses = set(CLOUDFORMATION.shape_for("StackSetOperationStatus").enum)
    loop = ORGANIZATION[ORGANIZATION.index("wait_for_operation() {"):]
    for terminal in ("SUCCEEDED", "FAILED", "STOPPED"):
        assert terminal in statuses and terminal in loop, terminal


# Quotes of section 2 that are on AWS's pages but not yet in the venv's botocore model.
QUOTED_FROM_PAGES = {
    "don't apply to AutoDeployment":
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperationPreferences.html",
}


def model_text(service: str) -> str:
    """Every operation's and every shape member's documentation of one service model, as text."""
    model = SESSION.get_service_model(service)
    parts = [model.operation_model(op).documentation for op in model.operation_names]
    for name in model.shape_names:
        shape = model.shape_for(name)
        parts.append(shape.documentation)
        parts += [member.documentation for member in getattr(shape, "members", {}).values()]
    return plain(" ".join(p for p in parts if p))


def test_every_quote_of_section_2_is_the_text_of_an_aws_model_or_page():
    prose = re.sub(r"\s+", " ", re.sub(r"```sh\n.*?```", "", ORGANIZATION, flags=re.S))
    quotes = re.findall(r'"([^"]{20,})"', prose)
    assert len(quotes) >= 5
    models = model_text("cloudformation") + " " + model_text("lambda")
    for quote in quotes:
        if quote in QUOTED_FROM_PAGES:
            assert QUOTED_FROM_PAGES[quote] in ORGANIZATION, quote
        else:
            assert plain(quote.replace("`", "")) in models, quote


CALLS = guide_calls()


@pytest.mark.parametrize("line,tokens", CALLS, ids=[f"{n}-{' '.join(t[:2])}" for n, t in CALLS])
def test_every_aws_call_of_the_guide_exists_in_botocore(line, tokens):
    """Options, shorthand keys and required parameters, as for the smoke test (test_smoke_script.py)."""
    assert check_call(tokens) == [], f"docs/deploy.md: aws {' '.join(tokens[:2])}"


def test_the_guide_has_the_calls_it_promises():
    commands = {" ".join(tokens[:2]) for _, tokens in CALLS}
    assert {
        "cloudformation create-stack-set", "cloudformation create-stack-instances",
        "cloudformation describe-stack-set-operation", "cloudformation update-stack-set",
        "s3api put-bucket-policy", "configservice describe-remediation-exceptions",
        "configservice delete-remediation-exceptions", "configservice start-remediation-execution",
    } <= commands


# --------------------------------------------------------------------------- automatic remediation


def remediation_docs() -> str:
    shape = CONFIG.shape_for("RemediationConfiguration")
    parts = [shape.members[m].documentation for m in ("MaximumAutomaticAttempts", "RetryAttemptSeconds")]
    parts += [CONFIG.operation_model(op).documentation
              for op in ("DescribeRemediationExceptions", "DeleteRemediationExceptions", "PutRemediationExceptions")]
    return plain(" ".join(parts))


def test_the_model_says_retry_seconds_is_a_window_ending_in_an_exception():
    docs = remediation_docs()
    assert "time window to determine whether or not to add a remediation exception" in docs
    assert "a remediation exception will be added to the resource" in docs
    assert "remediation exceptions blocks auto-remediation until the exception is cleared" in docs


def test_the_guide_says_what_the_model_says_about_failed_attempts():
    prose = re.sub(r"```sh\n.*?```", "", AUTOMATIC_REMEDIATION, flags=re.S)
    text = re.sub(r"\s+", " ", prose)
    assert "60 seconds apart" not in TEXT
    assert "not a delay between attempts" in text and "time window" in text
    assert "remediation exception" in text and "does **not** bring automatic remediation back" in text
    # Every phrase the section quotes is the model's text.
    quotes = [q.replace("`", "") for q in re.findall(r'"([^"]{20,})"', text)]
    assert len(quotes) >= 2
    for quote in quotes:
        assert plain(quote) in remediation_docs(), quote


def test_the_guide_states_the_packs_own_retry_settings():
    pack = load_cfn(PACK_DIR / "kms-rotation-conformance-pack.yaml")
    remediation = pack["Resources"]["KmsRotationRemediation"]["Properties"]
    for name in ("MaximumAutomaticAttempts", "RetryAttemptSeconds"):
        assert f"`{name}: {remediation[name]}`" in AUTOMATIC_REMEDIATION, name


def test_exception_keys_and_remediation_keys_are_spelled_as_their_shapes():
    """RemediationExceptionResourceKey: ResourceType/ResourceId; ResourceKey: resourceType/resourceId."""
    assert set(CONFIG.shape_for("RemediationExceptionResourceKey").members) == {"ResourceType", "ResourceId"}
    assert set(CONFIG.shape_for("ResourceKey").members) == {"resourceType", "resourceId"}
    calls = {tokens[1]: " ".join(tokens) for _, tokens in aws_calls("\n".join(sh_blocks(AUTOMATIC_REMEDIATION)))}
    assert "ResourceType=AWS::KMS::Key,ResourceId=" in calls["delete-remediation-exceptions"]
    assert "resourceType=AWS::KMS::Key,resourceId=" in calls["start-remediation-execution"]


# --------------------------------------------------------------------------- what is proven


def test_section_5_says_what_is_proven_here_and_links_the_policy_simulation():
    assert "](authorization.md)" in PROVEN
    for name in ("test_stackset_new_accounts.py", "test_stackset_guide.py"):
        assert name in PROVEN, name
    assert "Only an AWS account can prove" in PROVEN
