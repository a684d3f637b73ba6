//! `kms-rotation check-iac PATH...`: the rule's decision on the KMS keys of CloudFormation
//! templates, Terraform modules and Terraform plans, before deployment ([`crate::iac`]).
//!
//! Exit status: 0 nothing to report, 1 a key NON_COMPLIANT (or UNKNOWN, unless
//! `--allow-unknown`), 2 a file could not be read (named on stderr; the other files are still
//! checked and reported).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use serde_json::{json, Value};

use super::args::{CheckIacArgs, IacOutput};
use super::output::{json_lines, table};
use super::{CliError, Exit};
use crate::decision::Compliance;
use crate::iac::cfn_params::ParameterValues;
use crate::iac::{self, assess_unit, Finding, IacError, Outcome};
use crate::params::RuleParameters;

/// A file that could not be checked, and why.
#[derive(Debug)]
pub(super) struct FileError {
    pub file: PathBuf,
    pub error: IacError,
}

/// What one run found.
#[derive(Debug, Default)]
pub(super) struct Report {
    pub findings: Vec<Finding>,
    pub errors: Vec<FileError>,
    /// Files read (templates, modules' files, plans).
    pub checked: usize,
    /// Files of a candidate extension that are neither a template nor a plan.
    pub skipped: usize,
    /// Printed on stderr, not failing the run (a var file's value for an undeclared variable).
    pub warnings: Vec<String>,
    /// Templates and plans read that declare no KMS key.
    pub documents_without_keys: usize,
    /// Terraform root modules read (their calls followed) that create no KMS key and have no
    /// module call left unread.
    pub modules_without_keys: usize,
}

impl Report {
    pub(super) fn exit(&self, allow_unknown: bool) -> Exit {
        if !self.errors.is_empty() {
            return Exit::Error;
        }
        let finding = |f: &Finding| match &f.outcome {
            Outcome::Verdict(v) => v.compliance == Compliance::NonCompliant,
            Outcome::Unknown(_) => !allow_unknown,
        };
        if self.findings.iter().any(finding) {
            Exit::Findings
        } else {
            Exit::Clean
        }
    }
}

pub(super) fn command(args: &CheckIacArgs, params: &RuleParameters) -> Result<Exit, CliError> {
    let parameters = parameter_values(args)?;
    let vars = iac::tf_vars::VarOptions {
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
    Ok(report.exit(args.allow_unknown))
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

/// Check every file under `paths`: templates and plans one by one, Terraform a module (directory)
/// at a time; templates with the parameter values `parameters`,
/// Terraform root modules with the `--var-file` and `--var` values `vars`.
pub(super) fn check(
    paths: &[PathBuf],
    params: &RuleParameters,
    parameters: &ParameterValues,
    vars: &iac::tf_vars::VarOptions,
    today: NaiveDate,
) -> Report {
    let mut report = Report::default();
    let mut documents = Vec::new();
    let mut modules: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut documents, &mut modules, &mut report);
        } else if path.is_file() {
            add_file(path.clone(), &mut documents, &mut modules);
        } else {
            report.errors.push(FileError {
                file: path.clone(),
                error: IacError::Io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file or directory",
                )),
            });
        }
    }
    for path in documents {
        match iac::read_document(&path, parameters) {
            Ok(Some((_, keys))) => {
                report.checked += 1;
                report.documents_without_keys += usize::from(keys.is_empty());
                report.findings.extend(assess_unit(&keys, params, today));
            }
            Ok(None) => report.skipped += 1,
            Err(error) => report.errors.push(FileError { file: path, error }),
        }
    }
    check_terraform(modules, params, today, vars, &mut report);
    report.findings.sort_by(|a, b| {
        (&a.resource.file, a.resource.line, &a.resource.name).cmp(&(
            &b.resource.file,
            b.resource.line,
            &b.resource.name,
        ))
    });
    report.errors.sort_by(|a, b| a.file.cmp(&b.file));
    report
        .errors
        .dedup_by(|a, b| a.file == b.file && a.error.to_string() == b.error.to_string());
    report
}

/// Terraform: each directory is a root module, its module calls followed
/// ([`iac::tf_modules`]). A directory that another directory of the run calls (through a local
/// source, directly or not) is reported under its caller's address with its caller's arguments,
/// not a second time on its own; of two that call each other (a cycle, refused as an error), the
/// first by name is reported.
fn check_terraform(
    modules: BTreeMap<PathBuf, Vec<PathBuf>>,
    params: &RuleParameters,
    today: NaiveDate,
    vars: &iac::tf_vars::VarOptions,
    report: &mut Report,
) {
    let mut root_vars = Vec::new();
    let trees: Vec<(PathBuf, iac::tf_modules::Tree)> = modules
        .into_iter()
        .map(|(dir, files)| {
            let parsed = read_module(&dir, &files, report);
            let declared = iac::terraform::declared_variables(&parsed);
            let root = iac::tf_vars::for_root(&dir, &declared, vars);
            let tree = iac::tf_modules::read_tree(&dir, parsed, &files, root.inputs.as_ref());
            root_vars.push((root.warnings, root.errors));
            (iac::tf_modules::canonical(&dir), tree)
        })
        .collect();
    let called = |i: usize| {
        let (dir, tree) = &trees[i];
        trees.iter().enumerate().any(|(j, (other, by))| {
            j != i && by.dirs.contains(dir) && (!tree.dirs.contains(other) || j < i)
        })
    };
    let reported: Vec<bool> = (0..trees.len()).map(|i| !called(i)).collect();
    let mut files = BTreeSet::new();
    for (((_, tree), reported), (warnings, errors)) in
        trees.into_iter().zip(reported).zip(root_vars)
    {
        if !reported {
            continue;
        }
        // A root's var files apply only where it is a root: a called module's variables come
        // from its call.
        report.warnings.extend(warnings);
        report.errors.extend(
            errors
                .into_iter()
                .map(|(file, error)| FileError { file, error }),
        );
        files.extend(tree.files);
        report.modules_without_keys +=
            usize::from(tree.keys.is_empty() && tree.unresolved.is_empty());
        report
            .findings
            .extend(assess_unit(&tree.keys, params, today));
        report.findings.extend(tree.unresolved);
        report.errors.extend(
            tree.errors
                .into_iter()
                .map(|(file, error)| FileError { file, error }),
        );
    }
    report.checked += files.len();
}

fn add_file(
    path: PathBuf,
    documents: &mut Vec<PathBuf>,
    modules: &mut BTreeMap<PathBuf, Vec<PathBuf>>,
) {
    if iac::terraform::is_source(&path) {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        modules.entry(dir).or_default().push(path);
    } else {
        documents.push(path);
    }
}

/// At most this many files and directories are looked at under one path given on the command
/// line: far more than a repository of templates holds, so that a walk always ends.
const MAX_WALK_ENTRIES: usize = 200_000;
/// Directories nested deeper than this under a path given on the command line are not entered.
const MAX_WALK_DEPTH: usize = 64;

/// Directories are walked in name order; hidden ones (`.git`, `.terraform`) and `node_modules`
/// are not entered. Symbolic links are followed, and a link back to a directory of its own path (a
/// loop) is refused ([`walkdir`] detects it); so are directories deeper than [`MAX_WALK_DEPTH`] and
/// entries past [`MAX_WALK_ENTRIES`]: each is an error naming the path and the limit, and every
/// file found is still checked.
fn walk(
    dir: &Path,
    documents: &mut Vec<PathBuf>,
    modules: &mut BTreeMap<PathBuf, Vec<PathBuf>>,
    report: &mut Report,
) {
    let refuse = |report: &mut Report, file: &Path, why: String| {
        report.errors.push(FileError {
            file: file.to_owned(),
            error: IacError::Io(std::io::Error::other(why)),
        })
    };
    let refuse_limit = |report: &mut Report, file: &Path, why: String| {
        report.errors.push(FileError {
            file: file.to_owned(),
            error: IacError::Limit(why),
        })
    };
    let mut entries = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_str().unwrap_or_default();
            e.depth() == 0
                || !e.file_type().is_dir()
                || !(name.starts_with('.') || name == "node_modules")
        });
    let mut seen = 0;
    // CDK cloud assemblies: only their templates are read ([`iac::cdk`]).
    let mut assemblies = iac::cdk::Assemblies::default();
    while let Some(entry) = entries.next() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_owned();
                let why = match e.loop_ancestor() {
                    Some(ancestor) => format!(
                        "a symbolic link loop: it leads back to {}; not entered",
                        ancestor.display()
                    ),
                    None => e.to_string(),
                };
                refuse(report, &path, why);
                continue;
            }
        };
        seen += 1;
        if seen > MAX_WALK_ENTRIES {
            refuse_limit(
                report,
                dir,
                format!("more than {MAX_WALK_ENTRIES} files and directories under it, the most check-iac walks; the rest is not checked"),
            );
            return;
        }
        if entry.file_type().is_dir() {
            assemblies.enter(entry.path());
            if entry.depth() >= MAX_WALK_DEPTH {
                refuse_limit(
                    report,
                    entry.path(),
                    format!("nested {MAX_WALK_DEPTH} directories deep, the most check-iac walks; not entered"),
                );
                entries.skip_current_dir();
            }
        } else if iac::candidate(entry.path()) {
            if assemblies.is_template(entry.path()) == Some(false) {
                report.skipped += 1;
                continue;
            }
            add_file(entry.into_path(), documents, modules);
        }
    }
}

/// One Terraform module's files, parsed: the requested ones (each that does not parse is an
/// error) and every other `.tf` of the directory, which gives variables and locals.
fn read_module(
    dir: &Path,
    requested: &[PathBuf],
    report: &mut Report,
) -> Vec<iac::terraform::SourceFile> {
    let listing = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut siblings: Vec<PathBuf> = std::fs::read_dir(listing)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| iac::terraform::is_source(p))
                .map(|p| {
                    if dir.as_os_str().is_empty() {
                        PathBuf::from(p.file_name().unwrap_or_default())
                    } else {
                        p
                    }
                })
                .filter(|p| !requested.contains(p))
                .collect()
        })
        .unwrap_or_default();
    siblings.sort();
    let mut parsed = Vec::new();
    for path in requested {
        match iac::terraform::parse_file(path) {
            Ok(file) => parsed.push(file),
            Err(error) => report.errors.push(FileError {
                file: path.clone(),
                error,
            }),
        }
    }
    // A sibling that does not parse is reported when it is checked itself, not here.
    parsed.extend(
        siblings
            .iter()
            .filter_map(|p| iac::terraform::parse_file(p).ok()),
    );
    parsed
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
        .map(|f| {
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
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_and_encoded() {
        assert_eq!(uri(Path::new("./a b/t.yaml")), "a%20b/t.yaml");
        assert_eq!(uri(Path::new("/x/t.tf")), "file:///x/t.tf");
    }
}
