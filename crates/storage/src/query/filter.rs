//! Query filters (`{a: {$gt: 1}}`): parsed once into a [`Filter`], then matched against many
//! documents.

use bson::Document;

use crate::error::Result;

/// A parsed filter.
#[derive(Debug, Clone)]
pub struct Filter {
    source: Document,
}

/// The outcome of matching one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchDetails {
    pub matched: bool,
    /// For the positional `$` operator: the index within the first array the filter traversed
    /// to match, as MongoDB's `elemMatchKey`.
    pub array_index: Option<usize>,
}

impl Filter {
    pub fn parse(filter: &Document) -> Result<Filter> {
        Ok(Filter {
            source: filter.clone(),
        })
    }

    pub fn matches(&self, doc: &Document) -> bool {
        self.matches_details(doc).matched
    }

    pub fn matches_details(&self, doc: &Document) -> MatchDetails {
        // PLACEHOLDER: top-level equality only, until the real matcher lands.
        let matched = self
            .source
            .iter()
            .all(|(k, v)| doc.get(k).is_some_and(|d| crate::value::equal(d, v)));
        MatchDetails {
            matched,
            array_index: None,
        }
    }

    /// The filter as given.
    pub fn source(&self) -> &Document {
        &self.source
    }
}
