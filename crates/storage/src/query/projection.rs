//! `find` projections (`{a: 1, "b.c": 0, d: {$slice: 2}}`), as MongoDB 4.4+ parses them.
//!
//! A projection is either an *inclusion* (only the named fields, plus `_id` unless `_id: 0`) or
//! an *exclusion* (everything but the named fields; `_id: 1` is allowed). Numbers and booleans
//! include (truthy) or exclude (falsy). `$slice`, `$elemMatch`, the positional `a.$`, `$literal`
//! and aggregation expressions are also accepted; `$slice` alone makes an exclusion, `$elemMatch`
//! alone an inclusion, and expressions an inclusion. Dotted paths and nested documents
//! (`{a: {b: 1}}` = `{"a.b": 1}`) project into sub-documents and through arrays of documents.
//!
//! The positional `a.b.$` includes `a.b`, then replaces the first array along `a.b` in the
//! result by its element at the query's matching position (`apply`'s `array_index`). `{$meta:
//! ...}` is not supported.

use bson::{Bson, Document};

use crate::agg::expr::{Expr, Vars};
use crate::error::{Error, Result};
use crate::query::filter::Filter;

#[derive(Debug, Clone)]
pub struct Projection {
    source: Document,
    tree: Tree,
    inclusion: bool,
    /// The path before `.$` of a positional projection.
    positional_path: Option<Vec<String>>,
}

/// Projection nodes per field name, in specification order.
#[derive(Debug, Clone, Default)]
struct Tree {
    fields: Vec<(String, Node)>,
}

#[derive(Debug, Clone)]
enum Node {
    /// `1`/`true` (include) or `0`/`false` (exclude).
    Keep(bool),
    Nested(Tree),
    /// `$slice: n` (`skip` None) or `$slice: [skip, limit]`.
    Slice {
        skip: Option<i64>,
        limit: i64,
    },
    /// `$elemMatch`: the filter `{field: {$elemMatch: ...}}`, tested on `{field: [element]}`.
    ElemMatch(Box<Filter>),
    /// `field.$`: the query's matching element.
    Positional,
    Literal(Bson),
    Expression(Box<Expr>),
}

impl Tree {
    fn get(&self, name: &str) -> Option<&Node> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, n)| n)
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Node> {
        self.fields
            .iter_mut()
            .find(|(k, _)| k == name)
            .map(|(_, n)| n)
    }

    /// Adds `node` at the dotted `path`, refusing collisions as MongoDB does.
    fn add(&mut self, path: &str, node: Node) -> Result<()> {
        let components: Vec<&str> = path.split('.').collect();
        let mut tree = self;
        for (i, component) in components.iter().enumerate() {
            let last = i + 1 == components.len();
            if last {
                if tree.get(component).is_some() {
                    return Err(Error::coded(31250, format!("Path collision at {path}")));
                }
                tree.fields.push((component.to_string(), node));
                return Ok(());
            }
            if tree.get(component).is_none() {
                tree.fields
                    .push((component.to_string(), Node::Nested(Tree::default())));
            }
            tree = match tree.get_mut(component) {
                Some(Node::Nested(sub)) => sub,
                _ => {
                    let remaining = components.get(i + 1..).unwrap_or_default().join(".");
                    return Err(Error::coded(
                        31249,
                        format!("Path collision at {path} remaining portion {remaining}"),
                    ));
                }
            };
        }
        Ok(())
    }

    fn has_computed(&self) -> bool {
        self.fields.iter().any(|(_, n)| match n {
            Node::Literal(_) | Node::Expression(_) => true,
            Node::Nested(sub) => sub.has_computed(),
            _ => false,
        })
    }
}

/// Parsing state: what the projection's fields have decided so far.
#[derive(Default)]
struct ParseState {
    /// `Some(true)` inclusion, `Some(false)` exclusion.
    kind: Option<bool>,
    id_specified: bool,
    /// `_id: 1` (which alone makes an inclusion, but does not conflict with exclusions).
    id_included: bool,
    has_positional: bool,
    /// The path before `.$`, for the positional projection.
    positional_path: Option<String>,
    has_elem_match: bool,
    has_slice: bool,
}

impl Projection {
    pub fn parse(projection: &Document) -> Result<Projection> {
        let mut tree = Tree::default();
        let mut state = ParseState::default();
        parse_fields(projection, "", &mut tree, &mut state)?;
        let inclusion = match state.kind {
            Some(kind) => kind,
            None if state.id_included => true,
            None => !state.has_slice && state.has_elem_match,
        };
        if inclusion && !state.id_specified {
            tree.fields.insert(0, ("_id".to_string(), Node::Keep(true)));
        }
        Ok(Projection {
            source: projection.clone(),
            tree,
            inclusion,
            positional_path: state
                .positional_path
                .map(|p| p.split('.').map(str::to_string).collect()),
        })
    }

    /// Parses a projection for a query with `filter`, also checking (as MongoDB does, code
    /// 31277) that a positional projection `a.b.$` names a field the query has a predicate on
    /// (a path starting with `a`).
    pub fn parse_for_query(projection: &Document, filter: &Document) -> Result<Projection> {
        let parsed = Projection::parse(projection)?;
        if let Some(first) = parsed.positional_path.as_ref().and_then(|p| p.first()) {
            if !filter_mentions_field(filter, first) {
                let key = projection
                    .keys()
                    .find(|k| positional_prefix(k).is_some())
                    .map_or("", |k| k.as_str());
                return Err(Error::coded(
                    31277,
                    format!("Positional projection '{key}' does not match the query document."),
                ));
            }
        }
        Ok(parsed)
    }

    /// The projection as given.
    pub fn source(&self) -> &Document {
        &self.source
    }

    /// True for an inclusion projection (only named fields are returned).
    pub fn is_inclusion(&self) -> bool {
        self.inclusion
    }

    /// Projects `doc`. `array_index` is the positional match of the query (for `a.$`).
    pub fn apply(&self, doc: &Document, array_index: Option<usize>) -> Result<Document> {
        let context = ApplyContext {
            root: doc,
            vars: Vars::default(),
        };
        let mut out = if self.inclusion {
            context.include(doc, &self.tree)?
        } else {
            context.exclude(doc, &self.tree)?
        };
        if let Some(path) = &self.positional_path {
            apply_positional(&mut out, path, array_index)?;
        }
        Ok(out)
    }
}

/// Whether `filter` has a predicate on a path whose first component is `field` (through
/// `$and`, `$or` and `$nor`).
fn filter_mentions_field(filter: &Document, field: &str) -> bool {
    filter.iter().any(|(key, value)| match key.as_str() {
        "$and" | "$or" | "$nor" => match value {
            Bson::Array(items) => items
                .iter()
                .any(|i| matches!(i, Bson::Document(d) if filter_mentions_field(d, field))),
            _ => false,
        },
        _ => key.split('.').next() == Some(field),
    })
}

/// The positional projection, applied after inclusion as MongoDB does: the first array along
/// `path` in the projected document is replaced by its element at the query's matching
/// position. Without an array on the path the document is left as it is.
fn apply_positional(out: &mut Document, path: &[String], array_index: Option<usize>) -> Result<()> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    match out.get_mut(first) {
        Some(Bson::Array(items)) => {
            let index = array_index.ok_or_else(|| {
                Error::coded(
                    51246,
                    "positional operator '.$' couldn't find a matching element in the array",
                )
            })?;
            let element = items
                .get(index)
                .cloned()
                .ok_or_else(|| Error::coded(51247, "positional operator '.$' element mismatch"))?;
            *items = vec![element];
            Ok(())
        }
        Some(Bson::Document(d)) => apply_positional(d, rest, array_index),
        _ => Ok(()),
    }
}

fn is_number_or_bool(v: &Bson) -> bool {
    matches!(
        v,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) | Bson::Boolean(_)
    )
}

/// Where the first positional operator is in `path`: `a.$` or `a.$.b` (the prefix before it).
fn positional_prefix(path: &str) -> Option<&str> {
    if let Some(i) = path.find(".$.") {
        return path.get(..i);
    }
    if let Some(prefix) = path.strip_suffix(".$") {
        return Some(prefix);
    }
    (path == "$").then_some("")
}

fn parse_fields(
    spec: &Document,
    prefix: &str,
    tree: &mut Tree,
    state: &mut ParseState,
) -> Result<()> {
    for (key, value) in spec {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        crate::value::path::check_path_length(&path)?;
        if path == "_id" || path.starts_with("_id.") {
            state.id_specified = true;
        }
        let positional = positional_prefix(&path);
        match value {
            Bson::Document(sub) => {
                if positional.is_some() {
                    return Err(Error::coded(
                        31271,
                        "positional projection cannot be used with an expression",
                    ));
                }
                let first = sub.keys().next().map(String::as_str);
                match first {
                    Some("$slice") => {
                        let arg = sub.get("$slice").unwrap_or(&Bson::Null);
                        tree.add(&path, parse_slice(arg)?)?;
                        state.has_slice = true;
                    }
                    Some("$elemMatch") => {
                        let arg = sub.get("$elemMatch").unwrap_or(&Bson::Null);
                        if !matches!(arg, Bson::Document(_)) {
                            return Err(Error::coded(
                                31274,
                                format!(
                                    "elemMatch: Invalid argument, object required, but got {}",
                                    type_name(arg)
                                ),
                            ));
                        }
                        if state.has_positional {
                            return Err(Error::coded(
                                31255,
                                "Cannot specify positional operator and $elemMatch.",
                            ));
                        }
                        if path.contains('.') {
                            return Err(Error::coded(
                                31275,
                                "Cannot use $elemMatch projection on a nested field.",
                            ));
                        }
                        let mut filter = Document::new();
                        filter.insert(path.clone(), bson::doc! {"$elemMatch": arg.clone()});
                        tree.add(&path, Node::ElemMatch(Box::new(Filter::parse(&filter)?)))?;
                        state.has_elem_match = true;
                    }
                    Some("$meta") => {
                        return Err(Error::NotSupported(format!(
                            "{{$meta: ...}} projection of {path} is not supported"
                        )))
                    }
                    Some(op) if op.starts_with('$') => {
                        if state.kind == Some(false) {
                            return Err(Error::coded(
                                31252,
                                "Cannot use expression other than $meta in exclusion projection",
                            ));
                        }
                        state.kind = Some(true);
                        let node = if op == "$literal" && sub.len() == 1 {
                            Node::Literal(sub.get("$literal").cloned().unwrap_or(Bson::Null))
                        } else {
                            Node::Expression(Box::new(Expr::parse(value)?))
                        };
                        tree.add(&path, node)?;
                    }
                    // A nested projection: `{a: {b: 1}}` is `{"a.b": 1}`.
                    Some(_) => parse_fields(sub, &path, tree, state)?,
                    None => {
                        return Err(Error::coded(
                            51270,
                            format!(
                                "An empty sub-projection is not a valid value. Found empty object at path {path}"
                            ),
                        ))
                    }
                }
            }
            v if is_number_or_bool(v) => {
                let include = crate::query::filter::is_truthy(v);
                if include {
                    if let Some(prefix_path) = positional {
                        if state.has_positional {
                            return Err(Error::coded(
                                31276,
                                "Cannot specify more than one positional projection per query.",
                            ));
                        }
                        if state.has_elem_match {
                            return Err(Error::coded(
                                31256,
                                "Cannot specify positional operator and $elemMatch.",
                            ));
                        }
                        if path.ends_with(".$.") {
                            return Err(Error::coded(31270, "Path cannot end with '.$.'"));
                        }
                        let after = path.get(prefix_path.len() + 2..).unwrap_or_default();
                        if positional_prefix(after).is_some() || after.contains(".$") {
                            return Err(Error::coded(
                                31287,
                                format!("Cannot use positional operator twice: {path}"),
                            ));
                        }
                        if prefix_path.is_empty() {
                            return Err(Error::coded(
                                31277,
                                format!(
                                    "Positional projection '{path}' does not match the query document."
                                ),
                            ));
                        }
                        tree.add(prefix_path, Node::Positional)?;
                        state.has_positional = true;
                        state.positional_path = Some(prefix_path.to_string());
                    } else {
                        tree.add(&path, Node::Keep(true))?;
                        if path == "_id" {
                            state.id_included = true;
                            continue;
                        }
                    }
                    if state.kind == Some(false) {
                        return Err(Error::coded(
                            31253,
                            format!("Cannot do inclusion on field {path} in exclusion projection"),
                        ));
                    }
                    state.kind = Some(true);
                } else {
                    if path.split('.').any(|c| c.starts_with('$')) {
                        return Err(Error::coded(
                            16410,
                            "FieldPath field names may not start with '$'. Consider using $getField or $setField.",
                        ));
                    }
                    tree.add(&path, Node::Keep(false))?;
                    if path != "_id" {
                        if state.kind == Some(true) {
                            return Err(Error::coded(
                                31254,
                                format!(
                                    "Cannot do exclusion on field {path} in inclusion projection"
                                ),
                            ));
                        }
                        state.kind = Some(false);
                    }
                }
            }
            // Any other value is an expression: a `$path`, an array of expressions, or a
            // literal (a string not starting with `$`, null).
            _ => {
                if state.kind == Some(false) {
                    return Err(Error::coded(
                        31252,
                        "Cannot use expression other than $meta in exclusion projection",
                    ));
                }
                state.kind = Some(true);
                let node = match value {
                    Bson::String(s) if !s.starts_with('$') => Node::Literal(value.clone()),
                    Bson::Null | Bson::Undefined => Node::Literal(Bson::Null),
                    _ => Node::Expression(Box::new(Expr::parse(value)?)),
                };
                tree.add(&path, node)?;
            }
        }
    }
    Ok(())
}

fn type_name(v: &Bson) -> &'static str {
    match v {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Array(_) => "array",
        Bson::Boolean(_) => "bool",
        Bson::Null => "null",
        Bson::Int32(_) => "int",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        _ => "other",
    }
}

/// MongoDB reads `$slice` numbers with `numberInt()`: truncated, saturated to int32.
fn number_int(v: &Bson) -> Option<i64> {
    let n = crate::value::Number::of(v)?;
    Some(match n {
        crate::value::Number::Int(i) => i.clamp(i64::from(i32::MIN), i64::from(i32::MAX)),
        other => {
            let d = other.to_f64();
            if d.is_nan() {
                0
            } else {
                // Saturating conversion, then clamped to int32's range.
                (d.trunc() as i64).clamp(i64::from(i32::MIN), i64::from(i32::MAX))
            }
        }
    })
}

fn parse_slice(arg: &Bson) -> Result<Node> {
    match arg {
        Bson::Array(items) => {
            let (Some(skip), Some(limit), 2) = (items.first(), items.get(1), items.len()) else {
                return Err(Error::coded(
                    31272,
                    "$slice array argument should be of form [skip, limit]",
                ));
            };
            let skip = number_int(skip).ok_or_else(|| {
                Error::coded(
                    31257,
                    format!(
                        "$slice expects the skip argument to be a number, got {}",
                        type_name(skip)
                    ),
                )
            })?;
            let limit_value = number_int(limit).ok_or_else(|| {
                Error::coded(
                    31258,
                    format!(
                        "$slice expects the limit argument to be a number, got {}",
                        type_name(limit)
                    ),
                )
            })?;
            if limit_value <= 0 {
                return Err(Error::coded(
                    31259,
                    format!("$slice limit must be positive, got {limit_value}"),
                ));
            }
            Ok(Node::Slice {
                skip: Some(skip),
                limit: limit_value,
            })
        }
        _ => match number_int(arg) {
            Some(limit) => Ok(Node::Slice { skip: None, limit }),
            None => Err(Error::coded(
                31273,
                "$slice only supports numbers and [skip, limit] arrays",
            )),
        },
    }
}

/// `$slice` on one value (non-arrays are returned as they are).
fn slice(value: &Bson, skip: Option<i64>, limit: i64) -> Bson {
    let Bson::Array(items) = value else {
        return value.clone();
    };
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let (start, count) = match skip {
        None if limit >= 0 => (0, limit),
        None => ((len + limit).max(0), len),
        Some(skip) => {
            let start = if skip < 0 {
                (len + skip).max(0)
            } else {
                skip.min(len)
            };
            (start, limit)
        }
    };
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    Bson::Array(items.iter().skip(start).take(count).cloned().collect())
}

struct ApplyContext<'a> {
    root: &'a Document,
    vars: Vars,
}

impl ApplyContext<'_> {
    fn include(&self, doc: &Document, tree: &Tree) -> Result<Document> {
        let mut out = Document::new();
        for (key, value) in doc {
            let Some(node) = tree.get(key) else {
                continue;
            };
            match node {
                Node::Keep(true) => {
                    out.insert(key.clone(), value.clone());
                }
                Node::Nested(sub) => {
                    if let Some(projected) = self.include_value(value, sub)? {
                        out.insert(key.clone(), projected);
                    }
                }
                Node::Slice { skip, limit } => {
                    out.insert(key.clone(), slice(value, *skip, *limit));
                }
                Node::Positional => {
                    out.insert(key.clone(), value.clone());
                }
                Node::Keep(false) | Node::ElemMatch(_) | Node::Literal(_) | Node::Expression(_) => {
                }
            }
        }
        self.add_computed(doc, tree, &mut out)?;
        Ok(out)
    }

    /// Inclusion below a field: documents are projected, arrays element by element (keeping
    /// only documents and arrays), other values dropped.
    fn include_value(&self, value: &Bson, tree: &Tree) -> Result<Option<Bson>> {
        Ok(match value {
            Bson::Document(d) => Some(Bson::Document(self.include(d, tree)?)),
            Bson::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    if let Some(projected) = self.include_value(item, tree)? {
                        out.push(projected);
                    }
                }
                Some(Bson::Array(out))
            }
            _ if tree.has_computed() => Some(Bson::Document(self.include(&Document::new(), tree)?)),
            _ => None,
        })
    }

    /// Computed fields (`$literal`, expressions) and `$elemMatch` results, after the fields
    /// taken from the document, in specification order.
    fn add_computed(&self, doc: &Document, tree: &Tree, out: &mut Document) -> Result<()> {
        for (key, node) in &tree.fields {
            match node {
                Node::Literal(v) => {
                    out.insert(key.clone(), v.clone());
                }
                Node::Expression(expr) => {
                    if let Some(v) = expr.eval(self.root, &self.vars)? {
                        out.insert(key.clone(), v);
                    }
                }
                Node::ElemMatch(filter) => {
                    if let Some(v) = elem_match(doc.get(key), key, filter) {
                        out.insert(key.clone(), v);
                    }
                }
                Node::Nested(sub) if !doc.contains_key(key) && sub.has_computed() => {
                    out.insert(
                        key.clone(),
                        Bson::Document(self.include(&Document::new(), sub)?),
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn exclude(&self, doc: &Document, tree: &Tree) -> Result<Document> {
        let mut out = Document::new();
        for (key, value) in doc {
            match tree.get(key) {
                None | Some(Node::Keep(true)) => {
                    out.insert(key.clone(), value.clone());
                }
                Some(Node::Keep(false)) => {}
                Some(Node::Nested(sub)) => {
                    out.insert(key.clone(), self.exclude_value(value, sub)?);
                }
                Some(Node::Slice { skip, limit }) => {
                    out.insert(key.clone(), slice(value, *skip, *limit));
                }
                Some(Node::ElemMatch(filter)) => {
                    if let Some(v) = elem_match(Some(value), key, filter) {
                        out.insert(key.clone(), v);
                    }
                }
                Some(Node::Positional) => {
                    out.insert(key.clone(), value.clone());
                }
                Some(Node::Literal(_) | Node::Expression(_)) => {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
        Ok(out)
    }

    /// Exclusion below a field: documents are projected, arrays element by element, other
    /// values kept.
    fn exclude_value(&self, value: &Bson, tree: &Tree) -> Result<Bson> {
        Ok(match value {
            Bson::Document(d) => Bson::Document(self.exclude(d, tree)?),
            Bson::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.push(self.exclude_value(item, tree)?);
                }
                Bson::Array(out)
            }
            other => other.clone(),
        })
    }
}

/// `$elemMatch` projection: the first element of the array at `key` that matches, as a
/// one-element array; `None` when no element matches (the field is then left out).
fn elem_match(value: Option<&Bson>, key: &str, filter: &Filter) -> Option<Bson> {
    let Some(Bson::Array(items)) = value else {
        return None;
    };
    items
        .iter()
        .find(|item| {
            let mut probe = Document::new();
            probe.insert(key, Bson::Array(vec![(*item).clone()]));
            filter.matches(&probe)
        })
        .map(|item| Bson::Array(vec![item.clone()]))
}

#[cfg(test)]
mod tests;
