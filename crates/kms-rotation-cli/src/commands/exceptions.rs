//! `kms-rotation exceptions`: every key carrying the exception tag, with its owner, expiry and
//! ticket; expired, expiring and malformed ones flagged. The tag is parsed by
//! [`kms_rotation_core::exception`], as the rule parses it.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use serde::{Serialize, Serializer};

use crate::args::{ExceptionsArgs, ScopeArgs};
use crate::exception_review::{classify, Found, Status};
use crate::fleet::{self, Stop};
use crate::output::{or_dash, ErrorCounts, Report, Row};
use crate::session::{Accounts, Session};
use crate::{CliError, Exit};
use kms_rotation_core::arn::{kms_key_arn, partition_of_region};
use kms_rotation_core::exception::ExceptionTag;
use kms_rotation_core::kms::KmsRegion;
use kms_rotation_core::kms::{Described, KmsError, Tags};
use kms_rotation_core::notice::{KeyPlace, Notice, NoticeOutcome, Notifier, SENT_BY_CLI};
use kms_rotation_core::params::RuleParameters;

/// The JSON line: `resourceId`, `accountId`, `region`, `alias`, `status`, `owner`, `expires`, `ticket`,
/// `daysLeft`, `value` (a malformed tag's), `note`.
impl Serialize for Found {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Line<'a> {
            resource_id: &'a str,
            account_id: &'a str,
            region: &'a str,
            alias: Option<&'a str>,
            status: &'static str,
            owner: Option<&'a str>,
            expires: Option<String>,
            ticket: Option<&'a str>,
            days_left: Option<i64>,
            value: Option<&'a str>,
            note: String,
        }
        let (owner, expires, ticket, value) = match &self.tag {
            ExceptionTag::Present(e) => (
                Some(e.owner.as_str()),
                Some(e.expires.to_string()),
                e.ticket.as_deref(),
                None,
            ),
            ExceptionTag::Malformed { value, .. } => (None, None, None, Some(value.as_str())),
            _ => (None, None, None, None),
        };
        let days_left = match &self.status {
            Status::Valid { days_left } | Status::ExpiringSoon { days_left } => Some(*days_left),
            Status::Expired { days_ago } => Some(-days_ago),
            Status::Malformed { .. } => None,
        };
        Line {
            resource_id: &self.key_id,
            account_id: &self.account_id,
            region: &self.region,
            alias: self.alias.as_deref(),
            status: self.status.label(),
            owner,
            expires,
            ticket,
            days_left,
            value,
            note: self.status.note(),
        }
        .serialize(serializer)
    }
}

impl Row for Found {
    const HEADERS: &'static [&'static str] = &[
        "ACCOUNT", "KEY ID", "ALIAS", "REGION", "STATUS", "OWNER", "EXPIRES", "TICKET", "NOTE",
    ];
    const NOT_READ: &'static str = "not checked";

    fn cells(&self) -> Vec<String> {
        let (owner, expires, ticket) = match &self.tag {
            ExceptionTag::Present(e) => (
                e.owner.clone(),
                e.expires.to_string(),
                or_dash(e.ticket.as_deref()),
            ),
            _ => ("-".into(), "-".into(), "-".into()),
        };
        vec![
            self.account_id.clone(),
            self.key_id.clone(),
            or_dash(self.alias.as_deref()),
            self.region.clone(),
            self.status.label().into(),
            owner,
            expires,
            ticket,
            self.status.note(),
        ]
    }

    fn is_finding(&self) -> bool {
        self.status.is_finding()
    }
}

/// The exception tag of one key; `None` for a key without one or an AWS managed key (which
/// cannot be tagged).
async fn exception_of(
    kms: &KmsRegion,
    key_id: &str,
    tag_key: &str,
) -> Result<Option<ExceptionTag>, KmsError> {
    match kms.reader.tags(key_id).await? {
        Tags::Read(tags) => {
            let tag = ExceptionTag::from_tags(
                tag_key,
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
            Ok((tag != ExceptionTag::Absent).then_some(tag))
        }
        Tags::AccessDenied(message) => match kms.reader.describe_key(key_id).await? {
            Described::Key(f) if f.key_manager == aws_sdk_kms::types::KeyManagerType::Aws => {
                Ok(None)
            }
            Described::NotFound => Ok(None),
            _ => Err(KmsError {
                operation: "ListResourceTags",
                key_id: key_id.to_owned(),
                message,
                code: Some("AccessDeniedException".into()),
            }),
        },
    }
}

/// Every key with an exception tag in the account-Regions, ordered by account, Region and key
/// id, and the keys or account-Regions that could not be checked, many account-Regions at once
/// ([`fleet::run`]); and what a Ctrl-C left undone.
pub(crate) async fn scan(
    targets: &[KmsRegion],
    tag_key: &str,
    today: NaiveDate,
    within_days: u32,
    max_in_flight: usize,
    stop: &Stop,
) -> (Report<Found>, Vec<(String, String)>) {
    let (mut found, mut errors, mut left) = (Vec::new(), Vec::new(), Vec::new());
    let progress = fleet::progress(targets.len(), "key(s)");
    let mut keys = 0u64;
    let owned_key: Arc<str> = Arc::from(tag_key);
    let per_key = move |target: KmsRegion, key_id: String| {
        let tag_key = owned_key.clone();
        async move {
            let tag = exception_of(&target, &key_id, &tag_key).await?;
            Ok((key_id, tag))
        }
    };
    let mut by_target = Vec::new();
    let not_started = fleet::run(targets, max_in_flight, stop, per_key, |mut f| {
        keys += f.rows.len() as u64;
        progress.inc(1);
        progress.set_message(keys.to_string());
        // Only the keys with an exception tag are kept.
        f.rows.retain(|(_, tag)| tag.is_some());
        by_target.push(f);
    })
    .await;
    progress.finish_and_clear();
    left.extend(not_started.into_iter().map(|t| (t.account_id, t.region)));
    for f in by_target {
        if f.not_started > 0 {
            left.push((f.account_id.clone(), f.region.clone()));
        }
        errors.extend(f.errors);
        let tagged: Vec<(String, ExceptionTag, Status)> = f
            .rows
            .into_iter()
            .filter_map(|(key_id, tag)| {
                let tag = tag?;
                let status = classify(&tag, today, within_days)?;
                Some((key_id, tag, status))
            })
            .collect();
        if tagged.is_empty() {
            continue;
        }
        // Aliases only for account-Regions with exceptions; a failure leaves them out.
        let aliases = match targets
            .iter()
            .find(|t| t.account_id == f.account_id && t.region == f.region)
        {
            Some(t) => t.reader.aliases().await.unwrap_or_default(),
            None => Default::default(),
        };
        for (key_id, tag, status) in tagged {
            found.push(Found {
                account_id: f.account_id.clone(),
                region: f.region.clone(),
                alias: aliases.get(&key_id).map(str::to_owned),
                key_id,
                tag,
                status,
            });
        }
    }
    found.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.key_id).cmp(&(&b.account_id, &b.region, &b.key_id))
    });
    (
        Report {
            rows: found,
            errors,
        },
        left,
    )
}

/// The counts line printed after the results.
fn summary(report: &Report<Found>, tag_key: &str, regions: usize, within_days: u32) -> String {
    let count = |is: fn(&Status) -> bool| report.count(|f| is(&f.status));
    let errors = ErrorCounts::of(&report.errors);
    format!(
        "{} key(s) with the exception tag {tag_key} in {regions} Region(s): {} valid, {} expiring within {within_days} days, {} expired, {} malformed, {} not checked (errors){}",
        report.rows.len(),
        count(|s| matches!(s, Status::Valid { .. })),
        count(|s| matches!(s, Status::ExpiringSoon { .. })),
        count(|s| matches!(s, Status::Expired { .. })),
        count(|s| matches!(s, Status::Malformed { .. })),
        errors.keys,
        errors.places_note(),
    )
}

/// `kms-rotation exceptions`: read every key's exception tag, then report them classified.
pub(crate) async fn command(
    session: &Session,
    params: &RuleParameters,
    args: &ExceptionsArgs,
    accounts: &Accounts,
    scope: &ScopeArgs,
) -> Result<Exit, CliError> {
    let targets = session.targets(accounts, scope, params).await?;
    let stop = Stop::on_ctrl_c();
    let (mut report, left) = scan(
        &targets.kms,
        &params.exception_tag_key,
        Utc::now().date_naive(),
        args.within_days,
        scope.max_in_flight as usize,
        &stop,
    )
    .await;
    let regions = targets.region_count();
    report.errors.splice(0..0, targets.failed);
    let mut summary = summary(
        &report,
        &params.exception_tag_key,
        regions,
        args.within_days,
    );
    if args.notify {
        let (outcome, failed) = notify(
            &report.rows,
            &targets.configs,
            &params.exception_tag_key,
            Utc::now().date_naive(),
            args.within_days,
        )
        .await;
        summary.push_str(&format!(
            "\nNotices (EventBridge, default bus of each key's account and Region): {} sent, {} not sent",
            outcome.sent, outcome.failed
        ));
        report.errors.extend(failed);
    }
    if let Some(left) = crate::sweep::left_undone(&left) {
        summary.push_str(&format!("\n{left}"));
        report.errors.push(CliError::Interrupted(left));
    }
    report.print(args.output, &summary)?;
    Ok(report.exit())
}

/// The notice each listed exception is due (expiring within `within_days`, or expired), by
/// account and Region in the rows' order.
fn notices_due(
    rows: &[Found],
    tag_key: &str,
    today: NaiveDate,
    within_days: u32,
) -> Vec<((String, String), Vec<Notice>)> {
    let mut by_place: Vec<((String, String), Vec<Notice>)> = Vec::new();
    for f in rows {
        let ExceptionTag::Present(exception) = &f.tag else {
            continue;
        };
        let arn = kms_key_arn(
            partition_of_region(&f.region),
            &f.region,
            &f.account_id,
            &f.key_id,
        );
        let place = KeyPlace {
            key_id: &f.key_id,
            key_arn: &arn,
            account_id: &f.account_id,
            region: &f.region,
        };
        let Some(notice) = Notice::due(place, exception, tag_key, today, within_days, SENT_BY_CLI)
        else {
            continue;
        };
        let at = (f.account_id.clone(), f.region.clone());
        match by_place.last_mut() {
            Some((last, notices)) if *last == at => notices.push(notice),
            _ => by_place.push((at, vec![notice])),
        }
    }
    by_place
}

/// `--notify`: put the notices due on each account-Region's default event bus, with that
/// account's credentials. What EventBridge did not take is an error of the run, per
/// account-Region; the exceptions listed are the same either way.
async fn notify(
    rows: &[Found],
    configs: &std::collections::HashMap<String, aws_config::SdkConfig>,
    tag_key: &str,
    today: NaiveDate,
    within_days: u32,
) -> (NoticeOutcome, Vec<CliError>) {
    let (mut total, mut errors) = (NoticeOutcome::default(), Vec::new());
    for ((account, region), notices) in notices_due(rows, tag_key, today, within_days) {
        let Some(sdk) = configs.get(&account) else {
            // Rows exist only for accounts that were reached, whose configuration is kept.
            continue;
        };
        let client = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(sdk)
                .region(aws_config::Region::new(region.clone()))
                .build(),
        );
        let outcome = Notifier::new(client).send(&notices).await;
        total.add(outcome);
        if outcome.failed > 0 {
            errors.push(CliError::Notices {
                account,
                region,
                failed: outcome.failed,
            });
        }
    }
    (total, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_rotation_core::exception::Exception;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn tag(value: &str) -> ExceptionTag {
        ExceptionTag::from_tags("t", [("t", value)])
    }

    #[test]
    fn exceptions_are_valid_expiring_expired_or_malformed() {
        let today = d("2026-06-01");
        let status = |v: &str| classify(&tag(v), today, 30).unwrap();
        assert_eq!(
            status("owner=a expires=2026-12-31"),
            Status::Valid { days_left: 213 }
        );
        assert_eq!(
            status("owner=a expires=2026-07-01"),
            Status::ExpiringSoon { days_left: 30 }
        );
        assert_eq!(
            status("owner=a expires=2026-06-01"),
            Status::ExpiringSoon { days_left: 0 }
        );
        assert_eq!(
            status("owner=a expires=2026-05-31"),
            Status::Expired { days_ago: 1 }
        );
        assert!(matches!(status("approved"), Status::Malformed { .. }));
        assert!(status("approved").is_finding());
        assert!(status("owner=a expires=2026-05-31").is_finding());
        assert!(!status("owner=a expires=2026-06-02").is_finding());
        assert_eq!(classify(&ExceptionTag::Absent, today, 30), None);
        assert_eq!(
            classify(
                &ExceptionTag::Present(Exception::parse("owner=a expires=2026-07-02").unwrap()),
                today,
                30
            )
            .map(|s| s.label()),
            Some("VALID")
        );
    }

    #[test]
    fn notify_sends_the_expiring_and_expired_exceptions_grouped_by_account_region() {
        let today = d("2026-06-01");
        let row = |account: &str, region: &str, key: &str, value: &str| {
            let tag = tag(value);
            Found {
                account_id: account.into(),
                region: region.into(),
                key_id: key.into(),
                alias: None,
                status: classify(&tag, today, 30).unwrap(),
                tag,
            }
        };
        let rows = [
            row(
                "111122223333",
                "us-east-1",
                "expired",
                "owner=a expires=2026-05-01",
            ),
            row(
                "111122223333",
                "us-east-1",
                "valid",
                "owner=a expires=2026-12-31",
            ),
            row("111122223333", "us-east-1", "malformed", "approved"),
            row(
                "111122223333",
                "cn-north-1",
                "soon",
                "owner=b expires=2026-06-11 ticket=T-1",
            ),
            row(
                "444455556666",
                "us-east-1",
                "today",
                "owner=c expires=2026-06-01",
            ),
        ];
        let due = notices_due(&rows, "t", today, 30);
        let places: Vec<(&str, &str, Vec<&str>)> = due
            .iter()
            .map(|((a, r), n)| {
                (
                    a.as_str(),
                    r.as_str(),
                    n.iter().map(|n| n.key_id.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            places,
            [
                ("111122223333", "us-east-1", vec!["expired"]),
                ("111122223333", "cn-north-1", vec!["soon"]),
                ("444455556666", "us-east-1", vec!["today"]),
            ]
        );
        let soon = &due[1].1[0];
        assert_eq!(
            soon.key_arn,
            "arn:aws-cn:kms:cn-north-1:111122223333:key/soon"
        );
        assert_eq!((soon.days_left, soon.ticket.as_deref()), (10, Some("T-1")));
        assert_eq!((soon.compliance, soon.sent_by), (None, SENT_BY_CLI));
        assert_eq!(due[0].1[0].days_left, -31);
        // A shorter window: only the expired ones and the one expiring today.
        let due = notices_due(&rows, "t", today, 0);
        assert_eq!(due.iter().map(|(_, n)| n.len()).sum::<usize>(), 2);
    }

    #[test]
    fn a_json_line_has_the_tags_parts_or_its_malformed_value() {
        let found = |value: &str| {
            let tag = tag(value);
            Found {
                account_id: "111122223333".into(),
                region: "us-east-1".into(),
                key_id: "k1".into(),
                alias: None,
                status: classify(&tag, d("2026-06-01"), 30).unwrap(),
                tag,
            }
        };
        assert_eq!(
            serde_json::to_string(&found("owner=a expires=2026-12-31 ticket=SEC-1")).unwrap(),
            r#"{"resourceId":"k1","accountId":"111122223333","region":"us-east-1","alias":null,"status":"VALID","owner":"a","expires":"2026-12-31","ticket":"SEC-1","daysLeft":213,"value":null,"note":"expires in 213 days"}"#
        );
        let malformed = serde_json::to_value(found("approved")).unwrap();
        assert_eq!(malformed["status"], "MALFORMED");
        assert_eq!(malformed["value"], "approved");
        assert_eq!(malformed["daysLeft"], serde_json::Value::Null);
        assert!(found("approved").is_finding());
        assert_eq!(found("approved").cells()[5..8], ["-", "-", "-"]);
    }
}
