//! The planner: how a read reaches its documents (a point lookup of one `_id`, index range
//! scans, index order for a sort, a collection scan, a capped collection's insertion order),
//! and the byte ranges of index keys that a filter's bounds imply. `read` runs the chosen
//! [`Plan`]; `min_max` plans find's `min`/`max`.

use std::ops::Bound;

use bson::{Bson, Document};

use crate::engine::catalog::{Collection, Index};
use crate::engine::kv::prefix_successor;
use crate::error::{Error, Result};
use crate::query::filter::Interval;
use crate::query::Filter;
use crate::value::collation::same_collation;
use crate::value::hash::hash64;
use crate::value::{compare, keyenc, type_rank, Collation};

mod min_max;

pub(super) use min_max::min_max_plan;

/// Whether index keys inside `intervals` may be (or contain) strings: a bound is a string,
/// document or array, or the interval spans their type ranks. An index whose collation
/// differs from the query's can serve only bounds that hold no strings.
fn intervals_may_hold_strings(intervals: &[Interval]) -> bool {
    const STRING_RANK: u8 = 15;
    const ARRAY_RANK: u8 = 25;
    intervals.iter().any(|i| {
        let low = match &i.lower {
            Bound::Included(v) | Bound::Excluded(v) => type_rank(v),
            Bound::Unbounded => 0,
        };
        let high = match &i.upper {
            Bound::Included(v) | Bound::Excluded(v) => type_rank(v),
            Bound::Unbounded => u8::MAX,
        };
        low <= ARRAY_RANK && high >= STRING_RANK
    })
}

/// Whether an index with collation `index` may serve bounds computed under `query`.
fn collation_allows(
    index: Option<&Collation>,
    query: Option<&Collation>,
    intervals: &[Interval],
) -> bool {
    same_collation(index, query) || !intervals_may_hold_strings(intervals)
}

/// Which access path a plan uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanKind {
    /// Point lookup of one `_id`.
    IdLookup,
    /// A scan of a secondary index (or of the `_id` order) over key ranges.
    IndexScan { index: String },
    /// Every document.
    CollScan,
    /// The collection does not exist.
    Eof,
}

/// A chosen access path.
pub(crate) struct Plan {
    pub kind: PlanKind,
    /// True when the scan returns documents in the order of the requested sort.
    pub provides_sort: bool,
    pub(super) source: Source,
}

pub(super) enum Source {
    Id(Vec<u8>),
    /// Ranges over the documents tree (keyed by encoded `_id`).
    IdRanges {
        ranges: Vec<ByteRange>,
        reverse: bool,
    },
    Index {
        index: Box<Index>,
        ranges: Vec<ByteRange>,
        reverse: bool,
        dedupe: bool,
    },
    /// A capped collection in insertion order.
    Natural {
        capped: Box<crate::engine::capped::Capped>,
        reverse: bool,
    },
}

type ByteRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

pub(super) fn full_range() -> Vec<ByteRange> {
    vec![(Bound::Unbounded, Bound::Unbounded)]
}

/// Byte ranges for a field of an index with the simple collation.
pub(crate) fn byte_ranges(intervals: &[Interval], descending: bool) -> Vec<ByteRange> {
    byte_ranges_with(intervals, descending, None)
}

/// Converts value intervals on one key field into byte ranges of its encoding under the
/// index's `collation`: string bounds encode as its sort keys.
pub(crate) fn byte_ranges_with(
    intervals: &[Interval],
    descending: bool,
    collation: Option<&Collation>,
) -> Vec<ByteRange> {
    let enc = |v: &Bson| {
        let mut out = Vec::new();
        if descending {
            keyenc::encode_descending_with_into(v, collation, &mut out);
        } else {
            keyenc::encode_with_into(v, collation, &mut out);
        }
        out
    };
    // Distinct decimals closer than a double's precision share one key (see keyenc), so an
    // exclusive numeric bound must include its own key; the filter re-check excludes the bound.
    let relax = |b: &Bound<Bson>| match b {
        Bound::Excluded(v) if crate::value::Number::of(v).is_some() => Bound::Included(v.clone()),
        other => other.clone(),
    };
    // A bound that includes every key starting with `bytes`.
    let after_prefix = |bytes: Vec<u8>| match prefix_successor(&bytes) {
        Some(s) => Bound::Excluded(s),
        None => Bound::Unbounded,
    };
    let start_after_prefix = |bytes: Vec<u8>| match prefix_successor(&bytes) {
        Some(s) => Bound::Included(s),
        // Nothing sorts after the prefix: an empty range.
        None => Bound::Excluded(vec![0xFF; bytes.len() + 1]),
    };
    let mut out: Vec<ByteRange> = intervals
        .iter()
        .map(|interval| {
            let interval = Interval {
                lower: relax(&interval.lower),
                upper: relax(&interval.upper),
            };
            if !descending {
                let start = match &interval.lower {
                    Bound::Included(v) => Bound::Included(enc(v)),
                    Bound::Excluded(v) => start_after_prefix(enc(v)),
                    Bound::Unbounded => Bound::Unbounded,
                };
                let end = match &interval.upper {
                    Bound::Included(v) => after_prefix(enc(v)),
                    Bound::Excluded(v) => Bound::Excluded(enc(v)),
                    Bound::Unbounded => Bound::Unbounded,
                };
                (start, end)
            } else {
                let start = match &interval.upper {
                    Bound::Included(v) => Bound::Included(enc(v)),
                    Bound::Excluded(v) => start_after_prefix(enc(v)),
                    Bound::Unbounded => Bound::Unbounded,
                };
                let end = match &interval.lower {
                    Bound::Included(v) => after_prefix(enc(v)),
                    Bound::Excluded(v) => Bound::Excluded(enc(v)),
                    Bound::Unbounded => Bound::Unbounded,
                };
                (start, end)
            }
        })
        .collect();
    out.sort_by(|a, b| compare_start(&a.0, &b.0));
    out
}

fn compare_start(a: &Bound<Vec<u8>>, b: &Bound<Vec<u8>>) -> std::cmp::Ordering {
    match (a, b) {
        (Bound::Unbounded, Bound::Unbounded) => std::cmp::Ordering::Equal,
        (Bound::Unbounded, _) => std::cmp::Ordering::Less,
        (_, Bound::Unbounded) => std::cmp::Ordering::Greater,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            x.cmp(y)
        }
    }
}

/// Whether the sort can be read off an index with these key fields: the sort's fields are a
/// prefix of the index's, all in the same direction or all reversed. Returns the scan direction
/// (true = reverse).
fn sort_matches(fields: &[(String, bool)], sort: &Document) -> Option<bool> {
    if sort.is_empty() || sort.len() > fields.len() {
        return None;
    }
    let mut reverse = None;
    for ((path, descending), (sort_path, direction)) in fields.iter().zip(sort.iter()) {
        if path != sort_path {
            return None;
        }
        let sort_descending = match direction {
            Bson::Int32(n) => *n < 0,
            Bson::Int64(n) => *n < 0,
            Bson::Double(n) => *n < 0.0,
            _ => return None,
        };
        let this = sort_descending != *descending;
        match reverse {
            None => reverse = Some(this),
            Some(r) if r != this => return None,
            _ => {}
        }
    }
    reverse
}

fn intervals_contain_null(intervals: &[Interval]) -> bool {
    let null = Bson::Null;
    intervals.iter().any(|i| {
        let above_lower = match &i.lower {
            Bound::Included(v) => compare(v, &null).is_le(),
            Bound::Excluded(v) => compare(v, &null).is_lt(),
            Bound::Unbounded => true,
        };
        let below_upper = match &i.upper {
            Bound::Included(v) => compare(v, &null).is_ge(),
            Bound::Excluded(v) => compare(v, &null).is_gt(),
            Bound::Unbounded => true,
        };
        above_lower && below_upper
    })
}

/// The interval holding exactly `v`.
fn is_point_interval(v: &Bson) -> Interval {
    Interval {
        lower: Bound::Included(v.clone()),
        upper: Bound::Included(v.clone()),
    }
}

fn is_point(interval: &Interval) -> bool {
    matches!((&interval.lower, &interval.upper), (Bound::Included(a), Bound::Included(b)) if compare(a, b).is_eq())
}

/// Chooses how to read `collection` for `filter`.
pub(crate) fn choose_plan(
    collection: &Collection,
    filter: &Filter,
    hint: Option<&Bson>,
    sort: Option<&Document>,
) -> Result<Plan> {
    crate::engine::geo_near::check_near_index(collection, filter)?;
    if let Some(hint) = hint {
        return hinted_plan(collection, filter, hint, sort);
    }
    // The documents tree is ordered by the binary encoding of `_id`: it serves string bounds
    // only for the simple collation.
    let query_collation = filter.collation().map(|c| &**c);
    if let Some(id) = filter
        .equality_id()
        .filter(|id| collation_allows(None, query_collation, &[is_point_interval(id)]))
    {
        return Ok(Plan {
            kind: PlanKind::IdLookup,
            provides_sort: true,
            source: Source::Id(keyenc::encode(&id)),
        });
    }
    let id_sort = sort
        .filter(|_| query_collation.is_none())
        .and_then(|s| sort_matches(&[("_id".to_owned(), false)], s));
    // Candidates: (is equality, index or None for _id, intervals).
    let mut best: Option<(bool, Option<&Index>, Vec<Interval>)> = None;
    if let Some(intervals) = filter
        .bounds_for("_id", false)
        .filter(|i| collation_allows(None, query_collation, i))
    {
        best = Some((intervals.iter().all(is_point), None, intervals));
    }
    for index in &collection.indexes {
        // A text index's keys are terms: only `$text` reads it (`read::text`).
        if index.partial.is_some() || index.text.is_some() {
            continue;
        }
        let Some(intervals) = first_field_intervals(index, filter, query_collation) else {
            continue;
        };
        let equality = intervals.iter().all(is_point);
        let better = match &best {
            None => true,
            Some((best_equality, _, _)) => equality && !best_equality,
        };
        if better {
            best = Some((equality, Some(index), intervals));
        }
    }
    match best {
        Some((_, None, intervals)) => {
            let reverse = id_sort.unwrap_or(false);
            Ok(Plan {
                kind: PlanKind::IndexScan {
                    index: "_id_".into(),
                },
                provides_sort: sort.is_none() || id_sort.is_some(),
                source: Source::IdRanges {
                    ranges: byte_ranges(&intervals, false),
                    reverse,
                },
            })
        }
        Some((_, Some(index), intervals)) => {
            let index_sort = sort.and_then(|s| usable_for_sort(index, s, query_collation));
            let ranges = byte_ranges_with(
                &intervals,
                index.fields.first().is_some_and(|f| f.1),
                index.collation.as_deref(),
            );
            let dedupe = index.meta.multikey || ranges.len() > 1;
            Ok(Plan {
                kind: PlanKind::IndexScan {
                    index: index.meta.name.clone(),
                },
                provides_sort: sort.is_none() || index_sort.is_some(),
                source: Source::Index {
                    index: Box::new(index.clone()),
                    ranges,
                    reverse: index_sort.unwrap_or(false),
                    dedupe,
                },
            })
        }
        None => {
            if let Some(reverse) = id_sort {
                return Ok(Plan {
                    kind: PlanKind::IndexScan {
                        index: "_id_".into(),
                    },
                    provides_sort: true,
                    source: Source::IdRanges {
                        ranges: full_range(),
                        reverse,
                    },
                });
            }
            if let Some(sort) = sort {
                for index in &collection.indexes {
                    if let Some(reverse) = usable_for_sort(index, sort, query_collation) {
                        return Ok(Plan {
                            kind: PlanKind::IndexScan {
                                index: index.meta.name.clone(),
                            },
                            provides_sort: true,
                            source: Source::Index {
                                index: Box::new(index.clone()),
                                ranges: full_range(),
                                reverse,
                                dedupe: false,
                            },
                        });
                    }
                }
            }
            Ok(Plan {
                kind: PlanKind::CollScan,
                provides_sort: sort.is_none(),
                source: Source::IdRanges {
                    ranges: full_range(),
                    reverse: false,
                },
            })
        }
    }
}

/// The intervals of `index`'s first field that `filter` implies, in the index's key space;
/// `None` when the index cannot serve them: a collation that orders strings differently, a
/// sparse index and bounds that include null, or a hashed first field and bounds that are not
/// all points (a hashed index serves equality and `$in`, never ranges).
fn first_field_intervals(
    index: &Index,
    filter: &Filter,
    query_collation: Option<&Collation>,
) -> Option<Vec<Interval>> {
    let (first, _) = index.fields.first()?;
    // A geospatial first field holds cell ids: only a geospatial predicate bounds it.
    if let Some((0, kind)) = crate::geo::keys::geo_field(&index.meta.key, None) {
        return match kind {
            crate::geo::keys::GeoIndexKind::Sphere => filter
                .geo_predicate(first)
                .and_then(crate::geo::keys::sphere_intervals),
            crate::geo::keys::GeoIndexKind::Flat { .. } => None,
        };
    }
    let intervals = filter
        .bounds_for(first, index.meta.multikey)
        .filter(|i| collation_allows(index.collation.as_deref(), query_collation, i))?;
    if index.meta.sparse && intervals_contain_null(&intervals) {
        return None;
    }
    if index.hashed != Some(0) {
        return Some(intervals);
    }
    intervals
        .iter()
        .map(|interval| match (&interval.lower, is_point(interval)) {
            (Bound::Included(value), true) => Some(is_point_interval(&Bson::Int64(hash64(value)))),
            _ => None,
        })
        .collect()
}

/// An index gives a sort order only when it holds one entry per document, its collation is
/// the query's, and no sorted field is hashed.
fn usable_for_sort(index: &Index, sort: &Document, query: Option<&Collation>) -> Option<bool> {
    if index.text.is_some() || index.hashed.is_some_and(|position| position < sort.len()) {
        return None;
    }
    if crate::geo::keys::geo_field(&index.meta.key, None)
        .is_some_and(|(position, _)| position < sort.len())
    {
        return None;
    }
    if index.meta.multikey
        || index.meta.sparse
        || index.partial.is_some()
        || !same_collation(index.collation.as_deref(), query)
    {
        return None;
    }
    sort_matches(&index.fields, sort)
}

fn hinted_plan(
    collection: &Collection,
    filter: &Filter,
    hint: &Bson,
    sort: Option<&Document>,
) -> Result<Plan> {
    let natural = |reverse: bool| Plan {
        kind: PlanKind::CollScan,
        provides_sort: sort.is_none(),
        source: Source::IdRanges {
            ranges: full_range(),
            reverse,
        },
    };
    let index = match hint {
        Bson::String(name) if name == "_id_" => None,
        Bson::String(name) => Some(collection.indexes.iter().find(|i| &i.meta.name == name)),
        Bson::Document(key) if key.get("$natural").is_some() => {
            let reverse = matches!(key.get("$natural"), Some(Bson::Int32(n)) if *n < 0)
                || matches!(key.get("$natural"), Some(Bson::Int64(n)) if *n < 0)
                || matches!(key.get("$natural"), Some(Bson::Double(n)) if *n < 0.0);
            return Ok(natural(reverse));
        }
        Bson::Document(key) if *key == bson::doc! {"_id": 1} || *key == bson::doc! {"_id": -1} => {
            None
        }
        Bson::Document(key) => Some(
            collection
                .indexes
                .iter()
                .find(|i| key_pattern_equal(&i.meta.key, key)),
        ),
        other => {
            return Err(Error::FailedToParse(format!(
                "hint must be a string or an object, not {other}"
            )))
        }
    };
    let query_collation = filter.collation().map(|c| &**c);
    match index {
        None => {
            let intervals = filter
                .bounds_for("_id", false)
                .filter(|i| collation_allows(None, query_collation, i));
            let reverse = sort
                .filter(|_| query_collation.is_none())
                .and_then(|s| sort_matches(&[("_id".to_owned(), false)], s));
            Ok(Plan {
                kind: PlanKind::IndexScan {
                    index: "_id_".into(),
                },
                provides_sort: sort.is_none() || reverse.is_some(),
                source: Source::IdRanges {
                    ranges: intervals
                        .map(|i| byte_ranges(&i, false))
                        .unwrap_or_else(full_range),
                    reverse: reverse.unwrap_or(false),
                },
            })
        }
        Some(None) => Err(Error::BadValue(
            "hint provided does not correspond to an existing index".into(),
        )),
        Some(Some(index)) if index.text.is_some() => Err(Error::BadValue(format!(
            "the text index '{}' can only be used by a $text query",
            index.meta.name
        ))),
        Some(Some(index)) => {
            let descending = index.fields.first().is_some_and(|f| f.1);
            let intervals = first_field_intervals(index, filter, query_collation);
            let ranges = intervals
                .map(|i| byte_ranges_with(&i, descending, index.collation.as_deref()))
                .unwrap_or_else(full_range);
            let index_sort = sort.and_then(|s| usable_for_sort(index, s, query_collation));
            Ok(Plan {
                kind: PlanKind::IndexScan {
                    index: index.meta.name.clone(),
                },
                provides_sort: sort.is_none() || index_sort.is_some(),
                source: Source::Index {
                    index: Box::new(index.clone()),
                    dedupe: index.meta.multikey || ranges.len() > 1,
                    ranges,
                    reverse: index_sort.unwrap_or(false),
                },
            })
        }
    }
}

/// A collection scan of a capped collection reads it in insertion order (its natural order),
/// not in `_id` order.
pub(super) fn in_natural_order(plan: Plan, collection: &Collection) -> Plan {
    match (&collection.capped, plan.kind, plan.source) {
        (Some(capped), PlanKind::CollScan, Source::IdRanges { reverse, .. }) => Plan {
            kind: PlanKind::CollScan,
            provides_sort: plan.provides_sort,
            source: Source::Natural {
                capped: Box::new(capped.clone()),
                reverse,
            },
        },
        (_, kind, source) => Plan {
            kind,
            provides_sort: plan.provides_sort,
            source,
        },
    }
}

/// Key patterns are equal when fields and directions agree (1 and 1.0 alike).
fn key_pattern_equal(a: &Document, b: &Document) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((ka, va), (kb, vb))| ka == kb && compare(va, vb).is_eq())
}
