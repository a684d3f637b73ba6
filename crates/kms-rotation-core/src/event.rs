//! The Config event: the outer `ConfigEvent` and the `invokingEvent` JSON string inside it,
//! parsed into typed values at the edge so the rest of the code never sees raw JSON.

use std::collections::BTreeMap;

use aws_lambda_events::event::config::ConfigEvent;
use aws_sdk_config::types::ConfigurationItemStatus;
use aws_sdk_kms::types::{KeyManagerType, KeySpec, KeyState, MultiRegionKeyType, OriginType};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::arn::Arn;
use crate::decision::KeyFacts;
use crate::params::{ParamError, RuleParameters};

/// The only resource type this rule evaluates.
pub const KMS_KEY: &str = "AWS::KMS::Key";

/// Why an event was refused.
#[derive(Debug, Error)]
pub enum EventError {
    #[error("the event is not an AWS Config rule event: {0}")]
    NotAConfigEvent(String),
    #[error("the Config event has no {0}")]
    Missing(&'static str),
    #[error("invokingEvent is not valid JSON for its messageType: {0}")]
    InvokingEvent(String),
    #[error("unknown invokingEvent messageType {0:?}; expected ConfigurationItemChangeNotification, OversizedConfigurationItemChangeNotification or ScheduledNotification")]
    UnknownMessageType(String),
    #[error(transparent)]
    Parameters(#[from] ParamError),
}

/// Where PutEvaluations' results go: a real token, or TestMode (`resultToken` = `TESTMODE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultToken {
    TestMode,
    Token(String),
}

impl ResultToken {
    pub fn is_test_mode(&self) -> bool {
        matches!(self, Self::TestMode)
    }
    /// The token to send; TestMode accepts any non-empty token.
    pub fn as_str(&self) -> &str {
        match self {
            Self::TestMode => "TESTMODE",
            Self::Token(t) => t,
        }
    }
}

/// One invocation of the rule, parsed.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub account_id: String,
    pub config_rule_name: Option<String>,
    pub config_rule_arn: Option<String>,
    pub event_left_scope: bool,
    pub result_token: ResultToken,
    pub parameters: RuleParameters,
    pub message: Message,
}

/// The three kinds of invoking event.
#[derive(Debug, Clone)]
pub enum Message {
    /// `ConfigurationItemChangeNotification`.
    Change(Box<ConfigurationItem>),
    /// `OversizedConfigurationItemChangeNotification`: fetch the item with GetResourceConfigHistory.
    Oversized(ItemSummary),
    /// `ScheduledNotification`: evaluate every key in the account and Region.
    Scheduled {
        notification_creation_time: DateTime<Utc>,
    },
}

/// A configuration item, from a change event or from GetResourceConfigHistory.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigurationItem {
    pub capture_time: DateTime<Utc>,
    pub status: ConfigurationItemStatus,
    pub resource_type: String,
    pub resource_id: String,
    pub arn: Option<String>,
    pub aws_region: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub configuration: Value,
    pub supplementary_configuration: Value,
}

/// The summary an oversized change event carries instead of the item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemSummary {
    pub capture_time: DateTime<Utc>,
    pub status: ConfigurationItemStatus,
    pub resource_type: String,
    pub resource_id: String,
}

impl Invocation {
    /// Parse a Lambda payload into an invocation.
    pub fn parse(payload: Value) -> Result<Self, EventError> {
        let event: ConfigEvent = serde_json::from_value(payload)
            .map_err(|e| EventError::NotAConfigEvent(e.to_string()))?;
        Self::from_config_event(event)
    }

    pub fn from_config_event(event: ConfigEvent) -> Result<Self, EventError> {
        let result_token = match event.result_token.as_deref() {
            None | Some("") => return Err(EventError::Missing("resultToken")),
            Some("TESTMODE") => ResultToken::TestMode,
            Some(t) => ResultToken::Token(t.to_owned()),
        };
        let invoking = event
            .invoking_event
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .ok_or(EventError::Missing("invokingEvent"))?;
        let message = parse_invoking_event(invoking)?;
        let parameters = RuleParameters::parse(event.rule_parameters.as_deref())?;
        let account_id = event
            .account_id
            .filter(|a| !a.is_empty())
            .ok_or(EventError::Missing("accountId"))?;
        Ok(Self {
            account_id,
            config_rule_name: event.config_rule_name,
            config_rule_arn: event.config_rule_arn,
            event_left_scope: event.event_left_scope,
            result_token,
            parameters,
            message,
        })
    }

    /// The AWS partition of the rule (`aws`, `aws-cn`, `aws-us-gov`, ...), from its ARN.
    pub fn partition(&self) -> &str {
        self.config_rule_arn
            .as_deref()
            .and_then(|arn| Arn::parse(arn).ok())
            .map_or("aws", |arn| arn.partition)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInvokingEvent {
    message_type: String,
    #[serde(default)]
    configuration_item: Option<RawItem>,
    #[serde(default)]
    configuration_item_summary: Option<RawItem>,
    #[serde(default)]
    notification_creation_time: Option<DateTime<Utc>>,
}

/// The fields of a configuration item or its summary that the rule reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawItem {
    configuration_item_capture_time: DateTime<Utc>,
    configuration_item_status: String,
    resource_type: String,
    resource_id: String,
    #[serde(default, rename = "ARN")]
    arn: Option<String>,
    #[serde(default)]
    aws_region: Option<String>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    configuration: Value,
    #[serde(default)]
    supplementary_configuration: Value,
}

fn parse_invoking_event(raw: &str) -> Result<Message, EventError> {
    let event: RawInvokingEvent =
        serde_json::from_str(raw).map_err(|e| EventError::InvokingEvent(e.to_string()))?;
    let missing =
        |what: &str| EventError::InvokingEvent(format!("{} has no {what}", event.message_type));
    match event.message_type.as_str() {
        "ConfigurationItemChangeNotification" => {
            let item = event
                .configuration_item
                .ok_or_else(|| missing("configurationItem"))?;
            Ok(Message::Change(Box::new(item.into())))
        }
        "OversizedConfigurationItemChangeNotification" => {
            let s = event
                .configuration_item_summary
                .ok_or_else(|| missing("configurationItemSummary"))?;
            Ok(Message::Oversized(ItemSummary {
                capture_time: s.configuration_item_capture_time,
                status: ConfigurationItemStatus::from(s.configuration_item_status.as_str()),
                resource_type: s.resource_type,
                resource_id: s.resource_id,
            }))
        }
        "ScheduledNotification" => Ok(Message::Scheduled {
            notification_creation_time: event
                .notification_creation_time
                .ok_or_else(|| missing("notificationCreationTime"))?,
        }),
        other => Err(EventError::UnknownMessageType(other.to_owned())),
    }
}

impl From<RawItem> for ConfigurationItem {
    fn from(raw: RawItem) -> Self {
        Self {
            capture_time: raw.configuration_item_capture_time,
            status: ConfigurationItemStatus::from(raw.configuration_item_status.as_str()),
            resource_type: raw.resource_type,
            resource_id: raw.resource_id,
            arn: raw.arn,
            aws_region: raw.aws_region,
            tags: raw.tags.unwrap_or_default(),
            configuration: raw.configuration,
            supplementary_configuration: raw.supplementary_configuration,
        }
    }
}

impl ConfigurationItem {
    /// Whether the item still describes a live, recorded resource.
    pub fn is_live(&self) -> bool {
        matches!(
            self.status,
            ConfigurationItemStatus::Ok | ConfigurationItemStatus::ResourceDiscovered
        )
    }

    /// The key's facts, when the item's configuration holds all of them.
    pub fn key_facts(&self) -> Option<KeyFacts> {
        let c: RawKeyConfiguration = serde_json::from_value(self.configuration.clone()).ok()?;
        let key_spec = c.key_spec.or(c.customer_master_key_spec)?;
        let replica_of = match c.multi_region_configuration {
            Some(m)
                if m.multi_region_key_type.as_deref()
                    == Some(MultiRegionKeyType::Replica.as_str()) =>
            {
                Some(
                    m.primary_key
                        .and_then(|p| p.arn)
                        .unwrap_or_else(|| "(primary ARN not recorded)".into()),
                )
            }
            _ => None,
        };
        Some(KeyFacts {
            key_id: c.key_id.unwrap_or_else(|| self.resource_id.clone()),
            arn: c.arn.or_else(|| self.arn.clone()),
            key_manager: KeyManagerType::from(c.key_manager?.as_str()),
            key_state: KeyState::from(c.key_state?.as_str()),
            key_spec: KeySpec::from(key_spec.as_str()),
            origin: OriginType::from(c.origin?.as_str()),
            custom_key_store_id: c.custom_key_store_id.filter(|s| !s.is_empty()),
            replica_of,
            created: c.creation_date.as_ref().and_then(timestamp),
        })
    }

    /// The rotation status the item records (`supplementaryConfiguration.KeyRotationStatus`),
    /// which never includes the period.
    pub fn rotation_enabled(&self) -> Option<bool> {
        match self.supplementary_configuration.get("KeyRotationStatus")? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKeyConfiguration {
    key_id: Option<String>,
    arn: Option<String>,
    key_manager: Option<String>,
    key_state: Option<String>,
    key_spec: Option<String>,
    customer_master_key_spec: Option<String>,
    origin: Option<String>,
    custom_key_store_id: Option<String>,
    multi_region_configuration: Option<RawMultiRegion>,
    #[serde(default)]
    creation_date: Option<Value>,
}

/// A date as a configuration item records it: ISO 8601 text, or epoch seconds or milliseconds.
fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.with_timezone(&Utc)),
        Value::Number(n) => {
            let n = n.as_f64()?;
            // Milliseconds from 2001 on are above 1e12; seconds are not before year 33658.
            let secs = if n > 1e12 { n / 1000.0 } else { n };
            DateTime::<Utc>::from_timestamp(secs as i64, 0)
        }
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMultiRegion {
    multi_region_key_type: Option<String>,
    primary_key: Option<RawPrimary>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPrimary {
    arn: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(invoking: Value) -> Value {
        json!({
            "invokingEvent": invoking.to_string(),
            "ruleParameters": "{}",
            "resultToken": "TESTMODE",
            "eventLeftScope": false,
            "executionRoleArn": "arn:aws:iam::111122223333:role/config-role",
            "configRuleArn": "arn:aws-cn:config:cn-north-1:111122223333:config-rule/config-rule-abc",
            "configRuleName": "kms-rotation-rule",
            "accountId": "111122223333",
            "version": "1.0"
        })
    }

    #[test]
    fn scheduled() {
        let inv = Invocation::parse(event(json!({
            "awsAccountId": "111122223333",
            "notificationCreationTime": "2026-11-28T10:00:00.000Z",
            "messageType": "ScheduledNotification",
            "recordVersion": "1.0"
        })))
        .unwrap();
        assert!(inv.result_token.is_test_mode());
        assert_eq!(inv.partition(), "aws-cn");
        assert!(
            matches!(inv.message, Message::Scheduled { notification_creation_time } if notification_creation_time.to_rfc3339() == "2026-11-28T10:00:00+00:00")
        );
    }

    #[test]
    fn clear_errors() {
        let err = |v: Value| Invocation::parse(v).unwrap_err().to_string();
        assert!(err(json!({"messageType": 1})).contains("not an AWS Config rule event"));
        let mut e = event(
            json!({"messageType": "ScheduledNotification", "notificationCreationTime": "2026-11-28T10:00:00Z"}),
        );
        e["resultToken"] = json!(null);
        assert_eq!(err(e), "the Config event has no resultToken");
        let mut e = event(json!({}));
        e["invokingEvent"] = json!("{not json");
        assert!(err(e).starts_with("invokingEvent is not valid JSON"));
        assert!(err(event(json!({"messageType": "Foo"})))
            .contains("unknown invokingEvent messageType \"Foo\""));
        assert!(err(event(json!({"messageType": "ScheduledNotification"})))
            .contains("ScheduledNotification has no notificationCreationTime"));
        assert!(err(event(
            json!({"messageType": "ConfigurationItemChangeNotification"})
        ))
        .contains("has no configurationItem"));
        let mut e = event(
            json!({"messageType": "ScheduledNotification", "notificationCreationTime": "2026-11-28T10:00:00Z"}),
        );
        e["ruleParameters"] = json!(r#"{"maxRotationPeriodInDays":"10"}"#);
        assert!(err(e).contains("maxRotationPeriodInDays must be an integer from 90 to 2560"));
    }

    #[test]
    fn change_item_facts() {
        let inv = Invocation::parse(event(json!({
            "messageType": "ConfigurationItemChangeNotification",
            "configurationItem": {
                "configurationItemCaptureTime": "2026-11-28T09:59:58.123Z",
                "configurationItemStatus": "OK",
                "resourceType": "AWS::KMS::Key",
                "resourceId": "mrk-1",
                "ARN": "arn:aws:kms:eu-west-1:111122223333:key/mrk-1",
                "awsRegion": "eu-west-1",
                "tags": {"env": "prod"},
                "configuration": {
                    "keyId": "mrk-1", "keyManager": "CUSTOMER", "keyState": "Enabled",
                    "customerMasterKeySpec": "SYMMETRIC_DEFAULT", "origin": "AWS_KMS", "multiRegion": true,
                    "multiRegionConfiguration": {"multiRegionKeyType": "REPLICA", "primaryKey": {"arn": "arn:aws:kms:us-east-1:111122223333:key/mrk-1", "region": "us-east-1"}}
                },
                "supplementaryConfiguration": {"KeyRotationStatus": "false"}
            }
        })))
        .unwrap();
        let Message::Change(item) = inv.message else {
            panic!()
        };
        assert!(item.is_live());
        let facts = item.key_facts().unwrap();
        assert_eq!(facts.key_spec, KeySpec::SymmetricDefault);
        assert_eq!(
            facts.replica_of.as_deref(),
            Some("arn:aws:kms:us-east-1:111122223333:key/mrk-1")
        );
        assert_eq!(item.rotation_enabled(), Some(false));
        assert_eq!(item.tags["env"], "prod");
    }

    #[test]
    fn incomplete_configuration_gives_no_facts() {
        let item = ConfigurationItem {
            capture_time: Utc::now(),
            status: ConfigurationItemStatus::Ok,
            resource_type: KMS_KEY.into(),
            resource_id: "k".into(),
            arn: None,
            aws_region: None,
            tags: BTreeMap::new(),
            configuration: json!({"keyManager": "CUSTOMER"}),
            supplementary_configuration: json!({"KeyRotationStatus": true}),
        };
        assert!(item.key_facts().is_none());
        assert_eq!(item.rotation_enabled(), Some(true));
    }
}
