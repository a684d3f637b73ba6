//! AWS Security Hub: sending this crate's findings (BatchImportFindings), reading them and
//! Security Hub's own KMS.4 findings back (GetFindings), and setting the workflow status of the
//! KMS.4 findings of keys under an approved exception (BatchUpdateFindings). Planning the
//! exception sync is pure ([`plan_sync`]); the calls are in [`Hub`].
//!
//! Telling our suppressions apart: when `sync-exceptions` suppresses a KMS.4 finding it sets the
//! user-defined field [`MARKER_FIELD`] to [`MARKER_SUPPRESSED`] and a note written by
//! [`NOTE_AUTHOR`] that starts with [`NOTE_PREFIX`]. A SUPPRESSED finding is ours only when all
//! three hold; a finding suppressed by anyone else (or whose note someone else rewrote since) is
//! never changed. Only findings whose `Compliance.SecurityControlId` is KMS.4, made by Security
//! Hub itself (ProductArn `.../product/aws/securityhub`), about a key that was evaluated in
//! this run, are considered; the GetFindings filter asks for exactly that, and every answer is
//! checked again here (an endpoint that ignores filters cannot widen what is touched).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use aws_sdk_securityhub::error::ProvideErrorMetadata;
use aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsError;
use aws_sdk_securityhub::operation::batch_update_findings::BatchUpdateFindingsError;
use aws_sdk_securityhub::operation::get_findings::GetFindingsError;
use aws_sdk_securityhub::types::{
    AwsKmsKeyDetails, AwsSecurityFinding, AwsSecurityFindingFilters, AwsSecurityFindingIdentifier,
    Compliance, ComplianceStatus, NoteUpdate, Partition, Recommendation, RecordState, Remediation,
    Resource, ResourceDetails, Severity, SeverityLabel, StatusReason, StringFilter,
    StringFilterComparison, WorkflowStatus, WorkflowUpdate,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use thiserror::Error;

use crate::findings::{Asff, CONTROL, GENERATOR_ID};
use kms_rotation_core::aws_error::{describe, throttled};
use kms_rotation_core::pace::Pacer;

/// BatchImportFindings and BatchUpdateFindings take at most 100 findings a call.
pub const MAX_BATCH: usize = 100;
/// GetFindings pages of at most 100.
pub const PAGE_SIZE: i32 = 100;
/// Times a finding that BatchImportFindings or BatchUpdateFindings refused is sent (the first
/// time included) before it is named as failed.
pub const ATTEMPTS: usize = 3;
/// Calls a second, below Security Hub's quotas (BatchImportFindings and BatchUpdateFindings 10/s,
/// GetFindings 3/s); each pace slows down on throttling (see `Pacer`).
pub const IMPORT_RATE: u32 = 10;
pub const UPDATE_RATE: u32 = 10;
pub const GET_RATE: u32 = 3;
/// The user-defined field that marks a KMS.4 finding this tool suppressed.
pub const MARKER_FIELD: &str = "kms-rotation-exception";
pub const MARKER_SUPPRESSED: &str = "suppressed";
pub const MARKER_RELEASED: &str = "released";
/// Notes this tool writes start with this and are signed by [`NOTE_AUTHOR`].
pub const NOTE_PREFIX: &str = "kms-rotation:";
pub const NOTE_AUTHOR: &str = "kms-rotation";
/// ASFF's limit on a note.
pub const MAX_NOTE: usize = 512;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("securityhub:{operation} in {region} failed: {message}")]
pub struct HubError {
    pub operation: &'static str,
    pub region: String,
    pub code: Option<String>,
    pub message: String,
    /// Security Hub answered `InvalidAccessException`, the error the operation's model defines
    /// for an account that is not subscribed to Security Hub in the Region.
    pub not_enabled: bool,
}

/// The errors of the Security Hub operations called here that their models define and this
/// module acts on.
trait HubOperationError {
    /// `InvalidAccessException`: the account is not subscribed to Security Hub in the Region.
    fn is_invalid_access(&self) -> bool;
}

impl HubOperationError for GetFindingsError {
    fn is_invalid_access(&self) -> bool {
        self.is_invalid_access_exception()
    }
}

impl HubOperationError for BatchImportFindingsError {
    fn is_invalid_access(&self) -> bool {
        self.is_invalid_access_exception()
    }
}

impl HubOperationError for BatchUpdateFindingsError {
    fn is_invalid_access(&self) -> bool {
        self.is_invalid_access_exception()
    }
}

/// An ASFF finding as the SDK sends it.
pub fn to_sdk(a: &Asff) -> AwsSecurityFinding {
    let r = &a.resources;
    let resources: Vec<Resource> = r
        .iter()
        .map(|r| {
            let k = &r.details.aws_kms_key;
            Resource::builder()
                .r#type(&r.kind)
                .id(&r.id)
                .partition(Partition::from(r.partition.as_str()))
                .region(&r.region)
                .details(
                    ResourceDetails::builder()
                        .aws_kms_key(
                            AwsKmsKeyDetails::builder()
                                .aws_account_id(&k.aws_account_id)
                                .key_id(&k.key_id)
                                .set_key_manager(k.key_manager.clone())
                                .set_key_state(k.key_state.clone())
                                .set_origin(k.origin.clone())
                                .set_key_rotation_status(k.key_rotation_status)
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
        .collect();
    let reasons = a
        .compliance
        .status_reasons
        .iter()
        .map(|s| {
            StatusReason::builder()
                .reason_code(&s.reason_code)
                .description(&s.description)
                .build()
        })
        .collect();
    AwsSecurityFinding::builder()
        .schema_version(&a.schema_version)
        .id(&a.id)
        .product_arn(&a.product_arn)
        .generator_id(&a.generator_id)
        .aws_account_id(&a.aws_account_id)
        .region(&a.region)
        .set_types(Some(a.types.clone()))
        .first_observed_at(&a.first_observed_at)
        .last_observed_at(&a.last_observed_at)
        .created_at(&a.created_at)
        .updated_at(&a.updated_at)
        .severity(
            Severity::builder()
                .label(SeverityLabel::from(a.severity.label.as_str()))
                .original(&a.severity.original)
                .build(),
        )
        .title(&a.title)
        .description(&a.description)
        .remediation(
            Remediation::builder()
                .recommendation(
                    Recommendation::builder()
                        .text(&a.remediation.recommendation.text)
                        .url(&a.remediation.recommendation.url)
                        .build(),
                )
                .build(),
        )
        .set_product_fields(Some(
            a.product_fields
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
        .set_resources(Some(resources))
        .compliance(
            Compliance::builder()
                .status(ComplianceStatus::from(a.compliance.status.as_str()))
                .set_related_requirements(Some(a.compliance.related_requirements.clone()))
                .set_status_reasons(Some(reasons))
                .build(),
        )
        .record_state(RecordState::from(a.record_state.as_str()))
        .build()
}

fn equals(value: &str) -> StringFilter {
    StringFilter::builder()
        .value(value)
        .comparison(StringFilterComparison::Equals)
        .build()
}

/// The ProductArn of Security Hub's own control findings in a Region.
pub fn securityhub_product_arn(partition: &str, region: &str) -> String {
    format!("arn:{partition}:securityhub:{region}::product/aws/securityhub")
}

/// One of this crate's findings, as Security Hub holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnFinding {
    pub id: String,
    /// The key's ARN (the finding's first resource).
    pub resource_arn: Option<String>,
    pub created_at: Option<String>,
}

/// A Security Hub KMS.4 finding, as far as the sync needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFinding {
    pub id: String,
    pub product_arn: String,
    pub resource_ids: Vec<String>,
    pub control_id: Option<String>,
    /// PASSED, FAILED, ...
    pub compliance: Option<String>,
    /// NEW, NOTIFIED, SUPPRESSED, RESOLVED.
    pub workflow: Option<String>,
    pub note_text: Option<String>,
    pub note_author: Option<String>,
    /// The value of [`MARKER_FIELD`].
    pub marker: Option<String>,
}

impl ControlFinding {
    pub fn from_sdk(f: &AwsSecurityFinding) -> Option<Self> {
        Some(Self {
            id: f.id.clone()?,
            product_arn: f.product_arn.clone()?,
            resource_ids: f
                .resources
                .iter()
                .flatten()
                .filter_map(|r| r.id.clone())
                .collect(),
            control_id: f
                .compliance
                .as_ref()
                .and_then(|c| c.security_control_id.clone()),
            compliance: f
                .compliance
                .as_ref()
                .and_then(|c| c.status.as_ref())
                .map(|s| s.as_str().to_owned()),
            workflow: f
                .workflow
                .as_ref()
                .and_then(|w| w.status.as_ref())
                .map(|s| s.as_str().to_owned()),
            note_text: f.note.as_ref().and_then(|n| n.text.clone()),
            note_author: f.note.as_ref().and_then(|n| n.updated_by.clone()),
            marker: f
                .user_defined_fields
                .as_ref()
                .and_then(|u| u.get(MARKER_FIELD).cloned()),
        })
    }

    /// Suppressed by this tool, and nobody changed the note since.
    pub fn suppressed_by_us(&self) -> bool {
        self.workflow.as_deref() == Some("SUPPRESSED")
            && self.marker.as_deref() == Some(MARKER_SUPPRESSED)
            && self.note_author.as_deref() == Some(NOTE_AUTHOR)
            && self
                .note_text
                .as_deref()
                .is_some_and(|t| t.starts_with(NOTE_PREFIX))
    }
}

/// What the exception tag of an evaluated key says, for the sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyException {
    /// Rotation off under a valid exception.
    Valid {
        owner: String,
        expires: String,
        ticket: Option<String>,
    },
    Expired {
        owner: String,
        expires: String,
    },
    Malformed(String),
    /// No exception applies (no tag, rotation on, out of scope, ...): the verdict's reason code.
    NotExcepted(String),
}

/// What the sync does to one KMS.4 finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStep {
    /// Workflow NEW/NOTIFIED to SUPPRESSED, with the note.
    Suppress(String),
    /// Ours, still suppressed: the exception changed, so the note does.
    Renote(String),
    /// Ours, the exception is gone: back to NEW, with a note saying why.
    Release(String),
    /// Nothing is changed, and this is why (someone else's decision).
    Leave(String),
}

impl SyncStep {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Suppress(_) => "suppress",
            Self::Renote(_) => "update-note",
            Self::Release(_) => "release",
            Self::Leave(_) => "leave",
        }
    }
    pub fn text(&self) -> &str {
        match self {
            Self::Suppress(t) | Self::Renote(t) | Self::Release(t) | Self::Leave(t) => t,
        }
    }
    pub fn is_change(&self) -> bool {
        !matches!(self, Self::Leave(_))
    }
    /// The workflow status and marker a change sets.
    fn target(&self) -> Option<(WorkflowStatus, &'static str)> {
        match self {
            Self::Suppress(_) | Self::Renote(_) => {
                Some((WorkflowStatus::Suppressed, MARKER_SUPPRESSED))
            }
            Self::Release(_) => Some((WorkflowStatus::New, MARKER_RELEASED)),
            Self::Leave(_) => None,
        }
    }
}

/// One planned step on one finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncItem {
    pub finding_id: String,
    pub product_arn: String,
    pub key_arn: String,
    pub step: SyncStep,
}

fn note(text: String) -> String {
    let text = format!("{NOTE_PREFIX} {text}");
    if text.chars().count() <= MAX_NOTE {
        return text;
    }
    let mut out: String = text.chars().take(MAX_NOTE - 4).collect();
    out.push_str(" ...");
    out
}

/// The note of a suppression: owner, expiry, ticket.
pub fn suppress_note(owner: &str, expires: &str, ticket: Option<&str>, tag_key: &str) -> String {
    note(format!(
        "approved exception (tag {tag_key}): owner {owner}, expires {expires}{}. Suppressed by kms-rotation securityhub sync-exceptions; set back to NEW when the exception ends.",
        ticket.map(|t| format!(", ticket {t}")).unwrap_or_default()
    ))
}

fn release_note(why: &KeyException, tag_key: &str) -> String {
    note(match why {
        KeyException::Expired { owner, expires } => format!(
            "the approved exception (tag {tag_key}, owner {owner}) expired on {expires}; set back to NEW."
        ),
        KeyException::Malformed(reason) => format!(
            "the exception tag {tag_key} is malformed ({reason}); set back to NEW."
        ),
        KeyException::NotExcepted(code) => format!(
            "the key is no longer under an approved exception (tag {tag_key} removed or no longer needed; reason {code}); set back to NEW."
        ),
        KeyException::Valid { .. } => "set back to NEW.".to_owned(),
    })
}

/// The steps that bring Security Hub's KMS.4 findings in line with the keys' exceptions.
/// `keys` maps a key ARN to its exception; findings about keys not in it are left alone, and so
/// are findings of other controls or other products. A finding already in step gives no item.
pub fn plan_sync(
    findings: &[ControlFinding],
    keys: &HashMap<String, KeyException>,
    partition: &str,
    region: &str,
    tag_key: &str,
) -> Vec<SyncItem> {
    let product = securityhub_product_arn(partition, region);
    let mut out = Vec::new();
    for f in findings {
        if f.control_id.as_deref() != Some(CONTROL) || f.product_arn != product {
            continue;
        }
        let Some((arn, exception)) = f
            .resource_ids
            .iter()
            .find_map(|id| keys.get(id).map(|e| (id, e)))
        else {
            continue;
        };
        let workflow = f.workflow.as_deref().unwrap_or("NEW");
        let step = match exception {
            KeyException::Valid {
                owner,
                expires,
                ticket,
            } => {
                let wanted = suppress_note(owner, expires, ticket.as_deref(), tag_key);
                if f.compliance.as_deref() == Some("PASSED") {
                    None
                } else if f.suppressed_by_us() {
                    (f.note_text.as_deref() != Some(wanted.as_str()))
                        .then_some(SyncStep::Renote(wanted))
                } else {
                    match workflow {
                        "NEW" | "NOTIFIED" => Some(SyncStep::Suppress(wanted)),
                        "SUPPRESSED" => Some(SyncStep::Leave(format!(
                            "suppressed by someone else ({}): left as it is",
                            f.note_text.as_deref().unwrap_or("no note")
                        ))),
                        other => Some(SyncStep::Leave(format!(
                            "workflow status {other} set by someone else: left as it is"
                        ))),
                    }
                }
            }
            other => f
                .suppressed_by_us()
                .then(|| SyncStep::Release(release_note(other, tag_key))),
        };
        if let Some(step) = step {
            out.push(SyncItem {
                finding_id: f.id.clone(),
                product_arn: f.product_arn.clone(),
                key_arn: arn.clone(),
                step,
            });
        }
    }
    out.sort_by(|a, b| a.key_arn.cmp(&b.key_arn));
    out
}

/// A finding BatchImportFindings or BatchUpdateFindings refused every time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub id: String,
    pub code: String,
    pub message: String,
}

/// What a batch operation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub done: Vec<String>,
    pub refused: Vec<Refused>,
}

/// Security Hub in one Region.
#[derive(Debug)]
pub struct Hub {
    client: aws_sdk_securityhub::Client,
    region: String,
    import_pace: Pacer,
    update_pace: Pacer,
    get_pace: Pacer,
}

impl Hub {
    pub fn new(client: aws_sdk_securityhub::Client, region: &str) -> Self {
        Self {
            client,
            region: region.to_owned(),
            import_pace: Pacer::new(IMPORT_RATE),
            update_pace: Pacer::new(UPDATE_RATE),
            get_pace: Pacer::new(GET_RATE),
        }
    }

    fn error<E>(&self, operation: &'static str, e: &SdkError<E, HttpResponse>) -> HubError
    where
        E: HubOperationError + ProvideErrorMetadata + std::error::Error + 'static,
    {
        HubError {
            operation,
            region: self.region.clone(),
            code: e.code().map(str::to_owned),
            message: describe(e),
            not_enabled: e.as_service_error().is_some_and(E::is_invalid_access),
        }
    }

    /// Every finding GetFindings returns for `filters`, paged by the SDK's paginator, each page
    /// paced. A throttled page (after the SDK's retries) is asked for again, up to [`ATTEMPTS`]
    /// times in all, by a paginator that starts from the token of the last page read.
    async fn get_all(
        &self,
        filters: AwsSecurityFindingFilters,
    ) -> Result<Vec<AwsSecurityFinding>, HubError> {
        let mut out = Vec::new();
        // The token of the next page: the one the last page read gave.
        let mut token: Option<String> = None;
        let mut retries = 0;
        loop {
            let mut pages = self
                .client
                .get_findings()
                .filters(filters.clone())
                .max_results(PAGE_SIZE)
                .set_next_token(token.clone())
                .into_paginator()
                .send();
            loop {
                self.get_pace.ready().await;
                // The paginator ends only after a page without a new token, never asked for.
                let Some(page) = pages.next().await else {
                    return Ok(out);
                };
                match page {
                    Ok(page) => {
                        self.get_pace.answered();
                        retries = 0;
                        out.extend(page.findings.unwrap_or_default());
                        // As the paginator: no token, an empty one or the same one again ends it.
                        match page.next_token.filter(|t| !t.is_empty()) {
                            Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                            _ => return Ok(out),
                        }
                    }
                    Err(e) if throttled(&e) && retries + 1 < ATTEMPTS => {
                        self.get_pace.throttled();
                        retries += 1;
                        break;
                    }
                    Err(e) => return Err(self.error("GetFindings", &e)),
                }
            }
        }
    }

    /// This crate's active findings under `product_arn` (to keep their CreatedAt, and to archive
    /// those of deleted keys).
    #[tracing::instrument(skip(self))]
    pub async fn own_findings(&self, product_arn: &str) -> Result<Vec<OwnFinding>, HubError> {
        let filters = AwsSecurityFindingFilters::builder()
            .product_arn(equals(product_arn))
            .generator_id(equals(GENERATOR_ID))
            .record_state(equals("ACTIVE"))
            .build();
        Ok(self
            .get_all(filters)
            .await?
            .into_iter()
            // Checked again: an endpoint may ignore filters.
            .filter(|f| {
                f.product_arn.as_deref() == Some(product_arn)
                    && f.generator_id.as_deref() == Some(GENERATOR_ID)
                    && f.record_state != Some(RecordState::Archived)
            })
            .filter_map(|f| {
                Some(OwnFinding {
                    id: f.id?,
                    resource_arn: f.resources.into_iter().flatten().find_map(|r| r.id),
                    created_at: f.created_at,
                })
            })
            .collect())
    }

    /// Security Hub's own active KMS.4 findings in this Region, paged once.
    #[tracing::instrument(skip(self))]
    pub async fn control_findings(&self, partition: &str) -> Result<Vec<ControlFinding>, HubError> {
        let product = securityhub_product_arn(partition, &self.region);
        let filters = AwsSecurityFindingFilters::builder()
            .product_arn(equals(&product))
            .compliance_security_control_id(equals(CONTROL))
            .resource_type(equals("AwsKmsKey"))
            .record_state(equals("ACTIVE"))
            .build();
        Ok(self
            .get_all(filters)
            .await?
            .iter()
            .filter(|f| f.record_state != Some(RecordState::Archived))
            .filter_map(ControlFinding::from_sdk)
            .filter(|f| f.product_arn == product && f.control_id.as_deref() == Some(CONTROL))
            .collect())
    }

    /// Send `findings` with BatchImportFindings, at most [`MAX_BATCH`] a call, calls paced. The
    /// findings named in FailedFindings are sent again, up to [`ATTEMPTS`] times in all; a call
    /// that fails (after the SDK's retries) fails its whole batch.
    #[tracing::instrument(skip_all, fields(region = %self.region, findings = findings.len()))]
    pub async fn import(&self, findings: &[Asff]) -> Report {
        let all: Vec<&Asff> = findings.iter().collect();
        let batches = Batches {
            operation: "BatchImportFindings",
            pace: &self.import_pace,
            id: |a: &Asff| a.id.clone(),
        };
        self.send_batches(&batches, &all, |pending| {
            let sent = self
                .client
                .batch_import_findings()
                .set_findings(Some(pending.iter().map(|a| to_sdk(a)).collect()))
                .send();
            async move {
                let out = sent.await?;
                Ok(out
                    .failed_findings
                    .unwrap_or_default()
                    .into_iter()
                    .map(|f| Refused {
                        id: f.id.unwrap_or_default(),
                        code: f.error_code.unwrap_or_default(),
                        message: f.error_message.unwrap_or_default(),
                    })
                    .collect())
            }
        })
        .await
    }

    /// Apply the changes of `items` with BatchUpdateFindings: one call per distinct (status,
    /// note), at most [`MAX_BATCH`] findings a call, paced; UnprocessedFindings sent again up to
    /// [`ATTEMPTS`] times in all, then named.
    #[tracing::instrument(skip_all, fields(region = %self.region, items = items.len()))]
    pub async fn update(&self, items: &[SyncItem]) -> Report {
        let mut groups: BTreeMap<(String, String, String), Vec<&SyncItem>> = BTreeMap::new();
        for item in items {
            if let Some((status, marker)) = item.step.target() {
                groups
                    .entry((
                        status.as_str().to_owned(),
                        marker.to_owned(),
                        item.step.text().to_owned(),
                    ))
                    .or_default()
                    .push(item);
            }
        }
        let batches = Batches {
            operation: "BatchUpdateFindings",
            pace: &self.update_pace,
            id: |i: &SyncItem| i.finding_id.clone(),
        };
        let mut report = Report::default();
        for ((status, marker, text), group) in groups {
            let done = self
                .send_batches(&batches, &group, |pending| {
                    self.update_call(pending, &status, &marker, &text)
                })
                .await;
            report.done.extend(done.done);
            report.refused.extend(done.refused);
        }
        report
    }

    /// One BatchUpdateFindings call: `pending` to `status`, with the note `text` and `marker`;
    /// the findings it did not process, refused.
    fn update_call(
        &self,
        pending: &[&SyncItem],
        status: &str,
        marker: &str,
        text: &str,
    ) -> impl Future<Output = Result<Vec<Refused>, SdkError<BatchUpdateFindingsError, HttpResponse>>>
           + use<> {
        let sent = self
            .client
            .batch_update_findings()
            .set_finding_identifiers(Some(
                pending
                    .iter()
                    .map(|i| {
                        AwsSecurityFindingIdentifier::builder()
                            .id(&i.finding_id)
                            .product_arn(&i.product_arn)
                            .build()
                    })
                    .collect(),
            ))
            .workflow(
                WorkflowUpdate::builder()
                    .status(WorkflowStatus::from(status))
                    .build(),
            )
            .note(
                NoteUpdate::builder()
                    .text(text)
                    .updated_by(NOTE_AUTHOR)
                    .build(),
            )
            .user_defined_fields(MARKER_FIELD, marker)
            .send();
        async move {
            let out = sent.await?;
            Ok(out
                .unprocessed_findings
                .unwrap_or_default()
                .into_iter()
                .map(|u| Refused {
                    id: u.finding_identifier.and_then(|f| f.id).unwrap_or_default(),
                    code: u.error_code.unwrap_or_default(),
                    message: u.error_message.unwrap_or_default(),
                })
                .collect())
        }
    }

    /// The loop of both batch operations: `items`, at most [`MAX_BATCH`] a call, each call paced
    /// by `batches.pace`; `send` makes one call of the pending items and returns the ones it
    /// refused. Refused items are sent again, up to [`ATTEMPTS`] times in all, then named; a call
    /// that fails (after the SDK's retries) refuses its whole batch with its error.
    async fn send_batches<'a, T, I, E, F, Fut>(
        &self,
        batches: &Batches<'_, I>,
        items: &[&'a T],
        mut send: F,
    ) -> Report
    where
        I: Fn(&T) -> String,
        F: FnMut(&[&'a T]) -> Fut,
        Fut: Future<Output = Result<Vec<Refused>, SdkError<E, HttpResponse>>>,
        E: HubOperationError + ProvideErrorMetadata + std::error::Error + 'static,
    {
        let mut report = Report::default();
        for batch in items.chunks(MAX_BATCH) {
            let mut pending: Vec<&T> = batch.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                attempt += 1;
                batches.pace.ready().await;
                let failed: HashMap<String, Refused> = match send(&pending).await {
                    Ok(refused) => {
                        batches.pace.answered();
                        refused.into_iter().map(|r| (r.id.clone(), r)).collect()
                    }
                    Err(e) => {
                        if throttled(&e) {
                            batches.pace.throttled();
                        }
                        let err = self.error(batches.operation, &e);
                        pending
                            .iter()
                            .map(|t| {
                                let id = (batches.id)(t);
                                let refused = Refused {
                                    id: id.clone(),
                                    code: err.code.clone().unwrap_or_default(),
                                    message: err.message.clone(),
                                };
                                (id, refused)
                            })
                            .collect()
                    }
                };
                let (retry, ok): (Vec<&T>, Vec<&T>) = pending
                    .into_iter()
                    .partition(|t| failed.contains_key(&(batches.id)(t)));
                report.done.extend(ok.into_iter().map(|t| (batches.id)(t)));
                if attempt >= ATTEMPTS {
                    report.refused.extend(
                        retry
                            .iter()
                            .filter_map(|t| failed.get(&(batches.id)(t)).cloned()),
                    );
                    break;
                }
                if !retry.is_empty() {
                    tracing::warn!(
                        operation = batches.operation,
                        count = retry.len(),
                        attempt,
                        "findings refused; sending them again"
                    );
                }
                pending = retry;
            }
        }
        report
    }
}

/// What [`Hub::send_batches`] needs of a batch operation besides the call.
struct Batches<'p, I> {
    operation: &'static str,
    pace: &'p Pacer,
    /// The finding id of an item.
    id: I,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/k-1";

    fn finding(workflow: &str) -> ControlFinding {
        ControlFinding {
            id: "arn:aws:securityhub:us-east-1:111122223333:security-control/KMS.4/finding/f-1"
                .into(),
            product_arn: securityhub_product_arn("aws", "us-east-1"),
            resource_ids: vec![KEY.into()],
            control_id: Some("KMS.4".into()),
            compliance: Some("FAILED".into()),
            workflow: Some(workflow.into()),
            note_text: None,
            note_author: None,
            marker: None,
        }
    }

    fn ours(note: &str) -> ControlFinding {
        ControlFinding {
            note_text: Some(note.into()),
            note_author: Some(NOTE_AUTHOR.into()),
            marker: Some(MARKER_SUPPRESSED.into()),
            ..finding("SUPPRESSED")
        }
    }

    fn valid() -> KeyException {
        KeyException::Valid {
            owner: "payments".into(),
            expires: "2027-03-31".into(),
            ticket: Some("SEC-42".into()),
        }
    }

    fn plan(findings: &[ControlFinding], e: KeyException) -> Vec<SyncStep> {
        let keys = HashMap::from([(KEY.to_owned(), e)]);
        plan_sync(
            findings,
            &keys,
            "aws",
            "us-east-1",
            "kms-rotation-exception",
        )
        .into_iter()
        .map(|i| i.step)
        .collect()
    }

    fn wanted() -> String {
        suppress_note(
            "payments",
            "2027-03-31",
            Some("SEC-42"),
            "kms-rotation-exception",
        )
    }

    #[test]
    fn a_new_finding_of_an_excepted_key_is_suppressed_with_owner_expiry_and_ticket() {
        for wf in ["NEW", "NOTIFIED"] {
            let steps = plan(&[finding(wf)], valid());
            assert_eq!(steps, [SyncStep::Suppress(wanted())]);
        }
        let text = wanted();
        assert!(text.starts_with(NOTE_PREFIX));
        for part in ["owner payments", "expires 2027-03-31", "ticket SEC-42"] {
            assert!(text.contains(part), "{text}");
        }
    }

    #[test]
    fn our_suppression_is_left_when_in_step_and_renoted_when_the_exception_changed() {
        assert!(plan(&[ours(&wanted())], valid()).is_empty());
        let old = suppress_note("payments", "2026-12-31", None, "kms-rotation-exception");
        assert_eq!(plan(&[ours(&old)], valid()), [SyncStep::Renote(wanted())]);
    }

    #[test]
    fn our_suppression_is_released_when_the_exception_ends_saying_why() {
        for (e, says) in [
            (
                KeyException::Expired {
                    owner: "payments".into(),
                    expires: "2026-01-01".into(),
                },
                "expired on 2026-01-01",
            ),
            (
                KeyException::Malformed("expires= is missing".into()),
                "malformed",
            ),
            (
                KeyException::NotExcepted("ROTATION_OFF".into()),
                "no longer under",
            ),
        ] {
            let steps = plan(&[ours(&wanted())], e);
            let [SyncStep::Release(text)] = steps.as_slice() else {
                panic!("{steps:?}")
            };
            assert!(text.contains(says), "{text}");
        }
    }

    #[test]
    fn someone_elses_suppression_is_never_touched() {
        // Suppressed by a person, with their note.
        let mut theirs = finding("SUPPRESSED");
        theirs.note_text = Some("accepted risk, see RISK-7".into());
        theirs.note_author = Some("arn:aws:iam::111122223333:user/alice".into());
        assert!(plan(
            &[theirs.clone()],
            KeyException::NotExcepted("ROTATION_OFF".into())
        )
        .is_empty());
        let steps = plan(&[theirs.clone()], valid());
        assert!(
            matches!(steps.as_slice(), [SyncStep::Leave(_)]),
            "{steps:?}"
        );
        // Ours once, but someone rewrote the note since: theirs now.
        let mut rewritten = ours(&wanted());
        rewritten.note_text = Some("kept suppressed until the migration".into());
        rewritten.note_author = Some("alice".into());
        assert!(plan(
            &[rewritten],
            KeyException::NotExcepted("ROTATION_OFF".into())
        )
        .is_empty());
        // Resolved by hand.
        assert!(matches!(
            plan(&[finding("RESOLVED")], valid()).as_slice(),
            [SyncStep::Leave(_)]
        ));
    }

    #[test]
    fn other_controls_products_and_keys_are_never_touched() {
        let mut other_control = finding("NEW");
        other_control.control_id = Some("KMS.3".into());
        let mut other_product = finding("NEW");
        other_product.product_arn = "arn:aws:securityhub:us-east-1::product/prowler/prowler".into();
        let mut other_key = finding("NEW");
        other_key.resource_ids = vec!["arn:aws:kms:us-east-1:111122223333:key/other".into()];
        let mut passed = finding("NEW");
        passed.compliance = Some("PASSED".into());
        assert!(plan(&[other_control, other_product, other_key, passed], valid()).is_empty());
    }

    #[test]
    fn notes_stay_within_the_asff_limit() {
        let text = suppress_note(&"o".repeat(600), "2027-01-01", None, "t");
        assert_eq!(text.chars().count(), MAX_NOTE);
    }
}
