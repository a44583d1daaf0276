//! `connectionStatus`: who this connection is authenticated as (no one: Outpost has no
//! authentication yet, so every connection has every privilege).

use bson::{doc, Document};

use super::{Command, Counter, Request};
use crate::args;
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "connectionStatus",
    aliases: &[],
    help: "the users and roles this connection is authenticated with",
    admin_only: false,
    counter: Counter::Command,
    run,
};

fn run(_state: &State, req: &Request) -> Result<Document> {
    let mut auth_info = doc! {"authenticatedUsers": [], "authenticatedUserRoles": []};
    if args::bool_or(req.body, "connectionStatus", "showPrivileges", false)? {
        auth_info.insert("authenticatedUserPrivileges", bson::Bson::Array(vec![]));
    }
    Ok(doc! {"authInfo": auth_info})
}
