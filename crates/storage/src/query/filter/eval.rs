//! Matching a parsed filter against one document: the logical nodes, the walk of a dotted
//! path to the leaves it reaches (the array semantics in the module documentation), and each
//! operator tested on one leaf, with type-bracketed comparisons under the filter's collation.
//! Also MongoDB's truthiness (`$expr`, and callers elsewhere in the crate).

use bson::{Bson, Document};

use super::scalar::{bits_match, mod_matches};
use super::{Comparison, Node, Op, Outcome, PathPredicate};
use crate::error::Result;
use crate::value::path::parse_array_index;
use crate::value::{compare_with, equal_with, type_rank, Collation};

impl Node {
    pub(super) fn has_expr(&self) -> bool {
        match self {
            Node::And(c) | Node::Or(c) | Node::Nor(c) => c.iter().any(Node::has_expr),
            Node::Not(c) => c.has_expr(),
            Node::Path(p) => match &p.op {
                Op::ElemMatchObject(n) | Op::OnElement(n) => n.has_expr(),
                _ => false,
            },
            Node::Expr(..) => true,
            Node::Schema(_) | Node::Constant(_) => false,
        }
    }

    pub(super) fn evaluate(
        &self,
        doc: &Document,
        collation: Option<&Collation>,
    ) -> Result<Outcome> {
        match self {
            Node::And(children) => {
                let mut array_index = None;
                for child in children {
                    let outcome = child.evaluate(doc, collation)?;
                    if !outcome.matched {
                        return Ok(Outcome::of(false));
                    }
                    if outcome.array_index.is_some() {
                        array_index = outcome.array_index;
                    }
                }
                Ok(Outcome {
                    matched: true,
                    array_index,
                })
            }
            Node::Or(children) => {
                for child in children {
                    if child.evaluate(doc, collation)?.matched {
                        return Ok(Outcome::of(true));
                    }
                }
                Ok(Outcome::of(false))
            }
            Node::Nor(children) => {
                for child in children {
                    if child.evaluate(doc, collation)?.matched {
                        return Ok(Outcome::of(false));
                    }
                }
                Ok(Outcome::of(true))
            }
            Node::Not(child) => Ok(Outcome::of(!child.evaluate(doc, collation)?.matched)),
            Node::Path(predicate) => predicate.evaluate(doc, collation),
            Node::Expr(expr, vars) => {
                let value = expr.eval(doc, vars)?;
                Ok(Outcome::of(value.as_ref().is_some_and(is_truthy)))
            }
            Node::Schema(schema) => Ok(Outcome::of(schema.matches_document(doc))),
            Node::Constant(b) => Ok(Outcome::of(*b)),
        }
    }
}

/// MongoDB's truthiness (`$expr`, `$cond`): false, null, undefined and numeric zero are false.
pub fn is_truthy(v: &Bson) -> bool {
    match v {
        Bson::Boolean(b) => *b,
        Bson::Null | Bson::Undefined => false,
        Bson::Int32(i) => *i != 0,
        Bson::Int64(i) => *i != 0,
        Bson::Double(d) => *d != 0.0,
        Bson::Decimal128(_) => {
            crate::value::Number::of(v).is_some_and(|n| n != crate::value::Number::Int(0))
        }
        _ => true,
    }
}

/// One value a path reaches: `None` for a missing field. `array_index` is the position in the
/// first array traversed on the way.
#[derive(Debug, Clone, Copy)]
struct Leaf<'a> {
    value: Option<&'a Bson>,
    array_index: Option<usize>,
}

/// Calls `visit` on every leaf `components` reach in `doc` until it returns true; returns
/// whether it did. `expand_leaf_arrays`: also visit the elements of an array at the end of the
/// path.
fn any_leaf<'a>(
    doc: &'a Document,
    components: &[String],
    expand_leaf_arrays: bool,
    visit: &mut dyn FnMut(Leaf<'a>) -> bool,
) -> bool {
    walk_document(doc, components, None, expand_leaf_arrays, visit)
}

fn walk_document<'a>(
    doc: &'a Document,
    components: &[String],
    array_index: Option<usize>,
    expand: bool,
    visit: &mut dyn FnMut(Leaf<'a>) -> bool,
) -> bool {
    let Some((first, rest)) = components.split_first() else {
        return false;
    };
    match doc.get(first) {
        None => visit(Leaf {
            value: None,
            array_index,
        }),
        Some(value) => walk_value(value, rest, array_index, expand, visit),
    }
}

fn walk_value<'a>(
    value: &'a Bson,
    rest: &[String],
    array_index: Option<usize>,
    expand: bool,
    visit: &mut dyn FnMut(Leaf<'a>) -> bool,
) -> bool {
    if rest.is_empty() {
        if visit(Leaf {
            value: Some(value),
            array_index,
        }) {
            return true;
        }
        if let (true, Bson::Array(items)) = (expand, value) {
            for (i, item) in items.iter().enumerate() {
                if visit(Leaf {
                    value: Some(item),
                    array_index: array_index.or(Some(i)),
                }) {
                    return true;
                }
            }
        }
        return false;
    }
    match value {
        Bson::Document(d) => walk_document(d, rest, array_index, expand, visit),
        Bson::Array(items) => {
            // A numeric component picks that element (`a.0.b`)...
            if let Some((first, after)) = rest.split_first() {
                if let Some(item) = parse_array_index(first).and_then(|i| items.get(i)) {
                    if walk_value(item, after, array_index, expand, visit) {
                        return true;
                    }
                }
            }
            // ... and the document elements are walked for the rest of the path.
            for (i, item) in items.iter().enumerate() {
                if let Bson::Document(d) = item {
                    if walk_document(d, rest, array_index.or(Some(i)), expand, visit) {
                        return true;
                    }
                }
            }
            false
        }
        // A scalar where the path continues: the rest is missing.
        _ => visit(Leaf {
            value: None,
            array_index,
        }),
    }
}

impl PathPredicate {
    fn evaluate(&self, doc: &Document, collation: Option<&Collation>) -> Result<Outcome> {
        let expand = self.expand_leaf_arrays
            && !matches!(
                self.op,
                Op::Size(_) | Op::ElemMatchValue(_) | Op::ElemMatchObject(_)
            );
        let mut found = None;
        let mut error = None;
        let matched = any_leaf(doc, &self.components, expand, &mut |leaf| match self
            .op
            .matches_leaf(leaf.value, collation)
        {
            Ok(Some(element)) => {
                found = leaf.array_index.or(element);
                true
            }
            Ok(None) => false,
            Err(e) => {
                error = Some(e);
                true
            }
        });
        if let Some(e) = error {
            return Err(e);
        }
        Ok(Outcome {
            matched,
            array_index: if matched { found } else { None },
        })
    }
}

impl Op {
    /// Whether the operator matches one leaf: `Some(element index)` when it does (the index of
    /// the matching element for `$elemMatch`, else `None` inside).
    fn matches_leaf(
        &self,
        value: Option<&Bson>,
        collation: Option<&Collation>,
    ) -> Result<Option<Option<usize>>> {
        let matched = match (self, value) {
            (Op::Eq(expected), None) => matches!(expected, Bson::Null),
            (Op::Eq(expected), Some(v)) => equal_bracketed(v, expected, collation),
            (Op::Compare(cmp, bound), None) => {
                matches!(bound, Bson::Null) && matches!(cmp, Comparison::Gte | Comparison::Lte)
            }
            (Op::Compare(cmp, bound), Some(v)) => compare_bracketed(*cmp, v, bound, collation),
            (Op::In(set), None) => set.values.iter().any(|v| matches!(v, Bson::Null)),
            (Op::In(set), Some(v)) => {
                if set.values.iter().any(|e| equal_bracketed(v, e, collation)) {
                    true
                } else {
                    let mut any = false;
                    for r in &set.regexes {
                        if r.matches_value(v)? {
                            any = true;
                            break;
                        }
                    }
                    any
                }
            }
            (Op::Regex(r), Some(v)) => r.matches_value(v)?,
            (Op::Exists, v) => v.is_some(),
            (Op::Type(selectors), Some(v)) => selectors.iter().any(|s| s.matches(v)),
            (Op::Size(n), Some(Bson::Array(items))) => items.len() == *n,
            (Op::Mod { divisor, remainder }, Some(v)) => mod_matches(v, *divisor, *remainder),
            (Op::Bits(test, mask), Some(v)) => bits_match(*test, mask, v),
            (Op::Geo(predicate), Some(v)) => predicate.matches_value(v),
            (Op::OnElement(node), Some(v)) => {
                let mut wrapper = Document::new();
                wrapper.insert("", v.clone());
                node.evaluate(&wrapper, collation)?.matched
            }
            (Op::ElemMatchValue(ops), Some(Bson::Array(items))) => {
                for (i, item) in items.iter().enumerate() {
                    let mut all = true;
                    for op in ops {
                        if op.matches_leaf(Some(item), collation)?.is_none() {
                            all = false;
                            break;
                        }
                    }
                    if all {
                        return Ok(Some(Some(i)));
                    }
                }
                false
            }
            (Op::ElemMatchObject(node), Some(Bson::Array(items))) => {
                // Documents and arrays (as documents keyed "0", "1", ...) are matched against
                // the sub-filter, as MongoDB does.
                for (i, item) in items.iter().enumerate() {
                    let element = match item {
                        Bson::Document(d) => std::borrow::Cow::Borrowed(d),
                        Bson::Array(inner) => std::borrow::Cow::Owned(
                            inner
                                .iter()
                                .enumerate()
                                .map(|(k, v)| (k.to_string(), v.clone()))
                                .collect::<Document>(),
                        ),
                        _ => continue,
                    };
                    if node.evaluate(&element, collation)?.matched {
                        return Ok(Some(Some(i)));
                    }
                }
                false
            }
            _ => false,
        };
        Ok(if matched { Some(None) } else { None })
    }
}

/// Equality as MongoDB's `$eq`: same canonical type and equal value.
fn equal_bracketed(value: &Bson, expected: &Bson, collation: Option<&Collation>) -> bool {
    type_rank(value) == type_rank(expected) && equal_with(value, expected, collation)
}

/// A type-bracketed comparison: values of another canonical type never match, except against
/// `MinKey`/`MaxKey` bounds.
fn compare_bracketed(
    cmp: Comparison,
    value: &Bson,
    bound: &Bson,
    collation: Option<&Collation>,
) -> bool {
    let unbracketed = matches!(bound, Bson::MinKey | Bson::MaxKey);
    if !unbracketed && type_rank(value) != type_rank(bound) {
        return false;
    }
    // A comparison between NaN and a number other than NaN is false (`{$lt: 5}` does not
    // match NaN; `{$gte: NaN}` matches only NaN).
    if !unbracketed && is_nan(value) != is_nan(bound) {
        return false;
    }
    let ordering = compare_with(value, bound, collation);
    match cmp {
        Comparison::Gt => ordering.is_gt(),
        Comparison::Gte => ordering.is_ge(),
        Comparison::Lt => ordering.is_lt(),
        Comparison::Lte => ordering.is_le(),
    }
}

fn is_nan(v: &Bson) -> bool {
    crate::value::Number::of(v).is_some_and(|n| n.is_nan())
}
