//! `listCommands`: every command with its help text.

use bson::{doc, Document};

use super::{Action, Command, Counter, Request, COMMANDS};
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "listCommands",
    aliases: &[],
    help: "lists every command this server implements, with help",
    admin_only: false,
    action: Action::None,
    counter: Counter::Command,
    run,
};

fn run(_state: &State, _req: &Request) -> Result<Document> {
    let mut names: Vec<&Command> = COMMANDS.to_vec();
    names.sort_by_key(|c| c.name);
    let mut commands = Document::new();
    for c in names {
        commands.insert(
            c.name,
            doc! {
                "help": c.help,
                "adminOnly": c.admin_only,
                "requiresAuth": false,
                "secondaryOk": true,
                "apiVersions": if crate::stable_api::API_VERSION_1.contains(&c.name) {
                    vec!["1"]
                } else {
                    Vec::new()
                },
                "deprecatedApiVersions": [],
            },
        );
    }
    Ok(doc! {"commands": commands})
}
