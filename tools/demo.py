"""`make demo`: the whole story on a local emulated AWS account.

1. start moto and seed an account with one key for each case moto can represent;
2. run the rule under the Lambda runtime emulator (`cargo lambda watch`), invoked with
   `cargo lambda invoke`: a periodic run and a configuration-change event;
3. show what reached AWS Config, as a table and as counts;
4. remediate the NON_COMPLIANT keys with the operator CLI (`kms-rotation remediate`), run the
   rule again and show the result;
5. stop everything it started, also when interrupted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))

import localaws  # noqa: E402
from localaws import FUNCTION, REGION, ROOT, event, put_evaluations  # noqa: E402

WIDTH = min(shutil.get_terminal_size((120, 24)).columns, 140)


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say()
    say(f"== {text} ".ljust(WIDTH, "="))


def invoke(watch: localaws.LambdaWatch, payload: dict, workdir: Path) -> dict:
    """Invoke the function the way a person would: `cargo lambda invoke`."""
    data = workdir / "event.json"
    data.write_text(json.dumps(payload))
    out = subprocess.run(
        [localaws.cargo_lambda(), "lambda", "invoke", FUNCTION, "--invoke-address", "127.0.0.1",
         "--invoke-port", str(watch.port), "--data-file", str(data)],
        capture_output=True, text=True, timeout=600,
    )
    if out.returncode != 0:
        raise SystemExit(f"cargo lambda invoke failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout)


def show(evaluations: list[dict], names: dict[str, str]) -> None:
    """A table: key, alias, compliance, annotation; then the counts."""
    rows = sorted(evaluations, key=lambda e: (e["ComplianceType"], names.get(e["ComplianceResourceId"], "~")))
    kw = max([len("key")] + [len(e["ComplianceResourceId"]) for e in rows])
    aw = max([len("alias")] + [len(names.get(e["ComplianceResourceId"], "-")) for e in rows])
    note_width = max(40, WIDTH - kw - aw - 14 - 6)
    say(f"{'key':<{kw}}  {'alias':<{aw}}  {'compliance':<14}  annotation")
    for e in rows:
        key = e["ComplianceResourceId"]
        lines = textwrap.wrap(e["Annotation"], note_width, break_on_hyphens=False) or [""]
        say(f"{key:<{kw}}  {names.get(key, '-'):<{aw}}  {e['ComplianceType']:<14}  {lines[0]}")
        for more in lines[1:]:
            say(f"{'':<{kw}}  {'':<{aw}}  {'':<14}  {more}")
    counts = Counter(e["ComplianceType"] for e in evaluations)
    say()
    say("  ".join(f"{c}: {counts.get(c, 0)}" for c in ("COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"))
        + f"  (total {len(evaluations)})")


def periodic(watch, moto, workdir) -> list[dict]:
    moto.start_recording()
    result = invoke(watch, event("scheduled"), workdir)
    say(f"invocation result: {json.dumps(result)}")
    return [e for batch in put_evaluations(moto.recorded()) for e in batch]


def main() -> int:
    # Stop cleanly on SIGTERM too: the context managers below stop moto and the emulator.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="kms-rotation-demo-") as tmp:
        workdir = Path(tmp)
        heading("Building the rule and the operator CLI (the first build compiles the AWS SDK: minutes)")
        # cargo's own progress bar and "Compiling ..." lines, on stderr, so nothing looks stuck.
        subprocess.run(["cargo", "build", "--bins"], cwd=ROOT, check=True)
        with localaws.MotoServer(workdir / "moto.log") as moto:
            env = localaws.aws_environment(moto.url)
            os.environ.update(env)
            client = lambda region: boto3.client("kms", region_name=region, endpoint_url=moto.url)  # noqa: E731

            heading(f"Seeding an emulated account (moto at {moto.url})")
            keys = localaws.seed_account(client, fillers=4)
            names = localaws.aliases(client(REGION))
            say(f"{len(keys)} keys in {REGION}: " + ", ".join(k.case for k in keys))
            say("(moto cannot represent AWS-managed keys, custom key stores or rotation periods;"
                " the mock tests cover those.)")

            with localaws.LambdaWatch(moto.url, workdir / "watch.log") as watch:
                heading("Periodic evaluation (ScheduledNotification) through cargo lambda invoke")
                before = periodic(watch, moto, workdir)
                show(before, names)

                heading("Configuration change (ConfigurationItemChangeNotification) for one key")
                target = next(k for k in keys if k.case == "rotation-off")
                moto.start_recording()
                result = invoke(watch, event("change-rotation-off", target.key_id), workdir)
                requests = moto.recorded()
                kms_calls = [r["target"] for r in requests if r["headers"].get("X-Amz-Target", "").startswith("TrentService.")]
                say(f"invocation result: {json.dumps(result)}; KMS calls: {kms_calls or 'none (decided from the item)'}")
                show([e for b in put_evaluations(requests) for e in b], names)

                heading("Remediation: kms-rotation remediate --apply --yes (production first)")
                cli = ROOT / "target" / "debug" / "kms-rotation"
                cmd = [str(cli), "remediate", "--apply", "--yes", "--batch-size", "5", "--priority-tag", "env=prod"]
                say("$ " + " ".join(["kms-rotation", *cmd[1:]]))
                done = subprocess.run(cmd, env={**os.environ, **env}, text=True)
                if done.returncode not in (0, 1):
                    raise SystemExit(f"kms-rotation remediate failed with exit status {done.returncode}")

                heading("Findings where security teams look: one OCSF Compliance Finding (audit --output ocsf)")
                ocsf = subprocess.run([str(cli), "audit", "--output", "ocsf"], env={**os.environ, **env},
                                      text=True, capture_output=True)
                findings = [json.loads(line) for line in ocsf.stdout.splitlines() if line.strip()]
                failing = [f for f in findings if f.get("compliance", {}).get("status_id") == 3] or findings
                if failing:
                    say(json.dumps(failing[0], indent=2))
                say(f"({len(findings)} findings, one per key; exit status {ocsf.returncode})")

                heading("Security Hub: kms-rotation securityhub export --apply (BatchImportFindings, to moto)")
                cmd = [str(cli), "securityhub", "export", "--apply"]
                say("$ " + " ".join(["kms-rotation", *cmd[1:]]))
                exported = subprocess.run(cmd, env={**os.environ, **env}, text=True, capture_output=True)
                say(exported.stdout.strip()[-2000:])
                if exported.stderr.strip():
                    say(exported.stderr.strip()[-1000:])
                if exported.returncode not in (0, 1):
                    raise SystemExit(f"kms-rotation securityhub export failed with exit status {exported.returncode}")

                heading("Periodic evaluation after remediation")
                after = periodic(watch, moto, workdir)
                show(after, names)
                still = [e for e in after if e["ComplianceType"] == "NON_COMPLIANT"]
                if still:
                    say()
                    say("Still NON_COMPLIANT: " + ", ".join(names.get(e["ComplianceResourceId"], e["ComplianceResourceId"]) for e in still))
        heading("Done: moto and the Lambda emulator are stopped")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: moto and the Lambda emulator were stopped", file=sys.stderr)
        sys.exit(130)
