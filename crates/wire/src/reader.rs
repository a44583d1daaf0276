//! A bounds-checked cursor over message bytes, and BSON document reading.
//!
//! Every read checks the remaining length first and reports [`Error::Truncated`] instead of
//! panicking; document lengths are checked against [`MAX_DOCUMENT_SIZE`] before anything is
//! read or allocated.

use bson::{raw::RawDocument, Document, RawBsonRef};

use crate::error::{Error, Result};
use crate::{MAX_BSON_DEPTH, MAX_DOCUMENT_SIZE};

/// The smallest BSON document: a 4-byte length and the terminating NUL.
pub(crate) const MIN_DOCUMENT_LEN: usize = 5;

/// A cursor over a byte slice that only moves forward.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Takes the next `count` bytes.
    pub(crate) fn take(&mut self, count: usize, what: &'static str) -> Result<&'a [u8]> {
        let (taken, rest) = self.rest.split_at_checked(count).ok_or(Error::Truncated {
            what,
            needed: count,
            available: self.rest.len(),
        })?;
        self.rest = rest;
        Ok(taken)
    }

    fn take_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let (taken, rest) = self.rest.split_first_chunk::<N>().ok_or(Error::Truncated {
            what,
            needed: N,
            available: self.rest.len(),
        })?;
        self.rest = rest;
        Ok(*taken)
    }

    pub(crate) fn read_u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(u8::from_le_bytes(self.take_array(what)?))
    }

    pub(crate) fn read_i32(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.take_array(what)?))
    }

    pub(crate) fn read_u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take_array(what)?))
    }

    pub(crate) fn read_i64(&mut self, what: &'static str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.take_array(what)?))
    }

    /// Reads a NUL-terminated UTF-8 string and skips the NUL.
    pub(crate) fn read_cstring(&mut self, what: &'static str) -> Result<String> {
        let nul = self
            .rest
            .iter()
            .position(|byte| *byte == 0)
            .ok_or(Error::UnterminatedCString { what })?;
        let bytes = self.take(nul, what)?;
        let text = std::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8CString { what })?;
        self.take(1, what)?;
        Ok(text.to_owned())
    }

    /// Reads one BSON document. Its declared length is checked against [`MAX_DOCUMENT_SIZE`]
    /// and against the bytes left before anything is parsed, and its nesting depth against
    /// [`MAX_BSON_DEPTH`] before the recursive parser of the `bson` crate runs on it.
    pub(crate) fn read_document(&mut self, what: &'static str) -> Result<Document> {
        let prefix = self.rest.first_chunk::<4>().ok_or(Error::Truncated {
            what,
            needed: 4,
            available: self.rest.len(),
        })?;
        let declared = i32::from_le_bytes(*prefix);
        let length = usize::try_from(declared)
            .ok()
            .filter(|length| *length >= MIN_DOCUMENT_LEN)
            .ok_or(Error::InvalidDocumentLength {
                what,
                length: declared,
            })?;
        if length > MAX_DOCUMENT_SIZE {
            return Err(Error::DocumentTooLarge { what, length });
        }
        let bytes = self.take(length, what)?;
        check_depth(bytes, what)?;
        // `from_reader` copies exactly the declared length, which was just checked.
        Document::from_reader(bytes).map_err(|error| Error::InvalidBson {
            what,
            message: error.to_string(),
        })
    }
}

/// Walks the document without recursion and refuses more than [`MAX_BSON_DEPTH`] levels of
/// nested documents and arrays, because the `bson` crate's parser recurses once per level and
/// a 16 MiB document could otherwise nest deep enough to overflow the stack.
fn check_depth(bytes: &[u8], what: &'static str) -> Result<()> {
    let invalid = |error: bson::raw::Error| Error::InvalidBson {
        what,
        message: error.to_string(),
    };
    let top = RawDocument::from_bytes(bytes).map_err(invalid)?;
    let mut stack = vec![top.iter()];
    while let Some(elements) = stack.last_mut() {
        let Some(element) = elements.next() else {
            stack.pop();
            continue;
        };
        let (_key, value) = element.map_err(invalid)?;
        let nested = match value {
            RawBsonRef::Document(document) => document,
            RawBsonRef::Array(array) => {
                RawDocument::from_bytes(array.as_bytes()).map_err(invalid)?
            }
            RawBsonRef::JavaScriptCodeWithScope(code) => code.scope,
            _ => continue,
        };
        // The top-level document is on the stack too, so `stack.len()` levels are open.
        if stack.len() > MAX_BSON_DEPTH {
            return Err(Error::DocumentTooDeep { what });
        }
        stack.push(nested.iter());
    }
    Ok(())
}
