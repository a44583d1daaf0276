//! `createUser`: a user of the command's database with a password (kept only as salted
//! SCRAM keys) and roles. Flushed before the reply.

use bson::{Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::auth::users;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "createUser",
    aliases: &[],
    help: "creates a user {createUser: name, pwd, roles, customData, mechanisms}",
    admin_only: false,
    action: Action::UserAdmin,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = match req.body.get("createUser") {
        Some(Bson::String(name)) => name.as_str(),
        _ => {
            return Err(Error::bad_value(
                "createUser: the user name must be a string",
            ))
        }
    };
    if req.db == "$external" {
        return Err(Error::not_supported(
            "createUser: users of $external (x.509, LDAP) are not supported; PLAIN checks the users of admin",
        ));
    }
    let Some(password) = users::parse_password(req.body, "createUser")? else {
        return Err(Error::bad_value(
            "Must provide a 'pwd' field for all user documents, except those with '$external' as the user's source db",
        ));
    };
    let roles = users::parse_roles(req.body, "createUser", req.db)?;
    let mechanisms = users::parse_mechanisms(req.body, "createUser")?;
    let mut user = users::new_user(req.db, name, password, roles, &mechanisms)?;
    user.custom_data = crate::args::opt_doc(req.body, "createUser", "customData")?.cloned();
    if state.config.auth && crate::auth::lock(req.conn).users.is_empty() {
        // Allowed by the localhost exception: only while no user exists.
        state.users.create_first(user)?;
    } else {
        state.users.create(user)?;
    }
    state.storage.flush()?;
    tracing::info!(user = name, db = req.db, remote = %req.conn.peer, "user created");
    Ok(super::ok())
}
