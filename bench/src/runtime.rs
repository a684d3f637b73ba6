//! A minimal fake of the Lambda Runtime API, enough to run the real `kms-rotation-rule` binary
//! once: the first `GET /2018-06-01/runtime/invocation/next` gets the event (and is timed: it is
//! the moment the process is ready for its first event), later ones wait forever; the
//! invocation's `response` or `error` ends the run.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub const REQUEST_ID: &str = "bench-0001";

/// How the invocation ended.
#[derive(Debug, Clone)]
pub enum Ending {
    Response(Value),
    Error { error_type: String, message: String },
}

pub struct FakeRuntime {
    event: Value,
    timeout: Duration,
    delivered: AtomicBool,
    /// When the process first asked for an event.
    pub first_next: Mutex<Option<Instant>>,
    /// When the event was handed over.
    pub delivered_at: Mutex<Option<Instant>>,
    pub ending: Mutex<Option<(Ending, Instant)>>,
    pub ready: Notify,
    pub done: Notify,
}

impl FakeRuntime {
    pub fn new(event: Value, timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            event,
            timeout,
            delivered: AtomicBool::new(false),
            first_next: Mutex::new(None),
            delivered_at: Mutex::new(None),
            ending: Mutex::new(None),
            ready: Notify::new(),
            done: Notify::new(),
        })
    }

    pub async fn serve(self: &Arc<Self>) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let rt = self.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let rt = rt.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let rt = rt.clone();
                        async move { Ok::<_, Infallible>(rt.handle(req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok((addr, task))
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if method == Method::GET && path == "/2018-06-01/runtime/invocation/next" {
            let now = Instant::now();
            self.first_next.lock().unwrap().get_or_insert(now);
            if self.delivered.swap(true, Ordering::SeqCst) {
                // One invocation per process: later polls wait until the process is killed.
                std::future::pending::<()>().await;
            }
            self.ready.notify_one();
            *self.delivered_at.lock().unwrap() = Some(Instant::now());
            let deadline = SystemTime::now() + self.timeout;
            let deadline_ms = deadline
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("lambda-runtime-aws-request-id", REQUEST_ID)
                .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
                .header(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:kms-rotation-rule",
                )
                .header(
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000",
                )
                .body(Full::new(Bytes::from(self.event.to_string())))
                .expect("a valid response");
        }
        let ending = if path.ends_with("/response") {
            Some(Ending::Response(
                serde_json::from_slice(&body).unwrap_or(Value::Null),
            ))
        } else if path.ends_with("/error") {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            Some(Ending::Error {
                error_type: v["errorType"].as_str().unwrap_or("").to_owned(),
                message: v["errorMessage"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned()),
            })
        } else {
            None
        };
        if let Some(ending) = ending {
            *self.ending.lock().unwrap() = Some((ending, Instant::now()));
            self.done.notify_one();
        }
        Response::builder()
            .status(StatusCode::ACCEPTED)
            .body(Full::new(Bytes::from_static(b"{}")))
            .expect("a valid response")
    }
}
