//! Data-driven tests of the pipeline stages: input documents, a pipeline, the expected output
//! (or error code). Cases follow MongoDB's documentation examples where there is one.
//!
//! Groups: `parse_errors` and `stages_without_expressions` need no expression evaluation
//! beyond constants; `stages_with_expressions` and later groups use field paths and
//! operators from `agg::expr`.

// The tables pass `&docs![...]` (a Vec) where a slice would do, for one-line cases.
#![allow(clippy::useless_vec)]

use std::cell::RefCell;
use std::collections::BTreeMap;

use bson::{doc, Bson, Decimal128, Document};

use super::{AggEnv, AggOptions, Pipeline};
use crate::error::{Error, Result};

macro_rules! docs {
    ($($d:tt),* $(,)?) => { vec![$(bson::doc! $d),*] };
}

/// The cases that evaluate expressions (field paths, operators, variables).
mod expressions;

/// A tiny in-memory database for `$lookup`, `$unionWith`, `$out` and `$merge`.
#[derive(Default)]
pub(super) struct MemEnv {
    collections: RefCell<BTreeMap<(String, String), Vec<Document>>>,
}

impl MemEnv {
    pub(super) fn with(collections: &[(&str, Vec<Document>)]) -> MemEnv {
        let env = MemEnv::default();
        for (name, docs) in collections {
            env.collections
                .borrow_mut()
                .insert(("test".to_string(), name.to_string()), docs.clone());
        }
        env
    }

    pub(super) fn collection(&self, db: &str, coll: &str) -> Vec<Document> {
        self.collections
            .borrow()
            .get(&(db.to_string(), coll.to_string()))
            .cloned()
            .unwrap_or_default()
    }
}

impl AggEnv for MemEnv {
    fn scan(&self, db: &str, coll: &str) -> Result<Vec<Document>> {
        Ok(self.collection(db, coll))
    }

    fn replace_collection(&self, db: &str, coll: &str, docs: Vec<Document>) -> Result<()> {
        self.collections
            .borrow_mut()
            .insert((db.to_string(), coll.to_string()), docs);
        Ok(())
    }

    fn insert(&self, db: &str, coll: &str, doc: Document) -> Result<()> {
        let mut collections = self.collections.borrow_mut();
        let docs = collections
            .entry((db.to_string(), coll.to_string()))
            .or_default();
        let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
        if docs
            .iter()
            .any(|d| crate::value::equal(d.get("_id").unwrap_or(&Bson::Null), &id))
        {
            return Err(Error::DuplicateKey(Box::new(crate::error::DuplicateKey {
                ns: format!("{db}.{coll}"),
                index: "_id_".into(),
                key_pattern: doc! {"_id": 1},
                shown: format!("{{ _id: {id} }}"),
                key_value: doc! {"_id": id},
            })));
        }
        docs.push(doc);
        Ok(())
    }

    fn replace(&self, db: &str, coll: &str, id: &Bson, doc: Document) -> Result<()> {
        let mut collections = self.collections.borrow_mut();
        let docs = collections
            .entry((db.to_string(), coll.to_string()))
            .or_default();
        for d in docs.iter_mut() {
            if crate::value::equal(d.get("_id").unwrap_or(&Bson::Null), id) {
                *d = doc;
                return Ok(());
            }
        }
        Err(Error::BadValue(format!("no document with _id {id}")))
    }

    fn has_unique_index(&self, _db: &str, coll: &str, _fields: &[String]) -> Result<bool> {
        Ok(coll != "without_unique_index")
    }
}

pub(super) fn options() -> AggOptions {
    AggOptions {
        db: "test".into(),
        ..AggOptions::default()
    }
}

pub(super) fn run_in(
    env: &MemEnv,
    options: &AggOptions,
    input: &[Document],
    pipeline: &[Document],
) -> Result<Vec<Document>> {
    let pipeline = Pipeline::parse(pipeline)?;
    pipeline.run(Box::new(input.iter().cloned().map(Ok)), env, options)
}

pub(super) fn run(input: &[Document], pipeline: &[Document]) -> Result<Vec<Document>> {
    run_in(&MemEnv::default(), &options(), input, pipeline)
}

#[track_caller]
pub(super) fn check(input: &[Document], pipeline: &[Document], expected: &[Document]) {
    match run(input, pipeline) {
        Ok(out) => assert_eq!(out, expected, "pipeline {pipeline:?}"),
        Err(e) => panic!("pipeline {pipeline:?} failed: {e} (code {})", e.code()),
    }
}

#[track_caller]
pub(super) fn check_in(
    env: &MemEnv,
    input: &[Document],
    pipeline: &[Document],
    expected: &[Document],
) {
    match run_in(env, &options(), input, pipeline) {
        Ok(out) => assert_eq!(out, expected, "pipeline {pipeline:?}"),
        Err(e) => panic!("pipeline {pipeline:?} failed: {e} (code {})", e.code()),
    }
}

#[track_caller]
pub(super) fn check_error(input: &[Document], pipeline: &[Document], code: i32) {
    match run(input, pipeline) {
        Ok(out) => panic!("pipeline {pipeline:?} should fail with {code}, gave {out:?}"),
        Err(e) => assert_eq!(e.code(), code, "pipeline {pipeline:?}: {e}"),
    }
}

#[track_caller]
pub(super) fn check_error_in(env: &MemEnv, input: &[Document], pipeline: &[Document], code: i32) {
    match run_in(env, &options(), input, pipeline) {
        Ok(out) => panic!("pipeline {pipeline:?} should fail with {code}, gave {out:?}"),
        Err(e) => assert_eq!(e.code(), code, "pipeline {pipeline:?}: {e}"),
    }
}

pub(super) fn dec(s: &str) -> Bson {
    Bson::Decimal128(s.parse::<Decimal128>().expect("decimal literal"))
}

pub(super) fn date(s: &str) -> Bson {
    Bson::DateTime(bson::DateTime::parse_rfc3339_str(s).expect("date literal"))
}

#[test]
fn parse_errors() {
    let none: Vec<Document> = Vec::new();
    let cases: Vec<(Vec<Document>, i32)> = vec![
        (docs![{"$foo": 1}], 40324),
        (docs![{"$match": {}, "$limit": 1}], 40323),
        (docs![{}], 40323),
        (docs![{"$out": "x"}, {"$limit": 1}], 40601),
        (docs![{"$merge": "x"}, {"$limit": 1}], 40601),
        (docs![{"$out": "x"}, {"$foo": 1}], 40324),
        (
            docs![{"$densify": {"field": "a", "range": {"step": 1}}}],
            40414,
        ),
        (
            docs![{"$densify": {"field": "a", "range": {"step": 0, "bounds": "full"}}}],
            9,
        ),
        (
            docs![{"$densify": {"field": "a", "range": {"step": 1, "bounds": "x"}}}],
            9,
        ),
        (
            docs![{"$densify": {"field": "a", "range": {"step": 1, "bounds": [5, 1]}}}],
            9,
        ),
        (
            docs![{"$densify": {"field": "a", "range": {"step": 1, "bounds": "full", "unit": "month"}}}],
            115,
        ),
        (
            docs![{"$densify": {"field": "a", "partitionByFields": ["a"], "range": {"step": 1, "bounds": "full"}}}],
            9,
        ),
        (
            docs![{"$densify": {"range": {"step": 1, "bounds": "full"}}}],
            40414,
        ),
        (docs![{"$geoNear": {}}], 2),
        (docs![{"$search": {}}], 115),
        (docs![{"$vectorSearch": {}}], 115),
        (docs![{"$changeStream": {}}], 115),
        (docs![{"$indexStats": {}}], 115),
        (docs![{"$collStats": {}}], 115),
        (docs![{"$currentOp": {}}], 115),
        (docs![{"$listSessions": {}}], 115),
        (docs![{"$limit": 0}], 15958),
        (docs![{"$limit": -1}], 15958),
        (docs![{"$limit": "x"}], 5107201),
        (docs![{"$limit": 1.5}], 5107201),
        (docs![{"$skip": -1}], 5107200),
        (docs![{"$skip": "a"}], 5107200),
        (docs![{"$sort": {}}], 15976),
        (docs![{"$sort": 1}], 15973),
        (docs![{"$count": ""}], 40157),
        (docs![{"$count": "$x"}], 40158),
        (docs![{"$count": "a.b"}], 40160),
        (docs![{"$count": 1}], 40156),
        (docs![{"$group": {"n": {"$sum": 1}}}], 15955),
        (docs![{"$group": {"_id": null, "n": {"$foo": 1}}}], 15952),
        (docs![{"$group": {"_id": null, "n": 1}}], 40234),
        (
            docs![{"$group": {"_id": null, "n": {"$sum": 1, "$avg": 1}}}],
            40238,
        ),
        (docs![{"$group": {"_id": null, "a.b": {"$sum": 1}}}], 40235),
        (
            docs![{"$group": {"_id": null, "n": {"$sum": [1, 2]}}}],
            40237,
        ),
        (
            docs![{"$group": {"_id": null, "n": {"$count": {"x": 1}}}}],
            14,
        ),
        (docs![{"$group": {"_id": null, "n": {"sum": 1}}}], 40234),
        (docs![{"$group": {"_id": null, "n": {}}}], 40234),
        (docs![{"$group": {"_id": null, "a.b": 1}}], 40234),
        (docs![{"$group": {"_id": null, "$a": {"$sum": 1}}}], 40236),
        (docs![{"$group": {"_id": null, "n": {"$topN": [1]}}}], 40237),
        (
            docs![{"$group": {"_id": null, "n": {"$accumulator": {}}}}],
            115,
        ),
        (
            docs![{"$group": {"_id": null, "n": {"$topN": {"output": "$a", "sortBy": {"a": 1}}}}}],
            5788003,
        ),
        (
            docs![{"$group": {"_id": null, "n": {"$firstN": {"input": "$a"}}}}],
            5787906,
        ),
        (
            docs![{"$group": {"_id": null, "n": {"$firstN": {"n": 2}}}}],
            5787907,
        ),
        (docs![{"$group": 1}], 15947),
        (docs![{"$project": {}}], 51272),
        (docs![{"$project": 1}], 15969),
        (docs![{"$project": {"a": 1, "b": 0}}], 31254),
        (docs![{"$project": {"a": 0, "b": 1}}], 31253),
        (docs![{"$project": {"a": 0, "b": "$x"}}], 31310),
        (docs![{"$project": {"a": 1, "a.b": 1}}], 31249),
        (docs![{"$project": {"a.b": 1, "a": 1}}], 31250),
        (docs![{"$project": {"$a": 1}}], 16410),
        (docs![{"$project": {"a": {}}}], 51270),
        (docs![{"$addFields": 1}], 40272),
        (docs![{"$unset": []}], 31119),
        (docs![{"$unset": [1]}], 31120),
        (docs![{"$unwind": "a"}], 28818),
        (docs![{"$unwind": {}}], 28812),
        (docs![{"$unwind": {"path": "$a", "foo": 1}}], 28811),
        (
            docs![{"$unwind": {"path": "$a", "includeArrayIndex": "$i"}}],
            28822,
        ),
        (
            docs![{"$unwind": {"path": "$a", "includeArrayIndex": ""}}],
            28810,
        ),
        (docs![{"$unwind": {"path": 1}}], 28808),
        (docs![{"$unwind": 1}], 15981),
        (
            docs![{"$unwind": {"path": "$a", "preserveNullAndEmptyArrays": 1}}],
            28809,
        ),
        (docs![{"$bucket": {"groupBy": "$a"}}], 40198),
        (
            docs![{"$bucket": {"groupBy": "$a", "boundaries": [0]}}],
            40192,
        ),
        (
            docs![{"$bucket": {"groupBy": "$a", "boundaries": [5, 1]}}],
            40194,
        ),
        (
            docs![{"$bucket": {"groupBy": "$a", "boundaries": [1, "a"]}}],
            40193,
        ),
        (
            docs![{"$bucket": {"groupBy": "$a", "boundaries": [0, 10], "default": 5}}],
            40199,
        ),
        (
            docs![{"$bucket": {"groupBy": "a", "boundaries": [0, 10]}}],
            40202,
        ),
        (
            docs![{"$bucket": {"groupBy": "$a", "boundaries": 1}}],
            40200,
        ),
        (
            docs![{"$bucket": {"groupBy": "$a", "boundaries": [0, 1], "x": 1}}],
            40197,
        ),
        (
            docs![{"$bucketAuto": {"groupBy": "$a", "buckets": 0}}],
            40243,
        ),
        (docs![{"$bucketAuto": {"groupBy": "$a"}}], 40246),
        (
            docs![{"$bucketAuto": {"groupBy": "$a", "buckets": 2, "granularity": 5}}],
            40261,
        ),
        (
            docs![{"$bucketAuto": {"groupBy": "$a", "buckets": 2.5}}],
            40242,
        ),
        (
            docs![{"$bucketAuto": {"groupBy": "$a", "buckets": "x"}}],
            40241,
        ),
        (
            docs![{"$bucketAuto": {"groupBy": "$a", "buckets": 2, "x": 1}}],
            40245,
        ),
        (
            docs![{"$bucketAuto": {"groupBy": "a", "buckets": 2}}],
            40239,
        ),
        (
            docs![{"$bucketAuto": {"groupBy": "$a", "buckets": 2, "output": 1}}],
            40244,
        ),
        (docs![{"$sample": {}}], 28749),
        (docs![{"$sample": {"size": -1}}], 28747),
        (docs![{"$sample": {"size": "a"}}], 28746),
        (docs![{"$sample": {"size": 1, "x": 1}}], 28748),
        (docs![{"$facet": {}}], 40169),
        (docs![{"$facet": {"a": 1}}], 40170),
        (docs![{"$facet": {"a": [{"$out": "x"}]}}], 40600),
        (docs![{"$facet": {"a": [{"$facet": {"b": []}}]}}], 40600),
        (docs![{"$facet": {"a": [{"$foo": 1}]}}], 40324),
        (
            docs![{"$lookup": {"from": "b", "localField": "a", "foreignField": "b"}}],
            9,
        ),
        (
            docs![{"$lookup": {"from": "b", "localField": "a", "as": "x"}}],
            9,
        ),
        (
            docs![{"$lookup": {"from": "b", "as": "x", "pipeline": [{"$out": "y"}]}}],
            51047,
        ),
        (docs![{"$lookup": {"from": "b", "as": "x", "bad": 1}}], 9),
        (
            docs![{"$unionWith": {"coll": "b", "pipeline": [{"$merge": "y"}]}}],
            31441,
        ),
        (docs![{"$unionWith": {"coll": "b", "x": 1}}], 40415),
        (docs![{"$limit": 1}, {"$documents": []}], 40602),
        (docs![{"$replaceRoot": {}}], 40231),
        (docs![{"$replaceRoot": {"newRoot": "$a", "x": 1}}], 40230),
        (docs![{"$merge": {"into": "x", "whenMatched": "nope"}}], 2),
        (
            docs![{"$merge": {"into": "x", "whenNotMatched": "nope"}}],
            2,
        ),
        (docs![{"$merge": {"on": "_id"}}], 40414),
        (docs![{"$sortByCount": "a"}], 40148),
        (docs![{"$match": 1}], 15959),
        (docs![{"$project": {"a": 0, "b": "$a"}}], 31310),
        (docs![{"$project": {"a": 0, "b": null}}], 31310),
        (docs![{"$project": {"a": 0, "b": ["$a"]}}], 31310),
        (
            docs![{"$project": {"a": {"x": 0, "y": {"$add": [1, 2]}}}}],
            31252,
        ),
        (
            docs![{"$project": {"_id": {"$add": [1, 2]}, "a": 0}}],
            31254,
        ),
        (
            docs![{"$project": {"_id": 1, "a": 0, "b": {"$add": [1, 2]}}}],
            31252,
        ),
        (docs![{"$project": {"a": {"x": 1, "y": 0}}}], 31254),
        (docs![{"$project": {"a": {"$add": [1], "b": 1}}}], 16410),
        (docs![{"$project": {"a..b": 1}}], 15998),
        (docs![{"$project": {"a.": 1}}], 40353),
        (docs![{"$project": {"": 1}}], 40352),
        (docs![{"$group": {"_id": null, "t": {"$top": 1}}}], 5788001),
        (
            docs![{"$group": {"_id": null, "t": {"$top": {"n": 1, "output": "$a", "sortBy": {"a": 1}}}}}],
            5788002,
        ),
        (
            docs![{"$group": {"_id": null, "t": {"$top": {"sortBy": {"a": 1}}}}}],
            5788004,
        ),
        (
            docs![{"$group": {"_id": null, "t": {"$bottom": {"output": "$a"}}}}],
            5788005,
        ),
        (
            docs![{"$group": {"_id": null, "t": {"$bottom": {"output": "$a", "sortBy": 1}}}}],
            10065,
        ),
        (docs![{"$out": "system.x"}], 17385),
        (docs![{"$out": "a$b"}], 17385),
        (docs![{"$out": ""}], 73),
        (docs![{"$merge": "system.x"}], 31319),
        (docs![{"$merge": {"into": ""}}], 73),
        (docs![{"$unwind": ""}], 28812),
        (docs![{"$unwind": {"path": ""}}], 28812),
        (docs![{"$unwind": {"other": 1}}], 28811),
        (docs![{"$lookup": "x"}], 9),
        (docs![{"$lookup": {"as": "x"}}], 9),
        (docs![{"$graphLookup": {"as": "x"}}], 9),
        (docs![{"$sortByCount": {}}], 40147),
        (docs![{"$sortByCount": 5}], 40149),
        (docs![{"$merge": 5}], 14),
        (docs![{"$out": 5}], 16990),
        (docs![{"$unset": ""}], 40352),
        (docs![{"$facet": {"a.b": []}}], 16412),
        (docs![{"$bucket": 5}], 40201),
        (docs![{"$bucketAuto": 5}], 40240),
        (docs![{"$sample": 5}], 28745),
        (docs![{"$replaceRoot": 5}], 40229),
        (docs![{"$unionWith": 5}], 9),
    ];
    for (pipeline, code) in cases {
        check_error(&none, &pipeline, code);
    }
}

#[test]
fn stages_without_expressions() {
    let clothing = docs![
        {"_id": 1, "item": "Shirt", "sizes": ["S", "M", "L"]},
        {"_id": 2, "item": "Shorts", "sizes": []},
        {"_id": 3, "item": "Hat", "sizes": "M"},
        {"_id": 4, "item": "Gloves"},
        {"_id": 5, "item": "Scarf", "sizes": null},
    ];
    // $unwind, string form.
    check(
        &clothing,
        &docs![{"$unwind": "$sizes"}],
        &docs![
            {"_id": 1, "item": "Shirt", "sizes": "S"},
            {"_id": 1, "item": "Shirt", "sizes": "M"},
            {"_id": 1, "item": "Shirt", "sizes": "L"},
            {"_id": 3, "item": "Hat", "sizes": "M"},
        ],
    );
    // preserveNullAndEmptyArrays: the empty array's field goes away, null stays.
    check(
        &clothing,
        &docs![{"$unwind": {"path": "$sizes", "preserveNullAndEmptyArrays": true}}],
        &docs![
            {"_id": 1, "item": "Shirt", "sizes": "S"},
            {"_id": 1, "item": "Shirt", "sizes": "M"},
            {"_id": 1, "item": "Shirt", "sizes": "L"},
            {"_id": 2, "item": "Shorts"},
            {"_id": 3, "item": "Hat", "sizes": "M"},
            {"_id": 4, "item": "Gloves"},
            {"_id": 5, "item": "Scarf", "sizes": null},
        ],
    );
    check(
        &clothing,
        &docs![{"$unwind": {"path": "$sizes", "includeArrayIndex": "arrayIndex"}}],
        &docs![
            {"_id": 1, "item": "Shirt", "sizes": "S", "arrayIndex": 0i64},
            {"_id": 1, "item": "Shirt", "sizes": "M", "arrayIndex": 1i64},
            {"_id": 1, "item": "Shirt", "sizes": "L", "arrayIndex": 2i64},
            {"_id": 3, "item": "Hat", "sizes": "M", "arrayIndex": null},
        ],
    );
    check(
        &clothing,
        &docs![{"$unwind": {"path": "$sizes", "includeArrayIndex": "i", "preserveNullAndEmptyArrays": true}}, {"$match": {"_id": 4}}],
        &docs![{"_id": 4, "item": "Gloves", "i": null}],
    );
    // A nested path; an array on the way is not traversed.
    check(
        &docs![{"_id": 1, "a": {"b": [1, 2]}}, {"_id": 2, "a": [{"b": [1]}]}],
        &docs![{"$unwind": "$a.b"}],
        &docs![{"_id": 1, "a": {"b": 1}}, {"_id": 1, "a": {"b": 2}}],
    );

    let numbers =
        docs![{"_id": 1, "n": 3}, {"_id": 2, "n": 1}, {"_id": 3, "n": 2}, {"_id": 4, "n": 1}];
    check(&numbers, &docs![{"$limit": 2}], &numbers[..2]);
    check(&numbers, &docs![{"$skip": 3}], &numbers[3..]);
    check(&numbers, &docs![{"$skip": 10}], &[]);
    check(
        &numbers,
        &docs![{"$skip": 1}, {"$limit": 1}],
        &numbers[1..2],
    );
    check(&numbers, &docs![{"$limit": 2.0}], &numbers[..2]);
    // $sort is stable: equal keys keep their input order.
    check(
        &numbers,
        &docs![{"$sort": {"n": 1}}],
        &docs![{"_id": 2, "n": 1}, {"_id": 4, "n": 1}, {"_id": 3, "n": 2}, {"_id": 1, "n": 3}],
    );
    check(
        &numbers,
        &docs![{"$sort": {"n": -1}}],
        &docs![{"_id": 1, "n": 3}, {"_id": 3, "n": 2}, {"_id": 2, "n": 1}, {"_id": 4, "n": 1}],
    );
    check(
        &numbers,
        &docs![{"$sort": {"n": 1}}, {"$limit": 3}],
        &docs![{"_id": 2, "n": 1}, {"_id": 4, "n": 1}, {"_id": 3, "n": 2}],
    );
    // $count: an int32, and no document at all for empty input.
    check(&numbers, &docs![{"$count": "total"}], &docs![{"total": 4}]);
    check(
        &numbers,
        &docs![{"$match": {"n": 1}}, {"$count": "ones"}],
        &docs![{"ones": 2}],
    );
    check(&[], &docs![{"$count": "total"}], &[]);
    // $match (equality), $project inclusion/exclusion, $unset.
    check(&numbers, &docs![{"$match": {"n": 2}}], &numbers[2..3]);
    let nested =
        docs![{"_id": 1, "a": 1, "b": {"c": 2, "d": 3}, "e": [{"c": 4, "d": 5}, 6, [{"c": 7}]]}];
    check(
        &nested,
        &docs![{"$project": {"a": 1}}],
        &docs![{"_id": 1, "a": 1}],
    );
    check(
        &nested,
        &docs![{"$project": {"a": true, "_id": 0}}],
        &docs![{"a": 1}],
    );
    check(
        &nested,
        &docs![{"$project": {"_id": 0}}],
        &docs![{"a": 1, "b": {"c": 2, "d": 3}, "e": [{"c": 4, "d": 5}, 6, [{"c": 7}]]}],
    );
    check(
        &nested,
        &docs![{"$project": {"_id": 1}}],
        &docs![{"_id": 1}],
    );
    check(
        &nested,
        &docs![{"$project": {"b.c": 1}}],
        &docs![{"_id": 1, "b": {"c": 2}}],
    );
    check(
        &nested,
        &docs![{"$project": {"b": {"d": 1}}}],
        &docs![{"_id": 1, "b": {"d": 3}}],
    );
    // Inclusion below an array keeps only the documents' fields (scalars are dropped).
    check(
        &nested,
        &docs![{"$project": {"e.c": 1, "_id": 0}}],
        &docs![{"e": [{"c": 4}, [{"c": 7}]]}],
    );
    check(
        &nested,
        &docs![{"$project": {"e.c": 0, "b": 0}}],
        &docs![{"_id": 1, "a": 1, "e": [{"d": 5}, 6, [{}]]}],
    );
    check(
        &nested,
        &docs![{"$project": {"a": 0, "b.c": 0, "e": 0}}],
        &docs![{"_id": 1, "b": {"d": 3}}],
    );
    check(&nested, &docs![{"$project": {"x": 1}}], &docs![{"_id": 1}]);
    check(
        &docs![{"_id": 1, "a": 2}],
        &docs![{"$project": {"a.b": 1}}],
        &docs![{"_id": 1}],
    );
    check(
        &docs![{"_id": 1, "a": {"c": 1}}],
        &docs![{"$project": {"a.b": 1}}],
        &docs![{"_id": 1, "a": {}}],
    );
    // Inclusion follows the input document's order.
    check(
        &docs![{"b": 1, "a": 2, "_id": 3}],
        &docs![{"$project": {"a": 1, "b": 1}}],
        &docs![{"b": 1, "a": 2, "_id": 3}],
    );
    check(
        &nested,
        &docs![{"$unset": "b"}],
        &docs![{"_id": 1, "a": 1, "e": [{"c": 4, "d": 5}, 6, [{"c": 7}]]}],
    );
    check(
        &nested,
        &docs![{"$unset": ["a", "b.d", "e"]}],
        &docs![{"_id": 1, "b": {"c": 2}}],
    );

    // $sample: distinct documents from the input; everything when the size is larger.
    let out = run(&numbers, &docs![{"$sample": {"size": 2}}]).expect("sample");
    assert_eq!(out.len(), 2);
    assert_ne!(out[0], out[1]);
    assert!(out.iter().all(|d| numbers.contains(d)));
    let mut all = run(&numbers, &docs![{"$sample": {"size": 10}}]).expect("sample");
    all.sort_by_key(|d| d.get_i32("_id").unwrap_or(0));
    assert_eq!(all, numbers);
    check(&numbers, &docs![{"$sample": {"size": 0}}], &[]);

    // $facet runs each sub-pipeline on all input documents.
    check(
        &numbers,
        &docs![{"$facet": {"first": [{"$limit": 1}], "count": [{"$count": "n"}], "none": [{"$match": {"n": 9}}]}}],
        &docs![{"first": [{"_id": 1, "n": 3}], "count": [{"n": 4}], "none": []}],
    );
    check(
        &[],
        &docs![{"$facet": {"a": [{"$count": "n"}]}}],
        &docs![{"a": []}],
    );
}

#[test]
fn lookup_union_out_merge() {
    // $lookup equality form (MongoDB docs: orders and inventory). A missing localField
    // matches foreign documents whose field is null or missing.
    let orders = docs![
        {"_id": 1, "item": "almonds", "price": 12, "quantity": 2},
        {"_id": 2, "item": "pecans", "price": 20, "quantity": 1},
        {"_id": 3},
    ];
    let inventory = docs![
        {"_id": 1, "sku": "almonds", "description": "product 1", "instock": 120},
        {"_id": 2, "sku": "bread", "description": "product 2", "instock": 80},
        {"_id": 3, "sku": "cashews", "description": "product 3", "instock": 60},
        {"_id": 4, "sku": "pecans", "description": "product 4", "instock": 70},
        {"_id": 5, "sku": null, "description": "Incomplete"},
        {"_id": 6},
    ];
    let env = MemEnv::with(&[("inventory", inventory.clone())]);
    check_in(
        &env,
        &orders,
        &docs![{"$lookup": {"from": "inventory", "localField": "item", "foreignField": "sku", "as": "inventory_docs"}}],
        &docs![
            {"_id": 1, "item": "almonds", "price": 12, "quantity": 2, "inventory_docs": [inventory[0].clone()]},
            {"_id": 2, "item": "pecans", "price": 20, "quantity": 1, "inventory_docs": [inventory[3].clone()]},
            {"_id": 3, "inventory_docs": [inventory[4].clone(), inventory[5].clone()]},
        ],
    );
    // An array localField matches each element (MongoDB docs: classes and members).
    let members = docs![
        {"_id": 1, "name": "artie"}, {"_id": 2, "name": "giraffe"}, {"_id": 3, "name": "giraffe1"},
        {"_id": 4, "name": "panda"}, {"_id": 5, "name": "pandabear"}, {"_id": 6, "name": "giraffe2"},
    ];
    let classes = docs![
        {"_id": 1, "enrollmentlist": ["giraffe2", "pandabear", "artie"]},
        {"_id": 2, "enrollmentlist": ["giraffe1", "artie"]},
    ];
    let env = MemEnv::with(&[("members", members.clone())]);
    check_in(
        &env,
        &classes,
        &docs![{"$lookup": {"from": "members", "localField": "enrollmentlist", "foreignField": "name", "as": "m"}}, {"$project": {"m._id": 1}}],
        &docs![{"_id": 1, "m": [{"_id": 1}, {"_id": 5}, {"_id": 6}]}, {"_id": 2, "m": [{"_id": 1}, {"_id": 3}]}],
    );
    // An array foreignField matches when any element equals; a dotted path traverses arrays.
    let env = MemEnv::with(&[(
        "b",
        docs![{"_id": 1, "tags": ["x", "y"]}, {"_id": 2, "tags": ["z"]}, {"_id": 3, "t": [{"v": "x"}]}],
    )]);
    check_in(
        &env,
        &docs![{"_id": 9, "tag": "x"}],
        &docs![{"$lookup": {"from": "b", "localField": "tag", "foreignField": "tags", "as": "r"}}],
        &docs![{"_id": 9, "tag": "x", "r": [{"_id": 1, "tags": ["x", "y"]}]}],
    );
    check_in(
        &env,
        &docs![{"_id": 9, "tag": "x"}],
        &docs![{"$lookup": {"from": "b", "localField": "tag", "foreignField": "t.v", "as": "r"}}],
        &docs![{"_id": 9, "tag": "x", "r": [{"_id": 3, "t": [{"v": "x"}]}]}],
    );
    // Numbers match across types; the `as` field may be dotted.
    let env = MemEnv::with(&[("b", docs![{"_id": 1, "k": 1.0}, {"_id": 2, "k": 2}])]);
    check_in(
        &env,
        &docs![{"_id": 9, "k": 1i64}],
        &docs![{"$lookup": {"from": "b", "localField": "k", "foreignField": "k", "as": "x.y"}}],
        &docs![{"_id": 9, "k": 1i64, "x": {"y": [{"_id": 1, "k": 1.0}]}}],
    );
    // An empty local array is treated like a missing field: it matches null or missing.
    let nulls = MemEnv::with(&[(
        "b",
        docs![{"_id": 1, "k": null}, {"_id": 2}, {"_id": 3, "k": 3}],
    )]);
    check_in(
        &nulls,
        &docs![{"_id": 9, "k": []}],
        &docs![{"$lookup": {"from": "b", "localField": "k", "foreignField": "k", "as": "r"}}, {"$project": {"r._id": 1}}],
        &docs![{"_id": 9, "r": [{"_id": 1}, {"_id": 2}]}],
    );
    // Local values through an array of documents.
    check_in(
        &nulls,
        &docs![{"_id": 9, "a": [{"k": 3}, {"k": 4}]}],
        &docs![{"$lookup": {"from": "b", "localField": "a.k", "foreignField": "k", "as": "r"}}, {"$project": {"r._id": 1}}],
        &docs![{"_id": 9, "r": [{"_id": 3}]}],
    );
    // A missing collection gives empty arrays.
    check_in(
        &env,
        &docs![{"_id": 9, "k": 1}],
        &docs![{"$lookup": {"from": "nothing", "localField": "k", "foreignField": "k", "as": "r"}}],
        &docs![{"_id": 9, "k": 1, "r": []}],
    );
    // Sub-pipeline without variables.
    check_in(
        &env,
        &docs![{"_id": 9}],
        &docs![{"$lookup": {"from": "b", "pipeline": [{"$match": {"k": 2}}], "as": "r"}}],
        &docs![{"_id": 9, "r": [{"_id": 2, "k": 2}]}],
    );

    // $unionWith: input first, then the other collection (through its pipeline).
    let env = MemEnv::with(&[("b", docs![{"_id": 10, "x": 1}, {"_id": 11, "x": 2}])]);
    check_in(
        &env,
        &docs![{"_id": 1}],
        &docs![{"$unionWith": "b"}],
        &docs![{"_id": 1}, {"_id": 10, "x": 1}, {"_id": 11, "x": 2}],
    );
    check_in(
        &env,
        &docs![{"_id": 1}],
        &docs![{"$unionWith": {"coll": "b", "pipeline": [{"$match": {"x": 2}}]}}, {"$count": "n"}],
        &docs![{"n": 2}],
    );
    check_in(
        &env,
        &[],
        &docs![{"$unionWith": {"coll": "b"}}, {"$limit": 1}],
        &docs![{"_id": 10, "x": 1}],
    );
    check_in(
        &env,
        &docs![{"_id": 1}],
        &docs![{"$unionWith": "missing"}],
        &docs![{"_id": 1}],
    );

    // $out replaces the target collection and returns nothing.
    let env = MemEnv::with(&[("target", docs![{"_id": 100}])]);
    check_in(
        &env,
        &docs![{"_id": 1, "a": 1}, {"_id": 2}],
        &docs![{"$out": "target"}],
        &[],
    );
    assert_eq!(
        env.collection("test", "target"),
        docs![{"_id": 1, "a": 1}, {"_id": 2}]
    );
    check_in(
        &env,
        &docs![{"_id": 3}],
        &docs![{"$out": {"db": "other", "coll": "t2"}}],
        &[],
    );
    assert_eq!(env.collection("other", "t2"), docs![{"_id": 3}]);
    // Documents without _id get an ObjectId.
    check_in(&env, &docs![{"a": 1}], &docs![{"$out": "t3"}], &[]);
    let written = env.collection("test", "t3");
    assert!(matches!(written[0].get("_id"), Some(Bson::ObjectId(_))));
    assert_eq!(written[0].get("a"), Some(&Bson::Int32(1)));
    assert!(Pipeline::parse(&docs![{"$match": {}}, {"$out": "x"}])
        .map(|p| p.is_write_stage_last())
        .unwrap_or(false));
    assert!(!Pipeline::parse(&docs![{"$match": {}}])
        .map(|p| p.is_write_stage_last())
        .unwrap_or(true));

    // $merge: defaults (on _id, whenMatched merge, whenNotMatched insert).
    let env = MemEnv::with(&[("t", docs![{"_id": 1, "a": 1, "b": 1}, {"_id": 2, "a": 2}])]);
    check_in(
        &env,
        &docs![{"_id": 1, "b": 10, "c": 10}, {"_id": 3, "a": 3}],
        &docs![{"$merge": "t"}],
        &[],
    );
    assert_eq!(
        env.collection("test", "t"),
        docs![{"_id": 1, "a": 1, "b": 10, "c": 10}, {"_id": 2, "a": 2}, {"_id": 3, "a": 3}]
    );
    // replace / keepExisting / discard.
    check_in(
        &env,
        &docs![{"_id": 1, "z": 1}, {"_id": 4}],
        &docs![{"$merge": {"into": "t", "whenMatched": "replace", "whenNotMatched": "discard"}}],
        &[],
    );
    assert_eq!(
        env.collection("test", "t"),
        docs![{"_id": 1, "z": 1}, {"_id": 2, "a": 2}, {"_id": 3, "a": 3}]
    );
    check_in(
        &env,
        &docs![{"_id": 2, "a": 99}, {"_id": 5}],
        &docs![{"$merge": {"into": {"db": "test", "coll": "t"}, "whenMatched": "keepExisting"}}],
        &[],
    );
    assert_eq!(
        env.collection("test", "t"),
        docs![{"_id": 1, "z": 1}, {"_id": 2, "a": 2}, {"_id": 3, "a": 3}, {"_id": 5}]
    );
    // fail on either side.
    check_error_in(
        &env,
        &docs![{"_id": 2}],
        &docs![{"$merge": {"into": "t", "whenMatched": "fail"}}],
        11000,
    );
    check_error_in(
        &env,
        &docs![{"_id": 77}],
        &docs![{"$merge": {"into": "t", "whenNotMatched": "fail"}}],
        13113,
    );
    // `on` another field; the matched document keeps its _id.
    let env = MemEnv::with(&[("t", docs![{"_id": 1, "k": "a", "v": 1}])]);
    check_in(
        &env,
        &docs![{"k": "a", "v": 2}, {"k": "b", "v": 3}],
        &docs![{"$merge": {"into": "t", "on": "k", "whenMatched": "replace"}}],
        &[],
    );
    let t = env.collection("test", "t");
    assert_eq!(t[0], doc! {"_id": 1, "k": "a", "v": 2});
    assert_eq!(t[1].get("k"), Some(&Bson::String("b".into())));
    check_error_in(
        &env,
        &docs![{"v": 2}],
        &docs![{"$merge": {"into": "t", "on": "k"}}],
        51132,
    );
    // `on` other than _id needs a unique index on those fields.
    check_error_in(
        &env,
        &docs![{"k": "a"}],
        &docs![{"$merge": {"into": "without_unique_index", "on": "k"}}],
        51183,
    );
    // A merge into a new collection creates it.
    let env = MemEnv::default();
    check_in(
        &env,
        &docs![{"_id": 1}],
        &docs![{"$merge": {"into": "fresh"}}],
        &[],
    );
    assert_eq!(env.collection("test", "fresh"), docs![{"_id": 1}]);
}

#[test]
fn documents_and_database_level() {
    let env = MemEnv::default();
    let db_level = AggOptions {
        db: "test".into(),
        database_level: true,
        ..AggOptions::default()
    };
    let out = run_in(
        &env,
        &db_level,
        &[],
        &docs![{"$documents": [{"x": 1}, {"x": 2}]}, {"$match": {"x": 2}}],
    );
    assert_eq!(out.expect("documents"), docs![{"x": 2}]);
    let out = run_in(&env, &db_level, &[], &docs![{"$match": {}}]);
    assert_eq!(out.map_err(|e| e.code()).err(), Some(73));
    let out = run_in(&env, &options(), &[], &docs![{"$documents": [{"x": 1}]}]);
    assert_eq!(out.map_err(|e| e.code()).err(), Some(73));
    let out = run_in(&env, &db_level, &[], &docs![{"$documents": 1}]);
    assert_eq!(out.map_err(|e| e.code()).err(), Some(5858203));
    // $lookup without `from` on a $documents sub-pipeline.
    check_in(
        &env,
        &docs![{"_id": 1}],
        &docs![{"$lookup": {"pipeline": [{"$documents": [{"y": 1}]}], "as": "r"}}],
        &docs![{"_id": 1, "r": [{"y": 1}]}],
    );
    check_in(
        &env,
        &docs![{"_id": 1}],
        &docs![{"$unionWith": {"pipeline": [{"$documents": [{"y": 1}]}]}}],
        &docs![{"_id": 1}, {"y": 1}],
    );
}

#[test]
fn memory_limit_of_blocking_stages() {
    let input: Vec<Document> = (0..200)
        .map(|i| doc! {"_id": i, "pad": "x".repeat(100)})
        .collect();
    let limited = |pipeline: &[Document], allow_disk_use: bool| {
        let pipeline = Pipeline::parse(pipeline)
            .expect("parse")
            .with_memory_limit(10_000);
        let options = AggOptions {
            db: "test".into(),
            allow_disk_use,
            ..AggOptions::default()
        };
        pipeline.run(
            Box::new(input.iter().cloned().map(Ok)),
            &MemEnv::default(),
            &options,
        )
    };
    let sort = docs![{"$sort": {"_id": -1}}];
    let error = limited(&sort, false).expect_err("sort over the limit");
    assert_eq!(error.code(), 292);
    assert!(
        error
            .to_string()
            .contains("Pass allowDiskUse:true to opt in."),
        "{error}"
    );
    assert_eq!(limited(&sort, true).expect("allowDiskUse").len(), 200);
    // A $sort followed by $limit keeps only the top documents.
    let top = docs![{"$sort": {"_id": -1}}, {"$limit": 3}];
    assert_eq!(
        limited(&top, false)
            .expect("top-k sort")
            .first()
            .and_then(|d| d.get("_id")),
        Some(&Bson::Int32(199))
    );
    let group = docs![{"$group": {"_id": null, "all": {"$push": "$pad"}}}];
    assert_eq!(
        limited(&group, false).map_err(|e| e.code()).err(),
        Some(292)
    );
    assert_eq!(limited(&group, true).expect("allowDiskUse").len(), 1);
    let facet = docs![{"$facet": {"a": [{"$limit": 1}]}}];
    assert_eq!(
        limited(&facet, false).map_err(|e| e.code()).err(),
        Some(292)
    );
    assert_eq!(limited(&facet, true).expect("allowDiskUse").len(), 1);
    // Streaming stages are not limited.
    assert_eq!(
        limited(&docs![{"$project": {"pad": 1}}], false)
            .expect("streaming")
            .len(),
        200
    );
}

#[test]
fn pipeline_helpers() {
    let p = Pipeline::parse(&docs![{"$match": {"a": 1}}, {"$limit": 1}]).expect("parse");
    assert_eq!(p.leading_match(), Some(&doc! {"a": 1}));
    let p = Pipeline::parse(&docs![{"$limit": 1}, {"$match": {"a": 1}}]).expect("parse");
    assert_eq!(p.leading_match(), None);
    let p = Pipeline::parse(&docs![{"$group": {"_id": null}}]).expect("parse");
    assert_eq!(
        p.apply_to_document(doc! {"_id": 1}, &Document::new())
            .map_err(|e| e.code())
            .err(),
        Some(72)
    );
    let p = Pipeline::parse(&docs![{"$unset": "a"}, {"$project": {"b": 0}}]).expect("parse");
    assert_eq!(
        p.apply_to_document(doc! {"_id": 1, "a": 1, "b": 2, "c": 3}, &Document::new())
            .expect("update"),
        doc! {"_id": 1, "c": 3}
    );
}

/// A parsed pipeline can be cached and shared between connections.
#[test]
fn pipeline_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pipeline>();
    assert_send_sync::<AggOptions>();
}
