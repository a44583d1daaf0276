//! Hand-built byte strings: what drivers send, and each way a message can be refused.

use bson::{doc, Document};

use crate::{
    check, decode, encode, parse_header, DocumentSequence, Error, Header, Message, OpMsg, OpQuery,
    OpReply, FLAG_CHECKSUM_PRESENT, FLAG_EXHAUST_ALLOWED, FLAG_MORE_TO_COME, MAX_BSON_DEPTH,
    MAX_DOCUMENT_SIZE, MAX_MESSAGE_SIZE, OP_COMPRESSED, OP_MSG, OP_QUERY, OP_REPLY,
};

// ---------------------------------------------------------------------------------------------
// Byte builders for hand-made messages.

fn le32(value: i32) -> [u8; 4] {
    value.to_le_bytes()
}

fn cstring(text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

fn document_bytes(document: &Document) -> Vec<u8> {
    let mut bytes = Vec::new();
    document.to_writer(&mut bytes).unwrap();
    bytes
}

/// A whole message: a header whose messageLength is right for `after_header`.
fn message(request_id: i32, op_code: i32, after_header: &[u8]) -> Vec<u8> {
    let length = i32::try_from(16 + after_header.len()).unwrap();
    let mut bytes = Vec::new();
    bytes.extend(le32(length));
    bytes.extend(le32(request_id));
    bytes.extend(le32(0));
    bytes.extend(le32(op_code));
    bytes.extend(after_header);
    bytes
}

/// An OP_MSG from its flagBits and raw section bytes.
fn op_msg_bytes(flags: u32, sections: &[u8]) -> Vec<u8> {
    let mut after_header = flags.to_le_bytes().to_vec();
    after_header.extend(sections);
    message(7, OP_MSG, &after_header)
}

fn body_section(document: &Document) -> Vec<u8> {
    let mut bytes = vec![0u8];
    bytes.extend(document_bytes(document));
    bytes
}

fn sequence_section(identifier: &str, documents: &[Document]) -> Vec<u8> {
    let mut content = cstring(identifier);
    for document in documents {
        content.extend(document_bytes(document));
    }
    let mut bytes = vec![1u8];
    bytes.extend(le32(i32::try_from(content.len() + 4).unwrap()));
    bytes.extend(content);
    bytes
}

/// Appends the CRC-32C of the whole message (with messageLength counting it).
fn with_checksum(mut message: Vec<u8>) -> Vec<u8> {
    let length = i32::try_from(message.len() + 4).unwrap();
    message.splice(0..4, le32(length));
    let crc = crc32c::crc32c(&message);
    message.extend(crc.to_le_bytes());
    message
}

/// A document nested `levels` deep: {a: {a: ... {a: 1}}}.
fn nested_document_bytes(levels: usize) -> Vec<u8> {
    // Built inside out as raw bytes, because `bson` itself would recurse to serialize it.
    let mut inner = document_bytes(&doc! { "a": 1 });
    for _ in 0..levels {
        let mut outer = Vec::with_capacity(inner.len() + 8);
        outer.extend(le32(i32::try_from(inner.len() + 8).unwrap()));
        outer.push(0x03);
        outer.extend(cstring("a"));
        outer.extend(&inner);
        outer.push(0);
        inner = outer;
    }
    inner
}

/// The one check helper: decode `bytes` and compare with the expected message or error.
#[track_caller]
fn check_decode(bytes: &[u8], expected: Result<Message, Error>) {
    let actual = decode(bytes).map(|(_, message)| message);
    assert_eq!(actual, expected);
}

fn hello_body() -> Document {
    doc! { "hello": 1, "$db": "admin" }
}

// ---------------------------------------------------------------------------------------------
// What drivers send.

/// `{hello: 1, $db: "admin"}` as an OP_MSG, written out byte by byte as a driver sends it.
const HELLO_OP_MSG: &[u8] = &[
    0x34, 0x00, 0x00, 0x00, // messageLength 52
    0x01, 0x00, 0x00, 0x00, // requestID 1
    0x00, 0x00, 0x00, 0x00, // responseTo 0
    0xdd, 0x07, 0x00, 0x00, // opCode 2013 OP_MSG
    0x00, 0x00, 0x00, 0x00, // flagBits 0
    0x00, // section kind 0: body
    0x1f, 0x00, 0x00, 0x00, // document length 31
    0x10, b'h', b'e', b'l', b'l', b'o', 0x00, // int32 "hello"
    0x01, 0x00, 0x00, 0x00, // 1
    0x02, b'$', b'd', b'b', 0x00, // string "$db"
    0x06, 0x00, 0x00, 0x00, b'a', b'd', b'm', b'i', b'n', 0x00, // "admin"
    0x00, // end of document
];

#[test]
fn hello_op_msg_decodes() {
    let (header, message) = decode(HELLO_OP_MSG).unwrap();
    assert_eq!(
        header,
        Header {
            message_length: 52,
            request_id: 1,
            response_to: 0,
            op_code: OP_MSG
        }
    );
    let expected = Message::Msg(OpMsg {
        flags: 0,
        body: hello_body(),
        sequences: vec![],
    });
    assert_eq!(message, expected);
    // And encoding gives back the same bytes.
    assert_eq!(encode(1, 0, &expected).unwrap(), HELLO_OP_MSG);
}

/// The first handshake of a legacy driver: OP_QUERY `isMaster` on `admin.$cmd`,
/// numberToReturn -1.
#[test]
fn is_master_op_query_decodes() {
    let query = doc! {
        "isMaster": 1,
        "helloOk": true,
        "client": {
            "driver": { "name": "nodejs", "version": "4.17.2" },
            "os": { "type": "Linux", "name": "linux", "architecture": "x64" },
            "platform": "Node.js v18.19.0, LE",
        },
        "compression": ["none"],
    };
    let mut after_header = Vec::new();
    after_header.extend(0u32.to_le_bytes()); // flags
    after_header.extend(cstring("admin.$cmd")); // fullCollectionName
    after_header.extend(le32(0)); // numberToSkip
    after_header.extend(le32(-1)); // numberToReturn
    after_header.extend(document_bytes(&query));
    let bytes = message(3, OP_QUERY, &after_header);
    let expected = Message::Query(OpQuery {
        flags: 0,
        full_collection_name: "admin.$cmd".into(),
        number_to_skip: 0,
        number_to_return: -1,
        query,
        return_fields_selector: None,
    });
    check_decode(&bytes, Ok(expected.clone()));
    assert_eq!(encode(3, 0, &expected).unwrap(), bytes);
}

#[test]
fn op_query_with_return_fields_selector_decodes() {
    let mut after_header = Vec::new();
    after_header.extend(4u32.to_le_bytes()); // secondaryOk
    after_header.extend(cstring("test.people"));
    after_header.extend(le32(10));
    after_header.extend(le32(20));
    after_header.extend(document_bytes(&doc! { "age": { "$gt": 30 } }));
    after_header.extend(document_bytes(&doc! { "name": 1 }));
    check_decode(
        &message(3, OP_QUERY, &after_header),
        Ok(Message::Query(OpQuery {
            flags: 4,
            full_collection_name: "test.people".into(),
            number_to_skip: 10,
            number_to_return: 20,
            query: doc! { "age": { "$gt": 30 } },
            return_fields_selector: Some(doc! { "name": 1 }),
        })),
    );
}

/// An insert as drivers send it: the documents in a kind 1 section named `documents`.
#[test]
fn insert_with_document_sequence_decodes() {
    let body = doc! { "insert": "people", "ordered": true, "$db": "test" };
    let documents = vec![
        doc! { "_id": 1, "name": "Ada" },
        doc! { "_id": 2, "name": "Alan" },
    ];
    let mut sections = body_section(&body);
    sections.extend(sequence_section("documents", &documents));
    let bytes = op_msg_bytes(0, &sections);
    let expected = Message::Msg(OpMsg {
        flags: 0,
        body,
        sequences: vec![DocumentSequence {
            identifier: "documents".into(),
            documents,
        }],
    });
    check_decode(&bytes, Ok(expected.clone()));
    assert_eq!(encode(7, 0, &expected).unwrap(), bytes);
}

#[test]
fn sequence_before_body_and_empty_sequence_decode() {
    let mut sections = sequence_section("updates", &[]);
    sections.extend(body_section(&doc! { "update": "c", "$db": "d" }));
    check_decode(
        &op_msg_bytes(0, &sections),
        Ok(Message::Msg(OpMsg {
            flags: 0,
            body: doc! { "update": "c", "$db": "d" },
            sequences: vec![DocumentSequence {
                identifier: "updates".into(),
                documents: vec![],
            }],
        })),
    );
}

#[test]
fn op_reply_decodes() {
    let mut after_header = Vec::new();
    after_header.extend(8u32.to_le_bytes()); // awaitCapable
    after_header.extend(0i64.to_le_bytes());
    after_header.extend(le32(0));
    after_header.extend(le32(2));
    after_header.extend(document_bytes(&doc! { "ismaster": true, "ok": 1.0 }));
    after_header.extend(document_bytes(&doc! {}));
    let bytes = message(9, OP_REPLY, &after_header);
    let expected = Message::Reply(OpReply {
        response_flags: 8,
        cursor_id: 0,
        starting_from: 0,
        documents: vec![doc! { "ismaster": true, "ok": 1.0 }, doc! {}],
    });
    check_decode(&bytes, Ok(expected.clone()));
    assert_eq!(encode(9, 0, &expected).unwrap(), bytes);
}

#[test]
fn op_msg_flags_allowed() {
    let sections = body_section(&hello_body());
    for flags in [
        FLAG_MORE_TO_COME,
        FLAG_EXHAUST_ALLOWED,
        // Optional bits 17-31 are unknown but may be ignored.
        1 << 17,
        1 << 31,
        FLAG_MORE_TO_COME | FLAG_EXHAUST_ALLOWED | 0xFFFE_0000,
    ] {
        check_decode(
            &op_msg_bytes(flags, &sections),
            Ok(Message::Msg(OpMsg {
                flags,
                body: hello_body(),
                sequences: vec![],
            })),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Checksums.

#[test]
fn checksum_present_and_valid() {
    let bytes = with_checksum(op_msg_bytes(
        FLAG_CHECKSUM_PRESENT,
        &body_section(&hello_body()),
    ));
    let expected = Message::Msg(OpMsg {
        flags: FLAG_CHECKSUM_PRESENT,
        body: hello_body(),
        sequences: vec![],
    });
    check_decode(&bytes, Ok(expected.clone()));
    assert_eq!(encode(7, 0, &expected).unwrap(), bytes);
}

#[test]
fn checksum_mismatch() {
    let mut bytes = with_checksum(op_msg_bytes(
        FLAG_CHECKSUM_PRESENT,
        &body_section(&hello_body()),
    ));
    let in_message = crc32c::crc32c(bytes.get(..bytes.len() - 4).unwrap());
    // Corrupt one byte of the body ("hello" becomes "jello"): the checksum no longer matches.
    let position = bytes.iter().position(|byte| *byte == b'h').unwrap();
    bytes[position] = b'j';
    let computed = crc32c::crc32c(bytes.get(..bytes.len() - 4).unwrap());
    check_decode(
        &bytes,
        Err(Error::ChecksumMismatch {
            in_message,
            computed,
        }),
    );
}

#[test]
fn checksum_flag_without_checksum_is_a_mismatch() {
    // The last 4 bytes of the body are taken as the checksum, and do not match.
    let bytes = op_msg_bytes(FLAG_CHECKSUM_PRESENT, &body_section(&hello_body()));
    assert!(matches!(
        decode(&bytes),
        Err(Error::ChecksumMismatch { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Header errors: always framing errors.

#[test]
fn header_errors() {
    fn header(length: i32, op_code: i32) -> Vec<u8> {
        [le32(length), le32(1), le32(0), le32(op_code)].concat()
    }
    #[track_caller]
    fn check_header(bytes: &[u8], expected: Result<Header, Error>) {
        assert_eq!(parse_header(bytes), expected);
    }
    let too_small = |length, op_code, minimum| {
        Err(Error::MessageTooSmall {
            length,
            op_code,
            minimum,
        })
    };
    check_header(&[], Err(Error::IncompleteHeader { available: 0 }));
    check_header(
        &HELLO_OP_MSG[..15],
        Err(Error::IncompleteHeader { available: 15 }),
    );
    check_header(&header(15, 9999), too_small(15, 9999, 16));
    check_header(&header(0, OP_MSG), too_small(0, OP_MSG, 26));
    check_header(&header(-1, OP_MSG), too_small(-1, OP_MSG, 26));
    check_header(&header(i32::MIN, OP_MSG), too_small(i32::MIN, OP_MSG, 26));
    check_header(&header(25, OP_MSG), too_small(25, OP_MSG, 26));
    check_header(&header(33, OP_QUERY), too_small(33, OP_QUERY, 34));
    check_header(&header(35, OP_REPLY), too_small(35, OP_REPLY, 36));
    check_header(&header(24, OP_COMPRESSED), too_small(24, OP_COMPRESSED, 25));
    let over = i32::try_from(MAX_MESSAGE_SIZE + 1).unwrap();
    check_header(
        &header(over, OP_MSG),
        Err(Error::MessageTooLarge { length: over }),
    );
    check_header(
        &header(i32::MAX, OP_MSG),
        Err(Error::MessageTooLarge { length: i32::MAX }),
    );
    // Valid: the smallest OP_MSG, the largest message, an unknown op code (refused by decode).
    let max = i32::try_from(MAX_MESSAGE_SIZE).unwrap();
    for (length, op_code) in [(26, OP_MSG), (max, OP_MSG), (16, 9999), (36, OP_REPLY)] {
        check_header(
            &header(length, op_code),
            Ok(Header {
                message_length: length,
                request_id: 1,
                response_to: 0,
                op_code,
            }),
        );
        assert!(parse_header(&header(length, op_code)).is_ok());
    }
    for bytes in [
        header(15, OP_MSG),
        header(over, OP_MSG),
        HELLO_OP_MSG[..3].to_vec(),
    ] {
        assert!(parse_header(&bytes).unwrap_err().is_framing());
    }
}

#[test]
fn check_finds_message_boundaries() {
    #[track_caller]
    fn check_buffer(bytes: &[u8], expected: Result<Option<usize>, Error>) {
        assert_eq!(check(bytes), expected);
    }
    check_buffer(&[], Ok(None));
    check_buffer(&HELLO_OP_MSG[..15], Ok(None));
    check_buffer(&HELLO_OP_MSG[..16], Ok(None));
    check_buffer(&HELLO_OP_MSG[..51], Ok(None));
    check_buffer(HELLO_OP_MSG, Ok(Some(52)));
    let two = [HELLO_OP_MSG, HELLO_OP_MSG].concat();
    check_buffer(&two, Ok(Some(52)));
    check_buffer(&two[..60], Ok(Some(52)));
    let mut bad = HELLO_OP_MSG.to_vec();
    bad.splice(0..4, le32(3));
    check_buffer(
        &bad,
        Err(Error::MessageTooSmall {
            length: 3,
            op_code: OP_MSG,
            minimum: 26,
        }),
    );
    // A bad header is refused as soon as its 16 bytes are buffered.
    assert!(check(&bad[..16]).unwrap_err().is_framing());
}

// ---------------------------------------------------------------------------------------------
// Content errors: the message was framed correctly, the connection can be kept.

#[test]
fn decode_errors() {
    let body = body_section(&hello_body());
    let hello = op_msg_bytes(0, &body);
    let longer = [hello.clone(), vec![0]].concat();
    check_decode(
        &longer,
        Err(Error::LengthMismatch {
            declared: 52,
            actual: 53,
        }),
    );
    check_decode(
        &hello[..51],
        Err(Error::LengthMismatch {
            declared: 52,
            actual: 51,
        }),
    );
    check_decode(
        &message(1, OP_COMPRESSED, &[0xdc, 0x07, 0, 0, 0, 0, 0, 0, 1]),
        Err(Error::NestedCompression),
    );
    check_decode(
        &message(1, 2002, &[0; 20]),
        Err(Error::UnknownOpCode { op_code: 2002 }),
    );
    check_decode(
        &message(1, 42, &[]),
        Err(Error::UnknownOpCode { op_code: 42 }),
    );

    // OP_MSG flags: required bits other than checksumPresent and moreToCome are refused.
    for (flags, unknown_required) in [(1 << 2, 1 << 2), (1 << 15, 1 << 15), (0xFFFF, 0xFFFC)] {
        check_decode(
            &op_msg_bytes(flags, &body),
            Err(Error::InvalidFlagBits {
                flags,
                unknown_required,
            }),
        );
    }

    // OP_MSG sections.
    let mut kind_2 = body.clone();
    kind_2[0] = 2;
    check_decode(
        &op_msg_bytes(0, &kind_2),
        Err(Error::UnknownSectionKind { kind: 2 }),
    );
    check_decode(
        &op_msg_bytes(0, &sequence_section("documents", &[doc! { "a": 1 }])),
        Err(Error::MissingBody),
    );
    check_decode(
        &op_msg_bytes(0, &[body.clone(), body.clone()].concat()),
        Err(Error::DuplicateBody),
    );
    let sequence = sequence_section("documents", &[doc! { "a": 1 }]);
    check_decode(
        &op_msg_bytes(
            0,
            &[body.clone(), sequence.clone(), sequence.clone()].concat(),
        ),
        Err(Error::DuplicateSequenceIdentifier {
            identifier: "documents".into(),
        }),
    );
    // A kind byte with nothing after it.
    check_decode(
        &op_msg_bytes(0, &[body.clone(), vec![0]].concat()),
        Err(Error::Truncated {
            what: "OP_MSG body",
            needed: 4,
            available: 0,
        }),
    );
}

#[test]
fn document_sequence_errors() {
    let body = body_section(&hello_body());
    let with_sequence =
        |sequence: &[u8]| op_msg_bytes(0, &[body.clone(), sequence.to_vec()].concat());
    let one_document = document_bytes(&doc! { "a": 1 });
    // Size below the size field itself.
    for size in [3, 0, -1, i32::MIN] {
        let sequence = [vec![1], le32(size).to_vec(), cstring("d")].concat();
        check_decode(
            &with_sequence(&sequence),
            Err(Error::InvalidSequenceSize { size }),
        );
    }
    // Size running past the message.
    let sequence = [
        vec![1],
        le32(100).to_vec(),
        cstring("d"),
        one_document.clone(),
    ]
    .concat();
    check_decode(
        &with_sequence(&sequence),
        Err(Error::Truncated {
            what: "OP_MSG document sequence",
            needed: 96,
            available: 14,
        }),
    );
    // The identifier's NUL lies beyond the declared size.
    let sequence = [
        vec![1],
        le32(6).to_vec(),
        cstring("docs"),
        one_document.clone(),
    ]
    .concat();
    check_decode(
        &with_sequence(&sequence),
        Err(Error::InvalidSequenceSize { size: 6 }),
    );
    // A document running past the declared size (size one byte short).
    let sequence = [
        vec![1],
        le32(4 + 2 + 11).to_vec(),
        cstring("d"),
        one_document.clone(),
    ]
    .concat();
    assert_eq!(one_document.len(), 12);
    check_decode(
        &with_sequence(&[sequence, vec![0]].concat()),
        Err(Error::Truncated {
            what: "OP_MSG document sequence",
            needed: 12,
            available: 11,
        }),
    );
    // An identifier that is not UTF-8.
    let sequence = [vec![1], le32(4 + 3).to_vec(), vec![0xff, 0xfe, 0]].concat();
    check_decode(
        &with_sequence(&sequence),
        Err(Error::InvalidUtf8CString {
            what: "OP_MSG document sequence identifier",
        }),
    );
}

#[test]
fn document_errors() {
    let what = "OP_MSG body";
    let body_with_length = |length: i32, rest: &[u8]| {
        op_msg_bytes(0, &[vec![0], le32(length).to_vec(), rest.to_vec()].concat())
    };
    for length in [4, 0, -5, i32::MIN] {
        check_decode(
            &body_with_length(length, &[0; 8]),
            Err(Error::InvalidDocumentLength { what, length }),
        );
    }
    // Refused from the length prefix alone, though only 1 byte follows it.
    let over = MAX_DOCUMENT_SIZE + 1;
    check_decode(
        &body_with_length(i32::try_from(over).unwrap(), &[0; 2]),
        Err(Error::DocumentTooLarge { what, length: over }),
    );
    check_decode(
        &body_with_length(i32::MAX, &[0; 2]),
        Err(Error::DocumentTooLarge {
            what,
            length: usize::try_from(i32::MAX).unwrap(),
        }),
    );
    check_decode(
        &body_with_length(100, &[0; 2]),
        Err(Error::Truncated {
            what,
            needed: 100,
            available: 6,
        }),
    );
    // Element type 0x99 does not exist.
    let bad_type = [le32(8).to_vec(), vec![0x99, b'a', 0, 0]].concat();
    assert!(matches!(
        decode(&op_msg_bytes(0, &[vec![0], bad_type].concat())),
        Err(Error::InvalidBson {
            what: "OP_MSG body",
            ..
        })
    ));
    // A string whose length runs past the document.
    let bad_string = [
        le32(16).to_vec(),
        vec![0x02, b'a', 0],
        le32(50).to_vec(),
        vec![b'x', 0, 0, 0, 0],
    ]
    .concat();
    assert!(matches!(
        decode(&op_msg_bytes(0, &[vec![0], bad_string].concat())),
        Err(Error::InvalidBson { .. })
    ));
    // A document without its terminating NUL.
    let no_nul = [le32(5).to_vec(), vec![1]].concat();
    assert!(matches!(
        decode(&op_msg_bytes(0, &[vec![0], no_nul].concat())),
        Err(Error::InvalidBson { .. })
    ));
}

#[test]
fn nesting_depth() {
    let decode_nested = |levels| {
        let body = [vec![0], nested_document_bytes(levels)].concat();
        decode(&op_msg_bytes(0, &body)).map(|_| ())
    };
    assert_eq!(decode_nested(MAX_BSON_DEPTH), Ok(()));
    let too_deep = Err(Error::DocumentTooDeep {
        what: "OP_MSG body",
    });
    assert_eq!(decode_nested(MAX_BSON_DEPTH + 1), too_deep);
    // Deep enough to overflow the stack of a recursive parser.
    assert_eq!(decode_nested(100_000), too_deep);
    // Arrays count as levels too: [[[...]]] inside {a: ...}.
    let mut inner = document_bytes(&doc! {});
    for _ in 0..MAX_BSON_DEPTH + 1 {
        inner = [
            le32(i32::try_from(inner.len() + 8).unwrap()).to_vec(),
            vec![0x04, b'0', 0],
            inner,
            vec![0],
        ]
        .concat();
    }
    assert_eq!(
        decode(&op_msg_bytes(0, &[vec![0], inner].concat())).map(|_| ()),
        too_deep
    );
}

#[test]
fn op_query_errors() {
    let query = document_bytes(&doc! { "isMaster": 1 });
    let op_query = |name: &[u8], rest: &[u8]| {
        let after_header = [
            0u32.to_le_bytes().to_vec(),
            name.to_vec(),
            le32(0).to_vec(),
            le32(-1).to_vec(),
            rest.to_vec(),
        ]
        .concat();
        message(1, OP_QUERY, &after_header)
    };
    check_decode(
        &op_query(
            &cstring("admin.$cmd"),
            &[query.clone(), vec![1, 2, 3]].concat(),
        ),
        Err(Error::Truncated {
            what: "OP_QUERY returnFieldsSelector",
            needed: 4,
            available: 3,
        }),
    );
    let selector = document_bytes(&doc! {});
    check_decode(
        &op_query(
            &cstring("admin.$cmd"),
            &[query.clone(), selector, vec![0]].concat(),
        ),
        Err(Error::TrailingBytes {
            what: "OP_QUERY",
            count: 1,
        }),
    );
    // The name's NUL is missing: everything up to the end of the message is searched.
    let no_nul = [
        0u32.to_le_bytes().to_vec(),
        b"admin.$cmd".to_vec(),
        vec![1; 20],
    ]
    .concat();
    check_decode(
        &message(1, OP_QUERY, &no_nul),
        Err(Error::UnterminatedCString {
            what: "OP_QUERY fullCollectionName",
        }),
    );
    check_decode(
        &op_query(&[0xc3, 0x28, 0], &query),
        Err(Error::InvalidUtf8CString {
            what: "OP_QUERY fullCollectionName",
        }),
    );
}

#[test]
fn op_reply_errors() {
    let op_reply = |number_returned: i32, documents: &[Document]| {
        let mut after_header = [
            0u32.to_le_bytes().to_vec(),
            0i64.to_le_bytes().to_vec(),
            le32(0).to_vec(),
            le32(number_returned).to_vec(),
        ]
        .concat();
        for document in documents {
            after_header.extend(document_bytes(document));
        }
        message(1, OP_REPLY, &after_header)
    };
    check_decode(
        &op_reply(2, &[doc! { "ok": 1 }]),
        Err(Error::NumberReturnedMismatch {
            declared: 2,
            actual: 1,
        }),
    );
    check_decode(
        &op_reply(0, &[doc! { "ok": 1 }]),
        Err(Error::NumberReturnedMismatch {
            declared: 0,
            actual: 1,
        }),
    );
    // A huge count is never used to allocate.
    check_decode(
        &op_reply(i32::MAX, &[]),
        Err(Error::NumberReturnedMismatch {
            declared: i32::MAX,
            actual: 0,
        }),
    );
    check_decode(
        &op_reply(-1, &[]),
        Err(Error::NegativeNumberReturned {
            number_returned: -1,
        }),
    );
    check_decode(&op_reply(0, &[]), Ok(Message::Reply(OpReply::default())));
}

// ---------------------------------------------------------------------------------------------
// Encoding errors.

#[test]
fn encode_errors() {
    let msg = |flags, sequences| {
        Message::Msg(OpMsg {
            flags,
            body: hello_body(),
            sequences,
        })
    };
    let sequence = |identifier: &str| DocumentSequence {
        identifier: identifier.into(),
        documents: vec![],
    };
    assert_eq!(
        encode(1, 0, &msg(1 << 3, vec![])),
        Err(Error::InvalidFlagBits {
            flags: 1 << 3,
            unknown_required: 1 << 3
        })
    );
    assert_eq!(
        encode(1, 0, &msg(0, vec![sequence("a\0b")])),
        Err(Error::CStringContainsNul {
            what: "OP_MSG document sequence identifier"
        })
    );
    assert_eq!(
        encode(1, 0, &msg(0, vec![sequence("d"), sequence("d")])),
        Err(Error::DuplicateSequenceIdentifier {
            identifier: "d".into()
        })
    );
    let query = Message::Query(OpQuery {
        flags: 0,
        full_collection_name: "a\0.$cmd".into(),
        number_to_skip: 0,
        number_to_return: -1,
        query: doc! {},
        return_fields_selector: None,
    });
    assert_eq!(
        encode(1, 0, &query),
        Err(Error::CStringContainsNul {
            what: "OP_QUERY fullCollectionName"
        })
    );
    let bad_key = Message::Msg(OpMsg {
        flags: 0,
        body: doc! { "a\0b": 1 },
        sequences: vec![],
    });
    assert!(matches!(
        encode(1, 0, &bad_key),
        Err(Error::EncodeBson {
            what: "OP_MSG body",
            ..
        })
    ));
}

#[test]
fn encode_size_limits() {
    let big_string = "x".repeat(MAX_DOCUMENT_SIZE);
    let too_big_document = Message::Msg(OpMsg {
        flags: 0,
        body: doc! { "s": big_string },
        sequences: vec![],
    });
    assert!(matches!(
        encode(1, 0, &too_big_document),
        Err(Error::DocumentTooLarge {
            what: "OP_MSG body",
            ..
        })
    ));
    // Four documents of 15 MB: each is allowed, the message is not.
    let document = doc! { "s": "x".repeat(15_000_000) };
    let reply = Message::Reply(OpReply {
        documents: vec![document; 4],
        ..OpReply::default()
    });
    assert!(matches!(
        encode(1, 0, &reply),
        Err(Error::EncodedMessageTooLarge { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Framing or not.

#[test]
fn is_framing() {
    let framing = [
        Error::IncompleteHeader { available: 3 },
        Error::MessageTooSmall {
            length: 3,
            op_code: OP_MSG,
            minimum: 26,
        },
        Error::MessageTooLarge { length: i32::MAX },
        Error::LengthMismatch {
            declared: 52,
            actual: 53,
        },
    ];
    for error in framing {
        assert!(error.is_framing(), "{error}");
    }
    let not_framing = [
        Error::UnknownCompressor {
            id: 1,
            name: "snappy",
        },
        Error::DecompressedTooLarge { declared: 10 },
        Error::UnknownOpCode { op_code: 2002 },
        Error::MissingBody,
        Error::DuplicateBody,
        Error::UnknownSectionKind { kind: 2 },
        Error::ChecksumMismatch {
            in_message: 1,
            computed: 2,
        },
        Error::DocumentTooLarge {
            what: "OP_MSG body",
            length: MAX_DOCUMENT_SIZE + 1,
        },
        Error::Truncated {
            what: "OP_MSG body",
            needed: 5,
            available: 1,
        },
    ];
    for error in not_framing {
        assert!(!error.is_framing(), "{error}");
    }
}

#[test]
fn error_messages_name_the_problem() {
    #[track_caller]
    fn check_message(error: Error, expected: &str) {
        assert_eq!(error.to_string(), expected);
    }
    check_message(
        Error::UnknownOpCode { op_code: 2002 },
        "unsupported op code 2002 (OP_INSERT, removed in MongoDB 6.0)",
    );
    check_message(
        Error::InvalidFlagBits {
            flags: 4,
            unknown_required: 4,
        },
        "OP_MSG flagBits 0x00000004 has unknown required bits 0x0004",
    );
    check_message(
        Error::DocumentTooLarge {
            what: "OP_MSG body",
            length: 20_000_000,
        },
        "BSON document of 20000000 bytes in OP_MSG body exceeds the maximum of 16793600 bytes",
    );
    check_message(
        Error::MessageTooLarge { length: 48_000_001 },
        "invalid message length 48000001: the maximum is 48000000 bytes",
    );
}

/// Documents are converted without recursion: 200 levels decode on a small thread stack,
/// where the recursive parser of the `bson` crate needs about 13 KiB a level in debug builds.
#[test]
fn deep_document_needs_little_stack() {
    let body = [vec![0], nested_document_bytes(MAX_BSON_DEPTH)].concat();
    let bytes = op_msg_bytes(0, &body);
    let decoded = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || decode(&bytes).is_ok())
        .unwrap()
        .join()
        .unwrap();
    assert!(decoded);
}

/// Every BSON type converts as the `bson` crate's own parser converts it.
#[test]
fn every_bson_type_matches_the_bson_parser() {
    use bson::{
        oid::ObjectId, spec::BinarySubtype, Binary, Bson, DateTime, Decimal128,
        JavaScriptCodeWithScope, Regex, Timestamp,
    };
    let document = doc! {
        "double": 1.5,
        "nan": f64::NAN,
        "string": "héllo",
        "document": { "a": { "b": [1, { "c": null }] } },
        "array": [1, "two", [3.0], {}],
        "binary": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
        "uuid": Binary { subtype: BinarySubtype::Uuid, bytes: vec![7; 16] },
        "undefined": Bson::Undefined,
        "object_id": ObjectId::from_bytes([1; 12]),
        "bool": true,
        "date": DateTime::from_millis(1_700_000_000_000),
        "null": null,
        "regex": Regex { pattern: "^a.*".into(), options: "im".into() },
        "code": Bson::JavaScriptCode("function() { return 1; }".into()),
        "symbol": Bson::Symbol("sym".into()),
        "code_with_scope": JavaScriptCodeWithScope {
            code: "x".into(),
            scope: doc! { "x": { "y": [1] } },
        },
        "int32": 42,
        "timestamp": Timestamp { time: 5, increment: 6 },
        "int64": 1_i64 << 40,
        "decimal": Decimal128::from_bytes([3; 16]),
        "min": Bson::MinKey,
        "max": Bson::MaxKey,
    };
    let bytes = document_bytes(&document);
    let expected = bson::from_slice::<Document>(&bytes).unwrap();
    let msg = decode(&op_msg_bytes(0, &[vec![0], bytes].concat()))
        .unwrap()
        .1;
    let Message::Msg(msg) = msg else {
        panic!("not an OP_MSG");
    };
    // Compare as bytes, because NaN is not equal to itself.
    assert_eq!(document_bytes(&msg.body), document_bytes(&expected));
}

// ---------------------------------------------------------------------------------------------
// The decoding budget: memory bounded by a small multiple of the message's size.

/// `{ping: 1, $db: "admin", n: [null x count]}`, the array's keys left empty (2 bytes a null).
fn ping_with_nulls(count: usize) -> Vec<u8> {
    let mut array = Vec::with_capacity(count * 2 + 5);
    array.extend(le32(0));
    for _ in 0..count {
        array.extend([0x0A, 0x00]);
    }
    array.push(0);
    let array_len = i32::try_from(array.len()).unwrap();
    array.splice(0..4, le32(array_len));
    let mut body = Vec::new();
    body.extend(le32(0));
    body.push(0x10);
    body.extend(cstring("ping"));
    body.extend(le32(1));
    body.push(0x02);
    body.extend(cstring("$db"));
    body.extend(le32(6));
    body.extend(cstring("admin"));
    body.push(0x04);
    body.extend(cstring("n"));
    body.extend(array);
    body.push(0);
    let body_len = i32::try_from(body.len()).unwrap();
    body.splice(0..4, le32(body_len));
    let mut section = vec![0u8];
    section.extend(body);
    op_msg_bytes(0, &section)
}

#[test]
fn element_budget_refuses_messages_that_decode_to_many_times_their_size() {
    // 2 million nulls in 4 MB: about 256 MB decoded. Refused, and not a framing error.
    let bytes = ping_with_nulls(2_000_000);
    let error = decode(&bytes).unwrap_err();
    assert_eq!(
        error,
        Error::TooManyElements {
            what: "OP_MSG body"
        }
    );
    assert!(!error.is_framing());
    // A thousand nulls are fine.
    let (_, message) = decode(&ping_with_nulls(1_000)).unwrap();
    let Message::Msg(msg) = message else {
        panic!("not an OP_MSG")
    };
    assert_eq!(msg.body.get_array("n").unwrap().len(), 1_000);
}

#[test]
fn element_budget_admits_ordinary_large_batches() {
    let documents: Vec<Document> = (0..100_000)
        .map(|i| doc! {"_id": i, "name": "item", "qty": i % 7})
        .collect();
    let mut sections = body_section(&doc! {"insert": "c", "$db": "test"});
    sections.extend(sequence_section("documents", &documents));
    let (_, message) = decode(&op_msg_bytes(0, &sections)).unwrap();
    let Message::Msg(msg) = message else {
        panic!("not an OP_MSG")
    };
    assert_eq!(msg.sequences[0].documents.len(), 100_000);
    // The budget is shared by the sections of a message: the same documents as a second
    // sequence count again.
    let many = vec![doc! {"a": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]}; 60_000];
    let mut sections = body_section(&doc! {"insert": "c", "$db": "test"});
    sections.extend(sequence_section("documents", &many));
    sections.extend(sequence_section("more", &many));
    assert_eq!(
        decode(&op_msg_bytes(0, &sections)).unwrap_err(),
        Error::TooManyElements {
            what: "OP_MSG document sequence"
        }
    );
}
