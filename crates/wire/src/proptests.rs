//! Property tests: encode/decode round trips, and no panic on any input.

use std::collections::BTreeMap;

use bson::{Bson, Document};
use proptest::prelude::*;

use crate::{
    check, compress, decode, decode_compressed, encode, parse_header, Compressor, DocumentSequence,
    Message, OpMsg, OpQuery, OpReply, FLAG_CHECKSUM_PRESENT, FLAG_EXHAUST_ALLOWED,
    FLAG_MORE_TO_COME, OP_COMPRESSED, OP_MSG, OP_QUERY, OP_REPLY,
};

/// Small BSON values, nested a few levels. Doubles are finite so that `==` holds after a
/// round trip (NaN is not equal to itself).
fn bson_value() -> impl Strategy<Value = Bson> {
    let leaf = prop_oneof![
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        (-1e12f64..1e12).prop_map(Bson::Double),
        "[a-zA-Z0-9 é$.]{0,12}".prop_map(Bson::String),
        any::<bool>().prop_map(Bson::Boolean),
        Just(Bson::Null),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
            prop::collection::vec(("[a-z$_]{1,6}", inner), 0..4)
                .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
        ]
    })
}

fn document() -> impl Strategy<Value = Document> {
    prop::collection::vec(("[a-zA-Z$_.]{1,8}", bson_value()), 0..5)
        .prop_map(|fields| fields.into_iter().collect())
}

/// OP_MSG flags among the allowed ones: the two known required bits and any optional bits.
fn op_msg_flags() -> impl Strategy<Value = u32> {
    (any::<bool>(), any::<bool>(), any::<u16>()).prop_map(|(checksum, more_to_come, optional)| {
        let mut flags = u32::from(optional) << 16;
        if checksum {
            flags |= FLAG_CHECKSUM_PRESENT;
        }
        if more_to_come {
            flags |= FLAG_MORE_TO_COME;
        }
        flags
    })
}

fn op_msg() -> impl Strategy<Value = OpMsg> {
    let sequences = prop::collection::btree_map(
        "[a-zA-Z_.]{0,10}",
        prop::collection::vec(document(), 0..4),
        0..3,
    );
    (op_msg_flags(), document(), sequences).prop_map(
        |(flags, body, sequences): (u32, Document, BTreeMap<String, Vec<Document>>)| OpMsg {
            flags,
            body,
            sequences: sequences
                .into_iter()
                .map(|(identifier, documents)| DocumentSequence {
                    identifier,
                    documents,
                })
                .collect(),
        },
    )
}

fn op_query() -> impl Strategy<Value = OpQuery> {
    (
        any::<u32>(),
        "[a-z]{1,8}\\.[a-z$]{1,8}",
        any::<i32>(),
        any::<i32>(),
        document(),
        prop::option::of(document()),
    )
        .prop_map(
            |(flags, full_collection_name, number_to_skip, number_to_return, query, selector)| {
                OpQuery {
                    flags,
                    full_collection_name,
                    number_to_skip,
                    number_to_return,
                    query,
                    return_fields_selector: selector,
                }
            },
        )
}

fn op_reply() -> impl Strategy<Value = OpReply> {
    (
        any::<u32>(),
        any::<i64>(),
        any::<i32>(),
        prop::collection::vec(document(), 0..4),
    )
        .prop_map(
            |(response_flags, cursor_id, starting_from, documents)| OpReply {
                response_flags,
                cursor_id,
                starting_from,
                documents,
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        op_msg().prop_map(Message::Msg),
        op_query().prop_map(Message::Query),
        op_reply().prop_map(Message::Reply),
    ]
}

/// Every entry point on `bytes`: they may fail, never panic.
fn feed_everything(bytes: &[u8]) {
    let _ = parse_header(bytes);
    let _ = check(bytes);
    let _ = decode(bytes);
    let _ = decode_compressed(bytes);
    if let Ok(Some(length)) = check(bytes) {
        if let Some(message) = bytes.get(..length) {
            let _ = decode(message);
        }
    }
}

/// A header with the right length for `after_header`, so decoding goes past the header.
fn with_plausible_header(request_id: i32, op_code: i32, after_header: &[u8]) -> Vec<u8> {
    let length = i32::try_from(16 + after_header.len()).unwrap_or(i32::MAX);
    let mut bytes = Vec::new();
    bytes.extend(length.to_le_bytes());
    bytes.extend(request_id.to_le_bytes());
    bytes.extend(0i32.to_le_bytes());
    bytes.extend(op_code.to_le_bytes());
    bytes.extend(after_header);
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (a) decode(encode(m)) == m, with the header ids and length as given.
    #[test]
    fn round_trip(request_id in any::<i32>(), response_to in any::<i32>(), msg in message()) {
        let bytes = encode(request_id, response_to, &msg).unwrap();
        prop_assert_eq!(check(&bytes), Ok(Some(bytes.len())));
        let (header, decoded) = decode(&bytes).unwrap();
        prop_assert_eq!(header.request_id, request_id);
        prop_assert_eq!(header.response_to, response_to);
        prop_assert_eq!(header.length(), bytes.len());
        let op_code = match &msg {
            Message::Msg(_) => OP_MSG,
            Message::Query(_) => OP_QUERY,
            Message::Reply(_) => OP_REPLY,
        };
        prop_assert_eq!(header.op_code, op_code);
        prop_assert_eq!(decoded, msg);
    }

    /// (b) Any bytes at all.
    #[test]
    fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        feed_everything(&bytes);
    }

    /// (b) Any bytes behind a plausible header, so the op code decoders see them. OP_MSG
    /// bodies often start with allowed flags and a kind byte to get past the first checks.
    #[test]
    fn any_bytes_behind_a_header_never_panic(
        request_id in any::<i32>(),
        op_code in prop_oneof![
            Just(OP_MSG), Just(OP_QUERY), Just(OP_REPLY), Just(OP_COMPRESSED), any::<i32>()
        ],
        prefix in prop_oneof![
            Just(vec![]),
            Just(vec![0, 0, 0, 0, 0]),
            Just(vec![0, 0, 0, 0, 1]),
            Just(vec![1, 0, 0, 0, 0]),
        ],
        rest in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let after_header = [prefix, rest].concat();
        feed_everything(&with_plausible_header(request_id, op_code, &after_header));
    }

    /// (b) Random documents as the OP_MSG body bytes: malformed BSON is an error.
    #[test]
    fn random_document_bytes_never_panic(
        length_delta in -3i32..3,
        element_type in any::<u8>(),
        rest in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut document = Vec::new();
        let length = i32::try_from(rest.len() + 6).unwrap_or(i32::MAX) + length_delta;
        document.extend(length.to_le_bytes());
        document.push(element_type);
        document.extend(&rest);
        document.push(0);
        let after_header = [vec![0, 0, 0, 0, 0], document].concat();
        feed_everything(&with_plausible_header(1, OP_MSG, &after_header));
    }

    /// (c) A valid message with random bytes overwritten, then cut short at a random point.
    #[test]
    fn mutated_messages_never_panic(
        msg in message(),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        keep_header_length in any::<bool>(),
    ) {
        let mut bytes = encode(1, 0, &msg).unwrap();
        for (index, byte) in &mutations {
            let position = index.index(bytes.len());
            if let Some(slot) = bytes.get_mut(position) {
                *slot = *byte;
            }
        }
        feed_everything(&bytes);
        // Cut short, with the header's length either kept (a framing error) or fixed to match
        // (a truncated section).
        let cut_length = cut.index(bytes.len() + 1);
        let mut truncated = bytes.get(..cut_length).unwrap_or_default().to_vec();
        if !keep_header_length && truncated.len() >= 4 {
            let length = i32::try_from(truncated.len()).unwrap_or(i32::MAX);
            truncated.splice(0..4, length.to_le_bytes());
        }
        feed_everything(&truncated);
    }

    /// (c) Mutated bytes with a checksum fixed up, so the sections parser sees them.
    #[test]
    fn mutated_checksummed_messages_never_panic(
        msg in op_msg(),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let msg = OpMsg { flags: msg.flags | FLAG_CHECKSUM_PRESENT, ..msg };
        let mut bytes = encode(1, 0, &Message::Msg(msg)).unwrap();
        let covered = bytes.len() - 4;
        for (index, byte) in &mutations {
            // Leave the header and flags alone; mutate the sections.
            let position = 20 + index.index(covered - 20);
            if let Some(slot) = bytes.get_mut(position) {
                *slot = *byte;
            }
        }
        let crc = crc32c::crc32c(bytes.get(..covered).unwrap_or_default());
        bytes.truncate(covered);
        bytes.extend(crc.to_le_bytes());
        feed_everything(&bytes);
    }
}

fn compressor() -> impl Strategy<Value = Compressor> {
    prop_oneof![
        Just(Compressor::Noop),
        Just(Compressor::Zlib),
        Just(Compressor::Zstd)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// OP_COMPRESSED: decode(compress(encode(m))) == m with the original header, whatever the
    /// compressor.
    #[test]
    fn compressed_round_trip(
        request_id in any::<i32>(),
        response_to in any::<i32>(),
        msg in message(),
        compressor in compressor(),
    ) {
        let plain = encode(request_id, response_to, &msg).unwrap();
        let bytes = compress(&plain, compressor).unwrap().unwrap();
        prop_assert_eq!(check(&bytes), Ok(Some(bytes.len())));
        let outer = parse_header(&bytes).unwrap();
        prop_assert_eq!(outer.op_code, OP_COMPRESSED);
        let (header, decoded, compression) = decode_compressed(&bytes).unwrap();
        prop_assert_eq!(header, parse_header(&plain).unwrap());
        prop_assert_eq!(&decoded, &msg);
        let compression = compression.unwrap();
        prop_assert_eq!(compression.compressor, compressor);
        prop_assert_eq!(compression.uncompressed_len, plain.len() - 16);
        prop_assert_eq!(compression.compressed_len, bytes.len() - 25);
        // `decode` sees through the compression too.
        prop_assert_eq!(decode(&bytes).unwrap(), (header, decoded));
    }

    /// OP_COMPRESSED fields of any value in front of any bytes.
    #[test]
    fn any_compressed_bytes_never_panic(
        original_op_code in prop_oneof![
            Just(OP_MSG), Just(OP_QUERY), Just(OP_REPLY), Just(OP_COMPRESSED), any::<i32>()
        ],
        uncompressed_size in prop_oneof![0i32..300, any::<i32>()],
        compressor_id in prop_oneof![0u8..4, any::<u8>()],
        rest in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut after_header = Vec::new();
        after_header.extend(original_op_code.to_le_bytes());
        after_header.extend(uncompressed_size.to_le_bytes());
        after_header.push(compressor_id);
        after_header.extend(rest);
        feed_everything(&with_plausible_header(1, OP_COMPRESSED, &after_header));
    }

    /// A valid OP_COMPRESSED with bytes after its header overwritten: an error or a message,
    /// never a panic.
    #[test]
    fn mutated_compressed_messages_never_panic(
        msg in message(),
        compressor in compressor(),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let plain = encode(1, 0, &msg).unwrap();
        let mut bytes = compress(&plain, compressor).unwrap().unwrap();
        let after_header = bytes.len() - 16;
        for (index, byte) in &mutations {
            let position = 16 + index.index(after_header);
            if let Some(slot) = bytes.get_mut(position) {
                *slot = *byte;
            }
        }
        feed_everything(&bytes);
    }
}

/// Exhaust allowed is an optional bit: kept through a round trip like any other.
#[test]
fn exhaust_allowed_round_trips() {
    let msg = Message::Msg(OpMsg {
        flags: FLAG_EXHAUST_ALLOWED | FLAG_CHECKSUM_PRESENT,
        body: bson::doc! { "getMore": 1_i64, "collection": "c", "$db": "d" },
        sequences: vec![],
    });
    let bytes = encode(5, 0, &msg).unwrap();
    assert_eq!(decode(&bytes).unwrap().1, msg);
}
