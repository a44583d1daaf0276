//! A bounds-checked cursor over message bytes, and BSON document reading.
//!
//! Every read checks the remaining length first and reports [`Error::Truncated`] instead of
//! panicking; document lengths are checked against [`MAX_DOCUMENT_SIZE`] before anything is
//! read or allocated, and documents are converted without recursion.

use bson::raw::{RawBsonRef, RawDocument, RawIter};
use bson::{Bson, Document, JavaScriptCodeWithScope};

use crate::error::{Error, Result};
use crate::{MAX_BSON_DEPTH, MAX_DOCUMENT_SIZE};

/// The smallest BSON document: a 4-byte length and the terminating NUL.
pub(crate) const MIN_DOCUMENT_LEN: usize = 5;

/// What one decoded element (a key and a `Bson` in a document's map or an array) costs in
/// memory, about, whatever its size on the wire: a null in a document with an empty key takes
/// 2 bytes there.
pub(crate) const ELEMENT_MEMORY: usize = 128;

/// Decoding a message may take this much memory whatever its size (100,000 small documents
/// in one insert fit) ...
pub(crate) const DECODE_MEMORY_FLOOR: usize = 64 * 1024 * 1024;

/// ... plus this multiple of its size.
pub(crate) const DECODE_MEMORY_MULTIPLE: usize = 8;

/// How many elements the documents of a message of `len` bytes may hold in all, so that
/// decoding it takes at most [`DECODE_MEMORY_FLOOR`] + [`DECODE_MEMORY_MULTIPLE`] x `len`
/// bytes.
pub(crate) fn element_budget(len: usize) -> usize {
    DECODE_MEMORY_FLOOR.saturating_add(len.saturating_mul(DECODE_MEMORY_MULTIPLE)) / ELEMENT_MEMORY
}

/// A cursor over a byte slice that only moves forward, with the element budget of the
/// message it reads.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    /// Elements the documents still to be read may hold.
    elements_left: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a whole message (or the bytes after its header), with its budget.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader {
            rest: bytes,
            elements_left: element_budget(bytes.len()),
        }
    }

    /// A reader over part of the message this reader reads, sharing its budget: give the
    /// budget back with [`Reader::absorb`].
    pub(crate) fn part(&self, bytes: &'a [u8]) -> Reader<'a> {
        Reader {
            rest: bytes,
            elements_left: self.elements_left,
        }
    }

    /// Takes over the budget left by a reader made with [`Reader::part`].
    pub(crate) fn absorb(&mut self, part: &Reader<'_>) {
        self.elements_left = part.elements_left;
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
    /// and against the bytes left before anything is parsed; its nesting depth is limited to
    /// [`MAX_BSON_DEPTH`].
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
        document_from_bytes(bytes, what, &mut self.elements_left)
    }
}

/// One open document, array or code-with-scope while [`document_from_bytes`] converts.
struct Frame<'a> {
    elements: RawIter<'a>,
    /// The key under which the finished value goes into the enclosing frame.
    key: String,
    container: Container,
}

enum Container {
    Document(Document),
    Array(Vec<Bson>),
    /// JavaScript code with scope: the code, and the scope document under construction.
    CodeWithScope(String, Document),
}

impl Container {
    fn insert(&mut self, key: String, value: Bson) {
        match self {
            Container::Document(document) | Container::CodeWithScope(_, document) => {
                document.insert(key, value);
            }
            Container::Array(values) => values.push(value),
        }
    }

    fn into_bson(self) -> Bson {
        match self {
            Container::Document(document) => Bson::Document(document),
            Container::Array(values) => Bson::Array(values),
            Container::CodeWithScope(code, scope) => {
                Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope { code, scope })
            }
        }
    }
}

/// Converts one BSON document (`bytes` is exactly its declared length) into a [`Document`]
/// without recursion, refusing more than [`MAX_BSON_DEPTH`] levels of nested documents and
/// arrays, and more elements than `elements_left` (which it decreases).
///
/// Why not `Document::from_reader`: its parser recurses once per nesting level with frames of
/// about 13 KiB in a debug build, so 150 levels overflow a 2 MiB thread stack (an abort, not
/// an error) while MongoDB accepts 200. Here the depth costs heap, not stack. The raw
/// iteration of the `bson` crate validates lengths, UTF-8 and element types as it goes.
fn document_from_bytes(
    bytes: &[u8],
    what: &'static str,
    elements_left: &mut usize,
) -> Result<Document> {
    let invalid = |error: bson::raw::Error| Error::InvalidBson {
        what,
        message: error.to_string(),
    };
    let top = RawDocument::from_bytes(bytes).map_err(invalid)?;
    let mut top_elements = top.iter_elements();
    let mut document = Document::new();
    // The open nested containers, innermost last; the top-level document is not on it.
    let mut stack: Vec<Frame<'_>> = Vec::new();
    loop {
        let next = match stack.last_mut() {
            Some(frame) => frame.elements.next(),
            None => top_elements.next(),
        };
        let Some(element) = next else {
            let Some(finished) = stack.pop() else {
                return Ok(document);
            };
            let value = finished.container.into_bson();
            insert_into_innermost(&mut stack, &mut document, finished.key, value);
            continue;
        };
        let element = element.map_err(invalid)?;
        *elements_left = elements_left
            .checked_sub(1)
            .ok_or(Error::TooManyElements { what })?;
        let key = element.key().to_owned();
        let (nested, container) = match element.value().map_err(invalid)? {
            RawBsonRef::Document(nested) => (nested, Container::Document(Document::new())),
            RawBsonRef::Array(array) => (
                RawDocument::from_bytes(array.as_bytes()).map_err(invalid)?,
                Container::Array(Vec::new()),
            ),
            RawBsonRef::JavaScriptCodeWithScope(code) => (
                code.scope,
                Container::CodeWithScope(code.code.to_owned(), Document::new()),
            ),
            leaf => {
                let value = Bson::try_from(leaf).map_err(invalid)?;
                insert_into_innermost(&mut stack, &mut document, key, value);
                continue;
            }
        };
        // This container would be nesting level `stack.len() + 1`.
        if stack.len() >= MAX_BSON_DEPTH {
            return Err(Error::DocumentTooDeep { what });
        }
        stack.push(Frame {
            elements: nested.iter_elements(),
            key,
            container,
        });
    }
}

/// Puts a finished value into the innermost open container, or the top-level document.
fn insert_into_innermost(
    stack: &mut [Frame<'_>],
    document: &mut Document,
    key: String,
    value: Bson,
) {
    match stack.last_mut() {
        Some(frame) => frame.container.insert(key, value),
        None => {
            document.insert(key, value);
        }
    }
}
