//! Built-in roles and the action classes commands need.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a command needs from the connection's user, on the command's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Allowed before authentication (handshake, authentication, `ping`...).
    None,
    /// Any authenticated user (the command itself limits what it shows).
    Authenticated,
    Read,
    /// Reading a database's catalog and statistics (`listCollections`, `listIndexes`,
    /// `collStats`, `dbStats`): whoever may read, and `dbAdmin`.
    ReadMetadata,
    Write,
    /// Creating and dropping collections and indexes: `readWrite` and `dbAdmin`.
    Schema,
    DbAdmin,
    UserAdmin,
    /// Server-wide monitoring (`serverStatus`, `getLog`...): a role on `admin`.
    ClusterMonitor,
    /// Server-wide management meant for tests and operators (`configureFailPoint`): `root`.
    ClusterAdmin,
    /// The hub's admin commands (`outpostHub*`): `hubAdmin` or `root`.
    HubAdmin,
    /// The sync protocol (`outpostSync*`): the sync engine authenticates edges itself.
    Sync,
}

impl Action {
    /// The class's name, for `listCommands`.
    pub fn name(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Authenticated => "authenticated",
            Action::Read => "read",
            Action::ReadMetadata => "readMetadata",
            Action::Write => "write",
            Action::Schema => "schema",
            Action::DbAdmin => "dbAdmin",
            Action::UserAdmin => "userAdmin",
            Action::ClusterMonitor => "clusterMonitor",
            Action::ClusterAdmin => "clusterAdmin",
            Action::HubAdmin => "hubAdmin",
            Action::Sync => "sync",
        }
    }
}

/// A role granted to a user: `{role, db}` as mongod shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRef {
    pub role: String,
    pub db: String,
}

/// Roles that exist only on `admin` (they grant on every database or the server).
const ADMIN_ONLY: &[&str] = &[
    "clusterMonitor",
    "readAnyDatabase",
    "readWriteAnyDatabase",
    "dbAdminAnyDatabase",
    "userAdminAnyDatabase",
    "root",
    "hubAdmin",
];

/// Roles that exist on every database.
const PER_DATABASE: &[&str] = &["read", "readWrite", "dbAdmin", "userAdmin", "dbOwner"];

impl RoleRef {
    /// Checks that the role exists: code 31 RoleNotFound otherwise, as mongod.
    pub fn validate(&self) -> Result<()> {
        let exists = PER_DATABASE.contains(&self.role.as_str())
            || (self.db == "admin" && ADMIN_ONLY.contains(&self.role.as_str()));
        if exists {
            Ok(())
        } else {
            Err(Error::new(
                31,
                format!("No role named {}@{}", self.role, self.db),
            ))
        }
    }

    /// Parses `"role"` (on `default_db`) or `{role, db}`.
    pub fn parse(value: &bson::Bson, default_db: &str) -> Result<RoleRef> {
        let role = match value {
            bson::Bson::String(role) => RoleRef {
                role: role.clone(),
                db: default_db.to_owned(),
            },
            bson::Bson::Document(doc) => match (doc.get_str("role"), doc.get_str("db")) {
                (Ok(role), Ok(db)) => RoleRef {
                    role: role.to_owned(),
                    db: db.to_owned(),
                },
                _ => {
                    return Err(Error::bad_value(
                        "a role must be a string or a document with string fields role and db",
                    ))
                }
            },
            _ => return Err(Error::bad_value("a role must be a string or a document")),
        };
        role.validate()?;
        Ok(role)
    }

    /// Parses `ROLE` or `ROLE@DB` (the `outpost user add --role` flag; `admin` by default).
    pub fn parse_flag(text: &str) -> Result<RoleRef> {
        let (role, db) = text.split_once('@').unwrap_or((text, "admin"));
        let role = RoleRef {
            role: role.to_owned(),
            db: db.to_owned(),
        };
        role.validate()?;
        Ok(role)
    }

    /// The role's privileges in mongod's shape (`connectionStatus` with `showPrivileges`):
    /// `{resource, actions}` with MongoDB's action names for what the role's classes allow.
    pub fn privileges(&self) -> Vec<bson::Document> {
        use bson::doc;
        const READ: &[&str] = &[
            "collStats",
            "dbStats",
            "find",
            "listCollections",
            "listIndexes",
        ];
        const WRITE: &[&str] = &[
            "createCollection",
            "createIndex",
            "dropCollection",
            "dropIndex",
            "insert",
            "remove",
            "renameCollectionSameDB",
            "update",
        ];
        const DB_ADMIN: &[&str] = &[
            "collMod",
            "collStats",
            "createCollection",
            "createIndex",
            "dbStats",
            "dropCollection",
            "dropDatabase",
            "dropIndex",
            "listCollections",
            "listIndexes",
            "renameCollectionSameDB",
        ];
        const USER_ADMIN: &[&str] = &[
            "createUser",
            "dropUser",
            "grantRole",
            "revokeRole",
            "viewUser",
        ];
        const MONITOR: &[&str] = &[
            "getCmdLineOpts",
            "getLog",
            "getParameter",
            "hostInfo",
            "listDatabases",
            "serverStatus",
        ];
        let any_db = self.role.ends_with("AnyDatabase");
        let db = if any_db { "" } else { self.db.as_str() };
        let on_db = |actions: Vec<&str>| doc! {"resource": {"db": db, "collection": ""}, "actions": actions};
        match self.role.as_str() {
            "root" => vec![doc! {"resource": {"anyResource": true}, "actions": ["anyAction"]}],
            "read" | "readAnyDatabase" => vec![on_db(READ.to_vec())],
            "readWrite" | "readWriteAnyDatabase" => vec![on_db([READ, WRITE].concat())],
            "dbAdmin" | "dbAdminAnyDatabase" => vec![on_db(DB_ADMIN.to_vec())],
            "userAdmin" | "userAdminAnyDatabase" => vec![on_db(USER_ADMIN.to_vec())],
            "dbOwner" => vec![on_db([READ, WRITE, DB_ADMIN, USER_ADMIN].concat())],
            "clusterMonitor" => {
                vec![doc! {"resource": {"cluster": true}, "actions": MONITOR.to_vec()}]
            }
            "hubAdmin" => {
                vec![doc! {"resource": {"cluster": true}, "actions": ["outpostHubAdmin"]}]
            }
            _ => Vec::new(),
        }
    }

    /// Whether this role allows `action` on database `db`.
    pub fn grants(&self, action: Action, db: &str) -> bool {
        let here = self.db == db;
        match action {
            Action::ReadMetadata => {
                return self.grants(Action::Read, db) || self.grants(Action::DbAdmin, db)
            }
            Action::Schema => {
                return self.grants(Action::Write, db) || self.grants(Action::DbAdmin, db)
            }
            _ => {}
        }
        match (self.role.as_str(), action) {
            (_, Action::None) | (_, Action::Sync) | (_, Action::Authenticated) => true,
            ("root", _) => true,
            ("read", Action::Read) => here,
            ("readWrite", Action::Read | Action::Write) => here,
            ("dbAdmin", Action::DbAdmin) => here,
            ("userAdmin", Action::UserAdmin) => here,
            ("dbOwner", Action::Read | Action::Write | Action::DbAdmin | Action::UserAdmin) => here,
            ("readAnyDatabase", Action::Read) => true,
            ("readWriteAnyDatabase", Action::Read | Action::Write) => true,
            ("dbAdminAnyDatabase", Action::DbAdmin) => true,
            ("userAdminAnyDatabase", Action::UserAdmin) => true,
            ("clusterMonitor", Action::ClusterMonitor) => true,
            ("hubAdmin", Action::HubAdmin) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(role: &str, db: &str) -> RoleRef {
        RoleRef {
            role: role.into(),
            db: db.into(),
        }
    }

    #[test]
    fn roles_grant_on_their_database_or_all() {
        assert!(role("read", "a").grants(Action::Read, "a"));
        assert!(!role("read", "a").grants(Action::Read, "b"));
        assert!(!role("read", "a").grants(Action::Write, "a"));
        assert!(role("readWrite", "a").grants(Action::Write, "a"));
        assert!(!role("readWrite", "a").grants(Action::DbAdmin, "a"));
        assert!(role("readAnyDatabase", "admin").grants(Action::Read, "x"));
        assert!(!role("readAnyDatabase", "admin").grants(Action::Write, "x"));
        assert!(role("userAdmin", "a").grants(Action::UserAdmin, "a"));
        assert!(!role("userAdmin", "a").grants(Action::Read, "a"));
        assert!(role("root", "admin").grants(Action::ClusterAdmin, "admin"));
        assert!(!role("clusterMonitor", "admin").grants(Action::HubAdmin, "admin"));
        assert!(role("hubAdmin", "admin").grants(Action::HubAdmin, "admin"));
        // dbAdmin: the catalog and schema, not the documents.
        assert!(role("dbAdmin", "a").grants(Action::ReadMetadata, "a"));
        assert!(role("dbAdmin", "a").grants(Action::Schema, "a"));
        assert!(!role("dbAdmin", "a").grants(Action::Read, "a"));
        assert!(!role("dbAdmin", "a").grants(Action::Write, "a"));
        assert!(role("read", "a").grants(Action::ReadMetadata, "a"));
        assert!(!role("read", "a").grants(Action::Schema, "a"));
        assert!(role("readWrite", "a").grants(Action::Schema, "a"));
        assert!(!role("readWrite", "b").grants(Action::Schema, "a"));
    }

    #[test]
    fn roles_that_do_not_exist_are_refused_with_31() {
        assert_eq!(RoleRef::parse_flag("root@test").unwrap_err().code(), 31);
        assert_eq!(RoleRef::parse_flag("nope").unwrap_err().code(), 31);
        assert_eq!(
            RoleRef::parse_flag("read@shop").unwrap(),
            role("read", "shop")
        );
        assert_eq!(RoleRef::parse_flag("root").unwrap(), role("root", "admin"));
    }
}
