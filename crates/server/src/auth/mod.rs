//! Authentication and authorization.
//!
//! A connection authenticates through `saslStart`/`saslContinue` (or `speculativeAuthenticate`
//! in `hello`) with SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN; it then acts as one or more users
//! ([`ConnAuth`]). With `--auth`, [`authorize`] checks each command's [`Action`] against the
//! roles those users have now (read from the user records at each command, so a dropped user
//! or a revoked role takes effect at once). Without `--auth` every command is allowed.

pub mod roles;
pub mod scram;
pub mod scram_client;
pub mod users;

use bson::{doc, spec::BinarySubtype, Binary, Bson, Document};

pub use roles::{Action, RoleRef};
use scram::{Scram, ScramServer};
pub use users::{new_user, UserRecord, Users};

use crate::error::{Error, Result};
use crate::state::{ConnInfo, State};

/// One authenticated user of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub db: String,
}

/// A connection's authentication state.
#[derive(Debug, Default)]
pub struct ConnAuth {
    pub users: Vec<Principal>,
    conversation: Option<Conversation>,
    next_conversation_id: i32,
}

#[derive(Debug)]
struct Conversation {
    id: i32,
    db: String,
    /// The client asked (`options.skipEmptyExchange`) to finish with the server's signature.
    skip_empty_exchange: bool,
    step: Step,
}

#[derive(Debug)]
enum Step {
    /// Waiting for `client-final-message`.
    Proof(Box<ScramServer>),
    /// Proof accepted and `v=` sent; waiting for the client's empty closing message.
    Done,
}

/// The connection's state, poison-tolerant (a panicking command must not lock others out).
pub fn lock(conn: &ConnInfo) -> std::sync::MutexGuard<'_, ConnAuth> {
    conn.auth
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn payload_bytes(body: &Document, command: &str) -> Result<Vec<u8>> {
    match body.get("payload") {
        Some(Bson::Binary(binary)) => Ok(binary.bytes.clone()),
        Some(Bson::String(text)) => Ok(text.clone().into_bytes()),
        Some(_) => Err(Error::type_mismatch(format!(
            "{command}: payload must be BinData or a string"
        ))),
        None => Err(Error::new(
            4,
            format!("{command}: missing required field 'payload'"),
        )),
    }
}

fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    })
}

fn parse_mechanism(name: &str) -> Result<Option<Scram>> {
    match name {
        "SCRAM-SHA-256" => Ok(Some(Scram::Sha256)),
        "SCRAM-SHA-1" => Ok(Some(Scram::Sha1)),
        "PLAIN" => Ok(None),
        other => Err(Error::new(
            334,
            format!(
                "Received authentication for mechanism {other} which is unknown or not enabled"
            ),
        )),
    }
}

/// An edge queues its authentication records for its hub's logs.
fn log_for_hub(state: &State, level: &str, message: String, user: &str, db: &str) {
    if state.sync_status.is_some() {
        state
            .edge_logs
            .push("auth", level, message, Some(format!("{user}@{db}")));
    }
}

fn failed(state: &State, conn: &ConnInfo, mechanism: &str, user: &str, db: &str) -> Error {
    log_for_hub(
        state,
        "warn",
        format!("authentication failed ({mechanism}) from {}", conn.peer),
        user,
        db,
    );
    tracing::warn!(
        remote = %conn.peer,
        connection_id = conn.id,
        mechanism,
        user,
        db,
        "authentication failed"
    );
    Error::authentication_failed()
}

fn succeeded(state: &State, conn: &ConnInfo, mechanism: &str, user: &str, db: &str) {
    log_for_hub(
        state,
        "info",
        format!("authenticated ({mechanism}) from {}", conn.peer),
        user,
        db,
    );
    tracing::info!(remote = %conn.peer, connection_id = conn.id, mechanism, user, db, "authenticated");
    let mut auth = lock(conn);
    let principal = Principal {
        user: user.to_owned(),
        db: db.to_owned(),
    };
    // One user per connection, as mongod 5.0 and later: a new login replaces the old one.
    auth.users = vec![principal];
}

/// `saslStart` (also the body of `speculativeAuthenticate`).
pub fn sasl_start(state: &State, conn: &ConnInfo, db: &str, body: &Document) -> Result<Document> {
    let mechanism_name = body
        .get_str("mechanism")
        .map_err(|_| Error::bad_value("saslStart: 'mechanism' must be a string"))?;
    let payload = payload_bytes(body, "saslStart")?;
    let skip_empty_exchange = body
        .get_document("options")
        .ok()
        .and_then(|o| o.get("skipEmptyExchange"))
        .is_some_and(|v| matches!(v, Bson::Boolean(true)) || v.as_i32().is_some_and(|n| n != 0));
    let Some(mechanism) = parse_mechanism(mechanism_name)? else {
        return plain(state, conn, db, &payload);
    };
    if db == "$external" {
        return Err(Error::new(
            334,
            format!("{mechanism_name} authentication is not supported on the $external database"),
        ));
    }
    let first = scram::parse_client_first(&payload)?;
    let user = first.user.clone();
    let Some(credential) = state
        .users
        .get(db, &user)?
        .and_then(|u| u.credentials.get(mechanism).cloned())
    else {
        return Err(failed(state, conn, mechanism_name, &user, db));
    };
    let (server, reply) = ScramServer::start(mechanism, first, credential)?;
    let mut auth = lock(conn);
    auth.next_conversation_id = auth.next_conversation_id.wrapping_add(1).max(1);
    let id = auth.next_conversation_id;
    auth.conversation = Some(Conversation {
        id,
        db: db.to_owned(),
        skip_empty_exchange,
        step: Step::Proof(Box::new(server)),
    });
    drop(auth);
    Ok(doc! {"conversationId": id, "done": false, "payload": binary(reply)})
}

/// `saslContinue`: the client's proof, then (unless the client skips it) an empty message.
pub fn sasl_continue(
    state: &State,
    conn: &ConnInfo,
    db: &str,
    body: &Document,
) -> Result<Document> {
    let id = match body.get("conversationId") {
        Some(Bson::Int32(n)) => *n,
        Some(Bson::Int64(n)) => i32::try_from(*n).unwrap_or(-1),
        Some(Bson::Double(n)) if n.fract() == 0.0 && n.abs() < 1e9 => *n as i32,
        _ => {
            return Err(Error::bad_value(
                "saslContinue: 'conversationId' must be a number",
            ))
        }
    };
    let payload = payload_bytes(body, "saslContinue")?;
    let conversation = lock(conn).conversation.take();
    let Some(conversation) = conversation.filter(|c| c.id == id && c.db == db) else {
        return Err(Error::new(17, "No SASL session state found"));
    };
    match conversation.step {
        Step::Proof(server) => match server.finish(&payload) {
            Ok(server_final) => {
                succeeded(state, conn, server.mechanism().name(), &server.user, db);
                let done = conversation.skip_empty_exchange;
                if !done {
                    // The client sends one more, empty, message.
                    lock(conn).conversation = Some(Conversation {
                        step: Step::Done,
                        ..conversation
                    });
                }
                Ok(doc! {"conversationId": id, "done": done, "payload": binary(server_final)})
            }
            Err(e) if e.code() == 18 => Err(failed(
                state,
                conn,
                server.mechanism().name(),
                &server.user,
                db,
            )),
            Err(e) => Err(e),
        },
        Step::Done => Ok(doc! {"conversationId": id, "done": true, "payload": binary(Vec::new())}),
    }
}

/// PLAIN: `[authzid]\0user\0password` against the users of `admin` (as Atlas Edge Server).
fn plain(state: &State, conn: &ConnInfo, db: &str, payload: &[u8]) -> Result<Document> {
    if db != "$external" {
        return Err(Error::new(
            334,
            "PLAIN authentication is only supported on the $external database (the users of admin)",
        ));
    }
    let mut parts = payload.split(|b| *b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::new(17, "PLAIN: malformed payload"));
    };
    let (Ok(authzid), Ok(user), Ok(password)) = (
        std::str::from_utf8(authzid),
        std::str::from_utf8(user),
        std::str::from_utf8(password),
    ) else {
        return Err(Error::new(17, "PLAIN: the payload is not UTF-8"));
    };
    if !authzid.is_empty() && authzid != user {
        return Err(failed(state, conn, "PLAIN", user, db));
    }
    let record = state.users.get("admin", user)?;
    let verified = record.is_some_and(|record| {
        let creds = &record.credentials;
        match (&creds.scram_sha256, &creds.scram_sha1) {
            (Some(c), _) => Scram::Sha256.verify_password(c, user, password),
            (None, Some(c)) => Scram::Sha1.verify_password(c, user, password),
            (None, None) => false,
        }
    });
    if !verified {
        // Logged as the admin user it tried to be.
        return Err(failed(state, conn, "PLAIN", user, "admin"));
    }
    // The principal is the admin user whose password was checked.
    succeeded(state, conn, "PLAIN", user, "admin");
    Ok(doc! {"conversationId": 1, "done": true, "payload": binary(Vec::new())})
}

/// `hello`'s `speculativeAuthenticate`: the saslStart's reply, or nothing when it failed
/// (the driver then authenticates the usual way and sees the error there).
pub fn speculative(state: &State, conn: &ConnInfo, body: &Document) -> Option<Document> {
    let db = body.get_str("db").ok()?;
    // dispatch validates a command's database; this one comes inside hello's body.
    if db != "$external" && outpost_storage::validate_db_name(db).is_err() {
        return None;
    }
    if body.contains_key("saslStart") {
        return sasl_start(state, conn, db, body).ok();
    }
    None
}

/// `hello`'s `saslSupportedMechs: "db.user"`: the user's mechanisms, if the user exists.
pub fn supported_mechs(state: &State, name: &str) -> Option<Vec<Bson>> {
    let (db, user) = name.split_once('.')?;
    let record = state.users.get(db, user).ok()??;
    Some(record.credentials.mechanisms())
}

/// `logout`: forgets the users authenticated on `db` (on any, as mongod 5+ does with one user).
pub fn logout(conn: &ConnInfo) {
    let mut auth = lock(conn);
    auth.users.clear();
    auth.conversation = None;
}

/// The roles of the connection's users, as they are now.
pub fn current_roles(state: &State, conn: &ConnInfo) -> Result<Vec<(Principal, Vec<RoleRef>)>> {
    let principals = lock(conn).users.clone();
    let mut out = Vec::new();
    for principal in principals {
        let roles = state
            .users
            .get(&principal.db, &principal.user)?
            .map(|u| u.roles)
            .unwrap_or_default();
        out.push((principal, roles));
    }
    Ok(out)
}

/// Whether the connection may run a command of class `action` on database `db`.
pub fn allowed(state: &State, conn: &ConnInfo, action: Action, db: &str) -> Result<bool> {
    if !state.config.auth || matches!(action, Action::None | Action::Sync) {
        return Ok(true);
    }
    let users = current_roles(state, conn)?;
    if users.is_empty() {
        return Ok(false);
    }
    Ok(users
        .iter()
        .any(|(_, roles)| roles.iter().any(|r| r.grants(action, db))))
}

/// Checks a command before it runs (with `--auth`). Unauthenticated: "Command X requires
/// authentication"; not allowed: "not authorized on DB to execute command { ... }"; both
/// code 13, as mongod.
pub fn authorize(
    state: &State,
    conn: &ConnInfo,
    name: &str,
    action: Action,
    db: &str,
    body: &Document,
) -> Result<()> {
    if !state.config.auth || matches!(action, Action::None | Action::Sync) {
        return Ok(());
    }
    if lock(conn).users.is_empty() {
        if localhost_exception(state, conn, name, db)? {
            return Ok(());
        }
        return Err(Error::unauthorized(format!(
            "Command {name} requires authentication"
        )));
    }
    if name == "usersInfo" && views_only_self(conn, db, body) {
        return Ok(());
    }
    let mut needs = vec![(action, db.to_owned())];
    needs.extend(extra_requirements(name, db, body));
    for (action, db) in &needs {
        if !allowed(state, conn, *action, db)? {
            return Err(Error::unauthorized(format!(
                "not authorized on {db} to execute command {}",
                shown(body)
            )));
        }
    }
    Ok(())
}

/// `usersInfo` about the connection's own user needs no privilege, as in mongod.
fn views_only_self(conn: &ConnInfo, db: &str, body: &Document) -> bool {
    let named = match body.get("usersInfo") {
        Some(Bson::String(user)) => Principal {
            user: user.clone(),
            db: db.to_owned(),
        },
        Some(Bson::Document(d)) => match (d.get_str("user"), d.get_str("db")) {
            (Ok(user), Ok(db)) => Principal {
                user: user.to_owned(),
                db: db.to_owned(),
            },
            _ => return false,
        },
        _ => return false,
    };
    lock(conn).users.contains(&named)
}

/// With `--auth`, a cursor may be continued or killed only by a connection authenticated as
/// the users that opened it (code 13 otherwise, as mongod).
pub fn check_cursor_owner(
    state: &State,
    conn: &ConnInfo,
    owner: &[Principal],
    id: i64,
) -> Result<()> {
    if state.config.auth && lock(conn).users.as_slice() != owner {
        return Err(Error::unauthorized(format!(
            "cursor id {id} was not created by the authenticated user"
        )));
    }
    Ok(())
}

/// MongoDB's localhost exception: with `--auth` and no user yet, a client on loopback may
/// create the first user, on `admin`, and nothing else.
fn localhost_exception(state: &State, conn: &ConnInfo, name: &str, db: &str) -> Result<bool> {
    Ok(name == "createUser"
        && db == "admin"
        && conn.peer.ip().is_loopback()
        && !state.users.any()?)
}

/// What a command needs beyond its class on its own database: `renameCollection` changes both
/// databases; an aggregation (or its explain) writes with `$out`/`$merge` and reads other
/// databases with `$lookup`, `$graphLookup` and `$unionWith`, also inside nested pipelines.
fn extra_requirements(name: &str, db: &str, body: &Document) -> Vec<(Action, String)> {
    let mut out = Vec::new();
    match name {
        "renameCollection" => {
            for field in ["renameCollection", "to"] {
                if let Some((db, _)) = body.get_str(field).ok().and_then(|ns| ns.split_once('.')) {
                    out.push((Action::Schema, db.to_owned()));
                }
            }
        }
        "aggregate" | "explain" => pipeline_requirements(db, body, &mut out),
        _ => {}
    }
    out
}

/// Walks every document under `body` (without recursion: documents are at most 200 deep, but
/// a stack of our own keeps that out of the call stack) for the stages that reach other
/// namespaces.
fn pipeline_requirements(db: &str, body: &Document, out: &mut Vec<(Action, String)>) {
    let named_db = |value: &Bson| match value {
        Bson::Document(ns) => ns.get_str("db").ok().map(str::to_owned),
        _ => None,
    };
    let mut stack: Vec<&Bson> = body.values().collect();
    while let Some(value) = stack.pop() {
        let doc = match value {
            Bson::Document(doc) => doc,
            Bson::Array(items) => {
                stack.extend(items.iter());
                continue;
            }
            _ => continue,
        };
        for (key, value) in doc {
            match key.as_str() {
                "$out" => out.push((
                    Action::Write,
                    named_db(value).unwrap_or_else(|| db.to_owned()),
                )),
                "$merge" => {
                    let into = match value {
                        Bson::Document(spec) => spec.get("into").and_then(named_db),
                        _ => None,
                    };
                    out.push((Action::Write, into.unwrap_or_else(|| db.to_owned())));
                }
                "$lookup" | "$graphLookup" | "$unionWith" => {
                    if let Bson::Document(spec) = value {
                        for field in ["from", "coll"] {
                            if let Some(other) = spec.get(field).and_then(named_db) {
                                out.push((Action::Read, other));
                            }
                        }
                    }
                }
                _ => {}
            }
            stack.push(value);
        }
    }
}

/// The command as mongod's message shows it, cut short (and without a password).
fn shown(body: &Document) -> String {
    let mut body = body.clone();
    if body.contains_key("pwd") {
        body.insert("pwd", "xxx");
    }
    let mut text = body.to_string();
    if text.len() > 512 {
        let mut end = 512;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" ... }");
    }
    text
}

/// The mechanisms a new user gets: both SCRAM variants, as mongod.
pub fn default_mechanisms() -> Vec<Scram> {
    vec![Scram::Sha1, Scram::Sha256]
}

/// Reads a password for `outpost user add`: a prompt on a terminal, else one line of stdin.
pub fn read_password() -> std::io::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password again: ")?;
        if first != again {
            return Err(std::io::Error::other("the passwords differ"));
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregations_need_write_for_out_and_merge_and_read_for_other_databases() {
        let body = doc! {
            "aggregate": "c",
            "pipeline": [
                {"$lookup": {"from": {"db": "b", "coll": "x"}, "as": "j", "pipeline": [
                    {"$unionWith": {"coll": {"db": "d", "coll": "y"}}},
                ]}},
                {"$facet": {"f": [{"$match": {}}]}},
                {"$merge": {"into": {"db": "c", "coll": "z"}}},
            ],
        };
        let mut needs = extra_requirements("aggregate", "a", &body);
        needs.sort_by(|x, y| x.1.cmp(&y.1));
        assert_eq!(
            needs,
            vec![
                (Action::Read, "b".to_owned()),
                (Action::Write, "c".to_owned()),
                (Action::Read, "d".to_owned()),
            ]
        );
        let out_here = doc! {"explain": {"aggregate": "c", "pipeline": [{"$out": "t"}]}};
        assert_eq!(
            extra_requirements("explain", "a", &out_here),
            vec![(Action::Write, "a".to_owned())]
        );
        let rename = doc! {"renameCollection": "a.x", "to": "b.y"};
        assert_eq!(
            extra_requirements("renameCollection", "admin", &rename),
            vec![
                (Action::Schema, "a".to_owned()),
                (Action::Schema, "b".to_owned())
            ]
        );
        assert!(
            extra_requirements("find", "a", &doc! {"find": "c", "filter": {"$out": 1}}).is_empty()
        );
    }
}
