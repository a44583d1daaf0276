//! RQL compiler tables: query text -> filter document, and malformed text -> error.

use bson::spec::BinarySubtype;
use bson::{doc, oid::ObjectId, Binary, Bson, DateTime, Document, Regex};

use super::compile;
use crate::error::Error;

#[track_caller]
fn check(query: &str, expected: Document) {
    match compile(query) {
        Ok(filter) => {
            assert_eq!(filter, expected, "query: {query}");
            // Every compiled filter must be one the storage crate accepts.
            if let Err(error) = outpost_storage::query::filter::Filter::parse(&filter) {
                panic!("query {query:?} compiled to {filter}, which storage refuses: {error}");
            }
        }
        Err(error) => panic!("query {query:?} failed: {error}"),
    }
}

/// A malformed query: the error's position and a fragment of its message.
#[track_caller]
fn check_invalid(query: &str, position: usize, fragment: &str) {
    match compile(query) {
        Err(Error::InvalidQuery {
            position: found_position,
            message,
        }) => {
            assert!(
                message.contains(fragment),
                "query {query:?}: message {message:?} lacks {fragment:?}"
            );
            assert_eq!(found_position, position, "query {query:?}: {message}");
        }
        other => panic!("query {query:?}: expected InvalidQuery, got {other:?}"),
    }
}

/// Valid RQL that Outpost refuses: the feature named and its position.
#[track_caller]
fn check_not_supported(query: &str, position: usize, fragment: &str) {
    match compile(query) {
        Err(Error::NotSupported {
            position: found_position,
            feature,
        }) => {
            assert!(
                feature.contains(fragment),
                "query {query:?}: feature {feature:?} lacks {fragment:?}"
            );
            assert_eq!(found_position, position, "query {query:?}: {feature}");
        }
        other => panic!("query {query:?}: expected NotSupported, got {other:?}"),
    }
}

fn oid(hex: &str) -> ObjectId {
    ObjectId::parse_str(hex).unwrap()
}

#[test]
fn comparisons() {
    check("store_id == 42", doc! {"store_id": 42});
    check("store_id = 42", doc! {"store_id": 42});
    check("store_id==42", doc! {"store_id": 42});
    check("name == 'Ann'", doc! {"name": "Ann"});
    check("name == \"Ann\"", doc! {"name": "Ann"});
    check("age != 3", doc! {"age": {"$ne": 3}});
    check("age <> 3", doc! {"age": {"$ne": 3}});
    check("age > 3", doc! {"age": {"$gt": 3}});
    check("age >= 3", doc! {"age": {"$gte": 3}});
    check("age => 3", doc! {"age": {"$gte": 3}});
    check("age < 3", doc! {"age": {"$lt": 3}});
    check("age <= 3", doc! {"age": {"$lte": 3}});
    check("age =< 3", doc! {"age": {"$lte": 3}});
    check("price > 9.99", doc! {"price": {"$gt": 9.99}});
    check("done == true", doc! {"done": true});
    check("done == FALSE", doc! {"done": false});
    check("done == True", doc! {"done": true});
    check("owner == null", doc! {"owner": Bson::Null});
    check("owner == nil", doc! {"owner": Bson::Null});
    check("owner != NULL", doc! {"owner": {"$ne": Bson::Null}});
    check("address.city == 'Oslo'", doc! {"address.city": "Oslo"});
    check("a.b.c >= 1", doc! {"a.b.c": {"$gte": 1}});
    check("first-name == 'x'", doc! {"first-name": "x"});
    check("_partition == 'p'", doc! {"_partition": "p"});
    check("città == 'Roma'", doc! {"città": "Roma"});
}

#[test]
fn constant_on_the_left_flips() {
    check("42 == store_id", doc! {"store_id": 42});
    check("42 != store_id", doc! {"store_id": {"$ne": 42}});
    check("3 < age", doc! {"age": {"$gt": 3}});
    check("3 <= age", doc! {"age": {"$gte": 3}});
    check("3 > age", doc! {"age": {"$lt": 3}});
    check("3 >= age", doc! {"age": {"$lte": 3}});
    check(
        "'Ann' ==[c] name",
        doc! {"name": {"$regex": "^Ann\\z", "$options": "i"}},
    );
}

#[test]
fn literals() {
    check("n == -5", doc! {"n": -5});
    check("n == +5", doc! {"n": 5});
    check("n == 0", doc! {"n": 0});
    check("n == 2147483647", doc! {"n": 2147483647});
    check("n == 2147483648", doc! {"n": 2147483648_i64});
    check("n == -2147483649", doc! {"n": -2147483649_i64});
    check("n == 0x1F", doc! {"n": 31});
    check("n == 1.5", doc! {"n": 1.5});
    check("n == .5", doc! {"n": 0.5});
    check("n == 5.", doc! {"n": 5.0});
    check("n == 1e3", doc! {"n": 1000.0});
    check("n == 2.5E-1", doc! {"n": 0.25});
    check("n == 1.5f", doc! {"n": 1.5});
    check("n == -0.25", doc! {"n": -0.25});
    check("n == inf", doc! {"n": f64::INFINITY});
    check("n > -infinity", doc! {"n": {"$gt": f64::NEG_INFINITY}});
    check("n == +INF", doc! {"n": f64::INFINITY});
    check(
        "_id == oid(507f1f77bcf86cd799439011)",
        doc! {"_id": oid("507f1f77bcf86cd799439011")},
    );
    check(
        "_id == OID(507F1F77BCF86CD799439011)",
        doc! {"_id": oid("507f1f77bcf86cd799439011")},
    );
    let uuid_bytes = vec![
        0x3b, 0x24, 0x11, 0x01, 0xe2, 0xbb, 0x42, 0x55, 0x8c, 0xaf, 0x41, 0x36, 0xc5, 0x66, 0xa9,
        0x62,
    ];
    check(
        "u == uuid(3b241101-e2bb-4255-8caf-4136c566a962)",
        doc! {"u": Binary { subtype: BinarySubtype::Uuid, bytes: uuid_bytes }},
    );
    check(
        "b == B64\"SGVsbG8=\"",
        doc! {"b": Binary { subtype: BinarySubtype::Generic, bytes: b"Hello".to_vec() }},
    );
    check(
        "t > T1700000000:0",
        doc! {"t": {"$gt": DateTime::from_millis(1_700_000_000_000)}},
    );
    check(
        "t > T1:500000000",
        doc! {"t": {"$gt": DateTime::from_millis(1_500)}},
    );
    check(
        "t >= 2024-01-31@12:30:15",
        doc! {"t": {"$gte": DateTime::from_millis(1_706_704_215_000)}},
    );
    check(
        "t >= 2024-01-31T12:30:15:250000000",
        doc! {"t": {"$gte": DateTime::from_millis(1_706_704_215_250)}},
    );
    check(
        "t < 1969-12-31@23:59:59",
        doc! {"t": {"$lt": DateTime::from_millis(-1000)}},
    );
    check(
        "t == 2000-02-29@00:00:00",
        doc! {"t": DateTime::from_millis(951_782_400_000)},
    );
}

#[test]
fn nan_literal() {
    let filter = compile("n == NaN").unwrap();
    assert!(matches!(filter.get("n"), Some(Bson::Double(d)) if d.is_nan()));
}

#[test]
fn string_escapes() {
    check(r#"s == 'it\'s'"#, doc! {"s": "it's"});
    check(r#"s == "say \"hi\"""#, doc! {"s": "say \"hi\""});
    check(r#"s == 'a\\b'"#, doc! {"s": "a\\b"});
    check(r#"s == 'a\nb\tc\rd'"#, doc! {"s": "a\nb\tc\rd"});
    check(r#"s == 'a\/b'"#, doc! {"s": "a/b"});
    check(r#"s == '\u00e9'"#, doc! {"s": "é"});
    check(r#"s == '\ud83d\ude00'"#, doc! {"s": "😀"});
    check(r#"s == 'x\0y'"#, doc! {"s": "x\0y"});
    check("s == 'a \"quoted\" word'", doc! {"s": "a \"quoted\" word"});
    check("s == \"single ' inside\"", doc! {"s": "single ' inside"});
    check("s == ''", doc! {"s": ""});
    check("s == '&& || ( )'", doc! {"s": "&& || ( )"});
}

#[test]
fn logical_operators_and_precedence() {
    check("a == 1 && b == 2", doc! {"$and": [{"a": 1}, {"b": 2}]});
    check(
        "a == 1 AND b == 2 and c == 3",
        doc! {"$and": [{"a": 1}, {"b": 2}, {"c": 3}]},
    );
    check("a == 1 || b == 2", doc! {"$or": [{"a": 1}, {"b": 2}]});
    check(
        "a == 1 OR b == 2 or c == 3",
        doc! {"$or": [{"a": 1}, {"b": 2}, {"c": 3}]},
    );
    check(
        "a == 1 || b == 2 && c == 3",
        doc! {"$or": [{"a": 1}, {"$and": [{"b": 2}, {"c": 3}]}]},
    );
    check(
        "a == 1 && b == 2 || c == 3",
        doc! {"$or": [{"$and": [{"a": 1}, {"b": 2}]}, {"c": 3}]},
    );
    check(
        "a == 1 && b == 2 || c == 3 && d == 4",
        doc! {"$or": [{"$and": [{"a": 1}, {"b": 2}]}, {"$and": [{"c": 3}, {"d": 4}]}]},
    );
    check(
        "a == 1 && (b == 2 || c == 3)",
        doc! {"$and": [{"a": 1}, {"$or": [{"b": 2}, {"c": 3}]}]},
    );
    check("(a == 1)", doc! {"a": 1});
    check("((a == 1))", doc! {"a": 1});
    check("!(a == 1)", doc! {"$nor": [{"a": 1}]});
    check("NOT a == 1", doc! {"$nor": [{"a": 1}]});
    check("not a > 1", doc! {"$nor": [{"a": {"$gt": 1}}]});
    check("!!(a == 1)", doc! {"$nor": [{"$nor": [{"a": 1}]}]});
    check(
        "NOT a == 1 && b == 2",
        doc! {"$and": [{"$nor": [{"a": 1}]}, {"b": 2}]},
    );
    check(
        "!(a == 1 || b == 2)",
        doc! {"$nor": [{"$or": [{"a": 1}, {"b": 2}]}]},
    );
    check(
        "a == 1 ||b == 2&&c == 3",
        doc! {"$or": [{"a": 1}, {"$and": [{"b": 2}, {"c": 3}]}]},
    );
}

#[test]
fn true_and_false_predicates() {
    check("TRUEPREDICATE", doc! {});
    check("truepredicate", doc! {});
    check("FALSEPREDICATE", doc! {"_id": {"$exists": false}});
    check("TRUEPREDICATE && a == 1", doc! {"$and": [{}, {"a": 1}]});
    check(
        "NOT FALSEPREDICATE",
        doc! {"$nor": [{"_id": {"$exists": false}}]},
    );
}

#[test]
fn in_and_between() {
    check(
        "status IN {'open', 'paid'}",
        doc! {"status": {"$in": ["open", "paid"]}},
    );
    check("status in {1}", doc! {"status": {"$in": [1]}});
    check("status IN {}", doc! {"status": {"$in": []}});
    check(
        "status IN {1, 'a', null, true, 2.5}",
        doc! {"status": {"$in": [1, "a", Bson::Null, true, 2.5]}},
    );
    check("status == {1, 2}", doc! {"status": {"$in": [1, 2]}});
    check("'sale' IN tags", doc! {"tags": "sale"});
    check("status == ANY {1, 2}", doc! {"status": {"$in": [1, 2]}});
    check("status IN SOME {1, 2}", doc! {"status": {"$in": [1, 2]}});
    check("status == NONE {1, 2}", doc! {"status": {"$nin": [1, 2]}});
    check("status IN none {'a'}", doc! {"status": {"$nin": ["a"]}});
    check(
        "name ==[c] NONE {'ann'}",
        doc! {"name": {"$nin": [Bson::RegularExpression(Regex { pattern: "^ann\\z".into(), options: "i".into() })]}},
    );
    check(
        "name IN[c] {'ann', 'Bo'}",
        doc! {"name": {"$in": [
            Bson::RegularExpression(Regex { pattern: "^ann\\z".into(), options: "i".into() }),
            Bson::RegularExpression(Regex { pattern: "^Bo\\z".into(), options: "i".into() }),
        ]}},
    );
    check(
        "age BETWEEN {18, 65}",
        doc! {"age": {"$gte": 18, "$lte": 65}},
    );
    check(
        "price between {1.5, 2}",
        doc! {"price": {"$gte": 1.5, "$lte": 2}},
    );
}

#[test]
fn string_operators() {
    check("name BEGINSWITH 'Ab'", doc! {"name": {"$regex": "^Ab"}});
    check("name beginsWith 'Ab'", doc! {"name": {"$regex": "^Ab"}});
    check(
        "name BEGINSWITH[c] 'ab'",
        doc! {"name": {"$regex": "^ab", "$options": "i"}},
    );
    check("name ENDSWITH 'son'", doc! {"name": {"$regex": "son\\z"}});
    check(
        "name endswith[c] 'SON'",
        doc! {"name": {"$regex": "SON\\z", "$options": "i"}},
    );
    check("name CONTAINS 'an'", doc! {"name": {"$regex": "an"}});
    check(
        "name CONTAINS[c] 'AN'",
        doc! {"name": {"$regex": "AN", "$options": "i"}},
    );
    check(
        "name LIKE 'J*n?'",
        doc! {"name": {"$regex": "^J.*n.\\z", "$options": "s"}},
    );
    check(
        "name LIKE[c] '*x*'",
        doc! {"name": {"$regex": "^.*x.*\\z", "$options": "is"}},
    );
    check(
        "name LIKE 'a.b+c'",
        doc! {"name": {"$regex": "^a\\.b\\+c\\z", "$options": "s"}},
    );
    check(
        "name CONTAINS 'a.b*c?(d)[e]{f}|^$\\\\'",
        doc! {"name": {"$regex": "a\\.b\\*c\\?\\(d\\)\\[e\\]\\{f\\}\\|\\^\\$\\\\"}},
    );
    check("name BEGINSWITH ''", doc! {"name": {"$regex": "^"}});
    check(
        "name CONTAINS 'x\\0y'",
        doc! {"name": {"$regex": "x\\x00y"}},
    );
    check(
        "name ==[c] 'ann'",
        doc! {"name": {"$regex": "^ann\\z", "$options": "i"}},
    );
    check(
        "name !=[c] 'a.n'",
        doc! {"name": {"$not": {"$regex": "^a\\.n\\z", "$options": "i"}}},
    );
    check(
        "NOT name CONTAINS 'x'",
        doc! {"$nor": [{"name": {"$regex": "x"}}]},
    );
}

#[test]
fn quantifiers() {
    check("ANY tags == 'sale'", doc! {"tags": "sale"});
    check("SOME tags == 'sale'", doc! {"tags": "sale"});
    check("any scores > 90", doc! {"scores": {"$gt": 90}});
    check("NONE tags == 'sale'", doc! {"$nor": [{"tags": "sale"}]});
    // A property may be called like a keyword where the grammar allows it.
    check("in == 1", doc! {"in": 1});
    check("contains == 'x'", doc! {"contains": "x"});
}

#[test]
fn malformed_queries() {
    check_invalid("store_id ==", 11, "expected a value after '=='");
    check_invalid("store_id == ", 12, "expected a value after '=='");
    check_invalid(
        "store_id == )",
        12,
        "expected a value after '==', found ')'",
    );
    check_invalid("", 0, "expected a comparison");
    check_invalid("   ", 3, "expected a comparison");
    check_invalid("a == 1 &&", 9, "expected a comparison after '&&'");
    check_invalid("a == 1 AND", 10, "expected a comparison after 'AND'");
    check_invalid("a == 1 || )", 10, "expected a comparison after '||'");
    check_invalid(
        "a == 1 b == 2",
        7,
        "expected '&&', '||' or the end of the query",
    );
    check_invalid("(a == 1", 7, "expected '&&', '||' or ')'");
    check_invalid("(a == 1 b", 8, "expected '&&', '||' or ')'");
    check_invalid("a == 1)", 6, "found ')'");
    check_invalid("a", 1, "expected a comparison operator after 'a'");
    check_invalid("a.b 5", 4, "expected a comparison operator after 'a.b'");
    check_invalid("a. == 1", 3, "expected a property name after '.'");
    check_invalid("a == 'abc", 5, "unterminated string literal");
    check_invalid("a == \"abc", 5, "unterminated string literal");
    check_invalid(r"a == 'a\qb'", 7, "invalid escape sequence");
    check_invalid(r"a == '\u12'", 6, "invalid \\u escape");
    check_invalid(r"a == '\ud83d'", 6, "invalid \\u escape");
    check_invalid("a == 1 & b == 2", 7, "did you mean '&&'");
    check_invalid("a == 1 | b == 2", 7, "did you mean '||'");
    check_invalid("a == #", 5, "invalid character '#'");
    check_invalid("a == 12abc", 5, "invalid number '12abc'");
    check_invalid(
        "a == 99999999999999999999",
        5,
        "integer literal out of range",
    );
    check_invalid("a == 1e", 6, "expected digits in the exponent");
    check_invalid("_id == oid(123)", 11, "expected 24 hexadecimal digits");
    check_invalid("_id == oid(507f1f77bcf86cd79943901", 7, "expected ')'");
    check_invalid("u == uuid(not-a-uuid)", 10, "expected a UUID");
    check_invalid("b == B64\"!!\"", 5, "invalid base64");
    check_invalid("t > 2024-02-30@00:00:00", 4, "invalid date");
    check_invalid("t > 2024-01-01@24:00:00", 4, "invalid date");
    check_invalid("t > T1:-5", 4, "nanoseconds");
    check_invalid("t > T5:", 4, "invalid timestamp");
    check_invalid("t > T1:-9223372036854775808", 4, "nanoseconds");
    check_invalid("t > T99999999999999999:0", 4, "invalid timestamp");
    check_invalid("t > 2024-01-31", 4, "incomplete timestamp");
    check_invalid("t > 2024-01-31@12", 4, "incomplete timestamp");
    check_invalid("t > 99999-01-01@00:00:00", 4, "invalid date");
    check_invalid(
        "a == 1 OR OR b == 2",
        10,
        "expected a comparison after 'OR', found 'OR'",
    );
    check_invalid(
        "a == 1 && AND",
        10,
        "expected a comparison after '&&', found 'AND'",
    );
    check_invalid("a == 'x' \"y\"", 9, "found '\"y\"'");
    check_invalid("a === 1", 4, "expected a value after '==', found '='");
    check_invalid("x == 0x", 5, "invalid number '0x'");
    check_invalid(
        "x == 1.2.3",
        8,
        "expected '&&', '||' or the end of the query, found '.3'",
    );
    check_invalid(
        "a IN {1,,2}",
        8,
        "expected a constant value in the list, found ','",
    );
    check_invalid("a ==[c]", 7, "expected a value after '=='");
    check_invalid("a\0b == 1", 1, "invalid character");
    check_invalid("1 == 1", 0, "a comparison needs a property on one side");
    check_invalid("'a' == 'b'", 0, "a comparison needs a property on one side");
    check_invalid("a IN 5", 5, "IN needs a list");
    check_invalid("a IN {1, 2", 10, "expected ',' or '}' in the list");
    check_invalid("a IN {1 2}", 8, "expected ',' or '}' in the list");
    check_invalid("a IN {1,}", 8, "expected a constant value in the list");
    check_invalid("a IN {b}", 6, "expected a constant value in the list");
    check_invalid("a BETWEEN {1}", 10, "BETWEEN needs a list of two values");
    check_invalid(
        "a BETWEEN {1, 2, 3}",
        10,
        "BETWEEN needs a list of two values",
    );
    check_invalid("a BETWEEN 5", 10, "BETWEEN needs a list of two values");
    check_invalid("a BEGINSWITH 5", 13, "BEGINSWITH needs a string value");
    check_invalid("a LIKE null", 7, "LIKE needs a string value");
    check_invalid("a ==[c] 5", 8, "needs a string value");
    check_invalid("a IN[c] {1}", 8, "needs a list of strings");
    check_invalid("a >[c] 5", 3, "'[c]' cannot follow '>'");
    check_invalid("a ==[x] 'b'", 4, "unknown modifier '[x]'");
    check_invalid("a == 1 ||", 9, "expected a comparison after '||'");
    check_invalid("!", 1, "expected a comparison after '!'");
    check_invalid("NOT", 3, "expected a comparison after 'NOT'");
    check_invalid("()", 1, "expected a comparison");
    check_invalid("== 5", 0, "expected a comparison, found '=='");
    check_invalid("a == ==", 5, "expected a value after '=='");
    check_invalid("a == 1 &&& b == 2", 9, "did you mean '&&'");
    check_invalid(&"(".repeat(200), 100, "nested more than 100 levels");
    check_invalid(&"!".repeat(200), 100, "nested more than 100 levels");
}

#[test]
fn valid_rql_that_is_not_supported() {
    check_not_supported("a == $0", 5, "query argument");
    check_not_supported("tags.@count > 1", 5, "'@count'");
    check_not_supported("@links.Person.dogs == 1", 0, "'@links'");
    check_not_supported("ALL scores > 5", 0, "ALL");
    check_not_supported("a == ALL {1, 2}", 5, "ALL");
    check_not_supported("a > ANY {1, 2}", 2, "comparing a list with '>'");
    check_not_supported("a != NONE {1, 2}", 2, "comparing a list with '!='");
    check_not_supported("a == b", 0, "comparing two properties ('a' and 'b')");
    check_not_supported("a + 1 == 2", 2, "arithmetic ('+')");
    check_not_supported("a * 2 == 2", 2, "arithmetic ('*')");
    check_not_supported("a == 1 SORT(a ASC)", 7, "SORT");
    check_not_supported("a == 1 LIMIT(5)", 7, "LIMIT");
    check_not_supported("a == 1 DISTINCT(a)", 7, "DISTINCT");
    check_not_supported(
        "SUBQUERY(items, $x, $x.price > 5).@count > 0",
        0,
        "SUBQUERY",
    );
    check_not_supported("name ==[d] 'e'", 7, "diacritic-insensitive");
    check_not_supported("name CONTAINS[cd] 'e'", 13, "diacritic-insensitive");
    check_not_supported("name TEXT 'cake'", 5, "TEXT");
    check_not_supported("items[0] == 1", 5, "subscripts");
    check_not_supported("$name == 1", 0, "starting with '$'");
    check_not_supported("a > {1, 2}", 2, "comparing a list with '>'");
    check_not_supported("a != {1, 2}", 2, "comparing a list with '!='");
    check_not_supported(
        "'a' BEGINSWITH name",
        4,
        "BEGINSWITH with the property on its right",
    );
    check_not_supported("{1, 2} IN tags", 7, "IN with the property on its right");
}

#[test]
fn error_display_names_position() {
    let error = compile("store_id ==").unwrap_err();
    assert_eq!(
        error.to_string(),
        "expected a value after '==' at position 11"
    );
    assert_eq!(error.code(), 9);
    let error = compile("a == $0").unwrap_err();
    assert_eq!(
        error.to_string(),
        "a query argument ('$0') is not supported in a sync query (at position 5)"
    );
    assert_eq!(error.code(), 115);
}

/// End-to-end: the compiled filter evaluated by the storage crate's `Filter`. These need the
/// full filter language in `outpost_storage::query::Filter`.
#[test]
fn compiled_filters_match_documents() {
    use outpost_storage::query::filter::Filter;
    let mut failures = Vec::new();
    let mut check_match = |query: &str, document: Document, expected: bool| {
        let filter = compile(query).unwrap();
        let parsed = Filter::parse(&filter).unwrap();
        if parsed.matches(&document) != expected {
            failures.push(format!(
                "query {query:?} compiled to {filter} on {document}: expected {expected}"
            ));
        }
    };
    check_match("store_id == 42", doc! {"store_id": 42}, true);
    check_match("store_id == 42", doc! {"store_id": 42.0}, true);
    check_match("store_id == 42", doc! {"store_id": 41}, false);
    check_match("42 == store_id", doc! {"store_id": 42_i64}, true);
    check_match("age > 3", doc! {"age": 4}, true);
    check_match("age > 3", doc! {"age": 3}, false);
    check_match("age != 3", doc! {"age": 4}, true);
    check_match("age != 3", doc! {}, true);
    check_match("a == 1 && b == 2", doc! {"a": 1, "b": 2}, true);
    check_match("a == 1 && b == 2", doc! {"a": 1, "b": 3}, false);
    check_match("a == 1 || b == 2", doc! {"a": 0, "b": 2}, true);
    check_match("NOT a == 1", doc! {"a": 2}, true);
    check_match("NOT a == 1", doc! {"a": 1}, false);
    check_match("status IN {'open', 'paid'}", doc! {"status": "paid"}, true);
    check_match("status IN {'open', 'paid'}", doc! {"status": "void"}, false);
    check_match(
        "status == NONE {'open', 'paid'}",
        doc! {"status": "void"},
        true,
    );
    check_match(
        "status == NONE {'open', 'paid'}",
        doc! {"status": "open"},
        false,
    );
    check_match("'sale' IN tags", doc! {"tags": ["new", "sale"]}, true);
    check_match("name BEGINSWITH[c] 'ab'", doc! {"name": "ABC"}, true);
    check_match("name ENDSWITH 'son'", doc! {"name": "Jason"}, true);
    check_match("name ENDSWITH 'son'", doc! {"name": "Jason\n"}, false);
    check_match("name CONTAINS '.'", doc! {"name": "a.b"}, true);
    check_match("name CONTAINS '.'", doc! {"name": "ab"}, false);
    check_match("name LIKE 'J*n?'", doc! {"name": "Jason"}, false);
    check_match("name LIKE 'J*n?'", doc! {"name": "Jasons"}, true);
    check_match("name LIKE 'J*o?'", doc! {"name": "Jason"}, true);
    check_match("name LIKE 'a*b'", doc! {"name": "a\nb"}, true);
    check_match("name ==[c] 'ann'", doc! {"name": "ANN"}, true);
    check_match("name ==[c] 'ann'", doc! {"name": "ANNA"}, false);
    check_match(
        "address.city == 'Oslo'",
        doc! {"address": {"city": "Oslo"}},
        true,
    );
    check_match("age BETWEEN {18, 65}", doc! {"age": 65}, true);
    check_match("age BETWEEN {18, 65}", doc! {"age": 66}, false);
    check_match("TRUEPREDICATE", doc! {"_id": 1}, true);
    check_match("FALSEPREDICATE", doc! {"_id": 1}, false);
    check_match("owner == null", doc! {"_id": 1}, true);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

proptest::proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(text in ".{0,64}") {
        let _ = compile(&text);
    }

    #[test]
    fn never_panics_on_rql_like_text(
        text in "[a-z0-9 .,'\"=!<>&|(){}\\[\\]@$*?+\\-:TtxX\\\\]{0,48}"
    ) {
        let _ = compile(&text);
    }

    #[test]
    fn error_positions_are_within_the_text(text in "[a-z0-9 .,'\"=!<>&|(){}\\[\\]]{0,48}") {
        if let Err(Error::InvalidQuery { position, .. } | Error::NotSupported { position, .. }) =
            compile(&text)
        {
            proptest::prop_assert!(position <= text.len());
            proptest::prop_assert!(text.is_char_boundary(position));
        }
    }
}

/// Model-based checks: random queries rendered as RQL text, compiled, evaluated by the storage
/// crate's `Filter`, and compared with a direct evaluation of the same query.
mod model {
    use bson::{doc, Document};
    use outpost_storage::query::filter::Filter;
    use proptest::prelude::*;

    use super::compile;

    /// A boolean query over the integer fields `a` and `b`.
    #[derive(Debug, Clone)]
    enum Query {
        Compare {
            field: &'static str,
            operator: usize,
            spelling: usize,
            constant: i32,
            constant_first: bool,
        },
        And(Box<Query>, Box<Query>, usize),
        Or(Box<Query>, Box<Query>, usize),
        Not(Box<Query>, usize),
        True,
        False,
    }

    /// Each operator's spellings; index 0 of each list is the canonical one.
    const OPERATORS: [&[&str]; 6] = [
        &["==", "="],
        &["!=", "<>"],
        &["<"],
        &["<=", "=<"],
        &[">"],
        &[">=", "=>"],
    ];
    const AND_SPELLINGS: [&str; 3] = ["&&", "AND", "and"];
    const OR_SPELLINGS: [&str; 3] = ["||", "OR", "or"];
    const NOT_SPELLINGS: [&str; 3] = ["!", "NOT ", "not "];

    fn apply(operator: usize, left: i32, right: i32) -> bool {
        match operator {
            0 => left == right,
            1 => left != right,
            2 => left < right,
            3 => left <= right,
            4 => left > right,
            _ => left >= right,
        }
    }

    /// `operator` with its operands swapped: `k < a` is `a > k`.
    fn flipped(operator: usize) -> usize {
        match operator {
            2 => 4,
            3 => 5,
            4 => 2,
            5 => 3,
            same => same,
        }
    }

    impl Query {
        fn evaluate(&self, a: i32, b: i32) -> bool {
            match self {
                Query::Compare {
                    field,
                    operator,
                    constant,
                    ..
                } => {
                    let value = if *field == "a" { a } else { b };
                    apply(*operator, value, *constant)
                }
                Query::And(left, right, _) => left.evaluate(a, b) && right.evaluate(a, b),
                Query::Or(left, right, _) => left.evaluate(a, b) || right.evaluate(a, b),
                Query::Not(inner, _) => !inner.evaluate(a, b),
                Query::True => true,
                Query::False => false,
            }
        }

        /// 0 = OR, 1 = AND, 2 = NOT and atoms: a child of lower precedence needs parentheses.
        fn precedence(&self) -> u8 {
            match self {
                Query::Or(..) => 0,
                Query::And(..) => 1,
                _ => 2,
            }
        }

        fn render_child(&self, minimum: u8) -> String {
            if self.precedence() < minimum {
                format!("({})", self.render())
            } else {
                self.render()
            }
        }

        /// RQL text with only the parentheses precedence requires.
        fn render(&self) -> String {
            match self {
                Query::Compare {
                    field,
                    operator,
                    spelling,
                    constant,
                    constant_first,
                } => {
                    if *constant_first {
                        let spellings = OPERATORS[flipped(*operator)];
                        let text = spellings[spelling % spellings.len()];
                        format!("{constant} {text} {field}")
                    } else {
                        let spellings = OPERATORS[*operator];
                        let text = spellings[spelling % spellings.len()];
                        format!("{field} {text} {constant}")
                    }
                }
                Query::And(left, right, spelling) => format!(
                    "{} {} {}",
                    left.render_child(1),
                    AND_SPELLINGS[spelling % 3],
                    right.render_child(2)
                ),
                Query::Or(left, right, spelling) => format!(
                    "{} {} {}",
                    left.render_child(0),
                    OR_SPELLINGS[spelling % 3],
                    right.render_child(1)
                ),
                Query::Not(inner, spelling) => {
                    format!("{}{}", NOT_SPELLINGS[spelling % 3], inner.render_child(2))
                }
                Query::True => "TRUEPREDICATE".to_string(),
                Query::False => "FALSEPREDICATE".to_string(),
            }
        }
    }

    fn query_strategy() -> impl Strategy<Value = Query> {
        let leaf = prop_oneof![
            8 => (prop_oneof![Just("a"), Just("b")], 0..6usize, 0..2usize, -3..4i32, any::<bool>())
                .prop_map(|(field, operator, spelling, constant, constant_first)| {
                    Query::Compare { field, operator, spelling, constant, constant_first }
                }),
            1 => Just(Query::True),
            1 => Just(Query::False),
        ];
        leaf.prop_recursive(5, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone(), 0..3usize).prop_map(|(l, r, s)| Query::And(
                    Box::new(l),
                    Box::new(r),
                    s
                )),
                (inner.clone(), inner.clone(), 0..3usize).prop_map(|(l, r, s)| Query::Or(
                    Box::new(l),
                    Box::new(r),
                    s
                )),
                (inner, 0..3usize).prop_map(|(q, s)| Query::Not(Box::new(q), s)),
            ]
        })
    }

    /// Renders `text` as an RQL single-quoted string literal.
    fn quoted(text: &str) -> String {
        let mut out = String::from("'");
        for c in text.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                '\n' => out.push_str("\\n"),
                other => out.push(other),
            }
        }
        out.push('\'');
        out
    }

    /// RQL's LIKE: `*` any run of characters, `?` exactly one.
    fn like(text: &[char], pattern: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('*', rest)) => (0..=text.len()).any(|skip| like(&text[skip..], rest)),
            Some(('?', rest)) => !text.is_empty() && like(&text[1..], rest),
            Some((c, rest)) => text.first() == Some(c) && like(&text[1..], rest),
        }
    }

    fn matches(filter: &Document, document: &Document) -> bool {
        Filter::parse(filter)
            .unwrap_or_else(|error| panic!("storage refused {filter}: {error}"))
            .matches(document)
    }

    proptest! {
        #[test]
        fn boolean_queries_agree_with_direct_evaluation(
            query in query_strategy(),
            documents in proptest::collection::vec((-3..4i32, -3..4i32), 1..8),
        ) {
            let text = query.render();
            let filter = compile(&text)
                .unwrap_or_else(|error| panic!("{text:?} refused: {error}"));
            for (a, b) in documents {
                let document = doc! {"_id": 1, "a": a, "b": b};
                prop_assert_eq!(
                    matches(&filter, &document),
                    query.evaluate(a, b),
                    "query {:?} compiled to {} on {}", text, filter, document
                );
            }
        }

        #[test]
        fn string_operators_agree_with_direct_evaluation(
            value in "[aAbB.*?\\\\^$()\\[\\]{}|+\n' ]{0,6}",
            pattern in "[aAbB.*?\\\\^$()\\[\\]{}|+\n' ]{0,4}",
            operator in 0..5usize,
            case_insensitive in any::<bool>(),
        ) {
            let names = ["BEGINSWITH", "ENDSWITH", "CONTAINS", "LIKE", "=="];
            let modifier = if case_insensitive { "[c]" } else { "" };
            let text = format!("s {}{modifier} {}", names[operator], quoted(&pattern));
            let filter = compile(&text).unwrap_or_else(|error| panic!("{text:?} refused: {error}"));
            let (subject, needle) = if case_insensitive {
                (value.to_lowercase(), pattern.to_lowercase())
            } else {
                (value.clone(), pattern.clone())
            };
            let expected = match operator {
                0 => subject.starts_with(&needle),
                1 => subject.ends_with(&needle),
                2 => subject.contains(&needle),
                3 => {
                    let subject: Vec<char> = subject.chars().collect();
                    let needle: Vec<char> = needle.chars().collect();
                    like(&subject, &needle)
                }
                _ => subject == needle,
            };
            let document = doc! {"_id": 1, "s": value.clone()};
            prop_assert_eq!(
                matches(&filter, &document),
                expected,
                "query {:?} compiled to {} on {}", text, filter, document
            );
        }
    }
}
