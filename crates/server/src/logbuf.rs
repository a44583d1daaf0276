//! The most recent log lines kept in memory, for `getLog: "global"`. Filled by a
//! `tracing` layer installed by the binary (and by embedders who want it).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// Lines kept, as mongod's in-memory log (which keeps 1024).
const CAPACITY: usize = 1024;

#[derive(Default)]
struct Buffer {
    lines: VecDeque<String>,
    total: u64,
}

fn buffer() -> &'static Mutex<Buffer> {
    static BUFFER: OnceLock<Mutex<Buffer>> = OnceLock::new();
    BUFFER.get_or_init(|| Mutex::new(Buffer::default()))
}

/// The kept lines, oldest first, and how many were ever written.
pub fn recent_lines() -> (Vec<String>, u64) {
    let b = buffer().lock().unwrap_or_else(|p| p.into_inner());
    (b.lines.iter().cloned().collect(), b.total)
}

fn push(line: String) {
    let mut b = buffer().lock().unwrap_or_else(|p| p.into_inner());
    if b.lines.len() == CAPACITY {
        b.lines.pop_front();
    }
    b.lines.push_back(line);
    b.total += 1;
}

/// A `tracing` layer that copies each event into the in-memory log as a JSON line.
pub struct LogBufferLayer;

struct JsonFields(serde_json::Map<String, serde_json::Value>);

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        self.0.insert(field.name().to_owned(), s.into());
    }
}

impl<S: Subscriber> Layer<S> for LogBufferLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = JsonFields(serde_json::Map::new());
        event.record(&mut fields);
        let now = bson::DateTime::now()
            .try_to_rfc3339_string()
            .unwrap_or_default();
        let line = serde_json::json!({
            "t": {"$date": now},
            "s": event.metadata().level().as_str(),
            "ctx": event.metadata().target(),
            "attr": fields.0,
        });
        push(line.to_string());
    }
}
