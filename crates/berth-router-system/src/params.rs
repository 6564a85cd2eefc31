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
