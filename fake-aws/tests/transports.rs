//! The one handler behind both transports: the SDK connector (the tests') and the HTTP server
//! (the benchmark's) answer the same account the same way, ListAliases included.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_kms::config::{BehaviorVersion, Region};
use aws_sdk_kms::error::ProvideErrorMetadata;
use fake_aws::{
    account, key_id, Account, FakeAws, FaultPlan, Key, Kind, Traffic, PREDEFINED_ALIASES,
};

/// A KMS client of the benchmark's kind: the SDK's own HTTP client, pointed at the server.
async fn served(fake: &FakeAws) -> (aws_sdk_kms::Client, tokio::task::JoinHandle<()>) {
    let (addr, task) = fake.serve().await.unwrap();
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(fake_aws::REGION))
        .endpoint_url(format!("http://{addr}"))
        .credentials_provider(Credentials::for_tests())
        .build();
    (aws_sdk_kms::Client::from_conf(config), task)
}

/// Every alias, page by page (Limit 7, so paging is exercised): (name, target key id).
async fn aliases(kms: &aws_sdk_kms::Client) -> Vec<(String, Option<String>)> {
    let mut items = kms.list_aliases().limit(7).into_paginator().items().send();
    let mut out = Vec::new();
    while let Some(alias) = items.next().await {
        let alias = alias.unwrap();
        out.push((alias.alias_name.unwrap(), alias.target_key_id));
    }
    out
}

#[tokio::test]
async fn both_transports_list_the_same_aliases() {
    let fake = FakeAws::new(account(40), FaultPlan::none());
    let by_connector = aliases(&fake.clients().kms).await;
    let (kms, task) = served(&fake).await;
    let by_server = aliases(&kms).await;
    task.abort();
    assert_eq!(by_connector, by_server);
    // Every AWS managed key has an alias/aws/... alias, and only they do.
    let aws_managed: Vec<&String> = fake
        .keys()
        .iter()
        .filter(|(_, k)| *k == Kind::AwsManaged)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(aws_managed.len(), 2);
    for (name, target) in &by_server {
        match target {
            Some(id) if aws_managed.contains(&id) => assert!(name.starts_with("alias/aws/")),
            Some(_) => assert!(name.starts_with("alias/app-"), "{name}"),
            None => assert!(PREDEFINED_ALIASES.contains(&name.as_str())),
        }
    }
    let targets: Vec<&String> = by_server.iter().filter_map(|(_, t)| t.as_ref()).collect();
    assert!(aws_managed.iter().all(|id| targets.contains(id)));
    // One customer key in 4, of 38.
    assert_eq!(targets.len(), 2 + 10);
    assert_eq!(fake.journal(|j| j.attempts["ListAliases"]), 2 * 3);
}

#[tokio::test]
async fn list_aliases_of_one_key_and_its_limits() {
    let fake = FakeAws::new(account(20), FaultPlan::none());
    let kms = fake.clients().kms;
    // Kind::AwsManaged is the 7th kind: key 6.
    let out = kms.list_aliases().key_id(key_id(6)).send().await.unwrap();
    let names: Vec<&str> = out
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name())
        .collect();
    assert_eq!(names, ["alias/aws/s3"]);
    let alias = &out.aliases()[0];
    assert_eq!(alias.target_key_id(), Some(key_id(6).as_str()));
    assert!(alias.alias_arn().unwrap().ends_with(":alias/aws/s3"));
    assert!(alias.creation_date().is_some() && alias.last_updated_date().is_some());
    assert!(!out.truncated());
    let err = kms.list_aliases().key_id("nope").send().await.unwrap_err();
    assert_eq!(err.code(), Some("NotFoundException"));
    // The default page is 50; more than 100 is refused.
    let all = kms.list_aliases().send().await.unwrap();
    assert!(all.aliases().len() <= 50);
    let err = kms.list_aliases().limit(101).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(fake.journal(|j| j.refused.len()), 1);
}

#[tokio::test]
async fn the_server_applies_quotas_and_resets() {
    // A quota of 5/s (a share of ListAliases' 500/s), burst 1: the second call in a row is
    // throttled, and the SDK retries it.
    let fake = FakeAws::with_account(
        Account::new(vec![Key::new("k1")]),
        FaultPlan::none(),
        Traffic {
            latency: Duration::from_millis(1),
            quota_share: Some(0.01),
            ..Traffic::default()
        },
    );
    let (kms, task) = served(&fake).await;
    for _ in 0..2 {
        kms.list_aliases().send().await.unwrap();
    }
    let throttled = fake.journal(|j| j.throttled_by_quota.get("ListAliases").copied());
    assert!(throttled >= Some(1), "{throttled:?}");
    task.abort();

    // A reset closes the connection: the SDK sees a dispatch failure and retries it.
    let fake = FakeAws::with_account(
        Account::new(vec![Key::new("k1")]),
        FaultPlan {
            kinds: vec![fake_aws::Fault::Reset],
            ..FaultPlan::everywhere(1, 1.0)
        },
        Traffic::default(),
    );
    let (kms, task) = served(&fake).await;
    let err = kms.describe_key().key_id("k1").send().await.unwrap_err();
    assert!(
        matches!(err, aws_sdk_kms::error::SdkError::DispatchFailure(_)),
        "{err:?}"
    );
    assert_eq!(fake.journal(|j| j.injected["reset"]), 3);
    task.abort();
}
