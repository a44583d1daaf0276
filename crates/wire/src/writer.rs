//! Building a whole message: header, fields, documents, with the size limits checked.

use bson::Document;

use crate::error::{Error, Result};
use crate::{MAX_DOCUMENT_SIZE, MAX_MESSAGE_SIZE};

/// A message under construction. The header's messageLength is written by [`Writer::finish`].
pub(crate) struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// Starts a message with its header; messageLength is a placeholder until `finish`.
    pub(crate) fn new(request_id: i32, response_to: i32, op_code: i32) -> Self {
        let mut writer = Writer {
            bytes: Vec::with_capacity(256),
        };
        writer.i32(0);
        writer.i32(request_id);
        writer.i32(response_to);
        writer.i32(op_code);
        writer
    }

    /// Bytes written so far, header included.
    pub(crate) fn position(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    pub(crate) fn i32(&mut self, value: i32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn i64(&mut self, value: i64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Writes `value` at `position` over bytes already written (a length placeholder).
    pub(crate) fn patch_i32(&mut self, position: usize, value: i32) {
        if let Some(slot) = self.bytes.get_mut(position..position.saturating_add(4)) {
            slot.copy_from_slice(&value.to_le_bytes());
        }
    }

    /// Writes a NUL-terminated string; a NUL inside it would end the string early on the
    /// reader's side, so it is refused.
    pub(crate) fn cstring(&mut self, value: &str, what: &'static str) -> Result<()> {
        if value.as_bytes().contains(&0) {
            return Err(Error::CStringContainsNul { what });
        }
        self.bytes.extend_from_slice(value.as_bytes());
        self.bytes.push(0);
        self.check_message_size()
    }

    /// Serializes a document, refusing one over [`MAX_DOCUMENT_SIZE`] as a reader would.
    pub(crate) fn document(&mut self, document: &Document, what: &'static str) -> Result<()> {
        let start = self.bytes.len();
        document
            .to_writer(&mut self.bytes)
            .map_err(|error| Error::EncodeBson {
                what,
                message: error.to_string(),
            })?;
        let length = self.bytes.len().saturating_sub(start);
        if length > MAX_DOCUMENT_SIZE {
            return Err(Error::DocumentTooLarge { what, length });
        }
        self.check_message_size()
    }

    /// Stops early once the message is over [`MAX_MESSAGE_SIZE`], before more is serialized.
    fn check_message_size(&self) -> Result<()> {
        if self.bytes.len() > MAX_MESSAGE_SIZE {
            return Err(Error::EncodedMessageTooLarge {
                length: self.bytes.len(),
            });
        }
        Ok(())
    }

    /// Writes messageLength into the header and returns the message. With `checksum`, the
    /// length counts 4 more bytes and the CRC-32C of everything before it is appended.
    pub(crate) fn finish(mut self, checksum: bool) -> Result<Vec<u8>> {
        let trailer = if checksum { 4 } else { 0 };
        let total = self.bytes.len().saturating_add(trailer);
        let too_large = Error::EncodedMessageTooLarge { length: total };
        if total > MAX_MESSAGE_SIZE {
            return Err(too_large);
        }
        let length = i32::try_from(total).map_err(|_| too_large)?;
        self.patch_i32(0, length);
        if checksum {
            let crc = crc32c::crc32c(&self.bytes);
            self.u32(crc);
        }
        Ok(self.bytes)
    }
}
