//! What the hub's control plane (the server's Admin API) asks of the registry beyond the wire
//! commands: one instance, rename, re-key, the status an edge's connections give it, and the
//! metrics and log records an edge reports (`outpostSyncReport`).

use bson::{Bson, DateTime, Document};
use serde::{Deserialize, Serialize};

use super::monitor::{self, MetricsPoint};
use super::observations::MetricsRecord;
use super::records::{EdgeRecord, ResetRecord, API_KEY_INVALID, MAX_OLD_KEYS};
use super::{Hub, HubStore, Peer, SyncSession};
use crate::error::{Error, Result};
use crate::protocol::{hash_key, random_key, PROTOCOL_VERSION};

/// How many log records the hub keeps per edge (the oldest go first).
pub const MAX_LOGS_PER_EDGE: usize = 10_000;
/// The most metrics or log records one report may carry.
const MAX_REPORT_ITEMS: usize = 1_000;
/// The longest text kept of a reported field.
const MAX_TEXT: usize = 4_096;
/// A log record's levels, least severe first (a record without one is `info`).
pub const LOG_LEVELS: [&str; 3] = ["info", "warn", "error"];

/// One metric as the edge reported it: a key (`edge_host_cpu_percent`...) and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeMetric {
    pub key: String,
    pub value: f64,
}

/// One log record of an edge (authentication or sync).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeLog {
    pub time: DateTime,
    /// `auth` or `sync`.
    pub kind: String,
    /// One of [`LOG_LEVELS`].
    pub level: String,
    pub message: String,
    /// The user the record is about, when there is one (an authentication).
    pub user_id: Option<String>,
}

impl<S: HubStore> Hub<S> {
    /// One edge instance's record, if it exists.
    pub fn edge(&self, id: &str) -> Result<Option<EdgeRecord>> {
        let mut record = self.store.edge(id)?;
        if let Some(record) = &mut record {
            if let Some(seen) = self.locked().last_seen.get(id) {
                record.last_seen = Some(*seen);
            }
        }
        Ok(record)
    }

    /// Every edge instance's record, oldest first.
    pub fn edge_records(&self) -> Result<Vec<EdgeRecord>> {
        let last_seen = self.locked().last_seen.clone();
        let mut records = self.store.edges()?;
        for record in &mut records {
            if let Some(seen) = last_seen.get(&record.id) {
                record.last_seen = Some(*seen);
            }
        }
        Ok(records)
    }

    /// Renames an edge instance.
    pub fn rename_edge(&self, id: &str, name: &str) -> Result<()> {
        if name.is_empty() {
            return Err(Error::Coded {
                code: 2,
                message: "an edge instance needs a non-empty name".into(),
            });
        }
        let _guard = self.locked();
        let mut record = self.edge_by_id(id)?;
        record.name = name.to_string();
        self.store.put_edge(&record)
    }

    /// Gives an edge instance a new one-time registration key (returned, shown once): its API
    /// key stops working at once, and a registered instance is failed ("API key invalid")
    /// until the edge registers with the new key, which keeps the instance's id and progress.
    pub fn regenerate_registration_key(&self, id: &str) -> Result<String> {
        let _guard = self.locked();
        let mut record = self.edge_by_id(id)?;
        let key = random_key()?;
        record.registration_key_hash = hash_key(&key);
        if let Some(old) = record.api_key_hash.take() {
            record.old_api_key_hashes.push(old);
            let excess = record.old_api_key_hashes.len().saturating_sub(MAX_OLD_KEYS);
            record.old_api_key_hashes.drain(..excess);
            record.failure = Some(API_KEY_INVALID.to_string());
        }
        record.registration_key_used = false;
        self.store.put_edge(&record)?;
        Ok(key)
    }

    /// The edge's last reported metrics and when they came (kept in the hub's store).
    pub fn edge_metrics(&self, id: &str) -> Result<Option<(DateTime, Vec<EdgeMetric>)>> {
        Ok(self
            .store
            .metrics(id)?
            .map(|record| (record.time, record.metrics)))
    }

    /// The edge's log records, newest first, those of `user_id` only when given.
    pub fn edge_logs(&self, id: &str, user_id: Option<&str>) -> Result<Vec<EdgeLog>> {
        let mut logs = self.store.logs(id)?;
        logs.reverse();
        logs.retain(|log| user_id.is_none_or(|user| log.user_id.as_deref() == Some(user)));
        Ok(logs)
    }

    /// A hello with a working key: an edge back from longer than its offline window must
    /// reset (see `window`), the new connection is noted, and a failure the edge has got past
    /// (an old protocol) is cleared. Returns the reset the edge must make, if any.
    pub(super) fn note_connection(&self, id: &str, peer: &Peer) -> Result<Option<ResetRecord>> {
        let memory = self.locked();
        let mut record = self.edge_by_id(id)?;
        self.check_window(&memory, &mut record);
        peer.note(&mut record, self.now());
        record.failure = record.reset.as_ref().map(|reset| reset.reason.clone());
        self.store.put_edge(&record)?;
        Ok(record.reset)
    }

    /// Appends a log record of the hub's own about edge `id` (a reset, say).
    pub(super) fn note_log(&self, id: &str, message: String) -> Result<()> {
        let log = EdgeLog {
            time: self.now(),
            kind: "sync".into(),
            level: "warn".into(),
            message,
            user_id: None,
        };
        self.store.append_logs(id, &[log], MAX_LOGS_PER_EDGE)
    }

    /// A hello with a key a re-key replaced: that instance is failed, "API key invalid".
    pub(super) fn note_old_key(&self, hash: &str) -> Result<()> {
        let _guard = self.locked();
        let old = self
            .store
            .edges()?
            .into_iter()
            .find(|edge| edge.old_api_key_hashes.iter().any(|old| old == hash));
        if let Some(mut record) = old {
            record.failure = Some(API_KEY_INVALID.to_string());
            record.last_connection = Some(self.now());
            self.store.put_edge(&record)?;
        }
        Ok(())
    }

    /// A hello refused for its protocol version: when it names a known instance by its API
    /// key, that instance is failed with the reason (the edge is too old, or the hub is).
    pub(super) fn note_refused_version(&self, command: &Document, refusal: &Error) {
        let Ok(api_key) = command.get_str("apiKey") else {
            return;
        };
        let hash = hash_key(api_key);
        let _guard = self.locked();
        let Ok(edges) = self.store.edges() else {
            return;
        };
        let Some(mut record) = edges
            .into_iter()
            .find(|edge| edge.api_key_hash.as_deref() == Some(hash.as_str()))
        else {
            return;
        };
        let theirs = command.get_str("protocolVersion").unwrap_or("2.0 or older");
        record.failure = Some(format!(
            "edge too old: it speaks sync protocol {theirs}, the hub speaks {PROTOCOL_VERSION}; \
             upgrade the edge ({refusal})"
        ));
        record.last_connection = Some(self.now());
        if let Err(error) = self.store.put_edge(&record) {
            tracing::warn!(error = %error, "cannot record an edge's refused protocol version");
        }
    }

    /// `outpostSyncReport {metrics: {key: number}, logs: [{time, kind, level, message,
    /// userId}]}` from the bound edge: the metrics replace the edge's last ones (and join its
    /// hour of history), the log records are appended (the oldest dropped past
    /// [`MAX_LOGS_PER_EDGE`]).
    pub(super) fn report(&self, session: &SyncSession, command: &Document) -> Result<Document> {
        let edge = self.bound_edge(session)?;
        let metrics = parse_metrics(command)?;
        let logs = parse_logs(command)?;
        let time = self.now();
        if let Some(metrics) = metrics {
            let point = MetricsPoint {
                time,
                metrics: metrics.clone(),
            };
            monitor::record(&mut self.locked(), &edge.record.id, point);
            let record = MetricsRecord { time, metrics };
            self.store.put_metrics(&edge.record.id, &record)?;
        }
        if !logs.is_empty() {
            self.store
                .append_logs(&edge.record.id, &logs, MAX_LOGS_PER_EDGE)?;
        }
        // The hub's view of the instance, for the edge's status.
        let (status, reason) = edge.record.status();
        Ok(bson::doc! {
            "status": status,
            "statusReason": reason.map_or(Bson::Null, |reason| Bson::String(reason.into())),
        })
    }
}

fn parse_metrics(command: &Document) -> Result<Option<Vec<EdgeMetric>>> {
    let Some(metrics) = command.get("metrics") else {
        return Ok(None);
    };
    let Bson::Document(metrics) = metrics else {
        return Err(Error::protocol("'metrics' must be a document of numbers"));
    };
    if metrics.len() > MAX_REPORT_ITEMS {
        return Err(Error::protocol("too many metrics in one report"));
    }
    metrics
        .iter()
        .map(|(key, value)| {
            let value = match value {
                Bson::Int32(n) => f64::from(*n),
                Bson::Double(n) if n.is_finite() => *n,
                // Counters: exact up to 2^53, which no counter of an edge reaches.
                Bson::Int64(n) => *n as f64,
                _ => {
                    return Err(Error::protocol(format!(
                        "metric '{key}' must be a finite number"
                    )))
                }
            };
            Ok(EdgeMetric {
                key: truncate(key),
                value,
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn parse_logs(command: &Document) -> Result<Vec<EdgeLog>> {
    let Some(logs) = command.get("logs") else {
        return Ok(Vec::new());
    };
    let Bson::Array(logs) = logs else {
        return Err(Error::protocol("'logs' must be an array"));
    };
    if logs.len() > MAX_REPORT_ITEMS {
        return Err(Error::protocol("too many log records in one report"));
    }
    logs.iter()
        .map(|log| {
            let Bson::Document(log) = log else {
                return Err(Error::protocol("each log record must be a document"));
            };
            let time = log
                .get_datetime("time")
                .map_err(|_| Error::protocol("a log record's 'time' must be a date"))?;
            let text = |field: &str| {
                log.get_str(field).map(truncate).map_err(|_| {
                    Error::protocol(format!("a log record's '{field}' must be a string"))
                })
            };
            let level = match log.get("level") {
                // Edges before levels: their records are informational.
                None | Some(Bson::Null) => "info".to_string(),
                Some(Bson::String(level)) if LOG_LEVELS.contains(&level.as_str()) => level.clone(),
                Some(_) => {
                    return Err(Error::protocol(
                        "a log record's 'level' must be 'info', 'warn' or 'error'",
                    ))
                }
            };
            let user_id = match log.get("userId") {
                None | Some(Bson::Null) => None,
                Some(_) => Some(text("userId")?),
            };
            Ok(EdgeLog {
                time: *time,
                kind: text("kind")?,
                level,
                message: text("message")?,
                user_id,
            })
        })
        .collect()
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}
