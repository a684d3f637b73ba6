//! One fake AWS for the rule's tests and its benchmark: an in-memory account ([`Account`]) behind
//! one request handler ([`FakeAws::handle`]) for the protocols the rule speaks — KMS
//! (`TrentService.*`) and Config (`StarlingDoveService.*`) over AWS JSON 1.1, STS `AssumeRole`
//! over the query protocol — with two transports over it:
//!
//! - an SDK HTTP connector ([`FakeAws::clients`], [`FakeAws::http_client`]) for the tests: the
//!   SDK's real pipeline (serialization, SigV4 signing, retry classification, error parsing) with
//!   only the HTTP exchange replaced;
//! - an HTTP/1 server on a loopback port ([`FakeAws::serve`]) for the benchmark, which points the
//!   real binary at it with `AWS_ENDPOINT_URL`.
//!
//! Either way the fake sees every HTTP *attempt*, retries included. On each it applies, in order:
//! the KMS request quotas and random throttling of [`Traffic`] (decided on arrival), the latency,
//! then the seeded faults of the [`FaultPlan`] (chosen by a hash of (seed, operation, request
//! identity, attempt number), so a run injects the same faults whatever order its concurrent calls
//! arrive in), then the answer. It validates PutEvaluations as Config does (1..100 evaluations,
//! ComplianceResourceId 1..768 characters, Annotation 1..256, ComplianceType COMPLIANT /
//! NON_COMPLIANT / NOT_APPLICABLE, a ResultToken) and writes everything in a [`Journal`].
//!
//! [`Org`] is an organization of many such accounts × Regions behind one HTTP server, for the
//! organization-scale benchmark of `kms-rotation audit` (`make bench-org`).

mod account;
mod catalogue;
mod connector;
mod journal;
mod org;
mod plan;
mod protocol;
mod server;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

pub use account::{
    key_arn, Account, Alias, Key, Rotation, ACCOUNT, AWS_SERVICES, CREATION_DATE,
    CUSTOMER_ALIAS_EVERY, PREDEFINED_ALIASES, REGION,
};
pub use catalogue::{account, key_id, Kind};
pub use connector::{
    ASSUMED_ACCESS_KEY_ID, ASSUMED_SECRET_ACCESS_KEY, ASSUMED_SESSION_TOKEN, BASE_ACCESS_KEY_ID,
    BASE_SECRET_ACCESS_KEY, BASE_SESSION_TOKEN,
};
pub use journal::{Batch, Journal, Received};
pub use org::{
    member_access_key_id, org_quota, Enabled, Org, OrgConfig, OrgCounts, OrgFaults,
    ENABLE_KEY_ROTATION_QUOTA, FIRST_MEMBER_ACCOUNT, MANAGEMENT_ACCOUNT, ORG_OPERATIONS,
    ORG_REGIONS, ORG_ROLE_NAME,
};
pub use plan::{hash01, kms_quota, Fault, FaultPlan, Traffic, ATTEMPT_TIMEOUT, QUOTA_OPERATIONS};

use plan::{unit, Bucket};
use protocol::Answer;

/// One HTTP attempt, as either transport hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The `x-amz-target` header (empty for STS's query protocol).
    pub target: &'a str,
    /// The `authorization` header, if any.
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

/// What the fake does with an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// An HTTP answer.
    Answer {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// The connection is reset before any answer.
    Reset,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Kms,
    Config,
    Sts,
}

struct Inner {
    account: Account,
    /// The keys by kind, when the account was made from [`Kind`]s.
    kinds: Vec<(String, Kind)>,
    plan: Mutex<Arc<FaultPlan>>,
    latency: Mutex<Duration>,
    buckets: HashMap<&'static str, Mutex<Bucket>>,
    random_throttling: f64,
    random_seed: u64,
    draws: AtomicU64,
    journal: Mutex<Journal>,
    /// Attempts seen per request identity, for the fault hash (and arrivals per evaluated key).
    seen: Mutex<HashMap<String, u32>>,
    started: Instant,
}

/// The fake AWS; cheap to clone.
#[derive(Clone)]
pub struct FakeAws(Arc<Inner>);

impl std::fmt::Debug for FakeAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FakeAws({} keys)", self.0.account.keys().len())
    }
}

impl FakeAws {
    /// An account of these keys (see [`account`]), answered at once and without quotas.
    pub fn new(keys: Vec<(String, Kind)>, plan: FaultPlan) -> Self {
        let account = Account::new(keys.iter().map(|(id, kind)| kind.key(id)).collect());
        Self::build(account, keys, plan, Traffic::default())
    }

    /// Any account, with its traffic shaping.
    pub fn with_account(account: Account, plan: FaultPlan, traffic: Traffic) -> Self {
        Self::build(account, Vec::new(), plan, traffic)
    }

    fn build(
        account: Account,
        kinds: Vec<(String, Kind)>,
        plan: FaultPlan,
        traffic: Traffic,
    ) -> Self {
        let buckets = match traffic.quota_share {
            Some(share) => QUOTA_OPERATIONS
                .iter()
                .filter_map(|op| Some((*op, Mutex::new(Bucket::new(kms_quota(op)? * share)))))
                .collect(),
            None => HashMap::new(),
        };
        Self(Arc::new(Inner {
            account,
            kinds,
            plan: Mutex::new(Arc::new(plan)),
            latency: Mutex::new(traffic.latency),
            buckets,
            random_throttling: traffic.random_throttling,
            random_seed: traffic.seed,
            // The draws of the random throttling: splitmix64 over a counter starting at the seed.
            draws: AtomicU64::new(traffic.seed),
            journal: Mutex::default(),
            seen: Mutex::default(),
            started: Instant::now(),
        }))
    }

    pub fn account(&self) -> &Account {
        &self.0.account
    }

    /// The keys and their kinds, for an account made by [`FakeAws::new`] (empty otherwise).
    pub fn keys(&self) -> &[(String, Kind)] {
        &self.0.kinds
    }

    pub fn set_plan(&self, plan: FaultPlan) {
        *self.0.plan.lock().unwrap() = Arc::new(plan);
    }

    pub fn set_latency(&self, latency: Duration) {
        *self.0.latency.lock().unwrap() = latency;
    }

    pub fn journal<T>(&self, f: impl FnOnce(&Journal) -> T) -> T {
        f(&self.0.journal.lock().unwrap())
    }

    /// Answer one HTTP attempt.
    pub async fn handle(&self, request: Request<'_>) -> Reply {
        let text = String::from_utf8_lossy(request.body);
        let Some((service, operation)) = route(request.target, &text) else {
            self.sleep_latency().await;
            return self
                .refuse(
                    "unknown",
                    &format!("target {:?}, body {text}", request.target),
                )
                .into();
        };
        let input: Value = if service == Service::Sts {
            Value::Null
        } else {
            match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    return self
                        .refuse(&operation, &format!("body is not JSON: {e}"))
                        .into()
                }
            }
        };
        let identity = identity(&operation, &input, &text);
        let attempt = self.nth(format!("{operation}|{identity}"));
        let nth_of_operation = self.count_attempt(service, &operation, request.authorization);
        let _put = (operation == "PutEvaluations").then(|| PutInFlight::enter(self));
        // Quotas and random throttling are decided when the attempt arrives.
        let throttled = self.throttle_on_arrival(service, &operation);
        self.sleep_latency().await;
        if let Some(throttled) = throttled {
            return self.answer_throttled(&operation, throttled).into();
        }
        let plan = self.0.plan.lock().unwrap().clone();
        if let Some(fault) = self.planned_fault(&plan, service, &operation, &identity, attempt) {
            return protocol::fault(service, fault, plan.stall).await;
        }
        slow_answer(&plan, service, &operation).await;
        match service {
            Service::Kms => self.kms(&operation, &input, &plan),
            Service::Config => self.config(&operation, &input, &plan, nth_of_operation),
            Service::Sts => self.sts(&plan),
        }
        .into()
    }

    /// Count an attempt of `operation` in the journal, with its signer (not for STS); returns
    /// its number among all attempts of its operation in this run.
    fn count_attempt(&self, service: Service, operation: &str, authorization: Option<&str>) -> u64 {
        let mut j = self.0.journal.lock().unwrap();
        let n = j.attempts.entry(operation.to_owned()).or_default();
        *n += 1;
        let n = *n as u64;
        if service != Service::Sts {
            let signer = authorization
                .and_then(|auth| auth.split("Credential=").nth(1))
                .and_then(|rest| rest.split('/').next())
                .unwrap_or("(unsigned)")
                .to_owned();
            j.signers.push((operation.to_owned(), signer));
        }
        n
    }

    /// Whether an attempt arriving now is throttled, and why: over its operation's quota, else
    /// (KMS only) at random.
    fn throttle_on_arrival(&self, service: Service, operation: &str) -> Option<Throttled> {
        let over_quota = self
            .0
            .buckets
            .get(operation)
            .is_some_and(|b| !b.lock().unwrap().take());
        if over_quota {
            return Some(Throttled::Quota);
        }
        let at_random = service == Service::Kms
            && self.0.random_throttling > 0.0
            && self.draw() < self.0.random_throttling;
        at_random.then_some(Throttled::Random)
    }

    /// Journal a throttled attempt and answer it.
    fn answer_throttled(&self, operation: &str, throttled: Throttled) -> Answer {
        let mut j = self.0.journal.lock().unwrap();
        let counts = match throttled {
            Throttled::Quota => &mut j.throttled_by_quota,
            Throttled::Random => &mut j.throttled_at_random,
        };
        *counts.entry(operation.to_owned()).or_default() += 1;
        protocol::json_error(400, "ThrottlingException", "Rate exceeded")
    }

    /// The fault the plan injects on this attempt, if any (counted in the journal).
    fn planned_fault(
        &self,
        plan: &FaultPlan,
        service: Service,
        operation: &str,
        identity: &str,
        attempt: u32,
    ) -> Option<Fault> {
        let share = match service {
            Service::Kms => plan.kms,
            Service::Config => plan.config,
            Service::Sts => plan.sts,
        };
        let parts = [operation, identity];
        if share > 0.0 && !plan.kinds.is_empty() && unit(plan.seed, &parts, attempt) < share {
            let pick = unit(plan.seed ^ 0xFA17, &parts, attempt);
            let fault =
                plan.kinds[((pick * plan.kinds.len() as f64) as usize).min(plan.kinds.len() - 1)];
            self.count(&format!("{fault:?}").to_lowercase(), 1);
            return Some(fault);
        }
        None
    }

    /// Other PutEvaluations attempts in flight besides this one.
    pub(crate) fn other_puts_in_flight(&self) -> usize {
        self.0
            .journal
            .lock()
            .unwrap()
            .put_in_flight
            .saturating_sub(1)
    }

    async fn sleep_latency(&self) {
        let latency = *self.0.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    /// A uniform draw in [0, 1) for the random throttling.
    fn draw(&self) -> f64 {
        let n = self.0.draws.fetch_add(1, Ordering::Relaxed);
        hash01(self.0.random_seed, n)
    }

    /// How many times `what` was seen, this time included.
    pub(crate) fn nth(&self, what: String) -> u32 {
        let mut seen = self.0.seen.lock().unwrap();
        let n = seen.entry(what).or_insert(0);
        *n += 1;
        *n
    }

    pub(crate) fn count(&self, what: &str, n: usize) {
        *self
            .0
            .journal
            .lock()
            .unwrap()
            .injected
            .entry(what.to_owned())
            .or_default() += n;
    }

    pub(crate) fn refuse(&self, operation: &str, reason: &str) -> Answer {
        self.0
            .journal
            .lock()
            .unwrap()
            .refused
            .push((operation.to_owned(), reason.to_owned()));
        protocol::json_error(400, "ValidationException", reason)
    }

    pub(crate) fn inner_journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.0.journal.lock().unwrap()
    }
}

/// The identity of a request: its operation and what it is about, not its arrival order.
fn identity(operation: &str, input: &Value, text: &str) -> String {
    match operation {
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
        "ListKeys" | "ListResourceTags" | "ListAliases" => format!(
            "{}|{}",
            input["KeyId"].as_str().unwrap_or(""),
            input["Marker"].as_str().unwrap_or("")
        ),
        "AssumeRole" => text.to_owned(),
        _ => input["KeyId"].as_str().unwrap_or("").to_owned(),
    }
}

/// The service and operation of an attempt: KMS and Config by `x-amz-target`, STS `AssumeRole`
/// by its query body; `None` for anything else.
fn route(target: &str, text: &str) -> Option<(Service, String)> {
    if let Some(op) = target.strip_prefix("TrentService.") {
        Some((Service::Kms, op.to_owned()))
    } else if let Some(op) = target.strip_prefix("StarlingDoveService.") {
        Some((Service::Config, op.to_owned()))
    } else if text.contains("Action=AssumeRole") {
        Some((Service::Sts, "AssumeRole".to_owned()))
    } else {
        None
    }
}

/// Why an attempt was throttled.
#[derive(Clone, Copy)]
enum Throttled {
    /// Its operation's quota had no token left.
    Quota,
    /// The random throttling drew it.
    Random,
}

/// The plan's extra time for key reads and for PutEvaluations.
async fn slow_answer(plan: &FaultPlan, service: Service, operation: &str) {
    if service == Service::Kms
        && matches!(
            operation,
            "DescribeKey" | "GetKeyRotationStatus" | "ListResourceTags"
        )
        && !plan.key_read_latency.is_zero()
    {
        tokio::time::sleep(plan.key_read_latency).await;
    }
    if operation == "PutEvaluations" && !plan.put_latency.is_zero() {
        tokio::time::sleep(plan.put_latency).await;
    }
}

/// Counts a PutEvaluations attempt in flight in the journal while it lives.
struct PutInFlight<'a>(&'a FakeAws);

impl<'a> PutInFlight<'a> {
    fn enter(fake: &'a FakeAws) -> Self {
        let mut j = fake.0.journal.lock().unwrap();
        j.put_in_flight += 1;
        j.put_peak_in_flight = j.put_peak_in_flight.max(j.put_in_flight);
        Self(fake)
    }
}

impl Drop for PutInFlight<'_> {
    fn drop(&mut self) {
        let mut j = self.0 .0.journal.lock().unwrap_or_else(|e| e.into_inner());
        j.put_in_flight -= 1;
    }
}
