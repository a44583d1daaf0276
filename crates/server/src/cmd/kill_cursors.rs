//! `killCursors`: closes cursors before they are exhausted.

use bson::{doc, Bson, Document};

use super::{Action, Command, Counter, Request};
use crate::args;
use crate::error::{Error, Result};
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "killCursors",
    aliases: &[],
    help: "closes cursors: { killCursors: <coll>, cursors: [<ids>] }",
    admin_only: false,
    action: Action::Read,
    counter: Counter::Command,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    args::collection_name(req.body, "killCursors")?;
    let ids = args::req_array(req.body, "killCursors", "cursors")?;
    let (mut killed, mut not_found) = (Vec::new(), Vec::new());
    for id in ids {
        let id = match id {
            Bson::Int64(n) => *n,
            Bson::Int32(n) => i64::from(*n),
            other => {
                return Err(Error::type_mismatch(format!(
                    "BSON field 'killCursors.cursors' contains an element of type '{}', expected 'long'",
                    outpost_storage::value::compare::type_name(other)
                )))
            }
        };
        if let Some(cursor) = state.cursors.get(id) {
            let owner = cursor
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .owner
                .clone();
            crate::auth::check_cursor_owner(state, req.conn, &owner, id)?;
        }
        if state.cursors.remove(id) {
            killed.push(id);
        } else {
            not_found.push(id);
        }
    }
    Ok(doc! {
        "cursorsKilled": killed,
        "cursorsNotFound": not_found,
        "cursorsAlive": Bson::Array(vec![]),
        "cursorsUnknown": Bson::Array(vec![]),
    })
}
