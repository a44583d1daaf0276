//! OP_COMPRESSED: the fields on the wire, the limits checked before decompressing, and what
//! each kind of bad data is refused with.

use std::io::Write;

use bson::doc;

use crate::{
    compress, decode, decode_compressed, encode, Compressor, Error, Message, OpMsg, OpReply,
    HEADER_LEN, MAX_MESSAGE_SIZE, OP_COMPRESSED, OP_MSG,
};

fn ping() -> Message {
    Message::Msg(OpMsg {
        body: doc! {"ping": 1, "$db": "admin", "padding": "x".repeat(200)},
        ..OpMsg::default()
    })
}

/// An OP_COMPRESSED with the given fields, its header's length right.
fn compressed_message(original: i32, size: i32, id: u8, payload: &[u8]) -> Vec<u8> {
    let length = i32::try_from(HEADER_LEN + 9 + payload.len()).unwrap();
    let mut bytes = Vec::new();
    for field in [length, 7, 3, OP_COMPRESSED, original, size] {
        bytes.extend(field.to_le_bytes());
    }
    bytes.push(id);
    bytes.extend(payload);
    bytes
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn fields_on_the_wire() {
    let plain = encode(7, 3, &ping()).unwrap();
    for compressor in [Compressor::Noop, Compressor::Zlib, Compressor::Zstd] {
        let bytes = compress(&plain, compressor).unwrap().unwrap();
        let field = |at: usize| i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!(field(0), i32::try_from(bytes.len()).unwrap());
        assert_eq!((field(4), field(8), field(12)), (7, 3, OP_COMPRESSED));
        assert_eq!(field(16), OP_MSG, "originalOpcode");
        assert_eq!(field(20), i32::try_from(plain.len() - 16).unwrap());
        assert_eq!(bytes[24], compressor.id());
        let (header, message, compression) = decode_compressed(&bytes).unwrap();
        assert_eq!(header.op_code, OP_MSG);
        assert_eq!(header.length(), plain.len());
        assert_eq!((header.request_id, header.response_to), (7, 3));
        assert_eq!(message, ping());
        assert_eq!(compression.unwrap().compressor, compressor);
    }
    // A repetitive body gets smaller.
    let zstd = compress(&plain, Compressor::Zstd).unwrap().unwrap();
    assert!(
        zstd.len() < plain.len() / 2,
        "{} vs {}",
        zstd.len(),
        plain.len()
    );
}

#[test]
fn compressor_names_and_ids() {
    assert_eq!(
        [Compressor::Noop, Compressor::Zlib, Compressor::Zstd].map(Compressor::id),
        [0, 2, 3]
    );
    assert_eq!(Compressor::from_name("zstd"), Some(Compressor::Zstd));
    assert_eq!(Compressor::from_name("zlib"), Some(Compressor::Zlib));
    // noop is decoded but never negotiated; snappy is not implemented.
    assert_eq!(Compressor::from_name("noop"), None);
    assert_eq!(Compressor::from_name("snappy"), None);
    assert_eq!(Compressor::from_id(1), None);
}

#[test]
fn unknown_compressors_are_refused() {
    let snappy = compressed_message(OP_MSG, 5, 1, &[0; 8]);
    assert_eq!(
        decode(&snappy),
        Err(Error::UnknownCompressor {
            id: 1,
            name: "snappy"
        })
    );
    let other = compressed_message(OP_MSG, 5, 200, &[0; 8]);
    assert_eq!(
        decode(&other),
        Err(Error::UnknownCompressor {
            id: 200,
            name: "unknown"
        })
    );
    assert!(!Error::UnknownCompressor { id: 1, name: "x" }.is_framing());
}

/// The size is checked before decompressing: the payload here is not even valid zstd.
#[test]
fn sizes_over_the_limit_are_refused_before_decompressing() {
    let limit = MAX_MESSAGE_SIZE - HEADER_LEN;
    for size in [-1, i32::MAX, i32::try_from(limit + 1).unwrap(), 0] {
        let bytes = compressed_message(OP_MSG, size, 3, b"not zstd at all");
        match decode(&bytes) {
            Err(Error::InvalidUncompressedSize {
                size: s,
                op_code: OP_MSG,
                maximum,
                ..
            }) => {
                assert_eq!((s, maximum), (size, limit));
            }
            other => panic!("size {size}: {other:?}"),
        }
    }
    // At the limit, the corrupt payload is what fails.
    let at_limit = compressed_message(OP_MSG, i32::try_from(limit).unwrap(), 3, b"not zstd");
    assert!(matches!(
        decode(&at_limit),
        Err(Error::Decompression {
            compressor: "zstd",
            ..
        })
    ));
}

/// Megabytes of zeros declared as 1,000 bytes: refused, having written at most 1,001.
#[test]
fn zip_bombs_fail_with_a_clear_error() {
    let zeros = vec![0u8; 8 << 20];
    // zstd with the content size in the frame (what compressors write) ...
    let with_size = zstd::bulk::compress(&zeros, 3).unwrap();
    // ... and without it, so only the bounded output stops it.
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    encoder.include_contentsize(false).unwrap();
    encoder.write_all(&zeros).unwrap();
    let without_size = encoder.finish().unwrap();
    assert!(matches!(
        zstd::zstd_safe::get_frame_content_size(&without_size),
        Ok(None)
    ));
    let cases = [(3, with_size), (3, without_size), (2, zlib(&zeros))];
    for (id, payload) in cases {
        assert!(payload.len() < 20_000, "{}", payload.len());
        let bytes = compressed_message(OP_MSG, 1000, id, &payload);
        assert_eq!(
            decode(&bytes),
            Err(Error::DecompressedTooLarge { declared: 1000 }),
            "compressor {id}"
        );
    }
    // noop: more bytes than declared.
    let bytes = compressed_message(OP_MSG, 100, 0, &[0; 101]);
    assert_eq!(
        decode(&bytes),
        Err(Error::DecompressedTooLarge { declared: 100 })
    );
}

#[test]
fn short_and_corrupt_data_is_refused() {
    let plain = encode(1, 0, &ping()).unwrap();
    let body = &plain[HEADER_LEN..];
    let declared = i32::try_from(body.len() + 10).unwrap();
    let cases = [
        (0, body.to_vec()),
        (2, zlib(body)),
        (3, zstd::bulk::compress(body, 3).unwrap()),
    ];
    for (id, payload) in cases {
        // Declares 10 more bytes than the data holds. (zstd's frame says how much it holds.)
        let bytes = compressed_message(OP_MSG, declared, id, &payload);
        match decode(&bytes) {
            Err(Error::DecompressedSizeMismatch {
                declared: d,
                actual,
            }) => {
                assert_eq!(
                    (d, actual),
                    (body.len() + 10, body.len()),
                    "compressor {id}"
                );
            }
            Err(Error::Decompression { .. }) if id == 3 => {}
            other => panic!("compressor {id}: {other:?}"),
        }
        // Cut short.
        if id != 0 {
            let size = i32::try_from(body.len()).unwrap();
            let cut = compressed_message(OP_MSG, size, id, &payload[..payload.len() / 2]);
            assert!(
                matches!(decode(&cut), Err(Error::Decompression { .. })),
                "compressor {id}: {:?}",
                decode(&cut)
            );
        }
    }
    // The decompressed message is checked like any other.
    let size = i32::try_from(body.len()).unwrap();
    let mut broken = body.to_vec();
    broken[0] = 0xff; // an unknown required flag bit
    let bytes = compressed_message(OP_MSG, size, 0, &broken);
    assert!(matches!(decode(&bytes), Err(Error::InvalidFlagBits { .. })));
}

#[test]
fn compressed_messages_do_not_nest() {
    let plain = encode(1, 0, &ping()).unwrap();
    let once = compress(&plain, Compressor::Noop).unwrap().unwrap();
    assert_eq!(
        compress(&once, Compressor::Zstd),
        Err(Error::NestedCompression)
    );
    let size = i32::try_from(once.len() - HEADER_LEN).unwrap();
    let twice = compressed_message(OP_COMPRESSED, size, 0, &once[HEADER_LEN..]);
    assert_eq!(decode(&twice), Err(Error::NestedCompression));
}

/// A message that would pass the limit once compressed (noop adds 9 bytes) is left alone.
#[test]
fn compressing_past_the_limit_returns_none() {
    let big = bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: vec![7; 15_999_975],
    };
    let documents = (0..3).map(|_| doc! {"b": big.clone()}).collect();
    let reply = Message::Reply(OpReply {
        documents,
        ..OpReply::default()
    });
    let plain = encode(1, 0, &reply).unwrap();
    assert_eq!(plain.len(), MAX_MESSAGE_SIZE);
    assert_eq!(compress(&plain, Compressor::Noop), Ok(None));
    // zstd makes it small.
    let zstd = compress(&plain, Compressor::Zstd).unwrap().unwrap();
    assert!(zstd.len() < 100_000);
    assert_eq!(decode(&zstd).unwrap().1, reply);
}
