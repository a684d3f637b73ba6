"""The operator CLI `kms-rotation` end to end: the real binary against moto.

What changed is asserted on what reached moto (its request recorder) and on KMS itself. moto lets
any key rotate, so it is the CLI (through the rule's decision) that must keep asymmetric, HMAC,
imported, pending-deletion and excepted keys out. moto 5.2.5 drops RotationPeriodInDays, so the
period is asserted on the EnableKeyRotation requests, not on the keys.
"""

from __future__ import annotations

import http.server
import json
import threading

import boto3
import pytest

from localaws import ACCOUNT, OTHER_REGION, REGION
from support import EXCEPTION_TAG, create_key, day, exception_tag, json_lines, run_cli


def by_id(records: list[dict]) -> dict[str, dict]:
    return {(r["region"], r["resourceId"]): r for r in records}


def enable_calls(moto) -> list[dict]:
    return [r for r in moto.recorded() if r["target"] == "EnableKeyRotation"]


def signed_region(request: dict) -> str:
    """The Region a request was signed for (SigV4 credential scope)."""
    auth = request["headers"].get("Authorization", "")
    return auth.split("Credential=")[1].split("/")[2]


def key_id_of(key: str) -> str:
    return key.rsplit("/", 1)[-1]


@pytest.fixture
def mixed(kms):
    """Keys the remediation must fix, and keys it must leave alone (by case)."""
    fix = [create_key(kms, Description=f"off-{i}") for i in range(5)]
    on = create_key(kms, Description="on")
    kms.enable_key_rotation(KeyId=on)
    leave = {
        "asymmetric": create_key(kms, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"),
        "hmac": create_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC"),
        "imported": create_key(kms, Origin="EXTERNAL"),
        "pending-deletion": create_key(kms),
        "disabled": create_key(kms),
        "exception": create_key(kms, Tags=exception_tag(f"owner=team-a expires={day(60)} ticket=SEC-1")),
    }
    kms.schedule_key_deletion(KeyId=leave["pending-deletion"], PendingWindowInDays=7)
    kms.disable_key(KeyId=leave["disabled"])
    return {"fix": fix, "on": on, "leave": leave}


def rotating(kms, key_id) -> bool:
    return kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]


# --- audit ---------------------------------------------------------------------------------------


def test_audit_json_lines_and_exit_status(binaries, kms):
    on = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=on)
    asym = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app/on", TargetKeyId=on)

    clean = run_cli(binaries, "audit", "--output", "json")

    assert clean.returncode == 0, clean.stderr
    records = by_id(json_lines(clean.stdout))
    assert set(records) == {(REGION, on), (REGION, asym)}
    first = records[(REGION, on)]
    assert first["complianceType"] == "COMPLIANT"
    assert first["arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{on}"
    assert first["alias"] == "alias/app/on"
    assert "Automatic rotation is on" in first["annotation"]
    assert records[(REGION, asym)]["complianceType"] == "NOT_APPLICABLE"
    assert "2 key(s) in 1 Region(s): 1 COMPLIANT, 0 NON_COMPLIANT, 1 NOT_APPLICABLE" in clean.stderr

    off = kms.create_key()["KeyMetadata"]["KeyId"]
    findings = run_cli(binaries, "audit", "--output", "json")

    assert findings.returncode == 1, findings.stderr
    record = by_id(json_lines(findings.stdout))[(REGION, off)]
    assert record["complianceType"] == "NON_COMPLIANT"
    assert "Automatic rotation is off" in record["annotation"]


def test_audit_table_covers_every_region_asked(binaries, kms, kms_for_region):
    here = kms.create_key()["KeyMetadata"]["KeyId"]
    there = kms_for_region(OTHER_REGION).create_key()["KeyMetadata"]["KeyId"]

    out = run_cli(binaries, "audit", "--region", REGION, "--region", OTHER_REGION)

    assert out.returncode == 1, out.stderr
    header, *rows = out.stdout.splitlines()
    assert header.split() == ["ACCOUNT", "KEY", "ID", "ALIAS", "REGION", "COMPLIANCE", "EXPOSURE", "ANNOTATION"]
    assert any(here in r and REGION in r and "NON_COMPLIANT" in r for r in rows)
    assert any(there in r and OTHER_REGION in r and "NON_COMPLIANT" in r for r in rows)
    assert out.stdout.rstrip().endswith(
        "2 key(s) in 2 Region(s): 0 COMPLIANT, 2 NON_COMPLIANT, 0 NOT_APPLICABLE, 0 not evaluated (errors)"
    )


def test_bad_flags_fail_before_any_aws_call(binaries, aws_env, moto):
    moto.start_recording()

    out = run_cli(binaries, "audit", "--max-rotation-period-days", "30")

    assert out.returncode == 2
    assert "invalid --max-rotation-period-days" in out.stderr and "from 90 to 2560" in out.stderr
    assert moto.recorded() == []


# --- remediate -----------------------------------------------------------------------------------


def test_plan_changes_nothing(binaries, kms, mixed, moto):
    moto.start_recording()

    out = run_cli(binaries, "remediate", "--output", "json")

    assert out.returncode == 0, out.stderr
    assert enable_calls(moto) == []
    records = by_id(json_lines(out.stdout))
    assert {k for (_, k), r in records.items() if r["outcome"] == "planned"} == set(mixed["fix"])
    assert {r["batch"] for r in records.values() if r["outcome"] == "planned"} == {1}
    for case, key_id in mixed["leave"].items():
        assert records[(REGION, key_id)]["outcome"] == "skipped", case
    assert records[(REGION, mixed["on"])]["outcome"] == "already_compliant"
    assert "plan only, nothing changed" in out.stderr
    assert not any(rotating(kms, k) for k in mixed["fix"])


def test_apply_in_batches_fixes_only_what_the_rule_flags(binaries, kms, mixed, moto):
    moto.start_recording()

    out = run_cli(binaries, "remediate", "--apply", "--yes", "--batch-size", "2",
                  "--rotation-period-days", "180", "--output", "json")

    assert out.returncode == 0, out.stderr
    for key_id in mixed["fix"]:
        assert rotating(kms, key_id), key_id
    for case, key_id in mixed["leave"].items():
        assert not rotating(kms, key_id), case
    calls = enable_calls(moto)
    assert sorted(key_id_of(c["body"]["KeyId"]) for c in calls) == sorted(mixed["fix"])
    assert {c["body"]["RotationPeriodInDays"] for c in calls} == {180}
    # Each change is verified: a GetKeyRotationStatus of the same key follows it.
    requests = moto.recorded()
    for i, r in enumerate(requests):
        if r["target"] == "EnableKeyRotation":
            assert any(later["target"] == "GetKeyRotationStatus" and later["body"]["KeyId"] == r["body"]["KeyId"]
                       for later in requests[i + 1:]), r["body"]
    records = by_id(json_lines(out.stdout))
    assert {k for (_, k), r in records.items() if r["outcome"] == "changed"} == set(mixed["fix"])
    assert all("verified" in records[(REGION, k)]["detail"] for k in mixed["fix"])
    # Progress: 5 keys in batches of 2.
    for progress in ("batch 1/3: 2 keys ... done 2/5", "batch 2/3: 2 keys ... done 4/5",
                     "batch 3/3: 1 keys ... done 5/5"):
        assert progress in out.stderr
    assert "5 changed, 0 failed" in out.stderr


def test_priority_tags_go_first_in_the_order_given(binaries, kms, moto):
    def key(tags=()):
        return create_key(kms, Tags=[{"TagKey": k, "TagValue": v} for k, v in tags])

    plain = sorted([key(), key([("env", "dev")]), key()])
    staging = key([("env", "staging")])
    prod = sorted([key([("env", "prod")]), key([("env", "prod"), ("team", "x")])])
    moto.start_recording()

    out = run_cli(binaries, "remediate", "--apply", "--yes", "--batch-size", "2",
                  "--priority-tag", "env=prod", "--priority-tag", "env=staging")

    assert out.returncode == 0, out.stderr
    expected = prod + [staging] + plain
    order = [key_id_of(c["body"]["KeyId"]) for c in enable_calls(moto)]
    # Batch after batch in the plan's order; inside a batch an account-Region's changes are sent
    # at once (issue 23), so the two calls of a batch may reach moto in either order.
    batches = lambda keys: [set(keys[i:i + 2]) for i in range(0, len(keys), 2)]  # noqa: E731
    assert batches(order) == batches(expected)
    # The table lists keys in the plan's order.
    rows = [line.split()[1] for line in out.stdout.splitlines()[1:] if " changed " in line]
    assert rows == expected


def test_a_replica_is_fixed_through_its_primary(binaries, kms_for_region, moto):
    west = kms_for_region(OTHER_REGION)
    primary = west.create_key(MultiRegion=True)["KeyMetadata"]
    west.replicate_key(KeyId=primary["KeyId"], ReplicaRegion=REGION)
    moto.start_recording()

    only_replica = run_cli(binaries, "remediate", "--apply", "--yes", "--region", REGION, "--output", "json")

    assert only_replica.returncode == 0, only_replica.stderr
    (call,) = enable_calls(moto)
    assert call["body"]["KeyId"] == primary["Arn"]
    assert signed_region(call) == OTHER_REGION
    (record,) = json_lines(only_replica.stdout)
    assert record["region"] == REGION and record["outcome"] == "changed"
    assert record["target"] == primary["Arn"]
    assert "via its primary key" in record["detail"]
    assert west.get_key_rotation_status(KeyId=primary["KeyId"])["KeyRotationEnabled"]

    # Listed together, the primary and its replica make one change.
    west.disable_key_rotation(KeyId=primary["KeyId"])
    moto.start_recording()
    both = run_cli(binaries, "remediate", "--apply", "--yes", "--region", REGION, "--region", OTHER_REGION,
                   "--output", "json")

    assert both.returncode == 0, both.stderr
    assert [c["body"]["KeyId"] for c in enable_calls(moto)] == [primary["Arn"]]
    assert {(r["region"], r["outcome"]) for r in json_lines(both.stdout)} == {
        (REGION, "changed"), (OTHER_REGION, "changed")}


def test_running_again_changes_nothing(binaries, kms, mixed, moto):
    first = run_cli(binaries, "remediate", "--apply", "--yes")
    assert first.returncode == 0, first.stderr
    moto.start_recording()

    again = run_cli(binaries, "remediate", "--apply", "--yes", "--output", "json")

    assert again.returncode == 0, again.stderr
    assert enable_calls(moto) == []
    records = by_id(json_lines(again.stdout))
    for key_id in mixed["fix"] + [mixed["on"]]:
        assert records[(REGION, key_id)]["outcome"] == "already_compliant", key_id
    assert "0 changed, 0 failed, 0 not applied, 6 already compliant" in again.stderr


def test_apply_without_a_terminal_or_yes_refuses(binaries, kms, moto):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    moto.start_recording()

    out = run_cli(binaries, "remediate", "--apply")

    assert out.returncode == 2
    assert "refusing to apply: stdin is not a terminal" in out.stderr
    assert "--yes" in out.stderr
    assert moto.recorded() == []
    assert not rotating(kms, key_id)


# --- exceptions and rescan -----------------------------------------------------------------------


def test_exceptions_are_listed_and_flagged(binaries, kms):
    def tagged(value):
        return create_key(kms, Tags=exception_tag(value))

    valid = tagged(f"owner=team-a expires={day(120)} ticket=SEC-1")
    soon = tagged(f"owner=team-b expires={day(10)}")
    expired = tagged(f"owner=team-c expires={day(-1)} ticket=SEC-3")
    malformed = tagged("approved until next year")
    kms.create_key(Tags=[{"TagKey": "env", "TagValue": "prod"}])

    out = run_cli(binaries, "exceptions", "--output", "json")

    assert out.returncode == 1, out.stderr
    records = {r["resourceId"]: r for r in json_lines(out.stdout)}
    assert set(records) == {valid, soon, expired, malformed}
    assert records[valid]["status"] == "VALID"
    assert (records[valid]["owner"], records[valid]["ticket"], records[valid]["daysLeft"]) == ("team-a", "SEC-1", 120)
    assert records[soon]["status"] == "EXPIRING_SOON" and records[soon]["daysLeft"] == 10
    assert records[expired]["status"] == "EXPIRED" and records[expired]["expires"] == day(-1)
    assert records[malformed]["status"] == "MALFORMED"
    assert records[malformed]["value"] == "approved until next year"
    assert "1 valid, 1 expiring within 30 days, 1 expired, 1 malformed" in out.stderr

    # Only valid ones, some expiring: not a finding.
    kms.untag_resource(KeyId=expired, TagKeys=[EXCEPTION_TAG])
    kms.untag_resource(KeyId=malformed, TagKeys=[EXCEPTION_TAG])
    table = run_cli(binaries, "exceptions", "--within-days", "5")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == [
        "ACCOUNT", "KEY", "ID", "ALIAS", "REGION", "STATUS", "OWNER", "EXPIRES", "TICKET", "NOTE"]
    assert "2 key(s) with the exception tag kms-rotation-exception" in table.stdout


def test_rescan_says_clearly_when_config_cannot(binaries, aws_env):
    # moto (5.2.5, pinned in tests/requirements.txt) holds Config rules but does not implement
    # StartConfigRulesEvaluation: the rule is found, and starting it fails with a hint.
    config = boto3.client("config", region_name=REGION, endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    config.put_config_rule(ConfigRule={
        "ConfigRuleName": "kms-rotation-rule",
        "Source": {"Owner": "AWS", "SourceIdentifier": "CMK_BACKING_KEY_ROTATION_ENABLED"},
    })

    out = run_cli(binaries, "rescan", "--rule-name", "kms-rotation-rule")

    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stdout == ""
    assert out.stderr.startswith(f"error: config:StartConfigRulesEvaluation in {REGION}"), out.stderr
    assert (f"hint: the endpoint {aws_env['AWS_ENDPOINT_URL']} (AWS_ENDPOINT_URL) may not implement "
            "StartConfigRulesEvaluation") in out.stderr
    assert "Traceback" not in out.stderr and "panicked" not in out.stderr


class ConfigStub:
    """Just enough of AWS Config for `rescan`, which moto lacks: DescribeConfigRules answers
    `rules`, StartConfigRulesEvaluation answers `{}`, anything else 400; every request is recorded
    as (operation, signed Region, JSON body)."""

    def __init__(self, rules: list[str]):
        self.requests: list[tuple[str, str, dict]] = []
        stub = self
        answers = {
            "DescribeConfigRules": {"ConfigRules": [{"ConfigRuleName": r} for r in rules]},
            "StartConfigRulesEvaluation": {},
        }

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                operation = self.headers.get("X-Amz-Target", "").removeprefix("StarlingDoveService.")
                auth = {"Authorization": self.headers.get("Authorization", "")}  # any case
                stub.requests.append((operation, signed_region({"headers": auth}), body))
                answer = answers.get(operation, {"__type": "InvalidAction", "message": "not in the stub"})
                data = json.dumps(answer).encode()
                self.send_response(200 if operation in answers else 400)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_rescan_finds_the_pack_rule_and_asks_config_to_evaluate_it_in_each_region(binaries, aws_env,
                                                                                   monkeypatch):
    # A conformance pack names its rule <name>-conformance-pack-<suffix>.
    rule = "kms-rotation-rule-conformance-pack-a1b2c3d4"
    with ConfigStub(["other-rule", rule]) as config:
        monkeypatch.setenv("AWS_ENDPOINT_URL", config.url)

        out = run_cli(binaries, "rescan", "--rule-name", "kms-rotation-rule", "--region", REGION,
                      "--region", OTHER_REGION)

    assert out.returncode == 0, out.stderr
    assert [(op, region, body) for op, region, body in config.requests if op != "DescribeConfigRules"] == [
        ("StartConfigRulesEvaluation", region, {"ConfigRuleNames": [rule]}) for region in (REGION, OTHER_REGION)
    ]
    assert {region for op, region, _ in config.requests if op == "DescribeConfigRules"} == {REGION, OTHER_REGION}
    assert out.stdout.splitlines() == [
        f"{region}: AWS Config is evaluating {rule} again; results arrive within minutes: "
        f"aws configservice get-compliance-details-by-config-rule --config-rule-name {rule} --region {region}"
        for region in (REGION, OTHER_REGION)
    ]


def test_help_shows_examples(binaries):
    top = run_cli(binaries, "--help")
    assert top.returncode == 0
    for command in ("audit", "remediate", "exceptions", "rescan"):
        assert command in top.stdout
    assert "Examples:" in top.stdout
    remediate = run_cli(binaries, "remediate", "--help")
    for flag in ("--apply", "--yes", "--rotation-period-days", "--batch-size", "--priority-tag",
                 "--max-rate", "--max-rotation-period-days", "--evaluate-disabled-keys",
                 "--exception-tag-key", "--output", "--region", "--profile"):
        assert flag in remediate.stdout, flag


# --- remediate: exposure first -------------------------------------------------------------------


def test_plan_lists_a_key_with_a_public_policy_first(binaries, kms, moto):
    def key(principal=None):
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        if principal is not None:
            policy = {"Version": "2012-10-17", "Statement": [
                {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                 "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
                {"Sid": "Shared", "Effect": "Allow", "Principal": principal,
                 "Action": "kms:Decrypt", "Resource": "*"},
            ]}
            kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy))
        return key_id

    private = [key(), key(), key()]
    cross = key({"AWS": "arn:aws:iam::444455556666:role/Partner"})
    public = key("*")
    moto.start_recording()

    out = run_cli(binaries, "remediate", "--output", "json")

    assert out.returncode == 0, out.stderr
    assert enable_calls(moto) == []
    planned = [r for r in json_lines(out.stdout) if r["outcome"] == "planned"]
    assert [r["resourceId"] for r in planned][:2] == [public, cross]
    assert sorted(r["resourceId"] for r in planned[2:]) == sorted(private)
    assert [r["exposure"] for r in planned] == ["public", "cross_account"] + ["private"] * 3
    assert 'Sid "Shared"' in planned[0]["exposureReason"] and "any principal" in planned[0]["exposureReason"]
    assert "444455556666" in planned[1]["exposureReason"]
    # Only the candidates' policies are read.
    policy_reads = {r["body"]["KeyId"] for r in moto.recorded() if r["target"] == "GetKeyPolicy"}
    assert policy_reads == {public, cross, *private}

    table = run_cli(binaries, "remediate")
    header, first, *_ = table.stdout.splitlines()
    assert header.split() == ["ACCOUNT", "KEY", "ID", "ALIAS", "REGION", "OUTCOME", "EXPOSURE", "DETAIL"]
    assert first.split()[1] == public and " public " in first and "(public: " in first
