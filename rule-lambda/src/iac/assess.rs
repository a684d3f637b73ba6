//! From a key as the source describes it to the rule's verdict: build [`KeyFacts`], answer what
//! [`decide`] asks for, and stop at the first fact the source cannot tell.

use aws_sdk_kms::types::{KeyManagerType, KeySpec, KeyState, OriginType};
use chrono::NaiveDate;

use super::{Fact, KeyKind, KeyProps, KeyResource, Tags, Unknowable};
use crate::decision::{decide, KeyFacts, Known, RotationStatus, Step, Verdict};
use crate::exception::ExceptionTag;
use crate::params::RuleParameters;

/// KMS's rotation period when none is given.
pub(crate) const DEFAULT_ROTATION_PERIOD_DAYS: i64 = 365;

/// The rule's verdict, or the fact that the source cannot tell before deployment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Verdict(Verdict),
    Unknown(Unknown),
}

/// Why a key is UNKNOWN.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unknown {
    pub reason: UnknownReason,
    pub at: Unknowable,
}

/// The reason codes of UNKNOWN, beside the decision's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnknownReason {
    /// A value the decision needs is known only at deployment.
    Value,
    /// A replica whose primary is declared elsewhere.
    Primary,
    /// A Terraform module call whose source cannot be read (not a local path, and not in
    /// `.terraform/modules/modules.json`): its keys are not known.
    Module,
}

impl UnknownReason {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Value => "UNKNOWN_VALUE",
            Self::Primary => "UNKNOWN_PRIMARY",
            Self::Module => "UNKNOWN_MODULE",
        }
    }
}

impl Outcome {
    /// `COMPLIANT`, `NON_COMPLIANT`, `NOT_APPLICABLE` or `UNKNOWN`.
    pub(crate) fn compliance_type(&self) -> &'static str {
        match self {
            Self::Verdict(v) => v.compliance.as_str(),
            Self::Unknown(_) => "UNKNOWN",
        }
    }
    /// The machine-readable reason code.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::Verdict(v) => v.reason.code(),
            Self::Unknown(u) => u.reason.code(),
        }
    }
    /// The line the outcome is about: the unknown value's, else the resource's.
    pub(crate) fn line(&self, resource_line: usize) -> usize {
        match self {
            Self::Verdict(_) => resource_line,
            Self::Unknown(u) => u.at.line,
        }
    }
}

/// One key's result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finding {
    pub resource: KeyResource,
    pub outcome: Outcome,
}

impl Finding {
    /// A row that is UNKNOWN for a reason of its own, not from the decision (a module call whose
    /// source cannot be read).
    pub(crate) fn unknown(resource: KeyResource, reason: UnknownReason, at: Unknowable) -> Self {
        Self {
            resource,
            outcome: unknown(reason, at),
        }
    }

    /// The message: the decision's annotation, or what is unknown; then what was assumed.
    pub(crate) fn message(&self) -> String {
        let mut text = match &self.outcome {
            Outcome::Verdict(v) => v.annotation.clone(),
            Outcome::Unknown(u) => format!(
                "Cannot be decided before deployment: {} (line {}).",
                u.at.what, u.at.line
            ),
        };
        if !self.resource.notes.is_empty() {
            text.push_str(&format!(" Assumes: {}.", self.resource.notes.join("; ")));
        }
        text
    }
}

/// Every key of one template, module or plan (a replica's primary is looked up among them).
pub(crate) fn assess_unit(
    unit: &[KeyResource],
    params: &RuleParameters,
    today: NaiveDate,
) -> Vec<Finding> {
    unit.iter()
        .map(|r| Finding {
            resource: r.clone(),
            outcome: assess(r, unit, params, today),
        })
        .collect()
}

fn unknown(reason: UnknownReason, at: Unknowable) -> Outcome {
    Outcome::Unknown(Unknown { reason, at })
}

/// One key: the same decision rows as the rule, from the source's facts.
pub(crate) fn assess(
    resource: &KeyResource,
    unit: &[KeyResource],
    params: &RuleParameters,
    today: NaiveDate,
) -> Outcome {
    let (key, enabled, tags, replica_of) = match &resource.kind {
        KeyKind::Key(p) => (p, &p.enabled, &p.tags, None),
        KeyKind::Replica(r) => {
            let primary = match &r.primary {
                Ok(name) => name,
                Err(at) => return unknown(UnknownReason::Primary, at.clone()),
            };
            match unit.iter().find(|k| &k.name == primary).map(|k| &k.kind) {
                Some(KeyKind::Key(p)) => (p, &r.enabled, &r.tags, Some(primary.clone())),
                _ => {
                    return unknown(
                        UnknownReason::Primary,
                        Unknowable::new(
                            resource.line,
                            format!(
                                "primary key {primary} is not a key declared beside this replica"
                            ),
                        ),
                    )
                }
            }
        }
    };
    match facts(resource, key, enabled, replica_of) {
        Ok(facts) => run(&facts, key, tags, params, today),
        Err(at) => unknown(UnknownReason::Value, at),
    }
}

fn facts(
    resource: &KeyResource,
    key: &KeyProps,
    enabled: &Fact<bool>,
    replica_of: Option<String>,
) -> Fact<KeyFacts> {
    Ok(KeyFacts {
        key_id: resource.name.clone(),
        arn: None,
        key_manager: KeyManagerType::Customer,
        key_state: if enabled.clone()? {
            KeyState::Enabled
        } else {
            KeyState::Disabled
        },
        key_spec: KeySpec::from(key.key_spec.clone()?.as_str()),
        origin: OriginType::from(key.origin.clone()?.as_str()),
        custom_key_store_id: key.custom_key_store_id.clone()?,
        replica_of,
        // A template's key is new: its material is as young as it can be.
        created: None,
    })
}

/// Drive [`decide`]: answer what it asks for, or stop at the first fact that is not known.
fn run(
    facts: &KeyFacts,
    key: &KeyProps,
    tags: &Fact<Tags>,
    params: &RuleParameters,
    today: NaiveDate,
) -> Outcome {
    let rotation = rotation(key);
    let exception = tags
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|t| exception_tag(t, &params.exception_tag_key));
    // A key a template creates gets new key material when it is deployed: today's.
    let new_material =
        crate::decision::KeyMaterial::LastRotated(today.and_hms_opt(0, 0, 0).map(|d| d.and_utc()));
    let mut known = Known::default();
    // The decision asks for each fact at most once; four rounds are always enough.
    for _ in 0..4 {
        match decide(facts, known, params, today) {
            Step::Verdict(v) => return Outcome::Verdict(v),
            Step::NeedRotationStatus => match &rotation {
                Ok(r) => known.rotation = Some(r),
                Err(at) => return unknown(UnknownReason::Value, at.clone()),
            },
            Step::NeedExceptionTag => match &exception {
                Ok(e) => known.exception = Some(e),
                Err(at) => return unknown(UnknownReason::Value, at.clone()),
            },
            Step::NeedKeyMaterial => known.material = Some(&new_material),
        }
    }
    unknown(
        UnknownReason::Value,
        Unknowable::new(0, "the decision asked for the same fact twice"),
    )
}

fn rotation(key: &KeyProps) -> Fact<RotationStatus> {
    if !key.rotation_enabled.clone()? {
        return Ok(RotationStatus::Disabled);
    }
    let days = key
        .rotation_period_days
        .clone()?
        .unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS);
    Ok(RotationStatus::Enabled {
        period_days: Some(i32::try_from(days).unwrap_or(i32::MAX)),
        next_rotation: None,
    })
}

/// The exception tag as the rule reads it ([`ExceptionTag::from_tags`]); unknown when its value
/// is.
fn exception_tag(tags: &Tags, tag_key: &str) -> Fact<ExceptionTag> {
    match tags.iter().find(|(k, _)| k == tag_key) {
        Some((_, Err(at))) => Err(at.clone()),
        _ => {
            let known: Vec<(&str, &str)> = tags
                .iter()
                .filter_map(|(k, v)| v.as_ref().ok().map(|v| (k.as_str(), v.as_str())))
                .collect();
            Ok(ExceptionTag::from_tags(tag_key, known))
        }
    }
}
