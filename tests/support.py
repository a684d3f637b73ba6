"""The tests' shared helpers, each defined once: tests/baseline, tests/e2e and tests/iac import them
with `from support import ...` (pytest.ini puts tests/ on the path).

- the project's paths;
- loading files: YAML, CloudFormation templates (short-form tags resolved), Terraform modules
  (python-hcl2), JSON lines;
- CloudFormation intrinsics (`Resolver`) and the IAM policies of a template;
- IAM: policy statements, the Service Authorization Reference (parliament's copy), the SCP, the
  runbook's API calls;
- running tools: the `kms-rotation` CLI (`run_cli`, `Run`), cfn-guard (`GUARD`), checkov offline;
- test data: KMS keys, exception tags and their expiry dates.

Libraries that are slow to import (cfn-lint, parliament, python-hcl2) are imported where they are
used, so that a test folder that needs none of them does not pay for them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

# --------------------------------------------------------------------------- paths

ROOT = Path(__file__).resolve().parents[1]
# The Rust sources: the thin binary package and the library crates (issue 22's layout).
SRC = ROOT / "rule-lambda" / "src"
CRATES = ROOT / "crates"
CORE_SRC = CRATES / "kms-rotation-core" / "src"
CLI_SRC = CRATES / "kms-rotation-cli" / "src"
PACK_DIR = ROOT / "conformance-pack"
TEMPLATES_DIR = PACK_DIR / "templates"
RUNBOOK_PATH = PACK_DIR / "runbook-enable-key-rotation.yaml"
SCP_PATH = PACK_DIR / "scp-deny-disable-key-rotation.json"
VENV_BIN = ROOT / ".venv" / "bin"
# The check-iac corpus of tests/iac.
FIXTURES = ROOT / "tests" / "iac" / "fixtures"

# The account, Region and partition the templates are rendered for.
ACCOUNT_ID = "111122223333"
REGION = "us-east-1"
PARTITION = "aws"

# The roles the templates' shapes are given: the central function role (CentralFunctionRoleArn) and
# the operator of the CLI (OperatorPrincipalArn).
CENTRAL_ROLE_ARN = "arn:aws:iam::999988887777:role/kms-rotation-FunctionRole-ABCDEF"
OPERATOR_ARN = "arn:aws:iam::999988887777:role/security/kms-rotation-operator"

# The tag key of an approved exception (the rule's default exceptionTagKey).
EXCEPTION_TAG = "kms-rotation-exception"


# --------------------------------------------------------------------------- loading files


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def load_cfn(path: Path) -> dict:
    """A CloudFormation template (short-form tags like !Ref become {"Ref": ...}), as plain data."""
    from cfnlint.decode import cfn_yaml

    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def load_tf(directory: Path) -> dict[str, list]:
    """Every top-level block list of a Terraform module (its .tf files merged), as python-hcl2
    reads them."""
    import hcl2

    merged: dict[str, list] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as f:
            for kind, blocks in hcl2.load(f).items():
                merged.setdefault(kind, []).extend(blocks)
    return merged


def one(value: Any) -> Any:
    """bc-python-hcl2 (checkov's parser) wraps attribute values in one-element lists."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def json_lines(stdout: str) -> list[dict]:
    """The records of a JSON-lines output (`--output json`), blank lines skipped."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


# --------------------------------------------------------------------------- intrinsics

NO_VALUE = object()


class Resolver:
    """Evaluate a template's intrinsic functions for one set of parameter values.

    Enough for these templates: Ref, Fn::Sub, Fn::GetAtt, Fn::If, Fn::Equals, Fn::Not, Fn::And,
    Fn::Or, Condition, AWS::NoValue and the pseudo parameters. Attributes of resources become
    plausible ARNs of the resource's type.
    """

    def __init__(self, template: dict, parameters: dict[str, str] | None = None):
        self.template = template
        given = parameters or {}
        self.params: dict[str, str] = {}
        for name, spec in template.get("Parameters", {}).items():
            if name in given:
                self.params[name] = str(given[name])
            elif "Default" in spec:
                self.params[name] = str(spec["Default"])
            else:
                raise KeyError(f"parameter {name} has no default; pass a value")
        self.pseudo = {
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::StackName": "stack",
            "AWS::URLSuffix": "amazonaws.com",
        }

    # -- conditions

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resource_enabled(self, logical_id: str) -> bool:
        cond = self.template["Resources"][logical_id].get("Condition")
        return cond is None or self.condition(cond)

    # -- values

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        resource = self.template["Resources"][name]
        return self._physical_name(name, resource)

    def _physical_name(self, logical_id: str, resource: dict) -> str:
        props = resource.get("Properties", {})
        for key in ("RoleName", "FunctionName", "LogGroupName", "Name", "ConfigRuleName"):
            if key in props:
                return self.resolve(props[key])
        return f"{logical_id}-generated"

    def getatt(self, logical_id: str, attribute: str) -> str:
        resource = self.template["Resources"][logical_id]
        kind = resource["Type"]
        name = self._physical_name(logical_id, resource)
        prefix = f"arn:{PARTITION}"
        arns = {
            "AWS::IAM::Role": f"{prefix}:iam::{ACCOUNT_ID}:role/{name}",
            "AWS::Lambda::Function": f"{prefix}:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
            "AWS::Logs::LogGroup": f"{prefix}:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*",
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        raise KeyError(f"GetAtt {logical_id}.{attribute} not modelled")

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(self.resolve(variables[expr]))
            if "." in expr and not expr.startswith("AWS::"):
                res, attr = expr.split(".", 1)
                return self.getatt(res, attr)
            return str(self.ref(expr))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(i) for i in node]
            return [i for i in items if i is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self._sub(arg[0], arg[1])
                return self._sub(arg, {})
            if key == "Fn::GetAtt":
                res, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.getatt(res, attr)
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                raise KeyError(f"{key} not modelled")
        out = {}
        for k, v in node.items():
            value = self.resolve(v)
            if value is not NO_VALUE:
                out[k] = value
        return out

    # -- resources

    def resources(self, kind: str | None = None) -> Iterator[tuple[str, dict]]:
        """(logical id, resolved Properties) of the enabled resources, optionally of one type."""
        for logical_id, resource in self.template["Resources"].items():
            if kind and resource["Type"] != kind:
                continue
            if self.resource_enabled(logical_id):
                yield logical_id, self.resolve(resource.get("Properties", {}))


# --------------------------------------------------------------------------- IAM


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def statements(policy: dict) -> list[dict]:
    return as_list(policy["Statement"])


def iam_policies(resolver: Resolver) -> Iterator[tuple[str, str, dict]]:
    """(label, kind, policy) of every IAM policy of a template: kind is 'trust' or 'identity'."""
    for logical_id, props in resolver.resources("AWS::IAM::Role"):
        yield f"{logical_id} trust policy", "trust", props["AssumeRolePolicyDocument"]
        for policy in props.get("Policies", []):
            yield f"{logical_id} policy {policy['PolicyName']}", "identity", policy["PolicyDocument"]
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id, props in resolver.resources(kind):
            yield f"{logical_id}", "identity", props["PolicyDocument"]


def roles(resolver: Resolver) -> dict[str, dict]:
    """{logical id: resolved Properties} of the template's enabled IAM roles."""
    return dict(resolver.resources("AWS::IAM::Role"))


def allowed_actions(resolver: Resolver, role: str) -> set[str]:
    """Every action an Allow statement of the role's identity policies grants."""
    return {
        action
        for policy in roles(resolver)[role].get("Policies", [])
        for st in statements(policy["PolicyDocument"])
        if st["Effect"] == "Allow"
        for action in as_list(st["Action"])
    }


def sar_privilege(action: str) -> dict:
    """The action as the Service Authorization Reference lists it (parliament's copy)."""
    from parliament import iam_definition

    prefix, name = action.split(":")
    service = next(s for s in iam_definition if s["prefix"] == prefix)
    known = next((p for p in service["privileges"] if p["privilege"] == name), None)
    if known is not None:
        assert action not in SAR_ADDED, f"parliament's copy now lists {action}: take it out of SAR_ADDED"
        return known
    return SAR_ADDED[action]


# Actions AWS added after parliament 1.6.4's copy of the Service Authorization Reference, as that
# reference lists them (same shape as parliament's entries). An entry is refused once parliament
# has the action (sar_privilege).
SAR_ADDED = {
    # KMS API Reference, "GetKeyLastUsage" (2026): one KMS key, in the caller's account, named by
    # KeyId; like DescribeKey and GetKeyRotationStatus, its resource type is `key`.
    "kms:GetKeyLastUsage": {
        "privilege": "GetKeyLastUsage",
        "access_level": "Read",
        "resource_types": [{"resource_type": "key*", "condition_keys": [], "dependent_actions": []}],
    },
}


def scp() -> dict:
    """conformance-pack/scp-deny-disable-key-rotation.json."""
    return json.loads(SCP_PATH.read_text())


def runbook_calls(runbook: dict) -> set[str]:
    """The runbook's API calls: its aws:executeAwsApi / aws:waitForAwsResourceProperty steps
    (Service, Api) and the boto3 kms calls of its aws:executeScript steps."""
    called = set()
    for step in runbook["mainSteps"]:
        inputs = step.get("inputs", {})
        if "Api" in inputs:
            called.add(f"{inputs['Service']}:{inputs['Api']}")
        if step["action"] == "aws:executeScript":
            for method in re.findall(r"\bkms\.([a-z_]+)\(", inputs["Script"]):
                called.add("kms:" + "".join(part.title() for part in method.split("_")))
    return called


# --------------------------------------------------------------------------- running tools


def run_cli(binaries: Path, *args: str, stdin: Any = subprocess.DEVNULL, timeout: float = 180,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `kms-rotation` with the test's environment (aws_env points it at moto), `env` on top."""
    return subprocess.run(
        [str(binaries / "kms-rotation"), *args],
        env={**os.environ, **(env or {})},
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Run:
    """A finished `kms-rotation check-iac` run."""

    code: int
    stdout: str
    stderr: str

    def findings(self) -> list[dict]:
        return json_lines(self.stdout)


def verdicts(run: Run) -> dict[str, tuple[str, str]]:
    """Resource (address or logical id) -> (complianceType, reason) of a JSON check-iac run."""
    return {f["resource"]: (f["complianceType"], f["reason"]) for f in run.findings()}


def wait_http(url: str, timeout: float = 30.0) -> None:
    """Wait until `url` answers (a server that is starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:  # noqa: BLE001 - anything means "not yet"
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# The cfn-guard CLI `make cfn-guard` installs (CFN_GUARD names another binary); the `guard_cli`
# fixture (tests/conftest.py) checks it is there at the Makefile's pinned version.
GUARD = Path(os.environ.get("CFN_GUARD") or ROOT / ".tools" / "bin" / "cfn-guard")


def pinned_guard_version() -> str:
    match = re.search(r"^CFN_GUARD_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "the Makefile pins the cfn-guard version (CFN_GUARD_VERSION)"
    return match.group(1)


def checkov_offline_env() -> dict[str, str]:
    """Run checkov without any network: no platform key, no mapping/guideline download, no PyPI
    update check; any request that slips through goes to a closed local port and fails fast."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_", "CKV_"))}
    env.update(
        BC_SKIP_MAPPING="TRUE",
        CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
    )
    return env


# --------------------------------------------------------------------------- test data


def create_key(kms, **create: Any) -> str:
    """Create a KMS key (CreateKey's parameters) and return its KeyId."""
    return kms.create_key(**create)["KeyMetadata"]["KeyId"]


def exception_tag(value: str) -> list[dict[str, str]]:
    """The Tags of CreateKey for a key carrying the exception tag with `value`."""
    return [{"TagKey": EXCEPTION_TAG, "TagValue": value}]


def day(offset: int) -> str:
    """The date `offset` days from today, YYYY-MM-DD, as an exception's `expires=` gives it. Today
    is UTC's: the rule and the CLI judge expiry against `Utc::now().date_naive()`
    (crates/kms-rotation-core/src/exception.rs, Exception::is_expired), so a local date would be a day off
    around midnight."""
    return (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=offset)).isoformat()


# --------------------------------------------------------------------------- the Rust build


def sdk_operations(crate: str) -> list[str]:
    """The operations of an AWS SDK for Rust crate (`aws-sdk-kms`) as the workspace compiles
    against it: the snake_case names of its `src/operation/` modules, found through `cargo
    metadata` (Cargo.lock's version). The tests' botocore is pinned older (checkov pins boto3) and
    lacks operations AWS added since, such as kms:GetKeyLastUsage (2026)."""
    if crate not in _SDK_OPERATIONS:
        meta = json.loads(
            subprocess.run(
                ["cargo", "metadata", "--format-version", "1", "--locked"],
                cwd=ROOT, capture_output=True, text=True, check=True,
            ).stdout
        )
        package = next(p for p in meta["packages"] if p["name"] == crate)
        operations = Path(package["manifest_path"]).parent / "src" / "operation"
        _SDK_OPERATIONS[crate] = sorted(p.name for p in operations.iterdir() if p.is_dir())
    return _SDK_OPERATIONS[crate]


_SDK_OPERATIONS: dict[str, list[str]] = {}


def build_sources(*features: str) -> list[Path]:
    """The Rust source files compiled into `rule-lambda` built with only `features` (`lambda`: the
    Lambda as `make package` builds it; `cli`: the operator CLI), as cargo resolves them: every
    workspace crate in that build's dependency tree (`cargo tree`), each crate's whole `src/`.
    The library crates carry no feature, so a crate in the tree is compiled whole."""
    import subprocess

    out = subprocess.run(
        ["cargo", "tree", "--locked", "--offline", "-e", "normal", "--prefix", "none", "-p", "rule-lambda",
         "--no-default-features", "--features", ",".join(features)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    dirs = []
    for line in out.splitlines():
        # workspace members are printed with their path: `name v0.1.0 (/abs/path)`
        if "(" in line and str(ROOT) in line:
            dirs.append(Path(line[line.index("(") + 1:line.rindex(")")]))
    files = []
    for d in sorted(set(dirs)):
        src = d / "src"
        if d.name == "rule-lambda":
            # The package's own glue: the library re-exports, the binary of the feature.
            files += [src / "lib.rs"]
            files += [src / "lambda.rs", src / "bin" / "kms-rotation-rule.rs"] if "lambda" in features else []
            files += [src / "bin" / "kms-rotation.rs"] if "cli" in features else []
        else:
            files += sorted(src.rglob("*.rs"))
    return files


def rust_label(path: Path) -> str:
    """A source file named from the workspace root's `crates/` (or `rule-lambda/`)."""
    return str(path.relative_to(CRATES if path.is_relative_to(CRATES) else ROOT))

