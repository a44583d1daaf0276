//! Users: typed records in storage's record tree `auth.users`, keyed `db.user` (database
//! names hold no dots). Never a collection: no client command can read or write the tree
//! except through the user management commands.

use bson::{doc, Bson, Document};
use outpost_storage::{RecordTree, Storage};
use serde::{Deserialize, Serialize};

use super::roles::RoleRef;
use super::scram::{Scram, ScramCredential};
use crate::error::{Error, Result};

/// One user, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    pub user_id: bson::Uuid,
    pub user: String,
    pub db: String,
    pub roles: Vec<RoleRef>,
    pub credentials: Credentials,
    pub custom_data: Option<Document>,
}

/// Salted SCRAM keys; no password is ever stored.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(rename = "SCRAM-SHA-1")]
    pub scram_sha1: Option<ScramCredential>,
    #[serde(rename = "SCRAM-SHA-256")]
    pub scram_sha256: Option<ScramCredential>,
}

impl Credentials {
    /// Credentials for the given mechanisms (both by default).
    pub fn derive(user: &str, password: &str, mechanisms: &[Scram]) -> Result<Credentials> {
        let mut out = Credentials::default();
        for mechanism in mechanisms {
            let cred = Some(mechanism.derive(user, password)?);
            match mechanism {
                Scram::Sha1 => out.scram_sha1 = cred,
                Scram::Sha256 => out.scram_sha256 = cred,
            }
        }
        Ok(out)
    }

    pub fn get(&self, mechanism: Scram) -> Option<&ScramCredential> {
        match mechanism {
            Scram::Sha1 => self.scram_sha1.as_ref(),
            Scram::Sha256 => self.scram_sha256.as_ref(),
        }
    }

    pub fn mechanisms(&self) -> Vec<Bson> {
        [Scram::Sha1, Scram::Sha256]
            .into_iter()
            .filter(|m| self.get(*m).is_some())
            .map(|m| Bson::String(m.name().to_owned()))
            .collect()
    }
}

impl UserRecord {
    /// The document `usersInfo` shows.
    pub fn info(&self) -> Document {
        let roles: Vec<Bson> = self
            .roles
            .iter()
            .map(|r| Bson::Document(doc! {"role": &r.role, "db": &r.db}))
            .collect();
        let mut out = doc! {
            "_id": format!("{}.{}", self.db, self.user),
            "userId": self.user_id,
            "user": &self.user,
            "db": &self.db,
            "roles": roles,
            "mechanisms": self.credentials.mechanisms(),
        };
        if let Some(custom) = &self.custom_data {
            out.insert("customData", custom.clone());
        }
        out
    }
}

/// The user records of one server. Cheap to clone.
#[derive(Clone)]
pub struct Users {
    tree: RecordTree<UserRecord>,
    /// Serializes the check-then-write of user changes (two `createUser`s of one name, or two
    /// first users through the localhost exception, cannot both succeed).
    writes: std::sync::Arc<std::sync::Mutex<()>>,
}

fn key(db: &str, user: &str) -> Vec<u8> {
    format!("{db}.{user}").into_bytes()
}

impl Users {
    pub fn open(storage: &Storage) -> outpost_storage::Result<Users> {
        Ok(Users {
            tree: storage.records::<UserRecord>("auth.users")?,
            writes: Default::default(),
        })
    }

    pub fn get(&self, db: &str, user: &str) -> Result<Option<UserRecord>> {
        Ok(self.tree.get(&key(db, user))?)
    }

    /// Whether any user exists (the localhost exception ends with the first).
    pub fn any(&self) -> outpost_storage::Result<bool> {
        Ok(self.tree.iter().next().transpose()?.is_some())
    }

    /// Every user, or those of one database.
    pub fn list(&self, db: Option<&str>) -> Result<Vec<UserRecord>> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (_, user) = item?;
            if db.is_none_or(|db| user.db == db) {
                out.push(user);
            }
        }
        Ok(out)
    }

    /// Stores a new user; code 51003 if it exists, as mongod.
    pub fn create(&self, user: UserRecord) -> Result<()> {
        let _writes = self.lock();
        self.create_locked(user)
    }

    /// Stores the first user (the localhost exception): code 13 if a user exists by now.
    pub fn create_first(&self, user: UserRecord) -> Result<()> {
        let _writes = self.lock();
        if self.any()? {
            return Err(Error::unauthorized(
                "the localhost exception is closed: a user exists, log in to create others",
            ));
        }
        self.create_locked(user)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn create_locked(&self, user: UserRecord) -> Result<()> {
        if self.get(&user.db, &user.user)?.is_some() {
            return Err(Error::new(
                51003,
                format!("User \"{}@{}\" already exists", user.user, user.db),
            ));
        }
        Ok(self.tree.put(&key(&user.db, &user.user), &user)?)
    }

    /// The user, or code 11 UserNotFound.
    pub fn require(&self, db: &str, user: &str) -> Result<UserRecord> {
        self.get(db, user)?.ok_or_else(|| {
            Error::new(
                11,
                format!("Could not find user \"{user}\" for db \"{db}\""),
            )
        })
    }

    /// Changes a user: `change` runs on the stored record under the write lock (code 11 if the
    /// user does not exist).
    pub fn update(
        &self,
        db: &str,
        user: &str,
        change: impl FnOnce(&mut UserRecord) -> Result<()>,
    ) -> Result<()> {
        let _writes = self.lock();
        let mut record = self.require(db, user)?;
        change(&mut record)?;
        Ok(self.tree.put(&key(db, user), &record)?)
    }

    pub fn remove(&self, db: &str, user: &str) -> Result<()> {
        let _writes = self.lock();
        self.require(db, user)?;
        Ok(self.tree.remove(&key(db, user))?)
    }
}

/// A new user record (random `userId`).
pub fn new_user(
    db: &str,
    user: &str,
    password: &str,
    roles: Vec<RoleRef>,
    mechanisms: &[Scram],
) -> Result<UserRecord> {
    if user.is_empty() {
        return Err(Error::bad_value(
            "User document needs 'user' field to be non-empty",
        ));
    }
    if password.is_empty() {
        return Err(Error::bad_value("Password cannot be empty"));
    }
    // Record keys are `db.user`: a database name never holds a dot.
    outpost_storage::validate_db_name(db)?;
    Ok(UserRecord {
        user_id: bson::Uuid::new(),
        user: user.to_owned(),
        db: db.to_owned(),
        roles,
        credentials: Credentials::derive(user, password, mechanisms)?,
        custom_data: None,
    })
}

/// A user management command's `roles` array (`"role"` on the command's database, or
/// `{role, db}`); every role must exist.
pub fn parse_roles(body: &Document, command: &str, db: &str) -> Result<Vec<RoleRef>> {
    let Some(value) = body.get("roles") else {
        return Err(Error::new(
            40414,
            format!("BSON field '{command}.roles' is missing but a required field"),
        ));
    };
    let Bson::Array(items) = value else {
        return Err(Error::type_mismatch(format!(
            "BSON field '{command}.roles' is the wrong type '{}', expected type 'array'",
            outpost_storage::value::compare::type_name(value)
        )));
    };
    let mut roles: Vec<RoleRef> = Vec::new();
    for item in items {
        let role = RoleRef::parse(item, db)?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}

/// The `mechanisms` option (both SCRAM variants when absent).
pub fn parse_mechanisms(body: &Document, command: &str) -> Result<Vec<Scram>> {
    let Some(value) = body.get("mechanisms") else {
        return Ok(vec![Scram::Sha1, Scram::Sha256]);
    };
    let Bson::Array(items) = value else {
        return Err(Error::type_mismatch(format!(
            "BSON field '{command}.mechanisms' must be an array"
        )));
    };
    let mut out = Vec::new();
    for item in items {
        let mechanism = match item.as_str() {
            Some("SCRAM-SHA-1") => Scram::Sha1,
            Some("SCRAM-SHA-256") => Scram::Sha256,
            _ => {
                return Err(Error::bad_value(format!(
                    "Unknown auth mechanism '{}'",
                    item.as_str().unwrap_or_default()
                )))
            }
        };
        if !out.contains(&mechanism) {
            out.push(mechanism);
        }
    }
    if out.is_empty() {
        return Err(Error::bad_value("mechanisms field must not be empty"));
    }
    Ok(out)
}

/// The `pwd` field; `digestPassword: false` (a client-side digest) is not supported.
pub fn parse_password<'a>(body: &'a Document, command: &str) -> Result<Option<&'a str>> {
    if matches!(body.get("digestPassword"), Some(Bson::Boolean(false))) {
        return Err(Error::not_supported(format!(
            "{command}: digestPassword: false (a password digested by the client) is not supported"
        )));
    }
    match body.get("pwd") {
        None => Ok(None),
        Some(Bson::String(pwd)) => Ok(Some(pwd)),
        Some(other) => Err(Error::type_mismatch(format!(
            "BSON field '{command}.pwd' is the wrong type '{}', expected type 'string'",
            outpost_storage::value::compare::type_name(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_round_trip_and_hold_no_password() {
        let storage = Storage::temporary().unwrap();
        let users = Users::open(&storage).unwrap();
        assert!(!users.any().unwrap());
        let role = RoleRef {
            role: "read".into(),
            db: "shop".into(),
        };
        let user = new_user("shop", "ann", "s3cret-pw", vec![role], &[Scram::Sha256]).unwrap();
        users.create(user.clone()).unwrap();
        assert!(users.any().unwrap());
        assert_eq!(users.get("shop", "ann").unwrap(), Some(user.clone()));
        assert_eq!(users.create(user).unwrap_err().code(), 51003);
        let stored = format!("{:?}", users.list(None).unwrap());
        assert!(!stored.contains("s3cret-pw"));
        assert_eq!(users.list(Some("other")).unwrap().len(), 0);
        users.remove("shop", "ann").unwrap();
        assert_eq!(users.remove("shop", "ann").unwrap_err().code(), 11);
    }
}
