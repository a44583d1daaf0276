//! OP_MSG (op code 2013): flagBits, sections, optional CRC-32C checksum.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::reader::Reader;
use crate::writer::Writer;
use crate::{
    DocumentSequence, OpMsg, FLAG_CHECKSUM_PRESENT, FLAG_MORE_TO_COME, HEADER_LEN, OP_MSG,
};

/// Section kind 0: the body document.
const SECTION_BODY: u8 = 0;
/// Section kind 1: a document sequence.
const SECTION_DOCUMENT_SEQUENCE: u8 = 1;

/// flagBits 0-15 are "required": a receiver must refuse a message with one it does not know.
const REQUIRED_BITS: u32 = 0xFFFF;
/// The required bits this implementation knows.
const KNOWN_REQUIRED_BITS: u32 = FLAG_CHECKSUM_PRESENT | FLAG_MORE_TO_COME;

/// Refuses unknown required bits; optional bits (16-31) are kept and ignored.
fn check_flags(flags: u32) -> Result<()> {
    let unknown_required = flags & REQUIRED_BITS & !KNOWN_REQUIRED_BITS;
    if unknown_required != 0 {
        return Err(Error::InvalidFlagBits {
            flags,
            unknown_required,
        });
    }
    Ok(())
}

/// Decodes an OP_MSG from the whole message (header included, because the checksum covers it).
pub(crate) fn decode_op_msg(message: &[u8]) -> Result<OpMsg> {
    let after_header = message.get(HEADER_LEN..).unwrap_or_default();
    let mut reader = Reader::new(after_header);
    let flags = reader.read_u32("OP_MSG flagBits")?;
    check_flags(flags)?;
    if flags & FLAG_CHECKSUM_PRESENT != 0 {
        // The checksum is verified before the sections are parsed, so a corrupted message is
        // reported as such rather than as whatever the corruption looks like.
        let sections_length = reader.remaining().checked_sub(4).ok_or(Error::Truncated {
            what: "OP_MSG checksum",
            needed: 4,
            available: reader.remaining(),
        })?;
        let sections = reader.take(sections_length, "OP_MSG sections")?;
        let in_message = reader.read_u32("OP_MSG checksum")?;
        let covered_length = message.len().saturating_sub(4);
        let covered = message.get(..covered_length).unwrap_or_default();
        let computed = crc32c::crc32c(covered);
        if computed != in_message {
            return Err(Error::ChecksumMismatch {
                in_message,
                computed,
            });
        }
        reader = reader.part(sections);
    }

    let mut body = None;
    let mut sequences: Vec<DocumentSequence> = Vec::new();
    let mut identifiers = HashSet::new();
    while !reader.is_empty() {
        match reader.read_u8("OP_MSG section kind")? {
            SECTION_BODY => {
                let document = reader.read_document("OP_MSG body")?;
                if body.replace(document).is_some() {
                    return Err(Error::DuplicateBody);
                }
            }
            SECTION_DOCUMENT_SEQUENCE => {
                let sequence = read_document_sequence(&mut reader)?;
                if !identifiers.insert(sequence.identifier.clone()) {
                    return Err(Error::DuplicateSequenceIdentifier {
                        identifier: sequence.identifier,
                    });
                }
                sequences.push(sequence);
            }
            kind => return Err(Error::UnknownSectionKind { kind }),
        }
    }
    Ok(OpMsg {
        flags,
        body: body.ok_or(Error::MissingBody)?,
        sequences,
    })
}

/// Reads a kind 1 section after its kind byte: int32 size (counting itself), cstring
/// identifier, then documents filling the size exactly.
fn read_document_sequence(reader: &mut Reader<'_>) -> Result<DocumentSequence> {
    let size = reader.read_i32("OP_MSG document sequence size")?;
    let content_length = usize::try_from(size)
        .ok()
        .and_then(|size| size.checked_sub(4))
        .ok_or(Error::InvalidSequenceSize { size })?;
    let content = reader.take(content_length, "OP_MSG document sequence")?;
    let mut content = reader.part(content);
    let identifier = content
        .read_cstring("OP_MSG document sequence identifier")
        .map_err(|error| match error {
            // The identifier's NUL lies beyond the declared size.
            Error::UnterminatedCString { .. } => Error::InvalidSequenceSize { size },
            other => other,
        })?;
    let mut documents = Vec::new();
    while !content.is_empty() {
        documents.push(content.read_document("OP_MSG document sequence")?);
    }
    reader.absorb(&content);
    Ok(DocumentSequence {
        identifier,
        documents,
    })
}

/// Encodes an OP_MSG; refuses what [`decode_op_msg`] would refuse (unknown required flag bits,
/// duplicate sequence identifiers, NUL in an identifier).
pub(crate) fn encode_op_msg(request_id: i32, response_to: i32, msg: &OpMsg) -> Result<Vec<u8>> {
    check_flags(msg.flags)?;
    let mut writer = Writer::new(request_id, response_to, OP_MSG);
    writer.u32(msg.flags);
    writer.u8(SECTION_BODY);
    writer.document(&msg.body, "OP_MSG body")?;
    let mut identifiers = HashSet::new();
    for sequence in &msg.sequences {
        if !identifiers.insert(sequence.identifier.as_str()) {
            return Err(Error::DuplicateSequenceIdentifier {
                identifier: sequence.identifier.clone(),
            });
        }
        writer.u8(SECTION_DOCUMENT_SEQUENCE);
        let size_position = writer.position();
        writer.i32(0);
        writer.cstring(&sequence.identifier, "OP_MSG document sequence identifier")?;
        for document in &sequence.documents {
            writer.document(document, "OP_MSG document sequence")?;
        }
        let size = writer.position().saturating_sub(size_position);
        let size =
            i32::try_from(size).map_err(|_| Error::EncodedMessageTooLarge { length: size })?;
        writer.patch_i32(size_position, size);
    }
    writer.finish(msg.flags & FLAG_CHECKSUM_PRESENT != 0)
}
