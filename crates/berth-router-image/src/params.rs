//! Query parameters of the image endpoints, read with dockerd's rules and turned into the
//! backend's option structs. Every rejection is a 400 naming the problem.

use berth_api::image::reference::AnyReference;
use berth_api::image::{Digest, Platform, Reference};
use berth_api::{ApiVersion, Error, ErrorKind, Filters};
use berth_backend::{ImageInspectOptions, ImageListOptions, ImageRemoveOptions, ImageSaveOptions};

/// Filter keys dockerd accepts on `GET /images/json`.
pub(crate) const LIST_FILTERS: &[&str] =
    &["before", "dangling", "label", "label!", "reference", "since", "until"];

/// Filter keys dockerd accepts on `POST /images/prune`.
pub(crate) const PRUNE_FILTERS: &[&str] = &["dangling", "label", "label!", "until"];

pub(crate) use berth_http::Form;

/// Image-specific readings of the query.
trait PlatformForm {
    /// The JSON `platform` parameter of API ≥ `since`, at most once (load, save).
    fn single_platform(&self, version: ApiVersion, since: u32) -> Result<Option<Platform>, Error>;
    /// A JSON OCI platform in `key`, if set.
    fn json_platform(&self, key: &str) -> Result<Option<Platform>, Error>;
}

impl PlatformForm for Form {
    fn single_platform(&self, version: ApiVersion, since: u32) -> Result<Option<Platform>, Error> {
        if version < ApiVersion::new(1, since) {
            return Ok(None);
        }
        if self.all("platform").len() > 1 {
            return Err(Error::invalid("multiple platform parameters not supported"));
        }
        self.json_platform("platform")
    }

    fn json_platform(&self, key: &str) -> Result<Option<Platform>, Error> {
        match self.get(key) {
            "" => Ok(None),
            text => Platform::decode_json(text).map(Some),
        }
    }
}

/// Filters of `key`, parsed and restricted to `accepted`, with `dangling` checked as a boolean.
fn filters(form: &Form, accepted: &[&str]) -> Result<Filters, Error> {
    let filters = Filters::parse(form.get("filters"))?;
    filters.validate(accepted)?;
    filters.get_bool("dangling")?;
    Ok(filters)
}

/// `GET /images/json`.
pub(crate) fn list_options(form: &Form, version: ApiVersion) -> Result<ImageListOptions, Error> {
    let mut filters = Filters::parse(form.get("filters"))?;
    // Before 1.41 a `filter` parameter was a reference glob.
    if version < ApiVersion::new(1, 41) && !form.get("filter").is_empty() {
        filters.add("reference", form.get("filter"));
    }
    filters.validate(LIST_FILTERS)?;
    filters.get_bool("dangling")?;
    Ok(ImageListOptions {
        all: form.bool("all"),
        filters,
        shared_size: version >= ApiVersion::new(1, 42) && form.bool("shared-size"),
        manifests: version >= ApiVersion::new(1, 47) && form.bool("manifests"),
    })
}

/// `POST /images/prune`.
pub(crate) fn prune_filters(form: &Form) -> Result<Filters, Error> {
    filters(form, PRUNE_FILTERS)
}

/// `GET /images/{name}/json`.
pub(crate) fn inspect_options(
    form: &Form,
    version: ApiVersion,
) -> Result<ImageInspectOptions, Error> {
    let manifests = !form.get("manifests").is_empty()
        && version >= ApiVersion::new(1, 48)
        && form.bool("manifests");
    let platform =
        if version >= ApiVersion::new(1, 49) { form.json_platform("platform")? } else { None };
    if manifests && platform.is_some() {
        return Err(Error::invalid(
            "conflicting options: manifests and platform options cannot both be set",
        ));
    }
    Ok(ImageInspectOptions { manifests, platform })
}

/// `GET /images/{name}/history`.
pub(crate) fn history_platform(
    form: &Form,
    version: ApiVersion,
) -> Result<Option<Platform>, Error> {
    if version >= ApiVersion::new(1, 48) { form.json_platform("platform") } else { Ok(None) }
}

/// `GET /images/get` (`names` from the query) and `GET /images/{name}/get`.
pub(crate) fn save_options(
    form: &Form,
    version: ApiVersion,
    name: Option<&str>,
) -> Result<ImageSaveOptions, Error> {
    let names = match name {
        Some(name) => vec![name.to_owned()],
        None => form.all("names").into_iter().map(str::to_owned).collect(),
    };
    Ok(ImageSaveOptions { names, platform: form.single_platform(version, 48)? })
}

/// `POST /images/load`: `(quiet, platform)`.
pub(crate) fn load_params(
    form: &Form,
    version: ApiVersion,
) -> Result<(bool, Option<Platform>), Error> {
    let platform = form.single_platform(version, 48)?;
    Ok((form.bool_or("quiet", true), platform))
}

/// `DELETE /images/{name}`.
pub(crate) fn remove_options(
    form: &Form,
    version: ApiVersion,
) -> Result<ImageRemoveOptions, Error> {
    let platforms = if version >= ApiVersion::new(1, 50) {
        form.all("platforms").into_iter().map(Platform::decode_json).collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    Ok(ImageRemoveOptions {
        force: form.bool("force"),
        prune_children: !form.bool("noprune"),
        platforms,
    })
}

/// `platform` of `POST /images/create` (API ≥ 1.32): containerd's `os/arch[/variant]` form.
pub(crate) fn create_platform(form: &Form, version: ApiVersion) -> Result<Option<Platform>, Error> {
    match form.get("platform") {
        "" => Ok(None),
        _ if version < ApiVersion::new(1, 32) => Ok(None),
        text => Platform::parse_specifier(text).map(Some),
    }
}

/// `platform` of `POST /images/{name}/push` (API ≥ 1.46): a JSON OCI platform. Older clients
/// may send one by accident; dockerd ignores it.
pub(crate) fn push_platform(form: &Form, version: ApiVersion) -> Result<Option<Platform>, Error> {
    if version >= ApiVersion::new(1, 46) { form.json_platform("platform") } else { Ok(None) }
}

/// What `POST /images/create?fromImage=..&tag=..` pulls: the name (a trailing `:` dropped, as
/// `docker pull -a` may send), with `tag` as a tag or, when it parses as one, a digest.
pub(crate) fn pull_reference(from_image: &str, tag: &str) -> Result<Reference, Error> {
    let reference =
        Reference::parse_normalized(from_image.strip_suffix(':').unwrap_or(from_image))?;
    let reference = match tag {
        "" => reference,
        tag => match Digest::parse(tag) {
            Ok(digest) => reference.trim().with_digest(digest),
            Err(_) => reference.with_tag(tag)?,
        },
    };
    if reference.familiar_name() == "scratch" {
        return Err(Error::new(ErrorKind::Forbidden, "'scratch' is a reserved name"));
    }
    Ok(reference)
}

/// dockerd's `RepoTagReference`: `repo` with `tag` (or `latest`); `None` when `repo` is empty.
pub(crate) fn repo_tag_reference(repo: &str, tag: &str) -> Result<Option<Reference>, Error> {
    if repo.is_empty() {
        return Ok(None);
    }
    let reference = Reference::parse_normalized(repo)?;
    if reference.digest().is_some() {
        return Err(Error::invalid("cannot import digest reference"));
    }
    let reference = match tag {
        "" => reference.with_default_tag(),
        tag => reference.with_tag(tag)?,
    };
    Ok(Some(reference))
}

/// The reference `POST /images/{name}/push` pushes: `name` with `tag`, or the name alone (every
/// tag) when `tag` is empty.
pub(crate) fn push_reference(name: &str, tag: &str) -> Result<Reference, Error> {
    match repo_tag_reference(name, tag)? {
        Some(reference) if !tag.is_empty() => Ok(reference),
        _ => Ok(Reference::parse_normalized(name)?),
    }
}

/// The reference `GET /distribution/{name}/json` asks the registry about (tagged `latest` when it
/// has neither tag nor digest).
pub(crate) fn distribution_reference(name: &str) -> Result<Reference, Error> {
    match Reference::parse_any(name)? {
        // An image ID names no repository to ask; dockerd answers 500 here.
        AnyReference::Digest(_) => Err(Error::system("no manifest found for full image ID")),
        AnyReference::Named(reference) if reference.digest().is_some() => Ok(reference),
        AnyReference::Named(reference) => Ok(reference.with_default_tag()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn form_reads_like_go() {
        let f = form(&[("names", "a"), ("names", "b"), ("quiet", "0")]);
        assert_eq!(f.get("names"), "a");
        assert_eq!(f.all("names"), ["a", "b"]);
        assert!(!f.bool_or("quiet", true));
        assert!(f.bool_or("absent", true));
    }

    #[test]
    fn references_follow_dockerd() {
        let pull = |i: &str, t: &str| match pull_reference(i, t) {
            Ok(r) => r.to_string(),
            Err(e) => format!("{}: {}", e.status().as_u16(), e.message()),
        };
        assert_eq!(pull("busybox", "latest"), "docker.io/library/busybox:latest");
        assert_eq!(pull("busybox:", ""), "docker.io/library/busybox");
        assert_eq!(pull("busybox:1", "2"), "docker.io/library/busybox:2");
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(pull("busybox:1", &digest), format!("docker.io/library/busybox@{digest}"));
        assert_eq!(pull("scratch", "latest"), "403: 'scratch' is a reserved name");
        assert_eq!(pull("busybox", "a:b"), "400: invalid tag format");

        let repo = |r: &str, t: &str| {
            repo_tag_reference(r, t)
                .map(|r| r.map(|r| r.to_string()))
                .map_err(|e| e.message().to_owned())
        };
        assert_eq!(repo("", "x"), Ok(None));
        assert_eq!(repo("app", ""), Ok(Some("docker.io/library/app:latest".to_owned())));
        assert_eq!(
            repo(&format!("app@{digest}"), ""),
            Err("cannot import digest reference".to_owned())
        );
        assert_eq!(
            push_reference("localhost:5000/app", "").expect("name only").to_string(),
            "localhost:5000/app"
        );
        assert_eq!(distribution_reference(&"a".repeat(64)).expect_err("id").status().as_u16(), 500);
        assert_eq!(
            distribution_reference("busybox").expect("named").to_string(),
            "docker.io/library/busybox:latest"
        );
    }
}
