//! Outpost's database: catalog, documents and indexes on sled, the query language and the
//! history log.
//!
//! Architecture invariant: a write, its index entries and its history entry commit together or
//! not at all. This crate knows nothing of sockets, commands or sync peers.

pub mod agg;
mod engine;
mod error;
pub mod geo;
pub mod pcre;
pub mod query;
pub mod text;
pub mod value;

pub use engine::*;
pub use error::{DuplicateKey, Error, Result};
