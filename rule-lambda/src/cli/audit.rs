//! `kms-rotation audit`: every key of every Region, through the rule's own evaluation
//! ([`evaluate_key_id`]), a few keys at a time.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use serde_json::{json, Value};

use super::args::AuditOutput;
use super::output::{json_lines, or_dash, table};
use super::session::Session;
use super::{CliError, Exit};
use crate::aws_error::{code, describe};
use crate::decision::Compliance;
use crate::evaluate::{evaluate_key_id, evaluate_listed, KeyEvaluation, Listed};
use crate::kms::KmsError;
use crate::params::RuleParameters;
use crate::remediate::KmsRegion;

/// Keys evaluated at once in a Region.
pub const CONCURRENCY: usize = 16;

/// One key, evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct Audited {
    pub region: String,
    pub alias: Option<String>,
    pub evaluation: KeyEvaluation,
}

impl Audited {
    pub fn arn(&self) -> Option<&str> {
        self.evaluation
            .facts
            .as_ref()
            .and_then(|f| f.arn.as_deref())
    }

    pub fn compliance(&self) -> Compliance {
        self.evaluation.verdict.compliance
    }

    pub fn to_json(&self) -> Value {
        json!({
            "resourceId": self.evaluation.key_id,
            "arn": self.arn(),
            "region": self.region,
            "alias": self.alias,
            "complianceType": self.compliance().as_str(),
            "reason": self.evaluation.verdict.reason,
            "annotation": self.evaluation.verdict.annotation,
        })
    }
}

/// What an audit found: the keys (ordered by Region, then key id), the keys or Regions it could
/// not evaluate, and warnings that do not change a verdict.
#[derive(Debug, Default)]
pub struct AuditRun {
    pub keys: Vec<Audited>,
    pub errors: Vec<CliError>,
    pub warnings: Vec<String>,
}

impl AuditRun {
    pub fn count(&self, compliance: Compliance) -> usize {
        self.keys
            .iter()
            .filter(|k| k.compliance() == compliance)
            .count()
    }
}

/// Evaluate every key of every Region with the rule's decision.
pub async fn evaluate_regions(
    regions: &[KmsRegion],
    params: &RuleParameters,
    today: NaiveDate,
) -> AuditRun {
    let mut run = AuditRun::default();
    for r in regions {
        let aliases = match aliases(&r.client).await {
            Ok(a) => a,
            Err(e) => {
                run.warnings.push(format!(
                    "aliases not shown for {}: {}",
                    r.region,
                    super::explain_kms(&r.region, &e)
                ));
                HashMap::new()
            }
        };
        let reader = &r.reader;
        let mut results =
            std::pin::pin!(evaluate_listed(reader, CONCURRENCY, |key_id| async move {
                evaluate_key_id(reader, &key_id, params, today).await
            }));
        // Read to the end even after the listing broke: keys already listed are finished.
        while let Some(listed) = results.next().await {
            match listed {
                Listed::Key(Ok(evaluation)) => run.keys.push(Audited {
                    region: r.region.clone(),
                    alias: aliases.get(&evaluation.key_id).cloned(),
                    evaluation,
                }),
                Listed::Key(Err(e)) => run.errors.push(CliError::kms(&r.region, e)),
                // Keys after this point were never seen.
                Listed::ListingBroke(e) => run.errors.push(CliError::kms(&r.region, e)),
            }
        }
    }
    run.keys
        .sort_by(|a, b| (&a.region, &a.evaluation.key_id).cmp(&(&b.region, &b.evaluation.key_id)));
    run
}

/// Key id to alias name (the first by name when a key has several), from ListAliases.
pub async fn aliases(client: &aws_sdk_kms::Client) -> Result<HashMap<String, String>, KmsError> {
    let mut out: HashMap<String, String> = HashMap::new();
    let mut items = client
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
        if let (Some(key_id), Some(name)) = (alias.target_key_id, alias.alias_name) {
            out.entry(key_id)
                .and_modify(|cur| {
                    if name < *cur {
                        cur.clone_from(&name)
                    }
                })
                .or_insert(name);
        }
    }
    Ok(out)
}

/// The counts line printed after the results.
pub fn summary(run: &AuditRun, regions: usize) -> String {
    format!(
        "{} key(s) in {regions} Region(s): {} COMPLIANT, {} NON_COMPLIANT, {} NOT_APPLICABLE, {} not evaluated (errors)",
        run.keys.len(),
        run.count(Compliance::Compliant),
        run.count(Compliance::NonCompliant),
        run.count(Compliance::NotApplicable),
        run.errors.len(),
    )
}

/// The exit status: errors first, then NON_COMPLIANT keys.
pub fn exit(run: &AuditRun) -> Exit {
    if !run.errors.is_empty() {
        Exit::Error
    } else if run.count(Compliance::NonCompliant) > 0 {
        Exit::Findings
    } else {
        Exit::Clean
    }
}

pub fn render_table(keys: &[Audited]) -> String {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.evaluation.key_id.clone(),
                or_dash(k.alias.as_deref()),
                k.region.clone(),
                k.compliance().to_string(),
                k.evaluation.verdict.annotation.clone(),
            ]
        })
        .collect();
    table(
        &["KEY ID", "ALIAS", "REGION", "COMPLIANCE", "ANNOTATION"],
        &rows,
    )
}

pub async fn command(
    session: &Session,
    params: &RuleParameters,
    output: AuditOutput,
) -> Result<Exit, CliError> {
    let regions: Vec<KmsRegion> = session.kms_regions(params);
    let mut run = evaluate_regions(&regions, params, Utc::now().date_naive()).await;
    for w in &run.warnings {
        eprintln!("warning: {w}");
    }
    let summary = summary(&run, regions.len());
    match output {
        AuditOutput::Table => {
            print!("{}", render_table(&run.keys));
            println!("\n{summary}");
        }
        AuditOutput::Json => {
            let lines: Vec<Value> = run.keys.iter().map(Audited::to_json).collect();
            print!("{}", json_lines(&lines));
            eprintln!("{summary}");
        }
        AuditOutput::Ocsf | AuditOutput::Asff => {
            let ocsf = output == AuditOutput::Ocsf;
            let (lines, errors) =
                super::securityhub::audit_findings(&regions, &run.keys, params, ocsf, Utc::now())
                    .await;
            run.errors.extend(errors);
            print!("{}", json_lines(&lines));
            eprintln!("{summary}");
        }
    }
    for e in &run.errors {
        eprintln!("error: not evaluated: {e}");
    }
    Ok(exit(&run))
}
