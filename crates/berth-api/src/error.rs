use std::fmt;

use http::StatusCode;

/// Result with the API [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The class of a failure, mirroring moby's `errdefs` classes.
///
/// The class alone decides the HTTP status a client sees ([`ErrorKind::status`]); it is the only
/// place in Berth where that mapping exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The object does not exist (404).
    NotFound,
    /// The request is malformed or names something invalid (400).
    InvalidParameter,
    /// The request conflicts with the current state (409).
    Conflict,
    /// Credentials are missing or wrong (401).
    Unauthorized,
    /// A dependency is not available right now (503).
    Unavailable,
    /// The caller may not do this (403).
    Forbidden,
    /// Nothing changed; the body is dropped (304).
    NotModified,
    /// The endpoint or feature is not implemented (501).
    NotImplemented,
    /// The request body is over a limit (413). No moby class: dockerd has no body limits.
    TooLarge,
    /// An internal failure (500).
    System,
}

impl ErrorKind {
    /// The HTTP status dockerd answers for this class.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::InvalidParameter => StatusCode::BAD_REQUEST,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::System => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error as the API reports it: a class and the message that reaches the client as
/// `{"message": ...}`.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), source: None }
    }

    /// 404: the named object does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// 400: bad input.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameter, message)
    }

    /// 409: conflicts with current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// 501: not implemented.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotImplemented, message)
    }

    /// 503: a dependency is unavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// 500: internal failure.
    pub fn system(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::System, message)
    }

    /// Attaches the underlying cause (kept for logs; the message is what clients see).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message clients see.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> http::StatusCode {
        self.kind.status()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// `err` and its causes joined with `: `, as Go prints wrapped errors (and as dockerd's messages
/// read).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_dockerd_statuses() {
        let table = [
            (ErrorKind::NotFound, 404),
            (ErrorKind::InvalidParameter, 400),
            (ErrorKind::Conflict, 409),
            (ErrorKind::Unauthorized, 401),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::Forbidden, 403),
            (ErrorKind::NotModified, 304),
            (ErrorKind::NotImplemented, 501),
            (ErrorKind::System, 500),
        ];
        for (kind, status) in table {
            assert_eq!(kind.status().as_u16(), status, "{kind:?}");
        }
    }

    #[test]
    fn display_is_the_message_and_source_is_kept() {
        let io = std::io::Error::other("disk on fire");
        let err = Error::system("cannot write engine-id").with_source(io);
        assert_eq!(err.to_string(), "cannot write engine-id");
        let source = std::error::Error::source(&err).map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("disk on fire"));
    }
}
