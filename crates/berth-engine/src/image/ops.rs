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
