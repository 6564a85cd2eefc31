//! `ImageBackend` for the engine: what is built so far answers for real; the rest answers 501
//! naming what is missing.

use berth_api::image::{
    AuthConfig, DistributionInspect, HistoryItem, ImageDeleteItem, ImageInspect, ImagePruneReport,
    ImageSummary, Platform, ProgressMessage, Reference,
};
use berth_api::{Error, Filters, Result};
use berth_backend::{
    ByteStream, ImageBackend, ImageImportOptions, ImageInspectOptions, ImageListOptions,
    ImageLoadOptions, ImagePullOptions, ImagePushOptions, ImageRemoveOptions, ImageSaveOptions,
    ImportSource, ProgressStream,
};
use futures_util::StreamExt;

use super::import::{ImportRequest, import};
use super::{Entry, archive, ops, registry, views};
use crate::Engine;

/// `fromSrc=<url>`: the tarball's bytes as they arrive (dockerd accepts `http://` and `https://`).
async fn download(url: &str) -> Result<ByteStream> {
    let parsed = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
        Error::invalid(format!("import: {url:?} is not an http or https URL"))
    })?;
    let client = super::registry::client::http_client(true)?;
    let response = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| Error::system(format!("import: cannot download {url}: {e}")))?;
    if !response.status().is_success() {
        return Err(Error::invalid(format!(
            "import: downloading {url} answered {}",
            response.status()
        )));
    }
    let url = url.to_owned();
    Ok(response
        .bytes_stream()
        .map(move |chunk| {
            chunk.map_err(|e| Error::system(format!("import: download of {url} failed: {e}")))
        })
        .boxed())
}

/// dockerd's `reference` filter: a glob (`path.Match`) against the familiar name, with or
/// without its tag.
fn reference_matches(pattern: &str, tags: &[String]) -> bool {
    tags.iter().any(|tag| {
        let repo = tag.rsplit_once(':').map_or(tag.as_str(), |(r, _)| r);
        glob(pattern, tag) || glob(pattern, repo)
    })
}

/// `path.Match` semantics for `*` and `?` (not crossing `/`).
fn glob(pattern: &str, text: &str) -> bool {
    fn rec(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                rec(&p[1..], t) || (!t.is_empty() && t[0] != b'/' && rec(p, &t[1..]))
            }
            (Some(b'?'), Some(c)) if *c != b'/' => rec(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => rec(&p[1..], &t[1..]),
            _ => false,
        }
    }
    rec(pattern.as_bytes(), text.as_bytes())
}

async fn created_of(engine: &Engine, name: &str) -> Result<i64> {
    let entry = engine.images()?.find(name).await?;
    Ok(views::summary(&entry).created)
}

fn filter(entry: &Entry, summary: &ImageSummary, filters: &Filters) -> Result<bool> {
    if let Some(dangling) = filters.get_bool("dangling")?
        && dangling != summary.repo_tags.is_empty()
    {
        return Ok(false);
    }
    let labels = summary.labels.clone().unwrap_or_default();
    if !filters.match_labels("label", |k| labels.get(k).map(String::as_str)) {
        return Ok(false);
    }
    if filters.contains("reference")
        && !filters.get("reference").any(|p| reference_matches(p, &summary.repo_tags))
    {
        return Ok(false);
    }
    let _ = entry;
    Ok(true)
}

impl Engine {
    /// `POST /auth`: whether the registry accepts these credentials (`Login Succeeded`).
    pub async fn login(&self, auth: AuthConfig) -> Result<String> {
        registry::login(self.images()?, auth).await
    }

    /// Images for `GET /system/df`: `SharedSize` is the bytes of layer blobs another image also
    /// uses; `Containers` is 0 (Berth runs no containers yet).
    pub async fn image_disk_usage(&self) -> Result<Vec<ImageSummary>> {
        let entries = self.images()?.entries().await?;
        let mut users: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for entry in &entries {
            for layer in &entry.image.layers {
                *users.entry(layer.digest.as_str()).or_default() += 1;
            }
        }
        Ok(entries
            .iter()
            .map(|entry| {
                let mut summary = views::summary(entry);
                summary.shared_size = entry
                    .image
                    .layers
                    .iter()
                    .filter(|l| users.get(l.digest.as_str()).is_some_and(|n| *n > 1))
                    .map(|l| l.size)
                    .sum();
                summary.containers = 0;
                summary
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl ImageBackend for Engine {
    async fn list(&self, options: ImageListOptions) -> Result<Vec<ImageSummary>> {
        let store = self.images()?;
        let filters = &options.filters;
        let before = match filters.get("before").next() {
            Some(name) => Some(created_of(self, name).await?),
            None => None,
        };
        let since = match filters.get("since").next() {
            Some(name) => Some(created_of(self, name).await?),
            None => None,
        };
        let mut out = Vec::new();
        for entry in store.entries().await? {
            let summary = views::summary(&entry);
            if !filter(&entry, &summary, filters)? {
                continue;
            }
            if before.is_some_and(|b| summary.created >= b)
                || since.is_some_and(|s| summary.created <= s)
            {
                continue;
            }
            out.push(summary);
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn inspect(&self, name: &str, _options: ImageInspectOptions) -> Result<ImageInspect> {
        let entry = self.images()?.find(name).await?;
        Ok(views::inspect(&entry))
    }

    async fn history(&self, name: &str, _platform: Option<Platform>) -> Result<Vec<HistoryItem>> {
        let entry = self.images()?.find(name).await?;
        Ok(views::history(&entry))
    }

    async fn tag(&self, source: &str, target: Reference) -> Result<()> {
        let target = target.with_default_tag();
        let text = target.to_string();
        let (repo, tag) = match target.tag() {
            Some(tag) => {
                (text.trim_end_matches(&format!(":{tag}")).to_owned(), Some(tag.to_owned()))
            }
            None => (text, None),
        };
        ops::tag(self.images()?, source, &repo, tag.as_deref()).await
    }

    async fn remove(
        &self,
        name: &str,
        options: ImageRemoveOptions,
    ) -> Result<Vec<ImageDeleteItem>> {
        ops::remove(self.images()?, name, options.force).await
    }

    async fn import(&self, options: ImageImportOptions) -> Result<ProgressStream> {
        let store = self.images()?;
        let (body, source) = match options.source {
            ImportSource::Body(body) => (body, "-".to_owned()),
            ImportSource::Url(url) => (download(&url).await?, url),
        };
        let name = options.reference.map(|r| r.with_default_tag().to_string());
        let request = ImportRequest {
            body,
            name,
            changes: options.changes,
            message: options.message,
            source,
        };
        let id = import(store, request).await?;
        Ok(futures_util::stream::iter([Ok(ProgressMessage::status("", id))]).boxed())
    }

    async fn pull(&self, options: ImagePullOptions) -> Result<ProgressStream> {
        registry::pull(self.images()?, options).await
    }

    async fn push(&self, options: ImagePushOptions) -> Result<ProgressStream> {
        registry::push(self.images()?, options).await
    }

    async fn save(&self, options: ImageSaveOptions) -> Result<ByteStream> {
        archive::save(self.images()?, options).await
    }

    async fn load(&self, options: ImageLoadOptions) -> Result<ProgressStream> {
        archive::load(self.images()?, options).await
    }

    async fn prune(&self, filters: Filters) -> Result<ImagePruneReport> {
        ops::prune(self.images()?, &filters).await
    }

    async fn distribution_inspect(
        &self,
        reference: Reference,
        auth: AuthConfig,
    ) -> Result<DistributionInspect> {
        registry::inspect(self.images()?, reference, auth).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_globs_like_path_match() {
        let tags = vec!["busybox:latest".to_owned(), "team/app:1".to_owned()];
        assert!(reference_matches("busybox", &tags));
        assert!(reference_matches("busy*", &tags));
        assert!(reference_matches("team/*", &tags));
        assert!(reference_matches("*/app:1", &tags));
        assert!(!reference_matches("*:1", &tags), "* does not match team/");
        assert!(!reference_matches("*app", &tags), "* does not cross /");
        assert!(!reference_matches("alpine", &tags));
    }
}
