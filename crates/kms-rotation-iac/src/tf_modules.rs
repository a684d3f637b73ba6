//! Terraform module calls: the keys a root module creates through `module` blocks, each under
//! its full address (`module.kms.aws_kms_key.this[0]`, `module.a.module.b.aws_kms_key.this`),
//! with the call's arguments as the called module's variables.
//!
//! Where a module's source is read from (Terraform "Module Sources",
//! <https://developer.hashicorp.com/terraform/language/v1.10.x/modules/sources>):
//! - a local path (`./` or `../`, which is how Terraform tells it from a registry address) is the
//!   directory beside the calling module;
//! - any other source (registry, Git, HTTP, S3, ...) is read where `terraform init` installed it:
//!   `.terraform/modules/modules.json` of the root's directory lists each call by its key (the
//!   call names from the root, joined with `.`) with its `Source`, `Version` and `Dir` (relative to
//!   the root's directory; Terraform's `internal/modsdir/manifest.go`, `manifestSnapshotFile`).
//!
//! A call whose source cannot be read is a row of its own, UNKNOWN (`UNKNOWN_MODULE`), naming the
//! call and its source: a key it may create is never silently left out. A call that leads back
//! to a module of its own chain (a cycle), or deeper than [`MAX_MODULE_DEPTH`], is an error naming
//! the call.

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use super::assess::{Finding, UnknownReason};
use super::terraform::{self, ModuleCall, Scope, SourceFile};
use super::{Fact, IacError, KeyKind, KeyProps, KeyResource, Unknowable};

/// Module calls nested deeper than this are refused (Terraform has no limit; real
/// configurations stay within a few levels).
pub(crate) const MAX_MODULE_DEPTH: usize = 16;

/// Where `terraform init` records the modules it installed, relative to the root's directory.
pub(crate) const MANIFEST: &str = ".terraform/modules/modules.json";

/// One module call on the way from the root to a key: the instance's address
/// (`module.kms[0]`) and where the `module` block is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub address: String,
    pub file: PathBuf,
    pub line: usize,
}

/// What a root module creates, its calls followed.
#[derive(Default)]
pub(crate) struct Tree {
    pub keys: Vec<KeyResource>,
    /// One UNKNOWN row per call whose source cannot be read.
    pub unresolved: Vec<Finding>,
    /// Calls refused (cycles, depth, an unreadable `modules.json`) and module files that do not
    /// parse, each with the file to name.
    pub errors: Vec<(PathBuf, IacError)>,
    /// Every file read (canonical paths), the root's included.
    pub files: BTreeSet<PathBuf>,
    /// Every module directory read (canonical), the root's included.
    pub dirs: BTreeSet<PathBuf>,
}

/// The keys of the root module in `dir` (from its files `requested`, the other files of `files`
/// giving variables and locals) and of every module it calls, recursively. `root` holds the
/// values its var files set ([`super::tf_vars`]); a called module's come from the call.
pub(crate) fn read_tree(
    dir: &Path,
    files: Vec<SourceFile>,
    requested: &[PathBuf],
    root: Option<&terraform::Inputs>,
) -> Tree {
    let mut reader = Reader {
        root: dir.to_owned(),
        manifest: None,
        parsed: HashMap::new(),
        tree: Tree::default(),
    };
    let canonical = canonical(dir);
    reader.tree.dirs.insert(canonical.clone());
    reader.tree.files.extend(
        files
            .iter()
            .filter(|f| requested.contains(&f.path))
            .map(|f| canonical_file(&f.path)),
    );
    let files = Rc::new(files);
    reader.module(
        &Frame {
            dir: dir.to_owned(),
            chain: vec![canonical],
            key: Vec::new(),
            via: Vec::new(),
            notes: Vec::new(),
        },
        &files,
        requested,
        &Scope {
            prefix: String::new(),
            inputs: root,
        },
    );
    reader.tree
}

/// Terraform's test for a local source: it begins with `./` or `../`.
fn is_local(source: &str) -> bool {
    ["./", "../", ".\\", "..\\"]
        .iter()
        .any(|p| source.starts_with(p))
}

/// `dir` as a directory to read: `.` for the current one.
fn listing(dir: &Path) -> &Path {
    if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }
}

/// A directory's canonical path (itself when it cannot be resolved).
pub(crate) fn canonical(dir: &Path) -> PathBuf {
    std::fs::canonicalize(listing(dir)).unwrap_or_else(|_| dir.to_owned())
}

fn canonical_file(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// `a/b/../c` as `a/c`, without reading the file system (for the paths shown); a path that
/// would leave its start keeps its `..`.
fn tidy(path: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir if !out.is_empty() => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.iter().collect()
}

/// One record of `modules.json`.
#[derive(serde::Deserialize)]
struct Record {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Source", default)]
    source: String,
    #[serde(rename = "Dir")]
    dir: String,
}

#[derive(serde::Deserialize)]
struct Manifest {
    #[serde(rename = "Modules", default)]
    modules: Vec<Record>,
}

/// Where one module is being read.
struct Frame {
    /// Its directory, as the paths shown are built from it.
    dir: PathBuf,
    /// The canonical directories from the root to it, for cycles.
    chain: Vec<PathBuf>,
    /// The call names from the root (`modules.json` keys).
    key: Vec<String>,
    via: Vec<Call>,
    /// What its callers assumed to pass its arguments.
    notes: Vec<String>,
}

type Parsed = Rc<Vec<SourceFile>>;

struct Reader {
    root: PathBuf,
    /// `modules.json`, read when a call first needs it: `None` not yet, `Some(None)` absent.
    manifest: Option<Option<HashMap<String, Record>>>,
    /// Module directories already parsed (canonical).
    parsed: HashMap<PathBuf, Parsed>,
    tree: Tree,
}

impl Reader {
    fn module(&mut self, frame: &Frame, files: &Parsed, report: &[PathBuf], scope: &Scope<'_>) {
        let (keys, calls) = terraform::read_scope(files, report, scope);
        for mut key in keys {
            key.via = frame.via.clone();
            let mut notes = frame.notes.clone();
            notes.append(&mut key.notes);
            key.notes = notes;
            self.tree.keys.push(key);
        }
        for call in calls {
            self.call(frame, &call);
        }
    }

    fn call(&mut self, frame: &Frame, call: &ModuleCall) {
        if call.instances.is_empty() {
            return; // count = 0 or an empty for_each: the call creates nothing.
        }
        let mut key = frame.key.clone();
        key.push(call.name.clone());
        let dir = match self.resolve(frame, call, &key.join(".")) {
            Ok(dir) => dir,
            Err(why) => return self.unresolved(frame, call, why),
        };
        let canonical = canonical(&dir);
        let refuse = if frame.chain.contains(&canonical) {
            Some(format!(
                "{} ({}:{}) calls {}, a module already on its own call chain (a cycle)",
                call.address,
                call.file.display(),
                call.line,
                dir.display()
            ))
        } else if frame.via.len() >= MAX_MODULE_DEPTH {
            Some(format!(
                "{} ({}:{}) is nested {} modules deep, more than the {MAX_MODULE_DEPTH} check-iac follows",
                call.address,
                call.file.display(),
                call.line,
                frame.via.len() + 1
            ))
        } else {
            None
        };
        if let Some(why) = refuse {
            self.tree
                .errors
                .push((call.file.clone(), IacError::Module(why)));
            return;
        }
        let files = self.parse_dir(&dir, &canonical);
        if files.is_empty() {
            return self.unresolved(
                frame,
                call,
                format!("{} has no .tf or .tf.json file", dir.display()),
            );
        }
        self.tree.dirs.insert(canonical.clone());
        let all: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
        let mut chain = frame.chain.clone();
        chain.push(canonical);
        for instance in &call.instances {
            let mut via = frame.via.clone();
            via.push(Call {
                address: instance.address.clone(),
                file: call.file.clone(),
                line: call.line,
            });
            let mut notes = frame.notes.clone();
            notes.extend(instance.notes.iter().cloned());
            let child = Frame {
                dir: dir.clone(),
                chain: chain.clone(),
                key: key.clone(),
                via,
                notes,
            };
            let scope = Scope {
                prefix: format!("{}.", instance.address),
                inputs: Some(&instance.inputs),
            };
            self.module(&child, &files, &all, &scope);
        }
    }

    /// The directory of a call's module, or why it cannot be read.
    fn resolve(&mut self, frame: &Frame, call: &ModuleCall, key: &str) -> Result<PathBuf, String> {
        let source = call.source.clone().map_err(|u| u.what)?;
        if is_local(&source) {
            let dir = tidy(&frame.dir.join(&source));
            return if listing(&dir).is_dir() {
                Ok(dir)
            } else {
                Err(format!("{} is not a directory", dir.display()))
            };
        }
        let manifest_path = self.root.join(MANIFEST);
        let root = self.root.clone();
        let manifest = self.manifest(&manifest_path);
        let Some(records) = manifest else {
            return Err(format!(
                "{} does not exist (terraform init has not run)",
                manifest_path.display(),
            ));
        };
        let Some(record) = records.get(key) else {
            return Err(format!(
                "{} has no module {key:?} (added since terraform init ran?)",
                manifest_path.display()
            ));
        };
        let dir = tidy(&root.join(&record.dir));
        if !listing(&dir).is_dir() {
            return Err(format!(
                "{} lists it in {}, which is not a directory",
                manifest_path.display(),
                dir.display()
            ));
        }
        let recorded = record.source.as_str();
        let same = recorded == source
            || recorded.strip_prefix("registry.terraform.io/") == Some(source.as_str());
        if !same {
            return Err(format!(
                "{} records source {recorded:?} for it: it was installed before the source changed",
                manifest_path.display()
            ));
        }
        Ok(dir)
    }

    fn manifest(&mut self, path: &Path) -> Option<&HashMap<String, Record>> {
        if self.manifest.is_none() {
            let read = match super::read_text(path) {
                Err(IacError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    self.tree.errors.push((path.to_owned(), e));
                    None
                }
                Ok(text) => match serde_json::from_str::<Manifest>(&text) {
                    Ok(m) => Some(m.modules.into_iter().map(|r| (r.key.clone(), r)).collect()),
                    Err(e) => {
                        self.tree.errors.push((path.to_owned(), IacError::Json(e)));
                        None
                    }
                },
            };
            self.manifest = Some(read);
        }
        self.manifest.as_ref().and_then(Option::as_ref)
    }

    /// The `.tf` and `.tf.json` files of a module directory, parsed once; a file that does not parse is an
    /// error, the others are still read.
    fn parse_dir(&mut self, dir: &Path, canonical: &Path) -> Parsed {
        if let Some(files) = self.parsed.get(canonical) {
            return files.clone();
        }
        let mut paths: Vec<PathBuf> = std::fs::read_dir(listing(dir))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| terraform::is_source(p) && p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        paths.sort();
        let mut files = Vec::new();
        for path in paths {
            match terraform::parse_file(&path) {
                Ok(f) => {
                    self.tree.files.insert(canonical_file(&path));
                    files.push(f);
                }
                Err(e) => self.tree.errors.push((path, e)),
            }
        }
        let files = Rc::new(files);
        self.parsed.insert(canonical.to_owned(), files.clone());
        files
    }

    /// The row of a call whose source cannot be read.
    fn unresolved(&mut self, frame: &Frame, call: &ModuleCall, why: String) {
        let source = match &call.source {
            Ok(s) => format!(
                " (source {s:?}{})",
                match &call.version {
                    Some(v) => format!(", version {v:?}"),
                    None => String::new(),
                }
            ),
            Err(_) => String::new(),
        };
        let what = format!(
            "{}{source} is not read, so the keys it creates are not checked: {why}. Run terraform init in {} and check again, or check the plan JSON (terraform show -json plan.out)",
            call.address,
            listing(&self.root).display()
        );
        let at = Unknowable::new(call.line, what);
        let unknown: Fact<String> = Err(at.clone());
        self.tree.unresolved.push(Finding::unknown(
            KeyResource {
                name: call.address.clone(),
                resource_type: "module".to_owned(),
                file: call.file.clone(),
                line: call.line,
                kind: KeyKind::Key(KeyProps {
                    key_spec: unknown.clone(),
                    origin: unknown.clone(),
                    custom_key_store_id: Err(at.clone()),
                    enabled: Err(at.clone()),
                    rotation_enabled: Err(at.clone()),
                    rotation_period_days: Err(at.clone()),
                    tags: Err(at.clone()),
                }),
                notes: frame.notes.clone(),
                via: frame.via.clone(),
            },
            UnknownReason::Module,
            at,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;
    use kms_rotation_core::params::RuleParameters;

    use crate::scratch::Scratch;

    fn tree(dir: &Path) -> Tree {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "tf"))
            .collect();
        paths.sort();
        let files = paths
            .iter()
            .map(|p| terraform::parse_file(p).unwrap())
            .collect();
        read_tree(dir, files, &paths, None)
    }

    /// (address, compliance or UNKNOWN, reason) of every row.
    fn verdicts(t: &Tree) -> Vec<(String, String, String)> {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let mut rows: Vec<Finding> = crate::assess_unit(&t.keys, &RuleParameters::default(), today);
        rows.extend(t.unresolved.iter().cloned());
        rows.iter()
            .map(|f| {
                (
                    f.resource.name.clone(),
                    f.outcome.compliance_type().to_owned(),
                    f.outcome.reason().to_owned(),
                )
            })
            .collect()
    }

    const KMS: &str = "variable \"enable_key_rotation\" {\n  default = true\n}\nvariable \"create\" {\n  default = true\n}\nresource \"aws_kms_key\" \"this\" {\n  count = var.create ? 1 : 0\n  enable_key_rotation = var.enable_key_rotation\n}\n";

    fn row(a: &str, c: &str, r: &str) -> (String, String, String) {
        (a.into(), c.into(), r.into())
    }

    #[test]
    fn a_local_call_passes_its_arguments_and_the_defaults_fill_the_rest() {
        let s = Scratch::new(
            "local",
            &[
                ("modules/kms/main.tf", KMS),
                (
                    "root/main.tf",
                    "variable \"rotate\" {}\nmodule \"off\" {\n  source = \"../modules/kms\"\n  enable_key_rotation = false\n}\nmodule \"default\" {\n  source = \"../modules/kms\"\n}\nmodule \"unknown\" {\n  source = \"../modules/kms\"\n  enable_key_rotation = var.rotate\n}\nmodule \"none\" {\n  source = \"../modules/kms\"\n  create = false\n}\n",
                ),
            ],
        );
        let t = tree(&s.0.join("root"));
        assert!(t.errors.is_empty(), "{:?}", t.errors);
        assert_eq!(
            verdicts(&t),
            vec![
                row(
                    "module.off.aws_kms_key.this[0]",
                    "NON_COMPLIANT",
                    "ROTATION_OFF"
                ),
                row(
                    "module.default.aws_kms_key.this[0]",
                    "COMPLIANT",
                    "ROTATION_ON"
                ),
                row(
                    "module.unknown.aws_kms_key.this[0]",
                    "UNKNOWN",
                    "UNKNOWN_VALUE"
                ),
            ]
        );
        let off = &t.keys[0];
        assert_eq!(off.file, s.0.join("modules/kms/main.tf"));
        assert_eq!(off.line, 7);
        assert_eq!(
            off.via,
            vec![Call {
                address: "module.off".into(),
                file: s.0.join("root/main.tf"),
                line: 2
            }]
        );
        // The unknown names the root's variable and the call, at the module's line.
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let f = crate::assess_unit(&t.keys, &RuleParameters::default(), today);
        let Outcome::Unknown(u) = &f[2].outcome else {
            panic!()
        };
        assert_eq!(u.at.line, 9);
        assert!(u
            .at
            .what
            .contains("variable enable_key_rotation is passed by module.unknown"));
        assert!(
            u.at.what.contains("variable rotate has no default"),
            "{}",
            u.at.what
        );
    }

    #[test]
    fn nested_calls_count_and_for_each_give_full_addresses() {
        let s = Scratch::new(
            "nested",
            &[
                ("kms/main.tf", KMS),
                (
                    "mid/main.tf",
                    "variable \"rotate\" {}\nmodule \"inner\" {\n  source = \"../kms\"\n  enable_key_rotation = var.rotate\n}\n",
                ),
                (
                    "root/main.tf",
                    "module \"a\" {\n  source = \"../mid\"\n  count = 2\n  rotate = count.index == 0\n}\nmodule \"b\" {\n  source = \"../mid\"\n  for_each = { on = true, off = false }\n  rotate = each.value\n}\n",
                ),
            ],
        );
        let t = tree(&s.0.join("root"));
        assert!(t.errors.is_empty(), "{:?}", t.errors);
        let mut got = verdicts(&t);
        got.sort();
        assert_eq!(
            got,
            vec![
                row(
                    "module.a[0].module.inner.aws_kms_key.this[0]",
                    "COMPLIANT",
                    "ROTATION_ON"
                ),
                row(
                    "module.a[1].module.inner.aws_kms_key.this[0]",
                    "NON_COMPLIANT",
                    "ROTATION_OFF"
                ),
                row(
                    "module.b[\"off\"].module.inner.aws_kms_key.this[0]",
                    "NON_COMPLIANT",
                    "ROTATION_OFF"
                ),
                row(
                    "module.b[\"on\"].module.inner.aws_kms_key.this[0]",
                    "COMPLIANT",
                    "ROTATION_ON"
                ),
            ]
        );
        assert!(t.keys.iter().all(|k| k.via.len() == 2));
    }

    #[test]
    fn a_source_that_cannot_be_read_is_a_row_of_its_own() {
        let s = Scratch::new(
            "registry",
            &[(
                "root/main.tf",
                "module \"kms\" {\n  source = \"terraform-aws-modules/kms/aws\"\n  version = \"~> 3.0\"\n}\nmodule \"gone\" {\n  source = \"./nowhere\"\n}\nmodule \"never\" {\n  source = \"git::https://example.com/kms.git\"\n  count = 0\n}\n",
            )],
        );
        let t = tree(&s.0.join("root"));
        assert_eq!(
            verdicts(&t),
            vec![
                row("module.kms", "UNKNOWN", "UNKNOWN_MODULE"),
                row("module.gone", "UNKNOWN", "UNKNOWN_MODULE"),
            ]
        );
        let Outcome::Unknown(u) = &t.unresolved[0].outcome else {
            panic!()
        };
        assert!(u.at.what.contains("terraform-aws-modules/kms/aws"));
        assert!(u.at.what.contains("terraform init"));
        assert!(u.at.what.contains("terraform show -json"));
    }

    #[test]
    fn modules_json_gives_the_installed_directory_of_remote_sources() {
        let s = Scratch::new(
            "manifest",
            &[
                ("root/.terraform/modules/kms/main.tf", KMS),
                (
                    "root/.terraform/modules/modules.json",
                    r#"{"Modules":[{"Key":"","Source":"","Dir":"."},{"Key":"kms","Source":"registry.terraform.io/terraform-aws-modules/kms/aws","Version":"3.1.0","Dir":".terraform/modules/kms"}]}"#,
                ),
                (
                    "root/main.tf",
                    "module \"kms\" {\n  source = \"terraform-aws-modules/kms/aws\"\n  version = \"~> 3.0\"\n  enable_key_rotation = false\n}\n",
                ),
            ],
        );
        let t = tree(&s.0.join("root"));
        assert!(t.errors.is_empty(), "{:?}", t.errors);
        assert_eq!(
            verdicts(&t),
            vec![row(
                "module.kms.aws_kms_key.this[0]",
                "NON_COMPLIANT",
                "ROTATION_OFF"
            )]
        );
        assert_eq!(
            t.keys[0].file,
            s.0.join("root/.terraform/modules/kms/main.tf")
        );
    }

    #[test]
    fn a_cycle_is_refused_naming_the_call() {
        let s = Scratch::new(
            "cycle",
            &[(
                "m/main.tf",
                "resource \"aws_kms_key\" \"k\" {\n  enable_key_rotation = true\n}\nmodule \"again\" {\n  source = \"../m\"\n}\n",
            )],
        );
        let t = tree(&s.0.join("m"));
        assert_eq!(
            verdicts(&t),
            vec![row("aws_kms_key.k", "COMPLIANT", "ROTATION_ON")]
        );
        let [(file, IacError::Module(why))] = t.errors.as_slice() else {
            panic!("{:?}", t.errors)
        };
        assert_eq!(file, &s.0.join("m/main.tf"));
        assert!(
            why.contains("module.again") && why.contains("cycle"),
            "{why}"
        );
    }

    #[test]
    fn depth_is_bounded() {
        // Each level calls the next directory: 20 levels, refused after MAX_MODULE_DEPTH.
        let mut files = Vec::new();
        for i in 0..20 {
            files.push((
                format!("l{i}/main.tf"),
                format!("module \"m\" {{\n  source = \"../l{}\"\n}}\n", i + 1),
            ));
        }
        files.push((
            "l20/main.tf".into(),
            "resource \"aws_kms_key\" \"k\" {}\n".into(),
        ));
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let s = Scratch::new("depth", &refs);
        let t = tree(&s.0.join("l0"));
        assert!(t.keys.is_empty());
        let [(_, IacError::Module(why))] = t.errors.as_slice() else {
            panic!("{:?}", t.errors)
        };
        assert!(why.contains("more than the 16"), "{why}");
    }

    #[test]
    fn paths_are_tidied_lexically() {
        assert_eq!(tidy(Path::new("a/b/../c/./d")), PathBuf::from("a/c/d"));
        assert_eq!(tidy(Path::new("../x/../y")), PathBuf::from("../y"));
        assert_eq!(tidy(Path::new("./x")), PathBuf::from("./x"));
    }
}
