//! `usersInfo`: users of the command's database (`1`), by name (`"name"`, `{user, db}`, or an
//! array of those) or of every database (`{forAllDBs: true}`). Credentials are never shown.

use bson::{Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::auth::UserRecord;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "usersInfo",
    aliases: &[],
    help: "describes users {usersInfo: 1 | name | {user, db} | [...] | {forAllDBs: true}}",
    admin_only: false,
    action: Action::UserAdmin,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    if crate::args::bool_or(req.body, "usersInfo", "showCredentials", false)? {
        return Err(Error::not_supported(
            "usersInfo: showCredentials is not supported (Outpost never shows stored keys)",
        ));
    }
    let found: Vec<UserRecord> = match req.body.get("usersInfo") {
        Some(Bson::Int32(1)) | Some(Bson::Int64(1)) => state.users.list(Some(req.db))?,
        Some(Bson::Double(n)) if *n == 1.0 => state.users.list(Some(req.db))?,
        Some(Bson::Document(d)) if matches!(d.get("forAllDBs"), Some(Bson::Boolean(true))) => {
            if req.db != "admin" {
                return Err(Error::unauthorized(
                    "usersInfo: forAllDBs may only be used on the admin database",
                ));
            }
            state.users.list(None)?
        }
        Some(Bson::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                let (db, user) = user_name(item, req.db)?;
                out.extend(state.users.get(&db, &user)?);
            }
            out
        }
        Some(other) => {
            let (db, user) = user_name(other, req.db)?;
            state.users.get(&db, &user)?.into_iter().collect()
        }
        None => return Err(Error::bad_value("usersInfo: missing argument")),
    };
    let users: Vec<Bson> = found.iter().map(|u| Bson::Document(u.info())).collect();
    Ok(bson::doc! {"users": users})
}

fn user_name(value: &Bson, default_db: &str) -> Result<(String, String)> {
    match value {
        Bson::String(user) => Ok((default_db.to_owned(), user.clone())),
        Bson::Document(d) => match (d.get_str("user"), d.get_str("db")) {
            (Ok(user), Ok(db)) => Ok((db.to_owned(), user.to_owned())),
            _ => Err(Error::bad_value(
                "usersInfo: a user must be a name or a document {user, db}",
            )),
        },
        _ => Err(Error::bad_value(
            "usersInfo: expected 1, a user name, {user, db}, an array of them or {forAllDBs: true}",
        )),
    }
}
