use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::{get, post};
use berth_http::ApiError;
use futures_util::FutureExt;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use axum::body::Body;
use berth_api::{Error, ErrorKind};
use http::{Request, StatusCode, header};

/// What a fake authorizer saw, and what it answers.
#[derive(Debug, Default)]
struct Fake {
    name: &'static str,
    deny_request: Option<ErrorKind>,
    deny_response: bool,
    requests: Mutex<Vec<Arc<RequestInfo>>>,
    responses: Mutex<Vec<Arc<ResponseInfo>>>,
}

impl Fake {
    fn allowing(name: &'static str) -> Arc<Self> {
        Arc::new(Self { name, ..Self::default() })
    }

    fn seen(&self) -> Vec<Arc<RequestInfo>> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Authorizer for Fake {
    fn name(&self) -> &str {
        self.name
    }

    fn authorize_request(&self, request: Arc<RequestInfo>) -> BoxFuture<'static, Verdict> {
        self.requests.lock().expect("lock").push(request);
        let verdict = match self.deny_request {
            Some(kind) => Err(Error::new(kind, format!("denied by {}", self.name))),
            None => Ok(()),
        };
        async move { verdict }.boxed()
    }

    fn authorize_response(
        &self,
        _request: Arc<RequestInfo>,
        response: Arc<ResponseInfo>,
    ) -> BoxFuture<'static, Verdict> {
        self.responses.lock().expect("lock").push(response);
        let verdict = if self.deny_response {
            Err(Error::new(ErrorKind::Forbidden, "response denied"))
        } else {
            Ok(())
        };
        async move { verdict }.boxed()
    }
}

/// A router whose handlers count their calls; `/echo` returns the body it received.
fn app(links: Vec<Arc<dyn Authorizer>>, calls: Arc<AtomicUsize>) -> Router {
    let c1 = Arc::clone(&calls);
    let c2 = Arc::clone(&calls);
    let c3 = Arc::clone(&calls);
    Router::new()
        .route(
            "/echo",
            post(move |body: Bytes| async move {
                c1.fetch_add(1, Ordering::SeqCst);
                ([(header::CONTENT_TYPE, "application/json")], body)
            }),
        )
        .route(
            "/fail",
            get(move || async move {
                c2.fetch_add(1, Ordering::SeqCst);
                ApiError(Error::new(ErrorKind::NotFound, "no such thing"))
            }),
        )
        .route(
            "/stream",
            get(move || async move {
                c3.fetch_add(1, Ordering::SeqCst);
                let parts = vec![
                    Ok::<_, std::io::Error>(Bytes::from_static(b"a")),
                    Ok(Bytes::from_static(b"b")),
                ];
                Body::from_stream(futures_util::stream::iter(parts))
            }),
        )
        .route_layer(AuthzLayer::new(AuthzChain::new(links)))
}

fn json_post(path: &str, body: &'static str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .expect("request")
}

async fn send(app: Router, req: Request<Body>) -> (StatusCode, String) {
    let res = app.oneshot(req).await.expect("infallible");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn an_empty_chain_lets_everything_through() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (status, body) =
        send(app(vec![], Arc::clone(&calls)), json_post("/echo", "{\"a\":1}")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "{\"a\":1}"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_request_denial_answers_instead_of_the_handler() {
    let calls = Arc::new(AtomicUsize::new(0));
    let first = Fake::allowing("first");
    let deny = Arc::new(Fake {
        name: "deny",
        deny_request: Some(ErrorKind::Forbidden),
        ..Fake::default()
    });
    let last = Fake::allowing("last");
    let links: Vec<Arc<dyn Authorizer>> = vec![first.clone(), deny.clone(), last.clone()];
    let (status, body) = send(app(links, Arc::clone(&calls)), json_post("/echo", "{}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, "{\"message\":\"denied by deny\"}\n");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler must not run");
    assert_eq!((first.seen().len(), deny.seen().len(), last.seen().len()), (1, 1, 0));
}

#[tokio::test]
async fn an_authorizer_failure_is_a_500_and_fails_closed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let broken =
        Arc::new(Fake { name: "broken", deny_request: Some(ErrorKind::System), ..Fake::default() });
    let (status, _) = send(app(vec![broken], Arc::clone(&calls)), json_post("/echo", "{}")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn json_bodies_are_shown_and_still_reach_the_handler() {
    let calls = Arc::new(AtomicUsize::new(0));
    let fake = Fake::allowing("fake");
    let mut req = json_post("/echo?x=1", "{\"Image\":\"busybox\"}");
    req.extensions_mut()
        .insert(axum::extract::OriginalUri("/v1.51/echo?x=1".parse().expect("uri")));
    req.extensions_mut().insert(Arc::new(Peer { uid: Some(1001), ..Peer::default() }));
    let (status, body) = send(app(vec![fake.clone()], calls), req).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "{\"Image\":\"busybox\"}"));
    let seen = fake.seen();
    assert_eq!(seen[0].body, RequestBody::Json(Bytes::from_static(b"{\"Image\":\"busybox\"}")));
    assert_eq!(seen[0].uri, "/v1.51/echo?x=1");
    assert_eq!(seen[0].path, "/echo");
    assert_eq!(seen[0].peer.uid, Some(1001));
}

#[tokio::test]
async fn other_bodies_are_hidden_and_absent_ones_empty() {
    let fake = Fake::allowing("fake");
    let calls = Arc::new(AtomicUsize::new(0));
    let tar = Request::post("/echo")
        .header(header::CONTENT_TYPE, "application/x-tar")
        .header(header::CONTENT_LENGTH, 3)
        .body(Body::from("tar"))
        .expect("request");
    let (status, body) = send(app(vec![fake.clone()], Arc::clone(&calls)), tar).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "tar"));
    let get = Request::get("/fail").body(Body::empty()).expect("request");
    send(app(vec![fake.clone()], calls), get).await;
    let seen = fake.seen();
    assert_eq!(seen[0].body, RequestBody::Hidden);
    assert_eq!(seen[1].body, RequestBody::Empty);
}

#[tokio::test]
async fn a_large_chunked_json_body_is_hidden_but_delivered_whole() {
    let fake = Fake::allowing("fake");
    let calls = Arc::new(AtomicUsize::new(0));
    // No Content-Length: the layer must peek and give back what it read.
    let chunk = Bytes::from(vec![b' '; 256 << 10]);
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..6).map(|_| Ok(chunk.clone())).collect();
    let req = Request::post("/echo")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .expect("request");
    let (status, body) = send(app(vec![fake.clone()], calls), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.len(), 6 * (256 << 10));
    assert_eq!(fake.seen()[0].body, RequestBody::Hidden);
}

#[tokio::test]
async fn a_declared_large_body_is_not_read_ahead() {
    let fake = Fake::allowing("fake");
    let req = Request::post("/echo")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, MAX_REQUEST_BODY)
        .body(Body::from(vec![b' '; MAX_REQUEST_BODY]))
        .expect("request");
    let (status, body) = send(app(vec![fake.clone()], Arc::new(AtomicUsize::new(0))), req).await;
    assert_eq!((status, body.len()), (StatusCode::OK, MAX_REQUEST_BODY));
    assert_eq!(fake.seen()[0].body, RequestBody::Hidden);
}

#[tokio::test]
async fn complete_answers_are_shown_and_a_response_denial_replaces_them() {
    let calls = Arc::new(AtomicUsize::new(0));
    let fake = Arc::new(Fake { name: "fake", deny_response: true, ..Fake::default() });
    let (status, body) =
        send(app(vec![fake.clone()], Arc::clone(&calls)), json_post("/echo", "{\"k\":2}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, "{\"message\":\"response denied\"}\n");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the handler ran before the response phase");
    let responses = fake.responses.lock().expect("lock").clone();
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, StatusCode::OK);
    assert_eq!(responses[0].body, Bytes::from_static(b"{\"k\":2}"));
}

#[tokio::test]
async fn failed_and_streamed_answers_skip_the_response_phase() {
    let fake = Arc::new(Fake { name: "fake", deny_response: true, ..Fake::default() });
    let calls = Arc::new(AtomicUsize::new(0));
    let get = |p: &str| Request::get(p).body(Body::empty()).expect("request");
    let (status, body) = send(app(vec![fake.clone()], Arc::clone(&calls)), get("/fail")).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, "{\"message\":\"no such thing\"}\n")
    );
    let (status, body) = send(app(vec![fake.clone()], calls), get("/stream")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ab"));
    assert!(fake.responses.lock().expect("lock").is_empty());
}
