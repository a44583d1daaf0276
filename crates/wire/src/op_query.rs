//! OP_QUERY (op code 2004): only the legacy handshake (`isMaster`/`hello` on `admin.$cmd`) is
//! sent this way by current drivers.

use crate::error::{Error, Result};
use crate::reader::Reader;
use crate::writer::Writer;
use crate::{OpQuery, OP_QUERY};

/// Decodes the bytes after the header.
pub(crate) fn decode_op_query(after_header: &[u8]) -> Result<OpQuery> {
    let mut reader = Reader::new(after_header);
    let flags = reader.read_u32("OP_QUERY flags")?;
    let full_collection_name = reader.read_cstring("OP_QUERY fullCollectionName")?;
    let number_to_skip = reader.read_i32("OP_QUERY numberToSkip")?;
    let number_to_return = reader.read_i32("OP_QUERY numberToReturn")?;
    let query = reader.read_document("OP_QUERY query")?;
    let return_fields_selector = if reader.is_empty() {
        None
    } else {
        Some(reader.read_document("OP_QUERY returnFieldsSelector")?)
    };
    if !reader.is_empty() {
        return Err(Error::TrailingBytes {
            what: "OP_QUERY",
            count: reader.remaining(),
        });
    }
    Ok(OpQuery {
        flags,
        full_collection_name,
        number_to_skip,
        number_to_return,
        query,
        return_fields_selector,
    })
}

/// Encodes a whole OP_QUERY message.
pub(crate) fn encode_op_query(
    request_id: i32,
    response_to: i32,
    query: &OpQuery,
) -> Result<Vec<u8>> {
    let mut writer = Writer::new(request_id, response_to, OP_QUERY);
    writer.u32(query.flags);
    writer.cstring(&query.full_collection_name, "OP_QUERY fullCollectionName")?;
    writer.i32(query.number_to_skip);
    writer.i32(query.number_to_return);
    writer.document(&query.query, "OP_QUERY query")?;
    if let Some(selector) = &query.return_fields_selector {
        writer.document(selector, "OP_QUERY returnFieldsSelector")?;
    }
    writer.finish(false)
}
