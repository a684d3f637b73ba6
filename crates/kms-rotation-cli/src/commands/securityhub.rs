//! `kms-rotation securityhub export | sync-exceptions`, and the findings of `audit --output
//! ocsf|asff`: the audit's verdicts become [`Subject`]s (exception tags read again for the keys
//! whose verdict rests on one), then findings ([`crate::findings`]), then Security Hub calls
//! ([`crate::securityhub`]). One Region at a time.

use std::collections::HashMap;

use aws_config::Region;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::args::ScopeArgs;
use crate::args::{Output, SecurityhubArgs};
use crate::finding_subjects::subjects;
use crate::findings::{
    asff, asff_id, asff_status, partition_of, product_arn, Asff, Subject, Times,
};
use crate::fleet::Stop;
use crate::output::{json_lines, table};
use crate::securityhub::{plan_sync, Hub, HubError, KeyException, Report, SyncItem, SyncStep};
use crate::session::{Accounts, Session, Targets};
use crate::sweep::{evaluate_regions, AuditRun, Audited, Plan};
use crate::{CliError, Exit};
use kms_rotation_core::aws_error::{is_access_denied, is_throttling};
use kms_rotation_core::decision::Reason;
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

/// Every key of one Region of the caller's account, evaluated (the commands of this module work
/// Region by Region).
async fn evaluate_one(
    kms: &KmsRegion,
    params: &RuleParameters,
    today: chrono::NaiveDate,
) -> (AuditRun, Vec<Audited>) {
    let stop = Stop::default();
    let plan = Plan {
        params,
        today,
        max_in_flight: crate::args::DEFAULT_MAX_IN_FLIGHT as usize,
        exposure: false,
        organization_id: None,
        stop: &stop,
        state: None,
        keep: true,
        stream: false,
    };
    let mut run = evaluate_regions(std::slice::from_ref(kms), &plan).await;
    let keys = std::mem::take(&mut run.keys)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    (run, keys)
}

/// One planned or sent finding of `export`.
#[derive(Debug, Clone)]
struct ExportRow {
    account_id: String,
    region: String,
    action: &'static str,
    finding: Asff,
    result: String,
}

impl ExportRow {
    fn to_json(&self) -> Value {
        json!({
            "accountId": self.account_id,
            "region": self.region,
            "action": self.action,
            "id": self.finding.id,
            "resourceArn": self.finding.resources.first().map(|r| r.id.clone()),
            "complianceStatus": self.finding.compliance.status,
            "recordState": self.finding.record_state,
            "reason": self.finding.compliance.status_reasons.first().map(|s| s.reason_code.clone()),
            "result": self.result,
        })
    }
}

/// The findings `export` sends for one Region: every key's, and the archived findings of keys
/// that no longer exist (only when `complete`: every key of the Region was listed and
/// evaluated, so a finding without a key means the key is gone).
pub fn export_plan(
    subjects: &[Subject],
    existing: &[crate::securityhub::OwnFinding],
    complete: bool,
    now: DateTime<Utc>,
) -> (Vec<(&'static str, Asff)>, Vec<String>) {
    let by_id: HashMap<&str, &crate::securityhub::OwnFinding> =
        existing.iter().map(|f| (f.id.as_str(), f)).collect();
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for s in subjects {
        let id = asff_id(&s.arn);
        let before = by_id.get(id.as_str());
        let times = Times::at(now, before.and_then(|f| f.created_at.as_deref()));
        let action = if before.is_some() { "update" } else { "create" };
        out.push((action, asff(s, &times, false)));
    }
    let current: std::collections::HashSet<String> =
        subjects.iter().map(|s| asff_id(&s.arn)).collect();
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
                out.push(("archive", asff(&s, &times, true)));
            }
            _ => warnings.push(format!(
                "finding {} not archived: its resource is not a KMS key ARN",
                f.id
            )),
        }
    }
    (out, warnings)
}

fn print_rows(headers: &[&str], rows: Vec<Vec<String>>, json: Vec<Value>, output: Output) {
    match output {
        Output::Table => print!("{}", table(headers, &rows)),
        Output::Json => print!("{}", json_lines(&json)),
    }
}

fn summary(output: Output, text: &str) {
    match output {
        Output::Table => println!("\n{text}"),
        Output::Json => eprintln!("{text}"),
    }
}

fn refused_text(report: &Report) -> HashMap<String, String> {
    report
        .refused
        .iter()
        .map(|r| (r.id.clone(), format!("refused: {} {}", r.code, r.message)))
        .collect()
}

/// The stack of the thread the Security Hub commands run on. The SDK's generated deserializer
/// of AwsSecurityFinding (ResourceDetails has hundreds of members) needs more stack than a main
/// thread has in a debug build; the memory is reserved, not used.
const STACK_SIZE: usize = 256 * 1024 * 1024;

/// Run a command on a thread of its own with a [`STACK_SIZE`] stack and its own runtime.
async fn on_large_stack<F, Fut>(f: F) -> Result<Exit, CliError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Exit, CliError>>,
{
    let (tx, rx) = futures::channel::oneshot::channel();
    std::thread::Builder::new()
        .name("securityhub".into())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(CliError::Io)
                .and_then(|rt| rt.block_on(f()));
            let _ = tx.send(result);
        })?;
    rx.await.unwrap_or_else(|_| {
        Err(CliError::Usage(
            "the securityhub worker thread stopped".into(),
        ))
    })
}

/// `securityhub export`.
pub async fn export(
    session: &Session,
    params: &RuleParameters,
    args: &SecurityhubArgs,
    accounts: &Accounts,
    scope: &ScopeArgs,
) -> Result<Exit, CliError> {
    let (session, params) = (session.clone(), params.clone());
    let (accounts, scope) = (accounts.clone(), scope.clone());
    let (apply, output) = (args.apply, args.output);
    on_large_stack(move || async move {
        export_here(&session, &params, apply, output, &accounts, &scope).await
    })
    .await
}

/// The Security Hub of one account-Region, with the credentials its KMS is read with (a member
/// account's findings are imported into, and read from, its own hub: with the default product,
/// BatchImportFindings takes a finding only from the account it is about).
fn hub_of(targets: &Targets, kms: &KmsRegion) -> Option<aws_sdk_securityhub::Client> {
    let sdk = targets.configs.get(&kms.account_id)?;
    Some(aws_sdk_securityhub::Client::from_conf(
        aws_sdk_securityhub::config::Builder::from(sdk)
            .region(Region::new(kms.region.clone()))
            .build(),
    ))
}

async fn export_here(
    session: &Session,
    params: &RuleParameters,
    apply: bool,
    output: Output,
    accounts: &Accounts,
    scope: &ScopeArgs,
) -> Result<Exit, CliError> {
    let now = Utc::now();
    let mut rows: Vec<ExportRow> = Vec::new();
    let mut targets = session.targets(accounts, scope, params).await?;
    let mut errors: Vec<CliError> = std::mem::take(&mut targets.failed);
    let mut warnings: Vec<String> = Vec::new();
    for kms in &targets.kms {
        let region = &kms.region;
        let Some(hub_client) = hub_of(&targets, kms) else {
            continue;
        };
        let run = evaluate_one(kms, params, now.date_naive()).await;
        warnings.extend(run.0.warnings.iter().cloned());
        let complete = run.0.errors.is_empty();
        errors.extend(run.0.errors);
        // The caller's account: the findings go to its own product.
        let account = kms.account_id.clone();
        let (subjects, errs) = subjects(kms, &run.1, params).await;
        let complete = complete && errs.is_empty();
        errors.extend(errs);
        let hub = Hub::new(hub_client, region);
        let product = product_arn(partition_of(region), region, &account);
        let existing = match hub.own_findings(&product).await {
            Ok(e) => e,
            Err(e) => {
                errors.push(e.into());
                continue;
            }
        };
        let (plan, warns) = export_plan(&subjects, &existing, complete, now);
        warnings.extend(warns);
        let results = if apply {
            let findings: Vec<Asff> = plan.iter().map(|(_, a)| a.clone()).collect();
            let report = hub.import(&findings).await;
            let refused = refused_text(&report);
            plan.iter()
                .map(|(_, a)| refused.get(&a.id).cloned().unwrap_or_else(|| "sent".into()))
                .collect()
        } else {
            vec!["planned".to_owned(); plan.len()]
        };
        rows.extend(
            plan.into_iter()
                .zip(results)
                .map(|((action, finding), result)| ExportRow {
                    account_id: kms.account_id.clone(),
                    region: region.clone(),
                    action,
                    finding,
                    result,
                }),
        );
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let table_rows = rows
        .iter()
        .map(|r| {
            vec![
                r.account_id.clone(),
                r.region.clone(),
                r.action.to_owned(),
                r.finding
                    .resources
                    .first()
                    .map(|x| x.details.aws_kms_key.key_id.clone())
                    .unwrap_or_default(),
                r.finding.compliance.status.clone(),
                r.result.clone(),
            ]
        })
        .collect();
    print_rows(
        &[
            "ACCOUNT",
            "REGION",
            "ACTION",
            "KEY ID",
            "COMPLIANCE",
            "RESULT",
        ],
        table_rows,
        rows.iter().map(ExportRow::to_json).collect(),
        output,
    );
    let refused = rows
        .iter()
        .filter(|r| r.result.starts_with("refused"))
        .count();
    let count = |s: &str| {
        rows.iter()
            .filter(|r| r.finding.compliance.status == s)
            .count()
    };
    summary(
        output,
        &format!(
            "{} finding(s) ({} FAILED, {} PASSED, {} NOT_AVAILABLE; {} archived): {}",
            rows.len(),
            count(asff_status(
                kms_rotation_core::decision::Compliance::NonCompliant
            )),
            count(asff_status(
                kms_rotation_core::decision::Compliance::Compliant
            )),
            count(asff_status(
                kms_rotation_core::decision::Compliance::NotApplicable
            )),
            rows.iter().filter(|r| r.action == "archive").count(),
            if apply {
                format!("{} sent, {refused} refused", rows.len() - refused)
            } else {
                "planned; run with --apply to send".to_owned()
            }
        ),
    );
    for r in rows.iter().filter(|r| r.result.starts_with("refused")) {
        eprintln!("error: finding {} {}", r.finding.id, r.result);
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    Ok(if !errors.is_empty() {
        Exit::Error
    } else if refused > 0 || (!apply && !rows.is_empty()) {
        Exit::Findings
    } else {
        Exit::Clean
    })
}

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

/// `securityhub sync-exceptions`.
pub async fn sync_exceptions(
    session: &Session,
    params: &RuleParameters,
    args: &SecurityhubArgs,
    accounts: &Accounts,
    scope: &ScopeArgs,
) -> Result<Exit, CliError> {
    let (session, params) = (session.clone(), params.clone());
    let (accounts, scope) = (accounts.clone(), scope.clone());
    let (apply, output) = (args.apply, args.output);
    on_large_stack(move || async move {
        sync_here(&session, &params, apply, output, &accounts, &scope).await
    })
    .await
}

async fn sync_here(
    session: &Session,
    params: &RuleParameters,
    apply: bool,
    output: Output,
    accounts: &Accounts,
    scope: &ScopeArgs,
) -> Result<Exit, CliError> {
    let now = Utc::now();
    let mut rows: Vec<(String, String, SyncItem, String)> = Vec::new();
    let mut targets = session.targets(accounts, scope, params).await?;
    let mut errors: Vec<CliError> = std::mem::take(&mut targets.failed);
    for kms in &targets.kms {
        let region = &kms.region;
        let Some(hub_client) = hub_of(&targets, kms) else {
            continue;
        };
        let run = evaluate_one(kms, params, now.date_naive()).await;
        for w in &run.0.warnings {
            eprintln!("warning: {w}");
        }
        errors.extend(run.0.errors);
        let (subjects, errs) = subjects(kms, &run.1, params).await;
        errors.extend(errs);
        let keys: HashMap<String, KeyException> = subjects
            .iter()
            .filter_map(|s| key_exception(s).map(|e| (s.arn.clone(), e)))
            .collect();
        let hub = Hub::new(hub_client, region);
        let findings = match hub.control_findings(partition_of(region)).await {
            Ok(f) => f,
            Err(e) => {
                errors.push(e.into());
                continue;
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
        let results: Vec<String> = if apply {
            let report = hub.update(&items).await;
            let refused = refused_text(&report);
            items
                .iter()
                .map(|i| match (&i.step, refused.get(&i.finding_id)) {
                    (SyncStep::Leave(_), _) => "left".to_owned(),
                    (_, Some(r)) => r.clone(),
                    _ => "done".to_owned(),
                })
                .collect()
        } else {
            items
                .iter()
                .map(|i| {
                    if i.step.is_change() {
                        "planned"
                    } else {
                        "left"
                    }
                    .to_owned()
                })
                .collect()
        };
        rows.extend(
            items
                .into_iter()
                .zip(results)
                .map(|(i, r)| (kms.account_id.clone(), region.clone(), i, r)),
        );
    }
    let table_rows = rows
        .iter()
        .map(|(account, region, i, result)| {
            vec![
                account.clone(),
                region.clone(),
                i.step.label().to_owned(),
                i.key_arn.rsplit('/').next().unwrap_or_default().to_owned(),
                result.clone(),
                i.step.text().to_owned(),
            ]
        })
        .collect();
    let json_rows = rows
        .iter()
        .map(|(account, region, i, result)| {
            json!({
                "accountId": account,
                "region": region,
                "action": i.step.label(),
                "findingId": i.finding_id,
                "productArn": i.product_arn,
                "resourceArn": i.key_arn,
                "note": i.step.text(),
                "result": result,
            })
        })
        .collect();
    print_rows(
        &["ACCOUNT", "REGION", "ACTION", "KEY ID", "RESULT", "NOTE"],
        table_rows,
        json_rows,
        output,
    );
    let changes = rows
        .iter()
        .filter(|(_, _, i, _)| i.step.is_change())
        .count();
    let refused = rows
        .iter()
        .filter(|(_, _, _, r)| r.starts_with("refused"))
        .count();
    summary(
        output,
        &format!(
            "{changes} KMS.4 finding(s) to change, {} left to someone else: {}",
            rows.len() - changes,
            if apply {
                format!("{} done, {refused} refused", changes - refused)
            } else {
                "planned; run with --apply to change them".to_owned()
            }
        ),
    );
    for (_, _, i, r) in rows.iter().filter(|(_, _, _, r)| r.starts_with("refused")) {
        eprintln!("error: finding {} {r}", i.finding_id);
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    Ok(if !errors.is_empty() {
        Exit::Error
    } else if refused > 0 || (!apply && changes > 0) {
        Exit::Findings
    } else {
        Exit::Clean
    })
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
            .map(|(a, f)| (*a, f.resources[0].id.as_str(), f.record_state.as_str()))
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
