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

/// Query of `GET /system/df`: `type` may repeat (API 1.42+).
#[derive(Debug, Default)]
pub(crate) struct DiskUsageParams {
    pub(crate) types: Vec<String>,
}

impl DiskUsageParams {
    pub(crate) fn from_query(query: Option<&str>) -> Self {
        let types = serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k == "type")
            .map(|(_, v)| v)
            .collect();
        Self { types }
    }
}
