//! Outpost's black-box tests: each test starts a real server on `127.0.0.1:0` (in process, on
//! its own temporary storage) and talks to it as a client does, through the official `mongodb`
//! driver, raw sockets (`wire`) or mongosh (`mongosh`).
//!
//! Expected values come from MongoDB's documentation and behaviour (MongoDB 8.0), not from
//! what Outpost happens to answer. One binary for all areas, so the driver is linked once.
//!
//! The `kill -9` test in `persistence` runs the real `outpost` binary; it builds it with cargo
//! first (see `persistence::outpost_binary`). The mongosh test needs Node.js (`npx`).

mod aggregation;
mod auth;
mod auth_clients;
mod bulkwrite;
mod capped;
mod catalog;
mod changestreams;
mod collation;
mod compression;
mod concurrency;
mod connections;
mod crud;
mod cursors;
mod drivers;
mod errors;
mod exhaust;
mod find_options;
mod geo;
mod handshake;
mod hashed;
mod indexes;
mod limits;
mod model;
mod mongosh;
mod nesting;

mod persistence;
mod profile;
mod pymongo_suite;
mod query;
mod regex;
mod replset;
mod stable_api;
mod stats;
mod text_aggregation;
mod text_or;
mod text_search;
mod timeseries;
mod tls;
mod transactions;
mod validate;
mod views;
mod wire;
