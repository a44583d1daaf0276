//! `buildInfo`: the MongoDB version Outpost follows, and Outpost's own version.

use bson::{doc, Document};

use super::hello::{MONGODB_VERSION, MONGODB_VERSION_ARRAY};
use super::{Action, Command, Counter, Request};
use crate::error::Result;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "buildInfo",
    aliases: &["buildinfo"],
    help: "version and build details of this server",
    admin_only: false,
    action: Action::None,
    counter: Counter::Command,
    run,
};

fn run(_state: &State, _req: &Request) -> Result<Document> {
    Ok(doc! {
        "version": MONGODB_VERSION,
        "gitVersion": "outpost",
        "outpostVersion": env!("CARGO_PKG_VERSION"),
        "versionArray": MONGODB_VERSION_ARRAY.to_vec(),
        "bits": 64,
        "debug": cfg!(debug_assertions),
        "maxBsonObjectSize": i32::try_from(outpost_wire::MAX_BSON_OBJECT_SIZE).unwrap_or(i32::MAX),
        "storageEngines": ["sled"],
        "javascriptEngine": "none",
        "modules": [],
        "allocator": "system",
        "openssl": {"running": "disabled"},
        "buildEnvironment": {"target_arch": std::env::consts::ARCH, "target_os": std::env::consts::OS},
    })
}
