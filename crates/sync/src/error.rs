//! The sync crate's one error type. Each variant maps to one MongoDB error code through
//! [`Error::code`], so the server can turn any of them into a reply in one place.

use crate::id_rules::SkipReason;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Realm Query Language text that does not parse or cannot mean anything (for example a
    /// comparison of two constants). `position` is the byte offset in the query text of the
    /// token where the problem was found (the text's length when the query ended too early).
    #[error("{message} at position {position}")]
    InvalidQuery { position: usize, message: String },
    /// Valid Realm Query Language that Outpost does not translate (for example `SUBQUERY`,
    /// `@count` or `SORT`). `feature` names it; `position` is its byte offset.
    #[error("{feature} is not supported in a sync query (at position {position})")]
    NotSupported { position: usize, feature: String },
    /// An instance query document whose shape is wrong: a bad key, a value that is neither a
    /// query string nor a filter document.
    #[error("invalid instance query: {0}")]
    InvalidInstanceQuery(String),
    /// The query given for one key of an instance query is invalid; `source` says why.
    #[error("invalid query for '{key}' in the instance query: {source}")]
    InQueryFor { key: String, source: Box<Error> },
    /// A MongoDB filter document that the storage crate's filter parser refused.
    #[error(transparent)]
    Storage(#[from] outpost_storage::Error),
    /// A document whose `_id` the service type does not accept.
    #[error("invalid _id: {0}")]
    InvalidId(SkipReason),
    /// A service type name other than `edge` or `device-sync`.
    #[error("unknown service type '{0}': expected 'edge' or 'device-sync'")]
    UnknownServiceType(String),
    /// A registration key or API key the hub does not accept (AuthenticationFailed, 18).
    #[error("{0}")]
    Unauthorized(String),
    /// A sync protocol error with its MongoDB code: a malformed request or reply, an unknown
    /// edge id, an error reply of the peer.
    #[error("{message}")]
    Coded { code: i32, message: String },
    /// The link to the peer failed (connection refused, reset, timed out). Retried with backoff.
    #[error("sync link: {0}")]
    Link(String),
}

impl Error {
    /// MongoDB's numeric error code for this error: FailedToParse (9) for query text,
    /// NotSupported (115) for untranslated features, BadValue (2) for the rest, and the storage
    /// error's own code for a refused filter document.
    pub fn code(&self) -> i32 {
        match self {
            Error::InvalidQuery { .. } => 9,
            Error::NotSupported { .. } => 115,
            Error::InvalidInstanceQuery(_) | Error::InvalidId(_) | Error::UnknownServiceType(_) => {
                2
            }
            Error::InQueryFor { source, .. } => source.code(),
            Error::Storage(error) => error.code(),
            Error::Unauthorized(_) => 18,
            Error::Coded { code, .. } => *code,
            Error::Link(_) => 6,
        }
    }
}

impl Error {
    /// A malformed sync request or reply (FailedToParse, 9).
    pub fn protocol(message: impl Into<String>) -> Error {
        Error::Coded {
            code: 9,
            message: message.into(),
        }
    }

    /// Whether retrying cannot help: the hub refused the edge's credentials.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Error::Unauthorized(_)) || self.code() == 18
    }
}

impl From<SkipReason> for Error {
    fn from(reason: SkipReason) -> Error {
        Error::InvalidId(reason)
    }
}
