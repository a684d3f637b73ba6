//! What goes wrong, and how fast the fake answers: seeded faults per attempt ([`FaultPlan`]), the
//! KMS request quotas and random throttling ([`Traffic`]).

use std::time::Duration;

use tokio::time::Instant;

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

/// The attempt timeout of the test clients; a `Timeout` fault answers after ten times this.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(100);

/// What fails, and when. Every fault falls the same way on every run: per attempt by a seeded hash
/// of (operation, request identity, attempt number), per evaluation by a seeded hash of its key,
/// per page or call by number.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub seed: u64,
    /// Share of attempts that fail, per service, with one of `kinds`.
    pub kms: f64,
    pub config: f64,
    pub sts: f64,
    pub kinds: Vec<Fault>,
    /// Share of evaluations in each PutEvaluations answer listed in FailedEvaluations (drawn
    /// anew each time a key's evaluation arrives).
    pub failed_evaluations: f64,
    /// Share of keys whose evaluation Config lists in FailedEvaluations the first time it arrives.
    pub refuse_once_share: f64,
    /// Share of keys whose evaluation Config lists in FailedEvaluations every time it arrives.
    pub refuse_always_share: f64,
    /// PutEvaluations answers InvalidResultTokenException.
    pub invalid_result_token: bool,
    /// PutEvaluations attempts (1-based, counted over the run, retries included) answered HTTP
    /// 503 ServiceUnavailable: the SDK retries them.
    pub put_fail_retried: Vec<u64>,
    /// PutEvaluations attempts answered HTTP 400 (not retried): the whole batch is not taken.
    pub put_fail_refused: Vec<u64>,
    /// AssumeRole answers AccessDenied.
    pub assume_role_denied: bool,
    /// How long a `Timeout` fault holds the answer back.
    pub stall: Duration,
    /// ListKeys answers AccessDeniedException (not retried) from this page on (1 = the first).
    pub list_keys_denied_from_page: Option<usize>,
    /// Extra time DescribeKey, GetKeyRotationStatus and ListResourceTags take, so keys are still
    /// being evaluated when something else (the listing) breaks, as in a large account.
    pub key_read_latency: Duration,
    /// Extra time every PutEvaluations attempt takes (a slow Config), so that a writer that keeps
    /// several batches in flight has them in flight together.
    pub put_latency: Duration,
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
            refuse_once_share: 0.0,
            refuse_always_share: 0.0,
            invalid_result_token: false,
            put_fail_retried: Vec::new(),
            put_fail_refused: Vec::new(),
            assume_role_denied: false,
            stall: ATTEMPT_TIMEOUT * 10,
            list_keys_denied_from_page: None,
            key_read_latency: Duration::ZERO,
            put_latency: Duration::ZERO,
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

impl Default for FaultPlan {
    fn default() -> Self {
        Self::none()
    }
}

/// The default KMS request quotas per account and Region (KMS Developer Guide, "Request
/// quotas"), in requests per second; `None` for an operation the fake does not limit.
pub fn kms_quota(operation: &str) -> Option<f64> {
    Some(match operation {
        "ListKeys" | "ListAliases" => 500.0,
        "DescribeKey" => 2000.0,
        "GetKeyRotationStatus" => 1000.0,
        "ListResourceTags" => 2000.0,
        _ => return None,
    })
}

/// The operations [`kms_quota`] limits.
pub const QUOTA_OPERATIONS: [&str; 5] = [
    "ListKeys",
    "ListAliases",
    "DescribeKey",
    "GetKeyRotationStatus",
    "ListResourceTags",
];

/// How the fake answers when nothing fails: after a latency, within the account's quotas.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    /// Time every answer takes.
    pub latency: Duration,
    /// Enforce the KMS quotas ([`kms_quota`]) with token buckets (a fifth of a second of burst),
    /// at this share of each (the rest is taken by other callers in the account): an attempt
    /// over it is answered ThrottlingException.
    pub quota_share: Option<f64>,
    /// Share of KMS attempts answered ThrottlingException at random, on top of the quotas.
    pub random_throttling: f64,
    /// Seed of the random throttling.
    pub seed: u64,
}

pub(crate) struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(rate: f64) -> Self {
        // A fifth of a second's worth of burst.
        let capacity = (rate / 5.0).max(1.0);
        Self {
            rate,
            capacity,
            tokens: capacity,
            last: Instant::now(),
        }
    }

    pub(crate) fn take(&mut self) -> bool {
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

/// A uniform draw in [0, 1) from a seed and an index (splitmix64).
pub fn hash01(seed: u64, i: u64) -> f64 {
    let mut z = seed.wrapping_add(i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// A deterministic hash of (seed, parts, n) to [0, 1).
pub(crate) fn unit(seed: u64, parts: &[&str], n: u32) -> f64 {
    use std::hash::{Hash, Hasher};
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_seeded() {
        let a: Vec<f64> = (0..5).map(|i| hash01(7, i)).collect();
        let b: Vec<f64> = (0..5).map(|i| hash01(7, i)).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|x| (0.0..1.0).contains(x)));
        assert_ne!(hash01(7, 0), hash01(8, 0));
        assert_eq!(unit(1, &["a", "b"], 2), unit(1, &["a", "b"], 2));
        assert_ne!(unit(1, &["a", "b"], 2), unit(1, &["a", "b"], 3));
    }

    #[test]
    fn list_aliases_shares_the_list_keys_quota() {
        assert_eq!(kms_quota("ListAliases"), Some(500.0));
        assert_eq!(kms_quota("ListKeys"), Some(500.0));
        assert!(QUOTA_OPERATIONS.iter().all(|op| kms_quota(op).is_some()));
        assert_eq!(kms_quota("PutEvaluations"), None);
    }
}
