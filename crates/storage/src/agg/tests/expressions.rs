//! Stage cases that need expression evaluation: `$group` accumulators, computed
//! projections, `$bucket*`, `$lookup` with `let`, `$redact`, variables.

use bson::{doc, Bson, Document};

use super::{check, check_error, check_in, date, dec, run, run_in, MemEnv};
use crate::agg::{AggOptions, Pipeline};

/// MongoDB docs' `sales` collection for `$group`.
fn sales() -> Vec<Document> {
    docs![
        {"_id": 1, "item": "abc", "price": (dec("10")), "quantity": 2, "date": (date("2014-03-01T08:00:00Z"))},
        {"_id": 2, "item": "jkl", "price": (dec("20")), "quantity": 1, "date": (date("2014-03-01T09:00:00Z"))},
        {"_id": 3, "item": "xyz", "price": (dec("5")), "quantity": 10, "date": (date("2014-03-15T09:00:00Z"))},
        {"_id": 4, "item": "xyz", "price": (dec("5")), "quantity": 20, "date": (date("2014-04-04T11:21:39.736Z"))},
        {"_id": 5, "item": "abc", "price": (dec("10")), "quantity": 10, "date": (date("2014-04-04T21:23:13.331Z"))},
        {"_id": 6, "item": "def", "price": (dec("7.5")), "quantity": 5, "date": (date("2015-06-04T05:08:13Z"))},
        {"_id": 7, "item": "def", "price": (dec("7.5")), "quantity": 10, "date": (date("2015-09-10T08:43:00Z"))},
        {"_id": 8, "item": "abc", "price": (dec("10")), "quantity": 5, "date": (date("2016-02-06T20:20:13Z"))},
    ]
}

/// MongoDB docs' `gamescores` collection for `$top`/`$bottom`/`$firstN`/...
fn game_scores() -> Vec<Document> {
    docs![
        {"playerId": "PlayerA", "gameId": "G1", "score": 31},
        {"playerId": "PlayerB", "gameId": "G1", "score": 33},
        {"playerId": "PlayerC", "gameId": "G1", "score": 99},
        {"playerId": "PlayerD", "gameId": "G1", "score": 1},
        {"playerId": "PlayerA", "gameId": "G2", "score": 10},
        {"playerId": "PlayerB", "gameId": "G2", "score": 14},
        {"playerId": "PlayerC", "gameId": "G2", "score": 66},
        {"playerId": "PlayerD", "gameId": "G2", "score": 80},
    ]
}

fn group_g1(accumulator: Bson) -> Vec<Document> {
    docs![{"$match": {"gameId": "G1"}}, {"$group": {"_id": "$gameId", "r": accumulator}}]
}

#[test]
fn group_accumulators() {
    let sales = sales();
    check(
        &sales,
        &docs![{"$group": {"_id": null, "count": {"$count": {}}}}],
        &docs![{"_id": null, "count": 8}],
    );
    check(
        &sales,
        &docs![{"$group": {"_id": "$item"}}],
        &docs![{"_id": "abc"}, {"_id": "jkl"}, {"_id": "xyz"}, {"_id": "def"}],
    );
    // Decimal arithmetic keeps decimals: $sum of price * quantity.
    check(
        &sales,
        &docs![{"$group": {"_id": "$item", "totalSaleAmount": {"$sum": {"$multiply": ["$price", "$quantity"]}}}}],
        &docs![
            {"_id": "abc", "totalSaleAmount": (dec("170"))},
            {"_id": "jkl", "totalSaleAmount": (dec("20"))},
            {"_id": "xyz", "totalSaleAmount": (dec("150"))},
            {"_id": "def", "totalSaleAmount": (dec("112.5"))},
        ],
    );
    // $avg of decimals is a decimal; of int32s a double. $sum of int32s stays int32.
    check(
        &sales,
        &docs![{"$group": {"_id": null, "averageQuantity": {"$avg": "$quantity"}, "avgPrice": {"$avg": "$price"}, "q": {"$sum": "$quantity"}}}],
        &docs![{"_id": null, "averageQuantity": 7.875, "avgPrice": (dec("9.375")), "q": 63}],
    );
    check(
        &sales,
        &docs![{"$group": {"_id": "$item", "first": {"$first": "$_id"}, "last": {"$last": "$_id"}, "min": {"$min": "$quantity"}, "max": {"$max": "$quantity"}}}, {"$match": {"_id": "abc"}}],
        &docs![{"_id": "abc", "first": 1, "last": 8, "min": 2, "max": 10}],
    );
    check(
        &sales,
        &docs![{"$group": {"_id": "$item", "q": {"$push": "$quantity"}, "p": {"$addToSet": "$price"}}}, {"$match": {"_id": "xyz"}}],
        &docs![{"_id": "xyz", "q": [10, 20], "p": [(dec("5"))]}],
    );
    // Group keys: an object _id, and numbers equal across types share a group.
    check(
        &docs![{"a": 1, "b": 1}, {"a": 1.0, "b": 1}, {"a": 1i64, "b": 2}],
        &docs![{"$group": {"_id": {"a": "$a", "b": "$b"}, "n": {"$sum": 1}}}],
        &docs![{"_id": {"a": 1, "b": 1}, "n": 2}, {"_id": {"a": 1i64, "b": 2}, "n": 1}],
    );
    // A missing key is null; missing values are skipped by $push and become null in $first.
    check(
        &docs![{"x": 1}, {"a": null, "x": 2}, {"a": 3}],
        &docs![{"$group": {"_id": "$a", "xs": {"$push": "$x"}, "f": {"$first": "$x"}, "l": {"$last": "$x"}}}],
        &docs![{"_id": null, "xs": [1, 2], "f": 1, "l": 2}, {"_id": 3, "xs": [], "f": null, "l": null}],
    );
    // $min/$max ignore null and missing; all missing gives null. $avg without numbers: null.
    check(
        &docs![{"v": null}, {"v": 5}, {"w": 1}, {"v": "s"}],
        &docs![{"$group": {"_id": null, "min": {"$min": "$v"}, "max": {"$max": "$v"}, "none": {"$min": "$zz"}, "avg": {"$avg": "$zz"}, "sum": {"$sum": "$zz"}}}],
        &docs![{"_id": null, "min": 5, "max": "s", "none": null, "avg": null, "sum": 0}],
    );
    // Result types of $sum: int32 overflow goes to int64, int64 overflow to double.
    check(
        &docs![{"v": 2147483647}, {"v": 1}],
        &docs![{"$group": {"_id": null, "s": {"$sum": "$v"}}}],
        &docs![{"_id": null, "s": 2147483648i64}],
    );
    check(
        &docs![{"v": i64::MAX}, {"v": 1i64}],
        &docs![{"$group": {"_id": null, "s": {"$sum": "$v"}}}],
        &docs![{"_id": null, "s": 9223372036854775808.0f64}],
    );
    check(
        &docs![{"v": 1}, {"v": 2i64}],
        &docs![{"$group": {"_id": null, "s": {"$sum": "$v"}, "d": {"$sum": 1.5}}}],
        &docs![{"_id": null, "s": 3i64, "d": 3.0}],
    );
    check(
        &docs![{"v": (dec("0.1"))}, {"v": 1}, {"v": (dec("0.2"))}],
        &docs![{"$group": {"_id": null, "s": {"$sum": "$v"}, "a": {"$avg": "$v"}}}],
        &docs![{"_id": null, "s": (dec("1.3")), "a": (dec("0.4333333333333333333333333333333333"))}],
    );
    // $mergeObjects.
    check(
        &docs![{"k": 1, "q": {"a": 1, "b": 1}}, {"k": 1, "q": null}, {"k": 1, "q": {"b": 2, "c": 3}}],
        &docs![{"$group": {"_id": "$k", "m": {"$mergeObjects": "$q"}}}],
        &docs![{"_id": 1, "m": {"a": 1, "b": 2, "c": 3}}],
    );
    check_error(
        &docs![{"q": 1}],
        &docs![{"$group": {"_id": null, "m": {"$mergeObjects": "$q"}}}],
        40400,
    );
    // $stdDevPop / $stdDevSamp (MongoDB docs: quiz scores).
    let out = run(
        &docs![{"quiz": 1, "score": 85}, {"quiz": 1, "score": 90}, {"quiz": 1, "score": 71}],
        &docs![{"$group": {"_id": "$quiz", "pop": {"$stdDevPop": "$score"}, "samp": {"$stdDevSamp": "$score"}, "one": {"$stdDevSamp": {"$literal": 1}}}}],
    )
    .expect("stdDev");
    let pop = out[0].get_f64("pop").expect("pop");
    let samp = out[0].get_f64("samp").expect("samp");
    assert!((pop - 8.04155872120988).abs() < 1e-9, "{pop}");
    assert!((samp - 9.848857801796104).abs() < 1e-9, "{samp}");
    assert_eq!(out[0].get("one"), Some(&Bson::Double(0.0)));
    check(
        &docs![{"s": 1}],
        &docs![{"$group": {"_id": null, "samp": {"$stdDevSamp": "$s"}, "pop": {"$stdDevPop": "$s"}}}],
        &docs![{"_id": null, "samp": null, "pop": 0.0}],
    );
}

#[test]
fn top_bottom_and_n_accumulators() {
    let scores = game_scores();
    let pair = Bson::Array(vec!["$playerId".into(), "$score".into()]);
    check(
        &scores,
        &group_g1(Bson::Document(
            doc! {"$top": {"output": pair.clone(), "sortBy": {"score": -1}}},
        )),
        &docs![{"_id": "G1", "r": ["PlayerC", 99]}],
    );
    check(
        &scores,
        &group_g1(Bson::Document(
            doc! {"$bottom": {"output": pair.clone(), "sortBy": {"score": -1}}},
        )),
        &docs![{"_id": "G1", "r": ["PlayerD", 1]}],
    );
    check(
        &scores,
        &docs![{"$group": {"_id": "$gameId", "r": {"$topN": {"output": pair.clone(), "sortBy": {"score": -1}, "n": 3}}}}],
        &docs![
            {"_id": "G1", "r": [["PlayerC", 99], ["PlayerB", 33], ["PlayerA", 31]]},
            {"_id": "G2", "r": [["PlayerD", 80], ["PlayerC", 66], ["PlayerB", 14]]},
        ],
    );
    check(
        &scores,
        &group_g1(Bson::Document(
            doc! {"$bottomN": {"output": pair.clone(), "sortBy": {"score": -1}, "n": 3}},
        )),
        &docs![{"_id": "G1", "r": [["PlayerB", 33], ["PlayerA", 31], ["PlayerD", 1]]}],
    );
    check(
        &scores,
        &group_g1(Bson::Document(
            doc! {"$firstN": {"input": pair.clone(), "n": 3}},
        )),
        &docs![{"_id": "G1", "r": [["PlayerA", 31], ["PlayerB", 33], ["PlayerC", 99]]}],
    );
    check(
        &scores,
        &group_g1(Bson::Document(
            doc! {"$lastN": {"input": pair.clone(), "n": 3}},
        )),
        &docs![{"_id": "G1", "r": [["PlayerB", 33], ["PlayerC", 99], ["PlayerD", 1]]}],
    );
    check(
        &scores,
        &group_g1(Bson::Document(doc! {"$maxN": {"input": "$score", "n": 3}})),
        &docs![{"_id": "G1", "r": [99, 33, 31]}],
    );
    check(
        &scores,
        &group_g1(Bson::Document(doc! {"$minN": {"input": "$score", "n": 2}})),
        &docs![{"_id": "G1", "r": [1, 31]}],
    );
    // n may depend on the group key.
    check(
        &scores,
        &docs![{"$group": {"_id": {"gameId": "$gameId"}, "r": {"$firstN": {"input": "$score", "n": {"$cond": {"if": {"$eq": ["$_id.gameId", "G2"]}, "then": 1, "else": 2}}}}}}],
        &docs![{"_id": {"gameId": "G1"}, "r": [31, 33]}, {"_id": {"gameId": "G2"}, "r": [10]}],
    );
    // $minN/$maxN skip null and missing; $firstN keeps them as null.
    check(
        &docs![{"v": null}, {"v": 3}, {"w": 1}, {"v": 1}],
        &docs![{"$group": {"_id": null, "min": {"$minN": {"input": "$v", "n": 5}}, "first": {"$firstN": {"input": "$v", "n": 3}}}}],
        &docs![{"_id": null, "min": [1, 3], "first": [null, 3, null]}],
    );
    check_error(
        &scores,
        &group_g1(Bson::Document(
            doc! {"$firstN": {"input": "$score", "n": 0}},
        )),
        5787908,
    );
    check_error(
        &scores,
        &group_g1(Bson::Document(
            doc! {"$firstN": {"input": "$score", "n": 1.5}},
        )),
        5787903,
    );
    check_error(
        &scores,
        &group_g1(Bson::Document(
            doc! {"$firstN": {"input": "$score", "n": "a"}},
        )),
        5787902,
    );
}

#[test]
fn computed_projections() {
    let scores = docs![
        {"_id": 1, "student": "Maya", "homework": 10, "quiz": 8, "extraCredit": 0},
        {"_id": 2, "student": "Ryan", "homework": 5, "quiz": 8, "extraCredit": 8},
    ];
    check(
        &scores,
        &docs![{"$addFields": {"total": {"$add": ["$homework", "$quiz", "$extraCredit"]}}}, {"$project": {"total": 1}}],
        &docs![{"_id": 1, "total": 18}, {"_id": 2, "total": 21}],
    );
    check(
        &scores,
        &docs![{"$set": {"student": "x", "n": 1, "b": true}}, {"$unset": ["homework", "quiz", "extraCredit"]}],
        &docs![{"_id": 1, "student": "x", "n": 1, "b": true}, {"_id": 2, "student": "x", "n": 1, "b": true}],
    );
    // $addFields into an embedded document, through arrays, and over scalars.
    check(
        &docs![{"_id": 1, "specs": {"doors": 4}}],
        &docs![{"$addFields": {"specs.fuel_type": "unleaded"}}],
        &docs![{"_id": 1, "specs": {"doors": 4, "fuel_type": "unleaded"}}],
    );
    check(
        &docs![{"_id": 1, "specs": {"doors": 4}}],
        &docs![{"$addFields": {"specs": {"wheels": 4}}}],
        &docs![{"_id": 1, "specs": {"doors": 4, "wheels": 4}}],
    );
    check(
        &docs![{"_id": 1, "a": [{"b": 1}, 2]}],
        &docs![{"$addFields": {"a.c": 5}}],
        &docs![{"_id": 1, "a": [{"b": 1, "c": 5}, {"c": 5}]}],
    );
    check(
        &docs![{"_id": 1, "a": 7}],
        &docs![{"$addFields": {"a.c": 5}}],
        &docs![{"_id": 1, "a": {"c": 5}}],
    );
    check(
        &docs![{"_id": 1, "a": 1}],
        &docs![{"$addFields": {"e": {}}}],
        &docs![{"_id": 1, "a": 1, "e": {}}],
    );
    check_error(
        &docs![{"_id": 1}],
        &docs![{"$addFields": {"e": {"$literal": 1, "b": 2}}}],
        16410,
    );
    // $$REMOVE drops the field.
    check(
        &docs![{"_id": 1, "a": 1, "b": 2}],
        &docs![{"$addFields": {"a": "$$REMOVE"}}],
        &docs![{"_id": 1, "b": 2}],
    );
    check(
        &docs![{"_id": 1, "a": 1, "b": 2}],
        &docs![{"$project": {"a": 1, "c": {"$cond": {"if": {"$eq": ["$b", 2]}, "then": "$$REMOVE", "else": "$b"}}}}],
        &docs![{"_id": 1, "a": 1}],
    );
    // $project with expressions: renamed and literal fields, nested computed fields.
    let books = docs![{"_id": 1, "title": "abc123", "isbn": "0001122223334", "author": {"last": "zzz", "first": "aaa"}, "copies": 5}];
    check(
        &books,
        &docs![{"$project": {"title": 1, "lastName": "$author.last", "copiesSold": "$copies"}}],
        &docs![{"_id": 1, "title": "abc123", "lastName": "zzz", "copiesSold": 5}],
    );
    check(
        &books,
        &docs![{"$project": {"_id": 0, "author.first": 1, "author.full": {"$literal": "x"}}}],
        &docs![{"author": {"first": "aaa", "full": "x"}}],
    );
    check(
        &books,
        &docs![{"$project": {"_id": 0, "a.b": "$copies", "s": {"$literal": 1}}}],
        &docs![{"a": {"b": 5}, "s": 1}],
    );
    check(
        &books,
        &docs![{"$project": {"_id": "$copies"}}],
        &docs![{"_id": 5}],
    );
    // Computed fields below an array apply to each element; the field keeps its position.
    check(
        &docs![{"_id": 1, "a": [{"c": 1}, 5], "x": 2}],
        &docs![{"$project": {"x": 1, "a.b": {"$literal": 1}}}],
        &docs![{"_id": 1, "a": [{"b": 1}], "x": 2}],
    );
    check(
        &docs![{"_id": 1, "a": 5}],
        &docs![{"$project": {"_id": 0, "a.b": {"$literal": 1}}}],
        &docs![{"a": {"b": 1}}],
    );
    // $replaceRoot / $replaceWith (MongoDB docs: produce).
    let produce = docs![
        {"_id": 1, "fruit": ["apples", "oranges"], "in_stock": {"oranges": 20, "apples": 60}},
        {"_id": 2, "vegetables": ["beets", "yams"], "in_stock": {"beets": 130, "yams": 200}},
    ];
    check(
        &produce,
        &docs![{"$replaceRoot": {"newRoot": "$in_stock"}}],
        &docs![{"oranges": 20, "apples": 60}, {"beets": 130, "yams": 200}],
    );
    check(
        &produce,
        &docs![{"$replaceWith": "$in_stock"}, {"$limit": 1}],
        &docs![{"oranges": 20, "apples": 60}],
    );
    check(
        &produce,
        &docs![{"$replaceWith": {"id": "$_id", "n": {"$literal": 1}}}],
        &docs![{"id": 1, "n": 1}, {"id": 2, "n": 1}],
    );
    check_error(
        &produce,
        &docs![{"$replaceRoot": {"newRoot": "$fruit"}}],
        40228,
    );
    check_error(&produce, &docs![{"$replaceWith": "$missing"}], 40228);
}

#[test]
fn buckets_and_sort_by_count() {
    let artwork = docs![
        {"_id": 1, "title": "The Pillars of Society", "artist": "Grosz", "year": 1926, "price": (dec("199.99"))},
        {"_id": 2, "title": "Melancholy III", "artist": "Munch", "year": 1902, "price": (dec("280.00"))},
        {"_id": 3, "title": "Dancer", "artist": "Miro", "year": 1925, "price": (dec("76.04"))},
        {"_id": 4, "title": "The Great Wave off Kanagawa", "artist": "Hokusai", "price": (dec("167.30"))},
        {"_id": 5, "title": "The Persistence of Memory", "artist": "Dali", "year": 1931, "price": (dec("483.00"))},
        {"_id": 6, "title": "Composition VII", "artist": "Kandinsky", "year": 1913, "price": (dec("385.00"))},
        {"_id": 7, "title": "The Scream", "artist": "Munch", "year": 1893},
        {"_id": 8, "title": "Blue Flower", "artist": "O'Keefe", "year": 1918, "price": (dec("118.42"))},
    ];
    check(
        &artwork,
        &docs![{"$bucket": {"groupBy": "$price", "boundaries": [0, 200, 400], "default": "Other", "output": {"count": {"$sum": 1}, "titles": {"$push": "$title"}}}}],
        &docs![
            {"_id": 0, "count": 4, "titles": ["The Pillars of Society", "Dancer", "The Great Wave off Kanagawa", "Blue Flower"]},
            {"_id": 200, "count": 2, "titles": ["Melancholy III", "Composition VII"]},
            {"_id": "Other", "count": 2, "titles": ["The Persistence of Memory", "The Scream"]},
        ],
    );
    check(
        &artwork,
        &docs![{"$bucket": {"groupBy": "$year", "boundaries": [1890, 1910, 1920, 1940], "default": "Unknown"}}],
        &docs![{"_id": 1890, "count": 2}, {"_id": 1910, "count": 2}, {"_id": 1920, "count": 3}, {"_id": "Unknown", "count": 1}],
    );
    check_error(
        &artwork,
        &docs![{"$bucket": {"groupBy": "$year", "boundaries": [1890, 1910]}}],
        40066,
    );
    // $bucketAuto (MongoDB docs: four buckets of two).
    let mut priced = artwork.clone();
    priced[6].insert("price", dec("159.00"));
    check(
        &priced,
        &docs![{"$bucketAuto": {"groupBy": "$price", "buckets": 4}}],
        &docs![
            {"_id": {"min": (dec("76.04")), "max": (dec("159.00"))}, "count": 2},
            {"_id": {"min": (dec("159.00")), "max": (dec("199.99"))}, "count": 2},
            {"_id": {"min": (dec("199.99")), "max": (dec("385.00"))}, "count": 2},
            {"_id": {"min": (dec("385.00")), "max": (dec("483.00"))}, "count": 2},
        ],
    );
    // Equal values stay in one bucket; more buckets than documents.
    check(
        &docs![{"v": 1}, {"v": 1}, {"v": 1}, {"v": 2}],
        &docs![{"$bucketAuto": {"groupBy": "$v", "buckets": 2, "output": {"n": {"$sum": 1}, "vs": {"$push": "$v"}}}}],
        &docs![{"_id": {"min": 1, "max": 2}, "n": 3, "vs": [1, 1, 1]}, {"_id": {"min": 2, "max": 2}, "n": 1, "vs": [2]}],
    );
    check(
        &docs![{"v": 3}, {"v": 1}],
        &docs![{"$bucketAuto": {"groupBy": "$v", "buckets": 5}}],
        &docs![{"_id": {"min": 1, "max": 3}, "count": 1}, {"_id": {"min": 3, "max": 3}, "count": 1}],
    );
    check(
        &[],
        &docs![{"$bucketAuto": {"groupBy": "$v", "buckets": 5}}],
        &[],
    );
    // $sortByCount (MongoDB docs: exhibits' tags).
    let exhibits = docs![
        {"_id": 1, "tags": ["painting", "satire", "Expressionism", "caricature"]},
        {"_id": 2, "tags": ["woodcut", "Expressionism"]},
        {"_id": 3, "tags": ["oil", "Surrealism", "painting"]},
        {"_id": 4, "tags": ["woodblock", "ukiyo-e"]},
        {"_id": 5, "tags": ["Surrealism", "painting", "oil"]},
        {"_id": 6, "tags": ["oil", "painting", "abstract"]},
        {"_id": 7, "tags": ["Expressionism", "painting", "oil"]},
        {"_id": 8, "tags": ["abstract", "painting"]},
    ];
    check(
        &exhibits,
        &docs![{"$unwind": "$tags"}, {"$sortByCount": "$tags"}, {"$limit": 3}],
        &docs![{"_id": "painting", "count": 6}, {"_id": "oil", "count": 4}, {"_id": "Expressionism", "count": 3}],
    );
    // $facet over several groupings.
    check(
        &artwork,
        &docs![{"$facet": {
            "byArtist": [{"$sortByCount": "$artist"}, {"$limit": 1}],
            "byYear": [{"$bucket": {"groupBy": "$year", "boundaries": [1900, 2000], "default": "other"}}],
        }}],
        &docs![{"byArtist": [{"_id": "Munch", "count": 2}], "byYear": [{"_id": 1900, "count": 6}, {"_id": "other", "count": 2}]}],
    );
}

#[test]
fn lookup_with_variables_and_redact() {
    let env = MemEnv::with(&[(
        "warehouses",
        docs![
            {"_id": 1, "stock_item": "almonds", "warehouse": "A", "instock": 120},
            {"_id": 2, "stock_item": "pecans", "warehouse": "A", "instock": 80},
            {"_id": 3, "stock_item": "almonds", "warehouse": "B", "instock": 60},
        ],
    )]);
    // The let/pipeline form: let variables are visible to the sub-pipeline's expressions.
    check_in(
        &env,
        &docs![{"_id": 1, "item": "almonds", "ordered": 2}],
        &docs![{"$lookup": {"from": "warehouses", "let": {"order_item": "$item", "n": "$ordered"}, "pipeline": [
            {"$project": {"_id": 0, "warehouse": 1, "same": {"$eq": ["$stock_item", "$$order_item"]}, "n": "$$n"}},
            {"$match": {"same": true}},
        ], "as": "stockdata"}}],
        &docs![{"_id": 1, "item": "almonds", "ordered": 2, "stockdata": [{"warehouse": "A", "same": true, "n": 2}, {"warehouse": "B", "same": true, "n": 2}]}],
    );
    // Equality and sub-pipeline together.
    check_in(
        &env,
        &docs![{"_id": 1, "item": "almonds"}],
        &docs![{"$lookup": {"from": "warehouses", "localField": "item", "foreignField": "stock_item", "let": {"x": "$_id"}, "pipeline": [
            {"$project": {"_id": 0, "warehouse": 1, "x": "$$x"}},
        ], "as": "s"}}],
        &docs![{"_id": 1, "item": "almonds", "s": [{"warehouse": "A", "x": 1}, {"warehouse": "B", "x": 1}]}],
    );
    // $redact: prune sub-documents at level 5.
    check(
        &docs![{"_id": 1, "level": 1, "a": {"level": 5, "x": 1}, "b": [{"level": 1, "y": 2}, {"level": 5}], "c": 3}],
        &docs![{"$redact": {"$cond": {"if": {"$eq": ["$level", 5]}, "then": "$$PRUNE", "else": "$$DESCEND"}}}],
        &docs![{"_id": 1, "level": 1, "b": [{"level": 1, "y": 2}], "c": 3}],
    );
    check(
        &docs![{"_id": 1, "keep": true, "a": {"level": 5}}, {"_id": 2}],
        &docs![{"$redact": {"$cond": {"if": {"$eq": ["$keep", true]}, "then": "$$KEEP", "else": "$$PRUNE"}}}],
        &docs![{"_id": 1, "keep": true, "a": {"level": 5}}],
    );
    check_error(&docs![{"_id": 1}], &docs![{"$redact": "x"}], 17053);
    // $$ROOT stays the whole document while $$CURRENT descends (MongoDB docs: accounts with
    // access levels decided at the top level).
    check(
        &docs![{"_id": 1, "acl": "open", "a": {"x": 1, "b": {"y": 2}}}],
        &docs![{"$redact": {"$cond": {"if": {"$eq": ["$$ROOT.acl", "open"]}, "then": "$$DESCEND", "else": "$$PRUNE"}}}],
        &docs![{"_id": 1, "acl": "open", "a": {"x": 1, "b": {"y": 2}}}],
    );
    // $graphLookup (MongoDB docs: employees).
    let employees = docs![
        {"_id": 1, "name": "Dev"},
        {"_id": 2, "name": "Eliot", "reportsTo": "Dev"},
        {"_id": 3, "name": "Ron", "reportsTo": "Eliot"},
        {"_id": 4, "name": "Andrew", "reportsTo": "Eliot"},
        {"_id": 5, "name": "Asya", "reportsTo": "Ron"},
        {"_id": 6, "name": "Dan", "reportsTo": "Andrew"},
    ];
    let env = MemEnv::with(&[("employees", employees.clone())]);
    check_in(
        &env,
        &employees[4..5],
        &docs![{"$graphLookup": {"from": "employees", "startWith": "$reportsTo", "connectFromField": "reportsTo", "connectToField": "name", "as": "h", "depthField": "d"}}, {"$project": {"h._id": 1, "h.d": 1}}],
        &docs![{"_id": 5, "h": [{"_id": 3, "d": 0i64}, {"_id": 2, "d": 1i64}, {"_id": 1, "d": 2i64}]}],
    );
    check_in(
        &env,
        &employees[4..5],
        &docs![{"$graphLookup": {"from": "employees", "startWith": "$reportsTo", "connectFromField": "reportsTo", "connectToField": "name", "as": "h", "maxDepth": 1}}, {"$project": {"h._id": 1}}],
        &docs![{"_id": 5, "h": [{"_id": 3}, {"_id": 2}]}],
    );
}

#[test]
fn variables() {
    // The command's `let` variables and a fixed $$NOW.
    let options = AggOptions {
        db: "test".into(),
        variables: doc! {"target": 5},
        ..AggOptions::default()
    };
    let out = run_in(
        &MemEnv::default(),
        &options,
        &docs![{"_id": 1}, {"_id": 2}, {"_id": 3}],
        &docs![{"$addFields": {"t": "$$target", "now": "$$NOW"}}],
    )
    .expect("variables");
    assert_eq!(out[0].get("t"), Some(&Bson::Int32(5)));
    let now = out[0].get("now").cloned();
    assert!(matches!(now, Some(Bson::DateTime(_))));
    assert!(out.iter().all(|d| d.get("now").cloned() == now));
    // `let` values are expressions, evaluated once; names are validated.
    let let_options = AggOptions {
        db: "test".into(),
        variables: doc! {"x": {"$add": [1, 2]}, "y": {"$multiply": ["$$x", 2]}},
        ..AggOptions::default()
    };
    let evaluated = run_in(
        &MemEnv::default(),
        &let_options,
        &docs![{"_id": 1}],
        &docs![{"$addFields": {"x": "$$x", "y": "$$y"}}],
    );
    assert_eq!(evaluated.expect("let"), docs![{"_id": 1, "x": 3, "y": 6}]);
    let let_options = AggOptions {
        db: "test".into(),
        variables: doc! {"Bad": 1},
        ..AggOptions::default()
    };
    assert!(run_in(
        &MemEnv::default(),
        &let_options,
        &docs![{"_id": 1}],
        &docs![{"$limit": 1}]
    )
    .is_err());
    // Update pipelines on one document, with the update's `let`.
    let p =
        Pipeline::parse(&docs![{"$set": {"total": {"$add": ["$a", "$$inc"]}}}, {"$unset": "a"}])
            .expect("parse");
    assert_eq!(
        p.apply_to_document(doc! {"_id": 1, "a": 2}, &doc! {"inc": 10})
            .expect("update"),
        doc! {"_id": 1, "total": 12}
    );
    let now = bson::DateTime::from_millis(1_700_000_000_000);
    let p = Pipeline::parse(&docs![{"$set": {"at": "$$NOW"}}]).expect("parse");
    assert_eq!(
        p.apply_to_document_at(doc! {"_id": 1}, &Document::new(), now)
            .expect("update"),
        doc! {"_id": 1, "at": now}
    );
    let p = Pipeline::parse(&docs![{"$replaceWith": {"_id": "$_id", "x": "$a"}}]).expect("parse");
    assert_eq!(
        p.apply_to_document(doc! {"_id": 1, "a": 2}, &Document::new())
            .expect("update"),
        doc! {"_id": 1, "x": 2}
    );
    let p =
        Pipeline::parse(&docs![{"$project": {"a": 1, "n": {"$add": ["$a", 1]}}}]).expect("parse");
    assert_eq!(
        p.apply_to_document(doc! {"_id": 1, "a": 2, "b": 3}, &Document::new())
            .expect("update"),
        doc! {"_id": 1, "a": 2, "n": 3}
    );
    // $merge with a pipeline for matched documents ($$new is the incoming document).
    let env = MemEnv::with(&[("t", docs![{"_id": 1, "n": 1}])]);
    check_in(
        &env,
        &docs![{"_id": 1, "n": 5}, {"_id": 2, "n": 7}],
        &docs![{"$merge": {"into": "t", "whenMatched": [{"$set": {"n": {"$add": ["$n", "$$new.n"]}}}]}}],
        &[],
    );
    assert_eq!(
        env.collection("test", "t"),
        docs![{"_id": 1, "n": 6}, {"_id": 2, "n": 7}]
    );
    let env = MemEnv::with(&[("t", docs![{"_id": 1, "n": 1}])]);
    check_in(
        &env,
        &docs![{"_id": 1, "n": 5}],
        &docs![{"$merge": {"into": "t", "let": {"m": {"$multiply": ["$n", 2]}}, "whenMatched": [{"$set": {"n": "$$m"}}]}}],
        &[],
    );
    assert_eq!(env.collection("test", "t"), docs![{"_id": 1, "n": 10}]);
}

#[test]
fn match_binds_variables_into_expr() {
    // `Filter` evaluates $expr without variables, so $match binds them as literals first.
    let stage = doc! {"$match": {"$expr": {"$eq": ["$a", "$$x"]}, "b": "$$x"}};
    let pipeline = Pipeline::parse(&[stage]).expect("parse");
    let options = AggOptions {
        db: "test".into(),
        variables: doc! {"x": 3},
        ..AggOptions::default()
    };
    // The placeholder filter in this branch matches top-level equality only; what matters here
    // is that the run succeeds and binds `$$x` inside $expr but not in "b".
    let bound = crate::agg::stage::bind_variables_for_tests(
        &doc! {"$expr": {"$eq": ["$a", "$$x"]}, "b": "$$x"},
        &doc! {"x": 3},
    );
    assert_eq!(
        bound,
        doc! {"$expr": {"$eq": ["$a", {"$literal": 3}]}, "b": "$$x"}
    );
    let out = pipeline.run(Box::new(std::iter::empty()), &MemEnv::default(), &options);
    assert!(out.is_ok());
}

/// `$$ROOT` and `$$CURRENT` as whole documents.
#[test]
fn root_and_current_variables() {
    check(
        &docs![{"_id": 1, "g": "a"}, {"_id": 2, "g": "a"}],
        &docs![{"$group": {"_id": "$g", "docs": {"$push": "$$ROOT"}}}],
        &docs![{"_id": "a", "docs": [{"_id": 1, "g": "a"}, {"_id": 2, "g": "a"}]}],
    );
    check(
        &docs![{"_id": 1, "a": 2}],
        &docs![{"$project": {"c": "$$CURRENT.a", "r": "$$ROOT"}}],
        &docs![{"_id": 1, "c": 2, "r": {"_id": 1, "a": 2}}],
    );
}

/// MongoDB docs' `cakeSales` collection for `$setWindowFields`.
fn cake_sales() -> Vec<Document> {
    docs![
        {"_id": 0, "type": "chocolate", "orderDate": (date("2020-05-18T14:10:30Z")), "state": "CA", "price": 13, "quantity": 120},
        {"_id": 1, "type": "chocolate", "orderDate": (date("2021-03-20T11:30:05Z")), "state": "WA", "price": 14, "quantity": 140},
        {"_id": 2, "type": "vanilla", "orderDate": (date("2021-01-11T06:31:15Z")), "state": "CA", "price": 12, "quantity": 145},
        {"_id": 3, "type": "vanilla", "orderDate": (date("2020-02-08T13:13:23Z")), "state": "WA", "price": 13, "quantity": 104},
        {"_id": 4, "type": "strawberry", "orderDate": (date("2019-05-18T16:09:01Z")), "state": "CA", "price": 41, "quantity": 162},
        {"_id": 5, "type": "strawberry", "orderDate": (date("2019-01-08T06:12:03Z")), "state": "WA", "price": 43, "quantity": 134},
    ]
}

fn window_values(pipeline_stage: Document) -> Vec<Document> {
    run(
        &cake_sales(),
        &[pipeline_stage, doc! {"$project": {"v": 1}}],
    )
    .expect("window")
}

#[test]
fn set_window_fields() {
    // Documents window: a running total per state, partitions in order, sorted by date.
    assert_eq!(
        window_values(
            doc! {"$setWindowFields": {"partitionBy": "$state", "sortBy": {"orderDate": 1},
            "output": {"v": {"$sum": "$quantity", "window": {"documents": ["unbounded", "current"]}}}}}
        ),
        docs![{"_id": 4, "v": 162}, {"_id": 0, "v": 282}, {"_id": 2, "v": 427}, {"_id": 5, "v": 134}, {"_id": 3, "v": 238}, {"_id": 1, "v": 378}],
    );
    // Moving average over the previous and current document.
    assert_eq!(
        window_values(
            doc! {"$setWindowFields": {"partitionBy": "$state", "sortBy": {"orderDate": 1},
            "output": {"v": {"$avg": "$quantity", "window": {"documents": [-1, 0]}}}}}
        ),
        docs![{"_id": 4, "v": 162.0}, {"_id": 0, "v": 141.0}, {"_id": 2, "v": 132.5}, {"_id": 5, "v": 134.0}, {"_id": 3, "v": 119.0}, {"_id": 1, "v": 122.0}],
    );
    // Range window on price: orders within 10 of each other.
    assert_eq!(
        window_values(
            doc! {"$setWindowFields": {"partitionBy": "$state", "sortBy": {"price": 1},
            "output": {"v": {"$sum": "$quantity", "window": {"range": [-10, 10]}}}}}
        ),
        docs![{"_id": 2, "v": 265}, {"_id": 0, "v": 265}, {"_id": 4, "v": 162}, {"_id": 3, "v": 244}, {"_id": 1, "v": 244}, {"_id": 5, "v": 134}],
    );
    // The whole partition when there is no window.
    assert_eq!(
        window_values(
            doc! {"$setWindowFields": {"partitionBy": "$state", "output": {"v": {"$max": "$quantity"}}}}
        ),
        docs![{"_id": 0, "v": 162}, {"_id": 2, "v": 162}, {"_id": 4, "v": 162}, {"_id": 1, "v": 140}, {"_id": 3, "v": 140}, {"_id": 5, "v": 140}],
    );
    // $rank, $denseRank, $documentNumber.
    assert_eq!(
        window_values(
            doc! {"$setWindowFields": {"partitionBy": "$state", "sortBy": {"quantity": -1},
            "output": {"v": {"$rank": {}}}}}
        ),
        docs![{"_id": 4, "v": 1}, {"_id": 2, "v": 2}, {"_id": 0, "v": 3}, {"_id": 1, "v": 1}, {"_id": 5, "v": 2}, {"_id": 3, "v": 3}],
    );
    let ties =
        docs![{"_id": 1, "s": 5}, {"_id": 2, "s": 7}, {"_id": 3, "s": 5}, {"_id": 4, "s": 9}];
    check(
        &ties,
        &docs![{"$setWindowFields": {"sortBy": {"s": 1}, "output": {"r": {"$rank": {}}, "d": {"$denseRank": {}}, "n": {"$documentNumber": {}}}}}, {"$project": {"s": 0}}],
        &docs![{"_id": 1, "r": 1, "d": 1, "n": 1}, {"_id": 3, "r": 1, "d": 1, "n": 2}, {"_id": 2, "r": 3, "d": 2, "n": 3}, {"_id": 4, "r": 4, "d": 3, "n": 4}],
    );
    // $shift with a default (MongoDB docs).
    assert_eq!(
        window_values(
            doc! {"$setWindowFields": {"partitionBy": "$state", "sortBy": {"quantity": -1},
            "output": {"v": {"$shift": {"output": "$quantity", "by": 1, "default": "Not available"}}}}}
        ),
        docs![{"_id": 4, "v": 145}, {"_id": 2, "v": 120}, {"_id": 0, "v": "Not available"}, {"_id": 1, "v": 134}, {"_id": 5, "v": 104}, {"_id": 3, "v": "Not available"}],
    );
    // $locf carries the last non-null value forward.
    check(
        &docs![{"_id": 1, "t": 1, "p": 5}, {"_id": 2, "t": 2, "p": null}, {"_id": 3, "t": 3}, {"_id": 4, "t": 4, "p": 7}],
        &docs![{"$setWindowFields": {"sortBy": {"t": 1}, "output": {"p": {"$locf": "$p"}}}}],
        &docs![{"_id": 1, "t": 1, "p": 5}, {"_id": 2, "t": 2, "p": 5}, {"_id": 3, "t": 3, "p": 5}, {"_id": 4, "t": 4, "p": 7}],
    );
    // Windows past the partition's edges, $push and $count.
    check(
        &docs![{"_id": 1, "t": 1}, {"_id": 2, "t": 2}, {"_id": 3, "t": 3}],
        &docs![{"$setWindowFields": {"sortBy": {"t": 1}, "output": {
            "next": {"$push": "$_id", "window": {"documents": [1, 5]}},
            "n": {"$count": {}, "window": {"documents": ["current", "unbounded"]}},
        }}}],
        &docs![{"_id": 1, "t": 1, "next": [2, 3], "n": 3}, {"_id": 2, "t": 2, "next": [3], "n": 2}, {"_id": 3, "t": 3, "next": [], "n": 1}],
    );
    // Errors.
    let cases: Vec<(Document, i32)> = vec![
        (doc! {"$setWindowFields": 1}, 9),
        (doc! {"$setWindowFields": {"partitionBy": "$state"}}, 40414),
        (
            doc! {"$setWindowFields": {"output": {"r": {"$rank": {}}}}},
            5371602,
        ),
        (
            doc! {"$setWindowFields": {"sortBy": {"a": 1}, "output": {"r": {"$rank": {}, "window": {"documents": [0, 1]}}}}},
            9,
        ),
        (doc! {"$setWindowFields": {"output": {"r": {"$foo": 1}}}}, 9),
        (
            doc! {"$setWindowFields": {"output": {"r": {"$derivative": {}}}}},
            115,
        ),
        (
            doc! {"$setWindowFields": {"output": {"r": {"$sum": 1, "window": {"documents": [-1, 0]}}}}},
            9,
        ),
        (
            doc! {"$setWindowFields": {"sortBy": {"a": 1}, "output": {"r": {"$sum": 1, "window": {"documents": [0.5, 1]}}}}},
            9,
        ),
        (
            doc! {"$setWindowFields": {"sortBy": {"a": 1}, "output": {"r": {"$sum": 1, "window": {"documents": [2, 1]}}}}},
            9,
        ),
        (
            doc! {"$setWindowFields": {"sortBy": {"a": 1, "b": 1}, "output": {"r": {"$sum": 1, "window": {"range": [-1, 1]}}}}},
            9,
        ),
        (
            doc! {"$setWindowFields": {"sortBy": {"a": 1}, "output": {"r": {"$sum": 1, "window": {"range": [-1, 1], "unit": "day"}}}}},
            115,
        ),
        (
            doc! {"$setWindowFields": {"output": {"r": {"$shift": {"output": "$a", "by": 1}}}}},
            9,
        ),
        (
            doc! {"$setWindowFields": {"output": {"r": {"$mergeObjects": "$a"}}}},
            9,
        ),
    ];
    for (stage, code) in cases {
        check_error(&cake_sales(), &[stage], code);
    }
    // Range windows need numeric sort values.
    check_error(
        &docs![{"a": "x"}],
        &docs![{"$setWindowFields": {"sortBy": {"a": 1}, "output": {"r": {"$sum": 1, "window": {"range": [-1, 1]}}}}}],
        5429414,
    );
}

#[test]
fn fill() {
    // MongoDB docs: fill missing fields with a constant.
    check(
        &docs![
            {"date": (date("2022-02-02T00:00:00Z")), "bootsSold": 10, "sandalsSold": 20, "sneakersSold": 12},
            {"date": (date("2022-02-03T00:00:00Z")), "bootsSold": 7, "sneakersSold": 18},
            {"date": (date("2022-02-04T00:00:00Z")), "sneakersSold": 5},
        ],
        &docs![{"$fill": {"output": {"bootsSold": {"value": 0}, "sandalsSold": {"value": 0}, "sneakersSold": {"value": 0}}}}],
        &docs![
            {"date": (date("2022-02-02T00:00:00Z")), "bootsSold": 10, "sandalsSold": 20, "sneakersSold": 12},
            {"date": (date("2022-02-03T00:00:00Z")), "bootsSold": 7, "sneakersSold": 18, "sandalsSold": 0},
            {"date": (date("2022-02-04T00:00:00Z")), "sneakersSold": 5, "bootsSold": 0, "sandalsSold": 0},
        ],
    );
    // MongoDB docs: last observation carried forward.
    let reviews = docs![
        {"date": (date("2021-03-08T00:00:00Z")), "score": 90},
        {"date": (date("2021-03-09T00:00:00Z")), "score": 92},
        {"date": (date("2021-03-10T00:00:00Z"))},
        {"date": (date("2021-03-11T00:00:00Z"))},
        {"date": (date("2021-03-12T00:00:00Z")), "score": 85},
        {"date": (date("2021-03-13T00:00:00Z"))},
    ];
    let out = run(
        &reviews,
        &docs![{"$fill": {"sortBy": {"date": 1}, "output": {"score": {"method": "locf"}}}}],
    )
    .expect("locf");
    let scores: Vec<Option<&Bson>> = out.iter().map(|d| d.get("score")).collect();
    let expected = [90, 92, 92, 92, 85, 85].map(Bson::Int32);
    assert_eq!(scores, expected.iter().map(Some).collect::<Vec<_>>());
    // Per partition (partitionByFields), and errors.
    check(
        &docs![{"_id": 1, "k": "a", "t": 1, "v": 1}, {"_id": 2, "k": "b", "t": 2}, {"_id": 3, "k": "a", "t": 3}],
        &docs![{"$fill": {"partitionByFields": ["k"], "sortBy": {"t": 1}, "output": {"v": {"method": "locf"}}}}],
        &docs![{"_id": 1, "k": "a", "t": 1, "v": 1}, {"_id": 3, "k": "a", "t": 3, "v": 1}, {"_id": 2, "k": "b", "t": 2}],
    );
    check_error(
        &reviews,
        &docs![{"$fill": {"output": {"score": {"method": "locf"}}}}],
        9,
    );
    check_error(
        &reviews,
        &docs![{"$fill": {"sortBy": {"date": 1}, "output": {"score": {"method": "linear"}}}}],
        115,
    );
    check_error(
        &reviews,
        &docs![{"$fill": {"output": {"score": {"value": 1, "method": "locf"}}}}],
        9,
    );
    check_error(&reviews, &docs![{"$fill": {"sortBy": {"date": 1}}}], 40414);
    check_error(&reviews, &docs![{"$fill": {"output": {}, "x": 1}}], 40415);
}

#[test]
fn densify() {
    // MongoDB docs: coffee altitudes, full range per variety.
    let coffee = docs![
        {"altitude": 600, "variety": "Arabica Typica", "score": 68.3},
        {"altitude": 750, "variety": "Arabica Typica", "score": 69.5},
        {"altitude": 950, "variety": "Arabica Typica", "score": 70.5},
        {"altitude": 1250, "variety": "Gesha", "score": 88.15},
        {"altitude": 1700, "variety": "Gesha", "score": 95.5, "price": 1029},
    ];
    check(
        &coffee,
        &docs![{"$densify": {"field": "altitude", "partitionByFields": ["variety"], "range": {"bounds": "full", "step": 200}}}],
        &docs![
            {"altitude": 600, "variety": "Arabica Typica", "score": 68.3},
            {"altitude": 750, "variety": "Arabica Typica", "score": 69.5},
            {"variety": "Arabica Typica", "altitude": 800},
            {"altitude": 950, "variety": "Arabica Typica", "score": 70.5},
            {"variety": "Arabica Typica", "altitude": 1000},
            {"variety": "Arabica Typica", "altitude": 1200},
            {"variety": "Arabica Typica", "altitude": 1400},
            {"variety": "Arabica Typica", "altitude": 1600},
            {"variety": "Gesha", "altitude": 600},
            {"variety": "Gesha", "altitude": 800},
            {"variety": "Gesha", "altitude": 1000},
            {"variety": "Gesha", "altitude": 1200},
            {"altitude": 1250, "variety": "Gesha", "score": 88.15},
            {"variety": "Gesha", "altitude": 1400},
            {"variety": "Gesha", "altitude": 1600},
            {"altitude": 1700, "variety": "Gesha", "score": 95.5, "price": 1029},
        ],
    );
    // Within each partition's own range.
    check(
        &coffee,
        &docs![{"$densify": {"field": "altitude", "partitionByFields": ["variety"], "range": {"bounds": "partition", "step": 200}}}, {"$project": {"_id": 0, "altitude": 1}}],
        &docs![{"altitude": 600}, {"altitude": 750}, {"altitude": 800}, {"altitude": 950}, {"altitude": 1250}, {"altitude": 1450}, {"altitude": 1650}, {"altitude": 1700}],
    );
    // MongoDB docs: hourly readings between explicit date bounds; later documents pass.
    let weather: Vec<Document> = [0, 4, 8, 12]
        .iter()
        .map(|h| doc! {"timestamp": bson::DateTime::from_millis(1_621_296_000_000 + h * 3_600_000), "temp": 12})
        .collect();
    let out = run(
        &weather,
        &docs![{"$densify": {"field": "timestamp", "range": {"step": 1, "unit": "hour", "bounds": [
            (bson::DateTime::from_millis(1_621_296_000_000)),
            (bson::DateTime::from_millis(1_621_296_000_000 + 8 * 3_600_000)),
        ]}}}],
    )
    .expect("densify dates");
    let hours: Vec<i64> = out
        .iter()
        .filter_map(|d| d.get_datetime("timestamp").ok())
        .map(|t| (t.timestamp_millis() - 1_621_296_000_000) / 3_600_000)
        .collect();
    assert_eq!(hours, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 12]);
    assert_eq!(
        out.get(1),
        Some(&doc! {"timestamp": bson::DateTime::from_millis(1_621_296_000_000 + 3_600_000)})
    );
    // Documents without the field pass through; wrong types are errors.
    check(
        &docs![{"x": 1}, {"v": 1}, {"v": 3}],
        &docs![{"$densify": {"field": "v", "range": {"step": 1, "bounds": "full"}}}],
        &docs![{"x": 1}, {"v": 1}, {"v": 2}, {"v": 3}],
    );
    check(
        &docs![{"v": 0.5}, {"v": 1.5}],
        &docs![{"$densify": {"field": "v", "range": {"step": 0.25, "bounds": "full"}}}],
        &docs![{"v": 0.5}, {"v": 0.75}, {"v": 1.0}, {"v": 1.25}, {"v": 1.5}],
    );
    check_error(
        &docs![{"v": "a"}],
        &docs![{"$densify": {"field": "v", "range": {"step": 1, "bounds": "full"}}}],
        5733201,
    );
    check_error(
        &docs![{"v": 0}, {"v": 1_000_000}],
        &docs![{"$densify": {"field": "v", "range": {"step": 1, "bounds": "full"}}}],
        5897900,
    );
}

#[test]
fn undefined_variables_at_parse_time() {
    let lets = doc! {"x": 1};
    let parse = |stages: Vec<Document>| {
        Pipeline::parse_with_variables(&stages, &lets)
            .map(|_| ())
            .map_err(|e| e.code())
    };
    assert_eq!(parse(docs![{"$addFields": {"a": "$$x"}}]), Ok(()));
    assert_eq!(parse(docs![{"$addFields": {"a": "$$y"}}]), Err(17276));
    assert_eq!(parse(docs![{"$group": {"_id": "$$y"}}]), Err(17276));
    assert_eq!(
        parse(docs![{"$project": {"a": {"$add": ["$$NOW", 1]}, "r": "$$ROOT"}}]),
        Ok(())
    );
    // $lookup's let is visible in its sub-pipeline only.
    let lookup = |sub: &str| docs![{"$lookup": {"from": "b", "let": {"v": "$a"}, "pipeline": [{"$addFields": {"z": sub}}], "as": "r"}}];
    assert_eq!(parse(lookup("$$v")), Ok(()));
    assert_eq!(parse(lookup("$$x")), Ok(()));
    assert_eq!(parse(lookup("$$w")), Err(17276));
    assert_eq!(
        parse(
            docs![{"$lookup": {"from": "b", "let": {"v": "$a"}, "pipeline": [], "as": "r"}}, {"$addFields": {"z": "$$v"}}]
        ),
        Err(17276)
    );
    // $merge's pipeline sees $$new (or its own let).
    assert_eq!(
        parse(docs![{"$merge": {"into": "t", "whenMatched": [{"$set": {"n": "$$new.n"}}]}}]),
        Ok(())
    );
    assert_eq!(
        parse(
            docs![{"$merge": {"into": "t", "let": {"m": 1}, "whenMatched": [{"$set": {"n": "$$new"}}]}}]
        ),
        Err(17276)
    );
    // Without the command's variables, references are checked when evaluated.
    assert!(Pipeline::parse(&docs![{"$addFields": {"a": "$$y"}}]).is_ok());
    assert_eq!(
        run(&docs![{"_id": 1}], &docs![{"$addFields": {"a": "$$y"}}])
            .map_err(|e| e.code())
            .err(),
        Some(17276)
    );
}
