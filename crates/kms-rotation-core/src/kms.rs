//! The KMS reader: ListKeys, DescribeKey, GetKeyRotationStatus and ListResourceTags, turned into
//! the decision's types. Answers that are facts about the key (unsupported, not found, access
//! denied) become values; everything else is a [`KmsError`] after the SDK's retries.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_kms::config::retry::{RetryPartition, TokenBucket};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::describe_key::DescribeKeyError;
use aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusError;
use aws_sdk_kms::operation::list_key_rotations::ListKeyRotationsError;
use aws_sdk_kms::types::{KeyManagerType, KeyMaterialState, MultiRegionKeyType, RotationType};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use thiserror::Error;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::aws_error::{code, denied, describe};
use crate::decision::{KeyFacts, KeyMaterial, RotationStatus};
use crate::exception::ExceptionTag;
use crate::pace::{Pacer, Pacers, ThrottleSignal};
use crate::params::RuleParameters;

/// A ceiling on ListKeyRotations calls: a deliberately low one. Its default quota is in the KMS
/// Developer Guide's "Request quotas" table, which this project has not checked for this
/// operation, so it is not assumed to be as high as GetKeyRotationStatus's; the adaptive pacer
/// slows down further on ThrottlingException.
pub const LIST_KEY_ROTATIONS_PER_SECOND: u32 = 100;

/// The reader's own retry partition. The SDK's standard retry mode holds a retry quota per
/// partition (a bucket of 500, a retry of a throttled attempt costs 5, of a 5xx 5, of a timeout 10)
/// and stops retrying when it is empty: a circuit breaker for outages. Throttling is the pacers'
/// job here (they slow every call down as soon as one attempt is throttled), so a throttled
/// attempt costs nothing; 5xx and timeouts keep the SDK's costs. With the default bucket, a
/// contended run at the quota emptied it and keys failed after one throttled attempt.
pub fn retry_partition() -> RetryPartition {
    RetryPartition::custom("kms-rotation-kms-reader")
        .token_bucket(
            TokenBucket::builder()
                .capacity(500)
                .retry_cost(5)
                .timeout_retry_cost(10)
                .throttling_retry_cost(0)
                .build(),
        )
        .build()
}

/// ListKeys' largest page.
pub const MAX_PAGE_SIZE: i32 = 1000;

/// The account's aliases by key: each key's first alias by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aliases(pub HashMap<String, String>);

impl Aliases {
    /// The key's alias (the first by name when it has several).
    pub fn get(&self, key_id: &str) -> Option<&str> {
        self.0.get(key_id).map(String::as_str)
    }

    /// The `alias/aws/...` alias of an AWS managed key. That prefix is reserved for AWS managed
    /// keys: the alias of a customer managed key cannot begin with it (KMS Developer Guide,
    /// "Create aliases"), and customers cannot manage the aliases of AWS managed keys, so a key
    /// with such an alias is AWS managed without asking DescribeKey.
    pub fn aws_managed(&self, key_id: &str) -> Option<&str> {
        self.get(key_id).filter(|a| a.starts_with("alias/aws/"))
    }

    /// How many keys have an alias.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A KMS call that failed after the SDK's retries (throttling, 5xx, network) or answered
/// something this code does not understand.
#[derive(Debug, Error, Clone)]
#[error("kms:{operation}{}: {message}", if .key_id.is_empty() { String::new() } else { format!(" {}", .key_id) })]
pub struct KmsError {
    pub operation: &'static str,
    pub key_id: String,
    pub message: String,
    /// AWS's error code, when the service answered (`ThrottlingException`, `AccessDeniedException`, ...).
    pub code: Option<String>,
}

/// What DescribeKey says about a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Described {
    Key(Box<KeyFacts>),
    /// The key was deleted between ListKeys and DescribeKey.
    NotFound,
    /// The rule's role may not describe the key.
    AccessDenied(String),
}

/// What ListResourceTags says about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tags {
    /// Every tag, as (TagKey, TagValue), in the order KMS lists them.
    Read(Vec<(String, String)>),
    /// The caller may not list the key's tags.
    AccessDenied(String),
}

/// One completed rotation of a key's material (ListKeyRotations' `RotationsListEntry`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    pub date: DateTime<Utc>,
    /// `AUTOMATIC` or `ON_DEMAND`; `None` when KMS did not say.
    pub rotation_type: Option<RotationType>,
}

/// What ListKeyRotations says about a key.
#[derive(Debug, Clone, PartialEq)]
pub enum RotationHistory {
    /// Every completed rotation, oldest first (none: the key never rotated).
    Read(Vec<Rotation>),
    /// The caller may not call ListKeyRotations.
    AccessDenied(String),
    /// The key was deleted meanwhile.
    KeyNotFound,
    /// UnsupportedOperationException (a key whose material KMS does not rotate, such as an
    /// asymmetric key or one in a custom key store) or KMSInvalidStateException (a key state in
    /// which the history cannot be listed): the code and KMS's message.
    NotApplicable { code: String, message: String },
}

/// Reads KMS, within a client-side ceiling per API that adapts to throttling.
#[derive(Clone)]
pub struct KmsReader {
    client: aws_sdk_kms::Client,
    page_size: i32,
    pacers: Arc<Pacers>,
}

impl KmsReader {
    pub fn new(client: aws_sdk_kms::Client, params: &RuleParameters) -> Self {
        let pacers = Arc::new(Pacers {
            describe_key: Pacer::new(params.describe_key_per_second),
            rotation_status: Pacer::new(params.get_key_rotation_status_per_second),
            // ListResourceTags is only called for keys that would be NON_COMPLIANT.
            list_tags: Pacer::new(params.get_key_rotation_status_per_second),
            list_rotations: Pacer::new(
                params
                    .get_key_rotation_status_per_second
                    .min(LIST_KEY_ROTATIONS_PER_SECOND),
            ),
        });
        let client = aws_sdk_kms::Client::from_conf(
            client
                .config()
                .to_builder()
                .interceptor(ThrottleSignal(pacers.clone()))
                .retry_partition(retry_partition())
                .build(),
        );
        Self {
            client,
            page_size: MAX_PAGE_SIZE,
            pacers,
        }
    }

    /// Throttled attempts seen so far, per API: DescribeKey, GetKeyRotationStatus,
    /// ListResourceTags.
    pub fn throttles(&self) -> [u64; 3] {
        let p = &self.pacers;
        [
            p.describe_key.throttles(),
            p.rotation_status.throttles(),
            p.list_tags.throttles(),
        ]
    }

    /// ListKeys page size (1..=1000); small pages are for tests.
    pub fn with_page_size(mut self, page_size: i32) -> Self {
        self.page_size = page_size.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// Every key id in the account and Region, page by page. When a page cannot be read the
    /// stream yields one error saying which page and marker, then ends: every key before it was
    /// listed, and none after it was seen.
    pub fn list_keys(&self) -> impl Stream<Item = Result<String, KmsError>> + '_ {
        struct Page {
            marker: Option<String>,
            number: usize,
            listed: usize,
            done: bool,
        }
        let start = Page {
            marker: None,
            number: 1,
            listed: 0,
            done: false,
        };
        futures::stream::unfold(start, move |mut page| async move {
            if page.done {
                return None;
            }
            let broke = |page: &Page, message: String, code: Option<String>| KmsError {
                operation: "ListKeys",
                key_id: String::new(),
                message: format!(
                    "page {} ({}) could not be read after {} key(s) were listed: {message}",
                    page.number,
                    page.marker
                        .as_deref()
                        .map_or("the first page".to_owned(), |m| format!("Marker {m}")),
                    page.listed
                ),
                code,
            };
            let out = self
                .client
                .list_keys()
                .limit(self.page_size)
                .set_marker(page.marker.clone())
                .send()
                .await;
            let out = match out {
                Ok(out) => out,
                Err(e) => {
                    page.done = true;
                    let error = broke(&page, describe(&e), code(&e));
                    return Some((vec![Err(error)], page));
                }
            };
            let mut items = Vec::new();
            for entry in out.keys.unwrap_or_default() {
                match entry.key_id {
                    Some(id) => items.push(Ok(id)),
                    None => {
                        page.done = true;
                        items.push(Err(broke(&page, "a key entry has no KeyId".into(), None)));
                        return Some((items, page));
                    }
                }
            }
            page.listed += items.len();
            match (out.truncated, out.next_marker) {
                (true, Some(next)) => {
                    page.marker = Some(next);
                    page.number += 1;
                }
                (true, None) => {
                    page.done = true;
                    items.push(Err(broke(
                        &page,
                        "the answer is Truncated but has no NextMarker".into(),
                        None,
                    )));
                }
                (false, _) => page.done = true,
            }
            Some((items, page))
        })
        .flat_map(futures::stream::iter)
    }

    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn describe_key(&self, key_id: &str) -> Result<Described, KmsError> {
        self.pacers.describe_key.ready().await;
        let out = match self.client.describe_key().key_id(key_id).send().await {
            Ok(out) => out,
            Err(e) => {
                return match e.as_service_error() {
                    Some(DescribeKeyError::NotFoundException(_)) => Ok(Described::NotFound),
                    _ if denied(&e) => Ok(Described::AccessDenied(message(&e))),
                    _ => Err(kms_error("DescribeKey", key_id, &e)),
                }
            }
        };
        let m = out.key_metadata.ok_or_else(|| KmsError {
            operation: "DescribeKey",
            key_id: key_id.into(),
            message: "the answer has no KeyMetadata".into(),
            code: None,
        })?;
        let replica_of = m
            .multi_region_configuration
            .as_ref()
            .filter(|c| c.multi_region_key_type == Some(MultiRegionKeyType::Replica))
            .map(|c| {
                c.primary_key
                    .as_ref()
                    .and_then(|p| p.arn.clone())
                    .unwrap_or_else(|| "(primary ARN not returned)".into())
            });
        let missing = |field: &str| KmsError {
            operation: "DescribeKey",
            key_id: key_id.into(),
            message: format!("the answer has no {field}"),
            code: None,
        };
        Ok(Described::Key(Box::new(KeyFacts {
            key_id: m.key_id.clone(),
            arn: m.arn.clone(),
            key_manager: m.key_manager.clone().unwrap_or(KeyManagerType::Customer),
            key_state: m.key_state.clone().ok_or_else(|| missing("KeyState"))?,
            key_spec: m.key_spec.clone().ok_or_else(|| missing("KeySpec"))?,
            origin: m.origin.clone().ok_or_else(|| missing("Origin"))?,
            custom_key_store_id: m.custom_key_store_id.clone().filter(|s| !s.is_empty()),
            replica_of,
            created: m
                .creation_date
                .and_then(|d| DateTime::<Utc>::from_timestamp(d.secs(), d.subsec_nanos())),
        })))
    }

    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn rotation_status(&self, key_id: &str) -> Result<RotationStatus, KmsError> {
        self.pacers.rotation_status.ready().await;
        match self
            .client
            .get_key_rotation_status()
            .key_id(key_id)
            .send()
            .await
        {
            Ok(out) if out.key_rotation_enabled => Ok(RotationStatus::Enabled {
                period_days: out.rotation_period_in_days,
                next_rotation: out
                    .next_rotation_date
                    .and_then(|d| DateTime::<Utc>::from_timestamp(d.secs(), d.subsec_nanos())),
            }),
            Ok(_) => Ok(RotationStatus::Disabled),
            Err(e) => match e.as_service_error() {
                Some(GetKeyRotationStatusError::UnsupportedOperationException(_)) => {
                    Ok(RotationStatus::Unsupported(message(&e)))
                }
                Some(GetKeyRotationStatusError::NotFoundException(_)) => {
                    Ok(RotationStatus::KeyNotFound)
                }
                _ if denied(&e) => Ok(RotationStatus::AccessDenied(message(&e))),
                _ => Err(kms_error("GetKeyRotationStatus", key_id, &e)),
            },
        }
    }

    /// Every alias of the account and Region that names a key, from ListAliases (pages of 100).
    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn aliases(&self) -> Result<Aliases, KmsError> {
        let mut by_key: HashMap<String, String> = HashMap::new();
        let mut items = self
            .client
            .list_aliases()
            .limit(100)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = items.next().await {
            let alias = item.map_err(|e| KmsError {
                operation: "ListAliases",
                key_id: String::new(),
                message: describe(&e),
                code: code(&e),
            })?;
            // Predefined aliases of AWS managed keys not created yet name no key.
            if let (Some(key_id), Some(name)) = (alias.target_key_id, alias.alias_name) {
                by_key
                    .entry(key_id)
                    .and_modify(|cur| {
                        if name < *cur {
                            cur.clone_from(&name)
                        }
                    })
                    .or_insert(name);
            }
        }
        Ok(Aliases(by_key))
    }

    /// The date of the key's latest rotation (automatic or on demand), from ListKeyRotations
    /// ([`KmsReader::rotation_history`]). Called only when `maxKeyMaterialAgeInDays` is set.
    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn key_material(&self, key_id: &str) -> Result<KeyMaterial, KmsError> {
        Ok(match self.rotation_history(key_id).await? {
            RotationHistory::Read(rotations) => {
                KeyMaterial::LastRotated(rotations.iter().map(|r| r.date).max())
            }
            RotationHistory::AccessDenied(msg) => KeyMaterial::AccessDenied(msg),
            RotationHistory::KeyNotFound => KeyMaterial::KeyNotFound,
            // The decision asks only for keys that rotate: an answer that says otherwise is an
            // error, never a guessed age.
            RotationHistory::NotApplicable { code, message } => {
                return Err(KmsError {
                    operation: "ListKeyRotations",
                    key_id: key_id.to_owned(),
                    message,
                    code: Some(code),
                })
            }
        })
    }

    /// Every completed rotation of the key (automatic or on demand), from ListKeyRotations
    /// (KMS API Reference, "ListKeyRotations"), paged, oldest first. Key material waiting to be
    /// rotated in (imported, `PENDING_ROTATION`) is not current and does not count. Under a
    /// pacer of its own (see [`LIST_KEY_ROTATIONS_PER_SECOND`]).
    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn rotation_history(&self, key_id: &str) -> Result<RotationHistory, KmsError> {
        let mut pages = self
            .client
            .list_key_rotations()
            .key_id(key_id)
            .into_paginator()
            .send();
        let mut rotations = Vec::new();
        loop {
            self.pacers.list_rotations.ready().await;
            let out = match pages.next().await {
                Some(Ok(out)) => out,
                Some(Err(e)) => {
                    return match e.as_service_error() {
                        Some(ListKeyRotationsError::NotFoundException(_)) => {
                            Ok(RotationHistory::KeyNotFound)
                        }
                        Some(
                            ListKeyRotationsError::UnsupportedOperationException(_)
                            | ListKeyRotationsError::KmsInvalidStateException(_),
                        ) => Ok(RotationHistory::NotApplicable {
                            code: code(&e).unwrap_or_default(),
                            message: message(&e),
                        }),
                        _ if denied(&e) => Ok(RotationHistory::AccessDenied(message(&e))),
                        _ => Err(kms_error("ListKeyRotations", key_id, &e)),
                    }
                }
                // The paginator stops early only on an empty or repeated NextMarker.
                None => return Err(repeated_marker("ListKeyRotations", key_id)),
            };
            rotations.extend(
                out.rotations
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|r| r.key_material_state != Some(KeyMaterialState::PendingRotation))
                    .filter_map(|r| {
                        let date = r.rotation_date?;
                        Some(Rotation {
                            date: DateTime::<Utc>::from_timestamp(
                                date.secs(),
                                date.subsec_nanos(),
                            )?,
                            rotation_type: r.rotation_type,
                        })
                    }),
            );
            match (out.truncated, out.next_marker.is_some()) {
                (true, true) => {}
                (true, false) => {
                    return Err(KmsError {
                        operation: "ListKeyRotations",
                        key_id: key_id.to_owned(),
                        message: "the answer is Truncated but has no NextMarker".into(),
                        code: None,
                    })
                }
                (false, _) => {
                    rotations.sort_by_key(|r| r.date);
                    return Ok(RotationHistory::Read(rotations));
                }
            }
        }
    }

    /// The key's exception tag, from [`KmsReader::tags`].
    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn exception_tag(
        &self,
        key_id: &str,
        tag_key: &str,
    ) -> Result<ExceptionTag, KmsError> {
        Ok(match self.tags(key_id).await? {
            Tags::Read(tags) => {
                ExceptionTag::from_tags(tag_key, tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            }
            Tags::AccessDenied(msg) => {
                ExceptionTag::Unreadable(format!("access denied on kms:ListResourceTags: {msg}"))
            }
        })
    }

    /// The SDK client, for the operator CLI's reads beyond the rule's (the key policy that
    /// `remediate` reads, in the CLI crate): the rule's own reads are all methods here.
    pub fn client(&self) -> &aws_sdk_kms::Client {
        &self.client
    }

    /// Waits for the per-key read ceiling (the ListResourceTags pacer): the CLI's extra per-key
    /// reads share it, so they never add a rate of their own.
    pub async fn per_key_read_ready(&self) {
        self.pacers.list_tags.ready().await;
    }

    /// Every tag of the key, read with ListResourceTags (paged): the one tag reader.
    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn tags(&self, key_id: &str) -> Result<Tags, KmsError> {
        let mut pages = self
            .client
            .list_resource_tags()
            .key_id(key_id)
            .into_paginator()
            .send();
        let mut tags = Vec::new();
        loop {
            self.pacers.list_tags.ready().await;
            let out = match pages.next().await {
                Some(Ok(out)) => out,
                Some(Err(e)) => {
                    return if denied(&e) {
                        Ok(Tags::AccessDenied(message(&e)))
                    } else {
                        Err(kms_error("ListResourceTags", key_id, &e))
                    };
                }
                // The paginator stops early only on an empty or repeated NextMarker.
                None => return Err(repeated_marker("ListResourceTags", key_id)),
            };
            tags.extend(
                out.tags
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| (t.tag_key, t.tag_value)),
            );
            // The next page is asked for (and paced) only when this one says there is one.
            if !(out.truncated && out.next_marker.is_some()) {
                return Ok(Tags::Read(tags));
            }
        }
    }
}

/// KMS in one account and Region, as the CLI works with it: the account and Region, the raw
/// client (for EnableKeyRotation) and the rule's reader over the same client (its own pacing:
/// KMS quotas are per account and Region).
#[derive(Clone)]
pub struct KmsRegion {
    pub account_id: String,
    pub region: String,
    pub client: aws_sdk_kms::Client,
    pub reader: KmsReader,
}

/// A paged read whose answer gave an empty NextMarker or repeated the marker it was sent: the
/// SDK's paginator stops there rather than ask for the same page forever.
fn repeated_marker(operation: &'static str, key_id: &str) -> KmsError {
    KmsError {
        operation,
        key_id: key_id.to_owned(),
        message: "the answer's NextMarker is empty or repeats the Marker it was sent".into(),
        code: None,
    }
}

fn message<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    e.message().unwrap_or("no message").to_owned()
}

pub fn kms_error<E>(
    operation: &'static str,
    key_id: &str,
    e: &SdkError<E, HttpResponse>,
) -> KmsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    KmsError {
        operation,
        key_id: key_id.to_owned(),
        message: describe(e),
        code: code(e),
    }
}
