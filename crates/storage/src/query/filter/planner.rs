//! What the planner asks of a parsed filter: the index bounds it implies on a path
//! ([`Filter::bounds_for`], computed in `bounds.rs`), its geospatial hooks (the `$geoWithin`/
//! `$geoIntersects` predicate on a path for a `2dsphere`/`2d` index scan, and the one
//! top-level `$near`/`$nearSphere`), and a top-level `_id` equality for point lookups. All of
//! them look only at the top-level AND-ed predicates.

use bson::Bson;

use super::bounds::{self, Interval};
use super::{Filter, Node, Op};
use crate::error::{Error, Result};

impl Filter {
    /// For the planner: intervals of index key values on `path` such that every document
    /// matching this filter has some key value (from `index_key_values`) inside one of them.
    /// Derived only from top-level AND-ed predicates on exactly `path`. With `multikey` true,
    /// the predicates are not intersected (each may match a different element); the most
    /// selective one is used. `None` when no bound can be derived.
    /// Intervals are in the order of the filter's collation.
    pub fn bounds_for(&self, path: &str, multikey: bool) -> Option<Vec<Interval>> {
        bounds::bounds_for(&self.root, path, multikey, self.collation.as_deref())
    }

    /// The geospatial predicate of a top-level conjunct on exactly `path`, for the planner.
    pub fn geo_predicate(&self, path: &str) -> Option<&crate::geo::GeoPredicate> {
        top_level_conjuncts(&self.root)
            .into_iter()
            .find_map(|node| match node {
                Node::Path(p) if p.path == path => match &p.op {
                    Op::Geo(g) => Some(&**g),
                    _ => None,
                },
                _ => None,
            })
    }

    /// The filter's `$near`/`$nearSphere` (its path and spec), which must be a top-level
    /// conjunct and the only one (error 2 otherwise, as mongod).
    pub fn near(&self) -> Result<Option<(&str, &crate::geo::NearSpec)>> {
        fn count(node: &Node) -> usize {
            match node {
                Node::And(c) | Node::Or(c) | Node::Nor(c) => c.iter().map(count).sum(),
                Node::Not(c) => count(c),
                Node::Path(p) => match &p.op {
                    Op::Geo(g) => usize::from(g.near().is_some()),
                    Op::ElemMatchObject(n) | Op::OnElement(n) => count(n),
                    Op::ElemMatchValue(ops) => ops
                        .iter()
                        .filter(|op| matches!(op, Op::Geo(g) if g.near().is_some()))
                        .count(),
                    _ => 0,
                },
                Node::Expr(..) | Node::Schema(_) | Node::Constant(_) => 0,
            }
        }
        let total = count(&self.root);
        if total == 0 {
            return Ok(None);
        }
        if total > 1 {
            return Err(Error::BadValue("Too many geoNear expressions".into()));
        }
        let top = top_level_conjuncts(&self.root)
            .into_iter()
            .find_map(|node| match node {
                Node::Path(p) => match &p.op {
                    Op::Geo(g) => g.near().map(|n| (p.path.as_str(), n)),
                    _ => None,
                },
                _ => None,
            });
        match top {
            Some(found) => Ok(Some(found)),
            None => Err(Error::BadValue("geoNear must be top-level expr".into())),
        }
    }

    /// The `_id` value of a top-level `_id` equality to a non-document, non-array, non-regex
    /// value, for point lookups.
    pub fn equality_id(&self) -> Option<Bson> {
        top_level_conjuncts(&self.root)
            .into_iter()
            .find_map(|node| match node {
                Node::Path(p) if p.path == "_id" => match &p.op {
                    Op::Eq(v)
                        if !matches!(
                            v,
                            Bson::Document(_) | Bson::Array(_) | Bson::RegularExpression(_)
                        ) =>
                    {
                        Some(v.clone())
                    }
                    _ => None,
                },
                _ => None,
            })
    }
}

/// The top-level AND-ed nodes (nested `$and`s flattened).
pub(super) fn top_level_conjuncts(root: &Node) -> Vec<&Node> {
    let mut out = Vec::new();
    fn collect<'a>(node: &'a Node, out: &mut Vec<&'a Node>) {
        match node {
            Node::And(children) => {
                for child in children {
                    collect(child, out);
                }
            }
            other => out.push(other),
        }
    }
    collect(root, &mut out);
    out
}
