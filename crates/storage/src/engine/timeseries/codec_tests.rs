use bson::{doc, oid::ObjectId, Bson, DateTime, Document};
use proptest::prelude::*;

use super::{decode, encode};

fn roundtrip(rows: &[Document]) {
    let bytes = encode(rows).expect("encode");
    let back = decode(&bytes).expect("decode");
    // Columns keep first-seen order; compare field by field.
    assert_eq!(back.len(), rows.len());
    for (a, b) in rows.iter().zip(&back) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (k, v) in a {
            assert_eq!(b.get(k), Some(v), "field {k} of {a:?}");
        }
    }
}

#[test]
fn typed_and_mixed_columns_roundtrip() {
    let rows = vec![
        doc! {"t": DateTime::from_millis(1_000), "v": 1.5, "n": 1, "l": 5_i64, "_id": ObjectId::new(), "s": "a"},
        doc! {"t": DateTime::from_millis(-3_000), "v": -0.0, "n": i32::MIN, "l": i64::MIN, "_id": ObjectId::new(), "s": 3},
        doc! {"t": DateTime::from_millis(i64::MAX), "v": f64::NAN, "n": i32::MAX, "l": i64::MAX, "_id": ObjectId::new()},
        doc! {"x": {"nested": [1, 2]}},
    ];
    let bytes = encode(&rows).unwrap();
    let back = decode(&bytes).unwrap();
    assert_eq!(back.len(), 4);
    assert!(matches!(back[2].get("v"), Some(Bson::Double(d)) if d.is_nan()));
    assert_eq!(back[1].get_f64("v").map(f64::is_sign_negative), Ok(true));
    let mut without_nan = rows.clone();
    without_nan[2].remove("v");
    let mut back_without_nan = back;
    back_without_nan[2].remove("v");
    assert_eq!(back_without_nan.len(), without_nan.len());
    roundtrip(&without_nan);
    roundtrip(&[]);
}

#[test]
fn corrupt_bodies_are_errors() {
    let good = encode(&[doc! {"t": DateTime::from_millis(5), "v": 1}]).unwrap();
    assert!(decode(&[]).is_err());
    assert!(decode(&good[..good.len() / 2]).is_err());
    let mut flipped = good.clone();
    if let Some(b) = flipped.last_mut() {
        *b ^= 0xff;
    }
    let _ = decode(&flipped);
    // A well-compressed body whose column is shorter than its row count.
    let body = doc! {"rows": 3_i64, "columns": [{"name": "v", "kind": "Int32", "present": bson::Binary{subtype: bson::spec::BinarySubtype::Generic, bytes: vec![]}, "data": bson::Binary{subtype: bson::spec::BinarySubtype::Generic, bytes: vec![2]}}]};
    let bytes = zstd::bulk::compress(&bson::to_vec(&body).unwrap(), 1).unwrap();
    assert!(decode(&bytes).is_err());
    let body = doc! {"rows": -1_i64, "columns": []};
    let bytes = zstd::bulk::compress(&bson::to_vec(&body).unwrap(), 1).unwrap();
    assert!(decode(&bytes).is_err());
}

fn value() -> impl Strategy<Value = Bson> {
    prop_oneof![
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        any::<i64>().prop_map(|n| Bson::DateTime(DateTime::from_millis(n))),
        (-1e12f64..1e12).prop_map(Bson::Double),
        any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
        "[a-z]{0,8}".prop_map(Bson::String),
        Just(Bson::Null),
        any::<bool>().prop_map(Bson::Boolean),
    ]
}

fn row() -> impl Strategy<Value = Document> {
    proptest::collection::vec(
        (prop::sample::select(vec!["a", "b", "c", "t"]), value()),
        0..4,
    )
    .prop_map(|fields| fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

proptest! {
    #[test]
    fn any_rows_roundtrip(rows in proptest::collection::vec(row(), 0..60)) {
        roundtrip(&rows);
    }

    #[test]
    fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&bytes);
    }
}
