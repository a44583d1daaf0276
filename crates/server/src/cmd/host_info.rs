//! `hostInfo`: the machine the server runs on.

use bson::{doc, Document};

use super::{Action, Command, Counter, Request};
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "hostInfo",
    aliases: &[],
    help: "the host system: name, CPU count and architecture, memory, operating system",
    admin_only: false,
    action: Action::ClusterMonitor,
    counter: Counter::Command,
    run,
};

fn run(_state: &State, _req: &Request) -> Result<Document> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    Ok(doc! {
        "system": {
            "currentTime": bson::DateTime::now(),
            "hostname": hostname(),
            "cpuAddrSize": 64,
            "memSizeMB": i64::try_from(proc_meminfo_kb("MemTotal:") / 1024).unwrap_or(0),
            "numCores": i32::try_from(cores).unwrap_or(1),
            "cpuArch": std::env::consts::ARCH,
        },
        "os": {"type": os_type(), "name": std::env::consts::OS},
        "extra": {},
    })
}

fn os_type() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        "windows" => "Windows",
        other => other,
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// A field of /proc/meminfo in kB (0 where there is no /proc).
fn proc_meminfo_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}
