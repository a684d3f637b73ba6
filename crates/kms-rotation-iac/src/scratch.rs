//! A scratch directory of files for the readers' unit tests, removed when dropped.

use std::path::PathBuf;

/// The directory's path, and the directory itself: held only to be removed when dropped.
pub(crate) struct Scratch(pub(crate) PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Scratch {
    /// `files`: (path relative to the directory, text).
    pub(crate) fn new(name: &str, files: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("kms-rotation-{name}-"))
            .tempdir()
            .expect("a scratch directory");
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("a file's directory"))
                .expect("the file's directory is made");
            std::fs::write(path, text).expect("the file is written");
        }
        Self(dir.path().to_path_buf(), dir)
    }
}
