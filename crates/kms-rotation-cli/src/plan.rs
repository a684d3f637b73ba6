//! The plan of remediation, pure: which keys `EnableKeyRotation` fixes, in what order and batches.
//! No AWS call is made here; the CLI reads the keys' tags for the plan and applies it
//! ([`crate::commands::remediate`], [`crate::apply`]).
//!
//! Only keys that the rule's decision reports NON_COMPLIANT are candidates, and only when the
//! reason is one `EnableKeyRotation` fixes: rotation off, or a period above the maximum. Multi-Region
//! replicas are changed through their primary key (replicas share its rotation), once per primary.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::exposure::{Classification, Exposure};
use kms_rotation_core::decision::{Compliance, KeyFacts, Reason};
use kms_rotation_core::evaluate::KeyEvaluation;

/// Keys changed per batch when `--batch-size` is not given.
pub(crate) const DEFAULT_BATCH_SIZE: u32 = 25;
/// EnableKeyRotation calls a second in each account-Region when `--max-rate` is not given: the
/// default quota, from which the pacer comes down when KMS throttles (a member account with a
/// lower quota, or other callers sharing it).
pub(crate) const DEFAULT_MAX_RATE: u32 = MAX_RATE_CEILING;
/// The default EnableKeyRotation quota, per account and Region.
pub(crate) const MAX_RATE_CEILING: u32 = 15;

/// `--priority-tag KEY=VALUE`: keys carrying this tag go first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityTag {
    pub key: String,
    pub value: String,
}

impl PriorityTag {
    /// The tag `key=value`.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }

    /// Whether the key's tags carry this one.
    pub fn matches(&self, tags: &[(String, String)]) -> bool {
        tags.iter().any(|(k, v)| *k == self.key && *v == self.value)
    }
}

impl FromStr for PriorityTag {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => Ok(Self::new(key.trim(), value.trim())),
            _ => Err(format!(
                "{s:?} is not KEY=VALUE (a tag key and value, such as env=prod)"
            )),
        }
    }
}

impl std::fmt::Display for PriorityTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// What `EnableKeyRotation` fixes on a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fix {
    RotationOff,
    PeriodTooLong { days: i32, max: i32 },
}

impl std::fmt::Display for Fix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RotationOff => f.write_str("rotation off"),
            Self::PeriodTooLong { days, max } => {
                write!(f, "rotation every {days} days, above the maximum of {max}")
            }
        }
    }
}

/// Where `EnableKeyRotation` goes: the key itself, or the primary of a multi-Region replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub account: String,
    pub region: String,
    pub key_id: String,
    /// What is sent as `KeyId`: the key ARN when known.
    pub key: String,
}

/// Where a key's change goes. A replica's goes to its primary, in the primary's Region (of the
/// same account: a multi-Region key's replicas are in its account).
pub(crate) fn target_of(account: &str, region: &str, facts: &KeyFacts) -> Result<Target, String> {
    match &facts.replica_of {
        Some(primary) => parse_key_arn(primary)
            .map(|(region, key_id)| Target {
                account: account.to_owned(),
                region,
                key_id,
                key: primary.clone(),
            })
            .ok_or_else(|| {
                format!("multi-Region replica whose primary key ARN is not known ({primary}): enable rotation on the primary key")
            }),
        None => Ok(Target {
            account: account.to_owned(),
            region: region.to_owned(),
            key_id: facts.key_id.clone(),
            key: facts.arn.clone().unwrap_or_else(|| facts.key_id.clone()),
        }),
    }
}

/// `arn:<partition>:kms:<region>:<account>:key/<key-id>` to (region, key id).
pub(crate) fn parse_key_arn(arn: &str) -> Option<(String, String)> {
    let arn = kms_rotation_core::arn::Arn::parse(arn).ok()?;
    let key_id = arn.kms_key_id()?;
    (!arn.region.is_empty()).then(|| (arn.region.to_owned(), key_id.to_owned()))
}

/// What becomes of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// In the plan, in this batch (1-based); nothing changed yet. `change` says what will change.
    Planned {
        batch: usize,
        change: String,
    },
    /// Rotation enabled and verified.
    Changed(String),
    AlreadyCompliant(String),
    Skipped(String),
    Failed(String),
    /// In the plan but not run: the operator stopped.
    NotApplied(String),
}

impl Outcome {
    /// The outcome's name in the report: `planned`, `changed`, `already_compliant`, `skipped`,
    /// `failed`, `not_applied`.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Planned { .. } => "planned",
            Self::Changed(_) => "changed",
            Self::AlreadyCompliant(_) => "already_compliant",
            Self::Skipped(_) => "skipped",
            Self::Failed(_) => "failed",
            Self::NotApplied(_) => "not_applied",
        }
    }

    /// Why, or what was done; for a planned key, its batch.
    pub(crate) fn detail(&self) -> String {
        match self {
            Self::Planned { batch, .. } => format!("batch {batch}"),
            Self::Changed(s)
            | Self::AlreadyCompliant(s)
            | Self::Skipped(s)
            | Self::Failed(s)
            | Self::NotApplied(s) => s.clone(),
        }
    }
}

/// Whether a key is a candidate, from the rule's verdict alone: its reason code says what
/// EnableKeyRotation can fix. Nothing is read again and no row of the decision is re-derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection {
    Candidate(Fix),
    Done(Outcome),
}

/// Select a key from its verdict: a candidate with its fix, or its outcome.
pub(crate) fn select(evaluation: &KeyEvaluation, max_period: Option<i32>) -> Selection {
    let verdict = &evaluation.verdict;
    let skip = |why: String| Selection::Done(Outcome::Skipped(why));
    match verdict.compliance {
        Compliance::Compliant => {
            return Selection::Done(Outcome::AlreadyCompliant(verdict.annotation.clone()))
        }
        Compliance::NotApplicable => {
            return skip(format!("NOT_APPLICABLE: {}", verdict.annotation))
        }
        Compliance::NonCompliant => {}
    }
    match verdict.reason {
        Reason::RotationOff
        | Reason::ReplicaRotationOff
        | Reason::ExceptionExpired
        | Reason::ExceptionMalformed => Selection::Candidate(Fix::RotationOff),
        Reason::PeriodAboveMaximum => match (verdict.period_days, max_period) {
            (Some(days), Some(max)) if days > max => {
                Selection::Candidate(Fix::PeriodTooLong { days, max })
            }
            _ => skip(verdict.annotation.clone()),
        },
        Reason::DisabledRotationOff => skip(
            "the key is disabled, and KMS refuses EnableKeyRotation on disabled keys (DisabledException): enable it first (aws kms enable-key), or record an exception".into(),
        ),
        Reason::ExceptionUnreadable => skip(format!(
            "the key's tags could not be read, so an approved exception cannot be ruled out: grant kms:ListResourceTags, then run again ({})",
            verdict.annotation
        )),
        Reason::PeriodUnknown => skip(
            "rotation is on but KMS did not report its period; check with aws kms get-key-rotation-status".into(),
        ),
        Reason::AccessDenied => skip(format!(
            "the key could not be read: grant the read permission the annotation names to the identity you run as, then run again ({})",
            verdict.annotation
        )),
        _ => skip(verdict.annotation.clone()),
    }
}

/// Triage one evaluated key from its verdict alone: what EnableKeyRotation fixes and where the
/// change goes, or what becomes of the key when it is not a candidate.
pub(crate) fn triage(
    account: &str,
    region: &str,
    evaluation: &KeyEvaluation,
    max_period: Option<i32>,
) -> Result<(Fix, Target), Outcome> {
    let fix = match select(evaluation, max_period) {
        Selection::Done(outcome) => return Err(outcome),
        Selection::Candidate(fix) => fix,
    };
    // `select` returns a candidate only for a key with facts.
    let Some(facts) = &evaluation.facts else {
        return Err(Outcome::Skipped(evaluation.verdict.annotation.clone()));
    };
    let target = target_of(account, region, facts).map_err(Outcome::Skipped)?;
    Ok((fix, target))
}

/// A candidate: a NON_COMPLIANT key that EnableKeyRotation fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub account: String,
    pub region: String,
    pub key_id: String,
    pub fix: Fix,
    pub tags: Vec<(String, String)>,
    pub target: Target,
    /// How far its key policy lets principals in ([`crate::exposure`]), and why.
    pub exposure: Classification,
    /// `--last-use`: not used for `--unused-days` ([`crate::last_use::unused_for`]); such keys go
    /// after the keys in use of the same exposure and priority.
    pub unused: bool,
}

impl Candidate {
    /// Whether the change goes to another key: the primary of this replica.
    pub(crate) fn via_primary(&self) -> bool {
        self.target.region != self.region || self.target.key_id != self.key_id
    }
}

/// One EnableKeyRotation call and the keys it fixes (a primary and its listed replicas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Action {
    pub target: Target,
    /// The most exposed of its keys; the more exposed go first.
    pub exposure: Exposure,
    /// Index of the first `--priority-tag` that a key of the action matches; lower goes first.
    pub priority: usize,
    /// Every key of the action is unused (`--last-use`): it goes after those in use.
    pub unused: bool,
    pub keys: Vec<Candidate>,
}

impl Action {
    /// The order's criteria: exposure, priority, then in use before unused.
    fn tier(&self) -> (Exposure, usize, bool) {
        (self.exposure, self.priority, self.unused)
    }
}

/// The index of the first priority tag the tags match, or `priority_tags.len()` for none.
pub(crate) fn priority(tags: &[(String, String)], priority_tags: &[PriorityTag]) -> usize {
    priority_tags
        .iter()
        .position(|p| p.matches(tags))
        .unwrap_or(priority_tags.len())
}

/// One action per target (a primary listed with its replicas is changed once), ordered by
/// exposure (public, cross-account, unknown, then private: [`Exposure`]'s order), then priority,
/// then keys in use before unused ones (`--last-use`), then the account-Regions in turn ([`interleave_places`]; in account and Region order, each
/// one's keys by key id).
pub(crate) fn plan(candidates: Vec<Candidate>, priority_tags: &[PriorityTag]) -> Vec<Action> {
    let mut by_target: BTreeMap<(String, String, String), Action> = BTreeMap::new();
    for c in candidates {
        let p = priority(&c.tags, priority_tags);
        let action = by_target
            .entry((
                c.target.account.clone(),
                c.target.region.clone(),
                c.target.key_id.clone(),
            ))
            .or_insert_with(|| Action {
                target: c.target.clone(),
                exposure: c.exposure.exposure,
                priority: p,
                unused: c.unused,
                keys: Vec::new(),
            });
        action.priority = action.priority.min(p);
        action.unused &= c.unused;
        action.exposure = action.exposure.min(c.exposure.exposure);
        // Prefer the ARN as the KeyId sent.
        if !action.target.key.starts_with("arn:") && c.target.key.starts_with("arn:") {
            action.target.key.clone_from(&c.target.key);
        }
        action.keys.push(c);
    }
    let mut actions: Vec<Action> = by_target.into_values().collect();
    for a in &mut actions {
        a.keys.sort_by(|x, y| {
            (&x.account, &x.region, &x.key_id).cmp(&(&y.account, &y.region, &y.key_id))
        });
    }
    // Stable: the map's account, Region and key id order stays within an exposure and priority.
    actions.sort_by_key(Action::tier);
    interleave_places(actions)
}

/// Within each exposure and priority, the account-Regions take turns: the first key of each (in
/// account and Region order), then the second of each, and so on. A batch then spreads over as
/// many account-Regions as it can, each of which changes its keys at once under its own quota,
/// instead of queueing a whole batch on one account-Region's 15 calls a second.
fn interleave_places(actions: Vec<Action>) -> Vec<Action> {
    let mut out = Vec::with_capacity(actions.len());
    let mut rest = actions.into_iter().peekable();
    while let Some(first) = rest.next() {
        let tier = first.tier();
        let mut places: BTreeMap<(String, String), std::collections::VecDeque<Action>> =
            BTreeMap::new();
        let mut add = |a: Action| {
            places
                .entry((a.target.account.clone(), a.target.region.clone()))
                .or_default()
                .push_back(a);
        };
        add(first);
        while let Some(a) = rest.next_if(|a| a.tier() == tier) {
            add(a);
        }
        while !places.is_empty() {
            places.retain(|_, queue| {
                if let Some(a) = queue.pop_front() {
                    out.push(a);
                }
                !queue.is_empty()
            });
        }
    }
    out
}

/// The plan cut into batches of at most `size` actions.
pub(crate) fn batches(actions: Vec<Action>, size: usize) -> Vec<Vec<Action>> {
    let size = size.max(1);
    let mut out = Vec::new();
    let mut rest = actions.into_iter().peekable();
    while rest.peek().is_some() {
        out.push(rest.by_ref().take(size).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kms::types::KeyState;
    use kms_rotation_core::decision::Verdict;

    const ACCOUNT: &str = "111122223333";

    fn arn(region: &str, id: &str) -> String {
        format!("arn:aws:kms:{region}:{ACCOUNT}:key/{id}")
    }

    fn facts(region: &str, id: &str) -> KeyFacts {
        KeyFacts::sample(id).with_arn(arn(region, id))
    }

    fn evaluation(f: Option<KeyFacts>, compliance: Compliance, reason: Reason) -> KeyEvaluation {
        KeyEvaluation {
            key_id: f.as_ref().map(|f| f.key_id.clone()).unwrap_or("k".into()),
            facts: f,
            verdict: Verdict::new(compliance, reason, "the rule's annotation"),
        }
    }

    fn candidate(region: &str, id: &str, tags: &[(&str, &str)]) -> Candidate {
        let f = facts(region, id);
        Candidate {
            account: ACCOUNT.into(),
            region: region.into(),
            key_id: id.into(),
            fix: Fix::RotationOff,
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            target: target_of(ACCOUNT, region, &f).unwrap(),
            exposure: Classification {
                exposure: Exposure::Private,
                reason: "every Allow is limited to the account".into(),
            },
            unused: false,
        }
    }

    fn exposed(mut c: Candidate, exposure: Exposure) -> Candidate {
        c.exposure = Classification {
            exposure,
            reason: format!("{exposure} for the test"),
        };
        c
    }

    fn replica(region: &str, id: &str, primary_region: &str, tags: &[(&str, &str)]) -> Candidate {
        let mut f = facts(region, id);
        f.replica_of = Some(arn(primary_region, id));
        Candidate {
            target: target_of(ACCOUNT, region, &f).unwrap(),
            ..candidate(region, id, tags)
        }
    }

    fn order(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| format!("{}/{}", a.target.region, a.target.key_id))
            .collect()
    }

    #[test]
    fn priority_tags_parse_as_key_equals_value() {
        assert_eq!(
            "env=prod".parse::<PriorityTag>(),
            Ok(PriorityTag::new("env", "prod"))
        );
        assert_eq!(
            "a=b=c".parse::<PriorityTag>(),
            Ok(PriorityTag::new("a", "b=c"))
        );
        assert_eq!(
            "tier=".parse::<PriorityTag>(),
            Ok(PriorityTag::new("tier", ""))
        );
        for bad in ["env", "=prod", ""] {
            assert!(bad.parse::<PriorityTag>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_reason_alone_says_what_enable_key_rotation_fixes() {
        use Compliance::*;
        use Selection::*;
        let key = || Some(facts("us-east-1", "k"));
        // Every NON_COMPLIANT reason EnableKeyRotation fixes.
        for reason in [
            Reason::RotationOff,
            Reason::ReplicaRotationOff,
            Reason::ExceptionExpired,
            Reason::ExceptionMalformed,
        ] {
            assert_eq!(
                select(&evaluation(key(), NonCompliant, reason), None),
                Candidate(Fix::RotationOff),
                "{reason}"
            );
        }
        let mut long = evaluation(key(), NonCompliant, Reason::PeriodAboveMaximum);
        long.verdict.period_days = Some(730);
        assert_eq!(
            select(&long, Some(365)),
            Candidate(Fix::PeriodTooLong {
                days: 730,
                max: 365
            })
        );
        // And every other verdict, with what the operator is told.
        let rows: Vec<(KeyEvaluation, &str, &str)> = vec![
            (
                evaluation(key(), Compliant, Reason::RotationOn),
                "already_compliant",
                "the rule's annotation",
            ),
            (
                evaluation(key(), NotApplicable, Reason::Hmac),
                "skipped",
                "NOT_APPLICABLE: the rule's annotation",
            ),
            (
                evaluation(key(), NonCompliant, Reason::AccessDenied),
                "skipped",
                "could not be read",
            ),
            (
                evaluation(key(), NonCompliant, Reason::PeriodUnknown),
                "skipped",
                "did not report its period",
            ),
            (
                evaluation(key(), NonCompliant, Reason::ExceptionUnreadable),
                "skipped",
                "an approved exception cannot be ruled out",
            ),
            (
                evaluation(None, NonCompliant, Reason::AccessDenied),
                "skipped",
                "the rule's annotation",
            ),
            (
                evaluation(
                    Some(KeyFacts {
                        key_state: KeyState::Disabled,
                        ..facts("us-east-1", "k")
                    }),
                    NonCompliant,
                    Reason::DisabledRotationOff,
                ),
                "skipped",
                "enable it first (aws kms enable-key)",
            ),
            // A period above the maximum that the verdict does not carry is not guessed.
            (
                evaluation(key(), NonCompliant, Reason::PeriodAboveMaximum),
                "skipped",
                "the rule's annotation",
            ),
        ];
        for (e, label, says) in rows {
            let Done(outcome) = select(&e, Some(365)) else {
                panic!("{e:?} became a candidate");
            };
            assert_eq!(outcome.label(), label, "{:?}", e.verdict.reason);
            assert!(outcome.detail().contains(says), "{outcome:?} lacks {says}");
        }
    }

    #[test]
    fn triage_gives_a_candidate_its_fix_and_target_or_the_key_its_outcome() {
        let off = evaluation(
            Some(facts("us-east-1", "k")),
            Compliance::NonCompliant,
            Reason::RotationOff,
        );
        assert_eq!(
            triage(ACCOUNT, "us-east-1", &off, None),
            Ok((
                Fix::RotationOff,
                Target {
                    account: ACCOUNT.into(),
                    region: "us-east-1".into(),
                    key_id: "k".into(),
                    key: arn("us-east-1", "k"),
                }
            ))
        );
        let on = evaluation(
            Some(facts("us-east-1", "k")),
            Compliance::Compliant,
            Reason::RotationOn,
        );
        assert!(matches!(
            triage(ACCOUNT, "us-east-1", &on, None),
            Err(Outcome::AlreadyCompliant(_))
        ));
        let mut lost = facts("eu-west-1", "mrk-1");
        lost.replica_of = Some("(primary ARN not returned)".into());
        let replica = evaluation(
            Some(lost),
            Compliance::NonCompliant,
            Reason::ReplicaRotationOff,
        );
        let Err(Outcome::Skipped(why)) = triage(ACCOUNT, "eu-west-1", &replica, None) else {
            panic!("a replica without its primary's ARN became a candidate");
        };
        assert!(why.contains("enable rotation on the primary key"), "{why}");
    }

    #[test]
    fn replicas_target_their_primary_in_its_region() {
        let mut f = facts("eu-west-1", "mrk-1");
        f.replica_of = Some(arn("us-west-2", "mrk-1"));
        assert_eq!(
            target_of(ACCOUNT, "eu-west-1", &f),
            Ok(Target {
                account: ACCOUNT.into(),
                region: "us-west-2".into(),
                key_id: "mrk-1".into(),
                key: arn("us-west-2", "mrk-1"),
            })
        );
        f.replica_of = Some("(primary ARN not returned)".into());
        assert!(target_of(ACCOUNT, "eu-west-1", &f)
            .unwrap_err()
            .contains("primary"));
        assert_eq!(parse_key_arn("arn:aws:kms:us-east-1:1:alias/x"), None);
        assert_eq!(
            parse_key_arn("arn:aws-cn:kms:cn-north-1:1:key/k"),
            Some(("cn-north-1".into(), "k".into()))
        );
    }

    #[test]
    fn priority_tags_go_first_in_the_order_given_then_region_and_key_id() {
        let tags = [
            PriorityTag::new("env", "prod"),
            PriorityTag::new("env", "staging"),
        ];
        let actions = plan(
            vec![
                candidate("us-east-1", "b", &[]),
                candidate("us-east-1", "s", &[("env", "staging")]),
                candidate("eu-west-1", "z", &[]),
                candidate("us-east-1", "p2", &[("env", "prod"), ("team", "x")]),
                candidate("eu-west-1", "p1", &[("env", "prod")]),
                candidate("us-east-1", "a", &[("env", "dev")]),
            ],
            &tags,
        );
        assert_eq!(
            order(&actions),
            [
                "eu-west-1/p1",
                "us-east-1/p2",
                "us-east-1/s",
                "eu-west-1/z",
                "us-east-1/a",
                "us-east-1/b"
            ]
        );
        assert_eq!(
            actions.iter().map(|a| a.priority).collect::<Vec<_>>(),
            [0, 0, 1, 2, 2, 2]
        );
        // No priority tags: Region, then key id.
        let plain = plan(
            vec![
                candidate("us-east-1", "b", &[]),
                candidate("eu-west-1", "c", &[]),
                candidate("us-east-1", "a", &[]),
            ],
            &[],
        );
        assert_eq!(order(&plain), ["eu-west-1/c", "us-east-1/a", "us-east-1/b"]);
    }

    #[test]
    fn account_regions_take_turns_within_an_exposure_so_a_batch_spreads_over_them() {
        let mut other = candidate("us-east-1", "x1", &[]);
        other.account = "444455556666".into();
        other.target.account = "444455556666".into();
        let actions = plan(
            vec![
                candidate("us-east-1", "a3", &[]),
                candidate("us-east-1", "a1", &[]),
                candidate("eu-west-1", "e1", &[]),
                candidate("us-east-1", "a2", &[]),
                other,
                exposed(candidate("us-east-1", "pub", &[]), Exposure::Public),
                candidate("eu-west-1", "e2", &[]),
            ],
            &[],
        );
        assert_eq!(
            order(&actions),
            [
                "us-east-1/pub",
                "eu-west-1/e1",
                "us-east-1/a1",
                "us-east-1/x1",
                "eu-west-1/e2",
                "us-east-1/a2",
                "us-east-1/a3"
            ]
        );
        assert_eq!(actions[3].target.account, "444455556666");
        // Batches of 3 after the public key: three account-Regions, then two.
        let spread: Vec<usize> = batches(actions[1..].to_vec(), 3)
            .iter()
            .map(|b| {
                b.iter()
                    .map(|a| (&a.target.account, &a.target.region))
                    .collect::<std::collections::HashSet<_>>()
                    .len()
            })
            .collect();
        assert_eq!(spread, [3, 2]);
    }

    #[test]
    fn with_last_use_keys_in_use_go_before_unused_ones_of_the_same_exposure_and_priority() {
        let unused = |c: Candidate| Candidate { unused: true, ..c };
        let prod = [PriorityTag::new("env", "prod")];
        let actions = plan(
            vec![
                unused(candidate("us-east-1", "a-idle", &[])),
                candidate("us-east-1", "b-busy", &[]),
                unused(candidate("us-east-1", "c-idle-prod", &[("env", "prod")])),
                unused(exposed(
                    candidate("us-east-1", "d-idle-public", &[]),
                    Exposure::Public,
                )),
                candidate("us-east-1", "e-busy-prod", &[("env", "prod")]),
            ],
            &prod,
        );
        // Exposure first, priority second, use third: an unused public key still goes first.
        assert_eq!(
            order(&actions),
            [
                "us-east-1/d-idle-public",
                "us-east-1/e-busy-prod",
                "us-east-1/c-idle-prod",
                "us-east-1/b-busy",
                "us-east-1/a-idle",
            ]
        );
        // A primary with a replica in use is in use.
        let actions = plan(
            vec![
                unused(candidate("us-west-2", "mrk-1", &[])),
                replica("eu-west-1", "mrk-1", "us-west-2", &[]),
                candidate("us-east-1", "z", &[]),
            ],
            &[],
        );
        assert!(!actions[0].unused && !actions[1].unused);
    }

    #[test]
    fn exposed_keys_go_first_then_unknown_then_priority_tags() {
        let prod = [PriorityTag::new("env", "prod")];
        let actions = plan(
            vec![
                candidate("us-east-1", "plain", &[]),
                candidate("us-east-1", "tagged", &[("env", "prod")]),
                exposed(candidate("us-east-1", "unknown", &[]), Exposure::Unknown),
                exposed(
                    candidate("us-east-1", "cross-tagged", &[("env", "prod")]),
                    Exposure::CrossAccount,
                ),
                exposed(candidate("us-east-1", "cross", &[]), Exposure::CrossAccount),
                exposed(candidate("us-east-1", "public", &[]), Exposure::Public),
            ],
            &prod,
        );
        assert_eq!(
            order(&actions),
            [
                "us-east-1/public",
                "us-east-1/cross-tagged",
                "us-east-1/cross",
                "us-east-1/unknown",
                "us-east-1/tagged",
                "us-east-1/plain"
            ]
        );
        // A replica's exposure lifts the whole action, as its priority does.
        let actions = plan(
            vec![
                candidate("us-west-2", "mrk-1", &[]),
                exposed(
                    replica("eu-west-1", "mrk-1", "us-west-2", &[]),
                    Exposure::Public,
                ),
                candidate("us-east-1", "a", &[]),
            ],
            &[],
        );
        assert_eq!(order(&actions), ["us-west-2/mrk-1", "us-east-1/a"]);
        assert_eq!(actions[0].exposure, Exposure::Public);
    }

    #[test]
    fn a_primary_listed_with_its_replicas_is_changed_once() {
        let actions = plan(
            vec![
                replica("eu-west-1", "mrk-1", "us-west-2", &[]),
                candidate("us-west-2", "mrk-1", &[]),
                replica("us-east-1", "mrk-1", "us-west-2", &[("env", "prod")]),
                // A replica whose primary was not listed (another Region): still fixed via it.
                replica("us-east-1", "mrk-2", "ap-south-1", &[]),
            ],
            &[PriorityTag::new("env", "prod")],
        );
        assert_eq!(order(&actions), ["us-west-2/mrk-1", "ap-south-1/mrk-2"]);
        let first = &actions[0];
        // A replica's priority lifts the whole action.
        assert_eq!(first.priority, 0);
        assert_eq!(first.target.key, arn("us-west-2", "mrk-1"));
        assert_eq!(
            first
                .keys
                .iter()
                .map(|k| k.region.as_str())
                .collect::<Vec<_>>(),
            ["eu-west-1", "us-east-1", "us-west-2"]
        );
        assert!(first.keys[0].via_primary() && !first.keys[2].via_primary());
        assert_eq!(actions[1].target.region, "ap-south-1");
    }

    #[test]
    fn batches_keep_the_order_and_cut_at_the_size() {
        let actions = plan(
            (0..7)
                .map(|i| candidate("us-east-1", &format!("k{i}"), &[]))
                .collect(),
            &[],
        );
        let sizes: Vec<usize> = batches(actions.clone(), 3).iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 3, 1]);
        let flat: Vec<Action> = batches(actions.clone(), 3).into_iter().flatten().collect();
        assert_eq!(flat, actions);
        assert_eq!(batches(actions.clone(), 0).len(), 7);
        assert_eq!(batches(actions, 25).len(), 1);
        assert!(batches(Vec::new(), 25).is_empty());
    }
}
