//! Query filters (`{a: {$gt: 1}}`): parsed once into a [`Filter`], then matched against many
//! documents.
//!
//! # Array semantics (as MongoDB)
//!
//! A predicate on a path is tested against every *leaf* the path reaches:
//!
//! - a field missing from a document is a leaf with no value (`{a: null}`, `{a: {$gte: null}}`,
//!   `{a: {$in: [null]}}` and `$exists: false` match it);
//! - an array in the middle of a path is traversed: each document element is walked for the
//!   rest of the path (other elements are skipped); a numeric component (`a.0.b`) also picks
//!   that element;
//! - an array at the end of a path is a leaf itself *and* each of its elements is a leaf (one
//!   level only), except for `$size` and `$elemMatch`, which look at the array itself.
//!
//! A predicate matches when some leaf matches. `$ne`, `$nin`, `$not` and `$exists: false` are
//! the negations of `$eq`, `$in`, the inner predicate and `$exists: true` over the whole path:
//! `{a: {$ne: 1}}` does not match `{a: [1, 2]}`.
//!
//! These are MongoDB 8.0's semantics: `null` does not match `undefined`, and a dotted path
//! through an array of scalars or an empty array reaches nothing (`{"a.b": null}` does not
//! match `{a: [1]}` or `{a: []}`; MongoDB 9.0 changes this, SERVER-36681).
//!
//! Comparisons are type-bracketed: `{$gt: 5}` matches numbers above 5 only, never strings.
//! `MinKey` and `MaxKey` bounds are not bracketed.
//!
//! # Regular expressions
//!
//! `$regex` is compiled by [`crate::pcre`] (`fancy-regex` over the `regex` crate): PCRE's
//! look-around, back-references, atomic groups and possessive quantifiers work. Differences
//! from PCRE: `$` without the `m` option matches only at the very end (PCRE also matches
//! before a final newline); `\d`, `\w`, `\s` and `\b` are Unicode-aware (PCRE as MongoDB
//! builds it is ASCII-only for them); recursion, conditionals and `\K` are refused (51091). A
//! match that backtracks past [`crate::pcre::BACKTRACK_LIMIT`] steps fails the query with
//! 51156. Options `i`, `m`, `s`, `x` and `u` (ignored) are accepted.

mod bounds;
mod regex;
mod schema;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use bson::{Bson, Document};

pub use self::bounds::Interval;
use self::regex::CompiledRegex;
use self::schema::Schema;
use crate::agg::expr::{Expr, Vars};
use crate::error::{Error, Result};
use crate::value::path::parse_array_index;
use crate::value::{compare_with, equal_with, type_rank, Collation};

/// A parsed filter.
#[derive(Debug, Clone)]
pub struct Filter {
    source: Document,
    root: Node,
    /// The collation string comparisons use (`None`: simple, binary). `$eq`, `$ne`, `$gt`,
    /// `$gte`, `$lt`, `$lte`, `$in`, `$nin`, `$all` and `$elemMatch` use it, and so does `$expr`
    /// (through its variables); `$regex` does not, as in MongoDB.
    collation: Option<Arc<Collation>>,
}

/// The outcome of matching one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchDetails {
    pub matched: bool,
    /// For the positional `$` operator: the index within the first array the filter traversed
    /// to match, as MongoDB's `elemMatchKey`. With several predicates the last one that
    /// traversed an array wins (as MongoDB); `$or`, `$nor` and negations record none.
    pub array_index: Option<usize>,
}

impl Filter {
    pub fn parse(filter: &Document) -> Result<Filter> {
        Filter::parse_with_variables(filter, &Document::new())
    }

    /// Parses a filter whose `$expr` may use the command's `let` variables (`$$name`).
    pub fn parse_with_variables(filter: &Document, variables: &Document) -> Result<Filter> {
        Filter::parse_with_collation(filter, variables, None)
    }

    /// Parses a filter whose string comparisons use `collation` (`None`: simple).
    pub fn parse_with_collation(
        filter: &Document,
        variables: &Document,
        collation: Option<Arc<Collation>>,
    ) -> Result<Filter> {
        let mut vars = Vars::from_let(variables)?;
        vars.collation = collation.clone();
        let context = ParseContext { variables: vars };
        Ok(Filter {
            source: filter.clone(),
            root: context.parse_document(filter, false)?,
            collation,
        })
    }

    /// The filter's collation (`None`: simple).
    pub fn collation(&self) -> Option<&Arc<Collation>> {
        self.collation.as_ref()
    }

    /// The same filter with strings compared under `collation` (for filters parsed before the
    /// operation's collation is known: `$pull` conditions, `arrayFilters`).
    pub fn with_collation(&self, collation: Option<Arc<Collation>>) -> Filter {
        let mut root = self.root.clone();
        set_expr_collation(&mut root, &collation);
        Filter {
            source: self.source.clone(),
            root,
            collation,
        }
    }

    /// Whether `doc` matches. An error while evaluating `$expr` counts as no match; use
    /// [`Filter::try_matches_details`] to see it.
    pub fn matches(&self, doc: &Document) -> bool {
        self.matches_details(doc).matched
    }

    pub fn matches_details(&self, doc: &Document) -> MatchDetails {
        self.try_matches_details(doc).unwrap_or(MatchDetails {
            matched: false,
            array_index: None,
        })
    }

    /// Like [`Filter::matches_details`], but reports errors from `$expr` evaluation (MongoDB
    /// fails the whole query on them).
    pub fn try_matches_details(&self, doc: &Document) -> Result<MatchDetails> {
        let outcome = self.root.evaluate(doc, self.collation.as_deref())?;
        Ok(MatchDetails {
            matched: outcome.matched,
            array_index: if outcome.matched {
                outcome.array_index
            } else {
                None
            },
        })
    }

    /// The filter as given.
    pub fn source(&self) -> &Document {
        &self.source
    }

    /// Whether the filter contains `$expr` (whose evaluation can fail at match time).
    pub fn has_expr(&self) -> bool {
        self.root.has_expr()
    }

    /// The top-level fields the filter reads: it gives the same answer on a document holding
    /// only those fields as on the whole document. `None` when it reads the whole document
    /// (`$expr`, `$jsonSchema`).
    pub fn top_level_fields(&self) -> Option<Vec<String>> {
        fn collect(node: &Node, out: &mut Vec<String>) -> bool {
            match node {
                Node::And(nodes) | Node::Or(nodes) | Node::Nor(nodes) => {
                    nodes.iter().all(|n| collect(n, out))
                }
                Node::Not(inner) => collect(inner, out),
                // Predicates inside `$elemMatch` read the elements of this path's value.
                Node::Path(p) => match p.components.first() {
                    Some(field) => {
                        if !out.contains(field) {
                            out.push(field.clone());
                        }
                        true
                    }
                    // A predicate on the document itself.
                    None => false,
                },
                Node::Expr(..) | Node::Schema(_) => false,
                Node::Constant(_) => true,
            }
        }
        let mut fields = Vec::new();
        collect(&self.root, &mut fields).then_some(fields)
    }

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

/// Sets the collation `$expr` nodes evaluate with.
fn set_expr_collation(node: &mut Node, collation: &Option<Arc<Collation>>) {
    match node {
        Node::And(children) | Node::Or(children) | Node::Nor(children) => {
            for child in children {
                set_expr_collation(child, collation);
            }
        }
        Node::Not(child) => set_expr_collation(child, collation),
        Node::Path(p) => {
            if let Op::ElemMatchObject(child) | Op::OnElement(child) = &mut p.op {
                set_expr_collation(child, collation);
            }
        }
        Node::Expr(_, vars) => vars.collation = collation.clone(),
        Node::Schema(_) | Node::Constant(_) => {}
    }
}

/// The top-level AND-ed nodes (nested `$and`s flattened).
fn top_level_conjuncts(root: &Node) -> Vec<&Node> {
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

/// The parsed form of a filter.
#[derive(Debug, Clone)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Nor(Vec<Node>),
    /// Negation of a predicate on one path (`$ne`, `$nin`, `$not`, `$exists: false`).
    Not(Box<Node>),
    Path(PathPredicate),
    Expr(Box<Expr>, Box<Vars>),
    Schema(Box<Schema>),
    Constant(bool),
}

#[derive(Debug, Clone)]
struct PathPredicate {
    path: String,
    components: Vec<String>,
    op: Op,
    /// False inside a value-form `$elemMatch` (`{$elemMatch: {$ne: 1}}`), where operators
    /// test each element as a whole and do not look into arrays nested in it.
    expand_leaf_arrays: bool,
}

/// A predicate on the values a path reaches.
#[derive(Debug, Clone)]
enum Op {
    /// Equality (`{a: 1}`, `$eq`): also matches a missing field when the value is null.
    Eq(Bson),
    Compare(Comparison, Bson),
    In(InSet),
    Regex(CompiledRegex),
    Exists,
    Type(Vec<TypeSelector>),
    Size(usize),
    Mod {
        divisor: i64,
        remainder: i64,
    },
    Bits(BitTest, BitMask),
    /// A geospatial predicate (`$geoWithin`, `$geoIntersects`, `$near`, `$nearSphere`).
    Geo(Box<crate::geo::GeoPredicate>),
    /// `$elemMatch` with operators: some element satisfies all of them.
    ElemMatchValue(Vec<Op>),
    /// `$elemMatch` with a filter: some document element matches it.
    ElemMatchObject(Box<Node>),
    /// A negation inside a value-form `$elemMatch` (`{$elemMatch: {$ne: 1}}`): the node is on
    /// the empty path and is evaluated on `{"": value}`.
    OnElement(Box<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone)]
struct InSet {
    values: Vec<Bson>,
    regexes: Vec<CompiledRegex>,
}

/// A `$type` alternative: one BSON type code, or all numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypeSelector {
    Code(i32),
    Number,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BitTest {
    AllSet,
    AnySet,
    AllClear,
    AnyClear,
}

/// The bit positions a `$bits*` operator tests.
#[derive(Debug, Clone)]
struct BitMask {
    positions: Vec<u64>,
}

/// The result of evaluating a node.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    matched: bool,
    array_index: Option<usize>,
}

impl Outcome {
    fn of(matched: bool) -> Outcome {
        Outcome {
            matched,
            array_index: None,
        }
    }
}

impl Node {
    fn has_expr(&self) -> bool {
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

    fn evaluate(&self, doc: &Document, collation: Option<&Collation>) -> Result<Outcome> {
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

impl TypeSelector {
    fn matches(&self, v: &Bson) -> bool {
        match self {
            TypeSelector::Number => matches!(
                v,
                Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
            ),
            TypeSelector::Code(code) => bson_type_code(v) == *code,
        }
    }
}

/// The BSON type code of a value (`$type` numbers).
pub fn bson_type_code(v: &Bson) -> i32 {
    match v {
        Bson::Double(_) => 1,
        Bson::String(_) => 2,
        Bson::Document(_) => 3,
        Bson::Array(_) => 4,
        Bson::Binary(_) => 5,
        Bson::Undefined => 6,
        Bson::ObjectId(_) => 7,
        Bson::Boolean(_) => 8,
        Bson::DateTime(_) => 9,
        Bson::Null => 10,
        Bson::RegularExpression(_) => 11,
        Bson::DbPointer(_) => 12,
        Bson::JavaScriptCode(_) => 13,
        Bson::Symbol(_) => 14,
        Bson::JavaScriptCodeWithScope(_) => 15,
        Bson::Int32(_) => 16,
        Bson::Timestamp(_) => 17,
        Bson::Int64(_) => 18,
        Bson::Decimal128(_) => 19,
        Bson::MinKey => -1,
        Bson::MaxKey => 127,
    }
}

/// `$type` aliases and their codes (`"number"` is handled apart).
const TYPE_ALIASES: &[(&str, i32)] = &[
    ("double", 1),
    ("string", 2),
    ("object", 3),
    ("array", 4),
    ("binData", 5),
    ("undefined", 6),
    ("objectId", 7),
    ("bool", 8),
    ("date", 9),
    ("null", 10),
    ("regex", 11),
    ("dbPointer", 12),
    ("javascript", 13),
    ("symbol", 14),
    ("javascriptWithScope", 15),
    ("int", 16),
    ("timestamp", 17),
    ("long", 18),
    ("decimal", 19),
    ("minKey", -1),
    ("maxKey", 127),
];

/// A numeric value as an exact integer (integral doubles and decimals included).
fn exact_integer(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(d) => {
            if d.fract() == 0.0
                && *d >= -9_223_372_036_854_775_808.0
                && *d < 9_223_372_036_854_775_808.0
            {
                Some(*d as i64)
            } else {
                None
            }
        }
        Bson::Decimal128(_) => {
            let d = crate::value::Number::of(v)?.to_f64();
            let i = exact_integer(&Bson::Double(d))?;
            crate::value::equal(v, &Bson::Int64(i)).then_some(i)
        }
        _ => None,
    }
}

/// `$mod`: the value truncated toward zero, remainder with the dividend's sign (as C++).
fn mod_matches(v: &Bson, divisor: i64, remainder: i64) -> bool {
    let value = match v {
        Bson::Int32(i) => i64::from(*i),
        Bson::Int64(i) => *i,
        Bson::Double(_) | Bson::Decimal128(_) => {
            let d = crate::value::Number::of(v).map_or(f64::NAN, |n| n.to_f64());
            if !d.is_finite() {
                return false;
            }
            // Saturating conversion of the truncated value, as MongoDB's coercion does.
            d.trunc() as i64
        }
        _ => return false,
    };
    value.wrapping_rem(divisor) == remainder
}

/// `$bitsAllSet` and friends on one value: integral numbers representable as int64 (two's
/// complement, sign-extended beyond bit 63) and BinData (little-endian bytes, zero beyond).
fn bits_match(test: BitTest, mask: &BitMask, v: &Bson) -> bool {
    let integer = match v {
        Bson::Binary(_) => None,
        _ => match exact_integer(v) {
            Some(n) => Some(n),
            None => return false,
        },
    };
    let bit = |p: u64| -> bool {
        match (v, integer) {
            (Bson::Binary(b), _) => usize::try_from(p / 8)
                .ok()
                .and_then(|i| b.bytes.get(i))
                .is_some_and(|byte| byte >> (p % 8) & 1 == 1),
            (_, Some(n)) if p >= 64 => n < 0,
            (_, Some(n)) => (n >> p) & 1 == 1,
            (_, None) => false,
        }
    };
    let positions = &mask.positions;
    match test {
        BitTest::AllSet => positions.iter().all(|&p| bit(p)),
        BitTest::AnySet => positions.iter().any(|&p| bit(p)),
        BitTest::AllClear => positions.iter().all(|&p| !bit(p)),
        BitTest::AnyClear => positions.iter().any(|&p| !bit(p)),
    }
}

/// Parsing state shared by nested filters.
struct ParseContext {
    variables: Vars,
}

impl ParseContext {
    /// Parses a filter document (top level or nested in `$and`/`$or`/`$nor`/`$elemMatch`).
    /// `in_elem_match`: the filter applies to array elements (`$elemMatch`), where `$expr`,
    /// `$where` and `$text` are refused.
    fn parse_document(&self, filter: &Document, in_elem_match: bool) -> Result<Node> {
        let mut nodes = Vec::new();
        for (key, value) in filter {
            if let Some(operator) = key.strip_prefix('$') {
                if let Some(node) =
                    self.parse_top_level_operator(operator, key, value, in_elem_match)?
                {
                    nodes.push(node);
                }
            } else {
                nodes.push(self.parse_path(key, value)?);
            }
        }
        Ok(if nodes.len() == 1 {
            nodes.pop().unwrap_or(Node::Constant(true))
        } else {
            Node::And(nodes)
        })
    }

    fn parse_top_level_operator(
        &self,
        operator: &str,
        key: &str,
        value: &Bson,
        in_elem_match: bool,
    ) -> Result<Option<Node>> {
        if in_elem_match && matches!(operator, "expr" | "where" | "text") {
            return Err(Error::BadValue(format!(
                "{key} can only be applied to the top-level document"
            )));
        }
        Ok(Some(match operator {
            "and" | "or" | "nor" => {
                let Bson::Array(items) = value else {
                    return Err(Error::BadValue(format!("{key} must be an array")));
                };
                if items.is_empty() {
                    return Err(Error::BadValue(
                        "$and/$or/$nor must be a nonempty array".into(),
                    ));
                }
                let mut children = Vec::new();
                for item in items {
                    let Bson::Document(d) = item else {
                        return Err(Error::BadValue(
                            "$or/$and/$nor entries need to be full objects".into(),
                        ));
                    };
                    children.push(self.parse_document(d, in_elem_match)?);
                }
                match operator {
                    "and" => Node::And(children),
                    "or" => Node::Or(children),
                    _ => Node::Nor(children),
                }
            }
            "comment" => return Ok(None),
            "alwaysTrue" | "alwaysFalse" => {
                if exact_integer(value) != Some(1) {
                    return Err(Error::FailedToParse(format!(
                        "{key} must be an integer value of 1"
                    )));
                }
                Node::Constant(operator == "alwaysTrue")
            }
            "expr" => {
                let expr = Expr::parse(value)?;
                Node::Expr(Box::new(expr), Box::new(self.variables.clone()))
            }
            "jsonSchema" => {
                let Bson::Document(d) = value else {
                    return Err(Error::TypeMismatch("$jsonSchema must be an object".into()));
                };
                Node::Schema(Box::new(Schema::parse(d)?))
            }
            "text" => {
                return Err(Error::NotSupported(
                    "$text is supported in a find's or count's filter and in an aggregation's \
                     first $match only; $text in updates, deletes, distinct, views or later \
                     stages is not supported by Outpost"
                        .into(),
                ))
            }
            "where" | "sampleRate" | "search" => {
                return Err(Error::NotSupported(format!("{key} is not supported")))
            }
            _ => {
                let hint = if operator == "not" {
                    "If you are trying to negate an entire expression, use $nor."
                } else {
                    "If you have a field name that starts with a '$' symbol, consider using $getField or $setField."
                };
                return Err(Error::BadValue(format!(
                    "unknown top level operator: {key}. {hint}"
                )));
            }
        }))
    }

    /// Parses `path: value`: an operator document, a regex, or an equality.
    fn parse_path(&self, path: &str, value: &Bson) -> Result<Node> {
        crate::value::path::check_path_length(path)?;
        match value {
            Bson::RegularExpression(r) => Ok(path_node(
                path,
                Op::Regex(CompiledRegex::new(&r.pattern, &r.options)?),
            )),
            Bson::Document(d) if is_operator_document(d) => self.parse_operators(path, d),
            _ => Ok(path_node(path, Op::Eq(value.clone()))),
        }
    }

    /// Parses `{$gt: 1, $lt: 5, ...}` on one path into an AND of predicates.
    fn parse_operators(&self, path: &str, operators: &Document) -> Result<Node> {
        let mut nodes = Vec::new();
        // `$regex` and `$options` combine into one predicate.
        if operators.contains_key("$options") && !operators.contains_key("$regex") {
            return Err(Error::BadValue("$options needs a $regex".into()));
        }
        if operators.contains_key("$regex") {
            nodes.push(path_node(path, Op::Regex(parse_regex_operator(operators)?)));
        }
        // `$near`/`$nearSphere` take their sibling `$minDistance`/`$maxDistance`.
        if let Some(near) = ["$near", "$nearSphere"]
            .into_iter()
            .find(|op| operators.contains_key(*op))
        {
            let predicate = crate::geo::GeoPredicate::parse_near(near, operators)?;
            return Ok(path_node(path, Op::Geo(Box::new(predicate))));
        }
        for (key, value) in operators {
            match key.as_str() {
                "$regex" | "$options" => {}
                "$not" => nodes.push(Node::Not(Box::new(self.parse_not(path, value)?))),
                "$ne" => {
                    if matches!(value, Bson::RegularExpression(_)) {
                        return Err(Error::BadValue("Can't have regex as arg to $ne.".into()));
                    }
                    nodes.push(Node::Not(Box::new(path_node(path, Op::Eq(value.clone())))))
                }
                "$nin" => nodes.push(Node::Not(Box::new(path_node(
                    path,
                    Op::In(parse_in_set(key, value)?),
                )))),
                "$exists" => {
                    let exists = path_node(path, Op::Exists);
                    nodes.push(if is_truthy(value) {
                        exists
                    } else {
                        Node::Not(Box::new(exists))
                    })
                }
                "$all" => nodes.push(self.parse_all(path, value)?),
                "$elemMatch" => nodes.push(path_node(path, self.parse_elem_match(value)?)),
                _ => nodes.push(path_node(
                    path,
                    self.parse_value_operator(path, key, value)?,
                )),
            }
        }
        Ok(if nodes.len() == 1 {
            nodes.pop().unwrap_or(Node::Constant(true))
        } else {
            Node::And(nodes)
        })
    }

    /// Operators that test one value and so can also appear inside `$elemMatch` (value form)
    /// and `$not`.
    fn parse_value_operator(&self, path: &str, key: &str, value: &Bson) -> Result<Op> {
        if matches!(key, "$gt" | "$gte" | "$lt" | "$lte")
            && matches!(value, Bson::RegularExpression(_))
        {
            return Err(Error::BadValue(format!(
                "Can't have RegEx as arg to predicate over field '{path}'."
            )));
        }
        Ok(match key {
            "$eq" => Op::Eq(value.clone()),
            "$gt" => Op::Compare(Comparison::Gt, value.clone()),
            "$gte" => Op::Compare(Comparison::Gte, value.clone()),
            "$lt" => Op::Compare(Comparison::Lt, value.clone()),
            "$lte" => Op::Compare(Comparison::Lte, value.clone()),
            "$in" => Op::In(parse_in_set(key, value)?),
            "$size" => Op::Size(parse_size(value)?),
            "$type" => {
                let selectors = parse_type_selectors(value)?;
                if selectors.is_empty() {
                    return Err(Error::FailedToParse(format!(
                        "{path} must match at least one type"
                    )));
                }
                Op::Type(selectors)
            }
            "$where" => {
                return Err(Error::BadValue(
                    "$where cannot be applied to a field".into(),
                ))
            }
            "$mod" => parse_mod(value)?,
            "$bitsAllSet" => Op::Bits(BitTest::AllSet, parse_bitmask(key, value)?),
            "$bitsAnySet" => Op::Bits(BitTest::AnySet, parse_bitmask(key, value)?),
            "$bitsAllClear" => Op::Bits(BitTest::AllClear, parse_bitmask(key, value)?),
            "$bitsAnyClear" => Op::Bits(BitTest::AnyClear, parse_bitmask(key, value)?),
            "$elemMatch" => self.parse_elem_match(value)?,
            "$geoWithin" | "$within" => {
                Op::Geo(Box::new(crate::geo::GeoPredicate::parse_within(value)?))
            }
            "$geoIntersects" => {
                Op::Geo(Box::new(crate::geo::GeoPredicate::parse_intersects(value)?))
            }
            "$near" | "$nearSphere" | "$maxDistance" | "$minDistance" => {
                return Err(Error::BadValue(format!(
                    "{key} must be a top-level predicate on a field, with $near or $nearSphere"
                )))
            }
            "$geoNear" | "$box" | "$center" | "$centerSphere" | "$polygon" | "$geometry" => {
                return Err(Error::BadValue(format!("unknown operator: {key}")))
            }
            _ => return Err(Error::BadValue(format!("unknown operator: {key}"))),
        })
    }

    fn parse_not(&self, path: &str, value: &Bson) -> Result<Node> {
        match value {
            Bson::RegularExpression(r) => Ok(path_node(
                path,
                Op::Regex(CompiledRegex::new(&r.pattern, &r.options)?),
            )),
            Bson::Document(d) => {
                if d.is_empty() {
                    return Err(Error::BadValue("$not cannot be empty".into()));
                }
                if !d.keys().all(|k| k.starts_with('$')) {
                    return Err(Error::BadValue(format!(
                        "unknown operator: {}",
                        d.keys()
                            .find(|k| !k.starts_with('$'))
                            .map_or("", |k| k.as_str())
                    )));
                }
                self.parse_operators(path, d)
            }
            _ => Err(Error::BadValue("$not needs a regex or a document".into())),
        }
    }

    fn parse_all(&self, path: &str, value: &Bson) -> Result<Node> {
        let Bson::Array(items) = value else {
            return Err(Error::BadValue("$all needs an array".into()));
        };
        if items.is_empty() {
            return Ok(Node::Constant(false));
        }
        let is_elem_match = |v: &Bson| matches!(v, Bson::Document(d) if d.keys().next().is_some_and(|k| k == "$elemMatch"));
        let mut nodes = Vec::new();
        if items.first().is_some_and(is_elem_match) {
            for item in items {
                match item {
                    Bson::Document(d) if is_elem_match(item) && d.len() == 1 => {
                        let inner = d.get("$elemMatch").unwrap_or(&Bson::Null);
                        nodes.push(path_node(path, self.parse_elem_match(inner)?));
                    }
                    _ => {
                        return Err(Error::BadValue(
                            "$all/$elemMatch has to be consistent".into(),
                        ))
                    }
                }
            }
        } else {
            for item in items {
                match item {
                    Bson::RegularExpression(r) => nodes.push(path_node(
                        path,
                        Op::Regex(CompiledRegex::new(&r.pattern, &r.options)?),
                    )),
                    Bson::Document(d) if is_operator_document(d) => {
                        return Err(Error::BadValue("no $ expressions in $all".into()))
                    }
                    _ => nodes.push(path_node(path, Op::Eq(item.clone()))),
                }
            }
        }
        Ok(Node::And(nodes))
    }

    fn parse_elem_match(&self, value: &Bson) -> Result<Op> {
        let Bson::Document(d) = value else {
            return Err(Error::BadValue("$elemMatch needs an Object".into()));
        };
        let value_form = d.keys().next().is_some_and(|k| {
            k.starts_with('$')
                && !matches!(
                    k.as_str(),
                    "$and"
                        | "$or"
                        | "$nor"
                        | "$where"
                        | "$expr"
                        | "$jsonSchema"
                        | "$text"
                        | "$comment"
                        | "$alwaysTrue"
                        | "$alwaysFalse"
                )
        });
        if !value_form {
            return Ok(Op::ElemMatchObject(Box::new(self.parse_document(d, true)?)));
        }
        // Value form: each operator applies to the element itself. `$not` and `$regex` are
        // expressed as nodes on an empty path, evaluated on a one-field wrapper.
        let mut ops = Vec::new();
        if d.contains_key("$options") && !d.contains_key("$regex") {
            return Err(Error::BadValue("$options needs a $regex".into()));
        }
        if d.contains_key("$regex") {
            ops.push(Op::Regex(parse_regex_operator(d)?));
        }
        for (key, v) in d {
            match key.as_str() {
                "$regex" | "$options" => {}
                "$ne" | "$nin" | "$not" | "$exists" | "$all" => {
                    // Evaluate against `{"": element}` with the general machinery.
                    let mut one = Document::new();
                    one.insert(key.clone(), v.clone());
                    let mut node = self.parse_operators("", &one)?;
                    disable_leaf_array_expansion(&mut node);
                    ops.push(Op::OnElement(Box::new(node)));
                }
                _ if !key.starts_with('$') => {
                    return Err(Error::BadValue(format!("unknown operator: {key}")))
                }
                _ => ops.push(self.parse_value_operator("", key, v)?),
            }
        }
        Ok(Op::ElemMatchValue(ops))
    }
}

fn path_node(path: &str, op: Op) -> Node {
    Node::Path(PathPredicate {
        path: path.to_string(),
        components: path.split('.').map(str::to_string).collect(),
        op,
        expand_leaf_arrays: true,
    })
}

/// Makes every predicate of `node` test values as a whole (see
/// [`PathPredicate::expand_leaf_arrays`]).
fn disable_leaf_array_expansion(node: &mut Node) {
    match node {
        Node::And(children) | Node::Or(children) | Node::Nor(children) => {
            children.iter_mut().for_each(disable_leaf_array_expansion)
        }
        Node::Not(child) => disable_leaf_array_expansion(child),
        Node::Path(p) => p.expand_leaf_arrays = false,
        Node::Expr(..) | Node::Schema(_) | Node::Constant(_) => {}
    }
}

/// Whether `{...}` as a path's value is an operator document (`{$gt: 1}`) rather than a
/// document to compare with. DBRef-like documents (`{$ref, $id}`) are documents.
fn is_operator_document(d: &Document) -> bool {
    d.keys()
        .next()
        .is_some_and(|k| k.starts_with('$') && !matches!(k.as_str(), "$ref" | "$id" | "$db"))
}

/// `$regex` with `$options` from an operator document, checked in document order as MongoDB
/// does (flags on a regex literal and a non-empty `$options` conflict: 51074 when `$options`
/// came first, 51075 otherwise).
fn parse_regex_operator(operators: &Document) -> Result<CompiledRegex> {
    let mut pattern = "";
    let mut options = "";
    for (key, value) in operators {
        match key.as_str() {
            "$regex" => match value {
                Bson::String(p) => pattern = p,
                Bson::RegularExpression(r) => {
                    pattern = &r.pattern;
                    if !r.options.is_empty() {
                        if !options.is_empty() {
                            return Err(Error::coded(
                                51074,
                                "options set in both $regex and $options",
                            ));
                        }
                        options = &r.options;
                    }
                }
                _ => return Err(Error::BadValue("$regex has to be a string".into())),
            },
            "$options" => {
                let Bson::String(o) = value else {
                    return Err(Error::BadValue("$options has to be a string".into()));
                };
                if !options.is_empty() {
                    return Err(Error::coded(
                        51075,
                        "options set in both $regex and $options",
                    ));
                }
                options = o;
            }
            _ => {}
        }
    }
    CompiledRegex::new(pattern, options)
}

fn parse_in_set(key: &str, value: &Bson) -> Result<InSet> {
    let Bson::Array(items) = value else {
        return Err(Error::BadValue(format!("{key} needs an array")));
    };
    let mut set = InSet {
        values: Vec::new(),
        regexes: Vec::new(),
    };
    for item in items {
        match item {
            Bson::RegularExpression(r) => set
                .regexes
                .push(CompiledRegex::new(&r.pattern, &r.options)?),
            Bson::Document(d) if is_operator_document(d) => {
                return Err(Error::BadValue("cannot nest $ under $in".into()))
            }
            _ => set.values.push(item.clone()),
        }
    }
    Ok(set)
}

fn parse_size(value: &Bson) -> Result<usize> {
    let n = match value {
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
            exact_integer(value).ok_or_else(|| {
                Error::BadValue(format!(
                    "Failed to parse $size. Expected an integer, but found {value}"
                ))
            })?
        }
        _ => {
            return Err(Error::BadValue(format!(
                "Failed to parse $size. Expected a number in: $size: {value}"
            )))
        }
    };
    usize::try_from(n).map_err(|_| {
        Error::BadValue(format!(
            "Failed to parse $size. Expected a non-negative number in: $size: {value}"
        ))
    })
}

fn parse_type_selectors(value: &Bson) -> Result<Vec<TypeSelector>> {
    match value {
        Bson::Array(items) => items.iter().map(parse_type_selector).collect(),
        other => Ok(vec![parse_type_selector(other)?]),
    }
}

fn parse_type_selector(value: &Bson) -> Result<TypeSelector> {
    match value {
        Bson::String(alias) => {
            if alias == "number" {
                return Ok(TypeSelector::Number);
            }
            TYPE_ALIASES
                .iter()
                .find(|(name, _)| name == alias)
                .map(|(_, code)| TypeSelector::Code(*code))
                .ok_or_else(|| Error::BadValue(format!("Unknown type name alias: {alias}")))
        }
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
            let code = exact_integer(value)
                .and_then(|c| i32::try_from(c).ok())
                .filter(|c| TYPE_ALIASES.iter().any(|(_, known)| known == c))
                .ok_or_else(|| Error::BadValue(format!("Invalid numerical type code: {value}")))?;
            Ok(TypeSelector::Code(code))
        }
        _ => Err(Error::TypeMismatch(format!(
            "type must be represented as a number or a string, not {value}"
        ))),
    }
}

fn parse_mod(value: &Bson) -> Result<Op> {
    let Bson::Array(items) = value else {
        return Err(Error::BadValue(
            "malformed mod, needs to be an array".into(),
        ));
    };
    let not_enough = || Error::BadValue("malformed mod, not enough elements".into());
    let divisor = items.first().ok_or_else(not_enough)?;
    if crate::value::Number::of(divisor).is_none() {
        return Err(Error::BadValue(
            "malformed mod, divisor not a number".into(),
        ));
    }
    let remainder = items.get(1).ok_or_else(not_enough)?;
    if crate::value::Number::of(remainder).is_none() {
        return Err(Error::BadValue(
            "malformed mod, remainder not a number".into(),
        ));
    }
    if items.len() > 2 {
        return Err(Error::BadValue("malformed mod, too many elements".into()));
    }
    let divisor = coerce_to_int64(divisor, "divisor")?;
    let remainder = coerce_to_int64(remainder, "remainder")?;
    if divisor == 0 {
        return Err(Error::BadValue("divisor cannot be 0".into()));
    }
    Ok(Op::Mod { divisor, remainder })
}

/// A number truncated toward zero to an int64, refusing NaN, infinities and out-of-range
/// values as MongoDB's `tryCoerce` does.
fn coerce_to_int64(v: &Bson, what: &str) -> Result<i64> {
    match v {
        Bson::Int32(i) => Ok(i64::from(*i)),
        Bson::Int64(i) => Ok(*i),
        _ => {
            let d = crate::value::Number::of(v).map_or(f64::NAN, |n| n.to_f64());
            if !d.is_finite() {
                return Err(Error::BadValue(format!(
                    "malformed mod, {what} value is invalid :: caused by :: Unable to coerce NaN/Inf to integral type"
                )));
            }
            let t = d.trunc();
            if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&t) {
                return Err(Error::BadValue(format!(
                    "malformed mod, {what} value is invalid :: caused by :: Out of bounds coercing to integral value"
                )));
            }
            // Within range, so exact.
            Ok(t as i64)
        }
    }
}

fn parse_bitmask(key: &str, value: &Bson) -> Result<BitMask> {
    let mut positions = Vec::new();
    match value {
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
            let n = exact_integer(value).ok_or_else(|| {
                Error::BadValue(format!(
                    "{key} bitmask must be an integer representable as a 64-bit integer: {value}"
                ))
            })?;
            if n < 0 {
                return Err(Error::BadValue(format!(
                    "{key} bitmask must be a non-negative integer: {value}"
                )));
            }
            for p in 0..63 {
                if (n >> p) & 1 == 1 {
                    positions.push(p);
                }
            }
        }
        Bson::Array(items) => {
            for item in items {
                let p = match item {
                    Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
                        exact_integer(item).ok_or_else(|| {
                            Error::BadValue(format!(
                                "Failed to parse bit position. Expected an integer: {item}"
                            ))
                        })?
                    }
                    _ => {
                        return Err(Error::BadValue(format!(
                            "Failed to parse bit position. Expected a number in: {item}"
                        )))
                    }
                };
                let p = u64::try_from(p).map_err(|_| {
                    Error::BadValue(format!(
                        "Failed to parse bit position. Expected a positive number in: {item}"
                    ))
                })?;
                positions.push(p);
            }
        }
        Bson::Binary(b) => {
            for (i, byte) in b.bytes.iter().enumerate() {
                for bit in 0..8u64 {
                    if byte >> bit & 1 == 1 {
                        positions.push(u64::try_from(i).unwrap_or(u64::MAX / 16) * 8 + bit);
                    }
                }
            }
        }
        _ => {
            return Err(Error::BadValue(format!(
                "{key} takes an Array, a number, or a BinData but received: {key}: {value}"
            )))
        }
    }
    Ok(BitMask { positions })
}
