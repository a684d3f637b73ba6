//! The audited keys as the subjects of findings (the exception tag read again for the keys whose
//! verdict rests on one), and `audit --output ocsf|asff`'s findings of them ([`crate::findings`]).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::findings::{asff, Subject, Times};
use crate::sweep::Audited;
use crate::CliError;
use kms_rotation_core::decision::Reason;
use kms_rotation_core::kms::KmsRegion;
use kms_rotation_core::params::RuleParameters;

/// Whether the verdict rests on the exception tag, so the tag is read again for the findings.
fn rests_on_exception(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::ExceptionValid | Reason::ExceptionExpired | Reason::ExceptionMalformed
    )
}

/// The subjects of the audited keys of one account-Region (its account is the one of keys
/// without an ARN).
pub(crate) async fn subjects(
    kms: &KmsRegion,
    keys: &[Audited],
    params: &RuleParameters,
) -> (Vec<Subject>, Vec<CliError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for k in keys
        .iter()
        .filter(|k| k.region == kms.region && k.account_id == kms.account_id)
    {
        let e = &k.evaluation;
        let tag = if rests_on_exception(e.verdict.reason) {
            match kms
                .reader
                .exception_tag(&e.key_id, &params.exception_tag_key)
                .await
            {
                Ok(tag) => Some(tag),
                Err(err) => {
                    errors.push(CliError::kms(&kms.account_id, &kms.region, err));
                    continue;
                }
            }
        } else {
            None
        };
        let subject = Subject::new(
            &kms.region,
            e,
            k.alias.clone(),
            tag.as_ref(),
            Some(&kms.account_id),
            params.max_rotation_period_in_days,
        );
        match subject {
            Ok(s) => out.push(s),
            Err(err) => errors.push(CliError::Finding(err)),
        }
    }
    (out, errors)
}

/// `audit --output ocsf|asff`: the findings, one JSON object a line; errors are returned.
pub(crate) async fn audit_findings(
    regions: &[KmsRegion],
    keys: &[Audited],
    params: &RuleParameters,
    ocsf: bool,
    now: DateTime<Utc>,
) -> (Vec<Value>, Vec<CliError>) {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for r in regions {
        let (subjects, errs) = subjects(r, keys, params).await;
        errors.extend(errs);
        lines.extend(subjects.iter().map(|s| {
            if ocsf {
                crate::findings::ocsf(s, now)
            } else {
                asff(s, &Times::at(now, None), false).to_json()
            }
        }));
    }
    (lines, errors)
}
