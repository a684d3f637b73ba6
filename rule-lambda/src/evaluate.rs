//! The one driver of the decision: answer what [`decide`] asks for, calling KMS only then.
//! The rule (change and periodic) and the CLI (audit, remediate) all evaluate keys through here.

use chrono::NaiveDate;

use crate::decision::{decide, KeyFacts, Known, NoKey, RotationStatus, Step, Verdict};
use crate::exception::ExceptionTag;
use crate::kms::{Described, KmsError, KmsReader};
use crate::params::RuleParameters;

/// A key and its verdict. `facts` is absent when DescribeKey could not describe the key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyEvaluation {
    pub key_id: String,
    pub facts: Option<KeyFacts>,
    pub verdict: Verdict,
}

/// What is already known before KMS is asked (from a configuration item, for example).
#[derive(Debug, Clone, Default)]
pub struct Prior {
    pub rotation: Option<RotationStatus>,
    pub exception: Option<ExceptionTag>,
}

/// Decide a key whose facts are known, asking KMS for the rotation status and tags only when
/// the decision needs them.
pub async fn evaluate_facts(
    kms: &KmsReader,
    facts: &KeyFacts,
    prior: Prior,
    params: &RuleParameters,
    today: NaiveDate,
) -> Result<Verdict, KmsError> {
    let Prior {
        mut rotation,
        mut exception,
    } = prior;
    loop {
        let known = Known {
            rotation: rotation.as_ref(),
            exception: exception.as_ref(),
        };
        match decide(facts, known, params, today) {
            Step::Verdict(verdict) => return Ok(verdict),
            Step::NeedRotationStatus => rotation = Some(kms.rotation_status(&facts.key_id).await?),
            Step::NeedExceptionTag => {
                exception = Some(
                    kms.exception_tag(&facts.key_id, &params.exception_tag_key)
                        .await?,
                )
            }
        }
    }
}

/// Describe a key by id, then decide it.
pub async fn evaluate_key_id(
    kms: &KmsReader,
    key_id: &str,
    params: &RuleParameters,
    today: NaiveDate,
) -> Result<KeyEvaluation, KmsError> {
    let (facts, verdict) = match kms.describe_key(key_id).await? {
        Described::Key(facts) => {
            let verdict = evaluate_facts(kms, &facts, Prior::default(), params, today).await?;
            (Some(*facts), verdict)
        }
        Described::NotFound => (None, NoKey::KeyNotFound.verdict()),
        Described::AccessDenied(msg) => (None, NoKey::DescribeDenied(msg).verdict()),
    };
    Ok(KeyEvaluation {
        key_id: key_id.to_owned(),
        facts,
        verdict,
    })
}
