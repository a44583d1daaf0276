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

/// The kind of cloud service an edge syncs with; it decides which `_id` types sync. Stored
/// and sent by its configuration name (`edge`, `device-sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
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

impl TryFrom<String> for ServiceType {
    type Error = Error;

    fn try_from(name: String) -> Result<ServiceType, Error> {
        name.parse()
    }
}

impl From<ServiceType> for &'static str {
    fn from(service: ServiceType) -> &'static str {
        service.as_str()
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

#[cfg(test)]
mod tests {
    use bson::oid::ObjectId;
    use bson::spec::BinarySubtype;
    use bson::{
        doc, Binary, Bson, DateTime, Decimal128, JavaScriptCodeWithScope, Regex, Timestamp,
    };

    use super::{check_id, ServiceType, SkipReason};
    use crate::error::Error;

    const EDGE: ServiceType = ServiceType::EdgeServer;
    const DEVICE: ServiceType = ServiceType::DeviceSync;

    /// `None` = accepted; `Some(message)` = skipped with that `Display` text.
    #[track_caller]
    fn check(service: ServiceType, id: Bson, expected: Option<&str>) {
        let outcome = check_id(service, &doc! {"_id": id.clone(), "x": 1});
        match (outcome, expected) {
            (Ok(()), None) => {}
            (Err(reason), Some(message)) => {
                assert_eq!(reason.to_string(), message, "{service} with _id {id}");
                assert_eq!(reason.as_str(), "invalid_id_type");
            }
            (outcome, expected) => {
                panic!("{service} with _id {id}: got {outcome:?}, expected {expected:?}")
            }
        }
    }

    fn binary(subtype: BinarySubtype) -> Bson {
        Bson::Binary(Binary {
            subtype,
            bytes: vec![0; 16],
        })
    }

    #[test]
    fn every_bson_type_under_both_services() {
        let edge =
            |found: &str| format!("_id is {found} but an Edge Server service requires an ObjectId");
        let device = |found: &str| {
            format!(
                "_id is {found} but a Device Sync service requires an ObjectId, string, int32, int64 or UUID"
            )
        };
        let cases: Vec<(Bson, &str, bool)> = vec![
            // (value, description, accepted by Device Sync)
            (Bson::ObjectId(ObjectId::new()), "an ObjectId", true),
            (Bson::String("abc".into()), "a string", true),
            (Bson::String(String::new()), "a string", true),
            (Bson::Int32(7), "an int32", true),
            (Bson::Int64(7), "an int64", true),
            (binary(BinarySubtype::Uuid), "a UUID", true),
            (
                binary(BinarySubtype::UuidOld),
                "binary data of subtype 3",
                false,
            ),
            (
                binary(BinarySubtype::Generic),
                "binary data of subtype 0",
                false,
            ),
            (
                binary(BinarySubtype::Md5),
                "binary data of subtype 5",
                false,
            ),
            (Bson::Double(7.0), "a double", false),
            (
                Bson::Decimal128(Decimal128::from_bytes([0; 16])),
                "a decimal128",
                false,
            ),
            (Bson::Boolean(true), "a boolean", false),
            (Bson::Null, "null", false),
            (Bson::Undefined, "undefined", false),
            (Bson::Array(vec![Bson::Int32(1)]), "an array", false),
            (Bson::Document(doc! {"a": 1}), "an embedded document", false),
            (Bson::DateTime(DateTime::from_millis(0)), "a date", false),
            (
                Bson::Timestamp(Timestamp {
                    time: 1,
                    increment: 1,
                }),
                "a timestamp",
                false,
            ),
            (
                Bson::RegularExpression(Regex {
                    pattern: "a".into(),
                    options: String::new(),
                }),
                "a regular expression",
                false,
            ),
            (Bson::JavaScriptCode("f()".into()), "JavaScript code", false),
            (
                Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
                    code: "f()".into(),
                    scope: doc! {},
                }),
                "JavaScript code with scope",
                false,
            ),
            (Bson::Symbol("s".into()), "a symbol", false),
            (Bson::MinKey, "MinKey", false),
            (Bson::MaxKey, "MaxKey", false),
        ];
        for (value, description, device_accepts) in cases {
            let edge_accepts = matches!(value, Bson::ObjectId(_));
            check(
                EDGE,
                value.clone(),
                (!edge_accepts).then(|| edge(description)).as_deref(),
            );
            check(
                DEVICE,
                value,
                (!device_accepts).then(|| device(description)).as_deref(),
            );
        }
    }

    #[test]
    fn missing_id() {
        for service in [EDGE, DEVICE] {
            let reason = check_id(service, &doc! {"x": 1}).unwrap_err();
            assert_eq!(reason, SkipReason::MissingId);
            assert_eq!(reason.to_string(), "missing _id");
            assert_eq!(reason.as_str(), "missing_id");
            // A nested _id is not the document's _id.
            assert_eq!(
                check_id(service, &doc! {"a": {"_id": 1}}),
                Err(SkipReason::MissingId)
            );
        }
    }

    #[test]
    fn service_type_names() {
        assert_eq!("edge".parse::<ServiceType>().unwrap(), EDGE);
        assert_eq!("device-sync".parse::<ServiceType>().unwrap(), DEVICE);
        assert_eq!(EDGE.to_string(), "edge");
        assert_eq!(DEVICE.as_str(), "device-sync");
        for bad in ["", "Edge", "device_sync", "devicesync", "atlas"] {
            let error = bad.parse::<ServiceType>().unwrap_err();
            assert!(matches!(&error, Error::UnknownServiceType(name) if name == bad));
            assert_eq!(error.code(), 2);
        }
        let error: Error = SkipReason::MissingId.into();
        assert_eq!(error.to_string(), "invalid _id: missing _id");
    }
}
