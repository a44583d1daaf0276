//! `hello` and the legacy `isMaster`/`ismaster`: the handshake drivers send first and then
//! use for monitoring. Outpost is the primary of a single-node replica set (`setName`, default
//! `outpost`), or with `--standalone` a standalone server; always writable.

use bson::{doc, Bson, Document};
use outpost_wire::Compressor;

use super::{Action, Command, Counter, Request};
use crate::error::{Error, Result};
use crate::state::State;

/// The MongoDB release whose wire protocol and semantics Outpost follows.
pub const MONGODB_VERSION: &str = "8.0.0";
pub const MONGODB_VERSION_ARRAY: [i32; 4] = [8, 0, 0, 0];
/// Wire version of MongoDB 8.0.
pub const MAX_WIRE_VERSION: i32 = 25;
pub const MAX_WRITE_BATCH_SIZE: i32 = 100_000;
pub const LOGICAL_SESSION_TIMEOUT_MINUTES: i32 = 30;

pub static COMMAND: Command = Command {
    name: "hello",
    aliases: &[],
    help: "describes this server's role and limits (the driver handshake)",
    admin_only: false,
    action: Action::None,
    counter: Counter::Command,
    run: run_hello,
};

pub static IS_MASTER: Command = Command {
    name: "isMaster",
    aliases: &["ismaster"],
    help: "the legacy handshake: describes this server's role and limits",
    admin_only: false,
    action: Action::None,
    counter: Counter::Command,
    run: run_is_master,
};

fn run_hello(state: &State, req: &Request) -> Result<Document> {
    let compression = negotiate_compression(req, "hello")?;
    let mut out = reply(state, req, true);
    out.extend(compression);
    Ok(out)
}

fn run_is_master(state: &State, req: &Request) -> Result<Document> {
    let compression = negotiate_compression(req, "isMaster")?;
    let mut out = reply(state, req, false);
    out.extend(compression);
    Ok(out)
}

/// Compression, as mongod negotiates it: a `compression` list from the client is answered
/// with the compressors of it that Outpost implements (zstd, zlib), in the client's order, and
/// remembered for the connection (an empty answer is left out). Without the field, the
/// compressors negotiated before are repeated. Either side may then send OP_COMPRESSED; the
/// connection answers a compressed request compressed the same way.
fn negotiate_compression(req: &Request, command: &str) -> Result<Document> {
    let mut negotiated = req
        .conn
        .compressors
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match req.body.get("compression") {
        None => {}
        Some(Bson::Array(offered)) => {
            let mut accepted = Vec::new();
            for name in offered {
                let Bson::String(name) = name else {
                    return Err(Error::type_mismatch(format!(
                        "BSON field '{command}.compression' must be an array of strings, found \
                         an element of type '{}'",
                        outpost_storage::value::compare::type_name(name)
                    )));
                };
                if let Some(compressor) = Compressor::from_name(name) {
                    if !accepted.contains(&compressor) {
                        accepted.push(compressor);
                    }
                }
            }
            *negotiated = accepted;
        }
        Some(other) => {
            return Err(Error::type_mismatch(format!(
                "BSON field '{command}.compression' is the wrong type '{}', expected type 'array'",
                outpost_storage::value::compare::type_name(other)
            )))
        }
    }
    if negotiated.is_empty() {
        return Ok(Document::new());
    }
    let names: Vec<Bson> = negotiated.iter().map(|c| Bson::from(c.name())).collect();
    Ok(doc! {"compression": names})
}

/// The handshake reply; `modern` selects `isWritablePrimary` over `ismaster`.
pub fn reply(state: &State, req: &Request, modern: bool) -> Document {
    if let Ok(name) = req
        .body
        .get_document("client")
        .and_then(|c| c.get_document("application"))
        .and_then(|a| a.get_str("name"))
    {
        let _ = req.conn.app_name.set(name.to_owned());
    }
    let mut out = Document::new();
    if modern {
        out.insert("isWritablePrimary", true);
    } else {
        out.insert("ismaster", true);
    }
    if req.body.contains_key("helloOk") {
        out.insert("helloOk", true);
    }
    out.insert(
        "topologyVersion",
        doc! {"processId": state.process_id, "counter": 0_i64},
    );
    if !state.config.standalone {
        out.extend(replica_set_fields(state, req));
    }
    out.extend(doc! {
        "maxBsonObjectSize": i32::try_from(outpost_wire::MAX_BSON_OBJECT_SIZE).unwrap_or(i32::MAX),
        "maxMessageSizeBytes": i32::try_from(outpost_wire::MAX_MESSAGE_SIZE).unwrap_or(i32::MAX),
        "maxWriteBatchSize": MAX_WRITE_BATCH_SIZE,
        "localTime": bson::DateTime::now(),
        "logicalSessionTimeoutMinutes": LOGICAL_SESSION_TIMEOUT_MINUTES,
        "connectionId": req.conn.id,
        "minWireVersion": 0,
        "maxWireVersion": MAX_WIRE_VERSION,
        "readOnly": false,
    });
    if let Ok(name) = req.body.get_str("saslSupportedMechs") {
        if let Some(mechanisms) = crate::auth::supported_mechs(state, name) {
            out.insert("saslSupportedMechs", mechanisms);
        }
    }
    if let Ok(speculative) = req.body.get_document("speculativeAuthenticate") {
        if let Some(reply) = crate::auth::speculative(state, req.conn, speculative) {
            out.insert("speculativeAuthenticate", reply);
        }
    }
    out
}

/// What a replica set primary adds to the handshake: the set, its one member, the last write.
fn replica_set_fields(state: &State, req: &Request) -> Document {
    let me = crate::replset::member_host(state, req.conn);
    let ts = crate::replset::operation_time(state);
    let date = crate::replset::timestamp_date(ts);
    let op_time = crate::replset::op_time(ts);
    doc! {
        "hosts": [&me],
        "setName": &state.config.repl_set,
        "setVersion": 1_i32,
        "secondary": false,
        "primary": &me,
        "me": &me,
        "electionId": crate::replset::election_id(),
        "lastWrite": {
            "opTime": op_time.clone(),
            "lastWriteDate": date,
            "majorityOpTime": op_time,
            "majorityWriteDate": date,
        },
    }
}
