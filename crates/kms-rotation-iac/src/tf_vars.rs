//! The values a Terraform root module is deployed with: its variable definitions files and the
//! `--var-file` / `--var` options, read as Terraform reads them.
//!
//! Terraform "Input Variables", "Variable Definition Precedence"
//! (<https://developer.hashicorp.com/terraform/language/values/variables#variable-definition-precedence>):
//! later sources win over earlier ones, in this order: `terraform.tfvars`, `terraform.tfvars.json`,
//! `*.auto.tfvars` and `*.auto.tfvars.json` in lexical order of their file names, then `-var` and
//! `-var-file` on the command line in the order given (here every `--var-file`, then every
//! `--var`). Only the root module's files are read: a called module's variables come from its
//! call ([`super::tf_modules`]).
//!
//! A value for a variable the root does not declare ("Values for Undeclared Variables", same
//! page): from a file, Terraform warns and ignores it; from the command line (`-var`), it is an
//! error. A file that is not a valid variable definitions file is an error naming it.

use std::path::{Path, PathBuf};

use super::terraform::{self, Inputs};
use super::value::Val;
use super::IacError;

/// The `--var-file` and `--var` options of one run, applied to every root module checked.
#[derive(Debug, Default, Clone)]
pub struct VarOptions {
    pub files: Vec<PathBuf>,
    /// `KEY=VALUE`, as given.
    pub vars: Vec<String>,
}

/// A root module's values, and what reading them found.
#[derive(Default)]
pub(crate) struct RootVars {
    /// `None` when nothing sets any variable (the defaults apply).
    pub inputs: Option<Inputs>,
    /// Values for undeclared variables from a file, as Terraform warns of them.
    pub warnings: Vec<String>,
    /// Files that cannot be read, and `--var` values for undeclared variables.
    pub errors: Vec<(PathBuf, IacError)>,
}

/// The files Terraform loads by itself from the root's directory, in its order.
pub(crate) fn automatic_files(dir: &Path) -> Vec<PathBuf> {
    let listing = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut auto: Vec<String> = std::fs::read_dir(listing)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".auto.tfvars") || n.ends_with(".auto.tfvars.json"))
                .collect()
        })
        .unwrap_or_default();
    auto.sort();
    ["terraform.tfvars", "terraform.tfvars.json"]
        .iter()
        .map(|n| (*n).to_owned())
        .filter(|n| listing.join(n).is_file())
        .chain(auto)
        .map(|n| dir.join(n))
        .collect()
}

/// One variable definitions file: native syntax, or JSON when its name ends in `.json`.
pub(crate) fn read_file(path: &Path) -> Result<Vec<(String, Val)>, IacError> {
    let text = super::read_text(path)?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        let value: serde_json::Value = serde_json::from_str(&text)?;
        let serde_json::Value::Object(map) = value else {
            return Err(IacError::Hcl(
                "a JSON variable definitions file must be an object of variable names".into(),
            ));
        };
        return Ok(map.iter().map(|(k, v)| (k.clone(), Val::from(v))).collect());
    }
    Ok(terraform::parse_vars(&text)?
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect())
}

/// `KEY=VALUE` of `--var`: the value is a string, or, when it starts with `{` or `[`, an
/// expression (Terraform parses a complex-typed variable's `-var` value as one).
fn parse_var(spec: &str) -> Result<(String, Val), IacError> {
    let Some((key, value)) = spec.split_once('=') else {
        return Err(IacError::Hcl(format!("--var {spec:?} is not KEY=VALUE")));
    };
    let key = key.trim();
    if value.trim_start().starts_with(['{', '[']) {
        let parsed = terraform::parse_vars(&format!("v = {value}\n"))?;
        if let Some((_, v, _)) = parsed.into_iter().next() {
            return Ok((key.to_owned(), v));
        }
    }
    Ok((key.to_owned(), Val::Str(value.to_owned())))
}

/// The values of the root module in `dir`, which declares `declared`.
pub(crate) fn for_root(dir: &Path, declared: &[String], options: &VarOptions) -> RootVars {
    let mut out = RootVars::default();
    let mut values: Vec<(String, Val, String)> = Vec::new();
    let files = automatic_files(dir)
        .into_iter()
        .chain(options.files.iter().cloned());
    for path in files {
        match read_file(&path) {
            Ok(assignments) => {
                for (name, value) in assignments {
                    if declared.contains(&name) {
                        values.push((name, value, path.display().to_string()));
                    } else {
                        out.warnings.push(format!(
                            "{}: value for undeclared variable {name}: the root module {} declares no variable of that name; ignored, as Terraform does (with a warning)",
                            path.display(),
                            listing(dir).display()
                        ));
                    }
                }
            }
            Err(e) => out.errors.push((path, e)),
        }
    }
    for spec in &options.vars {
        match parse_var(spec) {
            Ok((name, value)) if declared.contains(&name) => {
                values.push((name, value, "--var".to_owned()))
            }
            Ok((name, _)) => out.errors.push((
                listing(dir).to_owned(),
                IacError::Hcl(format!(
                    "--var {name}: the root module declares no variable of that name (Terraform refuses -var for an undeclared variable)"
                )),
            )),
            Err(e) => out.errors.push((PathBuf::from("--var"), e)),
        }
    }
    if !values.is_empty() {
        out.inputs = Some(Inputs::root(values));
    }
    out
}

fn listing(dir: &Path) -> &Path {
    if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::scratch::Scratch;

    fn value(inputs: &RootVars, name: &str) -> (Val, String) {
        inputs.inputs.as_ref().unwrap().value_of(name).unwrap()
    }

    #[test]
    fn precedence_is_terraforms() {
        let s = Scratch::new(
            "order",
            &[
                (
                    "terraform.tfvars",
                    "a = \"tfvars\"\nb = \"tfvars\"\nc = \"tfvars\"\nd = \"tfvars\"\n",
                ),
                (
                    "terraform.tfvars.json",
                    "{\"b\": \"json\", \"c\": \"json\", \"d\": \"json\"}",
                ),
                ("b.auto.tfvars", "c = \"b.auto\"\nd = \"b.auto\"\n"),
                (
                    "a.auto.tfvars.json",
                    "{\"c\": \"a.auto\", \"d\": \"a.auto\"}",
                ),
                ("extra.tfvars", "d = \"extra\"\n"),
            ],
        );
        let declared: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let v = for_root(
            &s.0,
            &declared,
            &VarOptions {
                files: vec![s.0.join("extra.tfvars")],
                vars: vec!["a=cli".into()],
            },
        );
        assert!(v.errors.is_empty() && v.warnings.is_empty());
        assert_eq!(value(&v, "a").0, Val::Str("cli".into()));
        assert_eq!(value(&v, "b").0, Val::Str("json".into()));
        // *.auto.tfvars(.json) in lexical order: b.auto.tfvars after a.auto.tfvars.json.
        assert_eq!(value(&v, "c").0, Val::Str("b.auto".into()));
        assert!(value(&v, "c").1.ends_with("b.auto.tfvars"));
        assert_eq!(value(&v, "d").0, Val::Str("extra".into()));
    }

    #[test]
    fn undeclared_warns_from_files_and_fails_from_the_command_line() {
        let s = Scratch::new("undeclared", &[("terraform.tfvars", "nope = 1\n")]);
        let v = for_root(
            &s.0,
            &[],
            &VarOptions {
                files: vec![],
                vars: vec!["other=2".into()],
            },
        );
        assert!(
            v.warnings[0].contains("undeclared variable nope"),
            "{:?}",
            v.warnings
        );
        assert!(v.errors[0].1.to_string().contains("--var other"));
    }

    #[test]
    fn a_malformed_or_non_literal_file_is_an_error() {
        let s = Scratch::new(
            "bad",
            &[
                ("terraform.tfvars", "a = var.b\n"),
                ("x.auto.tfvars.json", "[1]"),
            ],
        );
        let v = for_root(&s.0, &["a".into()], &VarOptions::default());
        assert_eq!(v.errors.len(), 2, "{:?}", v.errors);
        assert!(v.errors[0].1.to_string().contains("not a literal value"));
        assert!(v.inputs.is_none());
    }

    #[test]
    fn var_values_may_be_expressions_for_collections() {
        assert_eq!(
            parse_var("tags={ a = \"b\" }").unwrap().1,
            Val::Map(vec![("a".into(), Val::Str("b".into()))])
        );
        assert_eq!(
            parse_var("x=a=b").unwrap(),
            ("x".into(), Val::Str("a=b".into()))
        );
        assert!(parse_var("novalue").is_err());
    }
}
