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

mod arith;
mod ops;
mod path;
mod seed;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use bson::{Bson, Document};

use self::ops::{Modifier, PullMatcher};
use self::path::{Cursor, Lookup};
use crate::agg::Pipeline;
use crate::error::{Error, Result};
use crate::query::Filter;
use crate::value::equal;

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

// ---------------------------------------------------------------------------------------------
// Parsing

fn parse_pipeline(stages: &[Bson]) -> Result<Pipeline> {
    let mut documents = Vec::with_capacity(stages.len());
    for stage in stages {
        let Bson::Document(stage) = stage else {
            return Err(Error::TypeMismatch(
                "Each element of the 'pipeline' array must be an object".into(),
            ));
        };
        let mut keys = stage.keys();
        let (Some(name), None) = (keys.next(), keys.next()) else {
            return Err(Error::coded(
                STAGE_NOT_ONE_FIELD,
                "A pipeline stage specification object must contain exactly one field.",
            ));
        };
        if !UPDATE_PIPELINE_STAGES.contains(&name.as_str()) {
            if OTHER_PIPELINE_STAGES.contains(&name.as_str()) {
                return Err(Error::coded(
                    INVALID_OPTIONS,
                    format!("{name} is not allowed to be used within an update"),
                ));
            }
            return Err(Error::coded(
                UNRECOGNIZED_PIPELINE_STAGE,
                format!("Unrecognized pipeline stage name: '{name}'"),
            ));
        }
        documents.push(stage.clone());
    }
    Pipeline::parse(&documents)
}

fn parse_operators(update: &Document, array_filter_docs: &[Document]) -> Result<Update> {
    let array_filters = parse_array_filters(array_filter_docs)?;
    let mut used_identifiers = std::collections::BTreeSet::new();
    let mut conflicts = ConflictNode::default();
    let mut operations = Vec::new();

    for (operator, argument) in update {
        if !UPDATE_OPERATORS.contains(&operator.as_str()) {
            return Err(Error::FailedToParse(format!(
                "Unknown modifier: {operator}. Expected a valid update modifier or \
                 pipeline-style update specified as an array"
            )));
        }
        let Bson::Document(fields) = argument else {
            return Err(Error::FailedToParse(format!(
                "Modifiers operate on fields but we found type {} instead. For example: \
                 {{$mod: {{<field>: ...}}}} not {{{operator}: {argument}}}",
                ops::type_name(argument)
            )));
        };
        for (field, value) in fields {
            if operator == "$rename" {
                let from = parse_path(field)?;
                check_placeholders(field, &from, &array_filters, &mut used_identifiers)?;
                conflicts.register(&from, field)?;
                let Bson::String(to_text) = value else {
                    return Err(Error::BadValue(format!(
                        "The 'to' field for $rename must be a string: {field}: {value}"
                    )));
                };
                let to = parse_path(to_text)?;
                check_placeholders(to_text, &to, &array_filters, &mut used_identifiers)?;
                let modifier = parse_rename(field, &from, to_text, &to)?;
                conflicts.register(&to, to_text)?;
                operations.push(Operation {
                    field: to_text.clone(),
                    parts: to,
                    modifier,
                });
                continue;
            }
            let parts = parse_path(field)?;
            check_placeholders(field, &parts, &array_filters, &mut used_identifiers)?;
            let modifier = Modifier::parse(operator, field, value)?;
            conflicts.register(&parts, field)?;
            operations.push(Operation {
                field: field.clone(),
                parts,
                modifier,
            });
        }
    }

    if let Some(unused) = array_filters
        .keys()
        .find(|id| !used_identifiers.contains(*id))
    {
        return Err(Error::FailedToParse(format!(
            "The array filter for identifier '{unused}' was not used in the update {update}"
        )));
    }

    Ok(Update {
        kind: UpdateKind::Operators {
            operations,
            array_filters,
        },
        collation: None,
    })
}

/// Splits a dotted path, refusing empty components (EmptyFieldName, 56).
fn parse_path(field: &str) -> Result<Vec<Part>> {
    crate::value::path::check_path_length(field)?;
    if field.is_empty() {
        return Err(Error::coded(
            EMPTY_FIELD_NAME,
            "An empty update path is not valid.",
        ));
    }
    let parts: Vec<Part> = field.split('.').map(Part::parse).collect();
    if parts
        .iter()
        .any(|p| matches!(p, Part::Field(f) if f.is_empty()))
    {
        return Err(Error::coded(
            EMPTY_FIELD_NAME,
            format!(
                "The update path '{field}' contains an empty field name, which is not allowed."
            ),
        ));
    }
    Ok(parts)
}

/// MongoDB's checks on `$` and `$[...]` components: at most one `$`, none of them first, and
/// every `$[<id>]` backed by an array filter.
fn check_placeholders(
    field: &str,
    parts: &[Part],
    array_filters: &BTreeMap<String, Filter>,
    used: &mut std::collections::BTreeSet<String>,
) -> Result<()> {
    let positional_count = parts.iter().filter(|p| **p == Part::Positional).count();
    if positional_count > 1 {
        return Err(Error::BadValue(format!(
            "Too many positional (i.e. '$') elements found in path '{field}'"
        )));
    }
    if parts.first() == Some(&Part::Positional) {
        return Err(Error::BadValue(format!(
            "Cannot have positional (i.e. '$') element in the first position in path '{field}'"
        )));
    }
    for (i, part) in parts.iter().enumerate() {
        if !part.is_array_update() {
            continue;
        }
        if i == 0 {
            return Err(Error::BadValue(format!(
                "Cannot have array filter identifier (i.e. '$[<id>]') element in the first \
                 position in path '{field}'"
            )));
        }
        if let Part::Filtered(id) = part {
            if !array_filters.contains_key(id) {
                return Err(Error::BadValue(format!(
                    "No array filter found for identifier '{id}' in path '{field}'"
                )));
            }
            used.insert(id.clone());
        }
    }
    Ok(())
}

fn parse_rename(from_text: &str, from: &[Part], to_text: &str, to: &[Part]) -> Result<Modifier> {
    let shown = format!("{from_text}: \"{to_text}\"");
    if from == to {
        return Err(Error::BadValue(format!(
            "The source and target field for $rename must differ: {shown}"
        )));
    }
    if from.starts_with(to) || to.starts_with(from) {
        return Err(Error::BadValue(format!(
            "The source and target field for $rename must not be on the same path: {shown}"
        )));
    }
    let dynamic = |parts: &[Part]| parts.iter().any(|p| !matches!(p, Part::Field(_)));
    if dynamic(from) {
        return Err(Error::BadValue(format!(
            "The source field for $rename may not be dynamic: {from_text}"
        )));
    }
    if dynamic(to) {
        return Err(Error::BadValue(format!(
            "The destination field for $rename may not be dynamic: {to_text}"
        )));
    }
    Ok(Modifier::Rename {
        from: from.iter().map(Part::text).collect(),
    })
}

/// Parses `arrayFilters`: each filter names one identifier (the top-level field name before
/// the first dot, the same in every clause), which must be an alphanumeric string starting
/// with a lowercase letter and used by no other filter.
fn parse_array_filters(filters: &[Document]) -> Result<BTreeMap<String, Filter>> {
    let mut parsed = BTreeMap::new();
    for filter in filters {
        let mut identifier: Option<String> = None;
        collect_filter_identifiers(filter, &mut identifier)?;
        let Some(identifier) = identifier else {
            return Err(Error::FailedToParse(
                "Cannot use an expression without a top-level field name in arrayFilters".into(),
            ));
        };
        let mut chars = identifier.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_alphanumeric());
        if !valid {
            return Err(Error::BadValue(format!(
                "Error parsing array filter :: caused by :: The top-level field name must be an \
                 alphanumeric string beginning with a lowercase letter, found '{identifier}'"
            )));
        }
        if parsed.contains_key(&identifier) {
            return Err(Error::FailedToParse(format!(
                "Found multiple array filters with the same top-level field name {identifier}"
            )));
        }
        parsed.insert(identifier, Filter::parse(filter)?);
    }
    Ok(parsed)
}

fn collect_filter_identifiers(filter: &Document, identifier: &mut Option<String>) -> Result<()> {
    for (key, value) in filter {
        if matches!(key.as_str(), "$and" | "$or" | "$nor") {
            if let Bson::Array(branches) = value {
                for branch in branches {
                    if let Bson::Document(d) = branch {
                        collect_filter_identifiers(d, identifier)?;
                    }
                }
            }
            continue;
        }
        if key.starts_with('$') {
            // $expr, $where, $comment, ...: no field name to take an identifier from.
            continue;
        }
        let top = key.split('.').next().unwrap_or(key).to_string();
        match identifier {
            Some(existing) if *existing != top => {
                return Err(Error::FailedToParse(format!(
                    "Error parsing array filter :: caused by :: Expected a single top-level \
                     field name, found '{existing}' and '{top}'"
                )))
            }
            _ => *identifier = Some(top),
        }
    }
    Ok(())
}

/// The paths an update names, as MongoDB's update tree: a path may not also be a prefix of
/// another, nor appear twice, and the children of one node are either all array-filter
/// placeholders (`$[...]`) or none.
#[derive(Debug, Default)]
struct ConflictNode {
    children: BTreeMap<String, ConflictNode>,
    leaf: bool,
    /// Children are `$[...]` placeholders.
    array_node: bool,
}

impl ConflictNode {
    fn register(&mut self, parts: &[Part], field: &str) -> Result<()> {
        let conflict = |at: String| {
            Error::ConflictingUpdateOperators(format!(
                "Updating the path '{field}' would create a conflict at '{at}'"
            ))
        };
        let texts: Vec<String> = parts.iter().map(Part::text).collect();
        let Some((last, inner)) = texts.split_last() else {
            return Ok(());
        };
        let mut node = self;
        for (i, text) in inner.iter().enumerate() {
            let should_be_array = parts.get(i + 1).is_some_and(Part::is_array_update);
            let child = node
                .children
                .entry(text.clone())
                .or_insert_with(|| ConflictNode {
                    array_node: should_be_array,
                    ..ConflictNode::default()
                });
            if child.leaf || child.array_node != should_be_array {
                return Err(conflict(texts.get(..=i).unwrap_or_default().join(".")));
            }
            node = child;
        }
        if node.children.contains_key(last) {
            return Err(conflict(field.to_string()));
        }
        node.children.insert(
            last.clone(),
            ConflictNode {
                leaf: true,
                ..ConflictNode::default()
            },
        );
        Ok(())
    }
}

/// Refuses `$`-prefixed top-level field names in a document to be stored (MongoDB 5.0+
/// allows them below the top level).
fn check_top_level_field_names(doc: &Document) -> Result<()> {
    if let Some(name) = doc.keys().find(|k| k.starts_with('$')) {
        return Err(Error::coded(
            DOLLAR_PREFIXED_FIELD_NAME,
            format!(
                "The dollar ($) prefixed field '{name}' in '{name}' is not allowed in the context \
                 of an update's replacement document. Consider using an aggregation pipeline with \
                 $replaceWith."
            ),
        ));
    }
    Ok(())
}

/// MongoDB's limit on nesting in stored documents (`BSONDepth::getMaxDepthForUserStorage`:
/// the default `maxBSONDepth` of 200 less 20 levels kept for the server's own wrapping).
const MAX_STORAGE_DEPTH: usize = 180;

/// The checks MongoDB's storage validation makes on an updated document: `_id` may not be
/// an array, regex or undefined, nor a document with `$`-prefixed fields, and nesting is
/// limited.
fn check_stored_document(doc: &Document) -> Result<()> {
    match doc.get("_id") {
        Some(id @ (Bson::Array(_) | Bson::RegularExpression(_) | Bson::Undefined)) => {
            return Err(Error::coded(
                INVALID_ID_FIELD,
                format!("The '_id' value cannot be of type {}", ops::type_name(id)),
            ))
        }
        Some(Bson::Document(id)) => {
            if let Some(name) = id.keys().find(|k| k.starts_with('$')) {
                return Err(Error::coded(
                    DOLLAR_PREFIXED_FIELD_NAME,
                    format!(
                        "_id fields may not contain '$'-prefixed fields: The dollar ($) prefixed \
                         field '{name}' in '_id.{name}' is not valid for storage."
                    ),
                ));
            }
        }
        _ => {}
    }
    if doc.values().any(|v| depth_exceeds(v, 1)) {
        return Err(Error::coded(
            OVERFLOW,
            format!("Document exceeds maximum nesting depth of {MAX_STORAGE_DEPTH}"),
        ));
    }
    Ok(())
}

/// Whether a value at nesting `level` (top-level fields are level 1) has elements deeper than
/// the storage limit.
fn depth_exceeds(value: &Bson, level: usize) -> bool {
    if level > MAX_STORAGE_DEPTH {
        return true;
    }
    match value {
        Bson::Document(d) => d.values().any(|v| depth_exceeds(v, level + 1)),
        Bson::Array(a) => a.iter().any(|v| depth_exceeds(v, level + 1)),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Applying

/// A replacement (or a pipeline's result) keeps the original `_id`: it may repeat it, omit it
/// (it is restored, first), but not change it.
fn finish_replacement(original: &Document, replacement: Document) -> Result<Document> {
    let original_id = original.get("_id");
    let id = match (original_id, replacement.get("_id")) {
        (Some(old), Some(new)) if !equal(old, new) => {
            return Err(Error::ImmutableField(format!(
                "After applying the update, the (immutable) field '_id' was found to have been \
                 altered to _id: {new}"
            )))
        }
        (Some(old), _) => Some(old.clone()),
        (None, new) => new.cloned(),
    };
    let mut out = Document::new();
    if let Some(id) = id {
        out.insert("_id", id);
    }
    for (k, v) in replacement {
        if k != "_id" {
            out.insert(k, v);
        }
    }
    check_stored_document(&out)?;
    Ok(out)
}

/// One sort component of a concrete path, in MongoDB's tree order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortPart {
    Field(String),
    /// An element chosen by `$[]`/`$[<id>]`: by index, then by identifier.
    Element(usize, String),
}

/// One operation at one concrete path.
struct Planned<'a> {
    path: Vec<String>,
    order: Vec<SortPart>,
    operation: &'a Operation,
}

fn apply_operators(
    doc: &Document,
    operations: &[Operation],
    array_filters: &BTreeMap<String, Filter>,
    ctx: &UpdateContext,
    collation: Option<&crate::value::Collation>,
) -> Result<Document> {
    let mut planned = Vec::new();
    for operation in operations {
        if matches!(operation.modifier, Modifier::SetOnInsert(_)) && !ctx.is_insert {
            continue;
        }
        let mut expansions = Vec::new();
        expand(
            &operation.parts,
            Some(Cursor::Root(doc)),
            &mut Vec::new(),
            &mut Vec::new(),
            &mut expansions,
            ctx,
            array_filters,
        )?;
        for (path, order) in expansions {
            planned.push(Planned {
                path,
                order,
                operation,
            });
        }
    }
    planned.sort_by(|a, b| a.order.cmp(&b.order));

    // Placeholders can make two operations land on one path, or one inside the other. In
    // component-wise order a path is followed by the paths it is a prefix of.
    let mut concrete: Vec<&Vec<String>> = planned.iter().map(|p| &p.path).collect();
    concrete.sort();
    for pair in concrete.windows(2) {
        if let [a, b] = pair {
            if b.starts_with(a) {
                return Err(Error::ConflictingUpdateOperators(format!(
                    "Update created a conflict at '{}'",
                    a.join(".")
                )));
            }
        }
    }

    let now = bson::DateTime::now();
    let original_id = doc.get("_id");
    let mut out = doc.clone();
    for step in &planned {
        apply_one(&mut out, step, now, collation)?;
        let touches_id = step.path.first().is_some_and(|p| p == "_id")
            || matches!(&step.operation.modifier, Modifier::Rename { from } if from.first().is_some_and(|p| p == "_id"));
        if touches_id {
            if let Some(old) = original_id {
                if !out.get("_id").is_some_and(|new| equal(old, new)) {
                    return Err(Error::ImmutableField(format!(
                        "Performing an update on the path '{}' would modify the immutable \
                         field '_id'",
                        step.path.join(".")
                    )));
                }
            }
        }
    }

    check_top_level_field_names(&out)?;
    // `_id` stays (or, for an upsert that set it, becomes) the first field.
    if let Some(id) = out.remove("_id") {
        let mut reordered = Document::new();
        reordered.insert("_id", id);
        reordered.extend(out);
        out = reordered;
    }
    check_stored_document(&out)?;
    Ok(out)
}

/// Expands placeholders against the original document into concrete paths with their sort
/// keys.
fn expand(
    parts: &[Part],
    cursor: Option<Cursor>,
    prefix: &mut Vec<String>,
    order: &mut Vec<SortPart>,
    out: &mut Vec<(Vec<String>, Vec<SortPart>)>,
    ctx: &UpdateContext,
    array_filters: &BTreeMap<String, Filter>,
) -> Result<()> {
    let Some((part, rest)) = parts.split_first() else {
        out.push((prefix.clone(), order.clone()));
        return Ok(());
    };
    let field = match part {
        Part::Field(f) => Some(f.clone()),
        Part::Positional => Some(
            ctx.array_index
                .ok_or_else(|| {
                    Error::BadValue(
                        "The positional operator did not find the match needed from the query."
                            .into(),
                    )
                })?
                .to_string(),
        ),
        Part::AllElements | Part::Filtered(_) => None,
    };
    if let Some(field) = field {
        let next = cursor.and_then(|c| c.child(&field));
        prefix.push(field.clone());
        order.push(SortPart::Field(field));
        expand(rest, next, prefix, order, out, ctx, array_filters)?;
        prefix.pop();
        order.pop();
        return Ok(());
    }

    let items = match cursor {
        Some(Cursor::Value(Bson::Array(items))) => items,
        Some(Cursor::Value(other)) => {
            return Err(Error::BadValue(format!(
                "Cannot apply array updates to non-array element {}: {other}",
                prefix.last().map(String::as_str).unwrap_or("")
            )))
        }
        _ => {
            return Err(Error::BadValue(format!(
                "The path '{}' must exist in the document in order to apply array updates.",
                prefix.join(".")
            )))
        }
    };
    let identifier = match part {
        Part::Filtered(id) => id.clone(),
        _ => String::new(),
    };
    for (index, element) in items.iter().enumerate() {
        // An array filter names the element by its identifier (`{"x.grade": {$gte: 85}}`),
        // so the element is matched as the document `{x: element}`, as MongoDB does.
        let selected = match part {
            Part::Filtered(id) => {
                let mut wrapped = Document::new();
                wrapped.insert(id.clone(), element.clone());
                array_filters.get(id).is_some_and(|f| f.matches(&wrapped))
            }
            _ => true,
        };
        if !selected {
            continue;
        }
        prefix.push(index.to_string());
        order.push(SortPart::Element(index, identifier.clone()));
        expand(
            rest,
            Some(Cursor::Value(element)),
            prefix,
            order,
            out,
            ctx,
            array_filters,
        )?;
        prefix.pop();
        order.pop();
    }
    Ok(())
}

/// What one operation does to the document.
enum Action {
    Replace(Bson),
    Create(Bson),
    Nothing,
}

fn apply_one(
    doc: &mut Document,
    step: &Planned,
    now: bson::DateTime,
    collation: Option<&crate::value::Collation>,
) -> Result<()> {
    let path = &step.path;
    let modifier = &step.operation.modifier;
    match modifier {
        Modifier::Unset => {
            path::remove(doc, path);
            return Ok(());
        }
        Modifier::Rename { from } => return apply_rename(doc, from, path),
        _ => {}
    }
    let dotted = path.join(".");
    let action = match path::lookup(doc, path) {
        Lookup::Found(existing) => {
            match modifier.modify_existing(existing, &dotted, doc.get("_id"), now, collation)? {
                Some(v) => Action::Replace(v),
                None => Action::Nothing,
            }
        }
        Lookup::Missing { depth, parent } => {
            if modifier.creates_missing_path() {
                Action::Create(modifier.value_for_missing(now, collation)?)
            } else {
                path::check_viability(parent, path, depth)?;
                Action::Nothing
            }
        }
    };
    match action {
        Action::Replace(v) => match path::get_mut(doc, path) {
            Some(slot) => *slot = v,
            None => path::create(doc, path, v)?,
        },
        Action::Create(v) => path::create(doc, path, v)?,
        Action::Nothing => {}
    }
    Ok(())
}

/// `$rename`: a `$set` of the source's value at the destination, then an `$unset` of the
/// source. Neither path may go through an array.
fn apply_rename(doc: &mut Document, from: &[String], to: &[String]) -> Result<()> {
    let id_text = || match doc.get("_id") {
        Some(v) => format!("_id: {v}"),
        None => "no id".to_string(),
    };
    let value = match path::lookup(doc, from) {
        Lookup::Found(v) => v.clone(),
        Lookup::Missing { depth, parent } => {
            // A missing source is a no-op, unless the walk was stopped by a scalar or by an
            // array asked for a field name (PathNotViable, as MongoDB's findLongestPrefix).
            path::check_viability(parent, from, depth)?;
            return Ok(());
        }
    };
    if let Some(array_field) = first_array_on_path(doc, from) {
        return Err(Error::BadValue(format!(
            "The source field cannot be an array element, '{}' in doc with {} has an array \
             field called '{array_field}'",
            from.join("."),
            id_text()
        )));
    }
    if let Some(array_field) = first_array_on_path(doc, to) {
        return Err(Error::BadValue(format!(
            "The destination field cannot be an array element, '{}' in doc with {} has an \
             array field called '{array_field}'",
            to.join("."),
            id_text()
        )));
    }
    match path::get_mut(doc, to) {
        Some(slot) => *slot = value,
        None => path::create(doc, to, value)?,
    }
    path::remove(doc, from);
    Ok(())
}

/// The name of the first array met while walking the proper prefixes of `path`.
fn first_array_on_path(doc: &Document, path: &[String]) -> Option<String> {
    let mut cursor = Cursor::Root(doc);
    for part in path.iter().take(path.len().saturating_sub(1)) {
        cursor = cursor.child(part)?;
        if let Cursor::Value(Bson::Array(_)) = cursor {
            return Some(part.clone());
        }
    }
    None
}
