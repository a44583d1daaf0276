//! Collation behaviour checked against ICU's (and MongoDB's documented) results.

use std::cmp::Ordering;

use bson::{doc, Document};

use super::*;

fn collation(spec: Document) -> Arc<Collation> {
    match Collation::parse(&spec) {
        Ok(Some(c)) => c,
        other => panic!("{spec} did not parse to a collation: {other:?}"),
    }
}

/// `a` compared with `b` under `spec` is `expected`.
fn check(spec: &Document, a: &str, b: &str, expected: Ordering) {
    let c = collation(spec.clone());
    assert_eq!(c.compare_strings(a, b), expected, "{spec}: {a:?} vs {b:?}");
    // Sort keys agree with the comparison.
    let (mut ka, mut kb) = (Vec::new(), Vec::new());
    c.sort_key_into(a, &mut ka);
    c.sort_key_into(b, &mut kb);
    assert_eq!(ka.cmp(&kb), expected, "{spec}: sort keys of {a:?} vs {b:?}");
    assert!(
        !ka.contains(&0) && !kb.contains(&0),
        "sort keys hold no 0x00"
    );
}

#[test]
fn comparisons() {
    use Ordering::*;
    let cases: &[(Document, &str, &str, Ordering)] = &[
        // Strength 1: base letters only.
        (doc! {"locale": "en", "strength": 1}, "a", "A", Equal),
        (doc! {"locale": "en", "strength": 1}, "a", "á", Equal),
        (doc! {"locale": "en", "strength": 1}, "a", "b", Less),
        // Strength 2: accents, not case.
        (doc! {"locale": "en_US", "strength": 2}, "a", "A", Equal),
        (doc! {"locale": "en_US", "strength": 2}, "a", "á", Less),
        (
            doc! {"locale": "en_US", "strength": 2},
            "cafe",
            "CAFE",
            Equal,
        ),
        // Strength 3 (default): case too, lower before upper by default.
        (doc! {"locale": "en"}, "a", "A", Less),
        (doc! {"locale": "en", "strength": 3}, "A", "á", Less),
        (doc! {"locale": "en"}, "B", "a", Greater),
        // caseFirst.
        (doc! {"locale": "en", "caseFirst": "upper"}, "A", "a", Less),
        (doc! {"locale": "en", "caseFirst": "lower"}, "a", "A", Less),
        // numericOrdering.
        (doc! {"locale": "en"}, "10", "9", Less),
        (
            doc! {"locale": "en", "numericOrdering": true},
            "10",
            "9",
            Greater,
        ),
        (
            doc! {"locale": "en", "numericOrdering": true},
            "a2",
            "a10",
            Less,
        ),
        // alternate shifted: punctuation and spaces ignored (below strength 4).
        (
            doc! {"locale": "en", "alternate": "shifted", "strength": 3},
            "black-bird",
            "blackbird",
            Equal,
        ),
        (
            doc! {"locale": "en", "alternate": "shifted", "strength": 1},
            "a b",
            "ab",
            Equal,
        ),
        (
            doc! {"locale": "en", "alternate": "shifted", "maxVariable": "space", "strength": 1},
            "a b",
            "ab",
            Equal,
        ),
        (
            doc! {"locale": "en", "alternate": "shifted", "maxVariable": "space", "strength": 1},
            "a-b",
            "ab",
            Less,
        ),
        (doc! {"locale": "en"}, "black-bird", "blackbird", Less),
        // Locales: ä is a letter after z in Swedish, an a with an accent in German.
        (doc! {"locale": "de"}, "ä", "z", Less),
        (doc! {"locale": "sv"}, "ä", "z", Greater),
        (doc! {"locale": "de", "strength": 1}, "ä", "a", Equal),
        // Traditional Spanish: "ch" is a letter between c and d.
        (doc! {"locale": "es"}, "chico", "cz", Less),
        (
            doc! {"locale": "es@collation=traditional"},
            "chico",
            "cz",
            Greater,
        ),
        // German phone book order: ä is "ae".
        (doc! {"locale": "de"}, "äz", "af", Greater),
        (doc! {"locale": "de@collation=phonebook"}, "äz", "af", Less),
        // Traditional Finnish: v and w are one letter.
        (doc! {"locale": "fi", "strength": 1}, "v", "w", Less),
        (
            doc! {"locale": "fi@collation=traditional", "strength": 1},
            "v",
            "w",
            Equal,
        ),
        // Chinese: pinyin (default) puts 阿 (a) first, stroke order puts 一 (one stroke) first.
        (doc! {"locale": "zh"}, "一", "阿", Greater),
        (doc! {"locale": "zh@collation=stroke"}, "一", "阿", Less),
        // ñ is its own letter in Spanish.
        (doc! {"locale": "es", "strength": 1}, "ñ", "n", Greater),
        (doc! {"locale": "en", "strength": 1}, "ñ", "n", Equal),
    ];
    for (spec, a, b, expected) in cases {
        check(spec, a, b, *expected);
    }
}

/// Parsing `spec` fails with `code`, its message containing `text`.
fn check_error(spec: &Document, code: i32, text: &str) {
    match Collation::parse(spec) {
        Err(e) => {
            assert_eq!(e.code(), code, "{spec}: {e}");
            assert!(e.to_string().contains(text), "{spec}: {e}");
        }
        Ok(c) => panic!("{spec} parsed: {c:?}"),
    }
}

#[test]
fn invalid_specifications() {
    let cases: &[(Document, i32, &str)] = &[
        (doc! {}, 4, "Missing expected field \"locale\""),
        (doc! {"locale": 1}, 14, "\"locale\" had the wrong type"),
        (doc! {"locale": ""}, 2, "cannot be the empty string"),
        (doc! {"locale": "xx"}, 2, "Field 'locale' is invalid in"),
        (
            doc! {"locale": "en_XX_YY"},
            2,
            "Field 'locale' is invalid in",
        ),
        (
            doc! {"locale": "simple", "strength": 1},
            9,
            "no other fields",
        ),
        (
            doc! {"locale": "en", "strength": 0},
            9,
            "must be an integer 1 through 5",
        ),
        (
            doc! {"locale": "en", "strength": 6},
            9,
            "must be an integer 1 through 5",
        ),
        (
            doc! {"locale": "en", "strength": "2"},
            14,
            "to have numeric type",
        ),
        (
            doc! {"locale": "en", "strength": 1.5},
            2,
            "exactly representable",
        ),
        (
            doc! {"locale": "en", "caseLevel": 1},
            14,
            "\"caseLevel\" had the wrong type",
        ),
        (
            doc! {"locale": "en", "caseFirst": "middle"},
            9,
            "'upper', 'lower', or 'off'",
        ),
        (
            doc! {"locale": "en", "alternate": "x"},
            9,
            "'non-ignorable' or 'shifted'",
        ),
        (
            doc! {"locale": "en", "maxVariable": "x"},
            9,
            "'punct' or 'space'",
        ),
        (doc! {"locale": "en", "foo": 1}, 9, "unknown field"),
        (
            doc! {"locale": "en", "version": "1.0"},
            161,
            "Requested collation version 1.0",
        ),
        (
            doc! {"locale": "en", "caseFirst": "upper", "strength": 2},
            2,
            "'caseFirst' is invalid unless",
        ),
        (
            doc! {"locale": "fr_CA", "strength": 1},
            2,
            "'backwards' is invalid with 'strength' of 1",
        ),
        (doc! {"locale": "en", "backwards": true}, 115, "backwards"),
        (
            doc! {"locale": "de@collation=search"},
            115,
            "@collation=search",
        ),
    ];
    for (spec, code, text) in cases {
        check_error(spec, *code, text);
    }
}

#[test]
fn simple_and_normalized_spec() {
    assert!(matches!(
        Collation::parse(&doc! {"locale": "simple"}),
        Ok(None)
    ));
    let c = collation(doc! {"locale": "en_US", "strength": 2});
    assert_eq!(
        c.to_document(),
        doc! {
            "locale": "en_US", "caseLevel": false, "caseFirst": "off", "strength": 2,
            "numericOrdering": false, "alternate": "non-ignorable", "maxVariable": "punct",
            "normalization": false, "backwards": false, "version": "57.1",
        }
    );
    // Equal when the normalized specs are: an explicit default equals an omitted one.
    assert_eq!(
        *c,
        *collation(doc! {"locale": "en_US", "strength": 2, "caseLevel": false})
    );
    assert_ne!(*c, *collation(doc! {"locale": "en_US", "strength": 3}));
    assert!(collation(doc! {"locale": "fr_CA"}).spec().backwards);
    // The normalized spec parses back to the same collation.
    assert_eq!(*c, *collation(c.to_document()));
}

/// `compare_with` and the collated key encoding agree, also inside documents and arrays, and
/// on values that are not strings.
#[test]
fn key_encoding_agrees_with_comparison() {
    use crate::value::{compare_with, keyenc};
    use bson::Bson;
    let c = collation(doc! {"locale": "en", "strength": 2});
    let values: Vec<Bson> = vec![
        Bson::Null,
        Bson::Int32(3),
        Bson::Double(2.5),
        "a".into(),
        "A".into(),
        "á".into(),
        "ab".into(),
        "b".into(),
        "B".into(),
        Bson::Document(doc! {"x": "a"}),
        Bson::Document(doc! {"x": "A"}),
        Bson::Document(doc! {"x": "b", "y": 1}),
        Bson::Array(vec!["a".into(), "B".into()]),
        Bson::Array(vec!["A".into(), "b".into()]),
        Bson::Array(vec!["A".into()]),
        Bson::Boolean(true),
    ];
    for a in &values {
        for b in &values {
            let expected = compare_with(a, b, Some(&c));
            let (ka, kb) = (
                keyenc::encode_with(a, Some(&c)),
                keyenc::encode_with(b, Some(&c)),
            );
            assert_eq!(ka.cmp(&kb), expected, "{a} vs {b}");
            let (mut da, mut db) = (Vec::new(), Vec::new());
            keyenc::encode_descending_with_into(a, Some(&c), &mut da);
            keyenc::encode_descending_with_into(b, Some(&c), &mut db);
            assert_eq!(da.cmp(&db), expected.reverse(), "descending {a} vs {b}");
            // Simple collation: exactly the plain encoding.
            assert_eq!(keyenc::encode_with(a, None), keyenc::encode(a));
        }
    }
}

/// Filters under a collation: `filter` matches `document` or not, case-insensitively.
#[test]
fn filters_compare_strings_under_the_collation() {
    use crate::query::Filter;
    let c = collation(doc! {"locale": "en_US", "strength": 2});
    let cases: &[(Document, Document, bool)] = &[
        (doc! {"a": "ABC"}, doc! {"a": "abc"}, true),
        (doc! {"a": {"$eq": "ABC"}}, doc! {"a": "abc"}, true),
        (doc! {"a": {"$ne": "ABC"}}, doc! {"a": "abc"}, false),
        (doc! {"a": {"$gt": "ABC"}}, doc! {"a": "abd"}, true),
        (doc! {"a": {"$gte": "ABC"}}, doc! {"a": "abc"}, true),
        (doc! {"a": {"$lt": "ABC"}}, doc! {"a": "abc"}, false),
        (doc! {"a": {"$lte": "ABC"}}, doc! {"a": "abc"}, true),
        (doc! {"a": {"$in": ["X", "ABC"]}}, doc! {"a": "abc"}, true),
        (doc! {"a": {"$nin": ["X", "ABC"]}}, doc! {"a": "abc"}, false),
        (
            doc! {"a": {"$all": ["X", "Y"]}},
            doc! {"a": ["x", "y"]},
            true,
        ),
        (
            doc! {"a": {"$elemMatch": {"$eq": "X"}}},
            doc! {"a": ["x"]},
            true,
        ),
        (
            doc! {"a": {"$elemMatch": {"b": "X"}}},
            doc! {"a": [{"b": "x"}]},
            true,
        ),
        (doc! {"a": "X"}, doc! {"a": ["x", "y"]}, true),
        (doc! {"a": {"b": "X"}}, doc! {"a": {"b": "x"}}, true),
        (doc! {"a": ["X"]}, doc! {"a": ["x"]}, true),
        // Accents still count at strength 2.
        (doc! {"a": "abc"}, doc! {"a": "ábc"}, false),
        // $regex ignores the collation.
        (doc! {"a": {"$regex": "^A"}}, doc! {"a": "abc"}, false),
        // $expr compares under it too.
        (
            doc! {"$expr": {"$eq": ["$a", "ABC"]}},
            doc! {"a": "abc"},
            true,
        ),
        // Other types are unaffected.
        (doc! {"a": 1}, doc! {"a": 1.0}, true),
        (doc! {"a": {"$gt": 1}}, doc! {"a": "abc"}, false),
    ];
    for (filter, document, expected) in cases {
        let parsed = Filter::parse_with_collation(filter, &Document::new(), Some(c.clone()))
            .unwrap_or_else(|e| panic!("{filter}: {e}"));
        assert_eq!(
            parsed.matches(document),
            *expected,
            "{filter} on {document}"
        );
        // The simple collation is binary: "ABC" never equals "abc".
        if filter.get("a").is_some_and(|v| v.as_str() == Some("ABC")) {
            assert!(!Filter::parse(filter)
                .unwrap_or_else(|e| panic!("{e}"))
                .matches(document));
        }
    }
}

/// Update operators under a collation: `update` applied to `document` gives `expected`.
#[test]
fn update_operators_compare_strings_under_the_collation() {
    use crate::query::update::{Update, UpdateContext};
    use bson::Bson;
    let c = collation(doc! {"locale": "en_US", "strength": 2});
    let cases: &[(Document, Document, Document)] = &[
        (
            doc! {"$addToSet": {"a": "X"}},
            doc! {"a": ["x"]},
            doc! {"a": ["x"]},
        ),
        (
            doc! {"$addToSet": {"a": "Y"}},
            doc! {"a": ["x"]},
            doc! {"a": ["x", "Y"]},
        ),
        (
            doc! {"$pull": {"a": "X"}},
            doc! {"a": ["x", "y"]},
            doc! {"a": ["y"]},
        ),
        (
            doc! {"$pull": {"a": {"$in": ["X"]}}},
            doc! {"a": ["x", "y"]},
            doc! {"a": ["y"]},
        ),
        (
            doc! {"$pullAll": {"a": ["X", "Y"]}},
            doc! {"a": ["x", "y", "z"]},
            doc! {"a": ["z"]},
        ),
        (doc! {"$max": {"a": "B"}}, doc! {"a": "a"}, doc! {"a": "B"}),
        (doc! {"$min": {"a": "B"}}, doc! {"a": "a"}, doc! {"a": "a"}),
        (
            doc! {"$push": {"a": {"$each": ["B"], "$sort": 1}}},
            doc! {"a": ["c", "a"]},
            doc! {"a": ["a", "B", "c"]},
        ),
    ];
    for (update, document, expected) in cases {
        let parsed = Update::parse(&Bson::Document(update.clone()), None)
            .unwrap_or_else(|e| panic!("{update}: {e}"))
            .with_collation(Some(c.clone()));
        let got = parsed
            .apply(document, &UpdateContext::default())
            .unwrap_or_else(|e| panic!("{update}: {e}"));
        assert_eq!(&got, expected, "{update} on {document}");
    }
    // Pipeline updates evaluate their expressions under it.
    let pipeline = Bson::Array(vec![Bson::Document(
        doc! {"$set": {"same": {"$eq": ["$a", "X"]}}},
    )]);
    let parsed = Update::parse(&pipeline, None)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_collation(Some(c.clone()));
    let got = parsed
        .apply(&doc! {"a": "x"}, &UpdateContext::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, doc! {"a": "x", "same": true});
    // arrayFilters compare under it too.
    let filters = [doc! {"e": "X"}];
    let parsed = Update::parse(
        &Bson::Document(doc! {"$set": {"a.$[e]": "hit"}}),
        Some(&filters[..]),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .with_collation(Some(c.clone()));
    let got = parsed
        .apply(&doc! {"a": ["x", "y"]}, &UpdateContext::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, doc! {"a": ["hit", "y"]});
}

mod properties {
    use super::*;
    use crate::value::{compare_with, keyenc};
    use bson::Bson;
    use proptest::prelude::*;

    /// Short strings over letters that differ by case, accent, punctuation, digits and space.
    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop::sample::select(vec![
                'a', 'A', 'á', 'b', 'B', '-', ' ', '1', '9', '0', 'ß', 's', '\0',
            ]),
            0..6,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    fn value() -> impl Strategy<Value = Bson> {
        prop_oneof![
            text().prop_map(Bson::String),
            (0i32..3).prop_map(Bson::Int32),
            proptest::collection::vec(text().prop_map(Bson::String), 0..3).prop_map(Bson::Array),
            (text(), text()).prop_map(|(k, v)| Bson::Document(doc! {"x": k, "y": v})),
        ]
    }

    fn collations() -> Vec<Arc<Collation>> {
        [
            doc! {"locale": "en", "strength": 1},
            doc! {"locale": "en_US", "strength": 2},
            doc! {"locale": "en", "caseFirst": "upper"},
            doc! {"locale": "en", "numericOrdering": true},
            doc! {"locale": "en", "alternate": "shifted"},
            doc! {"locale": "de", "strength": 5},
        ]
        .into_iter()
        .map(collation)
        .collect()
    }

    proptest! {
        /// The collated encoding orders as `compare_with` does, and stays prefix-free so
        /// compound keys (concatenations) order field by field, also when descending.
        #[test]
        fn collated_keys_agree_with_the_comparison(
            a1 in value(), b1 in value(), a2 in value(), b2 in value(), which in 0usize..6,
        ) {
            let all = collations();
            let c = all.get(which).map(|c| &**c);
            let order = compare_with(&a1, &a2, c);
            prop_assert_eq!(keyenc::encode_with(&a1, c).cmp(&keyenc::encode_with(&a2, c)), order);
            let compound = |x: &Bson, y: &Bson| {
                let mut out = keyenc::encode_with(x, c);
                keyenc::encode_descending_with_into(y, c, &mut out);
                out
            };
            let expected = order.then_with(|| compare_with(&b1, &b2, c).reverse());
            prop_assert_eq!(compound(&a1, &b1).cmp(&compound(&a2, &b2)), expected);
        }
    }
}
