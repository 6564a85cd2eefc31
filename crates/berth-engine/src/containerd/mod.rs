//! Talking to containerd: one gRPC channel, the `berth` namespace on every call, and the mapping
//! from gRPC status codes to API errors.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_api::{Error, ErrorKind};
use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::diff_client::DiffClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::leases_client::LeasesClient;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::version_client::VersionClient;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub(crate) mod supervisor;

/// The containerd namespace Berth keeps its objects in (dockerd uses `moby`).
pub const NAMESPACE: &str = "berth";

/// Adds `containerd-namespace` (and, when set, `containerd-lease`) to every request.
#[derive(Clone)]
pub(crate) struct Scope {
    namespace: AsciiMetadataValue,
    lease: Option<AsciiMetadataValue>,
}

impl Interceptor for Scope {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let md = req.metadata_mut();
        md.insert("containerd-namespace", self.namespace.clone());
        if let Some(lease) = &self.lease {
            md.insert("containerd-lease", lease.clone());
        }
        Ok(req)
    }
}

/// A gRPC channel that adds Berth's namespace (and lease, if any) to every call.
pub(crate) type Scoped = InterceptedService<Channel, Scope>;

/// A connection to containerd, scoped to Berth's namespace.
#[derive(Clone)]
pub struct Containerd {
    channel: Channel,
    scope: Scope,
    address: PathBuf,
    lease: Option<String>,
    /// With a lease: its calls that outlive their caller (content writes run in a task of their
    /// own) hold this for reading, and the lease is deleted only once it can be held for
    /// writing, so containerd never collects what a call is still writing.
    lease_calls: Option<Arc<tokio::sync::RwLock<()>>>,
    /// Leases of operations under way on this connection (shared by its clones): any other
    /// Berth lease in the namespace belongs to an operation that was interrupted.
    active_leases: Arc<Mutex<HashSet<String>>>,
}

impl std::fmt::Debug for Containerd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Containerd").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Containerd {
    /// Connects to the containerd socket at `address`.
    pub async fn connect(address: &Path, namespace: &str) -> Result<Self, Error> {
        let channel = containerd_client::connect(address).await.map_err(|e| {
            Error::unavailable(format!("cannot connect to containerd at {}", address.display()))
                .with_source(e)
        })?;
        let namespace = MetadataValue::try_from(namespace)
            .map_err(|_| Error::invalid(format!("invalid containerd namespace {namespace:?}")))?;
        Ok(Self {
            channel,
            scope: Scope { namespace, lease: None },
            address: address.to_owned(),
            lease: None,
            lease_calls: None,
            active_leases: Arc::default(),
        })
    }

    /// Marks a call made in this connection's lease as under way until the guard is dropped;
    /// `None` without a lease.
    pub(crate) async fn hold_lease(&self) -> Option<tokio::sync::OwnedRwLockReadGuard<()>> {
        match &self.lease_calls {
            Some(calls) => Some(Arc::clone(calls).read_owned().await),
            None => None,
        }
    }

    /// Waits until no call holds this connection's lease (see [`Containerd::hold_lease`]).
    pub(crate) async fn lease_calls_done(&self) {
        if let Some(calls) = &self.lease_calls {
            drop(Arc::clone(calls).write_owned().await);
        }
    }

    /// The leases of operations under way (see [`crate::lease`]).
    pub(crate) fn active_leases(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.active_leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The socket this connection uses.
    pub fn address(&self) -> &Path {
        &self.address
    }

    /// The same connection with every call made inside `lease`.
    pub(crate) fn with_lease(&self, lease: &str) -> Result<Self, Error> {
        let value = MetadataValue::try_from(lease)
            .map_err(|_| Error::system(format!("invalid lease id {lease:?}")))?;
        let mut scoped = self.clone();
        scoped.scope.lease = Some(value);
        scoped.lease = Some(lease.to_owned());
        scoped.lease_calls = Some(Arc::default());
        Ok(scoped)
    }

    /// Adds an existing resource to this connection's lease, if it has one. containerd leases
    /// only what a call creates; a blob or snapshot that was already there is held by nothing
    /// until an image references it, and a GC in between would reclaim it.
    /// `kind` is `content` or `snapshots/<snapshotter>`.
    pub(crate) async fn pin(&self, kind: &str, id: &str) -> Result<(), Error> {
        let Some(lease) = &self.lease else { return Ok(()) };
        let resource = containerd_client::services::v1::Resource {
            id: id.to_owned(),
            r#type: kind.to_owned(),
        };
        let req = containerd_client::services::v1::AddResourceRequest {
            id: lease.clone(),
            resource: Some(resource),
        };
        self.leases().add_resource(req).await.map_err(|s| status_error("lease add resource", s))?;
        Ok(())
    }

    fn scoped(&self) -> Scoped {
        InterceptedService::new(self.channel.clone(), self.scope.clone())
    }

    pub(crate) fn version(&self) -> VersionClient<Channel> {
        VersionClient::new(self.channel.clone())
    }

    pub(crate) fn images(&self) -> ImagesClient<Scoped> {
        ImagesClient::new(self.scoped())
    }

    pub(crate) fn content(&self) -> ContentClient<Scoped> {
        ContentClient::new(self.scoped())
    }

    pub(crate) fn snapshots(&self) -> SnapshotsClient<Scoped> {
        SnapshotsClient::new(self.scoped())
    }

    pub(crate) fn diff(&self) -> DiffClient<Scoped> {
        DiffClient::new(self.scoped())
    }

    pub(crate) fn tasks(&self) -> TasksClient<Scoped> {
        TasksClient::new(self.scoped())
    }

    pub(crate) fn containers(&self) -> ContainersClient<Scoped> {
        ContainersClient::new(self.scoped())
    }

    pub(crate) fn leases(&self) -> LeasesClient<Scoped> {
        LeasesClient::new(self.scoped())
    }

    /// containerd's version and revision.
    pub async fn server_version(&self) -> Result<(String, String), Error> {
        let reply = self.version().version(()).await.map_err(|s| status_error("version", s))?;
        let reply = reply.into_inner();
        Ok((reply.version, reply.revision))
    }
}

/// Maps a containerd gRPC failure to an API error, prefixing `what` was being done.
pub(crate) fn status_error(what: &str, status: tonic::Status) -> Error {
    use tonic::Code;
    let kind = match status.code() {
        Code::NotFound => ErrorKind::NotFound,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            ErrorKind::InvalidParameter
        }
        Code::AlreadyExists => ErrorKind::Conflict,
        Code::PermissionDenied => ErrorKind::Forbidden,
        Code::Unauthenticated => ErrorKind::Unauthorized,
        Code::Unimplemented => ErrorKind::NotImplemented,
        Code::Unavailable => ErrorKind::Unavailable,
        _ => ErrorKind::System,
    };
    let message = if status.code() == Code::Unavailable {
        format!("{what}: containerd is not available: {}", status.message())
    } else {
        format!("{what}: {}", status.message())
    };
    Error::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_map_to_dockerd_classes() {
        let cases = [
            (tonic::Code::NotFound, 404),
            (tonic::Code::InvalidArgument, 400),
            (tonic::Code::FailedPrecondition, 400),
            (tonic::Code::AlreadyExists, 409),
            (tonic::Code::Unavailable, 503),
            (tonic::Code::Unimplemented, 501),
            (tonic::Code::Internal, 500),
        ];
        for (code, status) in cases {
            let err = status_error("images.get", tonic::Status::new(code, "boom"));
            assert_eq!(err.status().as_u16(), status, "{code:?}");
            assert!(err.message().starts_with("images.get: "), "{}", err.message());
        }
    }
}
