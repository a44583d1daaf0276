//! The client's side of a SCRAM conversation (RFC 5802, RFC 7677), for Outpost's own links to a
//! server with `--auth`: the `outpost hub ...` commands and `outpost status`, and an edge whose
//! hub URI carries a user name and password.
//!
//! The server's answers are checked as a careful client does: its nonce must extend ours, the
//! iteration count must be within sane bounds (a hostile server could otherwise make the client
//! spend minutes hashing), and its final signature must prove it knows the password too.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use subtle::ConstantTimeEq;

use super::scram::{protocol_error, random_bytes, Scram};
use crate::error::{Error, Result};

/// RFC 7677's minimum.
const MIN_ITERATIONS: u32 = 4_096;
/// Far above mongod's defaults (10,000 and 15,000): a bound on what a server may ask.
const MAX_ITERATIONS: u32 = 1_000_000;

/// One conversation, from the client's first message to the check of the server's last.
pub struct ScramClient {
    mechanism: Scram,
    user: String,
    password: String,
    client_first_bare: String,
    nonce: String,
    /// The server signature a genuine server sends last, once the proof is computed.
    expected_server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// Starts a conversation; returns it and `client-first-message` (`n,,n=USER,r=NONCE`).
    pub fn start(mechanism: Scram, user: &str, password: &str) -> Result<(ScramClient, Vec<u8>)> {
        let mut nonce = [0u8; 24];
        random_bytes(&mut nonce)?;
        Ok(ScramClient::start_with_nonce(
            mechanism,
            user,
            password,
            &B64.encode(nonce),
        ))
    }

    fn start_with_nonce(
        mechanism: Scram,
        user: &str,
        password: &str,
        nonce: &str,
    ) -> (ScramClient, Vec<u8>) {
        let escaped = user.replace('=', "=3D").replace(',', "=2C");
        let client_first_bare = format!("n={escaped},r={nonce}");
        let message = format!("n,,{client_first_bare}").into_bytes();
        let client = ScramClient {
            mechanism,
            user: user.to_owned(),
            password: password.to_owned(),
            client_first_bare,
            nonce: nonce.to_owned(),
            expected_server_signature: None,
        };
        (client, message)
    }

    /// Answers `server-first-message` (`r=NONCE,s=SALT,i=ITERATIONS`) with
    /// `client-final-message` (`c=biws,r=NONCE,p=PROOF`).
    pub fn respond(&mut self, server_first: &[u8]) -> Result<Vec<u8>> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| protocol_error("the server's first message is not UTF-8"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attribute in server_first.split(',') {
            match attribute.split_once('=') {
                Some(("r", value)) => nonce = Some(value),
                Some(("s", value)) => salt = B64.decode(value).ok(),
                Some(("i", value)) => iterations = value.parse::<u32>().ok(),
                Some(("m", _)) => return Err(protocol_error("extensions are not supported")),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(protocol_error(
                "the server's first message lacks a nonce, a base64 salt or an iteration count",
            ));
        };
        if nonce.len() <= self.nonce.len() || !nonce.starts_with(&self.nonce) {
            return Err(protocol_error(
                "the server's nonce does not extend the client's",
            ));
        }
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(protocol_error(&format!(
                "the server asks for {iterations} iterations; a client accepts \
                 {MIN_ITERATIONS} to {MAX_ITERATIONS}"
            )));
        }
        let mechanism = self.mechanism;
        let prepared = mechanism.prepare_password(&self.user, &self.password)?;
        let salted = mechanism.salted_password(prepared.as_bytes(), &salt, iterations);
        let client_key = mechanism.hmac(&salted, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        // `biws` is base64 of the GS2 header `n,,`: no channel binding, no authorization id.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = mechanism.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = mechanism.hmac(&salted, b"Server Key");
        self.expected_server_signature = Some(mechanism.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks `server-final-message` (`v=SIGNATURE`): a server that does not know the
    /// password cannot produce it.
    pub fn verify(&self, server_final: &[u8]) -> Result<()> {
        let expected = self
            .expected_server_signature
            .as_deref()
            .ok_or_else(|| protocol_error("the server finished before the client's proof"))?;
        let text = std::str::from_utf8(server_final)
            .map_err(|_| protocol_error("the server's final message is not UTF-8"))?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(Error::new(18, format!("Authentication failed: {error}")));
        }
        let signature = text
            .strip_prefix("v=")
            .and_then(|value| B64.decode(value.split(',').next().unwrap_or_default()).ok())
            .ok_or_else(|| protocol_error("the server's final message lacks its signature"))?;
        if !bool::from(signature.ct_eq(expected)) {
            return Err(protocol_error(
                "the server's signature is wrong: it does not know the password",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example conversation, byte for byte.
    #[test]
    fn the_rfc_7677_example_produces_its_proof_and_accepts_its_signature() {
        let (mut client, first) =
            ScramClient::start_with_nonce(Scram::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
            s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let final_message = client.respond(server_first).unwrap();
        assert_eq!(
            String::from_utf8(final_message).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        client
            .verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(client.verify(b"v=AAAA").is_err());
        assert!(client.verify(b"e=invalid-proof").is_err());
        let (_, first) = ScramClient::start_with_nonce(Scram::Sha256, "a,b=c", "p", "x");
        assert_eq!(first, b"n,,n=a=2Cb=3Dc,r=x", "',' and '=' are escaped");
    }

    #[test]
    fn hostile_server_answers_are_refused() {
        let start = || ScramClient::start_with_nonce(Scram::Sha256, "u", "p", "abc").0;
        for server_first in [
            &b"r=xyz123,s=AAAA,i=4096"[..], // a nonce that does not extend ours
            b"r=abc,s=AAAA,i=4096",         // a nonce that adds nothing
            b"r=abcd,s=AAAA,i=4000000000",  // billions of iterations
            b"r=abcd,s=AAAA,i=1",           // too few
            b"r=abcd,s=!!,i=4096",          // a salt that is not base64
            b"r=abcd,i=4096",               // no salt
            b"\xff\xfe",                    // not UTF-8
            b"m=ext,r=abcd,s=AAAA,i=4096",  // an extension
        ] {
            assert!(start().respond(server_first).is_err(), "{server_first:?}");
        }
        assert!(
            start().verify(b"v=AAAA").is_err(),
            "a final before the proof"
        );
    }
}
