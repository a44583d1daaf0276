//! SCRAM (RFC 5802/7677) as MongoDB uses it: credentials derived from a password and kept
//! only as salted keys, and the server's side of one conversation.
//!
//! SCRAM-SHA-1 hashes MongoDB's password digest (hex md5 of `user:mongo:password`);
//! SCRAM-SHA-256 hashes the SASLprep'd password. The primitives are RustCrypto's.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// The SCRAM variants Outpost speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scram {
    Sha1,
    Sha256,
}

/// Salted keys for one mechanism (what mongod keeps under `credentials.SCRAM-SHA-*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScramCredential {
    pub iteration_count: u32,
    /// Base64, as mongod stores them.
    pub salt: String,
    pub stored_key: String,
    pub server_key: String,
}

impl Scram {
    pub fn name(self) -> &'static str {
        match self {
            Scram::Sha1 => "SCRAM-SHA-1",
            Scram::Sha256 => "SCRAM-SHA-256",
        }
    }

    /// mongod's defaults: 10,000 iterations for SHA-1, 15,000 for SHA-256.
    fn iterations(self) -> u32 {
        match self {
            Scram::Sha1 => 10_000,
            Scram::Sha256 => 15_000,
        }
    }

    fn salt_len(self) -> usize {
        match self {
            Scram::Sha1 => 16,
            Scram::Sha256 => 28,
        }
    }

    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Scram::Sha1 => Sha1::digest(data).to_vec(),
            Scram::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length.
            match <M as KeyInit>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(data);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        match self {
            Scram::Sha1 => run::<Hmac<Sha1>>(key, data),
            Scram::Sha256 => run::<Hmac<Sha256>>(key, data),
        }
    }

    pub(crate) fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Scram::Sha1 => {
                pbkdf2::pbkdf2_hmac_array::<Sha1, 20>(password, salt, iterations).to_vec()
            }
            Scram::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
            }
        }
    }

    /// The password as this mechanism hashes it.
    pub(crate) fn prepare_password(self, user: &str, password: &str) -> Result<String> {
        match self {
            Scram::Sha1 => Ok(mongo_password_digest(user, password)),
            Scram::Sha256 => stringprep::saslprep(password)
                .map(|p| p.into_owned())
                .map_err(|e| {
                    Error::bad_value(format!("the password is not valid under SASLprep: {e}"))
                }),
        }
    }

    /// New credentials with a fresh random salt.
    pub fn derive(self, user: &str, password: &str) -> Result<ScramCredential> {
        let mut salt = vec![0u8; self.salt_len()];
        random_bytes(&mut salt)?;
        self.derive_with(user, password, &salt, self.iterations())
    }

    fn derive_with(
        self,
        user: &str,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<ScramCredential> {
        let prepared = self.prepare_password(user, password)?;
        let salted = self.salted_password(prepared.as_bytes(), salt, iterations);
        let client_key = self.hmac(&salted, b"Client Key");
        Ok(ScramCredential {
            iteration_count: iterations,
            salt: B64.encode(salt),
            stored_key: B64.encode(self.hash(&client_key)),
            server_key: B64.encode(self.hmac(&salted, b"Server Key")),
        })
    }

    /// Whether `password` is the one these credentials were made from (PLAIN).
    pub fn verify_password(self, cred: &ScramCredential, user: &str, password: &str) -> bool {
        let Ok(salt) = B64.decode(&cred.salt) else {
            return false;
        };
        match self.derive_with(user, password, &salt, cred.iteration_count) {
            Ok(fresh) => bool::from(
                fresh
                    .stored_key
                    .as_bytes()
                    .ct_eq(cred.stored_key.as_bytes()),
            ),
            Err(_) => false,
        }
    }
}

/// MongoDB's legacy password digest: hex md5 of `user:mongo:password`.
fn mongo_password_digest(user: &str, password: &str) -> String {
    let digest = Md5::digest(format!("{user}:mongo:{password}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::new(1, format!("no system randomness: {e}")))
}

pub(crate) fn protocol_error(message: &str) -> Error {
    Error::new(17, format!("SCRAM: {message}"))
}

/// The server's side of one SCRAM conversation, after the client's first message.
#[derive(Debug)]
pub struct ScramServer {
    mechanism: Scram,
    pub user: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    credential: ScramCredential,
}

/// The user name and the client's parts of `client-first-message`.
pub struct ClientFirst {
    pub user: String,
    gs2_header: String,
    bare: String,
    nonce: String,
}

/// Parses `client-first-message` (`n,,n=user,r=nonce`).
pub fn parse_client_first(payload: &[u8]) -> Result<ClientFirst> {
    let text =
        std::str::from_utf8(payload).map_err(|_| protocol_error("the message is not UTF-8"))?;
    let (gs2_header, bare) = match text
        .strip_prefix("n,,")
        .or_else(|| text.strip_prefix("y,,"))
    {
        Some(bare) => (&text[..3], bare),
        None if text.starts_with("p=") => {
            return Err(protocol_error("channel binding is not supported"))
        }
        None => return Err(protocol_error("an authorization identity is not supported")),
    };
    let mut user = None;
    let mut nonce = None;
    for attribute in bare.split(',') {
        match attribute.split_once('=') {
            Some(("n", value)) => user = Some(unescape_user(value)?),
            Some(("r", value)) if !value.is_empty() => nonce = Some(value.to_owned()),
            Some(("m", _)) => return Err(protocol_error("extensions are not supported")),
            _ => return Err(protocol_error("malformed client-first-message")),
        }
    }
    match (user, nonce) {
        (Some(user), Some(nonce)) if !user.is_empty() => Ok(ClientFirst {
            user,
            gs2_header: gs2_header.to_owned(),
            bare: bare.to_owned(),
            nonce,
        }),
        _ => Err(protocol_error(
            "client-first-message lacks a user name or nonce",
        )),
    }
}

fn unescape_user(value: &str) -> Result<String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escaped = rest.get(at..at + 3);
        match escaped {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(protocol_error("invalid escape in the user name")),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

impl ScramServer {
    /// Answers `client-first-message` for a user with these credentials; returns the
    /// conversation and `server-first-message`.
    pub fn start(
        mechanism: Scram,
        first: ClientFirst,
        credential: ScramCredential,
    ) -> Result<(ScramServer, Vec<u8>)> {
        let mut server_nonce = [0u8; 24];
        random_bytes(&mut server_nonce)?;
        let nonce = format!("{}{}", first.nonce, B64.encode(server_nonce));
        let server_first = format!(
            "r={nonce},s={},i={}",
            credential.salt, credential.iteration_count
        );
        let reply = server_first.clone().into_bytes();
        Ok((
            ScramServer {
                mechanism,
                user: first.user,
                gs2_header: first.gs2_header,
                client_first_bare: first.bare,
                server_first,
                nonce,
                credential,
            },
            reply,
        ))
    }

    pub fn mechanism(&self) -> Scram {
        self.mechanism
    }

    /// Checks `client-final-message`'s proof; returns `server-final-message` (`v=...`).
    /// A wrong proof is code 18.
    pub fn finish(&self, payload: &[u8]) -> Result<Vec<u8>> {
        let text =
            std::str::from_utf8(payload).map_err(|_| protocol_error("the message is not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| protocol_error("client-final-message lacks a proof"))?;
        let mut channel = None;
        let mut nonce = None;
        for attribute in without_proof.split(',') {
            match attribute.split_once('=') {
                Some(("c", value)) => channel = Some(value),
                Some(("r", value)) => nonce = Some(value),
                _ => return Err(protocol_error("malformed client-final-message")),
            }
        }
        if channel != Some(B64.encode(&self.gs2_header).as_str()) {
            return Err(protocol_error("channel binding does not match"));
        }
        if nonce != Some(self.nonce.as_str()) {
            return Err(protocol_error("the nonce does not match"));
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| protocol_error("the proof is not base64"))?;
        let stored_key = B64.decode(&self.credential.stored_key).unwrap_or_default();
        let server_key = B64.decode(&self.credential.server_key).unwrap_or_default();
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let signature = self.mechanism.hmac(&stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() || stored_key.is_empty() {
            return Err(Error::authentication_failed());
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let computed = self.mechanism.hash(&client_key);
        if !bool::from(computed.ct_eq(&stored_key)) {
            return Err(Error::authentication_failed());
        }
        let server_signature = self.mechanism.hmac(&server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One conversation between Outpost's SCRAM client and server.
    fn converse(mechanism: Scram, stored_password: &str, given_password: &str) -> Result<()> {
        use crate::auth::scram_client::ScramClient;
        let cred = mechanism.derive("ann", stored_password).unwrap();
        let (mut client, first) = ScramClient::start(mechanism, "ann", given_password).unwrap();
        let first = parse_client_first(&first).unwrap();
        let (server, server_first) = ScramServer::start(mechanism, first, cred).unwrap();
        let final_message = client.respond(&server_first).unwrap();
        let v = server.finish(&final_message)?;
        client.verify(&v).unwrap();
        Ok(())
    }

    #[test]
    fn right_password_succeeds_and_wrong_fails_with_18() {
        for mechanism in [Scram::Sha1, Scram::Sha256] {
            converse(mechanism, "pencil", "pencil").unwrap();
            let error = converse(mechanism, "pencil", "pen").unwrap_err();
            assert_eq!(error.code(), 18);
            assert_eq!(error.to_string(), "Authentication failed.");
        }
    }

    #[test]
    fn password_digest_matches_mongodb() {
        // mongo shell: hex_md5("user:mongo:pencil")
        assert_eq!(
            mongo_password_digest("user", "pencil"),
            "1c33006ec1ffd90f9cadcbcc0e118200"
        );
    }

    /// RFC 7677's SCRAM-SHA-256 example (user, pencil, salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096).
    #[test]
    fn sha256_keys_match_rfc_7677() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let cred = Scram::Sha256
            .derive_with("user", "pencil", &salt, 4096)
            .unwrap();
        let first = parse_client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        let mut server = ScramServer::start(Scram::Sha256, first, cred).unwrap().0;
        // Replace the random nonce by the RFC's to replay its exchange.
        server.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into();
        server.server_first =
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                .into();
        let v = server
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert_eq!(
            v,
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec()
        );
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"n,,",
            b"p=tls-unique,,n=a,r=b",
            b"n,,n=a",
            b"n,,n=a=,r=b",
            b"n,,n=a=2,r=b",
            b"\xff",
        ] {
            assert!(parse_client_first(bad).is_err(), "{bad:?}");
        }
        assert_eq!(unescape_user("a=2Cb=3D").unwrap(), "a,b=");
        let cred = Scram::Sha256.derive("a", "b").unwrap();
        let first = parse_client_first(b"n,,n=a,r=x").unwrap();
        let (server, _) = ScramServer::start(Scram::Sha256, first, cred).unwrap();
        for bad in [
            &b""[..],
            b"c=biws",
            b"c=biws,r=x,p=",
            b"r=x,p=!!",
            b"c=biws,r=y,p=AAAA",
        ] {
            assert!(server.finish(bad).is_err());
        }
    }
}
