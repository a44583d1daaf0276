//! OP_REPLY (op code 1): the answer to an OP_QUERY.

use crate::error::{Error, Result};
use crate::reader::Reader;
use crate::writer::Writer;
use crate::{OpReply, OP_REPLY};

/// Decodes the bytes after the header. numberReturned must equal the documents present; it is
/// never used to size an allocation.
pub(crate) fn decode_op_reply(after_header: &[u8]) -> Result<OpReply> {
    let mut reader = Reader::new(after_header);
    let response_flags = reader.read_u32("OP_REPLY responseFlags")?;
    let cursor_id = reader.read_i64("OP_REPLY cursorID")?;
    let starting_from = reader.read_i32("OP_REPLY startingFrom")?;
    let number_returned = reader.read_i32("OP_REPLY numberReturned")?;
    if number_returned < 0 {
        return Err(Error::NegativeNumberReturned { number_returned });
    }
    let mut documents = Vec::new();
    while !reader.is_empty() {
        documents.push(reader.read_document("OP_REPLY documents")?);
    }
    if usize::try_from(number_returned).ok() != Some(documents.len()) {
        return Err(Error::NumberReturnedMismatch {
            declared: number_returned,
            actual: documents.len(),
        });
    }
    Ok(OpReply {
        response_flags,
        cursor_id,
        starting_from,
        documents,
    })
}

/// Encodes a whole OP_REPLY message; numberReturned is the number of documents.
pub(crate) fn encode_op_reply(
    request_id: i32,
    response_to: i32,
    reply: &OpReply,
) -> Result<Vec<u8>> {
    let mut writer = Writer::new(request_id, response_to, OP_REPLY);
    writer.u32(reply.response_flags);
    writer.i64(reply.cursor_id);
    writer.i32(reply.starting_from);
    let count = reply.documents.len();
    let number_returned =
        i32::try_from(count).map_err(|_| Error::EncodedMessageTooLarge { length: count })?;
    writer.i32(number_returned);
    for document in &reply.documents {
        writer.document(document, "OP_REPLY documents")?;
    }
    writer.finish(false)
}
