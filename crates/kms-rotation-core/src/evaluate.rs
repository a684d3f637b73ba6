//! The one driver of the decision: answer what [`decide`] asks for, calling KMS only then.
//! The rule (change and periodic) and the CLI (audit, remediate) all evaluate keys through here,
//! and every run over all keys lists them through [`evaluate_listed`].

use std::future::Future;
use std::sync::{Arc, OnceLock};

use chrono::NaiveDate;
use futures::future::{ready, Either};
use futures::{FutureExt, Stream, StreamExt};

use crate::decision::{decide, KeyFacts, KeyMaterial, Known, NoKey, RotationStatus, Step, Verdict};
use crate::exception::ExceptionTag;
use crate::kms::{Aliases, Described, KmsError, KmsReader};
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

/// What the decision read about a key on its way to the verdict; each `None` when the decision
/// did not need it. The operator CLI's evidence reads only what is missing here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gathered {
    pub rotation: Option<RotationStatus>,
    pub exception: Option<ExceptionTag>,
    pub material: Option<KeyMaterial>,
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
    Ok(evaluate_facts_gathered(kms, facts, prior, params, today)
        .await?
        .0)
}

/// [`evaluate_facts`], and what it read on the way.
pub async fn evaluate_facts_gathered(
    kms: &KmsReader,
    facts: &KeyFacts,
    prior: Prior,
    params: &RuleParameters,
    today: NaiveDate,
) -> Result<(Verdict, Gathered), KmsError> {
    let mut gathered = Gathered {
        rotation: prior.rotation,
        exception: prior.exception,
        material: None,
    };
    loop {
        let known = Known {
            rotation: gathered.rotation.as_ref(),
            exception: gathered.exception.as_ref(),
            material: gathered.material.as_ref(),
        };
        match decide(facts, known, params, today) {
            Step::Verdict(verdict) => return Ok((verdict, gathered)),
            Step::NeedRotationStatus => {
                gathered.rotation = Some(kms.rotation_status(&facts.key_id).await?)
            }
            Step::NeedExceptionTag => {
                gathered.exception = Some(
                    kms.exception_tag(&facts.key_id, &params.exception_tag_key)
                        .await?,
                )
            }
            Step::NeedKeyMaterial => {
                gathered.material = Some(kms.key_material(&facts.key_id).await?)
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
    Ok(evaluate_key_id_gathered(kms, key_id, params, today)
        .await?
        .0)
}

/// [`evaluate_key_id`], and what the decision read on the way.
pub async fn evaluate_key_id_gathered(
    kms: &KmsReader,
    key_id: &str,
    params: &RuleParameters,
    today: NaiveDate,
) -> Result<(KeyEvaluation, Gathered), KmsError> {
    let (facts, verdict, gathered) = match kms.describe_key(key_id).await? {
        Described::Key(facts) => {
            let (verdict, gathered) =
                evaluate_facts_gathered(kms, &facts, Prior::default(), params, today).await?;
            (Some(*facts), verdict, gathered)
        }
        Described::NotFound => (None, NoKey::KeyNotFound.verdict(), Gathered::default()),
        Described::AccessDenied(msg) => (
            None,
            NoKey::DescribeDenied(msg).verdict(),
            Gathered::default(),
        ),
    };
    Ok((
        KeyEvaluation {
            key_id: key_id.to_owned(),
            facts,
            verdict,
        },
        gathered,
    ))
}

/// The AWS managed keys the account's aliases name (`alias/aws/...`), learnt while a run goes
/// on: a key evaluated before the aliases are read is described as usual, one after needs no
/// DescribeKey. Clones share what was learnt.
#[derive(Debug, Clone, Default)]
pub struct AwsManagedKeys(Arc<OnceLock<Aliases>>);

impl AwsManagedKeys {
    /// Read the account's aliases (ListAliases) and keep them; the number of AWS managed keys
    /// they name.
    pub async fn learn(&self, kms: &KmsReader) -> Result<usize, KmsError> {
        let aliases = kms.aliases().await?;
        let aws_managed = aliases
            .0
            .keys()
            .filter(|k| aliases.aws_managed(k).is_some())
            .count();
        // Learnt once per run; a second reading would say the same.
        let _ = self.0.set(aliases);
        Ok(aws_managed)
    }

    /// The key's `alias/aws/...` alias, once the aliases are read.
    pub fn alias_of(&self, key_id: &str) -> Option<&str> {
        self.0.get()?.aws_managed(key_id)
    }
}

/// A listed key: NOT_APPLICABLE at once when its alias says it is AWS managed (row 1 of the
/// decision, [`NoKey::AwsManagedAlias`]), otherwise described and decided as
/// [`evaluate_key_id`] does.
pub async fn evaluate_listed_key(
    kms: &KmsReader,
    key_id: &str,
    known: &AwsManagedKeys,
    params: &RuleParameters,
    today: NaiveDate,
) -> Result<KeyEvaluation, KmsError> {
    Ok(
        evaluate_listed_key_gathered(kms, key_id, known, params, today)
            .await?
            .0,
    )
}

/// [`evaluate_listed_key`], and what the decision read on the way.
pub async fn evaluate_listed_key_gathered(
    kms: &KmsReader,
    key_id: &str,
    known: &AwsManagedKeys,
    params: &RuleParameters,
    today: NaiveDate,
) -> Result<(KeyEvaluation, Gathered), KmsError> {
    match known.alias_of(key_id) {
        Some(alias) => Ok((
            KeyEvaluation {
                key_id: key_id.to_owned(),
                facts: None,
                verdict: NoKey::AwsManagedAlias(alias.to_owned()).verdict(),
            },
            Gathered::default(),
        )),
        None => evaluate_key_id_gathered(kms, key_id, params, today).await,
    }
}

/// What [`evaluate_listed`] yields: one listed key's result, or the listing's end.
#[derive(Debug)]
pub enum Listed<T> {
    /// A listed key, and what the caller's function made of it.
    Key(T),
    /// ListKeys broke off (the error names the page and marker). It comes out as soon as it
    /// happens; the keys listed before it are still being finished and come out after it, so a
    /// consumer records it and reads the stream to its end. No key after it was seen.
    ListingBroke(KmsError),
}

/// Every key of the reader's account and Region, each given to `f`, `concurrency` at a time.
/// The one loop over all keys, for the rule's periodic run and the CLI: when the listing breaks,
/// no key already listed is dropped, because the keys in flight are always driven to their end.
pub fn evaluate_listed<'a, T, Fut>(
    kms: &'a KmsReader,
    concurrency: usize,
    mut f: impl FnMut(String) -> Fut + 'a,
) -> impl Stream<Item = Listed<T>> + 'a
where
    T: 'a,
    Fut: Future<Output = T> + 'a,
{
    kms.list_keys()
        .map(move |listed| match listed {
            Ok(key_id) => Either::Left(f(key_id).map(Listed::Key)),
            Err(e) => Either::Right(ready(Listed::ListingBroke(e))),
        })
        .buffer_unordered(concurrency.max(1))
}
