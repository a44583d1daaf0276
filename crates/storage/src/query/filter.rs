//! Query filters (`{a: {$gt: 1}}`): parsed once into a [`Filter`], then matched against many
//! documents.

use std::ops::Bound;

use bson::{Bson, Document};

use crate::error::Result;

/// A parsed filter.
#[derive(Debug, Clone)]
pub struct Filter {
    source: Document,
}

/// A range of index key values: a document matching the filter has some key value in one of
/// the intervals [`Filter::bounds_for`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub lower: Bound<Bson>,
    pub upper: Bound<Bson>,
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

    /// Parses with the command's `let` variables in scope for `$expr`.
    pub fn parse_with_variables(
        filter: &Document,
        _variables: Option<&Document>,
    ) -> Result<Filter> {
        Filter::parse(filter)
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

    /// PLACEHOLDER: the `_id` of a top-level equality on `_id`.
    pub fn equality_id(&self) -> Option<Bson> {
        match self.source.get("_id") {
            Some(Bson::Document(_) | Bson::Array(_) | Bson::RegularExpression(_)) | None => None,
            Some(v) => Some(v.clone()),
        }
    }

    /// PLACEHOLDER: index bounds for `path` (a superset of the matching keys).
    pub fn bounds_for(&self, path: &str, _multikey: bool) -> Option<Vec<Interval>> {
        match self.source.get(path) {
            Some(Bson::Document(_) | Bson::Array(_) | Bson::RegularExpression(_)) | None => None,
            Some(v) => Some(vec![Interval {
                lower: Bound::Included(v.clone()),
                upper: Bound::Included(v.clone()),
            }]),
        }
    }

    /// The filter as given.
    pub fn source(&self) -> &Document {
        &self.source
    }
}
