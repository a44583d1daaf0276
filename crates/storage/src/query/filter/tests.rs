//! Filter tables: documents, filter, expected match; most cases from MongoDB's documentation
//! of each operator.

use std::ops::Bound;

use bson::{doc, Binary, Bson, Decimal128, Document};

use super::*;

fn re(pattern: &str, options: &str) -> Bson {
    Bson::RegularExpression(bson::Regex {
        pattern: pattern.into(),
        options: options.into(),
    })
}

fn dec(s: &str) -> Bson {
    Bson::Decimal128(s.parse::<Decimal128>().expect("decimal literal"))
}

fn bin(bytes: &[u8]) -> Bson {
    Bson::Binary(Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    })
}

fn check(doc: Document, filter: Document, expected: bool, line: u32) {
    let parsed = match Filter::parse(&filter) {
        Ok(f) => f,
        Err(e) => panic!("line {line}: {filter} failed to parse: {e}"),
    };
    assert_eq!(
        parsed.matches(&doc),
        expected,
        "line {line}: {filter} on {doc}"
    );
}

macro_rules! t {
    ({$($d:tt)*}, {$($f:tt)*}, $expected:expr) => {
        check(doc! {$($d)*}, doc! {$($f)*}, $expected, line!())
    };
}

#[test]
#[rustfmt::skip]
fn equality_and_paths() {
    t!({"a": 1}, {}, true);
    t!({"a": 1}, {"a": 1}, true);
    t!({"a": 1}, {"a": 1.0}, true);
    t!({"a": 1}, {"a": dec("1.00")}, true);
    t!({"a": Bson::Int64(1)}, {"a": 1}, true);
    t!({"a": 1}, {"a": 2}, false);
    t!({"a": 1}, {"a": "1"}, false);
    t!({"a": 1}, {"b": 1}, false);
    t!({"a": 1, "b": 2}, {"a": 1, "b": 2}, true);
    t!({"a": 1, "b": 2}, {"a": 1, "b": 3}, false);
    t!({"a": {"b": 1}}, {"a.b": 1}, true);
    t!({"a": {"b": {"c": "x"}}}, {"a.b.c": "x"}, true);
    t!({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 2}}, true);
    t!({"a": {"b": 1, "c": 2}}, {"a": {"c": 2, "b": 1}}, false);
    t!({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}, false);
    t!({"a": {"b": 1.0}}, {"a": {"b": 1}}, true);
    // Arrays: element or whole-array equality.
    t!({"tags": ["red", "blank"]}, {"tags": "red"}, true);
    t!({"tags": ["red", "blank"]}, {"tags": ["red", "blank"]}, true);
    t!({"tags": ["red", "blank"]}, {"tags": ["blank", "red"]}, false);
    t!({"tags": ["red", "blank"]}, {"tags": ["red"]}, false);
    t!({"tags": [["red"], "blank"]}, {"tags": ["red"]}, true);
    t!({"tags": [["red"]]}, {"tags": "red"}, false);
    t!({"a": []}, {"a": []}, true);
    t!({"a": [[]]}, {"a": []}, true);
    t!({"a": [1]}, {"a": []}, false);
    t!({"a": [1, 2]}, {"a.0": 1}, true);
    t!({"a": [1, 2]}, {"a.1": 1}, false);
    t!({"a": [1, 2]}, {"a.2": Bson::Null}, false);
    t!({"a": [1, 2]}, {"a.2": {"$exists": false}}, true);
    t!({"a": [{"b": 1}, {"b": 2}]}, {"a.b": 2}, true);
    t!({"a": [{"b": 1}, {"b": 2}]}, {"a.b": 3}, false);
    t!({"a": [{"b": 1}, {"b": 2}]}, {"a.1.b": 2}, true);
    t!({"a": [{"b": 1}, {"b": 2}]}, {"a.0.b": 2}, false);
    t!({"a": [{"b": [1, 2]}, {"b": [3]}]}, {"a.b": 3}, true);
    t!({"a": [{"b": [1, 2]}, {"b": [3]}]}, {"a.b": [1, 2]}, true);
    t!({"a": [[{"b": 1}]]}, {"a.b": 1}, false);
    t!({"a": [{"0": "x"}]}, {"a.0": "x"}, true);
    t!({"a": [{"0": "x"}]}, {"a.0.0": "x"}, true);
    t!({"a": {"0": "x"}}, {"a.0": "x"}, true);
    t!({"a": [{"b": {"c": 5}}]}, {"a.b.c": 5}, true);
    t!({"instock": [{"warehouse": "A", "qty": 5}]}, {"instock": {"warehouse": "A", "qty": 5}}, true);
    t!({"instock": [{"warehouse": "A", "qty": 5}]}, {"instock": {"qty": 5, "warehouse": "A"}}, false);
    t!({"instock": [{"warehouse": "A", "qty": 5}]}, {"instock.qty": 5}, true);
    t!({"instock": [{"warehouse": "A", "qty": 5}]}, {"instock.0.qty": 5}, true);
    // null matches null and missing.
    t!({"a": Bson::Null}, {"a": Bson::Null}, true);
    t!({}, {"a": Bson::Null}, true);
    t!({"a": 1}, {"a": Bson::Null}, false);
    t!({"a": Bson::Undefined}, {"a": Bson::Null}, false);
    t!({"a": [1, Bson::Null]}, {"a": Bson::Null}, true);
    t!({"a": [1, 2]}, {"a": Bson::Null}, false);
    t!({"a": [{"b": 1}, {"c": 1}]}, {"a.b": Bson::Null}, true);
    t!({"a": [{"b": 1}]}, {"a.b": Bson::Null}, false);
    t!({"a": 5}, {"a.b": Bson::Null}, true);
    t!({"a": [{"b": []}, {"b": {"c": 1}}]}, {"a.b.c": Bson::Null}, false);
    t!({"a": {"b": Bson::Null}}, {"a.b": Bson::Null}, true);
    // Other types.
    t!({"a": "x"}, {"a": re("X", "i")}, true);
    t!({"a": re("x", "")}, {"a": re("x", "")}, true);
    t!({"a": re("x", "")}, {"a": {"$eq": re("x", "")}}, true);
    t!({"a": "x"}, {"a": {"$eq": re("x", "")}}, false);
    t!({"a": true}, {"a": true}, true);
    t!({"a": true}, {"a": 1}, false);
    t!({"a": Bson::MinKey}, {"a": Bson::MinKey}, true);
    t!({"a": f64::NAN}, {"a": f64::NAN}, true);
    t!({"a": f64::NAN}, {"a": dec("NaN")}, true);
    t!({"a": bson::DateTime::from_millis(5)}, {"a": bson::DateTime::from_millis(5)}, true);
    t!({"a": {"$ref": "c", "$id": 1}}, {"a": {"$ref": "c", "$id": 1}}, true);
    t!({"a": {"$ref": "c", "$id": 1}}, {"a": {"$ref": "c", "$id": 2}}, false);
    t!({"a": {"$ref": "c", "$id": 1, "$db": "d"}}, {"a.$id": 1}, true);
    t!({"a.b": 1}, {"a.b": 1}, false);
}

#[test]
#[rustfmt::skip]
fn comparisons() {
    t!({"qty": 20}, {"qty": {"$eq": 20}}, true);
    t!({"qty": 20}, {"qty": {"$gt": 20}}, false);
    t!({"qty": 25}, {"qty": {"$gt": 20}}, true);
    t!({"qty": 20}, {"qty": {"$gte": 20}}, true);
    t!({"qty": 20}, {"qty": {"$lt": 20}}, false);
    t!({"qty": 15}, {"qty": {"$lt": 20}}, true);
    t!({"qty": 20}, {"qty": {"$lte": 20}}, true);
    t!({"qty": 20.5}, {"qty": {"$gt": 20}}, true);
    t!({"qty": Bson::Int64(21)}, {"qty": {"$gt": dec("20.9")}}, true);
    t!({"qty": "25"}, {"qty": {"$gt": 20}}, false);
    t!({"qty": "b"}, {"qty": {"$gt": "a"}}, true);
    t!({"qty": "a"}, {"qty": {"$gt": 1}}, false);
    t!({}, {"qty": {"$gt": 20}}, false);
    t!({}, {"qty": {"$lt": 20}}, false);
    t!({"qty": Bson::Null}, {"qty": {"$lt": 20}}, false);
    t!({"qty": [5, 25]}, {"qty": {"$gt": 20}}, true);
    t!({"qty": [5, 25]}, {"qty": {"$gt": 20, "$lt": 10}}, true);
    t!({"qty": [5, 25]}, {"qty": {"$gt": 30}}, false);
    t!({"qty": [[25]]}, {"qty": {"$gt": 20}}, false);
    t!({"a": [1, 2]}, {"a": {"$gt": [1]}}, true);
    t!({"a": [1, 2]}, {"a": {"$lt": [1]}}, false);
    t!({"a": {"b": 2}}, {"a": {"$gt": {"b": 1}}}, true);
    t!({"a": {"b": 2}}, {"a": {"$gt": 1}}, false);
    t!({"a": 5}, {"a": {"$gt": Bson::MinKey}}, true);
    t!({"a": "x"}, {"a": {"$lt": Bson::MaxKey}}, true);
    t!({"a": Bson::MaxKey}, {"a": {"$lt": Bson::MaxKey}}, false);
    t!({}, {"a": {"$gte": Bson::Null}}, true);
    t!({}, {"a": {"$lte": Bson::Null}}, true);
    t!({}, {"a": {"$gt": Bson::Null}}, false);
    t!({"a": Bson::Null}, {"a": {"$gte": Bson::Null}}, true);
    t!({"a": 1}, {"a": {"$gte": Bson::Null}}, false);
    t!({"a": f64::NAN}, {"a": {"$lt": 5}}, false);
    t!({"a": f64::NAN}, {"a": {"$gt": f64::NAN}}, false);
    t!({"a": f64::NAN}, {"a": {"$gte": f64::NAN}}, true);
    t!({"a": 5}, {"a": {"$gt": f64::NAN}}, false);
    t!({"a": 5}, {"a": {"$gt": f64::NEG_INFINITY}}, true);
    t!({"a": bson::DateTime::from_millis(10)}, {"a": {"$gt": bson::DateTime::from_millis(5)}}, true);
    t!({"a": bson::DateTime::from_millis(10)}, {"a": {"$gt": 5}}, false);
    t!({"a": 20}, {"a": {"$ne": 20}}, false);
    t!({"a": 21}, {"a": {"$ne": 20}}, true);
    t!({}, {"a": {"$ne": 20}}, true);
    t!({"a": [20, 21]}, {"a": {"$ne": 20}}, false);
    t!({"a": [21, 22]}, {"a": {"$ne": 20}}, true);
    t!({}, {"a": {"$ne": Bson::Null}}, false);
    t!({"a": 1}, {"a": {"$ne": Bson::Null}}, true);
    t!({"a": [{"b": 1}, {"b": 2}]}, {"a.b": {"$ne": 2}}, false);
    t!({"a": [1, 2]}, {"a": {"$ne": [1, 2]}}, false);
    t!({"carrier": {"state": "NY"}}, {"carrier.state": {"$ne": "NY"}}, false);
    t!({"item": "x"}, {"carrier.state": {"$ne": "NY"}}, true);
}

#[test]
#[rustfmt::skip]
fn in_nin_all() {
    t!({"qty": 5}, {"qty": {"$in": [5, 15]}}, true);
    t!({"qty": 6}, {"qty": {"$in": [5, 15]}}, false);
    t!({"qty": 6}, {"qty": {"$in": []}}, false);
    t!({}, {"qty": {"$in": [5, Bson::Null]}}, true);
    t!({}, {"qty": {"$in": [5]}}, false);
    t!({"tags": ["school", "home"]}, {"tags": {"$in": ["home", "x"]}}, true);
    t!({"tags": ["school", "home"]}, {"tags": {"$in": [["school", "home"]]}}, true);
    t!({"tags": "appliance"}, {"tags": {"$in": [re("^be", ""), re("^st", "")]}}, false);
    t!({"tags": ["x", "best"]}, {"tags": {"$in": [re("^be", ""), re("^st", "")]}}, true);
    t!({"tags": re("^be", "")}, {"tags": {"$in": [re("^be", "")]}}, true);
    t!({"qty": 5}, {"qty": {"$nin": [5, 15]}}, false);
    t!({"qty": 6}, {"qty": {"$nin": [5, 15]}}, true);
    t!({}, {"qty": {"$nin": [5, 15]}}, true);
    t!({}, {"qty": {"$nin": [Bson::Null]}}, false);
    t!({"tags": ["a", "b"]}, {"tags": {"$nin": ["b"]}}, false);
    t!({"tags": ["a", "b"]}, {"tags": {"$nin": ["c"]}}, true);
    t!({"tags": "best"}, {"tags": {"$nin": [re("^be", "")]}}, false);
    t!({"tags": ["ssl", "security", "x"]}, {"tags": {"$all": ["ssl", "security"]}}, true);
    t!({"tags": ["ssl"]}, {"tags": {"$all": ["ssl", "security"]}}, false);
    t!({"tags": "ssl"}, {"tags": {"$all": ["ssl"]}}, true);
    t!({"tags": ["ssl", "security"]}, {"tags": {"$all": [["ssl", "security"]]}}, true);
    t!({"tags": [["ssl", "security"]]}, {"tags": {"$all": [["ssl", "security"]]}}, true);
    t!({"tags": ["ssl"]}, {"tags": {"$all": []}}, false);
    t!({"tags": ["Ssl", "x"]}, {"tags": {"$all": [re("^s", "i"), "x"]}}, true);
    t!({"qty": [{"size": "M", "num": 50}, {"size": "L", "num": 100}]}, {"qty": {"$all": [{"$elemMatch": {"size": "M", "num": {"$gt": 40}}}, {"$elemMatch": {"num": 100}}]}}, true);
    t!({"qty": [{"size": "M", "num": 50}, {"size": "L", "num": 100}]}, {"qty": {"$all": [{"$elemMatch": {"size": "M", "num": {"$gt": 60}}}]}}, false);
    t!({"a": [{"b": 1}, {"b": 2}]}, {"a.b": {"$all": [1, 2]}}, true);
    t!({"a": [{"b": 1}, {"b": 2}]}, {"a.b": {"$in": [2, 3]}}, true);
}

#[test]
#[rustfmt::skip]
fn elem_match_size() {
    t!({"results": [82, 85, 88]}, {"results": {"$elemMatch": {"$gte": 80, "$lt": 85}}}, true);
    t!({"results": [75, 88, 89]}, {"results": {"$elemMatch": {"$gte": 80, "$lt": 85}}}, false);
    t!({"results": [75, 88, 89]}, {"results": {"$gte": 80, "$lt": 85}}, true);
    t!({"results": 82}, {"results": {"$elemMatch": {"$gte": 80}}}, false);
    t!({"results": []}, {"results": {"$elemMatch": {"$gte": 80}}}, false);
    t!({"results": [{"product": "abc", "score": 10}, {"product": "xyz", "score": 5}]}, {"results": {"$elemMatch": {"product": "xyz", "score": {"$gte": 8}}}}, false);
    t!({"results": [{"product": "abc", "score": 10}, {"product": "xyz", "score": 8}]}, {"results": {"$elemMatch": {"product": "xyz", "score": {"$gte": 8}}}}, true);
    t!({"results": [{"product": "abc", "score": 10}, {"product": "xyz", "score": 5}]}, {"results.product": "xyz", "results.score": {"$gte": 8}}, true);
    t!({"a": [{"b": 1}, 2]}, {"a": {"$elemMatch": {}}}, true);
    t!({"a": [1, 2]}, {"a": {"$elemMatch": {}}}, false);
    t!({"a": [[1, 2]]}, {"a": {"$elemMatch": {"0": 1}}}, true);
    t!({"a": [[1, 2]]}, {"a": {"$elemMatch": {"1": 1}}}, false);
    t!({"a": [1, 2]}, {"a": {"$elemMatch": {"$ne": 1}}}, true);
    t!({"a": [1, 1]}, {"a": {"$elemMatch": {"$ne": 1}}}, false);
    t!({"a": ["x", "y"]}, {"a": {"$elemMatch": {"$regex": "^y"}}}, true);
    t!({"a": [{"b": [{"c": 1}]}]}, {"a": {"$elemMatch": {"b": {"$elemMatch": {"c": 1}}}}}, true);
    t!({"a": [{"b": 1}, {"b": 2}]}, {"a": {"$elemMatch": {"$or": [{"b": 3}, {"b": 2}]}}}, true);
    t!({"x": [{"a": [1, 5]}]}, {"x.a": {"$elemMatch": {"$gt": 4}}}, true);
    t!({"a": [[1, 2]]}, {"a": {"$elemMatch": {"$size": 2}}}, true);
    t!({"a": [1, 2]}, {"a": {"$size": 2}}, true);
    t!({"a": [1, 2]}, {"a": {"$size": 1}}, false);
    t!({"a": []}, {"a": {"$size": 0}}, true);
    t!({"a": 1}, {"a": {"$size": 1}}, false);
    t!({}, {"a": {"$size": 0}}, false);
    t!({"a": [[1, 2]]}, {"a": {"$size": 2}}, false);
    t!({"a": [{"b": [1, 2]}]}, {"a.b": {"$size": 2}}, true);
    t!({"a": [1, 2]}, {"a": {"$size": 2.0}}, true);
    t!({"a": [1, 2]}, {"a": {"$not": {"$size": 2}}}, false);
}

#[test]
#[rustfmt::skip]
fn exists_type() {
    t!({"a": 1}, {"a": {"$exists": true}}, true);
    t!({"a": Bson::Null}, {"a": {"$exists": true}}, true);
    t!({}, {"a": {"$exists": true}}, false);
    t!({}, {"a": {"$exists": false}}, true);
    t!({"a": 1}, {"a": {"$exists": false}}, false);
    t!({"a": 1}, {"a": {"$exists": 1}}, true);
    t!({"a": 1}, {"a": {"$exists": 0}}, false);
    t!({"a": [{"b": 1}]}, {"a.b": {"$exists": true}}, true);
    t!({"a": [{"c": 1}]}, {"a.b": {"$exists": true}}, false);
    t!({"a": [1, 2]}, {"a.b": {"$exists": false}}, true);
    t!({"a": [1, 2]}, {"a.1": {"$exists": true}}, true);
    t!({"a": [1, 2]}, {"a.2": {"$exists": true}}, false);
    t!({"a": "x"}, {"a": {"$type": "string"}}, true);
    t!({"a": "x"}, {"a": {"$type": 2}}, true);
    t!({"a": "x"}, {"a": {"$type": 2.0}}, true);
    t!({"a": 1}, {"a": {"$type": "string"}}, false);
    t!({"a": 1}, {"a": {"$type": "int"}}, true);
    t!({"a": 1}, {"a": {"$type": "long"}}, false);
    t!({"a": Bson::Int64(1)}, {"a": {"$type": "long"}}, true);
    t!({"a": 1.5}, {"a": {"$type": "double"}}, true);
    t!({"a": dec("1")}, {"a": {"$type": "decimal"}}, true);
    t!({"a": dec("1")}, {"a": {"$type": "number"}}, true);
    t!({"a": "1"}, {"a": {"$type": "number"}}, false);
    t!({"a": [1, "x"]}, {"a": {"$type": "string"}}, true);
    t!({"a": [1]}, {"a": {"$type": "array"}}, true);
    t!({"a": []}, {"a": {"$type": "array"}}, true);
    t!({"a": [[1]]}, {"a": {"$type": 4}}, true);
    t!({"a": 1}, {"a": {"$type": "array"}}, false);
    t!({"a": Bson::Null}, {"a": {"$type": "null"}}, true);
    t!({}, {"a": {"$type": "null"}}, false);
    t!({"a": 1}, {"a": {"$type": ["string", "int"]}}, true);
    t!({"a": true}, {"a": {"$type": ["string", "int"]}}, false);
    t!({"a": {"b": 1}}, {"a": {"$type": "object"}}, true);
    t!({"a": Bson::MinKey}, {"a": {"$type": -1}}, true);
    t!({"a": Bson::MaxKey}, {"a": {"$type": "maxKey"}}, true);
    t!({"a": bson::oid::ObjectId::from_bytes([1; 12])}, {"a": {"$type": "objectId"}}, true);
    t!({"a": bin(&[1])}, {"a": {"$type": "binData"}}, true);
    t!({"a": bson::DateTime::from_millis(0)}, {"a": {"$type": "date"}}, true);
    t!({"a": re("x", "")}, {"a": {"$type": "regex"}}, true);
    t!({"a": true}, {"a": {"$type": "bool"}}, true);
    t!({"a": Bson::Timestamp(bson::Timestamp { time: 1, increment: 1 })}, {"a": {"$type": "timestamp"}}, true);
}

#[test]
#[rustfmt::skip]
fn mod_regex_bits() {
    t!({"qty": 0}, {"qty": {"$mod": [4, 0]}}, true);
    t!({"qty": 12}, {"qty": {"$mod": [4, 0]}}, true);
    t!({"qty": 13}, {"qty": {"$mod": [4, 0]}}, false);
    t!({"qty": 13}, {"qty": {"$mod": [4, 1]}}, true);
    t!({"qty": -5}, {"qty": {"$mod": [4, -1]}}, true);
    t!({"qty": 5.9}, {"qty": {"$mod": [4, 1]}}, true);
    t!({"qty": 5}, {"qty": {"$mod": [4.5, 1]}}, true);
    t!({"qty": 5}, {"qty": {"$mod": [-4, 1]}}, true);
    t!({"qty": "5"}, {"qty": {"$mod": [4, 1]}}, false);
    t!({"qty": [2, 5]}, {"qty": {"$mod": [4, 1]}}, true);
    t!({"sku": "abc123"}, {"sku": {"$regex": "789$"}}, false);
    t!({"sku": "abc789"}, {"sku": {"$regex": "789$"}}, true);
    t!({"sku": "ABC789"}, {"sku": {"$regex": "^abc", "$options": "i"}}, true);
    t!({"sku": "ABC789"}, {"sku": {"$regex": re("^abc", "i")}}, true);
    t!({"sku": "ABC789"}, {"sku": {"$regex": re("^abc", ""), "$options": "i"}}, true);
    t!({"sku": "ABC789"}, {"sku": re("^abc", "")}, false);
    t!({"d": "First line\nSecond line"}, {"d": {"$regex": "^S", "$options": "m"}}, true);
    t!({"d": "First line\nSecond line"}, {"d": {"$regex": "^S"}}, false);
    t!({"d": "Multiple\nline"}, {"d": {"$regex": "m.*line", "$options": "si"}}, true);
    t!({"d": "Multiple\nline"}, {"d": {"$regex": "m.*line", "$options": "i"}}, false);
    t!({"sku": "abc123"}, {"sku": {"$regex": "abc #category code\n123 #item number", "$options": "x"}}, true);
    t!({"sku": 123}, {"sku": {"$regex": "123"}}, false);
    t!({"sku": ["x", "abc"]}, {"sku": {"$regex": "^ab"}}, true);
    t!({"sku": Bson::Symbol("abc".into())}, {"sku": {"$regex": "^ab"}}, true);
    t!({"sku": "é"}, {"sku": {"$regex": "^.$"}}, true);
    t!({"a": 54}, {"a": {"$bitsAllSet": [1, 5]}}, true);
    t!({"a": 54}, {"a": {"$bitsAllSet": 50}}, true);
    t!({"a": 54}, {"a": {"$bitsAllSet": [0]}}, false);
    t!({"a": 20}, {"a": {"$bitsAllSet": [1, 5]}}, false);
    t!({"a": 54}, {"a": {"$bitsAnySet": [0, 1]}}, true);
    t!({"a": 54}, {"a": {"$bitsAllClear": [0, 3]}}, true);
    t!({"a": 54}, {"a": {"$bitsAnyClear": [1, 5]}}, false);
    t!({"a": 54}, {"a": {"$bitsAnyClear": [0, 5]}}, true);
    t!({"a": -1}, {"a": {"$bitsAllSet": [70]}}, true);
    t!({"a": 1}, {"a": {"$bitsAllClear": [70]}}, true);
    t!({"a": 54.0}, {"a": {"$bitsAllSet": [1, 5]}}, true);
    t!({"a": 54.5}, {"a": {"$bitsAllSet": [1, 5]}}, false);
    t!({"a": "54"}, {"a": {"$bitsAllSet": [1]}}, false);
    t!({"a": bin(&[0x30])}, {"a": {"$bitsAllSet": [4, 5]}}, true);
    t!({"a": bin(&[0x30])}, {"a": {"$bitsAllSet": bin(&[0x20])}}, true);
    t!({"a": bin(&[0x30])}, {"a": {"$bitsAnySet": [20]}}, false);
    t!({"a": 54}, {"a": {"$bitsAllSet": bin(&[0x06])}}, true);
}

#[test]
#[rustfmt::skip]
fn logical() {
    t!({"a": 1}, {"$and": [{"a": 1}, {"a": {"$gt": 0}}]}, true);
    t!({"a": 1}, {"$and": [{"a": 1}, {"a": {"$gt": 1}}]}, false);
    t!({"a": 1}, {"$or": [{"a": 2}, {"b": 1}]}, false);
    t!({"a": 1}, {"$or": [{"a": 2}, {"a": 1}]}, true);
    t!({"a": 1}, {"$nor": [{"a": 2}, {"b": 1}]}, true);
    t!({"a": 1}, {"$nor": [{"a": 1}]}, false);
    t!({}, {"$nor": [{"price": 1.99}, {"sale": true}]}, true);
    t!({"price": 1.99}, {"$nor": [{"price": 1.99}, {"sale": true}]}, false);
    t!({"a": 1, "b": 2}, {"$or": [{"a": 1, "b": 3}, {"$and": [{"a": 1}, {"b": 2}]}]}, true);
    t!({"price": 1.99}, {"price": {"$not": {"$gt": 1.99}}}, true);
    t!({"price": 2.5}, {"price": {"$not": {"$gt": 1.99}}}, false);
    t!({}, {"price": {"$not": {"$gt": 1.99}}}, true);
    t!({"price": "x"}, {"price": {"$not": {"$gt": 1.99}}}, true);
    t!({"item": "pineapple"}, {"item": {"$not": re("^p.*", "")}}, false);
    t!({"item": "apple"}, {"item": {"$not": re("^p.*", "")}}, true);
    t!({"item": "pear"}, {"item": {"$not": {"$regex": "^p.*"}}}, false);
    t!({"item": "pear"}, {"item": {"$not": {"$regex": re("^P", "i")}}}, false);
    t!({"a": [1, 5]}, {"a": {"$not": {"$gt": 2, "$lt": 4}}}, false);
    t!({"a": [1, 5]}, {"a": {"$not": {"$elemMatch": {"$gt": 2, "$lt": 4}}}}, true);
    t!({"a": 1}, {"$comment": "hello", "a": 1}, true);
    t!({"a": 1}, {"$alwaysFalse": 1}, false);
    t!({"a": 1}, {"$alwaysTrue": 1}, true);
    t!({"a": 1}, {"a": {"$in": [1], "$nin": [2]}}, true);
}

#[test]
#[rustfmt::skip]
fn json_schema() {
    let schema = doc! {"$jsonSchema": {
        "bsonType": "object",
        "required": ["name", "year"],
        "properties": {
            "name": {"bsonType": "string", "minLength": 2, "maxLength": 5},
            "year": {"bsonType": "int", "minimum": 2017, "maximum": 3017},
            "gpa": {"bsonType": ["double"], "minimum": 0, "exclusiveMinimum": true},
            "major": {"enum": ["Math", "English"]},
            "tags": {"bsonType": "array", "items": {"bsonType": "string"}, "minItems": 1, "uniqueItems": true},
            "address": {"bsonType": "object", "required": ["city"], "additionalProperties": false, "properties": {"city": {"type": "string", "pattern": "^[A-Z]"}}},
        }
    }};
    let cases: Vec<(Document, bool)> = vec![
        (doc! {"name": "Al", "year": 2020}, true),
        (doc! {"name": "Al"}, false),
        (doc! {"name": "A", "year": 2020}, false),
        (doc! {"name": "Alexander", "year": 2020}, false),
        (doc! {"name": "Al", "year": 2020.0}, false),
        (doc! {"name": "Al", "year": 2000}, false),
        (doc! {"name": "Al", "year": 2020, "gpa": 3.5}, true),
        (doc! {"name": "Al", "year": 2020, "gpa": 0.0}, false),
        (doc! {"name": "Al", "year": 2020, "major": "Math"}, true),
        (doc! {"name": "Al", "year": 2020, "major": "Art"}, false),
        (doc! {"name": "Al", "year": 2020, "tags": ["a", "b"]}, true),
        (doc! {"name": "Al", "year": 2020, "tags": ["a", "a"]}, false),
        (doc! {"name": "Al", "year": 2020, "tags": []}, false),
        (doc! {"name": "Al", "year": 2020, "tags": ["a", 1]}, false),
        (doc! {"name": "Al", "year": 2020, "address": {"city": "Oslo"}}, true),
        (doc! {"name": "Al", "year": 2020, "address": {"city": "oslo"}}, false),
        (doc! {"name": "Al", "year": 2020, "address": {"city": "Oslo", "zip": 1}}, false),
        (doc! {"name": "Al", "year": 2020, "address": {}}, false),
    ];
    let filter = Filter::parse(&schema).expect("schema parses");
    for (doc, expected) in cases {
        assert_eq!(filter.matches(&doc), expected, "{doc}");
    }
    t!({"a": 1}, {"$jsonSchema": {"properties": {"a": {"type": "number"}}}}, true);
    t!({"a": "x"}, {"$jsonSchema": {"properties": {"a": {"type": ["number", "null"]}}}}, false);
    t!({"a": 1}, {"$jsonSchema": {"properties": {"a": {"not": {"type": "number"}}}}}, false);
    t!({"a": 5}, {"$jsonSchema": {"properties": {"a": {"anyOf": [{"minimum": 10}, {"maximum": 5}]}}}}, true);
    t!({"a": 5}, {"$jsonSchema": {"properties": {"a": {"oneOf": [{"minimum": 0}, {"maximum": 5}]}}}}, false);
    t!({"a": 6}, {"$jsonSchema": {"properties": {"a": {"multipleOf": 3}}}}, true);
    t!({"a": 7}, {"$jsonSchema": {"properties": {"a": {"multipleOf": 3}}}}, false);
    t!({"a": 1, "b": 2}, {"$jsonSchema": {"maxProperties": 1}}, false);
    t!({"a": [1, "x"]}, {"$jsonSchema": {"properties": {"a": {"items": [{"type": "number"}, {"type": "string"}], "additionalItems": false}}}}, true);
    t!({"a": [1, "x", 2]}, {"$jsonSchema": {"properties": {"a": {"items": [{"type": "number"}, {"type": "string"}], "additionalItems": false}}}}, false);
    t!({"x1": 1, "y": "s"}, {"$jsonSchema": {"patternProperties": {"^x": {"type": "number"}}, "additionalProperties": {"type": "string"}}}, true);
    t!({"a": 1, "b": 1}, {"$expr": {"$eq": ["$a", "$b"]}}, true);
    t!({"a": 1, "b": 2}, {"$expr": {"$lt": ["$b", "$a"]}}, false);

}

fn check_error(filter: Document, code: i32, message: &str) {
    match Filter::parse(&filter) {
        Ok(_) => panic!("{filter} parsed, expected error {code}"),
        Err(e) => {
            assert_eq!(e.code(), code, "{filter}: {e}");
            assert!(
                e.to_string().contains(message),
                "{filter}: {e} lacks {message:?}"
            );
        }
    }
}

#[test]
#[rustfmt::skip]
fn parse_errors() {
    check_error(doc! {"a": {"$foo": 1}}, 2, "unknown operator: $foo");
    check_error(doc! {"$foo": 1}, 2, "unknown top level operator: $foo");
    check_error(doc! {"a": {"$gt": 1, "b": 1}}, 2, "unknown operator: b");
    check_error(doc! {"$and": []}, 2, "$and/$or/$nor must be a nonempty array");
    check_error(doc! {"$or": 1}, 2, "$or must be an array");
    check_error(doc! {"$nor": [1]}, 2, "$or/$and/$nor entries need to be full objects");
    check_error(doc! {"a": {"$in": 1}}, 2, "$in needs an array");
    check_error(doc! {"a": {"$nin": {"x": 1}}}, 2, "$nin needs an array");
    check_error(doc! {"a": {"$in": [{"$gt": 1}]}}, 2, "cannot nest $ under $in");
    check_error(doc! {"a": {"$all": 1}}, 2, "$all needs an array");
    check_error(doc! {"a": {"$all": [{"$elemMatch": {}}, 1]}}, 2, "$all/$elemMatch has to be consistent");
    check_error(doc! {"a": {"$elemMatch": 1}}, 2, "$elemMatch needs an Object");
    check_error(doc! {"a": {"$size": "x"}}, 2, "$size");
    check_error(doc! {"a": {"$size": -1}}, 2, "$size");
    check_error(doc! {"a": {"$size": 1.5}}, 2, "$size");
    check_error(doc! {"a": {"$type": "foo"}}, 2, "Unknown type name alias: foo");
    check_error(doc! {"a": {"$type": 100}}, 2, "Invalid numerical type code: 100");
    check_error(doc! {"a": {"$type": true}}, 14, "type must be represented as a number or a string");
    check_error(doc! {"a": {"$mod": 4}}, 2, "malformed mod, needs to be an array");
    check_error(doc! {"a": {"$mod": [4]}}, 2, "malformed mod, not enough elements");
    check_error(doc! {"a": {"$mod": [4, 1, 2]}}, 2, "malformed mod, too many elements");
    check_error(doc! {"a": {"$mod": ["x", 1]}}, 2, "malformed mod, divisor not a number");
    check_error(doc! {"a": {"$mod": [4, "x"]}}, 2, "malformed mod, remainder not a number");
    check_error(doc! {"a": {"$mod": [0, 1]}}, 2, "divisor cannot be 0");
    check_error(doc! {"a": {"$mod": [f64::NAN, 1]}}, 2, "divisor value is invalid");
    check_error(doc! {"a": {"$regex": 1}}, 2, "$regex has to be a string");
    check_error(doc! {"a": {"$options": "i"}}, 2, "$options needs a $regex");
    check_error(doc! {"a": {"$regex": re("x", "i"), "$options": "m"}}, 51075, "options set in both $regex and $options");
    check_error(doc! {"a": {"$options": "m", "$regex": re("x", "i")}}, 51074, "options set in both $regex and $options");
    check_error(doc! {"a": {"$regex": 1, "$options": "m"}}, 2, "$regex has to be a string");
    check_error(doc! {"a": {"$regex": "x", "$options": 1}}, 2, "$options has to be a string");
    check_error(doc! {"a": {"$gt": re("x", "")}}, 2, "Can't have RegEx as arg to predicate over field 'a'.");
    check_error(doc! {"a": {"$type": []}}, 9, "a must match at least one type");
    check_error(doc! {"a": {"$where": "x"}}, 2, "$where cannot be applied to a field");
    check_error(doc! {"$not": {"a": 1}}, 2, "unknown top level operator: $not. If you are trying to negate an entire expression, use $nor.");
    check_error(doc! {"a": {"$elemMatch": {"$expr": {"$eq": [1, 1]}}}}, 2, "$expr can only be applied to the top-level document");
    check_error(doc! {"a": {"$elemMatch": {"$where": "x"}}}, 2, "$where can only be applied to the top-level document");
    check_error(doc! {"a": {"$mod": ["x"]}}, 2, "malformed mod, divisor not a number");
    check_error(doc! {"a": {"$regex": "x", "$options": "z"}}, 51108, "invalid flag in regex options: z");
    check_error(doc! {"a": {"$regex": "(?<=a+)b"}}, 51091, "Regular expression is invalid");
    check_error(doc! {"a": {"$regex": "a\u{0}b"}}, 51091, "embedded null byte");
    check_error(doc! {"a": {"$not": 1}}, 2, "$not needs a regex or a document");
    check_error(doc! {"a": {"$not": {}}}, 2, "$not cannot be empty");
    check_error(doc! {"a": {"$ne": re("x", "")}}, 2, "Can't have regex as arg to $ne");
    check_error(doc! {"a": {"$bitsAllSet": "x"}}, 2, "$bitsAllSet takes an Array, a number, or a BinData");
    check_error(doc! {"a": {"$bitsAnySet": -1}}, 2, "non-negative");
    check_error(doc! {"a": {"$bitsAnySet": [-1]}}, 2, "Failed to parse bit position");
    check_error(doc! {"a": {"$bitsAnySet": ["x"]}}, 2, "Failed to parse bit position");
    check_error(doc! {"$where": "this.a == 1"}, 115, "$where");
    check_error(doc! {"$text": {"$search": "x"}}, 115, "$text");
    check_error(doc! {"a": {"$near": "here"}}, 2, "$near must be a point");
    check_error(doc! {"a": {"$nearSphere": [0, 100]}}, 2, "out of bounds");
    check_error(doc! {"a": {"$geoWithin": {}}}, 2, "$geoWithin takes exactly one shape");
    check_error(doc! {"a": {"$geoIntersects": {}}}, 2, "$geoIntersects requires");
    check_error(doc! {"a": {"$maxDistance": 1}}, 2, "with $near");
    check_error(doc! {"$jsonSchema": 1}, 14, "$jsonSchema must be an object");
    check_error(doc! {"$jsonSchema": {"foo": 1}}, 9, "Unknown $jsonSchema keyword: foo");
    check_error(doc! {"$jsonSchema": {"required": []}}, 9, "'required' cannot be an empty array");
    check_error(doc! {"$jsonSchema": {"type": "integer"}}, 2, "integer");
}

fn check_index(doc: Document, filter: Document, expected: Option<usize>) {
    let details = Filter::parse(&filter)
        .expect("filter parses")
        .matches_details(&doc);
    assert!(details.matched, "{filter} on {doc}");
    assert_eq!(details.array_index, expected, "{filter} on {doc}");
}

#[test]
#[rustfmt::skip]
fn positional_array_index() {
    check_index(doc! {"grades": [80, 85, 90]}, doc! {"grades": 85}, Some(1));
    check_index(doc! {"grades": [80, 85, 90]}, doc! {"grades": {"$gte": 85}}, Some(1));
    check_index(doc! {"a": 1}, doc! {"a": 1}, None);
    check_index(doc! {"a": [{"b": 1}, {"b": 2}]}, doc! {"a.b": 2}, Some(1));
    check_index(doc! {"a": [{"b": [5, 6]}, {"b": [7, 8]}]}, doc! {"a.b": 8}, Some(1));
    check_index(doc! {"a": [1, 2, 3]}, doc! {"a": {"$elemMatch": {"$gt": 1}}}, Some(1));
    check_index(doc! {"a": [{"x": 1}, {"x": 2}]}, doc! {"a": {"$elemMatch": {"x": 2}}}, Some(1));
    check_index(doc! {"a": [1, 2], "b": [3, 4]}, doc! {"a": 2, "b": 3}, Some(0));
    check_index(doc! {"a": [1, 2]}, doc! {"$or": [{"a": 2}]}, None);
    check_index(doc! {"a": [1, 2]}, doc! {"a": {"$ne": 5}}, None);
    check_index(doc! {"a": [1, 2]}, doc! {"a": [1, 2]}, None);
}

fn check_bounds(filter: Document, path: &str, multikey: bool, inside: &[Bson], outside: &[Bson]) {
    let parsed = Filter::parse(&filter).expect("filter parses");
    let intervals = parsed
        .bounds_for(path, multikey)
        .unwrap_or_else(|| panic!("{filter}: no bounds"));
    for v in inside {
        assert!(
            intervals.iter().any(|i| i.contains(v)),
            "{filter}: {v} not in {intervals:?}"
        );
    }
    for v in outside {
        assert!(
            !intervals.iter().any(|i| i.contains(v)),
            "{filter}: {v} in {intervals:?}"
        );
    }
}

#[test]
#[rustfmt::skip]
fn index_bounds() {
    check_bounds(doc! {"a": 5}, "a", false, &[5.into(), 5.0.into(), dec("5")], &[4.into(), "5".into()]);
    check_bounds(doc! {"a": {"$gt": 5}}, "a", false, &[6.into(), f64::INFINITY.into()], &[5.into(), "x".into(), f64::NAN.into(), Bson::MaxKey]);
    check_bounds(doc! {"a": {"$gte": 5, "$lt": 10}}, "a", false, &[5.into(), 9.9.into()], &[10.into(), 4.into()]);
    check_bounds(doc! {"a": {"$gte": 5, "$lt": 10}}, "a", true, &[5.into(), 100.into()], &[4.into()]);
    check_bounds(doc! {"a": {"$gt": 5}, "b": 1}, "a", false, &[6.into()], &[5.into()]);
    check_bounds(doc! {"a": {"$in": [1, "x"]}}, "a", false, &[1.into(), "x".into()], &[2.into()]);
    check_bounds(doc! {"a": {"$lt": "m"}}, "a", false, &["".into(), "l".into()], &["m".into(), 1.into(), doc! {}.into()]);
    check_bounds(doc! {"a": Bson::Null}, "a", false, &[Bson::Null], &[Bson::Undefined, 0.into()]);
    check_bounds(doc! {"a": [1, 2]}, "a", true, &[Bson::Array(vec![1.into(), 2.into()]), 1.into()], &[2.into()]);
    check_bounds(doc! {"a": []}, "a", true, &[Bson::Undefined, Bson::Array(vec![])], &[Bson::Null]);
    check_bounds(doc! {"a": 1, "$and": [{"a": {"$gt": 0}}]}, "a", false, &[1.into()], &[2.into()]);
    check_bounds(doc! {"a": {"$gt": 5, "$lt": 3}}, "a", false, &[], &[4.into(), 6.into(), 2.into()]);
    check_bounds(doc! {"a": {"$gt": Bson::MinKey}}, "a", false, &["x".into(), Bson::MaxKey], &[Bson::MinKey]);
    // On a multikey index `[MinKey]` has only the key MinKey, yet matches `$gt: MinKey` as a whole.
    check_bounds(doc! {"a": {"$gt": Bson::MinKey}}, "a", true, &[Bson::MinKey, "x".into()], &[]);
    check_bounds(doc! {"a": {"$lt": Bson::MaxKey}}, "a", true, &[Bson::MaxKey, 1.into()], &[]);
    check_bounds(doc! {"a": {"$lte": bson::DateTime::from_millis(0)}}, "a", false, &[bson::DateTime::from_millis(-5).into()], &[true.into(), bson::DateTime::from_millis(1).into()]);
    let no_bounds = |filter: Document, path: &str| {
        assert!(Filter::parse(&filter).expect("parses").bounds_for(path, false).is_none(), "{filter}");
    };
    no_bounds(doc! {"a": 1}, "b");
    no_bounds(doc! {"a.b": 1}, "a");
    no_bounds(doc! {"a": {"$ne": 1}}, "a");
    no_bounds(doc! {"a": {"$in": [re("x", "")]}}, "a");
    no_bounds(doc! {"$or": [{"a": 1}, {"a": 2}]}, "a");
    no_bounds(doc! {"a": re("^x", "")}, "a");
    no_bounds(doc! {"a": {"$exists": true}}, "a");
}

#[test]
fn equality_id() {
    let id = |f: Document| Filter::parse(&f).expect("parses").equality_id();
    assert_eq!(id(doc! {"_id": 5}), Some(Bson::Int32(5)));
    assert_eq!(
        id(doc! {"_id": "x", "a": 1}),
        Some(Bson::String("x".into()))
    );
    assert_eq!(id(doc! {"_id": {"$eq": 5}}), Some(Bson::Int32(5)));
    assert_eq!(id(doc! {"$and": [{"_id": 5}]}), Some(Bson::Int32(5)));
    assert_eq!(id(doc! {"_id": {"a": 1}}), None);
    assert_eq!(id(doc! {"_id": [1]}), None);
    assert_eq!(id(doc! {"_id": {"$gt": 5}}), None);
    assert_eq!(id(doc! {"_id": re("x", "")}), None);
    assert_eq!(id(doc! {"$or": [{"_id": 5}]}), None);
    assert_eq!(id(doc! {"a": 5}), None);
}

#[test]
fn source_is_kept() {
    let filter = doc! {"a": {"$gt": 1}};
    assert_eq!(Filter::parse(&filter).expect("parses").source(), &filter);
    let _ = Bound::<Bson>::Unbounded;
}

mod bounds_soundness {
    use bson::{doc, Bson, Document};
    use proptest::prelude::*;

    use super::super::Filter;
    use crate::value::path::{index_key_values, is_multikey_for};

    fn scalar() -> impl Strategy<Value = Bson> {
        prop_oneof![
            (-2i32..3).prop_map(Bson::Int32),
            (-2i64..3).prop_map(Bson::Int64),
            prop::sample::select(vec![0.5, -0.5, 2.0, f64::NAN, f64::INFINITY])
                .prop_map(Bson::Double),
            prop::sample::select(vec!["", "a", "b"]).prop_map(|s| Bson::String(s.into())),
            Just(Bson::Null),
            Just(Bson::Undefined),
            Just(Bson::MinKey),
            Just(Bson::MaxKey),
            any::<bool>().prop_map(Bson::Boolean),
        ]
    }

    fn value() -> impl Strategy<Value = Bson> {
        scalar().prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Bson::Array),
                inner.prop_map(|v| Bson::Document(doc! {"b": v})),
            ]
        })
    }

    fn operator() -> impl Strategy<Value = Document> {
        prop_oneof![
            value().prop_map(|v| doc! {"$eq": v}),
            value().prop_map(|v| doc! {"$gt": v}),
            value().prop_map(|v| doc! {"$gte": v}),
            value().prop_map(|v| doc! {"$lt": v}),
            value().prop_map(|v| doc! {"$lte": v}),
            prop::collection::vec(value(), 0..3).prop_map(|v| doc! {"$in": v}),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Every matching document has an index key inside the derived bounds.
        #[test]
        fn bounds_are_a_superset(
            field in prop::option::of(value()),
            path in prop::sample::select(vec!["a", "a.b"]),
            first in operator(),
            second in prop::option::of(operator()),
        ) {
            let mut doc = Document::new();
            if let Some(v) = field {
                doc.insert("a", v);
            }
            let mut clauses = vec![Bson::Document(doc! {path: first})];
            if let Some(second) = second {
                clauses.push(Bson::Document(doc! {path: second}));
            }
            let filter = match Filter::parse(&doc! {"$and": clauses}) {
                Ok(f) => f,
                Err(_) => return Ok(()),
            };
            if !filter.matches(&doc) {
                return Ok(());
            }
            let keys = index_key_values(&doc, path);
            let mut modes = vec![true];
            if !is_multikey_for(&doc, path) {
                modes.push(false);
            }
            for multikey in modes {
                if let Some(intervals) = filter.bounds_for(path, multikey) {
                    prop_assert!(
                        keys.iter().any(|k| intervals.iter().any(|i| i.contains(k))),
                        "{} on {}: keys {:?} outside {:?} (multikey {})",
                        filter.source(), doc, keys, intervals, multikey
                    );
                }
            }
        }
    }
}

/// Runs each filter over a named collection and checks which documents match.
fn check_ids(collection: &[(&str, Document)], filter: Document, expected: &[&str]) {
    let parsed = Filter::parse(&filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    let mut got: Vec<&str> = collection
        .iter()
        .filter(|(_, d)| parsed.matches(d))
        .map(|(id, _)| *id)
        .collect();
    got.sort_unstable();
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{filter}");
}

/// MongoDB's jstests/core/query/null_query_semantics.js (the semantics of MongoDB 8.0: null
/// does not match undefined). Dotted paths through arrays of scalars follow MongoDB before
/// 9.0 (SERVER-36681 changed them), as jstests/core/null2.js checks.
#[test]
#[rustfmt::skip]
fn null_query_semantics() {
    let scalars: Vec<(&str, Document)> = vec![
        ("a_empty_subobject", doc! {"a": {}}),
        ("a_null", doc! {"a": Bson::Null}),
        ("a_number", doc! {"a": 4}),
        ("a_subobject_b_not_null", doc! {"a": {"b": "hi"}}),
        ("a_subobject_b_null", doc! {"a": {"b": Bson::Null}}),
        ("a_subobject_b_undefined", doc! {"a": {"b": Bson::Undefined}}),
        ("a_undefined", doc! {"a": Bson::Undefined}),
        ("no_a", doc! {}),
    ];
    let c = &scalars;
    check_ids(c, doc! {"a": {"$eq": Bson::Null}}, &["a_null", "no_a"]);
    check_ids(c, doc! {"a": {"$ne": Bson::Null}}, &["a_undefined", "a_empty_subobject", "a_number", "a_subobject_b_not_null", "a_subobject_b_null", "a_subobject_b_undefined"]);
    check_ids(c, doc! {"a": {"$in": [Bson::Null, 4]}}, &["a_null", "a_number", "no_a"]);
    check_ids(c, doc! {"$or": [{"a": Bson::Null}, {"a": 4}]}, &["a_null", "a_number", "no_a"]);
    check_ids(c, doc! {"a": {"$nin": [Bson::Null, 4]}}, &["a_undefined", "a_empty_subobject", "a_subobject_b_not_null", "a_subobject_b_null", "a_subobject_b_undefined"]);
    check_ids(c, doc! {"a": {"$nin": [Bson::Null, re("^hi.*", "")]}}, &["a_undefined", "a_empty_subobject", "a_number", "a_subobject_b_not_null", "a_subobject_b_null", "a_subobject_b_undefined"]);
    check_ids(c, doc! {"a": {"$exists": false}}, &["no_a"]);
    check_ids(c, doc! {"a.b": {"$eq": Bson::Null}}, &["a_empty_subobject", "a_null", "a_number", "a_subobject_b_null", "a_undefined", "no_a"]);
    check_ids(c, doc! {"a.b": {"$ne": Bson::Null}}, &["a_subobject_b_not_null", "a_subobject_b_undefined"]);
    check_ids(c, doc! {"a.b": {"$exists": false}}, &["no_a", "a_empty_subobject", "a_null", "a_number", "a_undefined"]);
    for query in [
        doc! {"a": {"$elemMatch": {"$eq": Bson::Null}}},
        doc! {"a": {"$elemMatch": {"$ne": Bson::Null}}},
        doc! {"a.b": {"$elemMatch": {"$eq": Bson::Null}}},
        doc! {"a.b": {"$elemMatch": {"$ne": Bson::Null}}},
        doc! {"a": {"$elemMatch": {"b": {"$eq": Bson::Null}}}},
        doc! {"a": {"$elemMatch": {"b": {"$ne": Bson::Null}}}},
    ] {
        check_ids(c, query, &[]);
    }

    let mut all = scalars.clone();
    all.extend(vec![
        ("a_double_array", doc! {"a": [[]]}),
        ("a_empty_array", doc! {"a": []}),
        ("a_object_array_b_mix_null_undefined_missing", doc! {"a": [{"b": Bson::Null}, {"b": Bson::Undefined}, {"b": Bson::Null}, {}]}),
        ("a_object_array_no_b_nulls", doc! {"a": [{"b": 1}, {"b": 3}, {"b": "string"}]}),
        ("a_object_array_some_b_nulls", doc! {"a": [{"b": Bson::Null}, {"b": 3}, {"b": Bson::Null}]}),
        ("a_object_array_some_b_undefined", doc! {"a": [{"b": Bson::Undefined}, {"b": 3}]}),
        ("a_object_array_some_b_missing", doc! {"a": [{"b": 3}, {}]}),
        ("a_value_array_all_nulls", doc! {"a": [Bson::Null, Bson::Null]}),
        ("a_value_array_no_nulls", doc! {"a": [1, "string", 4]}),
        ("a_value_array_with_null", doc! {"a": [1, "string", Bson::Null, 4]}),
        ("a_value_array_with_undefined", doc! {"a": [1, "string", Bson::Undefined, 4]}),
    ]);
    let c = &all;
    let not_null = ["a_undefined", "a_double_array", "a_empty_array", "a_empty_subobject", "a_number",
        "a_object_array_b_mix_null_undefined_missing", "a_object_array_no_b_nulls", "a_object_array_some_b_nulls",
        "a_object_array_some_b_undefined", "a_object_array_some_b_missing", "a_subobject_b_not_null",
        "a_subobject_b_null", "a_subobject_b_undefined", "a_value_array_no_nulls", "a_value_array_with_undefined"];
    check_ids(c, doc! {"a": {"$eq": Bson::Null}}, &["a_null", "a_value_array_all_nulls", "a_value_array_with_null", "no_a"]);
    check_ids(c, doc! {"a": {"$ne": Bson::Null}}, &not_null);
    check_ids(c, doc! {"a": {"$not": {"$gte": Bson::Null}}}, &not_null);
    check_ids(c, doc! {"a": {"$in": [Bson::Null, 75]}}, &["a_null", "no_a", "a_value_array_all_nulls", "a_value_array_with_null"]);
    check_ids(c, doc! {"$or": [{"a": Bson::Null}, {"a": 75}]}, &["a_null", "no_a", "a_value_array_all_nulls", "a_value_array_with_null"]);
    check_ids(c, doc! {"a": {"$nin": [Bson::Null, 75]}}, &not_null);
    check_ids(c, doc! {"a": {"$nin": [Bson::Null, []]}}, &["a_empty_subobject", "a_number", "a_subobject_b_not_null", "a_subobject_b_null",
        "a_subobject_b_undefined", "a_undefined", "a_object_array_b_mix_null_undefined_missing", "a_object_array_no_b_nulls",
        "a_object_array_some_b_nulls", "a_object_array_some_b_undefined", "a_object_array_some_b_missing",
        "a_value_array_no_nulls", "a_value_array_with_undefined"]);
    check_ids(c, doc! {"a": {"$nin": [Bson::Null, re("^str.*", "")]}}, &["a_undefined", "a_empty_subobject", "a_number", "a_subobject_b_not_null",
        "a_subobject_b_null", "a_subobject_b_undefined", "a_double_array", "a_empty_array", "a_object_array_b_mix_null_undefined_missing",
        "a_object_array_no_b_nulls", "a_object_array_some_b_nulls", "a_object_array_some_b_undefined", "a_object_array_some_b_missing"]);
    check_ids(c, doc! {"a": {"$elemMatch": {"$eq": Bson::Null}}}, &["a_value_array_all_nulls", "a_value_array_with_null"]);
    check_ids(c, doc! {"a": {"$elemMatch": {"$ne": Bson::Null}}}, &["a_double_array", "a_object_array_b_mix_null_undefined_missing",
        "a_object_array_no_b_nulls", "a_object_array_some_b_nulls", "a_object_array_some_b_undefined", "a_object_array_some_b_missing",
        "a_value_array_no_nulls", "a_value_array_with_undefined", "a_value_array_with_null"]);
    // A nested array is tested as a whole inside a value-form $elemMatch.
    check_ids(&[("nested_null", doc! {"a": [[Bson::Null]]})], doc! {"a": {"$elemMatch": {"$ne": Bson::Null}}}, &["nested_null"]);

    // jstests/core/null2.js and find6.js.
    let null2: Vec<(&str, Document)> = vec![
        ("1", doc! {"a": [{"b": 5}]}),
        ("2", doc! {"a": [{}]}),
        ("3", doc! {"a": []}),
        ("4", doc! {"a": [{}, {"b": 5}]}),
        ("5", doc! {"a": [5, {"b": 5}]}),
    ];
    check_ids(&null2, doc! {"a.b": Bson::Null}, &["2", "4"]);
    check_ids(&null2, doc! {"a.b": {"$in": [Bson::Null]}}, &["2", "4"]);
    let find6: Vec<(&str, Document)> = vec![
        ("1", doc! {"a": [{"0": 1}]}),
        ("2", doc! {"a": [{"0": 2}]}),
        ("3", doc! {"a": [1]}),
        ("4", doc! {"a": [9, 1]}),
    ];
    check_ids(&find6, doc! {"a.0": 1}, &["1", "3"]);
    check_ids(&find6, doc! {"a.0": {"$gt": 8}}, &["4"]);
    check_ids(&find6, doc! {"a.0": {"$lt": 0}}, &[]);
}
