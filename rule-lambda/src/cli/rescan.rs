//! `kms-rotation rescan`: ask AWS Config to evaluate the rule again, in each Region.

use super::args::RescanArgs;
use super::session::Session;
use super::{CliError, Exit};
use crate::config::ConfigService;
use crate::event::ResultToken;

pub async fn command(session: &Session, args: &RescanArgs) -> Result<Exit, CliError> {
    let rule = &args.rule_name;
    let mut exit = Exit::Clean;
    for region in session.regions() {
        // StartConfigRulesEvaluation takes no result token; the writer's token is unused here.
        let config = ConfigService::new(session.config_client(region), ResultToken::TestMode);
        match config.start_evaluation(rule).await {
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
