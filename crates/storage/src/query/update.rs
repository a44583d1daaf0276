//! Update specifications: operator documents (`{$set: {...}}`), replacement documents and
//! pipeline updates, applied to one document at a time.
//!
//! Operator updates follow MongoDB's update tree without building one: at parse time every
//! path is checked against the others for conflicts (a path and its prefix, or the same path
//! twice, is ConflictingUpdateOperators 40). At apply time the placeholders (`$`, `$[]`,
//! `$[<id>]`) are expanded against the original document into concrete paths, which are
//! applied one by one in MongoDB's tree order: field names in byte order at each level, array
//! elements in index order. That order is why new fields appear in sorted order at the end of
//! their document, while existing fields keep their place.
//!
//! This file holds [`Update`] and its parsed parts. `parse.rs` parses update documents,
//! pipelines and array filters, `check.rs` the path conflicts and the checks of stored
//! documents, `apply.rs` applies an update to a document; the operators themselves are in
//! `ops.rs` (with `arith.rs` for `$inc`/`$mul`/`$bit`), paths in `path.rs`, and an upsert's
//! seed document in `seed.rs`.

mod apply;
mod arith;
mod check;
mod ops;
mod parse;
mod path;
mod seed;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use bson::{Bson, Document};

use self::apply::{apply_operators, finish_replacement};
use self::check::check_top_level_field_names;
use self::ops::{Modifier, PullMatcher};
use self::parse::{parse_operators, parse_pipeline};
use crate::agg::Pipeline;
use crate::error::{Error, Result};
use crate::query::Filter;

pub use self::ops::WRAPPED_ELEMENT_FIELD;

/// MongoDB's error codes used here that have no named variant.
const EMPTY_FIELD_NAME: i32 = 56;
const DOLLAR_PREFIXED_FIELD_NAME: i32 = 52;
const INVALID_OPTIONS: i32 = 72;
const INVALID_ID_FIELD: i32 = 53;
const OVERFLOW: i32 = 15;
const UNRECOGNIZED_PIPELINE_STAGE: i32 = 40324;
const STAGE_NOT_ONE_FIELD: i32 = 40323;

/// The operators MongoDB accepts in an update document.
const UPDATE_OPERATORS: &[&str] = &[
    "$set",
    "$unset",
    "$inc",
    "$mul",
    "$min",
    "$max",
    "$rename",
    "$currentDate",
    "$setOnInsert",
    "$push",
    "$addToSet",
    "$pop",
    "$pull",
    "$pullAll",
    "$bit",
];

/// Stages allowed in a pipeline update.
const UPDATE_PIPELINE_STAGES: &[&str] = &[
    "$addFields",
    "$set",
    "$project",
    "$unset",
    "$replaceRoot",
    "$replaceWith",
];

/// Other aggregation stages: refused in updates with InvalidOptions (72) rather than
/// reported as unknown.
const OTHER_PIPELINE_STAGES: &[&str] = &[
    "$match",
    "$group",
    "$sort",
    "$limit",
    "$skip",
    "$lookup",
    "$unwind",
    "$out",
    "$merge",
    "$facet",
    "$bucket",
    "$bucketAuto",
    "$count",
    "$sortByCount",
    "$sample",
    "$geoNear",
    "$graphLookup",
    "$redact",
    "$unionWith",
    "$densify",
    "$fill",
    "$setWindowFields",
    "$documents",
    "$collStats",
    "$indexStats",
    "$currentOp",
    "$listSessions",
    "$planCacheStats",
    "$changeStream",
    "$search",
];

#[derive(Debug, Clone)]
pub struct Update {
    kind: UpdateKind,
    /// The operation's collation (`None`: simple): `$addToSet`, `$pull`, `$pullAll`,
    /// `$min`, `$max`, `$push`'s `$sort` and `arrayFilters` compare strings under it.
    collation: Option<std::sync::Arc<crate::value::Collation>>,
}

#[derive(Debug, Clone)]
enum UpdateKind {
    Replacement(Document),
    Operators {
        operations: Vec<Operation>,
        array_filters: BTreeMap<String, Filter>,
    },
    Pipeline(Pipeline),
}

/// One `{path: argument}` pair of one operator.
#[derive(Debug, Clone)]
struct Operation {
    /// The path as written, for messages and [`Update::modified_paths`].
    field: String,
    parts: Vec<Part>,
    modifier: Modifier,
}

/// One component of an update path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Field(String),
    /// `$`: the array index the query matched.
    Positional,
    /// `$[]`: every element.
    AllElements,
    /// `$[<identifier>]`: the elements matching that array filter.
    Filtered(String),
}

impl Part {
    fn parse(text: &str) -> Part {
        if text == "$" {
            Part::Positional
        } else if text == "$[]" {
            Part::AllElements
        } else if let Some(id) = text.strip_prefix("$[").and_then(|t| t.strip_suffix(']')) {
            Part::Filtered(id.to_string())
        } else {
            Part::Field(text.to_string())
        }
    }

    fn is_array_update(&self) -> bool {
        matches!(self, Part::AllElements | Part::Filtered(_))
    }

    /// The component as written.
    fn text(&self) -> String {
        match self {
            Part::Field(f) => f.clone(),
            Part::Positional => "$".into(),
            Part::AllElements => "$[]".into(),
            Part::Filtered(id) => format!("$[{id}]"),
        }
    }
}

/// What an update needs to know about the document it is applied to.
#[derive(Debug, Clone, Default)]
pub struct UpdateContext<'a> {
    /// True when the update is applied to a document being created by an upsert
    /// (`$setOnInsert` applies only then).
    pub is_insert: bool,
    /// The positional match of the query for the `$` operator.
    pub array_index: Option<usize>,
    /// `let` variables of the command, for pipeline updates.
    pub variables: Option<&'a Document>,
}

impl Update {
    /// Parses an update: a document of operators, a replacement document, or an array of
    /// pipeline stages. `array_filters` are the command's `arrayFilters`.
    pub fn parse(update: &Bson, array_filters: Option<&[Document]>) -> Result<Update> {
        let array_filters = array_filters.unwrap_or_default();
        match update {
            Bson::Array(stages) => {
                if !array_filters.is_empty() {
                    return Err(Error::FailedToParse(
                        "arrayFilters may not be specified for pipeline-style updates".into(),
                    ));
                }
                Ok(Update {
                    kind: UpdateKind::Pipeline(parse_pipeline(stages)?),
                    collation: None,
                })
            }
            Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')) => {
                parse_operators(d, array_filters)
            }
            Bson::Document(d) => {
                if !array_filters.is_empty() {
                    return Err(Error::FailedToParse(
                        "arrayFilters may not be specified for replacement-style updates".into(),
                    ));
                }
                check_top_level_field_names(d)?;
                Ok(Update {
                    kind: UpdateKind::Replacement(d.clone()),
                    collation: None,
                })
            }
            _ => Err(Error::TypeMismatch(
                "Update argument must be either an object or an array".into(),
            )),
        }
    }

    /// True for a replacement document (no operators).
    pub fn is_replacement(&self) -> bool {
        matches!(self.kind, UpdateKind::Replacement(_))
    }

    /// True for a pipeline update (an array of stages).
    pub fn is_pipeline(&self) -> bool {
        matches!(self.kind, UpdateKind::Pipeline(_))
    }

    /// The paths an operator update names, as written (placeholders included; `$rename`
    /// contributes both its source and its destination). `None` for replacements and
    /// pipelines, which may change any field.
    pub fn modified_paths(&self) -> Option<Vec<String>> {
        match &self.kind {
            UpdateKind::Operators { operations, .. } => {
                let mut paths = Vec::new();
                for op in operations {
                    if let Modifier::Rename { from } = &op.modifier {
                        paths.push(from.join("."));
                    }
                    paths.push(op.field.clone());
                }
                Some(paths)
            }
            _ => None,
        }
    }

    /// The fields this update increments, as field paths (`{$inc: {n: 1, "a.b": 2}}` gives
    /// `{n: 1, "a.b": 2}`; see [`crate::join_field_path`]), so that sync can merge concurrent
    /// increments as a counter. Increments through array positions are left out. `None` when
    /// there are none.
    pub fn increments(&self) -> Option<Document> {
        let UpdateKind::Operators { operations, .. } = &self.kind else {
            return None;
        };
        let mut out = Document::new();
        for op in operations {
            let Modifier::Arithmetic(arith::ArithmeticOp::Add, delta) = &op.modifier else {
                continue;
            };
            let fields: Option<Vec<&str>> = op
                .parts
                .iter()
                .map(|part| match part {
                    Part::Field(name) => Some(name.as_str()),
                    _ => None,
                })
                .collect();
            if let Some(fields) = fields {
                out.insert(crate::join_field_path(&fields), delta.clone());
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// The same update with strings compared under `collation` (the operation's, known only
    /// once the collection is: its default applies when the operation gives none).
    pub fn with_collation(
        &self,
        collation: Option<std::sync::Arc<crate::value::Collation>>,
    ) -> Update {
        let mut out = self.clone();
        if let UpdateKind::Operators {
            operations,
            array_filters,
        } = &mut out.kind
        {
            for filter in array_filters.values_mut() {
                *filter = filter.with_collation(collation.clone());
            }
            for operation in operations {
                if let Modifier::Pull(PullMatcher::Document(f) | PullMatcher::Wrapped(f)) =
                    &mut operation.modifier
                {
                    *f = f.with_collation(collation.clone());
                }
            }
        }
        out.collation = collation;
        out
    }

    /// This update under `collation`, borrowed when that is the simple one.
    pub fn collated(
        &self,
        collation: Option<&std::sync::Arc<crate::value::Collation>>,
    ) -> std::borrow::Cow<'_, Update> {
        match collation {
            None => std::borrow::Cow::Borrowed(self),
            Some(c) => std::borrow::Cow::Owned(self.with_collation(Some(c.clone()))),
        }
    }

    /// Applies the update to `doc`, returning the new document. `_id` is preserved.
    pub fn apply(&self, doc: &Document, ctx: &UpdateContext) -> Result<Document> {
        match &self.kind {
            UpdateKind::Replacement(replacement) => {
                // A replacement document may not hold `$`-prefixed top-level fields; a
                // pipeline's output may ($setField/$replaceWith), as in MongoDB 5.0+.
                check_top_level_field_names(replacement)?;
                finish_replacement(doc, replacement.clone())
            }
            UpdateKind::Pipeline(pipeline) => {
                // The command's `let` values are expressions, evaluated once per command by
                // MongoDB; evaluating them per document gives the same constants.
                let vars = match ctx.variables {
                    Some(spec) => crate::agg::expr::Vars::from_let(spec)?,
                    None => crate::agg::expr::Vars::default(),
                };
                let result = pipeline.apply_to_document_with(
                    doc.clone(),
                    &vars.user,
                    vars.now,
                    self.collation.clone(),
                )?;
                finish_replacement(doc, result)
            }
            UpdateKind::Operators {
                operations,
                array_filters,
            } => apply_operators(
                doc,
                operations,
                array_filters,
                ctx,
                self.collation.as_deref(),
            ),
        }
    }
}

/// `a + b` with `$inc`'s result types (int32 stays int32 until it overflows, then int64; any
/// double gives a double; any decimal a decimal); `None` when either is not a number or the
/// sum overflows int64.
pub fn add_numbers(a: &Bson, b: &Bson) -> Option<Bson> {
    arith::arithmetic(arith::ArithmeticOp::Add, a, b)
}

/// The document an upsert starts from: the equality fields of `filter` (`{a: 1, "b.c": 2}`
/// seeds `{a: 1, b: {c: 2}}`).
pub fn upsert_seed(filter: &Document) -> Result<Document> {
    seed::upsert_seed(filter)
}
