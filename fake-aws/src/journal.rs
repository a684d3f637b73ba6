//! What the fake saw and did: attempts, throttles, faults, evaluations, listed keys.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

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

/// One PutEvaluations call that Config answered (valid, not failed whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    pub evaluations: usize,
    /// When it arrived, since the fake was made.
    pub at: Duration,
}

/// What the fake did: requests, faults, evaluations.
#[derive(Debug, Default)]
pub struct Journal {
    /// Attempts per operation, faults and throttles included.
    pub attempts: BTreeMap<String, usize>,
    /// Attempts per operation answered ThrottlingException by a quota ([`crate::Traffic`]).
    pub throttled_by_quota: BTreeMap<String, usize>,
    /// Attempts per operation answered ThrottlingException at random ([`crate::Traffic`]).
    pub throttled_at_random: BTreeMap<String, usize>,
    /// Faults injected by the [`crate::FaultPlan`], by kind (`failed_evaluations` counts
    /// evaluations listed as failed).
    pub injected: BTreeMap<String, usize>,
    /// Every evaluation received, in order.
    pub received: Vec<Received>,
    /// Every PutEvaluations call Config answered, in order.
    pub batches: Vec<Batch>,
    /// The access key id that signed each KMS and Config attempt: (operation, key id).
    pub signers: Vec<(String, String)>,
    /// Requests the fake could not parse or did not expect: (operation, reason).
    pub refused: Vec<(String, String)>,
    /// Every key id a successful ListKeys answer carried: the keys the rule has seen.
    pub listed: HashSet<String>,
    /// Results GetComplianceDetailsByConfigRule answered.
    pub results_answered: usize,
    /// PutEvaluations attempts in flight now, and the most at once.
    pub put_in_flight: usize,
    pub put_peak_in_flight: usize,
    /// For each PutEvaluations attempt refused whole (HTTP 400), how many other PutEvaluations
    /// attempts were in flight when it was answered.
    pub others_in_flight_at_refusal: Vec<usize>,
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

    /// A count of `map` (attempts, throttles, injected faults), 0 when absent.
    pub fn count(map: &BTreeMap<String, usize>, key: &str) -> usize {
        map.get(key).copied().unwrap_or(0)
    }
}
