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
//!
//! # Files
//!
//! This file holds [`Filter`] and the parsed tree (`Node`, `Op`). `parse.rs` builds the tree
//! (the refusal of `$text` outside a find's or first `$match`'s filter is there),
//! `eval.rs` matches it against a document, `scalar.rs` holds `$type`, `$mod`, `$bits*` and
//! `$size`, `planner.rs` what the planner asks (index bounds, computed in `bounds.rs`; the
//! geospatial predicate and `$near`; `_id` equality), `regex.rs` `$regex`, `schema.rs`
//! `$jsonSchema`.

mod bounds;
mod eval;
mod parse;
mod planner;
mod regex;
mod scalar;
mod schema;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use bson::{Bson, Document};

pub use self::bounds::Interval;
pub use self::eval::is_truthy;
use self::parse::ParseContext;
use self::regex::CompiledRegex;
pub use self::scalar::bson_type_code;
use self::schema::Schema;
use crate::agg::expr::{Expr, Vars};
use crate::error::Result;
use crate::value::Collation;

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
