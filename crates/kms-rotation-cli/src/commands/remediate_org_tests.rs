//! `remediate --apply` across an organization (the fake of `fake_aws::Org`, in the process): every
//! account-Region changes its own keys at once within its own EnableKeyRotation quota, batches
//! stay in order, one account-Region's faults stay its own, and `--state`/`--resume` never send
//! a key's EnableKeyRotation twice.
//!
//! Time is tokio's paused clock (the fake's latency and quotas, the pacers and the SDK's backoff
//! all run on it), so the durations asserted are the simulated ones and do not depend on the
//! machine; the faults are chosen by account-Region, by count or by a seeded hash, never by
//! timing. Facts: EnableKeyRotation's default quota is 15 requests per second per account and
//! Region (KMS Developer Guide, "Request quotas"); KMS answers ThrottlingException beyond it and
//! AccessDeniedException when the caller's policies do not allow `kms:EnableKeyRotation` (KMS API
//! Reference, EnableKeyRotation, "Errors").

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_kms::config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use clap::Parser;
use fake_aws::{member_access_key_id, Org, OrgConfig, OrgFaults};
use tokio::time::Instant;

use super::*;
use crate::args::{Cli, Command};

/// 3 accounts × 2 Regions × 60 keys, a fifth of them fixed by EnableKeyRotation, 20 ms a call,
/// the default quotas of every account-Region.
fn config(faults: OrgFaults) -> OrgConfig {
    OrgConfig {
        accounts: 3,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        keys_per_region: 60,
        rotation_off_per_100: 19,
        faults,
        ..OrgConfig::default()
    }
}

/// Calls `on_enable(key id)` as each EnableKeyRotation attempt leaves, before the organization
/// sees it.
#[derive(Clone)]
struct Watch {
    inner: SharedHttpClient,
    on_enable: Arc<dyn Fn(&str) + Send + Sync>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watch")
    }
}

impl HttpClient for Watch {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(WatchConnector {
            inner: self.inner.http_connector(settings, components),
            on_enable: self.on_enable.clone(),
        })
    }
}

#[derive(Clone)]
struct WatchConnector {
    inner: SharedHttpConnector,
    on_enable: Arc<dyn Fn(&str) + Send + Sync>,
}

impl std::fmt::Debug for WatchConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchConnector")
    }
}

impl HttpConnector for WatchConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if request.headers().get("x-amz-target") == Some("TrentService.EnableKeyRotation") {
            let body: serde_json::Value =
                serde_json::from_slice(request.body().bytes().unwrap_or_default()).unwrap();
            (self.on_enable)(body["KeyId"].as_str().unwrap_or_default());
        }
        self.inner.call(request)
    }
}

/// Every account-Region of the organization that lets the role in, through `http`.
fn members(org: &Org, http: &SharedHttpClient) -> Vec<KmsRegion> {
    let c = org.config();
    let mut out = Vec::new();
    for a in (0..c.accounts).filter(|a| !c.is_denied(*a)) {
        for region in &c.regions {
            let account = c.account_id(a);
            let client = aws_sdk_kms::Client::from_conf(
                aws_sdk_kms::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new(region.clone()))
                    .credentials_provider(Credentials::new(
                        member_access_key_id(&account),
                        "secret",
                        Some("token".into()),
                        None,
                        "test",
                    ))
                    .http_client(http.clone())
                    .retry_config(kms_rotation_core::clients::retry_config())
                    .build(),
            );
            out.push(KmsRegion {
                account_id: account,
                region: region.clone(),
                reader: KmsReader::new(client.clone(), &RuleParameters::default()),
                client,
            });
        }
    }
    out
}

fn args(extra: &[&str]) -> RemediateArgs {
    let argv = ["kms-rotation", "remediate", "--output", "json"]
        .into_iter()
        .chain(extra.iter().copied());
    match Cli::parse_from(argv).command {
        Command::Remediate(r) => r,
        _ => unreachable!(),
    }
}

/// (account, Region, key id) -> outcome label and detail.
type Outcomes = BTreeMap<(String, String, String), (&'static str, String)>;

async fn remediate(
    org: &Org,
    http: &SharedHttpClient,
    extra: &[&str],
    state: Option<Arc<State>>,
    stop: &Stop,
) -> (Outcomes, Exit) {
    let (report, _) = run(
        &members(org, http),
        Vec::new(),
        None,
        &RuleParameters::default(),
        &args(extra),
        256,
        state,
        stop,
    )
    .await;
    let outcomes = report
        .rows
        .iter()
        .map(|r| {
            (
                (
                    r.audited.account_id.clone(),
                    r.audited.region.clone(),
                    r.audited.evaluation.key_id.clone(),
                ),
                (r.outcome.label(), r.outcome.detail()),
            )
        })
        .collect();
    (outcomes, report.exit())
}

/// The keys EnableKeyRotation fixes in the organization, as (account, Region, key id).
fn fixable(org: &Org) -> HashSet<(String, String, String)> {
    let c = org.config();
    (0..c.cells())
        .flat_map(|cell| (0..c.keys_per_region).map(move |k| (cell, k)))
        .filter(|(cell, k)| Org::fixable(c.kind(*cell, *k)))
        .map(|(cell, k)| place_of(c, cell, k))
        .collect()
}

fn place_of(c: &OrgConfig, cell: usize, k: usize) -> (String, String, String) {
    let (a, r) = c.cell_parts(cell);
    (
        c.account_id(a),
        c.regions[r].clone(),
        OrgConfig::key_id(a, r, k),
    )
}

fn with(outcomes: &Outcomes, label: &str) -> HashSet<(String, String, String)> {
    outcomes
        .iter()
        .filter(|(_, (l, _))| *l == label)
        .map(|(k, _)| k.clone())
        .collect()
}

/// No key was changed by more than one EnableKeyRotation.
fn assert_none_changed_twice(org: &Org) {
    let twice: Vec<_> = org
        .enabled()
        .into_iter()
        .filter(|(_, e)| e.calls > 1)
        .collect();
    assert!(twice.is_empty(), "changed twice: {twice:?}");
}

fn temp_state(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("kms-rotation-remediate-org-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// The `enabling` records of a state file, in order.
fn enabling(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "enabling")
        .map(|v| v["arn"].as_str().unwrap().to_owned())
        .collect()
}

/// The key id at the end of an ARN.
fn id_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

#[tokio::test(start_paused = true)]
async fn account_regions_change_their_keys_at_once_each_within_its_own_quota() {
    let org = Org::new(config(OrgFaults::default()));
    let http = org.http_client();
    let fix = fixable(&org);
    let per_cell = fix.len() / org.config().cells();
    let started = Instant::now();

    let (outcomes, exit) = remediate(
        &org,
        &http,
        &["--apply", "--yes", "--batch-size", "10000"],
        None,
        &Stop::default(),
    )
    .await;

    let took = started.elapsed();
    assert_eq!(with(&outcomes, "changed"), fix, "{outcomes:?}");
    assert!(org.left_non_compliant().is_empty());
    assert_none_changed_twice(&org);
    assert_eq!(exit, Exit::Clean);
    // One account-Region's changes at 15/s, not all of them one after another (at 10/s before).
    let one_place = Duration::from_secs_f64(per_cell as f64 / 15.0);
    let all_in_a_row = Duration::from_secs_f64(fix.len() as f64 / 15.0);
    assert!(
        took < one_place * 2 && took < all_in_a_row / 3,
        "{took:?} for {} changes, {per_cell} per account-Region",
        fix.len()
    );
    // Within each account-Region's quota: nothing was throttled.
    assert_eq!(org.counts().throttled_total(), 0);
}

#[tokio::test(start_paused = true)]
async fn batches_run_in_the_plans_order_each_key_recorded_before_its_call() {
    let org = Org::new(config(OrgFaults::default()));
    let path = temp_state("order");
    let state = Arc::new(State::open(&path, false, "remediate", "test").unwrap());
    // Each attempt checks that its key is on disk already.
    let unrecorded = Arc::new(Mutex::new(Vec::new()));
    let (check_path, check) = (path.clone(), unrecorded.clone());
    let http = SharedHttpClient::new(Watch {
        inner: org.http_client(),
        on_enable: Arc::new(move |key| {
            if !enabling(&check_path).iter().any(|arn| arn == key) {
                check.lock().unwrap().push(key.to_owned());
            }
        }),
    });
    // The plan's batches, from a run without --apply.
    let (plan, _) = remediate(&org, &http, &["--batch-size", "12"], None, &Stop::default()).await;
    let batch_of: HashMap<String, usize> = plan
        .iter()
        .filter(|(_, (label, _))| *label == "planned")
        .map(|((_, _, id), (_, detail))| {
            let n = detail.strip_prefix("batch ").unwrap().parse().unwrap();
            (id.clone(), n)
        })
        .collect();
    assert!(batch_of.values().max() > Some(&3), "{batch_of:?}");

    let (outcomes, _) = remediate(
        &org,
        &http,
        &["--apply", "--yes", "--batch-size", "12"],
        Some(state),
        &Stop::default(),
    )
    .await;

    assert_eq!(with(&outcomes, "changed"), fixable(&org));
    assert!(unrecorded.lock().unwrap().is_empty(), "{unrecorded:?}");
    // Every key of a batch was sent before any key of the next one.
    let order: Vec<usize> = enabling(&path)
        .iter()
        .map(|arn| batch_of[id_of(arn)])
        .collect();
    assert_eq!(order.len(), batch_of.len());
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    assert_none_changed_twice(&org);
}

#[tokio::test(start_paused = true)]
async fn a_member_whose_quota_is_lower_is_slowed_down_and_every_key_is_changed() {
    let c = config(OrgFaults::default());
    let slow = c.cell(1, 0);
    let org = Org::new(config(OrgFaults {
        enable_quota: HashMap::from([(slow, 2.0)]),
        ..OrgFaults::default()
    }));
    let http = org.http_client();

    let (outcomes, exit) = remediate(
        &org,
        &http,
        &["--apply", "--yes", "--batch-size", "10000"],
        None,
        &Stop::default(),
    )
    .await;

    assert_eq!(with(&outcomes, "changed"), fixable(&org), "{outcomes:?}");
    assert_eq!(exit, Exit::Clean);
    assert_none_changed_twice(&org);
    let throttled = org.counts().throttled;
    assert!(throttled[slow] > 0);
    // The others were never throttled: each has its own ceiling.
    assert_eq!(throttled.iter().sum::<u32>(), throttled[slow]);
}

#[tokio::test(start_paused = true)]
async fn a_throttling_storm_in_one_account_region_leaves_the_others_alone() {
    let c = config(OrgFaults::default());
    let stormy = c.cell(2, 1);
    let org = Org::new(config(OrgFaults {
        storm: HashMap::from([(stormy, 0.6)]),
        ..OrgFaults::default()
    }));
    let http = org.http_client();

    let (outcomes, _) = remediate(
        &org,
        &http,
        &["--apply", "--yes", "--batch-size", "10000"],
        None,
        &Stop::default(),
    )
    .await;

    let (account, region, _) = place_of(org.config(), stormy, 0);
    let in_storm = |k: &(String, String, String)| k.0 == account && k.1 == region;
    let fix = fixable(&org);
    let changed = with(&outcomes, "changed");
    let failed = with(&outcomes, "failed");
    // Every other account-Region is done; the storm's keys are changed or named as failed.
    assert!(fix
        .iter()
        .filter(|k| !in_storm(k))
        .all(|k| changed.contains(k)));
    assert!(failed.iter().all(in_storm), "{failed:?}");
    assert_eq!(changed.len() + failed.len(), fix.len());
    for k in &failed {
        assert!(outcomes[k].1.contains("Throttling"), "{:?}", outcomes[k]);
    }
    assert!(org.counts().throttled[stormy] > 0);
    assert_none_changed_twice(&org);
}

#[tokio::test(start_paused = true)]
async fn access_denied_in_one_account_fails_its_keys_only_and_names_them() {
    let org = Org::new(config(OrgFaults {
        enable_denied: HashSet::from([1]),
        ..OrgFaults::default()
    }));
    let http = org.http_client();
    let denied = org.config().account_id(1);

    let (outcomes, exit) = remediate(
        &org,
        &http,
        &["--apply", "--yes", "--batch-size", "10000"],
        None,
        &Stop::default(),
    )
    .await;

    let fix = fixable(&org);
    let failed = with(&outcomes, "failed");
    let expected: HashSet<_> = fix.iter().filter(|k| k.0 == denied).cloned().collect();
    assert_eq!(failed, expected);
    assert!(!expected.is_empty());
    for k in &failed {
        assert!(
            outcomes[k].1.contains("kms:EnableKeyRotation"),
            "{:?}",
            outcomes[k]
        );
    }
    assert_eq!(
        with(&outcomes, "changed"),
        fix.difference(&expected).cloned().collect()
    );
    assert_eq!(exit, Exit::Findings);
    assert_none_changed_twice(&org);
}

#[tokio::test(start_paused = true)]
async fn a_call_failing_while_others_are_in_flight_is_recorded_and_never_sent_again() {
    // Account 1 may not change keys; the first 6 EnableKeyRotation attempts (every account-Region
    // sends its first ones at once) are held and answered together, so account 1's refusals come
    // back while the other account-Regions' calls are in flight.
    let org = Org::new(config(OrgFaults {
        enable_denied: HashSet::from([1]),
        hold_enables_until: 6,
        ..OrgFaults::default()
    }));
    let path = temp_state("in-flight");
    let sent: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let unrecorded = Arc::new(Mutex::new(Vec::new()));
    let run_no = Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let (check_path, check, log, which) = (
        path.clone(),
        unrecorded.clone(),
        sent.clone(),
        run_no.clone(),
    );
    let http = SharedHttpClient::new(Watch {
        inner: org.http_client(),
        on_enable: Arc::new(move |key| {
            if !enabling(&check_path).iter().any(|arn| arn == key) {
                check.lock().unwrap().push(key.to_owned());
            }
            let n = which.load(std::sync::atomic::Ordering::SeqCst);
            log.lock().unwrap().push((n, key.to_owned()));
        }),
    });
    let apply = ["--apply", "--yes", "--batch-size", "10000"];
    let state = Arc::new(State::open(&path, false, "remediate", "test").unwrap());

    let (first, _) = remediate(&org, &http, &apply, Some(state), &Stop::default()).await;

    let denied = org.config().account_id(1);
    let fix = fixable(&org);
    let failed = with(&first, "failed");
    assert!(!failed.is_empty() && failed.iter().all(|k| k.0 == denied));
    assert_eq!(with(&first, "changed").len() + failed.len(), fix.len());
    assert!(unrecorded.lock().unwrap().is_empty(), "{unrecorded:?}");
    // Every key sent is recorded, the refused ones too.
    let recorded: HashSet<String> = enabling(&path).into_iter().collect();
    assert!(sent
        .lock()
        .unwrap()
        .iter()
        .all(|(_, k)| recorded.contains(k)));

    // Resumed: nothing recorded is sent again; the refused keys are read, not changed.
    run_no.store(2, std::sync::atomic::Ordering::SeqCst);
    let state = Arc::new(State::open(&path, true, "remediate", "test").unwrap());
    let (resumed, _) = remediate(&org, &http, &apply, Some(state), &Stop::default()).await;

    let again: Vec<String> = sent
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, _)| *n == 2)
        .map(|(_, k)| k.clone())
        .collect();
    assert!(again.iter().all(|k| !recorded.contains(k)), "{again:?}");
    for k in &failed {
        assert_eq!(resumed[k].0, "failed", "{:?}", resumed[k]);
        assert!(resumed[k].1.contains("not sent twice"), "{:?}", resumed[k]);
    }
    assert_none_changed_twice(&org);
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_mid_batch_finishes_the_calls_in_flight_and_resume_sends_the_rest_once() {
    let org = Org::new(config(OrgFaults::default()));
    let path = temp_state("ctrl-c");
    let stop = Stop::default();
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (stopper, count) = (stop.clone(), sent.clone());
    let http = SharedHttpClient::new(Watch {
        inner: org.http_client(),
        // Ctrl-C as the 20th EnableKeyRotation leaves, in the middle of the only batch.
        on_enable: Arc::new(move |_| {
            if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == 20 {
                stopper.set();
            }
        }),
    });
    let apply = ["--apply", "--yes", "--batch-size", "10000"];
    let state = Arc::new(State::open(&path, false, "remediate", "test").unwrap());

    let (first, exit) = remediate(&org, &http, &apply, Some(state), &stop).await;

    assert_eq!(exit, Exit::Interrupted);
    let fix = fixable(&org);
    let changed = with(&first, "changed");
    let not_applied = with(&first, "not_applied");
    assert!(changed.len() >= 20 && !not_applied.is_empty(), "{first:?}");
    assert_eq!(changed.len() + not_applied.len(), fix.len(), "{first:?}");
    for k in &not_applied {
        assert!(first[k].1.contains("stopped by Ctrl-C during batch 1/1"));
    }
    // What was recorded is exactly what was changed: the keys not applied were not recorded.
    let recorded: HashSet<String> = enabling(&path)
        .iter()
        .map(|a| id_of(a).to_owned())
        .collect();
    let changed_ids: HashSet<String> = changed.iter().map(|k| k.2.clone()).collect();
    assert_eq!(recorded, changed_ids);

    let state = Arc::new(State::open(&path, true, "remediate", "test").unwrap());
    let (resumed, exit) = remediate(&org, &http, &apply, Some(state), &Stop::default()).await;

    assert_eq!(exit, Exit::Clean);
    assert_eq!(with(&resumed, "changed"), not_applied);
    assert!(org.left_non_compliant().is_empty());
    assert_none_changed_twice(&org);
    assert_eq!(
        sent.load(std::sync::atomic::Ordering::SeqCst),
        fix.len(),
        "one EnableKeyRotation per key over both runs"
    );
}
