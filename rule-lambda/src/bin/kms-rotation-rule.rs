//! The AWS Config custom rule `kms-rotation-rule`, as a Lambda function.

use kms_rotation::clients::{load_sdk_config, Clients};
use kms_rotation::lambda::{handler, options_from_env};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .with_target(false)
        .init();
    let opts = options_from_env(|name| std::env::var(name).ok())?;
    let sdk = load_sdk_config().await;
    let clients = Clients::new(&sdk);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handler(event, &clients, &opts)
    }))
    .await
}
