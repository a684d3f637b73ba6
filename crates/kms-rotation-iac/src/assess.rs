//! From a key as the source describes it to the rule's verdict: build [`KeyFacts`], answer what
//! [`decide`] asks for, and stop at the first fact the source cannot tell.

use aws_sdk_kms::types::{KeyManagerType, KeySpec, KeyState, OriginType};
use chrono::NaiveDate;

use super::{Fact, KeyKind, KeyProps, KeyResource, Tags, Unknowable};
use kms_rotation_core::decision::{
    decide, fix_hint, KeyFacts, Known, Reason, RotationStatus, Step, Verdict, CUT_MARKER,
};
use kms_rotation_core::exception::ExceptionTag;
use kms_rotation_core::params::RuleParameters;

/// KMS's rotation period when none is given.
pub(crate) const DEFAULT_ROTATION_PERIOD_DAYS: i64 = 365;

/// The rule's verdict, or the fact that the source cannot tell before deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Verdict(Verdict),
    Unknown(Unknown),
}

/// Why a key is UNKNOWN.
#[derive(Debug, Clone, PartialEq)]
pub struct Unknown {
    pub reason: UnknownReason,
    pub at: Unknowable,
}

/// The reason codes of UNKNOWN, beside the decision's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownReason {
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
    pub fn compliance_type(&self) -> &'static str {
        match self {
            Self::Verdict(v) => v.compliance.as_str(),
            Self::Unknown(_) => "UNKNOWN",
        }
    }
    /// The machine-readable reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Verdict(v) => v.reason.code(),
            Self::Unknown(u) => u.reason.code(),
        }
    }
    /// The line the outcome is about: the unknown value's, else the resource's.
    pub fn line(&self, resource_line: usize) -> usize {
        match self {
            Self::Verdict(_) => resource_line,
            Self::Unknown(u) => u.at.line,
        }
    }
}

/// One key's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub resource: KeyResource,
    pub outcome: Outcome,
    /// What to change in the source, in the source's own terms (a property or an argument), for
    /// a NON_COMPLIANT key; `None` otherwise.
    pub fix: Option<String>,
}

impl Finding {
    /// A row that is UNKNOWN for a reason of its own, not from the decision (a module call whose
    /// source cannot be read).
    pub(crate) fn unknown(resource: KeyResource, reason: UnknownReason, at: Unknowable) -> Self {
        Self {
            resource,
            outcome: unknown(reason, at),
            fix: None,
        }
    }

    /// The message: the decision's annotation, or what is unknown; then what was assumed.
    pub fn message(&self) -> String {
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
        .map(|r| {
            let (outcome, fix) = assess(r, unit, params, today);
            Finding {
                resource: r.clone(),
                outcome,
                fix,
            }
        })
        .collect()
}

fn unknown(reason: UnknownReason, at: Unknowable) -> Outcome {
    Outcome::Unknown(Unknown { reason, at })
}

/// One key: the same decision rows as the rule, from the source's facts; with the fix in the
/// source's terms when it is NON_COMPLIANT.
pub(crate) fn assess(
    resource: &KeyResource,
    unit: &[KeyResource],
    params: &RuleParameters,
    today: NaiveDate,
) -> (Outcome, Option<String>) {
    let (key, enabled, tags, replica_of) = match &resource.kind {
        KeyKind::Key(p) => (p, &p.enabled, &p.tags, None),
        KeyKind::Replica(r) => {
            let primary = match &r.primary {
                Ok(name) => name,
                Err(at) => return (unknown(UnknownReason::Primary, at.clone()), None),
            };
            match unit.iter().find(|k| &k.name == primary).map(|k| &k.kind) {
                Some(KeyKind::Key(p)) => (p, &r.enabled, &r.tags, Some(primary.clone())),
                _ => {
                    let at = Unknowable::new(
                        resource.line,
                        format!("primary key {primary} is not a key declared beside this replica"),
                    );
                    return (unknown(UnknownReason::Primary, at), None);
                }
            }
        }
    };
    let facts = match facts(resource, key, enabled, replica_of) {
        Ok(facts) => facts,
        Err(at) => return (unknown(UnknownReason::Value, at), None),
    };
    match run(&facts, key, tags, params, today) {
        Outcome::Verdict(v)
            if v.compliance == kms_rotation_core::decision::Compliance::NonCompliant =>
        {
            let fix = source_fix(
                resource,
                &facts,
                v.reason,
                params.max_rotation_period_in_days,
            );
            // The rule's annotation names a KMS CLI call; before deployment the fix is the
            // property, so the message says that instead.
            let cli = fix_hint(&facts, params.max_rotation_period_in_days);
            let annotation = match &fix {
                Some(fix) => format!("{} {fix}", without_cli_fix(&v.annotation, &cli)),
                None => v.annotation.clone(),
            };
            (Outcome::Verdict(Verdict { annotation, ..v }), fix)
        }
        outcome => (outcome, None),
    }
}

/// The annotation without the CLI call that ends it, also when Config's 256-character cut
/// ([`kms_rotation_core::decision::fit_annotation`]) fell inside that call.
fn without_cli_fix<'a>(annotation: &'a str, cli: &str) -> &'a str {
    if let Some(at) = annotation.find(cli) {
        return annotation[..at].trim_end();
    }
    let Some(text) = annotation.strip_suffix(CUT_MARKER) else {
        return annotation;
    };
    // The cut kept `body + cli[..k]`: find the longest such k.
    cli.char_indices()
        .map(|(i, _)| i)
        .chain([cli.len()])
        .rev()
        .filter(|&k| k > 0)
        .find_map(|k| text.strip_suffix(&cli[..k]))
        .map_or(annotation, str::trim_end)
}

/// The source's language, for the fix: CloudFormation property names, or Terraform arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    CloudFormation,
    Terraform,
}

/// The change to the template or module that makes a NON_COMPLIANT key compliant, named as the
/// source names it (AWS::KMS::Key `EnableKeyRotation`, `RotationPeriodInDays`, `Enabled`;
/// Terraform aws_kms_key `enable_key_rotation`, `rotation_period_in_days`, `is_enabled`), with
/// where the resource is declared.
fn source_fix(
    resource: &KeyResource,
    facts: &KeyFacts,
    reason: Reason,
    max_period: Option<i32>,
) -> Option<String> {
    let language = if resource.resource_type.starts_with("AWS::") {
        Language::CloudFormation
    } else {
        Language::Terraform
    };
    let (rotation, period, enabled) = match language {
        Language::CloudFormation => (
            "EnableKeyRotation: true",
            "RotationPeriodInDays",
            "Enabled: true",
        ),
        Language::Terraform => (
            "enable_key_rotation = true",
            "rotation_period_in_days",
            "is_enabled = true",
        ),
    };
    let at = format!(
        "{} ({}:{})",
        resource.name,
        resource.file.display(),
        resource.line
    );
    let within = max_period
        .map(|max| format!(" with {period} at most {max}"))
        .unwrap_or_default();
    Some(match (reason, &facts.replica_of) {
        (Reason::PeriodAboveMaximum, _) => {
            format!("Fix: set {period} to {} or less on {at}.", max_period?)
        }
        (_, Some(primary)) => format!(
            "This is a multi-Region replica: set {rotation}{within} on its primary key {primary}; replicas share it."
        ),
        (Reason::DisabledRotationOff, _) => format!(
            "The key is disabled, and KMS refuses EnableKeyRotation on disabled keys. Fix: set {enabled} and {rotation}{within} on {at}, or record an approved exception tag."
        ),
        // Row 6g before deployment: what would change the verdict is the tag's value.
        (Reason::ExceptionUnreadable, _) => format!(
            "Fix: set {rotation}{within} on {at}. A valid exception tag known at deployment would make it NOT_APPLICABLE, but check-iac cannot see it."
        ),
        _ => format!("Fix: set {rotation}{within} on {at}."),
    })
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
    // Tags known only at deployment: the rule could not prove an exception either, and its row 6g
    // (EXCEPTION_UNREADABLE) makes a key with rotation off NON_COMPLIANT; so does this.
    let exception = tags
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|t| exception_tag(t, &params.exception_tag_key))
        .unwrap_or_else(|at| ExceptionTag::Unreadable(format!("{} (line {})", at.what, at.line)));
    // A key a template creates gets new key material when it is deployed: today's.
    let new_material = kms_rotation_core::decision::KeyMaterial::LastRotated(
        today.and_hms_opt(0, 0, 0).map(|d| d.and_utc()),
    );
    let mut known = Known::default();
    // The decision asks for each fact at most once; four rounds are always enough.
    for _ in 0..4 {
        match decide(facts, known, params, today) {
            Step::Verdict(v) => return Outcome::Verdict(v),
            Step::NeedRotationStatus => match &rotation {
                Ok(r) => known.rotation = Some(r),
                Err(at) => return unknown(UnknownReason::Value, at.clone()),
            },
            Step::NeedExceptionTag => known.exception = Some(&exception),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_fix_is_taken_out_whole_or_cut() {
        let cli = "Fix: aws kms enable-key-rotation --key-id K";
        assert_eq!(
            without_cli_fix(&format!("Rotation is off. {cli}"), cli),
            "Rotation is off."
        );
        assert_eq!(
            without_cli_fix(
                &format!("Rotation is off. Fix: aws kms enab{CUT_MARKER}"),
                cli
            ),
            "Rotation is off."
        );
        // Cut before the call began: the text is kept as it is, marker included.
        let cut = format!("Rotation is o{CUT_MARKER}");
        assert_eq!(without_cli_fix(&cut, cli), cut);
    }
}
