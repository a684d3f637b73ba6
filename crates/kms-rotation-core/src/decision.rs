//! The decision: one pure function from what is known about a key to a verdict, or to the one
//! fact it still needs. No I/O here; the Lambda and the CLI both drive this same function.
//!
//! The order of the rows is the order in `docs/decision-table.md`.

use aws_sdk_kms::types::{KeyManagerType, KeySpec, KeyState, OriginType};
use chrono::{DateTime, NaiveDate, Utc};

use crate::exception::ExceptionTag;
use crate::params::RuleParameters;

/// AWS Config's limit on an annotation.
pub const MAX_ANNOTATION_CHARS: usize = 256;
pub const CUT_MARKER: &str = " [...]";

/// The three results a custom rule may report (Config rejects INSUFFICIENT_DATA from a rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Compliance {
    Compliant,
    NonCompliant,
    NotApplicable,
}

impl Compliance {
    /// The `ComplianceType` string, as Config spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compliant => "COMPLIANT",
            Self::NonCompliant => "NON_COMPLIANT",
            Self::NotApplicable => "NOT_APPLICABLE",
        }
    }
}

impl std::fmt::Display for Compliance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As [`Compliance::as_str`] spells it.
impl serde::Serialize for Compliance {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Compliance {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        [Self::Compliant, Self::NonCompliant, Self::NotApplicable]
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown compliance type {text:?}")))
    }
}

/// What KMS (DescribeKey) or the configuration item says about a key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyFacts {
    pub key_id: String,
    pub arn: Option<String>,
    pub key_manager: KeyManagerType,
    pub key_state: KeyState,
    pub key_spec: KeySpec,
    pub origin: OriginType,
    pub custom_key_store_id: Option<String>,
    /// The primary key's ARN, when this key is a multi-Region replica.
    pub replica_of: Option<String>,
    /// When the key was created (DescribeKey `CreationDate`): the date of its first key material.
    pub created: Option<DateTime<Utc>>,
}

impl KeyFacts {
    /// The usual key of tests and examples: customer managed, enabled, `SYMMETRIC_DEFAULT`, key
    /// material from KMS (`AWS_KMS`), in no custom key store, not a replica, with no ARN and no
    /// creation date. A test sets what it varies on top, with [`KeyFacts::with_arn`] or struct
    /// update syntax:
    ///
    /// ```
    /// # use kms_rotation_core::decision::KeyFacts;
    /// # use aws_sdk_kms::types::KeyState;
    /// let disabled = KeyFacts {
    ///     key_state: KeyState::Disabled,
    ///     ..KeyFacts::sample("1234abcd").with_arn("arn:aws:kms:us-east-1:111122223333:key/1234abcd")
    /// };
    /// assert_eq!(disabled.key_id, "1234abcd");
    /// ```
    pub fn sample(key_id: impl Into<String>) -> Self {
        Self {
            key_id: key_id.into(),
            arn: None,
            key_manager: KeyManagerType::Customer,
            key_state: KeyState::Enabled,
            key_spec: KeySpec::SymmetricDefault,
            origin: OriginType::AwsKms,
            custom_key_store_id: None,
            replica_of: None,
            created: None,
        }
    }

    /// The same key with this ARN.
    #[must_use]
    pub fn with_arn(mut self, arn: impl Into<String>) -> Self {
        self.arn = Some(arn.into());
        self
    }
}

/// What GetKeyRotationStatus (or the configuration item) says.
#[derive(Debug, Clone, PartialEq)]
pub enum RotationStatus {
    Enabled {
        period_days: Option<i32>,
        next_rotation: Option<DateTime<Utc>>,
    },
    Disabled,
    /// `UnsupportedOperationException`: KMS says this key cannot rotate automatically.
    Unsupported(String),
    /// `NotFoundException`: the key was deleted meanwhile.
    KeyNotFound,
    /// `AccessDeniedException`: the rule's role may not read the rotation status.
    AccessDenied(String),
}

impl RotationStatus {
    /// What a recorded rotation flag (Config's configuration item: `KeyRotationStatus`, on or off)
    /// is worth to the decision. The item never holds the period nor `NextRotationDate`, so "off"
    /// decides and "on" does not: the maximum period (`maxRotationPeriodInDays`) and the overdue
    /// row (`rotationGraceDays`, always in force) need GetKeyRotationStatus's answer. Taking "on"
    /// as enough would make a change-triggered evaluation say COMPLIANT for a key the periodic
    /// run finds overdue.
    pub fn from_recorded_flag(enabled: bool) -> Option<Self> {
        (!enabled).then_some(Self::Disabled)
    }
}

/// What ListKeyRotations says about the key's current key material.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyMaterial {
    /// The date of the latest rotation (automatic or on demand), or `None` when the key never
    /// rotated: its material is then as old as the key.
    LastRotated(Option<DateTime<Utc>>),
    /// The rule's role may not call ListKeyRotations.
    AccessDenied(String),
    /// The key was deleted meanwhile.
    KeyNotFound,
}

/// The facts gathered so far; the decision asks for the next one it needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    pub rotation: Option<&'a RotationStatus>,
    pub exception: Option<&'a ExceptionTag>,
    pub material: Option<&'a KeyMaterial>,
}

/// Why a verdict is what it is: one machine-readable code per row of the decision, from a closed
/// set (`docs/decision-table.md` lists them). The annotation is written for the row the code
/// names; tools read the code (the CLI's `reason`), people read the annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Row 1: AWS managed key, out of scope.
    AwsManaged,
    /// Row 2: pending deletion (or pending replica deletion).
    PendingDeletion,
    /// Row 3: disabled, and `evaluateDisabledKeys` is off.
    Disabled,
    /// Row 3: Creating, Updating, PendingImport or Unavailable.
    KeyState,
    /// Row 4: an asymmetric key spec.
    Asymmetric,
    /// Row 4: an HMAC key spec.
    Hmac,
    /// Row 4 (another key spec), or KMS answered UnsupportedOperationException.
    Unsupported,
    /// Row 5: imported key material (Origin EXTERNAL).
    ImportedMaterial,
    /// Row 5: a custom key store (CloudHSM or external).
    CustomKeyStore,
    /// KMS answered NotFoundException: the key was deleted.
    KeyNotFound,
    /// The rule's role may not read the key (DescribeKey or GetKeyRotationStatus denied).
    AccessDenied,
    /// Row 6: rotation on, within any maximum.
    RotationOn,
    /// Row 7: rotation off, no exception.
    RotationOff,
    /// Row 7, disabled key evaluated (`evaluateDisabledKeys`): KMS refuses EnableKeyRotation until
    /// the key is enabled.
    DisabledRotationOff,
    /// Row 7, multi-Region replica: fixed through its primary key.
    ReplicaRotationOff,
    /// Row 6: the rotation period is above `maxRotationPeriodInDays`.
    PeriodAboveMaximum,
    /// Row 6: a maximum is set, but KMS did not report the period.
    PeriodUnknown,
    /// Row 7: rotation off under a valid exception.
    ExceptionValid,
    /// Row 7: rotation off, the exception expired.
    ExceptionExpired,
    /// Row 7: rotation off, the exception tag is malformed.
    ExceptionMalformed,
    /// Row 7: rotation off, and the tags could not be read to look for an exception.
    ExceptionUnreadable,
    /// The item is not a KMS key, or left the rule's scope.
    OutOfScope,
    /// The configuration item is deleted or not recorded.
    NotRecorded,
    /// Rotation on, but NextRotationDate is more than `rotationGraceDays` in the past.
    RotationOverdue,
    /// The current key material is older than `maxKeyMaterialAgeInDays`.
    MaterialTooOld,
    /// Imported key material younger than `maxKeyMaterialAgeInDays`.
    MaterialAgeOk,
    /// A maximum material age is set, but the key never rotated and its creation date is unknown.
    MaterialAgeUnknown,
}

impl Reason {
    /// Every code, in the order of the decision table.
    pub const ALL: [Reason; 27] = [
        Reason::AwsManaged,
        Reason::PendingDeletion,
        Reason::Disabled,
        Reason::KeyState,
        Reason::Asymmetric,
        Reason::Hmac,
        Reason::Unsupported,
        Reason::ImportedMaterial,
        Reason::CustomKeyStore,
        Reason::KeyNotFound,
        Reason::AccessDenied,
        Reason::RotationOn,
        Reason::RotationOff,
        Reason::DisabledRotationOff,
        Reason::ReplicaRotationOff,
        Reason::PeriodAboveMaximum,
        Reason::PeriodUnknown,
        Reason::ExceptionValid,
        Reason::ExceptionExpired,
        Reason::ExceptionMalformed,
        Reason::ExceptionUnreadable,
        Reason::OutOfScope,
        Reason::NotRecorded,
        Reason::RotationOverdue,
        Reason::MaterialTooOld,
        Reason::MaterialAgeOk,
        Reason::MaterialAgeUnknown,
    ];

    /// The stable code, as the CLI's JSON and the findings spell it.
    pub fn code(self) -> &'static str {
        match self {
            Self::AwsManaged => "AWS_MANAGED",
            Self::PendingDeletion => "PENDING_DELETION",
            Self::Disabled => "DISABLED",
            Self::KeyState => "KEY_STATE",
            Self::Asymmetric => "ASYMMETRIC",
            Self::Hmac => "HMAC",
            Self::Unsupported => "UNSUPPORTED",
            Self::ImportedMaterial => "IMPORTED_MATERIAL",
            Self::CustomKeyStore => "CUSTOM_KEY_STORE",
            Self::KeyNotFound => "KEY_NOT_FOUND",
            Self::AccessDenied => "ACCESS_DENIED",
            Self::RotationOn => "ROTATION_ON",
            Self::RotationOff => "ROTATION_OFF",
            Self::DisabledRotationOff => "DISABLED_ROTATION_OFF",
            Self::ReplicaRotationOff => "REPLICA_ROTATION_OFF",
            Self::PeriodAboveMaximum => "PERIOD_ABOVE_MAXIMUM",
            Self::PeriodUnknown => "PERIOD_UNKNOWN",
            Self::ExceptionValid => "EXCEPTION_VALID",
            Self::ExceptionExpired => "EXCEPTION_EXPIRED",
            Self::ExceptionMalformed => "EXCEPTION_MALFORMED",
            Self::ExceptionUnreadable => "EXCEPTION_UNREADABLE",
            Self::OutOfScope => "OUT_OF_SCOPE",
            Self::NotRecorded => "NOT_RECORDED",
            Self::RotationOverdue => "ROTATION_OVERDUE",
            Self::MaterialTooOld => "MATERIAL_TOO_OLD",
            Self::MaterialAgeOk => "MATERIAL_AGE_OK",
            Self::MaterialAgeUnknown => "MATERIAL_AGE_UNKNOWN",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::ALL
            .into_iter()
            .find(|r| r.code() == text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown reason code {text:?}")))
    }
}

/// A verdict with its reason, and the annotation that tells a person why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub compliance: Compliance,
    pub reason: Reason,
    pub annotation: String,
    /// The rotation period KMS reported, when the verdict rests on it.
    pub period_days: Option<i32>,
}

impl Verdict {
    pub fn new(compliance: Compliance, reason: Reason, annotation: impl Into<String>) -> Self {
        Self {
            compliance,
            reason,
            annotation: fit_annotation(annotation.into()),
            period_days: None,
        }
    }
    fn na(reason: Reason, annotation: impl Into<String>) -> Step {
        Step::Verdict(Self::new(Compliance::NotApplicable, reason, annotation))
    }
    fn non_compliant(reason: Reason, annotation: impl Into<String>) -> Step {
        Step::Verdict(Self::new(Compliance::NonCompliant, reason, annotation))
    }
    fn compliant(reason: Reason, annotation: impl Into<String>) -> Step {
        Step::Verdict(Self::new(Compliance::Compliant, reason, annotation))
    }
}

/// The decision's answer: a verdict, or the fact it needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Verdict(Verdict),
    /// Call GetKeyRotationStatus.
    NeedRotationStatus,
    /// Read the key's tags: the key would be NON_COMPLIANT unless an exception applies.
    NeedExceptionTag,
    /// Call ListKeyRotations: only with `maxKeyMaterialAgeInDays` set, and only for a key that
    /// would otherwise pass and is older than that maximum.
    NeedKeyMaterial,
}

/// Decide one key. Rows are tried in order; the first that matches gives the verdict.
pub fn decide(
    facts: &KeyFacts,
    known: Known<'_>,
    params: &RuleParameters,
    today: NaiveDate,
) -> Step {
    // 1. AWS-managed keys are rotated by AWS every year.
    if facts.key_manager == KeyManagerType::Aws {
        return Verdict::na(Reason::AwsManaged, "AWS managed key: AWS rotates it automatically every year. Only customer managed keys are in scope.");
    }
    // 2 and 3. The key's state.
    match &facts.key_state {
        KeyState::Enabled => {}
        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => {
            return Verdict::na(Reason::PendingDeletion, format!(
                "Key is pending deletion (KeyState {}); KMS reports rotation off for such keys. Not evaluated; it is evaluated again if the deletion is cancelled.",
                facts.key_state.as_str()
            ))
        }
        KeyState::Disabled if !params.evaluate_disabled_keys => {
            return Verdict::na(Reason::Disabled, "Key is disabled; KMS does not rotate disabled keys. Set the rule parameter evaluateDisabledKeys to true to evaluate them.")
        }
        KeyState::Disabled => {}
        KeyState::Creating | KeyState::Updating | KeyState::PendingImport | KeyState::Unavailable => {
            return Verdict::na(Reason::KeyState, format!(
                "Key state is {}: not evaluated until the key is Enabled.",
                facts.key_state.as_str()
            ))
        }
        // A state newer than this code is evaluated rather than waved through.
        _ => {}
    }
    // 4. Only symmetric encryption keys rotate automatically.
    if facts.key_spec != KeySpec::SymmetricDefault {
        let (kind, reason) = match facts.key_spec.as_str() {
            s if s.starts_with("HMAC_") => ("HMAC", Reason::Hmac),
            s if s.starts_with("RSA_")
                || s.starts_with("ECC_")
                || s == "SM2"
                || s.starts_with("ML_DSA_") =>
            {
                ("asymmetric", Reason::Asymmetric)
            }
            _ => ("non-symmetric", Reason::Unsupported),
        };
        return Verdict::na(reason, format!(
            "KeySpec {} ({kind}) does not support automatic rotation; only SYMMETRIC_DEFAULT keys can rotate.",
            facts.key_spec.as_str()
        ));
    }
    // 5. Imported key material and custom key stores cannot rotate automatically.
    match &facts.origin {
        OriginType::External if params.max_key_material_age_in_days.is_some() => {
            // Imported material cannot rotate automatically but can be rotated on demand (since
            // 2025): with a maximum material age, its age is what is held to the policy.
            return material_age(facts, known, params, today, Reason::MaterialAgeOk);
        }
        OriginType::External => {
            return Verdict::na(Reason::ImportedMaterial, "Imported key material (Origin EXTERNAL) cannot rotate automatically. Rotate it on demand: import new material, then aws kms rotate-key-on-demand.")
        }
        OriginType::AwsCloudhsm | OriginType::ExternalKeyStore => {
            return Verdict::na(Reason::CustomKeyStore, format!(
                "Key in a custom key store (Origin {}) does not support automatic rotation.",
                facts.origin.as_str()
            ))
        }
        _ if facts.custom_key_store_id.is_some() => {
            return Verdict::na(Reason::CustomKeyStore, "Key in a custom key store does not support automatic rotation.")
        }
        _ => {}
    }
    // 6 and 7. The rotation status itself.
    let Some(rotation) = known.rotation else {
        return Step::NeedRotationStatus;
    };
    match rotation {
        RotationStatus::Unsupported(msg) => Verdict::na(Reason::Unsupported, format!(
            "KMS does not support automatic rotation for this key: {msg}"
        )),
        RotationStatus::KeyNotFound => Step::Verdict(NoKey::KeyNotFound.verdict()),
        RotationStatus::AccessDenied(msg) => Verdict::non_compliant(Reason::AccessDenied, format!(
            "Cannot read the rotation status: access denied. Grant kms:GetKeyRotationStatus on this key to the rule's role. ({msg})"
        )),
        RotationStatus::Disabled => {
            let Some(exception) = known.exception else {
                return Step::NeedExceptionTag;
            };
            rotation_off(facts, exception, params, today)
        }
        RotationStatus::Enabled {
            period_days,
            next_rotation,
        } => match rotation_on(facts, *period_days, *next_rotation, params, today) {
            Step::Verdict(v) if v.compliance == Compliance::Compliant => {
                match material_age(facts, known, params, today, Reason::RotationOn) {
                    // Young enough, or no maximum: the rotation verdict stands.
                    Step::Verdict(m) if m.compliance == Compliance::Compliant => Step::Verdict(v),
                    other => other,
                }
            }
            other => other,
        },
    }
}

fn rotation_off(
    facts: &KeyFacts,
    exception: &ExceptionTag,
    params: &RuleParameters,
    today: NaiveDate,
) -> Step {
    let tag = &params.exception_tag_key;
    let fix = fix_hint(facts, params.max_rotation_period_in_days);
    match exception {
        ExceptionTag::Present(e) if !e.is_expired(today) => Verdict::na(Reason::ExceptionValid, format!(
            "Automatic rotation is off under an approved exception: owner {}, expires {}{}.",
            e.owner,
            e.expires,
            e.ticket.as_ref().map(|t| format!(", ticket {t}")).unwrap_or_default()
        )),
        ExceptionTag::Present(e) => Verdict::non_compliant(Reason::ExceptionExpired, format!(
            "Automatic rotation is off and its exception expired on {} (owner {}). {fix}",
            e.expires, e.owner
        )),
        ExceptionTag::Malformed { reason, .. } => Verdict::non_compliant(Reason::ExceptionMalformed, format!(
            "Automatic rotation is off; the exception tag {tag} is malformed ({reason}); expected owner=<who> expires=<YYYY-MM-DD> [ticket=<id>]. {fix}"
        )),
        ExceptionTag::Unreadable(msg) => Verdict::non_compliant(Reason::ExceptionUnreadable, format!(
            "Automatic rotation is off; the key's tags could not be read to look for an exception ({msg}). {fix}"
        )),
        ExceptionTag::Absent => {
            let reason = if facts.replica_of.is_some() {
                Reason::ReplicaRotationOff
            } else if facts.key_state == KeyState::Disabled {
                Reason::DisabledRotationOff
            } else {
                Reason::RotationOff
            };
            Verdict::non_compliant(reason, format!("Automatic rotation is off. {fix}"))
        }
    }
}

fn rotation_on(
    facts: &KeyFacts,
    period_days: Option<i32>,
    next_rotation: Option<DateTime<Utc>>,
    params: &RuleParameters,
    today: NaiveDate,
) -> Step {
    // Rotation on, but KMS's own next date is well past: the schedule is stuck. A disabled key
    // is not rotated by KMS, so only an Enabled key can be overdue.
    let grace = i64::from(params.rotation_grace_days);
    if let Some(next) = next_rotation.filter(|_| facts.key_state == KeyState::Enabled) {
        if (today - next.date_naive()).num_days() > grace {
            return Verdict::non_compliant(Reason::RotationOverdue, format!(
                "Automatic rotation is on but overdue since {} (NextRotationDate, more than {grace} days ago: rotationGraceDays). Fix: aws kms rotate-key-on-demand --key-id {}; if the schedule stays stuck, contact AWS Support.",
                next.format("%Y-%m-%d"),
                facts.key_id
            ));
        }
    }
    let next = next_rotation
        .map(|d| format!("; next rotation {}", d.format("%Y-%m-%d")))
        .unwrap_or_default();
    let step = match (period_days, params.max_rotation_period_in_days) {
        (Some(days), Some(max)) if days > max => Verdict::non_compliant(Reason::PeriodAboveMaximum, format!(
            "Automatic rotation is on every {days} days, longer than the maximum of {max} days (maxRotationPeriodInDays). {}",
            fix_hint(facts, Some(max))
        )),
        (None, Some(max)) => Verdict::non_compliant(Reason::PeriodUnknown, format!(
            "Automatic rotation is on, but KMS did not report its period, so it cannot be checked against the maximum of {max} days (maxRotationPeriodInDays)."
        )),
        (Some(days), _) => Verdict::compliant(Reason::RotationOn, format!("Automatic rotation is on, every {days} days{next}.")),
        (None, None) => Verdict::compliant(Reason::RotationOn, format!("Automatic rotation is on{next}.")),
    };
    match step {
        Step::Verdict(verdict) => Step::Verdict(Verdict {
            period_days,
            ..verdict
        }),
        other => other,
    }
}

/// The key material's age against `maxKeyMaterialAgeInDays`: the latest rotation's date, or the
/// key's creation date when it never rotated. Without a maximum, or for a key younger than the
/// maximum (its material cannot be older than the key), nothing is read. `ok` is the reason of a
/// COMPLIANT verdict.
fn material_age(
    facts: &KeyFacts,
    known: Known<'_>,
    params: &RuleParameters,
    today: NaiveDate,
    ok: Reason,
) -> Step {
    let Some(max) = params.max_key_material_age_in_days.map(i64::from) else {
        return Verdict::compliant(ok, "No maximum key material age is set.");
    };
    let age = |since: DateTime<Utc>| (today - since.date_naive()).num_days();
    let imported = facts.origin == OriginType::External;
    let within = |since: DateTime<Utc>, what: &str| {
        Verdict::compliant(ok, format!(
            "{} key material is {} days old ({what} {}), within the maximum of {max} days (maxKeyMaterialAgeInDays).",
            if imported { "Imported" } else { "The" },
            age(since),
            since.format("%Y-%m-%d")
        ))
    };
    if let Some(created) = facts.created.filter(|c| age(*c) <= max) {
        return within(created, "the key was created");
    }
    let Some(material) = known.material else {
        return Step::NeedKeyMaterial;
    };
    let fix = if imported {
        format!("Fix: import new key material (ImportType NEW_KEY_MATERIAL), then aws kms rotate-key-on-demand --key-id {} (at most 25 on-demand rotations a key).", facts.key_id)
    } else {
        format!(
            "Fix: aws kms rotate-key-on-demand --key-id {} (at most 25 on-demand rotations a key).",
            facts.key_id
        )
    };
    let (since, what) = match material {
        KeyMaterial::LastRotated(Some(rotated)) => (*rotated, "last rotated"),
        KeyMaterial::LastRotated(None) => match facts.created {
            Some(created) => (created, "never rotated; created"),
            None => {
                return Verdict::non_compliant(Reason::MaterialAgeUnknown, format!(
                    "The key never rotated and its creation date is not known, so its key material's age cannot be checked against {max} days (maxKeyMaterialAgeInDays)."
                ))
            }
        },
        KeyMaterial::KeyNotFound => return Step::Verdict(NoKey::KeyNotFound.verdict()),
        KeyMaterial::AccessDenied(msg) => {
            return Verdict::non_compliant(Reason::AccessDenied, format!(
                "Cannot read the key's rotations: access denied. Grant kms:ListKeyRotations on this key to the rule's role. ({msg})"
            ))
        }
    };
    if age(since) > max {
        Verdict::non_compliant(Reason::MaterialTooOld, format!(
            "Key material is {} days old ({what} {}), older than the maximum of {max} days (maxKeyMaterialAgeInDays). {fix}",
            age(since),
            since.format("%Y-%m-%d")
        ))
    } else {
        within(since, what)
    }
}

/// Verdicts about the resource rather than its key facts: the event or KMS says there is no key
/// to decide on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoKey {
    /// The event has `eventLeftScope: true`.
    LeftScope,
    /// The configuration item's status is not OK or ResourceDiscovered.
    ItemStatus(String),
    /// The item is of another resource type than `AWS::KMS::Key`.
    ResourceType(String),
    /// Config has no configuration item for the key (oversized event, resource not discovered).
    NotRecorded,
    /// KMS answers NotFoundException: the key was deleted meanwhile.
    KeyNotFound,
    /// DescribeKey is denied to the rule's role.
    DescribeDenied(String),
    /// The key has an `alias/aws/...` alias, which only AWS managed keys have: row 1 without
    /// DescribeKey.
    AwsManagedAlias(String),
}

impl NoKey {
    pub fn verdict(&self) -> Verdict {
        use Compliance::*;
        match self {
            Self::LeftScope => Verdict::new(NotApplicable, Reason::OutOfScope, "The key left the rule's scope."),
            Self::ItemStatus(status) => Verdict::new(
                NotApplicable,
                Reason::NotRecorded,
                format!("Configuration item status {status}: the key was deleted or is no longer recorded."),
            ),
            Self::ResourceType(t) => Verdict::new(
                NotApplicable,
                Reason::OutOfScope,
                format!("Resource type {t} is not in this rule's scope (AWS::KMS::Key)."),
            ),
            Self::NotRecorded => Verdict::new(NotApplicable, Reason::NotRecorded, "AWS Config has no configuration item for this key; it is evaluated when recorded."),
            Self::KeyNotFound => Verdict::new(NotApplicable, Reason::KeyNotFound, "Key no longer exists."),
            Self::AwsManagedAlias(alias) => Verdict::new(
                NotApplicable,
                Reason::AwsManaged,
                format!("AWS managed key ({alias}): AWS rotates it automatically every year. Only customer managed keys are in scope."),
            ),
            Self::DescribeDenied(msg) => Verdict::new(
                NonCompliant,
                Reason::AccessDenied,
                format!("Cannot describe the key: access denied. Grant kms:DescribeKey on this key to the rule's role. ({msg})"),
            ),
        }
    }
}

/// What to run to fix the key; a replica is fixed through its primary. `check-iac` puts the
/// property to set in place of this text (`crate::iac::assess`).
pub fn fix_hint(facts: &KeyFacts, period: Option<i32>) -> String {
    let period = period
        .map(|p| format!(" --rotation-period-in-days {p}"))
        .unwrap_or_default();
    match &facts.replica_of {
        Some(primary) => format!(
            "This is a multi-Region replica: enable rotation on its primary key {primary}{period}; replicas share it."
        ),
        // KMS refuses EnableKeyRotation on a disabled key with DisabledException (EnableKeyRotation,
        // KMS API Reference): the key must be enabled first, or kept disabled deliberately.
        None if facts.key_state == KeyState::Disabled => format!(
            "The key is disabled, and KMS refuses EnableKeyRotation on disabled keys. Fix: aws kms enable-key --key-id {}, then enable rotation; or record an exception.",
            facts.key_id
        ),
        None => format!("Fix: aws kms enable-key-rotation --key-id {}{period}", facts.key_id),
    }
}

/// Cut an annotation to Config's 256 characters, with a visible marker where it was cut.
pub fn fit_annotation(text: String) -> String {
    if text.chars().count() <= MAX_ANNOTATION_CHARS {
        return text;
    }
    let keep = MAX_ANNOTATION_CHARS - CUT_MARKER.chars().count();
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(CUT_MARKER);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exception::Exception;

    const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    fn key() -> KeyFacts {
        KeyFacts::sample(KEY).with_arn(format!("arn:aws:kms:us-east-1:111122223333:key/{KEY}"))
    }
    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
    }
    fn on(days: i32) -> RotationStatus {
        RotationStatus::Enabled {
            period_days: Some(days),
            next_rotation: Some("2027-05-01T00:00:00Z".parse().unwrap()),
        }
    }
    fn exception(expires: &str) -> ExceptionTag {
        ExceptionTag::Present(
            Exception::parse(&format!("owner=alice expires={expires} ticket=SEC-1")).unwrap(),
        )
    }

    /// Run the decision the way the drivers do: answer what it asks for from the given facts.
    fn run(
        facts: &KeyFacts,
        rotation: Option<RotationStatus>,
        tag: Option<ExceptionTag>,
        params: &RuleParameters,
    ) -> (Compliance, String, Vec<&'static str>) {
        let mut asked = Vec::new();
        let mut known = Known::default();
        loop {
            match decide(facts, known, params, today()) {
                Step::Verdict(v) => return (v.compliance, v.annotation, asked),
                Step::NeedRotationStatus => {
                    assert!(known.rotation.is_none(), "asked twice for rotation");
                    asked.push("rotation");
                    known.rotation = Some(
                        rotation
                            .as_ref()
                            .expect("decision needed the rotation status"),
                    );
                }
                Step::NeedExceptionTag => {
                    assert!(known.exception.is_none(), "asked twice for tags");
                    asked.push("tags");
                    known.exception = Some(tag.as_ref().expect("decision needed the tags"));
                }
                Step::NeedKeyMaterial => {
                    panic!("no row of this table sets maxKeyMaterialAgeInDays")
                }
            }
        }
    }

    /// The verdict a row reaches, answering what it asks for.
    fn verdict(
        facts: &KeyFacts,
        rotation: Option<RotationStatus>,
        tag: Option<ExceptionTag>,
        params: &RuleParameters,
    ) -> Verdict {
        let mut known = Known::default();
        loop {
            match decide(facts, known, params, today()) {
                Step::Verdict(v) => return v,
                Step::NeedRotationStatus => known.rotation = rotation.as_ref(),
                Step::NeedExceptionTag => known.exception = tag.as_ref(),
                Step::NeedKeyMaterial => known.material = Some(&OLD_MATERIAL),
            }
        }
    }

    /// What ListKeyRotations answers in `verdict`: the last rotation on 2025-01-01.
    static OLD_MATERIAL: KeyMaterial =
        KeyMaterial::LastRotated(DateTime::<Utc>::from_timestamp(1_735_689_600, 0));

    /// Run a key through the decision with `maxKeyMaterialAgeInDays`, answering ListKeyRotations
    /// with `material`; returns the verdict and whether the material was asked for.
    fn with_material(
        facts: &KeyFacts,
        rotation: RotationStatus,
        material: KeyMaterial,
        params: &RuleParameters,
    ) -> (Verdict, bool) {
        let mut known = Known::default();
        let mut asked = false;
        loop {
            match decide(facts, known, params, today()) {
                Step::Verdict(v) => return (v, asked),
                Step::NeedRotationStatus => known.rotation = Some(&rotation),
                Step::NeedExceptionTag => known.exception = Some(&ExceptionTag::Absent),
                Step::NeedKeyMaterial => {
                    assert!(!asked, "asked twice for the key material");
                    asked = true;
                    known.material = Some(&material);
                }
            }
        }
    }

    fn date(s: &str) -> Option<DateTime<Utc>> {
        Some(format!("{s}T00:00:00Z").parse::<DateTime<Utc>>().unwrap())
    }

    #[test]
    fn key_material_older_than_the_maximum_is_non_compliant_and_read_only_when_it_can_matter() {
        let max_180 = RuleParameters {
            max_key_material_age_in_days: Some(180),
            ..RuleParameters::default()
        };
        let old_key = with(|k| k.created = date("2024-01-01"));
        let rotated = |d: &str| KeyMaterial::LastRotated(date(d));

        // Rotation on, last rotated 2025-01-01: 696 days before 2026-11-28.
        let (v, asked) = with_material(&old_key, on(365), rotated("2025-01-01"), &max_180);
        assert!(asked);
        assert_eq!(
            (v.compliance, v.reason),
            (NonCompliant, Reason::MaterialTooOld)
        );
        assert!(v.annotation.starts_with("Key material is 696 days old (last rotated 2025-01-01), older than the maximum of 180 days (maxKeyMaterialAgeInDays). Fix: aws kms rotate-key-on-demand --key-id 1234abcd"), "{}", v.annotation);
        assert!(
            v.annotation.contains("at most 25 on-demand rotations"),
            "{}",
            v.annotation
        );
        // Rotated recently: the rotation verdict stands.
        let (v, _) = with_material(&old_key, on(365), rotated("2026-10-01"), &max_180);
        assert_eq!((v.compliance, v.reason), (Compliant, Reason::RotationOn));
        // Never rotated: as old as the key.
        let (v, _) = with_material(&old_key, on(365), KeyMaterial::LastRotated(None), &max_180);
        assert_eq!(v.reason, Reason::MaterialTooOld);
        assert!(
            v.annotation.contains("never rotated; created 2024-01-01"),
            "{}",
            v.annotation
        );
        // Never rotated, creation date unknown: not guessed.
        let (v, _) = with_material(&key(), on(365), KeyMaterial::LastRotated(None), &max_180);
        assert_eq!(
            (v.compliance, v.reason),
            (NonCompliant, Reason::MaterialAgeUnknown)
        );
        // Denied, or the key is gone.
        let (v, _) = with_material(
            &old_key,
            on(365),
            KeyMaterial::AccessDenied("no".into()),
            &max_180,
        );
        assert_eq!(
            (v.compliance, v.reason),
            (NonCompliant, Reason::AccessDenied)
        );
        assert!(v.annotation.contains("kms:ListKeyRotations"));
        let (v, _) = with_material(&old_key, on(365), KeyMaterial::KeyNotFound, &max_180);
        assert_eq!(v.reason, Reason::KeyNotFound);

        // Not read when it cannot change the verdict: no maximum; a key younger than the
        // maximum; rotation off (already NON_COMPLIANT); a key not in scope.
        let young = with(|k| k.created = date("2026-09-01"));
        let hmac = with(|k| k.key_spec = KeySpec::Hmac256);
        let defaults = RuleParameters::default();
        for (facts, rotation, params) in [
            (&old_key, on(365), &defaults),
            (&young, on(365), &max_180),
            (&old_key, RotationStatus::Disabled, &max_180),
            (&hmac, on(365), &max_180),
        ] {
            let (_, asked) = with_material(facts, rotation.clone(), rotated("2020-01-01"), params);
            assert!(!asked, "{facts:?} {rotation:?}");
        }
        let (v, _) = with_material(&young, on(365), rotated("2020-01-01"), &max_180);
        assert_eq!(v.reason, Reason::RotationOn);
    }

    #[test]
    fn imported_material_is_held_to_the_maximum_age_when_one_is_set() {
        let imported = with(|k| {
            k.origin = OriginType::External;
            k.created = date("2024-01-01");
        });
        let max_365 = RuleParameters {
            max_key_material_age_in_days: Some(365),
            ..RuleParameters::default()
        };
        let unsupported = || RotationStatus::Unsupported("x".into());
        // Without the parameter, as before: NOT_APPLICABLE, nothing read.
        let (v, asked) = with_material(
            &imported,
            unsupported(),
            KeyMaterial::LastRotated(None),
            &RuleParameters::default(),
        );
        assert_eq!(
            (v.compliance, v.reason, asked),
            (NotApplicable, Reason::ImportedMaterial, false)
        );
        // With it: rotated on demand within the year is COMPLIANT; never rotated is not.
        let (v, asked) = with_material(
            &imported,
            unsupported(),
            KeyMaterial::LastRotated(date("2026-06-01")),
            &max_365,
        );
        assert!(asked);
        assert_eq!((v.compliance, v.reason), (Compliant, Reason::MaterialAgeOk));
        assert!(
            v.annotation
                .starts_with("Imported key material is 180 days old (last rotated 2026-06-01)"),
            "{}",
            v.annotation
        );
        let (v, _) = with_material(
            &imported,
            unsupported(),
            KeyMaterial::LastRotated(None),
            &max_365,
        );
        assert_eq!(
            (v.compliance, v.reason),
            (NonCompliant, Reason::MaterialTooOld)
        );
        assert!(v.annotation.contains("import new key material (ImportType NEW_KEY_MATERIAL), then aws kms rotate-key-on-demand"), "{}", v.annotation);
    }

    #[test]
    fn rotation_on_but_overdue_beyond_the_grace_is_non_compliant() {
        let next = |s: &str| RotationStatus::Enabled {
            period_days: Some(365),
            next_rotation: date(s),
        };
        let defaults = RuleParameters::default();
        // 2026-11-28 is today: 8 days past 2026-11-20 is beyond the default 7-day grace.
        let v = verdict(&key(), Some(next("2026-11-20")), None, &defaults);
        assert_eq!(
            (v.compliance, v.reason),
            (NonCompliant, Reason::RotationOverdue)
        );
        assert!(v.annotation.starts_with("Automatic rotation is on but overdue since 2026-11-20 (NextRotationDate, more than 7 days ago: rotationGraceDays). Fix: aws kms rotate-key-on-demand --key-id 1234abcd"), "{}", v.annotation);
        // 7 days past is within the grace; a grace of 30 days covers 8.
        let v = verdict(&key(), Some(next("2026-11-21")), None, &defaults);
        assert_eq!(v.reason, Reason::RotationOn);
        let lenient = RuleParameters {
            rotation_grace_days: 30,
            ..RuleParameters::default()
        };
        assert_eq!(
            verdict(&key(), Some(next("2026-11-20")), None, &lenient).reason,
            Reason::RotationOn
        );
        // A disabled key is not rotated by KMS, so it is not overdue.
        let disabled_too = RuleParameters {
            evaluate_disabled_keys: true,
            ..RuleParameters::default()
        };
        let v = verdict(
            &with(|k| k.key_state = KeyState::Disabled),
            Some(next("2026-01-01")),
            None,
            &disabled_too,
        );
        assert_eq!(v.reason, Reason::RotationOn);
    }

    /// docs/decision-table.md lists every code, in the table's own code column.
    #[test]
    fn the_decision_table_lists_every_reason_code() {
        let doc = include_str!("../../../docs/decision-table.md");
        for reason in Reason::ALL {
            assert!(
                doc.contains(&format!("| `{}` |", reason.code())),
                "docs/decision-table.md does not list {reason}"
            );
        }
    }

    /// Every reason code is reached by its row, with its ComplianceType, and no two rows of
    /// different meaning share a code.
    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "one case per reason code, one after the other: split, the list would no longer read as the codes' table"
    )]
    fn every_reason_code_has_its_row() {
        let defaults = RuleParameters::default();
        let max_365 = RuleParameters {
            max_rotation_period_in_days: Some(365),
            ..RuleParameters::default()
        };
        let disabled_too = RuleParameters {
            evaluate_disabled_keys: true,
            ..RuleParameters::default()
        };
        let old_material_max = RuleParameters {
            max_key_material_age_in_days: Some(365),
            ..RuleParameters::default()
        };
        let off = || Some(RotationStatus::Disabled);
        let absent = || Some(ExceptionTag::Absent);
        let replica =
            with(|k| k.replica_of = Some(format!("arn:aws:kms:us-west-2:111122223333:key/{KEY}")));
        let rows: Vec<(Verdict, Compliance, Reason)> = vec![
            (
                verdict(
                    &with(|k| k.key_manager = KeyManagerType::Aws),
                    None,
                    None,
                    &defaults,
                ),
                NotApplicable,
                Reason::AwsManaged,
            ),
            (
                verdict(
                    &with(|k| k.key_state = KeyState::PendingDeletion),
                    None,
                    None,
                    &defaults,
                ),
                NotApplicable,
                Reason::PendingDeletion,
            ),
            (
                verdict(
                    &with(|k| k.key_state = KeyState::Disabled),
                    None,
                    None,
                    &defaults,
                ),
                NotApplicable,
                Reason::Disabled,
            ),
            (
                verdict(
                    &with(|k| k.key_state = KeyState::Creating),
                    None,
                    None,
                    &defaults,
                ),
                NotApplicable,
                Reason::KeyState,
            ),
            (
                verdict(
                    &with(|k| k.key_spec = KeySpec::EccNistP256),
                    None,
                    None,
                    &defaults,
                ),
                NotApplicable,
                Reason::Asymmetric,
            ),
            (
                verdict(
                    &with(|k| k.key_spec = KeySpec::Hmac256),
                    None,
                    None,
                    &defaults,
                ),
                NotApplicable,
                Reason::Hmac,
            ),
            (
                verdict(
                    &key(),
                    Some(RotationStatus::Unsupported("no".into())),
                    None,
                    &defaults,
                ),
                NotApplicable,
                Reason::Unsupported,
            ),
            (
                verdict(
                    &with(|k| k.origin = OriginType::External),
                    None,
                    None,
                    &defaults,
                ),
                NotApplicable,
                Reason::ImportedMaterial,
            ),
            (
                verdict(
                    &with(|k| k.origin = OriginType::AwsCloudhsm),
                    None,
                    None,
                    &defaults,
                ),
                NotApplicable,
                Reason::CustomKeyStore,
            ),
            (
                verdict(&key(), Some(RotationStatus::KeyNotFound), None, &defaults),
                NotApplicable,
                Reason::KeyNotFound,
            ),
            (
                verdict(
                    &key(),
                    Some(RotationStatus::AccessDenied("no".into())),
                    None,
                    &defaults,
                ),
                NonCompliant,
                Reason::AccessDenied,
            ),
            (
                verdict(&key(), Some(on(365)), None, &max_365),
                Compliant,
                Reason::RotationOn,
            ),
            (
                verdict(&key(), off(), absent(), &defaults),
                NonCompliant,
                Reason::RotationOff,
            ),
            (
                verdict(
                    &with(|k| k.key_state = KeyState::Disabled),
                    off(),
                    absent(),
                    &disabled_too,
                ),
                NonCompliant,
                Reason::DisabledRotationOff,
            ),
            (
                verdict(&replica, off(), absent(), &defaults),
                NonCompliant,
                Reason::ReplicaRotationOff,
            ),
            (
                verdict(&key(), Some(on(730)), None, &max_365),
                NonCompliant,
                Reason::PeriodAboveMaximum,
            ),
            (
                verdict(
                    &key(),
                    Some(RotationStatus::Enabled {
                        period_days: None,
                        next_rotation: None,
                    }),
                    None,
                    &max_365,
                ),
                NonCompliant,
                Reason::PeriodUnknown,
            ),
            (
                verdict(&key(), off(), Some(exception("2027-01-31")), &defaults),
                NotApplicable,
                Reason::ExceptionValid,
            ),
            (
                verdict(&key(), off(), Some(exception("2026-01-31")), &defaults),
                NonCompliant,
                Reason::ExceptionExpired,
            ),
            (
                verdict(
                    &key(),
                    off(),
                    Some(ExceptionTag::Malformed {
                        value: "soon".into(),
                        reason: "no owner".into(),
                    }),
                    &defaults,
                ),
                NonCompliant,
                Reason::ExceptionMalformed,
            ),
            (
                verdict(
                    &key(),
                    off(),
                    Some(ExceptionTag::Unreadable("denied".into())),
                    &defaults,
                ),
                NonCompliant,
                Reason::ExceptionUnreadable,
            ),
            (
                NoKey::ResourceType("AWS::EC2::Instance".into()).verdict(),
                NotApplicable,
                Reason::OutOfScope,
            ),
            (
                NoKey::NotRecorded.verdict(),
                NotApplicable,
                Reason::NotRecorded,
            ),
            (
                verdict(
                    &key(),
                    Some(RotationStatus::Enabled {
                        period_days: Some(365),
                        next_rotation: Some("2026-01-01T00:00:00Z".parse().unwrap()),
                    }),
                    None,
                    &defaults,
                ),
                NonCompliant,
                Reason::RotationOverdue,
            ),
            (
                verdict(
                    &with(|k| k.created = Some("2020-01-01T00:00:00Z".parse().unwrap())),
                    Some(on(365)),
                    None,
                    &old_material_max,
                ),
                NonCompliant,
                Reason::MaterialTooOld,
            ),
            (
                verdict(
                    &with(|k| {
                        k.origin = OriginType::External;
                        k.created = Some("2026-10-01T00:00:00Z".parse().unwrap())
                    }),
                    None,
                    None,
                    &old_material_max,
                ),
                Compliant,
                Reason::MaterialAgeOk,
            ),
            (
                with_material(
                    &key(),
                    on(365),
                    KeyMaterial::LastRotated(None),
                    &old_material_max,
                )
                .0,
                NonCompliant,
                Reason::MaterialAgeUnknown,
            ),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (v, compliance, reason) in &rows {
            assert_eq!(
                (v.compliance, v.reason),
                (*compliance, *reason),
                "{}",
                v.annotation
            );
            seen.insert(*reason);
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), {
            let mut all = Reason::ALL.to_vec();
            all.sort();
            all
        });
        // The rest of the no-key verdicts.
        assert_eq!(NoKey::LeftScope.verdict().reason, Reason::OutOfScope);
        assert_eq!(
            NoKey::ItemStatus("ResourceDeleted".into()).verdict().reason,
            Reason::NotRecorded
        );
        assert_eq!(NoKey::KeyNotFound.verdict().reason, Reason::KeyNotFound);
        assert_eq!(
            NoKey::DescribeDenied("x".into()).verdict().reason,
            Reason::AccessDenied
        );
        // An alias/aws/ alias gives row 1's verdict, as DescribeKey's KeyManager AWS does.
        let by_alias = NoKey::AwsManagedAlias("alias/aws/s3".into()).verdict();
        let by_facts = verdict(
            &with(|k| k.key_manager = KeyManagerType::Aws),
            None,
            None,
            &RuleParameters::default(),
        );
        assert_eq!(
            (by_alias.compliance, by_alias.reason),
            (by_facts.compliance, by_facts.reason)
        );
        assert!(by_alias
            .annotation
            .starts_with("AWS managed key (alias/aws/s3):"));
        // The period travels with the verdicts that rest on it.
        assert_eq!(
            verdict(&key(), Some(on(730)), None, &max_365).period_days,
            Some(730)
        );
        // Codes are unique strings in SCREAMING_SNAKE_CASE.
        let codes: std::collections::BTreeSet<&str> =
            Reason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Reason::ALL.len());
        assert!(codes
            .iter()
            .all(|c| c.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_')));
    }

    fn with(f: impl FnOnce(&mut KeyFacts)) -> KeyFacts {
        let mut k = key();
        f(&mut k);
        k
    }

    use Compliance::*;

    /// (name, facts, rotation status, exception tag, parameters, expected, annotation contains, calls asked)
    type Row<'a> = (
        &'a str,
        KeyFacts,
        Option<RotationStatus>,
        Option<ExceptionTag>,
        &'a RuleParameters,
        Compliance,
        &'a str,
        Vec<&'a str>,
    );

    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "the decision table's rows, one per line, read as the table"
    )]
    fn decision_table() {
        let defaults = RuleParameters::default();
        let max365 = RuleParameters {
            max_rotation_period_in_days: Some(365),
            ..Default::default()
        };
        let disabled_too = RuleParameters {
            evaluate_disabled_keys: true,
            ..Default::default()
        };
        let replica =
            with(|k| k.replica_of = Some("arn:aws:kms:eu-west-1:111122223333:key/mrk-1".into()));
        let off = Some(RotationStatus::Disabled);
        let absent = Some(ExceptionTag::Absent);

        // (name, facts, rotation, tag, params, expected, annotation contains, calls asked)
        let rows: Vec<Row> = vec![
            (
                "1 AWS managed",
                with(|k| k.key_manager = KeyManagerType::Aws),
                off.clone(),
                None,
                &defaults,
                NotApplicable,
                "AWS managed key",
                vec![],
            ),
            (
                "1 AWS managed even when disabled and asymmetric",
                with(|k| {
                    k.key_manager = KeyManagerType::Aws;
                    k.key_state = KeyState::Disabled;
                    k.key_spec = KeySpec::Rsa2048
                }),
                None,
                None,
                &disabled_too,
                NotApplicable,
                "AWS managed key",
                vec![],
            ),
            (
                "2 pending deletion",
                with(|k| k.key_state = KeyState::PendingDeletion),
                off.clone(),
                None,
                &defaults,
                NotApplicable,
                "KeyState PendingDeletion",
                vec![],
            ),
            (
                "2 pending replica deletion",
                with(|k| k.key_state = KeyState::PendingReplicaDeletion),
                off.clone(),
                None,
                &disabled_too,
                NotApplicable,
                "PendingReplicaDeletion",
                vec![],
            ),
            (
                "3 disabled, default",
                with(|k| k.key_state = KeyState::Disabled),
                off.clone(),
                None,
                &defaults,
                NotApplicable,
                "evaluateDisabledKeys",
                vec![],
            ),
            (
                "3 disabled, evaluated, off: the fix enables the key first (DisabledException)",
                with(|k| k.key_state = KeyState::Disabled),
                off.clone(),
                absent.clone(),
                &disabled_too,
                NonCompliant,
                "Automatic rotation is off. The key is disabled, and KMS refuses EnableKeyRotation on disabled keys. Fix: aws kms enable-key --key-id 1234abcd-12ab-34cd-56ef-1234567890ab, then enable rotation",
                vec!["rotation", "tags"],
            ),
            (
                "3 disabled, evaluated, on",
                with(|k| k.key_state = KeyState::Disabled),
                Some(on(365)),
                None,
                &disabled_too,
                Compliant,
                "every 365 days",
                vec!["rotation"],
            ),
            (
                "3 creating",
                with(|k| k.key_state = KeyState::Creating),
                None,
                None,
                &defaults,
                NotApplicable,
                "Key state is Creating",
                vec![],
            ),
            (
                "3 updating",
                with(|k| k.key_state = KeyState::Updating),
                None,
                None,
                &defaults,
                NotApplicable,
                "Key state is Updating",
                vec![],
            ),
            (
                "3 pending import",
                with(|k| {
                    k.key_state = KeyState::PendingImport;
                    k.origin = OriginType::External
                }),
                None,
                None,
                &defaults,
                NotApplicable,
                "Key state is PendingImport",
                vec![],
            ),
            (
                "3 unavailable",
                with(|k| k.key_state = KeyState::Unavailable),
                None,
                None,
                &defaults,
                NotApplicable,
                "Key state is Unavailable",
                vec![],
            ),
            (
                "3 unknown future state is evaluated",
                with(|k| k.key_state = KeyState::from("Frozen")),
                off.clone(),
                absent.clone(),
                &defaults,
                NonCompliant,
                "rotation is off",
                vec!["rotation", "tags"],
            ),
            (
                "4 asymmetric RSA",
                with(|k| k.key_spec = KeySpec::Rsa4096),
                None,
                None,
                &defaults,
                NotApplicable,
                "KeySpec RSA_4096 (asymmetric)",
                vec![],
            ),
            (
                "4 asymmetric ECC",
                with(|k| k.key_spec = KeySpec::EccNistP256),
                None,
                None,
                &defaults,
                NotApplicable,
                "(asymmetric)",
                vec![],
            ),
            (
                "4 SM2",
                with(|k| k.key_spec = KeySpec::Sm2),
                None,
                None,
                &defaults,
                NotApplicable,
                "KeySpec SM2 (asymmetric)",
                vec![],
            ),
            (
                "4 ML-DSA",
                with(|k| k.key_spec = KeySpec::from("ML_DSA_65")),
                None,
                None,
                &defaults,
                NotApplicable,
                "ML_DSA_65 (asymmetric)",
                vec![],
            ),
            (
                "4 HMAC",
                with(|k| k.key_spec = KeySpec::Hmac256),
                None,
                None,
                &defaults,
                NotApplicable,
                "KeySpec HMAC_256 (HMAC)",
                vec![],
            ),
            (
                "4 disabled asymmetric stays disabled row",
                with(|k| {
                    k.key_state = KeyState::Disabled;
                    k.key_spec = KeySpec::Rsa2048
                }),
                None,
                None,
                &defaults,
                NotApplicable,
                "disabled",
                vec![],
            ),
            (
                "5 imported material",
                with(|k| k.origin = OriginType::External),
                None,
                None,
                &defaults,
                NotApplicable,
                "rotate-key-on-demand",
                vec![],
            ),
            (
                "5 CloudHSM key store",
                with(|k| k.origin = OriginType::AwsCloudhsm),
                None,
                None,
                &defaults,
                NotApplicable,
                "custom key store (Origin AWS_CLOUDHSM)",
                vec![],
            ),
            (
                "5 external key store",
                with(|k| k.origin = OriginType::ExternalKeyStore),
                None,
                None,
                &defaults,
                NotApplicable,
                "EXTERNAL_KEY_STORE",
                vec![],
            ),
            (
                "5 custom key store id only",
                with(|k| k.custom_key_store_id = Some("cks-1".into())),
                None,
                None,
                &defaults,
                NotApplicable,
                "custom key store",
                vec![],
            ),
            (
                "6 rotation off",
                key(),
                off.clone(),
                absent.clone(),
                &defaults,
                NonCompliant,
                "enable-key-rotation --key-id 1234abcd",
                vec!["rotation", "tags"],
            ),
            (
                "6 rotation off, fix names the maximum",
                key(),
                off.clone(),
                absent.clone(),
                &max365,
                NonCompliant,
                "--rotation-period-in-days 365",
                vec!["rotation", "tags"],
            ),
            (
                "6 replica names its primary",
                replica.clone(),
                off.clone(),
                absent.clone(),
                &defaults,
                NonCompliant,
                "primary key arn:aws:kms:eu-west-1:111122223333:key/mrk-1",
                vec!["rotation", "tags"],
            ),
            (
                "6 valid exception",
                key(),
                off.clone(),
                Some(exception("2027-01-31")),
                &defaults,
                NotApplicable,
                "approved exception: owner alice, expires 2027-01-31, ticket SEC-1",
                vec!["rotation", "tags"],
            ),
            (
                "6 exception expiring today is valid",
                key(),
                off.clone(),
                Some(exception("2026-11-28")),
                &defaults,
                NotApplicable,
                "approved exception",
                vec!["rotation", "tags"],
            ),
            (
                "6 expired exception",
                key(),
                off.clone(),
                Some(exception("2026-11-27")),
                &defaults,
                NonCompliant,
                "exception expired on 2026-11-27 (owner alice)",
                vec!["rotation", "tags"],
            ),
            (
                "6 malformed exception",
                key(),
                off.clone(),
                Some(ExceptionTag::Malformed {
                    value: "yes".into(),
                    reason: "\"yes\" is not name=value".into(),
                }),
                &defaults,
                NonCompliant,
                "exception tag kms-rotation-exception is malformed",
                vec!["rotation", "tags"],
            ),
            (
                "6 unreadable tags",
                key(),
                off.clone(),
                Some(ExceptionTag::Unreadable("AccessDenied".into())),
                &defaults,
                NonCompliant,
                "tags could not be read",
                vec!["rotation", "tags"],
            ),
            (
                "6 replica with valid exception",
                replica.clone(),
                off.clone(),
                Some(exception("2027-01-31")),
                &defaults,
                NotApplicable,
                "approved exception",
                vec!["rotation", "tags"],
            ),
            (
                "6 status unsupported",
                key(),
                Some(RotationStatus::Unsupported("not supported".into())),
                None,
                &defaults,
                NotApplicable,
                "does not support automatic rotation",
                vec!["rotation"],
            ),
            (
                "6 status not found",
                key(),
                Some(RotationStatus::KeyNotFound),
                None,
                &defaults,
                NotApplicable,
                "no longer exists",
                vec!["rotation"],
            ),
            (
                "6 status access denied",
                key(),
                Some(RotationStatus::AccessDenied(
                    "User x is not authorized".into(),
                )),
                None,
                &defaults,
                NonCompliant,
                "Cannot read the rotation status",
                vec!["rotation"],
            ),
            (
                "7 on, no maximum",
                key(),
                Some(on(730)),
                None,
                &defaults,
                Compliant,
                "every 730 days; next rotation 2027-05-01",
                vec!["rotation"],
            ),
            (
                "7 on, at the maximum",
                key(),
                Some(on(365)),
                None,
                &max365,
                Compliant,
                "every 365 days",
                vec!["rotation"],
            ),
            (
                "7 on, above the maximum",
                key(),
                Some(on(366)),
                None,
                &max365,
                NonCompliant,
                "every 366 days, longer than the maximum of 365 days",
                vec!["rotation"],
            ),
            (
                "7 replica above the maximum names its primary",
                replica.clone(),
                Some(on(730)),
                None,
                &max365,
                NonCompliant,
                "primary key",
                vec!["rotation"],
            ),
            (
                "7 on, period unknown, no maximum",
                key(),
                Some(RotationStatus::Enabled {
                    period_days: None,
                    next_rotation: None,
                }),
                None,
                &defaults,
                Compliant,
                "Automatic rotation is on.",
                vec!["rotation"],
            ),
            (
                "7 on, period unknown, maximum set",
                key(),
                Some(RotationStatus::Enabled {
                    period_days: None,
                    next_rotation: None,
                }),
                None,
                &max365,
                NonCompliant,
                "did not report its period",
                vec!["rotation"],
            ),
        ];
        for (name, facts, rotation, tag, params, want, contains, calls) in rows {
            let (got, annotation, asked) = run(&facts, rotation, tag, params);
            assert_eq!(got, want, "{name}: {annotation}");
            assert!(
                annotation.contains(contains),
                "{name}: {annotation:?} lacks {contains:?}"
            );
            assert!(annotation.chars().count() <= MAX_ANNOTATION_CHARS, "{name}");
            assert_eq!(asked, calls, "{name}: calls");
        }
    }

    #[test]
    fn long_annotations_are_cut_with_a_marker() {
        let long = ExceptionTag::Present(
            Exception::parse(&format!("owner={} expires=2027-01-01", "o".repeat(400))).unwrap(),
        );
        let (c, annotation, _) = run(
            &key(),
            Some(RotationStatus::Disabled),
            Some(long),
            &RuleParameters::default(),
        );
        assert_eq!(c, NotApplicable);
        assert_eq!(annotation.chars().count(), MAX_ANNOTATION_CHARS);
        assert!(annotation.ends_with(" [...]"));
        let unicode = fit_annotation("é".repeat(300));
        assert_eq!(unicode.chars().count(), 256);
        assert_eq!(fit_annotation("short".into()), "short");
        assert_eq!(fit_annotation("x".repeat(256)).len(), 256);
    }
}
