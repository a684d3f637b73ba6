//! AWS Config's rules, found and evaluated again (`rescan`): DescribeConfigRules,
//! DescribeConformancePackCompliance and StartConfigRulesEvaluation, the operator's Config calls.
//! The rule's own Config calls (PutEvaluations and its reads) are in the core's
//! `kms_rotation_core::config`; these are never compiled into the Lambda.

use aws_sdk_config::operation::describe_config_rules::DescribeConfigRulesError;
use aws_sdk_config::operation::describe_conformance_pack_compliance::DescribeConformancePackComplianceError;
use aws_sdk_config::operation::start_config_rules_evaluation::StartConfigRulesEvaluationError;
use kms_rotation_core::config::{refused_or_api, ConfigError, Refusal};

/// AWS Config's rules, found and evaluated again: what the CLI's `rescan` needs. Unlike
/// [`kms_rotation_core::config::ConfigService`], it holds no result token, because it sends no evaluation.
#[derive(Clone)]
pub(crate) struct ConfigRules {
    client: aws_sdk_config::Client,
}

impl ConfigRules {
    pub(crate) fn new(client: aws_sdk_config::Client) -> Self {
        Self { client }
    }

    /// The name of every Config rule in the Region (DescribeConfigRules, paged).
    pub(crate) async fn rule_names(&self) -> Result<Vec<String>, ConfigError> {
        let mut pages = self.client.describe_config_rules().into_paginator().send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                let refusal = e.as_service_error().and_then(|s| match s {
                    DescribeConfigRulesError::NoSuchConfigRuleException(_) => {
                        Some(Refusal::NoSuchRule)
                    }
                    _ => None,
                });
                refused_or_api("DescribeConfigRules", refusal, &e)
            })?;
            names.extend(
                page.config_rules
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|r| r.config_rule_name),
            );
        }
        Ok(names)
    }

    /// The names of a conformance pack's rules (DescribeConformancePackCompliance, paged).
    pub(crate) async fn pack_rule_names(&self, pack: &str) -> Result<Vec<String>, ConfigError> {
        let mut pages = self
            .client
            .describe_conformance_pack_compliance()
            .conformance_pack_name(pack)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                let refusal = e.as_service_error().and_then(|s| match s {
                    DescribeConformancePackComplianceError::NoSuchConformancePackException(_) => {
                        Some(Refusal::NoSuchConformancePack)
                    }
                    DescribeConformancePackComplianceError::NoSuchConfigRuleInConformancePackException(_) => {
                        Some(Refusal::NoSuchRule)
                    }
                    _ => None,
                });
                refused_or_api("DescribeConformancePackCompliance", refusal, &e)
            })?;
            names.extend(
                page.conformance_pack_rule_compliance_list
                    .into_iter()
                    .filter_map(|r| r.config_rule_name),
            );
        }
        Ok(names)
    }

    /// Ask Config to evaluate the rule again (`StartConfigRulesEvaluation`).
    pub(crate) async fn start_evaluation(&self, rule_name: &str) -> Result<(), ConfigError> {
        self.client
            .start_config_rules_evaluation()
            .config_rule_names(rule_name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let refusal = e.as_service_error().and_then(|s| match s {
                    StartConfigRulesEvaluationError::NoSuchConfigRuleException(_) => {
                        Some(Refusal::NoSuchRule)
                    }
                    StartConfigRulesEvaluationError::LimitExceededException(_) => {
                        Some(Refusal::LimitExceeded)
                    }
                    StartConfigRulesEvaluationError::ResourceInUseException(_) => {
                        Some(Refusal::Busy)
                    }
                    _ => None,
                });
                refused_or_api("StartConfigRulesEvaluation", refusal, &e)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_config::types::error::{
        LimitExceededException, NoSuchConfigRuleException, ResourceInUseException,
    };
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    fn meta() -> ErrorMetadata {
        ErrorMetadata::builder().message("refused").build()
    }

    /// Config's modeled refusals of StartConfigRulesEvaluation (the operation's typed errors, here
    /// without an error code) become [`Refusal`]s; anything else stays an API error.
    #[tokio::test]
    async fn modeled_refusals_are_recognized_by_their_type() {
        type Case = (fn() -> StartConfigRulesEvaluationError, Option<Refusal>);
        let cases: [Case; 4] = [
            (
                || {
                    StartConfigRulesEvaluationError::NoSuchConfigRuleException(
                        NoSuchConfigRuleException::builder().meta(meta()).build(),
                    )
                },
                Some(Refusal::NoSuchRule),
            ),
            (
                || {
                    StartConfigRulesEvaluationError::LimitExceededException(
                        LimitExceededException::builder().meta(meta()).build(),
                    )
                },
                Some(Refusal::LimitExceeded),
            ),
            (
                || {
                    StartConfigRulesEvaluationError::ResourceInUseException(
                        ResourceInUseException::builder().meta(meta()).build(),
                    )
                },
                Some(Refusal::Busy),
            ),
            (|| StartConfigRulesEvaluationError::unhandled("boom"), None),
        ];
        for (error, want) in cases {
            let rule =
                mock!(aws_sdk_config::Client::start_config_rules_evaluation).then_error(error);
            let client = mock_client!(aws_sdk_config, RuleMode::MatchAny, &[&rule]);
            let got = ConfigRules::new(client)
                .start_evaluation("kms-rotation")
                .await
                .unwrap_err();
            match (got, want) {
                (ConfigError::Refused { refusal, .. }, Some(want)) => assert_eq!(refusal, want),
                (ConfigError::Api { .. }, None) => {}
                (got, want) => panic!("{want:?}: got {got:?}"),
            }
        }
    }
}
