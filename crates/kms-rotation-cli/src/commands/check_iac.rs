//! `kms-rotation check-iac PATH...`: the rule's decision on the KMS keys of CloudFormation
//! templates, Terraform modules and Terraform plans, before deployment ([`kms_rotation_iac`]).
//!
//! Exit status: 0 nothing to report, 1 a key NON_COMPLIANT (or UNKNOWN, unless
//! `--allow-unknown`), 2 a file could not be read (named on stderr; the other files are still
//! checked and reported).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Utc;
use serde_json::{json, Value};

use crate::args::{CheckIacArgs, IacOutput};
use crate::output::{json_lines, table};
use crate::{CliError, Exit};
use kms_rotation_core::decision::Compliance;
use kms_rotation_core::params::RuleParameters;
use kms_rotation_iac::cfn_params::ParameterValues;
use kms_rotation_iac::scan::{check, Report};
use kms_rotation_iac::{Finding, IacError, Outcome};

/// The exit status of a run: errors first, then NON_COMPLIANT keys (and UNKNOWN ones unless
/// `--allow-unknown`).
fn exit(report: &Report, allow_unknown: bool) -> Exit {
    if !report.errors.is_empty() {
        return Exit::Error;
    }
    let finding = |f: &Finding| match &f.outcome {
        Outcome::Verdict(v) => v.compliance == Compliance::NonCompliant,
        Outcome::Unknown(_) => !allow_unknown,
    };
    if report.findings.iter().any(finding) {
        Exit::Findings
    } else {
        Exit::Clean
    }
}

pub(crate) fn command(args: &CheckIacArgs, params: &RuleParameters) -> Result<Exit, CliError> {
    let parameters = parameter_values(args)?;
    let vars = kms_rotation_iac::tf_vars::VarOptions {
        files: args.var_files.clone(),
        vars: args.vars.clone(),
    };
    let report = check(
        &args.paths,
        params,
        &parameters,
        &vars,
        Utc::now().date_naive(),
    );
    let stdout = match args.output {
        IacOutput::Table => render_table(&report),
        IacOutput::Json => {
            json_lines(&report.findings.iter().map(finding_json).collect::<Vec<_>>())
        }
        IacOutput::Sarif => format!("{:#}\n", sarif(&report)),
    };
    print!("{stdout}");
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for e in &report.errors {
        eprintln!("error: {}: {}", e.file.display(), e.error);
    }
    eprintln!("{}", summary(&report));
    Ok(exit(&report, args.allow_unknown))
}

/// The CloudFormation parameter values of `--parameters FILE` (in order) then `--parameter
/// KEY=VALUE`: a file or pair that cannot be read stops the run (exit 2), the file named.
fn parameter_values(args: &CheckIacArgs) -> Result<ParameterValues, CliError> {
    let mut values = ParameterValues::default();
    for file in &args.parameters {
        values
            .read_file(file)
            .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
    }
    for pair in &args.parameter {
        values
            .add_pair(pair, "--parameter")
            .map_err(|e| CliError::Usage(format!("--parameter {e}")))?;
    }
    Ok(values)
}

/// The JSON object of one finding (one line of `--output json`).
pub(super) fn finding_json(f: &Finding) -> Value {
    json!({
        "file": f.resource.file.display().to_string(),
        "line": f.outcome.line(f.resource.line),
        "resource": f.resource.name,
        "type": f.resource.resource_type,
        "complianceType": f.outcome.compliance_type(),
        "reason": f.outcome.reason(),
        "message": f.message(),
        // The module calls that create it, from the root down (Terraform; empty otherwise).
        "via": f.resource.via.iter().map(|c| json!({
            "module": c.address,
            "file": c.file.display().to_string(),
            "line": c.line,
        })).collect::<Vec<_>>(),
        "fix": f.fix,
    })
}

fn render_table(report: &Report) -> String {
    if report.findings.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<String>> = report
        .findings
        .iter()
        .map(|f| {
            vec![
                format!(
                    "{}:{}",
                    f.resource.file.display(),
                    f.outcome.line(f.resource.line)
                ),
                // Two roots calling one module give the same address: the call chain tells them
                // apart.
                std::iter::once(f.resource.name.clone())
                    .chain(via_text(f).into_iter().map(|c| format!("via {c}")))
                    .collect::<Vec<_>>()
                    .join("\n"),
                f.resource.resource_type.clone(),
                f.outcome.compliance_type().to_owned(),
                f.outcome.reason().to_owned(),
                f.message(),
            ]
        })
        .collect();
    table(
        &[
            "LOCATION", "RESOURCE", "TYPE", "RESULT", "REASON", "MESSAGE",
        ],
        &rows,
    )
}

/// Whether a finding is a module call that could not be read (a row of its own, not a key).
fn is_module_row(f: &Finding) -> bool {
    f.outcome.reason() == "UNKNOWN_MODULE"
}

/// The line on stderr after every run. Work left undone is counted and said, each with its
/// number, so that "0 keys" never reads as success when something was not checked: module calls
/// not followed (their rows are not keys), templates, plans and Terraform root modules with no
/// KMS key, files skipped, files refused over a bound, module calls refused, files unreadable.
fn summary(report: &Report) -> String {
    let keys: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| !is_module_row(f))
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &keys {
        *counts.entry(f.outcome.compliance_type()).or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let (mut limits, mut modules, mut unreadable) = (0, 0, 0);
    for e in &report.errors {
        match e.error {
            IacError::Limit(_) => limits += 1,
            IacError::Module(_) => modules += 1,
            _ => unreadable += 1,
        }
    }
    let not_followed = report.findings.len() - keys.len();
    let mut out = format!(
        "check-iac: {} files checked, {} keys",
        report.checked,
        keys.len()
    );
    if !counts.is_empty() {
        out.push_str(&format!(" ({})", counts.join(", ")));
    }
    let parts = [
        (
            not_followed,
            "module calls not followed (UNKNOWN_MODULE: their keys are not known)",
        ),
        (
            report.documents_without_keys,
            "templates or plans with no KMS key",
        ),
        (
            report.modules_without_keys,
            "Terraform root modules with no KMS key",
        ),
        (
            report.skipped,
            "files skipped (neither a template nor a plan)",
        ),
        (limits, "files refused over a limit"),
        (
            modules,
            "module calls refused (a cycle, or nested too deep)",
        ),
        (unreadable, "files unreadable"),
    ];
    for (n, what) in parts {
        if n > 0 {
            out.push_str(&format!(", {n} {what}"));
        }
    }
    out
}

/// The module calls that create a key, from the root down: `module.key (main.tf:3)`.
fn via_text(f: &Finding) -> Vec<String> {
    f.resource
        .via
        .iter()
        .map(|c| format!("{} ({}:{})", c.address, c.file.display(), c.line))
        .collect()
}

/// A relative path as a SARIF `uri` (forward slashes, percent-encoded); an absolute one as a
/// `file://` URI.
fn uri(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    let out = out.strip_prefix("./").map(str::to_owned).unwrap_or(out);
    if path.is_absolute() {
        format!("file://{out}")
    } else {
        out
    }
}

/// SARIF 2.1.0: one run, a rule per reason code, a result per key with its file and line.
pub(super) fn sarif(report: &Report) -> Value {
    let mut rule_ids: Vec<&str> = report.findings.iter().map(|f| f.outcome.reason()).collect();
    rule_ids.sort_unstable();
    rule_ids.dedup();
    let rules: Vec<Value> = rule_ids
        .iter()
        .map(|id| {
            json!({
                "id": id,
                "shortDescription": {"text": format!("KMS key rotation: {id}")},
                "helpUri": "https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html",
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| sarif_result(f, &rule_ids))
        .collect();
    let notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|e| {
            json!({
                "level": "error",
                "message": {"text": format!("{}: {}", e.file.display(), e.error)},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(&e.file)}}}],
            })
        })
        .chain(
            report
                .warnings
                .iter()
                .map(|w| json!({"level": "warning", "message": {"text": w}})),
        )
        .collect();
    json!({
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kms-rotation check-iac",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

/// SARIF 2.1.0 §3.27 result of one finding; `rule_ids` are the run's rules, in their order.
fn sarif_result(f: &Finding, rule_ids: &[&str]) -> Value {
    let (kind, level) = match &f.outcome {
        Outcome::Verdict(v) => match v.compliance {
            Compliance::Compliant => ("pass", "none"),
            Compliance::NotApplicable => ("notApplicable", "none"),
            Compliance::NonCompliant => ("fail", "error"),
        },
        Outcome::Unknown(_) => ("fail", "warning"),
    };
    let rule = f.outcome.reason();
    // SARIF 2.1.0 §3.27.22 relatedLocations: the module calls that create the key, from
    // the root down, each at the call's file and line (§3.28.2 id, unique in the result).
    let related: Vec<Value> = f
        .resource
        .via
        .iter()
        .enumerate()
        .map(|(id, c)| {
            json!({
                "id": id,
                "physicalLocation": {
                    "artifactLocation": {"uri": uri(&c.file)},
                    "region": {"startLine": c.line.max(1)},
                },
                "logicalLocations": [{"fullyQualifiedName": c.address, "kind": "module"}],
                "message": {"text": format!("module call {}", c.address)},
            })
        })
        .collect();
    let mut result = json!({
        "ruleId": rule,
        "ruleIndex": rule_ids.iter().position(|r| *r == rule).unwrap_or(0),
        "kind": kind,
        "level": level,
        "message": {"text": format!("{} {}: {}", f.resource.name, f.outcome.compliance_type(), f.message())},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": uri(&f.resource.file)},
                "region": {"startLine": f.outcome.line(f.resource.line).max(1)},
            },
            "logicalLocations": [{"name": f.resource.name, "kind": "resource"}],
        }],
        "properties": {
            "complianceType": f.outcome.compliance_type(),
            "resourceType": f.resource.resource_type,
            "fix": f.fix,
        },
    });
    if !related.is_empty() {
        result["relatedLocations"] = Value::Array(related);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_and_encoded() {
        assert_eq!(uri(Path::new("./a b/t.yaml")), "a%20b/t.yaml");
        assert_eq!(uri(Path::new("/x/t.tf")), "file:///x/t.tf");
    }
}
