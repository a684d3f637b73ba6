//! `--state FILE` and `--resume`: what a long run has done, recorded as it happens, so that the
//! same command can go on after Ctrl-C, a crash or a lost connection.
//!
//! The file is JSON lines, appended and flushed to disk one record at a time:
//! - `{"kind":"run","command":...,"fingerprint":...}` first: the command and what it works on;
//!   `--resume` refuses a file of another command, other accounts, Regions or parameters;
//! - `{"kind":"finished","accountId":...,"region":...,"rows":[...]}`: an account-Region whose
//!   every key was done, with its output rows; `--resume` prints them again and does not read it;
//! - `{"kind":"enabling","arn":...}`: written *before* EnableKeyRotation is called on a key; on
//!   `--resume` such a key is never sent EnableKeyRotation again (it is only verified).
//!
//! A record cut short by a crash (the last line, unparsable) is ignored: what it recorded is
//! redone, which is always safe for reads, and an `enabling` record is written before the call.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{CliError, StateFileOp};

/// What a run works on, as its `--state` file records it (`sweep::fingerprint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    /// `N account(s), run sha256:...`: the same for the same run in every release.
    pub(crate) text: String,
    /// What the releases before `text` wrote for the same run (`N account(s), run <16 hex>`, std's
    /// `DefaultHasher`): their files resume as long as that hash has not changed.
    pub(crate) legacy: String,
}

/// What [`State::open`] compares a file's first record with: a [`Fingerprint`] (or, in tests, a
/// plain text).
pub(crate) trait RunFingerprint {
    /// What this release writes.
    fn current(&self) -> &str;
    /// What the releases before wrote for the same run.
    fn legacy(&self) -> &str;
}

impl RunFingerprint for Fingerprint {
    fn current(&self) -> &str {
        &self.text
    }
    fn legacy(&self) -> &str {
        &self.legacy
    }
}

/// A fingerprint of this release only, for the tests of what is recorded.
#[cfg(test)]
impl RunFingerprint for str {
    fn current(&self) -> &str {
        self
    }
    fn legacy(&self) -> &str {
        self
    }
}

/// Whether `fingerprint` is of the form the releases before the SHA-256 one wrote.
fn is_legacy(fingerprint: &str) -> bool {
    fingerprint
        .rsplit_once(" run ")
        .is_some_and(|(_, hash)| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Record {
    Run {
        command: String,
        fingerprint: String,
    },
    #[serde(rename_all = "camelCase")]
    Finished {
        account_id: String,
        region: String,
        rows: Vec<Value>,
    },
    Enabling {
        arn: String,
    },
}

/// A record's kind and place, without its rows (a line is read whole only when needed).
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Head {
    Run {},
    #[serde(rename_all = "camelCase")]
    Finished {
        account_id: String,
        region: String,
    },
    Enabling {
        arn: String,
    },
}

/// The state of a run: what an earlier run of the same command recorded, and the file new
/// records go to.
#[derive(Debug)]
pub(super) struct State {
    path: PathBuf,
    file: Mutex<File>,
    /// The record of each finished account-Region, as written: its rows are parsed when asked
    /// for, one account-Region at a time, not all at once.
    finished: HashMap<(String, String), String>,
    enabling: HashSet<String>,
}

impl State {
    /// The state file of `--state`/`--resume` for `command`, when `--state` is given; the
    /// fingerprint is computed only then.
    pub(crate) fn of_args(
        args: &crate::args::StateArgs,
        command: &str,
        fingerprint: impl FnOnce() -> Fingerprint,
    ) -> Result<Option<Self>, CliError> {
        args.state
            .as_deref()
            .map(|path| Self::open(path, args.resume, command, &fingerprint()))
            .transpose()
    }

    /// Open `path` for `command` over `fingerprint` (what the command works on). Without
    /// `resume` the file must not exist yet, or be empty; with it, the file must be one this
    /// command wrote with the same fingerprint.
    pub(super) fn open(
        path: &Path,
        resume: bool,
        command: &str,
        fingerprint: &(impl RunFingerprint + ?Sized),
    ) -> Result<Self, CliError> {
        let usage = |what: String| CliError::Usage(format!("--state {}: {what}", path.display()));
        let io = |op, source| CliError::StateFile {
            path: path.to_owned(),
            op,
            source,
        };
        let mut finished = HashMap::new();
        let mut enabling = HashSet::new();
        let existing = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(StateFileOp::Read, e)),
        };
        let fresh = existing.iter().all(u8::is_ascii_whitespace);
        if !fresh && !resume {
            return Err(usage(
                "the file holds an earlier run: pass --resume to go on with it, or name another file".into(),
            ));
        }
        if !fresh {
            let mut lines = BufReader::new(existing.as_slice()).lines();
            match lines
                .next()
                .and_then(|l| l.ok())
                .map(|l| serde_json::from_str(&l))
            {
                Some(Ok(Record::Run {
                    command: c,
                    fingerprint: f,
                })) => {
                    let same = f == fingerprint.current() || f == fingerprint.legacy();
                    if c == command && !same && is_legacy(&f) {
                        return Err(usage(format!(
                            "the file was written by an earlier release of kms-rotation (run {f}), whose fingerprint this release cannot check against `{command}` over {}: start over without --resume (remove the file or name another one)",
                            fingerprint.current()
                        )));
                    }
                    if c != command || !same {
                        return Err(usage(format!(
                            "the file is the state of `{c}` over {f}, not of `{command}` over {}: resume with the same command and flags, or name another file",
                            fingerprint.current()
                        )));
                    }
                }
                _ => return Err(usage("not a kms-rotation state file".into())),
            }
            for line in lines {
                let line = line.map_err(|e| io(StateFileOp::Read, e))?;
                // A line cut short by a crash: what it recorded is done again.
                match serde_json::from_str::<Head>(&line) {
                    Ok(Head::Finished { account_id, region }) => {
                        finished.insert((account_id, region), line);
                    }
                    Ok(Head::Enabling { arn }) => {
                        enabling.insert(arn);
                    }
                    Ok(Head::Run {}) | Err(_) => {}
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io(StateFileOp::Open, e))?;
        let state = Self {
            path: path.to_owned(),
            file: Mutex::new(file),
            finished,
            enabling,
        };
        if fresh {
            state.append(&Record::Run {
                command: command.to_owned(),
                fingerprint: fingerprint.current().to_owned(),
            })?;
        }
        Ok(state)
    }

    /// The rows an earlier run recorded for a finished account-Region.
    pub(super) fn finished(&self, account_id: &str, region: &str) -> Option<Vec<Value>> {
        let line = self
            .finished
            .get(&(account_id.to_owned(), region.to_owned()))?;
        match serde_json::from_str(line) {
            Ok(Record::Finished { rows, .. }) => Some(rows),
            // Read whole when the file was opened; a record that does not parse whole is not
            // finished (its account-Region is read again).
            _ => None,
        }
    }

    /// The account-Regions an earlier run finished.
    pub(super) fn finished_count(&self) -> usize {
        self.finished.len()
    }

    /// Record an account-Region whose every key was done, with its rows.
    pub(super) fn record_finished(
        &self,
        account_id: &str,
        region: &str,
        rows: Vec<Value>,
    ) -> Result<(), CliError> {
        self.append(&Record::Finished {
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            rows,
        })
    }

    /// Whether an earlier run was about to send EnableKeyRotation for this key.
    pub(super) fn was_enabling(&self, arn: &str) -> bool {
        self.enabling.contains(arn)
    }

    /// Record, before the call, that EnableKeyRotation is about to be sent for this key.
    pub(super) fn record_enabling(&self, arn: &str) -> Result<(), CliError> {
        self.append(&Record::Enabling {
            arn: arn.to_owned(),
        })
    }

    /// One record, one line, on disk before this returns.
    fn append(&self, record: &Record) -> Result<(), CliError> {
        let failed = |source| CliError::StateFile {
            path: self.path.clone(),
            op: StateFileOp::Record,
            source,
        };
        let mut line = serde_json::to_vec(record).map_err(|e| failed(e.into()))?;
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A fingerprint for the tests of the file itself.
    fn fp(text: &str) -> Fingerprint {
        Fingerprint {
            text: text.to_owned(),
            legacy: format!("legacy of {text}"),
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kms-rotation-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn a_resumed_run_sees_what_the_first_one_recorded() {
        let path = temp("resume");
        let state = State::open(&path, false, "audit", &fp("a")).unwrap();
        state
            .record_finished(
                "111122223333",
                "eu-west-1",
                vec![json!({"resourceId": "k1"})],
            )
            .unwrap();
        state.record_enabling("arn:k2").unwrap();
        drop(state);
        // A crash in the middle of a record leaves half a line: ignored.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"kind":"finished","accountId":"4444"#)
            .unwrap();
        drop(f);
        let state = State::open(&path, true, "audit", &fp("a")).unwrap();
        assert_eq!(
            state.finished("111122223333", "eu-west-1").unwrap(),
            [json!({"resourceId": "k1"})]
        );
        assert!(state.finished("111122223333", "us-east-1").is_none());
        assert_eq!(state.finished_count(), 1);
        assert!(state.was_enabling("arn:k2") && !state.was_enabling("arn:k1"));
    }

    #[test]
    fn a_state_file_is_not_reused_by_mistake() {
        let path = temp("mistake");
        State::open(&path, false, "audit", &fp("a")).unwrap();
        let e = State::open(&path, false, "audit", &fp("a"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pass --resume"), "{e}");
        let e = State::open(&path, true, "remediate", &fp("a"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not of `remediate`"), "{e}");
        let e = State::open(&path, true, "audit", &fp("b"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("resume with the same command"), "{e}");
        // --resume of a file not yet written starts afresh.
        let other = temp("new");
        assert_eq!(
            State::open(&other, true, "audit", &fp("a"))
                .unwrap()
                .finished_count(),
            0
        );
        std::fs::write(&other, "not json\n").unwrap();
        let e = State::open(&other, true, "audit", &fp("a"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a kms-rotation state file"), "{e}");
    }

    #[test]
    fn state_file_io_errors_name_the_file_and_what_to_do() {
        let dir = temp("a-directory");
        std::fs::create_dir_all(&dir).unwrap();
        let e = State::open(&dir, true, "audit", &fp("a")).unwrap_err();
        assert!(
            matches!(
                e,
                CliError::StateFile {
                    op: StateFileOp::Read,
                    ..
                }
            ),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("--state {}: cannot read it", dir.display())),
            "{text}"
        );
        assert!(text.contains("name another file"), "{text}");
        let missing = temp("no-such-dir").join("state");
        let e = State::open(&missing, false, "audit", &fp("a")).unwrap_err();
        assert!(
            matches!(
                e,
                CliError::StateFile {
                    op: StateFileOp::Open,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
