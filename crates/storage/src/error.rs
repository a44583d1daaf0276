//! The storage crate's one error type. Each variant maps to one MongoDB error code through
//! [`Error::code`]; the server turns errors into replies in one place using it.

use bson::Document;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument has the right type but a value MongoDB refuses (code 2).
    #[error("{0}")]
    BadValue(String),
    /// A document or expression could not be parsed (code 9).
    #[error("{0}")]
    FailedToParse(String),
    /// An argument has the wrong BSON type (code 14).
    #[error("{0}")]
    TypeMismatch(String),
    /// The namespace does not exist (code 26).
    #[error("{0}")]
    NamespaceNotFound(String),
    /// The namespace already exists (code 48).
    #[error("{0}")]
    NamespaceExists(String),
    /// The index does not exist (code 27).
    #[error("{0}")]
    IndexNotFound(String),
    /// A unique index refused a key (code 11000).
    #[error("E11000 duplicate key error collection: {} index: {} dup key: {}", .0.ns, .0.index, .0.shown)]
    DuplicateKey(Box<DuplicateKey>),
    /// An update would change `_id` or another immutable field (code 66).
    #[error("{0}")]
    ImmutableField(String),
    /// Two update operators touch the same path (code 40).
    #[error("{0}")]
    ConflictingUpdateOperators(String),
    /// A feature Outpost does not implement; the message names it (code 115).
    #[error("{0}")]
    NotSupported(String),
    /// The operation was interrupted because its time limit expired (code 50).
    #[error("operation exceeded time limit")]
    MaxTimeMsExpired,
    /// An invalid namespace name (code 73).
    #[error("{0}")]
    InvalidNamespace(String),
    /// An index specification that is invalid (code 67, CannotCreateIndex).
    #[error("{0}")]
    CannotCreateIndex(String),
    /// Index options that conflict with an existing index of the same name or keys (code 85).
    #[error("{0}")]
    IndexOptionsConflict(String),
    /// A document failed the collection's validator (code 121); the details go in `errInfo`.
    #[error("Document failed validation")]
    DocumentValidation(Box<Document>),
    /// Any other MongoDB error with its real code (many query-language errors have only a
    /// numeric location code, e.g. 16554 for a non-numeric `$add` argument).
    #[error("{message}")]
    Coded { code: i32, message: String },
    /// The underlying engine failed (disk error, corruption).
    #[error("storage engine error: {0}")]
    Engine(#[from] sled::Error),
    /// Data on disk could not be decoded.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A store made by `Storage::without_waiting` found another write holding the writer
    /// lock and did nothing (code 1: its caller runs the write again where it may wait, and
    /// never shows this to a client).
    #[error("another write holds the writer lock")]
    WriterBusy,
}

/// Details of a duplicate key error, as MongoDB reports them.
#[derive(Debug, Clone)]
pub struct DuplicateKey {
    pub ns: String,
    pub index: String,
    pub key_pattern: Document,
    pub key_value: Document,
    /// The key as the shell prints it: `{ a: 1 }`.
    pub shown: String,
}

impl Error {
    /// A coded error for the long tail of MongoDB's error codes.
    pub fn coded(code: i32, message: impl Into<String>) -> Error {
        Error::Coded {
            code,
            message: message.into(),
        }
    }

    /// MongoDB's numeric error code.
    pub fn code(&self) -> i32 {
        match self {
            Error::BadValue(_) => 2,
            Error::FailedToParse(_) => 9,
            Error::TypeMismatch(_) => 14,
            Error::NamespaceNotFound(_) => 26,
            Error::IndexNotFound(_) => 27,
            Error::NamespaceExists(_) => 48,
            Error::DuplicateKey(_) => 11000,
            Error::ImmutableField(_) => 66,
            Error::ConflictingUpdateOperators(_) => 40,
            Error::NotSupported(_) => 115,
            Error::MaxTimeMsExpired => 50,
            Error::InvalidNamespace(_) => 73,
            Error::CannotCreateIndex(_) => 67,
            Error::IndexOptionsConflict(_) => 85,
            Error::DocumentValidation(_) => 121,
            Error::Coded { code, .. } => *code,
            Error::Engine(_) | Error::Corrupt(_) | Error::WriterBusy => 1,
        }
    }
}

impl From<bson::ser::Error> for Error {
    fn from(e: bson::ser::Error) -> Error {
        Error::Corrupt(e.to_string())
    }
}

impl From<bson::de::Error> for Error {
    fn from(e: bson::de::Error) -> Error {
        Error::Corrupt(e.to_string())
    }
}
