//! `kms-rotation-sdk-floor`, the SDK-alone run of `kms-rotation-bench org`, against a small
//! simulated organization: it must make the CLI's kinds of calls for every key (else its CPU a
//! call is not comparable with the CLI's), count the organization's refusals as answers, and exit
//! 1 when calls get no answer.

use std::process::Output;
use std::time::Duration;

use fake_aws::{Org, OrgConfig};

fn config(accounts: usize, denied_accounts: usize) -> OrgConfig {
    OrgConfig {
        accounts,
        regions: vec!["us-east-1".to_owned(), "eu-west-1".to_owned()],
        keys_per_region: 60,
        latency: Duration::ZERO,
        denied_accounts,
        ..OrgConfig::default()
    }
}

async fn floor(org: &Org, config: &OrgConfig) -> Output {
    let (addr, server) = org.serve().await.expect("the organization serves");
    // Each run its own directory: the tests run at once in one process.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let accounts = dir.join("accounts.txt");
    let ids: Vec<String> = (0..config.accounts).map(|a| config.account_id(a)).collect();
    std::fs::write(&accounts, ids.join("\n")).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_kms-rotation-sdk-floor"));
    cmd.env_clear()
        .env("AWS_ENDPOINT_URL", format!("http://{addr}"))
        .env("AWS_ACCESS_KEY_ID", "AKIAORGBENCHMGMT0001")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "org/bench/management/secret/key/000000000",
        )
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("none"))
        .arg("--accounts-file")
        .arg(&accounts)
        .args(["--role-name", &config.role_name, "--max-in-flight", "16"]);
    for r in &config.regions {
        cmd.args(["--region", r]);
    }
    let out = cmd.output().await.expect("kms-rotation-sdk-floor runs");
    server.abort();
    out
}

#[tokio::test]
async fn every_key_is_described_and_its_rotation_asked_and_refusals_are_answers() {
    let config = config(3, 0);
    let org = Org::new(config.clone());
    let out = floor(&org, &config).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let counts = org.counts();
    let keys = config.keys() as u64;
    assert_eq!(counts.total("DescribeKey"), keys);
    assert_eq!(counts.assume_role, 3);
    // The organization refuses DescribeKey on one key in 100 (its rare kinds): those keys' rotation
    // is not asked, every other key's is.
    let refused: u64 = stderr
        .split(", ")
        .find_map(|part| part.strip_suffix(" answered with an error"))
        .and_then(|n| n.parse().ok())
        .expect("the refusals are counted on stderr");
    let rotation = counts.total("GetKeyRotationStatus");
    assert!(refused > 0, "the organization refuses some keys: {stderr}");
    assert!(
        rotation < keys && rotation >= keys - refused,
        "{rotation} of {keys}, {refused} refused"
    );
    assert!(stderr.contains(", 0 failed"), "{stderr}");
}

#[tokio::test]
async fn calls_without_an_answer_fail_the_run() {
    // The last account refuses AssumeRole: its keys are listed by no one, the run exits 1 naming
    // the first failure.
    let config = config(2, 1);
    let org = Org::new(config.clone());
    let out = floor(&org, &config).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("call(s) failed; the first: ListKeys"),
        "{stderr}"
    );
    assert_eq!(org.counts().total("DescribeKey"), config.keys() as u64 / 2);
}
