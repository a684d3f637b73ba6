"""The check-iac benchmark: 1,000 template files (CloudFormation YAML and JSON, Terraform
modules), generated into a temporary directory, checked by one `kms-rotation check-iac` run.
Prints the wall time. `make bench-iac` runs it on the release binary; the issue's target is
under a second on this machine.

    python tools/bench_iac.py [--binary target/release/kms-rotation] [--files 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "iac" / "fixtures"


def corpus(directory: Path, files: int) -> None:
    """Copies of the fixture corpus' templates and modules, round-robin, until `files` files."""
    sources = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix in {".yaml", ".json", ".tf"})
    for i in range(files):
        src = sources[i % len(sources)]
        # Terraform files stay together as modules: one directory per copy of a module's directory.
        dest_dir = directory / f"copy{i // len(sources):03d}" / src.parent.relative_to(FIXTURES)
        dest_dir.mkdir(parents=True, exist_ok=True)
        (dest_dir / src.name).write_bytes(src.read_bytes())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "kms-rotation"))
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus(Path(tmp), args.files)
        count = sum(1 for p in Path(tmp).rglob("*") if p.is_file())
        best, keys = float("inf"), 0
        for _ in range(args.runs):
            start = time.perf_counter()
            proc = subprocess.run([args.binary, "check-iac", "--output", "json", tmp],
                                  capture_output=True, text=True)
            best = min(best, time.perf_counter() - start)
            if proc.returncode not in (0, 1):
                print(proc.stderr, file=sys.stderr)
                return 2
            keys = len(proc.stdout.splitlines())
        print(json.dumps({"files": count, "keys": keys, "seconds": round(best, 3),
                          "binary": str(Path(args.binary).relative_to(ROOT)) if Path(args.binary).is_relative_to(ROOT) else args.binary}))
        print(f"check-iac: {count} template files, {keys} keys, in {best:.3f} s (best of {args.runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
