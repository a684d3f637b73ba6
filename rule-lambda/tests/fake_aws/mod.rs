//! A fake AWS at the HTTP layer, with fault injection: KMS, Config and STS answered from an
//! in-memory account, for the fault tests (`tests/faults.rs`) and the property tests
//! (`tests/properties.rs`).
//!
//! Unlike the `aws-smithy-mocks` rules of `tests/common`, this fake sees every HTTP *attempt*,
//! retries included, so a fault can be injected on any attempt of any call and the SDK's own retry
//! classification decides what happens next. Faults are chosen by a hash of (seed, operation,
//! request identity, attempt number), so a run injects the same faults whatever order its
//! concurrent calls arrive in.
//!
//! The fake validates PutEvaluations as Config does (1..100 evaluations, ComplianceResourceId
//! 1..768 characters, Annotation 1..256, ComplianceType COMPLIANT / NON_COMPLIANT /
//! NOT_APPLICABLE, a ResultToken) and keeps, per key, the evaluation with the newest
//! OrderingTimestamp, as Config does.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_kms::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use kms_rotation::clients::{Clients, MAX_ATTEMPTS};
use serde_json::{json, Value};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// The credentials the fake STS hands out: distinctive, so a log scan can look for them.
pub const ASSUMED_ACCESS_KEY_ID: &str = "ASIAFAKEASSUMED7Q2XZ";
pub const ASSUMED_SECRET_ACCESS_KEY: &str = "q8Jd/Secr3tAccessKey+Assumed/9fK2mZpL0vWxYtRbNc";
pub const ASSUMED_SESSION_TOKEN: &str =
    "IQoJb3JpZ2luX2VjEFakeSessionTokenAssumedRole/Zx9Q+w8Lk2Jh5Gf3Ds1Aa0PpOoIiUuYyTtRrEeWwQq==";
/// The rule's own (environment) credentials in these tests.
pub const BASE_ACCESS_KEY_ID: &str = "AKIAFAKEBASEKEY4R7T";
pub const BASE_SECRET_ACCESS_KEY: &str = "Zm9vYmFy/BaseSecretAccessKey+kms/rotation7Hq3";
pub const BASE_SESSION_TOKEN: &str = "FwoGZXIvYXdzEFakeBaseSessionToken/Lambda+Env9k3J2h1G0f==";

/// What a key is, and so what the rule must say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    RotationOn,
    RotationOff,
    /// Rotation on every 730 days: NON_COMPLIANT when `maxRotationPeriodInDays` is below it.
    LongPeriod,
    ExceptionValid,
    ExceptionExpired,
    /// A tag value that looks like an exception but is not one.
    LooksLikeException,
    AwsManaged,
    Asymmetric,
    Hmac,
    Disabled,
    PendingDeletion,
    Imported,
    CustomKeyStore,
    /// GetKeyRotationStatus answers UnsupportedOperationException.
    Unsupported,
    /// GetKeyRotationStatus answers AccessDeniedException.
    RotationDenied,
    /// DescribeKey answers AccessDeniedException.
    DescribeDenied,
    /// Rotation off and ListResourceTags answers AccessDeniedException.
    TagsDenied,
    /// A multi-Region replica with rotation off.
    Replica,
}

impl Kind {
    pub const ALL: [Kind; 18] = [
        Kind::RotationOn,
        Kind::RotationOff,
        Kind::LongPeriod,
        Kind::ExceptionValid,
        Kind::ExceptionExpired,
        Kind::LooksLikeException,
        Kind::AwsManaged,
        Kind::Asymmetric,
        Kind::Hmac,
        Kind::Disabled,
        Kind::PendingDeletion,
        Kind::Imported,
        Kind::CustomKeyStore,
        Kind::Unsupported,
        Kind::RotationDenied,
        Kind::DescribeDenied,
        Kind::TagsDenied,
        Kind::Replica,
    ];

    /// The ComplianceType the rule must report, given `maxRotationPeriodInDays`.
    pub fn expected(self, max_period: Option<i32>) -> &'static str {
        match self {
            Kind::RotationOn => "COMPLIANT",
            Kind::LongPeriod => match max_period {
                Some(max) if max < 730 => "NON_COMPLIANT",
                _ => "COMPLIANT",
            },
            Kind::RotationOff
            | Kind::ExceptionExpired
            | Kind::LooksLikeException
            | Kind::RotationDenied
            | Kind::DescribeDenied
            | Kind::TagsDenied
            | Kind::Replica => "NON_COMPLIANT",
            Kind::ExceptionValid
            | Kind::AwsManaged
            | Kind::Asymmetric
            | Kind::Hmac
            | Kind::Disabled
            | Kind::PendingDeletion
            | Kind::Imported
            | Kind::CustomKeyStore
            | Kind::Unsupported => "NOT_APPLICABLE",
        }
    }

    fn rotation_enabled(self) -> bool {
        matches!(self, Kind::RotationOn | Kind::LongPeriod)
    }
}

/// A key id that looks like KMS's: a UUID made from `n`.
pub fn key_id(n: usize) -> String {
    format!("{:08x}-12ab-34cd-56ef-{:012x}", n, n * 7919)
}

pub fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}")
}

/// An account of `n` keys, cycling through every kind.
pub fn account(n: usize) -> Vec<(String, Kind)> {
    (0..n)
        .map(|i| (key_id(i), Kind::ALL[i % Kind::ALL.len()]))
        .collect()
}

/// The faults that can be injected on an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// HTTP 400 `ThrottlingException` (`Throttling` for STS).
    Throttling,
    /// HTTP 500 (`KMSInternalException` / `InternalFailure`).
    Internal,
    /// HTTP 503 `ServiceUnavailable`.
    Unavailable,
    /// The connection is reset before an answer.
    Reset,
    /// No answer before the client's attempt timeout.
    Timeout,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::Throttling,
        Fault::Internal,
        Fault::Unavailable,
        Fault::Reset,
        Fault::Timeout,
    ];
}

/// Which share of attempts fail, per service, and how.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub seed: u64,
    pub kms: f64,
    pub config: f64,
    pub sts: f64,
    pub kinds: Vec<Fault>,
    /// Share of evaluations in each PutEvaluations answer listed in FailedEvaluations.
    pub failed_evaluations: f64,
    /// PutEvaluations answers InvalidResultTokenException.
    pub invalid_result_token: bool,
    /// AssumeRole answers AccessDenied.
    pub assume_role_denied: bool,
    /// How long a `Timeout` fault holds the answer back.
    pub stall: Duration,
    /// ListKeys answers AccessDeniedException (not retried) from this page on (1 = the first).
    pub list_keys_denied_from_page: Option<usize>,
    /// Extra time DescribeKey, GetKeyRotationStatus and ListResourceTags take, so keys are still
    /// being evaluated when something else (the listing) breaks, as in a large account.
    pub key_read_latency: Duration,
}

impl FaultPlan {
    pub fn none() -> Self {
        Self {
            seed: 0,
            kms: 0.0,
            config: 0.0,
            sts: 0.0,
            kinds: Fault::ALL.to_vec(),
            failed_evaluations: 0.0,
            invalid_result_token: false,
            assume_role_denied: false,
            stall: ATTEMPT_TIMEOUT * 10,
            list_keys_denied_from_page: None,
            key_read_latency: Duration::ZERO,
        }
    }

    /// The same share of faults on every service, of every kind.
    pub fn everywhere(seed: u64, share: f64) -> Self {
        Self {
            seed,
            kms: share,
            config: share,
            sts: share,
            ..Self::none()
        }
    }
}

/// One evaluation as PutEvaluations received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub resource_id: String,
    pub resource_type: String,
    pub compliance: String,
    pub annotation: String,
    pub ordering_millis: i64,
    /// Config took it (it was not listed in FailedEvaluations and the call was valid).
    pub taken: bool,
}

/// What the fake did: requests, faults, evaluations.
#[derive(Debug, Default)]
pub struct Journal {
    /// Attempts per operation, faults included.
    pub attempts: BTreeMap<String, usize>,
    /// Faults injected, by kind (`FailedEvaluations` counts evaluations listed as failed).
    pub injected: BTreeMap<String, usize>,
    /// Every evaluation received, in order.
    pub received: Vec<Received>,
    /// The access key id that signed each KMS and Config attempt: (operation, key id).
    pub signers: Vec<(String, String)>,
    /// Requests the fake could not parse or did not expect: (operation, reason).
    pub refused: Vec<(String, String)>,
    /// Every key id a successful ListKeys answer carried: the keys the rule has seen.
    pub listed: std::collections::HashSet<String>,
}

impl Journal {
    pub fn total_injected(&self) -> usize {
        self.injected.values().sum()
    }

    /// `throttling=3 internal=1 ...`, for the test's report.
    pub fn injected_summary(&self) -> String {
        let parts: Vec<String> = self
            .injected
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{} ({})", self.total_injected(), parts.join(" "))
    }

    /// The evaluations Config took, by resource id.
    pub fn taken(&self) -> HashMap<String, Vec<Received>> {
        let mut out: HashMap<String, Vec<Received>> = HashMap::new();
        for r in self.received.iter().filter(|r| r.taken) {
            out.entry(r.resource_id.clone())
                .or_default()
                .push(r.clone());
        }
        out
    }

    /// What Config would show per key: the taken evaluation with the newest OrderingTimestamp
    /// (the later one on a tie).
    pub fn config_view(&self) -> HashMap<String, Received> {
        let mut out: HashMap<String, Received> = HashMap::new();
        for r in self.received.iter().filter(|r| r.taken) {
            match out.get(&r.resource_id) {
                Some(old) if old.ordering_millis > r.ordering_millis => {}
                _ => {
                    out.insert(r.resource_id.clone(), r.clone());
                }
            }
        }
        out
    }
}

struct Inner {
    keys: Vec<(String, Kind)>,
    by_id: HashMap<String, Kind>,
    plan: Mutex<FaultPlan>,
    journal: Mutex<Journal>,
    /// Attempts seen per request identity, for the fault hash.
    seen: Mutex<HashMap<String, u32>>,
    /// Extra time every answer takes.
    latency: Mutex<Duration>,
}

/// The fake AWS; cheap to clone.
#[derive(Clone)]
pub struct FakeAws(Arc<Inner>);

impl std::fmt::Debug for FakeAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FakeAws({} keys)", self.0.keys.len())
    }
}

/// The attempt timeout of the test clients; a `Timeout` fault answers after ten times this.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(100);

/// A retry partition of its own for every client: the SDK's retry token bucket is shared per
/// partition across the process, and tests run in parallel.
fn own_partition(service: &str) -> RetryPartition {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    RetryPartition::new(format!(
        "{service}-fake-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

impl FakeAws {
    pub fn new(keys: Vec<(String, Kind)>, plan: FaultPlan) -> Self {
        let by_id = keys.iter().cloned().collect();
        Self(Arc::new(Inner {
            keys,
            by_id,
            plan: Mutex::new(plan),
            journal: Mutex::default(),
            seen: Mutex::default(),
            latency: Mutex::new(Duration::ZERO),
        }))
    }

    pub fn keys(&self) -> &[(String, Kind)] {
        &self.0.keys
    }

    pub fn set_plan(&self, plan: FaultPlan) {
        *self.0.plan.lock().unwrap() = plan;
    }

    pub fn set_latency(&self, latency: Duration) {
        *self.0.latency.lock().unwrap() = latency;
    }

    pub fn journal<T>(&self, f: impl FnOnce(&Journal) -> T) -> T {
        f(&self.0.journal.lock().unwrap())
    }

    /// SDK clients that talk to this fake: the production retry policy (standard mode,
    /// [`MAX_ATTEMPTS`] attempts) with millisecond backoffs, and an attempt timeout.
    pub fn clients(&self) -> Clients {
        let http = self.http_client();
        let credentials = Credentials::new(
            BASE_ACCESS_KEY_ID,
            BASE_SECRET_ACCESS_KEY,
            Some(BASE_SESSION_TOKEN.to_owned()),
            None,
            "test",
        );
        let retry = RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(1))
            .with_max_backoff(Duration::from_millis(5));
        let timeout = TimeoutConfig::builder()
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .build();
        macro_rules! client {
            ($sdk:ident, $name:literal) => {
                $sdk::Client::from_conf(
                    $sdk::Config::builder()
                        .behavior_version(BehaviorVersion::latest())
                        .region(Region::new(REGION))
                        .credentials_provider(credentials.clone())
                        .http_client(http.clone())
                        .retry_config(retry.clone())
                        .retry_partition(own_partition($name))
                        .timeout_config(timeout.clone())
                        .build(),
                )
            };
        }
        Clients {
            kms: client!(aws_sdk_kms, "kms"),
            config: client!(aws_sdk_config, "config"),
            sts: client!(aws_sdk_sts, "sts"),
        }
    }

    /// The HTTP client that answers from this fake; for clients built elsewhere.
    pub fn http_client(&self) -> SharedHttpClient {
        let fake = self.clone();
        http_client_fn(move |_, _| SharedHttpConnector::new(fake.clone()))
    }
}

impl HttpConnector for FakeAws {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let fake = self.clone();
        let target = request
            .headers()
            .get("x-amz-target")
            .map(str::to_owned)
            .unwrap_or_default();
        let signer = request
            .headers()
            .get("authorization")
            .and_then(|auth| auth.split("Credential=").nth(1))
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("(unsigned)")
            .to_owned();
        let body = request.body().bytes().unwrap_or_default().to_vec();
        HttpConnectorFuture::new(async move { fake.serve(&target, &signer, &body).await })
    }
}

/// A deterministic hash to [0, 1).
fn unit(seed: u64, parts: &[&str], n: u32) -> f64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut h);
    parts.hash(&mut h);
    n.hash(&mut h);
    // SplitMix64 finaliser over SipHash's output, for good low bits.
    let mut z = h.finish().wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn json_response(status: u16, body: Value) -> HttpResponse {
    let mut resp = HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(body.to_string()),
    );
    resp.headers_mut()
        .insert("content-type", "application/x-amz-json-1.1");
    resp
}

fn json_error(status: u16, code: &str, message: &str) -> HttpResponse {
    json_response(status, json!({"__type": code, "message": message}))
}

fn xml_response(status: u16, body: String) -> HttpResponse {
    let mut resp = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    resp.headers_mut().insert("content-type", "text/xml");
    resp
}

fn query_error(status: u16, code: &str, message: &str) -> HttpResponse {
    xml_response(
        status,
        format!(
            r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"#
        ),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Service {
    Kms,
    Config,
    Sts,
}

impl FakeAws {
    async fn serve(
        &self,
        target: &str,
        signer: &str,
        body: &[u8],
    ) -> Result<HttpResponse, ConnectorError> {
        let text = String::from_utf8_lossy(body).into_owned();
        let (service, operation) = if let Some(op) = target.strip_prefix("TrentService.") {
            (Service::Kms, op.to_owned())
        } else if let Some(op) = target.strip_prefix("StarlingDoveService.") {
            (Service::Config, op.to_owned())
        } else if text.contains("Action=AssumeRole") {
            (Service::Sts, "AssumeRole".to_owned())
        } else {
            return Ok(self.refuse("unknown", &format!("target {target:?}, body {text}")));
        };
        let input: Value = if service == Service::Sts {
            Value::Null
        } else {
            match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => return Ok(self.refuse(&operation, &format!("body is not JSON: {e}"))),
            }
        };
        // The identity of a request: its operation and what it is about, not its arrival order.
        let identity = match operation.as_str() {
            "PutEvaluations" => {
                let mut ids: Vec<&str> = input["Evaluations"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|e| e["ComplianceResourceId"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                ids.sort_unstable();
                ids.join(",")
            }
            "ListKeys" | "ListResourceTags" => format!(
                "{}|{}",
                input["KeyId"].as_str().unwrap_or(""),
                input["Marker"].as_str().unwrap_or("")
            ),
            "AssumeRole" => text.clone(),
            _ => input["KeyId"].as_str().unwrap_or("").to_owned(),
        };
        let attempt = {
            let mut seen = self.0.seen.lock().unwrap();
            let n = seen.entry(format!("{operation}|{identity}")).or_insert(0);
            *n += 1;
            *n
        };
        {
            let mut j = self.0.journal.lock().unwrap();
            *j.attempts.entry(operation.clone()).or_default() += 1;
            if service != Service::Sts {
                j.signers.push((operation.clone(), signer.to_owned()));
            }
        }
        let plan = self.0.plan.lock().unwrap().clone();
        let share = match service {
            Service::Kms => plan.kms,
            Service::Config => plan.config,
            Service::Sts => plan.sts,
        };
        let latency = *self.0.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if share > 0.0 && !plan.kinds.is_empty() {
            let parts = [operation.as_str(), identity.as_str()];
            if unit(plan.seed, &parts, attempt) < share {
                let pick = unit(plan.seed ^ 0xFA17, &parts, attempt);
                let fault = plan.kinds
                    [((pick * plan.kinds.len() as f64) as usize).min(plan.kinds.len() - 1)];
                self.count(&format!("{fault:?}").to_lowercase(), 1);
                return self.fault(service, fault, plan.stall).await;
            }
        }
        if service == Service::Kms {
            if operation == "ListKeys" {
                let limit = input["Limit"].as_u64().unwrap_or(100).max(1) as usize;
                let start: usize = input["Marker"]
                    .as_str()
                    .and_then(|m| m.strip_prefix('m')?.parse().ok())
                    .unwrap_or(0);
                if plan
                    .list_keys_denied_from_page
                    .is_some_and(|page| start / limit + 1 >= page)
                {
                    self.count("listkeysdenied", 1);
                    return Ok(json_error(
                        400,
                        "AccessDeniedException",
                        &format!("User: arn:aws:sts::{ACCOUNT}:assumed-role/rule/fn is not authorized to perform: kms:ListKeys"),
                    ));
                }
            } else if !plan.key_read_latency.is_zero() {
                tokio::time::sleep(plan.key_read_latency).await;
            }
        }
        Ok(match service {
            Service::Kms => self.kms(&operation, &input),
            Service::Config => self.config(&operation, &input, &plan),
            Service::Sts => self.sts(&plan),
        })
    }

    fn count(&self, what: &str, n: usize) {
        *self
            .0
            .journal
            .lock()
            .unwrap()
            .injected
            .entry(what.to_owned())
            .or_default() += n;
    }

    fn refuse(&self, operation: &str, reason: &str) -> HttpResponse {
        self.0
            .journal
            .lock()
            .unwrap()
            .refused
            .push((operation.to_owned(), reason.to_owned()));
        json_error(400, "ValidationException", reason)
    }

    async fn fault(
        &self,
        service: Service,
        fault: Fault,
        stall: Duration,
    ) -> Result<HttpResponse, ConnectorError> {
        let sts = service == Service::Sts;
        Ok(match fault {
            Fault::Throttling if sts => query_error(400, "Throttling", "Rate exceeded"),
            Fault::Throttling => json_error(400, "ThrottlingException", "Rate exceeded"),
            Fault::Internal if sts => query_error(500, "InternalFailure", "internal error"),
            Fault::Internal => json_error(
                500,
                match service {
                    Service::Kms => "KMSInternalException",
                    _ => "InternalFailure",
                },
                "We encountered an internal error. Please try again.",
            ),
            Fault::Unavailable if sts => query_error(503, "ServiceUnavailable", "unavailable"),
            Fault::Unavailable => json_error(503, "ServiceUnavailable", "Service unavailable"),
            Fault::Reset => {
                return Err(ConnectorError::io(Box::new(std::io::Error::from(
                    std::io::ErrorKind::ConnectionReset,
                ))))
            }
            Fault::Timeout => {
                tokio::time::sleep(stall).await;
                json_error(500, "InternalFailure", "answered after the client gave up")
            }
        })
    }

    fn kind(&self, input: &Value) -> Option<(String, Kind)> {
        let id = input["KeyId"].as_str()?;
        let id = id.rsplit('/').next().unwrap_or(id);
        self.0.by_id.get(id).map(|k| (id.to_owned(), *k))
    }

    fn kms(&self, operation: &str, input: &Value) -> HttpResponse {
        let not_found = |input: &Value| {
            json_error(
                400,
                "NotFoundException",
                &format!("Key '{}' does not exist", input["KeyId"]),
            )
        };
        let denied = |action: &str| {
            json_error(
                400,
                "AccessDeniedException",
                &format!("User: arn:aws:sts::{ACCOUNT}:assumed-role/rule/fn is not authorized to perform: kms:{action}"),
            )
        };
        match operation {
            "ListKeys" => {
                let limit = input["Limit"].as_u64().unwrap_or(100) as usize;
                let start: usize = match input["Marker"].as_str() {
                    None => 0,
                    Some(m) => match m.strip_prefix("m").and_then(|n| n.parse().ok()) {
                        Some(n) => n,
                        None => return self.refuse(operation, &format!("unknown marker {m}")),
                    },
                };
                let end = (start + limit).min(self.0.keys.len());
                let keys: Vec<Value> = self.0.keys[start..end]
                    .iter()
                    .map(|(id, _)| json!({"KeyId": id, "KeyArn": key_arn(id)}))
                    .collect();
                self.0
                    .journal
                    .lock()
                    .unwrap()
                    .listed
                    .extend(self.0.keys[start..end].iter().map(|(id, _)| id.clone()));
                let mut out = json!({"Keys": keys, "Truncated": end < self.0.keys.len()});
                if end < self.0.keys.len() {
                    out["NextMarker"] = json!(format!("m{end}"));
                }
                json_response(200, out)
            }
            "DescribeKey" => {
                let Some((id, kind)) = self.kind(input) else {
                    return not_found(input);
                };
                if kind == Kind::DescribeDenied {
                    return denied("DescribeKey");
                }
                let mut m = json!({
                    "KeyId": id, "Arn": key_arn(&id), "AWSAccountId": ACCOUNT,
                    "CreationDate": 1_768_465_800.0, "Enabled": true, "Description": "fake",
                    "KeyManager": "CUSTOMER", "KeyState": "Enabled", "KeySpec": "SYMMETRIC_DEFAULT",
                    "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
                    "KeyUsage": "ENCRYPT_DECRYPT", "Origin": "AWS_KMS", "MultiRegion": false
                });
                match kind {
                    Kind::AwsManaged => m["KeyManager"] = json!("AWS"),
                    Kind::Asymmetric => {
                        m["KeySpec"] = json!("RSA_2048");
                        m["KeyUsage"] = json!("SIGN_VERIFY");
                    }
                    Kind::Hmac => {
                        m["KeySpec"] = json!("HMAC_256");
                        m["KeyUsage"] = json!("GENERATE_VERIFY_MAC");
                    }
                    Kind::Disabled => {
                        m["KeyState"] = json!("Disabled");
                        m["Enabled"] = json!(false);
                    }
                    Kind::PendingDeletion => m["KeyState"] = json!("PendingDeletion"),
                    Kind::Imported => m["Origin"] = json!("EXTERNAL"),
                    Kind::CustomKeyStore => {
                        m["Origin"] = json!("AWS_CLOUDHSM");
                        m["CustomKeyStoreId"] = json!("cks-1234567890abcdef0");
                    }
                    Kind::Replica => {
                        m["MultiRegion"] = json!(true);
                        m["MultiRegionConfiguration"] = json!({
                            "MultiRegionKeyType": "REPLICA",
                            "PrimaryKey": {"Arn": format!("arn:aws:kms:us-west-2:{ACCOUNT}:key/{id}"), "Region": "us-west-2"}
                        });
                    }
                    _ => {}
                }
                json_response(200, json!({ "KeyMetadata": m }))
            }
            "GetKeyRotationStatus" => {
                let Some((id, kind)) = self.kind(input) else {
                    return not_found(input);
                };
                match kind {
                    Kind::Unsupported | Kind::Imported | Kind::CustomKeyStore => json_error(
                        400,
                        "UnsupportedOperationException",
                        "this key cannot rotate automatically",
                    ),
                    Kind::RotationDenied => denied("GetKeyRotationStatus"),
                    k if k.rotation_enabled() => json_response(
                        200,
                        json!({
                            "KeyId": key_arn(&id), "KeyRotationEnabled": true,
                            "RotationPeriodInDays": if k == Kind::LongPeriod { 730 } else { 365 },
                            "NextRotationDate": 1_809_820_800.0
                        }),
                    ),
                    _ => json_response(
                        200,
                        json!({"KeyId": key_arn(&id), "KeyRotationEnabled": false}),
                    ),
                }
            }
            "ListResourceTags" => {
                let Some((_, kind)) = self.kind(input) else {
                    return not_found(input);
                };
                let today = chrono::Utc::now().date_naive();
                let tag = |v: String| {
                    vec![
                        json!({"TagKey": "env", "TagValue": "prod"}),
                        json!({"TagKey": "kms-rotation-exception", "TagValue": v}),
                    ]
                };
                let tags = match kind {
                    Kind::TagsDenied => return denied("ListResourceTags"),
                    Kind::ExceptionValid => tag(format!(
                        "owner=team-payments expires={} ticket=SEC-42",
                        today + chrono::Duration::days(30)
                    )),
                    Kind::ExceptionExpired => tag(format!(
                        "owner=team-payments expires={}",
                        today - chrono::Duration::days(1)
                    )),
                    // Fullwidth digits in the date: looks like one, is not one.
                    Kind::LooksLikeException => {
                        tag("owner=team-payments expires=２０９９-01-01".to_owned())
                    }
                    _ => vec![json!({"TagKey": "env", "TagValue": "prod"})],
                };
                json_response(200, json!({"Tags": tags, "Truncated": false}))
            }
            other => self.refuse(other, "operation not faked"),
        }
    }

    fn config(&self, operation: &str, input: &Value, plan: &FaultPlan) -> HttpResponse {
        match operation {
            "PutEvaluations" => {
                if plan.invalid_result_token {
                    self.count("invalid_result_token", 1);
                    return json_error(
                        400,
                        "InvalidResultTokenException",
                        "The resultToken provided is invalid",
                    );
                }
                let evaluations = input["Evaluations"].as_array().cloned().unwrap_or_default();
                if let Err(reason) = validate_put(input, &evaluations) {
                    return self.refuse(operation, &reason);
                }
                let mut failed = Vec::new();
                let mut j = self.0.journal.lock().unwrap();
                for e in &evaluations {
                    let id = e["ComplianceResourceId"].as_str().unwrap_or_default();
                    // Per evaluation: the n-th time this key is sent, whatever batch it is in.
                    let nth = {
                        let mut seen = self.0.seen.lock().unwrap();
                        let n = seen.entry(format!("FailedEvaluations|{id}")).or_insert(0);
                        *n += 1;
                        *n
                    };
                    let fail = plan.failed_evaluations > 0.0
                        && unit(plan.seed ^ 0xFE, &["FailedEvaluations", id], nth)
                            < plan.failed_evaluations;
                    if fail {
                        failed.push(e.clone());
                    }
                    j.received.push(Received {
                        resource_id: id.to_owned(),
                        resource_type: e["ComplianceResourceType"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        compliance: e["ComplianceType"].as_str().unwrap_or_default().to_owned(),
                        annotation: e["Annotation"].as_str().unwrap_or_default().to_owned(),
                        ordering_millis: (e["OrderingTimestamp"].as_f64().unwrap_or(-1.0) * 1000.0)
                            .round() as i64,
                        taken: !fail,
                    });
                }
                if !failed.is_empty() {
                    *j.injected
                        .entry("failed_evaluations".to_owned())
                        .or_default() += failed.len();
                }
                json_response(200, json!({ "FailedEvaluations": failed }))
            }
            "GetResourceConfigHistory" => {
                let id = input["resourceId"].as_str().unwrap_or_default();
                match self.0.by_id.get(id) {
                    // The latest item, without the key's facts: the rule asks KMS for them.
                    Some(_) => json_response(
                        200,
                        json!({"configurationItems": [{
                            "version": "1.3", "accountId": ACCOUNT,
                            "configurationItemCaptureTime": 1_795_859_998.123,
                            "configurationItemStatus": "OK", "resourceType": "AWS::KMS::Key",
                            "resourceId": id, "arn": key_arn(id), "awsRegion": REGION,
                            "configuration": "{}", "supplementaryConfiguration": {}, "tags": {}
                        }]}),
                    ),
                    None => json_error(
                        400,
                        "ResourceNotDiscoveredException",
                        "Resource is not discovered",
                    ),
                }
            }
            "GetComplianceDetailsByConfigRule" => {
                json_response(200, json!({"EvaluationResults": []}))
            }
            other => self.refuse(other, "operation not faked"),
        }
    }

    fn sts(&self, plan: &FaultPlan) -> HttpResponse {
        if plan.assume_role_denied {
            self.count("assume_role_denied", 1);
            return query_error(
                403,
                "AccessDenied",
                &format!("User: arn:aws:sts::999988887777:assumed-role/central/fn is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::{ACCOUNT}:role/KmsRotationRuleEvaluation"),
            );
        }
        xml_response(
            200,
            format!(
                r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><AssumedRoleUser><AssumedRoleId>AROAFAKE:kms-rotation-rule</AssumedRoleId><Arn>arn:aws:sts::{ACCOUNT}:assumed-role/KmsRotationRuleEvaluation/kms-rotation-rule</Arn></AssumedRoleUser><Credentials><AccessKeyId>{ASSUMED_ACCESS_KEY_ID}</AccessKeyId><SecretAccessKey>{ASSUMED_SECRET_ACCESS_KEY}</SecretAccessKey><SessionToken>{ASSUMED_SESSION_TOKEN}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult><ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata></AssumeRoleResponse>"#
            ),
        )
    }
}

/// Config's own checks on a PutEvaluations request (its API model's constraints).
fn validate_put(input: &Value, evaluations: &[Value]) -> Result<(), String> {
    if input["ResultToken"].as_str().is_none_or(str::is_empty) {
        return Err("ResultToken is required".into());
    }
    if evaluations.is_empty() || evaluations.len() > 100 {
        return Err(format!(
            "{} evaluations: 1 to 100 allowed",
            evaluations.len()
        ));
    }
    for e in evaluations {
        let chars = |field: &str| e[field].as_str().map(|s| s.chars().count());
        match chars("ComplianceResourceId") {
            Some(1..=768) => {}
            n => {
                return Err(format!(
                    "ComplianceResourceId length {n:?}: 1 to 768 allowed"
                ))
            }
        }
        match chars("ComplianceResourceType") {
            Some(1..=256) => {}
            n => return Err(format!("ComplianceResourceType length {n:?}")),
        }
        match chars("Annotation") {
            None | Some(1..=256) => {}
            n => return Err(format!("Annotation length {n:?}: 1 to 256 allowed")),
        }
        match e["ComplianceType"].as_str() {
            Some("COMPLIANT" | "NON_COMPLIANT" | "NOT_APPLICABLE") => {}
            other => return Err(format!("ComplianceType {other:?} not allowed from a rule")),
        }
        if !e["OrderingTimestamp"].is_number() {
            return Err("OrderingTimestamp is required".into());
        }
    }
    Ok(())
}
