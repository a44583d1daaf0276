//! Groups (Atlas projects) and apps. The hub has one group, made with a random 24-hex id at
//! its first start (record tree `admin.groups`); apps live in `admin.apps`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use bson::oid::ObjectId;
use outpost_storage::{RecordTree, Storage};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::{json_body, ApiState};

/// An app's `client_max_offline_days` when not given, and the most it may be.
pub const DEFAULT_MAX_OFFLINE_DAYS: u32 = 30;
pub const MAX_OFFLINE_DAYS: u32 = 60;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub id: String,
    pub name: String,
}

/// The kind of service an app is: its edges' `_id` rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    EdgeServer,
    DeviceSync,
}

impl ServiceKind {
    pub fn sync_service(self) -> outpost_sync::ServiceType {
        match self {
            ServiceKind::EdgeServer => outpost_sync::ServiceType::EdgeServer,
            ServiceKind::DeviceSync => outpost_sync::ServiceType::DeviceSync,
        }
    }
}

/// One app, as stored and as answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    #[serde(rename = "_id")]
    pub id: String,
    pub client_app_id: String,
    pub name: String,
    pub service_type: ServiceKind,
    /// The database bare collection names of its edges' queries refer to.
    pub database: String,
    pub group_id: String,
    pub client_max_offline_days: u32,
}

impl App {
    /// A new app with a fresh id and client app id (`name-xxxxx`).
    fn new(
        name: String,
        service_type: ServiceKind,
        database: String,
        group_id: String,
        client_max_offline_days: u32,
    ) -> ApiResult<App> {
        let suffix = outpost_sync::protocol::random_key().map_err(ApiError::internal)?;
        Ok(App {
            id: ObjectId::new().to_hex(),
            client_app_id: format!("{}-{}", name.to_lowercase(), &suffix[..5]),
            name,
            service_type,
            database,
            group_id,
            client_max_offline_days,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApp {
    name: String,
    service_type: ServiceKind,
    database: String,
    client_max_offline_days: Option<u32>,
}

/// The group and app stores.
#[derive(Clone)]
pub struct Groups {
    groups: RecordTree<Group>,
    apps: RecordTree<App>,
}

impl Groups {
    /// Opens the stores, creating the default group on a hub's first start.
    pub fn open(storage: &Storage) -> Result<Groups, outpost_storage::Error> {
        let groups = Groups {
            groups: storage.records("admin.groups")?,
            apps: storage.records("admin.apps")?,
        };
        if groups.groups.iter().next().is_none() {
            let id = ObjectId::new().to_hex();
            let group = Group {
                id: id.clone(),
                name: "Default".into(),
            };
            groups.groups.put(id.as_bytes(), &group)?;
        }
        Ok(groups)
    }

    pub fn list(&self) -> ApiResult<Vec<Group>> {
        Ok(self
            .groups
            .iter()
            .map(|entry| entry.map(|(_, group)| group))
            .collect::<Result<_, _>>()?)
    }

    /// The group, or 404.
    pub fn group(&self, id: &str) -> ApiResult<Group> {
        self.groups
            .get(id.as_bytes())?
            .ok_or_else(|| ApiError::not_found("GroupNotFound", format!("no group with id '{id}'")))
    }

    fn apps_of(&self, group_id: &str) -> ApiResult<Vec<App>> {
        let mut apps = Vec::new();
        for entry in self.apps.iter() {
            let (_, app) = entry?;
            if app.group_id == group_id {
                apps.push(app);
            }
        }
        Ok(apps)
    }

    /// The app `outpost hub edge create` puts an instance of `service` and `database` in, so
    /// that it shows in the Admin API like the others: the default group's app named
    /// `cli-<service>-<database>` (characters an app name cannot hold as `_`), created at
    /// first use with the default settings.
    pub fn cli_app(&self, service: ServiceKind, database: &str) -> ApiResult<App> {
        let group = self
            .list()?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::internal("the hub has no group"))?;
        let service_name = match service {
            ServiceKind::EdgeServer => "edge_server",
            ServiceKind::DeviceSync => "device_sync",
        };
        let name: String = format!("cli-{service_name}-{database}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        if let Some(app) = self
            .apps_of(&group.id)?
            .into_iter()
            .find(|app| app.name == name)
        {
            return Ok(app);
        }
        let app = App::new(
            name,
            service,
            database.to_string(),
            group.id,
            DEFAULT_MAX_OFFLINE_DAYS,
        )?;
        self.apps.put(app.id.as_bytes(), &app)?;
        Ok(app)
    }

    /// The app of the group, or 404 (for the group or the app).
    pub fn app(&self, group_id: &str, app_id: &str) -> ApiResult<App> {
        self.group(group_id)?;
        self.apps
            .get(app_id.as_bytes())?
            .filter(|app| app.group_id == group_id)
            .ok_or_else(|| ApiError::not_found("AppNotFound", format!("no app with id '{app_id}'")))
    }
}

/// Each edge's maximum offline time for the hub (see `outpost_sync::hub`'s offline window):
/// its app's `client_max_offline_days`, read at each use (so a changed setting applies); the
/// default for instances of no app (made by `outpost hub edge create`) or of an app that is
/// gone.
pub fn offline_windows(
    storage: &Storage,
) -> Result<outpost_sync::hub::OfflineWindows, outpost_storage::Error> {
    let apps: RecordTree<App> = storage.records("admin.apps")?;
    Ok(Arc::new(move |edge: &outpost_sync::EdgeRecord| {
        let days = edge
            .app_id
            .as_deref()
            .and_then(|id| apps.get(id.as_bytes()).ok().flatten())
            .map_or(DEFAULT_MAX_OFFLINE_DAYS, |app| app.client_max_offline_days);
        std::time::Duration::from_secs(u64::from(days) * 86_400)
    }))
}

/// `GET /groups`: Outpost's addition, to find the default group's id.
pub(super) async fn list_groups(State(state): State<Arc<ApiState>>) -> ApiResult<Json<Vec<Group>>> {
    Ok(Json(state.groups.list()?))
}

/// `GET /groups/{groupId}/apps`.
pub(super) async fn list_apps(
    State(state): State<Arc<ApiState>>,
    Path(group_id): Path<String>,
) -> ApiResult<Json<Vec<App>>> {
    state.groups.group(&group_id)?;
    Ok(Json(state.groups.apps_of(&group_id)?))
}

/// `POST /groups/{groupId}/apps` `{name, service_type, database, client_max_offline_days?}`.
pub(super) async fn create_app(
    State(state): State<Arc<ApiState>>,
    Path(group_id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<App>)> {
    let request: NewApp = json_body(&body)?;
    state.groups.group(&group_id)?;
    check_app_name(&request.name)?;
    if request.database.is_empty() || request.database.contains(['.', '$', '\0', '/']) {
        return Err(ApiError::bad_request(format!(
            "invalid database name '{}'",
            request.database
        )));
    }
    let days = request
        .client_max_offline_days
        .unwrap_or(DEFAULT_MAX_OFFLINE_DAYS);
    if !(1..=MAX_OFFLINE_DAYS).contains(&days) {
        return Err(ApiError::bad_request(format!(
            "client_max_offline_days must be between 1 and {MAX_OFFLINE_DAYS}, got {days}"
        )));
    }
    if state
        .groups
        .apps_of(&group_id)?
        .iter()
        .any(|app| app.name == request.name)
    {
        return Err(ApiError::name_taken(format!(
            "an app named '{}' already exists in this group",
            request.name
        )));
    }
    let app = App::new(
        request.name,
        request.service_type,
        request.database,
        group_id,
        days,
    )?;
    state.groups.apps.put(app.id.as_bytes(), &app)?;
    Ok((StatusCode::CREATED, Json(app)))
}

/// Atlas' rule: a letter first, then ASCII letters, digits, `_` and `-`; at most 64.
fn check_app_name(name: &str) -> ApiResult<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 64;
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid app name '{name}': it must start with a letter and hold only ASCII letters, \
             digits, '_' and '-' (at most 64)"
        )))
    }
}
