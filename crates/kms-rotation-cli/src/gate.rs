//! The bound on KMS requests in flight across every account-Region of a run (`--max-in-flight`):
//! an HTTP client that the session puts under every KMS client.

use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::sync::Semaphore;

/// The bound on KMS requests in flight across every account-Region: an HTTP client around the
/// shared one whose every attempt (retries included) holds one of `--max-in-flight` permits until
/// its answer has arrived. Put under every KMS client of a run, it bounds the listing pages as well
/// as the key reads.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    permits: Arc<Semaphore>,
    inner: SharedHttpClient,
}

impl Gate {
    pub(crate) fn new(max_in_flight: usize, inner: SharedHttpClient) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            inner,
        }
    }

    /// The HTTP client to give the KMS clients.
    pub(crate) fn http_client(&self) -> SharedHttpClient {
        SharedHttpClient::new(self.clone())
    }
}

impl HttpClient for Gate {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(GatedConnector {
            permits: self.permits.clone(),
            inner: self.inner.http_connector(settings, components),
        })
    }
}

#[derive(Debug)]
struct GatedConnector {
    permits: Arc<Semaphore>,
    inner: SharedHttpConnector,
}

impl HttpConnector for GatedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (permits, inner) = (self.permits.clone(), self.inner.clone());
        HttpConnectorFuture::new(async move {
            // Never closed, so a permit always comes; held until the answer is in.
            let _permit = permits.acquire_owned().await;
            inner.call(request).await
        })
    }
}
