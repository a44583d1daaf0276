//! The compressed body of a bucket: its measurements stored column by column (one column per
//! top-level field, in first-seen order), each column encoded for its type, the whole
//! compressed with zstd.
//!
//! Column encodings, chosen per column from the values it holds:
//! - dates, int32, int64: the difference from the previous value, zigzag LEB128 varints
//!   (readings taken at a steady rate give one repeated small number);
//! - doubles: each value's bits XOR the previous value's, then transposed into 8 byte planes
//!   (slowly changing readings give long runs of zero bytes);
//! - ObjectIds: transposed into 12 byte planes (timestamps and the per-process random part
//!   repeat);
//! - anything else (strings, documents, mixed types): the values as one BSON array.
//!
//! A field missing from some measurements has a presence bitmap. Decoding never panics and
//! never allocates beyond [`MAX_BODY_BYTES`]: sizes read from disk are checked against the
//! decoded row count before use.

use bson::spec::BinarySubtype;
use bson::{oid::ObjectId, Binary, Bson, DateTime, Document};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest decompressed body accepted (a bucket holds at most 16 MB of measurements).
pub(crate) const MAX_BODY_BYTES: usize = 17 * 1024 * 1024;

/// Most rows a body may declare (buckets close at 1,000; this bounds corrupt data).
const MAX_ROWS: usize = 100_000;

/// zstd's level for bucket bodies: fast, and most of the gain comes from the column layout.
const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    Date,
    Int32,
    Int64,
    Double,
    ObjectId,
    Bson,
}

#[derive(Debug, Serialize, Deserialize)]
struct Column {
    name: String,
    kind: Kind,
    /// One bit per row (row `i` is bit `i % 8` of byte `i / 8`); empty when every row has the
    /// field.
    present: Binary,
    data: Binary,
}

#[derive(Debug, Serialize, Deserialize)]
struct Body {
    rows: i64,
    columns: Vec<Column>,
}

fn binary(bytes: Vec<u8>) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    }
}

fn corrupt(what: &str) -> Error {
    Error::Corrupt(format!("time-series bucket body: {what}"))
}

/// Encodes measurements (documents without the meta field) into a compressed body.
pub(crate) fn encode(rows: &[Document]) -> Result<Vec<u8>> {
    let mut names: Vec<&str> = Vec::new();
    for row in rows {
        for key in row.keys() {
            if !names.contains(&key.as_str()) {
                names.push(key);
            }
        }
    }
    let mut columns = Vec::with_capacity(names.len());
    for name in names {
        let mut present = vec![0u8; rows.len().div_ceil(8)];
        let mut values = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            if let Some(v) = row.get(name) {
                if let Some(byte) = present.get_mut(i / 8) {
                    *byte |= 1 << (i % 8);
                }
                values.push(v);
            }
        }
        if values.len() == rows.len() {
            present.clear();
        }
        let (kind, data) = encode_values(&values)?;
        columns.push(Column {
            name: name.to_owned(),
            kind,
            present: binary(present),
            data: binary(data),
        });
    }
    let body = Body {
        rows: i64::try_from(rows.len()).map_err(|_| corrupt("too many rows"))?,
        columns,
    };
    let bytes = bson::to_vec(&body)?;
    zstd::bulk::compress(&bytes, ZSTD_LEVEL)
        .map_err(|e| Error::Corrupt(format!("compressing a time-series bucket: {e}")))
}

/// Decodes a compressed body back into its measurements, in their stored order.
pub(crate) fn decode(compressed: &[u8]) -> Result<Vec<Document>> {
    let bytes = zstd::bulk::decompress(compressed, MAX_BODY_BYTES)
        .map_err(|e| corrupt(&format!("decompression failed: {e}")))?;
    let body: Body = bson::from_slice(&bytes).map_err(|e| corrupt(&e.to_string()))?;
    let rows = usize::try_from(body.rows).map_err(|_| corrupt("negative row count"))?;
    if rows > MAX_ROWS {
        return Err(corrupt("row count over the limit"));
    }
    let mut out = vec![Document::new(); rows];
    for column in body.columns {
        let positions: Vec<usize> = if column.present.bytes.is_empty() {
            (0..rows).collect()
        } else {
            if column.present.bytes.len() != rows.div_ceil(8) {
                return Err(corrupt("presence bitmap of the wrong length"));
            }
            (0..rows)
                .filter(|i| {
                    column
                        .present
                        .bytes
                        .get(i / 8)
                        .is_some_and(|b| b & (1 << (i % 8)) != 0)
                })
                .collect()
        };
        let values = decode_values(column.kind, &column.data.bytes, positions.len())?;
        for (position, value) in positions.into_iter().zip(values) {
            if let Some(row) = out.get_mut(position) {
                row.insert(column.name.clone(), value);
            }
        }
    }
    Ok(out)
}

fn kind_of(values: &[&Bson]) -> Kind {
    let first = match values.first() {
        Some(v) => *v,
        None => return Kind::Bson,
    };
    let kind = match first {
        Bson::DateTime(_) => Kind::Date,
        Bson::Int32(_) => Kind::Int32,
        Bson::Int64(_) => Kind::Int64,
        Bson::Double(_) => Kind::Double,
        Bson::ObjectId(_) => Kind::ObjectId,
        _ => return Kind::Bson,
    };
    let same = values.iter().all(|v| {
        matches!(
            (kind, v),
            (Kind::Date, Bson::DateTime(_))
                | (Kind::Int32, Bson::Int32(_))
                | (Kind::Int64, Bson::Int64(_))
                | (Kind::Double, Bson::Double(_))
                | (Kind::ObjectId, Bson::ObjectId(_))
        )
    });
    if same {
        kind
    } else {
        Kind::Bson
    }
}

fn encode_values(values: &[&Bson]) -> Result<(Kind, Vec<u8>)> {
    let kind = kind_of(values);
    let mut out = Vec::new();
    match kind {
        Kind::Date | Kind::Int32 | Kind::Int64 => {
            let mut previous = 0i64;
            for v in values {
                let n = match v {
                    Bson::DateTime(d) => d.timestamp_millis(),
                    Bson::Int32(i) => i64::from(*i),
                    Bson::Int64(i) => *i,
                    _ => return Err(corrupt("integer column holds another type")),
                };
                write_varint(&mut out, zigzag(n.wrapping_sub(previous)));
                previous = n;
            }
        }
        Kind::Double => {
            let mut previous = 0u64;
            let words: Vec<u64> = values
                .iter()
                .map(|v| {
                    let bits = match v {
                        Bson::Double(d) => d.to_bits(),
                        _ => 0,
                    };
                    let xored = bits ^ previous;
                    previous = bits;
                    xored
                })
                .collect();
            let bytes: Vec<[u8; 8]> = words.iter().map(|w| w.to_be_bytes()).collect();
            transpose(&bytes, &mut out);
        }
        Kind::ObjectId => {
            let bytes: Vec<[u8; 12]> = values
                .iter()
                .map(|v| match v {
                    Bson::ObjectId(id) => id.bytes(),
                    _ => [0; 12],
                })
                .collect();
            transpose(&bytes, &mut out);
        }
        Kind::Bson => {
            let array: Vec<Bson> = values.iter().map(|v| (*v).clone()).collect();
            out = bson::to_vec(&bson::doc! {"v": array})?;
        }
    }
    Ok((kind, out))
}

fn decode_values(kind: Kind, data: &[u8], count: usize) -> Result<Vec<Bson>> {
    match kind {
        Kind::Date | Kind::Int32 | Kind::Int64 => {
            let mut values = Vec::with_capacity(count.min(data.len()));
            let mut position = 0;
            let mut previous = 0i64;
            for _ in 0..count {
                let n = previous.wrapping_add(unzigzag(read_varint(data, &mut position)?));
                previous = n;
                values.push(match kind {
                    Kind::Date => Bson::DateTime(DateTime::from_millis(n)),
                    Kind::Int32 => Bson::Int32(
                        i32::try_from(n).map_err(|_| corrupt("int32 value out of range"))?,
                    ),
                    _ => Bson::Int64(n),
                });
            }
            if position != data.len() {
                return Err(corrupt("trailing bytes after an integer column"));
            }
            Ok(values)
        }
        Kind::Double => {
            let words: Vec<[u8; 8]> = untranspose(data, count)?;
            let mut previous = 0u64;
            Ok(words
                .into_iter()
                .map(|w| {
                    let bits = u64::from_be_bytes(w) ^ previous;
                    previous = bits;
                    Bson::Double(f64::from_bits(bits))
                })
                .collect())
        }
        Kind::ObjectId => {
            let ids: Vec<[u8; 12]> = untranspose(data, count)?;
            Ok(ids
                .into_iter()
                .map(|b| Bson::ObjectId(ObjectId::from_bytes(b)))
                .collect())
        }
        Kind::Bson => {
            let doc: Document = bson::from_slice(data).map_err(|e| corrupt(&e.to_string()))?;
            let values = match doc.get("v") {
                Some(Bson::Array(values)) => values.clone(),
                _ => return Err(corrupt("value column without its array")),
            };
            if values.len() != count {
                return Err(corrupt("value column of the wrong length"));
            }
            Ok(values)
        }
    }
}

/// Writes plane `j` (byte `j` of every value) after plane `j - 1`.
fn transpose<const N: usize>(values: &[[u8; N]], out: &mut Vec<u8>) {
    out.reserve(values.len() * N);
    for plane in 0..N {
        out.extend(values.iter().map(|v| v[plane]));
    }
}

fn untranspose<const N: usize>(data: &[u8], count: usize) -> Result<Vec<[u8; N]>> {
    if Some(data.len()) != count.checked_mul(N) {
        return Err(corrupt("fixed-width column of the wrong length"));
    }
    let mut values = vec![[0u8; N]; count];
    for (plane, bytes) in data.chunks(count.max(1)).enumerate() {
        for (value, byte) in values.iter_mut().zip(bytes) {
            if let Some(slot) = value.get_mut(plane) {
                *slot = *byte;
            }
        }
    }
    Ok(values)
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_varint(data: &[u8], position: &mut usize) -> Result<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data
            .get(*position)
            .ok_or_else(|| corrupt("integer column ends early"))?;
        *position += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(corrupt("varint longer than 10 bytes"))
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
