//! `kms-rotation-bench`: the scale benchmark of the rule's periodic run (docs/performance.md).
//!
//! It starts a simulated AWS endpoint (the workspace's `fake-aws` crate, its HTTP server, over the
//! account of `sim.rs`) and a fake Lambda Runtime API in this process, spawns the real
//! `kms-rotation-rule` release binary against them, hands it one ScheduledNotification, and
//! measures the run from the outside: wall time, HTTP attempts per API at the endpoint, throttles,
//! what reached PutEvaluations, the invocation's result, the process's peak RSS (VmHWM) and the
//! time from spawn to its first `next` poll (cold start). It then runs the same account one key at
//! a time (the library's own `rule::run` with concurrency 1, in this process) on a sample of the
//! keys, and extrapolates per-key time to the full account.
//!
//! The last line of output is one JSON object describing the largest run.

mod org;
mod runtime;
mod sim;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use clap::Parser;
use kms_rotation_core::clients::{retry_config, Clients};
use kms_rotation_core::event::Invocation;
use kms_rotation_core::params::RuleParameters;
use kms_rotation_core::rule::PAGE_SIZE_VARIABLE;
use kms_rotation_core::rule::{self, Options};
use serde_json::{json, Value};
use tokio::process::Command;
use tokio::time::Instant;

use runtime::{Ending, FakeRuntime};
use sim::{Api, Faults, Sim, SimConfig, ACCOUNT, REGION};

/// The scale benchmark of the kms-rotation-rule periodic run (docs/performance.md). Exits 1 when
/// any run loses a key, evaluates one twice or gives one a wrong verdict.
#[derive(Debug, Parser)]
#[command(name = "kms-rotation-bench")]
struct Cli {
    /// Account sizes of the main runs, comma-separated [default: 1000,10000; --quick: 1000].
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    keys: Option<Vec<usize>>,
    /// Latency of every simulated answer, in milliseconds.
    #[arg(long = "latency-ms", default_value_t = 20, value_name = "MS")]
    latency_ms: u64,
    /// Share of KMS attempts throttled at random in the throttled runs (0 skips them).
    #[arg(long, default_value_t = 0.2, value_name = "SHARE")]
    throttle_share: f64,
    /// Keys of the one-key-at-a-time sample [default: 200; --quick: 100].
    #[arg(long, value_name = "N")]
    sequential_sample: Option<usize>,
    /// Share of each KMS quota left to the rule in the contended run, 0 skips it [default: 0.3;
    /// --quick: 0].
    #[arg(long, value_name = "SHARE")]
    contended_share: Option<f64>,
    /// Keys of the deadline run, 0 skips it [default: 10000; --quick: 2000].
    #[arg(long, value_name = "N")]
    deadline_keys: Option<usize>,
    /// Lambda timeout of the deadline run, in seconds [default: 6; --quick: 3].
    #[arg(long = "deadline-timeout-s", value_name = "S")]
    deadline_timeout_s: Option<f64>,
    /// Spawns timed for the cold start.
    #[arg(long, default_value_t = 5, value_name = "N")]
    cold_starts: usize,
    /// The rule parameters of every run (Config's ruleParameters JSON); the simulated account's
    /// expected verdicts follow them.
    #[arg(long, default_value = "{}", value_name = "JSON")]
    rule_parameters: String,
    /// Seed of the random throttling and of the refused evaluations.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Keys of each fault run, 0 skips them [default: 2000; --quick: 1000].
    #[arg(long, value_name = "N")]
    fault_keys: Option<usize>,
    /// Fault run "listing": ListKeys is refused (AccessDeniedException) from this page on.
    #[arg(long, default_value_t = 3, value_name = "PAGE")]
    list_fail_page: usize,
    /// Fault run "listing": ListKeys page size [default: a quarter of --fault-keys].
    #[arg(long, value_name = "N")]
    list_page_size: Option<usize>,
    /// Fault run "FailedEvaluations": share of keys whose evaluation Config refuses the first
    /// time it arrives.
    #[arg(long, default_value_t = 0.05, value_name = "SHARE")]
    refuse_once_share: f64,
    /// Fault run "FailedEvaluations": share of keys whose evaluation Config refuses every time.
    #[arg(long, default_value_t = 0.0025, value_name = "SHARE")]
    refuse_always_share: f64,
    /// Fault run "PutEvaluations fails": attempts (1-based, retries counted) answered HTTP 503,
    /// which the SDK retries.
    #[arg(long, value_delimiter = ',', default_value = "2", value_name = "N,...")]
    put_fail_retried: Vec<u64>,
    /// Fault run "PutEvaluations fails": attempts answered HTTP 400, not retried (the whole batch
    /// is not taken).
    #[arg(long, value_delimiter = ',', default_value = "5", value_name = "N,...")]
    put_fail_refused: Vec<u64>,
    /// Fault run "clean-up": keys deleted since the last run, whose ids Config still holds.
    #[arg(long, default_value_t = 50, value_name = "N")]
    deleted_keys: usize,
    /// The rule binary [default: kms-rotation-rule next to this binary].
    #[arg(long, value_name = "PATH")]
    rule_bin: Option<PathBuf>,
    /// The Lambda zip whose size is reported [default: <target>/lambda/kms-rotation-rule/bootstrap.zip].
    #[arg(long, value_name = "PATH")]
    zip: Option<PathBuf>,
    /// A short run: 1,000 keys, a 2,000-key deadline run of 3 s, a 100-key sample, no contended
    /// run, fault runs of 1,000 keys. Flags given explicitly win over it.
    #[arg(long)]
    quick: bool,
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// `kms-rotation audit` over a simulated organization (`make bench-org`): by default 200
    /// accounts × 4 Regions × 250 keys; a full run, then one killed half-way and resumed; the SDK
    /// alone over the same organization; remediation; evidence.
    Org(org::OrgCli),
}

/// The rule parameters whose effect the simulated account models (ExecutionRoleName is not: the
/// endpoint does not answer sts:AssumeRole).
const SIMULATED_PARAMETERS: &[&str] = &[
    "maxRotationPeriodInDays",
    "evaluateDisabledKeys",
    "exceptionTagKey",
    "getKeyRotationStatusPerSecond",
    "describeKeyPerSecond",
];

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
    params: RuleParameters,
    seed: u64,
    fault_keys: usize,
    list_fail_page: usize,
    list_page_size: Option<usize>,
    refuse_once_share: f64,
    refuse_always_share: f64,
    put_fail_retried: Vec<u64>,
    put_fail_refused: Vec<u64>,
    deleted_keys: usize,
    rule_bin: PathBuf,
    zip: PathBuf,
}

impl Args {
    fn from_cli(cli: Cli) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let bin_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        let target_dir = bin_dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let quick = cli.quick;
        let pick = |given: Option<f64>, full: f64, short: f64| {
            given.unwrap_or(if quick { short } else { full })
        };
        let params =
            RuleParameters::parse(Some(&cli.rule_parameters)).map_err(|e| e.to_string())?;
        // The expected verdicts model these parameters only; any other would make them wrong.
        if let Ok(Value::Object(given)) = serde_json::from_str::<Value>(&cli.rule_parameters) {
            let unset = |v: &Value| v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty());
            if let Some(name) = given
                .iter()
                .find(|(name, v)| !SIMULATED_PARAMETERS.contains(&name.as_str()) && !unset(v))
                .map(|(name, _)| name)
            {
                return Err(format!(
                    "--rule-parameters: {name} is not simulated (the bench models {})",
                    SIMULATED_PARAMETERS.join(", ")
                ));
            }
        }
        for (name, share) in [
            ("--throttle-share", cli.throttle_share),
            ("--refuse-once-share", cli.refuse_once_share),
            ("--refuse-always-share", cli.refuse_always_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!("{name} must be from 0 to 1, got {share}"));
            }
        }
        let deadline_timeout_s = pick(cli.deadline_timeout_s, 6.0, 3.0);
        if !(deadline_timeout_s.is_finite() && deadline_timeout_s > 0.0) {
            return Err(format!(
                "--deadline-timeout-s must be a positive number, got {deadline_timeout_s}"
            ));
        }
        Ok(Self {
            keys: cli.keys.unwrap_or_else(|| {
                if quick {
                    vec![1_000]
                } else {
                    vec![1_000, 10_000]
                }
            }),
            latency: Duration::from_millis(cli.latency_ms),
            throttle_share: cli.throttle_share,
            sequential_sample: cli
                .sequential_sample
                .unwrap_or(if quick { 100 } else { 200 }),
            deadline_keys: cli
                .deadline_keys
                .unwrap_or(if quick { 2_000 } else { 10_000 }),
            deadline_timeout: Duration::from_secs_f64(deadline_timeout_s),
            cold_starts: cli.cold_starts,
            contended_share: pick(cli.contended_share, 0.3, 0.0),
            rule_parameters: cli.rule_parameters,
            params,
            seed: cli.seed,
            fault_keys: cli.fault_keys.unwrap_or(if quick { 1_000 } else { 2_000 }),
            list_fail_page: cli.list_fail_page.max(1),
            list_page_size: cli.list_page_size,
            refuse_once_share: cli.refuse_once_share,
            refuse_always_share: cli.refuse_always_share,
            put_fail_retried: cli.put_fail_retried,
            put_fail_refused: cli.put_fail_refused,
            deleted_keys: cli.deleted_keys,
            rule_bin: cli
                .rule_bin
                .unwrap_or_else(|| bin_dir.join("kms-rotation-rule")),
            zip: cli
                .zip
                .unwrap_or_else(|| target_dir.join("lambda/kms-rotation-rule/bootstrap.zip")),
        })
    }

    /// A simulated account of `keys` keys, quotas enforced, no fault.
    fn sim(&self, keys: usize) -> SimConfig {
        SimConfig {
            keys,
            deleted: 0,
            latency: self.latency,
            quotas: true,
            throttle_share: 0.0,
            quota_share: 1.0,
            seed: self.seed,
            params: self.params.clone(),
            faults: Faults::default(),
        }
    }
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

/// One run of the real binary (or of the library, for the sequential sample).
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
    /// The keys the rule's log names, one `key not evaluated` line each: (key index, reason).
    logged: Vec<(usize, String)>,
    check: Check,
}

impl Run {
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

/// The promise, checked key by key: every live key the simulator holds is evaluated exactly once
/// with its expected verdict, or named by id (in a `key not evaluated` log line of the rule, or
/// in the invocation's error message); only keys that ListKeys never handed out, when the listing
/// was refused and the invocation failed, are covered by the listing having broken off.
#[derive(Debug, Default, Clone)]
struct Check {
    /// Live keys with exactly one evaluation taken by Config.
    once: usize,
    /// Ids (live or deleted) with more than one evaluation taken.
    double: usize,
    /// Ids that got a wrong verdict (or an empty or oversized annotation) in some evaluation.
    wrong: usize,
    /// Evaluations for ids that are not the account's.
    unknown: usize,
    /// Live keys with no evaluation taken.
    not_taken: usize,
    /// ... of which named by id (log line or error text).
    named: usize,
    /// ... of which named in a `key not evaluated` log line, by reason.
    named_in_log: BTreeMap<String, usize>,
    /// ... of which named in the invocation's error message.
    named_in_error: usize,
    /// ... of which not named, but never listed (the listing was refused before them).
    never_listed: usize,
    /// ... and the rest: neither evaluated nor named nor excused.
    lost: usize,
    /// The first few lost key ids.
    lost_ids: Vec<String>,
    /// Named by id although Config took their evaluation (a false alarm, not a failure).
    named_yet_taken: usize,
    /// Deleted keys Config still held: cleaned up (evaluated), named, and neither.
    deleted: usize,
    deleted_cleaned: usize,
    /// Deleted keys left without their NOT_APPLICABLE although the clean-up ran.
    stale: usize,
    /// ListKeys was refused (by the listing fault) and the invocation failed.
    listing_broke: bool,
}

impl Check {
    fn of(
        cfg: &SimConfig,
        tally: &sim::Tally,
        ending: &Ending,
        logged: &[(usize, String)],
    ) -> Self {
        let account = cfg.account();
        let error_text = match ending {
            Ending::Error { message, .. } => Some(message.as_str()),
            Ending::Response(_) => None,
        };
        let in_error: HashSet<usize> = error_text
            .map(sim::key_ids_in)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut in_log: HashMap<usize, &str> = HashMap::new();
        for (i, reason) in logged {
            in_log.entry(*i).or_insert(reason.as_str());
        }
        let listing_broke = tally.list_faults > 0 && error_text.is_some();
        let mut c = Check {
            listing_broke,
            unknown: tally.unknown,
            deleted: account.deleted,
            ..Default::default()
        };
        for i in 0..account.ids() {
            let taken = tally.taken[i];
            let named = in_log.contains_key(&i) || in_error.contains(&i);
            if taken > 1 {
                c.double += 1;
            }
            if tally.wrong[i] {
                c.wrong += 1;
            }
            if taken > 0 && named {
                c.named_yet_taken += 1;
            }
            if !account.is_live(i) {
                match (taken, named) {
                    (0, true) => {}
                    (0, false) if cfg.faults.cleanup_history && !listing_broke => c.stale += 1,
                    (0, false) => {}
                    _ => c.deleted_cleaned += 1,
                }
                continue;
            }
            if taken == 1 {
                c.once += 1;
            }
            if taken > 0 {
                continue;
            }
            c.not_taken += 1;
            if named {
                c.named += 1;
                if let Some(reason) = in_log.get(&i) {
                    *c.named_in_log.entry((*reason).to_owned()).or_default() += 1;
                }
                if in_error.contains(&i) {
                    c.named_in_error += 1;
                }
            } else if listing_broke && !tally.listed[i] {
                c.never_listed += 1;
            } else {
                c.lost += 1;
                if c.lost_ids.len() < 5 {
                    c.lost_ids.push(sim::key_id(i));
                }
            }
        }
        c
    }

    fn ok(&self) -> bool {
        self.lost == 0
            && self.double == 0
            && self.wrong == 0
            && self.unknown == 0
            && self.stale == 0
    }

    fn problems(&self) -> String {
        let mut p = Vec::new();
        for (n, what) in [
            (self.lost, "lost"),
            (self.double, "evaluated more than once"),
            (self.wrong, "with a wrong verdict"),
            (self.unknown, "evaluations of unknown ids"),
            (self.stale, "deleted keys not cleaned up"),
        ] {
            if n > 0 {
                p.push(format!("{n} {what}"));
            }
        }
        if !self.lost_ids.is_empty() {
            p.push(format!("lost ids include {}", self.lost_ids.join(", ")));
        }
        p.join(", ")
    }

    fn reasons(&self) -> String {
        self.named_in_log
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn json(&self) -> Value {
        json!({
            "ok": self.ok(),
            "evaluated_once": self.once,
            "not_evaluated": self.not_taken,
            "named": self.named,
            "named_in_log": self.named_in_log,
            "named_in_error_text": self.named_in_error,
            "never_listed": self.never_listed,
            "lost": self.lost,
            "double": self.double,
            "wrong": self.wrong,
            "unknown_ids": self.unknown,
            "named_yet_evaluated": self.named_yet_taken,
        })
    }
}

/// The keys the rule's JSON log names: one `key not evaluated` event per key, with the fields
/// `key_id` and `reason` (tracing-subscriber's JSON format keeps them under `fields`).
fn logged_keys(log: &Path) -> Vec<(usize, String)> {
    let Ok(text) = std::fs::read_to_string(log) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|v| {
            let fields = if v["fields"].is_object() {
                &v["fields"]
            } else {
                &v
            };
            if fields["message"].as_str() != Some("key not evaluated") {
                return None;
            }
            let i = fields["key_id"].as_str().and_then(sim::key_index)?;
            let reason = fields["reason"].as_str().unwrap_or("(no reason field)");
            Some((i, reason.to_owned()))
        })
        .collect()
}

/// The run's floor: the larger of the quota-bound time (each paced API's answered calls at its
/// client-side ceiling, less the initial burst of a tenth of a second) and the latency-bound time
/// (one ListKeys page, then every per-key call at `concurrency` in flight, then one last
/// PutEvaluations).
struct Floor {
    quota_bound: f64,
    quota_api: Api,
    latency_bound: f64,
    /// The physical limit: the same calls at the account's own quotas (KMS Developer Guide's
    /// request quotas), whatever the rule's ceilings are.
    account_quota_bound: f64,
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
        let account_quota_bound = ceilings
            .iter()
            .filter_map(|(api, _)| Some((*api, api.account_quota()?)))
            .map(|(api, q)| ((run.tally.answered(api) as f64) - q * 0.1).max(0.0) / q)
            .fold(0.0, f64::max);
        let per_key_calls: u64 = ceilings.iter().map(|(a, _)| run.tally.answered(*a)).sum();
        let lat = run.cfg.latency.as_secs_f64();
        let latency_bound = lat * (2.0 + per_key_calls as f64 / concurrency as f64);
        Self {
            quota_bound,
            quota_api,
            latency_bound,
            account_quota_bound,
        }
    }
    fn secs(&self) -> f64 {
        self.quota_bound.max(self.latency_bound)
    }
    /// The floor set by the account's quotas and the latency: no client could do better.
    fn quota_floor_secs(&self) -> f64 {
        self.account_quota_bound.max(self.latency_bound)
    }
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

/// A label as a file name: letters, digits and dashes.
fn file_name(label: &str) -> String {
    let mut name = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    name.trim_matches('-').to_owned()
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
    page_size: Option<usize>,
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
    if let Some(n) = page_size {
        cmd.env(PAGE_SIZE_VARIABLE, n.to_string());
    }
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
    page_size: Option<usize>,
) -> Result<Run, String> {
    let sim = Sim::new(cfg.clone());
    let (sim_addr, sim_task) = sim.serve().await.map_err(|e| e.to_string())?;
    let fake = FakeRuntime::new(event(&args.rule_parameters), timeout);
    let (rt_addr, rt_task) = fake.serve().await.map_err(|e| e.to_string())?;
    let log = log_dir().join(format!("{}.log", file_name(label)));
    let spawned = Instant::now();
    let mut child = rule_command(
        &args.rule_bin,
        rt_addr,
        &format!("http://{sim_addr}"),
        &log,
        page_size,
    )
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
    let tally = sim.tally();
    let logged = logged_keys(&log);
    let check = Check::of(&cfg, &tally, &ending, &logged);
    Ok(Run {
        label: label.to_owned(),
        keys: cfg.keys,
        wall: ended.saturating_duration_since(delivered),
        cold_start: first_next.saturating_duration_since(spawned),
        peak_rss_kib,
        tally,
        ending,
        cfg,
        log,
        logged,
        check,
    })
}

/// Spawn the binary and time it to its first `next` poll, without an invocation.
async fn cold_start(args: &Args) -> Result<Duration, String> {
    let fake = FakeRuntime::new(Value::Null, Duration::from_secs(1));
    let (rt_addr, rt_task) = fake.serve().await.map_err(|e| e.to_string())?;
    let log = log_dir().join("cold-start.log");
    let spawned = Instant::now();
    let mut child = rule_command(&args.rule_bin, rt_addr, "http://127.0.0.1:9", &log, None)
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
    let cfg = args.sim(sample);
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
    let tally = sim.tally();
    // In this process there is no log to read: keys are named by id in the error text only.
    let check = Check::of(&cfg, &tally, &ending, &[]);
    let run = Run {
        label: format!("sequential sample of {sample} keys"),
        keys: sample,
        wall,
        cold_start: Duration::ZERO,
        peak_rss_kib: 0,
        tally,
        ending,
        cfg,
        log: PathBuf::new(),
        logged: Vec::new(),
        check,
    };
    Ok((wall.as_secs_f64() / sample as f64, run))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn print_run(run: &Run, floor: &Floor) {
    println!("== {}", run.label);
    println!(
        "   keys {} | latency {} ms | account quotas {} | injected throttling {:.0}%",
        run.keys,
        run.cfg.latency.as_millis(),
        quotas_text(&run.cfg),
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
    println!(
        "   quota floor {:.2} s (the account's own quotas: the physical limit) | ratio_to_quota_floor {:.3}",
        floor.quota_floor_secs(),
        run.wall.as_secs_f64() / floor.quota_floor_secs().max(1e-9)
    );
    print_calls(run);
    let faults = fault_notes(run);
    if !faults.is_empty() {
        println!("   faults: {}", faults.join(" | "));
    }
    print_outcome(run);
}

/// The account's quotas in a run, as the settings line says them.
fn quotas_text(cfg: &SimConfig) -> String {
    if !cfg.quotas {
        "off".to_owned()
    } else if cfg.quota_share < 1.0 {
        format!(
            "enforced, only {:.0}% of each left to the rule (other callers take the rest)",
            cfg.quota_share * 100.0
        )
    } else {
        "enforced".to_owned()
    }
}

/// The calls of a run: KMS attempts per key, the PutEvaluations batches, the throttles.
fn print_calls(run: &Run) {
    let t = &run.tally;
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
}

/// What each fault injected in a run did, one note per fault.
fn fault_notes(run: &Run) -> Vec<String> {
    let t = &run.tally;
    let f = &run.cfg.faults;
    let mut faults = Vec::new();
    if let Some(page) = f.list_keys_fail_page {
        faults.push(format!(
            "ListKeys refused from page {page} on ({} refusals; {} of {} keys listed)",
            t.list_faults,
            t.listed.iter().filter(|l| **l).count(),
            run.keys
        ));
    }
    if f.refuse_once_share > 0.0 || f.refuse_always_share > 0.0 {
        faults.push(format!(
            "{} evaluations listed in FailedEvaluations ({:.1}% of keys refused once, {:.2}% every time)",
            t.refused,
            f.refuse_once_share * 100.0,
            f.refuse_always_share * 100.0
        ));
    }
    if !f.put_fail_retried.is_empty() || !f.put_fail_refused.is_empty() {
        faults.push(format!(
            "PutEvaluations attempts failed whole: {} answered 503 (attempts {:?}), {} refused with 400 (attempts {:?})",
            t.put_failed_retried, f.put_fail_retried, t.put_failed_refused, f.put_fail_refused
        ));
    }
    if f.cleanup_history {
        faults.push(format!(
            "clean-up read answered {} ids in {} calls, {} of them deleted keys: {} cleaned up (NOT_APPLICABLE), {} neither cleaned up nor named",
            t.cleanup_ids,
            t.attempts(Api::GetComplianceDetailsByConfigRule),
            run.check.deleted,
            run.check.deleted_cleaned,
            run.check.stale
        ));
    }
    faults
}

/// The outcome of a run: the evaluations Config took, the invocation's result, the keys not
/// evaluated, the check, and the process's peak RSS and cold start.
fn print_outcome(run: &Run) {
    let c = &run.check;
    println!(
        "   evaluations taken by Config {} | keys once {}, more than once {}, none {} | wrong verdicts {} | unknown ids {}",
        run.tally.evaluations, c.once, c.double, c.not_taken, c.wrong, c.unknown
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
                if message.chars().count() > 300 {
                    " [...]"
                } else {
                    ""
                }
            );
        }
    }
    println!(
        "   of the {} keys not evaluated: named by id {} (in the log: {}; in the error text: {}){} | LOST {}{}",
        c.not_taken,
        c.named,
        if c.named_in_log.is_empty() { "none".to_owned() } else { c.reasons() },
        c.named_in_error,
        if c.listing_broke {
            format!(" | never listed, ListKeys refused: {}", c.never_listed)
        } else {
            String::new()
        },
        c.lost,
        if c.named_yet_taken > 0 {
            format!(" | named yet evaluated {}", c.named_yet_taken)
        } else {
            String::new()
        }
    );
    if c.ok() {
        println!("   check: OK");
    } else {
        println!("   check: FAILED: {}", c.problems());
    }
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
        "quota_floor_s": round(floor.quota_floor_secs(), 3),
        "ratio_to_quota_floor": round(run.wall.as_secs_f64() / floor.quota_floor_secs().max(1e-9), 3),
        "kms_calls_per_key": round(run.per_key(run.kms_attempts()), 4),
        "calls_per_key": per,
        "put_evaluations_calls": t.attempts(Api::PutEvaluations),
        "throttles": run.kms_throttled(),
        "throttled_share": round(run.kms_throttled() as f64 / run.kms_attempts().max(1) as f64, 4),
        "evaluations": t.evaluations,
        "check": run.check.json(),
        "log_lines_key_not_evaluated": run.logged.len(),
        "lost": run.check.lost,
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
    let mut cli = Cli::parse();
    if let Some(Sub::Org(org_cli)) = cli.command.take() {
        match org::main(org_cli).await {
            Ok(problems) if problems.is_empty() => {}
            Ok(problems) => {
                eprintln!("kms-rotation-bench org: FAILED:");
                for p in &problems {
                    eprintln!("  {p}");
                }
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("kms-rotation-bench org: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let args = match Args::from_cli(cli) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kms-rotation-bench: {e}");
            std::process::exit(2);
        }
    };
    match bench(args).await {
        Ok(failures) if failures.is_empty() => {}
        Ok(failures) => {
            eprintln!(
                "kms-rotation-bench: FAILED: {} run(s) broke the promise (every key evaluated once with its expected verdict, or named by id):",
                failures.len()
            );
            for f in &failures {
                eprintln!("  {f}");
            }
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("kms-rotation-bench: {e}");
            std::process::exit(1);
        }
    }
}

/// The most a Config fault run (FailedEvaluations, PutEvaluations failing) may take, in times its
/// floor.
const MAX_CONFIG_FAULT_RATIO: f64 = 1.5;

/// Print a run, note it if its check failed, and return its JSON.
fn report(run: &Run, floor: &Floor, failures: &mut Vec<String>) -> Value {
    print_run(run, floor);
    if !run.check.ok() {
        failures.push(format!("{}: {}", run.label, run.check.problems()));
    }
    run_json(run, floor)
}

/// The Lambda timeout of every run but the deadline run.
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(900);

/// Runs every scenario; returns the runs whose check failed.
async fn bench(args: Args) -> Result<Vec<String>, String> {
    if !args.rule_bin.exists() {
        return Err(format!(
            "{} not found: build it first (cargo build --release -p rule-lambda --bin kms-rotation-rule)",
            args.rule_bin.display()
        ));
    }
    let mut bench = Bench {
        args,
        concurrency: Options::default().concurrency,
        failures: Vec::new(),
    };
    bench.print_setup();
    let cold_start_median = bench.cold_starts().await?;
    let (binary_bytes, zip_bytes) = bench.print_sizes();
    let seq_per_key = bench.sequential_sample().await?;
    let largest = bench.account_runs(seq_per_key).await?;
    let contended = if bench.args.contended_share > 0.0 {
        bench.contended_run().await?
    } else {
        Value::Null
    };
    let deadline = if bench.args.deadline_keys > 0 {
        bench.deadline_run().await?
    } else {
        Value::Null
    };
    let faults = if bench.args.fault_keys > 0 {
        bench.fault_runs().await?
    } else {
        serde_json::Map::new()
    };
    let summary = bench.summary(Findings {
        cold_start_median,
        binary_bytes,
        zip_bytes,
        seq_per_key,
        largest,
        contended,
        deadline,
        faults,
    });
    println!("{summary}");
    Ok(bench.failures)
}

/// The benchmark's runs: their settings, and the runs whose check failed so far.
struct Bench {
    args: Args,
    /// The rule's concurrency (its default), for the floors of the binary's runs.
    concurrency: usize,
    failures: Vec<String>,
}

/// A run of the binary, printed: the run, its floor and its JSON.
struct Measured {
    run: Run,
    floor: Floor,
    json: Value,
}

/// What the phases measured, for the last line.
struct Findings {
    cold_start_median: Duration,
    binary_bytes: Option<u64>,
    zip_bytes: Option<u64>,
    /// Seconds per key of the one-key-at-a-time sample.
    seq_per_key: f64,
    /// The JSON of the last main run (of the last `--keys` size).
    largest: Option<Value>,
    contended: Value,
    deadline: Value,
    faults: serde_json::Map<String, Value>,
}

impl Bench {
    /// The header: the binary, the ceilings, the parameters, the simulated account's key mix.
    fn print_setup(&self) {
        let args = &self.args;
        let params = &args.params;
        println!(
            "kms-rotation-bench: rule binary {} | ceilings DescribeKey {}/s, GetKeyRotationStatus {}/s, ListResourceTags {}/s | concurrency {} | account quotas DescribeKey 2000/s, GetKeyRotationStatus 1000/s, ListKeys 500/s, ListAliases 500/s, ListResourceTags 2000/s",
            args.rule_bin.display(),
            params.describe_key_per_second,
            params.get_key_rotation_status_per_second,
            params.get_key_rotation_status_per_second,
            self.concurrency
        );
        println!(
            "   rule parameters {} | verdicts expected with maxRotationPeriodInDays {}, evaluateDisabledKeys {}, exceptionTagKey {:?}",
            args.rule_parameters,
            params
                .max_rotation_period_in_days
                .map(|d| d.to_string())
                .unwrap_or_else(|| "unset".into()),
            params.evaluate_disabled_keys,
            params.exception_tag_key
        );
        println!(
            "   key mix (repeats every 100 keys): 20% AWS-managed, 60% rotation on (50% every 365 days, 5% every 180, 5% every 730), 8% rotation off, 1% valid exception, 1% expired exception, 4% RSA, 2% HMAC, 1% disabled, 1% pending deletion, 1% imported, 1% multi-Region replica; aliases: alias/aws/<service> on every AWS-managed key, alias/app-<n> on one customer key in {}, {} predefined alias/aws/... naming no key",
            fake_aws::CUSTOMER_ALIAS_EVERY,
            fake_aws::PREDEFINED_ALIASES.len()
        );
    }

    /// Cold start: spawn to first poll of the Runtime API, `--cold-starts` times; returns the
    /// median.
    async fn cold_starts(&self) -> Result<Duration, String> {
        let mut colds = Vec::new();
        for _ in 0..self.args.cold_starts {
            colds.push(cold_start(&self.args).await?);
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
        Ok(cold_median)
    }

    /// The sizes of the release binary and of the Lambda zip, when present: (binary, zip).
    fn print_sizes(&self) -> (Option<u64>, Option<u64>) {
        let args = &self.args;
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
        (binary_bytes, zip_bytes)
    }

    /// One key at a time, on a sample; returns the seconds per key, which the main runs
    /// extrapolate.
    async fn sequential_sample(&mut self) -> Result<f64, String> {
        let (seq_per_key, seq_run) = sequential(&self.args, self.args.sequential_sample).await?;
        let seq_floor = Floor::of(&seq_run, &self.args.params, 1);
        report(&seq_run, &seq_floor, &mut self.failures);
        println!(
            "   one key at a time: {:.1} ms per key, measured on a sample of {} keys and EXTRAPOLATED linearly to larger accounts",
            seq_per_key * 1000.0,
            self.args.sequential_sample
        );
        Ok(seq_per_key)
    }

    /// Run the binary on `cfg`, print the run and note it if its check failed.
    async fn measure(
        &mut self,
        label: &str,
        cfg: SimConfig,
        timeout: Duration,
        page_size: Option<usize>,
    ) -> Result<Measured, String> {
        let run = run_rule(&self.args, label, cfg, timeout, page_size).await?;
        let floor = Floor::of(&run, &self.args.params, self.concurrency);
        let json = report(&run, &floor, &mut self.failures);
        Ok(Measured { run, floor, json })
    }

    /// The main runs, one per `--keys` size, each compared with the one-key-at-a-time sample and
    /// followed by its throttled run; returns the JSON of the last.
    async fn account_runs(&mut self, seq_per_key: f64) -> Result<Option<Value>, String> {
        let mut last = None;
        for n in self.args.keys.clone() {
            let cfg = self.args.sim(n);
            let Measured {
                run, json: mut j, ..
            } = self
                .measure(&format!("{n} keys"), cfg.clone(), LAMBDA_TIMEOUT, None)
                .await?;
            let speedup = seq_per_key * n as f64 / run.wall.as_secs_f64();
            println!(
                "   one key at a time would take {:.1} s (extrapolated from the sample): speed-up {:.1}x",
                seq_per_key * n as f64,
                speedup
            );
            let throttled_json = if self.args.throttle_share > 0.0 {
                self.throttled_run(n, cfg).await?
            } else {
                Value::Null
            };
            j["speedup_vs_sequential"] = json!(round(speedup, 1));
            j["with_injected_throttling"] = throttled_json;
            last = Some(j);
        }
        Ok(last)
    }

    /// The account of `cfg` (`n` keys) with `--throttle-share` of the KMS attempts throttled at
    /// random; returns its JSON.
    async fn throttled_run(&mut self, n: usize, cfg: SimConfig) -> Result<Value, String> {
        let share = self.args.throttle_share;
        let tcfg = SimConfig {
            throttle_share: share,
            ..cfg
        };
        let label = format!("{n} keys, {:.0}% throttled", share * 100.0);
        Ok(self.measure(&label, tcfg, LAMBDA_TIMEOUT, None).await?.json)
    }

    /// Contention: other callers in the account take most of each quota, so the rule's ceiling is
    /// above what is left and the quota answers ThrottlingException: the pacers must adapt.
    /// Returns the run's JSON.
    async fn contended_run(&mut self) -> Result<Value, String> {
        let share = self.args.contended_share;
        let n = self.args.keys.iter().copied().max().unwrap_or(10_000);
        let cfg = SimConfig {
            quota_share: share,
            ..self.args.sim(n)
        };
        let label = format!(
            "{n} keys, {:.0}% of the quotas left to the rule",
            share * 100.0
        );
        let Measured {
            run, json: mut j, ..
        } = self.measure(&label, cfg, LAMBDA_TIMEOUT, None).await?;
        // What the quota left allows: the busiest API's answered calls at its share of the quota.
        let left_bound = Api::KMS
            .iter()
            .filter_map(|a| {
                let q = a.account_quota()? * share;
                Some(run.tally.answered(*a) as f64 / q)
            })
            .fold(0.0, f64::max);
        println!(
            "   bound by the quota left: {:.2} s | ratio {:.3}",
            left_bound,
            run.wall.as_secs_f64() / left_bound.max(1e-9)
        );
        j["quota_share"] = json!(share);
        j["quota_left_bound_s"] = json!(round(left_bound, 3));
        Ok(j)
    }

    /// The deadline: a timeout too short for the account. Returns the run's JSON.
    async fn deadline_run(&mut self) -> Result<Value, String> {
        let timeout = self.args.deadline_timeout;
        let label = format!(
            "{} keys, Lambda timeout {:.1} s (deadline)",
            self.args.deadline_keys,
            timeout.as_secs_f64()
        );
        let cfg = self.args.sim(self.args.deadline_keys);
        let Measured { run, .. } = self.measure(&label, cfg, timeout, None).await?;
        println!(
            "   ended {:.2} s after the event, {:.2} s before the {:.1} s deadline",
            run.wall.as_secs_f64(),
            (timeout.as_secs_f64() - run.wall.as_secs_f64()),
            timeout.as_secs_f64()
        );
        Ok(json!({
            "keys": run.keys,
            "timeout_s": timeout.as_secs_f64(),
            "wall_s": round(run.wall.as_secs_f64(), 3),
            "evaluations": run.tally.evaluations,
            "check": run.check.json(),
            "lost": run.check.lost,
        }))
    }

    /// Faults: each run must still account for every key by id, and Config's faults must not
    /// hold up the evaluation. Returns the runs' JSON by scenario name.
    async fn fault_runs(&mut self) -> Result<serde_json::Map<String, Value>, String> {
        let mut faults_json = serde_json::Map::new();
        for scenario in self.args.fault_scenarios() {
            let Measured {
                run,
                floor,
                json: mut j,
            } = self
                .measure(
                    &scenario.label,
                    scenario.cfg,
                    LAMBDA_TIMEOUT,
                    scenario.page_size,
                )
                .await?;
            // Config's faults must not hold up the evaluation (issue 23): the writer keeps
            // batches in flight while one waits on its retries.
            let ratio = run.wall.as_secs_f64() / floor.secs().max(f64::MIN_POSITIVE);
            if matches!(
                scenario.name,
                "failed_evaluations" | "put_evaluations_fails"
            ) && ratio > MAX_CONFIG_FAULT_RATIO
            {
                self.failures.push(format!(
                    "{}: {:.2} s is {ratio:.2}× its floor ({:.2} s), above {MAX_CONFIG_FAULT_RATIO}×",
                    run.label,
                    run.wall.as_secs_f64(),
                    floor.secs()
                ));
            }
            j["faults"] = fault_json(&run);
            j["ending"] = json!(match &run.ending {
                Ending::Response(_) => "response".to_owned(),
                Ending::Error { error_type, .. } => error_type.clone(),
            });
            faults_json.insert(scenario.name.to_owned(), j);
        }
        Ok(faults_json)
    }

    /// The last line: the last main run's JSON, with the other runs' and the settings.
    fn summary(&self, findings: Findings) -> Value {
        let args = &self.args;
        let mut summary = findings.largest.unwrap_or_else(|| json!({}));
        summary["latency_ms"] = json!(args.latency.as_millis() as u64);
        summary["rule_parameters"] = json!(args.rule_parameters);
        summary["sequential_sample_keys"] = json!(args.sequential_sample);
        summary["sequential_s_per_key"] = json!(round(findings.seq_per_key, 5));
        summary["sequential_extrapolated"] = json!(true);
        summary["deadline"] = findings.deadline;
        summary["contended"] = findings.contended;
        summary["faults"] = Value::Object(findings.faults);
        summary["cold_start_ms"] =
            json!(round(findings.cold_start_median.as_secs_f64() * 1000.0, 1));
        summary["binary_bytes"] = json!(findings.binary_bytes);
        summary["bootstrap_zip_bytes"] = json!(findings.zip_bytes);
        summary["failures"] = json!(self.failures);
        summary
    }
}

/// What a fault run's faults did, for its JSON.
fn fault_json(run: &Run) -> Value {
    json!({
        "list_faults": run.tally.list_faults,
        "listed": run.tally.listed.iter().filter(|l| **l).count(),
        "refused_evaluations": run.tally.refused,
        "put_failed_retried": run.tally.put_failed_retried,
        "put_failed_refused": run.tally.put_failed_refused,
        "cleanup_ids": run.tally.cleanup_ids,
        "deleted": run.check.deleted,
        "deleted_cleaned_up": run.check.deleted_cleaned,
    })
}

/// A fault run: its name in the summary, its label, its simulated account and its ListKeys page
/// size (the rule's default when `None`).
struct FaultScenario {
    name: &'static str,
    label: String,
    cfg: SimConfig,
    page_size: Option<usize>,
}

impl Args {
    /// The fault runs, of `--fault-keys` keys each: the listing refused part-way, evaluations in
    /// FailedEvaluations, PutEvaluations attempts failing whole, and the clean-up of deleted keys.
    fn fault_scenarios(&self) -> Vec<FaultScenario> {
        let n = self.fault_keys;
        let page = self.list_page_size.unwrap_or(n.div_ceil(4)).clamp(1, 1000);
        vec![
            FaultScenario {
                name: "listing",
                label: format!(
                    "{n} keys, ListKeys refused (AccessDeniedException) from page {} on, pages of {page}",
                    self.list_fail_page
                ),
                cfg: SimConfig {
                    faults: Faults {
                        list_keys_fail_page: Some(self.list_fail_page),
                        ..Faults::default()
                    },
                    ..self.sim(n)
                },
                page_size: Some(page),
            },
            FaultScenario {
                name: "failed_evaluations",
                label: format!(
                    "{n} keys, FailedEvaluations: {:.1}% of keys refused once, {:.2}% every time",
                    self.refuse_once_share * 100.0,
                    self.refuse_always_share * 100.0
                ),
                cfg: SimConfig {
                    faults: Faults {
                        refuse_once_share: self.refuse_once_share,
                        refuse_always_share: self.refuse_always_share,
                        ..Faults::default()
                    },
                    ..self.sim(n)
                },
                page_size: None,
            },
            FaultScenario {
                name: "put_evaluations_fails",
                label: format!(
                    "{n} keys, PutEvaluations attempt(s) {:?} answered 503 (retried), {:?} refused with 400",
                    self.put_fail_retried, self.put_fail_refused
                ),
                cfg: SimConfig {
                    faults: Faults {
                        put_fail_retried: self.put_fail_retried.clone(),
                        put_fail_refused: self.put_fail_refused.clone(),
                        ..Faults::default()
                    },
                    ..self.sim(n)
                },
                page_size: None,
            },
            FaultScenario {
                name: "cleanup",
                label: format!(
                    "{n} keys and {} deleted, the clean-up read answers the account's earlier results",
                    self.deleted_keys
                ),
                cfg: SimConfig {
                    deleted: self.deleted_keys,
                    faults: Faults {
                        cleanup_history: true,
                        ..Faults::default()
                    },
                    ..self.sim(n)
                },
                page_size: None,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(keys: usize, deleted: usize, faults: Faults) -> SimConfig {
        SimConfig {
            keys,
            deleted,
            latency: Duration::ZERO,
            quotas: false,
            throttle_share: 0.0,
            quota_share: 1.0,
            seed: 7,
            params: RuleParameters::default(),
            faults,
        }
    }

    fn tally(cfg: &SimConfig, taken: &[u16]) -> sim::Tally {
        let ids = cfg.keys + cfg.deleted;
        let mut t = vec![0; ids];
        t[..taken.len()].copy_from_slice(taken);
        sim::Tally {
            attempts: HashMap::new(),
            throttled_quota: HashMap::new(),
            throttled_injected: HashMap::new(),
            evaluations: t.iter().map(|n| usize::from(*n)).sum(),
            taken: t,
            wrong: vec![false; ids],
            listed: vec![true; cfg.keys],
            unknown: 0,
            refused: 0,
            list_faults: 0,
            put_failed_retried: 0,
            put_failed_refused: 0,
            cleanup_ids: 0,
            max_batch: 0,
            full_batches: 0,
            first_put: None,
            last_put: None,
        }
    }

    fn failed(message: String) -> Ending {
        Ending::Error {
            error_type: "KeysNotEvaluated".into(),
            message,
        }
    }

    #[test]
    fn lost_is_counted_by_id_not_from_counts_in_the_text() {
        let c = cfg(6, 0, Faults::default());
        let t = tally(&c, &[1, 1, 0, 0, 0, 0]);
        // The text claims 4 keys but names one; the log names another: two are lost.
        let ending = failed(format!(
            "4 key(s) could not be evaluated and were not reported: kms:DescribeKey {}: boom; and 3 more",
            sim::key_id(2)
        ));
        let check = Check::of(&c, &t, &ending, &[(3, "kms_error".into())]);
        assert_eq!(
            (check.not_taken, check.named, check.lost),
            (4, 2, 2),
            "{check:?}"
        );
        assert_eq!(check.named_in_error, 1);
        assert_eq!(check.named_in_log.get("kms_error"), Some(&1));
        assert_eq!(check.lost_ids, vec![sim::key_id(4), sim::key_id(5)]);
        assert!(!check.ok());
    }

    #[test]
    fn doubles_and_wrong_verdicts_fail_the_check() {
        let c = cfg(3, 0, Faults::default());
        let mut t = tally(&c, &[1, 2, 1]);
        assert_eq!(
            Check::of(&c, &t, &Ending::Response(Value::Null), &[]).double,
            1
        );
        t.taken[1] = 1;
        t.wrong[2] = true;
        let check = Check::of(&c, &t, &Ending::Response(Value::Null), &[]);
        assert_eq!((check.double, check.wrong, check.ok()), (0, 1, false));
        t.wrong[2] = false;
        assert!(Check::of(&c, &t, &Ending::Response(Value::Null), &[]).ok());
    }

    #[test]
    fn only_keys_never_listed_are_excused_when_the_listing_broke() {
        let faults = Faults {
            list_keys_fail_page: Some(2),
            ..Faults::default()
        };
        let c = cfg(6, 0, faults);
        let mut t = tally(&c, &[1, 1, 0, 0, 0, 0]);
        t.list_faults = 1;
        t.listed = vec![true, true, true, false, false, false];
        // Key 2 was listed, then dropped: lost. Keys 3..6 were never listed.
        let ending = failed("listing the keys broke off".into());
        let check = Check::of(&c, &t, &ending, &[]);
        assert_eq!((check.never_listed, check.lost), (3, 1));
        let check = Check::of(&c, &t, &ending, &[(2, "listing".into())]);
        assert_eq!((check.never_listed, check.lost, check.ok()), (3, 0, true));
        // An invocation that reports success has no excuse for any key.
        let check = Check::of(&c, &t, &Ending::Response(Value::Null), &[(2, "x".into())]);
        assert_eq!(check.lost, 3);
    }

    #[test]
    fn deleted_keys_must_be_cleaned_up_once() {
        let faults = Faults {
            cleanup_history: true,
            ..Faults::default()
        };
        let c = cfg(2, 3, faults);
        let t = tally(&c, &[1, 1, 1, 2, 0]);
        let check = Check::of(&c, &t, &Ending::Response(Value::Null), &[]);
        assert_eq!(
            (check.deleted_cleaned, check.double, check.stale),
            (2, 1, 1)
        );
        assert!(!check.ok());
    }

    #[test]
    fn the_rule_log_is_read_by_key_id() {
        let dir =
            std::env::temp_dir().join(format!("kms-rotation-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("rule.log");
        let line = |fields: Value| {
            json!({"timestamp": "t", "level": "WARN", "fields": fields}).to_string()
        };
        let text = [
            line(json!({"message": "key not evaluated", "key_id": sim::key_id(4), "reason": "deadline"})),
            line(json!({"message": "key not evaluated", "key_id": sim::key_id(9), "error": "kms:..."})),
            line(json!({"message": "evaluated", "key_id": sim::key_id(5)})),
            line(json!({"message": "key not evaluated", "key_id": "not-a-key"})),
            "not json".to_owned(),
        ]
        .join("\n");
        std::fs::write(&log, text).unwrap();
        assert_eq!(
            logged_keys(&log),
            vec![
                (4, "deadline".to_owned()),
                (9, "(no reason field)".to_owned())
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_flag_keeps_its_name() {
        let cli = Cli::try_parse_from([
            "kms-rotation-bench",
            "--keys",
            "10,20",
            "--latency-ms",
            "5",
            "--throttle-share",
            "0.1",
            "--sequential-sample",
            "50",
            "--contended-share",
            "0.5",
            "--deadline-keys",
            "30",
            "--deadline-timeout-s",
            "2.5",
            "--cold-starts",
            "1",
            "--rule-parameters",
            r#"{"maxRotationPeriodInDays":"365"}"#,
            "--seed",
            "3",
            "--rule-bin",
            "/bin/true",
            "--zip",
            "/tmp/z.zip",
            "--quick",
        ])
        .unwrap();
        let a = Args::from_cli(cli).unwrap();
        assert_eq!(a.keys, vec![10, 20]);
        assert_eq!(a.latency, Duration::from_millis(5));
        assert_eq!(a.sequential_sample, 50);
        assert_eq!(a.contended_share, 0.5);
        assert_eq!(a.deadline_keys, 30);
        assert_eq!(a.deadline_timeout, Duration::from_millis(2500));
        assert_eq!(a.params.max_rotation_period_in_days, Some(365));
        assert_eq!(a.rule_bin, PathBuf::from("/bin/true"));
        // --quick fills in what was not given.
        assert_eq!(a.fault_keys, 1_000);
        let quick = Args::from_cli(Cli::try_parse_from(["b", "--quick"]).unwrap()).unwrap();
        assert_eq!(
            (quick.keys, quick.deadline_keys, quick.sequential_sample),
            (vec![1_000], 2_000, 100)
        );
        let full = Args::from_cli(Cli::try_parse_from(["b"]).unwrap()).unwrap();
        assert_eq!(
            (full.keys, full.deadline_keys, full.contended_share),
            (vec![1_000, 10_000], 10_000, 0.3)
        );
        assert!(Cli::try_parse_from(["b", "--keys", "x"]).is_err());
        for unmodelled in [
            r#"{"ExecutionRoleName":"R"}"#,
            r#"{"rotationGraceDays":"3"}"#,
        ] {
            let cli = Cli::try_parse_from(["b", "--rule-parameters", unmodelled]).unwrap();
            let err = Args::from_cli(cli).unwrap_err();
            assert!(
                err.contains("not simulated") || err.contains("unknown"),
                "{err}"
            );
        }
        // Unset optional parameters are fine.
        let cli = Cli::try_parse_from(["b", "--rule-parameters", r#"{"ExecutionRoleName":""}"#]);
        assert!(Args::from_cli(cli.unwrap()).is_ok());
    }
}
