//! The benchmark's transport: an HTTP/1 server on a loopback port that hands each request to
//! [`FakeAws::handle`] (or [`crate::Org::handle`]); a process points its SDK at it with
//! `AWS_ENDPOINT_URL`.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request as HttpRequest, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::{FakeAws, Reply, Request};

impl FakeAws {
    /// Serve on 127.0.0.1 (a free port) until the task is aborted. A [`Reply::Reset`] closes the
    /// connection without an answer.
    pub async fn serve(&self) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        serve(self.clone()).await
    }
}

impl Handler for FakeAws {
    fn reply<'a>(&'a self, request: Request<'a>) -> impl Future<Output = Reply> + Send + 'a {
        self.handle(request)
    }
}

/// What the server hands each request to: the one-account fake, or the organization
/// ([`crate::Org`]).
pub(crate) trait Handler: Clone + Send + Sync + 'static {
    fn reply<'a>(&'a self, request: Request<'a>) -> impl Future<Output = Reply> + Send + 'a;
}

/// Serve `handler` on 127.0.0.1 (a free port) until the task is aborted.
pub(crate) async fn serve<H: Handler>(handler: H) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { answer(&handler, req).await }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, task))
}

async fn answer<H: Handler>(
    handler: &H,
    req: HttpRequest<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let target = header("x-amz-target").unwrap_or_default();
    let authorization = header("authorization");
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
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
        } => Ok(Response::builder()
            .status(status)
            .header("content-type", content_type)
            .header("x-amzn-requestid", "00000000-0000-4000-8000-000000000000")
            .body(Full::new(Bytes::from(body)))
            .expect("a valid response")),
        Reply::Reset => Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
    }
}
