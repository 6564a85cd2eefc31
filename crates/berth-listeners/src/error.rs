//! One error enum per concern: parsing a host, loading TLS material, binding a listener.

use std::io;
use std::path::PathBuf;

/// A `-H` address that dockerd's rules reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// A scheme other than `tcp`, `unix` or `fd`.
    #[error("invalid bind address ({addr}): unsupported proto '{proto}'")]
    UnsupportedProto {
        /// The address as given.
        addr: String,
        /// The scheme before `://`.
        proto: String,
    },
    /// A tcp address with a path (even a lone `/`).
    #[error("invalid bind address ({addr}): should not contain a path element")]
    PathElement {
        /// The address as given.
        addr: String,
    },
    /// A tcp port that is not a non-zero number.
    #[error("invalid bind address ({addr}): invalid port: {port}")]
    InvalidPort {
        /// The address as given.
        addr: String,
        /// The port text.
        port: String,
    },
    /// A tcp host with an unbalanced `[` (IPv6 literal).
    #[error("invalid bind address ({addr}): missing ']' in host")]
    UnclosedBracket {
        /// The address as given.
        addr: String,
    },
    /// A tcp host with a bracket outside an IPv6 literal (`a]:1`, `x[y`): its canonical form
    /// would not parse back (Go's `net.SplitHostPort` refuses it too).
    #[error("invalid bind address ({addr}): unexpected '{bracket}' in host")]
    UnexpectedBracket {
        /// The address as given.
        addr: String,
        /// The bracket found.
        bracket: char,
    },
    /// A unix address that itself contains `://`.
    #[error("invalid unix address: {addr}")]
    InvalidUnixAddress {
        /// The part after `unix://`.
        addr: String,
    },
    /// `fd://N` where N is not a number.
    #[error("failed to parse systemd fd address: should be a number: {fd}")]
    InvalidFd {
        /// The part after `fd://`.
        fd: String,
    },
}

/// TLS material that cannot be turned into a server configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Client verification was asked for without a CA to verify against.
    #[error("client certificate verification requires a ca certificate (--tlscacert)")]
    MissingCa,
    /// The CA file cannot be read or is not PEM.
    #[error("could not read ca certificate {path}")]
    ReadCa {
        /// The CA file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// A certificate in the CA file is not usable as a trust anchor.
    #[error("could not use ca certificate {path}")]
    BadCa {
        /// The CA file.
        path: PathBuf,
        /// What rustls rejected.
        #[source]
        source: rustls::Error,
    },
    /// The CA file holds no certificate.
    #[error("no certificate found in ca file {path}")]
    EmptyCa {
        /// The CA file.
        path: PathBuf,
    },
    /// The server certificate file cannot be read or is not PEM.
    #[error("could not read server certificate {path}")]
    ReadCert {
        /// The certificate file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The server certificate file holds no certificate.
    #[error("no certificate found in {path}")]
    EmptyCert {
        /// The certificate file.
        path: PathBuf,
    },
    /// The private key file cannot be read, is not PEM, or holds no key.
    #[error("could not read private key {path}")]
    ReadKey {
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The client certificate verifier cannot be built from the CA.
    #[error("could not build client certificate verifier from {path}")]
    Verifier {
        /// The CA file.
        path: PathBuf,
        /// What rustls rejected.
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    /// The crypto provider does not support TLS 1.2 and 1.3 (cannot happen with ring).
    #[error("tls 1.2 and 1.3 are not supported by the crypto provider")]
    Protocol {
        /// What rustls rejected.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the certificate chain and key (mismatch, unsupported key type…).
    #[error("invalid server certificate {cert} or key {key}")]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls rejected.
        #[source]
        source: rustls::Error,
    },
}

/// A listener that cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Something answers on the unix socket path: a daemon is already running there.
    #[error(
        "another daemon is already listening on {path}: refusing to start (stop it or pick another -H)"
    )]
    AlreadyListening {
        /// The socket path.
        path: PathBuf,
    },
    /// The unix socket path is taken by something that is not a socket; it is never deleted.
    #[error(
        "can't create unix socket {path}: it exists and is not a socket, refusing to remove it"
    )]
    NotASocket {
        /// The socket path.
        path: PathBuf,
    },
    /// Creating, binding, chowning or chmodding the unix socket failed.
    #[error("can't create unix socket {path}")]
    Unix {
        /// The socket path.
        path: PathBuf,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// An explicitly configured socket group does not exist.
    #[error("group {group} not found")]
    GroupNotFound {
        /// The configured group.
        group: String,
    },
    /// The group database could not be read.
    #[error("could not look up group {group}")]
    GroupLookup {
        /// The group looked up.
        group: String,
        /// The system error.
        #[source]
        source: nix::Error,
    },
    /// Resolving or binding a tcp address failed.
    #[error("can't listen on tcp://{addr}")]
    Tcp {
        /// The `host:port` address.
        addr: String,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// `fd://` was asked for but the process received no activated sockets.
    #[error("no sockets found via socket activation: make sure the service was started by systemd")]
    NoActivatedSockets,
    /// `fd://N` names a descriptor past the last one systemd passed.
    #[error("too few socket activated files passed in by systemd")]
    TooFewActivated,
    /// `fd://N` names a descriptor below the first one systemd passes (3).
    #[error("socket activated fd {fd} is out of range: systemd passes descriptors from 3")]
    FdOutOfRange {
        /// The descriptor asked for.
        fd: u32,
    },
    /// The activated descriptor was already taken by another `fd://` host.
    #[error("socket activated fd {fd} is already in use by another fd:// host")]
    FdInUse {
        /// The descriptor asked for.
        fd: u32,
    },
    /// `fd://` found activated sockets, but earlier `fd://N` hosts took them all.
    #[error("all socket activated files are already in use by other fd:// hosts")]
    AllFdsInUse,
    /// The activated descriptor is neither a tcp nor a unix stream socket.
    #[error("socket activated fd {fd} is not a listening tcp or unix stream socket")]
    FdNotListener {
        /// The descriptor.
        fd: u32,
        /// Why it was rejected.
        #[source]
        source: io::Error,
    },
}
