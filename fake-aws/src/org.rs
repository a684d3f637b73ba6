//! A simulated AWS Organization for `make bench-org`: many member accounts × Regions behind one
//! HTTP server, each account-Region with its own keys, its own KMS request quotas (the defaults of
//! [`org_quota`], one token bucket per operation and account-Region) and the same latency.
//!
//! - **STS** (query protocol): `AssumeRole` of `arn:aws:iam::<member>:role/<role name>` answers
//!   credentials whose access key id names the account (`ASIA<12 digits>ORGB`); an account outside
//!   the organization, another role name, or one of the last `denied_accounts` accounts get
//!   `AccessDenied`. `GetCallerIdentity` answers the management account ([`MANAGEMENT_ACCOUNT`])
//!   for any other credentials, or the assumed role.
//! - **KMS** (`TrentService.*`): ListKeys, ListAliases, DescribeKey, GetKeyRotationStatus,
//!   ListResourceTags, GetKeyPolicy (the default key policy: the account's root), and
//!   EnableKeyRotation (for `remediate --apply`: the only per-key state the organization keeps is
//!   the set of keys whose rotation was enabled, with how many times each was asked; a replica's
//!   primary, in us-west-2 outside the organization's Regions, answers for its replica). The account comes from the access key id of the SigV4 credential scope, the
//!   Region from its Region (`Credential=AKID/20261129/eu-west-1/kms/aws4_request`). The answers
//!   are the one-account fake's (`protocol.rs`), for keys made on demand from their index: nothing
//!   per key is stored, so 200,000 keys cost no memory.
//!
//! It counts, per account-Region and operation, the answered calls (throttled ones apart), and
//! the KMS requests in flight at once.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use crate::account::{Account, Alias, Key, Rotation, CREATION_DATE};
use crate::catalogue::Kind;
use crate::plan::{hash01, kms_quota, Bucket};
use crate::protocol::{
    alias_limit, describe_key_in, json_error, json_response, key_rotations_in, last_usage_in,
    marker, not_found, query_error, rotation_status_in, tags, xml_response, Answer,
};
use crate::server::{serve, Handler};
use crate::{Reply, Request};

/// The account the base (environment) credentials belong to.
pub const MANAGEMENT_ACCOUNT: &str = "999999999999";
/// The first member account id; member `i` is this plus `i`.
pub const FIRST_MEMBER_ACCOUNT: u64 = 200_000_000_000;
/// The Regions of the default organization.
pub const ORG_REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"];
/// The role every member account lets the management account assume.
pub const ORG_ROLE_NAME: &str = "KmsRotationOperator";

/// The KMS operations the organization answers, each under its own quota per account-Region
/// ([`org_quota`]).
pub const ORG_OPERATIONS: [&str; 9] = [
    "ListKeys",
    "ListAliases",
    "DescribeKey",
    "GetKeyRotationStatus",
    "ListResourceTags",
    "GetKeyPolicy",
    "EnableKeyRotation",
    // `kms-rotation evidence`: no quota simulated (this project has not checked KMS's).
    "ListKeyRotations",
    "GetKeyLastUsage",
];

/// The default request quota of an [`ORG_OPERATIONS`] operation per account and Region, in
/// requests per second: [`kms_quota`], 1,000 for GetKeyPolicy and 15 for EnableKeyRotation (KMS
/// Developer Guide, "Request quotas": 15 requests per second per account and Region by default).
pub fn org_quota(operation: &str) -> Option<f64> {
    match operation {
        "GetKeyPolicy" => Some(1000.0),
        "EnableKeyRotation" => Some(ENABLE_KEY_ROTATION_QUOTA),
        other => kms_quota(other),
    }
}

/// EnableKeyRotation's default quota per account and Region, in requests per second.
pub const ENABLE_KEY_ROTATION_QUOTA: f64 = 15.0;

/// The Region of every replica's primary key (`protocol.rs`), outside the organization's Regions:
/// EnableKeyRotation and GetKeyRotationStatus there answer for the replica, without a quota.
const PRIMARY_REGION: &str = "us-west-2";

/// Faults of `remediate --apply` in an organization, per account or account-Region.
#[derive(Debug, Clone, Default)]
pub struct OrgFaults {
    /// Account-Regions (cells) whose EnableKeyRotation quota is this, not the default: a member
    /// account with a lower quota.
    pub enable_quota: HashMap<usize, f64>,
    /// Account-Regions (cells) where this share of EnableKeyRotation attempts is answered
    /// ThrottlingException, whatever the rate (a throttling storm), by a seeded hash of the
    /// attempt's number in the cell.
    pub storm: HashMap<usize, f64>,
    /// Accounts (indexes) where EnableKeyRotation is AccessDeniedException (the role may read
    /// but not change keys).
    pub enable_denied: std::collections::HashSet<usize>,
    /// Hold every EnableKeyRotation until this many have arrived (then answer them all): makes
    /// "a call fails while others are in flight" certain rather than likely.
    pub hold_enables_until: usize,
}

/// The organization's shape.
#[derive(Debug, Clone)]
pub struct OrgConfig {
    /// Member accounts: [`FIRST_MEMBER_ACCOUNT`] + 0, + 1, ...
    pub accounts: usize,
    pub regions: Vec<String>,
    /// Keys of each account-Region.
    pub keys_per_region: usize,
    /// Time every answer takes.
    pub latency: Duration,
    /// Enforce the default KMS quotas, per account-Region.
    pub quotas: bool,
    /// The role AssumeRole grants.
    pub role_name: String,
    /// The last this many accounts refuse AssumeRole (AccessDenied).
    pub denied_accounts: usize,
    /// Keys in every 100 with rotation off (at the expense of rotation-on keys): 8 by default;
    /// 19 makes 20% of keys non-compliant ones that EnableKeyRotation fixes (with the expired
    /// exception), the remediation benchmark's organization.
    pub rotation_off_per_100: usize,
    pub faults: OrgFaults,
}

impl Default for OrgConfig {
    /// 200 accounts × 4 Regions × 250 keys, 20 ms, the default quotas.
    fn default() -> Self {
        Self {
            accounts: 200,
            regions: ORG_REGIONS.iter().map(|r| (*r).to_owned()).collect(),
            keys_per_region: 250,
            latency: Duration::from_millis(20),
            quotas: true,
            role_name: ORG_ROLE_NAME.to_owned(),
            denied_accounts: 0,
            rotation_off_per_100: 8,
            faults: OrgFaults::default(),
        }
    }
}

/// Rare kinds, one per 100 keys, taken in turn across account-Regions.
const RARE: [Kind; 6] = [
    Kind::DescribeDenied,
    Kind::TagsDenied,
    Kind::RotationDenied,
    Kind::Unsupported,
    Kind::CustomKeyStore,
    Kind::LooksLikeException,
];

impl OrgConfig {
    /// Account-Regions: cell `account * regions + region`.
    pub fn cells(&self) -> usize {
        self.accounts * self.regions.len()
    }

    pub fn cell(&self, account: usize, region: usize) -> usize {
        account * self.regions.len() + region
    }

    /// (account, Region) of a cell.
    pub fn cell_parts(&self, cell: usize) -> (usize, usize) {
        (cell / self.regions.len(), cell % self.regions.len())
    }

    pub fn keys(&self) -> usize {
        self.cells() * self.keys_per_region
    }

    pub fn account_id(&self, account: usize) -> String {
        format!("{:012}", FIRST_MEMBER_ACCOUNT + account as u64)
    }

    /// The index of a member account id.
    pub fn account_index(&self, id: &str) -> Option<usize> {
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n = id.parse::<u64>().ok()?.checked_sub(FIRST_MEMBER_ACCOUNT)? as usize;
        (n < self.accounts).then_some(n)
    }

    pub fn region_index(&self, region: &str) -> Option<usize> {
        self.regions.iter().position(|r| r == region)
    }

    /// AssumeRole is refused in this account.
    pub fn is_denied(&self, account: usize) -> bool {
        account + self.denied_accounts >= self.accounts
    }

    /// The key id of key `key` of an account-Region: a UUID that names all three.
    pub fn key_id(account: usize, region: usize, key: usize) -> String {
        format!("{account:08x}-{region:04x}-4000-8000-{key:012x}")
    }

    /// (account, Region, key) of a key id (or of an ARN ending in one).
    pub fn parse_key_id(id: &str) -> Option<(usize, usize, usize)> {
        let id = id.rsplit('/').next().unwrap_or(id);
        let parts: Vec<&str> = id.split('-').collect();
        match parts[..] {
            [a, r, "4000", "8000", k] if a.len() == 8 && r.len() == 4 && k.len() == 12 => Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(r, 16).ok()?,
                usize::from_str_radix(k, 16).ok()?,
            )),
            _ => None,
        }
    }

    /// What key `key` of a cell is: a fixed mix in every 100 keys (20% AWS managed, 60%
    /// rotation on, 8% rotation off, ...), spread over them (so the first 50 have a bit of
    /// everything), one of which is one of the rare kinds (denied reads, unsupported rotation,
    /// ...), a different one from cell to cell.
    pub fn kind(&self, cell: usize, key: usize) -> Kind {
        // Rotation-off keys are 80..88 by default; more of them start earlier.
        let off_from = 88 - self.rotation_off_per_100.clamp(0, 60);
        match key * 37 % 100 {
            0..=19 => Kind::AwsManaged,
            n if n < off_from => Kind::RotationOn,
            n if n < 88 => Kind::RotationOff,
            88 => Kind::ExceptionValid,
            89 => Kind::ExceptionExpired,
            90..=92 => Kind::Asymmetric,
            93 => Kind::Hmac,
            94 => Kind::Disabled,
            95 => Kind::PendingDeletion,
            96 => Kind::Imported,
            97 => Kind::LongPeriod,
            98 => Kind::Replica,
            _ => RARE[(cell + key / 100) % RARE.len()],
        }
    }
}

/// One account-Region: its quotas and what it answered.
struct Cell {
    /// One bucket per [`ORG_OPERATIONS`] operation, when quotas are enforced.
    buckets: Option<Mutex<Vec<Bucket>>>,
    /// Answered calls per [`ORG_OPERATIONS`] operation (throttled ones apart).
    answered: [AtomicU32; ORG_OPERATIONS.len()],
    throttled: AtomicU32,
    /// KMS attempts that arrived, for the storm's hash.
    attempts: AtomicU64,
}

struct Inner {
    config: OrgConfig,
    /// Every cell's aliases (the same names and target indexes in each: which keys are AWS
    /// managed depends on the key index only).
    aliases: Vec<Alias>,
    cells: Vec<Cell>,
    assume_role: AtomicU64,
    assume_role_denied: AtomicU64,
    caller_identity: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    refused: Mutex<(u64, Vec<(String, String)>)>,
    /// EnableKeyRotation calls answered per (cell, key): rotation is on for these keys, with the
    /// period last asked for.
    enabled: Mutex<HashMap<(usize, usize), Enabled>>,
    /// EnableKeyRotation attempts that arrived, and a wake-up for those held
    /// ([`OrgFaults::hold_enables_until`]).
    enables_arrived: tokio::sync::watch::Sender<usize>,
    /// Nanoseconds since `started`: the first EnableKeyRotation's arrival (`u64::MAX` before it)
    /// and the last KMS answer.
    started: tokio::time::Instant,
    first_enable_ns: AtomicU64,
    last_answer_ns: AtomicU64,
}

/// A key whose rotation was enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enabled {
    /// EnableKeyRotation calls that succeeded on it.
    pub calls: u32,
    pub period_days: i32,
}

/// The simulated organization; cheap to clone.
#[derive(Clone)]
pub struct Org(Arc<Inner>);

impl std::fmt::Debug for Org {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.0.config;
        write!(
            f,
            "Org({} accounts × {} Regions × {} keys)",
            c.accounts,
            c.regions.len(),
            c.keys_per_region
        )
    }
}

/// What the organization answered, per account-Region (cell) and in all.
#[derive(Debug, Clone, Default)]
pub struct OrgCounts {
    /// Per cell: answered calls per [`ORG_OPERATIONS`] operation, throttled ones apart.
    pub answered: Vec<[u32; ORG_OPERATIONS.len()]>,
    /// Per cell: calls answered ThrottlingException by a quota.
    pub throttled: Vec<u32>,
    pub assume_role: u64,
    pub assume_role_denied: u64,
    pub caller_identity: u64,
    /// The most KMS requests in flight at once.
    pub peak_in_flight: usize,
    /// Requests the organization did not expect (unknown operation, credentials or Region).
    pub refused: u64,
    /// The first few of them: (operation, reason).
    pub refused_samples: Vec<(String, String)>,
}

impl OrgCounts {
    /// The index of an operation in [`OrgCounts::answered`].
    pub fn op(operation: &str) -> usize {
        ORG_OPERATIONS
            .iter()
            .position(|o| *o == operation)
            .unwrap_or_else(|| panic!("{operation} is not a KMS operation of the organization"))
    }

    /// Answered calls of an operation, in all cells.
    pub fn total(&self, operation: &str) -> u64 {
        let i = Self::op(operation);
        self.answered.iter().map(|c| u64::from(c[i])).sum()
    }

    /// Answered KMS calls, in all cells.
    pub fn kms_answered(&self) -> u64 {
        self.answered
            .iter()
            .flat_map(|c| c.iter())
            .map(|n| u64::from(*n))
            .sum()
    }

    pub fn throttled_total(&self) -> u64 {
        self.throttled.iter().map(|n| u64::from(*n)).sum()
    }
}

/// Keeps the in-flight gauge right when an answer is dropped half-way.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A KMS attempt the organization answers.
struct KmsCall<'a> {
    operation: &'a str,
    /// The operation's index in [`ORG_OPERATIONS`].
    op: usize,
    account: usize,
    region: usize,
    /// Sent to a replica's primary key, in [`PRIMARY_REGION`] outside the organization's Regions.
    at_primary: bool,
    input: Value,
}

/// The Region (index) of the replica whose key id `input` names, of `account`: where an attempt
/// at its primary key lands.
fn replica_region(config: &OrgConfig, input: &Value, account: usize) -> Option<usize> {
    input["KeyId"]
        .as_str()
        .and_then(OrgConfig::parse_key_id)
        .filter(|(a, r, k)| {
            *a == account
                && *r < config.regions.len()
                && *k < config.keys_per_region
                && config.kind(config.cell(*a, *r), *k) == Kind::Replica
        })
        .map(|(_, r, _)| r)
}

/// The access key id and Region of a SigV4 `authorization` header.
fn credential_scope(authorization: Option<&str>) -> Option<(&str, &str)> {
    let scope = authorization?.split("Credential=").nth(1)?;
    let mut parts = scope.split('/');
    let akid = parts.next()?;
    let _date = parts.next()?;
    let region = parts.next()?;
    Some((akid, region))
}

/// GetKeyPolicy: the default key policy, which lets the account's IAM policies grant use.
fn key_policy(account_id: &str) -> Answer {
    let policy = json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account_id}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    });
    json_response(
        200,
        json!({"Policy": policy.to_string(), "PolicyName": "default"}),
    )
}

/// The access key id of assumed-role credentials in an account.
pub fn member_access_key_id(account_id: &str) -> String {
    format!("ASIA{account_id}ORGB")
}

/// The account of an access key id made by [`member_access_key_id`].
fn member_of_access_key_id(akid: &str) -> Option<&str> {
    akid.strip_prefix("ASIA")?
        .strip_suffix("ORGB")
        .filter(|a| a.len() == 12)
}

/// `application/x-www-form-urlencoded`, decoded.
fn form(body: &str) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    match u8::from_str_radix(hex, 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

impl Org {
    pub fn new(config: OrgConfig) -> Self {
        // The alias names and targets of every cell, from which keys are AWS managed.
        let template = Account::new(
            (0..config.keys_per_region)
                .map(|i| Key {
                    aws_managed: config.kind(0, i) == Kind::AwsManaged,
                    ..Key::new(i.to_string())
                })
                .collect(),
        );
        let cells = (0..config.cells())
            .map(|cell| Cell {
                buckets: config.quotas.then(|| {
                    Mutex::new(
                        ORG_OPERATIONS
                            .iter()
                            .map(|op| {
                                let quota = match config.faults.enable_quota.get(&cell) {
                                    Some(q) if *op == "EnableKeyRotation" => *q,
                                    _ => org_quota(op).unwrap_or(f64::MAX),
                                };
                                Bucket::new(quota)
                            })
                            .collect(),
                    )
                }),
                answered: Default::default(),
                throttled: AtomicU32::new(0),
                attempts: AtomicU64::new(0),
            })
            .collect();
        Self(Arc::new(Inner {
            aliases: template.aliases().to_vec(),
            config,
            cells,
            assume_role: AtomicU64::new(0),
            assume_role_denied: AtomicU64::new(0),
            caller_identity: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
            refused: Mutex::default(),
            enabled: Mutex::default(),
            enables_arrived: tokio::sync::watch::Sender::new(0),
            started: tokio::time::Instant::now(),
            first_enable_ns: AtomicU64::new(u64::MAX),
            last_answer_ns: AtomicU64::new(0),
        }))
    }

    /// From the first EnableKeyRotation's arrival to the last KMS answer: the remediation as the
    /// organization saw it (`None` when nothing was changed).
    pub fn remediation_span(&self) -> Option<Duration> {
        let first = self.0.first_enable_ns.load(Ordering::Relaxed);
        let last = self.0.last_answer_ns.load(Ordering::Relaxed);
        (first != u64::MAX).then(|| Duration::from_nanos(last.saturating_sub(first)))
    }

    fn since_start_ns(&self) -> u64 {
        self.0.started.elapsed().as_nanos() as u64
    }

    /// The keys whose rotation EnableKeyRotation turned on: (cell, key) and what was asked.
    pub fn enabled(&self) -> HashMap<(usize, usize), Enabled> {
        self.0.enabled.lock().unwrap().clone()
    }

    /// Whether EnableKeyRotation fixes a key of this kind (the rule's NON_COMPLIANT verdicts
    /// that `remediate` changes: rotation off, an expired exception, a replica's rotation off).
    pub fn fixable(kind: Kind) -> bool {
        matches!(
            kind,
            Kind::RotationOff | Kind::ExceptionExpired | Kind::LooksLikeException | Kind::Replica
        )
    }

    /// The keys that `remediate --apply` must change, and those that were not: (cell, key) of
    /// every fixable key whose rotation is still off.
    pub fn left_non_compliant(&self) -> Vec<(usize, usize)> {
        let c = &self.0.config;
        let enabled = self.0.enabled.lock().unwrap();
        (0..c.cells())
            .filter(|cell| !c.is_denied(c.cell_parts(*cell).0))
            .flat_map(|cell| (0..c.keys_per_region).map(move |k| (cell, k)))
            .filter(|(cell, k)| {
                Self::fixable(c.kind(*cell, *k)) && !enabled.contains_key(&(*cell, *k))
            })
            .collect()
    }

    /// An HTTP client for SDK clients that answers from this organization in the process (no
    /// socket): the tests' transport.
    pub fn http_client(&self) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
        let org = self.clone();
        aws_smithy_runtime_api::client::http::http_client_fn(move |_, _| {
            aws_smithy_runtime_api::client::http::SharedHttpConnector::new(
                crate::connector::Handled(org.clone()),
            )
        })
    }

    pub fn config(&self) -> &OrgConfig {
        &self.0.config
    }

    /// Aliases per cell (every cell has the same number).
    pub fn aliases_per_region(&self) -> usize {
        self.0.aliases.len()
    }

    /// Serve on 127.0.0.1 (a free port) until the task is aborted.
    pub async fn serve(&self) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        serve(self.clone()).await
    }

    /// What was answered so far.
    pub fn counts(&self) -> OrgCounts {
        let refused = self.0.refused.lock().unwrap();
        OrgCounts {
            answered: self
                .0
                .cells
                .iter()
                .map(|c| std::array::from_fn(|i| c.answered[i].load(Ordering::Relaxed)))
                .collect(),
            throttled: self
                .0
                .cells
                .iter()
                .map(|c| c.throttled.load(Ordering::Relaxed))
                .collect(),
            assume_role: self.0.assume_role.load(Ordering::Relaxed),
            assume_role_denied: self.0.assume_role_denied.load(Ordering::Relaxed),
            caller_identity: self.0.caller_identity.load(Ordering::Relaxed),
            peak_in_flight: self.0.peak_in_flight.load(Ordering::Relaxed),
            refused: refused.0,
            refused_samples: refused.1.clone(),
        }
    }

    /// DescribeKey calls answered so far, in all cells.
    pub fn describe_key_calls(&self) -> u64 {
        let i = OrgCounts::op("DescribeKey");
        self.0
            .cells
            .iter()
            .map(|c| u64::from(c.answered[i].load(Ordering::Relaxed)))
            .sum()
    }

    /// Answer one HTTP attempt.
    pub async fn handle(&self, request: Request<'_>) -> Reply {
        let text = String::from_utf8_lossy(request.body);
        if let Some(op) = request.target.strip_prefix("TrentService.") {
            return self.kms(op, &text, request.authorization).await.into();
        }
        let answer = if text.contains("Action=AssumeRole") {
            self.assume_role(&text)
        } else if text.contains("Action=GetCallerIdentity") {
            self.caller_identity(request.authorization)
        } else {
            self.refuse(
                "unknown",
                &format!("target {:?}, body {text}", request.target),
            )
        };
        self.sleep_latency().await;
        answer.into()
    }

    async fn sleep_latency(&self) {
        let latency = self.0.config.latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    fn refuse(&self, operation: &str, reason: &str) -> Answer {
        let mut refused = self.0.refused.lock().unwrap();
        refused.0 += 1;
        if refused.1.len() < 20 {
            refused.1.push((operation.to_owned(), reason.to_owned()));
        }
        json_error(400, "ValidationException", reason)
    }

    async fn kms(&self, operation: &str, text: &str, authorization: Option<&str>) -> Answer {
        let call = match self.kms_call(operation, text, authorization).await {
            Ok(call) => call,
            Err(refused) => return refused,
        };
        let index = self.0.config.cell(call.account, call.region);
        let cell = &self.0.cells[index];
        let now = self.0.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        let _gauge = InFlight(&self.0.in_flight);
        self.0.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        if operation == "EnableKeyRotation" {
            self.0
                .first_enable_ns
                .fetch_min(self.since_start_ns(), Ordering::Relaxed);
            self.hold_enable().await;
        }
        let throttled = self.throttle_on_arrival(&call, index);
        self.sleep_latency().await;
        self.0
            .last_answer_ns
            .fetch_max(self.since_start_ns(), Ordering::Relaxed);
        if throttled {
            cell.throttled.fetch_add(1, Ordering::Relaxed);
            return json_error(400, "ThrottlingException", "Rate exceeded");
        }
        cell.answered[call.op].fetch_add(1, Ordering::Relaxed);
        self.answer_kms(&call, index)
    }

    /// What a KMS attempt is: its operation, the account-Region it is for (from its credential
    /// scope, or for a replica's primary from the key id) and its input; or, after the latency,
    /// the refusal it gets.
    async fn kms_call<'a>(
        &self,
        operation: &'a str,
        text: &str,
        authorization: Option<&str>,
    ) -> Result<KmsCall<'a>, Answer> {
        let config = &self.0.config;
        let Some(op) = ORG_OPERATIONS.iter().position(|o| *o == operation) else {
            self.sleep_latency().await;
            return Err(self.refuse(operation, "operation not faked"));
        };
        let (akid, region_name) = credential_scope(authorization).unwrap_or(("(unsigned)", ""));
        // A replica's primary key, outside the organization's Regions.
        let at_primary = region_name == PRIMARY_REGION
            && matches!(operation, "EnableKeyRotation" | "GetKeyRotationStatus");
        let region = match config.region_index(region_name) {
            Some(r) => Some(r),
            None if at_primary => None,
            None => {
                self.sleep_latency().await;
                return Err(
                    self.refuse(operation, &format!("Region {region_name:?} not simulated"))
                );
            }
        };
        let account = self.member_account(operation, akid).await?;
        let input: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.sleep_latency().await;
                return Err(self.refuse(operation, &format!("body is not JSON: {e}")));
            }
        };
        // At the primary: the replica's own account-Region, from its key id.
        let Some(region) = region.or_else(|| replica_region(config, &input, account)) else {
            self.sleep_latency().await;
            return Err(not_found(&input));
        };
        Ok(KmsCall {
            operation,
            op,
            account,
            region,
            at_primary,
            input,
        })
    }

    /// The member account whose assumed-role credentials (access key id `akid`) signed an
    /// attempt; or, after the latency, the refusal it gets: the credentials of an account outside
    /// the organization or refusing AssumeRole, or not a member's role at all.
    async fn member_account(&self, operation: &str, akid: &str) -> Result<usize, Answer> {
        let config = &self.0.config;
        match member_of_access_key_id(akid) {
            Some(id) => match config.account_index(id) {
                Some(a) if !config.is_denied(a) => Ok(a),
                _ => {
                    self.sleep_latency().await;
                    self.refuse(operation, &format!("credentials of account {id}"));
                    Err(json_error(
                        400,
                        "UnrecognizedClientException",
                        "The security token included in the request is invalid.",
                    ))
                }
            },
            None => {
                self.sleep_latency().await;
                self.refuse(
                    operation,
                    &format!("access key {akid}: not a member's role"),
                );
                Err(json_error(
                    400,
                    "AccessDeniedException",
                    &format!("User: arn:aws:iam::{MANAGEMENT_ACCOUNT}:user/bench is not authorized to perform: kms:{operation}"),
                ))
            }
        }
    }

    /// Whether an attempt on cell `index` is throttled, decided when it arrives: over the
    /// account-Region's quota of its operation (a primary outside the organization's Regions has
    /// none here), or drawn by an EnableKeyRotation storm ([`OrgFaults::storm`]).
    fn throttle_on_arrival(&self, call: &KmsCall<'_>, index: usize) -> bool {
        let cell = &self.0.cells[index];
        let attempt = cell.attempts.fetch_add(1, Ordering::Relaxed);
        let over_quota = !call.at_primary
            && cell
                .buckets
                .as_ref()
                .is_some_and(|b| !b.lock().unwrap()[call.op].take());
        let storm = call.operation == "EnableKeyRotation"
            && self
                .0
                .config
                .faults
                .storm
                .get(&index)
                .is_some_and(|share| hash01(index as u64, attempt) < *share);
        over_quota || storm
    }

    /// The answer to an attempt let through, on cell `index`: the listings, or the key's read
    /// or change (NotFoundException for a key id not of the account-Region).
    fn answer_kms(&self, call: &KmsCall<'_>, index: usize) -> Answer {
        let config = &self.0.config;
        let (account, region, input) = (call.account, call.region, &call.input);
        let account_id = config.account_id(account);
        let region_name = &config.regions[region];
        match call.operation {
            "ListKeys" => self.list_keys(input, account, region, &account_id, region_name),
            "ListAliases" => self.list_aliases(input, account, region, &account_id, region_name),
            operation => {
                let key = input["KeyId"]
                    .as_str()
                    .and_then(OrgConfig::parse_key_id)
                    .filter(|(a, r, k)| {
                        (*a, *r) == (account, region) && *k < config.keys_per_region
                    });
                let Some((_, _, k)) = key else {
                    return not_found(input);
                };
                let id = OrgConfig::key_id(account, region, k);
                let mut key = config.kind(index, k).key(&id);
                if let Some(on) = self.0.enabled.lock().unwrap().get(&(index, k)) {
                    key.rotation = Rotation::On {
                        period_days: on.period_days,
                    };
                }
                match operation {
                    "DescribeKey" => describe_key_in(&key, &account_id, region_name),
                    "GetKeyRotationStatus" => rotation_status_in(
                        &key,
                        &format!("arn:aws:kms:{region_name}:{account_id}:key/{id}"),
                    ),
                    "GetKeyPolicy" => key_policy(&account_id),
                    "ListKeyRotations" => key_rotations_in(&key),
                    "GetKeyLastUsage" => {
                        last_usage_in(&format!("arn:aws:kms:{region_name}:{account_id}:key/{id}"))
                    }
                    "EnableKeyRotation" => self.enable_rotation(input, &key, account, (index, k)),
                    _ => tags(&key),
                }
            }
        }
    }

    /// Wait until [`OrgFaults::hold_enables_until`] EnableKeyRotation attempts have arrived.
    async fn hold_enable(&self) {
        let hold = self.0.config.faults.hold_enables_until;
        self.0.enables_arrived.send_modify(|n| *n += 1);
        if hold > 0 {
            let mut arrived = self.0.enables_arrived.subscribe();
            // The sender lives as long as the organization.
            let _ = arrived.wait_for(|n| *n >= hold).await;
        }
    }

    /// EnableKeyRotation as KMS answers it (KMS API Reference, EnableKeyRotation: symmetric
    /// encryption keys with KMS-generated material only, DisabledException on a disabled key,
    /// KMSInvalidStateException on one pending deletion, RotationPeriodInDays 90..2560, default
    /// 365); AccessDeniedException in an account of [`OrgFaults::enable_denied`].
    fn enable_rotation(
        &self,
        input: &Value,
        key: &Key,
        account: usize,
        place: (usize, usize),
    ) -> Answer {
        let account_id = self.0.config.account_id(account);
        if self.0.config.faults.enable_denied.contains(&account) {
            return json_error(
                400,
                "AccessDeniedException",
                &format!("User: arn:aws:sts::{account_id}:assumed-role/{}/kms-rotation is not authorized to perform: kms:EnableKeyRotation on this resource because no identity-based policy allows the kms:EnableKeyRotation action", self.0.config.role_name),
            );
        }
        let period = input["RotationPeriodInDays"].as_i64().unwrap_or(365);
        if !(90..=2560).contains(&period) {
            return json_error(
                400,
                "ValidationException",
                "RotationPeriodInDays must be between 90 and 2560",
            );
        }
        if key.aws_managed
            || key.key_spec != "SYMMETRIC_DEFAULT"
            || key.origin != "AWS_KMS"
            || matches!(key.rotation, Rotation::Unsupported)
        {
            return json_error(
                400,
                "UnsupportedOperationException",
                "this key does not support automatic rotation",
            );
        }
        match key.key_state {
            "Disabled" => return json_error(400, "DisabledException", "the key is disabled"),
            "Enabled" => {}
            state => {
                return json_error(
                    400,
                    "KMSInvalidStateException",
                    &format!("the key is {state}"),
                )
            }
        }
        let mut enabled = self.0.enabled.lock().unwrap();
        let on = enabled.entry(place).or_insert(Enabled {
            calls: 0,
            period_days: 0,
        });
        on.calls += 1;
        on.period_days = period as i32;
        json_response(200, json!({}))
    }

    /// ListKeys: `Limit` 1..1000 (default 100), markers of the fake's own.
    fn list_keys(
        &self,
        input: &Value,
        account: usize,
        region: usize,
        account_id: &str,
        region_name: &str,
    ) -> Answer {
        let n = self.0.config.keys_per_region;
        let limit = input["Limit"].as_u64().unwrap_or(100).clamp(1, 1000) as usize;
        let start = match marker(input, "Marker") {
            Ok(start) => start.min(n),
            Err(reason) => return self.refuse("ListKeys", &reason),
        };
        let end = (start + limit).min(n);
        let keys: Vec<Value> = (start..end)
            .map(|k| {
                let id = OrgConfig::key_id(account, region, k);
                json!({
                    "KeyArn": format!("arn:aws:kms:{region_name}:{account_id}:key/{id}"),
                    "KeyId": id,
                })
            })
            .collect();
        let mut out = json!({"Keys": keys, "Truncated": end < n});
        if end < n {
            out["NextMarker"] = json!(format!("m{end}"));
        }
        json_response(200, out)
    }

    /// ListAliases: `Limit` 1..100 (default 50), `Marker`, and `KeyId` for the aliases of one key.
    fn list_aliases(
        &self,
        input: &Value,
        account: usize,
        region: usize,
        account_id: &str,
        region_name: &str,
    ) -> Answer {
        let limit = match alias_limit(input) {
            Ok(limit) => limit,
            Err(reason) => return self.refuse("ListAliases", &reason),
        };
        let start = match marker(input, "Marker") {
            Ok(start) => start,
            Err(reason) => return self.refuse("ListAliases", &reason),
        };
        let target = match input["KeyId"].as_str() {
            None => None,
            Some(id) => match OrgConfig::parse_key_id(id) {
                Some((a, r, k))
                    if (a, r) == (account, region) && k < self.0.config.keys_per_region =>
                {
                    Some(k)
                }
                _ => return not_found(input),
            },
        };
        let aliases: Vec<&Alias> = self
            .0
            .aliases
            .iter()
            .filter(|a| target.is_none() || a.target == target)
            .collect();
        let end = (start + limit).min(aliases.len());
        let page: Vec<Value> = aliases[start.min(end)..end]
            .iter()
            .map(|a| {
                let mut v = json!({
                    "AliasName": a.name,
                    "AliasArn": format!("arn:aws:kms:{region_name}:{account_id}:{}", a.name),
                });
                if let Some(k) = a.target {
                    v["TargetKeyId"] = json!(OrgConfig::key_id(account, region, k));
                    v["CreationDate"] = json!(CREATION_DATE);
                    v["LastUpdatedDate"] = json!(CREATION_DATE);
                }
                v
            })
            .collect();
        let mut out = json!({"Aliases": page, "Truncated": end < aliases.len()});
        if end < aliases.len() {
            out["NextMarker"] = json!(format!("m{end}"));
        }
        json_response(200, out)
    }

    fn assume_role(&self, text: &str) -> Answer {
        let config = &self.0.config;
        let form = form(text);
        let role_arn = form.get("RoleArn").map(String::as_str).unwrap_or_default();
        let session = form
            .get("RoleSessionName")
            .map(String::as_str)
            .unwrap_or_default();
        let granted = kms_rotation_core::arn::Arn::parse(role_arn)
            .ok()
            .filter(|arn| arn.partition == "aws" && arn.service == "iam" && arn.region.is_empty())
            .and_then(|arn| Some((arn.account, arn.resource.strip_prefix("role/")?)))
            .and_then(|(account, role)| {
                let i = config.account_index(account)?;
                (role == config.role_name && !config.is_denied(i)).then_some((account, role))
            });
        let Some((account, role)) = granted else {
            self.0.assume_role_denied.fetch_add(1, Ordering::Relaxed);
            return query_error(
                403,
                "AccessDenied",
                &format!("User: arn:aws:iam::{MANAGEMENT_ACCOUNT}:user/bench is not authorized to perform: sts:AssumeRole on resource: {role_arn}"),
            );
        };
        self.0.assume_role.fetch_add(1, Ordering::Relaxed);
        let akid = member_access_key_id(account);
        xml_response(
            200,
            format!(
                r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><AssumedRoleUser><AssumedRoleId>AROAORGBENCH{account}:{session}</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/{role}/{session}</Arn></AssumedRoleUser><Credentials><AccessKeyId>{akid}</AccessKeyId><SecretAccessKey>org/bench/secret/{account}</SecretAccessKey><SessionToken>org-bench-session-{account}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult><ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata></AssumeRoleResponse>"#
            ),
        )
    }

    fn caller_identity(&self, authorization: Option<&str>) -> Answer {
        self.0.caller_identity.fetch_add(1, Ordering::Relaxed);
        let member = credential_scope(authorization)
            .and_then(|(akid, _)| member_of_access_key_id(akid))
            .filter(|id| self.0.config.account_index(id).is_some());
        let (account, arn, user) = match member {
            Some(id) => (
                id.to_owned(),
                format!(
                    "arn:aws:sts::{id}:assumed-role/{}/kms-rotation",
                    self.0.config.role_name
                ),
                format!("AROAORGBENCH{id}:kms-rotation"),
            ),
            None => (
                MANAGEMENT_ACCOUNT.to_owned(),
                format!("arn:aws:iam::{MANAGEMENT_ACCOUNT}:user/bench"),
                "AIDAORGBENCHMANAGEMENT".to_owned(),
            ),
        };
        xml_response(
            200,
            format!(
                r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>{arn}</Arn><UserId>{user}</UserId><Account>{account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#
            ),
        )
    }
}

impl Handler for Org {
    fn reply<'a>(&'a self, request: Request<'a>) -> impl Future<Output = Reply> + Send + 'a {
        self.handle(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_sdk_kms::error::ProvideErrorMetadata;
    use aws_sdk_sts::config::{BehaviorVersion, Region};

    fn small() -> OrgConfig {
        OrgConfig {
            accounts: 3,
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            keys_per_region: 30,
            latency: Duration::from_millis(1),
            quotas: true,
            role_name: ORG_ROLE_NAME.into(),
            denied_accounts: 1,
            ..OrgConfig::default()
        }
    }

    fn sts(endpoint: &str) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(endpoint)
                .credentials_provider(Credentials::for_tests())
                .build(),
        )
    }

    /// A KMS client of the account's role in a Region, and the role's credentials.
    async fn kms(
        endpoint: &str,
        account: &str,
        region: &str,
    ) -> (aws_sdk_kms::Client, Credentials) {
        let out = sts(endpoint)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/{ORG_ROLE_NAME}"))
            .role_session_name("kms-rotation")
            .send()
            .await
            .unwrap();
        let c = out.credentials().unwrap();
        assert_eq!(c.access_key_id(), member_access_key_id(account));
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "assumed",
        );
        let client = aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region.to_owned()))
                .endpoint_url(endpoint)
                .credentials_provider(credentials.clone())
                .build(),
        );
        (client, credentials)
    }

    #[test]
    fn key_ids_name_their_account_region_and_index() {
        let id = OrgConfig::key_id(199, 3, 249);
        assert_eq!(id, "000000c7-0003-4000-8000-0000000000f9");
        assert_eq!(OrgConfig::parse_key_id(&id), Some((199, 3, 249)));
        let arn = format!("arn:aws:kms:sa-east-1:200000000199:key/{id}");
        assert_eq!(OrgConfig::parse_key_id(&arn), Some((199, 3, 249)));
        assert_eq!(OrgConfig::parse_key_id("alias/aws/s3"), None);
        let c = OrgConfig::default();
        assert_eq!(c.keys(), 200_000);
        assert_eq!(c.account_id(7), "200000000007");
        assert_eq!(c.account_index("200000000007"), Some(7));
        assert_eq!(c.account_index("200000000200"), None);
        assert_eq!(c.account_index(MANAGEMENT_ACCOUNT), None);
        assert_eq!(c.cell_parts(c.cell(5, 2)), (5, 2));
        // Every kind of the catalogue turns up in an organization.
        let kinds: std::collections::HashSet<Kind> = (0..c.cells())
            .flat_map(|cell| (0..c.keys_per_region).map(move |k| (cell, k)))
            .map(|(cell, k)| c.kind(cell, k))
            .collect();
        assert_eq!(kinds.len(), Kind::ALL.len());
    }

    #[test]
    fn forms_are_decoded() {
        let f = form("Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A200000000001%3Arole%2FX&RoleSessionName=a+b%");
        assert_eq!(f["RoleArn"], "arn:aws:iam::200000000001:role/X");
        assert_eq!(f["RoleSessionName"], "a b%");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_account_region_answers_its_own_keys_through_its_role() {
        let org = Org::new(small());
        let (addr, task) = org.serve().await.unwrap();
        let endpoint = format!("http://{addr}");

        let me = sts(&endpoint).get_caller_identity().send().await.unwrap();
        assert_eq!(me.account(), Some(MANAGEMENT_ACCOUNT));

        for (account, region, a, r) in [
            ("200000000000", "eu-west-1", 0, 1),
            ("200000000001", "us-east-1", 1, 0),
        ] {
            let (kms, credentials) = kms(&endpoint, account, region).await;
            let mut pages = kms.list_keys().limit(7).into_paginator().send();
            let mut ids = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.unwrap();
                ids.extend(page.keys().iter().map(|k| k.key_id().unwrap().to_owned()));
            }
            let expected: Vec<String> = (0..30).map(|k| OrgConfig::key_id(a, r, k)).collect();
            assert_eq!(ids, expected);
            // Key 25 rotates; key 0 is AWS managed, named by an alias/aws/ alias.
            let described = kms.describe_key().key_id(&ids[25]).send().await.unwrap();
            let meta = described.key_metadata().unwrap();
            assert_eq!(meta.aws_account_id(), Some(account));
            assert_eq!(
                meta.arn(),
                Some(format!("arn:aws:kms:{region}:{account}:key/{}", ids[25]).as_str())
            );
            let rotation = kms
                .get_key_rotation_status()
                .key_id(&ids[25])
                .send()
                .await
                .unwrap();
            assert!(rotation.key_rotation_enabled());
            let aliases = kms.list_aliases().key_id(&ids[0]).send().await.unwrap();
            assert_eq!(aliases.aliases()[0].alias_name(), Some("alias/aws/s3"));
            // Another account-Region's key is not found here.
            let other = OrgConfig::key_id(1 - a, r, 25);
            let err = kms.describe_key().key_id(other).send().await.unwrap_err();
            assert_eq!(err.code(), Some("NotFoundException"));
            let who = aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new("us-east-1"))
                    .endpoint_url(&endpoint)
                    .credentials_provider(credentials)
                    .build(),
            )
            .get_caller_identity()
            .send()
            .await
            .unwrap();
            assert_eq!(who.account(), Some(account));
        }

        // The last account refuses the role, and so does any account outside the organization.
        for account in ["200000000002", "123456789012"] {
            let err = sts(&endpoint)
                .assume_role()
                .role_arn(format!("arn:aws:iam::{account}:role/{ORG_ROLE_NAME}"))
                .role_session_name("kms-rotation")
                .send()
                .await
                .unwrap_err();
            assert_eq!(err.code(), Some("AccessDenied"), "{err:?}");
        }
        task.abort();

        let counts = org.counts();
        let c = org.config();
        let cell = c.cell(0, 1);
        assert_eq!(counts.answered[cell][OrgCounts::op("ListKeys")], 5);
        assert_eq!(counts.answered[cell][OrgCounts::op("DescribeKey")], 2);
        assert_eq!(counts.answered[c.cell(0, 0)], [0; ORG_OPERATIONS.len()]);
        assert_eq!(counts.total("DescribeKey"), 4);
        assert_eq!(counts.assume_role, 2);
        assert_eq!(counts.assume_role_denied, 2);
        assert_eq!(counts.caller_identity, 3);
        assert_eq!(counts.refused, 0, "{:?}", counts.refused_samples);
        assert_eq!(counts.throttled_total(), 0);
        assert!(counts.peak_in_flight >= 1);
    }

    // The clock is paused (tokio's test-util): the buckets refill only when the test says, so
    // the count of throttled calls does not depend on how fast this machine answers them.
    #[tokio::test(start_paused = true)]
    async fn quotas_are_per_account_region() {
        let org = Org::new(OrgConfig {
            latency: Duration::ZERO,
            ..small()
        });
        // ListKeys: 500 a second, a burst of 100; 130 calls back to back in each of two cells.
        let mut throttled = 0;
        for account in ["200000000000", "200000000001"] {
            let authorization = format!(
                "AWS4-HMAC-SHA256 Credential={}/20261129/eu-west-1/kms/aws4_request, SignedHeaders=host, Signature=0",
                member_access_key_id(account)
            );
            for _ in 0..130 {
                let reply = org
                    .handle(Request {
                        target: "TrentService.ListKeys",
                        authorization: Some(&authorization),
                        body: b"{}",
                    })
                    .await;
                let Reply::Answer { status, body, .. } = reply else {
                    panic!("reset")
                };
                if status != 200 {
                    assert!(body.contains("ThrottlingException"), "{body}");
                    throttled += 1;
                }
            }
        }
        // The burst, each cell its own; nothing refilled (the clock did not move).
        let counts = org.counts();
        for cell in [org.config().cell(0, 1), org.config().cell(1, 1)] {
            let ok = counts.answered[cell][OrgCounts::op("ListKeys")];
            assert_eq!(ok, 100);
        }
        assert_eq!(throttled, 2 * 30);
        assert_eq!(counts.throttled_total(), throttled);
        assert_eq!(counts.refused, 0, "{:?}", counts.refused_samples);
        // Base credentials, or a Region outside the organization, are refused.
        for authorization in [
            "AWS4-HMAC-SHA256 Credential=AKIAORGBENCHMGMT0001/20261129/eu-west-1/kms/aws4_request",
            "AWS4-HMAC-SHA256 Credential=ASIA200000000000ORGB/20261129/eu-north-1/kms/aws4_request",
        ] {
            let reply = org
                .handle(Request {
                    target: "TrentService.ListKeys",
                    authorization: Some(authorization),
                    body: b"{}",
                })
                .await;
            assert!(matches!(reply, Reply::Answer { status: 400, .. }));
        }
        assert_eq!(org.counts().refused, 2);
    }
}
