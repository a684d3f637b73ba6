//! `kms-rotation-bench org` (`make bench-org`): `kms-rotation audit` over a simulated
//! organization (fake-aws's [`Org`]: by default 200 accounts × 4 Regions × 250 keys, each
//! account-Region with its own KMS quotas, 20 ms a call), measured from the outside.
//!
//! Two runs of the real release binary, each against a fresh organization:
//!
//! 1. **full**: the whole audit. Every key must come out on stdout exactly once, with the verdict
//!    its kind calls for, attributed to its account and Region; the wall time is compared with
//!    the floor the latency and `--max-in-flight` set (below), the peak RSS with its budget.
//! 2. **kill-resume**: the same audit with `--state`, interrupted (SIGINT by default, or SIGKILL)
//!    once the organization has answered `--kill-at` of the full run's DescribeKey calls, then
//!    run again with `--resume` against a fresh organization. The resumed run's stdout must hold
//!    every key exactly once, and no account-Region the state file records as finished may see a
//!    key read (DescribeKey, GetKeyRotationStatus, ListResourceTags) again.
//!
//! The floor of a run: `kms_calls × latency / max_in_flight`, where `kms_calls` counts the KMS
//! calls the organization answered (throttled attempts apart: they are the client's waste), or,
//! when larger, the slowest account-Region alone: its ListKeys pages plus one key read back to
//! back, or its calls of one operation at that operation's quota. STS calls are left out (they are
//! not KMS requests and `--max-in-flight` does not bound them).
//!
//! Also reported, to tell the machine's limits from the CLI's: the CPU seconds of the CLI and of
//! this process (the organization's server), and `cpu_bound_s`, their sum over the cores.
//!
//! Then **sdk-floor**: `kms-rotation-sdk-floor` (`src/bin/sdk_floor.rs`), the AWS SDK alone as the
//! CLI configures it, over a fresh organization of the same shape: its CPU a KMS call against the
//! simulator's, beside the CLI's, and the CLI's over it (checked against `--max-cli-over-sdk`).
//!
//! Prints one JSON line per run (`"run":"full"`, `"run":"kill-resume"`, `"run":"sdk-floor"`, then
//! the remediation and evidence runs); exits 1 when a key is lost or duplicated or a target is
//! missed, saying why on stderr.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_aws::{org_quota, Org, OrgConfig, OrgCounts, ORG_OPERATIONS, ORG_REGIONS};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::Instant;

/// The organization-scale benchmark of `kms-rotation audit` (docs/performance.md).
#[derive(Debug, Clone, clap::Args)]
pub struct OrgCli {
    /// Member accounts.
    #[arg(long, default_value_t = 200, value_name = "N")]
    accounts: usize,
    /// Regions, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = ORG_REGIONS.map(String::from), value_name = "R,...")]
    regions: Vec<String>,
    /// Keys in each account-Region.
    #[arg(long, default_value_t = 250, value_name = "N")]
    keys_per_region: usize,
    /// Latency of every simulated answer, in milliseconds.
    #[arg(long = "latency-ms", default_value_t = 20, value_name = "MS")]
    latency_ms: u64,
    /// The CLI's --max-in-flight.
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_in_flight: usize,
    /// The last N accounts refuse AssumeRole: their Regions fail (the CLI exits 2).
    #[arg(long, default_value_t = 0, value_name = "N")]
    denied_accounts: usize,
    /// Kill the kill-resume run once this share of the full run's DescribeKey calls is answered;
    /// 0 skips the kill-resume run.
    #[arg(long, default_value_t = 0.5, value_name = "SHARE")]
    kill_at: f64,
    /// The signal that kills it: int (Ctrl-C) or kill (SIGKILL).
    #[arg(long, default_value = "int", value_parser = ["int", "kill"])]
    kill_signal: String,
    /// Target: wall time at most this many times the floor.
    #[arg(long, default_value_t = 1.3, value_name = "X")]
    max_ratio: f64,
    /// Target: the CLI's CPU a KMS call (the full run) at most this many times the SDK's alone
    /// (the sdk-floor run), each against the simulator's in its run: what the CLI adds to a call.
    #[arg(long, default_value_t = 1.25, value_name = "X")]
    max_cli_over_sdk: f64,
    /// Target: peak RSS below this, in MiB.
    #[arg(long, default_value_t = 256.0, value_name = "MIB")]
    max_rss_mib: f64,
    /// Give up on a run after this many seconds.
    #[arg(long = "timeout-s", default_value_t = 900, value_name = "S")]
    timeout_s: u64,
    /// The remediation runs: `remediate --apply --yes` at each of these --batch-size values, each
    /// against a fresh organization with --remediate-off-per-100 keys in 100 to fix; 0 skips them.
    #[arg(long, value_delimiter = ',', default_values_t = [25u32, 10_000], value_name = "N,...")]
    remediate_batch_sizes: Vec<u32>,
    /// Rotation-off keys in every 100 of the remediation runs' organization (with the expired and
    /// malformed exceptions and the replica, the keys EnableKeyRotation fixes: 22% at 19).
    #[arg(long, default_value_t = 19, value_name = "N")]
    remediate_off_per_100: usize,
    /// The CLI binary [default: kms-rotation next to this binary].
    #[arg(long, value_name = "PATH")]
    cli_bin: Option<PathBuf>,
    /// Run only these phases (comma-separated): audit (the full run and kill-resume), sdk-floor
    /// (the SDK alone over the same organization: the CPU a KMS call costs before the CLI adds
    /// anything), remediate, evidence. Default: all.
    #[arg(long, value_delimiter = ',', default_values_t = ["audit".to_owned(), "sdk-floor".to_owned(), "remediate".to_owned(), "evidence".to_owned()],
          value_parser = ["audit", "sdk-floor", "remediate", "evidence"], value_name = "PHASE,...")]
    phases: Vec<String>,
}

const ROLE_NAME: &str = fake_aws::ORG_ROLE_NAME;
const BASE_ACCESS_KEY_ID: &str = "AKIAORGBENCHMGMT0001";
const BASE_SECRET_ACCESS_KEY: &str = "org/bench/management/secret/key/000000000";

/// What the CLI printed on stdout, checked key by key.
#[derive(Debug, Default)]
struct Tally {
    /// Rows per key (index `cell * keys_per_region + key`), saturating.
    seen: Vec<u8>,
    rows: u64,
    /// Rows whose verdict is not the one the key's kind calls for.
    wrong_verdict: u64,
    /// Rows of a key of another account or Region than the row says, or of no key of the
    /// organization.
    misattributed: u64,
    /// Lines that are not a JSON object with accountId, region, resourceId, complianceType.
    unparsable: u64,
    samples: Vec<String>,
}

impl Tally {
    fn new(config: &OrgConfig) -> Self {
        Self {
            seen: vec![0; config.keys()],
            ..Self::default()
        }
    }

    fn note(&mut self, what: String) {
        if self.samples.len() < 5 {
            self.samples.push(what);
        }
    }

    fn line(&mut self, config: &OrgConfig, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        self.rows += 1;
        let v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        let field = |name: &str| v.get(name).and_then(Value::as_str);
        let (Some(account), Some(region), Some(id), Some(compliance)) = (
            field("accountId"),
            field("region"),
            field("resourceId"),
            field("complianceType"),
        ) else {
            self.unparsable += 1;
            self.note(format!("unparsable: {}", truncate(line, 200)));
            return;
        };
        let key = OrgConfig::parse_key_id(id).filter(|(a, r, k)| {
            *a < config.accounts
                && *r < config.regions.len()
                && *k < config.keys_per_region
                && config.account_id(*a) == account
                && config.regions[*r] == region
        });
        let Some((a, r, k)) = key else {
            self.misattributed += 1;
            self.note(format!("misattributed: {}", truncate(line, 200)));
            return;
        };
        let cell = config.cell(a, r);
        let i = cell * config.keys_per_region + k;
        self.seen[i] = self.seen[i].saturating_add(1);
        let expected = config.kind(cell, k).expected(None);
        if compliance != expected {
            self.wrong_verdict += 1;
            self.note(format!(
                "{:?} key {id}: {compliance}, expected {expected}",
                config.kind(cell, k)
            ));
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// One run of the CLI.
struct RunOut {
    wall: Duration,
    /// Exit code, or 128 + the signal that ended it.
    exit: i32,
    tally: Tally,
    counts: OrgCounts,
    peak_rss_kib: u64,
    /// CPU time of the CLI, and of this process (the organization's server, the row checks).
    cli_cpu_s: f64,
    bench_cpu_s: f64,
    killed_at: Option<Duration>,
    stderr_log: PathBuf,
    /// The organization it ran against.
    org: Org,
}

impl RunOut {
    /// The child's CPU a KMS call the organization answered, in µs.
    fn cpu_us_per_kms_call(&self) -> f64 {
        self.cli_cpu_s * 1e6 / self.counts.kms_answered().max(1) as f64
    }

    /// The child's CPU over this process's (the organization's server) in the same run.
    fn cpu_to_sim(&self) -> f64 {
        self.cli_cpu_s / self.bench_cpu_s.max(f64::MIN_POSITIVE)
    }
}

/// The key-by-key check of a run that should have covered the whole organization.
#[derive(Debug, Default)]
struct Coverage {
    once: u64,
    duplicated: u64,
    /// Keys missing from account-Regions that should have been read.
    lost: u64,
    /// Account-Regions with no row at all.
    failed_cells: u64,
    /// ... of which not of an account that refuses AssumeRole.
    unexpected_failed_cells: u64,
}

impl Coverage {
    fn of(config: &OrgConfig, tally: &Tally) -> Self {
        let mut c = Coverage::default();
        let n = config.keys_per_region;
        for cell in 0..config.cells() {
            let rows = &tally.seen[cell * n..(cell + 1) * n];
            let (account, _) = config.cell_parts(cell);
            let denied = config.is_denied(account);
            if rows.iter().all(|r| *r == 0) {
                c.failed_cells += 1;
                if !denied {
                    c.unexpected_failed_cells += 1;
                }
            }
            for r in rows {
                match r {
                    0 if !denied => c.lost += 1,
                    0 => {}
                    1 => c.once += 1,
                    _ => c.duplicated += 1,
                }
            }
        }
        c
    }
}

/// The floor of a run's wall time, from the calls the organization answered.
fn floor(config: &OrgConfig, counts: &OrgCounts, latency: Duration, max_in_flight: usize) -> f64 {
    let lat = latency.as_secs_f64();
    let global = counts.kms_answered() as f64 * lat / max_in_flight as f64;
    let list_keys = OrgCounts::op("ListKeys");
    let per_cell = counts
        .answered
        .iter()
        .take(config.cells())
        .map(|calls| {
            let chain = if calls.iter().any(|n| *n > 0) {
                (f64::from(calls[list_keys]) + 1.0) * lat
            } else {
                0.0
            };
            let quota = ORG_OPERATIONS
                .iter()
                .zip(calls)
                .map(|(op, n)| f64::from(*n) / org_quota(op).unwrap_or(f64::INFINITY))
                .fold(0.0, f64::max);
            chain.max(quota)
        })
        .fold(0.0, f64::max);
    global.max(per_cell)
}

/// getrusage(2) of this process (`RUSAGE_SELF`) or of its reaped children (`RUSAGE_CHILDREN`):
/// (CPU seconds, user and system, and the peak resident set in KiB: of the largest child, for
/// children).
fn rusage(children: bool) -> (f64, u64) {
    #[repr(C)]
    struct Rusage {
        utime: [std::ffi::c_long; 2],
        stime: [std::ffi::c_long; 2],
        maxrss: std::ffi::c_long,
        rest: [std::ffi::c_long; 13],
    }
    extern "C" {
        fn getrusage(who: std::ffi::c_int, usage: *mut Rusage) -> std::ffi::c_int;
    }
    let who = if children { -1 } else { 0 };
    let mut usage = Rusage {
        utime: [0; 2],
        stime: [0; 2],
        maxrss: 0,
        rest: [0; 13],
    };
    // SAFETY: getrusage writes one struct rusage (this layout on Linux) and nothing else.
    if unsafe { getrusage(who, &mut usage) } != 0 {
        return (0.0, 0);
    }
    let secs = |t: [std::ffi::c_long; 2]| t[0] as f64 + t[1] as f64 / 1e6;
    (
        secs(usage.utime) + secs(usage.stime),
        usage.maxrss.max(0) as u64,
    )
}

fn send_signal(pid: u32, signal: i32) -> bool {
    extern "C" {
        fn kill(pid: std::ffi::c_int, sig: std::ffi::c_int) -> std::ffi::c_int;
    }
    // SAFETY: kill(2) on the pid of our own child, not yet reaped.
    unsafe { kill(pid as std::ffi::c_int, signal) == 0 }
}

const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;

/// What a run starts: `kms-rotation <sub>` (with `--state`, and `--resume` when true), or
/// `kms-rotation-sdk-floor`, the SDK alone.
enum Program<'a> {
    Cli {
        sub: &'a [String],
        state: Option<(&'a Path, bool)>,
    },
    SdkFloor,
}

impl<'a> Program<'a> {
    /// `kms-rotation <sub>` without `--state`.
    fn cli(sub: &'a [String]) -> Self {
        Program::Cli { sub, state: None }
    }
}

struct Bench {
    cli: OrgCli,
    config: OrgConfig,
    bin: PathBuf,
    /// kms-rotation-sdk-floor, next to this binary.
    sdk_floor_bin: PathBuf,
    dir: PathBuf,
    accounts_file: PathBuf,
}

impl Bench {
    /// The command of `program` against `endpoint`, with the organization's management
    /// credentials and nothing else of this machine's AWS configuration; stderr to `log`.
    fn command(&self, program: &Program, endpoint: &str, log: &Path) -> Command {
        let bin = match program {
            Program::Cli { .. } => &self.bin,
            Program::SdkFloor => &self.sdk_floor_bin,
        };
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", BASE_ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", BASE_SECRET_ACCESS_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.dir.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.join("no-aws-credentials"),
            );
        if let Program::Cli { sub, .. } = program {
            cmd.args(*sub);
        }
        cmd.arg("--accounts-file")
            .arg(&self.accounts_file)
            .args(["--role-name", ROLE_NAME]);
        for r in &self.config.regions {
            cmd.args(["--region", r]);
        }
        cmd.args(["--max-in-flight", &self.cli.max_in_flight.to_string()]);
        if let Program::Cli { sub, state } = program {
            // `evidence` writes files, not lines.
            if sub.first().map(String::as_str) != Some("evidence") {
                cmd.args(["--output", "json"]);
            }
            if let Some((path, resume)) = state {
                cmd.arg("--state").arg(path);
                if *resume {
                    cmd.arg("--resume");
                }
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        match std::fs::File::create(log) {
            Ok(f) => cmd.stderr(Stdio::from(f)),
            Err(_) => cmd.stderr(Stdio::null()),
        };
        cmd
    }

    /// Run `kms-rotation audit` against a fresh organization; `kill`: (DescribeKey calls, signal).
    async fn run(
        &self,
        label: &str,
        state: Option<(&Path, bool)>,
        kill: Option<(u64, i32)>,
    ) -> Result<RunOut, String> {
        let sub = ["audit".to_owned()];
        self.run_in(
            &self.config,
            &Program::Cli { sub: &sub, state },
            label,
            kill,
        )
        .await
    }

    /// Run `program` against a fresh organization of `config`.
    async fn run_in(
        &self,
        config: &OrgConfig,
        program: &Program<'_>,
        label: &str,
        kill: Option<(u64, i32)>,
    ) -> Result<RunOut, String> {
        let org = Org::new(config.clone());
        let (addr, server) = org.serve().await.map_err(|e| e.to_string())?;
        let log = self.dir.join(format!("{label}.stderr"));
        let (cli_cpu_before, rss_before) = rusage(true);
        let (bench_cpu_before, _) = rusage(false);
        let started = Instant::now();
        let mut child = self
            .command(program, &format!("http://{addr}"), &log)
            .spawn()
            .map_err(|e| format!("cannot start {label}: {e}"))?;
        let pid = child.id().unwrap_or(0);
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let tally = Arc::new(Mutex::new(Tally::new(config)));
        let reader = {
            let tally = tally.clone();
            let config = config.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tally.lock().unwrap().line(&config, &line);
                }
            })
        };
        let deadline = started + Duration::from_secs(self.cli.timeout_s);
        let mut polled_rss = 0;
        let mut killed_at = None;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let status = loop {
            tokio::select! {
                status = child.wait() => break status.map_err(|e| e.to_string())?,
                _ = tick.tick() => {
                    polled_rss = polled_rss.max(crate::vm_hwm_kib(pid).unwrap_or(0));
                    if let Some((calls, signal)) = kill {
                        if killed_at.is_none() && org.describe_key_calls() >= calls {
                            send_signal(pid, signal);
                            killed_at = Some(started.elapsed());
                        }
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill().await;
                        server.abort();
                        return Err(format!(
                            "{label}: no end within {} s; stderr: {}",
                            self.cli.timeout_s,
                            log.display()
                        ));
                    }
                }
            }
        };
        let wall = started.elapsed();
        let _ = reader.await;
        server.abort();
        // The reaped child's own peak, when it beat every earlier child's; else the polled one.
        let (cli_cpu_after, rss_after) = rusage(true);
        let (bench_cpu_after, _) = rusage(false);
        let peak_rss_kib = if rss_after > rss_before {
            rss_after
        } else {
            polled_rss
        };
        let exit = match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(code), _) => code,
            (None, Some(signal)) => 128 + signal,
            (None, None) => -1,
        };
        let tally = std::mem::take(&mut *tally.lock().unwrap());
        Ok(RunOut {
            wall,
            exit,
            tally,
            counts: org.counts(),
            peak_rss_kib,
            cli_cpu_s: cli_cpu_after - cli_cpu_before,
            bench_cpu_s: bench_cpu_after - bench_cpu_before,
            killed_at,
            stderr_log: log,
            org,
        })
    }

    fn floor(&self, counts: &OrgCounts) -> f64 {
        floor(
            &self.config,
            counts,
            self.config.latency,
            self.cli.max_in_flight,
        )
    }

    /// Problems every run must not have: rows that are not keys of the organization or carry a
    /// wrong verdict, unexpected requests, more KMS requests in flight than allowed.
    fn common_problems(&self, label: &str, run: &RunOut, problems: &mut Vec<String>) {
        let t = &run.tally;
        if t.wrong_verdict + t.misattributed + t.unparsable > 0 {
            problems.push(format!(
                "{label}: {} wrong verdict(s), {} misattributed row(s), {} unparsable line(s); e.g. {:?}",
                t.wrong_verdict, t.misattributed, t.unparsable, t.samples
            ));
        }
        if run.counts.refused > 0 {
            problems.push(format!(
                "{label}: {} request(s) the organization did not expect, e.g. {:?}",
                run.counts.refused, run.counts.refused_samples
            ));
        }
        if run.counts.peak_in_flight > self.cli.max_in_flight {
            problems.push(format!(
                "{label}: {} KMS requests in flight at once, --max-in-flight {}",
                run.counts.peak_in_flight, self.cli.max_in_flight
            ));
        }
    }

    /// The exit code an audit of the whole organization must end with: 2 when an account-Region
    /// failed, else 1 when some key is NON_COMPLIANT, else 0.
    fn expected_exit(&self) -> i32 {
        let c = &self.config;
        let non_compliant = (0..c.cells())
            .filter(|cell| !c.is_denied(c.cell_parts(*cell).0))
            .any(|cell| {
                (0..c.keys_per_region).any(|k| c.kind(cell, k).expected(None) == "NON_COMPLIANT")
            });
        if c.denied_accounts > 0 {
            2
        } else if non_compliant {
            1
        } else {
            0
        }
    }

    fn stderr_tail(run: &RunOut) -> String {
        let text = std::fs::read_to_string(&run.stderr_log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }
}

/// The SHA-256 of `data`, in hex (as the evidence manifest writes it).
fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The account-Regions a state file records as finished.
fn finished_cells(config: &OrgConfig, state: &Path) -> HashSet<usize> {
    let text = std::fs::read_to_string(state).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == "finished")
        .filter_map(|v| {
            let a = config.account_index(v["accountId"].as_str()?)?;
            let r = config.region_index(v["region"].as_str()?)?;
            Some(config.cell(a, r))
        })
        .collect()
}

/// The wall time the CPU the run used allows at best, were it spread over every core: the CLI's
/// and this process's (the server's) CPU seconds over the cores. Not a floor of the CLI's design
/// (a CLI that needs less CPU a call lowers it), but when it is above `floor_s` the machine, not
/// the latency, bounds the run.
fn cpu_bound(run: &RunOut) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (run.cli_cpu_s + run.bench_cpu_s) / cores as f64
}

fn mib(kib: u64) -> f64 {
    crate::round(kib as f64 / 1024.0, 1)
}

fn secs(d: Duration) -> f64 {
    crate::round(d.as_secs_f64(), 2)
}

/// The places (account, Region) of `remediate`'s EnableKeyRotation calls, in its plan's order:
/// every key EnableKeyRotation fixes in an account-Region whose role can be assumed (a replica's
/// change goes to its primary, in us-west-2); every key policy is the account's own, so all are
/// private and unprioritized, and the account-Regions take turns (account and Region order, each
/// one's keys by id). Written from the organization's kinds, not with the CLI's code.
fn plan_places(config: &OrgConfig) -> Vec<(String, String)> {
    let mut by_place: std::collections::BTreeMap<(String, String), Vec<String>> =
        std::collections::BTreeMap::new();
    for cell in (0..config.cells()).filter(|c| !config.is_denied(config.cell_parts(*c).0)) {
        let (a, r) = config.cell_parts(cell);
        for k in 0..config.keys_per_region {
            let kind = config.kind(cell, k);
            if !Org::fixable(kind) {
                continue;
            }
            let region = if kind == fake_aws::Kind::Replica {
                "us-west-2".to_owned()
            } else {
                config.regions[r].clone()
            };
            by_place
                .entry((config.account_id(a), region))
                .or_default()
                .push(OrgConfig::key_id(a, r, k));
        }
    }
    let mut queues: Vec<((String, String), usize)> = by_place
        .into_iter()
        .map(|(place, mut keys)| {
            keys.sort();
            (place, keys.len())
        })
        .collect();
    let mut out = Vec::new();
    while !queues.is_empty() {
        for (place, left) in &mut queues {
            out.push(place.clone());
            *left -= 1;
        }
        queues.retain(|(_, left)| *left > 0);
    }
    out
}

/// The floor of a remediation: batch after batch, the slowest account-Region of each at its
/// EnableKeyRotation quota (15/s, less the bucket's burst of 3), plus one EnableKeyRotation and
/// one GetKeyRotationStatus (the verification) of latency.
fn remediation_floor(places: &[(String, String)], batch_size: usize, latency: Duration) -> f64 {
    let quota = fake_aws::ENABLE_KEY_ROTATION_QUOTA;
    let burst = (quota / 5.0).max(1.0);
    places
        .chunks(batch_size.max(1))
        .map(|batch| {
            let mut per_place: std::collections::HashMap<&(String, String), usize> =
                std::collections::HashMap::new();
            for p in batch {
                *per_place.entry(p).or_default() += 1;
            }
            let most = per_place.values().copied().max().unwrap_or(0) as f64;
            (most - burst).max(0.0) / quota + 2.0 * latency.as_secs_f64()
        })
        .sum()
}

/// Run the benchmark; `Err` when it cannot run, `Ok(problems)` otherwise.
pub async fn main(cli: OrgCli) -> Result<Vec<String>, String> {
    let bench = Bench::new(cli)?;
    bench.announce();
    let mut problems = Vec::new();
    let phase = |name: &str| bench.cli.phases.iter().any(|p| p == name);
    let mut full = None;
    if phase("audit") {
        // 1. The full run.
        let run = bench.full_run(&mut problems).await?;
        // 2. Killed half-way, then resumed.
        if bench.cli.kill_at > 0.0 {
            let kill_resume = bench.kill_resume(&run).await?;
            println!("{}", kill_resume.line(&bench));
            kill_resume.problems(&bench, &mut problems);
        }
        full = Some(run);
    }
    // The SDK alone over the same organization, beside the full run's CPU a call.
    if phase("sdk-floor") {
        bench.sdk_floor(full.as_ref(), &mut problems).await?;
    }
    // 3. Remediation: `remediate --apply --yes` at each batch size.
    if phase("remediate") {
        bench.remediations(&mut problems).await?;
    }
    // 4. The evidence package of the whole organization.
    if phase("evidence") {
        bench.evidence(&mut problems).await?;
    }
    Ok(problems)
}

impl Bench {
    /// The benchmark of `cli`: its CLI binary (which must exist), its organization, and the
    /// accounts file the CLI reads, written in a scratch directory.
    fn new(cli: OrgCli) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let bin = cli.cli_bin.clone().unwrap_or_else(|| {
            exe.parent()
                .map(|d| d.join("kms-rotation"))
                .unwrap_or_default()
        });
        if !bin.exists() {
            return Err(format!(
                "{} not found: build it first (cargo build --release -p rule-lambda --bin kms-rotation)",
                bin.display()
            ));
        }
        let sdk_floor_bin = exe
            .parent()
            .map(|d| d.join("kms-rotation-sdk-floor"))
            .unwrap_or_default();
        if cli.phases.iter().any(|p| p == "sdk-floor") && !sdk_floor_bin.exists() {
            return Err(format!(
                "{} not found: build it first (cargo build --release -p kms-rotation-bench --bins)",
                sdk_floor_bin.display()
            ));
        }
        if cli.accounts == 0 || cli.regions.is_empty() || cli.keys_per_region == 0 {
            return Err("--accounts, --regions and --keys-per-region must not be empty".into());
        }
        if cli.denied_accounts > cli.accounts {
            return Err("--denied-accounts is more than --accounts".into());
        }
        if !(0.0..1.0).contains(&cli.kill_at) {
            return Err(format!(
                "--kill-at must be from 0 to 1 (excluded), got {}",
                cli.kill_at
            ));
        }
        let config = OrgConfig {
            accounts: cli.accounts,
            regions: cli.regions.clone(),
            keys_per_region: cli.keys_per_region,
            latency: Duration::from_millis(cli.latency_ms),
            quotas: true,
            role_name: ROLE_NAME.to_owned(),
            denied_accounts: cli.denied_accounts,
            ..OrgConfig::default()
        };
        let dir = std::env::temp_dir().join("kms-rotation-bench-org");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let accounts_file = dir.join("accounts.txt");
        let mut accounts = String::from("# the simulated organization's member accounts\n");
        for a in 0..config.accounts {
            accounts.push_str(&config.account_id(a));
            accounts.push('\n');
        }
        std::fs::write(&accounts_file, accounts).map_err(|e| e.to_string())?;
        Ok(Self {
            cli,
            config,
            bin,
            sdk_floor_bin,
            dir,
            accounts_file,
        })
    }

    /// The organization and the CLI's settings, on stderr.
    fn announce(&self) {
        let config = &self.config;
        eprintln!(
            "kms-rotation-bench org: {} accounts × {} Regions × {} keys = {} keys, {} ms a call, --max-in-flight {}, {} account(s) refusing AssumeRole",
            config.accounts,
            config.regions.len(),
            config.keys_per_region,
            config.keys(),
            self.cli.latency_ms,
            self.cli.max_in_flight,
            config.denied_accounts
        );
    }

    /// The full run, printed and checked: every key once with its verdict, every account-Region
    /// whose role can be assumed read, the exit code, the wall time within `--max-ratio` of the
    /// floor, the peak RSS within its budget.
    async fn full_run(&self, problems: &mut Vec<String>) -> Result<RunOut, String> {
        let full = self.run("full", None, None).await?;
        let cov = Coverage::of(&self.config, &full.tally);
        let floor_s = self.floor(&full.counts);
        let ratio = full.wall.as_secs_f64() / floor_s.max(f64::MIN_POSITIVE);
        println!("{}", self.full_line(&full, &cov, floor_s, ratio));
        self.full_problems(&full, &cov, floor_s, ratio, problems);
        Ok(full)
    }

    /// The JSON line of the full run.
    fn full_line(&self, full: &RunOut, cov: &Coverage, floor_s: f64, ratio: f64) -> Value {
        let kms_calls = full.counts.kms_answered();
        let keys = self.config.keys() as u64;
        json!({
            "run": "full",
            "keys": keys,
            "wall_s": secs(full.wall),
            "floor_s": crate::round(floor_s, 2),
            "ratio_to_floor": crate::round(ratio, 3),
            "lost": cov.lost,
            "duplicated": cov.duplicated,
            "peak_rss_mib": mib(full.peak_rss_kib),
            "account_regions_failed": cov.failed_cells,
            "exit": full.exit,
            "kms_calls": kms_calls,
            "kms_calls_per_key": crate::round(kms_calls as f64 / keys as f64, 3),
            "calls": ORG_OPERATIONS.iter().map(|op| (op.to_string(), json!(full.counts.total(op)))).collect::<serde_json::Map<_, _>>(),
            "throttled": full.counts.throttled_total(),
            "peak_in_flight": full.counts.peak_in_flight,
            "assume_role": full.counts.assume_role,
            "assume_role_denied": full.counts.assume_role_denied,
            "keys_per_s": crate::round(keys as f64 / full.wall.as_secs_f64(), 0),
            "cli_cpu_s": crate::round(full.cli_cpu_s, 1),
            "bench_cpu_s": crate::round(full.bench_cpu_s, 1),
            "cpu_bound_s": crate::round(cpu_bound(full), 2),
            "cli_cpu_us_per_kms_call": crate::round(full.cpu_us_per_kms_call(), 1),
            "cli_to_sim_cpu": crate::round(full.cpu_to_sim(), 2),
        })
    }

    /// The full run's problems.
    fn full_problems(
        &self,
        full: &RunOut,
        cov: &Coverage,
        floor_s: f64,
        ratio: f64,
        problems: &mut Vec<String>,
    ) {
        let label = "full";
        self.common_problems(label, full, problems);
        if cov.lost > 0 || cov.duplicated > 0 {
            problems.push(format!(
                "{label}: {} key(s) lost, {} duplicated",
                cov.lost, cov.duplicated
            ));
        }
        if cov.unexpected_failed_cells > 0 {
            problems.push(format!(
                "{label}: {} account-Region(s) without a row whose role can be assumed",
                cov.unexpected_failed_cells
            ));
        }
        if full.exit != self.expected_exit() {
            problems.push(format!(
                "{label}: exit {}, expected {}; stderr: {}",
                full.exit,
                self.expected_exit(),
                Bench::stderr_tail(full)
            ));
        }
        if ratio > self.cli.max_ratio {
            problems.push(format!(
                "{label}: {:.2} s is {ratio:.3}× the floor ({floor_s:.2} s), above {}×",
                full.wall.as_secs_f64(),
                self.cli.max_ratio
            ));
        }
        if mib(full.peak_rss_kib) >= self.cli.max_rss_mib {
            problems.push(format!(
                "{label}: peak RSS {} MiB, budget {} MiB",
                mib(full.peak_rss_kib),
                self.cli.max_rss_mib
            ));
        }
    }

    /// The SDK alone (`kms-rotation-sdk-floor`) over a fresh organization of the same shape: its
    /// CPU a KMS call against the simulator's, printed beside the full run's (`"run":"sdk-floor"`).
    /// A failed call is a problem (unless accounts refuse AssumeRole on purpose).
    async fn sdk_floor(
        &self,
        full: Option<&RunOut>,
        problems: &mut Vec<String>,
    ) -> Result<(), String> {
        let run = self
            .run_in(&self.config, &Program::SdkFloor, "sdk-floor", None)
            .await?;
        let sdk_us = run.cpu_us_per_kms_call();
        let sdk_to_sim = run.cpu_to_sim();
        let mut line = json!({
            "run": "sdk-floor",
            "kms_calls": run.counts.kms_answered(),
            "calls": ORG_OPERATIONS.iter().map(|op| (op.to_string(), json!(run.counts.total(op)))).collect::<serde_json::Map<_, _>>(),
            "wall_s": secs(run.wall),
            "exit": run.exit,
            "sdk_cpu_s": crate::round(run.cli_cpu_s, 1),
            "bench_cpu_s": crate::round(run.bench_cpu_s, 1),
            "sdk_cpu_us_per_kms_call": crate::round(sdk_us, 1),
            "sdk_to_sim_cpu": crate::round(sdk_to_sim, 2),
        });
        if let Some(full) = full {
            let cli_us = full.cpu_us_per_kms_call();
            let cli_to_sim = full.cpu_to_sim();
            // Each against the simulator's CPU in its own run (the server's CPU a call is the
            // same work in both), so that the machine's speed, which drifts between two runs a
            // minute apart, cancels out.
            let over = cli_to_sim / sdk_to_sim.max(f64::MIN_POSITIVE);
            line["cli_cpu_us_per_kms_call"] = json!(crate::round(cli_us, 1));
            line["cli_to_sim_cpu"] = json!(crate::round(cli_to_sim, 2));
            line["cli_over_sdk_cpu_per_call"] = json!(crate::round(over, 2));
            if over > self.cli.max_cli_over_sdk {
                problems.push(format!(
                    "sdk-floor: the CLI's CPU a KMS call is {over:.2}× the SDK's alone ({cli_to_sim:.2}× against {sdk_to_sim:.2}× the simulator's), above {}×",
                    self.cli.max_cli_over_sdk
                ));
            }
        }
        println!("{line}");
        if run.exit != 0 && self.config.denied_accounts == 0 {
            problems.push(format!(
                "sdk-floor: exit {}; stderr: {}",
                run.exit,
                Bench::stderr_tail(&run)
            ));
        }
        Ok(())
    }

    /// The audit with `--state`, killed once the organization has answered `--kill-at` of the
    /// full run's DescribeKey calls, then resumed with `--resume` against a fresh organization.
    async fn kill_resume(&self, full: &RunOut) -> Result<KillResume, String> {
        let config = &self.config;
        let state = self.dir.join("state.jsonl");
        let _ = std::fs::remove_file(&state);
        let signal = if self.cli.kill_signal == "kill" {
            SIGKILL
        } else {
            SIGINT
        };
        let at = (full.counts.total("DescribeKey") as f64 * self.cli.kill_at).ceil() as u64;
        let first = self
            .run("killed", Some((&state, false)), Some((at.max(1), signal)))
            .await?;
        let finished = finished_cells(config, &state);
        let second = self.run("resumed", Some((&state, true)), None).await?;
        let coverage = Coverage::of(config, &second.tally);
        let key_reads =
            ["DescribeKey", "GetKeyRotationStatus", "ListResourceTags"].map(OrgCounts::op);
        let reread: u64 = finished
            .iter()
            .map(|c| {
                key_reads
                    .iter()
                    .map(|op| u64::from(second.counts.answered[*c][*op]))
                    .sum::<u64>()
            })
            .sum();
        let relisted = finished
            .iter()
            .filter(|c| second.counts.answered[**c][OrgCounts::op("ListKeys")] > 0)
            .count();
        let describe = OrgCounts::op("DescribeKey");
        let redone = (0..config.cells())
            .filter(|c| {
                first.counts.answered[*c][describe] > 0 && second.counts.answered[*c][describe] > 0
            })
            .count();
        Ok(KillResume {
            at,
            signal,
            first,
            finished,
            second,
            coverage,
            reread,
            relisted,
            redone,
        })
    }

    /// `remediate --apply --yes` at each `--remediate-batch-sizes` value (0 skipped), against an
    /// organization with `--remediate-off-per-100` rotation-off keys in 100.
    /// `kms-rotation evidence --last-use` over the organization: the package holds every
    /// customer managed key of the account-Regions that can be read (CSV rows, JSON lines and
    /// the manifest's count), each file hashes as the manifest says, the exit code is the full
    /// audit's, and the peak RSS is within the budget (the keys are written as each
    /// account-Region is finished, not held).
    async fn evidence(&self, problems: &mut Vec<String>) -> Result<(), String> {
        let out = self.dir.join("evidence");
        let _ = std::fs::remove_dir_all(&out);
        let sub = [
            "evidence".to_owned(),
            "--last-use".to_owned(),
            "--output-dir".to_owned(),
            out.display().to_string(),
        ];
        let run = self
            .run_in(&self.config, &Program::cli(&sub), "evidence", None)
            .await?;
        let c = &self.config;
        let expected: usize = (0..c.cells())
            .filter(|cell| !c.is_denied(c.cell_parts(*cell).0))
            .map(|cell| {
                (0..c.keys_per_region)
                    .filter(|k| c.kind(cell, *k) != fake_aws::Kind::AwsManaged)
                    .count()
            })
            .sum();
        let read = |name: &str| std::fs::read(out.join(name)).unwrap_or_default();
        let manifest: Value = serde_json::from_slice(&read("manifest.json")).unwrap_or(Value::Null);
        let csv_rows = read("evidence.csv")
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
            .saturating_sub(1);
        let json_lines = read("evidence.jsonl")
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        let files = manifest["files"].as_array().cloned().unwrap_or_default();
        let bad_hashes: Vec<String> = files
            .iter()
            .filter_map(|f| {
                let name = f["name"].as_str()?;
                let data = read(name);
                (f["sha256"].as_str() != Some(&sha256_hex(&data))
                    || f["bytes"].as_u64() != Some(data.len() as u64))
                .then(|| name.to_owned())
            })
            .collect();
        let manifest_keys = manifest["counts"]["keys"].as_u64().unwrap_or(0) as usize;
        let rss = mib(run.peak_rss_kib);
        println!(
            "{}",
            json!({
                "run": "evidence",
                "keys_expected": expected,
                "manifest_keys": manifest_keys,
                "csv_rows": csv_rows,
                "json_lines": json_lines,
                "files_hashed": files.len(),
                "hash_mismatches": bad_hashes,
                "aws_managed_keys": manifest["awsManagedKeys"],
                "exit": run.exit,
                "wall_s": secs(run.wall),
                "floor_s": crate::round(self.floor(&run.counts), 1),
                "peak_rss_mib": rss,
                "cli_cpu_s": crate::round(run.cli_cpu_s, 1),
                "calls": ORG_OPERATIONS.iter().map(|op| (op.to_string(), json!(run.counts.total(op)))).collect::<serde_json::Map<_, _>>(),
            })
        );
        for (what, n) in [
            ("manifest count", manifest_keys),
            ("CSV rows", csv_rows),
            ("JSON lines", json_lines),
        ] {
            if n != expected {
                problems.push(format!("evidence: {what} {n}, expected {expected} keys"));
            }
        }
        if files.len() != 3 || !bad_hashes.is_empty() {
            problems.push(format!(
                "evidence: {} file(s) in the manifest, hashes that do not match: {bad_hashes:?}",
                files.len()
            ));
        }
        if run.exit != self.expected_exit() {
            problems.push(format!(
                "evidence: exit {}, expected {} ({})",
                run.exit,
                self.expected_exit(),
                Self::stderr_tail(&run)
            ));
        }
        if rss >= self.cli.max_rss_mib {
            problems.push(format!(
                "evidence: peak RSS {rss} MiB, budget {} MiB",
                self.cli.max_rss_mib
            ));
        }
        Ok(())
    }

    async fn remediations(&self, problems: &mut Vec<String>) -> Result<(), String> {
        let remediated = OrgConfig {
            rotation_off_per_100: self.cli.remediate_off_per_100,
            ..self.config.clone()
        };
        let places = plan_places(&remediated);
        for size in self
            .cli
            .remediate_batch_sizes
            .iter()
            .copied()
            .filter(|n| *n > 0)
        {
            remediation(self, &remediated, &places, size, problems).await?;
        }
        Ok(())
    }
}

/// The kill-resume run: the killed run, what its state file recorded, and the resumed run.
struct KillResume {
    /// The DescribeKey calls answered at which the first run was killed, and the signal.
    at: u64,
    signal: i32,
    first: RunOut,
    /// The account-Regions the state file records as finished after the kill.
    finished: HashSet<usize>,
    second: RunOut,
    /// The resumed run's rows, key by key.
    coverage: Coverage,
    /// Key reads (DescribeKey, GetKeyRotationStatus, ListResourceTags) the resumed run made in
    /// finished account-Regions.
    reread: u64,
    /// Finished account-Regions the resumed run listed again.
    relisted: usize,
    /// Account-Regions where both runs called DescribeKey.
    redone: usize,
}

impl KillResume {
    const LABEL: &'static str = "kill-resume";

    /// The exit code of the killed run: 130 after SIGINT, 128 + 9 after SIGKILL.
    fn expected_first_exit(&self) -> i32 {
        if self.signal == SIGINT {
            130
        } else {
            128 + SIGKILL
        }
    }

    fn peak_rss_mib(&self) -> f64 {
        mib(self.first.peak_rss_kib.max(self.second.peak_rss_kib))
    }

    /// The JSON line of the kill-resume run.
    fn line(&self, bench: &Bench) -> Value {
        let (first, second, cov2) = (&self.first, &self.second, &self.coverage);
        let floor2 = bench.floor(&second.counts);
        let ratio2 = second.wall.as_secs_f64() / floor2.max(f64::MIN_POSITIVE);
        json!({
            "run": Self::LABEL,
            "keys": bench.config.keys() as u64,
            "signal": bench.cli.kill_signal,
            "killed_at_s": first.killed_at.map(secs),
            "killed_wall_s": secs(first.wall),
            "killed_exit": first.exit,
            "killed_describe_key": first.counts.total("DescribeKey"),
            "killed_rows": first.tally.rows,
            "finished_before_kill": self.finished.len(),
            "account_regions": bench.config.cells(),
            "wall_s": secs(second.wall),
            "floor_s": crate::round(floor2, 2),
            "ratio_to_floor": crate::round(ratio2, 3),
            "lost": cov2.lost,
            "duplicated": cov2.duplicated,
            "once": cov2.once,
            "peak_rss_mib": self.peak_rss_mib(),
            "account_regions_failed": cov2.failed_cells,
            "exit": second.exit,
            "reread_finished_keys": self.reread,
            "relisted_finished": self.relisted,
            "redone_account_regions": self.redone,
            "total_describe_key": first.counts.total("DescribeKey") + second.counts.total("DescribeKey"),
        })
    }

    /// The kill-resume run's problems: the killed run must have been killed and exited as the
    /// signal says, leaving finished account-Regions; the resumed run must print every key once,
    /// read no key of a finished account-Region again and exit as a full audit does.
    fn problems(&self, bench: &Bench, problems: &mut Vec<String>) {
        let label = Self::LABEL;
        let (first, second, cov2) = (&self.first, &self.second, &self.coverage);
        let (at, reread) = (self.at, self.reread);
        bench.common_problems("killed", first, problems);
        bench.common_problems("resumed", second, problems);
        let expected_first_exit = self.expected_first_exit();
        if first.killed_at.is_none() {
            problems.push(format!(
                "{label}: the run ended ({} s) before {at} DescribeKey calls: not killed",
                secs(first.wall)
            ));
        } else if first.exit != expected_first_exit {
            problems.push(format!(
                "{label}: the killed run exited {}, expected {expected_first_exit}; stderr: {}",
                first.exit,
                Bench::stderr_tail(first)
            ));
        }
        if self.finished.is_empty() && first.killed_at.is_some() {
            problems.push(format!(
                "{label}: the state file records no finished account-Region"
            ));
        }
        if cov2.lost > 0 || cov2.duplicated > 0 {
            problems.push(format!(
                "{label}: the resumed run lost {} key(s) and printed {} more than once",
                cov2.lost, cov2.duplicated
            ));
        }
        if reread > 0 {
            problems.push(format!(
                "{label}: {reread} key read(s) in account-Regions finished before the kill"
            ));
        }
        if second.exit != bench.expected_exit() {
            problems.push(format!(
                "{label}: the resumed run exited {}, expected {}; stderr: {}",
                second.exit,
                bench.expected_exit(),
                Bench::stderr_tail(second)
            ));
        }
        let rss = self.peak_rss_mib();
        if rss >= bench.cli.max_rss_mib {
            problems.push(format!(
                "{label}: peak RSS {rss} MiB, budget {} MiB",
                bench.cli.max_rss_mib
            ));
        }
    }
}

/// One remediation run at `--batch-size size`, checked: every key once on stdout with its
/// verdict, every fixable key changed exactly once, none left non-compliant, the remediation
/// within `--max-ratio` of its floor.
async fn remediation(
    bench: &Bench,
    config: &OrgConfig,
    places: &[(String, String)],
    size: u32,
    problems: &mut Vec<String>,
) -> Result<(), String> {
    let label = format!("remediate-{size}");
    let sub: Vec<String> = ["remediate", "--apply", "--yes", "--batch-size"]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([size.to_string()])
        .collect();
    let run = bench
        .run_in(config, &Program::cli(&sub), &label, None)
        .await?;
    let cov = Coverage::of(config, &run.tally);
    let enabled = run.org.enabled();
    let changed_twice = enabled.values().filter(|e| e.calls > 1).count();
    let left = run.org.left_non_compliant().len();
    let span = run.org.remediation_span().unwrap_or_default();
    let floor_s = remediation_floor(places, size as usize, config.latency);
    let ratio = span.as_secs_f64() / floor_s.max(f64::MIN_POSITIVE);
    let kms_calls = run.counts.kms_answered();
    let enable_calls = run.counts.total("EnableKeyRotation");
    // The share of the run's KMS calls made during the remediation (EnableKeyRotation and its
    // verification read), and so about that share of its CPU.
    let remediation_calls = 2 * enable_calls;
    let share = remediation_calls as f64 / kms_calls.max(1) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cpu_bound_remediation = (run.cli_cpu_s + run.bench_cpu_s) * share / cores;
    let line = json!({
        "run": "remediate",
        "batch_size": size,
        "keys": config.keys(),
        "to_change": places.len(),
        "batches": places.len().div_ceil(size as usize),
        "wall_s": secs(run.wall),
        "remediation_s": secs(span),
        "floor_s": crate::round(floor_s, 2),
        "ratio_to_floor": crate::round(ratio, 3),
        "changed": enabled.len(),
        "changed_twice": changed_twice,
        "left_non_compliant": left,
        "enable_key_rotation_calls": enable_calls,
        "throttled": run.counts.throttled_total(),
        "lost": cov.lost,
        "duplicated": cov.duplicated,
        "exit": run.exit,
        "peak_in_flight": run.counts.peak_in_flight,
        "kms_calls": kms_calls,
        "cli_cpu_s": crate::round(run.cli_cpu_s, 1),
        "bench_cpu_s": crate::round(run.bench_cpu_s, 1),
        "cpu_bound_remediation_s": crate::round(cpu_bound_remediation, 2),
    });
    println!("{line}");
    bench.common_problems(&label, &run, problems);
    if changed_twice > 0 || left > 0 {
        problems.push(format!(
            "{label}: {changed_twice} key(s) changed twice, {left} left non-compliant"
        ));
    }
    if cov.lost > 0 || cov.duplicated > 0 {
        problems.push(format!(
            "{label}: {} key(s) lost, {} duplicated",
            cov.lost, cov.duplicated
        ));
    }
    let expected_exit = if config.denied_accounts > 0 { 2 } else { 0 };
    if run.exit != expected_exit {
        problems.push(format!(
            "{label}: exit {}, expected {expected_exit}; stderr: {}",
            run.exit,
            Bench::stderr_tail(&run)
        ));
    }
    if ratio > bench.cli.max_ratio {
        problems.push(format!(
            "{label}: the remediation took {:.2} s, {ratio:.3}× its floor ({floor_s:.2} s), above {}× (CPU-bound: {cpu_bound_remediation:.2} s)",
            span.as_secs_f64(),
            bench.cli.max_ratio
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> OrgConfig {
        OrgConfig {
            accounts: 3,
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            keys_per_region: 10,
            latency: Duration::from_millis(20),
            quotas: true,
            role_name: ROLE_NAME.into(),
            denied_accounts: 1,
            ..OrgConfig::default()
        }
    }

    fn row(config: &OrgConfig, a: usize, r: usize, k: usize, compliance: &str) -> String {
        json!({
            "accountId": config.account_id(a),
            "region": config.regions[r],
            "resourceId": OrgConfig::key_id(a, r, k),
            "complianceType": compliance,
        })
        .to_string()
    }

    #[test]
    fn rows_are_counted_per_key_and_checked() {
        let config = small();
        let mut t = Tally::new(&config);
        for a in 0..2 {
            for r in 0..2 {
                for k in 0..10 {
                    let expected = config.kind(config.cell(a, r), k).expected(None);
                    t.line(&config, &row(&config, a, r, k, expected));
                }
            }
        }
        let c = Coverage::of(&config, &t);
        assert_eq!((c.once, c.lost, c.duplicated), (40, 0, 0));
        // The denied account's two Regions failed, as expected.
        assert_eq!((c.failed_cells, c.unexpected_failed_cells), (2, 0));
        // A duplicate, a key under the wrong Region, a wrong verdict, junk.
        t.line(
            &config,
            &row(&config, 0, 0, 3, config.kind(0, 3).expected(None)),
        );
        let mut wrong = serde_json::from_str::<Value>(&row(&config, 0, 1, 3, "COMPLIANT")).unwrap();
        wrong["region"] = json!("us-east-1");
        t.line(&config, &wrong.to_string());
        // Key 0 is AWS managed: NOT_APPLICABLE.
        t.line(&config, &row(&config, 1, 1, 0, "COMPLIANT"));
        t.line(&config, "error: not json");
        let c = Coverage::of(&config, &t);
        assert_eq!(c.duplicated, 2);
        assert_eq!(t.misattributed, 1);
        assert_eq!(t.wrong_verdict, 1);
        assert_eq!(t.unparsable, 1);
    }

    #[test]
    fn the_floor_is_the_in_flight_bound_or_the_slowest_account_region() {
        let config = small();
        let mut counts = OrgCounts {
            answered: vec![[0; ORG_OPERATIONS.len()]; config.cells()],
            throttled: vec![0; config.cells()],
            ..OrgCounts::default()
        };
        // 4 cells of 1 ListKeys page, 2 ListAliases pages, 10 + 8 + 2 key reads: 23 calls each.
        for cell in 0..4 {
            counts.answered[cell] = [1, 2, 10, 8, 2, 0, 0, 0, 0];
        }
        let lat = Duration::from_millis(20);
        let f = floor(&config, &counts, lat, 4);
        assert!((f - 92.0 * 0.020 / 4.0).abs() < 1e-9, "{f}");
        // With room for every call at once, one account-Region's chain is the bound.
        let f = floor(&config, &counts, lat, 1000);
        assert!((f - 2.0 * 0.020).abs() < 1e-9, "{f}");
    }

    #[test]
    fn finished_account_regions_are_read_from_the_state_file() {
        let config = small();
        let path = std::env::temp_dir().join(format!("org-state-{}.jsonl", std::process::id()));
        let text = [
            json!({"kind": "run", "command": "audit", "fingerprint": "x"}).to_string(),
            json!({"kind": "finished", "accountId": "200000000001", "region": "eu-west-1", "rows": []}).to_string(),
            json!({"kind": "finished", "accountId": "123456789012", "region": "eu-west-1", "rows": []}).to_string(),
            "{\"kind\":\"finished\",\"accountId\":\"2000".to_owned(),
        ]
        .join("\n");
        std::fs::write(&path, text).unwrap();
        let cells = finished_cells(&config, &path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(cells, HashSet::from([config.cell(1, 1)]));
    }
}
