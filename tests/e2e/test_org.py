"""The operator CLI `kms-rotation` over many accounts and Regions, end to end: the real binary
against moto, through the fault proxy (tools/faultproxy.py), which counts the requests by operation
and can deny AssumeRole into one account or refuse KMS in one Region.

moto hands out AssumeRole credentials that act in the role's account, so each member account's
keys are created with the credentials of the role the CLI assumes there (`--role-name`, by
default KmsRotationOperator); the caller, moto's default account, is the organization's
management account.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.parse
from collections import Counter

import boto3
import pytest

from faultproxy import Plan
from localaws import ACCOUNT
from support import json_lines, run_cli

A, B, C = "111111111111", "222222222222", "333333333333"
EAST, WEST = "us-east-1", "eu-west-1"
ROLE = "KmsRotationOperator"
PUBLIC_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Open", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"},
    ],
})


@pytest.fixture
def cli(binaries, aws_env, proxy, monkeypatch):
    """Run `kms-rotation` through the proxy (a clean plan and journal); moto is reset by aws_env."""
    proxy.reset(Plan())
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)

    def run(*args, timeout=120):
        return run_cli(binaries, *args, timeout=timeout)

    run.binary = binaries / "kms-rotation"
    return run


@pytest.fixture
def kms_in(aws_env):
    """`kms_in(account, region)`: a KMS client acting in that account (moto directly), through
    the role the CLI assumes; the caller's own account with the caller's credentials."""
    endpoint = aws_env["AWS_ENDPOINT_URL"]
    cache: dict = {}

    def client(account: str, region: str = EAST):
        if account == ACCOUNT:
            return boto3.client("kms", region_name=region, endpoint_url=endpoint)
        if account not in cache:
            sts = boto3.client("sts", region_name=EAST, endpoint_url=endpoint)
            cache[account] = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{ROLE}",
                                             RoleSessionName="test-setup")["Credentials"]
        c = cache[account]
        return boto3.client("kms", region_name=region, endpoint_url=endpoint,
                            aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                            aws_session_token=c["SessionToken"])

    return client


def make_keys(kms, rotating: int, off: int, asymmetric: int = 0, **create) -> dict[str, str]:
    """Keys in one account-Region: key id -> the ComplianceType the rule must give it."""
    out = {}
    for i in range(rotating + off):
        key_id = kms.create_key(Description=f"k{i}", **create)["KeyMetadata"]["KeyId"]
        if i < rotating:
            kms.enable_key_rotation(KeyId=key_id)
            out[key_id] = "COMPLIANT"
        else:
            out[key_id] = "NON_COMPLIANT"
    for _ in range(asymmetric):
        key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        out[key_id] = "NOT_APPLICABLE"
    return out


def fleet(kms_in, layout: dict[tuple[str, str], tuple[int, int, int]]) -> dict[tuple[str, str, str], str]:
    """Keys for each (account, region): (rotating, off, asymmetric). (account, region, key id) ->
    the ComplianceType the rule must give it."""
    expected = {}
    for (account, region), counts in layout.items():
        for key_id, compliance in make_keys(kms_in(account, region), *counts).items():
            expected[(account, region, key_id)] = compliance
    return expected


MIX = {
    (A, EAST): (1, 2, 1), (A, WEST): (1, 1, 0),
    (B, EAST): (2, 0, 0), (B, WEST): (0, 2, 1),
    (C, EAST): (1, 1, 0), (C, WEST): (1, 0, 0),
}


def placed(rows: list[dict]) -> Counter:
    """How many rows each (account, region, key id) has."""
    return Counter((r["accountId"], r["region"], r["resourceId"]) for r in rows)


def verdicts(rows: list[dict]) -> dict[tuple[str, str, str], str]:
    return {(r["accountId"], r["region"], r["resourceId"]): r["complianceType"] for r in rows}


def assumed_accounts(moto) -> list[str]:
    """The accounts of the roles AssumeRole was asked for, from moto's recorder."""
    out = []
    for r in moto.recorded():
        raw = r["body"].get("raw", "") if isinstance(r["body"], dict) else ""
        if "Action=AssumeRole" in raw:
            arn = urllib.parse.parse_qs(raw)["RoleArn"][0]
            out.append(arn.split(":")[4])
    return out


# --- 1. several accounts and Regions -------------------------------------------------------------


def test_audit_of_several_accounts_and_regions(cli, kms_in):
    expected = fleet(kms_in, MIX)
    # A key in the caller's own account: not asked for, so not read.
    make_keys(kms_in(ACCOUNT, EAST), 0, 1)

    out = cli("audit", "--accounts", f"{A},{B},{C}", "--region", EAST, "--region", WEST, "--output", "json")

    assert out.returncode == 1, out.stderr
    rows = json_lines(out.stdout)
    assert set(placed(rows).values()) == {1}, "a key listed twice"
    assert verdicts(rows) == expected
    for r in rows:
        assert r["arn"] == f"arn:aws:kms:{r['region']}:{r['accountId']}:key/{r['resourceId']}"
    non_compliant = sum(v == "NON_COMPLIANT" for v in expected.values())
    assert f"{len(expected)} key(s) in 2 Region(s) of 3 account(s)" in out.stderr
    assert f"{non_compliant} NON_COMPLIANT" in out.stderr
    assert "error:" not in out.stderr

    table = cli("audit", "--accounts", f"{A},{B},{C}", "--region", EAST, "--region", WEST)

    assert table.returncode == 1, table.stderr
    header, *body = table.stdout.splitlines()
    assert header.split()[:3] == ["ACCOUNT", "KEY", "ID"]
    for (account, region, key_id), compliance in expected.items():
        # One row a key (the annotation may wrap onto lines of its own, which start blank).
        (line,) = [b for b in body if b.split()[:2] == [account, key_id]]
        assert line.split()[3:5] == [region, compliance]


def test_findings_of_several_accounts_carry_each_keys_account_and_region(cli, kms_in):
    expected = fleet(kms_in, {(A, EAST): (1, 1, 0), (B, WEST): (0, 1, 1)})

    ocsf = cli("audit", "--accounts", f"{A},{B}", "--region", EAST, "--region", WEST, "--output", "ocsf")
    asff = cli("audit", "--accounts", f"{A},{B}", "--region", EAST, "--region", WEST, "--output", "asff")

    assert ocsf.returncode == asff.returncode == 1, ocsf.stderr + asff.stderr
    found = {(f["cloud"]["account"]["uid"], f["cloud"]["region"], f["resources"][0]["uid"].rsplit("/", 1)[1])
             for f in json_lines(ocsf.stdout)}
    assert found == set(expected)
    found = {(f["AwsAccountId"], f["Region"], f["Resources"][0]["Id"].rsplit("/", 1)[1])
             for f in json_lines(asff.stdout)}
    assert found == set(expected)


def test_securityhub_export_sends_each_accounts_findings_to_its_own_hub(cli, kms_in, aws_env):
    # BatchImportFindings with the default product takes a finding only from the account it is
    # about (BatchImportFindings, API reference): each member's findings go to its own hub.
    expected = fleet(kms_in, {(A, EAST): (1, 1, 0), (B, WEST): (0, 2, 0)})
    endpoint = aws_env["AWS_ENDPOINT_URL"]

    plan = cli("securityhub", "export", "--accounts", f"{A},{B}", "--region", EAST, "--region", WEST,
               "--output", "json")
    sent = cli("securityhub", "export", "--apply", "--accounts", f"{A},{B}", "--region", EAST,
               "--region", WEST, "--output", "json")

    assert plan.returncode == 1, plan.stderr
    assert sent.returncode == 0, sent.stderr
    rows = json_lines(sent.stdout)
    assert {(r["accountId"], r["region"], r["resourceArn"].rsplit("/", 1)[1]) for r in rows} == set(expected)
    assert all(r["result"] == "sent" for r in rows)
    for account in (A, B):
        c = boto3.client("sts", region_name=EAST, endpoint_url=endpoint).assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="check")["Credentials"]
        found = set()
        for region in (EAST, WEST):
            hub = boto3.client("securityhub", region_name=region, endpoint_url=endpoint,
                               aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                               aws_session_token=c["SessionToken"])
            for f in hub.get_findings()["Findings"]:
                assert f["AwsAccountId"] == account, f
                found.add((account, f["Region"], f["Resources"][0]["Id"].rsplit("/", 1)[1]))
        assert found == {k for k in expected if k[0] == account}


# --- 2. an account and an account-Region that cannot be read -------------------------------------


def unreachable_run(cli, kms_in, proxy):
    """Accounts A, B, C in two Regions; B's role cannot be assumed, and KMS refuses every request
    signed for eu-west-1 (as AWS does in a Region not enabled in the account), so A/eu-west-1 and
    C/eu-west-1 cannot be read. The keys expected, the run, and its error lines."""
    expected = fleet(kms_in, MIX)
    proxy.reset(Plan(assume_role_denied_accounts=(B,), kms_denied_regions=(WEST,)))
    out = cli("audit", "--accounts", f"{A},{B},{C}", "--region", EAST, "--region", WEST, "--output", "json")
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    return expected, out, errors


def test_an_unreachable_account_and_region_are_named_and_the_others_go_on(cli, kms_in, proxy):
    expected, out, errors = unreachable_run(cli, kms_in, proxy)

    assert out.returncode == 2, out.stderr
    rows = json_lines(out.stdout)
    assert verdicts(rows) == {k: v for k, v in expected.items() if k[0] != B and k[1] == EAST}
    assert set(placed(rows).values()) == {1}
    assert proxy.journal.injected["assume_role_denied"] >= 1
    assert proxy.journal.injected["kms_region_denied"] >= 2
    assert len(errors) == 3, out.stderr
    assert any(f"account {B}" in e and "sts:AssumeRole" in e and f":iam::{B}:role/{ROLE}" in e for e in errors), errors
    for account in (A, C):
        assert any(f"{WEST} of account {account}" in e for e in errors), errors
    assert not any(f"{EAST} of account" in e for e in errors), errors
    assert "account(s) or account-Region(s) not read" in out.stderr


def test_the_summary_counts_every_account_and_account_region_not_read(cli, kms_in, proxy):
    _, out, _ = unreachable_run(cli, kms_in, proxy)

    assert "3 account(s) or account-Region(s) not read" in out.stderr, out.stderr
    assert "0 not evaluated (errors)" in out.stderr, out.stderr


def test_a_region_not_enabled_is_not_called_a_credentials_problem(cli, kms_in, proxy):
    _, out, errors = unreachable_run(cli, kms_in, proxy)

    west = [e for e in errors if f"{WEST} of account" in e]
    assert west, out.stderr
    for e in west:
        # Either cause is said, the Region first: the CLI cannot tell them apart from the answer.
        assert "is probably not enabled in the account" in e, e


# --- 3. --organization ---------------------------------------------------------------------------


def test_organization_covers_exactly_its_active_accounts(cli, kms_in, aws_env, moto):
    org = boto3.client("organizations", region_name=EAST, endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    org.create_organization(FeatureSet="ALL")
    members = [org.create_account(AccountName=f"m{i}", Email=f"m{i}@example.com")["CreateAccountStatus"]["AccountId"]
               for i in range(3)]
    with_keys, empty, closed = members
    org.close_account(AccountId=closed)  # moto marks it SUSPENDED
    status = {a["Id"]: a["Status"] for a in org.list_accounts()["Accounts"]}
    assert status[closed] != "ACTIVE" and status[with_keys] == status[empty] == status[ACCOUNT] == "ACTIVE"
    expected = fleet(kms_in, {(ACCOUNT, EAST): (1, 1, 0), (with_keys, EAST): (1, 2, 0)})
    make_keys(kms_in(closed, EAST), 1, 1)
    moto.start_recording()

    out = cli("audit", "--organization", "--region", EAST, "--output", "json")

    moto.stop_recording()
    assert out.returncode == 1, out.stderr
    rows = json_lines(out.stdout)
    assert verdicts(rows) == expected
    assert set(placed(rows).values()) == {1}
    # The management account with the caller's credentials, each other ACTIVE account through its
    # role, assumed once (the credentials taken to check the role are the ones the clients use);
    # the closed account is not touched.
    assert sorted(assumed_accounts(moto)) == sorted([with_keys, empty])
    assert "of 3 account(s)" in out.stderr
    assert "error:" not in out.stderr


# --- 4. --accounts-file --------------------------------------------------------------------------


def test_accounts_file_with_comments_and_blank_lines(cli, kms_in, tmp_path):
    expected = fleet(kms_in, {(A, EAST): (1, 1, 0), (B, EAST): (0, 1, 0)})
    make_keys(kms_in(C, EAST), 0, 1)  # not in the file
    listed = tmp_path / "accounts.txt"
    listed.write_text(f"# payments\n{A}   # prod\n\n   \n# {C} retired\n  {B}\n{A}\n")

    out = cli("audit", "--accounts-file", str(listed), "--region", EAST, "--output", "json")

    assert out.returncode == 1, out.stderr
    rows = json_lines(out.stdout)
    assert verdicts(rows) == expected
    assert set(placed(rows).values()) == {1}
    assert "of 2 account(s)" in out.stderr


def test_a_malformed_accounts_file_fails_before_any_aws_call(cli, moto, proxy, tmp_path):
    listed = tmp_path / "accounts.txt"
    listed.write_text(f"# ok\n{A}\n\n2222-3333-4444\n{B}\n")
    moto.start_recording()

    out = cli("audit", "--accounts-file", str(listed), "--region", EAST, "--output", "json")

    moto.stop_recording()
    assert out.returncode == 2, out.stderr
    assert "line 4" in out.stderr and "2222-3333-4444" in out.stderr, out.stderr
    assert out.stdout == ""
    assert moto.recorded() == []
    assert not proxy.journal.operations


# --- 5. exposure orders the plan across accounts -------------------------------------------------


def test_a_public_key_in_one_account_goes_before_private_keys_of_another(cli, kms_in):
    private = sorted(make_keys(kms_in(A, EAST), 0, 3))
    (public,) = make_keys(kms_in(B, EAST), 0, 1, Policy=PUBLIC_POLICY)

    plan = cli("remediate", "--accounts", f"{A},{B}", "--region", EAST, "--output", "json")

    assert plan.returncode == 0, plan.stderr
    rows = json_lines(plan.stdout)
    planned = [(r["accountId"], r["resourceId"]) for r in rows if r["outcome"] == "planned"]
    assert sorted(planned) == sorted([(A, k) for k in private] + [(B, public)])
    # B's public key first, in batch 1, although account A sorts first.
    assert planned[0] == (B, public)
    first = next(r for r in rows if r["resourceId"] == public)
    assert first["batch"] == 1 and first["exposure"] == "public"
    assert all(r["exposure"] == "private" for r in rows if r["resourceId"] in private)

    audit = cli("audit", "--accounts", f"{A},{B}", "--region", EAST, "--output", "json")

    assert audit.returncode == 1, audit.stderr
    exposure = {r["resourceId"]: r.get("exposure") for r in json_lines(audit.stdout)}
    assert exposure == {public: "public", **{k: "private" for k in private}}


# --- 6. --state and --resume ---------------------------------------------------------------------


def test_audit_resume_reads_nothing_finished_again(cli, kms_in, proxy, tmp_path):
    expected = fleet(kms_in, MIX)
    state = tmp_path / "audit.state"
    args = ("audit", "--accounts", f"{A},{B},{C}", "--region", EAST, "--region", WEST, "--output", "json",
            "--state", str(state))

    first = cli(*args)

    assert first.returncode == 1, first.stderr
    assert verdicts(json_lines(first.stdout)) == expected
    assert proxy.journal.operations["kms.DescribeKey"] >= len(expected)
    proxy.reset(Plan())

    again = cli(*args, "--resume")

    assert again.returncode == 1, again.stderr
    sort = lambda rows: sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))  # noqa: E731
    assert sort(json_lines(again.stdout)) == sort(json_lines(first.stdout))
    assert "6 account-Region(s) finished by the earlier run" in again.stderr
    kms_reads = {op: n for op, n in proxy.journal.operations.items() if op.startswith("kms.")}
    assert kms_reads == {}, kms_reads

    refused = cli(*args)

    assert refused.returncode == 2
    assert "--resume" in refused.stderr
    assert refused.stdout == ""


def test_remediate_resume_never_enables_a_key_twice(cli, kms_in, proxy, tmp_path):
    expected = fleet(kms_in, MIX)
    off = {k for k, v in expected.items() if v == "NON_COMPLIANT"}
    state = tmp_path / "remediate.state"
    args = ("remediate", "--apply", "--yes", "--accounts", f"{A},{B},{C}", "--region", EAST, "--region", WEST,
            "--output", "json", "--state", str(state))

    first = cli(*args)

    assert first.returncode == 0, first.stderr
    changed = {(r["accountId"], r["region"], r["resourceId"]) for r in json_lines(first.stdout) if r["outcome"] == "changed"}
    assert changed == off

    again = cli(*args, "--resume")

    assert again.returncode == 0, again.stderr
    assert proxy.journal.operations["kms.EnableKeyRotation"] == len(off)
    outcomes = {(r["accountId"], r["region"], r["resourceId"]): r["outcome"] for r in json_lines(again.stdout)}
    assert all(outcomes[k] == "already_compliant" for k in off)
    for (account, region, key_id) in off:
        assert kms_in(account, region).get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]


# --- 7. Ctrl-C -----------------------------------------------------------------------------------


def interrupt_when(binary, args, proxy, operation: str, count: int):
    """Start `kms-rotation args`, send SIGINT once the proxy has seen `count` `operation` requests;
    (exit status, stdout, stderr)."""
    proc = subprocess.Popen([str(binary), *args], env=dict(os.environ), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proxy.journal.operations[operation] < count:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stdout, stderr


def test_ctrl_c_finishes_the_keys_in_flight_and_resume_completes(cli, kms_in, proxy, tmp_path):
    # 6 account-Regions of 4 keys; at most 2 keys in flight, each read held back: a few seconds.
    expected = fleet(kms_in, {place: (2, 2, 0) for place in MIX})
    proxy.reset(Plan(key_read_delay=0.1))
    state = tmp_path / "audit.state"
    args = ["audit", "--accounts", f"{A},{B},{C}", "--region", EAST, "--region", WEST, "--output", "json",
            "--state", str(state), "--max-in-flight", "2"]
    # Once the first account-Regions are finished, well before the last one is.
    status, stdout, stderr = interrupt_when(cli.binary, args, proxy, "kms.DescribeKey", 10)

    assert status == 130, stderr
    interrupted = json_lines(stdout)
    assert set(placed(interrupted).values()) <= {1}
    assert set(verdicts(interrupted).items()) <= set(expected.items())
    assert len(interrupted) < len(expected), "the run ended before the interrupt"
    assert "account-Region(s) not finished" in stderr and "--resume" in stderr, stderr
    finished = sum(1 for line in state.read_text().splitlines() if '"kind":"finished"' in line)
    assert finished < len(MIX)
    proxy.reset(Plan())

    resumed = cli(*args, "--resume")

    assert resumed.returncode == 1, resumed.stderr
    rows = json_lines(resumed.stdout)
    assert set(placed(rows).values()) == {1}
    assert verdicts(rows) == expected
    assert set(verdicts(interrupted)) | set(verdicts(rows)) == set(expected)
    # Only the account-Regions not finished were read again.
    if finished:
        assert f"{finished} account-Region(s) finished by the earlier run" in resumed.stderr
    assert proxy.journal.operations["kms.DescribeKey"] == len(expected) - 4 * finished


def interrupted_apply(cli, kms_in, proxy, tmp_path):
    """remediate --apply --state over MIX, interrupted after its second EnableKeyRotation.
    (the NON_COMPLIANT keys, the args, exit status, stdout, stderr)."""
    expected = fleet(kms_in, MIX)
    off = {k for k, v in expected.items() if v == "NON_COMPLIANT"}
    # Batches of one key, each change verified by a read held back: the apply takes a few seconds.
    proxy.reset(Plan(key_read_delay=0.2))
    args = ["remediate", "--apply", "--yes", "--batch-size", "1", "--accounts", f"{A},{B},{C}",
            "--region", EAST, "--region", WEST, "--output", "json", "--state", str(tmp_path / "remediate.state")]
    status, stdout, stderr = interrupt_when(cli.binary, args, proxy, "kms.EnableKeyRotation", 2)
    return off, args, status, stdout, stderr


def outcomes(stdout: str) -> dict[tuple[str, str, str], str]:
    return {(r["accountId"], r["region"], r["resourceId"]): r["outcome"] for r in json_lines(stdout)}


def test_ctrl_c_during_remediate_apply_then_resume_enables_each_key_once(cli, kms_in, proxy, tmp_path):
    off, args, _, stdout, stderr = interrupted_apply(cli, kms_in, proxy, tmp_path)

    first = outcomes(stdout)
    changed = {k for k, o in first.items() if o == "changed"}
    # The batch in flight was finished; none was started after Ctrl-C.
    assert 2 <= len(changed) < len(off), stderr
    assert {k for k, o in first.items() if o == "not_applied"} == off - changed, stderr
    assert proxy.journal.operations["kms.EnableKeyRotation"] == len(changed)
    proxy.reset(Plan())

    resumed = cli(*args, "--resume")

    assert resumed.returncode == 0, resumed.stderr
    assert {k for k, o in outcomes(resumed.stdout).items() if o == "changed"} == off - changed
    assert proxy.journal.operations["kms.EnableKeyRotation"] == len(off - changed)
    for (account, region, key_id) in off:
        assert kms_in(account, region).get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]


def test_ctrl_c_during_remediate_apply_exits_130_and_says_resume(cli, kms_in, proxy, tmp_path):
    _, _, status, _, stderr = interrupted_apply(cli, kms_in, proxy, tmp_path)

    assert status == 130, stderr
    assert "--resume" in stderr, stderr
