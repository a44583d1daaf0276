//! The writing stages: `$out` (replace a collection with the results) and `$merge` (merge the
//! results into a collection). Both must be last and return no documents.

use std::collections::BTreeMap;

use bson::{oid::ObjectId, Bson, Document};

use super::expr::Expr;
use super::paths::{get_path, type_name, validate_field_path, OrderedBson};
use super::stage::stage_documents;
use super::{DocStream, Pipeline, RunContext, VariableScope};
use crate::error::{Error, Result};

/// A parsed `$out`.
#[derive(Debug, Clone)]
pub(crate) struct OutSpec {
    db: Option<String>,
    coll: String,
}

impl OutSpec {
    pub(crate) fn parse(spec: &Bson) -> Result<OutSpec> {
        let out = OutSpec::parse_target(spec)?;
        check_target("$out", &out.coll)?;
        Ok(out)
    }

    fn parse_target(spec: &Bson) -> Result<OutSpec> {
        match spec {
            Bson::String(coll) => Ok(OutSpec {
                db: None,
                coll: coll.clone(),
            }),
            Bson::Document(d) => {
                let mut db = None;
                let mut coll = None;
                for (k, v) in d {
                    match (k.as_str(), v) {
                        ("db", Bson::String(s)) => db = Some(s.clone()),
                        ("coll", Bson::String(s)) => coll = Some(s.clone()),
                        ("timeseries", _) => {
                            return Err(Error::NotSupported(
                                "$out to a time series collection is not supported".into(),
                            ))
                        }
                        ("db" | "coll", other) => {
                            return Err(Error::TypeMismatch(format!(
                                "BSON field '$out.{k}' is the wrong type '{}', expected type \
                                 'string'",
                                type_name(other)
                            )))
                        }
                        (other, _) => {
                            return Err(Error::coded(
                                40415,
                                format!("BSON field '$out.{other}' is an unknown field."),
                            ))
                        }
                    }
                }
                let (Some(db), Some(coll)) = (db, coll) else {
                    return Err(Error::coded(
                        40414,
                        "BSON field '$out.coll' is missing but a required field",
                    ));
                };
                Ok(OutSpec { db: Some(db), coll })
            }
            other => Err(Error::coded(
                16990,
                format!(
                    "$out only supports a string or object argument, but found {}",
                    type_name(other)
                ),
            )),
        }
    }

    /// Collects the results (adding `_id` where missing) and replaces the target collection.
    pub(crate) fn run(&self, input: DocStream<'_>, context: &RunContext<'_>) -> Result<()> {
        let mut docs = Vec::new();
        for r in input {
            docs.push(with_id(r?));
        }
        let db = self.db.as_deref().unwrap_or(&context.db);
        context.env()?.replace_collection(db, &self.coll, docs)
    }
}

/// MongoDB's "special" collections (`system.*`, or a name with `$`) cannot be written by
/// `$out` (17385) or `$merge` (31319); an empty name is an invalid namespace.
fn check_target(stage: &str, coll: &str) -> Result<()> {
    if coll.is_empty() {
        return Err(Error::InvalidNamespace(format!(
            "Invalid {stage} target namespace: collection name cannot be empty"
        )));
    }
    if coll.starts_with("system.") || coll.contains('$') {
        return Err(if stage == "$out" {
            Error::coded(17385, format!("Can't $out to special collection: {coll}"))
        } else {
            Error::coded(
                31319,
                format!("Cannot $merge to special collection: {coll}"),
            )
        });
    }
    Ok(())
}

/// A document with `_id` first, generating an ObjectId when it has none (as writes do).
fn with_id(doc: Document) -> Document {
    if doc.contains_key("_id") {
        return doc;
    }
    let mut out = Document::new();
    out.insert("_id", ObjectId::new());
    out.extend(doc);
    out
}

#[derive(Debug, Clone)]
enum WhenMatched {
    Replace,
    KeepExisting,
    Merge,
    Fail,
    Pipeline(Pipeline),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenNotMatched {
    Insert,
    Discard,
    Fail,
}

/// A parsed `$merge`.
#[derive(Debug, Clone)]
pub(crate) struct MergeSpec {
    db: Option<String>,
    coll: String,
    on: Vec<String>,
    let_variables: Vec<(String, Expr)>,
    when_matched: WhenMatched,
    when_not_matched: WhenNotMatched,
}

impl MergeSpec {
    pub(crate) fn parse(spec: &Bson, scope: &VariableScope) -> Result<MergeSpec> {
        let mut merge = MergeSpec {
            db: None,
            coll: String::new(),
            on: vec!["_id".to_string()],
            let_variables: Vec::new(),
            when_matched: WhenMatched::Merge,
            when_not_matched: WhenNotMatched::Insert,
        };
        let d = match spec {
            Bson::String(coll) => {
                merge.coll = coll.clone();
                check_target("$merge", &merge.coll)?;
                return Ok(merge);
            }
            Bson::Document(d) => d,
            other => {
                return Err(Error::TypeMismatch(format!(
                    "$merge requires a string or object argument, but found {}",
                    type_name(other)
                )))
            }
        };
        let mut into = None;
        let mut let_given = false;
        let mut pipeline_stages = None;
        for (k, v) in d {
            match k.as_str() {
                "into" => into = Some(v.clone()),
                "on" => {
                    let fields: Vec<String> =
                        match v {
                            Bson::String(s) => vec![s.clone()],
                            Bson::Array(items) if !items.is_empty() => {
                                let mut fields = Vec::new();
                                for item in items {
                                    let Bson::String(s) = item else {
                                        return Err(Error::coded(
                                            51134,
                                            format!(
                                                "$merge 'on' array elements must be strings, but \
                                             found {}",
                                                type_name(item)
                                            ),
                                        ));
                                    };
                                    fields.push(s.clone());
                                }
                                fields
                            }
                            Bson::Array(_) => return Err(Error::coded(
                                51187,
                                "If explicitly specifying $merge 'on', must include at least one \
                                 field",
                            )),
                            other => {
                                return Err(Error::coded(
                                    51186,
                                    format!(
                                        "$merge 'on' field must be either a string or an array of \
                                     strings, but found {}",
                                        type_name(other)
                                    ),
                                ))
                            }
                        };
                    for field in &fields {
                        validate_field_path(field)?;
                    }
                    merge.on = fields;
                }
                "let" => {
                    let Bson::Document(vars) = v else {
                        return Err(Error::TypeMismatch(format!(
                            "BSON field '$merge.let' is the wrong type '{}', expected type \
                             'object'",
                            type_name(v)
                        )));
                    };
                    let_given = true;
                    for (name, expr) in vars {
                        merge.let_variables.push((name.clone(), scope.parse(expr)?));
                    }
                }
                "whenMatched" => {
                    merge.when_matched = match v {
                        Bson::String(s) => match s.as_str() {
                            "replace" => WhenMatched::Replace,
                            "keepExisting" => WhenMatched::KeepExisting,
                            "merge" => WhenMatched::Merge,
                            "fail" => WhenMatched::Fail,
                            other => {
                                return Err(Error::BadValue(format!(
                                    "Enumeration value '{other}' for field \
                                     '$merge.whenMatched' is not a valid value."
                                )))
                            }
                        },
                        Bson::Array(items) => {
                            // Parsed below, once the `let` variables it may use are known.
                            pipeline_stages = Some(stage_documents(items, 9, "$merge")?);
                            WhenMatched::Pipeline(Pipeline::parse(&[])?)
                        }
                        other => {
                            return Err(Error::TypeMismatch(format!(
                                "BSON field '$merge.whenMatched' is the wrong type '{}', \
                                 expected types '[string, array']",
                                type_name(other)
                            )))
                        }
                    }
                }
                "whenNotMatched" => {
                    merge.when_not_matched = match v {
                        Bson::String(s) => match s.as_str() {
                            "insert" => WhenNotMatched::Insert,
                            "discard" => WhenNotMatched::Discard,
                            "fail" => WhenNotMatched::Fail,
                            other => {
                                return Err(Error::BadValue(format!(
                                    "Enumeration value '{other}' for field \
                                     '$merge.whenNotMatched' is not a valid value."
                                )))
                            }
                        },
                        other => {
                            return Err(Error::TypeMismatch(format!(
                                "BSON field '$merge.whenNotMatched' is the wrong type '{}', \
                                 expected type 'string'",
                                type_name(other)
                            )))
                        }
                    }
                }
                "targetCollectionVersion" => {}
                other => {
                    return Err(Error::coded(
                        40415,
                        format!("BSON field '$merge.{other}' is an unknown field."),
                    ))
                }
            }
        }
        match into {
            Some(Bson::String(coll)) => merge.coll = coll,
            Some(Bson::Document(target)) => {
                merge.coll = target.get_str("coll").map(str::to_string).map_err(|_| {
                    Error::coded(
                        40414,
                        "BSON field 'into.coll' is missing but a required field",
                    )
                })?;
                merge.db = target.get_str("db").ok().map(str::to_string);
            }
            Some(other) => {
                return Err(Error::coded(
                    51178,
                    format!(
                        "$merge 'into' field must be either a string or an object, but found {}",
                        type_name(&other)
                    ),
                ))
            }
            None => {
                return Err(Error::coded(
                    40414,
                    "BSON field '$merge.into' is missing but a required field",
                ))
            }
        }
        check_target("$merge", &merge.coll)?;
        if let Some(stages) = pipeline_stages {
            // The pipeline sees the `let` variables, `new` by default.
            let names: Vec<String> = if let_given {
                merge.let_variables.iter().map(|(n, _)| n.clone()).collect()
            } else {
                vec!["new".to_string()]
            };
            let pipeline = Pipeline::parse_in(
                &stages,
                super::stage::StageContext::TopLevel,
                &scope.extended(names),
            )?;
            pipeline.check_update_pipeline()?;
            merge.when_matched = WhenMatched::Pipeline(pipeline);
        }
        if let_given && !matches!(merge.when_matched, WhenMatched::Pipeline(_)) {
            return Err(Error::coded(
                51199,
                "Cannot use 'let' variables with a 'whenMatched' mode other than a pipeline",
            ));
        }
        Ok(merge)
    }

    /// Writes each result: matched on the `on` fields against the target's documents (read
    /// once, then kept up to date with this stage's own writes).
    pub(crate) fn run(&self, input: DocStream<'_>, context: &RunContext<'_>) -> Result<()> {
        let env = context.env()?;
        let db = self.db.as_deref().unwrap_or(&context.db).to_string();
        let on_id_only = self.on.len() == 1 && self.on.iter().all(|f| f == "_id");
        if !on_id_only && !env.has_unique_index(&db, &self.coll, &self.on)? {
            return Err(Error::coded(
                51183,
                "Cannot find index to verify that join fields will be unique",
            ));
        }
        let mut target: BTreeMap<OrderedBson, Document> = BTreeMap::new();
        for existing in env.scan(&db, &self.coll)? {
            if let Some(key) = self.key_of(&existing, false)? {
                target.insert(OrderedBson(key, None), existing);
            }
        }
        let vars = context.vars();
        for r in input {
            let mut doc = r?;
            if !doc.contains_key("_id") && self.on.iter().any(|f| f == "_id") {
                doc = with_id(doc);
            }
            let Some(key) = self.key_of(&doc, true)? else {
                continue;
            };
            let key = OrderedBson(key, None);
            match target.get(&key).cloned() {
                Some(existing) => {
                    let existing_id = existing.get("_id").cloned().unwrap_or(Bson::Null);
                    let replacement = match &self.when_matched {
                        WhenMatched::KeepExisting => continue,
                        WhenMatched::Fail => {
                            return Err(Error::DuplicateKey(Box::new(crate::error::DuplicateKey {
                                ns: format!("{db}.{}", self.coll),
                                index: "_id_".into(),
                                key_pattern: bson::doc! {"_id": 1},
                                shown: format!("{{ _id: {existing_id} }}"),
                                key_value: bson::doc! {"_id": existing_id},
                            })))
                        }
                        WhenMatched::Replace => {
                            let mut replacement = Document::new();
                            replacement.insert("_id", existing_id.clone());
                            for (k, v) in doc {
                                if k == "_id" {
                                    check_same_id(&v, &existing_id)?;
                                } else {
                                    replacement.insert(k, v);
                                }
                            }
                            replacement
                        }
                        WhenMatched::Merge => {
                            let mut merged = existing.clone();
                            for (k, v) in doc {
                                if k == "_id" {
                                    check_same_id(&v, &existing_id)?;
                                } else {
                                    merged.insert(k, v);
                                }
                            }
                            merged
                        }
                        WhenMatched::Pipeline(pipeline) => {
                            let mut variables = context.variables.clone();
                            if self.let_variables.is_empty() {
                                variables.insert("new", doc.clone());
                            }
                            for (name, expr) in &self.let_variables {
                                let value = expr.eval(&doc, &vars)?.unwrap_or(Bson::Null);
                                variables.insert(name.clone(), value);
                            }
                            let updated = pipeline.apply_to_document_at(
                                existing.clone(),
                                &variables,
                                context.now,
                            )?;
                            if let Some(id) = updated.get("_id") {
                                check_same_id(id, &existing_id)?;
                            }
                            let mut with_existing_id = Document::new();
                            with_existing_id.insert("_id", existing_id.clone());
                            for (k, v) in updated {
                                if k != "_id" {
                                    with_existing_id.insert(k, v);
                                }
                            }
                            with_existing_id
                        }
                    };
                    env.replace(&db, &self.coll, &existing_id, replacement.clone())?;
                    target.insert(key, replacement);
                }
                None => match self.when_not_matched {
                    WhenNotMatched::Discard => {}
                    WhenNotMatched::Fail => {
                        return Err(Error::coded(
                            13113,
                            "$merge could not find a matching document in the target \
                             collection for at least one document in the source collection",
                        ))
                    }
                    WhenNotMatched::Insert => {
                        let doc = with_id(doc);
                        env.insert(&db, &self.coll, doc.clone())?;
                        target.insert(key, doc);
                    }
                },
            }
        }
        Ok(())
    }

    /// The `on` fields' values as one array key. For a source document, a missing, null or
    /// array value is an error (51132); target documents without them are skipped.
    fn key_of(&self, doc: &Document, is_source: bool) -> Result<Option<Bson>> {
        let mut key = Vec::with_capacity(self.on.len());
        for field in &self.on {
            match get_path(doc, field) {
                Some(v) if !matches!(v, Bson::Null | Bson::Undefined | Bson::Array(_)) => {
                    key.push(v.clone())
                }
                _ if is_source => {
                    return Err(Error::coded(
                        51132,
                        format!(
                            "$merge write error: 'on' field '{field}' cannot be missing, null, \
                             undefined or an array"
                        ),
                    ))
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(Bson::Array(key)))
    }
}

fn check_same_id(new_id: &Bson, existing_id: &Bson) -> Result<()> {
    if crate::value::equal(new_id, existing_id) {
        Ok(())
    } else {
        Err(Error::ImmutableField(
            "$merge failed to update the matching document, did you attempt to modify the _id \
             or the shard key? :: caused by :: Performing an update on the path '_id' would \
             modify the immutable field '_id'"
                .to_string(),
        ))
    }
}
