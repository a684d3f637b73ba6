//! Rotation evidence: what an auditor asks about a customer managed key beyond its verdict —
//! whether rotation is on and at what period, when the key last rotated and how (automatic or on
//! demand), how many times, the next date, the key's creation date and its key material's age,
//! and the exception its verdict rests on (its last use, with `--last-use`, is
//! [`crate::last_use`]'s, read by the sweep beside it).
//!
//! Read once per key by the sweep ([`crate::sweep::Plan::evidence`]) after the rule's own
//! evaluation, reusing what the decision already read ([`Gathered`]); the files of
//! `kms-rotation evidence` are [`crate::evidence_package`]'s. The AWS pages this rests on: KMS
//! API Reference "GetKeyRotationStatus", "ListKeyRotations" (`RotationsListEntry`: `RotationDate`,
//! `RotationType` AUTOMATIC or ON_DEMAND) and "GetKeyLastUsage" (`KeyLastUsage`,
//! `TrackingStartDate`; no `KeyLastUsage` means no use since tracking began).
//!
//! A fact KMS refuses to give (access denied, not available) is a note on the key, never a
//! guess; an error after the SDK's retries makes the key "not evaluated", as in `audit`.

use aws_sdk_kms::types::KeyState;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use kms_rotation_core::decision::{Reason, RotationStatus};
use kms_rotation_core::evaluate::{Gathered, KeyEvaluation};
use kms_rotation_core::exception::ExceptionTag;
use kms_rotation_core::kms::{KmsError, KmsReader, RotationHistory};

/// Whether automatic rotation is on, as GetKeyRotationStatus says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RotationState {
    On,
    Off,
    /// The key cannot rotate automatically (asymmetric, HMAC, imported material, custom key
    /// store): said by the decision's row or by KMS.
    Unsupported,
    /// Not read: the key's state does not allow it, or KMS refused (see the notes).
    NotRead,
}

impl RotationState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "off",
            Self::Unsupported => "unsupported",
            Self::NotRead => "not_read",
        }
    }
}

/// The evidence of one customer managed key. Dates are UTC (RFC 3339 in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Evidence {
    pub rotation: RotationState,
    pub rotation_period_days: Option<i32>,
    pub next_rotation_date: Option<DateTime<Utc>>,
    /// Completed rotations (ListKeyRotations), automatic and on demand; `None` when not read.
    pub rotation_count: Option<usize>,
    pub last_rotation_date: Option<DateTime<Utc>>,
    /// `AUTOMATIC` or `ON_DEMAND`.
    pub last_rotation_type: Option<String>,
    pub key_creation_date: Option<DateTime<Utc>>,
    /// Days since the current key material was made: the last rotation, or the key's creation
    /// when it never rotated; `None` when the rotation history could not be read.
    pub key_material_age_days: Option<i64>,
    /// The exception the verdict rests on (read for keys with rotation off).
    pub exception_owner: Option<String>,
    pub exception_expires: Option<NaiveDate>,
    pub exception_ticket: Option<String>,
    /// What could not be read, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Evidence {
    fn empty(created: Option<DateTime<Utc>>) -> Self {
        Self {
            rotation: RotationState::NotRead,
            rotation_period_days: None,
            next_rotation_date: None,
            rotation_count: None,
            last_rotation_date: None,
            last_rotation_type: None,
            key_creation_date: created,
            key_material_age_days: None,
            exception_owner: None,
            exception_expires: None,
            exception_ticket: None,
            notes: Vec::new(),
        }
    }
}

/// Verdict rows of keys whose material KMS never rotates automatically: GetKeyRotationStatus is
/// not asked, the verdict already says so.
const CANNOT_ROTATE: [Reason; 5] = [
    Reason::Asymmetric,
    Reason::Hmac,
    Reason::Unsupported,
    Reason::ImportedMaterial,
    Reason::CustomKeyStore,
];

/// Verdict rows of keys that have no rotation history to list (ListKeyRotations answers
/// UnsupportedOperationException). Keys with imported material do: they rotate on demand.
const NO_HISTORY: [Reason; 4] = [
    Reason::Asymmetric,
    Reason::Hmac,
    Reason::Unsupported,
    Reason::CustomKeyStore,
];

/// The evidence of a key the rule evaluated; `None` for an AWS managed key (out of the control's
/// scope). `gathered` is what the decision read: it is not asked again.
pub(crate) async fn read(
    reader: &KmsReader,
    evaluation: &KeyEvaluation,
    gathered: Gathered,
    today: NaiveDate,
) -> Result<Option<Evidence>, KmsError> {
    if evaluation.verdict.reason == Reason::AwsManaged {
        return Ok(None);
    }
    let Some(facts) = &evaluation.facts else {
        let mut e = Evidence::empty(None);
        e.notes
            .push("the key could not be described: see the annotation".into());
        return Ok(Some(e));
    };
    let mut e = Evidence::empty(facts.created);
    if !matches!(facts.key_state, KeyState::Enabled | KeyState::Disabled) {
        e.notes.push(format!(
            "key state {}: KMS gives no rotation status or history in this state",
            facts.key_state.as_str()
        ));
        return Ok(Some(e));
    }
    let reason = evaluation.verdict.reason;
    rotation(
        reader,
        &evaluation.key_id,
        gathered.rotation,
        reason,
        &mut e,
    )
    .await?;
    if NO_HISTORY.contains(&reason) {
        e.notes
            .push("no rotation history: the key's material is never rotated by KMS".into());
    } else {
        // The decision's KeyMaterial holds the last date only: the count and type need the list.
        history(reader, &evaluation.key_id, today, &mut e).await?;
    }
    exception(gathered.exception, &mut e);
    Ok(Some(e))
}

/// The rotation status: from the decision's read, or read now.
async fn rotation(
    reader: &KmsReader,
    key_id: &str,
    known: Option<RotationStatus>,
    reason: Reason,
    e: &mut Evidence,
) -> Result<(), KmsError> {
    let status = match known {
        Some(status) => status,
        None if CANNOT_ROTATE.contains(&reason) => {
            e.rotation = RotationState::Unsupported;
            return Ok(());
        }
        None => reader.rotation_status(key_id).await?,
    };
    match status {
        RotationStatus::Enabled {
            period_days,
            next_rotation,
        } => {
            e.rotation = RotationState::On;
            e.rotation_period_days = period_days;
            e.next_rotation_date = next_rotation;
        }
        RotationStatus::Disabled => e.rotation = RotationState::Off,
        RotationStatus::Unsupported(_) => e.rotation = RotationState::Unsupported,
        RotationStatus::KeyNotFound => e.notes.push("the key was deleted while it was read".into()),
        RotationStatus::AccessDenied(msg) => e
            .notes
            .push(format!("access denied on kms:GetKeyRotationStatus: {msg}")),
    }
    Ok(())
}

/// The rotation history (ListKeyRotations, paged) and the key material's age.
async fn history(
    reader: &KmsReader,
    key_id: &str,
    today: NaiveDate,
    e: &mut Evidence,
) -> Result<(), KmsError> {
    match reader.rotation_history(key_id).await? {
        RotationHistory::Read(rotations) => {
            e.rotation_count = Some(rotations.len());
            if let Some(last) = rotations.last() {
                e.last_rotation_date = Some(last.date);
                e.last_rotation_type = last.rotation_type.as_ref().map(|t| t.as_str().to_owned());
            }
            e.key_material_age_days = e
                .last_rotation_date
                .or(e.key_creation_date)
                .map(|made| (today - made.date_naive()).num_days());
        }
        RotationHistory::AccessDenied(msg) => e
            .notes
            .push(format!("access denied on kms:ListKeyRotations: {msg}")),
        RotationHistory::KeyNotFound => {
            e.notes.push("the key was deleted while it was read".into())
        }
        RotationHistory::NotApplicable { code, message } => e
            .notes
            .push(format!("kms:ListKeyRotations answered {code}: {message}")),
    }
    Ok(())
}

/// The exception tag the decision read (keys with rotation off), as owner, expiry and ticket.
fn exception(tag: Option<ExceptionTag>, e: &mut Evidence) {
    match tag {
        Some(ExceptionTag::Present(x)) => {
            e.exception_owner = Some(x.owner);
            e.exception_expires = Some(x.expires);
            e.exception_ticket = x.ticket;
        }
        Some(ExceptionTag::Malformed { value, reason }) => e
            .notes
            .push(format!("malformed exception tag {value:?}: {reason}")),
        Some(ExceptionTag::Unreadable(msg)) => e
            .notes
            .push(format!("the exception tag could not be read: {msg}")),
        Some(ExceptionTag::Absent) | None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kms::operation::get_key_last_usage::GetKeyLastUsageOutput;
    use aws_sdk_kms::operation::list_key_rotations::ListKeyRotationsOutput;
    use aws_sdk_kms::types::{
        KeyLastUsageData, KeyLastUsageTrackingOperation, KeyMaterialState, KeySpec, RotationType,
        RotationsListEntry,
    };
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use kms_rotation_core::decision::{Compliance, KeyFacts, Verdict};
    use kms_rotation_core::exception::Exception;
    use kms_rotation_core::params::RuleParameters;

    use crate::last_use::{self, LastUse};

    const TODAY: &str = "2026-12-02";

    fn today() -> NaiveDate {
        TODAY.parse().unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn smithy(d: DateTime<Utc>) -> aws_smithy_types::DateTime {
        aws_smithy_types::DateTime::from_secs(d.timestamp())
    }

    /// KMS answered only by these rules: a request no rule matches fails the test's read.
    fn reader(rules: &[&Rule]) -> KmsReader {
        KmsReader::new(
            mock_client!(aws_sdk_kms, RuleMode::MatchAny, rules),
            &RuleParameters::default(),
        )
    }

    fn json_error(status: u16, code: &str, message: &str) -> HttpResponse {
        let body = serde_json::json!({ "__type": code, "message": message }).to_string();
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
    }

    fn evaluated(facts: KeyFacts, compliance: Compliance, reason: Reason) -> KeyEvaluation {
        KeyEvaluation {
            key_id: facts.key_id.clone(),
            facts: Some(facts),
            verdict: Verdict::new(compliance, reason, "annotation"),
        }
    }

    fn key() -> KeyFacts {
        KeyFacts {
            created: Some(at("2024-01-10T08:00:00Z")),
            ..KeyFacts::sample("k1")
        }
    }

    fn entry(date: &str, kind: RotationType) -> RotationsListEntry {
        RotationsListEntry::builder()
            .key_id("k1")
            .rotation_date(smithy(at(date)))
            .rotation_type(kind)
            .build()
    }

    #[tokio::test]
    async fn a_rotating_key_has_its_rotations_counted_over_pages_and_its_status_not_asked_again() {
        // Two pages; a PENDING_ROTATION entry (imported material not yet current) does not count.
        let pages = mock!(aws_sdk_kms::Client::list_key_rotations).then_compute_output(|req| {
            match req.marker() {
                None => ListKeyRotationsOutput::builder()
                    .rotations(entry("2025-01-10T08:00:00Z", RotationType::Automatic))
                    .truncated(true)
                    .next_marker("page-2")
                    .build(),
                Some(_) => ListKeyRotationsOutput::builder()
                    .rotations(entry("2026-06-01T12:00:00Z", RotationType::OnDemand))
                    .rotations(
                        RotationsListEntry::builder()
                            .key_id("k1")
                            .rotation_date(smithy(at("2026-11-30T00:00:00Z")))
                            .key_material_state(KeyMaterialState::PendingRotation)
                            .build(),
                    )
                    .truncated(false)
                    .build(),
            }
        });
        // No GetKeyRotationStatus rule: the decision's read is reused, or the read fails.
        let kms = reader(&[&pages]);
        let gathered = Gathered {
            rotation: Some(RotationStatus::Enabled {
                period_days: Some(365),
                next_rotation: Some(at("2027-06-01T12:00:00Z")),
            }),
            ..Gathered::default()
        };
        let e = read(
            &kms,
            &evaluated(key(), Compliance::Compliant, Reason::RotationOn),
            gathered,
            today(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(e.rotation, RotationState::On);
        assert_eq!(e.rotation_period_days, Some(365));
        assert_eq!(e.next_rotation_date, Some(at("2027-06-01T12:00:00Z")));
        assert_eq!(e.rotation_count, Some(2));
        assert_eq!(e.last_rotation_date, Some(at("2026-06-01T12:00:00Z")));
        assert_eq!(e.last_rotation_type.as_deref(), Some("ON_DEMAND"));
        // 2026-06-01 to 2026-12-02.
        assert_eq!(e.key_material_age_days, Some(184));
        assert_eq!(e.key_creation_date, Some(at("2024-01-10T08:00:00Z")));
        assert!(e.notes.is_empty(), "{:?}", e.notes);
        assert_eq!(pages.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_key_that_never_rotated_has_material_as_old_as_the_key_and_its_exception_shown() {
        let status = mock!(aws_sdk_kms::Client::get_key_rotation_status).then_output(|| {
            aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusOutput::builder()
                .key_rotation_enabled(false)
                .build()
        });
        let none = mock!(aws_sdk_kms::Client::list_key_rotations)
            .then_output(|| ListKeyRotationsOutput::builder().truncated(false).build());
        let kms = reader(&[&status, &none]);
        let exception = Exception {
            owner: "team-a".into(),
            expires: "2027-01-31".parse().unwrap(),
            ticket: Some("SEC-9".into()),
        };
        let gathered = Gathered {
            // The decision read the tag but not the status (a prior from a configuration item).
            exception: Some(ExceptionTag::Present(exception)),
            ..Gathered::default()
        };
        let e = read(
            &kms,
            &evaluated(key(), Compliance::Compliant, Reason::ExceptionValid),
            gathered,
            today(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(e.rotation, RotationState::Off);
        assert_eq!(status.num_calls(), 1);
        assert_eq!((e.rotation_count, e.last_rotation_date), (Some(0), None));
        // 2024-01-10 to 2026-12-02.
        assert_eq!(e.key_material_age_days, Some(1057));
        assert_eq!(e.exception_owner.as_deref(), Some("team-a"));
        assert_eq!(e.exception_expires, Some("2027-01-31".parse().unwrap()));
        assert_eq!(e.exception_ticket.as_deref(), Some("SEC-9"));
    }

    #[tokio::test]
    async fn a_refused_history_is_a_note_never_a_guessed_age_and_another_error_fails_the_key() {
        let denied = mock!(aws_sdk_kms::Client::list_key_rotations).then_http_response(|| {
            json_error(
                400,
                "AccessDeniedException",
                "User is not authorized to perform: kms:ListKeyRotations",
            )
        });
        let on = Gathered {
            rotation: Some(RotationStatus::Enabled {
                period_days: Some(365),
                next_rotation: None,
            }),
            ..Gathered::default()
        };
        let evaluation = evaluated(key(), Compliance::Compliant, Reason::RotationOn);
        let e = read(&reader(&[&denied]), &evaluation, on.clone(), today())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((e.rotation_count, e.key_material_age_days), (None, None));
        assert!(
            e.notes[0].starts_with("access denied on kms:ListKeyRotations"),
            "{:?}",
            e.notes
        );
        // An answer that is neither a fact nor retried away: the key is not evaluated.
        let odd = mock!(aws_sdk_kms::Client::list_key_rotations)
            .then_http_response(|| json_error(400, "InvalidArnException", "bad ARN"));
        let err = read(&reader(&[&odd]), &evaluation, on, today())
            .await
            .unwrap_err();
        assert_eq!(err.operation, "ListKeyRotations");
        assert_eq!(err.code.as_deref(), Some("InvalidArnException"));
    }

    #[tokio::test]
    async fn keys_that_cannot_rotate_are_not_asked_and_aws_managed_keys_have_no_evidence() {
        let kms = reader(&[]);
        let asymmetric = KeyFacts {
            key_spec: KeySpec::EccNistP256,
            ..key()
        };
        let e = read(
            &kms,
            &evaluated(asymmetric, Compliance::NotApplicable, Reason::Asymmetric),
            Gathered::default(),
            today(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(e.rotation, RotationState::Unsupported);
        assert_eq!(e.rotation_count, None);
        assert!(e.notes[0].contains("never rotated by KMS"), "{:?}", e.notes);
        let managed = read(
            &kms,
            &evaluated(key(), Compliance::NotApplicable, Reason::AwsManaged),
            Gathered::default(),
            today(),
        )
        .await
        .unwrap();
        assert_eq!(managed, None);
        let pending = KeyFacts {
            key_state: KeyState::PendingDeletion,
            ..key()
        };
        let e = read(
            &kms,
            &evaluated(pending, Compliance::NotApplicable, Reason::PendingDeletion),
            Gathered::default(),
            today(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(e.rotation, RotationState::NotRead);
        assert!(e.notes[0].contains("PendingDeletion"), "{:?}", e.notes);
    }

    #[tokio::test]
    async fn last_use_is_read_when_asked_and_each_answer_is_said_as_kms_says_it() {
        let used = mock!(aws_sdk_kms::Client::get_key_last_usage)
            .match_requests(|r| r.key_id() == Some("used"))
            .then_output(|| {
                GetKeyLastUsageOutput::builder()
                    .key_last_usage(
                        KeyLastUsageData::builder()
                            .operation(KeyLastUsageTrackingOperation::from("Decrypt"))
                            .timestamp(smithy(at("2026-11-20T10:00:00Z")))
                            .build(),
                    )
                    .tracking_start_date(smithy(at("2026-01-01T00:00:00Z")))
                    .build()
            });
        let unused = mock!(aws_sdk_kms::Client::get_key_last_usage)
            .match_requests(|r| r.key_id() == Some("unused"))
            .then_output(|| {
                GetKeyLastUsageOutput::builder()
                    .tracking_start_date(smithy(at("2026-01-01T00:00:00Z")))
                    .build()
            });
        let denied = mock!(aws_sdk_kms::Client::get_key_last_usage)
            .match_requests(|r| r.key_id() == Some("denied"))
            .then_http_response(|| {
                json_error(
                    400,
                    "AccessDeniedException",
                    "not authorized: kms:GetKeyLastUsage",
                )
            });
        let absent = mock!(aws_sdk_kms::Client::get_key_last_usage)
            .match_requests(|r| r.key_id() == Some("elsewhere"))
            .then_http_response(|| {
                json_error(400, "UnknownOperationException", "unknown operation")
            });
        let odd = mock!(aws_sdk_kms::Client::get_key_last_usage)
            .match_requests(|r| r.key_id() == Some("odd"))
            .then_http_response(|| json_error(400, "InvalidArnException", "bad ARN"));
        let kms = reader(&[&used, &unused, &denied, &absent, &odd]);
        assert_eq!(
            last_use::read(&kms, "used").await.unwrap(),
            LastUse::Used {
                operation: Some("Decrypt".into()),
                date: at("2026-11-20T10:00:00Z"),
                tracking_start_date: Some(at("2026-01-01T00:00:00Z")),
            }
        );
        let not_used = last_use::read(&kms, "unused").await.unwrap();
        assert_eq!(
            not_used.summary(),
            "not used since tracking began 2026-01-01"
        );
        assert_eq!(
            serde_json::to_value(&not_used).unwrap(),
            serde_json::json!({"status": "not_used_since_tracking_began", "trackingStartDate": "2026-01-01T00:00:00Z"})
        );
        let LastUse::NotRead { note } = last_use::read(&kms, "denied").await.unwrap() else {
            panic!("denied is not read");
        };
        assert!(
            note.starts_with("access denied on kms:GetKeyLastUsage"),
            "{note}"
        );
        let LastUse::NotRead { note } = last_use::read(&kms, "elsewhere").await.unwrap() else {
            panic!("an unknown operation is not read");
        };
        assert!(
            note.contains("not available here (UnknownOperationException)"),
            "{note}"
        );
        let err = last_use::read(&kms, "odd").await.unwrap_err();
        assert_eq!(err.operation, "GetKeyLastUsage");
    }
}
