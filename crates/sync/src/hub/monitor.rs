//! What the hub's console shows of an edge over time: the metrics reports of the last hour
//! (kept in memory, per instance, for the chart) and how far behind the hub the edge is.

use std::collections::VecDeque;

use bson::DateTime;

use super::admin::EdgeMetric;
use super::records::EdgeRecord;
use super::{Hub, HubMemory, HubStore};
use crate::error::Result;

/// How much metrics history the hub keeps per instance: one hour (milliseconds).
pub const METRICS_HISTORY_MS: i64 = 3_600_000;
/// The most reports kept per instance (an edge reports every 10 s, and once more at each new
/// connection: 360 in an hour; this bounds an edge that reconnects in a loop).
const MAX_HISTORY_POINTS: usize = 1_440;

/// One metrics report of an edge.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsPoint {
    pub time: DateTime,
    pub metrics: Vec<EdgeMetric>,
}

/// How far behind the hub an edge is on the download side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncLag {
    /// History entries the hub committed after the edge's download cursor.
    pub changes: u64,
    /// When the oldest of them was committed (`None`: the edge is up to date).
    pub oldest: Option<DateTime>,
}

/// Adds a report to an edge's history, dropping what is older than the window.
pub(super) fn record(memory: &mut HubMemory, id: &str, point: MetricsPoint) {
    let kept = memory.metrics_history.entry(id.to_string()).or_default();
    kept.push_back(point);
    let now = kept.back().map_or(0, |last| last.time.timestamp_millis());
    trim(kept, now);
}

fn trim(kept: &mut VecDeque<MetricsPoint>, now_ms: i64) {
    let floor = now_ms.saturating_sub(METRICS_HISTORY_MS);
    while kept
        .front()
        .is_some_and(|first| first.time.timestamp_millis() < floor)
        || kept.len() > MAX_HISTORY_POINTS
    {
        kept.pop_front();
    }
}

impl<S: HubStore> Hub<S> {
    /// The edge's metrics reports of the hour before `now`, oldest first.
    pub fn edge_metrics_history(&self, id: &str, now: DateTime) -> Vec<MetricsPoint> {
        let mut memory = self.locked();
        let Some(kept) = memory.metrics_history.get_mut(id) else {
            return Vec::new();
        };
        trim(kept, now.timestamp_millis());
        kept.iter().cloned().collect()
    }

    /// How far behind the hub `record`'s edge is: `None` until it registered.
    pub fn sync_lag(&self, record: &EdgeRecord) -> Result<Option<SyncLag>> {
        if !record.registration_key_used {
            return Ok(None);
        }
        let cursor = self
            .locked()
            .downloaded
            .get(&record.id)
            .copied()
            .unwrap_or(0)
            .max(record.downloaded_seq);
        let changes = self.store.last_seq().saturating_sub(cursor);
        let oldest = match changes {
            0 => None,
            _ => match self
                .store
                .history_heads_from(cursor.saturating_add(1))
                .next()
            {
                // The clock's physical part: milliseconds since the epoch.
                Some(entry) => Some(DateTime::from_millis(
                    i64::try_from(entry?.hlc >> 16).unwrap_or(i64::MAX),
                )),
                None => None,
            },
        };
        Ok(Some(SyncLag { changes, oldest }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(ms: i64) -> MetricsPoint {
        MetricsPoint {
            time: DateTime::from_millis(ms),
            metrics: vec![EdgeMetric {
                key: "k".into(),
                value: ms as f64,
            }],
        }
    }

    #[test]
    fn the_history_keeps_one_hour_and_a_bounded_number_of_reports() {
        let mut memory = HubMemory::default();
        let start = 1_700_000_000_000;
        for i in 0..400 {
            record(&mut memory, "e", point(start + i * 10_000));
        }
        let kept = &memory.metrics_history["e"];
        // 400 reports 10 s apart span 66.5 minutes: the first 39 are older than an hour.
        assert_eq!(kept.len(), 361);
        assert_eq!(
            kept.front().unwrap().time.timestamp_millis(),
            start + 39 * 10_000
        );

        for i in 0..2_000 {
            record(&mut memory, "f", point(start + i));
        }
        assert_eq!(memory.metrics_history["f"].len(), MAX_HISTORY_POINTS);
        assert_eq!(
            memory.metrics_history["f"]
                .back()
                .unwrap()
                .time
                .timestamp_millis(),
            start + 1_999
        );
    }
}
