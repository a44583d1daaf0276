//! MongoDB's hash of a BSON value (`BSONElementHasher::hash64` with seed 0), the key of hashed
//! indexes and what `convertShardKeyToHashed` shows.
//!
//! The MD5 of: the seed (int32, little-endian), then the value's canonical type (int32, the
//! number that ranks types in BSON order), then its bytes. Numbers of any type are squashed
//! to an int64 first (truncated toward zero, NaN as 0, saturating), so `42`, `42.9` and
//! `NumberLong(42)` hash alike; strings and symbols hash alike. Embedded documents and arrays
//! hash each element (canonical type, field name with its NUL, value) and then an end marker
//! (canonical type 0). The hash is the digest's first eight bytes, little-endian.

use bson::spec::ElementType;
use bson::{Bson, Document};
use md5::{Digest, Md5};

use super::decimal::Dec;

/// The seed mongod uses for hashed indexes (`BSONElementHasher::DEFAULT_HASH_SEED`).
const SEED: i32 = 0;

/// MongoDB's 64-bit hash of `value`.
pub fn hash64(value: &Bson) -> i64 {
    let mut md5 = Md5::new();
    md5.update(SEED.to_le_bytes());
    hash_value(&mut md5, None, value);
    let digest = md5.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_le_bytes(first)
}

/// Adds one value (as an element named `name` inside a document or array, or the top-level
/// value when `name` is `None`).
fn hash_value(md5: &mut Md5, name: Option<&str>, value: &Bson) {
    md5.update(canonical_type(value).to_le_bytes());
    if let Some(name) = name {
        md5.update(name.as_bytes());
        md5.update([0]);
    }
    match value {
        Bson::Document(doc) => hash_elements(md5, doc.iter().map(|(k, v)| (k.as_str(), v))),
        Bson::Array(items) => {
            let names: Vec<String> = (0..items.len()).map(|i| i.to_string()).collect();
            hash_elements(md5, names.iter().map(String::as_str).zip(items.iter()));
        }
        Bson::JavaScriptCodeWithScope(code) => {
            md5.update(code.code.as_bytes());
            md5.update([0]);
            hash_elements(md5, code.scope.iter().map(|(k, v)| (k.as_str(), v)));
        }
        _ => match number_for_hash(value) {
            Some(n) => md5.update(n.to_le_bytes()),
            None => md5.update(value_bytes(value)),
        },
    }
}

/// The elements of a document or array, then the end marker: an element of canonical type 0
/// with an empty name that adds no bytes (mongod's EOO element has a field name size of 0).
fn hash_elements<'a>(md5: &mut Md5, elements: impl Iterator<Item = (&'a str, &'a Bson)>) {
    for (name, value) in elements {
        hash_value(md5, Some(name), value);
    }
    md5.update(0i32.to_le_bytes());
}

/// mongod's `safeNumberLongForHash`: numbers as int64 (doubles truncated toward zero, NaN as
/// 0, out of range saturating, except that exactly 2^63 gives `i64::MIN` as old versions
/// did; decimals rounded ties-to-even). `None` for anything that is not a number.
fn number_for_hash(value: &Bson) -> Option<i64> {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808f64;
    match value {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        // `as` from f64 truncates toward zero, saturates and maps NaN to 0: what mongod does.
        Bson::Double(d) if *d == TWO_POW_63 => Some(i64::MIN),
        Bson::Double(d) => Some(*d as i64),
        Bson::Decimal128(d) => Some(Dec::from_bson(d).to_i64_saturating()),
        _ => None,
    }
}

/// The value's bytes as BSON encodes them inside an element (after the type and name).
fn value_bytes(value: &Bson) -> Vec<u8> {
    let mut holder = Document::new();
    holder.insert("", value.clone());
    let mut bytes = Vec::new();
    if holder.to_writer(&mut bytes).is_err() {
        // Only documents and arrays can fail to encode (keys with NUL); they are hashed
        // element by element and never come here.
        return Vec::new();
    }
    // int32 length, type byte, the empty name's NUL ... value ..., the document's final NUL.
    bytes
        .get(6..bytes.len().saturating_sub(1))
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// The number mongod ranks a type by (`canonicalizeBSONType`): types that compare as equals
/// share it (all numbers; strings and symbols).
fn canonical_type(value: &Bson) -> i32 {
    match value.element_type() {
        ElementType::MinKey => -1,
        ElementType::Undefined => 0,
        ElementType::Null => 5,
        ElementType::Double | ElementType::Int32 | ElementType::Int64 | ElementType::Decimal128 => {
            10
        }
        ElementType::String | ElementType::Symbol => 15,
        ElementType::EmbeddedDocument => 20,
        ElementType::Array => 25,
        ElementType::Binary => 30,
        ElementType::ObjectId => 35,
        ElementType::Boolean => 40,
        ElementType::DateTime => 45,
        ElementType::Timestamp => 47,
        ElementType::RegularExpression => 50,
        ElementType::DbPointer => 55,
        ElementType::JavaScriptCode => 60,
        ElementType::JavaScriptCodeWithScope => 65,
        ElementType::MaxKey => 127,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::oid::ObjectId;
    use bson::spec::BinarySubtype;
    use bson::{doc, Binary, DateTime, Decimal128, JavaScriptCodeWithScope, Regex};
    use proptest::prelude::*;

    /// MongoDB's own test vectors (src/mongo/db/hasher_test.cpp, "determined experimentally",
    /// kept by mongod across versions because hashed shard keys depend on them).
    #[test]
    fn matches_mongod_test_vectors() {
        let binary = |subtype, bytes: &[u8]| {
            Bson::Binary(Binary {
                subtype,
                bytes: bytes.to_vec(),
            })
        };
        let oid = |hex: &str| Bson::ObjectId(ObjectId::parse_str(hex).expect("hex"));
        let cases: Vec<(Bson, i64)> = vec![
            (Bson::Int32(42), -944302157085130861),
            (Bson::Double(42.123), -944302157085130861),
            (Bson::Int64(42), -944302157085130861),
            (Bson::Int32(0), 4854801880128277513),
            (Bson::Double(0.456), 4854801880128277513),
            (Bson::Double(f64::NAN), 4854801880128277513),
            (Bson::Int32(1), 5902408780260971510),
            (Bson::Double(1.987), 5902408780260971510),
            (Bson::Int32(-1), 1140205862565771219),
            (Bson::Double(-1.789), 1140205862565771219),
            (Bson::Int32(i32::MIN), 6165898260261354870),
            (Bson::Double(f64::from(i32::MIN)), 6165898260261354870),
            (Bson::Int32(i32::MAX), 1143184177162245883),
            (Bson::Int64(i64::from(i32::MAX)), 1143184177162245883),
            (Bson::Double(f64::MAX), 921523596458303250),
            (Bson::Int64(i64::MAX), 921523596458303250),
            (Bson::Double(-f64::MAX), 4532067210535695462),
            (Bson::Int64(i64::MIN), 4532067210535695462),
            (Bson::MinKey, 7961148599568647290),
            (Bson::MaxKey, 5504842513779440750),
            (Bson::Undefined, 40158834000849533),
            (Bson::Null, 2338878944348059895),
            (Bson::String("abc".into()), 8478485326885698097),
            (Bson::Symbol("abc".into()), 8478485326885698097),
            (Bson::String(String::new()), 2049396243249673340),
            (
                Bson::Document(doc! {"a": "abc", "b": 123i64}),
                4771603801758380216,
            ),
            (Bson::Document(doc! {}), 7980500913326740417),
            (
                Bson::Array(vec!["bar".into(), "baz".into(), "qux".into()]),
                -2938911267422831539,
            ),
            (Bson::Array(vec![]), 8849948234993459283),
            (
                binary(BinarySubtype::Generic, &[0, 1, 2, 3, 4, 6]),
                7252465090394235301,
            ),
            (
                binary(BinarySubtype::UserDefined(128), &[0, 1, 2, 3, 4, 6]),
                5736670452907618262,
            ),
            (
                binary(
                    BinarySubtype::Uuid,
                    &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
                ),
                6084661258071355978,
            ),
            (oid("010203040506070809101112"), -5588663249627035708),
            (oid("000000000000000000000000"), -4293118519463489418),
            (Bson::Boolean(true), 6405873908747105701),
            (Bson::Boolean(false), 6289544573401934092),
            (
                Bson::DateTime(DateTime::from_millis(0x5566778811223344)),
                4476222765095560467,
            ),
            (
                Bson::DateTime(DateTime::from_millis(0)),
                -1178696894582842035,
            ),
            (
                Bson::RegularExpression(Regex {
                    pattern: "mongodb".into(),
                    options: String::new(),
                }),
                -7275792090268217043,
            ),
            (
                Bson::RegularExpression(Regex {
                    pattern: ".*".into(),
                    options: "i".into(),
                }),
                7095855029187981886,
            ),
            (
                Bson::JavaScriptCode("func f() { return 1; }".into()),
                6861638109178014270,
            ),
            (
                Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
                    code: "func f() { return 1; }".into(),
                    scope: doc! {"c": true},
                }),
                501342939894575968,
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(hash64(&value), expected, "{value:?}");
        }
    }

    #[test]
    fn decimals_hash_as_their_rounded_integer() {
        let decimal = |s: &str| Bson::Decimal128(s.parse::<Decimal128>().expect("decimal"));
        assert_eq!(hash64(&decimal("42")), hash64(&Bson::Int32(42)));
        assert_eq!(hash64(&decimal("42.0")), hash64(&Bson::Int32(42)));
        assert_eq!(hash64(&decimal("2.5")), hash64(&Bson::Int32(2)));
        assert_eq!(hash64(&decimal("3.5")), hash64(&Bson::Int32(4)));
        // Exactly 2^63 as a double hashes as i64::MIN, as older mongod versions did.
        let two_pow_63 = 2f64.powi(63);
        assert_eq!(
            hash64(&Bson::Double(two_pow_63)),
            hash64(&Bson::Int64(i64::MIN))
        );
    }

    proptest! {
        /// Numbers that compare equal hash alike when they are integers (what lets a hashed
        /// index answer an equality on any numeric type).
        #[test]
        fn equal_integers_hash_alike_across_types(n in -(1i64 << 53)..(1i64 << 53)) {
            let long = hash64(&Bson::Int64(n));
            prop_assert_eq!(long, hash64(&Bson::Double(n as f64)));
            let decimal = Bson::Decimal128(n.to_string().parse::<Decimal128>().expect("decimal"));
            prop_assert_eq!(long, hash64(&decimal));
            if let Ok(small) = i32::try_from(n) {
                prop_assert_eq!(long, hash64(&Bson::Int32(small)));
            }
        }

        /// A field name is part of an embedded document's hash; strings and symbols agree.
        #[test]
        fn documents_hash_their_names_and_strings_their_text(name in "[a-z]{1,8}", text in ".{0,20}") {
            let one = hash64(&Bson::Document(doc! {name.clone(): text.clone()}));
            let renamed = hash64(&Bson::Document(doc! {format!("{name}x"): text.clone()}));
            prop_assert_ne!(one, renamed);
            prop_assert_eq!(
                hash64(&Bson::String(text.clone())),
                hash64(&Bson::Symbol(text))
            );
        }
    }
}
