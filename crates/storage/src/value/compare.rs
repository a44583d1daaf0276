//! MongoDB's total order over BSON values.
//!
//! One function, [`compare`], is used by filters, sort, `$min`/`$max`, `$group` and indexes (the
//! key encoding in `keyenc` must agree with it). Values of different types compare by their
//! canonical type rank ([`type_rank`]); numbers of all four types (int32, int64, double,
//! decimal128) compare by value, NaN below every other number.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::collation::Collation;
use super::decimal::Dec;

/// MongoDB's canonical type rank: values of lower rank sort first. Types that compare as one
/// (the four numeric types; string and symbol) share a rank.
pub fn type_rank(v: &Bson) -> u8 {
    match v {
        Bson::MinKey => 1,
        Bson::Undefined => 2,
        Bson::Null => 5,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => 10,
        Bson::String(_) | Bson::Symbol(_) => 15,
        Bson::Document(_) => 20,
        Bson::Array(_) => 25,
        Bson::Binary(_) => 30,
        Bson::ObjectId(_) => 35,
        Bson::Boolean(_) => 40,
        Bson::DateTime(_) => 45,
        Bson::Timestamp(_) => 47,
        Bson::RegularExpression(_) => 50,
        Bson::DbPointer(_) => 55,
        Bson::JavaScriptCode(_) => 60,
        Bson::JavaScriptCodeWithScope(_) => 65,
        Bson::MaxKey => 127,
    }
}

/// MongoDB's name for the type of `v`, as `$type` reports it.
pub fn type_name(v: &Bson) -> &'static str {
    match v {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}

/// Compares two values in MongoDB's order.
pub fn compare(a: &Bson, b: &Bson) -> Ordering {
    let (ra, rb) = (type_rank(a), type_rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match (a, b) {
        (Bson::String(x) | Bson::Symbol(x), Bson::String(y) | Bson::Symbol(y)) => {
            x.as_bytes().cmp(y.as_bytes())
        }
        (Bson::Document(x), Bson::Document(y)) => compare_documents(x, y),
        (Bson::Array(x), Bson::Array(y)) => compare_arrays(x, y),
        (Bson::Binary(x), Bson::Binary(y)) => x
            .bytes
            .len()
            .cmp(&y.bytes.len())
            .then_with(|| u8::from(x.subtype).cmp(&u8::from(y.subtype)))
            .then_with(|| x.bytes.cmp(&y.bytes)),
        (Bson::ObjectId(x), Bson::ObjectId(y)) => x.bytes().cmp(&y.bytes()),
        (Bson::Boolean(x), Bson::Boolean(y)) => x.cmp(y),
        (Bson::DateTime(x), Bson::DateTime(y)) => x.timestamp_millis().cmp(&y.timestamp_millis()),
        (Bson::Timestamp(x), Bson::Timestamp(y)) => {
            (x.time, x.increment).cmp(&(y.time, y.increment))
        }
        (Bson::RegularExpression(x), Bson::RegularExpression(y)) => x
            .pattern
            .as_bytes()
            .cmp(y.pattern.as_bytes())
            .then_with(|| x.options.as_bytes().cmp(y.options.as_bytes())),
        (Bson::DbPointer(x), Bson::DbPointer(y)) => {
            // bson 2 keeps DbPointer's fields private; its raw bytes order the same way
            // MongoDB does closely enough (namespace length, namespace, id).
            let ex =
                bson::to_vec(&bson::doc! {"p": Bson::DbPointer(x.clone())}).unwrap_or_default();
            let ey =
                bson::to_vec(&bson::doc! {"p": Bson::DbPointer(y.clone())}).unwrap_or_default();
            ex.cmp(&ey)
        }
        (Bson::JavaScriptCode(x), Bson::JavaScriptCode(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Bson::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => x
            .code
            .as_bytes()
            .cmp(y.code.as_bytes())
            .then_with(|| compare_documents(&x.scope, &y.scope)),
        _ => match (Number::of(a), Number::of(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            // Same rank, no payload: MinKey, MaxKey, null, undefined.
            _ => Ordering::Equal,
        },
    }
}

/// Whether two values are equal in MongoDB's sense (`1`, `1.0` and `NumberLong(1)` are equal).
pub fn equal(a: &Bson, b: &Bson) -> bool {
    compare(a, b) == Ordering::Equal
}

/// Compares two values in MongoDB's order under `collation` (`None`: the simple, binary
/// collation, which is exactly [`compare`]). Strings and symbols compare with the collator,
/// also inside documents and arrays; field names and every other type compare as in
/// [`compare`].
pub fn compare_with(a: &Bson, b: &Bson, collation: Option<&Collation>) -> Ordering {
    match collation {
        None => compare(a, b),
        Some(c) => compare_collated(a, b, c),
    }
}

/// Equality under `collation` (see [`compare_with`]).
pub fn equal_with(a: &Bson, b: &Bson, collation: Option<&Collation>) -> bool {
    compare_with(a, b, collation) == Ordering::Equal
}

fn compare_collated(a: &Bson, b: &Bson, c: &Collation) -> Ordering {
    match (a, b) {
        (Bson::String(x) | Bson::Symbol(x), Bson::String(y) | Bson::Symbol(y)) => {
            c.compare_strings(x, y)
        }
        (Bson::Document(x), Bson::Document(y)) => {
            let mut ia = x.iter();
            let mut ib = y.iter();
            loop {
                match (ia.next(), ib.next()) {
                    (None, None) => return Ordering::Equal,
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some((ka, va)), Some((kb, vb))) => {
                        let ord = type_rank(va)
                            .cmp(&type_rank(vb))
                            .then_with(|| ka.as_bytes().cmp(kb.as_bytes()))
                            .then_with(|| compare_collated(va, vb, c));
                        if ord != Ordering::Equal {
                            return ord;
                        }
                    }
                }
            }
        }
        (Bson::Array(x), Bson::Array(y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                let ord = type_rank(p)
                    .cmp(&type_rank(q))
                    .then_with(|| compare_collated(p, q, c));
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => compare(a, b),
    }
}

/// Compares documents field by field: type rank, then field name, then value.
pub fn compare_documents(a: &Document, b: &Document) -> Ordering {
    let mut ia = a.iter();
    let mut ib = b.iter();
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((ka, va)), Some((kb, vb))) => {
                let ord = type_rank(va)
                    .cmp(&type_rank(vb))
                    .then_with(|| ka.as_bytes().cmp(kb.as_bytes()))
                    .then_with(|| compare(va, vb));
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// Compares arrays element by element (as documents with keys "0", "1", ...).
pub fn compare_arrays(a: &[Bson], b: &[Bson]) -> Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let ord = type_rank(x).cmp(&type_rank(y)).then_with(|| compare(x, y));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

/// A BSON number, for exact comparison across int32, int64, double and decimal128.
#[derive(Debug, Clone, Copy)]
pub enum Number {
    Int(i64),
    Double(f64),
    Decimal(Dec),
}

impl Number {
    pub fn of(v: &Bson) -> Option<Number> {
        match v {
            Bson::Int32(i) => Some(Number::Int(i64::from(*i))),
            Bson::Int64(i) => Some(Number::Int(*i)),
            Bson::Double(d) => Some(Number::Double(*d)),
            Bson::Decimal128(d) => Some(Number::Decimal(Dec::from_bson(d))),
            _ => None,
        }
    }

    pub fn is_nan(&self) -> bool {
        match self {
            Number::Int(_) => false,
            Number::Double(d) => d.is_nan(),
            Number::Decimal(d) => d.is_nan(),
        }
    }

    /// The nearest double (exact for int32 and doubles).
    pub fn to_f64(&self) -> f64 {
        match self {
            Number::Int(i) => *i as f64,
            Number::Double(d) => *d,
            Number::Decimal(d) => d.to_f64(),
        }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Number {}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Number {
    /// Total order: NaN (of any type) equals NaN and sorts below every other number.
    fn cmp(&self, other: &Number) -> Ordering {
        match (self.is_nan(), other.is_nan()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a.cmp(b),
            (Number::Double(a), Number::Double(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (Number::Int(a), Number::Double(b)) => compare_int_double(*a, *b),
            (Number::Double(a), Number::Int(b)) => compare_int_double(*b, *a).reverse(),
            (Number::Decimal(a), Number::Decimal(b)) => a.cmp(b),
            (Number::Decimal(a), Number::Int(b)) => a.cmp(&Dec::from_i64(*b)),
            (Number::Int(a), Number::Decimal(b)) => Dec::from_i64(*a).cmp(b),
            (Number::Decimal(a), Number::Double(b)) => a.cmp_f64(*b),
            (Number::Double(a), Number::Decimal(b)) => b.cmp_f64(*a).reverse(),
        }
    }
}

/// Exact comparison of an i64 with a (non-NaN) double.
pub fn compare_int_double(i: i64, d: f64) -> Ordering {
    // 2^63 as a double is exact; every i64 is below it and at or above -2^63.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if d >= TWO_63 {
        return Ordering::Less;
    }
    if d < -TWO_63 {
        return Ordering::Greater;
    }
    let t = d.trunc();
    // t is within i64's range here, so the conversion is exact.
    let ti = t as i64;
    match i.cmp(&ti) {
        Ordering::Equal => {
            let frac = d - t;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        ord => ord,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId, Decimal128};

    fn dec(s: &str) -> Bson {
        Bson::Decimal128(s.parse::<Decimal128>().expect("decimal literal"))
    }

    #[test]
    fn type_order() {
        let ordered = vec![
            Bson::MinKey,
            Bson::Null,
            Bson::Double(f64::NAN),
            Bson::Int32(-5),
            Bson::Double(1.5),
            Bson::Int64(2),
            Bson::String("".into()),
            Bson::String("a".into()),
            Bson::Document(doc! {}),
            Bson::Array(vec![]),
            Bson::Binary(bson::Binary {
                subtype: bson::spec::BinarySubtype::Generic,
                bytes: vec![],
            }),
            Bson::ObjectId(ObjectId::from_bytes([0; 12])),
            Bson::Boolean(false),
            Bson::Boolean(true),
            Bson::DateTime(bson::DateTime::from_millis(-1)),
            Bson::Timestamp(bson::Timestamp {
                time: 1,
                increment: 0,
            }),
            Bson::MaxKey,
        ];
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(compare(a, b), i.cmp(&j), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(equal(&Bson::Int32(1), &Bson::Double(1.0)));
        assert!(equal(&Bson::Int64(1), &dec("1.000")));
        assert_eq!(
            compare(&Bson::Int64(i64::MAX), &Bson::Double(9.223372036854776e18)),
            Ordering::Less
        );
        assert_eq!(
            compare(
                &Bson::Int64((1 << 53) + 1),
                &Bson::Double((1u64 << 53) as f64)
            ),
            Ordering::Greater
        );
        assert_eq!(
            compare(&Bson::Double(0.5), &Bson::Int32(0)),
            Ordering::Greater
        );
        assert_eq!(
            compare(&Bson::Double(-0.5), &Bson::Int32(0)),
            Ordering::Less
        );
        assert_eq!(compare(&dec("0.1"), &dec("0.10")), Ordering::Equal);
        assert_eq!(compare(&dec("-1E+3"), &Bson::Int32(-999)), Ordering::Less);
        assert!(equal(&dec("NaN"), &Bson::Double(f64::NAN)));
        assert_eq!(
            compare(&dec("Infinity"), &Bson::Int64(i64::MAX)),
            Ordering::Greater
        );
        assert!(equal(&Bson::Double(0.0), &Bson::Double(-0.0)));
    }

    #[test]
    fn documents_and_arrays() {
        assert_eq!(
            compare(
                &Bson::Document(doc! {"a": 1}),
                &Bson::Document(doc! {"a": 1, "b": 1})
            ),
            Ordering::Less
        );
        assert_eq!(
            compare(
                &Bson::Document(doc! {"a": 1}),
                &Bson::Document(doc! {"b": 0})
            ),
            Ordering::Less
        );
        // Type rank of the value first, before the field name.
        assert_eq!(
            compare(
                &Bson::Document(doc! {"b": 1}),
                &Bson::Document(doc! {"a": "x"})
            ),
            Ordering::Less
        );
        assert_eq!(
            compare(
                &Bson::Array(vec![1.into(), 2.into()]),
                &Bson::Array(vec![1.into(), 3.into()])
            ),
            Ordering::Less
        );
        assert_eq!(
            compare(
                &Bson::Array(vec![1.into()]),
                &Bson::Array(vec![1.into(), 0.into()])
            ),
            Ordering::Less
        );
    }
}
