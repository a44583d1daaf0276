//! Query filters: any document parses or fails with an error, and a filter that parses
//! matches or not against every sample document (no panic, no unbounded recursion).
fn main() {
    let samples = outpost_fuzz::sample_documents();
    afl::fuzz!(|data: &[u8]| {
        let Some(filter) = outpost_fuzz::document(data) else {
            return;
        };
        if let Ok(filter) = outpost_storage::query::Filter::parse(&filter) {
            for sample in &samples {
                let _ = filter.matches(sample);
            }
        }
    });
}
