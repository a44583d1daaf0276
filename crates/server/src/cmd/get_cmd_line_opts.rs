//! `getCmdLineOpts`: the command line and the options it resolved to.

use bson::{doc, Document};

use super::{Action, Command, Counter, Request};
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "getCmdLineOpts",
    aliases: &[],
    help: "the command line this server was started with and the parsed options",
    admin_only: true,
    action: Action::ClusterMonitor,
    counter: Counter::Command,
    run,
};

fn run(state: &State, _req: &Request) -> Result<Document> {
    let config = &state.config;
    let dbpath = config
        .dbpath
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(temporary)".into());
    Ok(doc! {
        "argv": redacted(&config.argv),
        "parsed": {
            "net": {"port": i32::from(state.local_addr.port()), "bindIp": config.bind.to_string()},
            "storage": {"dbPath": dbpath, "flushIntervalMs": i64::try_from(config.flush_interval_ms).unwrap_or(i64::MAX), "cacheSizeMB": i64::try_from(config.cache_size_mb).unwrap_or(i64::MAX)},
            "setParameter": {"enableTestCommands": config.enable_test_commands},
            "security": {"authorization": if config.auth { "enabled" } else { "disabled" }},
        },
    })
}

/// Flags whose values are secrets: their values are shown as `<redacted>`, as mongod does.
const SECRET_FLAGS: &[&str] = &["--registration-key"];

fn redacted(argv: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut hide_next = false;
    for arg in argv {
        if hide_next {
            out.push("<redacted>".to_owned());
            hide_next = false;
            continue;
        }
        match SECRET_FLAGS.iter().find(|flag| arg.starts_with(**flag)) {
            Some(flag) if arg.len() == flag.len() => {
                hide_next = true;
                out.push(arg.clone());
            }
            Some(flag) if arg[flag.len()..].starts_with('=') => {
                out.push(format!("{flag}=<redacted>"));
            }
            _ => out.push(arg.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_both_spellings() {
        let argv: Vec<String> = [
            "outpost",
            "serve",
            "--registration-key",
            "k1",
            "--registration-key=k2",
            "--port",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let shown = redacted(&argv);
        assert!(
            !shown.iter().any(|a| a.contains("k1") || a.contains("k2")),
            "{shown:?}"
        );
        assert_eq!(shown[3], "<redacted>");
        assert_eq!(shown[4], "--registration-key=<redacted>");
        assert_eq!(shown[6], "1");
    }
}
