//! The metrics an edge reports, as the Admin API describes them (Atlas' keys, names,
//! categories and units). The values come from the edge (`outpostSyncReport`).

/// One known metric.
pub struct MetricInfo {
    pub key: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    pub detail: &'static str,
    pub unit: &'static str,
}

const fn metric(
    key: &'static str,
    name: &'static str,
    category: &'static str,
    detail: &'static str,
    unit: &'static str,
) -> MetricInfo {
    MetricInfo {
        key,
        name,
        category,
        detail,
        unit,
    }
}

pub const METRICS: &[MetricInfo] = &[
    metric(
        "edge_host_memory_percent",
        "Host memory used",
        "host",
        "Share of the edge host's memory in use",
        "percent",
    ),
    metric(
        "edge_host_cpu_percent",
        "Host CPU used by the edge",
        "host",
        "CPU time the edge process used since its last report, as a share of one core",
        "percent",
    ),
    metric(
        "overall_request_success",
        "Successful requests",
        "requests",
        "Requests (wire protocol and sync) that succeeded",
        "count",
    ),
    metric(
        "overall_request_fail",
        "Failed requests",
        "requests",
        "Requests (wire protocol and sync) that failed",
        "count",
    ),
    metric(
        "wire_protocol_request_success",
        "Successful wire protocol requests",
        "wire_protocol",
        "Commands of MongoDB clients that succeeded",
        "count",
    ),
    metric(
        "wire_protocol_request_fail",
        "Failed wire protocol requests",
        "wire_protocol",
        "Commands of MongoDB clients that failed",
        "count",
    ),
    metric(
        "wire_protocol_egress_bytes",
        "Wire protocol egress",
        "wire_protocol",
        "Bytes sent to MongoDB clients",
        "bytes",
    ),
    metric(
        "edge_wire_protocol_connection_count",
        "Wire protocol connections",
        "wire_protocol",
        "MongoDB client connections open now",
        "count",
    ),
    metric(
        "sync_requests_success",
        "Successful sync requests",
        "sync",
        "Exchanges with the hub that succeeded",
        "count",
    ),
    metric(
        "sync_requests_fail",
        "Failed sync requests",
        "sync",
        "Exchanges with the hub that failed",
        "count",
    ),
    metric(
        "sync_upload_backlog",
        "Upload backlog",
        "sync",
        "Local changes not yet uploaded to the hub",
        "count",
    ),
    metric(
        "sync_changes_uploaded",
        "Changes uploaded",
        "sync",
        "Local changes the hub acknowledged since the edge started (Outpost's addition)",
        "count",
    ),
    metric(
        "sync_changes_downloaded",
        "Changes downloaded",
        "sync",
        "Changes of the hub applied at the edge since it started (Outpost's addition)",
        "count",
    ),
    metric(
        "edge_process_memory_bytes",
        "Edge process memory",
        "host",
        "Resident memory of the edge process (Outpost's addition)",
        "bytes",
    ),
];

/// What the catalog says of `key`, if it knows it.
pub fn info(key: &str) -> Option<&'static MetricInfo> {
    METRICS.iter().find(|metric| metric.key == key)
}
