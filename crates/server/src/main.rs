//! The `outpost` binary: parses flags, sets up logging, runs the server until Ctrl-C or
//! SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use outpost_server::{Config, LogFormat, Server};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The binary's allocator (jemalloc does not build with MSVC; there the binary keeps the
/// system allocator).
#[cfg(not(target_env = "msvc"))]
mod allocator {
    /// The binary's allocator: jemalloc. With glibc's malloc, a request's buffers are allocated
    /// on one thread and freed on another (a connection's task moves between the runtime's
    /// threads, a command runs on the pool's), so most allocations missed the thread cache and
    /// took glibc's slow path: `_int_malloc` alone was 20% of the server's CPU in a find by `_id`.
    /// jemalloc (as TiKV and many Rust databases use it, and as mongod uses tcmalloc) serves them
    /// from its thread caches, and returns freed pages to the system on its own background
    /// threads. mimalloc was tried too: as fast, but it held twice the RSS after the load run.
    #[global_allocator]
    static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

    /// A C string pointer that may live in a `static`.
    #[repr(transparent)]
    struct ConfString(*const std::ffi::c_char);

    // SAFETY: it points to a string literal, immutable for the whole program.
    unsafe impl Sync for ConfString {}

    /// jemalloc's options (its `malloc_conf` symbol, read when it starts): two arenas for a
    /// 2-core appliance, dirty pages returned after a second by a background thread instead of
    /// ten seconds on the allocating threads. `MALLOC_CONF` in the environment still overrides.
    #[allow(non_upper_case_globals)]
    #[export_name = "malloc_conf"]
    static malloc_conf: ConfString = ConfString(
        c"background_thread:true,narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr(),
    );
}

/// Outpost: a MongoDB-compatible edge database that keeps working offline.
#[derive(Parser)]
#[command(name = "outpost", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Runs the database server (the edge role). mongosh and MongoDB drivers connect to it.
    Serve(ServeArgs),
    /// Runs a hub (the cloud side of sync), or manages a running hub's edge instances.
    Hub(HubArgs),
    /// Manages the users of a stopped server's data directory.
    #[command(subcommand)]
    User(UserCommands),
    /// Shows a running server's sync status.
    Status {
        /// The server to ask.
        #[arg(long, default_value = "mongodb://127.0.0.1:27021")]
        host: String,
    },
}

#[derive(Subcommand)]
enum UserCommands {
    /// Adds a user (e.g. the first one, for --auth). The server must be stopped. The password
    /// is read from a prompt, or from the first line of standard input when it is not a
    /// terminal; never from a flag.
    Add {
        /// The data directory of the (stopped) server.
        #[arg(long)]
        dbpath: PathBuf,
        /// The user's name.
        name: String,
        /// A role, as ROLE (on admin) or ROLE@DB; repeat for several. E.g. root, readWrite@shop.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The database the user belongs to (where it authenticates).
        #[arg(long, default_value = "admin")]
        db: String,
    },
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct HubArgs {
    #[command(subcommand)]
    command: Option<HubCommands>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum HubCommands {
    /// Manages the edge instances of a running hub.
    #[command(subcommand)]
    Edge(EdgeCommands),
    /// Manages the API keys of a running hub's Admin API (HTTP, --http-port).
    #[command(subcommand)]
    Apikey(ApikeyCommands),
}

#[derive(Subcommand)]
enum ApikeyCommands {
    /// Creates an API key; prints JSON {"public_key", "private_key"}: the private key is shown
    /// only now (the hub keeps a slow hash of it). Log in with them at
    /// /api/admin/v3.0/auth/providers/mongodb-cloud/login.
    Create {
        /// The hub, as mongodb://HOST:PORT (its wire port).
        #[arg(long)]
        hub: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum EdgeCommands {
    /// Creates an edge instance; prints JSON with its id and one-time registration_key.
    Create {
        /// The hub, as mongodb://HOST:PORT.
        #[arg(long)]
        hub: String,
        #[arg(long)]
        name: String,
        /// edge (ObjectId _ids only) or device-sync (also string, int32, int64, UUID).
        #[arg(long, default_value = "edge")]
        service: String,
        /// Instance query as JSON, e.g. '{"shop.items": "store_id == 42"}' [default: {"*": "TRUEPREDICATE"}].
        #[arg(long)]
        query: Option<String>,
        /// Database that bare collection names in the query refer to.
        #[arg(long, default_value = "test")]
        default_db: String,
    },
    /// Lists the hub's edge instances as JSON.
    List {
        #[arg(long)]
        hub: String,
    },
    /// Changes an edge instance's query.
    SetQuery {
        #[arg(long)]
        hub: String,
        id: String,
        /// Instance query as JSON.
        query: String,
    },
    /// Deletes an edge instance: its keys stop working (the edge keeps its local data).
    Delete {
        #[arg(long)]
        hub: String,
        id: String,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TCP port to listen on [default: 27021, or the config file's `port`].
    #[arg(long)]
    port: Option<u16>,
    /// Address to listen on; 0.0.0.0 listens on every interface [default: 127.0.0.1].
    #[arg(long)]
    bind: Option<std::net::IpAddr>,
    /// Data directory, created if missing [default: ./outpost-data].
    #[arg(long)]
    dbpath: Option<PathBuf>,
    /// TOML config file; its keys are port, bind, dbpath, metrics_port, http_port,
    /// log_format, enable_test_commands, auth, insecure_disable_auth, tls_mode, tls_cert_file,
    /// tls_key_file, tls_ca_file, flush_interval_ms, cache_size_mb, worker_threads,
    /// cursor_timeout_secs, ttl_interval_secs, history_retention_hours, max_conns,
    /// message_timeout_secs, idle_timeout_secs, shutdown_timeout_secs, repl_set, standalone,
    /// advertise_host, transaction_lifetime_limit_secs, and for sync hub, registration_key,
    /// hub_tls_ca_file, write_outside_query, sync_interval_ms, sync_max_backoff_ms,
    /// ingest_retention_hours and sync_timeout_ms. Flags given on the command line win.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Log format: text (for people) or json (one object per line, for machines).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Enables commands meant only for tests (configureFailPoint).
    #[arg(long)]
    enable_test_commands: bool,
    /// Requires authentication: every command but the handshake needs a user (config file
    /// key `auth`). Create the first user with `outpost user add` or, from 127.0.0.1, with
    /// createUser on admin (the localhost exception).
    #[arg(long)]
    auth: bool,
    /// Allows listening on a non-loopback address without --auth (config file key
    /// `insecure_disable_auth`). Anyone who can reach the port can then read and change
    /// every database.
    #[arg(long)]
    insecure_disable_auth: bool,
    /// TLS: disabled, prefer (TLS and plain on one port) or require [default: require when
    /// --tls-cert-file is given, else disabled] (config file key `tls_mode`).
    #[arg(long, value_enum)]
    tls_mode: Option<outpost_server::TlsMode>,
    /// The server's certificate chain, PEM (config file key `tls_cert_file`).
    #[arg(long)]
    tls_cert_file: Option<PathBuf>,
    /// The server's private key, PEM (config file key `tls_key_file`).
    #[arg(long)]
    tls_key_file: Option<PathBuf>,
    /// A CA certificate, PEM: clients must present a certificate it signed (config file key
    /// `tls_ca_file`).
    #[arg(long)]
    tls_ca_file: Option<PathBuf>,
    /// A hub's Admin API HTTP port, on the same address and with the same TLS as --port; 0
    /// picks a free port (logged) (config file key `http_port`) [default for `outpost hub`:
    /// 8080].
    #[arg(long)]
    http_port: Option<u16>,
    /// Serves this server's own /metrics (Prometheus text) and /healthz over HTTP on this
    /// port, on the --bind address, without authentication (with TLS when --port has it); 0
    /// picks a free port (logged) (config file key `metrics_port`) [default: none].
    #[arg(long)]
    metrics_port: Option<u16>,
    /// The hub to sync with, as mongodb://HOST:PORT (config file key `hub`).
    #[arg(long)]
    hub: Option<String>,
    /// One-time key from `outpost hub edge create`, exchanged for an API key at the first
    /// connection (config file key `registration_key`).
    #[arg(long)]
    registration_key: Option<String>,
    /// Writes into a synced collection outside the instance query: reject or local.
    #[arg(long, value_enum)]
    write_outside_query: Option<outpost_server::WriteOutsideQuery>,
    /// Hours an edge keeps documents of its ingest collections after the hub acknowledged
    /// them; 0 drops them once acknowledged (config file key `ingest_retention_hours`)
    /// [default: 24].
    #[arg(long)]
    ingest_retention_hours: Option<u64>,
    /// Memory for the storage engine's page cache, in MB [default: 24, or the config file's
    /// `cache_size_mb`].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    cache_size_mb: Option<u64>,
    /// Threads that serve connections and run small commands (the other commands run on the
    /// command pool's threads) [default: half the cores, at least 1, or the config file's
    /// `worker_threads`].
    #[arg(long)]
    worker_threads: Option<std::num::NonZeroUsize>,
    /// Most client connections open at once; more are closed at once and logged
    /// [default: 1000, or the config file's `max_conns`].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max_conns: Option<u32>,
    /// The replica set name reported to drivers (config file key `repl_set`) [default: outpost].
    #[arg(long = "replSet")]
    repl_set: Option<String>,
    /// Report a standalone server instead of a single-node replica set: drivers then use no
    /// retryable writes and refuse change streams (config file key `standalone`).
    #[arg(long)]
    standalone: bool,
    /// The HOST:PORT advertised as the replica set member (config file key `advertise_host`)
    /// [default: the address each client connected to].
    #[arg(long)]
    advertise_host: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Commands::Serve(args) => serve(args, false),
        Commands::Status { host } => status(&host),
        Commands::User(UserCommands::Add {
            dbpath,
            name,
            roles,
            db,
        }) => user_add(&dbpath, &name, &roles, &db),
        Commands::Hub(HubArgs {
            command: Some(HubCommands::Edge(command)),
            ..
        }) => edge_command(command),
        Commands::Hub(HubArgs {
            command: Some(HubCommands::Apikey(ApikeyCommands::Create { hub, name })),
            ..
        }) => hub_request(&hub, bson::doc! {"outpostHubCreateApiKey": 1, "name": name}),
        Commands::Hub(HubArgs {
            command: None,
            serve: args,
        }) => serve(args, true),
    }
}

/// `outpost status`: the sync status, for a person.
fn status(host: &str) -> ExitCode {
    use outpost_server::hub::client::HubClient;
    let reply = HubClient::connect(host, std::time::Duration::from_secs(10))
        .and_then(|mut client| client.command(bson::doc! {"outpostSyncStatus": 1}));
    let status = match reply {
        Ok(status) => status,
        Err(e) => {
            eprintln!("outpost: {e}");
            return ExitCode::FAILURE;
        }
    };
    let show = |key: &str| match status.get(key) {
        None | Some(bson::Bson::Null) => "-".to_string(),
        Some(bson::Bson::String(s)) => s.clone(),
        Some(other) => other.clone().into_relaxed_extjson().to_string(),
    };
    if status.get_bool("isHub").unwrap_or(false) {
        println!("role:                 hub");
    }
    for (label, key) in [
        ("sync state", "state"),
        ("hub", "hub"),
        ("edge id", "edgeId"),
        ("connected", "connected"),
        ("last successful sync", "lastSuccessfulSync"),
        ("last error", "lastError"),
        ("upload backlog", "uploadBacklogEntries"),
        ("upload backlog bytes", "uploadBacklogBytes"),
        ("download lag", "downloadLagEntries"),
        ("uploaded changes", "uploadedChanges"),
        ("downloaded changes", "downloadedChanges"),
        ("skipped by reason", "skipped"),
        ("instance query", "query"),
        ("status at the hub", "hubStatus"),
        ("last reset", "lastReset"),
    ] {
        if status.contains_key(key) {
            println!("{:<22}{}", format!("{label}:"), show(key));
        }
    }
    ExitCode::SUCCESS
}

/// `outpost hub edge ...`: one request to a running hub, JSON on stdout.
fn edge_command(command: EdgeCommands) -> ExitCode {
    use bson::{doc, Bson, Document};

    fn parse_query(text: &str) -> Result<Bson, String> {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("the query is not valid JSON: {e}"))?;
        match Bson::try_from(json).map_err(|e| format!("invalid query: {e}"))? {
            query @ (Bson::Document(_) | Bson::String(_)) => Ok(query),
            _ => Err("the query must be a JSON object (or a query string)".into()),
        }
    }
    let (hub, request): (String, Result<Document, String>) = match command {
        EdgeCommands::Create {
            hub,
            name,
            service,
            query,
            default_db,
        } => {
            let request = match query.as_deref().map(parse_query).transpose() {
                Ok(query) => {
                    let mut request = doc! {"outpostHubCreateEdge": 1, "name": name, "service": service, "defaultDb": default_db};
                    if let Some(query) = query {
                        request.insert("query", query);
                    }
                    Ok(request)
                }
                Err(e) => Err(e),
            };
            (hub, request)
        }
        EdgeCommands::List { hub } => (hub, Ok(doc! {"outpostHubListEdges": 1})),
        EdgeCommands::SetQuery { hub, id, query } => {
            let request = parse_query(&query)
                .map(|query| doc! {"outpostHubSetEdgeQuery": 1, "id": id, "query": query});
            (hub, request)
        }
        EdgeCommands::Delete { hub, id } => (hub, Ok(doc! {"outpostHubDeleteEdge": 1, "id": id})),
    };
    match request {
        Ok(request) => hub_request(&hub, request),
        Err(e) => {
            eprintln!("outpost: {e}");
            ExitCode::from(2)
        }
    }
}

/// One admin command to a running hub; its reply as JSON on stdout.
fn hub_request(hub: &str, request: bson::Document) -> ExitCode {
    use bson::Bson;
    use outpost_server::hub::client::HubClient;
    let reply = HubClient::connect(hub, std::time::Duration::from_secs(10))
        .and_then(|mut client| client.command(request));
    match reply {
        Ok(mut reply) => {
            reply.remove("ok");
            let json = Bson::Document(reply).into_relaxed_extjson();
            println!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_else(|_| json.to_string())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("outpost: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs, hub_mode: bool) -> ExitCode {
    let mut config = match &args.config {
        Some(path) => match Config::from_file(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("outpost: {e}");
                return ExitCode::from(2);
            }
        },
        None if hub_mode => Config {
            port: 27017,
            dbpath: Some(PathBuf::from("./outpost-hub")),
            ..Config::default()
        },
        None => Config::default(),
    };
    config.hub_mode |= hub_mode;
    if let Some(port) = args.http_port {
        config.http_port = Some(port);
    } else if config.hub_mode && config.http_port.is_none() {
        config.http_port = Some(8080);
    }
    if let Some(port) = args.metrics_port {
        config.metrics_port = Some(port);
    }
    if let Some(hub) = args.hub {
        config.hub = Some(hub);
    }
    if let Some(key) = args.registration_key {
        config.registration_key = Some(key);
    }
    if let Some(cache_size_mb) = args.cache_size_mb {
        config.cache_size_mb = cache_size_mb;
    }
    if let Some(threads) = args.worker_threads {
        config.worker_threads = Some(threads);
    }
    if let Some(max_conns) = args.max_conns {
        config.max_conns = usize::try_from(max_conns).unwrap_or(usize::MAX);
    }
    if let Some(mode) = args.write_outside_query {
        config.write_outside_query = mode;
    }
    if let Some(hours) = args.ingest_retention_hours {
        config.ingest_retention_hours = hours;
    }
    if let Some(port) = args.port {
        config.port = port;
    }
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    if let Some(dbpath) = args.dbpath {
        config.dbpath = Some(dbpath);
    }
    if let Some(format) = args.log_format {
        config.log_format = format;
    }
    config.enable_test_commands |= args.enable_test_commands;
    if let Some(name) = args.repl_set {
        config.repl_set = name;
    }
    config.standalone |= args.standalone;
    if let Some(host) = args.advertise_host {
        config.advertise_host = Some(host);
    }
    if config.repl_set.is_empty() || config.repl_set.contains('/') {
        eprintln!("outpost: the replica set name must be non-empty and hold no '/'");
        return ExitCode::from(2);
    }
    if let Some(host) = &config.advertise_host {
        let valid = host
            .rsplit_once(':')
            .is_some_and(|(name, port)| !name.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            eprintln!("outpost: --advertise-host must be HOST:PORT, got '{host}'");
            return ExitCode::from(2);
        }
    }
    config.auth |= args.auth;
    config.insecure_disable_auth |= args.insecure_disable_auth;
    if let Some(mode) = args.tls_mode {
        config.tls_mode = Some(mode);
    }
    if let Some(path) = args.tls_cert_file {
        config.tls_cert_file = Some(path);
    }
    if let Some(path) = args.tls_key_file {
        config.tls_key_file = Some(path);
    }
    if let Some(path) = args.tls_ca_file {
        config.tls_ca_file = Some(path);
    }
    config.argv = std::env::args().collect();
    init_logging(config.log_format);

    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let worker_threads = config.worker_threads(cores);
    tracing::info!(worker_threads, cores, "starting the runtime");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("outpost: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let server = match Server::builder().config(config).start().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                return ExitCode::FAILURE;
            }
        };
        wait_for_signal().await;
        tracing::info!("shutting down (a second Ctrl-C or SIGTERM exits at once)");
        tokio::select! {
            result = server.shutdown() => match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "flush at shutdown failed");
                    ExitCode::FAILURE
                }
            },
            _ = wait_for_signal() => {
                // Acknowledged writes are in sled's log; at most the last flush interval of
                // unflushed ones is lost, as after a crash.
                // Exit here rather than return: dropping the runtime would wait for commands
                // still running.
                tracing::warn!("second signal: exiting without waiting for connections");
                std::process::exit(130)
            }
        }
    })
}

/// `outpost user add`: a user written straight into a stopped server's data directory (the
/// database's lock makes this fail while a server has it open).
fn user_add(dbpath: &std::path::Path, name: &str, roles: &[String], db: &str) -> ExitCode {
    use outpost_server::auth::{self, RoleRef};
    let roles: Result<Vec<RoleRef>, _> = roles.iter().map(|r| RoleRef::parse_flag(r)).collect();
    let roles = match roles {
        Ok(roles) => roles,
        Err(e) => {
            eprintln!("outpost: {e}");
            return ExitCode::from(2);
        }
    };
    if !dbpath.is_dir() {
        eprintln!("outpost: {} is not a data directory", dbpath.display());
        return ExitCode::from(2);
    }
    let password = match auth::read_password() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("outpost: cannot read the password: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = (|| -> Result<(), String> {
        let storage = outpost_storage::Storage::open(dbpath, Default::default()).map_err(|e| {
            format!(
                "cannot open {} (is the server stopped?): {e}",
                dbpath.display()
            )
        })?;
        let users = auth::Users::open(&storage).map_err(|e| e.to_string())?;
        let user = auth::new_user(db, name, &password, roles, &auth::default_mechanisms())
            .map_err(|e| e.to_string())?;
        users.create(user).map_err(|e| e.to_string())?;
        storage.flush().map_err(|e| e.to_string())
    })();
    match result {
        Ok(()) => {
            println!("created user {name}@{db}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("outpost: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("OUTPOST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(outpost_server::logbuf::LogBufferLayer);
    match format {
        // Colours for a terminal only: a log file or a pipe gets plain text.
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
            )
            .init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json())
            .init(),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
