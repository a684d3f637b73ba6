//! Work over many account-Regions at once: every listed key of each, under one global bound on
//! the keys in flight, each account-Region paced on its own by its [`KmsReader`] (KMS quotas are
//! per account and Region). One account-Region that fails is named and the others go on; Ctrl-C
//! stops starting keys, lets the keys in flight finish, and says what is left.
//!
//! [`KmsReader`]: kms_rotation_core::kms::KmsReader

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use std::collections::HashMap;

use futures::StreamExt;
use indicatif::ProgressBar;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::CliError;
use kms_rotation_core::evaluate::{evaluate_listed, Listed};
use kms_rotation_core::kms::{KmsError, KmsRegion};

/// Set once Ctrl-C is pressed: no key is started after it.
/// Keys evaluated at once in one account-Region.
pub(crate) const CONCURRENCY: usize = 16;

#[derive(Debug, Clone, Default)]
pub(super) struct Stop(Arc<AtomicBool>);

impl Stop {
    /// A stop that Ctrl-C sets (the first Ctrl-C; a second one ends the process as usual).
    pub(super) fn on_ctrl_c() -> Self {
        let stop = Self::default();
        let flag = stop.0.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::SeqCst);
                eprintln!(
                    "\ninterrupted: finishing the keys in flight (Ctrl-C again to quit at once)"
                );
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
        stop
    }

    pub(super) fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub(super) fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// One account-Region, worked through.
#[derive(Debug)]
pub(super) struct Finished<T> {
    pub account_id: String,
    pub region: String,
    /// One result a key, in the order they finished.
    pub rows: Vec<T>,
    /// Keys (or the listing) that failed.
    pub errors: Vec<CliError>,
    /// Keys listed but never started, because the run was stopped.
    pub not_started: usize,
}

impl<T> Finished<T> {
    /// Every key of the account-Region was listed and done: nothing to do again on resume.
    pub(super) fn is_complete(&self) -> bool {
        self.errors.is_empty() && self.not_started == 0
    }
}

/// Account-Regions worked on at once: enough that their keys keep the global bound busy while
/// some are still listing.
fn targets_at_once(max_in_flight: usize) -> usize {
    (2 * max_in_flight / CONCURRENCY).clamp(2, 256)
}

/// Every key of every target through `per_key`, at most `max_in_flight` keys at once overall.
/// Each account-Region is a task of its own (the runtime spreads them over the cores); each is
/// handed to `finished` as soon as it is done (for state, output and progress). The targets never
/// started because of `stop` are returned.
pub(super) async fn run<T, F, Fut>(
    targets: &[KmsRegion],
    max_in_flight: usize,
    stop: &Stop,
    per_key: F,
    mut finished: impl FnMut(Finished<T>),
) -> Vec<KmsRegion>
where
    T: Send + 'static,
    F: Fn(KmsRegion, String) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, KmsError>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let at_once = targets_at_once(max_in_flight);
    let mut todo = targets.iter().cloned();
    let mut running = JoinSet::new();
    let mut places = HashMap::new();
    let mut left = Vec::new();
    loop {
        while running.len() < at_once {
            let Some(target) = todo.next() else { break };
            if stop.is_set() {
                left.push(target);
                continue;
            }
            let place = (target.account_id.clone(), target.region.clone());
            let task = running.spawn(one_target(
                target,
                permits.clone(),
                stop.clone(),
                per_key.clone(),
            ));
            places.insert(task.id(), place);
        }
        let Some(done) = running.join_next_with_id().await else {
            break;
        };
        match done {
            Ok((id, f)) => {
                places.remove(&id);
                finished(f);
            }
            // A task that panicked (a bug): its account-Region is named, never dropped.
            Err(e) => {
                let (account_id, region) = places.remove(&e.id()).unwrap_or_default();
                finished(Finished {
                    errors: vec![CliError::Unreachable {
                        account: account_id.clone(),
                        region: Some(region.clone()),
                        message: format!("internal error, the account-Region was not finished (a bug: report it): {e}"),
                    }],
                    account_id,
                    region,
                    rows: Vec::new(),
                    not_started: 0,
                });
            }
        }
    }
    left
}

async fn one_target<T, F, Fut>(
    target: KmsRegion,
    permits: Arc<Semaphore>,
    stop: Stop,
    per_key: F,
) -> Finished<T>
where
    F: Fn(KmsRegion, String) -> Fut + Clone,
    Fut: Future<Output = Result<T, KmsError>>,
{
    let (permits, stop) = (&*permits, &stop);
    let mut out = Finished {
        account_id: target.account_id.clone(),
        region: target.region.clone(),
        rows: Vec::new(),
        errors: Vec::new(),
        not_started: 0,
    };
    let reader = target.reader.clone();
    // Each listed key's result; `None` for a key not started because the run was stopped.
    let results = evaluate_listed(&reader, CONCURRENCY, |key_id| {
        let per_key = per_key.clone();
        let target = target.clone();
        async move {
            if stop.is_set() {
                return None;
            }
            // The semaphore is never closed, so a permit always comes.
            let Ok(_permit) = permits.acquire().await else {
                return None;
            };
            if stop.is_set() {
                return None;
            }
            Some(per_key(target, key_id).await)
        }
    });
    let mut results = std::pin::pin!(results);
    // Read to the end even after the listing broke: keys already listed are finished.
    while let Some(listed) = results.next().await {
        match listed {
            Listed::Key(Some(Ok(row))) => out.rows.push(row),
            Listed::Key(None) => out.not_started += 1,
            // A key that failed; or the listing broke: keys after this point were never seen.
            Listed::Key(Some(Err(e))) | Listed::ListingBroke(e) => {
                out.errors
                    .push(CliError::kms(&target.account_id, &target.region, e));
            }
        }
    }
    out
}

/// Progress of a run over account-Regions, on stderr when it is a terminal: account-Regions
/// done of all, keys, and the time left.
pub(super) fn progress(targets: usize, what: &str) -> ProgressBar {
    let bar = crate::output::progress(Some(targets as u64), "account-Region(s)");
    if !bar.is_hidden() {
        if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
            "[{{bar:30}}] {{pos}}/{{len}} account-Region(s), {{msg}} {what}, {{eta}} left"
        )) {
            bar.set_style(style.progress_chars("=> "));
        }
    }
    bar
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use fake_aws::{FakeAws, FaultPlan};

    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

    use super::*;
    use crate::gate::Gate;
    use kms_rotation_core::kms::KmsReader;
    use kms_rotation_core::params::RuleParameters;

    /// An account-Region of `keys` keys in the fake AWS; ListKeys pages of 10.
    fn target(account: &str, keys: usize, plan: FaultPlan) -> KmsRegion {
        let fake = FakeAws::new(fake_aws::account(keys), plan);
        let client = fake.clients().kms;
        KmsRegion {
            account_id: account.into(),
            region: "eu-west-1".into(),
            reader: KmsReader::new(client.clone(), &RuleParameters::default()).with_page_size(10),
            client,
        }
    }

    /// Counts the keys in flight and keeps the highest count.
    #[derive(Debug, Default)]
    struct InFlight {
        now: AtomicUsize,
        max: AtomicUsize,
        done: AtomicUsize,
    }

    impl InFlight {
        async fn key(self: Arc<Self>, key_id: String, fail: bool) -> Result<String, KmsError> {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(3)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            self.done.fetch_add(1, Ordering::SeqCst);
            if fail {
                return Err(KmsError {
                    operation: "DescribeKey",
                    key_id,
                    message: "ThrottlingException: rate exceeded".into(),
                    code: Some("ThrottlingException".into()),
                });
            }
            Ok(key_id)
        }
    }

    /// An HTTP client that answers every KMS call after 5 ms with an empty key, counting the
    /// calls in flight.
    #[derive(Debug, Clone, Default)]
    struct Counting(Arc<InFlight>);

    impl HttpClient for Counting {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }

    impl HttpConnector for Counting {
        fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
            let counter = self.0.clone();
            HttpConnectorFuture::new(async move {
                counter.clone().key(String::new(), false).await.ok();
                Ok(aws_smithy_runtime_api::http::Response::new(
                    200.try_into().unwrap(),
                    aws_smithy_types::body::SdkBody::from(r#"{"KeyMetadata":{"KeyId":"k"}}"#),
                ))
            })
        }
    }

    #[tokio::test]
    async fn the_gate_bounds_requests_in_flight_across_every_client() {
        let counting = Counting::default();
        let gate = Gate::new(6, SharedHttpClient::new(counting.clone()));
        // Two clients (two account-Regions) behind one gate, 40 calls each at once.
        let clients: Vec<aws_sdk_kms::Client> = ["eu-west-1", "us-east-1"]
            .map(|region| {
                aws_sdk_kms::Client::from_conf(
                    aws_sdk_kms::Config::builder()
                        .behavior_version(aws_config::BehaviorVersion::latest())
                        .region(aws_config::Region::new(region))
                        .credentials_provider(aws_credential_types::Credentials::for_tests())
                        .http_client(gate.http_client())
                        .build(),
                )
            })
            .to_vec();
        let calls = clients
            .iter()
            .flat_map(|c| (0..40).map(move |i| c.describe_key().key_id(format!("k{i}")).send()));
        let answers = futures::future::join_all(calls).await;
        assert!(answers.iter().all(Result::is_ok));
        assert_eq!(counting.0.done.load(Ordering::SeqCst), 80);
        assert_eq!(counting.0.max.load(Ordering::SeqCst), 6);
    }

    #[tokio::test]
    async fn keys_of_many_account_regions_run_together_within_the_global_bound() {
        let targets: Vec<KmsRegion> = (0..6)
            .map(|i| target(&format!("11112222333{i}"), 40, FaultPlan::none()))
            .collect();
        let in_flight = Arc::new(InFlight::default());
        let mut finished = Vec::new();
        let counter = in_flight.clone();
        let left = run(
            &targets,
            40,
            &Stop::default(),
            move |_, key_id| counter.clone().key(key_id, false),
            |f| finished.push(f),
        )
        .await;
        assert!(left.is_empty());
        assert_eq!(finished.len(), 6);
        assert!(finished
            .iter()
            .all(|f| f.is_complete() && f.rows.len() == 40));
        let max = in_flight.max.load(Ordering::SeqCst);
        // More than one account-Region's own concurrency, never above the bound.
        assert!(max > CONCURRENCY && max <= 40, "max in flight {max}");
    }

    #[tokio::test]
    async fn a_failing_account_region_or_key_is_named_and_the_others_go_on() {
        let broken = FaultPlan {
            list_keys_denied_from_page: Some(2),
            ..FaultPlan::none()
        };
        let targets = vec![
            target("111122223330", 30, FaultPlan::none()),
            target("111122223331", 30, broken),
            target("111122223332", 30, FaultPlan::none()),
        ];
        let in_flight = Arc::new(InFlight::default());
        let mut finished = Vec::new();
        // One key of the last account fails while the others are still in flight.
        let failing = fake_aws::key_id(7);
        let failing_key = failing.clone();
        run(
            &targets,
            8,
            &Stop::default(),
            move |t: KmsRegion, key_id: String| {
                let fail = t.account_id == "111122223332" && key_id == failing_key;
                in_flight.clone().key(key_id, fail)
            },
            |f| finished.push(f),
        )
        .await;
        finished.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        assert!(finished[0].is_complete() && finished[0].rows.len() == 30);
        // The listing broke after its first page: the 10 keys listed are done, the break named.
        assert_eq!(finished[1].rows.len(), 10);
        assert_eq!(finished[1].errors.len(), 1);
        let e = finished[1].errors[0].to_string();
        assert!(
            e.contains("kms:ListKeys") && e.contains("account 111122223331"),
            "{e}"
        );
        assert_eq!(finished[2].rows.len(), 29);
        let e = finished[2].errors[0].to_string();
        assert!(e.contains(&failing) && e.contains("throttled"), "{e}");
        assert!(!finished[2].is_complete());
    }

    #[tokio::test]
    async fn a_stop_lets_the_keys_in_flight_finish_and_starts_no_other() {
        let targets: Vec<KmsRegion> = (0..10)
            .map(|i| target(&format!("11112222333{i}"), 30, FaultPlan::none()))
            .collect();
        let stop = Stop::default();
        let in_flight = Arc::new(InFlight::default());
        let mut finished = Vec::new();
        let (counter, stopper) = (in_flight.clone(), stop.clone());
        let left = run(
            &targets,
            8,
            &stop,
            move |_, key_id| {
                if counter.done.load(Ordering::SeqCst) >= 25 {
                    stopper.set();
                }
                counter.clone().key(key_id, false)
            },
            |f| finished.push(f),
        )
        .await;
        let done: usize = finished.iter().map(|f| f.rows.len()).sum();
        // Every key started was finished and reported; none was started after the stop but
        // the ones already waiting for a permit at that moment.
        assert_eq!(done, in_flight.done.load(Ordering::SeqCst));
        assert!((25..25 + 8 + 1).contains(&done), "{done} keys done");
        assert!(finished.iter().any(|f| f.not_started > 0));
        assert!(finished.iter().all(|f| f.errors.is_empty()));
        // Account-Regions never started are handed back, so the summary can name them.
        assert_eq!(left.len() + finished.len(), 10);
        assert!(!left.is_empty());
    }
}
