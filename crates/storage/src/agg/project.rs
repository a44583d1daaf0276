//! `$project`, `$addFields`/`$set` and `$unset`: one tree of field paths with MongoDB's three
//! behaviours (inclusion, exclusion, adding computed fields).
//!
//! As in MongoDB, an inclusion projection first copies the included fields in the input
//! document's order (descending into sub-documents and arrays of sub-documents), then adds the
//! computed fields in the specification's order. Expressions always see the whole document.

use bson::{Bson, Document};

use super::expr::{Expr, Vars};
use super::paths::validate_field_path;
use super::VariableScope;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Inclusion,
    Exclusion,
    AddFields,
}

#[derive(Debug, Clone)]
enum Entry {
    Include,
    Exclude,
    Computed(Expr),
    Child(Node),
}

#[derive(Debug, Clone, Default)]
struct Node {
    entries: Vec<(String, Entry)>,
}

/// A parsed `$project`, `$addFields`/`$set` or `$unset`.
#[derive(Debug, Clone)]
pub(crate) struct Projection {
    mode: Mode,
    root: Node,
}

const PROJECT_PREFIX: &str = "Invalid $project :: caused by :: ";

impl Projection {
    /// Parses a `$project` specification.
    pub(crate) fn parse_project(spec: &Document, scope: &VariableScope) -> Result<Projection> {
        if spec.is_empty() {
            return Err(Error::coded(
                51272,
                format!("{PROJECT_PREFIX}projection specification must have at least one field"),
            ));
        }
        let mut mode = None;
        let root = parse_project_node(spec, "", &mut mode, scope)?;
        let mut projection = Projection {
            mode: mode.unwrap_or(Mode::Exclusion),
            root,
        };
        if mode.is_none() {
            // Only `_id` was named: `{_id: 0}` excludes it, `{_id: 1}` keeps only it.
            if let Some((_, Entry::Include | Entry::Computed(_) | Entry::Child(_))) =
                projection.root.entries.iter().find(|(k, _)| k == "_id")
            {
                projection.mode = Mode::Inclusion;
            }
        }
        if projection.mode == Mode::Inclusion && projection.root.find("_id").is_none() {
            projection
                .root
                .entries
                .insert(0, ("_id".to_string(), Entry::Include));
        }
        Ok(projection)
    }

    /// Parses an `$addFields`/`$set` specification.
    pub(crate) fn parse_add_fields(spec: &Document, scope: &VariableScope) -> Result<Projection> {
        Ok(Projection {
            mode: Mode::AddFields,
            root: parse_add_fields_node(spec, scope)?,
        })
    }

    /// Parses an `$unset` specification (a field name or an array of them).
    pub(crate) fn parse_unset(spec: &Bson) -> Result<Projection> {
        let fields: Vec<&str> = match spec {
            Bson::String(s) => vec![s.as_str()],
            Bson::Array(items) => {
                if items.is_empty() {
                    return Err(Error::coded(
                        31119,
                        "$unset specification must be a string or an array with at least one \
                         field",
                    ));
                }
                let mut fields = Vec::new();
                for item in items {
                    let Bson::String(s) = item else {
                        return Err(Error::coded(
                            31120,
                            "$unset specification must be a string or an array containing only \
                             string values",
                        ));
                    };
                    fields.push(s.as_str());
                }
                fields
            }
            _ => {
                return Err(Error::coded(
                    31002,
                    "$unset specification must be a string or an array",
                ))
            }
        };
        let mut root = Node::default();
        for field in fields {
            validate_field_path(field)?;
            root.insert_path(field, field, Entry::Exclude)?;
        }
        Ok(Projection {
            mode: Mode::Exclusion,
            root,
        })
    }

    /// Applies the projection to `doc`.
    pub(crate) fn apply(&self, doc: &Document, vars: &Vars) -> Result<Document> {
        match self.mode {
            Mode::Inclusion => {
                let mut out = include_document(&self.root, doc);
                apply_expressions(&self.root, &mut out, doc, vars)?;
                carry_text_score(doc, &mut out);
                Ok(out)
            }
            Mode::Exclusion => Ok(exclude_document(&self.root, doc)),
            Mode::AddFields => {
                let mut out = doc.clone();
                apply_expressions(&self.root, &mut out, doc, vars)?;
                Ok(out)
            }
        }
    }
}

/// Keeps the hidden text score of a `$text`-led pipeline on a reshaped document: it is the
/// document's metadata, which mongod's `$project` and `$replaceRoot` keep.
pub(crate) fn carry_text_score(from: &Document, to: &mut Document) {
    if let Some(score) = from.get(crate::text::TEXT_SCORE_FIELD) {
        to.insert(crate::text::TEXT_SCORE_FIELD, score.clone());
    }
}

fn is_truthy_number_or_bool(value: &Bson) -> Option<bool> {
    match value {
        Bson::Boolean(b) => Some(*b),
        other => crate::value::Number::of(other).map(|n| n.to_f64() != 0.0 || n.is_nan()),
    }
}

fn parse_project_node(
    spec: &Document,
    prefix: &str,
    mode: &mut Option<Mode>,
    scope: &VariableScope,
) -> Result<Node> {
    let mut node = Node::default();
    for (key, value) in spec {
        validate_field_path(key)?;
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let entry = if let Some(included) = is_truthy_number_or_bool(value) {
            if full != "_id" {
                let wanted = if included {
                    Mode::Inclusion
                } else {
                    Mode::Exclusion
                };
                match (*mode, wanted) {
                    (Some(Mode::Exclusion), Mode::Inclusion) => {
                        return Err(Error::coded(
                            31253,
                            format!(
                                "{PROJECT_PREFIX}Cannot do inclusion on field {full} in exclusion \
                                 projection"
                            ),
                        ))
                    }
                    (Some(Mode::Inclusion), Mode::Exclusion) => {
                        return Err(Error::coded(
                            31254,
                            format!(
                                "{PROJECT_PREFIX}Cannot do exclusion on field {full} in inclusion \
                                 projection"
                            ),
                        ))
                    }
                    _ => *mode = Some(wanted),
                }
            }
            if included {
                Entry::Include
            } else {
                Entry::Exclude
            }
        } else {
            // As MongoDB: an object is an expression when it has exactly one field and that
            // field starts with '$'; any other object is a nested projection.
            let is_expression_object = match value {
                Bson::Document(d) => {
                    if d.is_empty() {
                        return Err(Error::coded(
                            51270,
                            format!(
                                "{PROJECT_PREFIX}An empty sub-projection is not a valid value. \
                                 Found empty object at path"
                            ),
                        ));
                    }
                    is_single_operator(d)
                }
                _ => true,
            };
            match value {
                Bson::Document(d) if !is_expression_object => {
                    Entry::Child(parse_project_node(d, &full, mode, scope)?)
                }
                _ => {
                    if *mode == Some(Mode::Exclusion) {
                        return Err(match value {
                            Bson::Document(_) => Error::coded(
                                31252,
                                format!(
                                    "{PROJECT_PREFIX}Cannot use expression other than $meta in \
                                     exclusion projection"
                                ),
                            ),
                            literal => Error::coded(
                                31310,
                                format!(
                                    "{PROJECT_PREFIX}Cannot use an expression {key}: {literal} \
                                     in an exclusion projection"
                                ),
                            ),
                        });
                    }
                    *mode = Some(Mode::Inclusion);
                    Entry::Computed(scope.parse(value)?)
                }
            }
        };
        node.insert_path(key, &full, entry)?;
    }
    Ok(node)
}

/// Whether an object is `{$operator: ...}`: exactly one field, starting with '$'.
fn is_single_operator(d: &Document) -> bool {
    d.len() == 1 && d.keys().all(|k| k.starts_with('$'))
}

fn parse_add_fields_node(spec: &Document, scope: &VariableScope) -> Result<Node> {
    let mut node = Node::default();
    for (key, value) in spec {
        validate_field_path(key)?;
        let entry = match value {
            // An empty object is the literal `{}`; one `$` field is an expression; any other
            // object is nested fields to set (as in MongoDB's projection parser).
            Bson::Document(d) if !d.is_empty() && !is_single_operator(d) => {
                Entry::Child(parse_add_fields_node(d, scope)?)
            }
            _ => Entry::Computed(scope.parse(value)?),
        };
        node.insert_path(key, key, entry)?;
    }
    Ok(node)
}

impl Node {
    fn find(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, e)| e)
    }

    /// Adds `entry` at the dotted `path`, creating intermediate nodes. Two specifications of
    /// one path (or of a path and its prefix) collide, as in MongoDB (31249/31250).
    fn insert_path(&mut self, path: &str, full: &str, entry: Entry) -> Result<()> {
        match path.split_once('.') {
            None => {
                let existing = self.entries.iter_mut().find(|(k, _)| k == path);
                match (existing, entry) {
                    (None, entry) => {
                        self.entries.push((path.to_string(), entry));
                        Ok(())
                    }
                    (Some((_, Entry::Child(existing))), Entry::Child(new)) => {
                        for (k, e) in new.entries {
                            let child_full = format!("{full}.{k}");
                            existing.insert_path(&k, &child_full, e)?;
                        }
                        Ok(())
                    }
                    (Some(_), _) => Err(Error::coded(31250, format!("Path collision at {full}"))),
                }
            }
            Some((head, rest)) => {
                if !self.entries.iter().any(|(k, _)| k == head) {
                    self.entries
                        .push((head.to_string(), Entry::Child(Node::default())));
                }
                match self.entries.iter_mut().find(|(k, _)| k == head) {
                    Some((_, Entry::Child(child))) => child.insert_path(rest, full, entry),
                    _ => Err(Error::coded(
                        31249,
                        format!("Path collision at {full} remaining portion {rest}"),
                    )),
                }
            }
        }
    }

    fn has_computed(&self) -> bool {
        self.entries.iter().any(|(_, e)| match e {
            Entry::Computed(_) => true,
            Entry::Child(c) => c.has_computed(),
            _ => false,
        })
    }
}

fn include_document(node: &Node, input: &Document) -> Document {
    let mut out = Document::new();
    for (key, value) in input {
        match node.find(key) {
            Some(Entry::Include) => {
                out.insert(key.clone(), value.clone());
            }
            // As MongoDB, a sub-tree with only computed fields is still projected here, so that
            // its field keeps its place and arrays keep their shape for the computed fields.
            Some(Entry::Child(child)) => {
                if let Some(projected) = include_value(child, value) {
                    out.insert(key.clone(), projected);
                }
            }
            _ => {}
        }
    }
    out
}

/// Projects a value below an included path: documents are projected, arrays element by
/// element, and other values dropped.
fn include_value(node: &Node, value: &Bson) -> Option<Bson> {
    match value {
        Bson::Document(d) => Some(Bson::Document(include_document(node, d))),
        Bson::Array(items) => Some(Bson::Array(
            items
                .iter()
                .filter_map(|v| include_value(node, v))
                .collect(),
        )),
        _ => None,
    }
}

fn exclude_document(node: &Node, input: &Document) -> Document {
    let mut out = Document::new();
    for (key, value) in input {
        match node.find(key) {
            Some(Entry::Exclude) => {}
            Some(Entry::Child(child)) => {
                out.insert(key.clone(), exclude_value(child, value));
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

fn exclude_value(node: &Node, value: &Bson) -> Bson {
    match value {
        Bson::Document(d) => Bson::Document(exclude_document(node, d)),
        Bson::Array(items) => Bson::Array(items.iter().map(|v| exclude_value(node, v)).collect()),
        other => other.clone(),
    }
}

/// Adds the computed fields of `node` to `out` (a missing result removes the field, which is
/// how `$$REMOVE` works).
fn apply_expressions(node: &Node, out: &mut Document, root: &Document, vars: &Vars) -> Result<()> {
    for (key, entry) in &node.entries {
        match entry {
            Entry::Computed(expr) => match expr.eval(root, vars)? {
                Some(value) => {
                    out.insert(key.clone(), value);
                }
                None => {
                    out.remove(key);
                }
            },
            Entry::Child(child) if child.has_computed() => {
                let existing = out.get(key).cloned();
                let value = expressions_on_value(child, existing, root, vars)?;
                out.insert(key.clone(), value);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Computed fields below a path: added to a document, to each element of an array, and a
/// scalar or missing value is replaced by a document of the computed fields.
fn expressions_on_value(
    node: &Node,
    value: Option<Bson>,
    root: &Document,
    vars: &Vars,
) -> Result<Bson> {
    match value {
        Some(Bson::Document(mut d)) => {
            apply_expressions(node, &mut d, root, vars)?;
            Ok(Bson::Document(d))
        }
        Some(Bson::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(expressions_on_value(node, Some(item), root, vars)?);
            }
            Ok(Bson::Array(out))
        }
        _ => {
            let mut d = Document::new();
            apply_expressions(node, &mut d, root, vars)?;
            Ok(Bson::Document(d))
        }
    }
}
