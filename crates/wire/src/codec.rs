//! Whole messages: [`decode`] dispatches on the op code, [`encode`] on the message kind.

use crate::compress::{decompress, Compression};
use crate::error::{Error, Result};
use crate::header::parse_header;
use crate::op_msg::{decode_op_msg, encode_op_msg};
use crate::op_query::{decode_op_query, encode_op_query};
use crate::op_reply::{decode_op_reply, encode_op_reply};
use crate::{Header, Message, HEADER_LEN, OP_COMPRESSED, OP_MSG, OP_QUERY, OP_REPLY};

/// Decodes one whole message, header included. `buf.len()` must equal the header's
/// messageLength (use [`crate::check`] to find it in a stream buffer). An OP_COMPRESSED is
/// decompressed and its original message returned, with the original message's header (see
/// [`decode_compressed`] to learn how it travelled).
///
/// Errors for which [`Error::is_framing`] is false leave the header trustworthy: the server can
/// answer the header's requestID with an error (get it again with [`parse_header`]).
pub fn decode(buf: &[u8]) -> Result<(Header, Message)> {
    decode_compressed(buf).map(|(header, message, _)| (header, message))
}

/// [`decode`], also telling whether the message came in an OP_COMPRESSED, with which
/// compressor and sizes. The header returned is the original message's: its op code and
/// messageLength (uncompressedSize plus the header), the requestID and responseTo of the
/// OP_COMPRESSED. Decompression is bounded by [`crate::MAX_MESSAGE_SIZE`] before it starts.
pub fn decode_compressed(buf: &[u8]) -> Result<(Header, Message, Option<Compression>)> {
    let header = parse_header(buf)?;
    if header.length() != buf.len() {
        return Err(Error::LengthMismatch {
            declared: header.message_length,
            actual: buf.len(),
        });
    }
    if header.op_code != OP_COMPRESSED {
        return Ok((header, decode_uncompressed(&header, buf)?, None));
    }
    let (original, compression) = decompress(&header, buf)?;
    // The original's header was built by `decompress` from checked values.
    let original_header = parse_header(&original)?;
    let message = decode_uncompressed(&original_header, &original)?;
    Ok((original_header, message, Some(compression)))
}

/// The message of a whole buffer whose header is `header`, for any op code but OP_COMPRESSED.
fn decode_uncompressed(header: &Header, buf: &[u8]) -> Result<Message> {
    let after_header = buf.get(HEADER_LEN..).unwrap_or_default();
    Ok(match header.op_code {
        OP_MSG => Message::Msg(decode_op_msg(buf)?),
        OP_QUERY => Message::Query(decode_op_query(after_header)?),
        OP_REPLY => Message::Reply(decode_op_reply(after_header)?),
        OP_COMPRESSED => return Err(Error::NestedCompression),
        op_code => return Err(Error::UnknownOpCode { op_code }),
    })
}

/// Encodes a whole message with the given header ids. An OP_MSG with
/// [`crate::FLAG_CHECKSUM_PRESENT`] in its flags gets a CRC-32C appended. Fails when the message
/// would exceed [`crate::MAX_MESSAGE_SIZE`], a document [`crate::MAX_DOCUMENT_SIZE`], or when it
/// holds what [`decode`] would refuse (unknown required OP_MSG flag bits, duplicate sequence
/// identifiers, a NUL inside a cstring).
pub fn encode(request_id: i32, response_to: i32, msg: &Message) -> Result<Vec<u8>> {
    match msg {
        Message::Msg(op_msg) => encode_op_msg(request_id, response_to, op_msg),
        Message::Query(op_query) => encode_op_query(request_id, response_to, op_query),
        Message::Reply(op_reply) => encode_op_reply(request_id, response_to, op_reply),
    }
}
