//! The server's error type, and the one place where any error becomes a MongoDB error reply
//! (`{ok: 0, errmsg, code, codeName}`) or a write error (`{index, code, errmsg}`).

use bson::{doc, Document};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error of the database or the query language.
    #[error(transparent)]
    Storage(#[from] outpost_storage::Error),
    /// An error of the command layer with its MongoDB code (argument types, unknown
    /// commands, cursors, ...).
    #[error("{message}")]
    Command { code: i32, message: String },
    /// An error with MongoDB error labels (`errorLabels`: `TransientTransactionError`,
    /// `UnknownTransactionCommitResult`), which tell a driver it may retry.
    #[error("{inner}")]
    Labeled {
        inner: Box<Error>,
        labels: Vec<&'static str>,
    },
}

impl Error {
    pub fn new(code: i32, message: impl Into<String>) -> Error {
        Error::Command {
            code,
            message: message.into(),
        }
    }

    pub fn bad_value(message: impl Into<String>) -> Error {
        Error::new(2, message)
    }

    pub fn failed_to_parse(message: impl Into<String>) -> Error {
        Error::new(9, message)
    }

    pub fn type_mismatch(message: impl Into<String>) -> Error {
        Error::new(14, message)
    }

    /// Code 18, with mongod's message (which never says whether the user exists).
    pub fn authentication_failed() -> Error {
        Error::new(18, "Authentication failed.")
    }

    pub fn unauthorized(message: impl Into<String>) -> Error {
        Error::new(13, message)
    }

    pub fn not_supported(message: impl Into<String>) -> Error {
        Error::new(115, message)
    }

    pub fn code(&self) -> i32 {
        match self {
            Error::Storage(e) => e.code(),
            Error::Command { code, .. } => *code,
            Error::Labeled { inner, .. } => inner.code(),
        }
    }

    /// The error with `label` added to its `errorLabels`.
    pub fn with_label(self, label: &'static str) -> Error {
        match self {
            Error::Labeled { inner, mut labels } => {
                if !labels.contains(&label) {
                    labels.push(label);
                }
                Error::Labeled { inner, labels }
            }
            other => Error::Labeled {
                inner: Box::new(other),
                labels: vec![label],
            },
        }
    }

    /// The error's `errorLabels`.
    pub fn labels(&self) -> &[&'static str] {
        match self {
            Error::Labeled { labels, .. } => labels,
            _ => &[],
        }
    }

    /// The error as a command reply.
    pub fn to_reply(&self) -> Document {
        let code = self.code();
        let mut reply = doc! {
            "ok": 0.0,
            "errmsg": self.to_string(),
            "code": code,
            "codeName": code_name(code),
        };
        self.add_details(&mut reply);
        if !self.labels().is_empty() {
            reply.insert("errorLabels", self.labels().to_vec());
        }
        reply
    }

    /// The error as an entry of a write command's `writeErrors`.
    pub fn to_write_error(&self, index: usize) -> Document {
        let code = self.code();
        let mut entry = doc! {
            "index": i32::try_from(index).unwrap_or(i32::MAX),
            "code": code,
            "codeName": code_name(code),
            "errmsg": self.to_string(),
        };
        self.add_details(&mut entry);
        entry
    }

    fn add_details(&self, out: &mut Document) {
        if let Error::Labeled { inner, .. } = self {
            inner.add_details(out);
            return;
        }
        if let Error::Storage(outpost_storage::Error::DocumentValidation(info)) = self {
            out.insert("errInfo", info.as_ref().clone());
        }
        if let Error::Storage(outpost_storage::Error::DuplicateKey(dup)) = self {
            out.insert("keyPattern", dup.key_pattern.clone());
            out.insert("keyValue", dup.key_value.clone());
        }
    }
}

/// MongoDB's name for an error code; codes without a name are `Location<code>`, as mongod
/// reports them.
pub fn code_name(code: i32) -> String {
    let name = match code {
        1 => "InternalError",
        2 => "BadValue",
        4 => "NoSuchKey",
        9 => "FailedToParse",
        11 => "UserNotFound",
        13 => "Unauthorized",
        14 => "TypeMismatch",
        15 => "Overflow",
        16 => "InvalidLength",
        17 => "ProtocolError",
        18 => "AuthenticationFailed",
        20 => "IllegalOperation",
        26 => "NamespaceNotFound",
        27 => "IndexNotFound",
        28 => "PathNotViable",
        31 => "RoleNotFound",
        40 => "ConflictingUpdateOperators",
        43 => "CursorNotFound",
        47 => "NoMatchingDocument",
        48 => "NamespaceExists",
        50 => "MaxTimeMSExpired",
        51 => "DollarPrefixedFieldName",
        52 => "DollarPrefixedFieldName",
        53 => "InvalidIdField",
        54 => "NotSingleValueField",
        56 => "EmptyFieldName",
        57 => "DotsInFieldName",
        59 => "CommandNotFound",
        66 => "ImmutableField",
        67 => "CannotCreateIndex",
        68 => "IndexAlreadyExists",
        72 => "InvalidOptions",
        73 => "InvalidNamespace",
        76 => "NoReplicationEnabled",
        85 => "IndexOptionsConflict",
        86 => "IndexKeySpecsConflict",
        96 => "OperationFailed",
        112 => "WriteConflict",
        115 => "CommandNotSupported",
        121 => "DocumentValidationFailure",
        136 => "CappedPositionLost",
        146 => "ExceededMemoryLimit",
        149 => "ViewDepthLimitExceeded",
        161 => "IncompatibleCollationVersion",
        166 => "CommandNotSupportedOnView",
        167 => "OptionNotSupportedOnView",
        168 => "InvalidPipelineOperator",
        171 => "CannotIndexParallelArrays",
        188 => "IncompatibleServerVersion",
        197 => "InvalidIndexSpecificationOption",
        207 => "InvalidUUID",
        225 => "TransactionTooOld",
        238 => "NotImplemented",
        260 => "InvalidResumeToken",
        251 => "NoSuchTransaction",
        256 => "TransactionCommitted",
        257 => "TransactionTooLarge",
        261 => "TooManyLogicalSessions",
        263 => "OperationNotSupportedInTransaction",
        280 => "ChangeStreamFatalError",
        286 => "ChangeStreamHistoryLost",
        334 => "MechanismUnavailable",
        291 => "NoQueryExecutionPlans",
        292 => "QueryExceededMemoryLimitNoDiskUseAllowed",
        322 => "APIVersionError",
        323 => "APIStrictError",
        324 => "APIDeprecationError",
        10334 => "BSONObjectTooLarge",
        11000 => "DuplicateKey",
        11600 => "InterruptedAtShutdown",
        _ => return format!("Location{code}"),
    };
    name.to_owned()
}
