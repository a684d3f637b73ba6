//! Notices to the owners of approved exceptions: one Amazon EventBridge event per key whose
//! exception expires within `exceptionNoticeDays` days or has expired, put on the default event
//! bus of the key's account and Region, where an EventBridge rule routes it (the baseline's
//! `conformance-pack/templates/notices.yaml`; the schema is in docs/notices.md).
//!
//! Sending is best effort: a notice EventBridge does not take is logged and counted, and never
//! changes an evaluation or fails the run that found it.
//!
//! AWS constructs, as the EventBridge API Reference documents them
//! (<https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html>): at most 10
//! entries per `PutEvents` call; a call's entries at most 256 KB together, each entry's size
//! counted as the EventBridge User Guide's "Calculating PutEvents event entry size" counts it
//! (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html>); a call that
//! succeeds may still refuse some entries (`FailedEntryCount`, and an `ErrorCode` on each refused
//! entry, in the order of the request).

use std::time::Duration;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use chrono::NaiveDate;
use futures::StreamExt;
use serde::Serialize;

use crate::aws_error::describe;
use crate::decision::Compliance;
use crate::exception::Exception;

/// The events' `source`: the rule's name. (A custom source may not start with `aws.`.)
pub const SOURCE: &str = "kms-rotation-rule";
/// The `detail-type` of a notice for an exception that expires within the window.
pub const EXPIRING: &str = "KMS Key Rotation Exception Expiring";
/// The `detail-type` of a notice for an exception that has expired.
pub const EXPIRED: &str = "KMS Key Rotation Exception Expired";
/// `sentBy` of the rule's periodic run.
pub const SENT_BY_RULE: &str = "kms-rotation-rule";
/// `sentBy` of `kms-rotation exceptions --notify`.
pub const SENT_BY_CLI: &str = "kms-rotation exceptions";

/// PutEvents takes at most 10 entries a call.
pub const MAX_ENTRIES: usize = 10;
/// PutEvents takes at most 256 KB of entries a call.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Attempts for an entry refused with a transient error code (`ThrottlingException`,
/// `InternalFailure`); the SDK itself retries a call that fails as a whole.
const ENTRY_ATTEMPTS: u32 = 3;
/// PutEvents calls in flight at once.
const SENDERS: usize = 4;
/// Pause before entries refused with a transient code are sent again (doubled each time).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Where an exception stands, for a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NoticeStatus {
    /// Valid today, and expires within the window (`daysLeft` from 0, its last valid day).
    ExpiringSoon,
    /// Past its expiry day.
    Expired,
}

impl NoticeStatus {
    /// Whether an exception needs a notice today, and which: an expired one always, a valid one
    /// when it expires within `within_days` days. With the number of days left (negative once
    /// expired).
    pub fn of(exception: &Exception, today: NaiveDate, within_days: u32) -> Option<(Self, i64)> {
        let days_left = (exception.expires - today).num_days();
        if exception.is_expired(today) {
            Some((Self::Expired, days_left))
        } else if days_left <= i64::from(within_days) {
            Some((Self::ExpiringSoon, days_left))
        } else {
            None
        }
    }

    /// The event's `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            Self::ExpiringSoon => EXPIRING,
            Self::Expired => EXPIRED,
        }
    }
}

/// One notice: the event's `detail` (docs/notices.md, "The event").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    pub key_id: String,
    pub key_arn: String,
    pub account_id: String,
    pub region: String,
    pub owner: String,
    pub ticket: Option<String>,
    /// `YYYY-MM-DD`; the exception is valid through the whole day (UTC).
    pub expires: NaiveDate,
    pub days_left: i64,
    pub status: NoticeStatus,
    pub exception_tag_key: String,
    /// The rule's verdict for the key; `None` from the CLI, which does not decide keys.
    pub compliance: Option<Compliance>,
    pub annotation: Option<String>,
    pub sent_by: &'static str,
}

/// Where a key is, for its notice.
#[derive(Debug, Clone, Copy)]
pub struct KeyPlace<'a> {
    pub key_id: &'a str,
    pub key_arn: &'a str,
    pub account_id: &'a str,
    pub region: &'a str,
}

impl Notice {
    /// The notice for a key's exception, if the exception needs one today.
    pub fn due(
        key: KeyPlace<'_>,
        exception: &Exception,
        exception_tag_key: &str,
        today: NaiveDate,
        within_days: u32,
        sent_by: &'static str,
    ) -> Option<Self> {
        let (status, days_left) = NoticeStatus::of(exception, today, within_days)?;
        Some(Self {
            key_id: key.key_id.to_owned(),
            key_arn: key.key_arn.to_owned(),
            account_id: key.account_id.to_owned(),
            region: key.region.to_owned(),
            owner: exception.owner.clone(),
            ticket: exception.ticket.clone(),
            expires: exception.expires,
            days_left,
            status,
            exception_tag_key: exception_tag_key.to_owned(),
            compliance: None,
            annotation: None,
            sent_by,
        })
    }

    /// With the rule's verdict.
    pub fn with_verdict(mut self, compliance: Compliance, annotation: &str) -> Self {
        self.compliance = Some(compliance);
        self.annotation = Some(annotation.to_owned());
        self
    }

    /// The PutEvents entry, for the default event bus.
    fn entry(&self) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .source(SOURCE)
            .detail_type(self.status.detail_type())
            .resources(&self.key_arn)
            .detail(serde_json::to_string(self).expect("a notice serializes to JSON"))
            .build()
    }
}

/// An entry's size as EventBridge counts it: the UTF-8 bytes of `Source`, `DetailType`, `Detail`
/// and each of `Resources`, and 14 bytes for `Time` when it is set.
fn entry_size(entry: &PutEventsRequestEntry) -> usize {
    let text = |s: Option<&str>| s.map_or(0, str::len);
    text(entry.source())
        + text(entry.detail_type())
        + text(entry.detail())
        + entry.resources().iter().map(String::len).sum::<usize>()
        + if entry.time().is_some() { 14 } else { 0 }
}

/// The notices in PutEvents calls: at most [`MAX_ENTRIES`] and [`MAX_REQUEST_BYTES`] a call.
fn batches(notices: &[Notice]) -> Vec<Vec<(&Notice, PutEventsRequestEntry)>> {
    let mut batches: Vec<Vec<(&Notice, PutEventsRequestEntry)>> = Vec::new();
    let mut bytes = 0;
    for notice in notices {
        let entry = notice.entry();
        let size = entry_size(&entry);
        match batches.last_mut() {
            Some(last) if last.len() < MAX_ENTRIES && bytes + size <= MAX_REQUEST_BYTES => {
                bytes += size;
                last.push((notice, entry));
            }
            _ => {
                bytes = size;
                batches.push(vec![(notice, entry)]);
            }
        }
    }
    batches
}

/// What became of a run's notices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoticeOutcome {
    /// Notices EventBridge took.
    pub sent: usize,
    /// Notices EventBridge refused or that could not be sent; each is logged with its key.
    pub failed: usize,
}

impl NoticeOutcome {
    /// Add another run's (or account-Region's) counts.
    pub fn add(&mut self, other: Self) {
        self.sent += other.sent;
        self.failed += other.failed;
    }
}

/// Puts notices on the default event bus of its client's account and Region.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: aws_sdk_eventbridge::Client,
}

impl Notifier {
    pub fn new(client: aws_sdk_eventbridge::Client) -> Self {
        Self { client }
    }

    /// Send the notices, [`SENDERS`] calls at a time. Never fails: what EventBridge did not take
    /// is logged (key, error) and counted.
    pub async fn send(&self, notices: &[Notice]) -> NoticeOutcome {
        let mut outcome = NoticeOutcome::default();
        let mut calls = futures::stream::iter(batches(notices))
            .map(|batch| self.send_batch(batch))
            .buffer_unordered(SENDERS);
        while let Some(done) = calls.next().await {
            outcome.add(done);
        }
        if outcome.sent + outcome.failed > 0 {
            tracing::info!(
                sent = outcome.sent,
                failed = outcome.failed,
                "exception notices sent"
            );
        }
        outcome
    }

    /// One call's entries, the ones refused with a transient error sent again.
    async fn send_batch(&self, mut batch: Vec<(&Notice, PutEventsRequestEntry)>) -> NoticeOutcome {
        let mut outcome = NoticeOutcome::default();
        let mut pause = RETRY_PAUSE;
        for attempt in 1..=ENTRY_ATTEMPTS {
            let entries: Vec<PutEventsRequestEntry> =
                batch.iter().map(|(_, e)| e.clone()).collect();
            let answer = match self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(answer) => answer,
                Err(e) => {
                    let message = describe(&e);
                    for (notice, _) in &batch {
                        tracing::warn!(key_id = %notice.key_id, error = %message, "exception notice not sent: PutEvents failed (the caller needs events:PutEvents on the default event bus, for events:source kms-rotation-rule; docs/notices.md)");
                    }
                    outcome.failed += batch.len();
                    return outcome;
                }
            };
            let results = answer.entries();
            let mut again = Vec::new();
            for (i, (notice, entry)) in batch.into_iter().enumerate() {
                // An answer with fewer results than entries says nothing of the rest: not taken.
                let (code, message) = match results.get(i) {
                    Some(r) if r.error_code().is_none() && r.event_id().is_some() => {
                        outcome.sent += 1;
                        continue;
                    }
                    Some(r) => (
                        r.error_code().unwrap_or("no EventId").to_owned(),
                        r.error_message().unwrap_or_default().to_owned(),
                    ),
                    None => ("missing".to_owned(), "no result for this entry".to_owned()),
                };
                if transient(&code) && attempt < ENTRY_ATTEMPTS {
                    again.push((notice, entry));
                } else {
                    tracing::warn!(key_id = %notice.key_id, error_code = %code, error = %message, "exception notice refused by EventBridge");
                    outcome.failed += 1;
                }
            }
            if again.is_empty() {
                break;
            }
            batch = again;
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        outcome
    }
}

/// Entry error codes worth another attempt (PutEventsResultEntry, `ErrorCode`).
fn transient(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException" | "InternalFailure" | "InternalException"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn exception(expires: &str) -> Exception {
        Exception::parse(&format!("owner=payments expires={expires} ticket=SEC-7")).unwrap()
    }

    const PLACE: KeyPlace<'static> = KeyPlace {
        key_id: "1234abcd-12ab-34cd-56ef-1234567890ab",
        key_arn: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        account_id: "111122223333",
        region: "eu-west-1",
    };

    #[test]
    fn a_notice_is_due_within_the_window_and_after_expiry_only() {
        let today = d("2027-03-01");
        let status = |expires| NoticeStatus::of(&exception(expires), today, 14);
        assert_eq!(status("2027-04-01"), None);
        assert_eq!(status("2027-03-16"), None);
        assert_eq!(status("2027-03-15"), Some((NoticeStatus::ExpiringSoon, 14)));
        // Valid through its expiry day.
        assert_eq!(status("2027-03-01"), Some((NoticeStatus::ExpiringSoon, 0)));
        assert_eq!(status("2027-02-28"), Some((NoticeStatus::Expired, -1)));
        // A window of 0 days: the last valid day, then every day after it.
        let none = |expires| NoticeStatus::of(&exception(expires), today, 0);
        assert_eq!(none("2027-03-02"), None);
        assert_eq!(none("2027-03-01"), Some((NoticeStatus::ExpiringSoon, 0)));
    }

    #[test]
    fn the_detail_carries_the_documented_fields() {
        let notice = Notice::due(
            PLACE,
            &exception("2027-02-20"),
            "kms-rotation-exception",
            d("2027-03-01"),
            30,
            SENT_BY_RULE,
        )
        .unwrap()
        .with_verdict(Compliance::NonCompliant, "the exception expired");
        let entry = notice.entry();
        assert_eq!(entry.source(), Some(SOURCE));
        assert_eq!(entry.detail_type(), Some(EXPIRED));
        assert_eq!(entry.resources(), [PLACE.key_arn.to_owned()]);
        let detail: serde_json::Value = serde_json::from_str(entry.detail().unwrap()).unwrap();
        assert_eq!(
            detail,
            serde_json::json!({
                "keyId": PLACE.key_id, "keyArn": PLACE.key_arn, "accountId": "111122223333",
                "region": "eu-west-1", "owner": "payments", "ticket": "SEC-7",
                "expires": "2027-02-20", "daysLeft": -9, "status": "EXPIRED",
                "exceptionTagKey": "kms-rotation-exception", "compliance": "NON_COMPLIANT",
                "annotation": "the exception expired", "sentBy": "kms-rotation-rule",
            })
        );
    }

    fn notices(n: usize, annotation_bytes: usize) -> Vec<Notice> {
        (0..n)
            .map(|i| {
                let mut notice = Notice::due(
                    PLACE,
                    &exception("2027-03-02"),
                    "t",
                    d("2027-03-01"),
                    7,
                    SENT_BY_CLI,
                )
                .unwrap();
                notice.key_id = format!("key-{i}");
                notice.annotation = Some("x".repeat(annotation_bytes));
                notice
            })
            .collect()
    }

    #[test]
    fn batches_hold_at_most_ten_entries_and_256_kb() {
        let sizes = |b: Vec<Vec<(&Notice, PutEventsRequestEntry)>>| -> Vec<usize> {
            b.iter().map(Vec::len).collect()
        };
        assert_eq!(sizes(batches(&notices(0, 0))), Vec::<usize>::new());
        assert_eq!(sizes(batches(&notices(10, 0))), [10]);
        assert_eq!(sizes(batches(&notices(23, 0))), [10, 10, 3]);
        // 60 KB entries: four fit in 256 KB, a fifth does not.
        let big = notices(9, 60 * 1024);
        let split = batches(&big);
        assert_eq!(sizes(split.clone()), [4, 4, 1]);
        for batch in &split {
            let bytes: usize = batch.iter().map(|(_, e)| entry_size(e)).sum();
            assert!(bytes <= MAX_REQUEST_BYTES, "{bytes}");
        }
        // Every notice once, in order.
        let ids: Vec<&str> = split
            .iter()
            .flatten()
            .map(|(n, _)| n.key_id.as_str())
            .collect();
        let expected: Vec<&str> = big.iter().map(|n| n.key_id.as_str()).collect();
        assert_eq!(ids, expected);
    }
}
