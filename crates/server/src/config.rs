//! Configuration: command-line flags over an optional TOML file over defaults.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// What an edge does with application writes that its instance query does not sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum WriteOutsideQuery {
    /// Refuse them with an error.
    #[default]
    Reject,
    /// Keep them local-only.
    Local,
}

/// Everything a server needs to start. Field names are also the keys of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// TCP port to listen on.
    pub port: u16,
    /// Address to listen on.
    pub bind: IpAddr,
    /// Data directory; `None` keeps the data in a temporary directory removed at exit.
    pub dbpath: Option<PathBuf>,
    pub log_format: LogFormat,
    /// Enables commands meant for tests only (`configureFailPoint`).
    pub enable_test_commands: bool,
    /// Interval of the background flush of acknowledged writes, in milliseconds.
    pub flush_interval_ms: u64,
    /// Memory for the storage engine's page cache, in MB.
    pub cache_size_mb: u64,
    /// Threads of the `outpost` binary's runtime: they serve the connections and run the
    /// small commands that skip the command pool (see `inline.rs`). `None`: half the cores,
    /// at least one. An application that embeds the server brings its own runtime and
    /// ignores this.
    pub worker_threads: Option<NonZeroUsize>,
    /// Idle time after which a cursor is closed, in seconds.
    pub cursor_timeout_secs: u64,
    /// Interval between passes removing documents past their TTL index's expiry, in seconds.
    pub ttl_interval_secs: u64,
    /// How long history log entries are kept after every sync consumer is past them, in
    /// hours. A server that neither syncs with a hub nor is one keeps its whole history (it
    /// may be registered with a hub later, and uploads start from the log).
    pub history_retention_hours: u64,
    /// Require authentication (`--auth`): every command but the handshake and authentication
    /// needs a user with a role that allows it.
    pub auth: bool,
    /// Allow listening on a non-loopback address without `auth` (warned about at start).
    pub insecure_disable_auth: bool,
    /// TLS: `disabled`, `prefer` (TLS and plain on one port) or `require`; unset means
    /// `require` when a certificate is given, else `disabled`.
    pub tls_mode: Option<crate::tls::TlsMode>,
    /// The server's certificate chain (PEM).
    pub tls_cert_file: Option<PathBuf>,
    /// The server's private key (PEM).
    pub tls_key_file: Option<PathBuf>,
    /// A CA (PEM): clients must then present a certificate it signed.
    pub tls_ca_file: Option<PathBuf>,
    /// Serve the hub role too: the sync protocol and hub admin commands (`outpost hub`).
    pub hub_mode: bool,
    /// A hub's Admin API HTTP port (same bind address and TLS as the wire port); 0 picks a
    /// free port; `None` serves no HTTP. `outpost hub` defaults to 8080.
    pub http_port: Option<u16>,
    /// The port of the server's own `/metrics` (Prometheus text) and `/healthz`, plain HTTP
    /// without authentication (TLS when the wire port has it), on the wire port's bind
    /// address; 0 picks a free port; `None` (the default) serves none.
    pub metrics_port: Option<u16>,
    /// How long an Admin API access token is valid, in seconds (Atlas': 30 minutes).
    pub admin_access_token_secs: u64,
    /// How long an Admin API refresh token is valid, in seconds (60 days, App Services'
    /// lifetime of a user's refresh token); after it, log in again.
    pub admin_refresh_token_secs: u64,
    /// The hub this edge syncs with (`mongodb://HOST:PORT`); `None`: no sync.
    pub hub: Option<String>,
    /// The one-time key to register with the hub (needed until an API key is stored).
    pub registration_key: Option<String>,
    /// The CA (PEM) that signed the hub's certificate, when the hub URI says `tls=true` and
    /// names no `tlsCAFile`; without either, the public web roots.
    pub hub_tls_ca_file: Option<PathBuf>,
    /// What happens to application writes into a synced collection outside the instance query
    /// or with an `_id` the service does not sync: `reject` or `local` (kept local-only).
    pub write_outside_query: WriteOutsideQuery,
    /// Pause between sync rounds while connected, in milliseconds.
    pub sync_interval_ms: u64,
    /// Longest pause between reconnection attempts (exponential backoff), in milliseconds.
    pub sync_max_backoff_ms: u64,
    /// Timeout of one sync request, in milliseconds.
    pub sync_timeout_ms: u64,
    /// Hours an edge keeps the documents of its ingest collections after the hub
    /// acknowledged them; 0 drops them as soon as it did.
    pub ingest_retention_hours: u64,
    /// The most client connections open at once; a connection over it is closed at once.
    pub max_conns: usize,
    /// Seconds a client has to send the rest of a message once its first byte arrived.
    pub message_timeout_secs: u64,
    /// Seconds a connection may stay open without completing its first message. Connections
    /// that have completed one are not timed out (drivers keep idle pooled connections).
    pub idle_timeout_secs: u64,
    /// Seconds a shutdown waits for connections to finish before closing them.
    pub shutdown_timeout_secs: u64,
    /// The replica set name `hello` reports (a single-node replica set, the primary).
    pub repl_set: String,
    /// Report a standalone server instead of a single-node replica set (no change streams,
    /// sessions' retryable writes or `$clusterTime`, as Outpost before 8.0 support).
    pub standalone: bool,
    /// The `HOST:PORT` the replica set advertises as its member (`me`, `hosts`, `primary`);
    /// `None`: the address each client connected to.
    pub advertise_host: Option<String>,
    /// Seconds a multi-document transaction may stay open before it is aborted
    /// (`transactionLifetimeLimitSeconds`).
    pub transaction_lifetime_limit_secs: u64,
    /// The command line, as `getCmdLineOpts` reports it.
    #[serde(skip)]
    pub argv: Vec<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            port: 27021,
            bind: IpAddr::from([127, 0, 0, 1]),
            dbpath: Some(PathBuf::from("./outpost-data")),
            log_format: LogFormat::Text,
            enable_test_commands: false,
            flush_interval_ms: 100,
            cache_size_mb: outpost_storage::DEFAULT_CACHE_SIZE_MB,
            worker_threads: None,
            cursor_timeout_secs: 600,
            ttl_interval_secs: 60,
            history_retention_hours: 24,
            auth: false,
            insecure_disable_auth: false,
            tls_mode: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_ca_file: None,
            hub_mode: false,
            http_port: None,
            metrics_port: None,
            admin_access_token_secs: 30 * 60,
            admin_refresh_token_secs: 60 * 24 * 3600,
            hub: None,
            registration_key: None,
            hub_tls_ca_file: None,
            write_outside_query: WriteOutsideQuery::Reject,
            sync_interval_ms: 1000,
            sync_max_backoff_ms: 60_000,
            sync_timeout_ms: 30_000,
            ingest_retention_hours: 24,
            max_conns: 1_000,
            message_timeout_secs: 30,
            idle_timeout_secs: 60,
            shutdown_timeout_secs: 10,
            repl_set: "outpost".into(),
            standalone: false,
            advertise_host: None,
            transaction_lifetime_limit_secs: 60,
            argv: Vec::new(),
        }
    }
}

impl Config {
    /// Reads a TOML config file; keys it does not name keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("invalid config file {}: {e}", path.display()))
    }

    /// The runtime's thread count: [`Config::worker_threads`], or half of `cores`, at least
    /// one. Writes are serialized, so a second runtime thread mostly hands them between
    /// threads; the other half of the cores is left to the command pool, the storage
    /// engine's threads and the applications beside the server (on a 2-core machine with
    /// the load generator beside it, one thread served 30-40% more inserts and updates than
    /// two, and as many finds by `_id` and pings: `benches/README.md`, run 10).
    pub fn worker_threads(&self, cores: usize) -> usize {
        self.worker_threads
            .map_or((cores / 2).max(1), NonZeroUsize::get)
    }

    pub fn cursor_timeout(&self) -> Duration {
        Duration::from_secs(self.cursor_timeout_secs)
    }

    pub fn transaction_lifetime(&self) -> Duration {
        Duration::from_secs(self.transaction_lifetime_limit_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_keys_are_read_from_the_config_file() {
        let config: Config = toml::from_str(
            r#"
            auth = true
            insecure_disable_auth = false
            tls_mode = "prefer"
            tls_cert_file = "/etc/outpost/server.pem"
            tls_key_file = "/etc/outpost/server-key.pem"
            tls_ca_file = "/etc/outpost/ca.pem"
            "#,
        )
        .unwrap();
        assert!(config.auth);
        assert_eq!(config.tls_mode, Some(crate::tls::TlsMode::Prefer));
        assert_eq!(
            config.tls_ca_file.as_deref(),
            Some(Path::new("/etc/outpost/ca.pem"))
        );
        assert!(toml::from_str::<Config>("tls_mode = \"sometimes\"").is_err());
    }

    #[test]
    fn worker_threads_default_to_half_the_cores() {
        let default = Config::default();
        assert_eq!(default.worker_threads(1), 1);
        assert_eq!(default.worker_threads(2), 1);
        assert_eq!(default.worker_threads(8), 4);
        let config: Config = toml::from_str("worker_threads = 3").unwrap();
        assert_eq!(config.worker_threads(2), 3);
        assert!(toml::from_str::<Config>("worker_threads = 0").is_err());
    }

    #[test]
    fn the_metrics_port_is_off_unless_given() {
        assert_eq!(Config::default().metrics_port, None);
        let config: Config = toml::from_str("metrics_port = 9216").unwrap();
        assert_eq!(config.metrics_port, Some(9216));
        assert!(toml::from_str::<Config>("metrics_port = 70000").is_err());
    }
}
