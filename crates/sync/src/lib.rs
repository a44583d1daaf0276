//! Outpost's sync engine.
//!
//! This crate decides what an edge syncs and, in later layers, moves it: the instance query
//! (per collection, a Realm Query Language string or a MongoDB filter document, see
//! [`instance_query`] and [`rql`]), the `_id` rules of the service type ([`id_rules`]), upload
//! of history entries, download and apply of remote changes, conflict resolution and the hub's
//! side of the protocol.
//!
//! Architecture invariant: this crate reads and writes data only through the storage crate's
//! public API (`outpost_storage`); it evaluates queries with `outpost_storage::query::Filter`
//! rather than a matcher of its own. It knows nothing of sockets: the server crate provides the
//! network link.

pub mod delta;
pub mod edge;
mod error;
pub mod hub;
pub mod id_rules;
pub mod instance_query;
mod link_bytes;
pub mod merge;
pub mod protocol;
pub mod rql;

pub use edge::{EdgeOptions, EdgeSync, Link, PreparedUpload, ResetSummary, SyncStatus};
pub use error::{Error, Result};
pub use hub::{
    EdgeLog, EdgeMetric, EdgeRecord, Hub, MetricsPoint, ResetRecord, SyncLag, SyncSession,
    API_KEY_INVALID, LOG_LEVELS, METRICS_HISTORY_MS,
};
pub use id_rules::{check_id, ServiceType, SkipReason};
pub use instance_query::{InstanceQuery, QueryMatch};
pub use link_bytes::LinkBytes;

/// The parsed instance query is shared between the upload and download tasks.
#[allow(dead_code)]
fn assert_public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<InstanceQuery>();
    check::<Error>();
    check::<SkipReason>();
}
