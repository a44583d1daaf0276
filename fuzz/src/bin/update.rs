//! Updates: an operator document, a replacement or a pipeline (`{u: ...}` for an array, as
//! a document holds no top-level array), and `arrayFilters` in `af`; applied to every sample.
use outpost_storage::query::update::{Update, UpdateContext};

fn main() {
    let samples = outpost_fuzz::sample_documents();
    afl::fuzz!(|data: &[u8]| {
        let Some(input) = outpost_fuzz::document(data) else {
            return;
        };
        let (update, filters) = match (input.get("u"), input.get_array("af")) {
            (Some(update), Ok(filters)) => (
                update.clone(),
                filters.iter().filter_map(|f| f.as_document().cloned()).collect(),
            ),
            (Some(update), Err(_)) => (update.clone(), Vec::new()),
            (None, _) => (bson::Bson::Document(input), Vec::new()),
        };
        let filters = (!filters.is_empty()).then_some(filters);
        if let Ok(update) = Update::parse(&update, filters.as_deref()) {
            for (is_insert, sample) in [false, true].into_iter().zip(&samples) {
                let ctx = UpdateContext {
                    is_insert,
                    array_index: Some(0),
                    variables: None,
                };
                let _ = update.apply(sample, &ctx);
            }
        }
    });
}
