//! `connectionStatus`: the users this connection is authenticated as and their roles.

use bson::{doc, Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "connectionStatus",
    aliases: &[],
    help: "the users and roles this connection is authenticated with",
    admin_only: false,
    action: Action::None,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    let mut users = Vec::new();
    let mut roles = Vec::new();
    let mut privileges = Vec::new();
    for (principal, granted) in crate::auth::current_roles(state, req.conn)? {
        users.push(Bson::Document(
            doc! {"user": &principal.user, "db": &principal.db},
        ));
        for role in granted {
            privileges.extend(role.privileges().into_iter().map(Bson::Document));
            let role = Bson::Document(doc! {"role": role.role, "db": role.db});
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
    }
    let mut auth_info = doc! {"authenticatedUsers": users, "authenticatedUserRoles": roles};
    if args::bool_or(req.body, "connectionStatus", "showPrivileges", false)? {
        auth_info.insert("authenticatedUserPrivileges", privileges);
    }
    Ok(doc! {"authInfo": auth_info})
}
