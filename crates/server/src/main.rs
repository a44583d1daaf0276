//! The `outpost` binary: parses flags, sets up logging, runs the server until Ctrl-C or
//! SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use outpost_server::{Config, LogFormat, Server};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

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
    /// TOML config file; its keys are port, bind, dbpath, log_format, enable_test_commands,
    /// flush_interval_ms, cursor_timeout_secs and ttl_interval_secs. Flags given on the command
    /// line win.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Log format: text (for people) or json (one object per line, for machines).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Enables commands meant only for tests (configureFailPoint).
    #[arg(long)]
    enable_test_commands: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Commands::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let mut config = match &args.config {
        Some(path) => match Config::from_file(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("outpost: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
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
    config.argv = std::env::args().collect();
    init_logging(config.log_format);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
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
        tracing::info!("shutting down");
        match server.shutdown().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "flush at shutdown failed");
                ExitCode::FAILURE
            }
        }
    })
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("OUTPOST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(outpost_server::logbuf::LogBufferLayer);
    match format {
        LogFormat::Text => registry.with(tracing_subscriber::fmt::layer()).init(),
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
