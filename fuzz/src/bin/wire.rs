//! The wire decoder: any bytes a client sends as one message (header, OP_MSG sections,
//! OP_QUERY, OP_COMPRESSED with zstd, zlib or snappy) decode or fail cleanly, within bounds.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = outpost_wire::parse_header(data);
        if let Ok((_, message)) = outpost_wire::decode(data) {
            // What decodes encodes again.
            let _ = outpost_wire::encode(1, 0, &message);
        }
    });
}
