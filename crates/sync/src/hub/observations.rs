//! What edges report with `outpostSyncReport` (and the hub notes about them): each edge's last
//! metrics and its newest log records, kept in the hub's storage as typed records so they
//! survive a restart. Bounded: one metrics record per edge (the last report), at most
//! [`super::MAX_LOGS_PER_EDGE`] log records per edge (the oldest go first).
//!
//! On Outpost's storage ([`SledObservations`]): record tree `sync.hub.metrics` keyed by edge id,
//! and `sync.hub.logs` keyed by edge id, `/`, and a per-edge big-endian sequence number, so an
//! edge's records are one key range in arrival order.

use std::collections::HashMap;
use std::sync::Mutex;

use bson::DateTime;
use outpost_storage::{RecordTree, Storage};
use serde::{Deserialize, Serialize};

use super::admin::{EdgeLog, EdgeMetric};
use crate::error::Result;

/// An edge's last metrics report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsRecord {
    /// When the report came (the hub's clock).
    pub time: DateTime,
    pub metrics: Vec<EdgeMetric>,
}

/// What the store knows of one edge's log records: how many, and the next sequence number.
#[derive(Debug, Clone, Copy)]
struct LogCount {
    count: usize,
    next: u64,
}

/// Metrics and log records on Outpost's storage.
pub struct SledObservations {
    metrics: RecordTree<MetricsRecord>,
    logs: RecordTree<EdgeLog>,
    /// Per edge, counted at its first use after a start.
    counts: Mutex<HashMap<String, LogCount>>,
}

fn prefix(edge: &str) -> Vec<u8> {
    let mut key = edge.as_bytes().to_vec();
    key.push(b'/');
    key
}

fn log_key(edge: &str, seq: u64) -> Vec<u8> {
    let mut key = prefix(edge);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn seq_of(key: &[u8]) -> u64 {
    let mut bytes = [0; 8];
    if key.len() >= 8 {
        bytes.copy_from_slice(&key[key.len() - 8..]);
    }
    u64::from_be_bytes(bytes)
}

impl SledObservations {
    pub fn new(storage: &Storage) -> Result<SledObservations> {
        Ok(SledObservations {
            metrics: storage.records("sync.hub.metrics")?,
            logs: storage.records("sync.hub.logs")?,
            counts: Mutex::new(HashMap::new()),
        })
    }

    pub fn put_metrics(&self, edge: &str, record: &MetricsRecord) -> Result<()> {
        Ok(self.metrics.put(edge.as_bytes(), record)?)
    }

    pub fn metrics(&self, edge: &str) -> Result<Option<MetricsRecord>> {
        Ok(self.metrics.get(edge.as_bytes())?)
    }

    fn counted(&self, counts: &mut HashMap<String, LogCount>, edge: &str) -> Result<LogCount> {
        if let Some(count) = counts.get(edge) {
            return Ok(*count);
        }
        let mut count = LogCount { count: 0, next: 0 };
        for item in self.logs.scan_prefix(&prefix(edge)) {
            let (key, _) = item?;
            count.count += 1;
            count.next = seq_of(&key).saturating_add(1);
        }
        counts.insert(edge.to_string(), count);
        Ok(count)
    }

    /// Appends `logs` to the edge's records, then removes its oldest beyond `keep`.
    pub fn append_logs(&self, edge: &str, logs: &[EdgeLog], keep: usize) -> Result<()> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mut count = self.counted(&mut counts, edge)?;
        for log in logs {
            self.logs.put(&log_key(edge, count.next), log)?;
            count.next = count.next.saturating_add(1);
            count.count += 1;
        }
        if count.count > keep {
            let excess = count.count - keep;
            let oldest: Vec<Vec<u8>> = self
                .logs
                .scan_prefix(&prefix(edge))
                .take(excess)
                .map(|item| item.map(|(key, _)| key))
                .collect::<std::result::Result<_, _>>()?;
            for key in oldest {
                self.logs.remove(&key)?;
                count.count -= 1;
            }
        }
        counts.insert(edge.to_string(), count);
        Ok(())
    }

    /// The edge's log records, oldest first.
    pub fn logs(&self, edge: &str) -> Result<Vec<EdgeLog>> {
        self.logs
            .scan_prefix(&prefix(edge))
            .map(|item| item.map(|(_, log)| log).map_err(Into::into))
            .collect()
    }

    /// Forgets everything of a deleted edge.
    pub fn remove(&self, edge: &str) -> Result<()> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        self.metrics.remove(edge.as_bytes())?;
        let keys: Vec<Vec<u8>> = self
            .logs
            .scan_prefix(&prefix(edge))
            .map(|item| item.map(|(key, _)| key))
            .collect::<std::result::Result<_, _>>()?;
        for key in keys {
            self.logs.remove(&key)?;
        }
        counts.remove(edge);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(message: &str) -> EdgeLog {
        EdgeLog {
            time: DateTime::now(),
            kind: "sync".into(),
            level: "info".into(),
            message: message.into(),
            user_id: None,
        }
    }

    fn messages(observations: &SledObservations, edge: &str) -> Vec<String> {
        observations
            .logs(edge)
            .unwrap()
            .into_iter()
            .map(|log| log.message)
            .collect()
    }

    #[test]
    fn log_records_are_kept_per_edge_newest_n_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), Default::default()).unwrap();
        let observations = SledObservations::new(&storage).unwrap();
        observations
            .append_logs("e1", &[log("1"), log("2"), log("3")], 2)
            .unwrap();
        observations.append_logs("e2", &[log("x")], 2).unwrap();
        assert_eq!(messages(&observations, "e1"), ["2", "3"]);
        observations.append_logs("e1", &[log("4")], 2).unwrap();
        assert_eq!(messages(&observations, "e1"), ["3", "4"]);
        let metrics = MetricsRecord {
            time: DateTime::now(),
            metrics: vec![EdgeMetric {
                key: "edge_host_cpu_percent".into(),
                value: 12.5,
            }],
        };
        observations.put_metrics("e1", &metrics).unwrap();
        drop(observations);
        storage.flush().unwrap();
        drop(storage);

        let storage = Storage::open(dir.path(), Default::default()).unwrap();
        let observations = SledObservations::new(&storage).unwrap();
        assert_eq!(messages(&observations, "e1"), ["3", "4"]);
        assert_eq!(observations.metrics("e1").unwrap(), Some(metrics));
        // Counting resumes after the stored records: the order holds, the bound too.
        observations.append_logs("e1", &[log("5")], 2).unwrap();
        assert_eq!(messages(&observations, "e1"), ["4", "5"]);
        observations.remove("e1").unwrap();
        assert!(observations.logs("e1").unwrap().is_empty());
        assert_eq!(observations.metrics("e1").unwrap(), None);
        assert_eq!(messages(&observations, "e2"), ["x"]);
    }
}
