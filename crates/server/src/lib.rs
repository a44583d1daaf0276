//! Outpost's server: everything that touches a socket or a user. The tokio listener and
//! connections, command dispatch (one module per command in [`cmd`]), configuration, metrics
//! and logs. Embeddable:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let config = outpost_server::Config { dbpath: None, ..Default::default() };
//! let server = outpost_server::Server::builder().config(config).start_on(listener).await?;
//! println!("mongodb://{}", server.local_addr());
//! server.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod admin_api;
mod args;
pub mod auth;
mod change_stream;
pub mod cmd;
pub mod config;
mod connection;
mod cursor;
mod error;
mod exhaust;
mod failpoint;
mod http;
pub mod hub;
mod inline;
pub mod logbuf;
mod metrics;
mod metrics_port;
mod pool;
mod profiler;
mod prometheus;
mod replset;

mod server;
mod sessions;
mod stable_api;
mod state;
mod tail;
pub mod tls;
mod txn;

pub use config::{Config, LogFormat, WriteOutsideQuery};
pub use error::{code_name, Error};
pub use server::{Server, ServerBuilder, ServerHandle, StartError};
pub use tls::TlsMode;
