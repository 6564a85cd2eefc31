//! Talking to registries: pull, push and distribution inspect (the OCI distribution API),
//! with dockerd's progress messages and error wording.

use berth_api::Result;
use berth_api::image::{AuthConfig, DistributionInspect, Platform, Reference};
use berth_backend::{ImagePullOptions, ImagePushOptions, ProgressStream};

use super::Store;

pub(crate) mod client;
mod progress;
mod pull;
mod push;
#[cfg(test)]
mod testregistry;
#[cfg(test)]
mod tests;

/// `POST /images/create?fromImage=`.
pub(crate) async fn pull(store: &Store, options: ImagePullOptions) -> Result<ProgressStream> {
    pull::pull(store, options).await
}

/// `POST /images/{name}/push`.
pub(crate) async fn push(store: &Store, options: ImagePushOptions) -> Result<ProgressStream> {
    push::push(store, options).await
}

/// `GET /distribution/{name}/json`: the descriptor of what the reference names in the registry,
/// and the platforms it covers (an index's entries; for a single manifest, its config's).
pub(crate) async fn inspect(
    store: &Store,
    reference: Reference,
    auth: AuthConfig,
) -> Result<DistributionInspect> {
    let reference = reference.with_default_tag();
    let path = reference.path().to_owned();
    let client = client::Client::connect(
        reference.domain(),
        &store.insecure_registries,
        auth,
        vec![client::scope(&path, "pull")],
    )
    .await
    .map_err(|e| pull::translate(e, &reference))?;
    let fetched = client
        .manifest(&path, &pull::tag_or_digest(&reference))
        .await
        .map_err(|e| pull::translate(e, &reference))?;
    let descriptor = berth_api::image::Descriptor {
        media_type: fetched.media_type.clone(),
        digest: fetched.digest.clone(),
        size: fetched.bytes.len() as i64,
        ..Default::default()
    };
    let platforms = if fetched.is_index() {
        fetched.json["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| serde_json::from_value::<Platform>(m["platform"].clone()).ok())
            .collect()
    } else {
        let config = pull::descriptor(&fetched.json["config"]).ok_or_else(|| {
            berth_api::Error::system(format!("manifest {} has no config", fetched.digest))
        })?;
        let bytes = pull::small_blob(&client, &path, &config).await?;
        let config: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            berth_api::Error::system("the image config is not valid JSON").with_source(e)
        })?;
        vec![serde_json::from_value::<Platform>(config).unwrap_or_default()]
    };
    Ok(DistributionInspect { descriptor, platforms })
}

/// `POST /auth` (`docker login`): checks the credentials against the registry's `/v2/`.
pub(crate) async fn login(store: &Store, auth: AuthConfig) -> Result<String> {
    let address = auth.serveraddress.trim().to_owned();
    let domain = address
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .trim_end_matches("/v1")
        .trim_end_matches("/v2");
    let domain = match domain {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_owned(),
        other => other.to_owned(),
    };
    if auth.username.is_empty() && auth.identitytoken.is_empty() && auth.auth.is_empty() {
        return Err(berth_api::Error::invalid(
            "login: a username (or an identity token) is required",
        ));
    }
    let client =
        client::Client::connect(&domain, &store.insecure_registries, auth, Vec::new()).await?;
    let url = client.url("")?;
    let request = client.request(reqwest::Method::GET, url).await?;
    client.send(&reqwest::Method::GET, request).await?;
    Ok("Login Succeeded".to_owned())
}
