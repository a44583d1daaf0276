//! Order-preserving encoding of BSON values into bytes: for any values `a` and `b`,
//! `encode(a).cmp(&encode(b)) == compare(a, b)`, and equal values encode to equal bytes
//! (so `1`, `1.0` and `NumberLong(1)` share one key).

use bson::Bson;

/// Appends the encoding of `v` to `out`.
pub fn encode_into(v: &Bson, out: &mut Vec<u8>) {
    // PLACEHOLDER until the real encoding lands: unique per value but not order-preserving.
    let bytes = bson::to_vec(&bson::doc! {"": v.clone()}).unwrap_or_default();
    out.extend_from_slice(&bytes);
}

/// The encoding of `v`.
pub fn encode(v: &Bson) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(v, &mut out);
    out
}
