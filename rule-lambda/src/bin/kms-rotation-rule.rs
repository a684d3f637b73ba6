//! The AWS Config custom rule `kms-rotation-rule`, as a Lambda function.

use kms_rotation::lambda::{handler, log_filter, options_from_env};
use kms_rotation_core::clients::{load_sdk_config, Clients};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(log_filter(std::env::var("RUST_LOG").ok().as_deref()))
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
