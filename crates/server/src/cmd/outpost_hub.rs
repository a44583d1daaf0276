//! The hub's admin commands (until the Admin API exists): `outpostHubCreateEdge`,
//! `outpostHubListEdges`, `outpostHubSetEdgeQuery`, `outpostHubDeleteEdge`, and
//! `outpostHubCreateApiKey` (a key pair for the Admin API). They answer only on a server
//! started as a hub (`outpost hub`).

use bson::{doc, Bson, Document};
use outpost_sync::protocol::{CREATE_EDGE, DELETE_EDGE, LIST_EDGES, SET_EDGE_QUERY};
use outpost_sync::{Hub, ServiceType};

use crate::admin_api::groups::{Groups, ServiceKind};

use super::{Action, Command, Counter, Request};
use crate::error::{Error, Result};
use crate::state::State;

pub static CREATE_EDGE_COMMAND: Command = Command {
    name: CREATE_EDGE,
    aliases: &[],
    help: "hub: creates an edge instance {name, service: 'edge'|'device-sync', query, defaultDb}; \
           answers its id and one-time registration_key",
    admin_only: true,
    action: Action::HubAdmin,
    counter: Counter::Command,
    run: create_edge,
};

pub static LIST_EDGES_COMMAND: Command = Command {
    name: LIST_EDGES,
    aliases: &[],
    help: "hub: lists the edge instances",
    admin_only: true,
    action: Action::HubAdmin,
    counter: Counter::Command,
    run: list_edges,
};

pub static SET_EDGE_QUERY_COMMAND: Command = Command {
    name: SET_EDGE_QUERY,
    aliases: &[],
    help: "hub: changes an edge instance's query {id, query}",
    admin_only: true,
    action: Action::HubAdmin,
    counter: Counter::Command,
    run: set_edge_query,
};

pub static DELETE_EDGE_COMMAND: Command = Command {
    name: DELETE_EDGE,
    aliases: &[],
    help: "hub: deletes an edge instance {id}; its keys stop working",
    admin_only: true,
    action: Action::HubAdmin,
    counter: Counter::Command,
    run: delete_edge,
};

/// `outpost hub apikey create`'s command.
pub const CREATE_API_KEY: &str = "outpostHubCreateApiKey";

pub static CREATE_API_KEY_COMMAND: Command = Command {
    name: CREATE_API_KEY,
    aliases: &[],
    help: "hub: creates an Admin API key {name}; answers {public_key, private_key} (the private \
           key is shown only now: the hub keeps a slow hash of it)",
    admin_only: true,
    action: Action::HubAdmin,
    counter: Counter::Command,
    run: create_api_key,
};

fn create_api_key(state: &State, req: &Request) -> Result<Document> {
    hub(state)?;
    let name = req
        .body
        .get_str("name")
        .map_err(|_| Error::type_mismatch("'name' must be a string"))?;
    let keys = crate::admin_api::keys::Keys::open(&state.storage)?;
    let created = keys.create(name).map_err(Error::bad_value)?;
    Ok(doc! {"public_key": created.public_key, "private_key": created.private_key})
}

/// The hub of this server, or the error a non-hub server gives.
pub(super) fn hub(state: &State) -> Result<&Hub> {
    state.hub.as_deref().ok_or_else(|| {
        Error::new(
            59,
            "this server is not a hub: sync and hub commands answer only on `outpost hub`",
        )
    })
}

pub(super) fn sync_error(error: outpost_sync::Error) -> Error {
    Error::new(error.code(), error.to_string())
}

fn query_argument(body: &Document) -> Result<Option<Document>> {
    match body.get("query") {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(query)) => Ok(Some(query.clone())),
        Some(Bson::String(text)) => {
            // A bare query string means "every collection, filtered by this query".
            Ok(Some(doc! {"*": text.clone()}))
        }
        Some(_) => Err(Error::type_mismatch(
            "'query' must be an instance query document or a query string",
        )),
    }
}

fn create_edge(state: &State, req: &Request) -> Result<Document> {
    let hub = hub(state)?;
    let name = req
        .body
        .get_str("name")
        .map_err(|_| Error::type_mismatch("'name' must be a string"))?;
    let service: ServiceType = match req.body.get("service") {
        None | Some(Bson::Null) => ServiceType::EdgeServer,
        Some(Bson::String(service)) => service.parse().map_err(sync_error)?,
        Some(_) => return Err(Error::type_mismatch("'service' must be a string")),
    };
    let default_db = match req.body.get("defaultDb") {
        None | Some(Bson::Null) => "test",
        Some(Bson::String(db)) => db.as_str(),
        Some(_) => return Err(Error::type_mismatch("'defaultDb' must be a string")),
    };
    let query = query_argument(req.body)?;
    // In the app of its service and database, so the Admin API shows it too.
    let kind = match service {
        ServiceType::EdgeServer => ServiceKind::EdgeServer,
        ServiceType::DeviceSync => ServiceKind::DeviceSync,
    };
    let app = Groups::open(&state.storage)?
        .cli_app(kind, default_db)
        .map_err(|error| Error::new(1, error.message))?;
    let (record, registration_key) = hub
        .create_edge_in(Some(&app.id), name, service, query.as_ref(), default_db)
        .map_err(sync_error)?;
    Ok(doc! {
        "id": &record.id,
        "name": name,
        "service": service.as_str(),
        "query": record.query,
        "defaultDb": default_db,
        "appId": &app.id,
        "registration_key": registration_key,
    })
}

fn list_edges(state: &State, _req: &Request) -> Result<Document> {
    let edges = hub(state)?.list_edges().map_err(sync_error)?;
    Ok(doc! {"edges": edges})
}

fn set_edge_query(state: &State, req: &Request) -> Result<Document> {
    let id = req
        .body
        .get_str("id")
        .map_err(|_| Error::type_mismatch("'id' must be a string"))?;
    let Some(query) = query_argument(req.body)? else {
        return Err(Error::bad_value("'query' is required"));
    };
    hub(state)?.set_edge_query(id, &query).map_err(sync_error)
}

fn delete_edge(state: &State, req: &Request) -> Result<Document> {
    let id = req
        .body
        .get_str("id")
        .map_err(|_| Error::type_mismatch("'id' must be a string"))?;
    hub(state)?.delete_edge(id).map_err(sync_error)
}
