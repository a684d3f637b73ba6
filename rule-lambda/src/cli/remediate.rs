//! `kms-rotation remediate`: evaluate (the audit), triage and plan ([`crate::remediate`]), then,
//! with `--apply`, run the batches, asking between them on a terminal, and report every key.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use chrono::Utc;
use futures::StreamExt;
use serde_json::{json, Value};

use super::args::{Output, RemediateArgs};
use super::audit::{evaluate_regions, Audited, CONCURRENCY};
use super::output::{json_lines, or_dash, table};
use super::session::Session;
use super::{explain_kms, CliError, Exit};
use crate::params::RuleParameters;
use crate::remediate::{
    batches, plan, triage, Action, Applier, Candidate, Failure, KmsRegion, Outcome,
};

/// Refuse flag combinations before any AWS call.
pub fn check_flags(args: &RemediateArgs, params: &RuleParameters) -> Result<(), CliError> {
    check(args, params, std::io::stdin().is_terminal())
}

fn check(args: &RemediateArgs, params: &RuleParameters, terminal: bool) -> Result<(), CliError> {
    if let Some(max) = params.max_rotation_period_in_days {
        if args.rotation_period_days > max {
            return Err(CliError::Usage(format!(
                "--rotation-period-days {} is above --max-rotation-period-days {max}: the keys would stay NON_COMPLIANT; pick a period of at most {max} days",
                args.rotation_period_days
            )));
        }
    }
    if args.apply && !args.yes && !terminal {
        return Err(CliError::Usage(
            "refusing to apply: stdin is not a terminal, so the batches cannot be confirmed. Pass --yes to apply every batch without asking (as a script should), or run it in a terminal. Without --apply, remediate only prints the plan.".into(),
        ));
    }
    Ok(())
}

/// One key in the report.
#[derive(Debug, Clone)]
pub struct Row {
    pub audited: Audited,
    pub outcome: Outcome,
    /// The key EnableKeyRotation goes to, for candidates.
    pub target: Option<String>,
}

impl Row {
    fn to_json(&self) -> Value {
        let mut v = self.audited.to_json();
        let batch = match self.outcome {
            Outcome::Planned { batch } => Some(batch),
            _ => None,
        };
        if let Value::Object(m) = &mut v {
            m.insert("outcome".into(), json!(self.outcome.label()));
            m.insert("detail".into(), json!(self.outcome.detail()));
            m.insert("batch".into(), json!(batch));
            m.insert("target".into(), json!(self.target));
        }
        v
    }
}

/// " via its primary key ARN" for a replica.
fn via(c: &Candidate) -> String {
    if c.via_primary() {
        format!(" (via its primary key {})", c.target.key)
    } else {
        String::new()
    }
}

/// What is planned for a candidate, in words.
fn intent(c: &Candidate, period: i32) -> String {
    format!("{} -> enable rotation every {period} days{}", c.fix, via(c))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Yes,
    All,
    Stop,
}

fn ask(batch: usize, total: usize, actions: &[Action]) -> std::io::Result<Answer> {
    let first = actions
        .first()
        .map(|a| format!(", first {}", a.target.key))
        .unwrap_or_default();
    let mut err = std::io::stderr().lock();
    write!(
        err,
        "batch {batch}/{total}: {} key(s){first}. Apply? [y]es / [a]ll remaining / [n]o, stop: ",
        actions.len()
    )?;
    err.flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Ok(Answer::Stop);
    }
    Ok(match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Answer::Yes,
        "a" | "all" => Answer::All,
        _ => Answer::Stop,
    })
}

pub async fn command(
    session: &Session,
    params: &RuleParameters,
    args: &RemediateArgs,
) -> Result<Exit, CliError> {
    let period = args.rotation_period_days;
    let max = params.max_rotation_period_in_days;
    let mut regions: BTreeMap<String, KmsRegion> = BTreeMap::new();
    let listed: Vec<KmsRegion> = session.kms_regions(params);
    for r in &listed {
        regions.insert(r.region.clone(), r.clone());
    }

    // 1. Evaluate every key with the rule's decision.
    let run = evaluate_regions(&listed, params, Utc::now().date_naive()).await;
    for w in &run.warnings {
        eprintln!("warning: {w}");
    }
    let mut errors = run.errors;

    // 2. Triage: which NON_COMPLIANT keys EnableKeyRotation fixes.
    let triaged: Vec<_> = futures::stream::iter(run.keys)
        .map(|audited| {
            let kms = &regions[&audited.region];
            async move {
                let t = triage(kms, &audited.evaluation, max).await;
                (audited, t)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut others: Vec<Row> = Vec::new();
    let mut candidates: BTreeMap<(String, String), (Audited, Candidate)> = BTreeMap::new();
    for (audited, result) in triaged {
        match result {
            Ok(Ok(c)) => {
                candidates.insert((c.region.clone(), c.key_id.clone()), (audited, c));
            }
            Ok(Err(outcome)) => others.push(Row {
                audited,
                outcome,
                target: None,
            }),
            Err(e) => errors.push(CliError::kms(&audited.region, e)),
        }
    }
    others.sort_by(|a, b| {
        (&a.audited.region, &a.audited.evaluation.key_id)
            .cmp(&(&b.audited.region, &b.audited.evaluation.key_id))
    });

    // 3. Plan: one action per target, by priority, in batches.
    let actions = plan(
        candidates.values().map(|(_, c)| c.clone()).collect(),
        &args.priority_tags,
    );
    for a in &actions {
        if !regions.contains_key(&a.target.region) {
            let r = session.kms_region(&a.target.region, params);
            regions.insert(r.region.clone(), r);
        }
    }
    let planned = batches(actions, args.batch_size as usize);
    let total_batches = planned.len();
    let total_actions: usize = planned.iter().map(Vec::len).sum();
    let mut rows: Vec<Row> = Vec::new();
    let mut push = |action: &Action, outcome: &dyn Fn(&Candidate) -> Outcome| {
        for c in &action.keys {
            if let Some((audited, _)) = candidates.get(&(c.region.clone(), c.key_id.clone())) {
                rows.push(Row {
                    audited: audited.clone(),
                    outcome: outcome(c),
                    target: Some(action.target.key.clone()),
                });
            }
        }
    };

    // 4. Apply, batch by batch.
    let mut stopped: Option<usize> = None;
    if !args.apply {
        for (i, batch) in planned.iter().enumerate() {
            for action in batch {
                push(action, &|_| Outcome::Planned { batch: i + 1 });
            }
        }
    } else {
        let applier = Applier::new(&regions, args.max_rate, period);
        let mut ask_each = !args.yes;
        let mut done = 0;
        let mut failed = 0;
        for (i, batch) in planned.iter().enumerate() {
            let n = i + 1;
            if ask_each && stopped.is_none() {
                // A prompt that cannot be read stops here; the batches already applied are
                // still reported below.
                let answer = ask(n, total_batches, batch).unwrap_or_else(|e| {
                    eprintln!("\nerror: could not read the answer ({e}); stopping");
                    Answer::Stop
                });
                match answer {
                    Answer::Yes => {}
                    Answer::All => ask_each = false,
                    Answer::Stop => stopped = Some(n),
                }
            }
            if let Some(at) = stopped {
                for action in batch {
                    push(action, &|_| {
                        Outcome::NotApplied(format!(
                            "not applied: stopped before batch {at}/{total_batches}; run again to continue"
                        ))
                    });
                }
                continue;
            }
            eprint!("batch {n}/{total_batches}: {} keys ... ", batch.len());
            for action in batch {
                let result = applier.apply(&action.target).await;
                done += 1;
                match result {
                    Ok(verified) => push(action, &|c| {
                        Outcome::Changed(format!("was {}; {verified}{}", c.fix, via(c)))
                    }),
                    Err(failure) => {
                        failed += 1;
                        let why = match &failure {
                            Failure::Kms { region, error } => explain_kms(region, error),
                            Failure::Verify(s) => s.clone(),
                        };
                        push(action, &|c| {
                            Outcome::Failed(format!("{}: {why}", intent(c, period)))
                        });
                    }
                }
            }
            let failed_note = if failed > 0 {
                format!(" ({failed} failed)")
            } else {
                String::new()
            };
            eprintln!("done {done}/{total_actions}{failed_note}");
        }
    }
    rows.extend(others);

    // 5. Report.
    let count = |label: &str| rows.iter().filter(|r| r.outcome.label() == label).count();
    let summary = if args.apply {
        format!(
            "remediate: {} changed, {} failed, {} not applied, {} already compliant, {} skipped, {} not evaluated (errors)",
            count("changed"),
            count("failed"),
            count("not_applied"),
            count("already_compliant"),
            count("skipped"),
            errors.len()
        )
    } else {
        format!(
            "remediate (plan only, nothing changed): {} key(s) to change with {total_actions} EnableKeyRotation call(s) in {total_batches} batch(es) of up to {}, {} already compliant, {} skipped, {} not evaluated (errors). Run again with --apply to make the changes.",
            count("planned"),
            args.batch_size,
            count("already_compliant"),
            count("skipped"),
            errors.len()
        )
    };
    match args.output {
        Output::Table => {
            print!("{}", render_table(&rows, period, &candidates));
            println!("\n{summary}");
        }
        Output::Json => {
            let lines: Vec<Value> = rows.iter().map(Row::to_json).collect();
            print!("{}", json_lines(&lines));
            eprintln!("{summary}");
        }
    }
    for e in &errors {
        eprintln!("error: not evaluated: {e}");
    }
    Ok(if !errors.is_empty() {
        Exit::Error
    } else if count("failed") > 0 || count("not_applied") > 0 {
        Exit::Findings
    } else {
        Exit::Clean
    })
}

fn render_table(
    rows: &[Row],
    period: i32,
    candidates: &BTreeMap<(String, String), (Audited, Candidate)>,
) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let detail = match &r.outcome {
                Outcome::Planned { batch } => {
                    let key = (
                        r.audited.region.clone(),
                        r.audited.evaluation.key_id.clone(),
                    );
                    match candidates.get(&key) {
                        Some((_, c)) => format!("batch {batch}: {}", intent(c, period)),
                        None => r.outcome.detail(),
                    }
                }
                other => other.detail(),
            };
            vec![
                r.audited.evaluation.key_id.clone(),
                or_dash(r.audited.alias.as_deref()),
                r.audited.region.clone(),
                r.outcome.label().to_owned(),
                detail,
            ]
        })
        .collect();
    table(&["KEY ID", "ALIAS", "REGION", "OUTCOME", "DETAIL"], &cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{Cli, Command};
    use clap::Parser;

    fn remediate(extra: &[&str]) -> RemediateArgs {
        let argv = ["kms-rotation", "remediate"]
            .into_iter()
            .chain(extra.iter().copied());
        match Cli::parse_from(argv).command {
            Command::Remediate(r) => r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn apply_needs_a_terminal_or_yes() {
        let params = RuleParameters::default();
        let e = check(&remediate(&["--apply"]), &params, false).unwrap_err();
        assert!(e.to_string().starts_with("refusing to apply"), "{e}");
        assert!(e.to_string().contains("--yes"), "{e}");
        check(&remediate(&["--apply"]), &params, true).unwrap();
        check(&remediate(&["--apply", "--yes"]), &params, false).unwrap();
        check(&remediate(&[]), &params, false).unwrap();
    }

    #[test]
    fn the_period_set_must_satisfy_the_maximum() {
        let params = RuleParameters {
            max_rotation_period_in_days: Some(180),
            ..Default::default()
        };
        let e = check(&remediate(&[]), &params, true).unwrap_err();
        assert!(
            e.to_string()
                .contains("above --max-rotation-period-days 180"),
            "{e}"
        );
        check(
            &remediate(&["--rotation-period-days", "180"]),
            &params,
            true,
        )
        .unwrap();
    }
}
