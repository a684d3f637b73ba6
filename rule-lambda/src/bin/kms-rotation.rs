//! `kms-rotation`, the operator CLI: audit, remediate, exceptions, rescan. All logic is in
//! [`kms_rotation_cli`]; see `kms-rotation --help` and docs/operator-guide.md.

use std::process::ExitCode;

use kms_rotation_cli::{args, run, Exit};

/// mimalloc rather than glibc's malloc: the CLI's tasks allocate on every thread for every request,
/// and glibc's arena locks cost a fifth of its CPU over a large organization (make bench-org).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = args::parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit());
    // Before any thread starts: the command's --profile is AWS_PROFILE for the standard
    // configuration chain (check-iac, which calls no AWS, has none).
    if let Some(profile) = cli.profile() {
        std::env::set_var("AWS_PROFILE", profile);
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KMS_ROTATION_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Error as u8);
        }
    };
    ExitCode::from(runtime.block_on(run(cli)) as u8)
}
