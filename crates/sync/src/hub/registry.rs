//! The registry of edge instances: create, list, change the query of, delete, and register
//! (a one-time registration key for an API key).

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};

use super::records::EdgeRecord;
use super::{Hub, HubStore, Peer};
use crate::error::{Error, Result};
use crate::id_rules::ServiceType;
use crate::instance_query::InstanceQuery;
use crate::protocol::messages::HelloReply;
use crate::protocol::{hash_key, random_key};

impl<S: HubStore> Hub<S> {
    /// Creates an edge instance; returns its id and one-time registration key (shown once:
    /// the hub keeps only its hash).
    pub fn create_edge(
        &self,
        name: &str,
        service: ServiceType,
        query: Option<&Document>,
        default_db: &str,
    ) -> Result<Document> {
        let (record, registration_key) =
            self.create_edge_in(None, name, service, query, default_db)?;
        Ok(doc! {
            "id": &record.id,
            "name": name,
            "service": service.as_str(),
            "query": record.query,
            "defaultDb": default_db,
            "registration_key": registration_key,
        })
    }

    /// Creates an edge instance in an Admin API app (`None`: the default); returns its record
    /// and its one-time registration key (the hub keeps only the key's hash).
    pub fn create_edge_in(
        &self,
        app_id: Option<&str>,
        name: &str,
        service: ServiceType,
        query: Option<&Document>,
        default_db: &str,
    ) -> Result<(EdgeRecord, String)> {
        if name.is_empty() {
            return Err(Error::Coded {
                code: 2,
                message: "an edge instance needs a non-empty name".into(),
            });
        }
        let query = match query {
            Some(query) => query.clone(),
            None => doc! {"*": "TRUEPREDICATE"},
        };
        InstanceQuery::parse(&query, default_db)?;
        let registration_key = random_key()?;
        let record = EdgeRecord {
            id: ObjectId::new().to_hex(),
            name: name.to_string(),
            service,
            query: query.clone(),
            query_version: 1,
            default_db: default_db.to_string(),
            registration_key_hash: hash_key(&registration_key),
            registration_key_used: false,
            api_key_hash: None,
            created: DateTime::now(),
            last_seen: None,
            uploaded_seq: 0,
            downloaded_seq: 0,
            app_id: app_id.map(str::to_string),
            user_id: Some(ObjectId::new().to_hex()),
            hostname: None,
            package_version: None,
            last_connection: None,
            failure: None,
            old_api_key_hashes: Vec::new(),
            reset: None,
            last_reset: None,
        };
        let _guard = self.locked();
        self.store.put_edge(&record)?;
        Ok((record, registration_key))
    }

    /// Every edge instance, oldest first, without key hashes.
    pub fn list_edges(&self) -> Result<Vec<Document>> {
        let last_seen = self.locked().last_seen.clone();
        Ok(self
            .store
            .edges()?
            .iter()
            .map(|edge| edge.to_listing(last_seen.get(&edge.id).copied()))
            .collect())
    }

    /// Changes an edge's instance query; the edge picks up the new version at its next
    /// download and re-fetches what now matches.
    pub fn set_edge_query(&self, id: &str, query: &Document) -> Result<Document> {
        let _guard = self.locked();
        let mut record = self.edge_by_id(id)?;
        InstanceQuery::parse(query, &record.default_db)?;
        record.query = query.clone();
        record.query_version = record.query_version.saturating_add(1);
        self.store.put_edge(&record)?;
        Ok(doc! {"id": id, "query": query.clone(), "queryVersion": record.query_version})
    }

    /// Deletes an edge instance: its API key (or unused registration key) stops working at
    /// once, and its download cursor no longer holds back the trimming of the hub's history.
    /// The edge keeps serving its local data; its sync stops with an authentication error.
    pub fn delete_edge(&self, id: &str) -> Result<Document> {
        let mut memory = self.locked();
        self.edge_by_id(id)?;
        self.store.remove_edge(id)?;
        memory.last_seen.remove(id);
        memory.downloaded.remove(id);
        self.store.remove_observations(id)?;
        memory.metrics_history.remove(id);
        Ok(doc! {"id": id, "deleted": true})
    }

    /// Exchanges a one-time registration key for an API key.
    pub fn register(&self, registration_key: &str) -> Result<HelloReply> {
        self.register_from(registration_key, &Peer::default())
    }

    /// [`Hub::register`], noting what the edge said about itself.
    pub(super) fn register_from(&self, registration_key: &str, peer: &Peer) -> Result<HelloReply> {
        let _guard = self.locked();
        let hash = hash_key(registration_key);
        let Some(mut record) = self
            .store
            .edges()?
            .into_iter()
            .find(|edge| edge.registration_key_hash == hash)
        else {
            return Err(Error::Unauthorized(
                "the registration key is not valid: no edge instance has it".into(),
            ));
        };
        if record.registration_key_used {
            return Err(Error::Unauthorized(
                "the registration key was already used; create a new edge instance or re-key it \
                 at the hub"
                    .into(),
            ));
        }
        let api_key = random_key()?;
        record.registration_key_used = true;
        record.api_key_hash = Some(hash_key(&api_key));
        record.last_seen = Some(self.now());
        // A reset the hub required stays required: the edge's next hello with its new API key
        // is told so.
        record.failure = None;
        peer.note(&mut record, self.now());
        self.store.put_edge(&record)?;
        Ok(HelloReply {
            edge_id: record.id,
            api_key: Some(api_key),
            service: Some(record.service.as_str().to_string()),
            query: Some(record.query),
            query_version: Some(record.query_version),
            default_db: Some(record.default_db),
            reset: None,
        })
    }

    pub(super) fn edge_by_id(&self, id: &str) -> Result<EdgeRecord> {
        self.store.edge(id)?.ok_or_else(|| Error::Coded {
            code: 2,
            message: format!("no edge instance with id '{id}'"),
        })
    }
}
