//! `kms-rotation evidence`: every customer managed key of every account and Region, evaluated by
//! the sweep ([`crate::sweep`]) with its rotation evidence ([`crate::evidence`]), written as the
//! files of [`crate::evidence_package`]; `--state`/`--resume`, pacing and Ctrl-C as `audit`
//! (a stopped run writes no files: evidence of part of the scope would read as the whole).

use std::sync::Mutex;

use chrono::Utc;

use crate::args::{EvidenceArgs, ScopeArgs};
use crate::evidence_package::{Package, Run};
use crate::fleet::Stop;
use crate::output::{warn, ErrorCounts};
use crate::session::{Accounts, Session};
use crate::state::State;
use crate::sweep::{evaluate_regions, fingerprint, left_undone, Plan, Stream};
use crate::{CliError, Exit};
use kms_rotation_core::params::RuleParameters;

/// `kms-rotation evidence`: read every key and its evidence, then write the package.
pub(crate) async fn command(
    session: &Session,
    params: &RuleParameters,
    args: &EvidenceArgs,
    accounts: &Accounts,
    scope: &ScopeArgs,
) -> Result<Exit, CliError> {
    let started = Utc::now();
    // Refused before any AWS call: a directory that already holds evidence.
    Package::refuse_written(&args.output_dir)?;
    let caller = session.caller().await?.clone();
    let targets = session.targets(accounts, scope, params).await?;
    let state = State::of_args(&args.state, "evidence", || {
        fingerprint(
            &targets,
            params,
            if args.last_use { "last-use" } else { "" },
        )
    })?;
    let package = Mutex::new(Package::create(&args.output_dir)?);
    let stop = Stop::on_ctrl_c();
    let plan = Plan {
        params,
        today: Utc::now().date_naive(),
        max_in_flight: scope.max_in_flight as usize,
        exposure: false,
        evidence: true,
        last_use: args.last_use,
        organization_id: targets.organization_id.as_deref(),
        stop: &stop,
        state: state.as_ref(),
        keep: false,
        // Each account-Region's keys written as it is finished: memory holds counts, not keys.
        stream: Stream::Into(&package),
    };
    let run = evaluate_regions(&targets.kms, &plan).await;
    warn(&run.warnings);
    let account_regions = targets.region_count();
    let mut errors = targets.failed;
    errors.extend(run.errors);
    let package = package
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for e in &errors {
        eprintln!("error: {e}");
    }
    if let Some(left) = left_undone(&run.left) {
        // Evidence of part of the scope would read as the whole: nothing is written.
        package.abandon();
        eprintln!(
            "stopped: no evidence written to {}. {left}",
            args.output_dir.display()
        );
        return Ok(Exit::Interrupted);
    }
    let (counts, aws_managed) = (package.counts(), package.aws_managed());
    let written = package.finish(&Run {
        started,
        finished: Utc::now(),
        caller_account: &caller.account,
        caller_arn: caller.arn.as_deref(),
        parameters: params.canonical_json(),
        accounts: targets.accounts,
        account_regions,
        last_use: args.last_use,
        errors: errors.iter().map(ToString::to_string).collect(),
    })?;
    let not_read = ErrorCounts::of(&errors);
    eprintln!(
        "{} customer managed key(s) in {account_regions} account-Region(s) of {} account(s): {} COMPLIANT, {} NON_COMPLIANT, {} NOT_APPLICABLE ({aws_managed} AWS managed key(s) not listed), {} not evaluated (errors){}. Evidence written to {}:",
        counts.keys,
        targets.accounts,
        counts.compliant,
        counts.non_compliant,
        counts.not_applicable,
        not_read.keys,
        not_read.places_note(),
        args.output_dir.display(),
    );
    for path in written {
        println!("{}", path.display());
    }
    Ok(if !errors.is_empty() {
        Exit::Error
    } else if counts.non_compliant > 0 {
        Exit::Findings
    } else {
        Exit::Clean
    })
}
