//! A simulated AWS endpoint for the benchmark: KMS (`TrentService.*`) and Config
//! (`StarlingDoveService.*`) over the AWS JSON 1.1 protocol, one account of N keys, a fixed
//! latency on every answer, per-API token buckets at the account's request quotas that answer
//! `ThrottlingException` when empty, and an optional share of KMS calls throttled at random
//! (seeded). It counts every HTTP attempt per API and records every evaluation Config receives.

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
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const EXCEPTION_TAG_KEY: &str = "kms-rotation-exception";

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

    /// The verdict the rule must give with default parameters.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::RotationOn | Kind::Replica => "COMPLIANT",
            Kind::RotationOff | Kind::ExceptionExpired => "NON_COMPLIANT",
            _ => "NOT_APPLICABLE",
        }
    }

    fn rotation_on(self) -> bool {
        matches!(self, Kind::RotationOn | Kind::Replica | Kind::Disabled)
    }
}

pub fn key_id(i: usize) -> String {
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    format!("{:08x}-4b1d-4c0e-8a5e-{:012x}", h as u32, i)
}

fn key_index(id: &str) -> Option<usize> {
    let id = id.rsplit('/').next()?;
    let (_, tail) = id.rsplit_once('-')?;
    usize::from_str_radix(tail, 16).ok()
}

fn key_arn(i: usize) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{}", key_id(i))
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub keys: usize,
    pub latency: Duration,
    /// Enforce the account quotas with token buckets.
    pub quotas: bool,
    /// Share of KMS attempts answered ThrottlingException at random, on top of the quotas.
    pub throttle_share: f64,
    /// Share of each quota left to the rule (the rest is taken by other callers in the account).
    pub quota_share: f64,
    pub seed: u64,
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
    /// Evaluations received per key index.
    per_key: Vec<u16>,
    /// Evaluations whose compliance differs from the key's expected verdict.
    wrong: usize,
    /// Evaluations for ids that are not keys of the account.
    unknown: usize,
    batch_sizes: Vec<usize>,
    /// When each PutEvaluations arrived, since the simulation started.
    put_times: Vec<Duration>,
    compliance: HashMap<String, usize>,
}

pub struct Sim {
    cfg: SimConfig,
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
    /// Keys with exactly one evaluation, with more than one, with none.
    pub evaluated_once: usize,
    pub evaluated_more: usize,
    pub not_evaluated: usize,
    pub wrong: usize,
    pub unknown: usize,
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
        Arc::new(Self {
            started: Instant::now(),
            buckets,
            counters: Api::ALL.iter().map(|_| Counter::default()).collect(),
            rng: AtomicU64::new(cfg.seed),
            received: Mutex::new(Received {
                per_key: vec![0; cfg.keys],
                ..Default::default()
            }),
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

    /// A uniform draw in [0, 1) (splitmix64 over a seeded counter).
    fn draw(&self) -> f64 {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
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
        counter.attempts.fetch_add(1, Ordering::Relaxed);
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
            Api::ListResourceTags => self.with_key(&input, tags),
            Api::PutEvaluations => self.put_evaluations(&input),
            Api::GetComplianceDetailsByConfigRule => ok(json!({ "EvaluationResults": [] })),
        }
    }

    fn list_keys(&self, input: &Value) -> Response<Full<Bytes>> {
        let limit = input["Limit"].as_u64().unwrap_or(100).clamp(1, 1000) as usize;
        let start: usize = input["Marker"]
            .as_str()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let end = (start + limit).min(self.cfg.keys);
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
        answer: fn(usize, Kind) -> Response<Full<Bytes>>,
    ) -> Response<Full<Bytes>> {
        match input["KeyId"]
            .as_str()
            .and_then(key_index)
            .filter(|i| *i < self.cfg.keys)
        {
            Some(i) => answer(i, Kind::of(i)),
            None => error(
                StatusCode::BAD_REQUEST,
                "NotFoundException",
                "Key not found",
            ),
        }
    }

    fn put_evaluations(&self, input: &Value) -> Response<Full<Bytes>> {
        let evaluations = input["Evaluations"].as_array().cloned().unwrap_or_default();
        if evaluations.is_empty() || evaluations.len() > 100 {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                "Evaluations must hold 1 to 100 evaluations",
            );
        }
        let mut r = self.received.lock().unwrap();
        r.batch_sizes.push(evaluations.len());
        r.put_times.push(self.started.elapsed());
        for e in &evaluations {
            let compliance = e["ComplianceType"].as_str().unwrap_or("").to_owned();
            let annotation = e["Annotation"].as_str().unwrap_or("");
            if annotation.is_empty() || annotation.chars().count() > 256 {
                r.wrong += 1;
            }
            match e["ComplianceResourceId"]
                .as_str()
                .and_then(key_index)
                .filter(|i| *i < self.cfg.keys)
            {
                Some(i) => {
                    r.per_key[i] = r.per_key[i].saturating_add(1);
                    if Kind::of(i).expected() != compliance {
                        r.wrong += 1;
                    }
                }
                None => r.unknown += 1,
            }
            *r.compliance.entry(compliance).or_default() += 1;
        }
        ok(json!({ "FailedEvaluations": [] }))
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
            evaluated_once: r.per_key.iter().filter(|n| **n == 1).count(),
            evaluated_more: r.per_key.iter().filter(|n| **n > 1).count(),
            not_evaluated: r.per_key.iter().filter(|n| **n == 0).count(),
            wrong: r.wrong,
            unknown: r.unknown,
            evaluations: r.batch_sizes.iter().sum(),
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
            "RotationPeriodInDays": 365,
            "NextRotationDate": 1_800_000_000.0
        })),
        _ => ok(json!({ "KeyRotationEnabled": false, "KeyId": key_arn(i) })),
    }
}

fn tags(_i: usize, kind: Kind) -> Response<Full<Bytes>> {
    let mut tags = vec![json!({ "TagKey": "team", "TagValue": "payments" })];
    match kind {
        Kind::ExceptionValid => tags.push(json!({
            "TagKey": EXCEPTION_TAG_KEY,
            "TagValue": "owner=team-payments expires=2099-12-31 ticket=SEC-1"
        })),
        Kind::ExceptionExpired => tags.push(json!({
            "TagKey": EXCEPTION_TAG_KEY,
            "TagValue": "owner=team-payments expires=2020-01-31"
        })),
        _ => {}
    }
    ok(json!({ "Tags": tags, "Truncated": false }))
}
