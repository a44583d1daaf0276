//! API keys and sessions of the Admin API.
//!
//! An API key is a public key (8 lowercase letters and digits, the name a script logs in
//! with) and a private key (64 hex characters) shown once, when `outpost hub apikey create`
//! makes it. The hub keeps only a slow hash of the private key: PBKDF2-HMAC-SHA256 with a
//! random salt and [`PBKDF2_ITERATIONS`] rounds (record tree `admin.apikeys`).
//!
//! Sessions are random bearer tokens (32 bytes, hex) stored as their SHA-256 in the record
//! tree `admin.tokens` with their kind, key and expiry. Random tokens rather than signed
//! ones: the hub is their only reader, a lookup by hash is one read, and deleting an API key
//! (or its token records) ends its sessions at once with no signing secret to keep or
//! rotate. Access tokens expire after `admin_access_token_secs` (30 minutes); a refresh
//! token renews them (`POST /auth/session`) for `admin_refresh_token_secs` (60 days, the
//! lifetime App Services gives a user's refresh token) and while its API key exists; after
//! that the script logs in again. Expired tokens of both kinds are purged at each login.

use bson::oid::ObjectId;
use bson::DateTime;
use outpost_storage::{RecordTree, Storage};
use outpost_sync::protocol::{hash_key, random_key};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Rounds of PBKDF2 for private keys: slow enough to make guessing a stolen hash costly.
pub const PBKDF2_ITERATIONS: u32 = 100_000;
const KEYS_TREE: &str = "admin.apikeys";
const TOKENS_TREE: &str = "admin.tokens";

/// One API key (the private key only as its hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRecord {
    pub public_key: String,
    pub name: String,
    /// The user the key logs in as (`user_id` in the login reply).
    pub user_id: String,
    pub salt: String,
    pub iterations: u32,
    /// PBKDF2-HMAC-SHA256 of the private key, hex.
    pub hash: String,
    pub created: DateTime,
}

/// What a session token is good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// One session token, stored under the SHA-256 of the token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    pub kind: TokenKind,
    pub public_key: String,
    pub user_id: String,
    /// `None`: valid while the key exists (refresh tokens issued before they expired).
    pub expires: Option<DateTime>,
}

/// A key pair as `outpost hub apikey create` prints it (the only time the private key is
/// seen).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewApiKey {
    pub public_key: String,
    pub private_key: String,
}

/// The key and token stores.
#[derive(Clone)]
pub struct Keys {
    keys: RecordTree<ApiKeyRecord>,
    tokens: RecordTree<TokenRecord>,
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Unknown,
    Expired,
    WrongKind,
}

impl Keys {
    pub fn open(storage: &Storage) -> Result<Keys, outpost_storage::Error> {
        Ok(Keys {
            keys: storage.records(KEYS_TREE)?,
            tokens: storage.records(TOKENS_TREE)?,
        })
    }

    /// A new API key named `name`; the private key is returned once and stored hashed.
    pub fn create(&self, name: &str) -> Result<NewApiKey, String> {
        if name.is_empty() || name.len() > 256 {
            return Err("an API key needs a name of 1 to 256 bytes".into());
        }
        let public_key = loop {
            let candidate = random_key().map_err(|e| e.to_string())?[..8].to_string();
            if self.get(&candidate)?.is_none() {
                break candidate;
            }
        };
        let private_key = random_key().map_err(|e| e.to_string())?;
        let salt = random_key().map_err(|e| e.to_string())?[..32].to_string();
        let record = ApiKeyRecord {
            public_key: public_key.clone(),
            name: name.to_string(),
            user_id: ObjectId::new().to_hex(),
            hash: slow_hash(&private_key, &salt, PBKDF2_ITERATIONS),
            salt,
            iterations: PBKDF2_ITERATIONS,
            created: DateTime::now(),
        };
        self.keys
            .put(public_key.as_bytes(), &record)
            .map_err(|e| e.to_string())?;
        Ok(NewApiKey {
            public_key,
            private_key,
        })
    }

    fn get(&self, public_key: &str) -> Result<Option<ApiKeyRecord>, String> {
        self.keys
            .get(public_key.as_bytes())
            .map_err(|e| e.to_string())
    }

    /// The key whose public and private parts these are (slow: run it off the runtime).
    pub fn check(
        &self,
        public_key: &str,
        private_key: &str,
    ) -> Result<Option<ApiKeyRecord>, String> {
        let Some(record) = self.get(public_key)? else {
            return Ok(None);
        };
        let hash = slow_hash(private_key, &record.salt, record.iterations);
        let same: bool = hash.as_bytes().ct_eq(record.hash.as_bytes()).into();
        Ok(same.then_some(record))
    }

    /// A new session token of `kind` for `key`, valid for `ttl` (or while the key exists).
    pub fn issue(
        &self,
        key: &ApiKeyRecord,
        kind: TokenKind,
        ttl: Option<std::time::Duration>,
    ) -> Result<String, String> {
        let token = random_key().map_err(|e| e.to_string())?;
        let expires = ttl.map(|ttl| {
            let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            DateTime::from_millis(DateTime::now().timestamp_millis().saturating_add(ms))
        });
        let record = TokenRecord {
            kind,
            public_key: key.public_key.clone(),
            user_id: key.user_id.clone(),
            expires,
        };
        self.tokens
            .put(hash_key(&token).as_bytes(), &record)
            .map_err(|e| e.to_string())?;
        Ok(token)
    }

    /// The session of a bearer token of `kind`, its key still existing.
    pub fn session(
        &self,
        token: &str,
        kind: TokenKind,
    ) -> Result<Result<(TokenRecord, ApiKeyRecord), TokenError>, String> {
        let Some(record) = self
            .tokens
            .get(hash_key(token).as_bytes())
            .map_err(|e| e.to_string())?
        else {
            return Ok(Err(TokenError::Unknown));
        };
        if record.kind != kind {
            return Ok(Err(TokenError::WrongKind));
        }
        if record
            .expires
            .is_some_and(|expires| DateTime::now() >= expires)
        {
            return Ok(Err(TokenError::Expired));
        }
        match self.get(&record.public_key)? {
            Some(key) => Ok(Ok((record, key))),
            None => Ok(Err(TokenError::Unknown)),
        }
    }

    /// Removes expired tokens (at a login, so the tree does not grow without bound).
    pub fn purge_expired(&self) -> Result<(), String> {
        let now = DateTime::now();
        let mut expired = Vec::new();
        for entry in self.tokens.iter() {
            let (key, record) = entry.map_err(|e| e.to_string())?;
            if record.expires.is_some_and(|expires| now >= expires) {
                expired.push(key);
            }
        }
        for key in expired {
            self.tokens.remove(&key).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// PBKDF2-HMAC-SHA256 of `secret` with `salt`, hex.
fn slow_hash(secret: &str, salt: &str, iterations: u32) -> String {
    let hash =
        pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(secret.as_bytes(), salt.as_bytes(), iterations);
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_checks_only_with_its_private_key_and_tokens_only_for_their_kind() {
        let storage = Storage::temporary().unwrap();
        let keys = Keys::open(&storage).unwrap();
        let created = keys.create("ci").unwrap();
        assert_eq!(created.private_key.len(), 64);
        let key = keys
            .check(&created.public_key, &created.private_key)
            .unwrap()
            .unwrap();
        assert!(keys.check(&created.public_key, "nope").unwrap().is_none());
        assert!(keys
            .check("unknown", &created.private_key)
            .unwrap()
            .is_none());

        let access = keys
            .issue(
                &key,
                TokenKind::Access,
                Some(std::time::Duration::from_secs(60)),
            )
            .unwrap();
        assert!(keys.session(&access, TokenKind::Access).unwrap().is_ok());
        assert_eq!(
            keys.session(&access, TokenKind::Refresh)
                .unwrap()
                .unwrap_err(),
            TokenError::WrongKind
        );
        let expired = keys
            .issue(&key, TokenKind::Access, Some(std::time::Duration::ZERO))
            .unwrap();
        assert_eq!(
            keys.session(&expired, TokenKind::Access)
                .unwrap()
                .unwrap_err(),
            TokenError::Expired
        );
        keys.purge_expired().unwrap();
        assert_eq!(
            keys.session(&expired, TokenKind::Access)
                .unwrap()
                .unwrap_err(),
            TokenError::Unknown
        );
        assert!(keys.session(&access, TokenKind::Access).unwrap().is_ok());
    }
}
