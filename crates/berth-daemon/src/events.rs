//! The in-process event bus behind `GET /events`: a short replay log for `since` plus a broadcast
//! channel for live subscribers.
//!
//! Publishing and subscribing take the same lock, so a subscriber sees every event exactly once:
//! either in its replay snapshot or on its live channel.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use berth_api::Filters;
use berth_api::system::{Actor, Event};
use berth_backend::{BoxStream, EventsQuery};
use futures_util::StreamExt;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// Events kept for replay (dockerd keeps the same number).
const REPLAY_LOG: usize = 256;
/// Live events a slow subscriber may fall behind before it skips some.
const CHANNEL: usize = 1024;

/// Publishes events and hands out filtered streams of them.
#[derive(Debug, Clone)]
pub(crate) struct EventBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    log: Mutex<VecDeque<Event>>,
    live: broadcast::Sender<Event>,
    closed: watch::Sender<bool>,
}

impl Default for EventBus {
    fn default() -> Self {
        let (live, _) = broadcast::channel(CHANNEL);
        let (closed, _) = watch::channel(false);
        Self { inner: Arc::new(Inner { log: Mutex::new(VecDeque::new()), live, closed }) }
    }
}

/// Current time in Unix nanoseconds.
pub(crate) fn now_nanos() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX)
}

impl berth_engine::EventSink for EventBus {
    fn publish(&self, kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) {
        EventBus::publish(self, kind, action, id, attributes);
    }
}

impl EventBus {
    /// Records `action` on an object of `kind` and sends it to every subscriber.
    pub(crate) fn publish(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let nanos = now_nanos();
        let event = Event {
            kind: kind.to_owned(),
            action: action.to_owned(),
            actor: Actor { id: id.to_owned(), attributes },
            scope: "local".to_owned(),
            time: nanos.div_euclid(1_000_000_000),
            time_nano: nanos,
        };
        let mut log = self.inner.log.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() == REPLAY_LOG {
            log.pop_front();
        }
        log.push_back(event.clone());
        // No subscriber is fine: the event is still in the replay log.
        let _ = self.inner.live.send(event);
    }

    /// Ends every live stream (at shutdown, so event watchers do not hold the daemon open).
    pub(crate) fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    /// Live subscribers right now (`NEventsListener` in `/info`).
    pub(crate) fn listeners(&self) -> usize {
        self.inner.live.receiver_count()
    }

    /// Replayed events since `query.since`, then live ones until `query.until`, all filtered.
    pub(crate) fn subscribe(&self, query: EventsQuery) -> BoxStream<'static, Event> {
        let EventsQuery { since, until, filters } = query;
        let (past, receiver) = {
            let log = self.inner.log.lock().unwrap_or_else(|p| p.into_inner());
            let past: Vec<Event> = match since {
                Some(since) => log
                    .iter()
                    .filter(|e| e.time_nano >= since && until.is_none_or(|u| e.time_nano <= u))
                    .filter(|e| matches(&filters, e))
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            (past, self.inner.live.subscribe())
        };
        let closed = self.inner.closed.subscribe();
        let now = now_nanos();
        let replay = futures_util::stream::iter(past);
        match until {
            Some(u) if u <= now => replay.boxed(),
            _ => {
                let deadline = until.map(|u| {
                    let wait = u64::try_from(u - now).unwrap_or(0);
                    Instant::now() + std::time::Duration::from_nanos(wait)
                });
                replay.chain(live(receiver, closed, filters, until, deadline)).boxed()
            }
        }
    }
}

fn live(
    receiver: broadcast::Receiver<Event>,
    closed: watch::Receiver<bool>,
    filters: Filters,
    until: Option<i64>,
    deadline: Option<Instant>,
) -> impl futures_core::Stream<Item = Event> + Send + 'static {
    futures_util::stream::unfold((receiver, closed), move |(mut receiver, mut closed)| {
        let filters = filters.clone();
        async move {
            loop {
                let expired = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                let next = tokio::select! {
                    next = receiver.recv() => next,
                    () = expired => return None,
                    _ = closed.wait_for(|c| *c) => return None,
                };
                match next {
                    Ok(event) if until.is_some_and(|u| event.time_nano > u) => return None,
                    Ok(event) if matches(&filters, &event) => {
                        return Some((event, (receiver, closed)));
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "events subscriber too slow; events dropped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    })
}

/// dockerd's event filter semantics: values of one key OR'ed, keys AND'ed; object keys match the
/// actor's ID or `name` attribute by prefix.
pub(crate) fn matches(filters: &Filters, event: &Event) -> bool {
    if filters.is_empty() {
        return true;
    }
    let attrs = &event.actor.attributes;
    let fuzzy = |key: &str| {
        if !filters.contains(key) {
            return true;
        }
        let name = attrs.get("name").map(String::as_str).unwrap_or("");
        filters.get(key).any(|want| {
            event.actor.id.starts_with(want) || (!name.is_empty() && name.starts_with(want))
        })
    };
    let action_matches = filters.any_match("event", [event.action.as_str()])
        || event
            .action
            .split_once(':')
            .is_some_and(|(prefix, _)| filters.any_match("event", [prefix.trim()]));
    let image_matches = !filters.contains("image")
        || filters.get("image").any(|want| {
            event.actor.id.starts_with(want)
                || attrs.get("image").is_some_and(|i| i == want)
                || (event.kind == "image" && attrs.get("name").is_some_and(|n| n == want))
        });
    action_matches
        && filters.exact_match("type", &event.kind)
        && filters.exact_match("scope", &event.scope)
        && [
            "daemon",
            "container",
            "plugin",
            "volume",
            "network",
            "node",
            "service",
            "secret",
            "config",
        ]
        .into_iter()
        .all(fuzzy)
        && image_matches
        && filters.match_labels("label", |k| attrs.get(k).map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[tokio::test]
    async fn replays_since_and_ends_at_past_until() {
        let bus = EventBus::default();
        let before = now_nanos();
        bus.publish("daemon", "reload", "d1", attrs(&[("name", "host")]));
        bus.publish("container", "start", "c1", attrs(&[("name", "web")]));
        let query =
            EventsQuery { since: Some(before), until: Some(now_nanos()), ..Default::default() };
        let got: Vec<Event> = bus.subscribe(query).collect().await;
        let actions: Vec<&str> = got.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["reload", "start"]);
    }

    #[tokio::test]
    async fn live_events_are_filtered_and_stream_stops_at_until() {
        let bus = EventBus::default();
        let mut filters = Filters::default();
        filters.add("type", "daemon");
        // Generous, so a loaded machine still publishes both events before the deadline.
        let until = now_nanos() + 2_000_000_000;
        let mut stream = bus.subscribe(EventsQuery { since: None, until: Some(until), filters });
        bus.publish("container", "start", "c1", BTreeMap::new());
        bus.publish("daemon", "reload", "d1", BTreeMap::new());
        let first = stream.next().await.expect("daemon event");
        assert_eq!(first.kind, "daemon");
        assert!(stream.next().await.is_none(), "stream ends at until");
    }

    #[tokio::test]
    async fn close_ends_live_streams() {
        let bus = EventBus::default();
        let mut stream = bus.subscribe(EventsQuery::default());
        assert_eq!(bus.listeners(), 1);
        bus.close();
        assert!(stream.next().await.is_none());
    }

    #[test]
    fn filter_semantics() {
        let event = Event {
            kind: "container".into(),
            action: "exec_start: sh -c true".into(),
            actor: Actor {
                id: "abcdef".into(),
                attributes: attrs(&[("name", "web"), ("tier", "db")]),
            },
            scope: "local".into(),
            time: 0,
            time_nano: 0,
        };
        let f = |json: &str| Filters::parse(json).expect("filters");
        assert!(matches(&f(r#"{"container":["web"]}"#), &event));
        assert!(matches(&f(r#"{"container":["abc"]}"#), &event));
        assert!(!matches(&f(r#"{"container":["zzz"]}"#), &event));
        assert!(matches(&f(r#"{"event":["exec_start"]}"#), &event));
        assert!(matches(&f(r#"{"label":["tier=db"],"type":["container"]}"#), &event));
        assert!(!matches(&f(r#"{"label":["tier=web"]}"#), &event));
        assert!(!matches(&f(r#"{"daemon":["x"]}"#), &event));
        assert!(!matches(&f(r#"{"type":["image"]}"#), &event));
    }
}
