//! The rule: one Config invocation, from the parsed event to PutEvaluations.
//!
//! Change events decide one key from its configuration item; periodic runs list every key and
//! evaluate them concurrently, sending full batches of 100 while evaluation goes on. A key that
//! could not be evaluated is never reported as anything: the invocation fails naming it, after the
//! keys that did succeed have been sent, so Config retries.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use thiserror::Error;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::arn::Arn;
use crate::clients::{AssumeRoleError, Clients};
use crate::config::{ConfigError, ConfigService, Evaluation, MAX_BATCH};
use crate::decision::{Compliance, NoKey, Reason, RotationStatus};
use crate::evaluate::{
    evaluate_facts, evaluate_listed, evaluate_listed_key_gathered, AwsManagedKeys, Gathered,
    KeyEvaluation, Listed, Prior,
};
use crate::event::{ConfigurationItem, EventError, Invocation, Message, KMS_KEY};
use crate::exception::ExceptionTag;
use crate::kms::{Described, KmsError, KmsReader, MAX_PAGE_SIZE};
use crate::notice::{KeyPlace, Notice, NoticeOutcome, Notifier, SENT_BY_RULE};
use crate::params::RuleParameters;

/// The environment variable that sets the ListKeys page size (1..=1000, default 1000). Only tests
/// and emulators need it: a smaller page makes paging visible on a small account.
pub const PAGE_SIZE_VARIABLE: &str = "KMS_ROTATION_LIST_KEYS_PAGE_SIZE";

/// How the rule runs; the defaults are the Lambda's.
#[derive(Debug, Clone)]
pub struct Options {
    /// ListKeys page size.
    pub page_size: i32,
    /// Keys evaluated at once in a periodic run.
    pub concurrency: usize,
    /// Stop starting keys when less than this is left before the Lambda's deadline (the handler
    /// uses at most a quarter of the invocation's time as the margin).
    pub deadline_margin: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            page_size: MAX_PAGE_SIZE,
            concurrency: 64,
            deadline_margin: Duration::from_secs(10),
        }
    }
}

/// What an invocation sent to Config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub evaluations: usize,
    pub compliant: usize,
    pub non_compliant: usize,
    pub not_applicable: usize,
    pub put_evaluations_calls: usize,
    /// The exception notices of a periodic run, when `exceptionNoticeDays` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notices: Option<NoticeOutcome>,
}

impl Outcome {
    fn count(&mut self, compliance: Compliance) {
        self.evaluations += 1;
        match compliance {
            Compliance::Compliant => self.compliant += 1,
            Compliance::NonCompliant => self.non_compliant += 1,
            Compliance::NotApplicable => self.not_applicable += 1,
        }
    }
}

/// Why an invocation failed. Config retries a failed invocation.
#[derive(Debug, Error)]
pub enum RuleError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    AssumeRole(#[from] AssumeRoleError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Incomplete(Incomplete),
}

impl RuleError {
    /// A short, stable name for the Lambda runtime's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Event(EventError::Parameters(_)) => "InvalidRuleParameters",
            Self::Event(_) => "InvalidEvent",
            Self::AssumeRole(_) => "AssumeRoleFailed",
            Self::Config(_) => "ConfigCallFailed",
            Self::Incomplete(_) => "KeysNotEvaluated",
        }
    }
}

/// Keys left without an evaluation in Config, each with why.
#[derive(Debug, Default)]
pub struct Incomplete {
    /// Keys whose KMS calls failed after retries.
    pub failed: Vec<KmsError>,
    /// Keys not started before the Lambda's deadline.
    pub not_started: Vec<String>,
    /// The listing of keys broke off: more keys may exist that were never seen.
    pub listing: Option<KmsError>,
    /// Evaluations that Config did not take.
    pub unsent: Vec<ConfigError>,
    /// What did reach Config.
    pub outcome: Outcome,
}

impl Incomplete {
    fn is_empty(&self) -> bool {
        self.failed.is_empty()
            && self.not_started.is_empty()
            && self.listing.is_none()
            && self.unsent.is_empty()
    }
}

/// The first items of a list and how many more there are.
fn first_of(items: impl ExactSizeIterator<Item = String>) -> String {
    const SHOWN: usize = 20;
    let more = items.len().saturating_sub(SHOWN);
    let shown: Vec<String> = items.take(SHOWN).collect();
    match more {
        0 => shown.join("; "),
        _ => format!("{}; and {more} more", shown.join("; ")),
    }
}

impl std::fmt::Display for Incomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.failed.is_empty() {
            parts.push(format!(
                "{} key(s) could not be evaluated and were not reported: {}",
                self.failed.len(),
                first_of(self.failed.iter().map(ToString::to_string))
            ));
        }
        if !self.not_started.is_empty() {
            parts.push(format!(
                "{} key(s) not evaluated: the Lambda's deadline was near (raise the function timeout): {}",
                self.not_started.len(),
                first_of(self.not_started.iter().cloned())
            ));
        }
        if let Some(e) = &self.listing {
            parts.push(format!(
                "listing the keys broke off ({e}): every key listed before it was evaluated or is named here; keys after it were never seen"
            ));
        }
        for e in &self.unsent {
            parts.push(e.to_string());
        }
        write!(
            f,
            "{}. {} evaluation(s) were sent; Config retries the rest on its next invocation.",
            parts.join(". "),
            self.outcome.evaluations
        )
    }
}

/// Handle one invocation. Periodic runs start no key after `stop_at`.
#[tracing::instrument(skip_all, fields(account = %inv.account_id, rule = inv.config_rule_name.as_deref().unwrap_or("")))]
pub async fn run(
    inv: &Invocation,
    clients: &Clients,
    stop_at: Option<Instant>,
    opts: &Options,
) -> Result<Outcome, RuleError> {
    let clients = match &inv.parameters.execution_role_name {
        Some(name) => {
            let role = format!("role/{name}");
            let role_arn = Arn::iam(inv.partition(), &inv.account_id, &role).to_string();
            clients.assume_role(&role_arn).await?
        }
        None => clients.clone(),
    };
    let kms = KmsReader::new(clients.kms.clone(), &inv.parameters).with_page_size(opts.page_size);
    let notifier = Notifier::new(clients.events.clone());
    let config = ConfigService::new(clients.config.clone(), inv.result_token.clone());
    match &inv.message {
        Message::Change(item) => {
            let evaluation = change(inv, &kms, item, item.capture_time).await?;
            send_one(&config, evaluation).await
        }
        Message::Oversized(summary) => {
            let own = |verdict| {
                evaluation(
                    &summary.resource_type,
                    &summary.resource_id,
                    verdict,
                    summary.capture_time,
                )
            };
            let evaluation = if inv.event_left_scope {
                own(NoKey::LeftScope.verdict())
            } else if summary.resource_type != KMS_KEY {
                // Not a key: nothing to fetch, and the evaluation names the item's own type.
                own(NoKey::ResourceType(summary.resource_type.clone()).verdict())
            } else {
                match config.latest_item(KMS_KEY, &summary.resource_id).await? {
                    Some(item) => change(inv, &kms, &item, summary.capture_time).await?,
                    None => own(NoKey::NotRecorded.verdict()),
                }
            };
            send_one(&config, evaluation).await
        }
        Message::Scheduled {
            notification_creation_time,
        } => {
            periodic(
                inv,
                &kms,
                &config,
                &notifier,
                *notification_creation_time,
                stop_at,
                opts,
            )
            .await
        }
    }
}

fn evaluation(
    resource_type: &str,
    resource_id: &str,
    verdict: crate::decision::Verdict,
    at: DateTime<Utc>,
) -> Evaluation {
    Evaluation {
        resource_type: resource_type.to_owned(),
        resource_id: resource_id.to_owned(),
        verdict,
        ordering_timestamp: at,
    }
}

async fn send_one(config: &ConfigService, evaluation: Evaluation) -> Result<Outcome, RuleError> {
    let mut outcome = Outcome::default();
    config
        .put_evaluations(std::slice::from_ref(&evaluation))
        .await?;
    outcome.count(evaluation.verdict.compliance);
    outcome.put_evaluations_calls = 1;
    tracing::info!(
        resource_id = %evaluation.resource_id,
        compliance = %evaluation.verdict.compliance,
        annotation = %evaluation.verdict.annotation,
        "evaluated"
    );
    Ok(outcome)
}

/// Decide one key from its configuration item, calling KMS only for what the item lacks.
async fn change(
    inv: &Invocation,
    kms: &KmsReader,
    item: &ConfigurationItem,
    at: DateTime<Utc>,
) -> Result<Evaluation, RuleError> {
    let no_key = if inv.event_left_scope {
        Some(NoKey::LeftScope)
    } else if !item.is_live() {
        Some(NoKey::ItemStatus(item.status.as_str().to_owned()))
    } else if item.resource_type != KMS_KEY {
        Some(NoKey::ResourceType(item.resource_type.clone()))
    } else {
        None
    };
    if let Some(no_key) = no_key {
        return Ok(evaluation(
            &item.resource_type,
            &item.resource_id,
            no_key.verdict(),
            at,
        ));
    }
    let params = &inv.parameters;
    let today = Utc::now().date_naive();
    let failed = |e: KmsError| {
        RuleError::Incomplete(Incomplete {
            failed: vec![e],
            ..Default::default()
        })
    };
    let verdict = match item.key_facts() {
        Some(facts) => {
            // The item records the key's tags, so no ListResourceTags is needed.
            let prior = Prior {
                rotation: item
                    .rotation_enabled()
                    .and_then(RotationStatus::from_recorded_flag),
                exception: Some(ExceptionTag::from_tags(
                    &params.exception_tag_key,
                    item.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )),
            };
            evaluate_facts(kms, &facts, prior, params, today)
                .await
                .map_err(failed)?
        }
        None => match kms.describe_key(&item.resource_id).await.map_err(failed)? {
            Described::Key(facts) => evaluate_facts(kms, &facts, Prior::default(), params, today)
                .await
                .map_err(failed)?,
            Described::NotFound => NoKey::KeyNotFound.verdict(),
            Described::AccessDenied(msg) => NoKey::DescribeDenied(msg).verdict(),
        },
    };
    Ok(evaluation(KMS_KEY, &item.resource_id, verdict, at))
}

enum KeyResult {
    /// The key's evaluation, and the notice its exception is due, if any.
    Evaluated(Evaluation, Option<Box<Notice>>),
    Failed(KmsError),
    NotStarted(String),
}

/// Evaluate every key in the account and Region.
async fn periodic(
    inv: &Invocation,
    kms: &KmsReader,
    config: &ConfigService,
    notifier: &Notifier,
    at: DateTime<Utc>,
    stop_at: Option<Instant>,
    opts: &Options,
) -> Result<Outcome, RuleError> {
    let params = &inv.parameters;
    let today = Utc::now().date_naive();
    // Config keeps nothing under TestMode, so there is no earlier result to clean up.
    let cleanup_rule = inv
        .config_rule_name
        .as_deref()
        .filter(|_| !inv.result_token.is_test_mode());
    let (tx, rx) = mpsc::channel::<Evaluation>(MAX_BATCH * 2);
    let (aws_managed, learning) = learn_aws_managed(kms);
    let aws_managed = &aws_managed;

    let produce = async move {
        let mut sent = Sent {
            tx,
            incomplete: Incomplete::default(),
            writer_gone: Vec::new(),
            notices: Vec::new(),
        };
        let mut seen = HashSet::new();
        let near_deadline = || stop_at.is_some_and(|t| Instant::now() >= t);
        {
            let mut results = std::pin::pin!(evaluate_listed(kms, opts.concurrency, |key_id| {
                if cleanup_rule.is_some() {
                    seen.insert(key_id.clone());
                }
                async move {
                    if near_deadline() {
                        return KeyResult::NotStarted(key_id);
                    }
                    match evaluate_listed_key_gathered(kms, &key_id, aws_managed, params, today)
                        .await
                    {
                        Ok((e, gathered)) => {
                            let notice =
                                notice_for(inv, kms, &e, &gathered, params, today).map(Box::new);
                            KeyResult::Evaluated(
                                evaluation(KMS_KEY, &e.key_id, e.verdict, at),
                                notice,
                            )
                        }
                        Err(e) => KeyResult::Failed(e),
                    }
                }
            }));
            // Read to the end even after the listing broke: the keys already listed are still
            // in flight, and each is sent or named.
            while let Some(listed) = results.next().await {
                sent.record(listed).await;
            }
        }
        if let (Some(rule), None) = (cleanup_rule, &sent.incomplete.listing) {
            sent.clean_up_deleted(config, rule, &seen, at).await;
        }
        sent.finish()
    };
    let write = write_batches(config, rx);
    let ((mut incomplete, notices), (outcome, unsent)) = tokio::join!(produce, write);
    learning.abort();
    incomplete.outcome = outcome;
    if params.exception_notice_days.is_some() {
        let margin = opts.deadline_margin / 2;
        incomplete.outcome.notices = Some(send_notices(notifier, &notices, stop_at, margin).await);
    }
    for id in unsent.iter().flat_map(ConfigError::unsent) {
        tracing::warn!(key_id = %id, reason = "not_taken_by_config", "key not evaluated");
    }
    incomplete.unsent.extend(unsent);
    log_totals(&incomplete, kms);
    if incomplete.is_empty() {
        Ok(incomplete.outcome)
    } else {
        Err(RuleError::Incomplete(incomplete))
    }
}

/// Read the account's aliases beside the keys, not before them: the keys listed before they are
/// known are described as usual, so reading them never delays the run. The task is aborted when
/// the run is over.
fn learn_aws_managed(kms: &KmsReader) -> (AwsManagedKeys, tokio::task::JoinHandle<()>) {
    let aws_managed = AwsManagedKeys::default();
    let learning = tokio::spawn({
        let (kms, known) = (kms.clone(), aws_managed.clone());
        async move {
            match known.learn(&kms).await {
                Ok(n) => tracing::debug!(
                    aws_managed = n,
                    "aliases read: AWS managed keys need no DescribeKey"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "aliases not read: every key is described (grant kms:ListAliases to skip DescribeKey for AWS managed keys)")
                }
            }
        }
    });
    (aws_managed, learning)
}

/// The producer's side of a periodic run: evaluations handed to the writer, and the keys left
/// without one.
struct Sent {
    tx: mpsc::Sender<Evaluation>,
    incomplete: Incomplete,
    /// Evaluations the writer was gone before it could take.
    writer_gone: Vec<String>,
    /// The notices due, sent when the evaluations are.
    notices: Vec<Notice>,
}

impl Sent {
    /// Hand an evaluation to the writer.
    async fn send(&mut self, evaluation: Evaluation) {
        if let Err(mpsc::error::SendError(e)) = self.tx.send(evaluation).await {
            self.writer_gone.push(e.resource_id);
        }
    }

    /// One key's result (or the listing's break): sent to the writer, or named in `incomplete`.
    async fn record(&mut self, listed: Listed<KeyResult>) {
        match listed {
            Listed::Key(KeyResult::Evaluated(e, notice)) => {
                self.notices.extend(notice.map(|n| *n));
                self.send(e).await
            }
            Listed::Key(KeyResult::Failed(e)) => {
                tracing::warn!(key_id = %e.key_id, reason = "kms_error", error = %e, "key not evaluated");
                self.incomplete.failed.push(e);
            }
            Listed::Key(KeyResult::NotStarted(key_id)) => {
                tracing::warn!(key_id = %key_id, reason = "deadline", "key not evaluated");
                self.incomplete.not_started.push(key_id);
            }
            Listed::ListingBroke(e) => {
                tracing::error!(error = %e, "ListKeys failed; the keys already listed are finished");
                self.incomplete.listing = Some(e);
            }
        }
    }

    /// The keys the rule evaluated before and that are not listed now were deleted: each is
    /// sent as not found, so its earlier result does not stay in Config.
    async fn clean_up_deleted(
        &mut self,
        config: &ConfigService,
        rule: &str,
        seen: &HashSet<String>,
        at: DateTime<Utc>,
    ) {
        match config.evaluated_resource_ids(rule).await {
            Ok(ids) => {
                for id in ids.into_iter().filter(|id| !seen.contains(id)) {
                    let gone = evaluation(KMS_KEY, &id, NoKey::KeyNotFound.verdict(), at);
                    self.send(gone).await;
                }
            }
            // The clean-up is housekeeping: the keys themselves were all evaluated.
            Err(e) => tracing::warn!(error = %e, "clean-up of deleted keys skipped"),
        }
    }

    /// Close the writer's channel; the keys whose evaluations it did not take are unsent. With
    /// the notices due.
    fn finish(self) -> (Incomplete, Vec<Notice>) {
        let Self {
            tx,
            mut incomplete,
            writer_gone,
            notices,
        } = self;
        drop(tx);
        if !writer_gone.is_empty() {
            incomplete.unsent.push(ConfigError::Api {
                operation: "PutEvaluations",
                message: "the writer stopped before these evaluations were handed to it".into(),
                code: None,
                resource_ids: writer_gone,
            });
        }
        (incomplete, notices)
    }
}

/// The notice a key's exception is due under `exceptionNoticeDays`: only for an exception its
/// verdict rests on (rotation off: valid or expired), so an exception on a key that rotates,
/// which changes nothing, sends none.
fn notice_for(
    inv: &Invocation,
    kms: &KmsReader,
    e: &KeyEvaluation,
    gathered: &Gathered,
    params: &RuleParameters,
    today: chrono::NaiveDate,
) -> Option<Notice> {
    let within_days = params.exception_notice_days?;
    if !matches!(
        e.verdict.reason,
        Reason::ExceptionValid | Reason::ExceptionExpired
    ) {
        return None;
    }
    let Some(ExceptionTag::Present(exception)) = &gathered.exception else {
        return None;
    };
    // DescribeKey gives the key's ARN; without it, the invocation's account and the client's Region.
    let region = kms.client().config().region().map(ToString::to_string);
    let arn_text = e
        .facts
        .as_ref()
        .and_then(|f| f.arn.clone())
        .unwrap_or_else(|| {
            crate::arn::kms_key_arn(
                inv.partition(),
                region.as_deref().unwrap_or_default(),
                &inv.account_id,
                &e.key_id,
            )
        });
    let arn = Arn::parse(&arn_text).ok();
    let place = KeyPlace {
        key_id: &e.key_id,
        key_arn: &arn_text,
        account_id: arn.as_ref().map_or(inv.account_id.as_str(), |a| a.account),
        region: arn
            .as_ref()
            .map(|a| a.region)
            .or(region.as_deref())
            .unwrap_or_default(),
    };
    Notice::due(
        place,
        exception,
        &params.exception_tag_key,
        today,
        within_days,
        SENT_BY_RULE,
    )
    .map(|n| n.with_verdict(e.verdict.compliance, &e.verdict.annotation))
}

/// Send the run's notices after its evaluations, within the Lambda's time: none is started
/// after `stop_at`, and sending gives up `margin` after it. What is not sent is logged and
/// counted; the evaluations are already with Config whatever happens here.
async fn send_notices(
    notifier: &Notifier,
    notices: &[Notice],
    stop_at: Option<Instant>,
    margin: Duration,
) -> NoticeOutcome {
    let unsent = |why: &str| {
        for n in notices {
            tracing::warn!(key_id = %n.key_id, reason = why, "exception notice not sent");
        }
        NoticeOutcome {
            sent: 0,
            failed: notices.len(),
        }
    };
    match stop_at {
        None => notifier.send(notices).await,
        Some(t) if Instant::now() >= t => unsent("deadline"),
        Some(t) => match tokio::time::timeout_at(t + margin, notifier.send(notices)).await {
            Ok(outcome) => outcome,
            // Which ones EventBridge took is not known: none is counted as sent.
            Err(_) => unsent("deadline"),
        },
    }
}

/// Log a periodic run's totals.
fn log_totals(incomplete: &Incomplete, kms: &KmsReader) {
    tracing::info!(
        evaluations = incomplete.outcome.evaluations,
        compliant = incomplete.outcome.compliant,
        non_compliant = incomplete.outcome.non_compliant,
        not_applicable = incomplete.outcome.not_applicable,
        failed = incomplete.failed.len(),
        not_started = incomplete.not_started.len(),
        throttled_attempts = ?kms.throttles(),
        "periodic evaluation finished"
    );
}

/// PutEvaluations calls in flight at once. Config's API Reference documents no request rate for
/// PutEvaluations that this project could find (docs/performance.md, "The writer"), so the bound
/// is small and a ThrottlingException is left to the SDK's retries with backoff.
const WRITERS: usize = 8;

/// Send evaluations as they come, in full batches of 100 and one last partial batch, up to
/// [`WRITERS`] batches in flight: a batch that waits on its retries (FailedEvaluations, a 5xx)
/// waits on its own while the next ones are sent, so the producer is never held up by one refused
/// batch. A batch that Config refuses does not stop the ones after it.
async fn write_batches(
    config: &ConfigService,
    mut rx: mpsc::Receiver<Evaluation>,
) -> (Outcome, Vec<ConfigError>) {
    let mut outcome = Outcome::default();
    let mut errors = Vec::new();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut in_flight: futures::stream::FuturesUnordered<Sending<'_>> =
        futures::stream::FuturesUnordered::new();
    let mut received_all = false;
    loop {
        tokio::select! {
            // Finished calls first, so that a slot is free as soon as possible.
            biased;
            Some((sent, result)) = in_flight.next(), if !in_flight.is_empty() => {
                settle(&mut outcome, &mut errors, &sent, result);
            }
            next = rx.recv(), if !received_all && in_flight.len() < WRITERS => {
                match next {
                    Some(e) => batch.push(e),
                    None => received_all = true,
                }
                if batch.len() == MAX_BATCH || (received_all && !batch.is_empty()) {
                    outcome.put_evaluations_calls += 1;
                    in_flight.push(Box::pin(send_batch(config, std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(MAX_BATCH),
                    ))));
                }
            }
            else => return (outcome, errors),
        }
    }
}

/// A batch on its way: it comes back with its result.
type Sending<'a> = futures::future::BoxFuture<'a, (Vec<Evaluation>, Result<(), ConfigError>)>;

/// One batch, sent (with its retries); the batch comes back with the result.
async fn send_batch(
    config: &ConfigService,
    batch: Vec<Evaluation>,
) -> (Vec<Evaluation>, Result<(), ConfigError>) {
    let result = config.put_evaluations(&batch).await;
    (batch, result)
}

/// Count what a PutEvaluations call's batch became: taken, or named in the error.
fn settle(
    outcome: &mut Outcome,
    errors: &mut Vec<ConfigError>,
    batch: &[Evaluation],
    result: Result<(), ConfigError>,
) {
    match result {
        Ok(()) => batch
            .iter()
            .for_each(|e| outcome.count(e.verdict.compliance)),
        Err(e) => {
            let unsent = e.unsent();
            let unsent: HashSet<&str> = unsent.iter().map(String::as_str).collect();
            batch
                .iter()
                .filter(|ev| !unsent.contains(ev.resource_id.as_str()))
                .for_each(|ev| outcome.count(ev.verdict.compliance));
            errors.push(e);
        }
    }
}
