//! OP_COMPRESSED (op code 2012): another message's bytes after its header, compressed.
//!
//! ```text
//! header (opCode 2012, the original message's requestID and responseTo)
//! int32  originalOpcode
//! int32  uncompressedSize   the original message's size without its header
//! uint8  compressorId       0 noop, 1 snappy, 2 zlib, 3 zstd
//! bytes  compressedMessage  the original message after its header, compressed
//! ```
//!
//! Decompression is bounded before it starts: `uncompressedSize` plus a header must fit in
//! [`MAX_MESSAGE_SIZE`] and hold the smallest message of the original op code, and the output
//! buffer is exactly that size, so data that decompresses to more (a "zip bomb") fails with
//! [`Error::DecompressedTooLarge`] after writing at most `uncompressedSize + 1` bytes. zstd
//! decompresses in one pass into that buffer (no window of its own); zlib streams through a
//! 32 KiB window.

use std::io::{Read, Write};

use zstd::zstd_safe::zstd_sys::ZSTD_ErrorCode as ZstdError;

use crate::error::{Error, Result};
use crate::header::{minimum_message_length, parse_header};
use crate::reader::Reader;
use crate::{Header, HEADER_LEN, MAX_MESSAGE_SIZE, OP_COMPRESSED};

/// The OP_COMPRESSED fields after the header: originalOpcode, uncompressedSize, compressorId.
pub const COMPRESSION_HEADER_LEN: usize = 4 + 4 + 1;

/// zstd's default level: fast, and most of the gain on BSON.
const ZSTD_LEVEL: i32 = zstd::DEFAULT_COMPRESSION_LEVEL;

/// A message compressor of OP_COMPRESSED. Snappy (id 1) is not implemented: a message
/// compressed with it is refused with [`Error::UnknownCompressor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compressor {
    /// Id 0: the bytes as they are (for tests; never negotiated).
    Noop,
    /// Id 2: zlib (deflate with the zlib wrapper), level 6.
    Zlib,
    /// Id 3: Zstandard, level 3.
    Zstd,
}

impl Compressor {
    /// The compressors a `hello` may negotiate, by name, in Outpost's order of preference.
    pub const NEGOTIABLE: [Compressor; 2] = [Compressor::Zstd, Compressor::Zlib];

    /// The compressorId on the wire.
    pub fn id(self) -> u8 {
        match self {
            Compressor::Noop => 0,
            Compressor::Zlib => 2,
            Compressor::Zstd => 3,
        }
    }

    /// The name used in `hello`'s `compression` list and in `serverStatus`.
    pub fn name(self) -> &'static str {
        match self {
            Compressor::Noop => "noop",
            Compressor::Zlib => "zlib",
            Compressor::Zstd => "zstd",
        }
    }

    /// The compressor with this compressorId, if implemented.
    pub fn from_id(id: u8) -> Option<Compressor> {
        match id {
            0 => Some(Compressor::Noop),
            2 => Some(Compressor::Zlib),
            3 => Some(Compressor::Zstd),
            _ => None,
        }
    }

    /// The negotiable compressor with this name (`"zstd"`, `"zlib"`).
    pub fn from_name(name: &str) -> Option<Compressor> {
        Compressor::NEGOTIABLE
            .into_iter()
            .find(|compressor| compressor.name() == name)
    }
}

/// How a message decoded by [`crate::decode_compressed`] travelled, when it came compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// The compressor the sender used (a reply should use the same).
    pub compressor: Compressor,
    /// Bytes of compressedMessage.
    pub compressed_len: usize,
    /// Bytes it decompressed to (uncompressedSize).
    pub uncompressed_len: usize,
}

/// The name of compressorId `id` for errors, including the ones Outpost does not implement.
fn compressor_id_name(id: u8) -> &'static str {
    match id {
        1 => "snappy",
        _ => Compressor::from_id(id).map_or("unknown", Compressor::name),
    }
}

/// Decompresses a whole OP_COMPRESSED message (header included, `buf.len()` equal to its
/// messageLength) into the original message's bytes, header included: the header carries the
/// original op code and length and the same requestID and responseTo.
pub(crate) fn decompress(header: &Header, buf: &[u8]) -> Result<(Vec<u8>, Compression)> {
    let mut reader = Reader::new(buf.get(HEADER_LEN..).unwrap_or_default());
    let original_op_code = reader.read_i32("OP_COMPRESSED originalOpcode")?;
    let declared = reader.read_i32("OP_COMPRESSED uncompressedSize")?;
    let id = reader.read_u8("OP_COMPRESSED compressorId")?;
    let compressed = reader.take(reader.remaining(), "OP_COMPRESSED compressedMessage")?;
    if original_op_code == OP_COMPRESSED {
        return Err(Error::NestedCompression);
    }
    let compressor = Compressor::from_id(id).ok_or(Error::UnknownCompressor {
        id,
        name: compressor_id_name(id),
    })?;
    let minimum = minimum_message_length(original_op_code);
    let inner_length = usize::try_from(declared)
        .ok()
        .and_then(|size| size.checked_add(HEADER_LEN))
        .filter(|length| (minimum..=MAX_MESSAGE_SIZE).contains(length))
        .ok_or(Error::InvalidUncompressedSize {
            size: declared,
            op_code: original_op_code,
            minimum: minimum - HEADER_LEN,
            maximum: MAX_MESSAGE_SIZE - HEADER_LEN,
        })?;
    let uncompressed_len = inner_length - HEADER_LEN;
    let mut inner = Vec::with_capacity(inner_length);
    inner.extend_from_slice(
        &i32::try_from(inner_length)
            .unwrap_or(i32::MAX)
            .to_le_bytes(),
    );
    inner.extend_from_slice(&header.request_id.to_le_bytes());
    inner.extend_from_slice(&header.response_to.to_le_bytes());
    inner.extend_from_slice(&original_op_code.to_le_bytes());
    let body = decompress_payload(compressor, compressed, uncompressed_len)?;
    if body.len() != uncompressed_len {
        return Err(Error::DecompressedSizeMismatch {
            declared: uncompressed_len,
            actual: body.len(),
        });
    }
    inner.extend_from_slice(&body);
    let compression = Compression {
        compressor,
        compressed_len: compressed.len(),
        uncompressed_len,
    };
    Ok((inner, compression))
}

/// Decompresses `compressed` into at most `limit + 1` bytes: more than `limit` is
/// [`Error::DecompressedTooLarge`].
fn decompress_payload(compressor: Compressor, compressed: &[u8], limit: usize) -> Result<Vec<u8>> {
    let too_large = Error::DecompressedTooLarge { declared: limit };
    let failed = |error: std::io::Error| Error::Decompression {
        compressor: compressor.name(),
        message: error.to_string(),
    };
    match compressor {
        Compressor::Noop => {
            if compressed.len() > limit {
                return Err(too_large);
            }
            Ok(compressed.to_vec())
        }
        Compressor::Zstd => {
            // A frame that declares more content than the limit is refused without work.
            if zstd::zstd_safe::get_frame_content_size(compressed)
                .ok()
                .flatten()
                .is_some_and(|size| u64::try_from(limit).is_ok_and(|limit| size > limit))
            {
                return Err(too_large);
            }
            // One pass into a buffer of exactly `limit` bytes: zstd fails with "destination
            // buffer is too small" rather than write past it.
            let mut out = Vec::with_capacity(limit);
            match zstd::zstd_safe::decompress(&mut out, compressed) {
                Ok(_) if out.len() > limit => Err(too_large),
                Ok(_) => Ok(out),
                Err(code) if code == zstd_error(ZstdError::ZSTD_error_dstSize_tooSmall) => {
                    Err(too_large)
                }
                Err(code) => Err(Error::Decompression {
                    compressor: compressor.name(),
                    message: zstd::zstd_safe::get_error_name(code).to_string(),
                }),
            }
        }
        Compressor::Zlib => {
            let mut out = Vec::with_capacity(limit.saturating_add(1));
            let decoder = flate2::read::ZlibDecoder::new(compressed);
            let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
            decoder.take(bound).read_to_end(&mut out).map_err(failed)?;
            if out.len() > limit {
                return Err(too_large);
            }
            Ok(out)
        }
    }
}

/// The code zstd's functions return for `error`: its negation, as a `size_t` (zstd's
/// `ERROR(name)`).
fn zstd_error(error: ZstdError) -> usize {
    0usize.wrapping_sub(error as usize)
}

/// Compresses a whole encoded message (header included) with `compressor` into an
/// OP_COMPRESSED with the same requestID and responseTo. `Ok(None)` when the compressed
/// message would exceed [`MAX_MESSAGE_SIZE`] (send the original, as mongod does).
pub fn compress(message: &[u8], compressor: Compressor) -> Result<Option<Vec<u8>>> {
    let header = parse_header(message)?;
    if header.length() != message.len() {
        return Err(Error::LengthMismatch {
            declared: header.message_length,
            actual: message.len(),
        });
    }
    if header.op_code == OP_COMPRESSED {
        return Err(Error::NestedCompression);
    }
    let body = message.get(HEADER_LEN..).unwrap_or_default();
    let compressed = compress_payload(compressor, body)?;
    let length = HEADER_LEN + COMPRESSION_HEADER_LEN + compressed.len();
    if length > MAX_MESSAGE_SIZE {
        return Ok(None);
    }
    // Both fit in an i32: they are at most MAX_MESSAGE_SIZE.
    let as_i32 = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let mut out = Vec::with_capacity(length);
    out.extend_from_slice(&as_i32(length).to_le_bytes());
    out.extend_from_slice(&header.request_id.to_le_bytes());
    out.extend_from_slice(&header.response_to.to_le_bytes());
    out.extend_from_slice(&OP_COMPRESSED.to_le_bytes());
    out.extend_from_slice(&header.op_code.to_le_bytes());
    out.extend_from_slice(&as_i32(body.len()).to_le_bytes());
    out.push(compressor.id());
    out.extend_from_slice(&compressed);
    Ok(Some(out))
}

fn compress_payload(compressor: Compressor, body: &[u8]) -> Result<Vec<u8>> {
    let failed = |error: std::io::Error| Error::Compression {
        compressor: compressor.name(),
        message: error.to_string(),
    };
    match compressor {
        Compressor::Noop => Ok(body.to_vec()),
        Compressor::Zstd => zstd::bulk::compress(body, ZSTD_LEVEL).map_err(failed),
        Compressor::Zlib => {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(body).map_err(failed)?;
            encoder.finish().map_err(failed)
        }
    }
}
