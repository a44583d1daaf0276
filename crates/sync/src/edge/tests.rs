//! The edge engine against an in-process hub: filtering, batching, cursors, idempotent
//! re-sends, download, query changes and last-writer-wins, with injected link faults.

use std::cell::Cell;
use std::rc::Rc;

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};
use outpost_storage::{DeleteSpec, FindOptions, Storage, UpdateSpec, WriteOptions};

use super::{EdgeOptions, EdgeSync, Link};
use crate::error::{Error, Result};
use crate::hub::{Hub, SyncSession};
use crate::id_rules::ServiceType;

/// A link that calls the hub directly. `fail_after_upload` makes the next upload apply at the
/// hub but lose its reply (the ack), as a dropped connection would.
struct InProcessLink<'a> {
    hub: &'a Hub,
    calls: Rc<Cell<usize>>,
    uploads: Rc<Cell<usize>>,
    fail_after_upload: bool,
    down: bool,
    /// The hub's state of this connection (what a server keeps per connection).
    session: SyncSession,
    /// The edge the hub bound this connection to, as the edge's side sees it.
    bound: Option<String>,
    /// Pipelining: `send` has the hub answer at once and keeps the reply for `receive`.
    pipelined: bool,
    replies: std::collections::VecDeque<Result<Document>>,
}

impl<'a> InProcessLink<'a> {
    fn new(hub: &'a Hub) -> InProcessLink<'a> {
        InProcessLink {
            hub,
            calls: Rc::default(),
            uploads: Rc::default(),
            fail_after_upload: false,
            down: false,
            session: SyncSession::default(),
            bound: None,
            pipelined: false,
            replies: std::collections::VecDeque::new(),
        }
    }

    fn pipelined(hub: &'a Hub) -> InProcessLink<'a> {
        InProcessLink {
            pipelined: true,
            ..InProcessLink::new(hub)
        }
    }
}

impl Link for InProcessLink<'_> {
    fn call(&mut self, command: Document) -> Result<Document> {
        if self.down {
            return Err(Error::Link("connection refused".into()));
        }
        self.calls.set(self.calls.get() + 1);
        let is_upload = command.keys().next().map(String::as_str) == Some("outpostSyncUpload");
        if is_upload {
            self.uploads.set(self.uploads.get() + 1);
        }
        let reply = self.hub.handle(&mut self.session, &command)?;
        if is_upload && self.fail_after_upload {
            self.fail_after_upload = false;
            return Err(Error::Link("connection reset".into()));
        }
        Ok(reply)
    }

    fn bound_edge(&self) -> Option<&str> {
        self.bound.as_deref()
    }

    fn set_bound_edge(&mut self, edge_id: String) {
        self.bound = Some(edge_id);
    }

    fn pipelines(&self) -> bool {
        self.pipelined
    }

    fn send(&mut self, command: Document) -> Result<()> {
        assert!(self.pipelined, "send on a link that does not pipeline");
        let reply = self.call(command);
        self.replies.push_back(reply);
        Ok(())
    }

    fn receive(&mut self) -> Result<Document> {
        self.replies.pop_front().expect("a reply to receive")
    }
}

struct Fixture {
    hub_storage: Storage,
    hub: Hub,
}

impl Fixture {
    fn new() -> Fixture {
        let hub_storage = Storage::temporary().unwrap();
        Fixture {
            hub: Hub::new(hub_storage.clone()).unwrap(),
            hub_storage,
        }
    }

    /// A registered-to-be edge: (storage, engine, its edge id).
    fn edge(
        &self,
        service: ServiceType,
        query: Document,
        dir: Option<&std::path::Path>,
    ) -> (Storage, EdgeSync, String) {
        let created = self
            .hub
            .create_edge("edge", service, Some(&query), "shop")
            .unwrap();
        let key = created.get_str("registration_key").unwrap().to_string();
        let storage = Storage::temporary().unwrap();
        let engine = EdgeSync::new(
            storage.clone(),
            EdgeOptions {
                registration_key: Some(key),
                state_dir: dir.map(std::path::Path::to_path_buf),
                ..EdgeOptions::default()
            },
        )
        .unwrap();
        (storage, engine, created.get_str("id").unwrap().to_string())
    }
}

fn insert(storage: &Storage, ns: &str, doc: Document) {
    let (db, coll) = ns.split_once('.').unwrap();
    storage
        .insert(db, coll, doc, &WriteOptions::default())
        .unwrap();
}

fn all(storage: &Storage, ns: &str) -> Vec<Document> {
    let (db, coll) = ns.split_once('.').unwrap();
    let options = FindOptions {
        sort: Some(doc! {"_id": 1}),
        ..FindOptions::default()
    };
    storage
        .find(db, coll, &options)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn update(storage: &Storage, ns: &str, filter: Document, update: Document) {
    let (db, coll) = ns.split_once('.').unwrap();
    let update = outpost_storage::query::Update::parse(&Bson::Document(update), None).unwrap();
    let spec = UpdateSpec {
        filter: &filter,
        update: &update,
        multi: false,
        upsert: false,
        hint: None,
        sort: None,
        variables: None,
    };
    storage
        .update(db, coll, &spec, &WriteOptions::default())
        .unwrap();
}

fn delete(storage: &Storage, ns: &str, filter: Document) {
    let (db, coll) = ns.split_once('.').unwrap();
    let spec = DeleteSpec {
        filter: &filter,
        just_one: false,
        hint: None,
        variables: None,
    };
    storage
        .delete(db, coll, &spec, &WriteOptions::default())
        .unwrap();
}

fn ids(docs: &[Document]) -> Vec<Bson> {
    docs.iter()
        .map(|d| d.get("_id").cloned().unwrap())
        .collect()
}

#[test]
fn upload_sends_exactly_the_matching_documents_with_valid_ids() {
    let f = Fixture::new();
    let (edge, mut engine, _) = f.edge(
        ServiceType::EdgeServer,
        doc! {"items": "store == 42", "shop.orders": {}},
        None,
    );
    let mut link = InProcessLink::new(&f.hub);
    let (a, b, c) = (ObjectId::new(), ObjectId::new(), ObjectId::new());
    // (namespace, document, reaches the hub)
    let cases = [
        ("shop.items", doc! {"_id": a, "store": 42}, true),
        ("shop.items", doc! {"_id": b, "store": 7}, false),
        ("shop.items", doc! {"_id": "s1", "store": 42}, false),
        ("shop.items", doc! {"_id": 5, "store": 42}, false),
        ("shop.orders", doc! {"_id": c, "total": 1}, true),
        ("shop.orders", doc! {"_id": 1.5, "total": 1}, false),
        ("shop.local", doc! {"_id": ObjectId::new()}, false),
        (
            "other.items",
            doc! {"_id": ObjectId::new(), "store": 42},
            false,
        ),
    ];
    for (ns, doc, _) in &cases {
        insert(&edge, ns, doc.clone());
    }
    engine.sync_once(&mut link).unwrap();
    for ns in ["shop.items", "shop.orders", "shop.local", "other.items"] {
        let expected: Vec<Bson> = cases
            .iter()
            .filter(|(n, _, synced)| *n == ns && *synced)
            .map(|(_, d, _)| d.get("_id").cloned().unwrap())
            .collect();
        assert_eq!(ids(&all(&f.hub_storage, ns)), expected, "{ns}");
    }
    let status = engine.status().lock().unwrap().clone();
    assert_eq!(status.skipped.get("outside_query"), Some(&1));
    assert_eq!(status.skipped.get("invalid_id_type"), Some(&3));
    assert_eq!(status.skipped.get("local_only_namespace"), Some(&2));
    assert_eq!(status.uploaded, 2);
    assert_eq!(status.upload_backlog_entries, 0);
    assert!(status.connected);
}

#[test]
fn device_sync_accepts_more_id_types() {
    let f = Fixture::new();
    let (edge, mut engine, _) = f.edge(ServiceType::DeviceSync, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    for id in [
        Bson::String("s".into()),
        Bson::Int32(1),
        Bson::Int64(2),
        Bson::Double(3.5),
    ] {
        insert(&edge, "shop.items", doc! {"_id": id});
    }
    engine.sync_once(&mut link).unwrap();
    assert_eq!(
        ids(&all(&f.hub_storage, "shop.items")),
        vec![Bson::Int32(1), Bson::Int64(2), Bson::String("s".into())]
    );
}

#[test]
fn updates_deletes_and_moves_out_of_the_query() {
    let f = Fixture::new();
    let (edge, mut engine, _) =
        f.edge(ServiceType::EdgeServer, doc! {"items": "store == 42"}, None);
    let mut link = InProcessLink::new(&f.hub);
    let (a, b, c) = (ObjectId::new(), ObjectId::new(), ObjectId::new());
    for id in [a, b, c] {
        insert(&edge, "shop.items", doc! {"_id": id, "store": 42, "n": 0});
    }
    engine.sync_once(&mut link).unwrap();
    update(
        &edge,
        "shop.items",
        doc! {"_id": a},
        doc! {"$set": {"n": 5}},
    );
    update(
        &edge,
        "shop.items",
        doc! {"_id": b},
        doc! {"$set": {"store": 7}},
    );
    delete(&edge, "shop.items", doc! {"_id": c});
    engine.sync_once(&mut link).unwrap();
    assert_eq!(
        all(&f.hub_storage, "shop.items"),
        vec![doc! {"_id": a, "store": 42, "n": 5}]
    );
}

#[test]
fn batches_are_bounded_and_a_lost_ack_duplicates_nothing() {
    let f = Fixture::new();
    let (edge, mut engine, _) = f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    engine.options.batch_count = 3;
    for n in 0..10 {
        insert(&edge, "shop.items", doc! {"_id": ObjectId::new(), "n": n});
    }
    let mut link = InProcessLink::new(&f.hub);
    link.fail_after_upload = true;
    assert!(engine.sync_once(&mut link).is_err());
    // The hub applied the first batch but the edge never heard: it sends it again.
    assert_eq!(all(&f.hub_storage, "shop.items").len(), 3);
    engine.sync_once(&mut link).unwrap();
    // 1 lost + 4 batches of at most 3.
    assert_eq!(link.uploads.get(), 5);
    let on_hub = all(&f.hub_storage, "shop.items");
    assert_eq!(on_hub.len(), 10);
    // Re-sent entries at or below the acknowledged sequence were ignored, not re-applied:
    // the hub's history has one entry per document.
    let hub_entries = f
        .hub_storage
        .history_from(0)
        .map(Result::unwrap)
        .filter(|e| e.ns == "shop.items")
        .count();
    assert_eq!(hub_entries, 10);
}

#[test]
fn a_snapshot_pages_through_mixed_ids_and_collections() {
    let f = Fixture::new();
    // Ids of several types, in two collections, some outside the query.
    let mut expected_items = Vec::new();
    for n in 0..12_i32 {
        let id = match n % 3 {
            0 => Bson::Int32(n),
            1 => Bson::String(format!("s{n:02}")),
            _ => Bson::ObjectId(ObjectId::new()),
        };
        let doc = doc! {"_id": id, "n": n};
        insert(&f.hub_storage, "shop.items", doc.clone());
        if n % 4 != 3 {
            expected_items.push(doc);
        }
    }
    insert(&f.hub_storage, "shop.orders", doc! {"_id": 1, "n": 0});
    insert(&f.hub_storage, "shop.orders", doc! {"_id": 2, "n": 3});
    let (edge, mut engine, _) = f.edge(
        ServiceType::DeviceSync,
        doc! {"*": {"n": {"$not": {"$mod": [4, 3]}}}},
        None,
    );
    engine.options.batch_count = 2;
    let mut link = InProcessLink::new(&f.hub);
    engine.sync_once(&mut link).unwrap();
    // The same pages through a pipelining link (the next page asked for before one is
    // applied), into a second edge.
    let (piped, mut piped_engine, _) = f.edge(
        ServiceType::DeviceSync,
        doc! {"*": {"n": {"$not": {"$mod": [4, 3]}}}},
        None,
    );
    piped_engine.options.batch_count = 2;
    let mut piped_link = InProcessLink::pipelined(&f.hub);
    piped_engine.sync_once(&mut piped_link).unwrap();
    assert!(
        piped_link.replies.is_empty(),
        "every page sent was received"
    );
    assert_eq!(all(&piped, "shop.items"), all(&edge, "shop.items"));
    assert_eq!(all(&piped, "shop.orders"), all(&edge, "shop.orders"));
    let sorted = |mut docs: Vec<Document>| {
        docs.sort_by(|a, b| {
            outpost_storage::value::compare(a.get("_id").unwrap(), b.get("_id").unwrap())
        });
        docs
    };
    assert_eq!(all(&edge, "shop.items"), sorted(expected_items));
    assert_eq!(all(&edge, "shop.orders"), vec![doc! {"_id": 1, "n": 0}]);
}

#[test]
fn restart_resumes_from_the_persisted_cursors() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let (edge, mut engine, _) = f.edge(
        ServiceType::EdgeServer,
        doc! {"*": "TRUEPREDICATE"},
        Some(dir.path()),
    );
    let mut link = InProcessLink::new(&f.hub);
    insert(&edge, "shop.items", doc! {"_id": ObjectId::new()});
    engine.sync_once(&mut link).unwrap();
    drop(engine);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(super::STATE_FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A new engine on the same data: no registration key needed, nothing uploaded again.
    let mut engine = EdgeSync::new(
        edge.clone(),
        EdgeOptions {
            state_dir: Some(dir.path().to_path_buf()),
            ..EdgeOptions::default()
        },
    )
    .unwrap();
    insert(&edge, "shop.items", doc! {"_id": ObjectId::new()});
    let mut link = InProcessLink::new(&f.hub);
    engine.sync_once(&mut link).unwrap();
    assert_eq!(link.uploads.get(), 1);
    assert_eq!(all(&f.hub_storage, "shop.items").len(), 2);
    assert_eq!(engine.status().lock().unwrap().uploaded, 1);
}

#[test]
fn deleting_an_edge_revokes_its_key_and_its_hold_on_history() {
    let f = Fixture::new();
    let everything = doc! {"*": "TRUEPREDICATE"};
    let (_, mut kept, _) = f.edge(ServiceType::EdgeServer, everything.clone(), None);
    let (behind, mut deleted, deleted_id) = f.edge(ServiceType::EdgeServer, everything, None);
    let mut link = InProcessLink::new(&f.hub);
    kept.sync_once(&mut link).unwrap();
    deleted.sync_once(&mut link).unwrap();
    for n in 0..5 {
        insert(
            &f.hub_storage,
            "shop.items",
            doc! {"_id": ObjectId::new(), "n": n},
        );
    }
    // (The hub learns a download cursor from the next request: two rounds.)
    kept.sync_once(&mut link).unwrap();
    kept.sync_once(&mut link).unwrap();
    // The edge that fell behind holds the hub's history back until it is deleted.
    let held = f.hub.history_floor().unwrap();
    let reply = f.hub.delete_edge(&deleted_id).unwrap();
    assert_eq!(reply.get_bool("deleted"), Ok(true));
    assert!(f.hub.history_floor().unwrap() > held);
    let listed = f.hub.list_edges().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed
        .iter()
        .all(|e| e.get_str("id") != Ok(deleted_id.as_str())));
    // Its key no longer works; its local data stays.
    match deleted.sync_once(&mut link) {
        Err(error) => assert_eq!(error.code(), 18, "{error}"),
        Ok(()) => panic!("a deleted edge synced"),
    }
    assert!(all(&behind, "shop.items").is_empty());
    match f.hub.delete_edge(&deleted_id) {
        Err(error) => assert_eq!(error.code(), 2, "{error}"),
        Ok(reply) => panic!("deleted twice: {reply}"),
    }
}

#[test]
fn a_large_import_at_the_hub_is_versioned_and_later_edits_win() {
    let f = Fixture::new();
    let (edge, mut engine, _) = f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    engine.sync_once(&mut link).unwrap();
    // More than two chunks of hub-local writes.
    let docs: Vec<Document> = (0..12_000)
        .map(|n| doc! {"_id": ObjectId::new(), "n": n})
        .collect();
    let last = docs[docs.len() - 1].get_object_id("_id").unwrap();
    f.hub_storage
        .insert_many("shop", "items", docs, true, &WriteOptions::default())
        .unwrap();
    engine.sync_once(&mut link).unwrap();
    assert_eq!(all(&edge, "shop.items").len(), 12_000);
    let versions = f
        .hub_storage
        .records::<crate::hub::Version>("sync.hub.versions")
        .unwrap()
        .iter()
        .count();
    assert!(versions >= 12_000, "{versions} versions");
    // A later edit at the edge of the last imported document wins over the import.
    update(
        &edge,
        "shop.items",
        doc! {"_id": last},
        doc! {"$set": {"n": -1}},
    );
    // One round: the 12,000 downloaded entries before it in the edge's history are skipped
    // without holding it back.
    engine.sync_once(&mut link).unwrap();
    let at_hub = all(&f.hub_storage, "shop.items");
    let doc = at_hub
        .iter()
        .find(|d| d.get_object_id("_id") == Ok(last))
        .unwrap();
    assert_eq!(doc.get_i32("n"), Ok(-1));
}

/// A new edge asks for its first download while a large import at the hub is not versioned
/// yet: the hub answers with the query at once (the edge takes a snapshot) instead of first
/// versioning the whole import; the background pass versions it later, a chunk at a time.
#[test]
fn a_query_change_is_answered_before_the_hub_versions_an_import() {
    let f = Fixture::new();
    let docs: Vec<Document> = (0..12_000)
        .map(|n| doc! {"_id": ObjectId::new(), "n": n})
        .collect();
    f.hub_storage
        .insert_many("shop", "items", docs, true, &WriteOptions::default())
        .unwrap();
    let versions = || {
        f.hub_storage
            .records::<crate::hub::Version>("sync.hub.versions")
            .unwrap()
            .iter()
            .count()
    };
    let mut session = SyncSession::default();
    hello_register(&f, &mut session, "new");
    let download = crate::protocol::with_version(
        doc! {"outpostSyncDownload": 1, "after": 0_i64, "queryVersion": 0_i64},
    );
    let reply = f.hub.handle(&mut session, &download).unwrap();
    assert_eq!(reply.get_i64("queryVersion"), Ok(1), "{reply}");
    assert_eq!(reply.get_array("changes").map(Vec::len), Ok(0), "{reply}");
    assert_eq!(reply.get_i64("next"), Ok(0), "{reply}");
    assert_eq!(versions(), 0, "nothing versioned to answer a query change");

    let examined = f
        .hub
        .version_local_writes(std::time::Duration::ZERO)
        .unwrap();
    assert!(examined >= 12_000, "{examined}");
    assert_eq!(versions(), 12_000);
    // Nothing left: the next pass waits (here not at all) and examines nothing.
    let examined = f
        .hub
        .version_local_writes(std::time::Duration::ZERO)
        .unwrap();
    assert_eq!(examined, 0);
}

/// An upload's own history entries at the hub need no version (they are the edge's): the
/// upload's commit moves the hub's versioned position past them, so the background pass has
/// nothing to read; a local write at the hub after it is still versioned.
#[test]
fn an_upload_leaves_nothing_for_the_versioner() {
    let f = Fixture::new();
    let (edge, mut engine, _) = f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    engine.sync_once(&mut link).unwrap();
    for n in 0..50 {
        insert(&edge, "shop.items", doc! {"_id": ObjectId::new(), "n": n});
    }
    engine.sync_once(&mut link).unwrap();
    assert_eq!(all(&f.hub_storage, "shop.items").len(), 50);
    let examined = f
        .hub
        .version_local_writes(std::time::Duration::ZERO)
        .unwrap();
    assert_eq!(examined, 0, "the upload's entries were read again");
    insert(&f.hub_storage, "shop.items", doc! {"_id": 1, "at": "hub"});
    let examined = f
        .hub
        .version_local_writes(std::time::Duration::ZERO)
        .unwrap();
    assert_eq!(examined, 1);
    let version = f
        .hub_storage
        .records::<crate::hub::Version>("sync.hub.versions")
        .unwrap()
        .iter()
        .count();
    assert_eq!(version, 51, "50 uploaded, 1 local");
}

#[test]
fn registration_keys_are_single_use() {
    let f = Fixture::new();
    let created = f
        .hub
        .create_edge("e", ServiceType::EdgeServer, None, "test")
        .unwrap();
    let key = created.get_str("registration_key").unwrap();
    assert_eq!(key.len(), 64);
    f.hub.register(key).unwrap();
    let used = f.hub.register(key).unwrap_err();
    assert_eq!(used.code(), 18);
    assert!(used.to_string().contains("already used"), "{used}");
    let wrong = f.hub.register("nope").unwrap_err();
    assert!(wrong.is_fatal());
    let hello = crate::protocol::with_version(doc! {"outpostSyncHello": 1, "apiKey": "nope"});
    let bad_api_key = f
        .hub
        .handle(&mut SyncSession::default(), &hello)
        .unwrap_err();
    assert_eq!(bad_api_key.code(), 18);
    // An engine with a used key fails fatally and says so in its status.
    let storage = Storage::temporary().unwrap();
    let mut engine = EdgeSync::new(
        storage,
        EdgeOptions {
            registration_key: Some(key.to_string()),
            ..EdgeOptions::default()
        },
    )
    .unwrap();
    let error = engine
        .sync_once(&mut InProcessLink::new(&f.hub))
        .unwrap_err();
    assert!(error.is_fatal());
    engine.record_error(&error);
    assert!(engine.status().lock().unwrap().failed);
}

#[test]
fn hub_changes_reach_the_edge_but_not_back() {
    let f = Fixture::new();
    let before = ObjectId::new();
    insert(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": before, "store": 42},
    );
    insert(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": ObjectId::new(), "store": 7},
    );
    let (edge, mut engine, _) =
        f.edge(ServiceType::EdgeServer, doc! {"items": "store == 42"}, None);
    let mut link = InProcessLink::new(&f.hub);
    engine.sync_once(&mut link).unwrap();
    // The first sync snapshots what already matches.
    assert_eq!(ids(&all(&edge, "shop.items")), vec![Bson::ObjectId(before)]);
    let after = ObjectId::new();
    insert(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": after, "store": 42},
    );
    insert(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": ObjectId::new(), "store": 8},
    );
    update(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": before},
        doc! {"$set": {"store": 9}},
    );
    engine.sync_once(&mut link).unwrap();
    assert_eq!(
        all(&edge, "shop.items"),
        vec![doc! {"_id": after, "store": 42}]
    );
    // Nothing the edge applied from the hub goes back up.
    let uploads = link.uploads.get();
    engine.sync_once(&mut link).unwrap();
    assert_eq!(link.uploads.get(), uploads);
    assert_eq!(uploads, 0);
    assert_eq!(engine.status().lock().unwrap().download_lag_entries, 0);
}

#[test]
fn a_drop_at_the_hub_removes_the_synced_copies() {
    let f = Fixture::new();
    let (edge, mut engine, _) = f.edge(ServiceType::DeviceSync, doc! {"items": "store == 1"}, None);
    let mut link = InProcessLink::new(&f.hub);
    let synced = ObjectId::new();
    insert(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": synced, "store": 1},
    );
    insert(&edge, "shop.items", doc! {"_id": "local", "store": 2});
    engine.sync_once(&mut link).unwrap();
    assert_eq!(all(&edge, "shop.items").len(), 2);
    f.hub_storage.drop_collection("shop", "items").unwrap();
    let again = ObjectId::new();
    insert(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": again, "store": 1},
    );
    engine.sync_once(&mut link).unwrap();
    assert_eq!(
        ids(&all(&edge, "shop.items")),
        vec![Bson::String("local".into()), Bson::ObjectId(again)]
    );
}

#[test]
fn a_drop_at_an_edge_deletes_what_it_synced_at_the_hub() {
    let f = Fixture::new();
    let query = doc! {"items": "store == 1"};
    let (one, mut engine_one, _) = f.edge(ServiceType::EdgeServer, query.clone(), None);
    let (two, mut engine_two, _) = f.edge(ServiceType::EdgeServer, query, None);
    let mut link = InProcessLink::new(&f.hub);
    let (a, b, c, d) = (
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
    );
    insert(&f.hub_storage, "shop.items", doc! {"_id": a, "store": 1});
    insert(&f.hub_storage, "shop.items", doc! {"_id": b, "store": 1});
    insert(&f.hub_storage, "shop.items", doc! {"_id": c, "store": 2});
    engine_one.sync_once(&mut link).unwrap();
    engine_two.sync_once(&mut link).unwrap();
    assert_eq!(
        ids(&all(&one, "shop.items")),
        vec![Bson::ObjectId(a), Bson::ObjectId(b)]
    );

    one.drop_collection("shop", "items").unwrap();
    insert(&one, "shop.items", doc! {"_id": d, "store": 1});
    // After the drop by the clock, the hub updates b: that write survives the drop.
    std::thread::sleep(std::time::Duration::from_millis(5));
    update(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": b},
        doc! {"$set": {"x": 1}},
    );
    for _ in 0..2 {
        engine_one.sync_once(&mut link).unwrap();
        engine_two.sync_once(&mut link).unwrap();
    }
    // The documents edge one held are gone at the hub, except the later write; the document
    // outside its query and the one it inserted after the drop are there.
    let expected = vec![
        doc! {"_id": b, "store": 1, "x": 1},
        doc! {"_id": c, "store": 2},
        doc! {"_id": d, "store": 1},
    ];
    assert_eq!(all(&f.hub_storage, "shop.items"), expected);
    let synced: Vec<Document> = expected
        .into_iter()
        .filter(|doc| doc.get_i32("store") == Ok(1))
        .collect();
    assert_eq!(all(&one, "shop.items"), synced);
    assert_eq!(all(&two, "shop.items"), synced);
}

#[test]
fn a_query_change_fetches_new_matches_and_removes_old_ones() {
    let f = Fixture::new();
    let (x, y) = (ObjectId::new(), ObjectId::new());
    insert(&f.hub_storage, "shop.items", doc! {"_id": x, "store": 1});
    insert(&f.hub_storage, "shop.items", doc! {"_id": y, "store": 2});
    let (edge, mut engine, id) =
        f.edge(ServiceType::EdgeServer, doc! {"items": "store == 1"}, None);
    let local = ObjectId::new();
    insert(&edge, "shop.notes", doc! {"_id": local});
    // Kept local (outside the first query); the second query covers it.
    let (kept, never) = (ObjectId::new(), ObjectId::new());
    insert(&edge, "shop.items", doc! {"_id": kept, "store": 2});
    insert(&edge, "shop.items", doc! {"_id": never, "store": 3});
    let mut link = InProcessLink::new(&f.hub);
    engine.sync_once(&mut link).unwrap();
    assert_eq!(
        ids(&all(&edge, "shop.items")),
        [x, kept, never].map(Bson::ObjectId).to_vec()
    );
    assert_eq!(all(&f.hub_storage, "shop.items").len(), 2);
    f.hub
        .set_edge_query(&id, &doc! {"items": "store == 2"})
        .unwrap();
    engine.sync_once(&mut link).unwrap();
    assert_eq!(
        ids(&all(&edge, "shop.items")),
        [y, kept, never].map(Bson::ObjectId).to_vec()
    );
    assert_eq!(ids(&all(&edge, "shop.notes")), vec![Bson::ObjectId(local)]);
    // Removing the hub's old match at the edge was not uploaded as a delete; the newly
    // covered local document was.
    assert_eq!(
        ids(&all(&f.hub_storage, "shop.items")),
        [x, y, kept].map(Bson::ObjectId).to_vec()
    );
    assert_eq!(
        engine.status().lock().unwrap().query,
        Some(doc! {"items": "store == 2"})
    );
}

#[test]
fn last_writer_wins_across_two_edges_and_deletes_win_ties() {
    let f = Fixture::new();
    let (one, mut engine_one, _) =
        f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let (two, mut engine_two, _) =
        f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    let id = ObjectId::new();
    insert(&one, "shop.items", doc! {"_id": id, "v": 0});
    engine_one.sync_once(&mut link).unwrap();
    engine_two.sync_once(&mut link).unwrap();
    assert_eq!(all(&two, "shop.items"), vec![doc! {"_id": id, "v": 0}]);
    // Two offline edits; edge two writes last, but edge one syncs last.
    update(
        &one,
        "shop.items",
        doc! {"_id": id},
        doc! {"$set": {"v": 1}},
    );
    std::thread::sleep(std::time::Duration::from_millis(2));
    update(
        &two,
        "shop.items",
        doc! {"_id": id},
        doc! {"$set": {"v": 2}},
    );
    engine_two.sync_once(&mut link).unwrap();
    engine_one.sync_once(&mut link).unwrap();
    engine_two.sync_once(&mut link).unwrap();
    let winner = vec![doc! {"_id": id, "v": 2}];
    assert_eq!(all(&f.hub_storage, "shop.items"), winner);
    assert_eq!(all(&one, "shop.items"), winner);
    assert_eq!(all(&two, "shop.items"), winner);
    // A delete on one edge and a later-synced update on the other: both converge.
    delete(&one, "shop.items", doc! {"_id": id});
    engine_one.sync_once(&mut link).unwrap();
    engine_two.sync_once(&mut link).unwrap();
    engine_one.sync_once(&mut link).unwrap();
    assert!(all(&f.hub_storage, "shop.items").is_empty());
    assert!(all(&one, "shop.items").is_empty());
    assert!(all(&two, "shop.items").is_empty());
}

#[test]
fn deletes_win_over_concurrent_updates_whatever_the_clocks() {
    for delete_syncs_first in [true, false] {
        let f = Fixture::new();
        let (one, mut engine_one, _) =
            f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
        let (two, mut engine_two, _) =
            f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
        let mut link = InProcessLink::new(&f.hub);
        let id = ObjectId::new();
        insert(&f.hub_storage, "shop.items", doc! {"_id": id, "v": 0});
        engine_one.sync_once(&mut link).unwrap();
        engine_two.sync_once(&mut link).unwrap();
        // Offline: edge one deletes, then edge two updates (a later clock).
        delete(&one, "shop.items", doc! {"_id": id});
        std::thread::sleep(std::time::Duration::from_millis(2));
        update(
            &two,
            "shop.items",
            doc! {"_id": id},
            doc! {"$set": {"v": 2}},
        );
        for _ in 0..3 {
            if delete_syncs_first {
                engine_one.sync_once(&mut link).unwrap();
                engine_two.sync_once(&mut link).unwrap();
            } else {
                engine_two.sync_once(&mut link).unwrap();
                engine_one.sync_once(&mut link).unwrap();
            }
        }
        assert!(
            all(&f.hub_storage, "shop.items").is_empty(),
            "delete first: {delete_syncs_first}"
        );
        assert!(all(&one, "shop.items").is_empty());
        assert!(all(&two, "shop.items").is_empty());
        // Inserting the same _id again after seeing the delete creates the document anew.
        insert(&two, "shop.items", doc! {"_id": id, "v": 3});
        for _ in 0..2 {
            engine_two.sync_once(&mut link).unwrap();
            engine_one.sync_once(&mut link).unwrap();
        }
        let again = vec![doc! {"_id": id, "v": 3}];
        assert_eq!(all(&f.hub_storage, "shop.items"), again);
        assert_eq!(all(&one, "shop.items"), again);
    }
}

/// The divergence seen with real processes: an edge deletes a document while another
/// updates it, and the deleting edge downloads the update before it uploads its delete (its
/// download side runs while the upload waits, or its snapshot is still running). The delete
/// must win there too, as it does at the hub.
#[test]
fn a_pending_local_delete_wins_over_a_downloaded_update() {
    let f = Fixture::new();
    let (one, mut engine_one, _) =
        f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let (two, mut engine_two, _) =
        f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    let id = ObjectId::new();
    insert(&f.hub_storage, "shop.items", doc! {"_id": id, "v": 0});
    engine_one.sync_once(&mut link).unwrap();
    engine_two.sync_once(&mut link).unwrap();
    delete(&one, "shop.items", doc! {"_id": id});
    std::thread::sleep(std::time::Duration::from_millis(2));
    update(
        &two,
        "shop.items",
        doc! {"_id": id},
        doc! {"$set": {"w": 2}},
    );
    engine_two.sync_once(&mut link).unwrap();
    engine_one.download_all(&mut link).unwrap();
    for _ in 0..3 {
        engine_one.sync_once(&mut link).unwrap();
        engine_two.sync_once(&mut link).unwrap();
    }
    assert_eq!(all(&f.hub_storage, "shop.items"), Vec::<Document>::new());
    assert_eq!(all(&two, "shop.items"), Vec::<Document>::new());
    assert_eq!(all(&one, "shop.items"), Vec::<Document>::new());
}

/// A link that runs `after_first_snapshot_page` once, when the edge asks for the second
/// snapshot page (the first is applied by then), as an application's write or another edge's
/// would happen while the snapshot goes on.
struct HookedLink<'a, F: FnMut()> {
    inner: InProcessLink<'a>,
    snapshot_pages: usize,
    after_first_snapshot_page: Option<F>,
}

impl<F: FnMut()> Link for HookedLink<'_, F> {
    fn call(&mut self, command: Document) -> Result<Document> {
        if command.keys().next().map(String::as_str) == Some("outpostSyncSnapshot") {
            self.snapshot_pages += 1;
            if self.snapshot_pages == 2 {
                if let Some(mut hook) = self.after_first_snapshot_page.take() {
                    hook();
                }
            }
        }
        self.inner.call(command)
    }

    fn bound_edge(&self) -> Option<&str> {
        self.inner.bound_edge()
    }

    fn set_bound_edge(&mut self, edge_id: String) {
        self.inner.set_bound_edge(edge_id);
    }
}

/// The second divergence seen with real processes: an edge joins after the data exists and,
/// while its snapshot is still running, deletes documents that arrived in its first page while
/// another edge updates them. The deletes win everywhere.
#[test]
fn a_delete_during_the_snapshot_wins_over_a_concurrent_update() {
    let f = Fixture::new();
    let ids: Vec<ObjectId> = (0..30).map(|_| ObjectId::new()).collect();
    for (n, id) in ids.iter().enumerate() {
        insert(
            &f.hub_storage,
            "shop.items",
            doc! {"_id": id, "n": i32::try_from(n).unwrap()},
        );
    }
    let (one, mut engine_one, _) =
        f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    engine_one.sync_once(&mut link).unwrap();
    let (two, mut engine_two, _) =
        f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    engine_two.options.batch_count = 5;
    let mut sorted = ids.clone();
    sorted.sort();
    let first_page = sorted[..5].to_vec();
    {
        let (two, one, hub, first_page) = (two.clone(), one.clone(), &f.hub, first_page.clone());
        let mut hooked = HookedLink {
            inner: InProcessLink::new(&f.hub),
            snapshot_pages: 0,
            after_first_snapshot_page: Some(move || {
                for id in &first_page {
                    delete(&two, "shop.items", doc! {"_id": id});
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
                for id in &first_page {
                    update(
                        &one,
                        "shop.items",
                        doc! {"_id": id},
                        doc! {"$set": {"w": 1}},
                    );
                }
                let mut link = InProcessLink::new(hub);
                engine_one.sync_once(&mut link).unwrap();
            }),
        };
        engine_two.download_all(&mut hooked).unwrap();
    }
    let mut link = InProcessLink::new(&f.hub);
    for _ in 0..3 {
        engine_two.sync_once(&mut link).unwrap();
    }
    let remaining = |storage: &Storage| all(storage, "shop.items").len();
    assert_eq!(remaining(&f.hub_storage), 25);
    assert_eq!(remaining(&two), 25);
    for id in &first_page {
        let filter = doc! {"_id": id};
        assert!(find_one(&two, filter.clone()).is_none(), "{id} came back");
        assert!(find_one(&f.hub_storage, filter).is_none());
    }
}

fn find_one(storage: &Storage, filter: Document) -> Option<Document> {
    let options = FindOptions {
        filter,
        ..FindOptions::default()
    };
    storage
        .find("shop", "items", &options)
        .unwrap()
        .next()
        .map(Result::unwrap)
}

/// A download that finds nothing new waits for the next commit at the hub and answers with it
/// (a long poll), instead of answering empty.
#[test]
fn a_waiting_download_answers_with_the_next_commit() {
    let f = Fixture::new();
    let (_, mut engine, _) = f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    engine.sync_once(&mut link).unwrap();
    let request = engine.download_request(30_000).unwrap();
    let id = ObjectId::new();
    let writer = {
        let hub_storage = f.hub_storage.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            insert(&hub_storage, "shop.items", doc! {"_id": id});
        })
    };
    let reply = link.call(request).unwrap();
    writer.join().unwrap();
    let changes = reply.get_array("changes").unwrap();
    assert_eq!(changes.len(), 1, "{reply}");
    engine.apply_download(&mut link, &reply).unwrap();
    // A stopping hub answers waiting downloads (here: with nothing) instead of waiting.
    f.hub.stop_waiting();
    let request = engine.download_request(30_000).unwrap();
    let reply = link.call(request).unwrap();
    assert!(reply.get_array("changes").unwrap().is_empty(), "{reply}");
}

/// With push, an edge's download and upload overlap: a download answered before an upload
/// reached the hub can be applied after the upload's acknowledgement. Its stale version of a
/// document the upload wrote must not replace the edge's newer one (the hub never sends the
/// edge its own writes again, so the edge would keep the stale version).
#[test]
fn a_download_answered_before_an_upload_does_not_undo_it() {
    let f = Fixture::new();
    let (edge, mut engine, _) = f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    let id = ObjectId::new();
    insert(&f.hub_storage, "shop.items", doc! {"_id": id, "v": 0});
    engine.sync_once(&mut link).unwrap();
    update(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": id},
        doc! {"$set": {"v": 1}},
    );
    let request = engine.download_request(0).unwrap();
    let stale = link.call(request).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    update(
        &edge,
        "shop.items",
        doc! {"_id": id},
        doc! {"$set": {"v": 2}},
    );
    engine.upload_all(&mut link).unwrap();
    engine.apply_download(&mut link, &stale).unwrap();
    for _ in 0..2 {
        engine.sync_once(&mut link).unwrap();
    }
    let expected = vec![doc! {"_id": id, "v": 2}];
    assert_eq!(all(&f.hub_storage, "shop.items"), expected);
    assert_eq!(all(&edge, "shop.items"), expected);
}

/// A hub refuses an edge of another major protocol version, and the edge a hub of one,
/// each with the versions in the error; the edge is otherwise untouched.
#[test]
fn peers_of_another_protocol_version_are_refused() {
    let f = Fixture::new();
    let (_, mut engine, _) = f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    engine.sync_once(&mut link).unwrap();
    let mut request = engine.download_request(0).unwrap();
    request.insert("protocolVersion", "4.0");
    let error = link.call(request).unwrap_err();
    assert_eq!(
        error.code(),
        crate::protocol::INCOMPATIBLE_PROTOCOL,
        "{error}"
    );
    // A request with a version (an edge of 3.2) is answered with the hub's.
    let mut request = engine.download_request(0).unwrap();
    request.insert("protocolVersion", "3.2");
    let reply = link.call(request).unwrap();
    let current = crate::protocol::PROTOCOL_VERSION.to_string();
    assert_eq!(reply.get_str("protocolVersion"), Ok(current.as_str()));
    // From 3.3 the version is exchanged at hello only: neither side repeats it.
    let request = engine.download_request(0).unwrap();
    assert!(!request.contains_key("protocolVersion"), "{request}");
    let mut reply = link.call(request).unwrap();
    assert!(!reply.contains_key("protocolVersion"), "{reply}");
    engine.apply_download(&mut link, &reply).unwrap();
    // A reply that does carry one is checked.
    reply.insert("protocolVersion", "2.4");
    let error = engine.apply_download(&mut link, &reply).unwrap_err();
    assert!(error.to_string().contains("upgrade the hub"), "{error}");
    assert!(!error.is_fatal());
}

#[test]
fn concurrent_increments_add_up_like_a_counter() {
    let f = Fixture::new();
    let (one, mut engine_one, _) =
        f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let (two, mut engine_two, _) =
        f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    let id = ObjectId::new();
    insert(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": id, "n": 0, "label": "x"},
    );
    engine_one.sync_once(&mut link).unwrap();
    engine_two.sync_once(&mut link).unwrap();
    // Offline, both edges and the hub increment the same counter; one edge also sets a field.
    update(
        &one,
        "shop.items",
        doc! {"_id": id},
        doc! {"$inc": {"n": 1}},
    );
    update(
        &one,
        "shop.items",
        doc! {"_id": id},
        doc! {"$inc": {"n": 2}},
    );
    update(
        &two,
        "shop.items",
        doc! {"_id": id},
        doc! {"$inc": {"n": 10}, "$set": {"label": "y"}},
    );
    update(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": id},
        doc! {"$inc": {"n": 100}},
    );
    for _ in 0..3 {
        engine_one.sync_once(&mut link).unwrap();
        engine_two.sync_once(&mut link).unwrap();
    }
    let expected = vec![doc! {"_id": id, "n": 113, "label": "y"}];
    assert_eq!(all(&f.hub_storage, "shop.items"), expected);
    assert_eq!(all(&one, "shop.items"), expected);
    assert_eq!(all(&two, "shop.items"), expected);
    // A lost acknowledgement re-sends the batch: the increment is still counted once.
    update(
        &one,
        "shop.items",
        doc! {"_id": id},
        doc! {"$inc": {"n": 1}},
    );
    link.fail_after_upload = true;
    let _ = engine_one.sync_once(&mut link);
    for _ in 0..3 {
        engine_one.sync_once(&mut link).unwrap();
        engine_two.sync_once(&mut link).unwrap();
    }
    let expected = vec![doc! {"_id": id, "n": 114, "label": "y"}];
    assert_eq!(all(&f.hub_storage, "shop.items"), expected);
    assert_eq!(all(&one, "shop.items"), expected);
    assert_eq!(all(&two, "shop.items"), expected);
}

#[test]
fn a_change_the_hub_refuses_is_reverted_and_the_rest_applies_once() {
    let f = Fixture::new();
    f.hub_storage
        .create_indexes(
            "shop",
            "items",
            &[doc! {"key": {"sku": 1}, "name": "sku_1", "unique": true}],
        )
        .unwrap();
    let (edge, mut engine, _) = f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    let (a, b, c) = (ObjectId::new(), ObjectId::new(), ObjectId::new());
    insert(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": a, "sku": "s1", "n": 0},
    );
    engine.sync_once(&mut link).unwrap();
    // One batch: a counter increment, a document the hub's unique index refuses (the edge has
    // no such index), a document it accepts, and a change of `a` after the refused one.
    update(
        &edge,
        "shop.items",
        doc! {"_id": a},
        doc! {"$inc": {"n": 1}},
    );
    insert(&edge, "shop.items", doc! {"_id": b, "sku": "s1"});
    insert(&edge, "shop.items", doc! {"_id": c, "sku": "s2"});
    update(
        &edge,
        "shop.items",
        doc! {"_id": a},
        doc! {"$set": {"label": "x"}},
    );
    engine.sync_once(&mut link).unwrap();
    let expected = vec![
        doc! {"_id": a, "sku": "s1", "n": 1, "label": "x"},
        doc! {"_id": c, "sku": "s2"},
    ];
    assert_eq!(all(&f.hub_storage, "shop.items"), expected);
    // The refused insert is reverted at the edge (a compensating write), and counted.
    assert_eq!(all(&edge, "shop.items"), expected);
    let status = engine.status().lock().unwrap().clone();
    assert_eq!(status.skipped.get("refused_by_hub"), Some(&1));
    // Nothing is applied twice afterwards.
    engine.sync_once(&mut link).unwrap();
    assert_eq!(all(&f.hub_storage, "shop.items"), expected);
    assert_eq!(all(&edge, "shop.items"), expected);
    // A refused update is reverted to the hub's version.
    update(
        &edge,
        "shop.items",
        doc! {"_id": c},
        doc! {"$set": {"sku": "s1"}},
    );
    engine.sync_once(&mut link).unwrap();
    assert_eq!(all(&f.hub_storage, "shop.items"), expected);
    assert_eq!(all(&edge, "shop.items"), expected);
    let status = engine.status().lock().unwrap().clone();
    assert_eq!(status.skipped.get("refused_by_hub"), Some(&2));
    // A refused insert whose answer is lost: the re-sent batch is answered with a delete.
    let d = ObjectId::new();
    insert(&edge, "shop.items", doc! {"_id": d, "sku": "s2"});
    link.fail_after_upload = true;
    assert!(engine.sync_once(&mut link).is_err());
    engine.sync_once(&mut link).unwrap();
    assert_eq!(all(&f.hub_storage, "shop.items"), expected);
    assert_eq!(all(&edge, "shop.items"), expected);
}

#[test]
fn concurrent_updates_of_different_nested_fields_merge() {
    let f = Fixture::new();
    let (one, mut engine_one, _) =
        f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let (two, mut engine_two, _) =
        f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    let id = ObjectId::new();
    insert(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": id, "addr": {"street": "a", "city": "x"}, "stock": {"count": 0}, "tags": [1]},
    );
    engine_one.sync_once(&mut link).unwrap();
    engine_two.sync_once(&mut link).unwrap();
    // Offline: each replica changes a different field inside the same embedded documents, and
    // both edges increment the same nested counter.
    let set =
        |storage: &Storage, spec: Document| update(storage, "shop.items", doc! {"_id": id}, spec);
    set(
        &one,
        doc! {"$set": {"addr.street": "b"}, "$inc": {"stock.count": 1}},
    );
    set(
        &two,
        doc! {"$set": {"addr.city": "y"}, "$inc": {"stock.count": 2}},
    );
    set(&f.hub_storage, doc! {"$set": {"addr.zip": 7}});
    for _ in 0..2 {
        engine_one.sync_once(&mut link).unwrap();
        engine_two.sync_once(&mut link).unwrap();
    }
    let merged = vec![doc! {
        "_id": id,
        "addr": {"street": "b", "city": "y", "zip": 7},
        "stock": {"count": 3},
        "tags": [1],
    }];
    assert_eq!(all(&f.hub_storage, "shop.items"), merged);
    assert_eq!(all(&one, "shop.items"), merged);
    assert_eq!(all(&two, "shop.items"), merged);
    // A later replacement of the whole embedded document wins over an earlier change inside
    // it; a change inside it made later still wins over the replacement.
    set(&one, doc! {"$set": {"addr.street": "c"}});
    std::thread::sleep(std::time::Duration::from_millis(2));
    set(&two, doc! {"$set": {"addr": {"street": "d"}}});
    std::thread::sleep(std::time::Duration::from_millis(2));
    set(&f.hub_storage, doc! {"$set": {"addr.city": "z"}});
    for _ in 0..2 {
        engine_one.sync_once(&mut link).unwrap();
        engine_two.sync_once(&mut link).unwrap();
    }
    let merged = vec![doc! {
        "_id": id,
        "addr": {"street": "d", "city": "z"},
        "stock": {"count": 3},
        "tags": [1],
    }];
    assert_eq!(all(&f.hub_storage, "shop.items"), merged);
    assert_eq!(all(&one, "shop.items"), merged);
    assert_eq!(all(&two, "shop.items"), merged);
}

#[test]
fn concurrent_updates_of_different_fields_merge() {
    let f = Fixture::new();
    let (one, mut engine_one, _) =
        f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let (two, mut engine_two, _) =
        f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    let id = ObjectId::new();
    insert(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": id, "a": 0, "b": 0, "c": 0},
    );
    engine_one.sync_once(&mut link).unwrap();
    engine_two.sync_once(&mut link).unwrap();
    // Offline: edge one changes a, edge two changes b, the hub changes c.
    update(
        &one,
        "shop.items",
        doc! {"_id": id},
        doc! {"$set": {"a": 1}},
    );
    update(
        &two,
        "shop.items",
        doc! {"_id": id},
        doc! {"$set": {"b": 2}},
    );
    update(
        &f.hub_storage,
        "shop.items",
        doc! {"_id": id},
        doc! {"$set": {"c": 3}},
    );
    for _ in 0..2 {
        engine_one.sync_once(&mut link).unwrap();
        engine_two.sync_once(&mut link).unwrap();
    }
    let merged = vec![doc! {"_id": id, "a": 1, "b": 2, "c": 3}];
    assert_eq!(all(&f.hub_storage, "shop.items"), merged);
    assert_eq!(all(&one, "shop.items"), merged);
    assert_eq!(all(&two, "shop.items"), merged);
    // The same field on both edges: the later write wins everywhere.
    update(
        &one,
        "shop.items",
        doc! {"_id": id},
        doc! {"$set": {"a": 10}},
    );
    std::thread::sleep(std::time::Duration::from_millis(2));
    update(
        &two,
        "shop.items",
        doc! {"_id": id},
        doc! {"$set": {"a": 20, "b": 20}},
    );
    for _ in 0..2 {
        engine_two.sync_once(&mut link).unwrap();
        engine_one.sync_once(&mut link).unwrap();
    }
    let merged = vec![doc! {"_id": id, "a": 20, "b": 20, "c": 3}];
    assert_eq!(all(&f.hub_storage, "shop.items"), merged);
    assert_eq!(all(&one, "shop.items"), merged);
    assert_eq!(all(&two, "shop.items"), merged);
}

#[test]
fn a_down_link_changes_nothing() {
    let f = Fixture::new();
    let (edge, mut engine, _) = f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    engine.sync_once(&mut link).unwrap();
    insert(&edge, "shop.items", doc! {"_id": ObjectId::new()});
    link.down = true;
    let error = engine.sync_once(&mut link).unwrap_err();
    assert!(!error.is_fatal());
    engine.record_error(&error);
    let status = engine.status().lock().unwrap().clone();
    assert!(!status.connected);
    // The backlog shows while the hub is unreachable.
    assert_eq!(status.upload_backlog_entries, 1);
    assert!(status.upload_backlog_bytes > 0);
    link.down = false;
    engine.sync_once(&mut link).unwrap();
    assert_eq!(all(&f.hub_storage, "shop.items").len(), 1);
}

mod convergence {
    //! Random writes at the hub and two edges, random sync rounds, some of them losing the
    //! upload acknowledgement: after a final quiet sync every replica holds the same documents.

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        /// Replica 0 is the hub, 1 and 2 the edges. `value` `None` deletes.
        Write {
            replica: usize,
            id: usize,
            value: Option<i32>,
            field: usize,
        },
        /// A sync round of edge 1 or 2; `lose_ack` drops the reply of its first upload.
        Sync { edge: usize, lose_ack: bool },
        /// Edge 1 or 2 only downloads (as its download side does while its upload side waits).
        Download { edge: usize },
        /// Edge 1 or 2 only uploads.
        Upload { edge: usize },
        /// Edge 1 or 2 asks for a download, uploads while the answer travels, then applies the
        /// answer (the two sides of a pushing edge overlap).
        OverlappedDownload { edge: usize },
        /// The hub drops the collection.
        HubDrop,
        /// Edge 1 or 2 drops the collection.
        EdgeDrop { edge: usize },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            12 => (
                0..3_usize,
                0..4_usize,
                proptest::option::weighted(0.8, 0..100_i32),
                0..8_usize,
            )
                .prop_map(|(replica, id, value, field)| Step::Write { replica, id, value, field }),
            8 => (1..3_usize, proptest::bool::weighted(0.2))
                .prop_map(|(edge, lose_ack)| Step::Sync { edge, lose_ack }),
            2 => (1..3_usize).prop_map(|edge| Step::Download { edge }),
            2 => (1..3_usize).prop_map(|edge| Step::Upload { edge }),
            2 => (1..3_usize).prop_map(|edge| Step::OverlappedDownload { edge }),
            1 => Just(Step::HubDrop),
            1 => (1..3_usize).prop_map(|edge| Step::EdgeDrop { edge }),
        ]
    }

    /// Sets `v` (field 0), `w` (field 1), increments `n` (field 2), sets `v` and `x` (field 3),
    /// fields inside the embedded document `sub` (4 to 6: a field, a counter, the whole of it),
    /// or `sub` to a number, changing its shape (7); or deletes.
    fn write(storage: &Storage, id: ObjectId, value: Option<i32>, replica: usize, field: usize) {
        let filter = doc! {"_id": id};
        match value {
            Some(value) => {
                let by = i32::try_from(replica).unwrap();
                let spec = match field {
                    0 => doc! {"$set": {"v": value, "by": by}},
                    // Few values: duplicates at the hub's unique index are frequent.
                    1 => doc! {"$set": {"w": value % 3}},
                    // A counter: concurrent increments add up.
                    2 => doc! {"$inc": {"n": value}},
                    3 => doc! {"$set": {"v": value, "x": by}},
                    4 => doc! {"$set": {"sub.p": value, "sub.by": by}},
                    5 => doc! {"$inc": {"sub.c": value}},
                    6 => doc! {"$set": {"sub": {"q": value}}},
                    _ => doc! {"$set": {"sub": value}},
                };
                let update =
                    outpost_storage::query::Update::parse(&Bson::Document(spec), None).unwrap();
                let spec = UpdateSpec {
                    filter: &filter,
                    update: &update,
                    multi: false,
                    upsert: true,
                    hint: None,
                    sort: None,
                    variables: None,
                };
                match storage.update("shop", "items", &spec, &WriteOptions::default()) {
                    // `sub.p` where `sub` is a number: refused, as MongoDB does (PathNotViable).
                    // A duplicate `w` at the hub: refused there too.
                    Ok(_)
                    | Err(outpost_storage::Error::Coded { code: 28, .. })
                    | Err(outpost_storage::Error::DuplicateKey(_)) => {}
                    Err(error) => panic!("update failed: {error}"),
                }
            }
            None => delete(storage, "shop.items", filter),
        }
    }

    /// Runs `steps`, then quiet rounds; returns the replicas (hub, edge 1, edge 2).
    fn run(steps: &[Step], query_two: Document) -> [Storage; 3] {
        let f = Fixture::new();
        // Only the hub has a unique index (on `w`): edges' changes that break it are refused
        // and reverted.
        f.hub_storage
            .create_indexes(
                "shop",
                "items",
                &[doc! {"key": {"w": 1}, "name": "w_1", "unique": true, "sparse": true}],
            )
            .unwrap();
        let (one, engine_one, _) =
            f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
        let (two, engine_two, _) = f.edge(ServiceType::EdgeServer, query_two, None);
        let mut engines = [engine_one, engine_two];
        let replicas = [f.hub_storage.clone(), one, two];
        let ids: Vec<ObjectId> = (0..4).map(|_| ObjectId::new()).collect();
        for step in steps {
            match *step {
                Step::Write {
                    replica,
                    id,
                    value,
                    field,
                } => write(&replicas[replica], ids[id], value, replica, field),
                Step::HubDrop => {
                    f.hub_storage.drop_collection("shop", "items").unwrap();
                }
                Step::EdgeDrop { edge } => {
                    replicas[edge].drop_collection("shop", "items").unwrap();
                }
                Step::Sync { edge, lose_ack } => {
                    let mut link = InProcessLink::new(&f.hub);
                    link.fail_after_upload = lose_ack;
                    let _ = engines[edge - 1].sync_once(&mut link);
                }
                Step::Download { edge } => {
                    let mut link = InProcessLink::new(&f.hub);
                    let _ = engines[edge - 1].download_all(&mut link);
                }
                Step::Upload { edge } => {
                    let mut link = InProcessLink::new(&f.hub);
                    let _ = engines[edge - 1].upload_all(&mut link);
                }
                Step::OverlappedDownload { edge } => {
                    let mut link = InProcessLink::new(&f.hub);
                    let engine = &mut engines[edge - 1];
                    let Ok(request) = engine.download_request(0) else {
                        continue;
                    };
                    let answer = match engine.ensure_bound(&mut link) {
                        Ok(()) => link.call(request),
                        Err(error) => Err(error),
                    };
                    let _ = engine.upload_all(&mut link);
                    if let Ok(answer) = answer {
                        let _ = engine.apply_download(&mut link, &answer);
                    }
                }
            }
        }
        let mut link = InProcessLink::new(&f.hub);
        for _ in 0..4 {
            for engine in &mut engines {
                engine.sync_once(&mut link).unwrap();
            }
        }
        replicas
    }

    /// Regressions found by the property tests below, as plain tests.
    #[test]
    fn regression_update_outside_a_filtered_query_during_a_download() {
        use Step::*;
        let steps = [
            Write {
                replica: 2,
                id: 2,
                value: Some(5),
                field: 2,
            },
            Sync {
                edge: 2,
                lose_ack: false,
            },
            Write {
                replica: 0,
                id: 2,
                value: Some(52),
                field: 0,
            },
            Write {
                replica: 2,
                id: 2,
                value: Some(12),
                field: 0,
            },
            Download { edge: 2 },
        ];
        let [hub, _, two] = run(&steps, doc! {"items": "v >= 50"});
        let in_query = |docs: Vec<Document>| -> Vec<Document> {
            docs.into_iter()
                .filter(|d| d.get_i32("v").is_ok_and(|v| v >= 50))
                .collect()
        };
        assert_eq!(
            in_query(all(&two, "shop.items")),
            in_query(all(&hub, "shop.items"))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn replicas_converge(steps in proptest::collection::vec(step(), 1..40)) {
            let [hub, one, two] = run(&steps, doc! {"*": "TRUEPREDICATE"});
            let hub_docs = all(&hub, "shop.items");
            prop_assert_eq!(&all(&one, "shop.items"), &hub_docs, "edge 1 vs hub after {:?}", steps);
            prop_assert_eq!(&all(&two, "shop.items"), &hub_docs, "edge 2 vs hub after {:?}", steps);
        }

        /// Edge 2 syncs only `v >= 50` and keeps other writes local: where the query holds, it
        /// agrees with the hub.
        #[test]
        fn a_filtered_edge_agrees_on_its_query(steps in proptest::collection::vec(step(), 1..40)) {
            let [hub, one, two] = run(&steps, doc! {"items": "v >= 50"});
            let hub_docs = all(&hub, "shop.items");
            prop_assert_eq!(&all(&one, "shop.items"), &hub_docs, "edge 1 vs hub after {:?}", steps);
            let in_query = |docs: Vec<Document>| -> Vec<Document> {
                docs.into_iter().filter(|d| d.get_i32("v").is_ok_and(|v| v >= 50)).collect()
            };
            prop_assert_eq!(in_query(all(&two, "shop.items")), in_query(hub_docs), "edge 2 vs hub after {:?}", steps);
        }
    }
}

/// Registers a new edge on `session` through the hub's hello: (edge id, API key).
fn hello_register(f: &Fixture, session: &mut SyncSession, name: &str) -> (String, String) {
    let created = f
        .hub
        .create_edge(name, ServiceType::EdgeServer, None, "shop")
        .unwrap();
    let key = created.get_str("registration_key").unwrap();
    let hello = crate::protocol::with_version(doc! {"outpostSyncHello": 1, "registrationKey": key});
    let reply = f.hub.handle(session, &hello).unwrap();
    assert_eq!(session.edge_id(), reply.get_str("edgeId").ok());
    (
        reply.get_str("edgeId").unwrap().to_string(),
        reply.get_str("apiKey").unwrap().to_string(),
    )
}

fn empty_upload(last_seq: i64) -> Document {
    crate::protocol::with_version(
        doc! {"outpostSyncUpload": 1, "fromSeq": 0_i64, "lastSeq": last_seq, "changes": []},
    )
}

/// A sync connection is bound to the edge whose hello succeeded: its requests act for that edge
/// only, a request that names another edge's key is refused, an unbound connection is refused
/// with Unauthorized (13), and a failed hello leaves the connection unbound.
#[test]
fn a_connection_acts_only_for_the_edge_it_is_bound_to() {
    let f = Fixture::new();
    let mut a = SyncSession::default();
    let mut b = SyncSession::default();
    let (a_id, a_key) = hello_register(&f, &mut a, "a");
    let (b_id, b_key) = hello_register(&f, &mut b, "b");
    assert_ne!(a_id, b_id);

    let mut fresh = SyncSession::default();
    let download = crate::protocol::with_version(doc! {"outpostSyncDownload": 1, "after": 0_i64});
    for request in [download.clone(), empty_upload(1)] {
        let error = f.hub.handle(&mut fresh, &request).unwrap_err();
        assert_eq!(error.code(), 13, "{error}");
        assert!(error.to_string().contains("outpostSyncHello"), "{error}");
    }

    // Each connection moves only its own edge's cursor.
    let reply = f.hub.handle(&mut a, &empty_upload(7)).unwrap();
    assert_eq!(reply.get_i64("ackSeq"), Ok(7));
    let reply = f.hub.handle(&mut b, &empty_upload(3)).unwrap();
    assert_eq!(reply.get_i64("ackSeq"), Ok(3), "B's cursor is its own");
    let reply = f.hub.handle(&mut a, &empty_upload(3)).unwrap();
    assert_eq!(reply.get_i64("ackSeq"), Ok(7));

    // A request on A's connection that names B's key is refused, not applied as either.
    let mut as_b = empty_upload(9);
    as_b.insert("apiKey", &b_key);
    let error = f.hub.handle(&mut a, &as_b).unwrap_err();
    assert_eq!(error.code(), 13, "{error}");
    let reply = f.hub.handle(&mut b, &empty_upload(0)).unwrap();
    assert_eq!(reply.get_i64("ackSeq"), Ok(3));

    // A failed hello unbinds; a good one rebinds.
    let hello =
        |key: &str| crate::protocol::with_version(doc! {"outpostSyncHello": 1, "apiKey": key});
    let error = f.hub.handle(&mut a, &hello("not-a-key")).unwrap_err();
    assert_eq!(error.code(), 18, "{error}");
    assert_eq!(a.edge_id(), None);
    let error = f.hub.handle(&mut a, &download).unwrap_err();
    assert_eq!(error.code(), 13, "{error}");
    let reply = f.hub.handle(&mut a, &hello(&a_key)).unwrap();
    assert_eq!(reply.get_str("edgeId"), Ok(a_id.as_str()));
    let current = crate::protocol::PROTOCOL_VERSION.to_string();
    assert_eq!(reply.get_str("protocolVersion"), Ok(current.as_str()));
    assert!(reply.get("apiKey").is_none(), "{reply}");
    f.hub.handle(&mut a, &download).unwrap();
}

/// An edge deleted at the hub while its connection is open: the next request on that
/// connection fails with AuthenticationFailed (18), which stops the edge's sync.
#[test]
fn a_deleted_edge_s_open_connection_fails() {
    let f = Fixture::new();
    let (_, mut engine, id) = f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    engine.sync_once(&mut link).unwrap();
    assert_eq!(link.session.edge_id(), Some(id.as_str()));
    let calls = link.calls.get();
    engine.sync_once(&mut link).unwrap();
    assert!(link.calls.get() > calls);
    f.hub.delete_edge(&id).unwrap();
    let error = engine.sync_once(&mut link).unwrap_err();
    assert_eq!(error.code(), 18, "{error}");
    assert!(error.is_fatal());
    assert!(error.to_string().contains("deleted"), "{error}");
}

/// The edge says hello once per connection, then sends requests without its key; a new
/// connection says hello again. A hello of another major version is refused with 188.
#[test]
fn an_edge_says_hello_once_per_connection() {
    let f = Fixture::new();
    let (edge, mut engine, id) = f.edge(ServiceType::EdgeServer, doc! {"*": "TRUEPREDICATE"}, None);
    let mut link = InProcessLink::new(&f.hub);
    engine.sync_once(&mut link).unwrap();
    insert(&edge, "shop.items", doc! {"_id": ObjectId::new()});
    let request = engine.download_request(0).unwrap();
    assert!(request.get("apiKey").is_none(), "{request}");
    engine.sync_once(&mut link).unwrap();
    assert_eq!(all(&f.hub_storage, "shop.items").len(), 1);
    // A new connection: the engine says hello before anything else.
    let mut second = InProcessLink::new(&f.hub);
    engine.sync_once(&mut second).unwrap();
    assert_eq!(second.session.edge_id(), Some(id.as_str()));
    let old = doc! {"outpostSyncHello": 1, "apiKey": "x", "protocolVersion": "2.0"};
    let error = f.hub.handle(&mut SyncSession::default(), &old).unwrap_err();
    assert_eq!(
        error.code(),
        crate::protocol::INCOMPATIBLE_PROTOCOL,
        "{error}"
    );
    assert!(error.to_string().contains("upgrade the edge"), "{error}");
}

/// Changes from a peer are checked before their clock is adopted or their fields walked: a
/// clock far ahead of the hub's (one near 2^63 would stop every later write) or a field path of
/// 60,000 components is refused with an error, and the hub keeps working.
#[test]
fn a_hub_refuses_changes_with_clocks_far_ahead_or_paths_too_long() {
    let f = Fixture::new();
    let mut session = SyncSession::default();
    hello_register(&f, &mut session, "a");
    let change = |hlc: u64, fields: Option<Vec<String>>| {
        let doc = doc! {"v": 1};
        let op = match fields {
            Some(fields) => crate::protocol::Op::Update(crate::protocol::Update {
                doc,
                delta: false,
                fields,
                increments: None,
            }),
            None => crate::protocol::Op::Replace(doc),
        };
        let change = crate::protocol::Change {
            seq: 1,
            ns: "shop.items".into(),
            id: Bson::ObjectId(ObjectId::new()),
            hlc,
            origin: String::new(),
            op,
        };
        crate::protocol::with_version(doc! {
            "outpostSyncUpload": 1,
            "lastSeq": 1_i64,
            "changes": [change.to_document()],
        })
    };
    let error = f
        .hub
        .handle(
            &mut session,
            &change(u64::try_from(i64::MAX).unwrap(), None),
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("ahead of this machine's clock"),
        "{error}"
    );
    let long_path = vec!["a"; 60_000].join(".");
    let error = f
        .hub
        .handle(&mut session, &change(1 << 16, Some(vec![long_path])))
        .unwrap_err();
    assert_eq!(error.code(), 15, "{error}");
    // Nothing was adopted: the hub's own writes still get ordinary clocks.
    insert(&f.hub_storage, "shop.items", doc! {"_id": ObjectId::new()});
    let last = f.hub_storage.history_from(0).last().unwrap().unwrap();
    assert!(last.hlc < u64::try_from(i64::MAX).unwrap() / 2);
}

/// A link that records the upload requests and replies passing through it.
struct Recording<'a> {
    inner: InProcessLink<'a>,
    uploads: Vec<(Document, Document)>,
}

impl Link for Recording<'_> {
    fn call(&mut self, command: Document) -> Result<Document> {
        let reply = self.inner.call(command.clone())?;
        if command.contains_key("outpostSyncUpload") {
            self.uploads.push((command, reply.clone()));
        }
        Ok(reply)
    }

    fn bound_edge(&self) -> Option<&str> {
        self.inner.bound_edge()
    }

    fn set_bound_edge(&mut self, edge_id: String) {
        self.inner.set_bound_edge(edge_id);
    }
}

fn uploaded_changes(request: &Document) -> Vec<Document> {
    request
        .get_array("changes")
        .unwrap()
        .iter()
        .map(|c| c.as_document().unwrap().clone())
        .collect()
}

/// An update uploads as a field delta (the touched top-level fields), and the hub's
/// document is what a whole upload would have made. A delta of a document the hub does not
/// hold (it entered the query with this update) gets `needFull`, nothing is applied, and the
/// same batch goes again with the whole document.
#[test]
fn updates_upload_as_field_deltas_and_whole_when_the_hub_lacks_the_document() {
    let f = Fixture::new();
    let (edge, mut engine, _) =
        f.edge(ServiceType::EdgeServer, doc! {"items": "store == 42"}, None);
    let mut link = Recording {
        inner: InProcessLink::new(&f.hub),
        uploads: Vec::new(),
    };
    let (a, b) = (ObjectId::new(), ObjectId::new());
    let big = "x".repeat(2_000);
    insert(
        &edge,
        "shop.items",
        doc! {"_id": a, "store": 42, "n": 1, "big": &big, "sub": {"p": 1, "q": 2}},
    );
    // Outside the query: not uploaded.
    insert(
        &edge,
        "shop.items",
        doc! {"_id": b, "store": 7, "big": &big},
    );
    engine.sync_once(&mut link).unwrap();
    link.uploads.clear();

    update(
        &edge,
        "shop.items",
        doc! {"_id": a},
        doc! {"$set": {"n": 2, "sub.q": 3}},
    );
    engine.sync_once(&mut link).unwrap();
    let [(request, reply)] = &link.uploads[..] else {
        panic!("one upload expected: {:?}", link.uploads);
    };
    let [change] = &uploaded_changes(request)[..] else {
        panic!("{request}");
    };
    assert_eq!(change.get_bool("partial"), Ok(true), "{change}");
    assert_eq!(
        change.get_document("doc").unwrap(),
        &doc! {"n": 2, "sub": {"p": 1, "q": 3}}
    );
    assert!(reply.get("needFull").is_none(), "{reply}");
    let expected = doc! {"_id": a, "store": 42, "n": 2, "big": &big, "sub": {"p": 1, "q": 3}};
    assert_eq!(
        find_one(&f.hub_storage, doc! {"_id": a}),
        Some(expected.clone())
    );
    assert_eq!(find_one(&edge, doc! {"_id": a}), Some(expected));

    // b enters the query with an update: the hub has never seen it.
    link.uploads.clear();
    update(
        &edge,
        "shop.items",
        doc! {"_id": b},
        doc! {"$set": {"store": 42}},
    );
    engine.sync_once(&mut link).unwrap();
    let [(first, first_reply), (second, _)] = &link.uploads[..] else {
        panic!("two uploads expected: {:?}", link.uploads);
    };
    assert_eq!(uploaded_changes(first)[0].get_bool("partial"), Ok(true));
    assert_eq!(
        first_reply.get_array("needFull").unwrap().len(),
        1,
        "{first_reply}"
    );
    assert_eq!(
        first.get("lastSeq"),
        second.get("lastSeq"),
        "the same batch again"
    );
    let resent = &uploaded_changes(second)[0];
    assert!(resent.get("partial").is_none(), "{resent}");
    assert_eq!(
        find_one(&f.hub_storage, doc! {"_id": b}),
        Some(doc! {"_id": b, "store": 42, "big": &big})
    );
    // Later updates of b travel as deltas again.
    link.uploads.clear();
    update(
        &edge,
        "shop.items",
        doc! {"_id": b},
        doc! {"$set": {"m": 1}},
    );
    engine.sync_once(&mut link).unwrap();
    assert_eq!(
        uploaded_changes(&link.uploads[0].0)[0].get_bool("partial"),
        Ok(true)
    );
    assert_eq!(
        find_one(&f.hub_storage, doc! {"_id": b}),
        Some(doc! {"_id": b, "store": 42, "big": &big, "m": 1})
    );
}

mod ingest;
