//! `kms-rotation rescan`: ask AWS Config to evaluate the rule again, in each Region.
//!
//! A rule deployed by a conformance pack does not keep its bare name: Config names it
//! `<ConfigRuleName>-conformance-pack-<suffix>`. So the rule is found first, by its exact name,
//! by that prefix, or as the rule of a named pack; when none or several match, nothing is started
//! and the candidates are named.

use crate::args::RescanArgs;
use crate::config_rules::ConfigRules;
use crate::session::Session;
use crate::{CliError, Exit};

/// The infix Config puts between a pack rule's name and its suffix.
const PACK_INFIX: &str = "-conformance-pack-";

/// Which rule of `names` the user means.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Choice {
    One(String),
    None,
    Several(Vec<String>),
}

/// The rule named exactly `wanted`; else the one rule named `wanted-conformance-pack-...`. Without
/// `wanted` (a pack's rules), the pack's one rule.
pub(super) fn choose(wanted: Option<&str>, names: &[String]) -> Choice {
    let candidates: Vec<&String> = match wanted {
        Some(w) if names.iter().any(|n| n == w) => return Choice::One(w.to_owned()),
        Some(w) => names
            .iter()
            .filter(|n| {
                n.strip_prefix(w)
                    .and_then(|rest| rest.strip_prefix(PACK_INFIX))
                    .is_some_and(|suffix| !suffix.is_empty())
            })
            .collect(),
        None => names.iter().collect(),
    };
    match candidates.as_slice() {
        [] => Choice::None,
        [one] => Choice::One((*one).clone()),
        many => Choice::Several(many.iter().map(|n| (*n).clone()).collect()),
    }
}

/// Find the rule in one Region, or say why not.
async fn find(rules: &ConfigRules, args: &RescanArgs, region: &str) -> Result<String, String> {
    let explain = |e| {
        CliError::Config {
            region: region.to_owned(),
            error: e,
        }
        .to_string()
    };
    let (names, place) = match &args.conformance_pack {
        Some(pack) => (
            rules.pack_rule_names(pack).await.map_err(explain)?,
            format!("conformance pack {pack}"),
        ),
        None => (
            rules.rule_names().await.map_err(explain)?,
            "this Region".to_owned(),
        ),
    };
    let wanted = args.rule_name.as_deref();
    let what = wanted.map_or("a rule".to_owned(), |w| {
        format!("a rule named {w} or {w}{PACK_INFIX}...")
    });
    match choose(wanted, &names) {
        Choice::One(name) => Ok(name),
        Choice::None if names.is_empty() => Err(format!("{region}: no Config rule in {place}")),
        Choice::None => Err(format!(
            "{region}: no {what} in {place}; the rules there: {}",
            names.join(", ")
        )),
        Choice::Several(names) => Err(format!(
            "{region}: several rules match in {place}: {}; pass the exact name with --rule-name",
            names.join(", ")
        )),
    }
}

pub(crate) async fn command(session: &Session, args: &RescanArgs) -> Result<Exit, CliError> {
    let mut exit = Exit::Clean;
    for region in session.regions() {
        let rules = ConfigRules::new(session.config_client(region));
        let rule = match find(&rules, args, region).await {
            Ok(rule) => rule,
            Err(why) => {
                eprintln!("error: {why}");
                exit = Exit::Error;
                continue;
            }
        };
        match rules.start_evaluation(&rule).await {
            Ok(()) => println!(
                "{region}: AWS Config is evaluating {rule} again; results arrive within minutes: aws configservice get-compliance-details-by-config-rule --config-rule-name {rule} --region {region}"
            ),
            Err(error) => {
                let error = CliError::Config {
                    region: region.clone(),
                    error,
                };
                eprintln!("error: {error}");
                if let Ok(url) = std::env::var("AWS_ENDPOINT_URL") {
                    if !url.is_empty() {
                        eprintln!("hint: the endpoint {url} (AWS_ENDPOINT_URL) may not implement StartConfigRulesEvaluation (moto does not); unset AWS_ENDPOINT_URL to use AWS");
                    }
                }
                exit = Exit::Error;
            }
        }
    }
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_rule_is_found_by_its_exact_name_or_its_pack_suffix() {
        let deployed = names(&[
            "kms-rotation-rule-conformance-pack-a1b2c3d4",
            "s3-bucket-versioning-enabled",
        ]);
        // Config's pack suffix, found from the bare name.
        assert_eq!(
            choose(Some("kms-rotation-rule"), &deployed),
            Choice::One("kms-rotation-rule-conformance-pack-a1b2c3d4".into())
        );
        // The exact name wins over pack rules that share its prefix.
        let both = names(&[
            "kms-rotation-rule",
            "kms-rotation-rule-conformance-pack-a1b2c3d4",
        ]);
        assert_eq!(
            choose(Some("kms-rotation-rule"), &both),
            Choice::One("kms-rotation-rule".into())
        );
        // Two packs deployed the rule: both named, none chosen.
        let two = names(&[
            "kms-rotation-rule-conformance-pack-a1b2c3d4",
            "kms-rotation-rule-conformance-pack-e5f6g7h8",
        ]);
        assert_eq!(
            choose(Some("kms-rotation-rule"), &two),
            Choice::Several(two.clone())
        );
        // A longer rule name is not a match, nor is a bare suffix.
        let other = names(&[
            "kms-rotation-rule-v2",
            "kms-rotation-rule-conformance-pack-",
        ]);
        assert_eq!(choose(Some("kms-rotation-rule"), &other), Choice::None);
        // A pack's rules without a name: its one rule, or the candidates.
        assert_eq!(
            choose(None, &names(&["only-conformance-pack-x"])),
            Choice::One("only-conformance-pack-x".into())
        );
        assert_eq!(choose(None, &[]), Choice::None);
        assert_eq!(choose(None, &two), Choice::Several(two.clone()));
    }
}
