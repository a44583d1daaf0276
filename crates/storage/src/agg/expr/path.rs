//! Field paths and variables: `"$a.b"`, `"$$name.b"` parsed (with MongoDB's checks of field
//! and variable names) and evaluated, walking arrays along the path as MongoDB does.

use bson::{Bson, Document};

use super::parse::validate_field_name;
use super::{Ctx, FieldPath, ParseScope, Variable};
use crate::error::{Error, Result};

/// Checks a variable name being bound (`$let`, `as`, a command's `let`): MongoDB's
/// `uassertValidNameForUserWrite`. `CURRENT` is the one system variable that may be rebound.
pub(super) fn validate_user_variable_name(name: &str) -> Result<()> {
    if name == "CURRENT" {
        return Ok(());
    }
    if name.is_empty() {
        return Err(Error::coded(16866, "empty variable names are not allowed"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || !c.is_ascii()) {
        return Err(Error::coded(
            16867,
            format!("'{name}' starts with an invalid character for a user variable name"),
        ));
    }
    check_variable_characters(name, 16868)
}

/// Checks a variable name being read (`$$name`): MongoDB's `uassertValidNameForUserRead`.
fn validate_variable_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::coded(16869, "empty variable names are not allowed"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || !c.is_ascii()) {
        return Err(Error::coded(
            16870,
            format!("'{name}' starts with an invalid character for a variable name"),
        ));
    }
    check_variable_characters(name, 16871)
}

/// Letters, digits, `_` and non-ASCII characters after the first.
fn check_variable_characters(name: &str, code: i32) -> Result<()> {
    for c in name.chars().skip(1) {
        if !(c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()) {
            return Err(Error::coded(
                code,
                format!("'{name}' contains an invalid character for a variable name: '{c}'"),
            ));
        }
    }
    Ok(())
}

pub(super) fn parse_field_path(s: &str, scope: &ParseScope) -> Result<FieldPath> {
    crate::value::path::check_path_length(s)?;
    if let Some(rest) = s.strip_prefix("$$") {
        let mut parts = rest.split('.');
        let name = parts.next().unwrap_or("");
        validate_variable_name(name)?;
        let fields = parts
            .map(|p| validate_field_name(p).map(|_| p.to_string()))
            .collect::<Result<Vec<_>>>()?;
        let variable = if scope.locals.iter().any(|l| l == name) {
            Variable::Local(name.to_string())
        } else {
            match name {
                "CURRENT" => Variable::Current,
                "ROOT" => Variable::Root,
                "NOW" => Variable::Now,
                "REMOVE" => Variable::Remove,
                "KEEP" => Variable::Redact("keep"),
                "PRUNE" => Variable::Redact("prune"),
                "DESCEND" => Variable::Redact("descend"),
                "CLUSTER_TIME" | "SEARCH_META" | "USER_ROLES" | "SEARCH_SCORE" => {
                    return Err(Error::NotSupported(format!(
                        "the system variable $${name} is not supported"
                    )))
                }
                _ => {
                    let known = match &scope.user {
                        Some(user) => user.iter().any(|u| u == name),
                        None => name.starts_with(|c: char| c.is_ascii_lowercase() || !c.is_ascii()),
                    };
                    if !known {
                        return Err(Error::coded(
                            17276,
                            format!("Use of undefined variable: {name}"),
                        ));
                    }
                    Variable::User(name.to_string())
                }
            }
        };
        return Ok(FieldPath { variable, fields });
    }
    let rest = s.strip_prefix('$').unwrap_or(s);
    if rest.is_empty() {
        return Err(Error::coded(
            16872,
            "'$' by itself is not a valid FieldPath",
        ));
    }
    let fields = rest
        .split('.')
        .map(|p| validate_field_name(p).map(|_| p.to_string()))
        .collect::<Result<Vec<_>>>()?;
    Ok(FieldPath {
        variable: Variable::Current,
        fields,
    })
}

impl FieldPath {
    pub(super) fn eval(&self, ctx: &Ctx<'_>) -> Result<Option<Bson>> {
        match &self.variable {
            Variable::Current => match ctx.local("CURRENT") {
                Some(frame) => Ok(walk_value(frame.value.as_ref(), &self.fields)),
                None => Ok(walk_document(ctx.root, &self.fields)),
            },
            Variable::Root => Ok(walk_document(ctx.root, &self.fields)),
            Variable::Now => Ok(walk_value(
                Some(&Bson::DateTime(ctx.vars.now)),
                &self.fields,
            )),
            Variable::Remove => Ok(None),
            Variable::Redact(word) => Ok(walk_value(
                Some(&Bson::String((*word).to_string())),
                &self.fields,
            )),
            Variable::Local(name) => match ctx.local(name) {
                Some(frame) => Ok(walk_value(frame.value.as_ref(), &self.fields)),
                None => Err(Error::coded(
                    17276,
                    format!("Use of undefined variable: {name}"),
                )),
            },
            Variable::User(name) => match ctx.local(name) {
                Some(frame) => Ok(walk_value(frame.value.as_ref(), &self.fields)),
                None => match ctx.vars.user.get(name) {
                    Some(v) => Ok(walk_value(Some(v), &self.fields)),
                    None => Err(Error::coded(
                        17276,
                        format!("Use of undefined variable: {name}"),
                    )),
                },
            },
        }
    }
}

/// Walks `fields` from a value: the whole value for an empty path, into a document, or over
/// an array as [`walk_array`] does; anything else has no fields (missing).
fn walk_value(v: Option<&Bson>, fields: &[String]) -> Option<Bson> {
    if fields.is_empty() {
        return match v {
            Some(Bson::Document(d)) => Some(Bson::Document(whole_document(d))),
            other => other.cloned(),
        };
    }
    match v {
        Some(Bson::Document(d)) => walk_document(d, fields),
        Some(Bson::Array(items)) => Some(walk_array(items, fields)),
        _ => None,
    }
}

/// MongoDB's expression field path: into sub-documents; over an array, the array of the
/// path's values in its document elements (non-documents and missing values skipped).
fn walk_document(d: &Document, fields: &[String]) -> Option<Bson> {
    // `$$ROOT` / `$$CURRENT` with no path: the whole document.
    let Some((first, rest)) = fields.split_first() else {
        return Some(Bson::Document(whole_document(d)));
    };

    let v = d.get(first)?;
    if rest.is_empty() {
        return Some(v.clone());
    }
    match v {
        Bson::Document(sub) => walk_document(sub, rest),
        Bson::Array(items) => Some(walk_array(items, rest)),
        _ => None,
    }
}

/// A whole document as an expression value: without the hidden text score a `$text`-led
/// pipeline carries (it is metadata, not a field).
fn whole_document(d: &Document) -> Document {
    let mut out = d.clone();
    crate::text::strip_text_score(&mut out);
    out
}

fn walk_array(items: &[Bson], fields: &[String]) -> Bson {
    let mut out = Vec::new();
    for item in items {
        if let Bson::Document(d) = item {
            if let Some(v) = walk_document(d, fields) {
                out.push(v);
            }
        }
    }
    Bson::Array(out)
}
