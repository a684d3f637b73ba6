//! A simulated AWS endpoint for the benchmark: KMS (`TrentService.*`) and Config
//! (`StarlingDoveService.*`) over the AWS JSON 1.1 protocol, one account of N keys, a fixed
//! latency on every answer, per-API token buckets at the account's request quotas that answer
//! `ThrottlingException` when empty, and an optional share of KMS calls throttled at random
//! (seeded). It counts every HTTP attempt per API and records, per key, what ListKeys handed out
//! and which evaluations Config took, checking each against the key's expected verdict under the
//! rule parameters of the run.
//!
//! Faults ([`Faults`]), each deterministic: ListKeys refused from a chosen page on, a seeded share
//! of evaluations listed in FailedEvaluations (once, or on every attempt), chosen PutEvaluations
//! calls failed whole (retried by the SDK, or not), and a clean-up read
//! (GetComplianceDetailsByConfigRule) that answers the ids of the account's evaluated keys and of
//! keys deleted since.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kms_rotation::params::{RuleParameters, DEFAULT_EXCEPTION_TAG_KEY};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// Where the account also keeps a valid-looking exception on its rotation-off keys: a tag the
/// rule must ignore, because it is not the configured `exceptionTagKey`.
const DECOY_TAG_KEY: &str = "rotation-waiver";

/// The APIs the simulation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    ListKeys,
    DescribeKey,
    GetKeyRotationStatus,
    ListResourceTags,
    PutEvaluations,
    GetComplianceDetailsByConfigRule,
}

impl Api {
    pub const ALL: [Api; 6] = [
        Api::ListKeys,
        Api::DescribeKey,
        Api::GetKeyRotationStatus,
        Api::ListResourceTags,
        Api::PutEvaluations,
        Api::GetComplianceDetailsByConfigRule,
    ];
    pub const KMS: [Api; 4] = [
        Api::ListKeys,
        Api::DescribeKey,
        Api::GetKeyRotationStatus,
        Api::ListResourceTags,
    ];

    fn from_target(target: &str) -> Option<Self> {
        Some(match target {
            "TrentService.ListKeys" => Api::ListKeys,
            "TrentService.DescribeKey" => Api::DescribeKey,
            "TrentService.GetKeyRotationStatus" => Api::GetKeyRotationStatus,
            "TrentService.ListResourceTags" => Api::ListResourceTags,
            "StarlingDoveService.PutEvaluations" => Api::PutEvaluations,
            "StarlingDoveService.GetComplianceDetailsByConfigRule" => {
                Api::GetComplianceDetailsByConfigRule
            }
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Api::ListKeys => "ListKeys",
            Api::DescribeKey => "DescribeKey",
            Api::GetKeyRotationStatus => "GetKeyRotationStatus",
            Api::ListResourceTags => "ListResourceTags",
            Api::PutEvaluations => "PutEvaluations",
            Api::GetComplianceDetailsByConfigRule => "GetComplianceDetailsByConfigRule",
        }
    }

    fn is_kms(self) -> bool {
        Api::KMS.contains(&self)
    }

    fn index(self) -> usize {
        Api::ALL.iter().position(|a| *a == self).unwrap_or(0)
    }

    /// The default account quota (KMS developer guide); Config's calls are not limited here.
    pub fn account_quota(self) -> Option<f64> {
        match self {
            Api::ListKeys => Some(500.0),
            Api::DescribeKey => Some(2000.0),
            Api::GetKeyRotationStatus => Some(1000.0),
            Api::ListResourceTags => Some(2000.0),
            _ => None,
        }
    }
}

/// What a key is. Key `i` is of kind `Kind::of(i)`: a fixed mix, repeated every 100 keys, so any
/// prefix of the account (the sequential sample) has the same mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AwsManaged,
    RotationOn,
    RotationOff,
    ExceptionValid,
    ExceptionExpired,
    Asymmetric,
    Hmac,
    Disabled,
    PendingDeletion,
    Imported,
    Replica,
}

impl Kind {
    pub fn of(i: usize) -> Self {
        match i % 100 {
            0..=19 => Kind::AwsManaged, // 20%: aws/s3, aws/ebs, ... in any real account
            20..=79 => Kind::RotationOn, // 60%
            80..=87 => Kind::RotationOff, // 8%
            88 => Kind::ExceptionValid, // 1%
            89 => Kind::ExceptionExpired, // 1%
            90..=93 => Kind::Asymmetric, // 4%
            94..=95 => Kind::Hmac,      // 2%
            96 => Kind::Disabled,       // 1%
            97 => Kind::PendingDeletion, // 1%
            98 => Kind::Imported,       // 1%
            _ => Kind::Replica,         // 1%, rotation on (set on its primary)
        }
    }

    fn rotation_on(self) -> bool {
        matches!(self, Kind::RotationOn | Kind::Replica | Kind::Disabled)
    }
}

/// The rotation period of key `i`, when its rotation is on: most keys rotate yearly, 5% every 180
/// days and 5% every 730 (so that `maxRotationPeriodInDays` has keys on both sides of it).
pub fn rotation_period(i: usize) -> i32 {
    match i % 100 {
        70..=74 => 180,
        75..=79 => 730,
        _ => 365,
    }
}

const COMPLIANT: &str = "COMPLIANT";
const NON_COMPLIANT: &str = "NON_COMPLIANT";
const NOT_APPLICABLE: &str = "NOT_APPLICABLE";

/// The account: `keys` live keys (indices `0..keys`) and `deleted` keys deleted since the last
/// run (indices `keys..keys + deleted`: ListKeys does not list them, KMS answers NotFound), and
/// the rule parameters the run was given.
#[derive(Debug, Clone)]
pub struct Account {
    pub keys: usize,
    pub deleted: usize,
    pub params: RuleParameters,
}

impl Account {
    pub fn is_live(&self, i: usize) -> bool {
        i < self.keys
    }

    /// Every id the run can evaluate: the live keys, then the deleted ones.
    pub fn ids(&self) -> usize {
        self.keys + self.deleted
    }

    /// The verdict the rule must give key `i`, written from the key's kind and the parameters
    /// (docs/decision-table.md), not with the rule's own code.
    pub fn expected(&self, i: usize) -> &'static str {
        if !self.is_live(i) {
            // Deleted since: the clean-up reports it NOT_APPLICABLE ("Key no longer exists").
            return NOT_APPLICABLE;
        }
        let p = &self.params;
        let rotating = || match p.max_rotation_period_in_days {
            Some(max) if rotation_period(i) > max => NON_COMPLIANT,
            _ => COMPLIANT,
        };
        match Kind::of(i) {
            Kind::AwsManaged
            | Kind::PendingDeletion
            | Kind::Asymmetric
            | Kind::Hmac
            | Kind::Imported
            | Kind::ExceptionValid => NOT_APPLICABLE,
            Kind::Disabled if !p.evaluate_disabled_keys => NOT_APPLICABLE,
            Kind::Disabled | Kind::RotationOn | Kind::Replica => rotating(),
            Kind::RotationOff | Kind::ExceptionExpired => NON_COMPLIANT,
        }
    }

    /// The tag key the rule must not read as an exception.
    fn decoy_tag_key(&self) -> &'static str {
        if self.params.exception_tag_key == DECOY_TAG_KEY {
            DEFAULT_EXCEPTION_TAG_KEY
        } else {
            DECOY_TAG_KEY
        }
    }
}

pub fn key_id(i: usize) -> String {
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    format!("{:08x}{ID_INFIX}{i:012x}", h as u32)
}

/// The fixed middle of every simulated key id.
const ID_INFIX: &str = "-4b1d-4c0e-8a5e-";

/// The index of a simulated key id (or of a key ARN ending in one).
pub fn key_index(id: &str) -> Option<usize> {
    let id = id.rsplit('/').next()?;
    let (_, tail) = id.rsplit_once('-')?;
    let i = usize::from_str_radix(tail, 16).ok()?;
    (key_id(i) == id).then_some(i)
}

/// The indices of every simulated key id written anywhere in `text` (an error message).
pub fn key_ids_in(text: &str) -> Vec<usize> {
    text.match_indices(ID_INFIX)
        .filter_map(|(at, _)| {
            let start = at.checked_sub(8)?;
            let end = at + ID_INFIX.len() + 12;
            key_index(text.get(start..end)?)
        })
        .collect()
}

fn key_arn(i: usize) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{}", key_id(i))
}

/// Faults the simulation injects. Each falls the same way on every run: pages and calls are
/// chosen by number, refused evaluations by a seeded hash of the key's index.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// ListKeys answers AccessDeniedException (not retried) for this page (1-based) and after.
    pub list_keys_fail_page: Option<usize>,
    /// Share of keys whose evaluation Config lists in FailedEvaluations the first time it arrives.
    pub refuse_once_share: f64,
    /// Share of keys whose evaluation Config lists in FailedEvaluations every time it arrives.
    pub refuse_always_share: f64,
    /// PutEvaluations attempts (1-based, counted over the run, retries included) answered HTTP
    /// 503 ServiceUnavailable: the SDK retries them.
    pub put_fail_retried: Vec<u64>,
    /// PutEvaluations attempts answered HTTP 400 (not retried): the whole batch is not taken.
    pub put_fail_refused: Vec<u64>,
    /// Config holds earlier results: the clean-up read answers the ids of the live keys whose
    /// verdict is among the types asked for, and of every deleted key.
    pub cleanup_history: bool,
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub keys: usize,
    /// Keys deleted since the last run, known to Config only (see [`Faults::cleanup_history`]).
    pub deleted: usize,
    pub latency: Duration,
    /// Enforce the account quotas with token buckets.
    pub quotas: bool,
    /// Share of KMS attempts answered ThrottlingException at random, on top of the quotas.
    pub throttle_share: f64,
    /// Share of each quota left to the rule (the rest is taken by other callers in the account).
    pub quota_share: f64,
    pub seed: u64,
    /// The rule parameters of the run: the expected verdicts follow them.
    pub params: RuleParameters,
    pub faults: Faults,
}

impl SimConfig {
    pub fn account(&self) -> Account {
        Account {
            keys: self.keys,
            deleted: self.deleted,
            params: self.params.clone(),
        }
    }
}

/// A uniform draw in [0, 1) from a seed and an index (splitmix64).
fn hash01(seed: u64, i: u64) -> f64 {
    let mut z = seed.wrapping_add(i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64) -> Self {
        // A fifth of a second's worth of burst.
        let capacity = (rate / 5.0).max(1.0);
        Self {
            rate,
            capacity,
            tokens: capacity,
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counters of one API.
#[derive(Default)]
struct Counter {
    attempts: AtomicU64,
    throttled_quota: AtomicU64,
    throttled_injected: AtomicU64,
}

#[derive(Default)]
struct Received {
    /// Per id (live keys, then deleted ones): evaluations Config took.
    taken: Vec<u16>,
    /// Per id: evaluations that arrived, taken or not.
    arrived: Vec<u16>,
    /// Per id: an evaluation arrived whose compliance differs from the expected verdict, or whose
    /// annotation is empty or longer than Config's 256 characters.
    wrong: Vec<bool>,
    /// Per live key: ListKeys handed it out.
    listed: Vec<bool>,
    /// Evaluations for ids that are not the account's.
    unknown: usize,
    /// Evaluations listed in FailedEvaluations.
    refused: usize,
    /// ListKeys calls refused by the listing fault.
    list_faults: usize,
    /// PutEvaluations attempts failed whole (retried, refused).
    put_failed_retried: usize,
    put_failed_refused: usize,
    /// Ids the clean-up read answered.
    cleanup_ids: usize,
    batch_sizes: Vec<usize>,
    /// When each PutEvaluations arrived, since the simulation started.
    put_times: Vec<Duration>,
    compliance: HashMap<String, usize>,
}

pub struct Sim {
    cfg: SimConfig,
    account: Account,
    started: Instant,
    buckets: Vec<Option<Mutex<Bucket>>>,
    counters: Vec<Counter>,
    rng: AtomicU64,
    received: Mutex<Received>,
}

/// What the simulation saw, per API and per key.
#[derive(Debug, Clone)]
pub struct Tally {
    pub attempts: HashMap<Api, u64>,
    pub throttled_quota: HashMap<Api, u64>,
    pub throttled_injected: HashMap<Api, u64>,
    /// Per id (live keys `0..keys`, then the deleted ones): evaluations Config took.
    pub taken: Vec<u16>,
    /// Per id: some evaluation of it had a wrong verdict or annotation.
    pub wrong: Vec<bool>,
    /// Per live key: handed out by ListKeys.
    pub listed: Vec<bool>,
    pub unknown: usize,
    pub refused: usize,
    pub list_faults: usize,
    pub put_failed_retried: usize,
    pub put_failed_refused: usize,
    pub cleanup_ids: usize,
    /// Evaluations Config took.
    pub evaluations: usize,
    pub max_batch: usize,
    pub full_batches: usize,
    pub first_put: Option<Duration>,
    pub last_put: Option<Duration>,
}

impl Tally {
    pub fn attempts(&self, api: Api) -> u64 {
        self.attempts.get(&api).copied().unwrap_or(0)
    }
    pub fn throttled(&self, api: Api) -> u64 {
        self.throttled_quota.get(&api).copied().unwrap_or(0)
            + self.throttled_injected.get(&api).copied().unwrap_or(0)
    }
    /// Attempts that were answered (not throttled).
    pub fn answered(&self, api: Api) -> u64 {
        self.attempts(api) - self.throttled(api)
    }
}

impl Sim {
    pub fn new(cfg: SimConfig) -> Arc<Self> {
        let buckets = Api::ALL
            .iter()
            .map(|api| {
                api.account_quota()
                    .filter(|_| cfg.quotas)
                    .map(|q| Mutex::new(Bucket::new(q * cfg.quota_share)))
            })
            .collect();
        let account = cfg.account();
        let ids = account.ids();
        Arc::new(Self {
            started: Instant::now(),
            buckets,
            counters: Api::ALL.iter().map(|_| Counter::default()).collect(),
            rng: AtomicU64::new(cfg.seed),
            received: Mutex::new(Received {
                taken: vec![0; ids],
                arrived: vec![0; ids],
                wrong: vec![false; ids],
                listed: vec![false; cfg.keys],
                ..Default::default()
            }),
            account,
            cfg,
        })
    }

    /// Serve on 127.0.0.1 (a free port) until the task is aborted.
    pub async fn serve(self: &Arc<Self>) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let sim = self.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let sim = sim.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let sim = sim.clone();
                        async move { Ok::<_, Infallible>(sim.handle(req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok((addr, task))
    }

    /// A uniform draw in [0, 1) (splitmix64 over a seeded counter): the random throttling.
    fn draw(&self) -> f64 {
        let n = self.rng.fetch_add(1, Ordering::Relaxed);
        hash01(self.cfg.seed, n)
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let Some(api) = Api::from_target(&target) else {
            tokio::time::sleep(self.cfg.latency).await;
            return error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                &format!("the benchmark endpoint does not answer {target}"),
            );
        };
        let counter = &self.counters[api.index()];
        let attempt = counter.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        let over_quota = self.buckets[api.index()]
            .as_ref()
            .is_some_and(|b| !b.lock().unwrap().take());
        let injected = !over_quota
            && api.is_kms()
            && self.cfg.throttle_share > 0.0
            && self.draw() < self.cfg.throttle_share;
        tokio::time::sleep(self.cfg.latency).await;
        if over_quota || injected {
            let c = if over_quota {
                &counter.throttled_quota
            } else {
                &counter.throttled_injected
            };
            c.fetch_add(1, Ordering::Relaxed);
            return error(
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate exceeded",
            );
        }
        match api {
            Api::ListKeys => self.list_keys(&input),
            Api::DescribeKey => self.with_key(&input, describe_key),
            Api::GetKeyRotationStatus => self.with_key(&input, rotation_status),
            Api::ListResourceTags => self.with_key(&input, |i, kind| self.tags(i, kind)),
            Api::PutEvaluations => self.put_evaluations(&input, attempt),
            Api::GetComplianceDetailsByConfigRule => self.compliance_details(&input),
        }
    }

    fn list_keys(&self, input: &Value) -> Response<Full<Bytes>> {
        let limit = input["Limit"].as_u64().unwrap_or(100).clamp(1, 1000) as usize;
        let start: usize = input["Marker"]
            .as_str()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let page = start / limit + 1;
        if self
            .cfg
            .faults
            .list_keys_fail_page
            .is_some_and(|fail| page >= fail)
        {
            self.received.lock().unwrap().list_faults += 1;
            return error(
                StatusCode::BAD_REQUEST,
                "AccessDeniedException",
                &format!("the benchmark refuses ListKeys page {page} (marker {start})"),
            );
        }
        let end = (start + limit).min(self.cfg.keys);
        self.received.lock().unwrap().listed[start.min(end)..end].fill(true);
        let keys: Vec<Value> = (start..end)
            .map(|i| json!({ "KeyId": key_id(i), "KeyArn": key_arn(i) }))
            .collect();
        let mut out = json!({ "Keys": keys, "Truncated": end < self.cfg.keys });
        if end < self.cfg.keys {
            out["NextMarker"] = json!(end.to_string());
        }
        ok(out)
    }

    fn with_key(
        &self,
        input: &Value,
        answer: impl Fn(usize, Kind) -> Response<Full<Bytes>>,
    ) -> Response<Full<Bytes>> {
        match input["KeyId"]
            .as_str()
            .and_then(key_index)
            .filter(|i| self.account.is_live(*i))
        {
            Some(i) => answer(i, Kind::of(i)),
            None => error(
                StatusCode::BAD_REQUEST,
                "NotFoundException",
                "Key not found",
            ),
        }
    }

    fn put_evaluations(&self, input: &Value, attempt: u64) -> Response<Full<Bytes>> {
        let evaluations = input["Evaluations"].as_array().cloned().unwrap_or_default();
        if evaluations.is_empty() || evaluations.len() > 100 {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                "Evaluations must hold 1 to 100 evaluations",
            );
        }
        let faults = &self.cfg.faults;
        let mut r = self.received.lock().unwrap();
        if faults.put_fail_retried.contains(&attempt) {
            r.put_failed_retried += 1;
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
                &format!("the benchmark fails PutEvaluations attempt {attempt} (retried)"),
            );
        }
        if faults.put_fail_refused.contains(&attempt) {
            r.put_failed_refused += 1;
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("the benchmark refuses PutEvaluations attempt {attempt}"),
            );
        }
        r.batch_sizes.push(evaluations.len());
        r.put_times.push(self.started.elapsed());
        let mut failed = Vec::new();
        for e in &evaluations {
            let compliance = e["ComplianceType"].as_str().unwrap_or("").to_owned();
            let annotation = e["Annotation"].as_str().unwrap_or("");
            let Some(i) = e["ComplianceResourceId"]
                .as_str()
                .and_then(key_index)
                .filter(|i| *i < self.account.ids())
            else {
                r.unknown += 1;
                continue;
            };
            if annotation.is_empty()
                || annotation.chars().count() > 256
                || self.account.expected(i) != compliance
                || e["ComplianceResourceType"].as_str() != Some("AWS::KMS::Key")
            {
                r.wrong[i] = true;
            }
            r.arrived[i] = r.arrived[i].saturating_add(1);
            let draw = hash01(self.cfg.seed ^ 0x5EED_FA11, i as u64);
            let refused = draw < faults.refuse_always_share
                || (r.arrived[i] == 1
                    && draw < faults.refuse_always_share + faults.refuse_once_share);
            if refused {
                r.refused += 1;
                failed.push(e.clone());
                continue;
            }
            r.taken[i] = r.taken[i].saturating_add(1);
            *r.compliance.entry(compliance).or_default() += 1;
        }
        ok(json!({ "FailedEvaluations": failed }))
    }

    /// GetComplianceDetailsByConfigRule, paged by `Limit` and `NextToken`.
    fn compliance_details(&self, input: &Value) -> Response<Full<Bytes>> {
        if !self.cfg.faults.cleanup_history {
            return ok(json!({ "EvaluationResults": [] }));
        }
        let types: Vec<&str> = input["ComplianceTypes"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let held = |i: &usize| {
            // Config holds a COMPLIANT or NON_COMPLIANT result for each deleted key (the verdict
            // before it was deleted), and the result of the last run for each live key.
            let recorded = if self.account.is_live(*i) {
                self.account.expected(*i)
            } else if i.is_multiple_of(2) {
                COMPLIANT
            } else {
                NON_COMPLIANT
            };
            (types.is_empty() || types.contains(&recorded)).then_some((*i, recorded))
        };
        let all: Vec<(usize, &str)> = (0..self.account.ids()).filter_map(|i| held(&i)).collect();
        let limit = input["Limit"].as_u64().unwrap_or(100).clamp(1, 100) as usize;
        let start: usize = input["NextToken"]
            .as_str()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let end = (start + limit).min(all.len());
        let results: Vec<Value> = all[start.min(end)..end]
            .iter()
            .map(|(i, compliance)| {
                json!({
                    "EvaluationResultIdentifier": {
                        "EvaluationResultQualifier": {
                            "ConfigRuleName": "kms-rotation-rule",
                            "ResourceType": "AWS::KMS::Key",
                            "ResourceId": key_id(*i),
                        },
                        "OrderingTimestamp": 1_764_000_000.0,
                    },
                    "ComplianceType": compliance,
                    "ResultRecordedTime": 1_764_000_000.0,
                    "ConfigRuleInvokedTime": 1_764_000_000.0,
                })
            })
            .collect();
        self.received.lock().unwrap().cleanup_ids += results.len();
        let mut out = json!({ "EvaluationResults": results });
        if end < all.len() {
            out["NextToken"] = json!(end.to_string());
        }
        ok(out)
    }

    /// ListResourceTags: every key has a `team` tag; rotation-off keys also carry a valid
    /// exception under a tag key that is not the configured one (the rule must ignore it); the
    /// exception keys carry theirs under the configured `exceptionTagKey`.
    fn tags(&self, _i: usize, kind: Kind) -> Response<Full<Bytes>> {
        let configured = self.account.params.exception_tag_key.as_str();
        let mut tags = vec![json!({ "TagKey": "team", "TagValue": "payments" })];
        match kind {
            Kind::RotationOff => tags.push(json!({
                "TagKey": self.account.decoy_tag_key(),
                "TagValue": "owner=team-payments expires=2099-12-31"
            })),
            Kind::ExceptionValid => tags.push(json!({
                "TagKey": configured,
                "TagValue": "owner=team-payments expires=2099-12-31 ticket=SEC-1"
            })),
            Kind::ExceptionExpired => tags.push(json!({
                "TagKey": configured,
                "TagValue": "owner=team-payments expires=2020-01-31"
            })),
            _ => {}
        }
        ok(json!({ "Tags": tags, "Truncated": false }))
    }

    pub fn tally(&self) -> Tally {
        let map = |f: &dyn Fn(&Counter) -> u64| -> HashMap<Api, u64> {
            Api::ALL
                .iter()
                .map(|a| (*a, f(&self.counters[a.index()])))
                .collect()
        };
        let r = self.received.lock().unwrap();
        Tally {
            attempts: map(&|c| c.attempts.load(Ordering::Relaxed)),
            throttled_quota: map(&|c| c.throttled_quota.load(Ordering::Relaxed)),
            throttled_injected: map(&|c| c.throttled_injected.load(Ordering::Relaxed)),
            taken: r.taken.clone(),
            wrong: r.wrong.clone(),
            listed: r.listed.clone(),
            unknown: r.unknown,
            refused: r.refused,
            list_faults: r.list_faults,
            put_failed_retried: r.put_failed_retried,
            put_failed_refused: r.put_failed_refused,
            cleanup_ids: r.cleanup_ids,
            evaluations: r.taken.iter().map(|n| usize::from(*n)).sum(),
            max_batch: r.batch_sizes.iter().copied().max().unwrap_or(0),
            full_batches: r.batch_sizes.iter().filter(|n| **n == 100).count(),
            first_put: r.put_times.first().copied(),
            last_put: r.put_times.last().copied(),
        }
    }
}

fn ok(body: Value) -> Response<Full<Bytes>> {
    respond(StatusCode::OK, body)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    respond(status, json!({ "__type": code, "message": message }))
}

fn respond(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-requestid", "00000000-0000-4000-8000-000000000000")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid response")
}

fn describe_key(i: usize, kind: Kind) -> Response<Full<Bytes>> {
    let (spec, usage) = match kind {
        Kind::Asymmetric => ("RSA_2048", "SIGN_VERIFY"),
        Kind::Hmac => ("HMAC_256", "GENERATE_VERIFY_MAC"),
        _ => ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
    };
    let state = match kind {
        Kind::Disabled => "Disabled",
        Kind::PendingDeletion => "PendingDeletion",
        _ => "Enabled",
    };
    let mut m = json!({
        "AWSAccountId": ACCOUNT,
        "KeyId": key_id(i),
        "Arn": key_arn(i),
        "CreationDate": 1_700_000_000.0,
        "Enabled": state == "Enabled",
        "Description": "",
        "KeyUsage": usage,
        "KeyState": state,
        "Origin": if kind == Kind::Imported { "EXTERNAL" } else { "AWS_KMS" },
        "KeyManager": if kind == Kind::AwsManaged { "AWS" } else { "CUSTOMER" },
        "CustomerMasterKeySpec": spec,
        "KeySpec": spec,
        "MultiRegion": kind == Kind::Replica,
    });
    if kind == Kind::Replica {
        m["MultiRegionConfiguration"] = json!({
            "MultiRegionKeyType": "REPLICA",
            "PrimaryKey": {
                "Arn": format!("arn:aws:kms:us-west-2:{ACCOUNT}:key/{}", key_id(i)),
                "Region": "us-west-2"
            },
            "ReplicaKeys": []
        });
    }
    if kind == Kind::PendingDeletion {
        m["DeletionDate"] = json!(1_900_000_000.0);
    }
    ok(json!({ "KeyMetadata": m }))
}

/// 30 days from now, in epoch seconds.
fn next_rotation_date() -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now + Duration::from_secs(30 * 86_400)).as_secs() as f64
}

fn rotation_status(i: usize, kind: Kind) -> Response<Full<Bytes>> {
    match kind {
        Kind::Asymmetric | Kind::Hmac | Kind::Imported => error(
            StatusCode::BAD_REQUEST,
            "UnsupportedOperationException",
            "this key does not support automatic rotation",
        ),
        _ if kind.rotation_on() => ok(json!({
            "KeyRotationEnabled": true,
            "KeyId": key_arn(i),
            "RotationPeriodInDays": rotation_period(i),
            // Always ahead of today, so that no key is ever overdue.
            "NextRotationDate": next_rotation_date()
        })),
        _ => ok(json!({ "KeyRotationEnabled": false, "KeyId": key_arn(i) })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_round_trip_and_are_found_in_text() {
        for i in [0, 1, 99, 4_095, 10_049] {
            assert_eq!(key_index(&key_id(i)), Some(i));
            assert_eq!(key_index(&key_arn(i)), Some(i));
        }
        // A tail that does not belong to its head is not a key of the account.
        let forged = format!("00000000{ID_INFIX}{:012x}", 5);
        assert_eq!(key_index(&forged), None);
        let text = format!(
            "2 key(s) not evaluated: {}; kms:DescribeKey {}: boom; and 7 more. (evaluations not sent: {}, {forged})",
            key_id(3),
            key_id(12),
            key_arn(40)
        );
        assert_eq!(key_ids_in(&text), vec![3, 12, 40]);
        assert!(key_ids_in("7 key(s) could not be evaluated").is_empty());
    }

    fn account(params: &str) -> Account {
        Account {
            keys: 100,
            deleted: 2,
            params: RuleParameters::parse(Some(params)).unwrap(),
        }
    }

    fn counts(a: &Account) -> [usize; 3] {
        let mut n = [0; 3];
        for i in 0..a.keys {
            match a.expected(i) {
                COMPLIANT => n[0] += 1,
                NON_COMPLIANT => n[1] += 1,
                _ => n[2] += 1,
            }
        }
        n
    }

    /// The expected verdicts of one mix of 100 keys, counted by hand from the mix and the
    /// decision table: [COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE].
    #[test]
    fn expected_verdicts_follow_the_parameters() {
        // Rotation on (60) + replica (1); off (8) + expired (1); the rest not applicable.
        assert_eq!(counts(&account("{}")), [61, 9, 30]);
        // 730-day keys (5) go NON_COMPLIANT; 180 and 365 stay.
        assert_eq!(
            counts(&account(r#"{"maxRotationPeriodInDays":"365"}"#)),
            [56, 14, 30]
        );
        // Below every period: all rotating keys NON_COMPLIANT.
        assert_eq!(
            counts(&account(r#"{"maxRotationPeriodInDays":"90"}"#)),
            [0, 70, 30]
        );
        // The disabled key (rotation on, 365 days) is evaluated.
        assert_eq!(
            counts(&account(r#"{"evaluateDisabledKeys":"true"}"#)),
            [62, 9, 29]
        );
        // Another tag key: the simulated account keeps its exceptions under it.
        let custom = account(r#"{"exceptionTagKey":"rotation-waiver"}"#);
        assert_eq!(counts(&custom), [61, 9, 30]);
        assert_eq!(custom.decoy_tag_key(), DEFAULT_EXCEPTION_TAG_KEY);
        // Deleted keys are cleaned up as NOT_APPLICABLE.
        assert_eq!(custom.expected(100), NOT_APPLICABLE);
        assert_eq!(custom.expected(101), NOT_APPLICABLE);
    }

    #[test]
    fn refusal_draws_are_seeded() {
        let a: Vec<f64> = (0..5).map(|i| hash01(7, i)).collect();
        let b: Vec<f64> = (0..5).map(|i| hash01(7, i)).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|x| (0.0..1.0).contains(x)));
        assert_ne!(hash01(7, 0), hash01(8, 0));
    }
}
