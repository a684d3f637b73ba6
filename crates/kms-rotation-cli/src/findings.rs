//! Verdicts as findings for security tooling: an OCSF Compliance Finding (class 2003, OCSF
//! [`OCSF_VERSION`]) and an AWS Security Finding Format finding (ASFF, as BatchImportFindings
//! takes it). Pure: a key's verdict and facts in, JSON out; no I/O, the clock is a parameter.
//!
//! One finding per key and control: its id ([`finding_uid`], [`asff_id`]) depends only on the
//! key's ARN, so every run describes the same finding again and Security Hub updates it rather
//! than adding another. The reason code ([`Reason::code`]) and the exception's owner, expiry and
//! ticket travel in both formats (`compliance.status_code` and `unmapped` in OCSF,
//! `Compliance.StatusReasons` and `ProductFields` in ASFF). docs/security-hub.md has the mapping.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use thiserror::Error;

use crate::plan::parse_key_arn;
use kms_rotation_core::decision::{Compliance, KeyFacts, NoKey, Reason, Verdict};
use kms_rotation_core::evaluate::KeyEvaluation;
use kms_rotation_core::exception::ExceptionTag;

/// The OCSF version the findings follow (its Compliance Finding class, the `cloud` profile).
pub const OCSF_VERSION: &str = "1.5.0";
/// The ASFF schema version BatchImportFindings takes.
pub const ASFF_SCHEMA_VERSION: &str = "2018-10-08";
/// The control the rule checks: Security Hub's KMS.4, CIS AWS Foundations 3.8 in v1.4, 3.6 in
/// v3.0 and v5.0, 4.6 in v6.0 and v7.0.
pub const CONTROL: &str = "KMS.4";
/// The control's title, the title of every finding.
pub const TITLE: &str = "KMS key rotation should be enabled";
/// GeneratorId of the ASFF findings: which check made them.
pub const GENERATOR_ID: &str = "kms-rotation-rule/KMS.4";
/// The product that makes the findings (OCSF metadata.product.name).
pub const PRODUCT_NAME: &str = "kms-rotation-rule";
/// The requirements the control maps to, in Security Hub's spelling (`<standard> v<version>/<id>`).
/// Security Hub maps KMS.4 to CIS v1.4.0 3.8 and v3.0.0 and v5.0.0 3.6; CIS AWS Foundations
/// Benchmark v6.0.0 and v7.0.0, which Security Hub does not offer as standards, number the same
/// recommendation 4.6 and are written the same way.
pub const RELATED_REQUIREMENTS: [&str; 7] = [
    "CIS AWS Foundations Benchmark v1.4.0/3.8",
    "CIS AWS Foundations Benchmark v3.0.0/3.6",
    "CIS AWS Foundations Benchmark v5.0.0/3.6",
    "CIS AWS Foundations Benchmark v6.0.0/4.6",
    "CIS AWS Foundations Benchmark v7.0.0/4.6",
    "NIST.800-53.r5 SC-12",
    "PCI DSS v4.0.1/3.7.4",
];
/// ASFF finding types (the taxonomy's namespace/category/classifier).
pub const TYPES: [&str; 2] = [
    "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    "Software and Configuration Checks/AWS Security Best Practices",
];
/// Where the fix is documented.
pub const REMEDIATION_URL: &str =
    "https://docs.aws.amazon.com/kms/latest/developerguide/rotating-keys-enable.html";
/// ASFF's documented limits (AWS Security Finding Format, required and optional attributes).
pub const ASFF_MAX_TEXT: usize = 512;
pub const ASFF_MAX_DESCRIPTION: usize = 1024;
/// The ProductFields keys this crate writes (no key may start with `aws/`).
pub const FIELD_REASON: &str = "kms-rotation/Reason";
pub const FIELD_COMPLIANCE: &str = "kms-rotation/ComplianceType";
pub const FIELD_EXCEPTION_OWNER: &str = "kms-rotation/ExceptionOwner";
pub const FIELD_EXCEPTION_EXPIRES: &str = "kms-rotation/ExceptionExpires";
pub const FIELD_EXCEPTION_TICKET: &str = "kms-rotation/ExceptionTicket";
pub const FIELD_ALIAS: &str = "kms-rotation/Alias";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FindingError {
    #[error("key {key_id} in {region}: no key ARN and no account id to build one (run with credentials that sts:GetCallerIdentity accepts)")]
    NoAccount { key_id: String, region: String },
}

/// The exception tag of a key, as the findings report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExceptionInfo {
    pub owner: Option<String>,
    pub expires: Option<String>,
    pub ticket: Option<String>,
    /// Why the tag does not parse, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malformed: Option<String>,
}

impl ExceptionInfo {
    pub fn from_tag(tag: &ExceptionTag) -> Option<Self> {
        match tag {
            ExceptionTag::Present(e) => Some(Self {
                owner: Some(e.owner.clone()),
                expires: Some(e.expires.to_string()),
                ticket: e.ticket.clone(),
                malformed: None,
            }),
            ExceptionTag::Malformed { reason, .. } => Some(Self {
                owner: None,
                expires: None,
                ticket: None,
                malformed: Some(reason.clone()),
            }),
            ExceptionTag::Absent | ExceptionTag::Unreadable(_) => None,
        }
    }
}

/// One key, with everything a finding says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub key_id: String,
    pub arn: String,
    pub alias: Option<String>,
    pub facts: Option<KeyFacts>,
    pub verdict: Verdict,
    pub exception: Option<ExceptionInfo>,
    /// The rule parameter maxRotationPeriodInDays, for the fix command.
    pub max_rotation_period_days: Option<i32>,
}

/// `arn:<partition>:kms:<region>:<account>:key/<id>` to (partition, account).
pub fn arn_partition_account(arn: &str) -> Option<(String, String)> {
    let arn = kms_rotation_core::arn::Arn::parse(arn).ok()?;
    (!arn.account.is_empty()).then(|| (arn.partition.to_owned(), arn.account.to_owned()))
}

/// The partition a Region belongs to.
pub fn partition_of(region: &str) -> &'static str {
    kms_rotation_core::arn::partition_of_region(region)
}

impl Subject {
    /// The subject of an evaluated key. The account and partition come from the key's ARN;
    /// `account` (the caller's, from sts:GetCallerIdentity) is used only when there is none.
    pub fn new(
        region: &str,
        evaluation: &KeyEvaluation,
        alias: Option<String>,
        exception: Option<&ExceptionTag>,
        account: Option<&str>,
        max_rotation_period_days: Option<i32>,
    ) -> Result<Self, FindingError> {
        let arn = evaluation.facts.as_ref().and_then(|f| f.arn.clone());
        let (partition, account, arn) = match arn
            .as_deref()
            .and_then(|a| arn_partition_account(a).map(|pa| (pa, a.to_owned())))
        {
            Some(((partition, account), arn)) => (partition, account, arn),
            None => {
                let account = account.ok_or_else(|| FindingError::NoAccount {
                    key_id: evaluation.key_id.clone(),
                    region: region.to_owned(),
                })?;
                let partition = partition_of(region);
                let arn = if evaluation.key_id.starts_with("arn:") {
                    evaluation.key_id.clone()
                } else {
                    kms_rotation_core::arn::kms_key_arn(
                        partition,
                        region,
                        account,
                        &evaluation.key_id,
                    )
                };
                (partition.to_owned(), account.to_owned(), arn)
            }
        };
        Ok(Self {
            partition,
            region: region.to_owned(),
            account,
            key_id: evaluation.key_id.clone(),
            arn,
            alias,
            facts: evaluation.facts.clone(),
            verdict: evaluation.verdict.clone(),
            exception: exception.and_then(ExceptionInfo::from_tag),
            max_rotation_period_days,
        })
    }

    /// The subject of a key that no longer exists, known only by its ARN (from an earlier
    /// finding): its finding is archived.
    pub fn deleted(arn: &str) -> Option<Self> {
        let (partition, account) = arn_partition_account(arn)?;
        let (region, key_id) = parse_key_arn(arn)?;
        Some(Self {
            partition,
            region,
            account,
            key_id,
            arn: arn.to_owned(),
            alias: None,
            facts: None,
            verdict: NoKey::KeyNotFound.verdict(),
            exception: None,
            max_rotation_period_days: None,
        })
    }

    fn compliance(&self) -> Compliance {
        self.verdict.compliance
    }
}

/// The OCSF finding uid: stable per key and control.
pub fn finding_uid(arn: &str) -> String {
    format!("{PRODUCT_NAME}/{CONTROL}/{arn}")
}

/// The ASFF finding Id: stable per key and control (the same as the OCSF uid).
pub fn asff_id(arn: &str) -> String {
    finding_uid(arn)
}

/// The ProductArn of the account's default custom integration in a Region.
pub fn product_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default")
}

/// What to do about the key, with the command that does it, from the verdict's reason.
pub fn remediation_text(s: &Subject) -> String {
    let period = s
        .max_rotation_period_days
        .map(|d| format!(" --rotation-period-in-days {d}"))
        .unwrap_or_default();
    let enable = |arn: &str, region: &str| {
        format!("aws kms enable-key-rotation --key-id {arn} --region {region}{period}")
    };
    let text = match s.verdict.reason {
        Reason::RotationOff | Reason::PeriodAboveMaximum => format!(
            "Enable automatic rotation: {} (or kms-rotation remediate --apply --region {}).",
            enable(&s.arn, &s.region),
            s.region
        ),
        Reason::ExceptionExpired | Reason::ExceptionMalformed | Reason::ExceptionUnreadable => {
            format!(
                "Enable automatic rotation: {}; or renew the approved exception tag (owner=<who> expires=<YYYY-MM-DD> [ticket=<id>]).",
                enable(&s.arn, &s.region)
            )
        }
        Reason::ReplicaRotationOff => {
            match s
                .facts
                .as_ref()
                .and_then(|f| f.replica_of.clone())
                .and_then(|p| parse_key_arn(&p).map(|(r, _)| (p, r)))
            {
                Some((primary, region)) => format!(
                    "Multi-Region replica: enable rotation on its primary key, which replicas share: {}.",
                    enable(&primary, &region)
                ),
                None => "Multi-Region replica: enable rotation on its primary key, which replicas share.".to_owned(),
            }
        }
        Reason::DisabledRotationOff => format!(
            "The key is disabled and KMS refuses EnableKeyRotation on disabled keys: aws kms enable-key --key-id {} --region {}, then {}; or record an approved exception.",
            s.arn, s.region, enable(&s.arn, &s.region)
        ),
        Reason::AccessDenied => format!(
            "Grant kms:DescribeKey, kms:GetKeyRotationStatus and kms:ListResourceTags on {} to the identity that evaluates it, then evaluate again.",
            s.arn
        ),
        Reason::PeriodUnknown => format!(
            "Check the rotation period: aws kms get-key-rotation-status --key-id {} --region {}.",
            s.arn, s.region
        ),
        _ => format!("No action needed: {}", s.verdict.annotation),
    };
    cut(text, ASFF_MAX_TEXT)
}

/// Cut to at most `max` characters, with a marker where it was cut.
fn cut(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max - 4).collect();
    out.push_str(" ...");
    out
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// ISO 8601 as ASFF wants it.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn key_data(s: &Subject) -> Value {
    let mut data = json!({ "keyId": s.key_id, "reason": s.verdict.reason });
    if let Some(f) = &s.facts {
        data["keyManager"] = json!(f.key_manager.as_str());
        data["keyState"] = json!(f.key_state.as_str());
        data["keySpec"] = json!(f.key_spec.as_str());
        data["origin"] = json!(f.origin.as_str());
        if let Some(p) = &f.replica_of {
            data["replicaOf"] = json!(p);
        }
    }
    if let Some(d) = s.verdict.period_days {
        data["rotationPeriodInDays"] = json!(d);
    }
    if let Some(a) = &s.alias {
        data["alias"] = json!(a);
    }
    data
}

/// The key's OCSF Compliance Finding (class 2003), observed at `now`.
pub fn ocsf(s: &Subject, now: DateTime<Utc>) -> Value {
    // Compliance status: Pass (1) for COMPLIANT, Fail (3) for NON_COMPLIANT; NOT_APPLICABLE is
    // neither: Other (99), with the source's own word in `status`.
    let (cstatus_id, cstatus) = match s.compliance() {
        Compliance::Compliant => (1, "Pass"),
        Compliance::NonCompliant => (3, "Fail"),
        Compliance::NotApplicable => (99, "Not Applicable"),
    };
    let (severity_id, severity) = match s.compliance() {
        Compliance::NonCompliant => (3, "Medium"),
        _ => (1, "Informational"),
    };
    // The finding's own status: New while there is something to fix; Suppressed under an
    // approved exception; Resolved otherwise.
    let (status_id, status) = match (s.compliance(), s.verdict.reason) {
        (Compliance::NonCompliant, _) => (1, "New"),
        (_, Reason::ExceptionValid) => (3, "Suppressed"),
        _ => (4, "Resolved"),
    };
    let (activity_id, activity) = if s.verdict.reason == Reason::KeyNotFound {
        (3, "Close")
    } else {
        (1, "Create")
    };
    let account = json!({ "uid": s.account, "type_id": 10, "type": "AWS Account" });
    let mut unmapped =
        json!({ "reason": s.verdict.reason, "complianceType": s.compliance().as_str() });
    if let Some(e) = &s.exception {
        unmapped["exception"] = json!(e);
    }
    json!({
        "class_uid": 2003,
        "class_name": "Compliance Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": activity_id,
        "activity_name": activity,
        "type_uid": 2003 * 100 + activity_id,
        "type_name": format!("Compliance Finding: {activity}"),
        "time": millis(now),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "status_code": s.verdict.reason,
        "status_detail": s.verdict.annotation,
        "message": s.verdict.annotation,
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": ["cloud"],
            "product": {
                "name": PRODUCT_NAME,
                "vendor_name": "kms-rotation",
                "version": env!("CARGO_PKG_VERSION"),
            },
        },
        "finding_info": {
            "uid": finding_uid(&s.arn),
            "title": TITLE,
            "desc": s.verdict.annotation,
            "types": TYPES,
        },
        "compliance": {
            "control": CONTROL,
            "standards": RELATED_REQUIREMENTS,
            "status_id": cstatus_id,
            "status": cstatus,
            "status_code": s.verdict.reason,
            "status_detail": s.verdict.annotation,
        },
        "resources": [{
            "uid": s.arn,
            "name": s.alias.clone().unwrap_or_else(|| s.key_id.clone()),
            "type": "AWS::KMS::Key",
            "region": s.region,
            "cloud_partition": s.partition,
            "owner": { "account": account },
            "data": key_data(s),
        }],
        "cloud": {
            "provider": "AWS",
            "region": s.region,
            "cloud_partition": s.partition,
            "account": account,
        },
        "remediation": {
            "desc": remediation_text(s),
            "references": [REMEDIATION_URL],
        },
        "unmapped": unmapped,
    })
}

/// When a finding was first made, and now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Times {
    /// CreatedAt and FirstObservedAt: kept from the finding Security Hub already has.
    pub created_at: String,
    /// UpdatedAt and LastObservedAt.
    pub updated_at: String,
}

impl Times {
    /// A finding made now, or `created_at` kept from an earlier import.
    pub fn at(now: DateTime<Utc>, created_at: Option<&str>) -> Self {
        let updated_at = iso(now);
        Self {
            created_at: created_at.map_or_else(|| updated_at.clone(), str::to_owned),
            updated_at,
        }
    }
}

/// An AWS Security Finding, as BatchImportFindings takes it (the members this crate sets,
/// spelled as ASFF spells them).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Asff {
    pub schema_version: String,
    pub id: String,
    pub product_arn: String,
    pub generator_id: String,
    pub aws_account_id: String,
    pub region: String,
    pub types: Vec<String>,
    pub first_observed_at: String,
    pub last_observed_at: String,
    pub created_at: String,
    pub updated_at: String,
    pub severity: AsffSeverity,
    pub title: String,
    pub description: String,
    pub remediation: AsffRemediation,
    pub product_fields: BTreeMap<String, String>,
    pub resources: Vec<AsffResource>,
    pub compliance: AsffCompliance,
    pub record_state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffSeverity {
    pub label: String,
    pub original: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffRemediation {
    pub recommendation: AsffRecommendation,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffRecommendation {
    pub text: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffResource {
    #[serde(rename = "Type")]
    pub kind: String,
    pub id: String,
    pub partition: String,
    pub region: String,
    pub details: AsffResourceDetails,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffResourceDetails {
    pub aws_kms_key: AsffKmsKey,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffKmsKey {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    pub key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_manager: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_rotation_status: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffCompliance {
    /// PASSED, FAILED or NOT_AVAILABLE.
    pub status: String,
    pub related_requirements: Vec<String>,
    pub status_reasons: Vec<AsffStatusReason>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffStatusReason {
    pub reason_code: String,
    pub description: String,
}

/// ASFF's Compliance.Status for a verdict.
pub fn asff_status(c: Compliance) -> &'static str {
    match c {
        Compliance::Compliant => "PASSED",
        Compliance::NonCompliant => "FAILED",
        Compliance::NotApplicable => "NOT_AVAILABLE",
    }
}

/// Whether rotation is on, when the verdict says.
fn rotation_on(reason: Reason) -> Option<bool> {
    match reason {
        Reason::RotationOn | Reason::PeriodAboveMaximum | Reason::PeriodUnknown => Some(true),
        Reason::RotationOff
        | Reason::DisabledRotationOff
        | Reason::ReplicaRotationOff
        | Reason::ExceptionValid
        | Reason::ExceptionExpired
        | Reason::ExceptionMalformed
        | Reason::ExceptionUnreadable => Some(false),
        _ => None,
    }
}

/// The key's ASFF finding. `archived` for a key that no longer exists.
pub fn asff(s: &Subject, times: &Times, archived: bool) -> Asff {
    let severity = match s.compliance() {
        Compliance::NonCompliant => "MEDIUM",
        _ => "INFORMATIONAL",
    };
    let mut fields = BTreeMap::new();
    fields.insert(FIELD_REASON.to_owned(), s.verdict.reason.code().to_owned());
    fields.insert(
        FIELD_COMPLIANCE.to_owned(),
        s.compliance().as_str().to_owned(),
    );
    if let Some(alias) = &s.alias {
        fields.insert(FIELD_ALIAS.to_owned(), alias.clone());
    }
    if let Some(e) = &s.exception {
        for (k, v) in [
            (FIELD_EXCEPTION_OWNER, &e.owner),
            (FIELD_EXCEPTION_EXPIRES, &e.expires),
            (FIELD_EXCEPTION_TICKET, &e.ticket),
        ] {
            if let Some(v) = v {
                fields.insert(k.to_owned(), v.clone());
            }
        }
    }
    let facts = s.facts.as_ref();
    Asff {
        schema_version: ASFF_SCHEMA_VERSION.to_owned(),
        id: asff_id(&s.arn),
        product_arn: product_arn(&s.partition, &s.region, &s.account),
        generator_id: GENERATOR_ID.to_owned(),
        aws_account_id: s.account.clone(),
        region: s.region.clone(),
        types: TYPES.iter().map(|t| (*t).to_owned()).collect(),
        first_observed_at: times.created_at.clone(),
        last_observed_at: times.updated_at.clone(),
        created_at: times.created_at.clone(),
        updated_at: times.updated_at.clone(),
        severity: AsffSeverity {
            label: severity.to_owned(),
            original: severity.to_owned(),
        },
        title: TITLE.to_owned(),
        description: cut(s.verdict.annotation.clone(), ASFF_MAX_DESCRIPTION),
        remediation: AsffRemediation {
            recommendation: AsffRecommendation {
                text: remediation_text(s),
                url: REMEDIATION_URL.to_owned(),
            },
        },
        product_fields: fields,
        resources: vec![AsffResource {
            kind: "AwsKmsKey".to_owned(),
            id: s.arn.clone(),
            partition: s.partition.clone(),
            region: s.region.clone(),
            details: AsffResourceDetails {
                aws_kms_key: AsffKmsKey {
                    aws_account_id: s.account.clone(),
                    key_id: s.key_id.clone(),
                    key_manager: facts.map(|f| f.key_manager.as_str().to_owned()),
                    key_state: facts.map(|f| f.key_state.as_str().to_owned()),
                    origin: facts.map(|f| f.origin.as_str().to_owned()),
                    key_rotation_status: rotation_on(s.verdict.reason),
                },
            },
        }],
        compliance: AsffCompliance {
            status: asff_status(s.compliance()).to_owned(),
            related_requirements: RELATED_REQUIREMENTS
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
            status_reasons: vec![AsffStatusReason {
                reason_code: s.verdict.reason.code().to_owned(),
                description: s.verdict.annotation.clone(),
            }],
        },
        record_state: if archived { "ARCHIVED" } else { "ACTIVE" }.to_owned(),
    }
}

impl Asff {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use kms_rotation_core::decision::Verdict;
    use kms_rotation_core::exception::Exception;

    const ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/k-1";

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn facts(replica_of: Option<&str>) -> KeyFacts {
        KeyFacts {
            replica_of: replica_of.map(str::to_owned),
            ..KeyFacts::sample("k-1").with_arn(ARN)
        }
    }

    fn evaluation(c: Compliance, r: Reason) -> KeyEvaluation {
        KeyEvaluation {
            key_id: "k-1".into(),
            facts: Some(facts(None)),
            verdict: Verdict::new(c, r, "why"),
        }
    }

    fn subject(c: Compliance, r: Reason) -> Subject {
        Subject::new("eu-west-1", &evaluation(c, r), None, None, None, None).unwrap()
    }

    #[test]
    fn the_account_and_partition_come_from_the_key_arn_before_the_caller() {
        let s = Subject::new(
            "eu-west-1",
            &evaluation(Compliance::Compliant, Reason::RotationOn),
            None,
            None,
            Some("999999999999"),
            None,
        )
        .unwrap();
        assert_eq!(
            (s.partition.as_str(), s.account.as_str()),
            ("aws", "111122223333")
        );
        let mut e = evaluation(Compliance::NotApplicable, Reason::KeyNotFound);
        e.facts = None;
        let s = Subject::new("cn-north-1", &e, None, None, Some("999999999999"), None).unwrap();
        assert_eq!(s.arn, "arn:aws-cn:kms:cn-north-1:999999999999:key/k-1");
        assert_eq!(
            Subject::new("eu-west-1", &e, None, None, None, None).unwrap_err(),
            FindingError::NoAccount {
                key_id: "k-1".into(),
                region: "eu-west-1".into()
            }
        );
    }

    #[test]
    fn ids_are_stable_per_key_and_control() {
        let a = asff(
            &subject(Compliance::NonCompliant, Reason::RotationOff),
            &Times::at(now(), None),
            false,
        );
        let b = asff(
            &subject(Compliance::Compliant, Reason::RotationOn),
            &Times::at(
                now() + chrono::Duration::days(1),
                Some("2026-01-01T00:00:00.000Z"),
            ),
            false,
        );
        assert_eq!(a.id, b.id);
        assert_eq!(a.id, format!("kms-rotation-rule/KMS.4/{ARN}"));
        assert_eq!(
            a.product_arn,
            "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
        );
        assert_eq!(b.created_at, "2026-01-01T00:00:00.000Z");
        assert_eq!(b.first_observed_at, "2026-01-01T00:00:00.000Z");
        assert_eq!(b.updated_at, "2026-11-30T10:00:00.000Z");
        let o1 = ocsf(
            &subject(Compliance::NonCompliant, Reason::RotationOff),
            now(),
        );
        let o2 = ocsf(&subject(Compliance::Compliant, Reason::RotationOn), now());
        assert_eq!(o1["finding_info"]["uid"], o2["finding_info"]["uid"]);
    }

    #[test]
    fn both_formats_carry_every_cis_number_of_the_control() {
        // CIS AWS Foundations Benchmark: 3.8 in v1.4.0, 3.6 in v3.0.0 and v5.0.0, 4.6 in v6.0.0
        // and v7.0.0 (the same recommendation, renumbered when v6.0.0 added a section).
        let s = subject(Compliance::NonCompliant, Reason::RotationOff);
        let cis = [
            "CIS AWS Foundations Benchmark v1.4.0/3.8",
            "CIS AWS Foundations Benchmark v3.0.0/3.6",
            "CIS AWS Foundations Benchmark v5.0.0/3.6",
            "CIS AWS Foundations Benchmark v6.0.0/4.6",
            "CIS AWS Foundations Benchmark v7.0.0/4.6",
        ];
        let o = ocsf(&s, now());
        let a = asff(&s, &Times::at(now(), None), false).to_json();
        for v in [
            &o["compliance"]["standards"],
            &a["Compliance"]["RelatedRequirements"],
        ] {
            let listed: Vec<&str> = v
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(listed[..cis.len()], cis);
            assert_eq!(
                listed[cis.len()..],
                ["NIST.800-53.r5 SC-12", "PCI DSS v4.0.1/3.7.4"]
            );
        }
    }

    #[test]
    fn compliance_maps_to_each_formats_statuses() {
        for (c, r, asff_s, ocsf_id, ocsf_s, sev) in [
            (
                Compliance::Compliant,
                Reason::RotationOn,
                "PASSED",
                1,
                "Pass",
                "INFORMATIONAL",
            ),
            (
                Compliance::NonCompliant,
                Reason::RotationOff,
                "FAILED",
                3,
                "Fail",
                "MEDIUM",
            ),
            (
                Compliance::NotApplicable,
                Reason::AwsManaged,
                "NOT_AVAILABLE",
                99,
                "Not Applicable",
                "INFORMATIONAL",
            ),
        ] {
            let s = subject(c, r);
            let a = asff(&s, &Times::at(now(), None), false);
            assert_eq!(a.compliance.status, asff_s);
            assert_eq!(a.severity.label, sev);
            assert_eq!(a.compliance.status_reasons[0].reason_code, r.code());
            assert_eq!(a.product_fields[FIELD_REASON], r.code());
            let o = ocsf(&s, now());
            assert_eq!(o["compliance"]["status_id"], ocsf_id);
            assert_eq!(o["compliance"]["status"], ocsf_s);
            assert_eq!(o["compliance"]["status_code"], r.code());
        }
    }

    #[test]
    fn the_exception_travels_in_both_formats() {
        let tag = ExceptionTag::Present(Exception {
            owner: "payments".into(),
            expires: NaiveDate::from_ymd_opt(2027, 3, 31).unwrap(),
            ticket: Some("SEC-42".into()),
        });
        let s = Subject::new(
            "eu-west-1",
            &evaluation(Compliance::NotApplicable, Reason::ExceptionValid),
            Some("alias/pay".into()),
            Some(&tag),
            None,
            None,
        )
        .unwrap();
        let a = asff(&s, &Times::at(now(), None), false);
        assert_eq!(a.product_fields[FIELD_EXCEPTION_OWNER], "payments");
        assert_eq!(a.product_fields[FIELD_EXCEPTION_EXPIRES], "2027-03-31");
        assert_eq!(a.product_fields[FIELD_EXCEPTION_TICKET], "SEC-42");
        assert_eq!(
            a.resources[0].details.aws_kms_key.key_rotation_status,
            Some(false)
        );
        let o = ocsf(&s, now());
        assert_eq!(o["unmapped"]["exception"]["owner"], "payments");
        assert_eq!(o["unmapped"]["exception"]["ticket"], "SEC-42");
        assert_eq!(o["status"], "Suppressed");
        assert_eq!(o["resources"][0]["name"], "alias/pay");
    }

    #[test]
    fn the_fix_command_follows_the_reason() {
        let mut s = subject(Compliance::NonCompliant, Reason::RotationOff);
        s.max_rotation_period_days = Some(365);
        assert!(remediation_text(&s).contains(&format!(
            "aws kms enable-key-rotation --key-id {ARN} --region eu-west-1 --rotation-period-in-days 365"
        )));
        let primary = "arn:aws:kms:us-east-1:111122223333:key/mrk-1";
        s.facts = Some(facts(Some(primary)));
        s.verdict.reason = Reason::ReplicaRotationOff;
        assert!(remediation_text(&s).contains(&format!("--key-id {primary} --region us-east-1")));
        s.verdict.reason = Reason::DisabledRotationOff;
        assert!(remediation_text(&s).contains("aws kms enable-key --key-id"));
        let ok = subject(Compliance::Compliant, Reason::RotationOn);
        assert!(remediation_text(&ok).starts_with("No action needed"));
    }

    #[test]
    fn a_deleted_key_is_archived_and_its_activity_is_close() {
        let s = Subject::deleted(ARN).unwrap();
        assert_eq!(s.region, "eu-west-1");
        let a = asff(&s, &Times::at(now(), None), true);
        assert_eq!(a.record_state, "ARCHIVED");
        assert_eq!(a.compliance.status, "NOT_AVAILABLE");
        assert_eq!(ocsf(&s, now())["activity_id"], 3);
        assert_eq!(ocsf(&s, now())["type_uid"], 200303);
        assert!(Subject::deleted("not an arn").is_none());
    }

    #[test]
    fn texts_stay_within_asff_limits() {
        let mut s = subject(Compliance::NonCompliant, Reason::AccessDenied);
        s.arn = format!("arn:aws:kms:eu-west-1:111122223333:key/{}", "x".repeat(600));
        let text = remediation_text(&s);
        assert_eq!(text.chars().count(), ASFF_MAX_TEXT);
        assert!(text.ends_with(" ..."));
    }

    #[test]
    fn asff_serializes_with_asff_member_names() {
        let a = asff(
            &subject(Compliance::NonCompliant, Reason::RotationOff),
            &Times::at(now(), None),
            false,
        )
        .to_json();
        assert_eq!(a["SchemaVersion"], "2018-10-08");
        assert_eq!(a["Resources"][0]["Type"], "AwsKmsKey");
        assert_eq!(
            a["Resources"][0]["Details"]["AwsKmsKey"]["AWSAccountId"],
            "111122223333"
        );
        assert_eq!(
            a["Compliance"]["RelatedRequirements"][3],
            "CIS AWS Foundations Benchmark v6.0.0/4.6"
        );
        assert_eq!(
            a["Compliance"]["RelatedRequirements"][4],
            "CIS AWS Foundations Benchmark v7.0.0/4.6"
        );
        assert_eq!(
            a["Compliance"]["RelatedRequirements"][5],
            "NIST.800-53.r5 SC-12"
        );
    }
}
