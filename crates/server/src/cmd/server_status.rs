//! `serverStatus`: uptime, connections, network (bytes, compression), operation counters,
//! memory.

use bson::{doc, Document};

use super::{Action, Command, Counter, Request};
use crate::error::Result;
use crate::metrics::Metrics;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "serverStatus",
    aliases: &[],
    help: "the server's state: uptime, connections, operation counters, memory",
    admin_only: false,
    action: Action::ClusterMonitor,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let mut reply = status(state, req)?;
    // Outpost's own section: sync with a hub (issue 4).
    reply.insert("sync", super::outpost_sync::status_document(state));
    Ok(reply)
}

fn status(state: &State, _req: &Request) -> Result<Document> {
    let m = &state.metrics;
    let uptime = state.started.elapsed();
    let current = Metrics::get(&m.connections_current);
    Ok(doc! {
        "host": super::host_info::hostname(),
        "version": super::hello::MONGODB_VERSION,
        "outpostVersion": env!("CARGO_PKG_VERSION"),
        "process": "outpost",
        "pid": i64::from(std::process::id()),
        "uptime": uptime.as_secs_f64(),
        "uptimeMillis": i64::try_from(uptime.as_millis()).unwrap_or(i64::MAX),
        "uptimeEstimate": i64::try_from(uptime.as_secs()).unwrap_or(i64::MAX),
        "localTime": bson::DateTime::now(),
        "connections": {
            "current": i32::try_from(current).unwrap_or(i32::MAX),
            "available": i32::try_from(
                i64::try_from(state.config.max_conns).unwrap_or(i64::MAX).saturating_sub(current),
            )
            .unwrap_or(i32::MAX),
            "totalCreated": Metrics::get(&m.connections_total),
            "rejected": Metrics::get(&m.connections_rejected),
        },
        "network": {
            "bytesIn": Metrics::get(&m.network_bytes_in),
            "bytesOut": Metrics::get(&m.network_bytes_out),
            "numRequests": Metrics::get(&m.network_requests),
            "compression": {
                "zstd": m.zstd.to_document(),
                "zlib": m.zlib.to_document(),
            },
        },
        "opcounters": {
            "insert": Metrics::get(&m.op_insert),
            "query": Metrics::get(&m.op_query),
            "update": Metrics::get(&m.op_update),
            "delete": Metrics::get(&m.op_delete),
            "getmore": Metrics::get(&m.op_getmore),
            "command": Metrics::get(&m.op_command),
        },
        "mem": {
            "bits": 64,
            "resident": proc_status_mb("VmRSS:"),
            "virtual": proc_status_mb("VmSize:"),
            "supported": std::path::Path::new("/proc/self/status").exists(),
        },
        "metrics": {
            "cursor": {"open": {"total": i64::try_from(state.cursors.len()).unwrap_or(i64::MAX)}},
        },
        "storageEngine": {
            "name": "sled",
            "persistent": state.config.dbpath.is_some(),
            "flushesBeforeReply": Metrics::get(&m.flushes_before_reply),
        },
    })
}

/// A memory figure of /proc/self/status in MiB (0 where there is no /proc).
fn proc_status_mb(field: &str) -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<i64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}
