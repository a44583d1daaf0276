//! The crate's one error type.
//!
//! Every way a message can be refused has its own variant, precise enough for the server to log
//! why. [`Error::is_framing`] tells the server whether it must close the connection.

use crate::reader::{DECODE_MEMORY_FLOOR, DECODE_MEMORY_MULTIPLE};
use crate::{HEADER_LEN, MAX_BSON_DEPTH, MAX_DOCUMENT_SIZE, MAX_MESSAGE_SIZE};

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a message could not be decoded or encoded.
///
/// `what` fields name the part of the message being read (for example `"OP_MSG body"`), so a log
/// line says where the bytes went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer than 16 bytes were given to [`crate::parse_header`].
    #[error("incomplete message header: {available} of {HEADER_LEN} bytes")]
    IncompleteHeader {
        /// Bytes available.
        available: usize,
    },
    /// The header's messageLength is below the smallest possible message of its op code
    /// (or below the header itself).
    #[error(
        "invalid message length {length} for op code {op_code}: the minimum is {minimum} bytes"
    )]
    MessageTooSmall {
        /// The declared messageLength.
        length: i32,
        /// The declared op code.
        op_code: i32,
        /// The smallest valid length for that op code.
        minimum: usize,
    },
    /// The header's messageLength is over [`MAX_MESSAGE_SIZE`].
    #[error("invalid message length {length}: the maximum is {MAX_MESSAGE_SIZE} bytes")]
    MessageTooLarge {
        /// The declared messageLength.
        length: i32,
    },
    /// [`crate::decode`] was given a buffer whose length differs from the header's
    /// messageLength: the caller framed the stream wrongly.
    #[error("message length mismatch: header declares {declared} bytes, buffer has {actual}")]
    LengthMismatch {
        /// The declared messageLength.
        declared: i32,
        /// The length of the buffer.
        actual: usize,
    },
    /// A field or section runs past the end of the message (or of its enclosing section).
    #[error("truncated {what}: needs {needed} bytes, {available} left")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A BSON document's length prefix is below the 5-byte minimum (or negative).
    #[error("invalid BSON document length {length} in {what}")]
    InvalidDocumentLength {
        /// Where the document is.
        what: &'static str,
        /// The declared length.
        length: i32,
    },
    /// A BSON document's length prefix is over [`MAX_DOCUMENT_SIZE`]; refused before reading it.
    #[error("BSON document of {length} bytes in {what} exceeds the maximum of {MAX_DOCUMENT_SIZE} bytes")]
    DocumentTooLarge {
        /// Where the document is.
        what: &'static str,
        /// The declared (or, when encoding, the actual) length.
        length: usize,
    },
    /// A BSON document nests more than [`MAX_BSON_DEPTH`] levels of documents and arrays.
    #[error("BSON document in {what} exceeds the maximum nesting depth of {MAX_BSON_DEPTH}")]
    DocumentTooDeep {
        /// Where the document is.
        what: &'static str,
    },
    /// The message's documents hold more elements than its decoding budget allows: decoded,
    /// they would take more than a small multiple of the message's size in memory.
    #[error(
        "the documents in {what} hold too many elements: decoding them would take more than \
         {} MiB plus {} times the message's size in memory; send fewer or larger values",
        DECODE_MEMORY_FLOOR >> 20,
        DECODE_MEMORY_MULTIPLE
    )]
    TooManyElements {
        /// Where the element that went over the budget is.
        what: &'static str,
    },
    /// A BSON document is malformed.
    #[error("invalid BSON in {what}: {message}")]
    InvalidBson {
        /// Where the document is.
        what: &'static str,
        /// The BSON library's description.
        message: String,
    },
    /// The op code is not one Outpost speaks (the legacy opcodes removed in MongoDB 6.0 and any
    /// unknown value).
    #[error("unsupported op code {op_code} ({})", crate::op_code_name(*op_code))]
    UnknownOpCode {
        /// The op code.
        op_code: i32,
    },
    /// OP_COMPRESSED with a compressorId Outpost does not implement (snappy, or unknown).
    #[error("OP_COMPRESSED compressorId {id} ({name}) is not supported: use zstd (3), zlib (2) or noop (0)")]
    UnknownCompressor {
        /// The compressorId.
        id: u8,
        /// Its name, or "unknown".
        name: &'static str,
    },
    /// OP_COMPRESSED whose originalOpcode is OP_COMPRESSED again.
    #[error("OP_COMPRESSED may not contain another OP_COMPRESSED")]
    NestedCompression,
    /// OP_COMPRESSED whose uncompressedSize is negative, too small for its original op code,
    /// or would make a message over [`MAX_MESSAGE_SIZE`]; refused before decompressing.
    #[error(
        "invalid OP_COMPRESSED uncompressedSize {size} for original op code {op_code}: \
         it must be between {minimum} and {maximum} bytes"
    )]
    InvalidUncompressedSize {
        /// The declared uncompressedSize.
        size: i32,
        /// The declared originalOpcode.
        op_code: i32,
        /// The smallest valid size for that op code.
        minimum: usize,
        /// The largest size: [`MAX_MESSAGE_SIZE`] less a header.
        maximum: usize,
    },
    /// OP_COMPRESSED data that decompresses to more than its uncompressedSize; decompression
    /// stopped there.
    #[error("OP_COMPRESSED data decompresses to more than the {declared} bytes its uncompressedSize declares")]
    DecompressedTooLarge {
        /// The declared uncompressedSize.
        declared: usize,
    },
    /// OP_COMPRESSED data that decompresses to fewer bytes than its uncompressedSize.
    #[error("OP_COMPRESSED data decompresses to {actual} bytes, but its uncompressedSize declares {declared}")]
    DecompressedSizeMismatch {
        /// The declared uncompressedSize.
        declared: usize,
        /// The bytes decompressed.
        actual: usize,
    },
    /// OP_COMPRESSED data the compressor cannot decompress (corrupt or truncated).
    #[error("cannot decompress OP_COMPRESSED data with {compressor}: {message}")]
    Decompression {
        /// The compressor's name.
        compressor: &'static str,
        /// The compressor's description.
        message: String,
    },
    /// When encoding: the compressor failed.
    #[error("cannot compress with {compressor}: {message}")]
    Compression {
        /// The compressor's name.
        compressor: &'static str,
        /// The compressor's description.
        message: String,
    },
    /// The OP_MSG checksum does not match the CRC-32C of the message.
    #[error(
        "OP_MSG checksum mismatch: message carries {in_message:#010x}, computed {computed:#010x}"
    )]
    ChecksumMismatch {
        /// The checksum found at the end of the message.
        in_message: u32,
        /// The CRC-32C computed over the message.
        computed: u32,
    },
    /// An OP_MSG section kind other than 0 (body) or 1 (document sequence).
    #[error("unknown OP_MSG section kind {kind}")]
    UnknownSectionKind {
        /// The kind byte.
        kind: u8,
    },
    /// OP_MSG flagBits has required bits (0-15) set that this implementation does not know.
    /// The OP_MSG specification requires such a message to be refused.
    #[error("OP_MSG flagBits {flags:#010x} has unknown required bits {unknown_required:#06x}")]
    InvalidFlagBits {
        /// The whole flagBits.
        flags: u32,
        /// The unknown required bits.
        unknown_required: u32,
    },
    /// An OP_MSG without a kind 0 (body) section.
    #[error("OP_MSG has no body section (kind 0)")]
    MissingBody,
    /// An OP_MSG with more than one kind 0 section.
    #[error("OP_MSG has more than one body section (kind 0)")]
    DuplicateBody,
    /// Two OP_MSG document sequences with the same identifier.
    #[error("OP_MSG has duplicate document sequence identifier '{identifier}'")]
    DuplicateSequenceIdentifier {
        /// The repeated identifier.
        identifier: String,
    },
    /// A document sequence's size is too small to hold its size field and identifier.
    #[error("invalid OP_MSG document sequence size {size}")]
    InvalidSequenceSize {
        /// The declared size.
        size: i32,
    },
    /// A cstring without its terminating NUL.
    #[error("cstring {what} has no terminating NUL byte")]
    UnterminatedCString {
        /// Which cstring.
        what: &'static str,
    },
    /// A cstring that is not valid UTF-8.
    #[error("cstring {what} is not valid UTF-8")]
    InvalidUtf8CString {
        /// Which cstring.
        what: &'static str,
    },
    /// When encoding: a string to be written as a cstring contains a NUL byte.
    #[error("cstring {what} contains a NUL byte")]
    CStringContainsNul {
        /// Which cstring.
        what: &'static str,
    },
    /// OP_REPLY numberReturned is negative.
    #[error("OP_REPLY numberReturned {number_returned} is negative")]
    NegativeNumberReturned {
        /// The declared count.
        number_returned: i32,
    },
    /// OP_REPLY numberReturned differs from the number of documents in the message.
    #[error("OP_REPLY numberReturned is {declared} but the message holds {actual} documents")]
    NumberReturnedMismatch {
        /// The declared count.
        declared: i32,
        /// The documents found.
        actual: usize,
    },
    /// Bytes left over after the last field of a message.
    #[error("{count} trailing bytes after {what}")]
    TrailingBytes {
        /// The message kind.
        what: &'static str,
        /// How many bytes are left.
        count: usize,
    },
    /// When encoding: a document could not be serialized (for example a key containing NUL).
    #[error("cannot encode BSON in {what}: {message}")]
    EncodeBson {
        /// Where the document is.
        what: &'static str,
        /// The BSON library's description.
        message: String,
    },
    /// When encoding: the message would exceed [`MAX_MESSAGE_SIZE`].
    #[error("encoded message of {length} bytes exceeds the maximum of {MAX_MESSAGE_SIZE} bytes")]
    EncodedMessageTooLarge {
        /// The length reached.
        length: usize,
    },
}

impl Error {
    /// True when the byte stream can no longer be trusted to be aligned on message boundaries,
    /// so the server must close the connection: the header's messageLength is invalid, the
    /// header is incomplete, or the caller framed the buffer wrongly.
    ///
    /// False when the message was framed correctly but its contents are bad: the server can
    /// answer with an error reply to the header's requestID and keep the connection. Every
    /// error of [`crate::parse_header`] and [`crate::check`] is a framing error; for errors of
    /// [`crate::encode`] the answer has no meaning.
    pub fn is_framing(&self) -> bool {
        matches!(
            self,
            Error::IncompleteHeader { .. }
                | Error::MessageTooSmall { .. }
                | Error::MessageTooLarge { .. }
                | Error::LengthMismatch { .. }
        )
    }
}
