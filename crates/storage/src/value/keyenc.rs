//! Order-preserving encoding of BSON values into bytes: for any values `a` and `b`,
//! `encode(a).cmp(&encode(b)) == compare(a, b)`, and equal values encode to equal bytes
//! (so `1`, `1.0` and `NumberLong(1)` share one key).
//!
//! # Layout
//!
//! Every encoding starts with the value's canonical type rank ([`type_rank`], 1 to 127), so
//! values of different types order by type. A per-type body follows. Every body is
//! self-delimiting, which makes the whole encoding *prefix-free*: no value's encoding is a proper
//! prefix of another's. That is what lets compound index keys be plain concatenations, and what
//! makes descending fields a plain bitwise inversion (see [`encode_descending_into`]).
//!
//! - MinKey, undefined, null, MaxKey: no body.
//! - Numbers (int32, int64, double, decimal128 share one body so equal values share one key):
//!   8 bytes of the order-preserving bits of the value rounded toward negative infinity to a
//!   double (NaN of any type is all zeros, below negative infinity), then 2 bytes (big-endian)
//!   of the exact remainder `value - that double`, which is only non-zero for int64 values a
//!   double cannot hold (at most 1023 for magnitudes below 2^63), then one byte (1) that only
//!   decimals change (see below).
//! - Strings and symbols: the UTF-8 bytes with each 0x00 written as 0x00 0xFF, then the
//!   terminator 0x00 0x00.
//! - Documents: per element the value's type rank, the field name (as a string), the value's
//!   body; then 0x00, below every type rank, so a document that is a prefix of another sorts
//!   first. Arrays: per element type rank and body, then 0x00.
//! - BinData: length (u32 big-endian), subtype, bytes. ObjectId: its 12 bytes. Booleans: one
//!   byte. Dates: milliseconds as i64 with the sign bit flipped. Timestamps: time then
//!   increment, u32 big-endian each. Regexes: pattern then options, as strings. JavaScript:
//!   code as a string (then the scope document's body for code with scope). DBPointer: its BSON
//!   bytes as a string (the same order `compare` uses).
//!
//! # Approximation: decimal128
//!
//! A decimal128 holding an integer within int64's range is encoded exactly like that int64.
//! Any other decimal128 is encoded as its nearest double (a finite decimal beyond double's range
//! just beyond the largest double, before infinity); when that
//! double is an integer below 9e18 the last byte says whether the decimal is just below (0) or
//! just above (2) it, because `compare` is exact against integers there. So two
//! distinct decimals closer than a double's precision (`0.1` and `0.1000000000000000000001`)
//! share one key, and a decimal beyond double's range shares the key of infinity. `compare`
//! itself orders decimals against non-integral doubles through the nearest double, so these
//! keys agree with it for every mix of types except two such decimals against each other.
//! Because of this, an index scan whose bound is or may meet such a decimal must treat
//! exclusive bounds as inclusive and re-check the filter on each document (the engine re-checks
//! filters anyway).

use bson::{Bson, Document};

use super::collation::Collation;
use super::compare::type_rank;
use super::decimal::Dec;

/// Ends a document or array body; below every type rank (ranks start at 1).
const END_OF_CONTAINER: u8 = 0x00;

/// Appends the encoding of `v` to `out`.
pub fn encode_into(v: &Bson, out: &mut Vec<u8>) {
    out.push(type_rank(v));
    encode_body(v, out);
}

/// The encoding of `v`.
pub fn encode(v: &Bson) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(v, &mut out);
    out
}

/// Appends the encoding of `v` for a descending index field: the ascending encoding with every
/// byte inverted. Because encodings are prefix-free (no encoding is a proper prefix of
/// another), two different values differ at some byte within both encodings, and inverting
/// reverses exactly that byte's order; so `encode_descending(a).cmp(&encode_descending(b)) ==
/// compare(a, b).reverse()`, also inside compound keys built by concatenation.
pub fn encode_descending_into(v: &Bson, out: &mut Vec<u8>) {
    let start = out.len();
    encode_into(v, out);
    if let Some(tail) = out.get_mut(start..) {
        for byte in tail {
            *byte = !*byte;
        }
    }
}

/// The descending encoding of `v` (see [`encode_descending_into`]).
pub fn encode_descending(v: &Bson) -> Vec<u8> {
    let mut out = Vec::new();
    encode_descending_into(v, &mut out);
    out
}

/// Appends the encoding of `v` under `collation` (`None`: exactly [`encode_into`]). Strings
/// and symbols (also inside documents and arrays) encode as their ICU sort key, written as a
/// string body: sort keys hold no 0x00, so the body is the key then 0x00 0x00, which keeps the
/// encoding order-preserving (`encode_with(a) < encode_with(b)` iff `compare_with(a, b)` is
/// Less, equal under the collation iff equal bytes) and prefix-free.
pub fn encode_with_into(v: &Bson, collation: Option<&Collation>, out: &mut Vec<u8>) {
    match collation {
        None => encode_into(v, out),
        Some(c) => {
            out.push(type_rank(v));
            encode_body_collated(v, c, out);
        }
    }
}

/// The encoding of `v` under `collation` (see [`encode_with_into`]).
pub fn encode_with(v: &Bson, collation: Option<&Collation>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_with_into(v, collation, &mut out);
    out
}

/// The descending encoding of `v` under `collation`: every byte of [`encode_with_into`]
/// inverted (see [`encode_descending_into`]).
pub fn encode_descending_with_into(v: &Bson, collation: Option<&Collation>, out: &mut Vec<u8>) {
    let start = out.len();
    encode_with_into(v, collation, out);
    if let Some(tail) = out.get_mut(start..) {
        for byte in tail {
            *byte = !*byte;
        }
    }
}

fn encode_body_collated(v: &Bson, c: &Collation, out: &mut Vec<u8>) {
    match v {
        Bson::String(s) | Bson::Symbol(s) => {
            let mut key = Vec::new();
            c.sort_key_into(s, &mut key);
            encode_string(&key, out);
        }
        Bson::Document(d) => {
            for (name, value) in d {
                out.push(type_rank(value));
                encode_string(name.as_bytes(), out);
                encode_body_collated(value, c, out);
            }
            out.push(END_OF_CONTAINER);
        }
        Bson::Array(items) => {
            for item in items {
                out.push(type_rank(item));
                encode_body_collated(item, c, out);
            }
            out.push(END_OF_CONTAINER);
        }
        other => encode_body(other, out),
    }
}

fn encode_body(v: &Bson, out: &mut Vec<u8>) {
    match v {
        Bson::MinKey | Bson::MaxKey | Bson::Null | Bson::Undefined => {}
        Bson::Int32(i) => encode_int(i64::from(*i), out),
        Bson::Int64(i) => encode_int(*i, out),
        Bson::Double(d) => encode_double(*d, 0, EXACT, out),
        Bson::Decimal128(d) => encode_decimal(&Dec::from_bson(d), out),
        Bson::String(s) | Bson::Symbol(s) => encode_string(s.as_bytes(), out),
        Bson::Document(d) => encode_document_body(d, out),
        Bson::Array(items) => {
            for item in items {
                encode_into(item, out);
            }
            out.push(END_OF_CONTAINER);
        }
        Bson::Binary(b) => {
            // Documents are at most 16 MiB, so the length always fits; saturate rather than
            // panic on anything stranger.
            let length = u32::try_from(b.bytes.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&length.to_be_bytes());
            out.push(u8::from(b.subtype));
            out.extend_from_slice(&b.bytes);
        }
        Bson::ObjectId(id) => out.extend_from_slice(&id.bytes()),
        Bson::Boolean(b) => out.push(u8::from(*b)),
        Bson::DateTime(d) => {
            let flipped = d.timestamp_millis().to_be_bytes();
            out.push(flipped[0] ^ 0x80);
            out.extend_from_slice(&flipped[1..]);
        }
        Bson::Timestamp(t) => {
            out.extend_from_slice(&t.time.to_be_bytes());
            out.extend_from_slice(&t.increment.to_be_bytes());
        }
        Bson::RegularExpression(r) => {
            encode_string(r.pattern.as_bytes(), out);
            encode_string(r.options.as_bytes(), out);
        }
        Bson::DbPointer(p) => {
            // Same bytes `compare` orders DBPointers by.
            let bytes =
                bson::to_vec(&bson::doc! {"p": Bson::DbPointer(p.clone())}).unwrap_or_default();
            encode_string(&bytes, out);
        }
        Bson::JavaScriptCode(code) => encode_string(code.as_bytes(), out),
        Bson::JavaScriptCodeWithScope(c) => {
            encode_string(c.code.as_bytes(), out);
            encode_document_body(&c.scope, out);
        }
    }
}

fn encode_document_body(d: &Document, out: &mut Vec<u8>) {
    for (name, value) in d {
        out.push(type_rank(value));
        encode_string(name.as_bytes(), out);
        encode_body(value, out);
    }
    out.push(END_OF_CONTAINER);
}

/// Bytes with 0x00 escaped as 0x00 0xFF, then 0x00 0x00: order-preserving and self-delimiting
/// (a string that is a prefix of another ends with 0x00 0x00, below 0x00 0xFF and every other
/// byte).
fn encode_string(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.push(0x00);
    out.push(0x00);
}

/// The order-preserving bits of a non-NaN double (NaN maps to 0, below negative infinity,
/// whose bits map to 0x000F_FFFF_FFFF_FFFF).
fn ordered_double_bits(d: f64) -> u64 {
    if d.is_nan() {
        return 0;
    }
    // -0.0 equals 0.0.
    let d = if d == 0.0 { 0.0 } else { d };
    let bits = d.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Where a number lies relative to the double and remainder before it: exactly on them, or
/// (only for decimals, see the module docs) just below or just above them.
const JUST_BELOW: u8 = 0;
const EXACT: u8 = 1;
const JUST_ABOVE: u8 = 2;

fn encode_double(d: f64, remainder: u16, position: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(&ordered_double_bits(d).to_be_bytes());
    out.extend_from_slice(&remainder.to_be_bytes());
    out.push(position);
}

/// The largest double not above `d` that is below `d` (`d` is a finite, non-zero integer
/// here).
fn next_double_down(d: f64) -> f64 {
    let bits = d.to_bits();
    if d > 0.0 {
        f64::from_bits(bits - 1)
    } else {
        f64::from_bits(bits + 1)
    }
}

/// An int64 as the double below or at it, plus the exact remainder.
fn encode_int(i: i64, out: &mut Vec<u8>) {
    let (floor, remainder) = int_floor_double(i);
    encode_double(floor, remainder, EXACT, out);
}

/// `i` rounded toward negative infinity to a double, and `i` minus that double.
fn int_floor_double(i: i64) -> (f64, u16) {
    // Round to nearest; the result is an integer of magnitude at most 2^63, so converting it
    // to i128 is exact.
    let mut floor = i as f64;
    if floor as i128 > i128::from(i) {
        floor = next_double_down(floor);
    }
    let difference = i128::from(i) - floor as i128;
    // Doubles near 2^63 are 1024 apart, so the remainder is below 1024.
    let remainder = u16::try_from(difference).unwrap_or(u16::MAX);
    (floor, remainder)
}

fn encode_decimal(d: &Dec, out: &mut Vec<u8>) {
    if let Some(i) = decimal_as_exact_int64(d) {
        encode_int(i, out);
        return;
    }
    let nearest = d.to_f64();
    let is_infinite = d.cmp_f64(nearest) == std::cmp::Ordering::Equal;
    if nearest.is_infinite() && !is_infinite {
        // A finite decimal beyond double's range sorts between the largest double and
        // infinity.
        if nearest > 0.0 {
            encode_double(f64::MAX, 0, JUST_ABOVE, out);
        } else {
            encode_double(f64::MIN, 0, JUST_BELOW, out);
        }
        return;
    }
    // `compare` orders a decimal against a non-integral double through the decimal's nearest
    // double, but exactly against integers and integral doubles below 9e18. A non-integer
    // decimal whose nearest double is an integer (`1E-400` next to 0, `2.9999999999999999999`
    // next to 3) therefore sorts just below or just above that integer, never equal to it.
    let position = if nearest.is_finite() && nearest.fract() == 0.0 && nearest.abs() < 9.0e18 {
        if d.cmp_f64(nearest) == std::cmp::Ordering::Less {
            JUST_BELOW
        } else {
            JUST_ABOVE
        }
    } else {
        EXACT
    };
    encode_double(nearest, 0, position, out);
}

/// The int64 equal to `d`, if `d` is an integer within int64's range.
fn decimal_as_exact_int64(d: &Dec) -> Option<i64> {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let nearest = d.to_f64();
    if !nearest.is_finite() || nearest.abs() > TWO_63 {
        return None;
    }
    // Below 2^63 neighbouring doubles are at most 1024 apart, so an integer equal to `d` lies
    // within 1024 of its nearest double. Binary search that window for the largest integer not
    // above `d`. (The float-to-int conversion saturates; `nearest` is within range anyway.)
    let centre = nearest as i64;
    let mut low = centre.saturating_sub(1024);
    let mut high = centre.saturating_add(1024);
    if Dec::from_i64(low) > *d || Dec::from_i64(high) < *d {
        return None;
    }
    // Invariant: from_i64(low) <= d <= from_i64(high).
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if Dec::from_i64(middle) <= *d {
            low = middle;
        } else {
            high = middle;
        }
    }
    if Dec::from_i64(low) == *d {
        Some(low)
    } else if Dec::from_i64(high) == *d {
        Some(high)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
