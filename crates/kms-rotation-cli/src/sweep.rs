//! The sweep shared by `audit`, `remediate`, `exceptions` and `securityhub`: every key of many
//! account-Regions through the rule's own evaluation ([`evaluate_key_id_gathered`]), many account-Regions
//! at once ([`crate::fleet`]); the exposure of each NON_COMPLIANT key from its key policy;
//! `--state`/`--resume` fingerprints; the output lines of an audit.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::evidence::{self, Evidence};
use crate::exposure::{self, Classification, Exposure};
use crate::fleet::{self, Finished, Stop};
use crate::last_use::{self, LastUse};
use crate::output::{or_dash, Row};
use crate::session::Targets;
use crate::state::State;
use crate::CliError;
use kms_rotation_core::decision::{Compliance, Reason};
use kms_rotation_core::evaluate::{evaluate_key_id_gathered, KeyEvaluation};
use kms_rotation_core::kms::{Aliases, KmsError, KmsReader, KmsRegion};
use kms_rotation_core::params::RuleParameters;

/// One key, evaluated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Audited {
    pub account_id: String,
    pub region: String,
    pub alias: Option<String>,
    pub evaluation: KeyEvaluation,
    /// The key's rotation evidence, when the run asks for it ([`Plan::evidence`]); `None` also
    /// for AWS managed keys, which are out of the control's scope.
    pub evidence: Option<Evidence>,
    /// When the key was last used, when the run asks for it ([`Plan::last_use`]).
    pub last_use: Option<LastUse>,
}

impl Audited {
    /// The key ARN, when KMS gave it.
    pub(crate) fn arn(&self) -> Option<&str> {
        self.evaluation
            .facts
            .as_ref()
            .and_then(|f| f.arn.as_deref())
    }
}

/// The JSON line, as [`AuditLine`] writes it (without exposure): `resourceId`, `arn`,
/// `accountId`, `region`, `alias`, `complianceType`, `reason`, `annotation`.
impl Serialize for Audited {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        AuditLine::new(self, None).serialize(serializer)
    }
}

/// A line of `audit`'s output: the key's JSON line (see [`Audited`]) and, for a NON_COMPLIANT
/// key, its exposure. An account-Region finished by an earlier run (`--resume`) comes back as
/// these lines. Its serde form is the JSON line: `complianceType` as Config spells it
/// (`COMPLIANT`, ...), `reason` as its code (`ROTATION_OFF`, ...), `exposure` as
/// [`Exposure::as_str`] (`public`, `cross_account`, `unknown`, `private`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditLine {
    pub resource_id: String,
    pub arn: Option<String>,
    pub account_id: String,
    pub region: String,
    pub alias: Option<String>,
    pub compliance_type: Compliance,
    pub reason: Reason,
    pub annotation: String,
    /// NON_COMPLIANT keys only, when their key policy was read for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure: Option<Exposure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure_reason: Option<String>,
    /// `kms-rotation evidence` only: the key's rotation evidence ([`Evidence`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// `--last-use` only: when the key was last used ([`LastUse`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_use: Option<LastUse>,
}

impl AuditLine {
    pub(crate) fn new(key: &Audited, exposure: Option<&Classification>) -> Self {
        let verdict = &key.evaluation.verdict;
        Self {
            resource_id: key.evaluation.key_id.clone(),
            arn: key.arn().map(str::to_owned),
            account_id: key.account_id.clone(),
            region: key.region.clone(),
            alias: key.alias.clone(),
            compliance_type: verdict.compliance,
            reason: verdict.reason,
            annotation: verdict.annotation.clone(),
            exposure: exposure.map(|e| e.exposure),
            exposure_reason: exposure.map(|e| e.reason.clone()),
            evidence: key.evidence.clone(),
            last_use: key.last_use.clone(),
        }
    }
}

impl Row for AuditLine {
    const HEADERS: &'static [&'static str] = &[
        "ACCOUNT",
        "KEY ID",
        "ALIAS",
        "REGION",
        "COMPLIANCE",
        "EXPOSURE",
        "ANNOTATION",
    ];
    const NOT_READ: &'static str = "not evaluated";

    fn cells(&self) -> Vec<String> {
        vec![
            self.account_id.clone(),
            self.resource_id.clone(),
            or_dash(self.alias.as_deref()),
            self.region.clone(),
            self.compliance_type.to_string(),
            or_dash(self.exposure.map(Exposure::as_str)),
            match &self.last_use {
                Some(last_use) => format!("{} Last use: {}.", self.annotation, last_use.summary()),
                None => self.annotation.clone(),
            },
        ]
    }

    fn is_finding(&self) -> bool {
        self.compliance_type == Compliance::NonCompliant
    }
}

/// What an audit found: the keys evaluated now (with the exposure of NON_COMPLIANT ones) when
/// their evaluations are kept ([`Plan::keep`]), the output lines of the others and of the
/// account-Regions an earlier run finished, the keys or account-Regions it could not evaluate,
/// warnings that change no verdict, and what a Ctrl-C left undone.
#[derive(Debug, Default)]
pub(crate) struct AuditRun {
    pub keys: Vec<(Audited, Option<Classification>)>,
    pub lines: Vec<AuditLine>,
    /// The lines already printed ([`Plan::stream`]), counted.
    pub streamed: Tally,
    pub errors: Vec<CliError>,
    pub warnings: Vec<String>,
    /// Account-Regions not finished because the run was stopped.
    pub left: Vec<(String, String)>,
}

/// How a run over account-Regions is done.
pub(crate) struct Plan<'a> {
    pub params: &'a RuleParameters,
    pub today: NaiveDate,
    pub max_in_flight: usize,
    /// Read the key policy of NON_COMPLIANT keys for their exposure.
    pub exposure: bool,
    /// Read each customer managed key's rotation evidence ([`crate::evidence`]).
    pub evidence: bool,
    /// Read when each customer managed key was last used ([`crate::last_use`]).
    pub last_use: bool,
    /// The organization's id, when known: principals inside it are not cross-account.
    pub organization_id: Option<&'a str>,
    pub stop: &'a Stop,
    pub state: Option<&'a State>,
    /// Keep each key's whole evaluation (for remediate and findings); otherwise only its output
    /// line is kept, which is what a large organization's audit can hold in memory.
    pub keep: bool,
    /// Hand each account-Region's lines (by key id) on as soon as it is finished, and keep only
    /// their counts: memory then holds the account-Regions in progress, not the whole run.
    pub stream: Stream<'a>,
}

/// Where a streamed run's lines go ([`Plan::stream`]).
#[derive(Clone, Copy)]
pub(crate) enum Stream<'a> {
    /// Kept in [`AuditRun::lines`].
    No,
    /// Printed on stdout as JSON lines.
    Stdout,
    /// Given to a writer of files (`evidence`'s).
    Into(&'a std::sync::Mutex<dyn LineSink + Send>),
}

/// What takes a streamed run's lines, an account-Region's at a time, sorted by key id.
pub(crate) trait LineSink {
    fn take(&mut self, lines: &[AuditLine]) -> Result<(), CliError>;
}

impl Stream<'_> {
    fn is_on(self) -> bool {
        !matches!(self, Self::No)
    }

    /// Hand `lines` on (sorted by key id) and count them; a write error is returned.
    fn send(self, lines: &mut [AuditLine], tally: &mut Tally) -> Result<(), CliError> {
        match self {
            Self::No => Ok(()),
            Self::Stdout => print_lines(lines, tally),
            Self::Into(sink) => {
                lines.sort_by(|a, b| a.resource_id.cmp(&b.resource_id));
                sink.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take(lines)?;
                lines.iter().for_each(|l| tally.add(l.compliance_type));
                Ok(())
            }
        }
    }
}

/// Keys counted by verdict: the one count of compliance in the CLI.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub compliant: usize,
    pub non_compliant: usize,
    pub not_applicable: usize,
}

impl Tally {
    pub(crate) fn add(&mut self, compliance: Compliance) {
        match compliance {
            Compliance::Compliant => self.compliant += 1,
            Compliance::NonCompliant => self.non_compliant += 1,
            Compliance::NotApplicable => self.not_applicable += 1,
        }
    }

    pub(crate) fn of(compliances: impl IntoIterator<Item = Compliance>) -> Self {
        let mut t = Self::default();
        compliances.into_iter().for_each(|c| t.add(c));
        t
    }

    pub(crate) fn plus(self, o: Self) -> Self {
        Self {
            compliant: self.compliant + o.compliant,
            non_compliant: self.non_compliant + o.non_compliant,
            not_applicable: self.not_applicable + o.not_applicable,
        }
    }

    pub(crate) fn total(self) -> usize {
        self.compliant + self.non_compliant + self.not_applicable
    }
}

/// Print lines as JSON, one a line, and count them; a write error is returned (a closed pipe).
fn print_lines(lines: &mut [AuditLine], tally: &mut Tally) -> Result<(), CliError> {
    use std::io::Write;
    lines.sort_by(|a, b| a.resource_id.cmp(&b.resource_id));
    let mut out = std::io::stdout().lock();
    for line in lines.iter() {
        serde_json::to_writer(&mut out, line).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        tally.add(line.compliance_type);
    }
    out.flush()?;
    Ok(())
}

/// The aliases of an account-Region, read once by its first key.
type AliasCell = Arc<OnceCell<Result<Aliases, String>>>;

/// What the evaluation of one key needs, shared by the tasks of every account-Region.
struct KeyContext {
    params: RuleParameters,
    today: NaiveDate,
    exposure: bool,
    evidence: bool,
    last_use: bool,
    organization_id: Option<String>,
    aliases: Arc<HashMap<(String, String), AliasCell>>,
}

impl KeyContext {
    /// One listed key: its verdict, its alias, and for a NON_COMPLIANT key its exposure.
    async fn evaluate(
        &self,
        target: KmsRegion,
        key_id: String,
    ) -> Result<(Audited, Option<Classification>), KmsError> {
        let alias_map = match self
            .aliases
            .get(&(target.account_id.clone(), target.region.clone()))
        {
            Some(cell) => Some(
                cell.get_or_init(|| async {
                    target
                        .reader
                        .aliases()
                        .await
                        .map_err(|e| crate::explain_kms(&target.region, &e))
                })
                .await,
            ),
            None => None,
        };
        let (evaluation, gathered) =
            evaluate_key_id_gathered(&target.reader, &key_id, &self.params, self.today).await?;
        let evidence = if self.evidence {
            evidence::read(&target.reader, &evaluation, gathered, self.today).await?
        } else {
            None
        };
        let last_use = if self.last_use && last_use::applies(&evaluation) {
            Some(last_use::read(&target.reader, &evaluation.key_id).await?)
        } else {
            None
        };
        let exposure = if self.exposure && evaluation.verdict.compliance == Compliance::NonCompliant
        {
            Some(exposure_of(&target.reader, &evaluation, self.organization_id.as_deref()).await)
        } else {
            None
        };
        let alias = alias_map
            .and_then(|a| a.as_ref().ok())
            .and_then(|a| a.get(&evaluation.key_id))
            .map(str::to_owned);
        Ok((
            Audited {
                account_id: target.account_id,
                region: target.region,
                alias,
                evaluation,
                evidence,
                last_use,
            },
            exposure,
        ))
    }
}

/// Evaluate every key of every account-Region with the rule's decision.
pub(crate) async fn evaluate_regions(targets: &[KmsRegion], plan: &Plan<'_>) -> AuditRun {
    let mut run = AuditRun::default();
    let todo = run.resume(targets, plan);
    let aliases: Arc<HashMap<(String, String), AliasCell>> = Arc::new(
        todo.iter()
            .map(|t| {
                (
                    (t.account_id.clone(), t.region.clone()),
                    AliasCell::default(),
                )
            })
            .collect(),
    );
    let progress = fleet::progress(todo.len(), "key(s)");
    let mut keys_done = 0u64;
    // What each key's task needs, owned: the tasks run on the runtime's threads.
    let context = Arc::new(KeyContext {
        params: plan.params.clone(),
        today: plan.today,
        exposure: plan.exposure,
        evidence: plan.evidence,
        last_use: plan.last_use,
        organization_id: plan.organization_id.map(str::to_owned),
        aliases: aliases.clone(),
    });
    let per_key = move |target: KmsRegion, key_id: String| {
        let context = context.clone();
        async move { context.evaluate(target, key_id).await }
    };
    let left = fleet::run(
        &todo,
        plan.max_in_flight,
        plan.stop,
        per_key,
        |f: Finished<(Audited, Option<Classification>)>| {
            keys_done += f.rows.len() as u64;
            progress.inc(1);
            progress.set_message(keys_done.to_string());
            if let Some(Err(e)) = aliases[&(f.account_id.clone(), f.region.clone())].get() {
                run.warnings.push(format!(
                    "aliases not shown for {} of account {}: {e}",
                    f.region, f.account_id
                ));
            }
            run.finished(f, plan);
        },
    )
    .await;
    progress.finish_and_clear();
    run.left
        .extend(left.into_iter().map(|t| (t.account_id, t.region)));
    run.keys.sort_by(|(a, _), (b, _)| {
        (&a.account_id, &a.region, &a.evaluation.key_id).cmp(&(
            &b.account_id,
            &b.region,
            &b.evaluation.key_id,
        ))
    });
    run
}

impl AuditRun {
    /// The account-Regions of `targets` left to read: the lines of those an earlier run finished
    /// (`--resume`) are taken (printed when streaming) instead.
    fn resume(&mut self, targets: &[KmsRegion], plan: &Plan<'_>) -> Vec<KmsRegion> {
        let mut todo = Vec::new();
        for t in targets {
            let Some(lines) = plan
                .state
                .and_then(|s| s.finished(&t.account_id, &t.region))
            else {
                todo.push(t.clone());
                continue;
            };
            let mut resumed = Vec::new();
            for line in lines {
                match serde_json::from_value::<AuditLine>(line) {
                    Ok(l) => resumed.push(l),
                    Err(e) => self.errors.push(CliError::StateLine(e)),
                }
            }
            if plan.stream.is_on() {
                if let Err(e) = plan.stream.send(&mut resumed, &mut self.streamed) {
                    self.errors.push(e);
                    plan.stop.set();
                }
            } else {
                self.lines.append(&mut resumed);
            }
        }
        todo
    }

    /// One account-Region read: recorded in the state file when it is complete, its keys kept
    /// (or their lines kept or printed), its errors and what a stop left of it noted.
    fn finished(&mut self, f: Finished<(Audited, Option<Classification>)>, plan: &Plan<'_>) {
        if let Some(state) = plan.state.filter(|_| f.is_complete()) {
            let lines = f
                .rows
                .iter()
                .map(|(k, e)| {
                    serde_json::to_value(AuditLine::new(k, e.as_ref())).unwrap_or(Value::Null)
                })
                .collect();
            if let Err(e) = state.record_finished(&f.account_id, &f.region, lines) {
                self.errors.push(e);
            }
        }
        if f.not_started > 0 {
            self.left.push((f.account_id.clone(), f.region.clone()));
        }
        self.errors.extend(f.errors);
        if plan.keep {
            self.keys.extend(f.rows);
            return;
        }
        let mut lines: Vec<AuditLine> = f
            .rows
            .iter()
            .map(|(k, e)| AuditLine::new(k, e.as_ref()))
            .collect();
        if plan.stream.is_on() {
            // Stdout closed (`| head`), or a file that cannot be written: nothing more can be
            // said; stop.
            if let Err(e) = plan.stream.send(&mut lines, &mut self.streamed) {
                if !plan.stop.is_set() {
                    self.errors.push(e);
                }
                plan.stop.set();
            }
        } else {
            self.lines.append(&mut lines);
        }
    }
}

/// How exposed a key's policy is ([`exposure::classify`], for the account of its ARN and the
/// organization when known). A policy that cannot be read makes it `unknown`, never an error:
/// the exposure orders work, it changes no verdict.
pub(crate) async fn exposure_of(
    reader: &KmsReader,
    evaluation: &KeyEvaluation,
    organization_id: Option<&str>,
) -> Classification {
    let account = evaluation
        .facts
        .as_ref()
        .and_then(|f| f.arn.as_deref())
        .and_then(|arn| kms_rotation_core::arn::Arn::parse(arn).ok())
        .map(|arn| arn.account)
        .filter(|a| !a.is_empty());
    let Some(account) = account else {
        return Classification::unknown("the key's account is not known (DescribeKey gave no ARN)");
    };
    match crate::key_policy::key_policy(reader, &evaluation.key_id).await {
        Ok(Some(policy)) => exposure::classify(&policy, account, organization_id),
        Ok(None) => Classification::unknown(
            "access denied on kms:GetKeyPolicy: grant it to the identity you run as to know the key's exposure",
        ),
        Err(e) => Classification::unknown(format!("the key policy could not be read: {e}")),
    }
}

/// The fingerprint of a run for `--state`: the accounts and Regions asked for and the rule
/// parameters (and `extra`), so that `--resume` refuses a file of another run. It is taken before
/// anything is read, so an account that could not be reached the first time is tried again on
/// resume.
///
/// It is the SHA-256 of a canonical JSON text (keys sorted, the parameters in the rule's own
/// names, [`RuleParameters::canonical_json`]): the same for the same run whatever the release or
/// toolchain. Files of the releases before it carry a `DefaultHasher` fingerprint of the
/// parameters' `Debug` text, which std may change between releases: that one is computed too
/// ([`crate::state::Fingerprint::legacy`]), so such a file still resumes while the toolchain is the same.
pub(crate) fn fingerprint(
    targets: &Targets,
    params: &RuleParameters,
    extra: &str,
) -> crate::state::Fingerprint {
    use sha2::{Digest, Sha256};
    use std::hash::{Hash, Hasher};
    // Fields in sorted order; the parameters' keys are sorted by canonical_json.
    let canonical = serde_json::json!({
        "asked": targets.asked,
        "extra": extra,
        "parameters": params.canonical_json(),
    });
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&targets.asked, format!("{params:?}"), extra).hash(&mut h);
    crate::state::Fingerprint {
        text: format!("{} account(s), run sha256:{hex}", targets.accounts),
        legacy: format!("{} account(s), run {:016x}", targets.accounts, h.finish()),
    }
}

/// What a Ctrl-C left undone, for the summary; `None` when nothing was.
pub(crate) fn left_undone(left: &[(String, String)]) -> Option<String> {
    left_undone_then(left, "run the same command with --resume to go on")
}

/// What a Ctrl-C left undone and what to do about it, for the summary of a command that has no
/// `--resume`; `None` when nothing was.
pub(crate) fn left_undone_then(left: &[(String, String)], then: &str) -> Option<String> {
    if left.is_empty() {
        return None;
    }
    let shown: Vec<String> = left
        .iter()
        .take(5)
        .map(|(a, r)| format!("{a}/{r}"))
        .collect();
    let more = left.len().saturating_sub(shown.len());
    Some(format!(
        "{} account-Region(s) not finished ({}{}): {then}",
        left.len(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_rotation_core::decision::Verdict;

    fn audited(compliance: Compliance, reason: Reason) -> Audited {
        Audited {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            alias: Some("alias/app".into()),
            evaluation: KeyEvaluation {
                key_id: "k1".into(),
                facts: None,
                verdict: Verdict::new(compliance, reason, "Automatic rotation is off."),
            },
            evidence: None,
            last_use: None,
        }
    }

    #[test]
    fn an_audit_line_is_the_json_line_and_reads_back() {
        let key = audited(Compliance::NonCompliant, Reason::RotationOff);
        let exposure = Classification {
            exposure: Exposure::CrossAccount,
            reason: "statement 1 allows account 444455556666".into(),
        };
        let line = AuditLine::new(&key, Some(&exposure));
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(
            text,
            r#"{"resourceId":"k1","arn":null,"accountId":"111122223333","region":"us-east-1","alias":"alias/app","complianceType":"NON_COMPLIANT","reason":"ROTATION_OFF","annotation":"Automatic rotation is off.","exposure":"cross_account","exposureReason":"statement 1 allows account 444455556666"}"#
        );
        assert_eq!(serde_json::from_str::<AuditLine>(&text).unwrap(), line);
        // Without exposure, the key's own line: what `Audited` writes.
        let plain = AuditLine::new(&key, None);
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            serde_json::to_string(&key).unwrap()
        );
        assert!(!serde_json::to_string(&plain).unwrap().contains("exposure"));
        // A line of another vocabulary is refused (`--resume` says so).
        let odd = text.replace("ROTATION_OFF", "rotation-off");
        assert!(serde_json::from_str::<AuditLine>(&odd).is_err());
    }

    #[test]
    fn keys_are_counted_by_compliance() {
        use Compliance::*;
        let t = Tally::of([Compliant, NonCompliant, NonCompliant, NotApplicable]);
        assert_eq!((t.compliant, t.non_compliant, t.not_applicable), (1, 2, 1));
        assert_eq!(t.plus(Tally::of([Compliant])).total(), 5);
    }
}
