//! `$match`: the parsed filter and, when its `$expr` parts use variables (`$$NOW`, `let`,
//! `$lookup`'s `let`), the binding of their values into the filter at run time.

use bson::{Bson, Document};

use crate::agg::paths::get_path;
use crate::agg::RunContext;
use crate::error::{Error, Result};
use crate::query::Filter;

/// `$match`: the filter, plus what is needed to bind variables (`$$NOW`, `let` and
/// `$lookup` variables) into its `$expr` parts.
#[derive(Debug, Clone)]
pub(crate) struct MatchStage {
    filter: Filter,
    source: Document,
    uses_variables: bool,
}

impl MatchStage {
    pub(super) fn parse(spec: &Bson) -> Result<MatchStage> {
        let Bson::Document(d) = spec else {
            return Err(Error::coded(
                15959,
                "the match filter must be an expression in an object",
            ));
        };
        if d.contains_key("$text") {
            return Err(Error::coded(
                17313,
                "$match with $text is only allowed as the first pipeline stage",
            ));
        }
        Ok(MatchStage {
            filter: Filter::parse(d)?,
            source: d.clone(),
            uses_variables: document_uses_variables(d, false),
        })
    }

    /// The filter with this run's variables bound. `Filter` evaluates `$expr` without
    /// variables of its own, so `$$name` references are replaced by `{$literal: value}`.
    pub(super) fn filter_for(&self, context: &RunContext<'_>) -> Result<Filter> {
        if !self.uses_variables && context.collation.is_none() {
            return Ok(self.filter.clone());
        }
        let bound = if self.uses_variables {
            bind_variables_in_document(&self.source, context, false)
        } else {
            self.source.clone()
        };
        Filter::parse_with_collation(&bound, &Document::new(), context.collation.clone())
    }
}

fn document_uses_variables(d: &Document, in_expr: bool) -> bool {
    d.iter()
        .any(|(k, v)| value_uses_variables(v, in_expr || k == "$expr"))
}

fn value_uses_variables(v: &Bson, in_expr: bool) -> bool {
    match v {
        Bson::String(s) => in_expr && s.starts_with("$$"),
        Bson::Document(d) => document_uses_variables(d, in_expr),
        Bson::Array(items) => items.iter().any(|i| value_uses_variables(i, in_expr)),
        _ => false,
    }
}

fn bind_variables_in_document(d: &Document, context: &RunContext<'_>, in_expr: bool) -> Document {
    let mut out = Document::new();
    for (k, v) in d {
        if in_expr && k == "$literal" {
            out.insert(k.clone(), v.clone());
            continue;
        }
        out.insert(
            k.clone(),
            bind_variables_in_value(v, context, in_expr || k == "$expr"),
        );
    }
    out
}

fn bind_variables_in_value(v: &Bson, context: &RunContext<'_>, in_expr: bool) -> Bson {
    match v {
        Bson::String(s) if in_expr && s.starts_with("$$") => {
            let reference = &s[2..];
            let (name, rest) = match reference.split_once('.') {
                Some((n, r)) => (n, Some(r)),
                None => (reference, None),
            };
            let value = if name == "NOW" {
                Some(Bson::DateTime(context.now))
            } else {
                context.variables.get(name).cloned()
            };
            match (value, rest) {
                (None, _) => v.clone(),
                (Some(value), None) => Bson::Document(bson::doc! {"$literal": value}),
                (Some(Bson::Document(d)), Some(path)) => match get_path(&d, path) {
                    Some(found) => Bson::Document(bson::doc! {"$literal": found.clone()}),
                    None => Bson::String("$$REMOVE".into()),
                },
                (Some(_), Some(_)) => Bson::String("$$REMOVE".into()),
            }
        }
        Bson::Document(d) => Bson::Document(bind_variables_in_document(d, context, in_expr)),
        Bson::Array(items) => Bson::Array(
            items
                .iter()
                .map(|i| bind_variables_in_value(i, context, in_expr))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Binds `variables` into a filter's `$expr` parts as `$match` does at run time.
#[cfg(test)]
pub(crate) fn bind_variables_for_tests(filter: &Document, variables: &Document) -> Document {
    let context = RunContext {
        env: None,
        db: String::new(),
        allow_disk_use: false,
        memory_limit_bytes: crate::agg::BLOCKING_STAGE_MEMORY_LIMIT_BYTES,
        now: bson::DateTime::now(),
        variables: variables.clone(),
        collation: None,
    };
    bind_variables_in_document(filter, &context, false)
}
