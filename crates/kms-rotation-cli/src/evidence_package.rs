//! The files of `kms-rotation evidence`, written into one directory:
//!
//! The keys are written as the sweep finishes each account-Region (sorted by key id within it),
//! so memory holds counts and the page's keys, not the organization.
//!
//! - `evidence.csv`: one row a customer managed key (auditors work in spreadsheets). A text cell
//!   that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a
//!   carriage return: OWASP, "CSV Injection") is written with a leading `'`; the JSON lines keep
//!   the value as KMS gave it.
//! - `evidence.jsonl`: the same keys, one JSON object a line: `audit --output json`'s line with
//!   an `evidence` object ([`crate::evidence::Evidence`]) and, with `--last-use`, `lastUse`.
//! - `evidence.html`: one self-contained page (no script, no external resource): the counts, a
//!   table per account, the control mapping with the source of each mapping, the keys that are
//!   not COMPLIANT or rest on an exception, and what could not be read.
//! - `manifest.json`: who ran it (sts:GetCallerIdentity), the rule parameters, the scope, the
//!   run's start and end, the counts, the errors, and each file's size and SHA-256;
//! - `SHA256SUMS`: the same hashes, and the manifest's, as `sha256sum -c SHA256SUMS` checks them.
//!
//! AWS managed keys are out of the control's scope: counted in the manifest, not listed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use askama::Template;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use kms_rotation_core::decision::Compliance;

use crate::evidence::{Evidence, RotationState};
use crate::sweep::{AuditLine, LineSink, Tally};
use crate::CliError;

pub(crate) const CSV: &str = "evidence.csv";
pub(crate) const JSONL: &str = "evidence.jsonl";
pub(crate) const HTML: &str = "evidence.html";
pub(crate) const MANIFEST: &str = "manifest.json";
pub(crate) const SUMS: &str = "SHA256SUMS";

/// A requirement the control maps to, and where that mapping is published.
pub(crate) struct Mapping {
    pub framework: &'static str,
    pub control: &'static str,
    pub source: &'static str,
}

const SECURITY_HUB_KMS4: &str =
    "https://docs.aws.amazon.com/securityhub/latest/userguide/kms-controls.html#kms-4";
const CIS_AWS: &str = "https://www.cisecurity.org/benchmark/amazon_web_services";

/// The control mapping of the page. Security Hub's KMS.4 page lists the CIS v1.4.0, v3.0.0 and
/// v5.0.0 numbers, NIST SP 800-53 Rev. 5 SC-12 and PCI DSS v4.0.1 3.7.4 as its related
/// requirements; CIS AWS Foundations Benchmark v6.0.0 and v7.0.0 number the recommendation 4.6
/// (the benchmarks themselves; Security Hub does not offer them as standards).
pub(crate) const MAPPINGS: [Mapping; 9] = [
    Mapping {
        framework: "AWS Security Hub CSPM",
        control: "KMS.4 AWS KMS key rotation should be enabled",
        source: SECURITY_HUB_KMS4,
    },
    Mapping {
        framework: "AWS Config managed rule",
        control: "cmk-backing-key-rotation-enabled (the rule behind KMS.4)",
        source: "https://docs.aws.amazon.com/config/latest/developerguide/cmk-backing-key-rotation-enabled.html",
    },
    Mapping {
        framework: "CIS AWS Foundations Benchmark v1.4.0",
        control: "3.8",
        source: SECURITY_HUB_KMS4,
    },
    Mapping {
        framework: "CIS AWS Foundations Benchmark v3.0.0",
        control: "3.6",
        source: SECURITY_HUB_KMS4,
    },
    Mapping {
        framework: "CIS AWS Foundations Benchmark v5.0.0",
        control: "3.6",
        source: SECURITY_HUB_KMS4,
    },
    Mapping {
        framework: "CIS AWS Foundations Benchmark v6.0.0",
        control: "4.6",
        source: CIS_AWS,
    },
    Mapping {
        framework: "CIS AWS Foundations Benchmark v7.0.0",
        control: "4.6",
        source: CIS_AWS,
    },
    Mapping {
        framework: "NIST SP 800-53 Rev. 5",
        control: "SC-12 Cryptographic Key Establishment and Management",
        source: SECURITY_HUB_KMS4,
    },
    Mapping {
        framework: "PCI DSS v4.0.1",
        control: "3.7.4 cryptographic key changes at the end of the cryptoperiod",
        source: SECURITY_HUB_KMS4,
    },
];

/// What the package says about the run, beyond the keys.
pub(crate) struct Run<'a> {
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub caller_account: &'a str,
    pub caller_arn: Option<&'a str>,
    /// The rule parameters in the rule's own names ([`kms_rotation_core::params::RuleParameters::canonical_json`]).
    pub parameters: Value,
    pub accounts: usize,
    pub account_regions: usize,
    pub last_use: bool,
    /// What could not be read: keys, account-Regions, accounts.
    pub errors: Vec<String>,
}

/// Counts of one account, or of the whole run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Counts {
    pub keys: usize,
    pub compliant: usize,
    pub non_compliant: usize,
    pub not_applicable: usize,
    /// Automatic rotation on.
    pub rotation_on: usize,
    /// Rotated (automatically or on demand) within the last 365 days.
    pub rotated_last_365_days: usize,
    /// With a valid-format exception tag the verdict rests on.
    pub exceptions: usize,
    /// The oldest key material among keys whose history was read, in days.
    pub oldest_material_days: Option<i64>,
}

impl Counts {
    /// Count a key; "rotated within the last 365 days" is counted from `now`, the run's one clock.
    fn add(&mut self, line: &AuditLine, evidence: &Evidence, now: DateTime<Utc>) {
        self.keys += 1;
        let mut tally = Tally::default();
        tally.add(line.compliance_type);
        self.compliant += tally.compliant;
        self.non_compliant += tally.non_compliant;
        self.not_applicable += tally.not_applicable;
        self.rotation_on += usize::from(evidence.rotation == RotationState::On);
        self.rotated_last_365_days += usize::from(
            evidence
                .last_rotation_date
                .is_some_and(|d| (now - d).num_days() <= 365),
        );
        self.exceptions += usize::from(evidence.exception_owner.is_some());
        self.oldest_material_days = self
            .oldest_material_days
            .into_iter()
            .chain(evidence.key_material_age_days)
            .max();
    }
}

impl Counts {
    /// The oldest key material, for the page.
    fn oldest(&self) -> String {
        number(self.oldest_material_days)
    }
}

/// The package being written: the CSV and the JSON lines as `<name>.partial` files, hashed as
/// they are written, each account-Region's keys as soon as it is finished (so memory holds
/// counts and the page's keys, not the whole organization); the page, the manifest and
/// SHA256SUMS at the end ([`Package::finish`]), when the partial files take their names.
pub(crate) struct Package {
    dir: PathBuf,
    csv: csv::Writer<Hashing>,
    jsonl: Hashing,
    total: Counts,
    by_account: BTreeMap<String, Counts>,
    /// The keys the page lists (at most [`PAGE_KEYS`]), and how many more there were.
    page: Vec<AuditLine>,
    left_off: usize,
    aws_managed: usize,
    /// When the package was started: the clock of its "rotated within the last 365 days".
    now: DateTime<Utc>,
}

/// A file being written, and the SHA-256 and size of what was written to it.
struct Hashing {
    name: &'static str,
    file: BufWriter<File>,
    sha: Sha256,
    bytes: usize,
}

impl Hashing {
    fn create(dir: &Path, name: &'static str) -> Result<Self, CliError> {
        let file = File::create(partial(dir, name)).map_err(|source| CliError::Report {
            path: dir.join(name),
            source,
        })?;
        Ok(Self {
            name,
            file: BufWriter::new(file),
            sha: Sha256::new(),
            bytes: 0,
        })
    }

    /// Flushed to disk: its manifest entry.
    fn close(mut self) -> std::io::Result<FileEntry> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        Ok(FileEntry {
            name: self.name,
            bytes: self.bytes,
            sha256: hex(&self.sha.finalize()),
        })
    }
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn partial(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.partial"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Package {
    /// Start a package in `dir`: created when missing; one that already holds a manifest is
    /// refused (evidence is never overwritten).
    pub(crate) fn create(dir: &Path) -> Result<Self, CliError> {
        Self::refuse_written(dir)?;
        std::fs::create_dir_all(dir).map_err(|source| CliError::Report {
            path: dir.to_owned(),
            source,
        })?;
        let mut csv = csv::Writer::from_writer(Hashing::create(dir, CSV)?);
        csv.write_record(CSV_HEADERS)
            .map_err(|e| Self::failed(dir, CSV, e.into()))?;
        Ok(Self {
            dir: dir.to_owned(),
            csv,
            jsonl: Hashing::create(dir, JSONL)?,
            total: Counts::default(),
            by_account: BTreeMap::new(),
            page: Vec::new(),
            left_off: 0,
            aws_managed: 0,
            now: Utc::now(),
        })
    }

    /// A directory that already holds evidence is refused (evidence is never overwritten): the
    /// command asks before any AWS call, and [`Package::create`] again.
    pub(crate) fn refuse_written(dir: &Path) -> Result<(), CliError> {
        if dir.join(MANIFEST).exists() {
            return Err(CliError::Usage(format!(
                "--output-dir {} already holds evidence ({MANIFEST}): evidence is never overwritten; pass a new directory",
                dir.display()
            )));
        }
        Ok(())
    }

    fn failed(dir: &Path, name: &str, source: std::io::Error) -> CliError {
        CliError::Report {
            path: dir.join(name),
            source,
        }
    }

    /// Customer managed keys written, by verdict.
    pub(crate) fn counts(&self) -> Counts {
        self.total
    }

    /// AWS managed keys seen (not listed).
    pub(crate) fn aws_managed(&self) -> usize {
        self.aws_managed
    }

    /// A stopped run: the partial files are removed (evidence of part of the scope would read
    /// as the whole).
    pub(crate) fn abandon(self) {
        for name in [CSV, JSONL] {
            let _ = std::fs::remove_file(partial(&self.dir, name));
        }
    }

    /// The page, the manifest and SHA256SUMS written, the partial files given their names;
    /// returns the paths of the package.
    pub(crate) fn finish(self, run: &Run<'_>) -> Result<Vec<PathBuf>, CliError> {
        let dir = self.dir.clone();
        let fail = |name: &'static str| {
            let dir = dir.clone();
            move |source: std::io::Error| Self::failed(&dir, name, source)
        };
        let csv = self
            .csv
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(Hashing::close)
            .map_err(fail(CSV))?;
        let jsonl = self.jsonl.close().map_err(fail(JSONL))?;
        let mut page_keys = self.page;
        page_keys.sort_by(|a, b| {
            (&a.account_id, &a.region, &a.resource_id).cmp(&(
                &b.account_id,
                &b.region,
                &b.resource_id,
            ))
        });
        let html = page(
            &page_keys,
            self.left_off,
            &self.total,
            &self.by_account,
            run,
        )
        .map_err(fail(HTML))?;
        std::fs::write(dir.join(HTML), &html).map_err(fail(HTML))?;
        for name in [CSV, JSONL] {
            std::fs::rename(partial(&dir, name), dir.join(name)).map_err(fail(name))?;
        }
        let mut files = vec![csv, jsonl, FileEntry::of(HTML, html.as_bytes())];
        let manifest = manifest(run, &self.total, self.aws_managed, &files);
        let manifest = serde_json::to_vec_pretty(&manifest)
            .map_err(std::io::Error::from)
            .map_err(fail(MANIFEST))?;
        std::fs::write(dir.join(MANIFEST), &manifest).map_err(fail(MANIFEST))?;
        files.push(FileEntry::of(MANIFEST, &manifest));
        let sums: String = files
            .iter()
            .map(|f| format!("{}  {}\n", f.sha256, f.name))
            .collect();
        std::fs::write(dir.join(SUMS), sums).map_err(fail(SUMS))?;
        Ok([CSV, JSONL, HTML, MANIFEST, SUMS]
            .map(|n| dir.join(n))
            .to_vec())
    }

    /// Write a key's row and line; an error names the file it is of.
    fn write_line(
        &mut self,
        line: &AuditLine,
        evidence: &Evidence,
    ) -> Result<(), (&'static str, std::io::Error)> {
        self.csv
            .write_record(csv_row(line, evidence))
            .map_err(|e| (CSV, e.into()))?;
        serde_json::to_writer(&mut self.jsonl, line).map_err(|e| (JSONL, e.into()))?;
        self.jsonl.write_all(b"\n").map_err(|e| (JSONL, e))?;
        self.total.add(line, evidence, self.now);
        self.by_account
            .entry(line.account_id.clone())
            .or_default()
            .add(line, evidence, self.now);
        if line.compliance_type != Compliance::Compliant || evidence.exception_owner.is_some() {
            if self.page.len() < PAGE_KEYS {
                self.page.push(line.clone());
            } else {
                self.left_off += 1;
            }
        }
        Ok(())
    }
}

/// Each account-Region's keys, as the sweep finishes it: AWS managed keys (no evidence) counted,
/// the others written.
impl LineSink for Package {
    fn take(&mut self, lines: &[AuditLine]) -> Result<(), CliError> {
        for line in lines {
            match &line.evidence {
                Some(evidence) => self
                    .write_line(line, evidence)
                    .map_err(|(name, e)| Self::failed(&self.dir, name, e))?,
                None => self.aws_managed += 1,
            }
        }
        Ok(())
    }
}

/// A file of the package, as the manifest lists it.
#[derive(Debug, Serialize)]
struct FileEntry {
    name: &'static str,
    bytes: usize,
    sha256: String,
}

impl FileEntry {
    fn of(name: &'static str, bytes: &[u8]) -> Self {
        Self {
            name,
            bytes: bytes.len(),
            sha256: hex(&Sha256::digest(bytes)),
        }
    }
}

fn manifest(run: &Run<'_>, total: &Counts, aws_managed: usize, files: &[FileEntry]) -> Value {
    serde_json::json!({
        "tool": "kms-rotation",
        "version": env!("CARGO_PKG_VERSION"),
        "command": "evidence",
        "started": run.started,
        "finished": run.finished,
        "caller": { "account": run.caller_account, "arn": run.caller_arn },
        "parameters": run.parameters,
        "lastUse": run.last_use,
        "scope": { "accounts": run.accounts, "accountRegions": run.account_regions },
        "counts": total,
        "awsManagedKeys": aws_managed,
        "errors": run.errors,
        "files": files,
        "controls": MAPPINGS.iter().map(|m| serde_json::json!({
            "framework": m.framework, "control": m.control, "source": m.source,
        })).collect::<Vec<_>>(),
    })
}

/// The CSV columns, in order.
pub(crate) const CSV_HEADERS: [&str; 23] = [
    "accountId",
    "region",
    "keyId",
    "arn",
    "alias",
    "complianceType",
    "reason",
    "rotation",
    "rotationPeriodDays",
    "nextRotationDate",
    "rotationCount",
    "lastRotationDate",
    "lastRotationType",
    "keyCreationDate",
    "keyMaterialAgeDays",
    "lastUse",
    "lastUseDate",
    "lastUseOperation",
    "exceptionOwner",
    "exceptionExpires",
    "exceptionTicket",
    "notes",
    "annotation",
];

/// A text cell a spreadsheet would not run as a formula.
fn text_cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

fn date(d: Option<DateTime<Utc>>) -> String {
    d.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn number<T: ToString>(n: Option<T>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

fn csv_row(line: &AuditLine, e: &Evidence) -> Vec<String> {
    use crate::last_use::LastUse;
    let (use_date, use_operation) = match &line.last_use {
        Some(LastUse::Used {
            date: d, operation, ..
        }) => (date(Some(*d)), operation.clone().unwrap_or_default()),
        _ => (String::new(), String::new()),
    };
    let text = |s: Option<&str>| text_cell(s.unwrap_or_default());
    vec![
        line.account_id.clone(),
        line.region.clone(),
        text(Some(&line.resource_id)),
        text(line.arn.as_deref()),
        text(line.alias.as_deref()),
        line.compliance_type.to_string(),
        line.reason.code().to_owned(),
        e.rotation.as_str().to_owned(),
        number(e.rotation_period_days),
        date(e.next_rotation_date),
        number(e.rotation_count),
        date(e.last_rotation_date),
        e.last_rotation_type.clone().unwrap_or_default(),
        date(e.key_creation_date),
        number(e.key_material_age_days),
        text(line.last_use.as_ref().map(LastUse::summary).as_deref()),
        use_date,
        text(Some(&use_operation)),
        text(e.exception_owner.as_deref()),
        number(e.exception_expires),
        text(e.exception_ticket.as_deref()),
        text(Some(&e.notes.join("; "))),
        text(Some(&line.annotation)),
    ]
}

/// At most this many keys are listed on the page (the CSV lists every key).
const PAGE_KEYS: usize = 5_000;

/// `evidence.html`, from `templates/evidence.html` (askama escapes every value as HTML).
#[derive(Template)]
#[template(path = "evidence.html")]
struct Page<'a> {
    generated: String,
    started: String,
    caller: String,
    parameters: String,
    accounts: usize,
    account_regions: usize,
    last_use: bool,
    total: &'a Counts,
    by_account: &'a BTreeMap<String, Counts>,
    mappings: &'a [Mapping],
    keys: Vec<PageKey<'a>>,
    /// Keys to list that were left off the page.
    left_off: usize,
    errors: &'a [String],
}

/// A key listed on the page.
struct PageKey<'a> {
    line: &'a AuditLine,
    evidence: &'a Evidence,
    last_rotation: String,
    exception: String,
}

impl PageKey<'_> {
    fn alias(&self) -> &str {
        self.line.alias.as_deref().unwrap_or("")
    }

    fn period(&self) -> String {
        number(self.evidence.rotation_period_days)
    }

    fn age(&self) -> String {
        number(self.evidence.key_material_age_days)
    }
}

fn page(
    listed: &[AuditLine],
    left_off: usize,
    total: &Counts,
    by_account: &BTreeMap<String, Counts>,
    run: &Run<'_>,
) -> Result<String, std::io::Error> {
    let keys = listed
        .iter()
        .filter_map(|line| line.evidence.as_ref().map(|evidence| (line, evidence)))
        .map(|(line, evidence)| PageKey {
            line,
            evidence,
            last_rotation: match (&evidence.last_rotation_date, &evidence.last_rotation_type) {
                (Some(d), t) => format!(
                    "{} {}",
                    d.format("%Y-%m-%d"),
                    t.as_deref().unwrap_or_default()
                ),
                (None, _) if evidence.rotation_count == Some(0) => "never".into(),
                (None, _) => String::new(),
            },
            exception: match (&evidence.exception_owner, &evidence.exception_expires) {
                (Some(owner), Some(expires)) => format!(
                    "{owner}, expires {expires}{}",
                    evidence
                        .exception_ticket
                        .as_deref()
                        .map(|t| format!(", {t}"))
                        .unwrap_or_default()
                ),
                _ => String::new(),
            },
        })
        .collect();
    let fmt = |d: DateTime<Utc>| d.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    Page {
        generated: fmt(run.finished),
        started: fmt(run.started),
        caller: run.caller_arn.unwrap_or(run.caller_account).to_owned(),
        parameters: run.parameters.to_string(),
        accounts: run.accounts,
        account_regions: run.account_regions,
        last_use: run.last_use,
        total,
        by_account,
        mappings: &MAPPINGS,
        keys,
        left_off,
        errors: &run.errors,
    }
    .render()
    .map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_rotation_core::decision::Reason;

    fn line(id: &str, compliance: Compliance, evidence: Option<Evidence>) -> AuditLine {
        AuditLine {
            resource_id: id.into(),
            arn: None,
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            alias: None,
            compliance_type: compliance,
            reason: Reason::RotationOff,
            annotation: "Automatic rotation is off.".into(),
            exposure: None,
            exposure_reason: None,
            evidence,
            last_use: None,
        }
    }

    fn evidence(rotation: RotationState) -> Evidence {
        serde_json::from_value(serde_json::json!({
            "rotation": rotation, "rotationPeriodDays": null, "nextRotationDate": null,
            "rotationCount": 0, "lastRotationDate": null, "lastRotationType": null,
            "keyCreationDate": "2026-01-01T00:00:00Z", "keyMaterialAgeDays": 335,
            "exceptionOwner": null, "exceptionExpires": null, "exceptionTicket": null,
        }))
        .unwrap()
    }

    fn run() -> Run<'static> {
        let at = "2026-12-02T10:00:00Z".parse().unwrap();
        Run {
            started: at,
            finished: at,
            caller_account: "111122223333",
            caller_arn: None,
            parameters: serde_json::json!({}),
            accounts: 1,
            account_regions: 1,
            last_use: false,
            errors: Vec::new(),
        }
    }

    #[test]
    fn a_finished_package_hashes_what_it_wrote_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let mut package = Package::create(dir.path()).unwrap();
        package
            .take(&[
                line(
                    "k-off",
                    Compliance::NonCompliant,
                    Some(evidence(RotationState::Off)),
                ),
                line("k-aws", Compliance::NotApplicable, None),
            ])
            .unwrap();
        assert_eq!((package.counts().keys, package.aws_managed()), (1, 1));
        let paths = package.finish(&run()).unwrap();
        assert_eq!(paths.len(), 5);
        let sums = std::fs::read_to_string(dir.path().join(SUMS)).unwrap();
        for entry in sums.lines() {
            let (hash, name) = entry.split_once("  ").unwrap();
            let data = std::fs::read(dir.path().join(name)).unwrap();
            assert_eq!(hex(&Sha256::digest(&data)), hash, "{name}");
        }
        assert_eq!(sums.lines().count(), 4);
        let csv = std::fs::read_to_string(dir.path().join(CSV)).unwrap();
        assert_eq!(csv.lines().count(), 2, "{csv}");
        assert!(!dir.path().join(format!("{CSV}.partial")).exists());
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(MANIFEST)).unwrap()).unwrap();
        assert_eq!(manifest["awsManagedKeys"], 1);
        assert_eq!(manifest["counts"]["nonCompliant"], 1);
        let Err(CliError::Usage(refused)) = Package::create(dir.path()) else {
            panic!("a second package in the same directory");
        };
        assert!(refused.contains("never overwritten"), "{refused}");
    }

    #[test]
    fn an_abandoned_package_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut package = Package::create(dir.path()).unwrap();
        package
            .take(&[line(
                "k",
                Compliance::NonCompliant,
                Some(evidence(RotationState::Off)),
            )])
            .unwrap();
        package.abandon();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_cell_a_spreadsheet_would_run_is_quoted_and_others_are_not() {
        assert_eq!(text_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(text_cell("+1"), "'+1");
        assert_eq!(text_cell("-x"), "'-x");
        assert_eq!(text_cell("@sum"), "'@sum");
        assert_eq!(text_cell("alias/app"), "alias/app");
        assert_eq!(text_cell("team-a"), "team-a");
    }
}
