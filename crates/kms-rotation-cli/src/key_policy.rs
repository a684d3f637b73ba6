//! The key policy of a key (GetKeyPolicy): the operator CLI's only KMS read beyond the rule's, for
//! the exposure order of `remediate`. The rule never reads key policies (and its roles may not),
//! so this lives in the CLI crate, never in the Lambda.

use kms_rotation_core::aws_error::denied;
use kms_rotation_core::kms::{kms_error, KmsError, KmsReader};

/// The key policy (GetKeyPolicy, PolicyName `default`, the only name a key policy has) as
/// the JSON text KMS returns; `None` when the caller may not read it (access denied), which
/// `remediate` reports as exposure `unknown`. Called only for the keys `remediate` will
/// change, under the ListResourceTags ceiling (it is read once per such key, as the tags are).
/// The operator CLI's only: the rule never reads key policies (and its roles may not).
#[tracing::instrument(skip(reader), level = "debug")]
pub async fn key_policy(reader: &KmsReader, key_id: &str) -> Result<Option<String>, KmsError> {
    reader.per_key_read_ready().await;
    match reader
        .client()
        .get_key_policy()
        .key_id(key_id)
        .policy_name("default")
        .send()
        .await
    {
        Ok(out) => out.policy.map(Some).ok_or_else(|| KmsError {
            operation: "GetKeyPolicy",
            key_id: key_id.to_owned(),
            message: "the answer has no Policy".into(),
            code: None,
        }),
        Err(e) if denied(&e) => Ok(None),
        Err(e) => Err(kms_error("GetKeyPolicy", key_id, &e)),
    }
}
