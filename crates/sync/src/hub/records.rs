//! The hub's own state as typed records (see `outpost_storage::RecordTree`): the registry of
//! edge instances, each document's last-writer-wins versions, collection drops and how far
//! the hub's own writes are versioned. None of it is a collection: no client command can read
//! or write it, and it never syncs. A record of the wrong shape is an error, never a default.

use bson::{doc, Bson, DateTime, Document};
use outpost_storage::split_field_path;
use serde::{Deserialize, Serialize};

use crate::id_rules::ServiceType;
use crate::merge::Stamp;
use crate::protocol::u64_to_i64;

/// The instance id of the hub's own (local) writes in versions.
pub const HUB_INSTANCE: &str = "hub";

/// One edge instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EdgeRecord {
    /// 24 hex characters.
    pub id: String,
    pub name: String,
    pub service: ServiceType,
    /// The instance query as given.
    pub query: Document,
    pub query_version: i64,
    pub default_db: String,
    /// SHA-256 hex of the one-time registration key (keys themselves are never stored).
    pub registration_key_hash: String,
    pub registration_key_used: bool,
    pub api_key_hash: Option<String>,
    pub created: DateTime,
    pub last_seen: Option<DateTime>,
    /// The edge's last applied history sequence: uploads at or below it are ignored, which
    /// makes a re-sent batch harmless.
    pub uploaded_seq: u64,
    /// The edge's download cursor as last persisted (see `Hub::history_floor`).
    pub downloaded_seq: u64,
    /// The Admin API app the instance belongs to (`None`: created by `outpost hub edge
    /// create`, listed under the default app).
    #[serde(default)]
    pub app_id: Option<String>,
    /// The id of the user the instance acts as (the Admin API's `user_id`, an ObjectId hex).
    #[serde(default)]
    pub user_id: Option<String>,
    /// What the edge said in its last `outpostSyncHello`.
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub package_version: Option<String>,
    /// When the edge last said hello (a new sync connection).
    #[serde(default)]
    pub last_connection: Option<DateTime>,
    /// Why the instance is failed (`None`: pending or active, see [`EdgeRecord::status`]).
    #[serde(default)]
    pub failure: Option<String>,
    /// Hashes of the API keys a re-key replaced (the newest [`MAX_OLD_KEYS`]): an edge that
    /// says hello with one is told its key is invalid, and the instance shows as failed.
    #[serde(default)]
    pub old_api_key_hashes: Vec<String>,
    /// A reset the hub requires of the edge and the edge has not begun (it was offline past
    /// its app's maximum offline time, or a breaking schema change): see `hub::window`.
    #[serde(default)]
    pub reset: Option<ResetRecord>,
    /// The edge's last reset, once it began it (shown by the Admin API).
    #[serde(default)]
    pub last_reset: Option<ResetRecord>,
}

/// Why and when the hub reset an edge (see `hub::window`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetRecord {
    pub reason: String,
    /// When the hub required the reset (`reset`) or the edge began it (`last_reset`), by the
    /// hub's clock.
    pub time: DateTime,
}

/// How many replaced API key hashes an edge record remembers.
pub const MAX_OLD_KEYS: usize = 4;

/// The failure reason after a re-key, until the edge registers with the new key.
pub const API_KEY_INVALID: &str = "API key invalid";

impl EdgeRecord {
    /// The instance's status as the Admin API shows it: `failed` (with its reason) when the
    /// hub refused the edge, else `active` once registered, else `pending`.
    pub fn status(&self) -> (&'static str, Option<&str>) {
        match &self.failure {
            Some(reason) => ("failed", Some(reason.as_str())),
            None if self.registration_key_used => ("active", None),
            None => ("pending", None),
        }
    }

    /// As `outpost hub edge list` shows it: no key hashes.
    pub fn to_listing(&self, last_seen: Option<DateTime>) -> Document {
        let (state, _) = self.status();
        doc! {
            "id": &self.id,
            "name": &self.name,
            "service": self.service.as_str(),
            "query": self.query.clone(),
            "queryVersion": self.query_version,
            "defaultDb": &self.default_db,
            "registrationKeyUsed": self.registration_key_used,
            "created": self.created,
            "lastSeen": last_seen.or(self.last_seen).map_or(Bson::Null, Bson::DateTime),
            "uploadedSeq": u64_to_i64(self.uploaded_seq),
            "downloadedSeq": u64_to_i64(self.downloaded_seq),
            "state": state,
            "reset": self.reset.as_ref().map_or(Bson::Null, ResetRecord::to_document),
            "lastReset": self.last_reset.as_ref().map_or(Bson::Null, ResetRecord::to_document),
        }
    }
}

impl ResetRecord {
    fn to_document(&self) -> Bson {
        Bson::Document(doc! {"reason": &self.reason, "time": self.time})
    }
}

/// The version of one field path (see `outpost_storage::join_field_path`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldVersion {
    pub field: String,
    pub hlc: u64,
    pub instance: String,
}

/// Who wrote a document last, and when: the last-writer-wins state of one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Version {
    /// The latest clock of any write to the document.
    pub hlc: u64,
    pub deleted: bool,
    /// The instance whose version of the document the hub holds: an edge id, or
    /// [`HUB_INSTANCE`] (a hub write, or a merge of several instances' fields).
    pub origin: String,
    /// Per-field versions newer than the last whole-document write. A field not listed has
    /// the version of the last whole write, `base`.
    pub fields: Vec<FieldVersion>,
    pub base_hlc: u64,
    pub base_instance: String,
}

impl Version {
    /// A whole-document write (insert, replace, delete) by `origin` at `hlc`.
    pub fn whole(hlc: u64, deleted: bool, origin: &str) -> Version {
        Version {
            hlc,
            deleted,
            origin: origin.to_string(),
            fields: Vec::new(),
            base_hlc: hlc,
            base_instance: origin.to_string(),
        }
    }

    /// The document's place in the last-writer-wins order.
    pub fn stamp(&self) -> Stamp {
        Stamp::new(self.hlc, self.deleted, self.origin.as_str())
    }

    /// The version of a field path: the latest write to it, to a field that contains it or to
    /// a field inside it. A change of the field must be later than all of them to win.
    pub fn field_stamp(&self, field: &str) -> Stamp {
        let segments = split_field_path(field);
        let mut key = (self.base_hlc, self.base_instance.as_str());
        for version in &self.fields {
            let other = split_field_path(&version.field);
            let overlaps = other.starts_with(&segments) || segments.starts_with(&other);
            if overlaps && (version.hlc, version.instance.as_str()) > key {
                key = (version.hlc, version.instance.as_str());
            }
        }
        Stamp::new(key.0, false, key.1)
    }

    /// Records a write of `field`, which replaces the versions of the fields inside it.
    pub fn set_field(&mut self, field: &str, hlc: u64, origin: &str) {
        let segments = split_field_path(field);
        self.fields
            .retain(|version| !split_field_path(&version.field).starts_with(&segments));
        self.fields.push(FieldVersion {
            field: field.to_string(),
            hlc,
            instance: origin.to_string(),
        });
        self.hlc = self.hlc.max(hlc);
    }
}

/// The clock of a collection's last drop: every document of it counts as deleted then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropRecord {
    pub hlc: u64,
}

/// How far the hub's own local writes have versions (a hub history sequence).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionedUpTo {
    pub seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_stamps_cover_containing_and_contained_fields() {
        let mut version = Version::whole(10, false, "e1");
        version.set_field("a.b", 20, "e2");
        assert_eq!(version.field_stamp("a"), Stamp::new(20, false, "e2"));
        assert_eq!(version.field_stamp("a.b.c"), Stamp::new(20, false, "e2"));
        assert_eq!(version.field_stamp("x"), Stamp::new(10, false, "e1"));
        version.set_field("a", 30, "e1");
        assert_eq!(version.fields.len(), 1);
        assert_eq!(version.hlc, 30);
    }
}
