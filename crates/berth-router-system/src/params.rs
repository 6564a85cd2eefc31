use serde::Deserialize;

/// Query of `GET /events`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsParams {
    #[serde(default)]
    pub(crate) since: Option<String>,
    #[serde(default)]
    pub(crate) until: Option<String>,
    #[serde(default)]
    pub(crate) filters: Option<String>,
}

/// Filter keys dockerd accepts on `GET /events`.
pub(crate) const EVENT_FILTERS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];
