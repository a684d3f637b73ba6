//! `kms-rotation audit`: every key of every Region, through the rule's own evaluation
//! ([`evaluate_key_id`]), a few keys at a time.

use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use serde::{Serialize, Serializer};

use super::args::{AuditOutput, Output};
use super::output::{or_dash, progress, warn, Report, Row};
use super::session::Session;
use super::{CliError, Exit};
use crate::decision::{Compliance, Reason};
use crate::evaluate::{evaluate_key_id, evaluate_listed, KeyEvaluation, Listed};
use crate::kms::Aliases;
use crate::kms::KmsRegion;
use crate::params::RuleParameters;

/// Keys evaluated at once in a Region.
pub(super) const CONCURRENCY: usize = 16;

/// One key, evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct Audited {
    pub region: String,
    pub alias: Option<String>,
    pub evaluation: KeyEvaluation,
}

impl Audited {
    /// The key ARN, when KMS gave it.
    pub fn arn(&self) -> Option<&str> {
        self.evaluation
            .facts
            .as_ref()
            .and_then(|f| f.arn.as_deref())
    }

    /// The rule's verdict on the key.
    pub fn compliance(&self) -> Compliance {
        self.evaluation.verdict.compliance
    }
}

/// The JSON line: `resourceId`, `arn`, `region`, `alias`, `complianceType`, `reason`,
/// `annotation`.
impl Serialize for Audited {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Line<'a> {
            resource_id: &'a str,
            arn: Option<&'a str>,
            region: &'a str,
            alias: Option<&'a str>,
            compliance_type: &'static str,
            reason: Reason,
            annotation: &'a str,
        }
        let verdict = &self.evaluation.verdict;
        Line {
            resource_id: &self.evaluation.key_id,
            arn: self.arn(),
            region: &self.region,
            alias: self.alias.as_deref(),
            compliance_type: verdict.compliance.as_str(),
            reason: verdict.reason,
            annotation: &verdict.annotation,
        }
        .serialize(serializer)
    }
}

impl Row for Audited {
    const HEADERS: &'static [&'static str] =
        &["KEY ID", "ALIAS", "REGION", "COMPLIANCE", "ANNOTATION"];
    const NOT_READ: &'static str = "not evaluated";

    fn cells(&self) -> Vec<String> {
        vec![
            self.evaluation.key_id.clone(),
            or_dash(self.alias.as_deref()),
            self.region.clone(),
            self.compliance().to_string(),
            self.evaluation.verdict.annotation.clone(),
        ]
    }

    fn is_finding(&self) -> bool {
        self.compliance() == Compliance::NonCompliant
    }
}

/// What an audit found: the keys (ordered by Region, then key id), the keys or Regions it could
/// not evaluate, and warnings that do not change a verdict.
#[derive(Debug, Default)]
pub(super) struct AuditRun {
    pub keys: Vec<Audited>,
    pub errors: Vec<CliError>,
    pub warnings: Vec<String>,
}

/// Evaluate every key of every Region with the rule's decision.
pub(super) async fn evaluate_regions(
    regions: &[KmsRegion],
    params: &RuleParameters,
    today: NaiveDate,
) -> AuditRun {
    let mut run = AuditRun::default();
    let progress = progress(None, "key(s) evaluated");
    for r in regions {
        progress.set_message(format!("({})", r.region));
        let aliases = match r.reader.aliases().await {
            Ok(a) => a,
            Err(e) => {
                run.warnings.push(format!(
                    "aliases not shown for {}: {}",
                    r.region,
                    super::explain_kms(&r.region, &e)
                ));
                Aliases::default()
            }
        };
        let reader = &r.reader;
        let mut results =
            std::pin::pin!(evaluate_listed(reader, CONCURRENCY, |key_id| async move {
                evaluate_key_id(reader, &key_id, params, today).await
            }));
        // Read to the end even after the listing broke: keys already listed are finished.
        while let Some(listed) = results.next().await {
            progress.inc(1);
            match listed {
                Listed::Key(Ok(evaluation)) => run.keys.push(Audited {
                    region: r.region.clone(),
                    alias: aliases.get(&evaluation.key_id).map(str::to_owned),
                    evaluation,
                }),
                Listed::Key(Err(e)) => run.errors.push(CliError::kms(&r.region, e)),
                // Keys after this point were never seen.
                Listed::ListingBroke(e) => run.errors.push(CliError::kms(&r.region, e)),
            }
        }
    }
    progress.finish_and_clear();
    run.keys
        .sort_by(|a, b| (&a.region, &a.evaluation.key_id).cmp(&(&b.region, &b.evaluation.key_id)));
    run
}

/// The counts line printed after the results.
fn summary(report: &Report<Audited>, regions: usize) -> String {
    let count = |compliance| report.count(|k| k.compliance() == compliance);
    format!(
        "{} key(s) in {regions} Region(s): {} COMPLIANT, {} NON_COMPLIANT, {} NOT_APPLICABLE, {} not evaluated (errors)",
        report.rows.len(),
        count(Compliance::Compliant),
        count(Compliance::NonCompliant),
        count(Compliance::NotApplicable),
        report.errors.len(),
    )
}

/// `kms-rotation audit`: read every key, then report the verdicts (or findings made of them).
pub(super) async fn command(
    session: &Session,
    params: &RuleParameters,
    output: AuditOutput,
) -> Result<Exit, CliError> {
    let regions: Vec<KmsRegion> = session.kms_regions(params);
    let run = evaluate_regions(&regions, params, Utc::now().date_naive()).await;
    warn(&run.warnings);
    let mut report = Report {
        rows: run.keys,
        errors: run.errors,
    };
    let summary = summary(&report, regions.len());
    match output {
        AuditOutput::Table => report.print(Output::Table, &summary)?,
        AuditOutput::Json => report.print(Output::Json, &summary)?,
        AuditOutput::Ocsf | AuditOutput::Asff => {
            let ocsf = output == AuditOutput::Ocsf;
            let (findings, errors) = super::securityhub::audit_findings(
                &regions,
                &report.rows,
                params,
                ocsf,
                Utc::now(),
            )
            .await;
            report.errors.extend(errors);
            report.print_json(&findings, &summary)?;
        }
    }
    Ok(report.exit())
}
