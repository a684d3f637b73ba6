//! The tests' transport: an SDK HTTP connector that hands each attempt to [`FakeAws::handle`],
//! and SDK clients that use it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_kms::config::retry::{RetryConfig, RetryPartition};
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use kms_rotation_core::clients::{Clients, MAX_ATTEMPTS};

use crate::account::REGION;
use crate::plan::ATTEMPT_TIMEOUT;
use crate::server::Handler;
use crate::{FakeAws, Reply, Request};

/// The credentials the fake STS hands out: distinctive, so a log scan can look for them.
pub const ASSUMED_ACCESS_KEY_ID: &str = "ASIAFAKEASSUMED7Q2XZ";
pub const ASSUMED_SECRET_ACCESS_KEY: &str = "q8Jd/Secr3tAccessKey+Assumed/9fK2mZpL0vWxYtRbNc";
pub const ASSUMED_SESSION_TOKEN: &str =
    "IQoJb3JpZ2luX2VjEFakeSessionTokenAssumedRole/Zx9Q+w8Lk2Jh5Gf3Ds1Aa0PpOoIiUuYyTtRrEeWwQq==";
/// The rule's own (environment) credentials in the tests.
pub const BASE_ACCESS_KEY_ID: &str = "AKIAFAKEBASEKEY4R7T";
pub const BASE_SECRET_ACCESS_KEY: &str = "Zm9vYmFy/BaseSecretAccessKey+kms/rotation7Hq3";
pub const BASE_SESSION_TOKEN: &str = "FwoGZXIvYXdzEFakeBaseSessionToken/Lambda+Env9k3J2h1G0f==";

/// A retry partition of its own for every client: the SDK's retry token bucket is shared per
/// partition across the process, and tests run in parallel.
fn own_partition(service: &str) -> RetryPartition {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    RetryPartition::new(format!(
        "{service}-fake-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

impl FakeAws {
    /// SDK clients that talk to this fake: the production retry policy (standard mode,
    /// [`MAX_ATTEMPTS`] attempts) with millisecond backoffs, and an attempt timeout
    /// ([`ATTEMPT_TIMEOUT`]).
    pub fn clients(&self) -> Clients {
        let http = self.http_client();
        let credentials = Credentials::new(
            BASE_ACCESS_KEY_ID,
            BASE_SECRET_ACCESS_KEY,
            Some(BASE_SESSION_TOKEN.to_owned()),
            None,
            "test",
        );
        let retry = RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(1))
            .with_max_backoff(Duration::from_millis(5));
        let timeout = TimeoutConfig::builder()
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .build();
        macro_rules! client {
            ($sdk:ident, $name:literal) => {
                $sdk::Client::from_conf(
                    $sdk::Config::builder()
                        .behavior_version(BehaviorVersion::latest())
                        .region(Region::new(REGION))
                        .credentials_provider(credentials.clone())
                        .http_client(http.clone())
                        .retry_config(retry.clone())
                        .retry_partition(own_partition($name))
                        .timeout_config(timeout.clone())
                        .build(),
                )
            };
        }
        Clients {
            kms: client!(aws_sdk_kms, "kms"),
            config: client!(aws_sdk_config, "config"),
            sts: client!(aws_sdk_sts, "sts"),
            events: client!(aws_sdk_eventbridge, "events"),
        }
    }

    /// The HTTP client that answers from this fake; for clients built elsewhere.
    pub fn http_client(&self) -> SharedHttpClient {
        let fake = self.clone();
        http_client_fn(move |_, _| SharedHttpConnector::new(fake.clone()))
    }
}

impl HttpConnector for FakeAws {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let fake = self.clone();
        let header = |name: &str| request.headers().get(name).map(str::to_owned);
        let target = header("x-amz-target").unwrap_or_default();
        let authorization = header("authorization");
        let body = request.body().bytes().unwrap_or_default().to_vec();
        HttpConnectorFuture::new(async move {
            let reply = fake
                .handle(Request {
                    target: &target,
                    authorization: authorization.as_deref(),
                    body: &body,
                })
                .await;
            match reply {
                Reply::Answer {
                    status,
                    content_type,
                    body,
                } => {
                    let mut response = HttpResponse::new(
                        StatusCode::try_from(status).expect("a valid status"),
                        SdkBody::from(body),
                    );
                    response.headers_mut().insert("content-type", content_type);
                    Ok(response)
                }
                Reply::Reset => Err(ConnectorError::io(Box::new(std::io::Error::from(
                    std::io::ErrorKind::ConnectionReset,
                )))),
            }
        })
    }
}

/// Any handler ([`crate::Org`]'s too) as an SDK HTTP connector: each attempt handed over in the
/// process, answered as the HTTP server would answer it.
#[derive(Debug, Clone)]
pub(crate) struct Handled<H>(pub(crate) H);

impl<H: Handler + std::fmt::Debug> HttpConnector for Handled<H> {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let handler = self.0.clone();
        let header = |name: &str| request.headers().get(name).map(str::to_owned);
        let target = header("x-amz-target").unwrap_or_default();
        let authorization = header("authorization");
        let body = request.body().bytes().unwrap_or_default().to_vec();
        HttpConnectorFuture::new(async move {
            let reply = handler
                .reply(Request {
                    target: &target,
                    authorization: authorization.as_deref(),
                    body: &body,
                })
                .await;
            match reply {
                Reply::Answer {
                    status,
                    content_type,
                    body,
                } => {
                    let mut response = HttpResponse::new(
                        StatusCode::try_from(status).expect("a valid status"),
                        SdkBody::from(body),
                    );
                    response.headers_mut().insert("content-type", content_type);
                    Ok(response)
                }
                Reply::Reset => Err(ConnectorError::io(Box::new(std::io::Error::from(
                    std::io::ErrorKind::ConnectionReset,
                )))),
            }
        })
    }
}
