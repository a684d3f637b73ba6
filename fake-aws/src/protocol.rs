//! The operations: KMS and Config answered from the account over AWS JSON 1.1, STS `AssumeRole`
//! over the query protocol, and the faults of a [`FaultPlan`] as each service would send them.

use std::time::Duration;

use serde_json::{json, Value};

use crate::account::{key_arn, Key, Rotation, ACCOUNT, CREATION_DATE, REGION};
use crate::connector::{ASSUMED_ACCESS_KEY_ID, ASSUMED_SECRET_ACCESS_KEY, ASSUMED_SESSION_TOKEN};
use crate::journal::{Batch, Received};
use crate::plan::{hash01, unit, Fault, FaultPlan};
use crate::{FakeAws, Reply, Service};

/// An HTTP answer.
pub(crate) struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
}

impl From<Answer> for Reply {
    fn from(a: Answer) -> Self {
        Reply::Answer {
            status: a.status,
            content_type: a.content_type,
            body: a.body,
        }
    }
}

pub(crate) fn json_response(status: u16, body: Value) -> Answer {
    Answer {
        status,
        content_type: "application/x-amz-json-1.1",
        body: body.to_string(),
    }
}

pub(crate) fn json_error(status: u16, code: &str, message: &str) -> Answer {
    json_response(status, json!({"__type": code, "message": message}))
}

pub(crate) fn xml_response(status: u16, body: String) -> Answer {
    Answer {
        status,
        content_type: "text/xml",
        body,
    }
}

pub(crate) fn query_error(status: u16, code: &str, message: &str) -> Answer {
    xml_response(
        status,
        format!(
            r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"#
        ),
    )
}

pub(crate) fn denied(action: &str) -> Answer {
    json_error(
        400,
        "AccessDeniedException",
        &format!("User: arn:aws:sts::{ACCOUNT}:assumed-role/rule/fn is not authorized to perform: kms:{action}"),
    )
}

pub(crate) fn not_found(input: &Value) -> Answer {
    json_error(
        400,
        "NotFoundException",
        &format!("Key '{}' does not exist", input["KeyId"]),
    )
}

/// A fault as the service would answer it.
pub(crate) async fn fault(service: Service, fault: Fault, stall: Duration) -> Reply {
    let sts = service == Service::Sts;
    match fault {
        Fault::Throttling if sts => query_error(400, "Throttling", "Rate exceeded"),
        Fault::Throttling => json_error(400, "ThrottlingException", "Rate exceeded"),
        Fault::Internal if sts => query_error(500, "InternalFailure", "internal error"),
        Fault::Internal => json_error(
            500,
            match service {
                Service::Kms => "KMSInternalException",
                _ => "InternalFailure",
            },
            "We encountered an internal error. Please try again.",
        ),
        Fault::Unavailable if sts => query_error(503, "ServiceUnavailable", "unavailable"),
        Fault::Unavailable => json_error(503, "ServiceUnavailable", "Service unavailable"),
        Fault::Reset => return Reply::Reset,
        Fault::Timeout => {
            tokio::time::sleep(stall).await;
            json_error(500, "InternalFailure", "answered after the client gave up")
        }
    }
    .into()
}

/// 30 days from now, in epoch seconds: KMS's next rotation of a rotating key, never overdue.
fn next_rotation_date() -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now + Duration::from_secs(30 * 86_400)).as_secs() as f64
}

fn describe_key(key: &Key) -> Answer {
    describe_key_in(key, ACCOUNT, REGION)
}

/// DescribeKey's answer for a key of this account and Region.
pub(crate) fn describe_key_in(key: &Key, account: &str, region: &str) -> Answer {
    if key.describe_denied {
        return denied("DescribeKey");
    }
    let mut m = json!({
        "AWSAccountId": account,
        "KeyId": key.id,
        "Arn": format!("arn:aws:kms:{region}:{account}:key/{}", key.id),
        "CreationDate": CREATION_DATE,
        "Enabled": key.key_state == "Enabled",
        "Description": "",
        "KeyUsage": key.key_usage,
        "KeyState": key.key_state,
        "Origin": key.origin,
        "KeyManager": if key.aws_managed { "AWS" } else { "CUSTOMER" },
        "CustomerMasterKeySpec": key.key_spec,
        "KeySpec": key.key_spec,
        "MultiRegion": key.replica,
    });
    if let Some(store) = key.custom_key_store_id {
        m["CustomKeyStoreId"] = json!(store);
    }
    if key.replica {
        m["MultiRegionConfiguration"] = json!({
            "MultiRegionKeyType": "REPLICA",
            "PrimaryKey": {
                "Arn": format!("arn:aws:kms:us-west-2:{account}:key/{}", key.id),
                "Region": "us-west-2"
            },
            "ReplicaKeys": []
        });
    }
    if key.key_state == "PendingDeletion" {
        m["DeletionDate"] = json!(1_900_000_000.0);
    }
    json_response(200, json!({ "KeyMetadata": m }))
}

fn rotation_status(key: &Key) -> Answer {
    rotation_status_in(key, &key_arn(&key.id))
}

/// GetKeyRotationStatus's answer for a key of this ARN.
pub(crate) fn rotation_status_in(key: &Key, arn: &str) -> Answer {
    match key.rotation {
        Rotation::Unsupported => json_error(
            400,
            "UnsupportedOperationException",
            "this key cannot rotate automatically",
        ),
        Rotation::Denied => denied("GetKeyRotationStatus"),
        Rotation::On { period_days } => json_response(
            200,
            json!({
                "KeyId": arn,
                "KeyRotationEnabled": true,
                "RotationPeriodInDays": period_days,
                "NextRotationDate": next_rotation_date()
            }),
        ),
        Rotation::Off => json_response(200, json!({"KeyId": arn, "KeyRotationEnabled": false})),
    }
}

/// ListKeyRotations as KMS answers it (KMS API Reference, "ListKeyRotations"), in one page: a
/// key with rotation on rotated once (on demand, 30 days after its creation), one with rotation
/// off or imported material never; UnsupportedOperationException for a key whose material KMS
/// does not rotate (asymmetric, HMAC, custom key store); AccessDeniedException where
/// GetKeyRotationStatus is denied.
pub(crate) fn key_rotations_in(key: &Key) -> Answer {
    let rotations = match key.rotation {
        Rotation::Denied => return denied("ListKeyRotations"),
        Rotation::Unsupported if key.origin != "EXTERNAL" => {
            return json_error(
                400,
                "UnsupportedOperationException",
                "this key has no rotation history",
            )
        }
        Rotation::On { .. } => vec![json!({
            "KeyId": key.id,
            "RotationDate": CREATION_DATE + 30.0 * 86_400.0,
            "RotationType": "ON_DEMAND",
        })],
        Rotation::Off | Rotation::Unsupported => Vec::new(),
    };
    json_response(200, json!({"Rotations": rotations, "Truncated": false}))
}

/// GetKeyLastUsage (KMS API Reference, "GetKeyLastUsage"): no use since tracking began, which
/// began at the key's creation.
pub(crate) fn last_usage_in(arn: &str) -> Answer {
    json_response(
        200,
        json!({"KeyId": arn, "TrackingStartDate": CREATION_DATE, "KeyCreationDate": CREATION_DATE}),
    )
}

pub(crate) fn tags(key: &Key) -> Answer {
    match &key.tags {
        None => denied("ListResourceTags"),
        Some(tags) => {
            let tags: Vec<Value> = tags
                .iter()
                .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
                .collect();
            json_response(200, json!({"Tags": tags, "Truncated": false}))
        }
    }
}

/// ListAliases' `Limit`: 1 to 100, 50 when absent (the KMS API model).
pub(crate) fn alias_limit(input: &Value) -> Result<usize, String> {
    match &input["Limit"] {
        Value::Null => Ok(50),
        v => match v.as_u64() {
            Some(n @ 1..=100) => Ok(n as usize),
            _ => Err(format!("Limit {v}: 1 to 100 allowed")),
        },
    }
}

/// A page marker: `m<offset>`. `None` when absent; `Err` when it is not one of the fake's.
pub(crate) fn marker(input: &Value, field: &str) -> Result<usize, String> {
    match input[field].as_str() {
        None => Ok(0),
        Some(m) => m
            .strip_prefix('m')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unknown marker {m}")),
    }
}

impl FakeAws {
    pub(crate) fn kms(&self, operation: &str, input: &Value, plan: &FaultPlan) -> Answer {
        let account = &self.0.account;
        let with_key = |answer: fn(&Key) -> Answer| match input["KeyId"]
            .as_str()
            .and_then(|id| account.key(id))
        {
            Some(key) => answer(key),
            None => not_found(input),
        };
        match operation {
            "ListKeys" => self.list_keys(input, plan),
            "ListAliases" => self.list_aliases(input),
            "DescribeKey" => with_key(describe_key),
            "GetKeyRotationStatus" => with_key(rotation_status),
            "ListResourceTags" => with_key(tags),
            other => self.refuse(other, "operation not faked"),
        }
    }

    /// ListKeys: `Limit` 1..1000 (default 100), markers of the fake's own.
    fn list_keys(&self, input: &Value, plan: &FaultPlan) -> Answer {
        let keys = self.0.account.keys();
        let limit = input["Limit"].as_u64().unwrap_or(100).clamp(1, 1000) as usize;
        let start = match marker(input, "Marker") {
            Ok(start) => start,
            Err(reason) => return self.refuse("ListKeys", &reason),
        };
        if plan
            .list_keys_denied_from_page
            .is_some_and(|page| start / limit + 1 >= page)
        {
            self.count("listkeysdenied", 1);
            return denied("ListKeys");
        }
        let end = (start + limit).min(keys.len());
        let page = &keys[start.min(end)..end];
        self.inner_journal()
            .listed
            .extend(page.iter().map(|k| k.id.clone()));
        let listed: Vec<Value> = page
            .iter()
            .map(|k| json!({"KeyId": k.id, "KeyArn": key_arn(&k.id)}))
            .collect();
        let mut out = json!({"Keys": listed, "Truncated": end < keys.len()});
        if end < keys.len() {
            out["NextMarker"] = json!(format!("m{end}"));
        }
        json_response(200, out)
    }

    /// ListAliases: `Limit` 1..100 (default 50), `Marker`, and `KeyId` for the aliases of one key.
    fn list_aliases(&self, input: &Value) -> Answer {
        let account = &self.0.account;
        let limit = match alias_limit(input) {
            Ok(limit) => limit,
            Err(reason) => return self.refuse("ListAliases", &reason),
        };
        let start = match marker(input, "Marker") {
            Ok(start) => start,
            Err(reason) => return self.refuse("ListAliases", &reason),
        };
        let target = match input["KeyId"].as_str() {
            None => None,
            Some(id) => match account.index(id) {
                Some(i) => Some(i),
                None => return not_found(input),
            },
        };
        let aliases: Vec<_> = account
            .aliases()
            .iter()
            .filter(|a| target.is_none() || a.target == target)
            .collect();
        let end = (start + limit).min(aliases.len());
        let page: Vec<Value> = aliases[start.min(end)..end]
            .iter()
            .map(|a| {
                let mut v = json!({
                    "AliasName": a.name,
                    "AliasArn": format!("arn:aws:kms:{REGION}:{ACCOUNT}:{}", a.name),
                });
                if let Some(i) = a.target {
                    v["TargetKeyId"] = json!(account.keys()[i].id);
                    v["CreationDate"] = json!(CREATION_DATE);
                    v["LastUpdatedDate"] = json!(CREATION_DATE);
                }
                v
            })
            .collect();
        let mut out = json!({"Aliases": page, "Truncated": end < aliases.len()});
        if end < aliases.len() {
            out["NextMarker"] = json!(format!("m{end}"));
        }
        json_response(200, out)
    }

    pub(crate) fn config(
        &self,
        operation: &str,
        input: &Value,
        plan: &FaultPlan,
        nth_of_operation: u64,
    ) -> Answer {
        match operation {
            "PutEvaluations" => self.put_evaluations(input, plan, nth_of_operation),
            "GetResourceConfigHistory" => {
                let id = input["resourceId"].as_str().unwrap_or_default();
                match self.0.account.key(id).filter(|k| k.id == id) {
                    // The latest item, without the key's facts: the rule asks KMS for them.
                    Some(_) => json_response(
                        200,
                        json!({"configurationItems": [{
                            "version": "1.3", "accountId": ACCOUNT,
                            "configurationItemCaptureTime": 1_795_859_998.123,
                            "configurationItemStatus": "OK", "resourceType": "AWS::KMS::Key",
                            "resourceId": id, "arn": key_arn(id), "awsRegion": REGION,
                            "configuration": "{}", "supplementaryConfiguration": {}, "tags": {}
                        }]}),
                    ),
                    None => json_error(
                        400,
                        "ResourceNotDiscoveredException",
                        "Resource is not discovered",
                    ),
                }
            }
            "GetComplianceDetailsByConfigRule" => self.compliance_details(input),
            other => self.refuse(other, "operation not faked"),
        }
    }

    fn put_evaluations(&self, input: &Value, plan: &FaultPlan, attempt: u64) -> Answer {
        if plan.invalid_result_token {
            self.count("invalid_result_token", 1);
            return json_error(
                400,
                "InvalidResultTokenException",
                "The resultToken provided is invalid",
            );
        }
        let evaluations = input["Evaluations"].as_array().cloned().unwrap_or_default();
        if let Err(reason) = validate_put(input, &evaluations) {
            return self.refuse("PutEvaluations", &reason);
        }
        if plan.put_fail_retried.contains(&attempt) {
            self.count("put_failed_retried", 1);
            return json_error(
                503,
                "ServiceUnavailableException",
                &format!("the fake fails PutEvaluations attempt {attempt} (retried)"),
            );
        }
        if plan.put_fail_refused.contains(&attempt) {
            let others = self.other_puts_in_flight();
            self.0
                .journal
                .lock()
                .unwrap()
                .others_in_flight_at_refusal
                .push(others);
            self.count("put_failed_refused", 1);
            return json_error(
                400,
                "InvalidParameterValueException",
                &format!("the fake refuses PutEvaluations attempt {attempt}"),
            );
        }
        let at = self.0.started.elapsed();
        let mut failed = Vec::new();
        let mut received = Vec::with_capacity(evaluations.len());
        for e in &evaluations {
            let id = e["ComplianceResourceId"].as_str().unwrap_or_default();
            // The n-th time this key's evaluation arrives, whatever batch it is in.
            let nth = self.nth(format!("FailedEvaluations|{id}"));
            let mut fail = plan.failed_evaluations > 0.0
                && unit(plan.seed ^ 0xFE, &["FailedEvaluations", id], nth)
                    < plan.failed_evaluations;
            if plan.refuse_always_share > 0.0 || plan.refuse_once_share > 0.0 {
                if let Some(i) = self.0.account.position(id) {
                    let draw = hash01(plan.seed ^ 0x5EED_FA11, i as u64);
                    fail |= draw < plan.refuse_always_share
                        || (nth == 1 && draw < plan.refuse_always_share + plan.refuse_once_share);
                }
            }
            if fail {
                failed.push(e.clone());
            }
            received.push(Received {
                resource_id: id.to_owned(),
                resource_type: e["ComplianceResourceType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                compliance: e["ComplianceType"].as_str().unwrap_or_default().to_owned(),
                annotation: e["Annotation"].as_str().unwrap_or_default().to_owned(),
                ordering_millis: (e["OrderingTimestamp"].as_f64().unwrap_or(-1.0) * 1000.0).round()
                    as i64,
                taken: !fail,
            });
        }
        {
            let mut j = self.inner_journal();
            j.received.extend(received);
            j.batches.push(Batch {
                evaluations: evaluations.len(),
                at,
            });
            if !failed.is_empty() {
                *j.injected
                    .entry("failed_evaluations".to_owned())
                    .or_default() += failed.len();
            }
        }
        json_response(200, json!({ "FailedEvaluations": failed }))
    }

    /// GetComplianceDetailsByConfigRule: the results Config holds ([`crate::Account::with_history`])
    /// of the ComplianceTypes asked for, paged by `Limit` (1..100, default 100) and `NextToken`.
    fn compliance_details(&self, input: &Value) -> Answer {
        let history = self.0.account.history();
        if history.is_empty() {
            return json_response(200, json!({"EvaluationResults": []}));
        }
        let types: Vec<&str> = input["ComplianceTypes"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let all: Vec<&(String, &str)> = history
            .iter()
            .filter(|(_, c)| types.is_empty() || types.contains(c))
            .collect();
        let limit = input["Limit"].as_u64().unwrap_or(100).clamp(1, 100) as usize;
        let start: usize = input["NextToken"]
            .as_str()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let end = (start + limit).min(all.len());
        let results: Vec<Value> = all[start.min(end)..end]
            .iter()
            .map(|(id, compliance)| {
                json!({
                    "EvaluationResultIdentifier": {
                        "EvaluationResultQualifier": {
                            "ConfigRuleName": "kms-rotation-rule",
                            "ResourceType": "AWS::KMS::Key",
                            "ResourceId": id,
                        },
                        "OrderingTimestamp": 1_764_000_000.0,
                    },
                    "ComplianceType": compliance,
                    "ResultRecordedTime": 1_764_000_000.0,
                    "ConfigRuleInvokedTime": 1_764_000_000.0,
                })
            })
            .collect();
        self.inner_journal().results_answered += results.len();
        let mut out = json!({ "EvaluationResults": results });
        if end < all.len() {
            out["NextToken"] = json!(end.to_string());
        }
        json_response(200, out)
    }

    pub(crate) fn sts(&self, plan: &FaultPlan) -> Answer {
        if plan.assume_role_denied {
            self.count("assume_role_denied", 1);
            return query_error(
                403,
                "AccessDenied",
                &format!("User: arn:aws:sts::999988887777:assumed-role/central/fn is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::{ACCOUNT}:role/KmsRotationRuleEvaluation"),
            );
        }
        xml_response(
            200,
            format!(
                r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><AssumedRoleUser><AssumedRoleId>AROAFAKE:kms-rotation-rule</AssumedRoleId><Arn>arn:aws:sts::{ACCOUNT}:assumed-role/KmsRotationRuleEvaluation/kms-rotation-rule</Arn></AssumedRoleUser><Credentials><AccessKeyId>{ASSUMED_ACCESS_KEY_ID}</AccessKeyId><SecretAccessKey>{ASSUMED_SECRET_ACCESS_KEY}</SecretAccessKey><SessionToken>{ASSUMED_SESSION_TOKEN}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult><ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata></AssumeRoleResponse>"#
            ),
        )
    }
}

/// Config's own checks on a PutEvaluations request (its API model's constraints).
fn validate_put(input: &Value, evaluations: &[Value]) -> Result<(), String> {
    if input["ResultToken"].as_str().is_none_or(str::is_empty) {
        return Err("ResultToken is required".into());
    }
    if evaluations.is_empty() || evaluations.len() > 100 {
        return Err(format!(
            "{} evaluations: 1 to 100 allowed",
            evaluations.len()
        ));
    }
    for e in evaluations {
        let chars = |field: &str| e[field].as_str().map(|s| s.chars().count());
        match chars("ComplianceResourceId") {
            Some(1..=768) => {}
            n => {
                return Err(format!(
                    "ComplianceResourceId length {n:?}: 1 to 768 allowed"
                ))
            }
        }
        match chars("ComplianceResourceType") {
            Some(1..=256) => {}
            n => return Err(format!("ComplianceResourceType length {n:?}")),
        }
        match chars("Annotation") {
            None | Some(1..=256) => {}
            n => return Err(format!("Annotation length {n:?}: 1 to 256 allowed")),
        }
        match e["ComplianceType"].as_str() {
            Some("COMPLIANT" | "NON_COMPLIANT" | "NOT_APPLICABLE") => {}
            other => return Err(format!("ComplianceType {other:?} not allowed from a rule")),
        }
        if !e["OrderingTimestamp"].is_number() {
            return Err("OrderingTimestamp is required".into());
        }
    }
    Ok(())
}
