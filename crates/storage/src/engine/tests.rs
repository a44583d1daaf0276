//! Engine tests on a temporary store: writes, indexes, the planner, restarts and the history
//! log. The query language has its own tables in `query/`.

use bson::{doc, Bson, Document};

use super::*;
use crate::query::Update;

fn opts() -> WriteOptions {
    WriteOptions::default()
}

/// An update of the first document matching `filter`, without upsert, hint, sort or
/// variables.
fn update_one<'a>(filter: &'a Document, update: &'a Update) -> UpdateSpec<'a> {
    UpdateSpec {
        filter,
        update,
        multi: false,
        upsert: false,
        hint: None,
        sort: None,
        variables: None,
    }
}

/// A delete of the first document matching `filter`, without hint or variables.
fn delete_one(filter: &Document) -> DeleteSpec<'_> {
    DeleteSpec {
        filter,
        just_one: true,
        hint: None,
        variables: None,
    }
}

fn find_all(storage: &Storage, filter: Document) -> Vec<Document> {
    let options = FindOptions {
        filter,
        ..FindOptions::default()
    };
    storage
        .find("db", "c", &options)
        .expect("find")
        .collect::<Result<_>>()
        .expect("documents")
}

#[test]
fn insert_puts_id_first_and_generates_missing_ids() {
    let s = Storage::temporary().expect("store");
    s.insert("db", "c", doc! {"a": 1, "_id": 7}, &opts())
        .expect("insert");
    let id = s.insert("db", "c", doc! {"a": 2}, &opts()).expect("insert");
    assert!(matches!(id, Bson::ObjectId(_)));
    let docs = find_all(&s, doc! {"_id": 7});
    assert_eq!(docs, vec![doc! {"_id": 7, "a": 1}]);
    assert_eq!(docs[0].keys().next().map(String::as_str), Some("_id"));
}

#[test]
fn duplicate_id_is_refused_with_key_details() {
    let s = Storage::temporary().expect("store");
    s.insert("db", "c", doc! {"_id": 1}, &opts())
        .expect("insert");
    // 1.0 and NumberLong(1) are the same _id.
    for id in [Bson::Int32(1), Bson::Double(1.0), Bson::Int64(1)] {
        match s.insert("db", "c", doc! {"_id": id}, &opts()) {
            Err(Error::DuplicateKey(dup)) => {
                assert_eq!(dup.index, "_id_");
                assert_eq!(dup.key_pattern, doc! {"_id": 1});
            }
            other => panic!("expected a duplicate key error, got {other:?}"),
        }
    }
    assert_eq!(s.estimated_count("db", "c"), 1);
}

#[test]
fn invalid_ids_are_refused() {
    let s = Storage::temporary().expect("store");
    for bad in [
        Bson::Array(vec![]),
        Bson::Undefined,
        Bson::Document(doc! {"$a": 1}),
    ] {
        let err = s
            .insert("db", "c", doc! {"_id": bad}, &opts())
            .expect_err("refused");
        assert!(matches!(err.code(), 53 | 52), "{err:?}");
    }
}

#[test]
fn unique_index_enforced_on_insert_update_and_build() {
    let s = Storage::temporary().expect("store");
    s.insert("db", "c", doc! {"_id": 1, "a": 1}, &opts())
        .expect("insert");
    s.insert("db", "c", doc! {"_id": 2, "a": 2}, &opts())
        .expect("insert");
    s.create_indexes(
        "db",
        "c",
        &[doc! {"key": {"a": 1}, "name": "a_1", "unique": true}],
    )
    .expect("index");
    let err = s
        .insert("db", "c", doc! {"_id": 3, "a": 2}, &opts())
        .expect_err("duplicate");
    assert_eq!(err.code(), 11000);
    assert!(
        err.to_string().contains("index: a_1 dup key: { a: 2 }"),
        "{err}"
    );
    let update = Update::parse(&Bson::Document(doc! {"$set": {"a": 1}}), None).expect("update");
    let filter = doc! {"_id": 2};
    let spec = update_one(&filter, &update);
    assert_eq!(
        s.update("db", "c", &spec, &opts())
            .expect_err("duplicate")
            .code(),
        11000
    );
    // The failed write changed nothing.
    assert_eq!(find_all(&s, doc! {"_id": 2}), vec![doc! {"_id": 2, "a": 2}]);
    // Building a unique index over duplicates fails and leaves no index behind.
    // A second document without `a`: a unique index holds missing fields as null, once.
    s.insert("db", "c", doc! {"_id": 4, "b": 5}, &opts())
        .expect("insert");
    assert_eq!(
        s.insert("db", "c", doc! {"_id": 5, "b": 5}, &opts())
            .expect_err("second null")
            .code(),
        11000
    );
    s.insert("db", "c", doc! {"_id": 5, "a": 5, "b": 5}, &opts())
        .expect("insert");
    let err = s
        .create_indexes(
            "db",
            "c",
            &[doc! {"key": {"b": 1}, "name": "b_1", "unique": true}],
        )
        .expect_err("duplicates");
    assert_eq!(err.code(), 11000);
    assert_eq!(s.list_indexes("db", "c").expect("indexes").len(), 2);
}

#[test]
fn planner_uses_indexes_and_results_match_a_scan() {
    let s = Storage::temporary().expect("store");
    for i in 0..200 {
        s.insert(
            "db",
            "c",
            doc! {"_id": i, "a": i % 10, "tags": [i % 3, i % 5]},
            &opts(),
        )
        .expect("insert");
    }
    let before = find_all(&s, doc! {"a": 3});
    let before_tags = find_all(&s, doc! {"tags": 4});
    s.create_indexes(
        "db",
        "c",
        &[
            doc! {"key": {"a": 1}, "name": "a_1"},
            doc! {"key": {"tags": -1}, "name": "tags_-1"},
        ],
    )
    .expect("index");
    let options = FindOptions {
        filter: doc! {"a": 3},
        ..FindOptions::default()
    };
    let cursor = s.find("db", "c", &options).expect("find");
    assert_eq!(
        cursor.plan,
        PlanKind::IndexScan {
            index: "a_1".into()
        }
    );
    let after: Vec<Document> = cursor.collect::<Result<_>>().expect("docs");
    assert_eq!(after.len(), 20);
    let mut sorted_before = before.clone();
    sorted_before.sort_by_key(|d| d.get_i32("_id").unwrap_or_default());
    let mut sorted_after = after.clone();
    sorted_after.sort_by_key(|d| d.get_i32("_id").unwrap_or_default());
    assert_eq!(sorted_before, sorted_after);
    // Multikey, descending: each document once.
    let tagged = find_all(&s, doc! {"tags": 4});
    assert_eq!(tagged.len(), before_tags.len());
    let listed = s.list_indexes("db", "c").expect("indexes");
    assert_eq!(listed.len(), 3);
}

#[test]
fn sort_is_read_off_an_index() {
    let s = Storage::temporary().expect("store");
    for i in [5, 3, 9, 1, 7] {
        s.insert("db", "c", doc! {"_id": i, "a": 10 - i}, &opts())
            .expect("insert");
    }
    s.create_indexes("db", "c", &[doc! {"key": {"a": -1}, "name": "a_-1"}])
        .expect("index");
    let options = FindOptions {
        sort: Some(doc! {"a": 1}),
        ..FindOptions::default()
    };
    let cursor = s.find("db", "c", &options).expect("find");
    assert!(cursor.sorted_by_index);
    let a: Vec<i32> = cursor
        .map(|d| d.expect("doc").get_i32("a").expect("a"))
        .collect();
    assert_eq!(a, vec![1, 3, 5, 7, 9]);
}

#[test]
fn data_and_indexes_survive_reopen() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let s = Storage::open(dir.path(), StorageOptions::default()).expect("open");
        s.insert("db", "c", doc! {"_id": 1, "a": "x"}, &opts())
            .expect("insert");
        s.create_indexes(
            "db",
            "c",
            &[doc! {"key": {"a": 1}, "name": "a_1", "unique": true}],
        )
        .expect("index");
        s.flush().expect("flush");
    }
    let s = Storage::open(dir.path(), StorageOptions::default()).expect("reopen");
    assert_eq!(
        find_all(&s, doc! {"a": "x"}),
        vec![doc! {"_id": 1, "a": "x"}]
    );
    assert_eq!(
        s.insert("db", "c", doc! {"_id": 2, "a": "x"}, &opts())
            .expect_err("unique")
            .code(),
        11000
    );
    assert_eq!(s.last_seq(), 1);
}

#[test]
fn history_records_every_change_in_order() {
    let s = Storage::temporary().expect("store");
    s.insert("db", "c", doc! {"_id": 1, "a": 1}, &opts())
        .expect("insert");
    let update = Update::parse(&Bson::Document(doc! {"$set": {"a": 2}}), None).expect("update");
    let filter = doc! {"_id": 1};
    let spec = update_one(&filter, &update);
    s.update("db", "c", &spec, &opts()).expect("update");
    s.delete("db", "c", &delete_one(&doc! {"_id": 1}), &opts())
        .expect("delete");
    s.apply_remote(
        "db",
        "c",
        &Bson::Int32(9),
        Some(doc! {"_id": 9}),
        &Origin::Peer("hub".into()),
    )
    .expect("remote");
    let entries: Vec<HistoryEntry> = s.history_from(1).collect::<Result<_>>().expect("history");
    let ops: Vec<HistoryOp> = entries.iter().map(|e| e.op).collect();
    assert_eq!(
        ops,
        vec![
            HistoryOp::Insert,
            HistoryOp::Update,
            HistoryOp::Delete,
            HistoryOp::Insert
        ]
    );
    assert_eq!(entries[1].doc, Some(doc! {"_id": 1, "a": 2}));
    assert_eq!(entries[1].changed_fields, Some(vec!["a".to_owned()]));
    assert_eq!(entries[3].origin, Origin::Peer("hub".into()));
    assert!(entries
        .windows(2)
        .all(|w| w[0].seq + 1 == w[1].seq && w[0].hlc < w[1].hlc));
    assert_eq!(s.history_from(3).count(), 2);
    // Heads: the same entries without their documents.
    let heads: Vec<HistoryEntry> = s
        .history_heads_from(1)
        .collect::<Result<_>>()
        .expect("heads");
    let without_docs: Vec<HistoryEntry> = entries
        .iter()
        .cloned()
        .map(|entry| HistoryEntry {
            doc: None,
            before: None,
            ..entry
        })
        .collect();
    assert_eq!(heads, without_docs);
    // Local entries decoded, the peer's skipped with its sequence number only.
    let local: Vec<(u64, Option<HistoryEntry>)> = s
        .local_history_from(1)
        .collect::<Result<_>>()
        .expect("local");
    assert_eq!(local.len(), 4);
    for ((seq, entry), full) in local.iter().zip(&entries) {
        assert_eq!(*seq, full.seq);
        match full.origin {
            Origin::Local => assert_eq!(entry.as_ref(), Some(full)),
            Origin::Peer(_) => assert_eq!(entry, &None),
        }
    }
}

#[test]
fn rename_and_drop() {
    let s = Storage::temporary().expect("store");
    s.insert("db", "c", doc! {"_id": 1}, &opts())
        .expect("insert");
    s.rename_collection("db", "c", "db2", "d", false)
        .expect("rename");
    assert!(!s.collection_exists("db", "c"));
    assert_eq!(s.estimated_count("db2", "d"), 1);
    assert!(s.drop_collection("db2", "d").expect("drop"));
    assert!(!s.drop_collection("db2", "d").expect("drop again"));
    assert!(s.list_databases().is_empty());
}

#[test]
fn ttl_removes_expired_documents_only() {
    let s = Storage::temporary().expect("store");
    let now = bson::DateTime::now();
    let old = bson::DateTime::from_millis(now.timestamp_millis() - 120_000);
    s.insert("db", "c", doc! {"_id": 1, "at": old}, &opts())
        .expect("insert");
    s.insert("db", "c", doc! {"_id": 2, "at": now}, &opts())
        .expect("insert");
    s.insert("db", "c", doc! {"_id": 3, "at": "not a date"}, &opts())
        .expect("insert");
    s.insert("db", "c", doc! {"_id": 4, "at": [now, old]}, &opts())
        .expect("insert");
    s.create_indexes(
        "db",
        "c",
        &[doc! {"key": {"at": -1}, "name": "at_-1", "expireAfterSeconds": 60}],
    )
    .expect("index");
    assert_eq!(s.remove_expired(now, u64::MAX).expect("ttl pass"), 2);
    let left: Vec<i32> = find_all(&s, doc! {})
        .iter()
        .map(|d| d.get_i32("_id").expect("_id"))
        .collect();
    assert_eq!(left, vec![2, 3]);
}

#[test]
fn ttl_pass_removes_at_most_its_limit() {
    let s = Storage::temporary().expect("store");
    let now = bson::DateTime::now();
    let old = bson::DateTime::from_millis(now.timestamp_millis() - 120_000);
    s.create_indexes(
        "db",
        "c",
        &[doc! {"key": {"at": 1}, "name": "at_1", "expireAfterSeconds": 60}],
    )
    .expect("index");
    for id in 0..2_500 {
        s.insert("db", "c", doc! {"_id": id, "at": old}, &opts())
            .expect("insert");
    }
    assert_eq!(s.remove_expired(now, 1_200).expect("ttl pass"), 1_200);
    assert_eq!(s.estimated_count("db", "c"), 1_300);
    assert_eq!(s.remove_expired(now, u64::MAX).expect("ttl pass"), 1_300);
    assert_eq!(s.estimated_count("db", "c"), 0);
}

#[test]
fn validators_refuse_invalid_documents_unless_bypassed() {
    let s = Storage::temporary().expect("store");
    s.create_collection("db", "c", doc! {"validator": {"x": {"$type": "string"}}})
        .expect("create");
    s.insert("db", "c", doc! {"_id": 1, "x": "ok"}, &opts())
        .expect("valid");
    let err = s
        .insert("db", "c", doc! {"_id": 2, "x": 1}, &opts())
        .expect_err("invalid");
    assert_eq!(err.code(), 121);
    match err {
        Error::DocumentValidation(info) => {
            assert_eq!(info.get("failingDocumentId"), Some(&Bson::Int32(2)))
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    let bypass = WriteOptions {
        bypass_document_validation: true,
        ..WriteOptions::default()
    };
    s.insert("db", "c", doc! {"_id": 3, "x": 1}, &bypass)
        .expect("bypassed");
    // Warn: accepted.
    s.set_collection_options("db", "c", &doc! {"validationAction": "warn"})
        .expect("collMod");
    s.insert("db", "c", doc! {"_id": 4, "x": 1}, &opts())
        .expect("warned only");
    assert_eq!(s.estimated_count("db", "c"), 3);
    assert!(s
        .set_collection_options("db", "c", &doc! {"validationLevel": "sometimes"})
        .is_err());
}

mod indexed_vs_unindexed {
    //! Property: for random documents and random filters, a collection with indexes answers
    //! exactly as one without (same documents; same order when a sort is given).

    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Bson> {
        let scalar = prop_oneof![
            (-5i32..5).prop_map(Bson::Int32),
            (-5i64..5).prop_map(Bson::Int64),
            (-5.0f64..5.0).prop_map(|f| Bson::Double((f * 2.0).round() / 2.0)),
            Just(Bson::Null),
            "[a-c]{0,2}".prop_map(Bson::String),
            any::<bool>().prop_map(Bson::Boolean),
        ];
        prop_oneof![
            4 => scalar.clone(),
            1 => prop::collection::vec(scalar.clone(), 0..3).prop_map(Bson::Array),
            1 => scalar.prop_map(|v| Bson::Document(doc! {"x": v})),
        ]
    }

    fn document(id: i32) -> impl Strategy<Value = Document> {
        (prop::option::of(value()), prop::option::of(value())).prop_map(move |(a, b)| {
            let mut d = doc! {"_id": id};
            if let Some(a) = a {
                d.insert("a", a);
            }
            if let Some(b) = b {
                d.insert("b", b);
            }
            d
        })
    }

    fn filter() -> impl Strategy<Value = Document> {
        let scalar = prop_oneof![
            (-5i32..5).prop_map(Bson::Int32),
            Just(Bson::Null),
            "[a-c]{0,2}".prop_map(Bson::String)
        ];
        prop_oneof![
            scalar.clone().prop_map(|v| doc! {"a": v}),
            scalar.clone().prop_map(|v| doc! {"a": {"$gt": v}}),
            scalar.clone().prop_map(|v| doc! {"a": {"$lte": v}}),
            (scalar.clone(), scalar.clone()).prop_map(|(x, y)| doc! {"a": {"$gte": x, "$lt": y}}),
            prop::collection::vec(scalar.clone(), 1..3).prop_map(|v| doc! {"a": {"$in": v}}),
            (scalar.clone(), scalar.clone()).prop_map(|(x, y)| doc! {"a": x, "b": {"$ne": y}}),
            scalar.clone().prop_map(|v| doc! {"a.x": v}),
            scalar.prop_map(|v| doc! {"_id": {"$gte": v}}),
        ]
    }

    /// Filters beyond what the planner uses: logical operators, negations, array operators.
    fn any_filter() -> impl Strategy<Value = Document> {
        let leaf = prop_oneof![
            filter(),
            Just(doc! {"a": {"$exists": false}}),
            Just(doc! {"b": {"$size": 1}}),
            Just(doc! {"a": {"$type": "string"}}),
            (-5i32..5).prop_map(|v| doc! {"a": {"$elemMatch": {"$gt": v}}}),
            (-5i32..5).prop_map(|v| doc! {"a": {"$not": {"$gt": v}}}),
            (-5i32..5).prop_map(|v| doc! {"b.x": {"$ne": v}}),
            (-5i32..5).prop_map(|v| doc! {"a": {"$nin": [v, Bson::Null]}}),
        ];
        prop_oneof![
            3 => leaf.clone(),
            1 => prop::collection::vec(leaf.clone(), 1..3).prop_map(|v| doc! {"$or": v}),
            1 => prop::collection::vec(leaf.clone(), 1..3).prop_map(|v| doc! {"$nor": v}),
            1 => prop::collection::vec(leaf, 1..3).prop_map(|v| doc! {"$and": v}),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
        /// The raw-bytes prefilter of a scan agrees with the filter on the whole document.
        #[test]
        fn prefilter_agrees_with_the_filter(docs in prop::collection::vec(document(1), 1..16), f in any_filter()) {
            let filter = crate::query::Filter::parse(&f).expect("filter");
            let prefilter = super::read::Prefilter::new(&filter).expect("a prefilter");
            for doc in docs {
                let bytes = bson::to_vec(&doc).expect("encode");
                prop_assert_eq!(prefilter.may_match(&bytes), filter.matches(&doc), "filter {} on {}", f, doc);
            }
        }
    }

    fn run(s: &Storage, filter: &Document, sort: Option<Document>) -> Vec<Document> {
        let options = FindOptions {
            filter: filter.clone(),
            sort,
            ..FindOptions::default()
        };
        s.find("db", "c", &options)
            .expect("find")
            .collect::<Result<_>>()
            .expect("docs")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
        #[test]
        fn same_answers(docs in (0..40i32).prop_flat_map(|n| (0..n).map(document).collect::<Vec<_>>()),
                        filters in prop::collection::vec(filter(), 1..6)) {
            let plain = Storage::temporary().expect("store");
            let indexed = Storage::temporary().expect("store");
            indexed.create_indexes("db", "c", &[
                doc! {"key": {"a": 1}, "name": "a_1"},
                doc! {"key": {"a": -1, "b": 1}, "name": "a_-1_b_1"},
                doc! {"key": {"a.x": 1}, "name": "a.x_1"},
            ]).expect("indexes");
            for d in &docs {
                // A compound index refuses documents with arrays in two of its fields.
                match indexed.insert("db", "c", d.clone(), &opts()) {
                    Ok(_) => {
                        plain.insert("db", "c", d.clone(), &opts()).expect("insert");
                    }
                    Err(e) => prop_assert_eq!(e.code(), 171),
                }
            }

            for f in &filters {
                let mut x = run(&plain, f, None);
                let mut y = run(&indexed, f, None);
                let by_id = |d: &Document| d.get_i32("_id").unwrap_or_default();
                x.sort_by_key(by_id);
                y.sort_by_key(by_id);
                prop_assert_eq!(&x, &y, "filter {}", f);
                // Sorts end with `_id`: MongoDB leaves the order of ties unspecified.
                for sort in [doc! {"a": 1, "_id": 1}, doc! {"a": -1, "b": 1, "_id": 1}, doc! {"b": 1, "_id": -1}] {
                    let full = run(&plain, f, Some(sort.clone()));
                    prop_assert_eq!(&full, &run(&indexed, f, Some(sort.clone())), "filter {} sort {}", f, sort);
                    // A limited sort keeps only the best documents as it reads: same prefix.
                    let options = FindOptions { filter: f.clone(), sort: Some(sort.clone()), limit: 3, ..FindOptions::default() };
                    let top: Vec<Document> = plain.find("db", "c", &options).expect("find").collect::<Result<_>>().expect("docs");
                    prop_assert_eq!(&top[..], &full[..full.len().min(3)], "filter {} sort {} limit 3", f, sort);
                }
            }
        }
    }
}

#[test]
fn insert_many_checks_duplicates_within_the_batch() {
    let s = Storage::temporary().expect("store");
    s.create_indexes(
        "db",
        "c",
        &[doc! {"key": {"u": 1}, "name": "u_1", "unique": true}],
    )
    .expect("index");
    let docs = vec![
        doc! {"_id": 1, "u": 1},
        doc! {"_id": 1, "u": 2},
        doc! {"_id": 2, "u": 1},
        doc! {"_id": 3, "u": 3},
    ];
    let failures = s
        .insert_many("db", "c", docs.clone(), false, &opts())
        .expect("insert_many");
    let positions: Vec<usize> = failures.iter().map(|(p, _)| *p).collect();
    assert_eq!(positions, vec![1, 2]);
    assert!(failures.iter().all(|(_, e)| e.code() == 11000));
    let ids: Vec<i32> = find_all(&s, doc! {})
        .iter()
        .map(|d| d.get_i32("_id").expect("_id"))
        .collect();
    assert_eq!(ids, vec![1, 3]);
    // Ordered: stops at the first failure; what came before it is kept.
    let t = Storage::temporary().expect("store");
    let failures = t
        .insert_many("db", "c", docs, true, &opts())
        .expect("insert_many");
    assert_eq!(failures.len(), 1);
    assert_eq!(t.estimated_count("db", "c"), 1);
    // Large batches commit in groups and every document gets its history entry.
    let many: Vec<Document> = (0..2500).map(|i| doc! {"_id": i}).collect();
    let u = Storage::temporary().expect("store");
    assert!(u
        .insert_many("db", "c", many, true, &opts())
        .expect("insert_many")
        .is_empty());
    assert_eq!(u.estimated_count("db", "c"), 2500);
    assert_eq!(u.last_seq(), 2500);
}

#[test]
fn a_scan_past_its_deadline_fails_with_max_time_ms_expired() {
    let s = Storage::temporary().expect("store");
    let docs: Vec<Document> = (0..500).map(|i| doc! {"_id": i}).collect();
    s.insert_many("db", "c", docs, true, &opts())
        .expect("insert");
    let past = std::time::Instant::now().checked_sub(std::time::Duration::from_millis(1));
    let options = FindOptions {
        deadline: past,
        ..FindOptions::default()
    };
    let result: Result<Vec<Document>> = s.find("db", "c", &options).expect("find").collect();
    assert_eq!(result.expect_err("expired").code(), 50);
    let options = FindOptions {
        deadline: None,
        ..FindOptions::default()
    };
    assert_eq!(s.find("db", "c", &options).expect("find").count(), 500);
}

#[test]
fn a_limited_sort_keeps_ties_in_arrival_order() {
    let s = Storage::temporary().expect("store");
    let docs: Vec<Document> = (0..50).map(|i| doc! {"_id": i, "k": i % 3}).collect();
    s.insert_many("db", "c", docs, true, &opts())
        .expect("insert");
    let options = FindOptions {
        sort: Some(doc! {"k": 1}),
        limit: 5,
        ..FindOptions::default()
    };
    let ids: Vec<i32> = s
        .find("db", "c", &options)
        .expect("find")
        .map(|d| d.expect("doc").get_i32("_id").expect("_id"))
        .collect();
    assert_eq!(ids, vec![0, 3, 6, 9, 12]);
}

#[test]
fn remote_batch_commits_all_or_nothing() {
    let s = Storage::temporary().expect("store");
    s.create_indexes(
        "db",
        "c",
        &[doc! {"key": {"sku": 1}, "name": "sku_1", "unique": true}],
    )
    .expect("index");
    s.insert("db", "c", doc! {"_id": 1, "sku": "a"}, &opts())
        .expect("insert");
    let before = s.last_seq();
    let peer = Origin::Peer("edge".into());

    // The last write breaks the unique index: nothing of the batch is committed.
    let mut batch = s.remote_batch();
    batch.put(
        "db",
        "c",
        &Bson::Int32(2),
        Some(doc! {"_id": 2, "sku": "b"}),
        &peer,
    );
    batch.put("db", "other", &Bson::Int32(1), Some(doc! {"_id": 1}), &peer);
    batch.put("db", "c", &Bson::Int32(1), None, &peer);
    batch.put(
        "db",
        "c",
        &Bson::Int32(3),
        Some(doc! {"_id": 3, "sku": "b"}),
        &peer,
    );
    assert!(matches!(batch.commit(), Err(Error::DuplicateKey(_))));
    assert_eq!(find_all(&s, doc! {}), vec![doc! {"_id": 1, "sku": "a"}]);
    // `check` answers the same without committing, either way.
    let mut batch = s.remote_batch();
    batch.put(
        "db",
        "c",
        &Bson::Int32(3),
        Some(doc! {"_id": 3, "sku": "a"}),
        &peer,
    );
    assert!(matches!(batch.check(), Err(Error::DuplicateKey(_))));
    let mut batch = s.remote_batch();
    batch.put(
        "db",
        "c",
        &Bson::Int32(3),
        Some(doc! {"_id": 3, "sku": "c"}),
        &peer,
    );
    batch.check().expect("would commit");
    assert_eq!(find_all(&s, doc! {}), vec![doc! {"_id": 1, "sku": "a"}]);
    assert_eq!(s.estimated_count("db", "other"), 0);
    assert_eq!(s.history_from(before + 1).count(), 0);
    assert_eq!(s.last_seq(), before);

    // The same writes without the conflict commit together, one history entry per document,
    // and the batch reads its own staged writes.
    let mut batch = s.remote_batch();
    batch.put(
        "db",
        "c",
        &Bson::Int32(2),
        Some(doc! {"_id": 2, "sku": "b"}),
        &peer,
    );
    batch.put(
        "db",
        "c",
        &Bson::Int32(2),
        Some(doc! {"_id": 2, "sku": "c"}),
        &peer,
    );
    batch.put("db", "other", &Bson::Int32(1), Some(doc! {"_id": 1}), &peer);
    batch.put("db", "c", &Bson::Int32(1), None, &peer);
    assert_eq!(
        batch.get("db", "c", &Bson::Int32(2)).expect("get"),
        Some(doc! {"_id": 2, "sku": "c"})
    );
    assert_eq!(batch.get("db", "c", &Bson::Int32(1)).expect("get"), None);
    assert_eq!(batch.len(), 3);
    batch.commit().expect("commit");
    assert_eq!(find_all(&s, doc! {}), vec![doc! {"_id": 2, "sku": "c"}]);
    assert_eq!(s.estimated_count("db", "other"), 1);
    let entries: Vec<HistoryEntry> = s
        .history_from(before + 1)
        .collect::<Result<_>>()
        .expect("history");
    let ops: Vec<HistoryOp> = entries.iter().map(|e| e.op).collect();
    assert_eq!(
        ops,
        [HistoryOp::Insert, HistoryOp::Insert, HistoryOp::Delete]
    );
    assert!(entries.iter().all(|e| e.origin == peer));
    // The unique index follows the committed documents.
    s.insert("db", "c", doc! {"_id": 4, "sku": "a"}, &opts())
        .expect("sku a is free again");
}

#[test]
fn remote_batch_dropped_without_commit_writes_nothing() {
    let s = Storage::temporary().expect("store");
    let before = s.last_seq();
    {
        let mut batch = s.remote_batch();
        batch.put(
            "db",
            "c",
            &Bson::Int32(1),
            Some(doc! {"_id": 1}),
            &Origin::Local,
        );
    }
    assert_eq!(s.estimated_count("db", "c"), 0);
    assert_eq!(s.last_seq(), before);
    // A document whose _id differs from the key it is written under is refused.
    let mut batch = s.remote_batch();
    batch.put(
        "db",
        "c",
        &Bson::Int32(1),
        Some(doc! {"_id": 2}),
        &Origin::Local,
    );
    assert!(matches!(batch.commit(), Err(Error::BadValue(_))));
}

#[test]
fn documents_after_pages_in_id_order_across_types() {
    let s = Storage::temporary().expect("store");
    let ids = [
        Bson::String("b".into()),
        Bson::Int32(2),
        Bson::ObjectId(bson::oid::ObjectId::new()),
        Bson::Double(1.5),
        Bson::String("a".into()),
    ];
    for id in &ids {
        s.insert("db", "c", doc! {"_id": id.clone()}, &opts())
            .expect("insert");
    }
    let page = |after: Option<&Bson>| -> Vec<Bson> {
        s.documents_after("db", "c", after)
            .take(2)
            .map(|d| d.expect("document").get("_id").cloned().expect("_id"))
            .collect()
    };
    // Numbers, then strings, then ObjectIds, as MongoDB orders them.
    assert_eq!(page(None), [Bson::Double(1.5), Bson::Int32(2)]);
    assert_eq!(
        page(Some(&Bson::Int32(2))),
        [Bson::String("a".into()), Bson::String("b".into())]
    );
    assert_eq!(page(Some(&Bson::String("b".into()))), [ids[2].clone()]);
    assert!(page(Some(&ids[2])).is_empty());
    assert_eq!(s.documents_after("db", "missing", None).count(), 0);
}

#[test]
fn trim_history_respects_the_cursor_the_retention_and_the_newest_entry() {
    let s = Storage::temporary().expect("store");
    for n in 0..10 {
        s.insert("db", "c", doc! {"_id": n}, &opts())
            .expect("insert");
    }
    let entries: Vec<HistoryEntry> = s.history_from(0).collect::<Result<_>>().expect("history");
    let seqs =
        |s: &Storage| -> Vec<u64> { s.history_from(0).map(|e| e.expect("entry").seq).collect() };
    let first = entries[0].seq;
    // Only below the cursor, at most `max` at a time.
    assert_eq!(s.trim_history(first + 2, u64::MAX, 2).expect("trim"), 2);
    assert_eq!(seqs(&s)[0], first + 2);
    assert_eq!(s.trim_history(first + 2, u64::MAX, 100).expect("trim"), 1);
    // Not what is inside the retention: entries from entry 6's clock on stay.
    s.trim_history(u64::MAX, entries[6].hlc, 100).expect("trim");
    assert_eq!(seqs(&s)[0], entries[6].seq);
    // Never the newest entry, so sequence numbers continue after a restart.
    s.trim_history(u64::MAX, u64::MAX, 100).expect("trim");
    assert_eq!(seqs(&s), [entries[9].seq]);
    let before = s.last_seq();
    s.insert("db", "c", doc! {"_id": 10}, &opts())
        .expect("insert");
    assert_eq!(s.last_seq(), before + 1);
}

#[test]
fn updates_record_the_nested_fields_they_change() {
    let s = Storage::temporary().expect("store");
    s.insert(
        "db",
        "c",
        doc! {"_id": 1, "a": {"b": 1, "c": {"d": 1}}, "e": [1, 2], "f": {"x": 1, "y": 2}, "g": 1},
        &opts(),
    )
    .expect("insert");
    let before = s.last_seq();
    let update = Update::parse(
        &Bson::Document(doc! {
            "$set": {"a.c.d": 2, "e.0": 5, "f": {"y": 2, "x": 1}, "new.field": 1},
            "$inc": {"a.b": 1, "g": 1, "e.1": 1},
            "$unset": {"a.missing": ""},
        }),
        None,
    )
    .expect("update");
    let filter = doc! {"_id": 1};
    let spec = update_one(&filter, &update);
    s.update("db", "c", &spec, &opts()).expect("update");
    let entry = s
        .history_from(before + 1)
        .next()
        .expect("an entry")
        .expect("entry");
    let mut changed = entry.changed_fields.expect("changed fields");
    changed.sort();
    // Arrays are not descended into; field order is not a change (as everywhere in storage).
    assert_eq!(changed, ["a.b", "a.c.d", "e", "g", "new"]);
    assert_eq!(entry.increments, Some(doc! {"a.b": 1, "g": 1, "e.1": 1}));
}

#[test]
fn remote_batch_reuses_unique_keys_its_earlier_writes_released() {
    let s = Storage::temporary().expect("store");
    s.create_indexes(
        "db",
        "c",
        &[doc! {"key": {"sku": 1}, "name": "sku_1", "unique": true}],
    )
    .expect("index");
    s.insert("db", "c", doc! {"_id": 1, "sku": "a"}, &opts())
        .expect("insert");
    s.insert("db", "c", doc! {"_id": 2, "sku": "b"}, &opts())
        .expect("insert");
    let peer = Origin::Peer("edge".into());
    // Taken in the order written: a key is free once an earlier write gave it up.
    let mut batch = s.remote_batch();
    batch.put(
        "db",
        "c",
        &Bson::Int32(3),
        Some(doc! {"_id": 3, "sku": "b"}),
        &peer,
    );
    batch.put("db", "c", &Bson::Int32(2), None, &peer);
    assert!(matches!(batch.commit(), Err(Error::DuplicateKey(_))));
    let mut batch = s.remote_batch();
    batch.put("db", "c", &Bson::Int32(1), None, &peer);
    batch.put(
        "db",
        "c",
        &Bson::Int32(2),
        Some(doc! {"_id": 2, "sku": "c"}),
        &peer,
    );
    batch.put(
        "db",
        "c",
        &Bson::Int32(3),
        Some(doc! {"_id": 3, "sku": "a"}),
        &peer,
    );
    batch.put(
        "db",
        "c",
        &Bson::Int32(4),
        Some(doc! {"_id": 4, "sku": "b"}),
        &peer,
    );
    batch.commit().expect("commit");
    assert_eq!(
        find_all(&s, doc! {}),
        vec![
            doc! {"_id": 2, "sku": "c"},
            doc! {"_id": 3, "sku": "a"},
            doc! {"_id": 4, "sku": "b"},
        ]
    );
    // And a released key is still claimed only once.
    let mut batch = s.remote_batch();
    batch.put("db", "c", &Bson::Int32(3), None, &peer);
    batch.put(
        "db",
        "c",
        &Bson::Int32(5),
        Some(doc! {"_id": 5, "sku": "a"}),
        &peer,
    );
    batch.put(
        "db",
        "c",
        &Bson::Int32(6),
        Some(doc! {"_id": 6, "sku": "a"}),
        &peer,
    );
    assert!(matches!(batch.commit(), Err(Error::DuplicateKey(_))));
}

#[test]
fn records_commit_with_the_documents_of_a_remote_batch() {
    let s = Storage::temporary().expect("store");
    let cursors = s.records::<Document>("test.cursors").expect("tree");
    let mut batch = s.remote_batch();
    batch.put(
        "db",
        "c",
        &Bson::Int32(1),
        Some(doc! {"_id": 1}),
        &Origin::Local,
    );
    batch
        .put_record(&cursors, b"edge", Some(&doc! {"seq": 7_i64}))
        .expect("stage");
    assert_eq!(
        batch.get_record(&cursors, b"edge").expect("get"),
        Some(doc! {"seq": 7_i64})
    );
    // Nothing is visible before the commit, and a dropped batch writes no record.
    assert_eq!(cursors.get(b"edge").expect("get"), None);
    batch.commit().expect("commit");
    assert_eq!(
        cursors.get(b"edge").expect("get"),
        Some(doc! {"seq": 7_i64})
    );
    let mut batch = s.remote_batch();
    batch.put_record(&cursors, b"edge", None).expect("stage");
    batch.put(
        "db",
        "c",
        &Bson::Int32(2),
        Some(doc! {"_id": 1}),
        &Origin::Local,
    );
    assert!(batch.commit().is_err());
    assert!(cursors.get(b"edge").expect("get").is_some());
}

#[test]
fn commit_watch_follows_the_history_log() {
    use std::time::Duration;
    let s = Storage::temporary().expect("store");
    assert_eq!(s.committed_seq(), 0);
    let mut watch = s.subscribe_commits();
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || s.wait_for_commit_after(0, Duration::from_secs(30)))
    };
    s.insert("db", "c", doc! {"_id": 1}, &opts())
        .expect("insert");
    assert_eq!(waiter.join().expect("thread"), 1);
    assert_eq!(*watch.borrow_and_update(), 1);
    assert_eq!(s.committed_seq(), s.last_seq());
    // A time-out returns the unchanged sequence number.
    assert_eq!(s.wait_for_commit_after(1, Duration::from_millis(10)), 1);
    s.insert_many(
        "db",
        "c",
        vec![doc! {"_id": 2}, doc! {"_id": 3}],
        false,
        &opts(),
    )
    .expect("insert");
    assert_eq!(s.committed_seq(), 3);
    assert!(watch.has_changed().expect("open"));
}

#[test]
fn the_committed_clock_reading_follows_each_commit() {
    let s = Storage::temporary().expect("store");
    assert_eq!(s.committed_hlc().expect("hlc"), None);
    let mut last = 0;
    for id in 0..3 {
        s.insert("db", "c", doc! {"_id": id}, &opts())
            .expect("insert");
        let entry = s
            .history_from(s.committed_seq())
            .next()
            .expect("an entry")
            .expect("decoded");
        // Read twice (the second from the cache): the last entry's clock, growing.
        for _ in 0..2 {
            assert_eq!(s.committed_hlc().expect("hlc"), Some(entry.hlc));
        }
        assert!(entry.hlc > last);
        last = entry.hlc;
    }
}

/// A reopened store reads its last clock reading from the log (no commit has published one).
#[test]
fn a_reopened_store_reports_the_clock_of_its_last_entry() {
    let dir = tempfile::tempdir().expect("dir");
    let last = {
        let s = Storage::open(dir.path(), StorageOptions::default()).expect("open");
        s.insert("db", "c", doc! {"_id": 1}, &opts())
            .expect("insert");
        let hlc = s.committed_hlc().expect("hlc").expect("an entry");
        s.flush().expect("flush");
        hlc
    };
    let s = Storage::open(dir.path(), StorageOptions::default()).expect("reopen");
    assert_eq!(s.committed_hlc().expect("hlc"), Some(last));
}

#[test]
fn update_many_and_delete_many_cover_more_than_one_chunk_once_each() {
    let s = Storage::temporary().expect("store");
    s.create_indexes("db", "c", &[doc! {"key": {"x": 1}, "name": "x_1"}])
        .expect("index");
    let count = 2_500;
    for id in 0..count {
        s.insert("db", "c", doc! {"_id": id, "x": id}, &opts())
            .expect("insert");
    }
    // Each update moves the document forward in the index the filter is planned on: every
    // document is still updated exactly once.
    let update =
        Update::parse(&Bson::Document(doc! {"$inc": {"x": 10_000}}), None).expect("update");
    let filter = doc! {"x": {"$gte": 0}};
    let spec = UpdateSpec {
        filter: &filter,
        update: &update,
        multi: true,
        upsert: false,
        hint: None,
        sort: None,
        variables: None,
    };
    let outcome = s.update("db", "c", &spec, &opts()).expect("update");
    assert_eq!((outcome.matched, outcome.modified), (2_500, 2_500));
    for doc in find_all(&s, doc! {}) {
        let id = doc.get_i32("_id").expect("_id");
        assert_eq!(doc.get_i32("x"), Ok(id + 10_000), "{doc}");
    }
    // A multi-update that matches nothing still upserts.
    let filter = doc! {"x": -1};
    let upsert = UpdateSpec {
        filter: &filter,
        upsert: true,
        ..spec
    };
    let outcome = s.update("db", "c", &upsert, &opts()).expect("upsert");
    assert!(outcome.upserted_id.is_some());
    let deleted = s
        .delete(
            "db",
            "c",
            &DeleteSpec {
                filter: &doc! {"x": {"$gte": 11_000}},
                just_one: false,
                hint: None,
                variables: None,
            },
            &opts(),
        )
        .expect("delete");
    assert_eq!(deleted, 1_500);
    assert_eq!(s.estimated_count("db", "c"), 1_001);
}

/// An update on a store that may not wait runs when the writer lock is free, and answers
/// `WriterBusy` having changed nothing while another write holds it (or when it is `multi`,
/// which would wait for the lock between its chunks).
#[test]
fn an_update_that_may_not_wait_is_refused_while_the_writer_is_busy() {
    let s = Storage::temporary().expect("temporary store");
    s.insert("db", "c", doc! {"_id": 1, "n": 0}, &opts())
        .expect("insert");
    let update = Update::parse(&Bson::Document(doc! {"$inc": {"n": 1}}), None).expect("update");
    let filter = doc! {"_id": 1};
    let mut spec = update_one(&filter, &update);
    let unwaiting = s.without_waiting();
    let outcome = unwaiting
        .update("db", "c", &spec, &opts())
        .expect("the lock is free");
    assert_eq!((outcome.matched, outcome.modified), (1, 1));

    let held = s.writer();
    let busy = unwaiting.update("db", "c", &spec, &opts());
    assert!(matches!(busy, Err(Error::WriterBusy)), "{busy:?}");
    drop(held);
    spec.multi = true;
    let multi = unwaiting.update("db", "c", &spec, &opts());
    assert!(matches!(multi, Err(Error::WriterBusy)), "{multi:?}");
    assert_eq!(find_all(&s, doc! {"_id": 1}), vec![doc! {"_id": 1, "n": 1}]);
}

/// A write whose filter is `{_id: value}` takes the document under the value's key; with a
/// collation, or an operator on `_id`, it goes the general way.
#[test]
fn writes_by_id_match_as_the_query_language_does() {
    let s = Storage::temporary().expect("store");
    s.insert("db", "c", doc! {"_id": 1_i64, "a": 0}, &opts())
        .expect("insert");
    s.insert("db", "c", doc! {"_id": "a", "a": 0}, &opts())
        .expect("insert");
    let inc = Update::parse(&Bson::Document(doc! {"$inc": {"a": 1}}), None).expect("update");
    let run = |filter: Document, collation: Option<Document>| {
        let options = WriteOptions {
            collation,
            ..opts()
        };
        s.update("db", "c", &update_one(&filter, &inc), &options)
            .expect("update")
            .matched
    };
    // 1.0 and NumberLong(1) are the same _id.
    assert_eq!(run(doc! {"_id": 1.0}, None), 1);
    assert_eq!(run(doc! {"_id": 2}, None), 0);
    assert_eq!(run(doc! {"_id": {"$in": [1, 2]}}, None), 1);
    assert_eq!(run(doc! {"_id": "A"}, None), 0);
    let case_insensitive = doc! {"locale": "en", "strength": 2};
    assert_eq!(run(doc! {"_id": "A"}, Some(case_insensitive)), 1);
    assert_eq!(
        find_all(&s, doc! {}),
        vec![doc! {"_id": 1_i64, "a": 2}, doc! {"_id": "a", "a": 1}]
    );
    let deleted = s
        .delete("db", "c", &delete_one(&doc! {"_id": 1}), &opts())
        .expect("delete");
    assert_eq!(deleted, 1);
}
