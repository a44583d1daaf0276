//! `updateUser`: a new password, roles (replacing the old ones), custom data or mechanisms.
//! Flushed before the reply.

use bson::{Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::auth::users::{self, Credentials};
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "updateUser",
    aliases: &[],
    help: "changes a user {updateUser: name, pwd, roles, customData, mechanisms}",
    admin_only: false,
    action: Action::UserAdmin,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let name = match req.body.get("updateUser") {
        Some(Bson::String(name)) => name.as_str(),
        _ => {
            return Err(Error::bad_value(
                "updateUser: the user name must be a string",
            ))
        }
    };
    let password = users::parse_password(req.body, "updateUser")?;
    let has_roles = req.body.contains_key("roles");
    let custom = crate::args::opt_doc(req.body, "updateUser", "customData")?;
    if password.is_none() && !has_roles && custom.is_none() {
        return Err(Error::bad_value(
            "Must specify at least one field to update in updateUser",
        ));
    }
    if req.body.contains_key("mechanisms") && password.is_none() {
        return Err(Error::bad_value(
            "updateUser: changing mechanisms needs the password (pwd)",
        ));
    }
    // Everything is parsed (and keys derived) before the record changes.
    let credentials = match password {
        Some(password) => {
            let mechanisms = users::parse_mechanisms(req.body, "updateUser")?;
            Some(Credentials::derive(name, password, &mechanisms)?)
        }
        None => None,
    };
    let roles = match has_roles {
        true => Some(users::parse_roles(req.body, "updateUser", req.db)?),
        false => None,
    };
    state.users.update(req.db, name, |user| {
        if let Some(credentials) = credentials {
            user.credentials = credentials;
        }
        if let Some(roles) = roles {
            user.roles = roles;
        }
        if let Some(custom) = custom {
            user.custom_data = Some(custom.clone());
        }
        Ok(())
    })?;
    state.storage.flush()?;
    Ok(super::ok())
}
