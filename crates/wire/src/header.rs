//! The 16-byte standard message header, and finding message boundaries in a stream buffer.

use crate::error::{Error, Result};
use crate::reader::{Reader, MIN_DOCUMENT_LEN};
use crate::{Header, HEADER_LEN, MAX_MESSAGE_SIZE, OP_COMPRESSED, OP_MSG, OP_QUERY, OP_REPLY};

/// The smallest whole message (header included) that can be valid for `op_code`; for op codes
/// this crate does not decode, the header alone.
pub fn minimum_message_length(op_code: i32) -> usize {
    match op_code {
        // flagBits, one kind byte and an empty body document.
        OP_MSG => HEADER_LEN + 4 + 1 + MIN_DOCUMENT_LEN,
        // flags, an empty fullCollectionName, numberToSkip, numberToReturn, an empty query.
        OP_QUERY => HEADER_LEN + 4 + 1 + 4 + 4 + MIN_DOCUMENT_LEN,
        // responseFlags, cursorID, startingFrom, numberReturned.
        OP_REPLY => HEADER_LEN + 4 + 8 + 4 + 4,
        // originalOpcode, uncompressedSize, compressorId.
        OP_COMPRESSED => HEADER_LEN + 4 + 4 + 1,
        _ => HEADER_LEN,
    }
}

/// Reads the little-endian standard header from the first 16 bytes of `buf` (bytes after them
/// are ignored) and validates messageLength: at least [`minimum_message_length`] of its op
/// code, at most [`MAX_MESSAGE_SIZE`].
///
/// The server reads 16 bytes, calls this, then reads the rest of `message_length` bytes.
/// Every error is a framing error ([`Error::is_framing`]): the connection must be closed.
/// An unknown op code is not an error here (its length can still be trusted to skip it);
/// [`crate::decode`] reports it.
pub fn parse_header(buf: &[u8]) -> Result<Header> {
    let mut reader = Reader::new(buf);
    let incomplete = |_| Error::IncompleteHeader {
        available: buf.len(),
    };
    let message_length = reader.read_i32("header").map_err(incomplete)?;
    let request_id = reader.read_i32("header").map_err(incomplete)?;
    let response_to = reader.read_i32("header").map_err(incomplete)?;
    let op_code = reader.read_i32("header").map_err(incomplete)?;
    let minimum = minimum_message_length(op_code);
    let length = usize::try_from(message_length).unwrap_or(0);
    if length < minimum {
        return Err(Error::MessageTooSmall {
            length: message_length,
            op_code,
            minimum,
        });
    }
    if length > MAX_MESSAGE_SIZE {
        return Err(Error::MessageTooLarge {
            length: message_length,
        });
    }
    Ok(Header {
        message_length,
        request_id,
        response_to,
        op_code,
    })
}

/// For a stream buffer (mini-redis style): `Ok(Some(length))` when `buf` starts with a whole
/// message of `length` bytes (pass `&buf[..length]` to [`crate::decode`]), `Ok(None)` when more
/// bytes are needed, `Err` when the header is invalid (always a framing error: close the
/// connection).
pub fn check(buf: &[u8]) -> Result<Option<usize>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let header = parse_header(buf)?;
    let length = header.length();
    Ok((buf.len() >= length).then_some(length))
}

impl Header {
    /// messageLength as a `usize`; 0 for a negative value (a header from [`parse_header`] is
    /// never negative).
    pub fn length(&self) -> usize {
        usize::try_from(self.message_length).unwrap_or(0)
    }
}
