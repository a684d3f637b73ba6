//! The benchmark's simulated account, served by the workspace's one fake AWS (`fake-aws`, its
//! HTTP server transport): N keys in a fixed mix ([`Kind`]), the expected verdict of each under
//! the run's rule parameters, and a [`Tally`] of what the fake saw, per API and per key.
//!
//! The fake answers KMS (`TrentService.*`: ListKeys, ListAliases, DescribeKey,
//! GetKeyRotationStatus, ListResourceTags) and Config (`StarlingDoveService.*`) over the AWS JSON
//! 1.1 protocol, with a fixed latency on every answer, per-API token buckets at the account's
//! request quotas that answer `ThrottlingException` when empty, and an optional share of KMS calls
//! throttled at random (seeded). It counts every HTTP attempt per API and records what ListKeys
//! handed out and which evaluations Config took; the tally checks each against the key's expected
//! verdict under the rule parameters of the run.
//!
//! Faults ([`Faults`]), each deterministic: ListKeys refused from a chosen page on, a seeded share
//! of evaluations listed in FailedEvaluations (once, or on every attempt), chosen PutEvaluations
//! calls failed whole (retried by the SDK, or not), and a clean-up read
//! (GetComplianceDetailsByConfigRule) that answers the ids of the account's evaluated keys and of
//! keys deleted since.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use fake_aws::{FakeAws, FaultPlan, Journal, Key, Rotation, Traffic};
use kms_rotation_core::params::{RuleParameters, DEFAULT_EXCEPTION_TAG_KEY};
use tokio::task::JoinHandle;

pub use fake_aws::{ACCOUNT, REGION};
/// Where the account also keeps a valid-looking exception on its rotation-off keys: a tag the
/// rule must ignore, because it is not the configured `exceptionTagKey`.
const DECOY_TAG_KEY: &str = "rotation-waiver";

/// The APIs the simulation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    ListKeys,
    ListAliases,
    DescribeKey,
    GetKeyRotationStatus,
    ListResourceTags,
    PutEvaluations,
    GetComplianceDetailsByConfigRule,
}

impl Api {
    pub const ALL: [Api; 7] = [
        Api::ListKeys,
        Api::ListAliases,
        Api::DescribeKey,
        Api::GetKeyRotationStatus,
        Api::ListResourceTags,
        Api::PutEvaluations,
        Api::GetComplianceDetailsByConfigRule,
    ];
    pub const KMS: [Api; 5] = [
        Api::ListKeys,
        Api::ListAliases,
        Api::DescribeKey,
        Api::GetKeyRotationStatus,
        Api::ListResourceTags,
    ];

    /// The operation's name: `TrentService.<name>` or `StarlingDoveService.<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Api::ListKeys => "ListKeys",
            Api::ListAliases => "ListAliases",
            Api::DescribeKey => "DescribeKey",
            Api::GetKeyRotationStatus => "GetKeyRotationStatus",
            Api::ListResourceTags => "ListResourceTags",
            Api::PutEvaluations => "PutEvaluations",
            Api::GetComplianceDetailsByConfigRule => "GetComplianceDetailsByConfigRule",
        }
    }

    /// The default account quota (KMS developer guide); Config's calls are not limited here.
    pub fn account_quota(self) -> Option<f64> {
        fake_aws::kms_quota(self.name())
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

    /// Key `i` as KMS describes it. Every key has a `team` tag; rotation-off keys also carry a
    /// valid exception under a tag key that is not the configured one (the rule must ignore it);
    /// the exception keys carry theirs under the configured `exceptionTagKey`.
    fn key(&self, i: usize) -> Key {
        let kind = Kind::of(i);
        let tag = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let configured = self.params.exception_tag_key.as_str();
        let mut tags = vec![tag("team", "payments")];
        match kind {
            Kind::RotationOff => tags.push(tag(
                self.decoy_tag_key(),
                "owner=team-payments expires=2099-12-31",
            )),
            Kind::ExceptionValid => tags.push(tag(
                configured,
                "owner=team-payments expires=2099-12-31 ticket=SEC-1",
            )),
            Kind::ExceptionExpired => {
                tags.push(tag(configured, "owner=team-payments expires=2020-01-31"))
            }
            _ => {}
        }
        let (key_spec, key_usage) = match kind {
            Kind::Asymmetric => ("RSA_2048", "SIGN_VERIFY"),
            Kind::Hmac => ("HMAC_256", "GENERATE_VERIFY_MAC"),
            _ => ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        };
        Key {
            aws_managed: kind == Kind::AwsManaged,
            key_spec,
            key_usage,
            key_state: match kind {
                Kind::Disabled => "Disabled",
                Kind::PendingDeletion => "PendingDeletion",
                _ => "Enabled",
            },
            origin: if kind == Kind::Imported {
                "EXTERNAL"
            } else {
                "AWS_KMS"
            },
            replica: kind == Kind::Replica,
            rotation: match kind {
                Kind::Asymmetric | Kind::Hmac | Kind::Imported => Rotation::Unsupported,
                _ if kind.rotation_on() => Rotation::On {
                    period_days: rotation_period(i),
                },
                _ => Rotation::Off,
            },
            tags: Some(tags),
            ..Key::new(key_id(i))
        }
    }

    /// The fake's account: the live keys, the deleted ones, and (with `history`) the results
    /// Config holds: each live key's verdict of the last run, and a COMPLIANT or NON_COMPLIANT
    /// result for each deleted key (its verdict before it was deleted).
    fn simulated(&self, history: bool) -> fake_aws::Account {
        let live = (0..self.keys).map(|i| self.key(i)).collect();
        let deleted = (self.keys..self.ids()).map(key_id).collect();
        let held = if history {
            (0..self.ids())
                .map(|i| {
                    let recorded = if self.is_live(i) {
                        self.expected(i)
                    } else if i.is_multiple_of(2) {
                        COMPLIANT
                    } else {
                        NON_COMPLIANT
                    };
                    (key_id(i), recorded)
                })
                .collect()
        } else {
            Vec::new()
        };
        fake_aws::Account::new(live)
            .with_deleted(deleted)
            .with_history(held)
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

#[cfg(test)]
fn key_arn(i: usize) -> String {
    fake_aws::key_arn(&key_id(i))
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

/// One simulated account behind the fake AWS.
pub struct Sim {
    account: Account,
    fake: FakeAws,
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
    pub fn new(cfg: SimConfig) -> Self {
        let account = cfg.account();
        let plan = FaultPlan {
            seed: cfg.seed,
            list_keys_denied_from_page: cfg.faults.list_keys_fail_page,
            refuse_once_share: cfg.faults.refuse_once_share,
            refuse_always_share: cfg.faults.refuse_always_share,
            put_fail_retried: cfg.faults.put_fail_retried.clone(),
            put_fail_refused: cfg.faults.put_fail_refused.clone(),
            ..FaultPlan::none()
        };
        let traffic = Traffic {
            latency: cfg.latency,
            quota_share: cfg.quotas.then_some(cfg.quota_share),
            random_throttling: cfg.throttle_share,
            seed: cfg.seed,
        };
        let fake =
            FakeAws::with_account(account.simulated(cfg.faults.cleanup_history), plan, traffic);
        Self { account, fake }
    }

    /// Serve on 127.0.0.1 (a free port) until the task is aborted.
    pub async fn serve(&self) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        self.fake.serve().await
    }

    pub fn tally(&self) -> Tally {
        let account = &self.account;
        let ids = account.ids();
        self.fake.journal(|j| {
            let per_api = |map| -> HashMap<Api, u64> {
                Api::ALL
                    .iter()
                    .map(|a| (*a, Journal::count(map, a.name()) as u64))
                    .collect()
            };
            let mut taken = vec![0u16; ids];
            let mut wrong = vec![false; ids];
            let mut unknown = 0;
            for r in &j.received {
                let Some(i) = key_index(&r.resource_id).filter(|i| *i < ids) else {
                    unknown += 1;
                    continue;
                };
                if r.annotation.is_empty()
                    || r.annotation.chars().count() > 256
                    || account.expected(i) != r.compliance
                    || r.resource_type != "AWS::KMS::Key"
                {
                    wrong[i] = true;
                }
                if r.taken {
                    taken[i] = taken[i].saturating_add(1);
                }
            }
            let mut listed = vec![false; account.keys];
            for i in j.listed.iter().filter_map(|id| key_index(id)) {
                if let Some(l) = listed.get_mut(i) {
                    *l = true;
                }
            }
            let injected = |what: &str| Journal::count(&j.injected, what);
            Tally {
                attempts: per_api(&j.attempts),
                throttled_quota: per_api(&j.throttled_by_quota),
                throttled_injected: per_api(&j.throttled_at_random),
                evaluations: taken.iter().map(|n| usize::from(*n)).sum(),
                taken,
                wrong,
                listed,
                unknown,
                refused: injected("failed_evaluations"),
                list_faults: injected("listkeysdenied"),
                put_failed_retried: injected("put_failed_retried"),
                put_failed_refused: injected("put_failed_refused"),
                cleanup_ids: j.results_answered,
                max_batch: j.batches.iter().map(|b| b.evaluations).max().unwrap_or(0),
                full_batches: j.batches.iter().filter(|b| b.evaluations == 100).count(),
                first_put: j.batches.first().map(|b| b.at),
                last_put: j.batches.last().map(|b| b.at),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fake_aws::hash01;

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
