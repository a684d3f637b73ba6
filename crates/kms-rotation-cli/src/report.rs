//! `kms-rotation audit --report FILE.html`: the audit as one self-contained HTML page.
//!
//! The page carries its data as JSON in `<script type="application/json" id="data">` and draws
//! everything from it with inline JavaScript and CSS: no external resource, no network (a
//! Content-Security-Policy of `default-src 'none'` forbids any). The page, its style and its
//! scripts are the files of `report/` (`page.html`, `report.css`, `errors.js`, `report.js`),
//! built into the binary. What it shows:
//! - the counts by compliance (`#count-COMPLIANT`, `#count-NON_COMPLIANT`, ...);
//! - stacked bars of COMPLIANT / NON_COMPLIANT / NOT_APPLICABLE keys per account and per Region
//!   (inline SVG; each segment carries `data-account` or `data-region`, `data-compliance` and
//!   `data-count`), each with the same numbers as a table;
//! - the NON_COMPLIANT keys, the most exposed first (public, cross-account, unknown, then the
//!   rest; then account, Region, key id), with what fixes each;
//! - the exceptions on a timeline by expiry date (`data-key`, `data-status`; expired in red,
//!   expiring soon in amber), malformed ones listed apart;
//! - the account-Regions that could not be read, and the run's figures.
//!
//! The data cannot close its script element: every `<` in it is written `\u003c` (and `>`, `&`
//! as `\u003e`, `\u0026`), which JSON reads back as the same characters. The script inserts every
//! string from the data as text (`textContent`, `setAttribute`), never as markup. When it is done
//! it sets `data-rendered="true"` on the body; an error sets `data-errors` there (the browser test
//! reads both, tests/e2e/test_report.py).

use serde::Serialize;

use crate::exception_review::Found;
use crate::sweep::AuditLine;
use crate::CliError;

/// What the page is made of.
pub(super) struct ReportInput<'a> {
    /// When the run ended (UTC), shown on the page.
    pub generated: chrono::DateTime<chrono::Utc>,
    /// The audit's lines, one a key, in the data exactly as `audit --output json` prints them
    /// ([`AuditLine`]: `complianceType`, `reason` as its code, `exposure` as `public`,
    /// `cross_account`, `unknown` or `private` when read; the script shows `cross_account` as
    /// `cross-account`).
    pub keys: &'a [AuditLine],
    /// The exception tags found, in the data as `exceptions --output json` prints them.
    pub exceptions: &'a [Found],
    /// Account-Regions (or keys) that could not be read.
    pub failed: &'a [Unread],
    /// The run's figures, name and value; shown as a table in this order.
    pub figures: &'a [(&'a str, Figure)],
}

/// Something the run could not read, in the data: `accountId` and `region` (null when the
/// error names none) and `error`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Unread {
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub error: String,
}

impl Unread {
    pub(super) fn of(e: &CliError) -> Self {
        match e {
            CliError::Unreachable {
                account,
                region,
                message,
            } => Self {
                account_id: Some(account.clone()),
                region: region.clone(),
                error: message.clone(),
            },
            CliError::Kms {
                account, region, ..
            } => Self {
                account_id: Some(account.clone()),
                region: Some(region.clone()),
                error: e.to_string(),
            },
            other => Self {
                account_id: None,
                region: None,
                error: other.to_string(),
            },
        }
    }
}

/// A figure of the run: a count, or seconds (a JSON number either way).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub(super) enum Figure {
    Count(usize),
    Seconds(f64),
}

/// The page around its parts: `{{generated}}`, `{{errors.js}}`, `{{report.css}}`, `{{data}}`
/// and `{{report.js}}` are filled in by [`render`].
const PAGE: &str = include_str!("report/page.html");
/// Records script errors and blocked loads on the body (`data-errors`), before anything draws.
const ERRORS_SCRIPT: &str = include_str!("report/errors.js");
const STYLE: &str = include_str!("report/report.css");
/// Draws the page from the data. Strings from the data go in as text only.
const SCRIPT: &str = include_str!("report/report.js");

/// The page, one self-contained HTML document.
pub(super) fn render(input: &ReportInput<'_>) -> String {
    let generated = input.generated.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let generated = escape_html(&generated);
    let data = script_safe_json(&data(input));
    fill(PAGE, |name| match name {
        "generated" => Some(&generated),
        "errors.js" => Some(ERRORS_SCRIPT),
        "report.css" => Some(STYLE),
        "data" => Some(&data),
        "report.js" => Some(SCRIPT),
        _ => None,
    })
}

/// `template` with every `{{name}}` replaced by `value(name)`, in one pass: what is put in is
/// never read again for placeholders. A name `value` does not know is left as it is.
fn fill<'a>(template: &str, value: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(template.len() + STYLE.len() + SCRIPT.len() + 4096);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        let name = &rest[open + 2..open + close];
        out.push_str(&rest[..open]);
        match value(name) {
            Some(v) => out.push_str(v),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

/// The data the script draws from. The figures are a list of `[name, value]` pairs, so their
/// order survives whatever the JSON reader does with object keys.
fn data(input: &ReportInput<'_>) -> String {
    #[derive(Serialize)]
    struct Data<'a> {
        generated: String,
        keys: &'a [AuditLine],
        exceptions: &'a [Found],
        failed: &'a [Unread],
        figures: &'a [(&'a str, Figure)],
    }
    let data = Data {
        generated: input
            .generated
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        keys: input.keys,
        exceptions: input.exceptions,
        failed: input.failed,
        figures: input.figures,
    };
    // Strings, numbers, lists and maps with string keys: nothing that JSON cannot say.
    serde_json::to_string(&data).expect("strings, numbers, lists and maps keyed by strings")
}

/// JSON that can sit inside a `<script>` element: no `</script`, no `<!--`, no `<script` can
/// appear, because no `<` does. `<`, `>` and `&` only occur inside JSON strings, where `\u003c`,
/// `\u003e` and `\u0026` read back as themselves; U+2028 and U+2029 are escaped too, as some
/// JavaScript parsers once refused them in source.
fn script_safe_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Text for HTML element content or a quoted attribute.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exception_review::Status;
    use crate::exposure::Exposure;
    use chrono::{NaiveDate, TimeZone};
    use kms_rotation_core::decision::{Compliance, Reason};
    use kms_rotation_core::exception::{Exception, ExceptionTag};
    use serde_json::{json, Value};

    const OPEN: &str = r#"<script type="application/json" id="data">"#;

    fn key(account: &str, region: &str, id: &str, compliance: Compliance) -> AuditLine {
        AuditLine {
            account_id: account.into(),
            region: region.into(),
            resource_id: id.into(),
            arn: Some(format!("arn:aws:kms:{region}:{account}:key/{id}")),
            alias: None,
            compliance_type: compliance,
            reason: if compliance == Compliance::NonCompliant {
                Reason::RotationOff
            } else {
                Reason::RotationOn
            },
            annotation: "Automatic rotation is off. Fix: aws kms enable-key-rotation --key-id k"
                .into(),
            exposure: None,
            exposure_reason: None,
            evidence: None,
            last_use: None,
        }
    }

    struct Sample {
        keys: Vec<AuditLine>,
        exceptions: Vec<Found>,
        failed: Vec<Unread>,
        figures: Vec<(&'static str, Figure)>,
    }

    impl Sample {
        fn new() -> Self {
            let mut exposed = key(
                "111111111111",
                "eu-west-1",
                "k-public",
                Compliance::NonCompliant,
            );
            exposed.exposure = Some(Exposure::Public);
            exposed.exposure_reason = Some("statement 0 allows *".into());
            // Not in alphabetical order: the page keeps the given order.
            let figures = vec![
                ("wall seconds", Figure::Seconds(1.5)),
                ("accounts", Figure::Count(2)),
                ("Regions", Figure::Count(3)),
            ];
            Self {
                keys: vec![
                    key("111111111111", "us-east-1", "k1", Compliance::Compliant),
                    key("111111111111", "us-east-1", "k2", Compliance::NonCompliant),
                    exposed,
                    key("222222222222", "us-east-1", "k3", Compliance::NotApplicable),
                ],
                exceptions: vec![Found {
                    account_id: "111111111111".into(),
                    region: "us-east-1".into(),
                    key_id: "k4".into(),
                    alias: Some("alias/legacy".into()),
                    tag: ExceptionTag::Present(Exception {
                        owner: "alice".into(),
                        expires: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                        ticket: Some("SEC-1".into()),
                    }),
                    status: Status::Expired { days_ago: 30 },
                }],
                failed: vec![Unread {
                    account_id: Some("222222222222".into()),
                    region: Some("eu-west-1".into()),
                    error: "access denied on kms:ListKeys".into(),
                }],
                figures,
            }
        }

        fn input(&self) -> ReportInput<'_> {
            ReportInput {
                generated: chrono::Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap(),
                keys: &self.keys,
                exceptions: &self.exceptions,
                failed: &self.failed,
                figures: &self.figures,
            }
        }
    }

    /// The text of the data element, and the page after it.
    fn embedded(page: &str) -> (&str, &str) {
        let start = page.find(OPEN).expect("a data element") + OPEN.len();
        let end = start
            + page[start..]
                .find("</script>")
                .expect("the data element closes");
        (&page[start..end], &page[end..])
    }

    #[test]
    fn the_data_round_trips_through_the_page() {
        let sample = Sample::new();
        let page = render(&sample.input());
        let (text, _) = embedded(&page);
        let data: Value = serde_json::from_str(text).unwrap();
        assert_eq!(data["keys"], json!(sample.keys));
        assert_eq!(data["exceptions"], json!(sample.exceptions));
        assert_eq!(data["failed"], json!(sample.failed));
        assert_eq!(data["generated"], "2026-01-31T12:00:00Z");
        // The lines as `audit --output json` prints them, the exceptions as `exceptions` does.
        assert_eq!(
            data["keys"][2],
            json!({
                "resourceId": "k-public", "arn": "arn:aws:kms:eu-west-1:111111111111:key/k-public",
                "accountId": "111111111111", "region": "eu-west-1", "alias": null,
                "complianceType": "NON_COMPLIANT", "reason": "ROTATION_OFF",
                "annotation": "Automatic rotation is off. Fix: aws kms enable-key-rotation --key-id k",
                "exposure": "public", "exposureReason": "statement 0 allows *",
            })
        );
        assert_eq!(
            data["exceptions"][0],
            json!({
                "accountId": "111111111111", "region": "us-east-1", "resourceId": "k4",
                "alias": "alias/legacy", "status": "EXPIRED", "owner": "alice",
                "expires": "2026-01-01", "ticket": "SEC-1", "daysLeft": -30, "value": null,
                "note": "expired 30 day(s) ago: renew the exception or enable rotation",
            })
        );
        assert_eq!(
            data["failed"][0],
            json!({"accountId": "222222222222", "region": "eu-west-1", "error": "access denied on kms:ListKeys"})
        );
        // In the given order.
        let pairs: Vec<Value> = sample.figures.iter().map(|(k, v)| json!([k, v])).collect();
        assert_eq!(data["figures"], json!(pairs));
        assert_eq!(
            data["figures"],
            json!([["wall seconds", 1.5], ["accounts", 2], ["Regions", 3]])
        );
        assert_eq!(data["figures"].as_array().unwrap().len(), 3);
        assert!(page.contains("<title>KMS key rotation audit, 2026-01-31 12:00:00 UTC</title>"));
    }

    #[test]
    fn the_page_references_nothing_on_the_network() {
        let sample = Sample::new();
        let page = render(&sample.input());
        let lower = page.to_lowercase();
        for needle in [
            "http://", "https://", "src=", "href=", "url(", "@import", "<link", "<img", "<iframe",
        ] {
            assert!(!lower.contains(needle), "the page contains {needle:?}");
        }
        assert!(
            page.contains("default-src 'none'"),
            "the policy forbids any load"
        );
    }

    #[test]
    fn data_cannot_close_its_script_element() {
        let hostile = "</script><script>alert(1)</script><!-- <script> --> </SCRIPT> & \u{2028}";
        let mut sample = Sample::new();
        sample.keys[1].alias = Some(hostile.into());
        sample.keys[1].annotation = format!("<!--{hostile}");
        if let ExceptionTag::Present(e) = &mut sample.exceptions[0].tag {
            e.owner = hostile.into();
        }
        sample.failed[0].error = hostile.into();
        sample.figures.push((hostile, Figure::Count(7)));
        let page = render(&sample.input());

        let (text, rest) = embedded(&page);
        let lower = text.to_lowercase();
        assert!(!lower.contains('<'), "{text}");
        assert!(!lower.contains("<!--") && !lower.contains("</") && !lower.contains("<script"));
        let data: Value = serde_json::from_str(text).unwrap();
        assert_eq!(data["keys"][1]["alias"], hostile);
        assert_eq!(data["keys"][1]["annotation"], format!("<!--{hostile}"));
        assert_eq!(data["exceptions"][0]["owner"], hostile);
        assert_eq!(data["failed"][0]["error"], hostile);
        let figures = data["figures"].as_array().unwrap();
        assert!(figures.contains(&json!([hostile, 7])));
        // The page has exactly the template's scripts, and the data element ends where the drawing
        // script begins.
        assert!(
            rest.starts_with("</script>\n<script>\n\"use strict\";"),
            "{}",
            &rest[..80.min(rest.len())]
        );
        let blank = render(&Sample::new().input());
        assert_eq!(
            page.to_lowercase().matches("<script").count(),
            blank.to_lowercase().matches("<script").count()
        );
        assert!(text.contains(r"\u003c/script\u003e\u003cscript\u003ealert(1)"));
    }

    #[test]
    fn the_script_inserts_data_as_text_only() {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!SCRIPT.contains(sink), "the script uses {sink}");
            assert!(
                !ERRORS_SCRIPT.contains(sink),
                "the head's script uses {sink}"
            );
            assert!(!PAGE.contains(sink), "the page uses {sink}");
        }
        assert!(SCRIPT.contains(r#"document.body.dataset.rendered = "true""#));
        assert!(ERRORS_SCRIPT.contains("window.onerror"));
    }

    #[test]
    fn an_empty_run_renders() {
        let page = render(&ReportInput {
            generated: chrono::Utc::now(),
            keys: &[],
            exceptions: &[],
            failed: &[],
            figures: &[],
        });
        let (text, _) = embedded(&page);
        let data: Value = serde_json::from_str(text).unwrap();
        assert_eq!(data["keys"], json!([]));
        assert_eq!(data["figures"], json!([]));
    }

    #[test]
    fn every_part_of_the_page_is_filled_in() {
        let page = render(&Sample::new().input());
        for part in [ERRORS_SCRIPT, STYLE, SCRIPT] {
            assert!(page.contains(part));
        }
        assert!(!page.contains("{{"), "a placeholder is left");
        assert_eq!(
            fill("a {{x}} b {{y}} {{x}}", |n| (n == "x").then_some("{{y}}")),
            "a {{y}} b {{y}} {{y}}"
        );
    }

    /// `KMS_ROTATION_REPORT_SAMPLE=/tmp/sample.html cargo test -p kms-rotation-cli report::` writes the
    /// sample page there, to look at in a browser; without the variable it writes nothing.
    #[test]
    fn writes_a_sample_page_when_asked() {
        if let Some(path) = std::env::var_os("KMS_ROTATION_REPORT_SAMPLE") {
            std::fs::write(path, render(&Sample::new().input())).unwrap();
        }
    }
}
