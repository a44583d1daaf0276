//! Which `_id` values a sync service accepts.
//!
//! An Atlas Edge Server service syncs only documents whose `_id` is an ObjectId; a Device Sync
//! service also accepts a string, an int32, an int64 or a UUID (binary subtype 4). A document
//! with any other `_id` stays local: the upload side skips it, counts it under
//! [`SkipReason::as_str`] and logs the [`SkipReason`]'s `Display` text.

use std::fmt;
use std::str::FromStr;

use bson::spec::BinarySubtype;
use bson::{Bson, Document};

use crate::error::Error;

/// The kind of cloud service an edge syncs with; it decides which `_id` types sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceType {
    /// Atlas Edge Server semantics: `_id` must be an ObjectId.
    EdgeServer,
    /// Atlas Device Sync semantics: `_id` may be an ObjectId, string, int32, int64 or UUID.
    DeviceSync,
}

impl ServiceType {
    /// The name used in configuration: `edge` or `device-sync`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::EdgeServer => "edge",
            ServiceType::DeviceSync => "device-sync",
        }
    }

    /// The service's name as people say it, for messages.
    pub fn display_name(self) -> &'static str {
        match self {
            ServiceType::EdgeServer => "an Edge Server service",
            ServiceType::DeviceSync => "a Device Sync service",
        }
    }

    /// The accepted `_id` types, for messages.
    pub fn accepted_id_types(self) -> &'static str {
        match self {
            ServiceType::EdgeServer => "an ObjectId",
            ServiceType::DeviceSync => "an ObjectId, string, int32, int64 or UUID",
        }
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceType {
    type Err = Error;

    fn from_str(name: &str) -> Result<ServiceType, Error> {
        match name {
            "edge" => Ok(ServiceType::EdgeServer),
            "device-sync" => Ok(ServiceType::DeviceSync),
            other => Err(Error::UnknownServiceType(other.to_string())),
        }
    }
}

/// Why a document is not synced. An expected outcome, not a failure: the document stays local.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The document has no `_id` field.
    MissingId,
    /// The `_id` has a type the service does not accept. `found` describes the type with its
    /// article, as in "a string" or "binary data of subtype 3".
    InvalidIdType { service: ServiceType, found: String },
}

impl SkipReason {
    /// A stable key for counters and metrics labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            SkipReason::MissingId => "missing_id",
            SkipReason::InvalidIdType { .. } => "invalid_id_type",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::MissingId => f.write_str("missing _id"),
            SkipReason::InvalidIdType { service, found } => write!(
                f,
                "_id is {found} but {} requires {}",
                service.display_name(),
                service.accepted_id_types()
            ),
        }
    }
}

/// Checks that `doc`'s `_id` is of a type `service` syncs.
pub fn check_id(service: ServiceType, doc: &Document) -> Result<(), SkipReason> {
    let Some(id) = doc.get("_id") else {
        return Err(SkipReason::MissingId);
    };
    let accepted = match service {
        ServiceType::EdgeServer => matches!(id, Bson::ObjectId(_)),
        ServiceType::DeviceSync => match id {
            Bson::ObjectId(_) | Bson::String(_) | Bson::Int32(_) | Bson::Int64(_) => true,
            Bson::Binary(binary) => binary.subtype == BinarySubtype::Uuid,
            _ => false,
        },
    };
    if accepted {
        Ok(())
    } else {
        Err(SkipReason::InvalidIdType {
            service,
            found: describe_type(id),
        })
    }
}

/// The BSON type of `value` with its article, for messages ("a string", "an int32").
fn describe_type(value: &Bson) -> String {
    let described = match value {
        Bson::Double(_) => "a double",
        Bson::String(_) => "a string",
        Bson::Array(_) => "an array",
        Bson::Document(_) => "an embedded document",
        Bson::Boolean(_) => "a boolean",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "a regular expression",
        Bson::JavaScriptCode(_) => "JavaScript code",
        Bson::JavaScriptCodeWithScope(_) => "JavaScript code with scope",
        Bson::Int32(_) => "an int32",
        Bson::Int64(_) => "an int64",
        Bson::Timestamp(_) => "a timestamp",
        Bson::Binary(binary) => {
            if binary.subtype == BinarySubtype::Uuid {
                "a UUID"
            } else {
                return format!("binary data of subtype {}", u8::from(binary.subtype));
            }
        }
        Bson::ObjectId(_) => "an ObjectId",
        Bson::DateTime(_) => "a date",
        Bson::Symbol(_) => "a symbol",
        Bson::Decimal128(_) => "a decimal128",
        Bson::Undefined => "undefined",
        Bson::MaxKey => "MaxKey",
        Bson::MinKey => "MinKey",
        Bson::DbPointer(_) => "a DBPointer",
    };
    described.to_string()
}
