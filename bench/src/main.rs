//! `kms-rotation-bench`: the scale benchmark of the rule's periodic run (docs/performance.md).
//!
//! It starts a simulated AWS endpoint (see `sim.rs`) and a fake Lambda Runtime API in this
//! process, spawns the real `kms-rotation-rule` release binary against them, hands it one
//! ScheduledNotification, and measures the run from the outside: wall time, HTTP attempts per API
//! at the endpoint, throttles, what reached PutEvaluations, the invocation's result, the process's
//! peak RSS (VmHWM) and the time from spawn to its first `next` poll (cold start). It then runs the
//! same account one key at a time (the library's own `rule::run` with concurrency 1, in this
//! process) on a sample of the keys, and extrapolates per-key time to the full account.
//!
//! The last line of output is one JSON object describing the largest run.

mod runtime;
mod sim;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use kms_rotation::clients::{retry_config, Clients};
use kms_rotation::event::Invocation;
use kms_rotation::params::RuleParameters;
use kms_rotation::rule::{self, Options};
use serde_json::{json, Value};
use tokio::process::Command;
use tokio::time::Instant;

use runtime::{Ending, FakeRuntime};
use sim::{Api, Sim, SimConfig, ACCOUNT, REGION};

const USAGE: &str = "kms-rotation-bench [--keys 1000,10000] [--latency-ms 20] [--throttle-share 0.2]
  [--sequential-sample 200] [--contended-share 0.3] [--deadline-keys 10000] [--deadline-timeout-s 6] [--cold-starts 5]
  [--rule-parameters '{}'] [--seed 7] [--rule-bin PATH] [--zip PATH] [--quick]";

#[derive(Debug, Clone)]
struct Args {
    keys: Vec<usize>,
    latency: Duration,
    throttle_share: f64,
    sequential_sample: usize,
    deadline_keys: usize,
    deadline_timeout: Duration,
    cold_starts: usize,
    contended_share: f64,
    rule_parameters: String,
    seed: u64,
    rule_bin: PathBuf,
    zip: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let target_dir = bin_dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut a = Args {
        keys: vec![1_000, 10_000],
        latency: Duration::from_millis(20),
        throttle_share: 0.2,
        sequential_sample: 200,
        deadline_keys: 10_000,
        deadline_timeout: Duration::from_secs(6),
        cold_starts: 5,
        contended_share: 0.3,
        rule_parameters: "{}".into(),
        seed: 7,
        rule_bin: bin_dir.join("kms-rotation-rule"),
        zip: target_dir.join("lambda/kms-rotation-rule/bootstrap.zip"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        if flag == "--quick" {
            a.keys = vec![1_000];
            a.deadline_keys = 2_000;
            a.deadline_timeout = Duration::from_secs(3);
            a.sequential_sample = 100;
            a.contended_share = 0.0;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}\n{USAGE}");
        match flag.as_str() {
            "--keys" => {
                a.keys = value
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| bad(&e))?
            }
            "--latency-ms" => {
                a.latency = Duration::from_millis(value.parse().map_err(|e| bad(&e))?)
            }
            "--throttle-share" => a.throttle_share = value.parse().map_err(|e| bad(&e))?,
            "--sequential-sample" => a.sequential_sample = value.parse().map_err(|e| bad(&e))?,
            "--deadline-keys" => a.deadline_keys = value.parse().map_err(|e| bad(&e))?,
            "--deadline-timeout-s" => {
                a.deadline_timeout = Duration::from_secs_f64(value.parse().map_err(|e| bad(&e))?)
            }
            "--contended-share" => a.contended_share = value.parse().map_err(|e| bad(&e))?,
            "--cold-starts" => a.cold_starts = value.parse().map_err(|e| bad(&e))?,
            "--rule-parameters" => a.rule_parameters = value,
            "--seed" => a.seed = value.parse().map_err(|e| bad(&e))?,
            "--rule-bin" => a.rule_bin = value.into(),
            "--zip" => a.zip = value.into(),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(a)
}

fn event(rule_parameters: &str) -> Value {
    let invoking = json!({
        "awsAccountId": ACCOUNT,
        "notificationCreationTime": "2026-11-28T10:00:00.000Z",
        "messageType": "ScheduledNotification",
        "recordVersion": "1.0"
    });
    json!({
        "version": "1.0",
        "invokingEvent": invoking.to_string(),
        "ruleParameters": rule_parameters,
        // A real token, so the periodic clean-up runs too (GetComplianceDetailsByConfigRule).
        "resultToken": "bench-result-token",
        "eventLeftScope": false,
        "executionRoleArn": format!("arn:aws:iam::{ACCOUNT}:role/config-role"),
        "configRuleArn": format!("arn:aws:config:{REGION}:{ACCOUNT}:config-rule/config-rule-kmsrot"),
        "configRuleName": "kms-rotation-rule",
        "configRuleId": "config-rule-kmsrot",
        "accountId": ACCOUNT
    })
}

/// One run of the real binary.
struct Run {
    label: String,
    keys: usize,
    cfg: SimConfig,
    wall: Duration,
    cold_start: Duration,
    peak_rss_kib: u64,
    tally: sim::Tally,
    ending: Ending,
    log: PathBuf,
}

impl Run {
    fn named_failed(&self) -> usize {
        match &self.ending {
            Ending::Error { message, .. } => {
                number_before(message, " key(s) could not be evaluated").unwrap_or(0)
            }
            Ending::Response(_) => 0,
        }
    }
    fn named_not_started(&self) -> usize {
        match &self.ending {
            Ending::Error { message, .. } => {
                number_before(message, " key(s) not evaluated: the Lambda's deadline").unwrap_or(0)
            }
            Ending::Response(_) => 0,
        }
    }
    fn listing_failed(&self) -> bool {
        matches!(&self.ending, Ending::Error { message, .. } if message.contains("listing the keys failed"))
    }
    /// Keys with no evaluation in Config that the error did not account for.
    fn lost(&self) -> usize {
        self.tally
            .not_evaluated
            .saturating_sub(self.named_failed() + self.named_not_started())
    }
    fn kms_attempts(&self) -> u64 {
        Api::KMS.iter().map(|a| self.tally.attempts(*a)).sum()
    }
    fn kms_throttled(&self) -> u64 {
        Api::KMS.iter().map(|a| self.tally.throttled(*a)).sum()
    }
    fn per_key(&self, n: u64) -> f64 {
        n as f64 / self.keys as f64
    }
}

/// The run's floor: the larger of the quota-bound time (each paced API's answered calls at its
/// client-side ceiling, less the initial burst of a tenth of a second) and the latency-bound time
/// (one ListKeys page, then every per-key call at `concurrency` in flight, then one last
/// PutEvaluations).
struct Floor {
    quota_bound: f64,
    quota_api: Api,
    latency_bound: f64,
}

impl Floor {
    fn of(run: &Run, params: &RuleParameters, concurrency: usize) -> Self {
        let ceilings = [
            (Api::DescribeKey, params.describe_key_per_second),
            (
                Api::GetKeyRotationStatus,
                params.get_key_rotation_status_per_second,
            ),
            (
                Api::ListResourceTags,
                params.get_key_rotation_status_per_second,
            ),
        ];
        let (quota_api, quota_bound) = ceilings
            .iter()
            .map(|(api, c)| {
                let c = f64::from(*c);
                (
                    *api,
                    ((run.tally.answered(*api) as f64) - c * 0.1).max(0.0) / c,
                )
            })
            .fold(
                (Api::DescribeKey, 0.0),
                |a, b| if b.1 > a.1 { b } else { a },
            );
        let per_key_calls: u64 = ceilings.iter().map(|(a, _)| run.tally.answered(*a)).sum();
        let lat = run.cfg.latency.as_secs_f64();
        let latency_bound = lat * (2.0 + per_key_calls as f64 / concurrency as f64);
        Self {
            quota_bound,
            quota_api,
            latency_bound,
        }
    }
    fn secs(&self) -> f64 {
        self.quota_bound.max(self.latency_bound)
    }
}

fn number_before(text: &str, pattern: &str) -> Option<usize> {
    let end = text.find(pattern)?;
    let digits: String = text[..end]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn log_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("kms-rotation-bench");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn rule_command(
    bin: &Path,
    runtime_api: std::net::SocketAddr,
    endpoint: &str,
    log: &Path,
) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "kms-rotation-rule")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/kms-rotation-rule")
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCHMARK0000000")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "bench/secret/access/key/0000000000000000",
        )
        .env("AWS_SESSION_TOKEN", "bench-session-token")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    match std::fs::File::create(log) {
        Ok(f) => {
            let f2 = f.try_clone().ok();
            cmd.stdout(Stdio::from(f));
            cmd.stderr(f2.map(Stdio::from).unwrap_or_else(Stdio::null));
        }
        Err(_) => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    cmd
}

async fn run_rule(
    args: &Args,
    label: &str,
    cfg: SimConfig,
    timeout: Duration,
) -> Result<Run, String> {
    let sim = Sim::new(cfg.clone());
    let (sim_addr, sim_task) = sim.serve().await.map_err(|e| e.to_string())?;
    let fake = FakeRuntime::new(event(&args.rule_parameters), timeout);
    let (rt_addr, rt_task) = fake.serve().await.map_err(|e| e.to_string())?;
    let log = log_dir().join(format!("{}.log", label.replace(' ', "-")));
    let spawned = Instant::now();
    let mut child = rule_command(&args.rule_bin, rt_addr, &format!("http://{sim_addr}"), &log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.rule_bin.display()))?;
    let pid = child.id().unwrap_or(0);
    let wait = timeout + Duration::from_secs(60);
    let finished = tokio::time::timeout(wait, fake.done.notified()).await;
    let peak_rss_kib = vm_hwm_kib(pid).unwrap_or(0);
    let _ = child.kill().await;
    sim_task.abort();
    rt_task.abort();
    if finished.is_err() {
        return Err(format!(
            "{label}: no result within {wait:?}; log: {}",
            log.display()
        ));
    }
    let first_next = fake.first_next.lock().unwrap().unwrap_or(spawned);
    let delivered = fake.delivered_at.lock().unwrap().unwrap_or(first_next);
    let (ending, ended) = fake
        .ending
        .lock()
        .unwrap()
        .clone()
        .ok_or_else(|| format!("{label}: no ending recorded"))?;
    Ok(Run {
        label: label.to_owned(),
        keys: cfg.keys,
        wall: ended.saturating_duration_since(delivered),
        cold_start: first_next.saturating_duration_since(spawned),
        peak_rss_kib,
        tally: sim.tally(),
        ending,
        cfg,
        log,
    })
}

/// Spawn the binary and time it to its first `next` poll, without an invocation.
async fn cold_start(args: &Args) -> Result<Duration, String> {
    let fake = FakeRuntime::new(Value::Null, Duration::from_secs(1));
    let (rt_addr, rt_task) = fake.serve().await.map_err(|e| e.to_string())?;
    let log = log_dir().join("cold-start.log");
    let spawned = Instant::now();
    let mut child = rule_command(&args.rule_bin, rt_addr, "http://127.0.0.1:9", &log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.rule_bin.display()))?;
    let ready = tokio::time::timeout(Duration::from_secs(10), fake.ready.notified()).await;
    let _ = child.kill().await;
    rt_task.abort();
    ready.map_err(|_| "the binary never polled for an event".to_owned())?;
    let first = fake.first_next.lock().unwrap().unwrap_or(spawned);
    Ok(first.saturating_duration_since(spawned))
}

/// The same account, one key at a time: the library's `rule::run` with concurrency 1, on the
/// first `sample` keys (the mix repeats every 100 keys, so a sample of a multiple of 100 has
/// exactly the account's mix). Returns seconds per key.
async fn sequential(args: &Args, sample: usize) -> Result<(f64, Run), String> {
    let cfg = SimConfig {
        keys: sample,
        latency: args.latency,
        quotas: true,
        throttle_share: 0.0,
        quota_share: 1.0,
        seed: args.seed,
    };
    let sim = Sim::new(cfg.clone());
    let (addr, task) = sim.serve().await.map_err(|e| e.to_string())?;
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(format!("http://{addr}"))
        .credentials_provider(Credentials::new(
            "AKIDBENCHMARK0000000",
            "bench/secret",
            None,
            None,
            "bench",
        ))
        .retry_config(retry_config())
        .load()
        .await;
    let clients = Clients::new(&sdk);
    let inv = Invocation::parse(event(&args.rule_parameters)).map_err(|e| e.to_string())?;
    let opts = Options {
        concurrency: 1,
        ..Options::default()
    };
    let started = Instant::now();
    let result = rule::run(&inv, &clients, None, &opts).await;
    let wall = started.elapsed();
    task.abort();
    let ending = match result {
        Ok(o) => Ending::Response(serde_json::to_value(o).unwrap_or(Value::Null)),
        Err(e) => Ending::Error {
            error_type: e.error_type().into(),
            message: e.to_string(),
        },
    };
    let run = Run {
        label: format!("sequential sample of {sample} keys"),
        keys: sample,
        wall,
        cold_start: Duration::ZERO,
        peak_rss_kib: 0,
        tally: sim.tally(),
        ending,
        cfg,
        log: PathBuf::new(),
    };
    Ok((wall.as_secs_f64() / sample as f64, run))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn print_run(run: &Run, floor: &Floor) {
    let t = &run.tally;
    println!("== {}", run.label);
    println!(
        "   keys {} | latency {} ms | account quotas {} | injected throttling {:.0}%",
        run.keys,
        run.cfg.latency.as_millis(),
        if !run.cfg.quotas {
            "off".to_owned()
        } else if run.cfg.quota_share < 1.0 {
            format!(
                "enforced, only {:.0}% of each left to the rule (other callers take the rest)",
                run.cfg.quota_share * 100.0
            )
        } else {
            "enforced".to_owned()
        },
        run.cfg.throttle_share * 100.0
    );
    println!(
        "   wall {:.2} s | floor {:.2} s (quota-bound {:.2} s on {}, latency-bound {:.2} s) | ratio {:.3}",
        run.wall.as_secs_f64(),
        floor.secs(),
        floor.quota_bound,
        floor.quota_api.name(),
        floor.latency_bound,
        run.wall.as_secs_f64() / floor.secs().max(1e-9)
    );
    let per: Vec<String> = Api::KMS
        .iter()
        .map(|a| format!("{} {:.3}", a.name(), run.per_key(t.attempts(*a))))
        .collect();
    println!(
        "   KMS calls per key (HTTP attempts, retries included): {} | total {:.3}",
        per.join(", "),
        run.per_key(run.kms_attempts())
    );
    println!(
        "   PutEvaluations {} calls ({} full batches of 100, largest {}; ceil(N/100) = {}), first at {:.2} s, last at {:.2} s",
        t.attempts(Api::PutEvaluations),
        t.full_batches,
        t.max_batch,
        run.keys.div_ceil(100),
        t.first_put.map(|d| d.as_secs_f64()).unwrap_or(0.0),
        t.last_put.map(|d| d.as_secs_f64()).unwrap_or(0.0),
    );
    let throttles: Vec<String> = Api::KMS
        .iter()
        .filter(|a| t.throttled(**a) > 0)
        .map(|a| {
            format!(
                "{} {} (quota {}, injected {})",
                a.name(),
                t.throttled(*a),
                t.throttled_quota.get(a).copied().unwrap_or(0),
                t.throttled_injected.get(a).copied().unwrap_or(0)
            )
        })
        .collect();
    println!(
        "   throttles seen: {} of {} KMS attempts ({:.1}%){}{}",
        run.kms_throttled(),
        run.kms_attempts(),
        100.0 * run.kms_throttled() as f64 / run.kms_attempts().max(1) as f64,
        if throttles.is_empty() { "" } else { ": " },
        throttles.join(", ")
    );
    println!(
        "   evaluations {} (keys once {}, more than once {}, none {}), wrong verdicts {}, unknown ids {}",
        t.evaluations, t.evaluated_once, t.evaluated_more, t.not_evaluated, t.wrong, t.unknown
    );
    match &run.ending {
        Ending::Response(v) => println!("   invocation succeeded: {v}"),
        Ending::Error {
            error_type,
            message,
        } => {
            let short: String = message.chars().take(300).collect();
            println!(
                "   invocation failed ({error_type}): {short}{}",
                if message.len() > 300 { " [...]" } else { "" }
            );
        }
    }
    println!(
        "   named in the error: {} failed, {} not started{} | LOST (no evaluation, not named): {}",
        run.named_failed(),
        run.named_not_started(),
        if run.listing_failed() {
            ", listing broke off"
        } else {
            ""
        },
        run.lost()
    );
    if run.peak_rss_kib > 0 {
        println!(
            "   peak RSS {:.1} MiB | cold start (spawn to first poll) {:.1} ms | log {}",
            mib(run.peak_rss_kib),
            run.cold_start.as_secs_f64() * 1000.0,
            run.log.display()
        );
    }
}

fn run_json(run: &Run, floor: &Floor) -> Value {
    let t = &run.tally;
    let per: serde_json::Map<String, Value> = Api::KMS
        .iter()
        .map(|a| {
            (
                a.name().to_owned(),
                json!(round(run.per_key(t.attempts(*a)), 4)),
            )
        })
        .collect();
    json!({
        "keys": run.keys,
        "wall_s": round(run.wall.as_secs_f64(), 3),
        "floor_s": round(floor.secs(), 3),
        "ratio_to_floor": round(run.wall.as_secs_f64() / floor.secs().max(1e-9), 3),
        "kms_calls_per_key": round(run.per_key(run.kms_attempts()), 4),
        "calls_per_key": per,
        "put_evaluations_calls": t.attempts(Api::PutEvaluations),
        "throttles": run.kms_throttled(),
        "throttled_share": round(run.kms_throttled() as f64 / run.kms_attempts().max(1) as f64, 4),
        "evaluations": t.evaluations,
        "wrong": t.wrong,
        "duplicates": t.evaluated_more,
        "named_failed": run.named_failed(),
        "named_not_started": run.named_not_started(),
        "lost": run.lost(),
        "peak_rss_mib": round(mib(run.peak_rss_kib), 1),
        "cold_start_ms": round(run.cold_start.as_secs_f64() * 1000.0, 1),
    })
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = bench(args).await {
        eprintln!("kms-rotation-bench: {e}");
        std::process::exit(1);
    }
}

async fn bench(args: Args) -> Result<(), String> {
    if !args.rule_bin.exists() {
        return Err(format!(
            "{} not found: build it first (cargo build --release -p rule-lambda --bin kms-rotation-rule)",
            args.rule_bin.display()
        ));
    }
    let params = RuleParameters::parse(Some(&args.rule_parameters)).map_err(|e| e.to_string())?;
    let concurrency = Options::default().concurrency;
    println!(
        "kms-rotation-bench: rule binary {} | ceilings DescribeKey {}/s, GetKeyRotationStatus {}/s, ListResourceTags {}/s | concurrency {} | account quotas DescribeKey 2000/s, GetKeyRotationStatus 1000/s, ListKeys 500/s, ListResourceTags 2000/s",
        args.rule_bin.display(),
        params.describe_key_per_second,
        params.get_key_rotation_status_per_second,
        params.get_key_rotation_status_per_second,
        concurrency
    );
    println!(
        "   key mix (repeats every 100 keys): 20% AWS-managed, 60% rotation on, 8% rotation off, 1% valid exception, 1% expired exception, 4% RSA, 2% HMAC, 1% disabled, 1% pending deletion, 1% imported, 1% multi-Region replica"
    );

    // Cold start: spawn to first poll of the Runtime API.
    let mut colds = Vec::new();
    for _ in 0..args.cold_starts {
        colds.push(cold_start(&args).await?);
    }
    colds.sort();
    let cold_median = colds.get(colds.len() / 2).copied().unwrap_or_default();
    if !colds.is_empty() {
        println!(
            "== cold start: spawn to first GET /runtime/invocation/next over {} spawns: min {:.1} ms, median {:.1} ms, max {:.1} ms",
            colds.len(),
            colds[0].as_secs_f64() * 1000.0,
            cold_median.as_secs_f64() * 1000.0,
            colds[colds.len() - 1].as_secs_f64() * 1000.0
        );
    }
    let binary_bytes = std::fs::metadata(&args.rule_bin).map(|m| m.len()).ok();
    let zip_bytes = std::fs::metadata(&args.zip).map(|m| m.len()).ok();
    println!(
        "== size: release binary {} | Lambda zip {} {}",
        binary_bytes
            .map(|b| format!("{:.2} MiB ({b} bytes)", b as f64 / 1048576.0))
            .unwrap_or_else(|| "absent".into()),
        args.zip.display(),
        zip_bytes
            .map(|b| format!("{:.2} MiB ({b} bytes)", b as f64 / 1048576.0))
            .unwrap_or_else(|| "absent (cargo lambda build --release --x86-64 --output-format zip --bin kms-rotation-rule)".into())
    );

    // One key at a time, on a sample; per-key time extrapolated.
    let (seq_per_key, seq_run) = sequential(&args, args.sequential_sample).await?;
    let seq_floor = Floor::of(&seq_run, &params, 1);
    print_run(&seq_run, &seq_floor);
    println!(
        "   one key at a time: {:.1} ms per key, measured on a sample of {} keys and EXTRAPOLATED linearly to larger accounts",
        seq_per_key * 1000.0,
        args.sequential_sample
    );

    let lambda_timeout = Duration::from_secs(900);
    let mut last = None;
    for &n in &args.keys {
        let cfg = SimConfig {
            keys: n,
            latency: args.latency,
            quotas: true,
            throttle_share: 0.0,
            quota_share: 1.0,
            seed: args.seed,
        };
        let run = run_rule(&args, &format!("{n} keys"), cfg.clone(), lambda_timeout).await?;
        let floor = Floor::of(&run, &params, concurrency);
        print_run(&run, &floor);
        let speedup = seq_per_key * n as f64 / run.wall.as_secs_f64();
        println!(
            "   one key at a time would take {:.1} s (extrapolated from the sample): speed-up {:.1}x",
            seq_per_key * n as f64,
            speedup
        );
        let mut throttled_json = Value::Null;
        if args.throttle_share > 0.0 {
            let tcfg = SimConfig {
                throttle_share: args.throttle_share,
                ..cfg.clone()
            };
            let trun = run_rule(
                &args,
                &format!("{n} keys, {:.0}% throttled", args.throttle_share * 100.0),
                tcfg,
                lambda_timeout,
            )
            .await?;
            let tfloor = Floor::of(&trun, &params, concurrency);
            print_run(&trun, &tfloor);
            throttled_json = run_json(&trun, &tfloor);
        }
        let mut j = run_json(&run, &floor);
        j["speedup_vs_sequential"] = json!(round(speedup, 1));
        j["with_injected_throttling"] = throttled_json;
        last = Some(j);
    }

    // Contention: other callers in the account take most of each quota, so the rule's ceiling is
    // above what is left and the quota answers ThrottlingException: the pacers must adapt.
    let mut contended_json = Value::Null;
    if args.contended_share > 0.0 {
        let n = args.keys.iter().copied().max().unwrap_or(10_000);
        let cfg = SimConfig {
            keys: n,
            latency: args.latency,
            quotas: true,
            throttle_share: 0.0,
            quota_share: args.contended_share,
            seed: args.seed,
        };
        let run = run_rule(
            &args,
            &format!(
                "{n} keys, {:.0}% of the quotas left to the rule",
                args.contended_share * 100.0
            ),
            cfg,
            lambda_timeout,
        )
        .await?;
        let floor = Floor::of(&run, &params, concurrency);
        print_run(&run, &floor);
        // What the quota left allows: the busiest API's answered calls at its share of the quota.
        let left_bound = Api::KMS
            .iter()
            .filter_map(|a| {
                let q = a.account_quota()? * args.contended_share;
                Some(run.tally.answered(*a) as f64 / q)
            })
            .fold(0.0, f64::max);
        println!(
            "   bound by the quota left: {:.2} s | ratio {:.3}",
            left_bound,
            run.wall.as_secs_f64() / left_bound.max(1e-9)
        );
        let mut j = run_json(&run, &floor);
        j["quota_share"] = json!(args.contended_share);
        j["quota_left_bound_s"] = json!(round(left_bound, 3));
        contended_json = j;
    }

    // The deadline: a timeout too short for the account.
    let mut deadline_json = Value::Null;
    if args.deadline_keys > 0 {
        let cfg = SimConfig {
            keys: args.deadline_keys,
            latency: args.latency,
            quotas: true,
            throttle_share: 0.0,
            quota_share: 1.0,
            seed: args.seed,
        };
        let run = run_rule(
            &args,
            &format!(
                "{} keys, Lambda timeout {:.1} s (deadline)",
                args.deadline_keys,
                args.deadline_timeout.as_secs_f64()
            ),
            cfg,
            args.deadline_timeout,
        )
        .await?;
        let floor = Floor::of(&run, &params, concurrency);
        print_run(&run, &floor);
        println!(
            "   ended {:.2} s after the event, {:.2} s before the {:.1} s deadline",
            run.wall.as_secs_f64(),
            (args.deadline_timeout.as_secs_f64() - run.wall.as_secs_f64()),
            args.deadline_timeout.as_secs_f64()
        );
        deadline_json = json!({
            "keys": run.keys,
            "timeout_s": args.deadline_timeout.as_secs_f64(),
            "wall_s": round(run.wall.as_secs_f64(), 3),
            "evaluations": run.tally.evaluations,
            "named_not_started": run.named_not_started(),
            "named_failed": run.named_failed(),
            "lost": run.lost(),
        });
    }

    let mut summary = last.unwrap_or_else(|| json!({}));
    summary["latency_ms"] = json!(args.latency.as_millis() as u64);
    summary["sequential_sample_keys"] = json!(args.sequential_sample);
    summary["sequential_s_per_key"] = json!(round(seq_per_key, 5));
    summary["sequential_extrapolated"] = json!(true);
    summary["deadline"] = deadline_json;
    summary["contended"] = contended_json;
    summary["cold_start_ms"] = json!(round(cold_median.as_secs_f64() * 1000.0, 1));
    summary["binary_bytes"] = json!(binary_bytes);
    summary["bootstrap_zip_bytes"] = json!(zip_bytes);
    println!("{summary}");
    Ok(())
}
