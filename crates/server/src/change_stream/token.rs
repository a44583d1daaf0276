//! Resume tokens: a position in the history log. `{_data: "<hex>"}` holds the entry's sequence
//! number and clock reading, which of the entry's events the token follows (an entry such as a
//! collection drop gives several: `drop`, then `invalidate`), and whether that event is an
//! `invalidate`. Drivers treat the token as opaque and hand it back in `resumeAfter` or
//! `startAfter`.

use bson::{doc, Bson, Document};

use crate::error::{Error, Result};

/// All of an entry's events are behind the position.
pub const WHOLE_ENTRY: u8 = u8::MAX;

/// A position in the history log: everything up to entry `seq`'s event `index` is behind it
/// (`index` [`WHOLE_ENTRY`]: the whole entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub seq: u64,
    pub hlc: u64,
    pub index: u8,
    /// The event at this position is an `invalidate` (only `startAfter` resumes after it).
    pub invalidate: bool,
}

impl Position {
    /// After the whole entry `seq`.
    pub fn after_entry(seq: u64, hlc: u64) -> Position {
        Position {
            seq,
            hlc,
            index: WHOLE_ENTRY,
            invalidate: false,
        }
    }

    /// Whether the event `index` of entry `seq` is still ahead of this position.
    pub fn is_before(&self, seq: u64, index: u8) -> bool {
        seq > self.seq || (seq == self.seq && self.index != WHOLE_ENTRY && index > self.index)
    }

    /// The first sequence number a scan from here reads.
    pub fn next_seq(&self) -> u64 {
        if self.index == WHOLE_ENTRY {
            self.seq.saturating_add(1)
        } else {
            self.seq
        }
    }

    pub fn to_token(self) -> Document {
        doc! {
            "_data": format!(
                "{:016X}{:016X}{:02X}{:02X}",
                self.seq,
                self.hlc,
                self.index,
                u8::from(self.invalidate)
            )
        }
    }

    /// Reads a token given in `field` (`resumeAfter`, `startAfter`).
    pub fn from_token(value: &Bson, field: &str) -> Result<Position> {
        let bad = || {
            Error::new(
                260,
                format!("$changeStream.{field}: not a resume token of this server"),
            )
        };
        let data = match value {
            Bson::Document(d) => d.get_str("_data").map_err(|_| bad())?,
            _ => {
                return Err(Error::type_mismatch(format!(
                    "BSON field '$changeStream.{field}' is the wrong type, expected type 'object'"
                )))
            }
        };
        if data.len() != 36 || !data.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let hex = |range: std::ops::Range<usize>| {
            data.get(range)
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or_else(bad)
        };
        let invalidate = match hex(34..36)? {
            0 => false,
            1 => true,
            _ => return Err(bad()),
        };
        Ok(Position {
            seq: hex(0..16)?,
            hlc: hex(16..32)?,
            index: u8::try_from(hex(32..34)?).map_err(|_| bad())?,
            invalidate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn tokens_round_trip(seq: u64, hlc: u64, index: u8, invalidate: bool) {
            let position = Position { seq, hlc, index, invalidate };
            let token = Bson::Document(position.to_token());
            prop_assert_eq!(Position::from_token(&token, "resumeAfter").ok(), Some(position));
        }

        #[test]
        fn other_strings_are_refused_not_misread(data in ".{0,40}") {
            let token = Bson::Document(doc! {"_data": &data});
            if let Ok(position) = Position::from_token(&token, "resumeAfter") {
                let again = position.to_token();
                let upper = data.to_uppercase();
                prop_assert_eq!(again.get_str("_data").ok(), Some(upper.as_str()));
            }
        }
    }

    #[test]
    fn positions_order_events_within_an_entry() {
        let mid = Position {
            seq: 5,
            hlc: 0,
            index: 0,
            invalidate: false,
        };
        assert!(!mid.is_before(5, 0));
        assert!(mid.is_before(5, 1));
        assert!(mid.is_before(6, 0));
        assert!(!mid.is_before(4, 3));
        let whole = Position::after_entry(5, 0);
        assert!(!whole.is_before(5, 7));
        assert!(whole.is_before(6, 0));
        assert_eq!(whole.next_seq(), 6);
        assert_eq!(mid.next_seq(), 5);
    }
}
