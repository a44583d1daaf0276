//! What an edge reports to its hub (`outpostSyncReport`) while connected: its metrics (the
//! Admin API's keys, from the server's counters and the host) and its authentication and sync
//! log records, queued here until sent.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bson::{doc, Bson, DateTime, Document};

use crate::metrics::Metrics;

/// How often a connected edge reports (the first report goes right after connecting).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// Log records kept while the hub cannot be reached (the oldest are dropped first).
const MAX_QUEUED_LOGS: usize = 1_000;
/// Log records per report.
const LOGS_PER_REPORT: usize = 500;
/// Clock ticks per second of `/proc/self/stat` (Linux's USER_HZ, 100 on every architecture's
/// user ABI).
const USER_HZ: f64 = 100.0;

/// Log records waiting to be sent to the hub.
#[derive(Default)]
pub struct LogQueue {
    records: Mutex<VecDeque<Document>>,
}

impl LogQueue {
    /// Queues a record: `kind` is `auth` or `sync`, `level` `info`, `warn` or `error`; `user`
    /// the user it is about, if any.
    pub fn push(&self, kind: &str, level: &str, message: impl Into<String>, user: Option<String>) {
        let mut records = self.lock();
        if records.len() >= MAX_QUEUED_LOGS {
            records.pop_front();
        }
        records.push_back(doc! {
            "time": DateTime::now(),
            "kind": kind,
            "level": level,
            "message": message.into(),
            "userId": user.map_or(Bson::Null, Bson::String),
        });
    }

    fn take(&self, n: usize) -> Vec<Document> {
        let mut records = self.lock();
        let n = n.min(records.len());
        records.drain(..n).collect()
    }

    /// Puts records back at the front (their report failed).
    fn restore(&self, mut taken: Vec<Document>) {
        let mut records = self.lock();
        while let Some(record) = taken.pop() {
            if records.len() >= MAX_QUEUED_LOGS {
                break;
            }
            records.push_front(record);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Document>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The edge's reporter: when the last report went, and the CPU time then.
pub struct Reporter {
    metrics: std::sync::Arc<Metrics>,
    logs: std::sync::Arc<LogQueue>,
    last: Mutex<Option<(Instant, Option<f64>)>>,
}

impl Reporter {
    pub fn new(metrics: std::sync::Arc<Metrics>, logs: std::sync::Arc<LogQueue>) -> Reporter {
        Reporter {
            metrics,
            logs,
            last: Mutex::new(None),
        }
    }

    pub fn logs(&self) -> &LogQueue {
        &self.logs
    }

    /// Forgets the last report: the next exchange reports (a new connection).
    pub fn reset(&self) {
        *self.lock() = None;
    }

    /// The report to send now, if one is due; `sent` must be called with its outcome.
    pub fn due(&self, sync: &outpost_sync::SyncStatus) -> Option<(Document, Vec<Document>)> {
        let mut last = self.lock();
        let now = Instant::now();
        if last.is_some_and(|(when, _)| now.duration_since(when) < REPORT_INTERVAL) {
            return None;
        }
        let cpu_now = process_cpu_seconds();
        let cpu_percent = match (*last, cpu_now) {
            (Some((when, Some(before))), Some(after)) => {
                let wall = now.duration_since(when).as_secs_f64();
                (wall > 0.0).then(|| ((after - before) / wall * 100.0).max(0.0))
            }
            _ => None,
        };
        *last = Some((now, cpu_now));
        let logs = self.logs.take(LOGS_PER_REPORT);
        let mut metrics = self.metrics_document(sync);
        if let Some(cpu) = cpu_percent {
            metrics.insert("edge_host_cpu_percent", cpu);
        }
        let mut request = doc! {outpost_sync::protocol::REPORT: 1, "metrics": metrics};
        request.insert(
            "logs",
            logs.iter().cloned().map(Bson::Document).collect::<Vec<_>>(),
        );
        Some((outpost_sync::protocol::with_version(request), logs))
    }

    /// A report that failed: its log records go back in the queue, and the next exchange
    /// tries again.
    pub fn failed(&self, logs: Vec<Document>) {
        self.logs.restore(logs);
        *self.lock() = None;
    }

    fn metrics_document(&self, sync: &outpost_sync::SyncStatus) -> Document {
        let m = &self.metrics;
        let requests = Requests::read(m, Some(sync));
        let mut metrics = doc! {
            "overall_request_success": requests.overall_succeeded(),
            "overall_request_fail": requests.overall_failed(),
            "wire_protocol_request_success": requests.wire_succeeded,
            "wire_protocol_request_fail": requests.wire_failed,
            "wire_protocol_egress_bytes": Metrics::get(&m.network_bytes_out),
            "edge_wire_protocol_connection_count": Metrics::get(&m.connections_current),
            "sync_requests_success": requests.sync_succeeded,
            "sync_requests_fail": requests.sync_failed,
            "sync_upload_backlog": i64::try_from(sync.upload_backlog_entries).unwrap_or(i64::MAX),
            "sync_changes_uploaded": i64::try_from(sync.uploaded).unwrap_or(i64::MAX),
            "sync_changes_downloaded": i64::try_from(sync.downloaded).unwrap_or(i64::MAX),
        };
        if let Some(memory) = host_memory_percent() {
            metrics.insert("edge_host_memory_percent", memory);
        }
        if let Some(resident) = process_resident_bytes() {
            metrics.insert("edge_process_memory_bytes", resident);
        }
        metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Option<f64>)>> {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The edge's request counters, as its reports to the hub and its `/metrics` show them:
/// wire-protocol commands (the server's counters) and exchanges with the hub (the sync
/// status'), "overall" being both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requests {
    pub wire_succeeded: i64,
    pub wire_failed: i64,
    pub sync_succeeded: i64,
    pub sync_failed: i64,
}

impl Requests {
    /// The counts now; no sync status (sync not configured) counts no sync requests.
    pub fn read(metrics: &Metrics, sync: Option<&outpost_sync::SyncStatus>) -> Requests {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Requests {
            wire_succeeded: Metrics::get(&metrics.commands_succeeded),
            wire_failed: Metrics::get(&metrics.commands_failed),
            sync_succeeded: sync.map_or(0, |sync| count(sync.requests_succeeded)),
            sync_failed: sync.map_or(0, |sync| count(sync.requests_failed)),
        }
    }

    pub fn overall_succeeded(&self) -> i64 {
        self.wire_succeeded.saturating_add(self.sync_succeeded)
    }

    pub fn overall_failed(&self) -> i64 {
        self.wire_failed.saturating_add(self.sync_failed)
    }
}

/// The share of the host's memory in use (`/proc/meminfo`: 1 - MemAvailable / MemTotal).
pub fn host_memory_percent() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:")?;
    (total > 0.0).then(|| (1.0 - available / total) * 100.0)
}

/// This process's resident memory (`/proc/self/status`: `VmRSS`, in kB).
pub fn process_resident_bytes() -> Option<i64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: i64 = text
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb.saturating_mul(1_024))
}

/// CPU time this process used so far (`/proc/self/stat`: utime + stime), in seconds.
pub fn process_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: fields count from after its closing parenthesis.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Counts an exchange with the hub (`ok`) in the status the reports read.
pub fn count_sync_request(status: &Mutex<outpost_sync::SyncStatus>, ok: bool) {
    let mut status = status.lock().unwrap_or_else(|p| p.into_inner());
    if ok {
        status.requests_succeeded = status.requests_succeeded.saturating_add(1);
    } else {
        status.requests_failed = status.requests_failed.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_due_first_then_after_the_interval_and_failed_logs_come_back() {
        let logs = std::sync::Arc::new(LogQueue::default());
        let reporter = Reporter::new(Default::default(), logs.clone());
        logs.push("auth", "info", "authenticated", Some("alice@admin".into()));
        let status = outpost_sync::SyncStatus::default();
        let (request, taken) = reporter.due(&status).unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(request.get_array("logs").unwrap().len(), 1);
        let metrics = request.get_document("metrics").unwrap();
        assert!(metrics.contains_key("wire_protocol_request_success"));
        assert!(metrics.contains_key("sync_changes_downloaded"));
        let logged = request.get_array("logs").unwrap()[0].as_document().unwrap();
        assert_eq!(logged.get_str("level").unwrap(), "info");
        assert!(reporter.due(&status).is_none());
        reporter.failed(taken);
        let (_, again) = reporter.due(&status).unwrap();
        assert_eq!(again.len(), 1);
    }
}
