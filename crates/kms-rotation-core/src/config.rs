//! AWS Config: the writer (PutEvaluations, in batches of 100, with FailedEvaluations retried) and
//! the few reads the rule needs (GetResourceConfigHistory for oversized items,
//! GetComplianceDetailsByConfigRule for the periodic clean-up).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_config::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_config::operation::get_resource_config_history::GetResourceConfigHistoryError;
use aws_sdk_config::types::{ComplianceType, ConfigurationItemStatus, ResourceType};
use chrono::{DateTime, Utc};
use serde_json::Value;
use thiserror::Error;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::aws_error::{code, describe};
use crate::decision::Verdict;
use crate::event::{ConfigurationItem, ResultToken, KMS_KEY};

/// PutEvaluations takes at most this many evaluations a call.
pub const MAX_BATCH: usize = 100;
/// How many times evaluations that Config lists in FailedEvaluations are sent again.
const FAILED_EVALUATION_RETRIES: u32 = 3;
/// The wait before the first of those retries, doubled before each next one (50, 100, 200 ms):
/// a batch waits on its own (the rule's writer keeps other batches in flight), so the waits only
/// add to a run's end when its last batch has evaluations Config keeps refusing.
const FAILED_EVALUATION_BACKOFF: Duration = Duration::from_millis(50);

/// One evaluation for Config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The evaluated item's own resource type: `AWS::KMS::Key`, or the type of an item outside
    /// the rule's scope (an evaluation names the type of the item it is about; Config's
    /// `Evaluation.ComplianceResourceType`, AWS Config API Reference).
    pub resource_type: String,
    pub resource_id: String,
    pub verdict: Verdict,
    pub ordering_timestamp: DateTime<Utc>,
}

#[derive(Debug, Error, Clone)]
pub enum ConfigError {
    #[error("config:PutEvaluations did not take {} evaluation(s) after {FAILED_EVALUATION_RETRIES} retries: {}", .resource_ids.len(), .resource_ids.join(", "))]
    Rejected { resource_ids: Vec<String> },
    #[error("config:{operation}: {message}{}", if .resource_ids.is_empty() { String::new() } else { format!(" (evaluations not sent: {})", .resource_ids.join(", ")) })]
    Api {
        operation: &'static str,
        message: String,
        code: Option<String>,
        /// The evaluations this failed call was carrying, if it was PutEvaluations.
        resource_ids: Vec<String>,
    },
    /// Several batches failed, each for its own reason.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<ConfigError>),
    /// Config refused a request about a rule for a reason its API model names (the operation's
    /// typed error, not its code).
    #[error("config:{operation}: {message}")]
    Refused {
        operation: &'static str,
        refusal: Refusal,
        message: String,
    },
}

/// Why Config refused a request about a rule, from the operation's modeled errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `NoSuchConfigRuleException`.
    NoSuchRule,
    /// `NoSuchConformancePackException`.
    NoSuchConformancePack,
    /// `LimitExceededException`: an evaluation is already running, or too many were asked for.
    LimitExceeded,
    /// `ResourceInUseException`: the rule is being evaluated, created or deleted.
    Busy,
}

impl ConfigError {
    /// Resource ids whose evaluations did not reach Config.
    pub fn unsent(&self) -> Vec<String> {
        match self {
            Self::Rejected { resource_ids } | Self::Api { resource_ids, .. } => {
                resource_ids.clone()
            }
            Self::Several(errors) => errors.iter().flat_map(Self::unsent).collect(),
            Self::Refused { .. } => Vec::new(),
        }
    }
}

/// The rule's side of AWS Config.
#[derive(Clone)]
pub struct ConfigService {
    client: aws_sdk_config::Client,
    token: ResultToken,
}

impl ConfigService {
    pub fn new(client: aws_sdk_config::Client, token: ResultToken) -> Self {
        Self { client, token }
    }

    /// Send evaluations, at most 100 a call. Nothing is sent for an empty list. A batch that
    /// fails does not stop the batches after it; the error names every evaluation not taken.
    pub async fn put_evaluations(&self, evaluations: &[Evaluation]) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        for batch in evaluations.chunks(MAX_BATCH) {
            if let Err(e) = self.put_batch(batch).await {
                errors.push(e);
            }
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Several(errors)),
        }
    }

    #[tracing::instrument(skip_all, fields(evaluations = batch.len(), test_mode = self.token.is_test_mode()))]
    async fn put_batch(&self, batch: &[Evaluation]) -> Result<(), ConfigError> {
        let mut pending: Vec<&Evaluation> = batch.iter().collect();
        let unsent =
            |pending: &[&Evaluation]| pending.iter().map(|e| e.resource_id.clone()).collect();
        for attempt in 0..=FAILED_EVALUATION_RETRIES {
            if attempt > 0 {
                tokio::time::sleep(FAILED_EVALUATION_BACKOFF * 2u32.pow(attempt - 1)).await;
            }
            let out = self
                .client
                .put_evaluations()
                .set_evaluations(Some(
                    pending
                        .iter()
                        .map(|e| to_sdk(e))
                        .collect::<Result<_, _>>()
                        .map_err(|message| ConfigError::Api {
                            operation: "PutEvaluations",
                            message,
                            code: None,
                            resource_ids: unsent(&pending),
                        })?,
                ))
                .result_token(self.token.as_str())
                .set_test_mode(self.token.is_test_mode().then_some(true))
                .send()
                .await
                .map_err(|e| ConfigError::Api {
                    operation: "PutEvaluations",
                    message: describe(&e),
                    code: code(&e),
                    resource_ids: unsent(&pending),
                })?;
            let failed = out.failed_evaluations.unwrap_or_default();
            if failed.is_empty() {
                return Ok(());
            }
            tracing::warn!(
                failed = failed.len(),
                attempt,
                "PutEvaluations returned FailedEvaluations"
            );
            pending.retain(|e| {
                failed.iter().any(|f| {
                    f.compliance_resource_id == e.resource_id
                        && f.compliance_type.as_str() == e.verdict.compliance.as_str()
                })
            });
            if pending.is_empty() {
                // Config named evaluations we did not send; nothing of ours is left to retry.
                return Ok(());
            }
        }
        Err(ConfigError::Rejected {
            resource_ids: unsent(&pending),
        })
    }

    /// The latest configuration item of a resource (for oversized change events).
    #[tracing::instrument(skip(self))]
    pub async fn latest_item(
        &self,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<Option<ConfigurationItem>, ConfigError> {
        let out = self
            .client
            .get_resource_config_history()
            .resource_type(ResourceType::from(resource_type))
            .resource_id(resource_id)
            .limit(1)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e)
                if e.as_service_error().is_some_and(
                    GetResourceConfigHistoryError::is_resource_not_discovered_exception,
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(api_error("GetResourceConfigHistory", &e)),
        };
        Ok(out
            .configuration_items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(from_sdk_item))
    }

    /// Resource ids that are COMPLIANT or NON_COMPLIANT for this rule (for the periodic clean-up).
    #[tracing::instrument(skip(self))]
    pub async fn evaluated_resource_ids(
        &self,
        rule_name: &str,
    ) -> Result<Vec<String>, ConfigError> {
        let mut pages = self
            .client
            .get_compliance_details_by_config_rule()
            .config_rule_name(rule_name)
            // Keys already reported NOT_APPLICABLE need no clean-up again.
            .compliance_types(ComplianceType::Compliant)
            .compliance_types(ComplianceType::NonCompliant)
            .limit(100)
            .into_paginator()
            .send();
        let mut ids = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| api_error("GetComplianceDetailsByConfigRule", &e))?;
            ids.extend(
                page.evaluation_results
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|r| r.evaluation_result_identifier?.evaluation_result_qualifier)
                    .filter(|q| q.resource_type.as_deref() == Some(KMS_KEY))
                    .filter_map(|q| q.resource_id),
            );
        }
        Ok(ids)
    }
}

fn to_sdk(e: &Evaluation) -> Result<aws_sdk_config::types::Evaluation, String> {
    aws_sdk_config::types::Evaluation::builder()
        .compliance_resource_type(&e.resource_type)
        .compliance_resource_id(&e.resource_id)
        .compliance_type(ComplianceType::from(e.verdict.compliance.as_str()))
        .annotation(&e.verdict.annotation)
        .ordering_timestamp(aws_smithy_types::DateTime::from_millis(
            e.ordering_timestamp.timestamp_millis(),
        ))
        .build()
        .map_err(|err| format!("could not build the evaluation of {}: {err}", e.resource_id))
}

fn from_sdk_item(item: aws_sdk_config::types::ConfigurationItem) -> ConfigurationItem {
    // Config returns configuration and each supplementary value as JSON text.
    let json = |s: &str| serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned()));
    let supplementary: serde_json::Map<String, Value> = item
        .supplementary_configuration
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| (k.clone(), json(v)))
        .collect();
    ConfigurationItem {
        capture_time: item
            .configuration_item_capture_time
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
            .unwrap_or_else(Utc::now),
        status: item
            .configuration_item_status
            .unwrap_or(ConfigurationItemStatus::Ok),
        resource_type: item
            .resource_type
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        resource_id: item.resource_id.unwrap_or_default(),
        arn: item.arn,
        aws_region: item.aws_region,
        tags: item
            .tags
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        configuration: item
            .configuration
            .as_deref()
            .map(json)
            .unwrap_or(Value::Null),
        supplementary_configuration: Value::Object(supplementary),
    }
}

/// A modeled refusal when the operation's typed error names one, otherwise [`api_error`].
pub fn refused_or_api<E>(
    operation: &'static str,
    refusal: Option<Refusal>,
    e: &SdkError<E, HttpResponse>,
) -> ConfigError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match refusal {
        Some(refusal) => ConfigError::Refused {
            operation,
            refusal,
            message: e.message().unwrap_or("no message").to_owned(),
        },
        None => api_error(operation, e),
    }
}

fn api_error<E>(operation: &'static str, e: &SdkError<E, HttpResponse>) -> ConfigError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    ConfigError::Api {
        operation,
        message: describe(e),
        code: code(e),
        resource_ids: Vec::new(),
    }
}
