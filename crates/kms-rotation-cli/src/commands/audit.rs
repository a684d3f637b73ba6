//! `kms-rotation audit`: every key of every account and Region, evaluated by the sweep
//! ([`crate::sweep`]); `--output table|json|ocsf|asff`; `--report`; `--state`/`--resume`.

use chrono::Utc;

use crate::args::{AuditArgs, AuditOutput, Output, ScopeArgs};
use crate::exception_review::Found;
use crate::fleet::Stop;
use crate::output::{warn, ErrorCounts, Report};
use crate::report::{Figure, ReportInput, Unread};
use crate::session::{Accounts, Session};
use crate::state::State;
use crate::{CliError, Exit};
use kms_rotation_core::decision::Reason;
use kms_rotation_core::kms::KmsRegion;
use kms_rotation_core::params::RuleParameters;

use crate::sweep::{
    evaluate_regions, fingerprint, left_undone, AuditLine, Audited, Plan, Stream, Tally,
};

/// The counts line printed after the results.
fn summary(tally: Tally, errors: &[CliError], regions: usize, accounts: usize) -> String {
    let of_accounts = if accounts > 1 {
        format!(" of {accounts} account(s)")
    } else {
        String::new()
    };
    let errors = ErrorCounts::of(errors);
    format!(
        "{} key(s) in {regions} Region(s){of_accounts}: {} COMPLIANT, {} NON_COMPLIANT, {} NOT_APPLICABLE, {} not evaluated (errors){}",
        tally.total(),
        tally.compliant,
        tally.non_compliant,
        tally.not_applicable,
        errors.keys,
        errors.places_note(),
    )
}

/// Flag combinations `audit` refuses before any AWS call.
pub(crate) fn check_flags(args: &AuditArgs) -> Result<(), CliError> {
    if args.state.state.is_some() && matches!(args.output, AuditOutput::Ocsf | AuditOutput::Asff) {
        return Err(CliError::Usage(
            "--state works with --output table or json (findings are made from a whole run): run the audit with --state, then without it for findings".into(),
        ));
    }
    Ok(())
}

/// `kms-rotation audit`: read every key, then report the verdicts (or findings made of them).
pub(crate) async fn command(
    session: &Session,
    params: &RuleParameters,
    args: &AuditArgs,
    accounts: &Accounts,
    scope: &ScopeArgs,
) -> Result<Exit, CliError> {
    let started = std::time::Instant::now();
    let targets = session.targets(accounts, scope, params).await?;
    let state = State::of_args(&args.state, "audit", || {
        fingerprint(
            &targets,
            params,
            if args.last_use { "last-use" } else { "" },
        )
    })?;
    if let Some(s) = state.as_ref().filter(|s| s.finished_count() > 0) {
        eprintln!(
            "resuming: {} account-Region(s) finished by the earlier run are not read again",
            s.finished_count()
        );
    }
    let stop = Stop::on_ctrl_c();
    let plan = Plan {
        params,
        today: Utc::now().date_naive(),
        max_in_flight: scope.max_in_flight as usize,
        exposure: true,
        evidence: false,
        last_use: args.last_use,
        organization_id: targets.organization_id.as_deref(),
        stop: &stop,
        state: state.as_ref(),
        keep: matches!(args.output, AuditOutput::Ocsf | AuditOutput::Asff),
        // JSON lines without a page to draw: printed as each account-Region is finished.
        stream: if args.output == AuditOutput::Json && args.report.is_none() {
            Stream::Stdout
        } else {
            Stream::No
        },
    };
    let run = evaluate_regions(&targets.kms, &plan).await;
    warn(&run.warnings);
    let regions = targets.region_count();
    let mut errors = targets.failed;
    errors.extend(run.errors);
    let mut rows: Vec<AuditLine> = run.lines;
    rows.extend(run.keys.iter().map(|(k, e)| AuditLine::new(k, e.as_ref())));
    rows.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.resource_id).cmp(&(&b.account_id, &b.region, &b.resource_id))
    });
    let tally = Tally::of(rows.iter().map(|r| r.compliance_type)).plus(run.streamed);
    let mut report = Report { rows, errors };
    let mut summary = summary(tally, &report.errors, regions, targets.accounts);
    if let Some(left) = left_undone(&run.left) {
        summary.push_str(&format!("\n{left}"));
        report.errors.push(CliError::Interrupted(left));
    }
    match args.output {
        AuditOutput::Table => report.print(Output::Table, &summary)?,
        // Streamed: only what was not printed yet (nothing), then the summary and the errors.
        AuditOutput::Json => report.print(Output::Json, &summary)?,
        AuditOutput::Ocsf | AuditOutput::Asff => {
            let ocsf = args.output == AuditOutput::Ocsf;
            let keys: Vec<Audited> = run.keys.into_iter().map(|(k, _)| k).collect();
            let (findings, errors) = crate::finding_subjects::audit_findings(
                &targets.kms,
                &keys,
                params,
                ocsf,
                Utc::now(),
            )
            .await;
            report.errors.extend(errors);
            report.print_json(&findings, &summary)?;
        }
    }
    if let Some(path) = &args.report {
        let exceptions = exceptions_of(&report.rows, &targets.kms, params).await;
        write_report(
            path,
            &report,
            &exceptions,
            targets.accounts,
            regions,
            started,
        )?;
    }
    Ok(report.exit_with(run.streamed.non_compliant > 0))
}

/// `--report FILE.html`: the page of [`crate::report`], from the same lines as `--output json`.
/// The exceptions the verdicts rest on (keys with rotation off under an exception tag, valid,
/// expired or malformed), as `exceptions --output json` prints them: their tags are read again,
/// one ListResourceTags a key. A tag that cannot be read is left out of the page with a warning.
async fn exceptions_of(
    rows: &[AuditLine],
    targets: &[KmsRegion],
    params: &RuleParameters,
) -> Vec<Found> {
    let today = Utc::now().date_naive();
    let on_exception = [
        Reason::ExceptionValid,
        Reason::ExceptionExpired,
        Reason::ExceptionMalformed,
    ];
    let mut out = Vec::new();
    for row in rows.iter().filter(|r| on_exception.contains(&r.reason)) {
        let Some(kms) = targets
            .iter()
            .find(|t| t.account_id == row.account_id && t.region == row.region)
        else {
            continue;
        };
        match kms
            .reader
            .exception_tag(&row.resource_id, &params.exception_tag_key)
            .await
        {
            Ok(tag) => {
                if let Some(status) = crate::exception_review::classify(&tag, today, EXPIRING_DAYS)
                {
                    out.push(Found {
                        account_id: row.account_id.clone(),
                        region: row.region.clone(),
                        key_id: row.resource_id.clone(),
                        alias: row.alias.clone(),
                        tag,
                        status,
                    });
                }
            }
            Err(e) => eprintln!(
                "warning: the exception of {} is not in the report: {}",
                row.resource_id,
                crate::explain_kms(&row.region, &e)
            ),
        }
    }
    out
}

/// The report marks exceptions that expire within this many days.
const EXPIRING_DAYS: u32 = 30;

fn write_report(
    path: &std::path::Path,
    report: &Report<AuditLine>,
    exceptions: &[Found],
    accounts: usize,
    regions: usize,
    started: std::time::Instant,
) -> Result<(), CliError> {
    let failed: Vec<Unread> = report.errors.iter().map(Unread::of).collect();
    let figures = [
        ("accounts", Figure::Count(accounts)),
        ("Regions", Figure::Count(regions)),
        ("keys", Figure::Count(report.rows.len())),
        ("errors", Figure::Count(report.errors.len())),
        (
            "wall seconds",
            Figure::Seconds((started.elapsed().as_secs_f64() * 10.0).round() / 10.0),
        ),
    ];
    let page = crate::report::render(&ReportInput {
        generated: Utc::now(),
        keys: &report.rows,
        exceptions,
        failed: &failed,
        figures: &figures,
    });
    std::fs::write(path, page).map_err(|source| CliError::Report {
        path: path.to_owned(),
        source,
    })?;
    eprintln!("report written to {}", path.display());
    Ok(())
}
