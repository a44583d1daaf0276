//! What an edge remembers between runs, in two places:
//! - its identity at the hub (edge id, API key, service, default database) in
//!   [`STATE_FILE_NAME`] in the data directory, owner-readable only (it holds the API key),
//!   replaced atomically;
//! - its progress (the instance query, the query version its data reflects, the upload and
//!   download cursors) as a record in its own store, committed in the same batch as the data
//!   it describes: a downloaded page and the cursor after it commit together, so neither can
//!   be on disk without the other.

use std::path::Path;

use bson::{doc, Bson, DateTime, Document};
use outpost_storage::{RecordTree, RemoteBatch, Storage};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id_rules::ServiceType;
use crate::protocol::{read_str, read_u64};

/// The edge's identity file in its data directory.
pub const STATE_FILE_NAME: &str = "outpost-sync-state.bson";
/// The record tree of the edge's progress.
const PROGRESS_TREE: &str = "sync.edge";
const PROGRESS_KEY: &[u8] = b"progress";
/// The record tree of acknowledged inserts into ingest collections, by acknowledgement time.
const INGESTED_TREE: &str = "sync.edge.ingested";

/// Who the edge is at the hub.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Identity {
    pub edge_id: String,
    pub api_key: String,
    pub service: ServiceType,
    pub default_db: String,
}

/// How far the edge's sync has come.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Progress {
    pub query: Document,
    /// The query version the local data reflects (0: never snapshotted).
    pub synced_query_version: i64,
    /// The last history sequence uploaded (and acknowledged) or skipped.
    pub upload_cursor: u64,
    /// The last hub history sequence applied.
    pub download_cursor: u64,
    /// A reset begun and not finished (see `edge::reset`): resumed at the next connection.
    #[serde(default)]
    pub reset: Option<ResetMarker>,
}

/// A reset the hub required, from the moment the edge kept its unsynced changes until they
/// are re-applied on the fresh copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ResetMarker {
    /// The `resetId` of this reset's records in the recovery collection.
    pub id: String,
    pub reason: String,
    pub started: bson::DateTime,
}

/// An insert into an ingest collection that the hub acknowledged: the local copy may go once
/// it is older than the retention. Keyed by [`ingested_key`], so the oldest come first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Ingested {
    pub ns: String,
    pub id: Bson,
    pub acknowledged_at: DateTime,
}

/// The key of an [`Ingested`] record: acknowledgement time (milliseconds) and history
/// sequence, big-endian, so keys sort by time.
pub(super) fn ingested_key(acknowledged_at: DateTime, seq: u64) -> Vec<u8> {
    let millis = u64::try_from(acknowledged_at.timestamp_millis()).unwrap_or(0);
    let mut key = millis.to_be_bytes().to_vec();
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Both, as the engine works with them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct EdgeState {
    pub identity: Identity,
    pub progress: Progress,
}

/// Where the state lives.
pub(super) struct StateStore {
    file: Option<std::path::PathBuf>,
    progress: RecordTree<Progress>,
    ingested: RecordTree<Ingested>,
}

impl StateStore {
    pub fn new(storage: &Storage, dir: Option<&Path>) -> Result<StateStore> {
        Ok(StateStore {
            file: dir.map(|dir| dir.join(STATE_FILE_NAME)),
            progress: storage.records(PROGRESS_TREE)?,
            ingested: storage.records(INGESTED_TREE)?,
        })
    }

    pub fn ingested_tree(&self) -> &RecordTree<Ingested> {
        &self.ingested
    }

    /// Stages `progress` in `batch`: the cursors commit with the data they describe.
    pub fn stage_progress(&self, batch: &mut RemoteBatch<'_>, progress: &Progress) -> Result<()> {
        batch.put_record(&self.progress, PROGRESS_KEY, Some(progress))?;
        Ok(())
    }

    /// The stored state: `None` before registration. A state file written before progress
    /// records existed carries the cursors itself.
    pub fn load(&self) -> Result<Option<EdgeState>> {
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let Some(document) = read_file(file)? else {
            return Ok(None);
        };
        let identity = Identity {
            edge_id: read_str(&document, "edgeId")?.to_string(),
            api_key: read_str(&document, "apiKey")?.to_string(),
            service: read_str(&document, "service")?.parse()?,
            default_db: read_str(&document, "defaultDb")?.to_string(),
        };
        let progress = match self.progress.get(PROGRESS_KEY)? {
            Some(progress) => progress,
            None => legacy_progress(&document)?,
        };
        Ok(Some(EdgeState { identity, progress }))
    }

    /// Writes the identity file (mode 0600) when there is one.
    pub fn save_identity(&self, identity: &Identity) -> Result<()> {
        match &self.file {
            Some(file) => write_file(
                file,
                &doc! {
                    "edgeId": &identity.edge_id,
                    "apiKey": &identity.api_key,
                    "service": identity.service.as_str(),
                    "defaultDb": &identity.default_db,
                },
            ),
            None => Ok(()),
        }
    }

    /// Stores the progress on its own (without data to go with it).
    pub fn save_progress(&self, progress: &Progress) -> Result<()> {
        Ok(self.progress.put(PROGRESS_KEY, progress)?)
    }
}

/// The progress kept in a state file of an earlier version.
fn legacy_progress(document: &Document) -> Result<Progress> {
    Ok(Progress {
        query: document
            .get_document("query")
            .map_err(|_| Error::protocol("sync state: 'query' must be a document"))?
            .clone(),
        synced_query_version: match document.get("syncedQueryVersion") {
            Some(_) => i64::try_from(read_u64(document, "syncedQueryVersion")?)
                .map_err(|_| Error::protocol("sync state: query version out of range"))?,
            None => 0,
        },
        upload_cursor: read_u64(document, "uploadCursor")?,
        download_cursor: read_u64(document, "downloadCursor")?,
        reset: None,
    })
}

fn read_file(path: &Path) -> Result<Option<Document>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(Error::Coded {
                code: 1,
                message: format!("cannot read {}: {error}", path.display()),
            })
        }
    };
    Document::from_reader(bytes.as_slice())
        .map(Some)
        .map_err(|error| Error::Coded {
            code: 1,
            message: format!("corrupt sync state {}: {error}", path.display()),
        })
}

/// Writes to a temporary file (mode 0600: it holds the API key), syncs it and renames it over
/// the old one, so a crash leaves either the old or the new file.
fn write_file(path: &Path, document: &Document) -> Result<()> {
    use std::io::Write;
    let io_error = |error: std::io::Error| Error::Coded {
        code: 1,
        message: format!("cannot write {}: {error}", path.display()),
    };
    let bytes = bson::to_vec(document).map_err(|error| Error::Coded {
        code: 1,
        message: error.to_string(),
    })?;
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary).map_err(io_error)?;
    file.write_all(&bytes).map_err(io_error)?;
    file.sync_all().map_err(io_error)?;
    std::fs::rename(&temporary, path).map_err(io_error)?;
    Ok(())
}
