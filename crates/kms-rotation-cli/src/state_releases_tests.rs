//! `--state` across releases: the fingerprint `sweep` computes, and the state files `state`
//! reads, of this release and of the one before (a test of both modules, which import each
//! other only this way).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kms_rotation_core::params::RuleParameters;
use serde_json::json;

use crate::state::State;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "kms-rotation-state-releases-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// The targets of a run over two Regions of one account, and its parameters.
fn run_of(max: Option<i32>) -> (crate::session::Targets, RuleParameters) {
    let targets = crate::session::Targets {
        kms: Vec::new(),
        failed: Vec::new(),
        organization_id: None,
        accounts: 1,
        asked: "accounts [111122223333] in [eu-west-1,us-east-1]".to_owned(),
        configs: HashMap::new(),
    };
    let params = RuleParameters::from_values(max, false, "", None, 7).unwrap();
    (targets, params)
}

#[test]
fn the_fingerprint_is_the_same_in_every_release() {
    let (targets, params) = run_of(Some(365));
    let f = crate::sweep::fingerprint(&targets, &params, "");
    // A literal: a change to it makes every state file written before refuse to resume.
    assert_eq!(f.text, "1 account(s), run sha256:dfccd63d8dd0360d");
    assert_ne!(
        crate::sweep::fingerprint(&targets, &params, " period 365").text,
        f.text
    );
    let (_, other) = run_of(None);
    assert_ne!(crate::sweep::fingerprint(&targets, &other, "").text, f.text);
}

/// The first line of a state file as the releases before the SHA-256 fingerprint wrote it:
/// std's `DefaultHasher` over the parameters' `Debug` text.
fn written_the_old_way(path: &Path, command: &str, fingerprint: &str) {
    let lines = [
        json!({"kind": "run", "command": command, "fingerprint": fingerprint}),
        json!({"kind": "finished", "accountId": "111122223333", "region": "eu-west-1", "rows": [{"resourceId": "k1"}]}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_state_file_of_the_release_before_resumes_or_is_refused_clearly() {
    use std::hash::{Hash, Hasher};
    let (targets, params) = run_of(Some(365));
    // Exactly what the release before computed.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&targets.asked, format!("{params:?}"), "").hash(&mut h);
    let old = format!("1 account(s), run {:016x}", h.finish());
    let now = crate::sweep::fingerprint(&targets, &params, "");

    let path = temp("old-release");
    written_the_old_way(&path, "audit", &old);
    let state = State::open(&path, true, "audit", &now).unwrap();
    assert_eq!(
        state.finished("111122223333", "eu-west-1").unwrap(),
        [json!({"resourceId": "k1"})]
    );
    drop(state);
    // Resumed again (it keeps its first line): still the same run.
    assert_eq!(
        State::open(&path, true, "audit", &now)
            .unwrap()
            .finished_count(),
        1
    );
    // Other flags over an old file: refused, as for a file of this release.
    let (_, other) = run_of(None);
    let e = State::open(&path, true, "remediate", &now)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not of `remediate`"), "{e}");

    // A hash the old way that this build does not compute (another toolchain, or other
    // flags): the operator is told to start over.
    let path = temp("old-toolchain");
    written_the_old_way(&path, "audit", "1 account(s), run 0123456789abcdef");
    let e = State::open(&path, true, "audit", &now)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("written by an earlier release of kms-rotation")
            && e.contains("start over without --resume"),
        "{e}"
    );
    let e = State::open(
        &path,
        true,
        "audit",
        &crate::sweep::fingerprint(&targets, &other, ""),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("start over without --resume"), "{e}");
}
