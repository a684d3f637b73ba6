//! `kms-rotation remediate`: read every key (the audit's evaluation), triage and plan
//! ([`crate::plan`]); then, with `--apply`, confirm and apply the batches ([`crate::apply`]),
//! asking between them on a terminal; and report every key.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use chrono::Utc;
use futures::StreamExt;
use indicatif::ProgressBar;
use serde::{Serialize, Serializer};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::apply::{Applier, Failure};
use crate::args::{RemediateArgs, ScopeArgs};
use crate::exposure::{Classification, Exposure};
use crate::fleet::{Stop, CONCURRENCY};
use crate::last_use::{self, LastUse};
use crate::output::{or_dash, progress, say, warn, ErrorCounts, Report, Row};
use crate::plan::{self, batches, plan, Action, Candidate, Outcome, PriorityTag, Target};
use crate::session::{Accounts, Session};
use crate::state::State;
use crate::sweep::{
    evaluate_regions, exposure_of, fingerprint, left_undone, Audited, Plan, Stream,
};
use crate::{CliError, Exit};
use kms_rotation_core::evaluate::KeyEvaluation;
use kms_rotation_core::kms::KmsRegion;
use kms_rotation_core::kms::{KmsError, KmsReader, Tags};
use kms_rotation_core::params::RuleParameters;

/// Refuse flag combinations before any AWS call.
pub(crate) fn check_flags(args: &RemediateArgs, params: &RuleParameters) -> Result<(), CliError> {
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

/// `kms-rotation remediate`: read, triage, plan, then apply the plan (`--apply`) or show it;
/// report every key. Keys of every account and Region are planned together: the most exposed
/// first wherever they are.
pub(crate) async fn command(
    session: &Session,
    params: &RuleParameters,
    args: &RemediateArgs,
    accounts: &Accounts,
    scope: &ScopeArgs,
) -> Result<Exit, CliError> {
    let targets = session.targets(accounts, scope, params).await?;
    let state = State::of_args(&args.state, "remediate", || {
        fingerprint(
            &targets,
            params,
            &format!(" period {}", args.rotation_period_days),
        )
    })?;
    let stop = Stop::on_ctrl_c();
    let (report, summary) = run(
        &targets.kms,
        targets.failed,
        targets.organization_id.as_deref(),
        params,
        args,
        scope.max_in_flight as usize,
        state.map(Arc::new),
        &stop,
    )
    .await;
    report.print(args.output, &summary)?;
    Ok(report.exit())
}

/// Read every key of `kms`, triage, plan, and apply the plan (`--apply`) or show it: the report
/// of every key and its summary line. `failed`: the account-Regions not reached.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run(
    kms: &[KmsRegion],
    failed: Vec<CliError>,
    organization_id: Option<&str>,
    params: &RuleParameters,
    args: &RemediateArgs,
    max_in_flight: usize,
    state: Option<Arc<State>>,
    stop: &Stop,
) -> (Report<Remediated>, String) {
    let plan_of_run = Plan {
        params,
        today: Utc::now().date_naive(),
        max_in_flight,
        // Candidates' exposure is read in the triage.
        exposure: false,
        evidence: false,
        last_use: false,
        organization_id,
        stop,
        // Every key is read again on --resume; the state keeps EnableKeyRotation from being sent twice.
        state: None,
        keep: true,
        stream: Stream::No,
    };
    let run = evaluate_regions(kms, &plan_of_run).await;
    warn(&run.warnings);
    let mut regions: BTreeMap<(String, String), KmsRegion> = kms
        .iter()
        .map(|r| ((r.account_id.clone(), r.region.clone()), r.clone()))
        .collect();
    let keys = run.keys.into_iter().map(|(k, _)| k).collect();
    let mut triaged = triage(
        &regions,
        keys,
        Reads {
            max_period: params.max_rotation_period_in_days,
            organization_id,
            last_use: args.last_use.then_some(args.unused_days),
        },
        max_in_flight,
    )
    .await;
    let planned = batches(
        plan(triaged.candidates(), &args.priority_tags),
        args.batch_size as usize,
    );
    add_target_regions(&mut regions, &planned, params);
    let mut rows = if args.apply && !stop.is_set() {
        apply(
            &regions,
            &planned,
            &triaged,
            args,
            state.clone(),
            stop,
            max_in_flight,
        )
        .await
    } else {
        show_plan(
            &planned,
            &triaged,
            args.rotation_period_days,
            &args.priority_tags,
        )
    };
    rows.append(&mut triaged.done);
    let mut errors = failed;
    errors.extend(run.errors);
    errors.append(&mut triaged.errors);
    let mut report = Report { rows, errors };
    let mut summary = summary(&report, args, &planned);
    if let Some(left) = left_undone(&run.left) {
        summary.push_str(&format!("\n{left}"));
        report.errors.push(CliError::Interrupted(left));
    } else if stop.is_set() {
        let left = format!(
            "stopped by Ctrl-C: the keys in flight were finished, the keys not applied are listed; {}",
            if state.is_some() {
                "run the same command with --resume to go on"
            } else {
                "run it again to go on (keys already changed show as already compliant)"
            }
        );
        summary.push_str(&format!("\n{left}"));
        report.errors.push(CliError::Interrupted(left));
    }
    (report, summary)
}

/// One key in the report.
#[derive(Debug, Clone)]
pub(super) struct Remediated {
    pub audited: Audited,
    pub outcome: Outcome,
    /// The key EnableKeyRotation goes to, for candidates.
    pub target: Option<String>,
    /// For candidates: how exposed the key policy is, and why (the first criterion of the order).
    pub exposure: Option<Classification>,
    /// For candidates: the `--priority-tag` its change was ordered by (the second criterion).
    pub priority_tag: Option<String>,
}

impl Remediated {
    /// Why a candidate is where it is in the plan, when it is not simply a private key with no
    /// priority tag: its exposure and reason, its priority tag.
    fn order_note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(e) = self
            .exposure
            .as_ref()
            .filter(|e| e.exposure != Exposure::Private)
        {
            parts.push(format!("{}: {}", e.exposure, e.reason));
        }
        if let Some(tag) = &self.priority_tag {
            parts.push(format!("tag {tag}"));
        }
        if let Some(last_use) = &self.audited.last_use {
            parts.push(format!("last use: {}", last_use.summary()));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// The audit's JSON line, with `outcome`, `detail`, `batch` (of a planned key), `target`, and for
/// candidates `exposure`, `exposureReason` and `priorityTag` (the order's criteria).
impl Serialize for Remediated {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Line<'a> {
            #[serde(flatten)]
            key: &'a Audited,
            outcome: &'static str,
            detail: String,
            batch: Option<usize>,
            target: Option<&'a str>,
            exposure: Option<Exposure>,
            #[serde(rename = "exposureReason")]
            exposure_reason: Option<&'a str>,
            #[serde(rename = "priorityTag")]
            priority_tag: Option<&'a str>,
        }
        let batch = match self.outcome {
            Outcome::Planned { batch, .. } => Some(batch),
            _ => None,
        };
        Line {
            key: &self.audited,
            outcome: self.outcome.label(),
            detail: self.outcome.detail(),
            batch,
            target: self.target.as_deref(),
            exposure: self.exposure.as_ref().map(|e| e.exposure),
            exposure_reason: self.exposure.as_ref().map(|e| e.reason.as_str()),
            priority_tag: self.priority_tag.as_deref(),
        }
        .serialize(serializer)
    }
}

impl Row for Remediated {
    const HEADERS: &'static [&'static str] = &[
        "ACCOUNT", "KEY ID", "ALIAS", "REGION", "OUTCOME", "EXPOSURE", "DETAIL",
    ];
    const NOT_READ: &'static str = "not evaluated";

    fn cells(&self) -> Vec<String> {
        let detail = match (&self.outcome, self.order_note()) {
            (Outcome::Planned { batch, change }, Some(why)) => {
                format!("batch {batch} ({why}): {change}")
            }
            (Outcome::Planned { batch, change }, None) => format!("batch {batch}: {change}"),
            (other, _) => other.detail(),
        };
        vec![
            self.audited.account_id.clone(),
            self.audited.evaluation.key_id.clone(),
            or_dash(self.audited.alias.as_deref()),
            self.audited.region.clone(),
            self.outcome.label().to_owned(),
            or_dash(self.exposure.as_ref().map(|e| e.exposure.as_str())),
            detail,
        ]
    }

    fn is_finding(&self) -> bool {
        matches!(self.outcome, Outcome::Failed(_) | Outcome::NotApplied(_))
    }
}

/// The evaluated keys, triaged.
struct Triaged {
    /// The candidates with their evaluations, by account, Region and key id.
    candidates: BTreeMap<(String, String, String), (Audited, Candidate)>,
    /// The keys with an outcome already (compliant, skipped), by Region and key id.
    done: Vec<Remediated>,
    /// The candidates whose tags could not be read.
    errors: Vec<CliError>,
}

impl Triaged {
    fn candidates(&self) -> Vec<Candidate> {
        self.candidates.values().map(|(_, c)| c.clone()).collect()
    }

    /// The rows of the keys an action fixes, each with its outcome, its exposure and the
    /// priority tag the action was ordered by.
    fn rows(
        &self,
        action: &Action,
        priority_tags: &[PriorityTag],
        outcome: impl Fn(&Candidate) -> Outcome,
    ) -> Vec<Remediated> {
        let priority_tag = priority_tags.get(action.priority).map(ToString::to_string);
        action
            .keys
            .iter()
            .filter_map(|c| {
                let (audited, _) = self.candidates.get(&(
                    c.account.clone(),
                    c.region.clone(),
                    c.key_id.clone(),
                ))?;
                Some(Remediated {
                    audited: audited.clone(),
                    outcome: outcome(c),
                    target: Some(action.target.key.clone()),
                    exposure: Some(c.exposure.clone()),
                    priority_tag: priority_tag.clone(),
                })
            })
            .collect()
    }
}

/// What the triage of a key reads and judges it by.
#[derive(Clone, Copy)]
struct Reads<'a> {
    max_period: Option<i32>,
    organization_id: Option<&'a str>,
    /// `--last-use`: read each candidate's last use; unused for this many days goes after.
    last_use: Option<u32>,
}

/// Triage every evaluated key, a few at a time.
async fn triage(
    regions: &BTreeMap<(String, String), KmsRegion>,
    keys: Vec<Audited>,
    reads: Reads<'_>,
    max_in_flight: usize,
) -> Triaged {
    let results: Vec<_> = futures::stream::iter(keys)
        .map(|mut audited| {
            let kms = &regions[&(audited.account_id.clone(), audited.region.clone())];
            async move {
                let result = triage_key(kms, &audited.evaluation, reads).await;
                if let Ok(Ok((_, last_use))) = &result {
                    audited.last_use.clone_from(last_use);
                }
                (audited, result.map(|r| r.map(|(c, _)| c)))
            }
        })
        .buffer_unordered(max_in_flight.max(CONCURRENCY))
        .collect()
        .await;
    let mut triaged = Triaged {
        candidates: BTreeMap::new(),
        done: Vec::new(),
        errors: Vec::new(),
    };
    for (audited, result) in results {
        match result {
            Ok(Ok(c)) => {
                triaged.candidates.insert(
                    (c.account.clone(), c.region.clone(), c.key_id.clone()),
                    (audited, c),
                );
            }
            Ok(Err(outcome)) => triaged.done.push(Remediated {
                audited,
                outcome,
                target: None,
                exposure: None,
                priority_tag: None,
            }),
            Err(e) => triaged
                .errors
                .push(CliError::kms(&audited.account_id, &audited.region, e)),
        }
    }
    triaged.done.sort_by(|a, b| {
        let key = |r: &Remediated| {
            (
                r.audited.account_id.clone(),
                r.audited.region.clone(),
                r.audited.evaluation.key_id.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    triaged
}

/// Triage one key: from its verdict ([`plan::triage`]), then, for a candidate, its tags for
/// the priorities (unreadable tags could hide an exception, so such a key is skipped), its key
/// policy for its exposure ([`exposure_of`]) and, with `--last-use`, its last use.
async fn triage_key(
    kms: &KmsRegion,
    evaluation: &KeyEvaluation,
    reads: Reads<'_>,
) -> Result<Result<(Candidate, Option<LastUse>), Outcome>, KmsError> {
    let triaged = plan::triage(&kms.account_id, &kms.region, evaluation, reads.max_period);
    let (fix, target) = match triaged {
        Ok(found) => found,
        Err(outcome) => return Ok(Err(outcome)),
    };
    let tags = match kms.reader.tags(&evaluation.key_id).await? {
        Tags::Read(tags) => tags,
        Tags::AccessDenied(msg) => {
            return Ok(Err(Outcome::Skipped(format!(
                "access denied on kms:ListResourceTags, so an approved exception cannot be ruled out: grant kms:ListResourceTags, then run again ({msg})"
            ))))
        }
    };
    let exposure = exposure_of(&kms.reader, evaluation, reads.organization_id).await;
    let (last_use, unused) = match reads.last_use {
        Some(days) => {
            let last_use = last_use::read(&kms.reader, &evaluation.key_id).await?;
            let unused = last_use::unused_for(Some(&last_use), days, Utc::now().date_naive());
            (Some(last_use), unused)
        }
        None => (None, false),
    };
    let candidate = Candidate {
        account: kms.account_id.clone(),
        region: kms.region.clone(),
        key_id: evaluation.key_id.clone(),
        fix,
        tags,
        target,
        exposure,
        unused,
    };
    Ok(Ok((candidate, last_use)))
}

/// Clients for the Regions of primary keys outside the Regions listed: the account's own
/// credentials, in the primary's Region.
fn add_target_regions(
    regions: &mut BTreeMap<(String, String), KmsRegion>,
    planned: &[Vec<Action>],
    params: &RuleParameters,
) {
    for action in planned.iter().flatten() {
        let place = (action.target.account.clone(), action.target.region.clone());
        if regions.contains_key(&place) {
            continue;
        }
        let Some(same_account) = regions.values().find(|r| r.account_id == place.0) else {
            continue;
        };
        let client = aws_sdk_kms::Client::from_conf(
            same_account
                .client
                .config()
                .to_builder()
                .region(aws_config::Region::new(place.1.clone()))
                .build(),
        );
        let kms = KmsRegion {
            account_id: place.0.clone(),
            region: place.1.clone(),
            reader: KmsReader::new(client.clone(), params),
            client,
        };
        regions.insert(place, kms);
    }
}

/// Without `--apply`: every candidate as planned, in its batch.
fn show_plan(
    planned: &[Vec<Action>],
    triaged: &Triaged,
    period: i32,
    priority_tags: &[PriorityTag],
) -> Vec<Remediated> {
    let mut rows = Vec::new();
    for (i, batch) in planned.iter().enumerate() {
        for action in batch {
            rows.extend(triaged.rows(action, priority_tags, |c| Outcome::Planned {
                batch: i + 1,
                change: intent(c, period),
            }));
        }
    }
    rows
}

/// With `--apply`: the batches in order, each confirmed first when asking; the batches after a
/// "no" are reported not applied. Inside a batch every account-Region changes its own keys at
/// once ([`apply_batch`]); the next batch starts when every one of them is done.
async fn apply(
    regions: &BTreeMap<(String, String), KmsRegion>,
    planned: &[Vec<Action>],
    triaged: &Triaged,
    args: &RemediateArgs,
    state: Option<Arc<State>>,
    stop: &Stop,
    max_in_flight: usize,
) -> Vec<Remediated> {
    let period = args.rotation_period_days;
    let applier = Arc::new(Applier::new(regions, args.max_rate, period));
    // Changes in flight across every account-Region: --max-in-flight.
    let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let total_batches = planned.len();
    let total_actions: usize = planned.iter().map(Vec::len).sum();
    let progress = progress(Some(total_actions as u64), "change(s)");
    let mut confirm = if args.yes {
        Confirm::All
    } else {
        Confirm::Each
    };
    let (mut rows, mut done, mut failed) = (Vec::new(), 0, 0);
    for (i, batch) in planned.iter().enumerate() {
        let n = i + 1;
        progress.set_message(format!("batch {n}/{total_batches}"));
        let by_ctrl_c = stop.is_set();
        if by_ctrl_c {
            confirm = Confirm::StoppedAt(n);
        }
        confirm.before(n, total_batches, batch, &progress);
        if let Confirm::StoppedAt(at) = confirm {
            let why = if by_ctrl_c {
                "stopped by Ctrl-C"
            } else {
                "stopped"
            };
            let again = if by_ctrl_c && state.is_some() {
                "run the same command with --resume to go on"
            } else {
                "run again to continue"
            };
            for action in batch {
                rows.extend(triaged.rows(action, &args.priority_tags, |_| {
                    Outcome::NotApplied(format!(
                        "not applied: {why} before batch {at}/{total_batches}; {again}"
                    ))
                }));
            }
            continue;
        }
        let results = apply_batch(&applier, batch, state.clone(), stop, &progress, &permits).await;
        for (action, result) in batch.iter().zip(results) {
            let again = if state.is_some() {
                "run the same command with --resume to go on"
            } else {
                "run again to continue"
            };
            match result {
                Applied::Ran(result) => {
                    done += 1;
                    failed += usize::from(result.is_err());
                    rows.extend(triaged.rows(action, &args.priority_tags, |c| {
                        applied(&result, c, period)
                    }));
                }
                Applied::Stopped => rows.extend(triaged.rows(action, &args.priority_tags, |_| {
                    Outcome::NotApplied(format!(
                        "not applied: stopped by Ctrl-C during batch {n}/{total_batches}, before this key's change was sent; {again}"
                    ))
                })),
            }
        }
        let failed_note = if failed > 0 {
            format!(" ({failed} failed)")
        } else {
            String::new()
        };
        say(
            &progress,
            &format!(
                "batch {n}/{total_batches}: {} keys ... done {done}/{total_actions}{failed_note}",
                batch.len()
            ),
        );
    }
    let throttles = applier.throttles();
    if throttles > 0 {
        say(
            &progress,
            &format!("EnableKeyRotation was throttled {throttles} time(s): the account-Regions concerned were slowed down and retried"),
        );
    }
    progress.finish_and_clear();
    rows
}

/// What became of one action of a batch.
#[derive(Debug)]
enum Applied {
    /// Its change was sent (or, on `--resume`, verified): the result.
    Ran(Result<String, Failure>),
    /// Ctrl-C came before its change was sent: nothing was recorded or sent for it.
    Stopped,
}

/// One batch: its actions grouped by account-Region, each account-Region on a task of its own
/// (the runtime spreads them over the cores) that sends its changes in the plan's order, each at
/// its turn under the account-Region's ceiling, several in flight while they wait on KMS. Every
/// request also holds a `--max-in-flight` permit (the [`crate::fleet::Gate`] under every KMS
/// client). For each key: its turn, then Ctrl-C is checked, then the `enabling` record is on
/// disk, then EnableKeyRotation is sent; a key whose record could not be written is not sent. One
/// account-Region's failures (AccessDenied, throttling to the end) fail its keys only. The results
/// are in the batch's order.
async fn apply_batch(
    applier: &Arc<Applier>,
    batch: &[Action],
    state: Option<Arc<State>>,
    stop: &Stop,
    progress: &ProgressBar,
    permits: &Arc<Semaphore>,
) -> Vec<Applied> {
    let mut places: BTreeMap<(String, String), Vec<(usize, Target)>> = BTreeMap::new();
    for (i, action) in batch.iter().enumerate() {
        places
            .entry((action.target.account.clone(), action.target.region.clone()))
            .or_default()
            .push((i, action.target.clone()));
    }
    let mut tasks = JoinSet::new();
    let mut names = std::collections::HashMap::new();
    for (place, targets) in places {
        let (applier, state, stop, progress, permits) = (
            applier.clone(),
            state.clone(),
            stop.clone(),
            progress.clone(),
            permits.clone(),
        );
        let indexes: Vec<usize> = targets.iter().map(|(i, _)| *i).collect();
        let task = tasks.spawn(async move {
            futures::stream::iter(targets)
                .map(|(i, target)| {
                    let (applier, state, stop, progress, permits) =
                        (&applier, state.as_deref(), &stop, &progress, &permits);
                    async move {
                        let outcome = change(applier, &target, state, stop, permits).await;
                        progress.inc(1);
                        (i, outcome)
                    }
                })
                .buffered(PLACE_IN_FLIGHT)
                .collect::<Vec<_>>()
                .await
        });
        names.insert(task.id(), (place, indexes));
    }
    let mut results: Vec<Option<Applied>> = batch.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, done)) => {
                for (i, outcome) in done {
                    results[i] = Some(outcome);
                }
            }
            // A task that panicked (a bug): its keys are named as failed, never dropped. Whether
            // their calls were sent is not known; their records say so to --resume.
            Err(e) => {
                if let Some(((account, region), indexes)) = names.remove(&e.id()) {
                    for i in indexes {
                        results[i] = Some(Applied::Ran(Err(Failure::Verify(format!(
                            "internal error while changing keys of account {account} in {region} (a bug: report it): {e}; check the key with aws kms get-key-rotation-status"
                        )))));
                    }
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Applied::Ran(Err(Failure::Verify(
                    "internal error: no result (a bug: report it)".into(),
                )))
            })
        })
        .collect()
}

/// Changes of one account-Region in flight at once: enough for its ceiling (15/s) when a change
/// and its verification take a quarter of a second.
const PLACE_IN_FLIGHT: usize = 4;

/// One key's change: recorded before the call, so that `--resume` never sends it twice; a key an
/// earlier run was about to change is only verified.
async fn change(
    applier: &Applier,
    target: &Target,
    state: Option<&State>,
    stop: &Stop,
    permits: &Semaphore,
) -> Applied {
    let verify_only = state.is_some_and(|s| s.was_enabling(&target.key));
    if !verify_only {
        applier.turn(target).await;
    }
    // Waited for here, not inside the SDK's call, whose attempt timeout would count the wait: an
    // attempt given up while KMS is carrying it out is retried, and the key changed twice.
    let Ok(_permit) = permits.acquire().await else {
        return Applied::Stopped;
    };
    if stop.is_set() {
        return Applied::Stopped;
    }
    let result = match state.filter(|_| !verify_only) {
        Some(s) => match s.record_enabling(&target.key) {
            Ok(()) => applier.apply(target, false).await,
            Err(e) => Err(Failure::Verify(format!("not sent: {e}"))),
        },
        None => applier.apply(target, verify_only).await,
    };
    Applied::Ran(result)
}

/// Whether the next batch runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirm {
    /// Ask before each batch (a terminal, without `--yes`).
    Each,
    /// Run every batch (`--yes`, or the answer "all").
    All,
    /// Stopped before this batch: it and those after it are not run.
    StoppedAt(usize),
}

impl Confirm {
    /// Ask before batch `n` when asking each. A prompt that cannot be read stops here; the
    /// batches already applied are still reported.
    fn before(&mut self, n: usize, total: usize, batch: &[Action], progress: &ProgressBar) {
        if *self == Self::Each {
            *self = progress
                .suspend(|| ask(n, total, batch))
                .unwrap_or_else(|e| {
                    eprintln!("\nerror: could not read the answer ({e}); stopping");
                    Self::StoppedAt(n)
                });
        }
    }
}

/// Ask the operator whether batch `n` runs, and the ones after it.
fn ask(n: usize, total: usize, actions: &[Action]) -> std::io::Result<Confirm> {
    let first = actions
        .first()
        .map(|a| format!(", first {}", a.target.key))
        .unwrap_or_default();
    let mut err = std::io::stderr().lock();
    write!(
        err,
        "batch {n}/{total}: {} key(s){first}. Apply? [y]es / [a]ll remaining / [n]o, stop: ",
        actions.len()
    )?;
    err.flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Ok(Confirm::StoppedAt(n));
    }
    Ok(match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Confirm::Each,
        "a" | "all" => Confirm::All,
        _ => Confirm::StoppedAt(n),
    })
}

/// What became of a candidate whose action ran.
fn applied(result: &Result<String, Failure>, c: &Candidate, period: i32) -> Outcome {
    match result {
        Ok(verified) => Outcome::Changed(format!("was {}; {verified}{}", c.fix, via(c))),
        Err(failure) => Outcome::Failed(format!("{}: {failure}", intent(c, period))),
    }
}

/// What is planned for a candidate, in words.
fn intent(c: &Candidate, period: i32) -> String {
    format!("{} -> enable rotation every {period} days{}", c.fix, via(c))
}

/// " (via its primary key ARN)" for a replica.
fn via(c: &Candidate) -> String {
    if c.via_primary() {
        format!(" (via its primary key {})", c.target.key)
    } else {
        String::new()
    }
}

/// The counts line printed after the results.
fn summary(report: &Report<Remediated>, args: &RemediateArgs, planned: &[Vec<Action>]) -> String {
    let count = |is: fn(&Outcome) -> bool| report.count(|r| is(&r.outcome));
    let already = count(|o| matches!(o, Outcome::AlreadyCompliant(_)));
    let skipped = count(|o| matches!(o, Outcome::Skipped(_)));
    let counts = ErrorCounts::of(&report.errors);
    let errors = counts.keys;
    let places = counts.places_note();
    if args.apply {
        format!(
            "remediate: {} changed, {} failed, {} not applied, {already} already compliant, {skipped} skipped, {errors} not evaluated (errors){places}",
            count(|o| matches!(o, Outcome::Changed(_))),
            count(|o| matches!(o, Outcome::Failed(_))),
            count(|o| matches!(o, Outcome::NotApplied(_))),
        )
    } else {
        let calls: usize = planned.iter().map(Vec::len).sum();
        format!(
            "remediate (plan only, nothing changed): {} key(s) to change with {calls} EnableKeyRotation call(s) in {} batch(es) of up to {}, {already} already compliant, {skipped} skipped, {errors} not evaluated (errors){places}. Run again with --apply to make the changes.",
            count(|o| matches!(o, Outcome::Planned { .. })),
            planned.len(),
            args.batch_size,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;
    use kms_rotation_core::decision::{Compliance, Reason, Verdict};

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

    fn row(outcome: Outcome) -> Remediated {
        Remediated {
            audited: Audited {
                account_id: "111122223333".into(),
                region: "us-east-1".into(),
                alias: Some("alias/app".into()),
                evaluation: KeyEvaluation {
                    key_id: "k1".into(),
                    facts: None,
                    verdict: Verdict::new(
                        Compliance::NonCompliant,
                        Reason::RotationOff,
                        "Automatic rotation is off.",
                    ),
                },
                evidence: None,
                last_use: None,
            },
            outcome,
            target: Some("arn:aws:kms:us-east-1:111122223333:key/k1".into()),
            exposure: Some(Classification {
                exposure: Exposure::Private,
                reason: "every Allow is limited to account 111122223333".into(),
            }),
            priority_tag: None,
        }
    }

    #[test]
    fn a_row_is_the_audits_json_line_and_what_became_of_the_key() {
        let planned = row(Outcome::Planned {
            batch: 2,
            change: "rotation off -> enable rotation every 365 days".into(),
        });
        assert_eq!(
            serde_json::to_string(&planned).unwrap(),
            r#"{"resourceId":"k1","arn":null,"accountId":"111122223333","region":"us-east-1","alias":"alias/app","complianceType":"NON_COMPLIANT","reason":"ROTATION_OFF","annotation":"Automatic rotation is off.","outcome":"planned","detail":"batch 2","batch":2,"target":"arn:aws:kms:us-east-1:111122223333:key/k1","exposure":"private","exposureReason":"every Allow is limited to account 111122223333","priorityTag":null}"#
        );
        // The table says what the batch will do.
        assert_eq!(
            planned.cells()[4..],
            [
                "planned",
                "private",
                "batch 2: rotation off -> enable rotation every 365 days"
            ]
        );
        // And why the key is where it is: its exposure, its priority tag.
        let mut public = planned.clone();
        public.exposure = Some(Classification {
            exposure: Exposure::Public,
            reason: "Statement[1]: Principal \"*\" (any principal)".into(),
        });
        public.priority_tag = Some("env=prod".into());
        assert_eq!(
            public.cells()[5..],
            [
                "public",
                "batch 2 (public: Statement[1]: Principal \"*\" (any principal); tag env=prod): rotation off -> enable rotation every 365 days"
            ]
        );
        let json: serde_json::Value = serde_json::to_value(&public).unwrap();
        assert_eq!(
            (&json["exposure"], &json["priorityTag"]),
            (&"public".into(), &"env=prod".into())
        );
        let failed = row(Outcome::Failed("it broke".into()));
        let json: serde_json::Value = serde_json::to_value(&failed).unwrap();
        assert_eq!(
            (&json["outcome"], &json["batch"]),
            (&"failed".into(), &serde_json::Value::Null)
        );
    }

    /// KMS in us-east-1 answered by these mock rules (a request no rule matches fails).
    fn mocked_kms(rules: &[&aws_smithy_mocks::Rule]) -> KmsRegion {
        use aws_smithy_mocks::{mock_client, RuleMode};
        let client = mock_client!(aws_sdk_kms, RuleMode::MatchAny, rules);
        KmsRegion {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            reader: KmsReader::new(client.clone(), &RuleParameters::default()),
            client,
        }
    }

    #[tokio::test]
    #[allow(
        clippy::too_many_lines,
        reason = "one scenario read top to bottom: the mocked policies and tags of five keys, then the plan's order they give"
    )]
    async fn the_plan_puts_public_then_cross_account_then_unknown_then_tagged_keys_first() {
        use aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput;
        use aws_sdk_kms::operation::list_resource_tags::ListResourceTagsOutput;
        use aws_sdk_kms::types::Tag;
        use aws_smithy_mocks::mock;
        use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;

        const ACCOUNT: &str = "111122223333";
        let statement = |principal: serde_json::Value| {
            serde_json::json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": principal, "Action": "kms:*", "Resource": "*"
            }]})
            .to_string()
        };
        let policies = [
            (
                "a-plain",
                statement(serde_json::json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:root")})),
            ),
            (
                "b-tagged",
                statement(serde_json::json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:root")})),
            ),
            (
                "c-cross",
                statement(serde_json::json!({"AWS": "arn:aws:iam::444455556666:role/Partner"})),
            ),
            ("d-public", statement(serde_json::json!("*"))),
        ];
        let policy_rules: Vec<aws_smithy_mocks::Rule> = policies
            .into_iter()
            .map(|(id, policy)| {
                mock!(aws_sdk_kms::Client::get_key_policy)
                    .match_requests(move |r| {
                        r.key_id() == Some(id) && r.policy_name() == Some("default")
                    })
                    .then_output(move || {
                        GetKeyPolicyOutput::builder().policy(policy.clone()).build()
                    })
            })
            .collect();
        let denied = mock!(aws_sdk_kms::Client::get_key_policy)
            .match_requests(|r| r.key_id() == Some("e-denied"))
            .then_http_response(|| {
                HttpResponse::new(
                    StatusCode::try_from(400).unwrap(),
                    SdkBody::from(r#"{"__type":"AccessDeniedException","message":"not authorized to perform: kms:GetKeyPolicy"}"#),
                )
            });
        let tags = mock!(aws_sdk_kms::Client::list_resource_tags)
            .match_requests(|r| r.key_id() != Some("z-compliant"))
            .then_compute_output(|r| {
                let tags = if r.key_id() == Some("b-tagged") {
                    vec![Tag::builder()
                        .tag_key("env")
                        .tag_value("prod")
                        .build()
                        .unwrap()]
                } else {
                    Vec::new()
                };
                ListResourceTagsOutput::builder()
                    .set_tags(Some(tags))
                    .truncated(false)
                    .build()
            });
        let mut rules: Vec<&aws_smithy_mocks::Rule> = policy_rules.iter().collect();
        rules.extend([&denied, &tags]);
        let regions = BTreeMap::from([(
            ("111122223333".to_owned(), "us-east-1".to_owned()),
            mocked_kms(&rules),
        )]);

        let audited = |id: &str, compliance: Compliance, reason: Reason| Audited {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            alias: None,
            evaluation: KeyEvaluation {
                key_id: id.into(),
                facts: Some(
                    kms_rotation_core::decision::KeyFacts::sample(id)
                        .with_arn(format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{id}")),
                ),
                verdict: Verdict::new(compliance, reason, "annotation"),
            },
            evidence: None,
            last_use: None,
        };
        let off = |id: &str| audited(id, Compliance::NonCompliant, Reason::RotationOff);
        let keys = vec![
            off("a-plain"),
            off("b-tagged"),
            off("c-cross"),
            off("d-public"),
            off("e-denied"),
            // Not a candidate: neither its tags nor its policy are read (no rule answers them).
            audited("z-compliant", Compliance::Compliant, Reason::RotationOn),
        ];

        let reads = Reads {
            max_period: None,
            organization_id: None,
            last_use: None,
        };
        let triaged = triage(&regions, keys, reads, 64).await;
        assert!(triaged.errors.is_empty(), "{:?}", triaged.errors);
        let tags = [PriorityTag::new("env", "prod")];
        let planned = batches(plan(triaged.candidates(), &tags), 2);
        let rows = show_plan(&planned, &triaged, 365, &tags);

        let order: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r.audited.evaluation.key_id.as_str(),
                    r.exposure.as_ref().unwrap().exposure.as_str(),
                )
            })
            .collect();
        assert_eq!(
            order,
            [
                ("d-public", "public"),
                ("c-cross", "cross_account"),
                ("e-denied", "unknown"),
                ("b-tagged", "private"),
                ("a-plain", "private"),
            ]
        );
        let unknown = &rows[2];
        assert!(
            unknown
                .exposure
                .as_ref()
                .unwrap()
                .reason
                .contains("access denied on kms:GetKeyPolicy"),
            "{unknown:?}"
        );
        assert_eq!(rows[3].priority_tag.as_deref(), Some("env=prod"));
        assert!(rows[0].cells()[6].starts_with("batch 1 (public: Statement[0]: Principal \"*\""));
        assert!(rows[1].cells()[6].contains("of account 444455556666"));
        assert_eq!(
            rows[4].cells()[6],
            "batch 3: rotation off -> enable rotation every 365 days"
        );
        assert_eq!(triaged.done.len(), 1);
        assert!(triaged.done[0].exposure.is_none());
    }

    #[test]
    fn failed_and_not_applied_keys_are_findings() {
        let report = |outcome: Outcome| Report {
            rows: vec![row(Outcome::AlreadyCompliant("on".into())), row(outcome)],
            errors: Vec::new(),
        };
        assert_eq!(report(Outcome::Failed("x".into())).exit(), Exit::Findings);
        assert_eq!(
            report(Outcome::NotApplied("x".into())).exit(),
            Exit::Findings
        );
        assert_eq!(report(Outcome::Changed("x".into())).exit(), Exit::Clean);
        assert_eq!(report(Outcome::Skipped("x".into())).exit(), Exit::Clean);
    }
}

#[cfg(test)]
#[path = "remediate_org_tests.rs"]
mod org_tests;
