//! Index bounds for the planner: from the filter's top-level AND-ed predicates on one path,
//! intervals of index key values that every matching document has a key in.

use std::cmp::Ordering;
use std::ops::Bound;

use bson::{Bson, Document};

use super::planner::top_level_conjuncts;
use super::{Comparison, Node, Op};
use crate::value::{compare_with, type_rank, Collation};

/// An interval of index key values (in `compare` order).
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub lower: Bound<Bson>,
    pub upper: Bound<Bson>,
}

impl Interval {
    fn point(v: Bson) -> Interval {
        Interval {
            lower: Bound::Included(v.clone()),
            upper: Bound::Included(v),
        }
    }

    fn everything() -> Interval {
        Interval {
            lower: Bound::Unbounded,
            upper: Bound::Unbounded,
        }
    }

    /// Whether `v` lies inside the interval.
    pub fn contains(&self, v: &Bson) -> bool {
        self.contains_with(v, None)
    }

    /// Whether `v` lies inside the interval, in the order of `collation`.
    pub fn contains_with(&self, v: &Bson, collation: Option<&Collation>) -> bool {
        let compare = |a: &Bson, b: &Bson| compare_with(a, b, collation);
        let above_lower = match &self.lower {
            Bound::Unbounded => true,
            Bound::Included(l) => compare(v, l) != Ordering::Less,
            Bound::Excluded(l) => compare(v, l) == Ordering::Greater,
        };
        let below_upper = match &self.upper {
            Bound::Unbounded => true,
            Bound::Included(u) => compare(v, u) != Ordering::Greater,
            Bound::Excluded(u) => compare(v, u) == Ordering::Less,
        };
        above_lower && below_upper
    }

    fn is_empty(&self, collation: Option<&Collation>) -> bool {
        let compare = |a: &Bson, b: &Bson| compare_with(a, b, collation);
        match (&self.lower, &self.upper) {
            (Bound::Included(l), Bound::Included(u)) => compare(l, u) == Ordering::Greater,
            (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) => {
                compare(l, u) != Ordering::Less
            }
            _ => false,
        }
    }

    fn intersect(&self, other: &Interval, collation: Option<&Collation>) -> Option<Interval> {
        let lower = higher_lower(&self.lower, &other.lower, collation);
        let upper = lower_upper(&self.upper, &other.upper, collation);
        let interval = Interval { lower, upper };
        (!interval.is_empty(collation)).then_some(interval)
    }
}

fn higher_lower(a: &Bound<Bson>, b: &Bound<Bson>, collation: Option<&Collation>) -> Bound<Bson> {
    let compare = |a: &Bson, b: &Bson| compare_with(a, b, collation);
    match (a, b) {
        (Bound::Unbounded, other) | (other, Bound::Unbounded) => other.clone(),
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            match compare(x, y) {
                Ordering::Greater => a.clone(),
                Ordering::Less => b.clone(),
                Ordering::Equal if matches!(a, Bound::Excluded(_)) => a.clone(),
                Ordering::Equal => b.clone(),
            }
        }
    }
}

fn lower_upper(a: &Bound<Bson>, b: &Bound<Bson>, collation: Option<&Collation>) -> Bound<Bson> {
    let compare = |a: &Bson, b: &Bson| compare_with(a, b, collation);
    match (a, b) {
        (Bound::Unbounded, other) | (other, Bound::Unbounded) => other.clone(),
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            match compare(x, y) {
                Ordering::Less => a.clone(),
                Ordering::Greater => b.clone(),
                Ordering::Equal if matches!(a, Bound::Excluded(_)) => a.clone(),
                Ordering::Equal => b.clone(),
            }
        }
    }
}

pub(super) fn bounds_for(
    root: &Node,
    path: &str,
    multikey: bool,
    collation: Option<&Collation>,
) -> Option<Vec<Interval>> {
    // (intervals, whether they are points from an equality or $in)
    let mut candidates: Vec<(Vec<Interval>, bool)> = Vec::new();
    for node in top_level_conjuncts(root) {
        if let Node::Path(p) = node {
            if p.path == path {
                if let Some(intervals) = intervals_for(&p.op, multikey) {
                    candidates.push((intervals, matches!(p.op, Op::Eq(_) | Op::In(_))));
                }
            }
        }
    }
    if candidates.is_empty() {
        return None;
    }
    if multikey {
        // Each predicate may be satisfied by a different element: any single one is a valid
        // superset, intersecting them is not. Prefer points.
        let best = candidates
            .iter()
            .position(|(_, is_point)| *is_point)
            .unwrap_or(0);
        return candidates
            .into_iter()
            .nth(best)
            .map(|(intervals, _)| intervals);
    }
    let mut result = vec![Interval::everything()];
    for (intervals, _) in candidates {
        let mut next = Vec::new();
        for a in &result {
            for b in &intervals {
                if let Some(i) = a.intersect(b, collation) {
                    next.push(i);
                }
            }
        }
        result = next;
    }
    Some(result)
}

/// Intervals for equality to `v`: the value itself, and for an array also what a multikey
/// index stores for an equal array (its first element, or `undefined` for `[]`).
fn equality_intervals(v: &Bson, out: &mut Vec<Interval>) {
    out.push(Interval::point(v.clone()));
    if let Bson::Array(items) = v {
        out.push(Interval::point(
            items.first().cloned().unwrap_or(Bson::Undefined),
        ));
    }
}

fn intervals_for(op: &Op, multikey: bool) -> Option<Vec<Interval>> {
    match op {
        Op::Eq(v) => {
            let mut out = Vec::new();
            equality_intervals(v, &mut out);
            Some(out)
        }
        Op::In(set) => {
            if !set.regexes.is_empty() {
                return None;
            }
            let mut out = Vec::new();
            for v in &set.values {
                equality_intervals(v, &mut out);
            }
            Some(out)
        }
        Op::Compare(cmp, v) => range_intervals(*cmp, v, multikey),
        _ => None,
    }
}

fn range_intervals(cmp: Comparison, v: &Bson, multikey: bool) -> Option<Vec<Interval>> {
    use Bound::{Excluded, Included, Unbounded};
    let interval = |lower, upper| Some(vec![Interval { lower, upper }]);
    match v {
        Bson::Array(_) | Bson::DbPointer(_) => None,
        // `$gt: MinKey` and `$lt: MaxKey` match an array as a whole, even `[MinKey]`, whose only
        // multikey index key is MinKey: on a multikey index the bounds take every key (the
        // filter re-checks).
        Bson::MinKey => match cmp {
            Comparison::Gt if multikey => interval(Unbounded, Unbounded),
            Comparison::Gt => interval(Excluded(Bson::MinKey), Unbounded),
            Comparison::Gte => interval(Unbounded, Unbounded),
            Comparison::Lt => Some(vec![]),
            Comparison::Lte => Some(vec![Interval::point(Bson::MinKey)]),
        },
        Bson::MaxKey => match cmp {
            Comparison::Gt => Some(vec![]),
            Comparison::Gte => Some(vec![Interval::point(Bson::MaxKey)]),
            Comparison::Lt if multikey => interval(Unbounded, Unbounded),
            Comparison::Lt => interval(Unbounded, Excluded(Bson::MaxKey)),
            Comparison::Lte => interval(Unbounded, Unbounded),
        },
        _ if is_nan(v) || matches!(v, Bson::Null | Bson::Undefined) => match cmp {
            Comparison::Gte | Comparison::Lte => Some(vec![Interval::point(v.clone())]),
            Comparison::Gt | Comparison::Lt => Some(vec![]),
        },
        _ => {
            let rank = type_rank(v);
            let (type_lower, type_upper) = type_bracket(rank)?;
            match cmp {
                Comparison::Gt => interval(Excluded(v.clone()), type_upper),
                Comparison::Gte => interval(Included(v.clone()), type_upper),
                Comparison::Lt => interval(type_lower, Excluded(v.clone())),
                Comparison::Lte => interval(type_lower, Included(v.clone())),
            }
        }
    }
}

fn is_nan(v: &Bson) -> bool {
    crate::value::Number::of(v).is_some_and(|n| n.is_nan())
}

/// The smallest value of each canonical type rank we can construct (DBPointer has none).
fn type_minimum(rank: u8) -> Option<Bson> {
    Some(match rank {
        1 => Bson::MinKey,
        2 => Bson::Undefined,
        5 => Bson::Null,
        10 => Bson::Double(f64::NAN),
        15 => Bson::String(String::new()),
        20 => Bson::Document(Document::new()),
        25 => Bson::Array(Vec::new()),
        30 => Bson::Binary(bson::Binary {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: Vec::new(),
        }),
        35 => Bson::ObjectId(bson::oid::ObjectId::from_bytes([0; 12])),
        40 => Bson::Boolean(false),
        45 => Bson::DateTime(bson::DateTime::from_millis(i64::MIN)),
        47 => Bson::Timestamp(bson::Timestamp {
            time: 0,
            increment: 0,
        }),
        50 => Bson::RegularExpression(bson::Regex {
            pattern: String::new(),
            options: String::new(),
        }),
        60 => Bson::JavaScriptCode(String::new()),
        65 => Bson::JavaScriptCodeWithScope(bson::JavaScriptCodeWithScope {
            code: String::new(),
            scope: Document::new(),
        }),
        127 => Bson::MaxKey,
        _ => return None,
    })
}

const RANKS: &[u8] = &[1, 2, 5, 10, 15, 20, 25, 30, 35, 40, 45, 47, 50, 60, 65, 127];

/// The bounds of all values of one canonical type: from its minimum (excluded for numbers,
/// whose minimum NaN never satisfies a range) to the next type's minimum (excluded).
fn type_bracket(rank: u8) -> Option<(Bound<Bson>, Bound<Bson>)> {
    let minimum = type_minimum(rank)?;
    let lower = if rank == 10 {
        Bound::Excluded(minimum)
    } else {
        Bound::Included(minimum)
    };
    let upper = RANKS
        .iter()
        .find(|r| **r > rank)
        .and_then(|r| type_minimum(*r))
        .map_or(Bound::Unbounded, Bound::Excluded);
    Some((lower, upper))
}
