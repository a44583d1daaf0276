//! `grantRolesToUser`: adds roles to a user. Flushed before the reply.

use bson::{Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::auth::users;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "grantRolesToUser",
    aliases: &[],
    help: "adds roles to a user {grantRolesToUser: name, roles}",
    admin_only: false,
    action: Action::UserAdmin,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = match req.body.get("grantRolesToUser") {
        Some(Bson::String(name)) => name.as_str(),
        _ => {
            return Err(Error::bad_value(
                "grantRolesToUser: the user name must be a string",
            ))
        }
    };
    let roles = users::parse_roles(req.body, "grantRolesToUser", req.db)?;
    state.users.update(req.db, name, |user| {
        for role in roles {
            if !user.roles.contains(&role) {
                user.roles.push(role);
            }
        }
        Ok(())
    })?;
    state.storage.flush()?;
    Ok(super::ok())
}
