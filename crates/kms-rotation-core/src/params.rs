//! The rule parameters: Config's `ruleParameters` JSON string, parsed into a typed value at the edge.
//!
//! Config passes `InputParameters` through as a JSON object whose values are usually strings
//! (`{"maxRotationPeriodInDays":"365"}`); numbers and booleans are accepted too. An empty string
//! means "not set", so a conformance pack can default an optional parameter to `""`.

use serde_json::Value;
use thiserror::Error;

/// Every parameter name the rule accepts, exactly as it appears in `InputParameters`.
pub const ACCEPTED: &[&str] = &[
    "maxRotationPeriodInDays",
    "evaluateDisabledKeys",
    "exceptionTagKey",
    "ExecutionRoleName",
    "getKeyRotationStatusPerSecond",
    "describeKeyPerSecond",
    "maxKeyMaterialAgeInDays",
    "rotationGraceDays",
    "exceptionNoticeDays",
];

/// The exception tag key used when `exceptionTagKey` is not set.
pub const DEFAULT_EXCEPTION_TAG_KEY: &str = "kms-rotation-exception";

/// KMS accepts rotation periods from 90 to 2560 days.
pub const ROTATION_PERIOD_DAYS: std::ops::RangeInclusive<i64> = 90..=2560;
/// `maxKeyMaterialAgeInDays`: from a rotation period's lowest value to ten years.
pub const KEY_MATERIAL_AGE_DAYS: std::ops::RangeInclusive<i64> = 90..=3650;
/// `rotationGraceDays`: how long past its NextRotationDate a key may be before it is overdue.
pub const ROTATION_GRACE_DAYS: std::ops::RangeInclusive<i64> = 0..=365;
pub const DEFAULT_ROTATION_GRACE_DAYS: u32 = 7;
/// `exceptionNoticeDays`: notices for exceptions expiring within 0 (their last day) to 365 days.
pub const EXCEPTION_NOTICE_DAYS: std::ops::RangeInclusive<i64> = 0..=365;
/// Client-side ceilings on KMS request rates: at least 1/s, at most the default account quota.
pub const GET_KEY_ROTATION_STATUS_PER_SECOND: std::ops::RangeInclusive<i64> = 1..=1000;
pub const DESCRIBE_KEY_PER_SECOND: std::ops::RangeInclusive<i64> = 1..=2000;
/// Defaults: the account's default request quotas (KMS Developer Guide, "Request quotas":
/// GetKeyRotationStatus 1,000/s, DescribeKey 2,000/s per account and Region). Other callers get
/// their share through the pacers (`crate::pace::Pacer`): when the quota is shared, the rule's
/// rate drops to what KMS lets through and stays there (docs/performance.md, the contended run).
pub const DEFAULT_GET_KEY_ROTATION_STATUS_PER_SECOND: u32 = 1000;
pub const DEFAULT_DESCRIBE_KEY_PER_SECOND: u32 = 2000;

/// The rule's parameters, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleParameters {
    /// `maxRotationPeriodInDays`: keys rotating less often than this are NON_COMPLIANT.
    pub max_rotation_period_in_days: Option<i32>,
    /// `evaluateDisabledKeys`: evaluate disabled keys instead of reporting them NOT_APPLICABLE.
    pub evaluate_disabled_keys: bool,
    /// `exceptionTagKey`: the tag that records an approved exception.
    pub exception_tag_key: String,
    /// `ExecutionRoleName`: role assumed in the evaluated account (cross-account, like RDK).
    pub execution_role_name: Option<String>,
    /// `getKeyRotationStatusPerSecond`: client-side ceiling on GetKeyRotationStatus calls.
    pub get_key_rotation_status_per_second: u32,
    /// `describeKeyPerSecond`: client-side ceiling on DescribeKey calls.
    pub describe_key_per_second: u32,
    /// `maxKeyMaterialAgeInDays`: a key whose current key material is older than this is
    /// NON_COMPLIANT (proof that material is renewed, not only that rotation is on). Not set by
    /// default, and then ListKeyRotations is never called.
    pub max_key_material_age_in_days: Option<u32>,
    /// `rotationGraceDays`: a key with rotation on whose NextRotationDate is more than this many
    /// days in the past is NON_COMPLIANT (overdue).
    pub rotation_grace_days: u32,
    /// `exceptionNoticeDays`: the periodic run puts an EventBridge event on the default bus for
    /// each exception its verdicts rest on that expires within this many days or has expired
    /// (`crate::notice`, docs/notices.md). Not set by default: no notice is sent.
    pub exception_notice_days: Option<u32>,
}

impl Default for RuleParameters {
    fn default() -> Self {
        Self {
            max_rotation_period_in_days: None,
            evaluate_disabled_keys: false,
            exception_tag_key: DEFAULT_EXCEPTION_TAG_KEY.to_owned(),
            execution_role_name: None,
            get_key_rotation_status_per_second: DEFAULT_GET_KEY_ROTATION_STATUS_PER_SECOND,
            describe_key_per_second: DEFAULT_DESCRIBE_KEY_PER_SECOND,
            max_key_material_age_in_days: None,
            rotation_grace_days: DEFAULT_ROTATION_GRACE_DAYS,
            exception_notice_days: None,
        }
    }
}

/// Why `ruleParameters` was refused. Every message names the parameter and what is allowed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParamError {
    #[error("ruleParameters is not valid JSON ({0}); expected an object such as {{\"maxRotationPeriodInDays\":\"365\"}}")]
    NotJson(String),
    #[error("ruleParameters must be a JSON object of name/value pairs, got {0}")]
    NotObject(&'static str),
    #[error("unknown rule parameter {name:?}; accepted parameters: {}", ACCEPTED.join(", "))]
    Unknown { name: String },
    #[error("rule parameter {name} must be an integer from {min} to {max}, got {value}")]
    OutOfRange {
        name: &'static str,
        value: String,
        min: i64,
        max: i64,
    },
    #[error("rule parameter {name} must be true or false, got {value}")]
    NotBool { name: &'static str, value: String },
    #[error("rule parameter {name} {problem}, got {value:?}")]
    BadName {
        name: &'static str,
        value: String,
        problem: &'static str,
    },
}

impl RuleParameters {
    /// The parameters of a caller that holds them as typed values (the CLI's flags): checked with
    /// the same ranges and tag-key rules as [`RuleParameters::parse`]; the Lambda-only parameters
    /// (`ExecutionRoleName`, the request rates) keep their defaults.
    pub fn from_values(
        max_rotation_period_in_days: Option<i32>,
        evaluate_disabled_keys: bool,
        exception_tag_key: &str,
        max_key_material_age_in_days: Option<u32>,
        rotation_grace_days: u32,
    ) -> Result<Self, ParamError> {
        let max_rotation_period_in_days = match max_rotation_period_in_days {
            Some(days) => Some(in_range(
                i64::from(days),
                "maxRotationPeriodInDays",
                ROTATION_PERIOD_DAYS,
            )? as i32),
            None => None,
        };
        let max_key_material_age_in_days = match max_key_material_age_in_days {
            Some(days) => Some(in_range(
                i64::from(days),
                "maxKeyMaterialAgeInDays",
                KEY_MATERIAL_AGE_DAYS,
            )? as u32),
            None => None,
        };
        Ok(Self {
            max_rotation_period_in_days,
            evaluate_disabled_keys,
            // As in `InputParameters`, an empty key means "not set".
            exception_tag_key: match exception_tag_key.trim() {
                "" => DEFAULT_EXCEPTION_TAG_KEY.to_owned(),
                key => exception_tag_key_of(key)?,
            },
            max_key_material_age_in_days,
            rotation_grace_days: in_range(
                i64::from(rotation_grace_days),
                "rotationGraceDays",
                ROTATION_GRACE_DAYS,
            )? as u32,
            ..Self::default()
        })
    }

    /// The parameters as a JSON object in the rule's own names (`InputParameters`), keys sorted,
    /// every parameter present (an unset one as `""`): one text for one set of parameters, which
    /// [`RuleParameters::parse`] reads back to the same value. `exceptionNoticeDays`, which
    /// changes no verdict, is there only when set, so that the text of a set of parameters, and
    /// the `--state` fingerprint made from it, are those of the releases before it.
    pub fn canonical_json(&self) -> Value {
        let text = |v: Option<String>| Value::String(v.unwrap_or_default());
        let sorted: std::collections::BTreeMap<&str, Value> = [
            ("ExecutionRoleName", text(self.execution_role_name.clone())),
            (
                "describeKeyPerSecond",
                text(Some(self.describe_key_per_second.to_string())),
            ),
            (
                "evaluateDisabledKeys",
                text(Some(self.evaluate_disabled_keys.to_string())),
            ),
            (
                "exceptionTagKey",
                text(Some(self.exception_tag_key.clone())),
            ),
            (
                "getKeyRotationStatusPerSecond",
                text(Some(self.get_key_rotation_status_per_second.to_string())),
            ),
            (
                "maxKeyMaterialAgeInDays",
                text(self.max_key_material_age_in_days.map(|d| d.to_string())),
            ),
            (
                "maxRotationPeriodInDays",
                text(self.max_rotation_period_in_days.map(|d| d.to_string())),
            ),
            (
                "rotationGraceDays",
                text(Some(self.rotation_grace_days.to_string())),
            ),
        ]
        .into_iter()
        .chain(
            self.exception_notice_days
                .map(|d| ("exceptionNoticeDays", text(Some(d.to_string())))),
        )
        .collect();
        Value::Object(sorted.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// Parse `ruleParameters`. `None`, `""` and `{}` give the defaults.
    pub fn parse(raw: Option<&str>) -> Result<Self, ParamError> {
        let raw = raw.map(str::trim).unwrap_or_default();
        if raw.is_empty() {
            return Ok(Self::default());
        }
        let value: Value =
            serde_json::from_str(raw).map_err(|e| ParamError::NotJson(e.to_string()))?;
        let object = match value {
            Value::Object(map) => map,
            Value::Null => return Ok(Self::default()),
            other => return Err(ParamError::NotObject(json_kind(&other))),
        };
        let mut params = Self::default();
        for (name, value) in &object {
            let text = scalar_text(value);
            // An empty value means "not set": packs default optional parameters to "".
            if text.is_empty() {
                if !ACCEPTED.contains(&name.as_str()) {
                    return Err(ParamError::Unknown { name: name.clone() });
                }
                continue;
            }
            match name.as_str() {
                "maxRotationPeriodInDays" => {
                    params.max_rotation_period_in_days =
                        Some(int_in(&text, "maxRotationPeriodInDays", ROTATION_PERIOD_DAYS)? as i32)
                }
                "evaluateDisabledKeys" => {
                    params.evaluate_disabled_keys = boolean(&text, "evaluateDisabledKeys")?
                }
                "exceptionTagKey" => params.exception_tag_key = exception_tag_key_of(&text)?,
                "ExecutionRoleName" => params.execution_role_name = Some(role_name(&text)?),
                "getKeyRotationStatusPerSecond" => {
                    params.get_key_rotation_status_per_second = int_in(
                        &text,
                        "getKeyRotationStatusPerSecond",
                        GET_KEY_ROTATION_STATUS_PER_SECOND,
                    )? as u32
                }
                "describeKeyPerSecond" => {
                    params.describe_key_per_second =
                        int_in(&text, "describeKeyPerSecond", DESCRIBE_KEY_PER_SECOND)? as u32
                }
                "maxKeyMaterialAgeInDays" => {
                    params.max_key_material_age_in_days =
                        Some(
                            int_in(&text, "maxKeyMaterialAgeInDays", KEY_MATERIAL_AGE_DAYS)? as u32,
                        )
                }
                "rotationGraceDays" => {
                    params.rotation_grace_days =
                        int_in(&text, "rotationGraceDays", ROTATION_GRACE_DAYS)? as u32
                }
                "exceptionNoticeDays" => {
                    params.exception_notice_days =
                        Some(int_in(&text, "exceptionNoticeDays", EXCEPTION_NOTICE_DAYS)? as u32)
                }
                _ => return Err(ParamError::Unknown { name: name.clone() }),
            }
        }
        Ok(params)
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The text of a scalar value; arrays and objects keep their JSON so the error can show them.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The integer parameter `name` from its text, within `range` (one of the ranges above): the
/// rule's check, and the CLI's for the flag of the same parameter.
pub fn int_in(
    text: &str,
    name: &'static str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ParamError> {
    let out_of_range = || ParamError::OutOfRange {
        name,
        value: text.to_owned(),
        min: *range.start(),
        max: *range.end(),
    };
    let n: i64 = text.parse().map_err(|_| out_of_range())?;
    in_range(n, name, range)
}

fn in_range(
    n: i64,
    name: &'static str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ParamError> {
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(ParamError::OutOfRange {
            name,
            value: n.to_string(),
            min: *range.start(),
            max: *range.end(),
        })
    }
}

fn boolean(text: &str, name: &'static str) -> Result<bool, ParamError> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ParamError::NotBool {
            name,
            value: text.to_owned(),
        }),
    }
}

/// `exceptionTagKey`: a KMS tag key, 1 to 128 Unicode characters, not starting with `aws:`. The
/// rule's check, and the CLI's for `--exception-tag-key`.
pub fn exception_tag_key_of(text: &str) -> Result<String, ParamError> {
    let bad = |problem| ParamError::BadName {
        name: "exceptionTagKey",
        value: text.to_owned(),
        problem,
    };
    if text.chars().count() > 128 {
        return Err(bad("must be a KMS tag key of 1 to 128 characters"));
    }
    if text.to_ascii_lowercase().starts_with("aws:") {
        return Err(bad("must not start with the reserved prefix aws:"));
    }
    if text.chars().any(char::is_control) {
        return Err(bad("must not contain control characters"));
    }
    Ok(text.to_owned())
}

/// IAM role names: 1 to 64 characters of `[A-Za-z0-9+=,.@_-]`. A path or ARN is refused so that
/// the ARN the rule builds cannot be steered elsewhere.
fn role_name(text: &str) -> Result<String, ParamError> {
    let ok = text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if ok {
        Ok(text.to_owned())
    } else {
        Err(ParamError::BadName {
            name: "ExecutionRoleName",
            value: text.to_owned(),
            problem:
                "must be an IAM role name (1 to 64 of A-Z a-z 0-9 + = , . @ _ -), not a path or ARN",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_empty_and_empty_object_give_defaults() {
        for raw in [None, Some(""), Some("  "), Some("{}"), Some("null")] {
            assert_eq!(
                RuleParameters::parse(raw).unwrap(),
                RuleParameters::default()
            );
        }
    }

    #[test]
    fn strings_numbers_and_booleans_are_accepted() {
        let p = RuleParameters::parse(Some(
            r#"{"maxRotationPeriodInDays":"180","evaluateDisabledKeys":true,"exceptionTagKey":"rotation-waiver","ExecutionRoleName":"KmsRotationRuleRole","getKeyRotationStatusPerSecond":200,"describeKeyPerSecond":"300"}"#,
        ))
        .unwrap();
        assert_eq!(p.max_rotation_period_in_days, Some(180));
        assert!(p.evaluate_disabled_keys);
        assert_eq!(p.exception_tag_key, "rotation-waiver");
        assert_eq!(
            p.execution_role_name.as_deref(),
            Some("KmsRotationRuleRole")
        );
        assert_eq!(p.get_key_rotation_status_per_second, 200);
        assert_eq!(p.describe_key_per_second, 300);
    }

    #[test]
    fn empty_values_mean_unset() {
        let p = RuleParameters::parse(Some(
            r#"{"maxRotationPeriodInDays":"","ExecutionRoleName":"","exceptionTagKey":"","evaluateDisabledKeys":""}"#,
        ))
        .unwrap();
        assert_eq!(p, RuleParameters::default());
    }

    #[test]
    fn range_edges() {
        for (v, ok) in [
            ("89", false),
            ("90", true),
            ("2560", true),
            ("2561", false),
            ("-1", false),
            ("365.5", false),
            ("abc", false),
        ] {
            let r = RuleParameters::parse(Some(&format!(r#"{{"maxRotationPeriodInDays":"{v}"}}"#)));
            assert_eq!(r.is_ok(), ok, "{v}: {r:?}");
        }
    }

    #[test]
    fn errors_name_the_parameter_and_the_allowed_values() {
        let msg = |raw: &str| RuleParameters::parse(Some(raw)).unwrap_err().to_string();
        assert_eq!(
            msg(r#"{"maxRotationPeriodInDays":"30"}"#),
            "rule parameter maxRotationPeriodInDays must be an integer from 90 to 2560, got 30"
        );
        assert!(msg(r#"{"maxRotationPeriod":"365"}"#).contains("unknown rule parameter \"maxRotationPeriod\"; accepted parameters: maxRotationPeriodInDays"));
        assert_eq!(
            msg(r#"{"evaluateDisabledKeys":"yes"}"#),
            "rule parameter evaluateDisabledKeys must be true or false, got yes"
        );
        assert!(msg("{not json").starts_with("ruleParameters is not valid JSON"));
        assert_eq!(
            msg("[1]"),
            "ruleParameters must be a JSON object of name/value pairs, got an array"
        );
        assert!(
            msg(r#"{"ExecutionRoleName":"arn:aws:iam::1:role/x"}"#).contains("not a path or ARN")
        );
        assert!(msg(r#"{"exceptionTagKey":"aws:foo"}"#).contains("reserved prefix"));
        assert!(msg(r#"{"getKeyRotationStatusPerSecond":"5000"}"#).contains("from 1 to 1000"));
    }

    #[test]
    fn typed_values_are_checked_with_the_same_ranges_as_the_json() {
        let p = RuleParameters::from_values(Some(365), true, "waiver", Some(180), 0).unwrap();
        assert_eq!(
            p,
            RuleParameters::parse(Some(
                r#"{"maxRotationPeriodInDays":"365","evaluateDisabledKeys":"true","exceptionTagKey":"waiver","maxKeyMaterialAgeInDays":"180","rotationGraceDays":"0"}"#
            ))
            .unwrap()
        );
        assert_eq!(
            RuleParameters::from_values(None, false, "", None, DEFAULT_ROTATION_GRACE_DAYS)
                .unwrap(),
            RuleParameters::default()
        );
        let err = |r: Result<RuleParameters, ParamError>| r.unwrap_err().to_string();
        assert_eq!(
            err(RuleParameters::from_values(Some(30), false, "k", None, 7)),
            "rule parameter maxRotationPeriodInDays must be an integer from 90 to 2560, got 30"
        );
        assert!(
            err(RuleParameters::from_values(None, false, "k", Some(4000), 7))
                .contains("maxKeyMaterialAgeInDays must be an integer from 90 to 3650")
        );
        assert!(
            err(RuleParameters::from_values(None, false, "k", None, 366))
                .contains("rotationGraceDays must be an integer from 0 to 365")
        );
        assert!(
            err(RuleParameters::from_values(None, false, "aws:x", None, 7))
                .contains("reserved prefix")
        );
    }

    #[test]
    fn the_canonical_json_is_sorted_complete_and_reads_back() {
        let p = RuleParameters::from_values(Some(365), true, "waiver", None, 3).unwrap();
        let json = p.canonical_json();
        let names: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        // Every parameter but exceptionNoticeDays, which is there only when set.
        let mut sorted: Vec<&str> = ACCEPTED
            .iter()
            .copied()
            .filter(|n| *n != "exceptionNoticeDays")
            .collect();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        // The text of the releases before exceptionNoticeDays: their --state files resume.
        assert_eq!(
            json.to_string(),
            r#"{"ExecutionRoleName":"","describeKeyPerSecond":"2000","evaluateDisabledKeys":"true","exceptionTagKey":"waiver","getKeyRotationStatusPerSecond":"1000","maxKeyMaterialAgeInDays":"","maxRotationPeriodInDays":"365","rotationGraceDays":"3"}"#
        );
        assert_eq!(RuleParameters::parse(Some(&json.to_string())).unwrap(), p);
        let noticed = RuleParameters {
            exception_notice_days: Some(14),
            ..p
        };
        let json = noticed.canonical_json().to_string();
        assert!(
            json.contains(r#""exceptionNoticeDays":"14","exceptionTagKey""#),
            "{json}"
        );
        assert_eq!(RuleParameters::parse(Some(&json)).unwrap(), noticed);
    }

    #[test]
    fn exception_notice_days_is_off_unless_set() {
        assert_eq!(RuleParameters::default().exception_notice_days, None);
        let parse = |raw: &str| RuleParameters::parse(Some(raw));
        assert_eq!(
            parse(r#"{"exceptionNoticeDays":""}"#)
                .unwrap()
                .exception_notice_days,
            None
        );
        assert_eq!(
            parse(r#"{"exceptionNoticeDays":"0"}"#)
                .unwrap()
                .exception_notice_days,
            Some(0)
        );
        assert_eq!(
            parse(r#"{"exceptionNoticeDays":30}"#)
                .unwrap()
                .exception_notice_days,
            Some(30)
        );
        assert_eq!(
            parse(r#"{"exceptionNoticeDays":"366"}"#)
                .unwrap_err()
                .to_string(),
            "rule parameter exceptionNoticeDays must be an integer from 0 to 365, got 366"
        );
        assert!(parse(r#"{"exceptionNoticeDays":"soon"}"#).is_err());
    }

    #[test]
    fn unknown_names_are_refused_even_when_empty() {
        assert!(matches!(
            RuleParameters::parse(Some(r#"{"typo":""}"#)),
            Err(ParamError::Unknown { .. })
        ));
    }

    #[test]
    fn accepted_names_match_the_conformance_pack() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../conformance-pack/rule-parameters.json"
        );
        let text = std::fs::read_to_string(path).expect("conformance-pack/rule-parameters.json");
        let file: Value = serde_json::from_str(&text).unwrap();
        let names: Vec<&str> = file["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(names, ACCEPTED);
    }
}
