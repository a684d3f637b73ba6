//! When a key was last used for a cryptographic operation: KMS GetKeyLastUsage (KMS API
//! Reference, "GetKeyLastUsage", 2026). The operator CLI's only (`evidence --last-use`); the rule
//! never asks it. An unused key is a candidate for deletion more than for rotation, and auditors
//! ask for it.
//!
//! The answer's `KeyLastUsage` (operation, timestamp, CloudTrail event id, KMS request id) is
//! absent when the key has not been used since tracking began (`TrackingStartDate`): that is said
//! as such, never as "never used". Paced under the per-key read ceiling
//! ([`KmsReader::per_key_read_ready`]), as the key policy and tags are.

use aws_sdk_kms::types::KeyState;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use aws_sdk_kms::operation::get_key_last_usage::GetKeyLastUsageError;
use kms_rotation_core::aws_error::{code, denied, describe};
use kms_rotation_core::decision::Reason;
use kms_rotation_core::evaluate::KeyEvaluation;
use kms_rotation_core::kms::{kms_error, KmsError, KmsReader};

/// What GetKeyLastUsage says about a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum LastUse {
    /// Its last cryptographic operation.
    Used {
        operation: Option<String>,
        date: DateTime<Utc>,
        #[serde(rename = "trackingStartDate")]
        tracking_start_date: Option<DateTime<Utc>>,
    },
    /// No use recorded since KMS began tracking it.
    NotUsedSinceTrackingBegan {
        #[serde(rename = "trackingStartDate")]
        tracking_start_date: Option<DateTime<Utc>>,
    },
    /// Not read: access denied, the operation not available in the Region, or the key deleted
    /// meanwhile; `note` says which.
    NotRead { note: String },
}

impl LastUse {
    /// One cell of a table or a CSV: the date and operation, or what stands instead.
    pub(crate) fn summary(&self) -> String {
        match self {
            Self::Used {
                operation, date, ..
            } => format!(
                "{} ({})",
                date.format("%Y-%m-%d"),
                operation.as_deref().unwrap_or("operation not given")
            ),
            Self::NotUsedSinceTrackingBegan {
                tracking_start_date: Some(since),
            } => format!("not used since tracking began {}", since.format("%Y-%m-%d")),
            Self::NotUsedSinceTrackingBegan { .. } => "not used since tracking began".into(),
            Self::NotRead { note } => format!("not read: {note}"),
        }
    }
}

/// Whether GetKeyLastUsage is asked for this key: a customer managed key KMS described, enabled
/// or disabled (AWS managed keys are out of the control's scope; a key pending deletion is not a
/// rotation target).
pub(crate) fn applies(evaluation: &KeyEvaluation) -> bool {
    evaluation.verdict.reason != Reason::AwsManaged
        && evaluation
            .facts
            .as_ref()
            .is_some_and(|f| matches!(f.key_state, KeyState::Enabled | KeyState::Disabled))
}

/// Whether the key has gone unused for at least `days` before `today`: its last use, or (not used
/// since tracking began) the start of tracking, that long ago. A use not read, or tracking that
/// began more recently, is not known to be unused.
pub(crate) fn unused_for(last_use: Option<&LastUse>, days: u32, today: NaiveDate) -> bool {
    let since = match last_use {
        Some(LastUse::Used { date, .. }) => *date,
        Some(LastUse::NotUsedSinceTrackingBegan {
            tracking_start_date: Some(since),
        }) => *since,
        _ => return false,
    };
    (today - since.date_naive()).num_days() >= i64::from(days)
}

fn utc(d: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(d.secs(), d.subsec_nanos())
}

/// GetKeyLastUsage for one key. Access denied, an unknown operation (a Region or endpoint
/// without it) and a deleted key are answers ([`LastUse::NotRead`]); anything else after the
/// SDK's retries is an error.
#[tracing::instrument(skip(reader), level = "debug")]
pub(crate) async fn read(reader: &KmsReader, key_id: &str) -> Result<LastUse, KmsError> {
    reader.per_key_read_ready().await;
    match reader
        .client()
        .get_key_last_usage()
        .key_id(key_id)
        .send()
        .await
    {
        Ok(out) => {
            let tracking_start_date = out.tracking_start_date.as_ref().and_then(utc);
            Ok(
                match out
                    .key_last_usage
                    .and_then(|u| Some((u.timestamp.as_ref().and_then(utc)?, u.operation)))
                {
                    Some((date, operation)) => LastUse::Used {
                        operation: operation.map(|o| o.as_str().to_owned()),
                        date,
                        tracking_start_date,
                    },
                    None => LastUse::NotUsedSinceTrackingBegan {
                        tracking_start_date,
                    },
                },
            )
        }
        Err(e) if denied(&e) => Ok(LastUse::NotRead {
            note: format!("access denied on kms:GetKeyLastUsage: {}", describe(&e)),
        }),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(GetKeyLastUsageError::NotFoundException(_))
            ) =>
        {
            Ok(LastUse::NotRead {
                note: "the key was deleted while it was read".into(),
            })
        }
        Err(e)
            if matches!(
                code(&e).as_deref(),
                Some(
                    "UnknownOperationException" | "UnsupportedOperationException" | "InvalidAction"
                )
            ) =>
        {
            Ok(LastUse::NotRead {
                note: format!(
                    "kms:GetKeyLastUsage is not available here ({}): {}",
                    code(&e).unwrap_or_default(),
                    describe(&e)
                ),
            })
        }
        Err(e) => Err(kms_error("GetKeyLastUsage", key_id, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_key_is_unused_only_when_kms_says_so_for_long_enough() {
        let today: NaiveDate = "2026-12-02".parse().unwrap();
        let used = |date: &str| LastUse::Used {
            operation: Some("Decrypt".into()),
            date: at(date),
            tracking_start_date: None,
        };
        assert!(unused_for(Some(&used("2026-09-01T00:00:00Z")), 90, today));
        assert!(!unused_for(Some(&used("2026-11-30T00:00:00Z")), 90, today));
        let since = |date: &str| LastUse::NotUsedSinceTrackingBegan {
            tracking_start_date: Some(at(date)),
        };
        assert!(unused_for(Some(&since("2026-01-01T00:00:00Z")), 90, today));
        // Tracking began 10 days ago: not known to be unused for 90.
        assert!(!unused_for(Some(&since("2026-11-22T00:00:00Z")), 90, today));
        let not_read = LastUse::NotRead {
            note: "access denied".into(),
        };
        assert!(!unused_for(Some(&not_read), 90, today));
        assert!(!unused_for(None, 90, today));
    }
}
