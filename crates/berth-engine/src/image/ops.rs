//! Tagging and removing images, with dockerd's rules and messages.

use std::collections::HashMap;

use berth_api::Error;
use berth_api::image::ImageDeleteItem;

use super::{DANGLING_PREFIX, LABEL_SIZE, Store, familiar, parse_reference};

/// `POST /images/{name}/tag`: points `repo[:tag]` (tag defaults to `latest`) at `source`.
pub(crate) async fn tag(
    store: &Store,
    source: &str,
    repo: &str,
    tag: Option<&str>,
) -> Result<(), Error> {
    let entry = store.find(source).await?;
    let text = match tag.filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.to_owned(),
    };
    let reference = parse_reference(&text)?;
    if reference.digest().is_some() {
        return Err(Error::invalid("refusing to create a tag with a digest reference"));
    }
    let mut labels = HashMap::new();
    if let Some(size) = entry.label(LABEL_SIZE) {
        labels.insert(LABEL_SIZE.to_owned(), size.to_owned());
    }
    store.set_name(&reference.to_string(), entry.image.target.clone(), labels).await
}

/// `DELETE /images/{name}`: untags a reference, and deletes the image once nothing names it.
/// By ID, an image with several references needs `force`.
pub(crate) async fn remove(
    store: &Store,
    name: &str,
    force: bool,
) -> Result<Vec<ImageDeleteItem>, Error> {
    let entry = store.find(name).await?;
    let by_reference = parse_reference(name)
        .ok()
        .map(|r| r.to_string())
        .filter(|whole| entry.records.iter().any(|r| &r.name == whole));
    let mut items = Vec::new();
    let names: Vec<String> = entry.names().map(str::to_owned).collect();
    let to_untag: Vec<String> = match &by_reference {
        Some(whole) => vec![whole.clone()],
        None => {
            let repos: std::collections::BTreeSet<String> = names
                .iter()
                .map(|n| familiar(n).split([':', '@']).next().unwrap_or_default().to_owned())
                .collect();
            if repos.len() > 1 && !force {
                let short = entry
                    .image
                    .id
                    .trim_start_matches("sha256:")
                    .chars()
                    .take(12)
                    .collect::<String>();
                return Err(Error::conflict(format!(
                    "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                )));
            }
            names.clone()
        }
    };
    for whole in &to_untag {
        store.delete_record(whole).await?;
        items.push(ImageDeleteItem::Untagged(familiar(whole)));
    }
    let remaining = names.len() - to_untag.len();
    if remaining == 0 {
        for record in entry.records.iter().filter(|r| r.name.starts_with(DANGLING_PREFIX)) {
            store.delete_record(&record.name).await?;
        }
        items.push(ImageDeleteItem::Deleted(entry.image.id.clone()));
    }
    Ok(items)
}

/// `POST /images/prune`: removes dangling images (all unused images with `dangling=false`), as
/// dockerd does; `until` and `label` filters narrow it.
pub(crate) async fn prune(
    store: &Store,
    filters: &berth_api::Filters,
) -> Result<berth_api::image::ImagePruneReport, Error> {
    let dangling_only = filters.get_bool("dangling")?.unwrap_or(true);
    let until = match filters.get("until").next() {
        Some(text) => Some(until_seconds(text)?),
        None => None,
    };
    let mut report = berth_api::image::ImagePruneReport::default();
    for entry in store.entries().await? {
        let named = entry.names().next().is_some();
        if dangling_only && named {
            continue;
        }
        let config = &entry.image.config;
        let created = super::views::unix_seconds(config["created"].as_str());
        if until.is_some_and(|u| created >= u) {
            continue;
        }
        let labels = config["config"]["Labels"].as_object();
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(|v| v.as_str());
        if !filters.match_labels("label", label) {
            continue;
        }
        if filters.contains("label!")
            && filters.get("label!").any(|want| match want.split_once('=') {
                Some((k, v)) => label(k) == Some(v),
                None => label(want).is_some(),
            })
        {
            continue;
        }
        let size = super::views::size(&entry);
        let name = entry.image.id.clone();
        let items = remove(store, &name, true).await?;
        if items.iter().any(|i| matches!(i, ImageDeleteItem::Deleted(_))) {
            report.space_reclaimed += u64::try_from(size).unwrap_or(0);
        }
        report.images_deleted.extend(items);
    }
    Ok(report)
}

/// `until`: Unix seconds (optionally fractional), an RFC 3339 time, or a Go duration ago.
pub(crate) fn until_seconds(text: &str) -> Result<i64, Error> {
    if let Ok(nanos) = berth_api::params::parse_timestamp("until", text) {
        return Ok(nanos.div_euclid(1_000_000_000));
    }
    if let Ok(t) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    {
        return Ok(t.unix_timestamp());
    }
    let (number, unit) =
        text.split_at(text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len()));
    let n: f64 =
        number.parse().map_err(|_| Error::invalid(format!("invalid filter 'until={text}'")))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(Error::invalid(format!("invalid filter 'until={text}'"))),
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Ok(now - secs as i64)
}
