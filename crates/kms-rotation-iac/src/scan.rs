//! One check of templates, modules and plans: every file under the paths given, templates and plans
//! one by one, Terraform a module (directory) at a time with its module calls followed; the
//! findings sorted by file and line. `kms-rotation check-iac` prints what this returns.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use kms_rotation_core::params::RuleParameters;

use crate::cfn_params::ParameterValues;
use crate::{assess_unit, Finding, IacError};

/// A file that could not be checked, and why.
#[derive(Debug)]
pub struct FileError {
    pub file: PathBuf,
    pub error: IacError,
}

/// What one run found.
#[derive(Debug, Default)]
pub struct Report {
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

/// Check every file under `paths`: templates and plans one by one, Terraform a module (directory)
/// at a time; templates with the parameter values `parameters`,
/// Terraform root modules with the `--var-file` and `--var` values `vars`.
pub fn check(
    paths: &[PathBuf],
    params: &RuleParameters,
    parameters: &ParameterValues,
    vars: &crate::tf_vars::VarOptions,
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
        match crate::read_document(&path, parameters) {
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
/// ([`crate::tf_modules`]). A directory that another directory of the run calls (through a local
/// source, directly or not) is reported under its caller's address with its caller's arguments,
/// not a second time on its own; of two that call each other (a cycle, refused as an error), the
/// first by name is reported.
fn check_terraform(
    modules: BTreeMap<PathBuf, Vec<PathBuf>>,
    params: &RuleParameters,
    today: NaiveDate,
    vars: &crate::tf_vars::VarOptions,
    report: &mut Report,
) {
    let mut root_vars = Vec::new();
    let trees: Vec<(PathBuf, crate::tf_modules::Tree)> = modules
        .into_iter()
        .map(|(dir, files)| {
            let parsed = read_module(&dir, &files, report);
            let declared = crate::terraform::declared_variables(&parsed);
            let root = crate::tf_vars::for_root(&dir, &declared, vars);
            let tree = crate::tf_modules::read_tree(&dir, parsed, &files, root.inputs.as_ref());
            root_vars.push((root.warnings, root.errors));
            (crate::tf_modules::canonical(&dir), tree)
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
    if crate::terraform::is_source(&path) {
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
    // CDK cloud assemblies: only their templates are read ([`crate::cdk`]).
    let mut assemblies = crate::cdk::Assemblies::default();
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
        } else if crate::candidate(entry.path()) {
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
) -> Vec<crate::terraform::SourceFile> {
    let listing = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut siblings: Vec<PathBuf> = std::fs::read_dir(listing)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| crate::terraform::is_source(p))
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
        match crate::terraform::parse_file(path) {
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
            .filter_map(|p| crate::terraform::parse_file(p).ok()),
    );
    parsed
}
