use std::cmp::Ordering;

use bson::{doc, oid::ObjectId, spec::BinarySubtype, Binary, Bson, Decimal128, Regex, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::value::compare;

fn dec(s: &str) -> Bson {
    Bson::Decimal128(s.parse::<Decimal128>().expect("decimal literal"))
}

/// Checks that the encodings of `a` and `b` order as `expected`, and as `compare` does.
fn check(a: Bson, b: Bson, expected: Ordering) {
    assert_eq!(compare(&a, &b), expected, "compare({a:?}, {b:?})");
    assert_eq!(
        encode(&a).cmp(&encode(&b)),
        expected,
        "encode({a:?}) vs encode({b:?})"
    );
    assert_eq!(
        encode_descending(&a).cmp(&encode_descending(&b)),
        expected.reverse(),
        "descending {a:?} vs {b:?}"
    );
}

#[test]
fn table() {
    use Ordering::*;
    let two_53 = 1i64 << 53;
    let cases: Vec<(Bson, Bson, Ordering)> = vec![
        (Bson::Int32(1), Bson::Double(1.0), Equal),
        (Bson::Int32(1), Bson::Int64(1), Equal),
        (Bson::Int32(1), dec("1.00"), Equal),
        (Bson::Int64(1), dec("1E0"), Equal),
        (dec("1E+3"), Bson::Int32(1000), Equal),
        (dec("0.1"), dec("0.10"), Equal),
        (dec("0.5"), Bson::Double(0.5), Equal),
        (dec("-0"), Bson::Int32(0), Equal),
        (Bson::Double(-0.0), Bson::Int32(0), Equal),
        (Bson::Double(f64::NAN), dec("NaN"), Equal),
        (
            Bson::Double(f64::NAN),
            Bson::Double(f64::NEG_INFINITY),
            Less,
        ),
        (Bson::Null, Bson::Double(f64::NAN), Less),
        (dec("-Infinity"), Bson::Int64(i64::MIN), Less),
        (dec("Infinity"), Bson::Int64(i64::MAX), Greater),
        (Bson::Double(f64::INFINITY), dec("Infinity"), Equal),
        (
            Bson::Int64(two_53 + 1),
            Bson::Double(two_53 as f64),
            Greater,
        ),
        (
            Bson::Int64(two_53 + 1),
            Bson::Double((two_53 + 2) as f64),
            Less,
        ),
        (Bson::Int64(two_53 + 1), dec("9007199254740993"), Equal),
        (
            Bson::Int64(-two_53 - 1),
            Bson::Double(-(two_53 as f64)),
            Less,
        ),
        (
            Bson::Int64(i64::MAX),
            Bson::Double(9.223372036854776e18),
            Less,
        ),
        (Bson::Int64(i64::MAX - 1), Bson::Int64(i64::MAX), Less),
        (
            Bson::Int64(i64::MIN),
            Bson::Double(-9.223372036854776e18),
            Equal,
        ),
        (Bson::Int64(i64::MIN + 1), Bson::Int64(i64::MIN), Greater),
        (Bson::Double(0.5), Bson::Int32(0), Greater),
        (Bson::Double(-0.5), Bson::Int32(0), Less),
        (Bson::Double(1e300), Bson::String(String::new()), Less),
        (Bson::String("a".into()), Bson::Symbol("a".into()), Equal),
        (Bson::String("a".into()), Bson::String("a\0".into()), Less),
        (
            Bson::String("a\0".into()),
            Bson::String("a\u{1}".into()),
            Less,
        ),
        (
            Bson::String("a\0b".into()),
            Bson::String("a\0".into()),
            Greater,
        ),
        (Bson::String("ab".into()), Bson::String("b".into()), Less),
        (Bson::Document(doc! {}), Bson::Document(doc! {"a": 1}), Less),
        (
            Bson::Document(doc! {"a": 1}),
            Bson::Document(doc! {"a": 1.0}),
            Equal,
        ),
        (
            Bson::Document(doc! {"a": 1}),
            Bson::Document(doc! {"a": 1, "b": 1}),
            Less,
        ),
        (
            Bson::Document(doc! {"b": 1}),
            Bson::Document(doc! {"a": "x"}),
            Less,
        ),
        (
            Bson::Document(doc! {"a": 2}),
            Bson::Document(doc! {"b": 1}),
            Less,
        ),
        (
            Bson::Document(doc! {"a": {"b": 1}}),
            Bson::Document(doc! {"a": {"b": 1}, "c": 0}),
            Less,
        ),
        (Bson::Array(vec![]), Bson::Array(vec![Bson::MinKey]), Less),
        (
            Bson::Array(vec![1.into()]),
            Bson::Array(vec![1.into(), 0.into()]),
            Less,
        ),
        (
            Bson::Array(vec![1.into(), 3.into()]),
            Bson::Array(vec![2.into()]),
            Less,
        ),
        (
            Bson::Array(vec![Bson::Array(vec![])]),
            Bson::Array(vec![Bson::Array(vec![]), Bson::Null]),
            Less,
        ),
        (Bson::Document(doc! {"z": 1}), Bson::Array(vec![]), Less),
        (bin(0, &[1, 2]), bin(0, &[3]), Greater),
        (bin(5, &[1]), bin(0, &[2]), Greater),
        (bin(0, &[0, 0]), bin(0, &[0, 1]), Less),
        (
            Bson::ObjectId(ObjectId::from_bytes([0; 12])),
            Bson::ObjectId(ObjectId::from_bytes([1; 12])),
            Less,
        ),
        (Bson::Boolean(false), Bson::Boolean(true), Less),
        (
            Bson::DateTime(bson::DateTime::from_millis(-1)),
            Bson::DateTime(bson::DateTime::from_millis(0)),
            Less,
        ),
        (
            Bson::DateTime(bson::DateTime::from_millis(i64::MIN)),
            Bson::DateTime(bson::DateTime::from_millis(i64::MAX)),
            Less,
        ),
        (ts(1, 2), ts(2, 1), Less),
        (ts(1, 2), ts(1, 3), Less),
        (re("a", ""), re("a", "i"), Less),
        (re("a", "z"), re("a\0", ""), Less),
        (
            Bson::JavaScriptCode("a".into()),
            Bson::JavaScriptCode("b".into()),
            Less,
        ),
        (Bson::MinKey, Bson::Undefined, Less),
        (Bson::Undefined, Bson::Null, Less),
        (Bson::MaxKey, re("z", ""), Greater),
    ];
    for (a, b, expected) in cases {
        check(a.clone(), b.clone(), expected);
        check(b, a, expected.reverse());
    }
}

fn bin(subtype: u8, bytes: &[u8]) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::from(subtype),
        bytes: bytes.to_vec(),
    })
}

fn ts(time: u32, increment: u32) -> Bson {
    Bson::Timestamp(Timestamp { time, increment })
}

fn re(pattern: &str, options: &str) -> Bson {
    Bson::RegularExpression(Regex {
        pattern: pattern.into(),
        options: options.into(),
    })
}

#[test]
fn decimals_that_are_int64_values_encode_as_those_int64s() {
    for i in [
        0i64,
        1,
        -1,
        1 << 53,
        (1 << 53) + 1,
        i64::MAX,
        i64::MIN,
        -(1 << 60) - 7,
    ] {
        assert_eq!(encode(&dec(&i.to_string())), encode(&Bson::Int64(i)), "{i}");
    }
    assert_eq!(
        encode(&dec("12345678901234567E+2")),
        encode(&Bson::Int64(1234567890123456700))
    );
    assert_eq!(encode(&dec("1.5")), encode(&Bson::Double(1.5)));
    // Beyond int64: the nearest double.
    assert_eq!(encode(&dec("1E+19")), encode(&Bson::Double(1e19)));
}

fn string_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!['\0', '\u{1}', 'a', 'b', 'é', '\u{7f}', '\u{ff}']),
        0..4,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn number_strategy() -> impl Strategy<Value = Bson> {
    let two_53 = 1i64 << 53;
    prop_oneof![
        (-3i32..3).prop_map(Bson::Int32),
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        (-3i64..3).prop_map(move |d| Bson::Int64(two_53 + d)),
        (-3i64..3).prop_map(move |d| Bson::Int64(-two_53 + d)),
        (-3i64..3).prop_map(|d| Bson::Int64(i64::MAX - d.abs())),
        (-3i64..3).prop_map(|d| Bson::Int64(i64::MIN + d.abs())),
        any::<f64>().prop_map(Bson::Double),
        (-3i32..3).prop_map(|d| Bson::Double(f64::from(d) / 2.0)),
        prop::sample::select(vec![
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9007199254740992.0,
            9007199254740994.0,
            -9007199254740992.0,
            9.223372036854776e18,
            -9.223372036854776e18,
            0.1,
        ])
        .prop_map(Bson::Double),
        // Decimal integers within ±9e18 (where `compare` is exact against doubles) and values
        // exactly representable as doubles; see the module docs for the approximation.
        (-9_000_000_000_000_000_000i64..9_000_000_000_000_000_000)
            .prop_map(|i| dec(&i.to_string())),
        (-3i64..3).prop_map(move |d| dec(&(two_53 + d).to_string())),
        prop::sample::select(vec![
            "0",
            "-0",
            "1.00",
            "0.5",
            "-0.5",
            "1.25E+3",
            "-2.75",
            "NaN",
            "Infinity",
            "-Infinity",
            "0.1",
            "0.10",
            "1E+400",
            "-1E+400",
            "1E-400",
            "9007199254740993",
            "1E+19",
        ])
        .prop_map(dec),
    ]
}

fn leaf_strategy() -> impl Strategy<Value = Bson> {
    prop_oneof![
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
        Just(Bson::Null),
        Just(Bson::Undefined),
        number_strategy(),
        number_strategy(),
        string_strategy().prop_map(Bson::String),
        string_strategy().prop_map(Bson::Symbol),
        (0u8..3, prop::collection::vec(0u8..3, 0..3)).prop_map(|(s, b)| bin(s, &b)),
        prop::array::uniform12(0u8..2).prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
        any::<bool>().prop_map(Bson::Boolean),
        prop_oneof![any::<i64>(), -2i64..2]
            .prop_map(|m| Bson::DateTime(bson::DateTime::from_millis(m))),
        (0u32..3, 0u32..3).prop_map(|(t, i)| ts(t, i)),
        (string_strategy(), prop::sample::select(vec!["", "i", "im"])).prop_map(|(p, o)| re(&p, o)),
        string_strategy().prop_map(Bson::JavaScriptCode),
    ]
}

fn value_strategy() -> impl Strategy<Value = Bson> {
    leaf_strategy().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
            prop::collection::vec(
                (prop::sample::select(vec!["a", "b", "", "a\0"]), inner),
                0..4
            )
            .prop_map(|fields| {
                let mut d = bson::Document::new();
                for (k, v) in fields {
                    d.insert(k, v);
                }
                Bson::Document(d)
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn encoding_order_matches_compare(a in value_strategy(), b in value_strategy()) {
        let expected = compare(&a, &b);
        let (ea, eb) = (encode(&a), encode(&b));
        prop_assert_eq!(ea.cmp(&eb), expected, "{:?} vs {:?}", a, b);
        prop_assert_eq!(encode_descending(&a).cmp(&encode_descending(&b)), expected.reverse());
        // Prefix-free: unequal encodings differ within both.
        if ea != eb {
            prop_assert!(!ea.starts_with(&eb) && !eb.starts_with(&ea));
        }
        // Compound keys: concatenation keeps the order of the first field.
        let mut ca = ea.clone();
        encode_into(&Bson::MaxKey, &mut ca);
        let mut cb = eb.clone();
        encode_into(&Bson::MinKey, &mut cb);
        if expected != Ordering::Equal {
            prop_assert_eq!(ca.cmp(&cb), expected);
        }
    }

    #[test]
    fn numbers_order_matches_compare(a in number_strategy(), b in number_strategy()) {
        prop_assert_eq!(encode(&a).cmp(&encode(&b)), compare(&a, &b), "{:?} vs {:?}", a, b);
    }
}
