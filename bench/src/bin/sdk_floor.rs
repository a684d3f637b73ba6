//! `kms-rotation-sdk-floor`: the AWS SDK for Rust alone, configured as the CLI configures it
//! (`kms_rotation_core::clients::load_sdk_config`: the same HTTP client, retries and timeouts; the
//! same allocator), making the CLI's kinds of KMS calls over the same organization with nothing of
//! this project around them: per member account one AssumeRole, per account-Region its ListKeys
//! pages, per key DescribeKey then GetKeyRotationStatus, `--max-in-flight` at a time.
//!
//! `kms-rotation-bench org` runs it beside `kms-rotation audit` (its `"run":"sdk-floor"` line) to
//! tell the CPU a KMS call costs in the SDK from what the CLI adds (docs/performance.md). Not
//! shipped. It prints nothing on stdout; on stderr the calls it made and the first failure; exits
//! 1 when a call had no answer (an error answer, such as the organization's AccessDenied keys,
//! is an answer).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::sts::AssumeRoleProvider;
use aws_config::Region;
use aws_sdk_kms::error::{DisplayErrorContext, SdkError};
use clap::Parser;
use futures::StreamExt;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The SDK's own cost of the CLI's KMS calls (run by `kms-rotation-bench org`).
#[derive(Debug, Parser)]
#[command(name = "kms-rotation-sdk-floor")]
struct Args {
    /// Member account ids, one a line (`#` comments).
    #[arg(long, value_name = "FILE")]
    accounts_file: PathBuf,
    /// The role assumed in each account.
    #[arg(long, value_name = "NAME")]
    role_name: String,
    /// Regions to read (repeat).
    #[arg(long = "region", value_name = "REGION", required = true)]
    regions: Vec<String>,
    /// KMS key reads at a time.
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_in_flight: usize,
}

/// Calls made, by kind, and the failures.
#[derive(Debug, Default)]
struct Calls {
    list_keys: AtomicU64,
    describe_key: AtomicU64,
    get_key_rotation_status: AtomicU64,
    /// Answered with an error (AccessDenied, NotFound): answers all the same.
    refused: AtomicU64,
    /// No answer (a timeout, a connection error, retries exhausted).
    failed: AtomicU64,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kms-rotation-sdk-floor: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kms-rotation-sdk-floor: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<(), String> {
    let accounts = std::fs::read_to_string(&args.accounts_file)
        .map_err(|e| format!("{}: {e}", args.accounts_file.display()))?;
    let accounts: Vec<&str> = accounts
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let sdk = kms_rotation_core::clients::load_sdk_config().await;
    let home = sdk
        .region()
        .map(|r| r.as_ref().to_owned())
        .ok_or("no Region: set AWS_REGION")?;
    let clients = clients(&sdk, &home, &accounts, args).await;
    let calls = Calls::default();
    let calls = &calls;
    let first_error = std::sync::Mutex::new(None::<String>);
    let first_error = &first_error;
    let fail = |e: String| {
        calls.failed.fetch_add(1, Ordering::Relaxed);
        first_error.lock().unwrap().get_or_insert(e);
    };
    futures::stream::iter(clients)
        .map(|client| async move {
            let ids: Result<Vec<String>, String> = client
                .list_keys()
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map(|keys| keys.into_iter().filter_map(|k| k.key_id).collect())
                .map_err(|e| format!("ListKeys: {}", DisplayErrorContext(e)));
            (client, ids)
        })
        .buffer_unordered(32)
        .flat_map(|(client, ids)| {
            calls.list_keys.fetch_add(1, Ordering::Relaxed);
            let ids = ids.unwrap_or_else(|e| {
                fail(e);
                Vec::new()
            });
            futures::stream::iter(ids.into_iter().map(move |id| (client.clone(), id)))
        })
        .map(|(client, id)| async move {
            calls.describe_key.fetch_add(1, Ordering::Relaxed);
            match client.describe_key().key_id(&id).send().await {
                Ok(_) => {}
                // An answer (the organization refuses some keys on purpose, as AWS would): the
                // call cost what any other did; the key's rotation is not asked.
                Err(SdkError::ServiceError(_)) => {
                    calls.refused.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(e) => return fail(format!("DescribeKey {id}: {}", DisplayErrorContext(e))),
            }
            calls
                .get_key_rotation_status
                .fetch_add(1, Ordering::Relaxed);
            match client.get_key_rotation_status().key_id(&id).send().await {
                Ok(_) => {}
                Err(SdkError::ServiceError(_)) => {
                    calls.refused.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => fail(format!(
                    "GetKeyRotationStatus {id}: {}",
                    DisplayErrorContext(e)
                )),
            }
        })
        .buffer_unordered(args.max_in_flight.max(1))
        .collect::<()>()
        .await;
    eprintln!(
        "kms-rotation-sdk-floor: {} account-Region listings, {} DescribeKey, {} GetKeyRotationStatus, {} answered with an error, {} failed",
        calls.list_keys.load(Ordering::Relaxed),
        calls.describe_key.load(Ordering::Relaxed),
        calls.get_key_rotation_status.load(Ordering::Relaxed),
        calls.refused.load(Ordering::Relaxed),
        calls.failed.load(Ordering::Relaxed)
    );
    let first = first_error.lock().unwrap().take();
    match first {
        None => Ok(()),
        Some(e) => Err(format!(
            "{} call(s) failed; the first: {e}",
            calls.failed.load(Ordering::Relaxed)
        )),
    }
}

/// A KMS client per account and Region, each account's with the credentials of its role (assumed
/// at its first call), as the CLI makes them.
async fn clients(
    sdk: &aws_config::SdkConfig,
    home: &str,
    accounts: &[&str],
    args: &Args,
) -> Vec<aws_sdk_kms::Client> {
    let role = format!("role/{}", args.role_name);
    let mut clients = Vec::new();
    for account in accounts {
        // The simulated organization's partition, as the CLI's caller (STS) reports it there.
        let role_arn = kms_rotation_core::arn::Arn::iam("aws", account, &role).to_string();
        let provider = AssumeRoleProvider::builder(&role_arn)
            .session_name("kms-rotation-sdk-floor")
            .region(Region::new(home.to_owned()))
            .configure(sdk)
            .build()
            .await;
        let assumed = sdk
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .identity_cache(aws_config::identity::IdentityCache::lazy().build())
            .build();
        for region in &args.regions {
            clients.push(aws_sdk_kms::Client::from_conf(
                aws_sdk_kms::config::Builder::from(&assumed)
                    .region(Region::new(region.clone()))
                    .build(),
            ));
        }
    }
    clients
}
