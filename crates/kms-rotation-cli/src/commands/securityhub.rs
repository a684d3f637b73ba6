//! `kms-rotation securityhub export | sync-exceptions`: the audit's verdicts become
//! [`Subject`]s (exception tags read again for the keys whose verdict rests on one), then findings
//! ([`crate::findings`]), then Security Hub calls ([`crate::securityhub`]). The keys of every
//! account-Region are evaluated by the sweep ([`crate::sweep`], many account-Regions at once under
//! `--max-in-flight`), then each account-Region's Security Hub is worked on, many at once; Ctrl-C
//! lets the account-Regions in progress finish and names the others, as `audit` does.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use aws_config::Region;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Serialize, Serializer};
use serde_json::json;

use crate::args::{Output, ScopeArgs, SecurityhubArgs};
use crate::finding_subjects::subjects;
use crate::findings::{
    asff, asff_id, asff_status, partition_of, product_arn, Asff, Subject, Times,
};
use crate::fleet::Stop;
use crate::output::{warn, Report, Row};
use crate::securityhub::{plan_sync, Hub, HubError, KeyException, OwnFinding, Refused, SyncItem};
use crate::session::{Accounts, Session, Targets};
use crate::sweep::{evaluate_regions, left_undone_then, AuditRun, Audited, Plan, Stream};
use crate::{CliError, Exit};
use kms_rotation_core::aws_error::{is_access_denied, is_throttling};
use kms_rotation_core::decision::{Compliance, Reason};
use kms_rotation_core::kms::KmsRegion;
use kms_rotation_core::params::RuleParameters;

/// A Security Hub error in words that say what to do.
pub fn explain(e: &HubError) -> String {
    let op = e.operation;
    let region = &e.region;
    match e.code.as_deref() {
        Some(code) if is_access_denied(code) => format!(
            "access denied on securityhub:{op} in {region}: grant it to the identity you run as (docs/security-hub.md, IAM). {}",
            e.message
        ),
        _ if e.not_enabled => format!(
            "Security Hub is not enabled in {region} for this account: enable it (aws securityhub enable-security-hub --region {region}), or leave {region} out. {}",
            e.message
        ),
        Some(code) if is_throttling(code) => format!(
            "securityhub:{op} in {region} was throttled every time: run again later. {}",
            e.message
        ),
        _ => e.to_string(),
    }
}

/// What the summary says of account-Regions a Ctrl-C left undone: both commands can simply be run
/// again (the findings they send and the notes they write are the same).
const RUN_AGAIN: &str = "run the same command again to finish them";

/// One account-Region whose keys were evaluated, with its Security Hub.
struct Place<'a> {
    /// Its position among the run's account-Regions: rows are printed in that order.
    index: usize,
    kms: &'a KmsRegion,
    hub: Hub,
    /// Its evaluated keys.
    keys: Vec<Audited>,
    /// Every key of it was listed and evaluated.
    complete: bool,
}

/// What was done in one account-Region.
struct PlaceDone<R> {
    index: usize,
    rows: Vec<R>,
    errors: Vec<CliError>,
    warnings: Vec<String>,
}

impl<R> PlaceDone<R> {
    fn new(place: &Place<'_>) -> Self {
        Self {
            index: place.index,
            rows: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// A whole run: the rows, the errors, and the account-Regions left undone by a Ctrl-C.
struct HubRun<R> {
    report: Report<R>,
    left: Vec<(String, String)>,
}

/// The Security Hub of one account-Region, with the credentials its KMS is read with (a member
/// account's findings are imported into, and read from, its own hub: with the default product,
/// BatchImportFindings takes a finding only from the account it is about).
fn hub_of(targets: &Targets, kms: &KmsRegion) -> Option<Hub> {
    let sdk = targets.configs.get(&kms.account_id)?;
    let client = aws_sdk_securityhub::Client::from_conf(
        aws_sdk_securityhub::config::Builder::from(sdk)
            .region(Region::new(kms.region.clone()))
            .build(),
    );
    Some(Hub::new(client, &kms.region))
}

/// The account-Region an error is about, when it names one.
fn place_of(e: &CliError) -> Option<(&str, &str)> {
    match e {
        CliError::Kms {
            account, region, ..
        } => Some((account, region)),
        CliError::Unreachable {
            account,
            region: Some(region),
            ..
        } => Some((account, region)),
        _ => None,
    }
}

/// Every key of every account-Region evaluated by the sweep, then `each` on every account-Region
/// finished, at most `--max-in-flight` account-Regions at once (each sends one request at a time).
/// After a Ctrl-C no account-Region is started; those in progress finish.
async fn over_places<'a, R, F, Fut>(
    targets: &'a Targets,
    failed: Vec<CliError>,
    params: &RuleParameters,
    max_in_flight: usize,
    stop: &Stop,
    each: F,
) -> HubRun<R>
where
    F: Fn(Place<'a>) -> Fut,
    Fut: Future<Output = PlaceDone<R>>,
{
    let plan = Plan {
        params,
        today: Utc::now().date_naive(),
        max_in_flight,
        exposure: false,
        evidence: false,
        last_use: false,
        organization_id: None,
        stop,
        state: None,
        keep: true,
        stream: Stream::No,
    };
    let mut run = evaluate_regions(&targets.kms, &plan).await;
    warn(&run.warnings);
    let places = places(targets, &mut run);
    let mut errors = failed;
    errors.append(&mut run.errors);
    let mut left = run.left;
    let mut done: Vec<PlaceDone<R>> = Vec::new();
    let mut work = futures::stream::iter(places)
        .map(|place| {
            let at = (place.kms.account_id.clone(), place.kms.region.clone());
            // Boxed: the futures of Security Hub calls are large in a debug build.
            let work = Box::pin(each(place));
            async move {
                if stop.is_set() {
                    Err(at)
                } else {
                    Ok(work.await)
                }
            }
        })
        .buffer_unordered(max_in_flight.max(1));
    while let Some(one) = work.next().await {
        match one {
            Ok(d) => done.push(d),
            Err(at) => left.push(at),
        }
    }
    drop(work);
    done.sort_by_key(|d| d.index);
    let mut rows = Vec::new();
    for d in done {
        warn(&d.warnings);
        rows.extend(d.rows);
        errors.extend(d.errors);
    }
    HubRun {
        report: Report { rows, errors },
        left,
    }
}

/// The account-Regions of `run` to work on in Security Hub, with their keys (taken out of
/// `run`): every one but those a Ctrl-C left unfinished ([`AuditRun::left`]).
fn places<'a>(targets: &'a Targets, run: &mut AuditRun) -> Vec<Place<'a>> {
    let mut keys: HashMap<(String, String), Vec<Audited>> = HashMap::new();
    for (k, _) in std::mem::take(&mut run.keys) {
        keys.entry((k.account_id.clone(), k.region.clone()))
            .or_default()
            .push(k);
    }
    // An error that names no account-Region leaves every one incomplete.
    let whole_run_failed = run.errors.iter().any(|e| place_of(e).is_none());
    let incomplete: HashSet<(&str, &str)> = run.errors.iter().filter_map(place_of).collect();
    let mut out = Vec::new();
    for (index, kms) in targets.kms.iter().enumerate() {
        let at = (kms.account_id.clone(), kms.region.clone());
        if run.left.contains(&at) {
            continue;
        }
        let Some(hub) = hub_of(targets, kms) else {
            continue;
        };
        let complete = !whole_run_failed && !incomplete.contains(&(at.0.as_str(), at.1.as_str()));
        out.push(Place {
            index,
            kms,
            hub,
            keys: keys.remove(&at).unwrap_or_default(),
            complete,
        });
    }
    out
}

/// The report of a run and its summary, which name what a Ctrl-C left undone (as an error, for the
/// exit status).
fn close<R>(run: HubRun<R>, mut summary: String) -> (Report<R>, String) {
    let HubRun { mut report, left } = run;
    if let Some(left) = left_undone_then(&left, RUN_AGAIN) {
        summary.push_str(&format!("\n{left}"));
        report.errors.push(CliError::Interrupted(left));
    }
    (report, summary)
}

/// A row of either command that Security Hub may have refused.
trait HubRow: Row {
    /// `error: finding ID refused: CODE MESSAGE`, for a refused row.
    fn refused_line(&self) -> Option<String>;
}

/// Print a run as `audit` prints its report (rows, the summary, then the errors on stderr), then
/// the findings Security Hub refused; the exit status as `audit`'s: 130 after a Ctrl-C, 2 on an
/// error, 1 for refused findings or changes only planned.
fn finish<R: HubRow>(run: HubRun<R>, output: Output, summary: String) -> Result<Exit, CliError> {
    let (report, summary) = close(run, summary);
    report.print(output, &summary)?;
    for line in report.rows.iter().filter_map(HubRow::refused_line) {
        eprintln!("{line}");
    }
    Ok(report.exit())
}

// ---------------------------------------------------------------------------------------------
// export
// ---------------------------------------------------------------------------------------------

/// What `export` does with a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportAction {
    /// A key without a finding yet.
    Create,
    /// A key whose finding Security Hub holds: CreatedAt kept.
    Update,
    /// The finding of a key that no longer exists: ARCHIVED.
    Archive,
}

impl ExportAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Archive => "archive",
        }
    }
}

/// What became of a finding of `export` (`result`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exported {
    /// Without --apply.
    Planned,
    Sent,
    /// Refused by Security Hub every time.
    Refused(Refused),
}

impl std::fmt::Display for Exported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Planned => f.write_str("planned"),
            Self::Sent => f.write_str("sent"),
            Self::Refused(r) => write!(f, "refused: {} {}", r.code, r.message),
        }
    }
}

/// One planned or sent finding of `export`.
#[derive(Debug, Clone)]
struct ExportRow {
    account_id: String,
    region: String,
    action: ExportAction,
    finding: Asff,
    result: Exported,
}

/// The JSON line: `accountId`, `region`, `action`, `id`, `resourceArn`, `complianceStatus`,
/// `recordState`, `reason`, `result`.
impl Serialize for ExportRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        json!({
            "accountId": self.account_id,
            "region": self.region,
            "action": self.action.as_str(),
            "id": self.finding.id,
            "resourceArn": self.finding.resources.first().map(|r| r.id.clone()),
            "complianceStatus": self.finding.compliance.status,
            "recordState": self.finding.record_state,
            "reason": self.finding.compliance.status_reasons.first().map(|s| s.reason_code.clone()),
            "result": self.result.to_string(),
        })
        .serialize(serializer)
    }
}

impl Row for ExportRow {
    const HEADERS: &'static [&'static str] = &[
        "ACCOUNT",
        "REGION",
        "ACTION",
        "KEY ID",
        "COMPLIANCE",
        "RESULT",
    ];
    const NOT_READ: &'static str = "not exported";

    fn cells(&self) -> Vec<String> {
        vec![
            self.account_id.clone(),
            self.region.clone(),
            self.action.as_str().to_owned(),
            self.finding
                .resources
                .first()
                .map(|x| x.details.aws_kms_key.key_id.clone())
                .unwrap_or_default(),
            self.finding.compliance.status.clone(),
            self.result.to_string(),
        ]
    }

    /// A finding refused, or only planned.
    fn is_finding(&self) -> bool {
        !matches!(self.result, Exported::Sent)
    }
}

impl HubRow for ExportRow {
    fn refused_line(&self) -> Option<String> {
        matches!(self.result, Exported::Refused(_))
            .then(|| format!("error: finding {} {}", self.finding.id, self.result))
    }
}

/// The findings `export` sends for one Region: every key's, and the archived findings of keys
/// that no longer exist (only when `complete`: every key of the Region was listed and
/// evaluated, so a finding without a key means the key is gone).
pub fn export_plan(
    subjects: &[Subject],
    existing: &[OwnFinding],
    complete: bool,
    now: DateTime<Utc>,
) -> (Vec<(ExportAction, Asff)>, Vec<String>) {
    let by_id: HashMap<&str, &OwnFinding> = existing.iter().map(|f| (f.id.as_str(), f)).collect();
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for s in subjects {
        let id = asff_id(&s.arn);
        let before = by_id.get(id.as_str());
        let times = Times::at(now, before.and_then(|f| f.created_at.as_deref()));
        let action = if before.is_some() {
            ExportAction::Update
        } else {
            ExportAction::Create
        };
        out.push((action, asff(s, &times, false)));
    }
    let current: HashSet<String> = subjects.iter().map(|s| asff_id(&s.arn)).collect();
    for f in existing.iter().filter(|f| !current.contains(&f.id)) {
        if !complete {
            warnings.push(format!(
                "finding {} not archived: not every key of the Region could be evaluated",
                f.id
            ));
            continue;
        }
        match f.resource_arn.as_deref().and_then(Subject::deleted) {
            Some(s) if asff_id(&s.arn) == f.id => {
                let times = Times::at(now, f.created_at.as_deref());
                out.push((ExportAction::Archive, asff(&s, &times, true)));
            }
            _ => warnings.push(format!(
                "finding {} not archived: its resource is not a KMS key ARN",
                f.id
            )),
        }
    }
    (out, warnings)
}

/// `export` in one account-Region: its findings planned against the ones Security Hub holds,
/// and sent with --apply.
async fn export_place(
    place: Place<'_>,
    params: &RuleParameters,
    now: DateTime<Utc>,
    apply: bool,
) -> PlaceDone<ExportRow> {
    let mut done = PlaceDone::new(&place);
    let (kms, region) = (place.kms, &place.kms.region);
    let (subjects, errs) = subjects(kms, &place.keys, params).await;
    let complete = place.complete && errs.is_empty();
    done.errors.extend(errs);
    // The account of the account-Region: the findings go to its own product.
    let product = product_arn(partition_of(region), region, &kms.account_id);
    let existing = match place.hub.own_findings(&product).await {
        Ok(e) => e,
        Err(e) => {
            done.errors.push(e.into());
            return done;
        }
    };
    let (plan, warnings) = export_plan(&subjects, &existing, complete, now);
    done.warnings = warnings;
    let mut refused: HashMap<String, Refused> = HashMap::new();
    if apply {
        let findings: Vec<Asff> = plan.iter().map(|(_, a)| a.clone()).collect();
        let report = place.hub.import(&findings).await;
        refused.extend(report.refused.into_iter().map(|r| (r.id.clone(), r)));
    }
    done.rows = plan
        .into_iter()
        .map(|(action, finding)| {
            let result = match refused.remove(&finding.id) {
                Some(r) => Exported::Refused(r),
                None if apply => Exported::Sent,
                None => Exported::Planned,
            };
            ExportRow {
                account_id: kms.account_id.clone(),
                region: region.clone(),
                action,
                finding,
                result,
            }
        })
        .collect();
    done
}

/// `export`'s summary: the findings by compliance, and what became of them.
fn export_summary(rows: &[ExportRow], apply: bool) -> String {
    let count = |c: Compliance| {
        rows.iter()
            .filter(|r| r.finding.compliance.status == asff_status(c))
            .count()
    };
    let refused = rows
        .iter()
        .filter(|r| matches!(r.result, Exported::Refused(_)))
        .count();
    format!(
        "{} finding(s) ({} FAILED, {} PASSED, {} NOT_AVAILABLE; {} archived): {}",
        rows.len(),
        count(Compliance::NonCompliant),
        count(Compliance::Compliant),
        count(Compliance::NotApplicable),
        rows.iter()
            .filter(|r| r.action == ExportAction::Archive)
            .count(),
        if apply {
            format!("{} sent, {refused} refused", rows.len() - refused)
        } else {
            "planned; run with --apply to send".to_owned()
        }
    )
}

/// `securityhub export`.
pub async fn export(
    session: &Session,
    params: &RuleParameters,
    args: &SecurityhubArgs,
    accounts: &Accounts,
    scope: &ScopeArgs,
) -> Result<Exit, CliError> {
    let now = Utc::now();
    let mut targets = session.targets(accounts, scope, params).await?;
    let failed = std::mem::take(&mut targets.failed);
    let stop = Stop::on_ctrl_c();
    let max_in_flight = scope.max_in_flight as usize;
    let run = over_places(&targets, failed, params, max_in_flight, &stop, |place| {
        export_place(place, params, now, args.apply)
    })
    .await;
    let summary = export_summary(&run.report.rows, args.apply);
    finish(run, args.output, summary)
}

// ---------------------------------------------------------------------------------------------
// sync-exceptions
// ---------------------------------------------------------------------------------------------

/// What the sync knows of a key's exception; `None` when it cannot be known (tags unreadable,
/// key unreadable): such a key's finding is never changed.
pub fn key_exception(s: &Subject) -> Option<KeyException> {
    let e = s.exception.as_ref();
    Some(match s.verdict.reason {
        Reason::ExceptionValid => {
            let e = e?;
            KeyException::Valid {
                owner: e.owner.clone()?,
                expires: e.expires.clone()?,
                ticket: e.ticket.clone(),
            }
        }
        Reason::ExceptionExpired => {
            let e = e?;
            KeyException::Expired {
                owner: e.owner.clone()?,
                expires: e.expires.clone()?,
            }
        }
        Reason::ExceptionMalformed => KeyException::Malformed(
            e.and_then(|e| e.malformed.clone())
                .unwrap_or_else(|| "malformed".into()),
        ),
        Reason::ExceptionUnreadable | Reason::AccessDenied => return None,
        other => KeyException::NotExcepted(other.code().to_owned()),
    })
}

/// What became of a step of `sync-exceptions` (`result`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Synced {
    /// A change, without --apply.
    Planned,
    /// Nothing to change (someone else's decision).
    Left,
    Done,
    /// Refused by Security Hub every time.
    Refused(Refused),
}

impl std::fmt::Display for Synced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Planned => f.write_str("planned"),
            Self::Left => f.write_str("left"),
            Self::Done => f.write_str("done"),
            Self::Refused(r) => write!(f, "refused: {} {}", r.code, r.message),
        }
    }
}

/// One step of `sync-exceptions` on one KMS.4 finding.
#[derive(Debug, Clone)]
struct SyncRow {
    account_id: String,
    region: String,
    item: SyncItem,
    result: Synced,
}

/// The JSON line: `accountId`, `region`, `action`, `findingId`, `productArn`, `resourceArn`,
/// `note`, `result`.
impl Serialize for SyncRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let i = &self.item;
        json!({
            "accountId": self.account_id,
            "region": self.region,
            "action": i.step.label(),
            "findingId": i.finding_id,
            "productArn": i.product_arn,
            "resourceArn": i.key_arn,
            "note": i.step.text(),
            "result": self.result.to_string(),
        })
        .serialize(serializer)
    }
}

impl Row for SyncRow {
    const HEADERS: &'static [&'static str] =
        &["ACCOUNT", "REGION", "ACTION", "KEY ID", "RESULT", "NOTE"];
    const NOT_READ: &'static str = "not synced";

    fn cells(&self) -> Vec<String> {
        let i = &self.item;
        vec![
            self.account_id.clone(),
            self.region.clone(),
            i.step.label().to_owned(),
            i.key_arn.rsplit('/').next().unwrap_or_default().to_owned(),
            self.result.to_string(),
            i.step.text().to_owned(),
        ]
    }

    /// A change refused, or only planned.
    fn is_finding(&self) -> bool {
        matches!(self.result, Synced::Planned | Synced::Refused(_))
    }
}

impl HubRow for SyncRow {
    fn refused_line(&self) -> Option<String> {
        matches!(self.result, Synced::Refused(_))
            .then(|| format!("error: finding {} {}", self.item.finding_id, self.result))
    }
}

/// `sync-exceptions` in one account-Region: Security Hub's KMS.4 findings brought in line with
/// the keys' exceptions (planned; changed with --apply).
async fn sync_place(place: Place<'_>, params: &RuleParameters, apply: bool) -> PlaceDone<SyncRow> {
    let mut done = PlaceDone::new(&place);
    let (kms, region) = (place.kms, &place.kms.region);
    let (subjects, errs) = subjects(kms, &place.keys, params).await;
    done.errors.extend(errs);
    let keys: HashMap<String, KeyException> = subjects
        .iter()
        .filter_map(|s| key_exception(s).map(|e| (s.arn.clone(), e)))
        .collect();
    let findings = match place.hub.control_findings(partition_of(region)).await {
        Ok(f) => f,
        Err(e) => {
            done.errors.push(e.into());
            return done;
        }
    };
    let items = plan_sync(
        &findings,
        &keys,
        partition_of(region),
        region,
        &params.exception_tag_key,
    );
    tracing::info!(region = %region, findings = findings.len(), steps = items.len(), "KMS.4 findings read");
    let mut refused: HashMap<String, Refused> = HashMap::new();
    if apply {
        let report = place.hub.update(&items).await;
        refused.extend(report.refused.into_iter().map(|r| (r.id.clone(), r)));
    }
    done.rows = items
        .into_iter()
        .map(|item| {
            let result = if !item.step.is_change() {
                Synced::Left
            } else if !apply {
                Synced::Planned
            } else if let Some(r) = refused.get(&item.finding_id) {
                Synced::Refused(r.clone())
            } else {
                Synced::Done
            };
            SyncRow {
                account_id: kms.account_id.clone(),
                region: region.clone(),
                item,
                result,
            }
        })
        .collect();
    done
}

/// `sync-exceptions`' summary: the changes, and what became of them.
fn sync_summary(rows: &[SyncRow], apply: bool) -> String {
    let changes = rows.iter().filter(|r| r.item.step.is_change()).count();
    let refused = rows
        .iter()
        .filter(|r| matches!(r.result, Synced::Refused(_)))
        .count();
    format!(
        "{changes} KMS.4 finding(s) to change, {} left to someone else: {}",
        rows.len() - changes,
        if apply {
            format!("{} done, {refused} refused", changes - refused)
        } else {
            "planned; run with --apply to change them".to_owned()
        }
    )
}

/// `securityhub sync-exceptions`.
pub async fn sync_exceptions(
    session: &Session,
    params: &RuleParameters,
    args: &SecurityhubArgs,
    accounts: &Accounts,
    scope: &ScopeArgs,
) -> Result<Exit, CliError> {
    let mut targets = session.targets(accounts, scope, params).await?;
    let failed = std::mem::take(&mut targets.failed);
    let stop = Stop::on_ctrl_c();
    let max_in_flight = scope.max_in_flight as usize;
    let run = over_places(&targets, failed, params, max_in_flight, &stop, |place| {
        sync_place(place, params, args.apply)
    })
    .await;
    let summary = sync_summary(&run.report.rows, args.apply);
    finish(run, args.output, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::securityhub::OwnFinding;
    use kms_rotation_core::decision::{Compliance, Verdict};
    use kms_rotation_core::evaluate::KeyEvaluation;

    fn subject(id: &str, c: Compliance, r: Reason) -> Subject {
        let e = KeyEvaluation {
            key_id: id.into(),
            facts: None,
            verdict: Verdict::new(c, r, "why"),
        };
        Subject::new("us-east-1", &e, None, None, Some("111122223333"), None).unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn export_updates_known_findings_creates_new_ones_and_archives_deleted_keys() {
        let kept = subject("k-1", Compliance::NonCompliant, Reason::RotationOff);
        let new = subject("k-2", Compliance::Compliant, Reason::RotationOn);
        let gone_arn = "arn:aws:kms:us-east-1:111122223333:key/k-gone";
        let existing = vec![
            OwnFinding {
                id: asff_id(&kept.arn),
                resource_arn: Some(kept.arn.clone()),
                created_at: Some("2026-01-01T00:00:00.000Z".into()),
            },
            OwnFinding {
                id: asff_id(gone_arn),
                resource_arn: Some(gone_arn.into()),
                created_at: Some("2025-06-01T00:00:00.000Z".into()),
            },
        ];
        let (plan, warnings) = export_plan(&[kept.clone(), new], &existing, true, now());
        assert!(warnings.is_empty());
        let actions: Vec<(&str, &str, &str)> = plan
            .iter()
            .map(|(a, f)| {
                (
                    a.as_str(),
                    f.resources[0].id.as_str(),
                    f.record_state.as_str(),
                )
            })
            .collect();
        assert_eq!(
            actions,
            [
                ("update", kept.arn.as_str(), "ACTIVE"),
                (
                    "create",
                    "arn:aws:kms:us-east-1:111122223333:key/k-2",
                    "ACTIVE"
                ),
                ("archive", gone_arn, "ARCHIVED"),
            ]
        );
        assert_eq!(plan[0].1.created_at, "2026-01-01T00:00:00.000Z");
        assert_eq!(plan[2].1.created_at, "2025-06-01T00:00:00.000Z");
        // When the listing was incomplete, nothing is archived.
        let (plan, warnings) = export_plan(&[kept], &existing, false, now());
        assert_eq!(plan.len(), 1);
        assert_eq!(warnings.len(), 1);
    }

    /// Account-Regions of `keys` keys each in the fake AWS, with their accounts' configurations
    /// (no Security Hub call is made by these tests).
    fn targets(accounts: usize, keys: usize) -> Targets {
        use kms_rotation_core::kms::KmsReader;
        let mut t = Targets {
            kms: Vec::new(),
            failed: Vec::new(),
            organization_id: None,
            accounts,
            asked: String::new(),
            configs: HashMap::new(),
        };
        for i in 0..accounts {
            let account = format!("11112222333{i}");
            let fake = fake_aws::FakeAws::new(fake_aws::account(keys), fake_aws::FaultPlan::none());
            let client = fake.clients().kms;
            t.kms.push(KmsRegion {
                account_id: account.clone(),
                region: "eu-west-1".into(),
                reader: KmsReader::new(client.clone(), &RuleParameters::default()),
                client,
            });
            let config = aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(Region::new("eu-west-1"))
                .build();
            t.configs.insert(account, config);
        }
        t
    }

    /// Counts the account-Regions being worked on, and keeps the highest count.
    #[derive(Default)]
    struct AtOnce {
        now: std::sync::atomic::AtomicUsize,
        max: std::sync::atomic::AtomicUsize,
    }

    impl AtOnce {
        async fn work(&self, place: &Place<'_>) {
            use std::sync::atomic::Ordering::SeqCst;
            let n = self.now.fetch_add(1, SeqCst) + 1;
            self.max.fetch_max(n, SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            self.now.fetch_sub(1, SeqCst);
            assert!(place.complete, "{}", place.kms.account_id);
        }
    }

    #[tokio::test]
    async fn account_regions_are_worked_on_at_once_and_reported_in_order() {
        let targets = targets(4, 5);
        let at_once = AtOnce::default();
        let params = RuleParameters::default();
        let run = over_places(
            &targets,
            Vec::new(),
            &params,
            8,
            &Stop::default(),
            |place| {
                let at_once = &at_once;
                async move {
                    at_once.work(&place).await;
                    let mut done = PlaceDone::new(&place);
                    done.rows = vec![(place.kms.account_id.clone(), place.keys.len())];
                    done
                }
            },
        )
        .await;
        assert!(run.left.is_empty() && run.report.errors.is_empty());
        let rows: Vec<(String, usize)> = (0..4).map(|i| (format!("11112222333{i}"), 5)).collect();
        assert_eq!(run.report.rows, rows);
        let max = at_once.max.load(std::sync::atomic::Ordering::SeqCst);
        assert!(max > 1, "{max} account-Region(s) at once");
    }

    #[tokio::test]
    async fn a_stop_finishes_the_account_region_in_progress_and_names_the_others() {
        let targets = targets(4, 3);
        let stop = Stop::default();
        let params = RuleParameters::default();
        // One account-Region at a time; Ctrl-C while the first one is worked on.
        let run = over_places(&targets, Vec::new(), &params, 1, &stop, |place| {
            let stop = &stop;
            async move {
                stop.set();
                let mut done = PlaceDone::new(&place);
                done.rows = vec![place.kms.account_id.clone()];
                done
            }
        })
        .await;
        assert_eq!(run.report.rows, ["111122223330"]);
        let (report, summary) = close(run, "1 finding(s)".into());
        let exit = Report::<SyncRow> {
            rows: Vec::new(),
            errors: report.errors,
        }
        .exit();
        assert_eq!(exit, Exit::Interrupted);
        assert_eq!(
            summary,
            "1 finding(s)\n3 account-Region(s) not finished (111122223331/eu-west-1, 111122223332/eu-west-1, 111122223333/eu-west-1): run the same command again to finish them"
        );
    }

    #[test]
    fn row_results_read_as_before() {
        let refused = Refused {
            id: "f".into(),
            code: "InvalidInput".into(),
            message: "Finding is not valid".into(),
        };
        assert_eq!(Exported::Planned.to_string(), "planned");
        assert_eq!(Exported::Sent.to_string(), "sent");
        assert_eq!(
            Exported::Refused(refused.clone()).to_string(),
            "refused: InvalidInput Finding is not valid"
        );
        assert_eq!(Synced::Left.to_string(), "left");
        assert_eq!(Synced::Done.to_string(), "done");
        assert_eq!(
            Synced::Refused(refused).to_string(),
            "refused: InvalidInput Finding is not valid"
        );
    }

    #[test]
    fn keys_whose_exception_cannot_be_known_are_left_out_of_the_sync() {
        let s = subject("k", Compliance::NonCompliant, Reason::ExceptionUnreadable);
        assert_eq!(key_exception(&s), None);
        let s = subject("k", Compliance::NonCompliant, Reason::AccessDenied);
        assert_eq!(key_exception(&s), None);
        let s = subject("k", Compliance::NonCompliant, Reason::RotationOff);
        assert_eq!(
            key_exception(&s),
            Some(KeyException::NotExcepted("ROTATION_OFF".into()))
        );
        // A valid exception whose tag could not be read again is not trusted.
        let s = subject("k", Compliance::NotApplicable, Reason::ExceptionValid);
        assert_eq!(key_exception(&s), None);
    }
}
