//! An exception tag classified on a given day (valid, expiring soon, expired, malformed): what
//! `exceptions` lists and `audit --report` shows.

use chrono::NaiveDate;
use kms_rotation_core::exception::ExceptionTag;
use kms_rotation_core::notice::NoticeStatus;

/// Where an exception stands on a given day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Valid { days_left: i64 },
    ExpiringSoon { days_left: i64 },
    Expired { days_ago: i64 },
    Malformed { reason: String },
}

impl Status {
    /// The status's name in the report: `VALID`, `EXPIRING_SOON`, `EXPIRED`, `MALFORMED`.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Valid { .. } => "VALID",
            Self::ExpiringSoon { .. } => "EXPIRING_SOON",
            Self::Expired { .. } => "EXPIRED",
            Self::Malformed { .. } => "MALFORMED",
        }
    }

    /// Expired and malformed exceptions need someone to act.
    pub(crate) fn is_finding(&self) -> bool {
        matches!(self, Self::Expired { .. } | Self::Malformed { .. })
    }

    /// When it expires, or what to do, in words.
    pub(crate) fn note(&self) -> String {
        match self {
            Self::Valid { days_left } | Self::ExpiringSoon { days_left } => match days_left {
                0 => "expires today (valid through the day)".into(),
                1 => "expires tomorrow".into(),
                d => format!("expires in {d} days"),
            },
            Self::Expired { days_ago } => {
                format!("expired {days_ago} day(s) ago: renew the exception or enable rotation")
            }
            Self::Malformed { reason } => format!(
                "malformed ({reason}); expected owner=<who> expires=<YYYY-MM-DD> [ticket=<id>]"
            ),
        }
    }
}

/// Classify a key's exception tag; `None` when the key has none.
pub(crate) fn classify(tag: &ExceptionTag, today: NaiveDate, within_days: u32) -> Option<Status> {
    match tag {
        // The window is the notices' own (one rule for what is due, listed or notified).
        ExceptionTag::Present(e) => Some(match NoticeStatus::of(e, today, within_days) {
            Some((NoticeStatus::Expired, days_left)) => Status::Expired {
                days_ago: -days_left,
            },
            Some((NoticeStatus::ExpiringSoon, days_left)) => Status::ExpiringSoon { days_left },
            None => Status::Valid {
                days_left: (e.expires - today).num_days(),
            },
        }),
        ExceptionTag::Malformed { reason, .. } => Some(Status::Malformed {
            reason: reason.clone(),
        }),
        ExceptionTag::Absent | ExceptionTag::Unreadable(_) => None,
    }
}

/// A key with an exception tag.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    pub account_id: String,
    pub region: String,
    pub key_id: String,
    pub alias: Option<String>,
    pub tag: ExceptionTag,
    pub status: Status,
}
