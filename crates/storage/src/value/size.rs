//! The encoded size of BSON, computed without encoding it: reply batches stay under 16 MiB and
//! blocking aggregation stages under 100 MB by adding these up, and serializing each document
//! just to measure it doubled the cost of a large `find`.

use bson::spec::BinarySubtype;
use bson::{Bson, Document};

/// The number of bytes `bson::to_vec(doc)` produces.
pub fn document_size(doc: &Document) -> usize {
    // Length prefix, elements, trailing NUL.
    4 + doc
        .iter()
        .map(|(key, value)| element_size(key.len(), value))
        .sum::<usize>()
        + 1
}

fn array_size(items: &[Bson]) -> usize {
    4 + items
        .iter()
        .enumerate()
        .map(|(index, value)| element_size(decimal_digits(index), value))
        .sum::<usize>()
        + 1
}

/// Type byte, key and its NUL, value.
fn element_size(key_len: usize, value: &Bson) -> usize {
    1 + key_len + 1 + value_size(value)
}

/// A string value: length prefix, bytes, NUL.
fn string_size(s: &str) -> usize {
    4 + s.len() + 1
}

/// The number of bytes a value takes as an element body (without type byte and key).
pub fn value_size(value: &Bson) -> usize {
    match value {
        Bson::Double(_) | Bson::DateTime(_) | Bson::Timestamp(_) | Bson::Int64(_) => 8,
        Bson::String(s) | Bson::JavaScriptCode(s) | Bson::Symbol(s) => string_size(s),
        Bson::Document(d) => document_size(d),
        Bson::Array(items) => array_size(items),
        Bson::Binary(binary) => {
            let old = binary.subtype == BinarySubtype::BinaryOld;
            // Length, subtype, bytes; the old binary subtype repeats the length inside.
            4 + 1 + if old { 4 } else { 0 } + binary.bytes.len()
        }
        Bson::Undefined | Bson::Null | Bson::MinKey | Bson::MaxKey => 0,
        Bson::ObjectId(_) => 12,
        Bson::Boolean(_) => 1,
        Bson::RegularExpression(regex) => regex.pattern.len() + 1 + regex.options.len() + 1,
        Bson::DbPointer(pointer) => {
            // Not constructible outside the bson crate with its fields visible: measure it.
            bson::to_vec(&bson::doc! {"": Bson::DbPointer(pointer.clone())})
                .map_or(0, |bytes| bytes.len().saturating_sub(4 + 1 + 1 + 1))
        }
        Bson::JavaScriptCodeWithScope(code) => {
            4 + string_size(&code.code) + document_size(&code.scope)
        }
        Bson::Int32(_) => 4,
        Bson::Decimal128(_) => 16,
    }
}

/// Digits of an array index written as a key.
fn decimal_digits(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

#[cfg(test)]
mod tests {
    use bson::oid::ObjectId;
    use bson::{doc, Binary, Regex, Timestamp};
    use proptest::prelude::*;

    use super::*;

    fn check(doc: Document) {
        let encoded = bson::to_vec(&doc).expect("encodes");
        assert_eq!(document_size(&doc), encoded.len(), "{doc}");
    }

    #[test]
    fn every_type_is_measured_as_encoded() {
        check(doc! {});
        check(doc! {
            "double": 1.5, "string": "héllo", "doc": {"a": 1}, "array": (0..12).collect::<Vec<i32>>(),
            "binary": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            "old": Binary { subtype: BinarySubtype::BinaryOld, bytes: vec![1, 2, 3] },
            "undefined": Bson::Undefined, "oid": ObjectId::new(), "bool": true,
            "date": bson::DateTime::now(), "null": Bson::Null,
            "regex": Regex { pattern: "a.*b".into(), options: "im".into() },
            "code": Bson::JavaScriptCode("x = 1".into()),
            "symbol": Bson::Symbol("s".into()),
            "scoped": Bson::JavaScriptCodeWithScope(bson::JavaScriptCodeWithScope {
                code: "f()".into(), scope: doc! {"x": 1},
            }),
            "int": 1, "ts": Timestamp { time: 1, increment: 2 }, "long": 1_i64,
            "decimal": Bson::Decimal128(bson::Decimal128::from_bytes([0; 16])),
            "min": Bson::MinKey, "max": Bson::MaxKey,
            "big array": (0..1_005).map(Bson::Int32).collect::<Vec<_>>(),
        });
    }

    #[test]
    fn a_db_pointer_is_measured_as_encoded() {
        // {p: DBPointer("ns", ObjectId)}: only a parser makes one.
        let mut raw = vec![0, 0, 0, 0, 0x0C, b'p', 0, 3, 0, 0, 0, b'n', b's', 0];
        raw.extend([7; 12]);
        raw.push(0);
        let len = i32::try_from(raw.len()).expect("small").to_le_bytes();
        raw[..4].copy_from_slice(&len);
        let doc = Document::from_reader(raw.as_slice()).expect("parses");
        check(doc);
    }

    fn value() -> impl Strategy<Value = Bson> {
        let leaf = prop_oneof![
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            any::<f64>().prop_map(Bson::Double),
            ".{0,12}".prop_map(Bson::String),
            any::<bool>().prop_map(Bson::Boolean),
            Just(Bson::Null),
            prop::collection::vec(any::<u8>(), 0..20).prop_map(|bytes| Bson::Binary(Binary {
                subtype: BinarySubtype::Generic,
                bytes
            })),
        ];
        leaf.prop_recursive(4, 64, 12, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..15).prop_map(Bson::Array),
                prop::collection::vec(("[a-zé]{0,6}", inner), 0..6)
                    .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn size_matches_the_encoding(fields in prop::collection::vec(("[a-z_.é]{0,8}", value()), 0..8)) {
            let doc: Document = fields.into_iter().collect();
            let encoded = bson::to_vec(&doc).expect("encodes");
            prop_assert_eq!(document_size(&doc), encoded.len());
        }
    }
}
