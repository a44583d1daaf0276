//! The commit journal's record: every write of one commit, by tree name, in one value.
//!
//! [`super::Kv::commit`] writes the record under one key before it applies the writes one by
//! one and removes it after; a store opened with the record still there applies it again. The
//! format is private to this module and read back only by it:
//!
//! ```text
//! record  = VERSION u32 tree-count, tree*
//! tree    = u32 name-length, name, u32 op-count, op*
//! op      = PUT u32 key-length, key, u32 value-length, value
//!         | DELETE u32 key-length, key
//! ```
//!
//! Integers are little-endian.

use crate::error::{Error, Result};

/// One write to a tree: a put (`Some` value) or a delete (`None`).
pub(super) type Op = (Vec<u8>, Option<Vec<u8>>);

/// The first byte of every record; a store with another first byte was written by a newer
/// Outpost.
const VERSION: u8 = 1;
const PUT: u8 = 1;
const DELETE: u8 = 0;

/// The record of `trees` (each tree's name and its writes in order).
pub(super) fn encode<'a>(trees: impl Iterator<Item = (&'a [u8], &'a [Op])> + Clone) -> Vec<u8> {
    let len: usize = trees
        .clone()
        .map(|(name, ops)| {
            8 + name.len()
                + ops
                    .iter()
                    .map(|(k, v)| 9 + k.len() + v.as_ref().map_or(0, Vec::len))
                    .sum::<usize>()
        })
        .sum();
    let mut out = Vec::with_capacity(5 + len);
    out.push(VERSION);
    out.extend_from_slice(&len_u32(trees.clone().count()).to_le_bytes());
    for (name, ops) in trees {
        put_bytes(&mut out, name);
        out.extend_from_slice(&len_u32(ops.len()).to_le_bytes());
        for (key, value) in ops {
            match value {
                Some(value) => {
                    out.push(PUT);
                    put_bytes(&mut out, key);
                    put_bytes(&mut out, value);
                }
                None => {
                    out.push(DELETE);
                    put_bytes(&mut out, key);
                }
            }
        }
    }
    out
}

/// The trees and writes of a record [`encode`] made.
pub(super) fn decode(record: &[u8]) -> Result<Vec<(Vec<u8>, Vec<Op>)>> {
    let mut input = Reader(record);
    let version = input.byte()?;
    if version != VERSION {
        return Err(corrupt(format!("unknown record version {version}")));
    }
    let tree_count = input.u32()?;
    // Every tree takes at least eight bytes, every op at least five: no count can claim more
    // than the bytes that remain hold.
    let mut trees = Vec::with_capacity((tree_count as usize).min(input.0.len() / 8));
    for _ in 0..tree_count {
        let name = input.bytes()?.to_vec();
        let count = input.u32()?;
        let mut ops = Vec::with_capacity((count as usize).min(input.0.len() / 5));
        for _ in 0..count {
            let op = match input.byte()? {
                PUT => (input.bytes()?.to_vec(), Some(input.bytes()?.to_vec())),
                DELETE => (input.bytes()?.to_vec(), None),
                other => return Err(corrupt(format!("unknown write kind {other}"))),
            };
            ops.push(op);
        }
        trees.push((name, ops));
    }
    if !input.0.is_empty() {
        return Err(corrupt(format!(
            "{} bytes follow its last tree",
            input.0.len()
        )));
    }
    Ok(trees)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&len_u32(bytes.len()).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Keys and values of sled are far below 4 GiB (documents are at most 16 MiB).
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("a key, value or op count under 4 GiB")
}

fn corrupt(what: String) -> Error {
    Error::Corrupt(format!("the commit journal's record is damaged: {what}"))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(corrupt("it ends early".into()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn op() -> impl Strategy<Value = Op> {
        (
            proptest::collection::vec(any::<u8>(), 0..20),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        )
    }

    fn trees() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<Op>)>> {
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..12),
                proptest::collection::vec(op(), 0..6),
            ),
            0..5,
        )
    }

    fn encoded(trees: &[(Vec<u8>, Vec<Op>)]) -> Vec<u8> {
        encode(
            trees
                .iter()
                .map(|(name, ops)| (name.as_slice(), ops.as_slice())),
        )
    }

    proptest! {
        #[test]
        fn a_record_decodes_to_what_was_encoded(trees in trees()) {
            prop_assert_eq!(decode(&encoded(&trees)).expect("decodes"), trees);
        }

        #[test]
        fn a_cut_record_is_refused_not_misread(trees in trees(), cut in any::<prop::sample::Index>()) {
            let record = encoded(&trees);
            let cut = cut.index(record.len());
            prop_assert!(decode(&record[..cut]).is_err());
        }
    }

    #[test]
    fn a_record_of_another_version_is_refused() {
        let error = decode(&[9]).expect_err("refused");
        assert!(
            error.to_string().contains("unknown record version 9"),
            "{error}"
        );
        assert!(decode(&[]).is_err());
        let mut longer = encoded(&[(b"t".to_vec(), vec![(b"k".to_vec(), None)])]);
        longer.push(0);
        let error = decode(&longer).expect_err("refused");
        assert!(error.to_string().contains("1 bytes follow"), "{error}");
    }
}
