//! Logging in to a server with `--auth` from Outpost's own client: the user name and password
//! of a `mongodb://USER:PASSWORD@HOST:PORT/?authSource=DB&authMechanism=M` address (percent-
//! encoded as in any MongoDB connection string), sent as a SCRAM conversation
//! (`saslStart`/`saslContinue`) right after the connection is set up. This is how
//! `outpost hub edge ...` and `outpost status` reach a hub or edge that requires
//! authentication. SCRAM-SHA-256 unless `authMechanism=SCRAM-SHA-1`; the user is looked up in
//! `authSource`, else the address's database, else `admin`, as drivers do.

use bson::{doc, spec::BinarySubtype, Binary, Bson, Document};
use outpost_sync::{Error, Result};

use crate::auth::scram::Scram;
use crate::auth::scram_client::ScramClient;

/// What an address says about logging in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    /// The database that holds the user.
    pub source: String,
    pub mechanism: Scram,
}

/// The credentials in `uri`, if it names a user.
pub fn credentials(uri: &str) -> Result<Option<Credentials>> {
    let rest = uri.strip_prefix("mongodb://").unwrap_or(uri);
    let (authority, path_and_query) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let Some((userinfo, _host)) = authority.rsplit_once('@') else {
        return Ok(None);
    };
    let (user, password) = userinfo.split_once(':').ok_or_else(|| {
        invalid("a user name needs a password (USER:PASSWORD@HOST) for this client")
    })?;
    let user = percent_decode(user).ok_or_else(|| invalid("bad percent-encoding"))?;
    let password = percent_decode(password).ok_or_else(|| invalid("bad percent-encoding"))?;
    if user.is_empty() {
        return Err(invalid("the user name is empty"));
    }
    let (path, query) = path_and_query
        .trim_start_matches('/')
        .split_once('?')
        .unwrap_or((path_and_query.trim_start_matches('/'), ""));
    let mut source = (!path.is_empty()).then(|| path.to_string());
    let mut mechanism = Scram::Sha256;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key.to_ascii_lowercase().as_str() {
            "authsource" => {
                source = Some(percent_decode(value).ok_or_else(|| invalid("bad authSource"))?)
            }
            "authmechanism" => {
                mechanism = match value {
                    "SCRAM-SHA-256" => Scram::Sha256,
                    "SCRAM-SHA-1" => Scram::Sha1,
                    other => {
                        return Err(invalid(&format!(
                            "authMechanism {other} is not supported by Outpost's command-line \
                                 client (SCRAM-SHA-256 or SCRAM-SHA-1)"
                        )))
                    }
                }
            }
            _ => {}
        }
    }
    Ok(Some(Credentials {
        user,
        password,
        source: source.unwrap_or_else(|| "admin".to_string()),
        mechanism,
    }))
}

/// Runs the SCRAM conversation through `run` (one command against a database).
pub fn log_in(
    credentials: &Credentials,
    mut run: impl FnMut(&str, Document) -> Result<Document>,
) -> Result<()> {
    let scram_error = |error: crate::error::Error| Error::Coded {
        code: error.code(),
        message: error.to_string(),
    };
    let (mut client, first) = ScramClient::start(
        credentials.mechanism,
        &credentials.user,
        &credentials.password,
    )
    .map_err(scram_error)?;
    let reply = run(
        &credentials.source,
        doc! {
            "saslStart": 1,
            "mechanism": credentials.mechanism.name(),
            "payload": binary(first),
            "options": {"skipEmptyExchange": true},
        },
    )?;
    let conversation = reply
        .get("conversationId")
        .cloned()
        .unwrap_or(Bson::Int32(1));
    let final_message = client.respond(&payload(&reply)?).map_err(scram_error)?;
    let reply = run(
        &credentials.source,
        doc! {"saslContinue": 1, "conversationId": conversation.clone(), "payload": binary(final_message)},
    )?;
    client.verify(&payload(&reply)?).map_err(scram_error)?;
    // A server that does not skip the empty exchange wants one more round.
    if !reply.get_bool("done").unwrap_or(false) {
        let reply = run(
            &credentials.source,
            doc! {"saslContinue": 1, "conversationId": conversation, "payload": binary(Vec::new())},
        )?;
        if !reply.get_bool("done").unwrap_or(false) {
            return Err(Error::protocol(
                "the server did not finish the SCRAM conversation",
            ));
        }
    }
    Ok(())
}

fn binary(bytes: Vec<u8>) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    }
}

fn payload(reply: &Document) -> Result<Vec<u8>> {
    match reply.get("payload") {
        Some(Bson::Binary(binary)) => Ok(binary.bytes.clone()),
        _ => Err(Error::protocol(
            "the server's SASL reply has no binary payload",
        )),
    }
}

/// An error about the address; the address may hold a password, so it is not repeated.
fn invalid(message: &str) -> Error {
    Error::Coded {
        code: 2,
        message: format!("invalid address: {message}"),
    }
}

/// `%XX` decoding of a connection string's user name, password or database.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'%' {
            let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(byte);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_of_addresses() {
        assert_eq!(credentials("mongodb://hub:1/?tls=true").unwrap(), None);
        assert_eq!(credentials("hub:1").unwrap(), None);
        let c = credentials("mongodb://ops:p%40ss%3Aw@hub:1/?tls=true")
            .unwrap()
            .unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("ops", "p@ss:w"));
        assert_eq!((c.source.as_str(), c.mechanism), ("admin", Scram::Sha256));
        let c = credentials("mongodb://a:b@hub:1/shop?authMechanism=SCRAM-SHA-1").unwrap();
        let c = c.unwrap();
        assert_eq!((c.source.as_str(), c.mechanism), ("shop", Scram::Sha1));
        let c = credentials("mongodb://a:b@hub:1/shop?authSource=admin")
            .unwrap()
            .unwrap();
        assert_eq!(c.source, "admin");
        for bad in [
            "mongodb://ops@hub:1",
            "mongodb://:pw@hub:1",
            "mongodb://a:%zz@hub:1",
            "mongodb://a:b@hub:1/?authMechanism=PLAIN",
        ] {
            assert!(credentials(bad).is_err(), "{bad}");
        }
        assert!(!credentials("mongodb://a:secret@hub:1/?authMechanism=X")
            .unwrap_err()
            .to_string()
            .contains("secret"));
    }
}
