# The two commands of the README, and the rest.
#   make demo   the whole story on a local emulated AWS account (moto)
#   make test   every test: formatting, lints, Rust unit and mock tests, end-to-end and baseline tests
#   make bench  the scale benchmark (docs/performance.md)
#   make bench-iac  check-iac on 1,000 template files (docs/shift-left.md)
#   make fuzz   more property-test cases than `make test` runs
#   make package  the Lambda zip (target/lambda/kms-rotation-rule/bootstrap.zip), x86_64

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# The venv is rebuilt only when the pinned requirements change.
VENV_STAMP := $(VENV)/.installed-$(shell cksum < tests/requirements.txt | cut -d' ' -f1)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# cargo-deny (licenses, bans, sources; deny.toml), installed once into .tools/.
DENY_VERSION := 0.20.2
DENY := .tools/bin/cargo-deny

# The CloudFormation Guard CLI (cfn-guard crate), installed into .tools/ (again when the pin changes);
# tests/iac/test_guard*.py run it, found through CFN_GUARD.
CFN_GUARD_VERSION := 3.2.1
CFN_GUARD := .tools/bin/cfn-guard

.PHONY: demo test venv rust-checks deny cfn-guard pytest chromium fuzz bench bench-org bench-iac package clean-venv

venv: $(VENV_STAMP)

$(VENV_STAMP): tests/requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

demo: venv
	$(PY) tools/demo.py

rust-checks:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	# The Lambda alone, with nothing of the CLI (crates/kms-rotation-core and its glue).
	cargo clippy -p rule-lambda --no-default-features --features lambda --lib --bins -- -D warnings
	cargo test --workspace --all-targets

$(DENY):
	cargo install --locked --quiet --root .tools cargo-deny --version $(DENY_VERSION)

deny: $(DENY)
	$(DENY) --locked check licenses bans sources

cfn-guard:
	@[ "$$($(CFN_GUARD) --version 2>/dev/null)" = "cfn-guard $(CFN_GUARD_VERSION)" ] || \
	  cargo install --locked --quiet --root .tools cfn-guard --version $(CFN_GUARD_VERSION)

# Debian's chromium, for the browser test of `audit --report` (tests/e2e/test_report.py), unless a
# chromium or Chrome is on PATH already; with sudo when not root.
chromium:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then :; \
	else \
	  SUDO=; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi; \
	  $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	fi

pytest: venv chromium cfn-guard
	$(VENV)/bin/ruff check tests tools
	CFN_GUARD=$(CURDIR)/$(CFN_GUARD) $(PY) -m pytest tests -q -p no:cacheprovider

test: rust-checks deny pytest

# More property-test cases than `make test` runs (about 13 minutes on 2 cores): the decision and the
# rule's properties, then check-iac's readers of untrusted YAML, JSON and HCL (crates/kms-rotation-iac/src/fuzz.rs).
fuzz:
	PROPTEST_CASES=100000 cargo test -p rule-lambda --test it properties::
	PROPTEST_CASES=100000 cargo test --release -p kms-rotation-iac --lib fuzz::

# The scale benchmark: the release rule against a simulated AWS endpoint (docs/performance.md).
bench:
	cargo build --release -p rule-lambda --no-default-features --features lambda --bin kms-rotation-rule
	cargo run --release -p kms-rotation-bench

# `kms-rotation audit` over a simulated organization: 200 accounts × 4 Regions × 250 keys, a full
# run, then one killed half-way and resumed; then `remediate --apply --yes` at --batch-size 25 and
# 10000; and the SDK alone over the same organization, its CPU a KMS call beside the CLI's
# (docs/performance.md, Organization scale).
bench-org:
	cargo build --release -p rule-lambda --bin kms-rotation
	cargo build --release -p kms-rotation-bench --bins
	cargo run --release -p kms-rotation-bench -- org

# check-iac on 1,000 template files, timed (docs/shift-left.md).
bench-iac:
	cargo build --release -p rule-lambda --bin kms-rotation
	python3 tools/bench_iac.py --binary target/release/kms-rotation

# The Lambda deployment zip, built with cargo-lambda (from the venv) for x86_64, with the Lambda's
# glue only (no CLI crates); for arm64 (Graviton) run the same with --arm64 instead of --x86-64 on a
# machine with that target.
package: venv
	$(VENV)/bin/cargo-lambda lambda build --release --x86-64 --output-format zip --bin kms-rotation-rule --no-default-features --features lambda
	@ls -l target/lambda/kms-rotation-rule/bootstrap.zip

clean-venv:
	rm -rf $(VENV)
