//! CDK cloud assemblies (`cdk synth`'s `cdk.out/`): which of their files are templates.
//!
//! A cloud assembly is a directory holding `manifest.json` and the legacy marker file `cdk.out`
//! (aws-cdk, `packages/aws-cdk-lib/cx-api/lib/cloud-assembly.ts`, `CloudAssemblyBuilder.buildAssembly`
//! writes both). Its stacks are `<artifact>.template.json`, nested stacks
//! `<id>.nested.template.json` (`core/lib/nested-stack.ts`), beside `manifest.json`, `tree.json`,
//! `<stack>.assets.json` and the assets themselves (`asset.<hash>/` directories and files: Lambda
//! code, Docker contexts, bundled files, anything). A stage's nested assembly is a directory of the
//! same shape inside it. Only the templates are read: every other file of an assembly is skipped
//! (and counted), never read, so that an asset that is not valid JSON or YAML is not an error.

use std::path::{Path, PathBuf};

/// The marker file of a cloud assembly.
pub(crate) const MARKER: &str = "cdk.out";
/// How a synthesized template's name ends (nested stacks' `.nested.template.json` too).
pub(crate) const TEMPLATE_SUFFIX: &str = ".template.json";

/// Whether `dir` is a cloud assembly (it holds the `cdk.out` marker file).
pub(crate) fn is_assembly(dir: &Path) -> bool {
    dir.join(MARKER).is_file()
}

/// The assemblies met during one directory walk, to sort their files.
#[derive(Debug, Default)]
pub(crate) struct Assemblies {
    roots: Vec<PathBuf>,
}

impl Assemblies {
    /// Note a directory of the walk (walked before its contents).
    pub(crate) fn enter(&mut self, dir: &Path) {
        if is_assembly(dir) {
            self.roots.push(dir.to_owned());
        }
    }

    /// `None` when `file` is not in an assembly; else whether it is one of its templates.
    pub(crate) fn is_template(&self, file: &Path) -> Option<bool> {
        if !self.roots.iter().any(|r| file.starts_with(r)) {
            return None;
        }
        let named = file
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(TEMPLATE_SUFFIX));
        Some(
            named
                && file
                    .parent()
                    .is_some_and(|d| self.roots.iter().any(|r| r == d)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_templates_beside_the_marker_are_templates() {
        let dir = std::env::temp_dir().join(format!("cdk-assembly-{}", std::process::id()));
        let asset = dir.join("asset.abc");
        let stage = dir.join("assembly-Prod");
        for d in [&asset, &stage] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(dir.join(MARKER), "{\"version\":\"36.0.0\"}").unwrap();
        std::fs::write(stage.join(MARKER), "{}").unwrap();
        let mut a = Assemblies::default();
        assert_eq!(a.is_template(&dir.join("App.template.json")), None);
        a.enter(&dir);
        a.enter(&asset);
        a.enter(&stage);
        assert_eq!(a.is_template(&dir.join("App.template.json")), Some(true));
        assert_eq!(
            a.is_template(&dir.join("AppNestedAB12.nested.template.json")),
            Some(true)
        );
        assert_eq!(a.is_template(&dir.join("manifest.json")), Some(false));
        assert_eq!(a.is_template(&dir.join("App.assets.json")), Some(false));
        assert_eq!(a.is_template(&asset.join("x.template.json")), Some(false));
        assert_eq!(
            a.is_template(&stage.join("Prod-App.template.json")),
            Some(true)
        );
        assert_eq!(
            a.is_template(Path::new("/elsewhere/App.template.json")),
            None
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
