//! The sync protocol's decoding of what a peer sends: a change (`Change::from_document`, then
//! the checks every received change goes through), an instance query (map of namespaces to
//! filters or RQL strings), and RQL text.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Some(input) = outpost_fuzz::document(data) {
            if let Ok(change) = outpost_sync::protocol::Change::from_document(&input) {
                let _ = outpost_sync::protocol::check_received_change(&change);
                let _ = change.to_document();
            }
            if let Ok(query) = outpost_sync::InstanceQuery::parse(&input, "shop") {
                for sample in outpost_fuzz::sample_documents() {
                    let _ = query.matches("shop", "items", &sample);
                }
            }
        } else if let Ok(text) = std::str::from_utf8(data) {
            let _ = outpost_sync::rql::compile(text);
        }
    });
}
