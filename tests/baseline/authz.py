"""Authorization as AWS decides it, simulated with a real policy engine: principalmapper 1.1.5
(NCC Group's PMapper, AGPL, used here as a test-only tool).

`decide()` asks principalmapper's `local_check_authorization_full`, which evaluates identity
policies, a resource policy (here a KMS key policy or a role's trust policy) and SCPs with IAM's
evaluation logic, including KMS's rule that a key policy must allow the principal or its account
(https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html: "Unless the key policy
explicitly allows it, you cannot use IAM policies to allow access to a KMS key"). What it does not
model is listed, and tested by hand, in docs/authorization.md.

This module also turns the key policies of the IaC modules into IAM JSON: CloudFormation through
support.Resolver, Terraform's `data "aws_iam_policy_document"` through python-hcl2 (`hcl2`).
"""

from __future__ import annotations

import collections
import collections.abc
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parliament import iam_definition

from support import ACCOUNT_ID, PARTITION, REGION, ROOT, Resolver, as_list, load_cfn, load_tf, one, sar_privilege, scp

# principalmapper 1.1.5's util/case_insensitive_dict.py does `from collections import Mapping,
# MutableMapping`; those aliases were removed from `collections` in Python 3.10 (they live in
# collections.abc). Restore them before the first principalmapper import - here and nowhere else.
for _name in ("Mapping", "MutableMapping"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

from principalmapper.common.nodes import Node  # noqa: E402 - needs the aliases above
from principalmapper.common.policies import Policy  # noqa: E402
from principalmapper.querying.local_policy_simulation import resource_policy_matching_statements  # noqa: E402
from principalmapper.querying.query_interface import _check_if_service_linked_role, local_check_authorization_full  # noqa: E402
from principalmapper.util.case_insensitive_dict import CaseInsensitiveDict  # noqa: E402

IAC_DIR = ROOT / "iac"

# The AWS managed SCP FullAWSAccess. AWS Organizations attaches it to the root, every OU and every
# account when it is created (Organizations User Guide, "SCP evaluation",
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_evaluation.html):
# an SCP is an allow list, and an action passes only if an SCP at every level allows it. Our SCP
# only denies, so it works next to FullAWSAccess, as on every real organization.
FULL_AWS_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# An "AdministratorAccess"-like identity policy.
ADMINISTRATOR_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}

# The AWS default key policy (KMS Developer Guide, "Default key policy",
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html): the account gets
# kms:*, which is what lets IAM policies grant access to the key.
DEFAULT_KEY_POLICY = {
    "Version": "2012-10-17",
    "Id": "key-default-1",
    "Statement": [{
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{PARTITION}:iam::{ACCOUNT_ID}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }],
}


def scp_groups() -> list[list[Policy]]:
    """The SCPs over a member account, one group per level of the organization: our SCP attached
    at the root (docs/deploy.md), FullAWSAccess at the root and on the account."""
    full = Policy("arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess", "FullAWSAccess",
                  FULL_AWS_ACCESS)
    ours = Policy("arn:aws:organizations::999988887777:policy/o-abcdefghij/service_control_policy/p-kmsrot",
                  "kms-rotation-guardrail", scp())
    return [[full, ours], [full]]


# --------------------------------------------------------------------------- principals


def account_of(arn: str) -> str:
    return arn.split(":")[4]


def principal(arn: str, policies: list[dict] | None = None, trust: dict | None = None) -> Node:
    """An IAM role as principalmapper's Node: its ARN (with path), its identity policies."""
    unique = "AROA" + hashlib.sha256(arn.encode()).hexdigest()[:17].upper()
    attached = [Policy(arn, f"policy-{i}", doc) for i, doc in enumerate(policies or [])]
    return Node(arn, unique, attached, None, trust if trust is not None else {}, None, 0, False, False, None, False, None)


def role_arn(name: str, path: str = "/", account: str = ACCOUNT_ID) -> str:
    return f"arn:{PARTITION}:iam::{account}:role{path}{name}"


# --------------------------------------------------------------------------- requests


def sar_resource_type(action: str) -> str:
    """The resource type a request for `action` is authorized against: the first one the Service
    Authorization Reference names for it, or "" (Resource "*") when it names none."""
    types = [r["resource_type"].rstrip("*") for r in sar_privilege(action)["resource_types"]]
    return next((t for t in types if t), "")


def sar_arn_template(action: str, resource_type: str) -> str:
    prefix = action.split(":")[0]
    service = next(s for s in iam_definition if s["prefix"] == prefix)
    return next(r["arn"] for r in service["resources"] if r["resource"] == resource_type)


def resource_arn(action: str, key_arn: str) -> str:
    """The resource of a request for `action` in the member account (REGION): the key for key
    actions, "*" for actions without resource types."""
    kind = sar_resource_type(action)
    arns = {
        "": "*",
        "key": key_arn,
        "ConfigRule": f"arn:{PARTITION}:config:{REGION}:{ACCOUNT_ID}:config-rule/config-rule-ab12cd",
        "hub": f"arn:{PARTITION}:securityhub:{REGION}:{ACCOUNT_ID}:hub/default",
        # BatchImportFindings with the default product: the account's own product ARN.
        "product": f"arn:{PARTITION}:securityhub:{REGION}:{ACCOUNT_ID}:product/{ACCOUNT_ID}/default",
        "account": f"arn:{PARTITION}:account::{ACCOUNT_ID}:account",
        # PutEvents of the exception notices: the default bus (crates/kms-rotation-core/src/notice.rs).
        "event-bus": f"arn:{PARTITION}:events:{REGION}:{ACCOUNT_ID}:event-bus/default",
    }
    return arns[kind]


def is_key_action(action: str) -> bool:
    """KMS authorizes it against a key, so the key policy must allow it (Service Authorization
    Reference resource type `key`; the KMS permissions reference calls these "Key policy")."""
    return sar_resource_type(action) == "key"


def context(node: Node, action: str, **extra: Any) -> dict[str, Any]:
    """The request context keys the request carries, given explicitly (principalmapper infers only
    aws:PrincipalArn, aws:PrincipalAccount, aws:userid, aws:username, aws:SecureTransport, the times
    and principal tags). aws:PrincipalArn of a role session is the role's ARN (IAM global condition
    keys, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn);
    kms:CallerAccount is in every KMS request (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html)."""
    keys: dict[str, Any] = {"aws:PrincipalArn": node.arn, "aws:PrincipalAccount": account_of(node.arn)}
    if action.startswith("kms:"):
        keys["kms:CallerAccount"] = account_of(node.arn)
    keys.update(extra)
    return keys


def decide(node: Node, action: str, resource: str, keys: dict[str, Any], *, resource_policy: dict | None = None,
           resource_owner: str = ACCOUNT_ID, scps: list[list[Policy]] | None = None) -> bool:
    """True if AWS would allow the request (principalmapper's full local evaluation)."""
    return local_check_authorization_full(
        node, action, resource, CaseInsensitiveDict(keys),
        resource_policy, resource_owner if resource_policy is not None else None,
        scp_groups() if scps is None else scps, None,
    )


def service_may(service: str, action: str, resource: str, resource_policy: dict, keys: dict[str, Any]) -> bool:
    """A service principal (ssm.amazonaws.com) under a resource policy alone: an Allow statement
    names it and no Deny does (principalmapper's statement matcher; services carry no identity
    policy and no SCP applies to them)."""
    matching = resource_policy_matching_statements(service, resource_policy, action, resource, CaseInsensitiveDict(keys))
    return any(s["Effect"] == "Allow" for s in matching) and not any(s["Effect"] == "Deny" for s in matching)


def engine_treats_as_service_linked(node: Node) -> bool:
    """principalmapper's own test for "SCPs do not apply": a role named AWSServiceRoleFor*."""
    return _check_if_service_linked_role(node)


# --------------------------------------------------------------------------- CloudFormation keys


def cfn_key_policy(template: Path, parameters: dict[str, str]) -> dict:
    """The key policy of the one AWS::KMS::Key or AWS::KMS::ReplicaKey of a template, rendered.
    (support.Resolver keeps a CommaDelimitedList parameter as its text: give one ARN each.)"""
    resolver = Resolver(load_cfn(template), parameters)
    [policy] = [
        props["KeyPolicy"]
        for kind in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey")
        for _, props in resolver.resources(kind)
    ]
    return policy


# --------------------------------------------------------------------------- Terraform keys
#
# bc-python-hcl2 (`import hcl2`) gives every attribute as a one-element list and every expression
# as "${...}" text. Only the expressions the key policy needs are evaluated: var.*, local.*,
# module outputs, data.aws_partition.*.partition, data.aws_caller_identity.*.account_id and
# data.aws_iam_policy_document.*.json. Anything else fails loudly rather than being guessed.

TF_DIR = IAC_DIR / "terraform"
WHOLE = re.compile(r"^\$\{([^{}]+)\}$")
PART = re.compile(r"\$\{([^{}]+)\}")
REFERENCE = re.compile(r"^[a-z_][a-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")


def named_blocks(body: dict[str, list], kind: str) -> dict[str, dict]:
    """{name: block} of `variable`, `output`, `module` blocks."""
    return {name: block for entry in body.get(kind, []) for name, block in entry.items()}


def typed_blocks(body: dict[str, list], kind: str) -> dict[tuple[str, str], dict]:
    """{(type, name): block} of `resource` or `data` blocks."""
    return {
        (type_, name): block
        for entry in body.get(kind, [])
        for type_, by_name in entry.items()
        for name, block in by_name.items()
    }


def _doc_names(directory: Path) -> set[str]:
    return {name for (type_, name) in typed_blocks(load_tf(directory), "data") if type_ == "aws_iam_policy_document"}


@dataclass
class TfModule:
    """One instance of a Terraform module, with its input variables' values."""

    directory: Path
    inputs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.body = load_tf(self.directory)
        self.documents_used: set[tuple[Path, str]] = set()

    # -- expressions

    def value(self, raw: Any) -> Any:
        """An attribute value: hcl2's one-element list unwrapped, its expressions evaluated."""
        return self.evaluate(one(raw))

    def evaluate(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.evaluate(item) for item in node]
        if isinstance(node, dict):
            return {k: self.evaluate(v) for k, v in node.items() if not k.startswith("__")}
        if not isinstance(node, str):
            return node
        whole = WHOLE.match(node)
        if whole:
            return self.reference(whole.group(1).strip())
        return PART.sub(lambda m: str(self.reference(m.group(1).strip())), node)

    def reference(self, expr: str) -> Any:
        if not REFERENCE.match(expr):
            raise ValueError(f"{self.directory}: expression not modelled: {expr!r}")
        parts = expr.split(".")
        if parts[0] == "var":
            return self.variable(parts[1])
        if parts[0] == "local":
            locals_ = {k: v for block in self.body.get("locals", []) for k, v in block.items()}
            return self.value(locals_[parts[1]])
        if parts[0] == "module":
            return self.module(parts[1]).output(parts[2])
        if parts[0] == "data":
            return self.data(parts[1], parts[2], parts[3])
        raise ValueError(f"{self.directory}: reference not modelled: {expr!r}")

    def variable(self, name: str) -> Any:
        if name in self.inputs:
            return self.inputs[name]
        spec = named_blocks(self.body, "variable")[name]
        if "default" not in spec:
            raise KeyError(f"{self.directory}: variable {name} has no default; pass a value")
        return self.value(spec["default"])

    def data(self, type_: str, name: str, attribute: str) -> Any:
        block = typed_blocks(self.body, "data")[(type_, name)]
        if (type_, attribute) == ("aws_partition", "partition"):
            return PARTITION
        if (type_, attribute) == ("aws_caller_identity", "account_id"):
            return ACCOUNT_ID
        if (type_, attribute) == ("aws_iam_policy_document", "json"):
            self.documents_used.add((self.directory, name))
            return self.policy_document(block)
        raise ValueError(f"{self.directory}: data.{type_}.{name}.{attribute} not modelled")

    def module(self, name: str) -> TfModule:
        block = named_blocks(self.body, "module")[name]
        source = self.directory / self.value(block["source"])
        meta = {"source", "version", "providers", "count", "for_each", "depends_on"}
        inputs = {k: self.value(v) for k, v in block.items() if k not in meta and not k.startswith("__")}
        child = TfModule(source.resolve(), inputs)
        child.documents_used = self.documents_used  # one record for the whole tree
        return child

    def output(self, name: str) -> Any:
        return self.value(named_blocks(self.body, "output")[name]["value"])

    # -- aws_iam_policy_document -> IAM JSON (AWS provider docs, data source aws_iam_policy_document)

    def policy_document(self, block: dict) -> dict:
        unsupported = set(block) & {"source_policy_documents", "override_policy_documents", "source_json",
                                    "override_json", "dynamic"}
        if unsupported:
            raise ValueError(f"{self.directory}: aws_iam_policy_document with {unsupported} not modelled")
        statements = [self.statement(s) for s in block.get("statement", [])]
        return {"Version": self.value(block.get("version", ["2012-10-17"])), "Statement": statements}

    def statement(self, block: dict) -> dict:
        if "dynamic" in block:
            raise ValueError(f"{self.directory}: dynamic blocks in a statement are not modelled")
        out: dict[str, Any] = {}
        if "sid" in block:
            out["Sid"] = self.value(block["sid"])
        out["Effect"] = self.value(block.get("effect", ["Allow"]))
        for hcl, iam in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
            if hcl in block:
                principals: dict[str, list] = {}
                for p in block[hcl]:
                    principals.setdefault(self.value(p["type"]), []).extend(flatten(self.value(p["identifiers"])))
                out[iam] = "*" if principals == {"*": ["*"]} else principals
        for hcl, iam in (("actions", "Action"), ("not_actions", "NotAction"),
                         ("resources", "Resource"), ("not_resources", "NotResource")):
            if hcl in block:
                out[iam] = flatten(self.value(block[hcl]))
        if "condition" in block:
            conditions: dict[str, dict[str, list]] = {}
            for c in block["condition"]:
                conditions.setdefault(self.value(c["test"]), {})[self.value(c["variable"])] = flatten(self.value(c["values"]))
            out["Condition"] = conditions
        return out

    # -- the keys

    def resources(self, type_: str) -> dict[str, dict]:
        return {name: block for (t, name), block in typed_blocks(self.body, "resource").items() if t == type_}


def flatten(value: Any) -> list:
    out: list = []
    for item in as_list(value):
        out.extend(flatten(item) if isinstance(item, list) else [item])
    return out


def terraform_key_policies(inputs: dict[str, Any]) -> dict[str, tuple[dict, set[tuple[Path, str]]]]:
    """{"aws_kms_key.<name>" / "aws_kms_replica_key.<name>": (its key policy as IAM JSON, the
    policy documents it came from)} for every key resource under iac/terraform, its module
    instantiated with `inputs`."""
    out = {}
    for directory in sorted({p.parent for p in TF_DIR.rglob("*.tf")}):
        for type_ in ("aws_kms_key", "aws_kms_replica_key"):
            for name in TfModule(directory, inputs).resources(type_):
                module = TfModule(directory, inputs)
                policy = module.value(module.resources(type_)[name]["policy"])
                out[f"{type_}.{name}"] = (json.loads(policy) if isinstance(policy, str) else policy, module.documents_used)
    return out


def all_policy_documents() -> set[tuple[Path, str]]:
    """Every data "aws_iam_policy_document" under iac/terraform, as (module directory, name)."""
    return {(d, n) for d in {p.parent for p in TF_DIR.rglob("*.tf")} for n in _doc_names(d)}
