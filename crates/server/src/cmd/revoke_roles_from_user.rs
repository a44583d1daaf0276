//! `revokeRolesFromUser`: removes roles from a user. Flushed before the reply.

use bson::{Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::auth::users;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "revokeRolesFromUser",
    aliases: &[],
    help: "removes roles from a user {revokeRolesFromUser: name, roles}",
    admin_only: false,
    action: Action::UserAdmin,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = match req.body.get("revokeRolesFromUser") {
        Some(Bson::String(name)) => name.as_str(),
        _ => {
            return Err(Error::bad_value(
                "revokeRolesFromUser: the user name must be a string",
            ))
        }
    };
    let roles = users::parse_roles(req.body, "revokeRolesFromUser", req.db)?;
    state.users.update(req.db, name, |user| {
        user.roles.retain(|role| !roles.contains(role));
        Ok(())
    })?;
    state.storage.flush()?;
    Ok(super::ok())
}
