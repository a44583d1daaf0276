//! The schemas of synced collections, as App Services shows them: the hub infers each
//! collection's schema from the documents edges upload (JSON Schema with `bsonType`s:
//! `{title, bsonType: "object", required: ["_id"], properties: {field: {bsonType}, ...}}`,
//! embedded documents with their own `properties`, arrays with `items`, a field seen with
//! several types listing them all). An operator may replace a schema ([`Hub::put_schema`]); a
//! replacement that removes a field or changes its type is a breaking change: every registered
//! edge whose query syncs the collection is required to reset (see `window`), keeping its
//! unsynced changes. Outpost does not validate documents against a schema, and inference goes
//! on after a replacement (a field documents still carry comes back).
//!
//! Record tree `sync.hub.schemas`, keyed by namespace.

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};
use serde::{Deserialize, Serialize};

use super::{Hub, HubStore};
use crate::error::{Error, Result};
use crate::instance_query::{is_internal_namespace, InstanceQuery};
use crate::protocol::{split_namespace, Change};

/// How deep inference walks embedded documents and arrays.
const MAX_DEPTH: usize = 10;
/// The most properties one level of an inferred schema holds (the rest are not described).
const MAX_PROPERTIES: usize = 1_000;

/// One collection's schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchemaRecord {
    /// The schema's id in the Admin API (an ObjectId's hex).
    pub id: String,
    pub ns: String,
    /// The JSON Schema (`bsonType` keywords).
    pub schema: Document,
}

/// The `bsonType` name of a value.
fn type_name(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(binary) if binary.subtype == bson::spec::BinarySubtype::Uuid => "uuid",
        Bson::Binary(_) => "binData",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::JavaScriptCode(_) | Bson::JavaScriptCodeWithScope(_) => "javascript",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
        _ => "undefined",
    }
}

/// The types a schema node allows (`bsonType`: a name or a list of names).
fn types_of(node: &Document) -> Vec<String> {
    match node.get("bsonType") {
        Some(Bson::String(name)) => vec![name.clone()],
        Some(Bson::Array(names)) => names
            .iter()
            .filter_map(Bson::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn set_types(node: &mut Document, mut types: Vec<String>) {
    types.sort();
    types.dedup();
    let value = match types.as_slice() {
        [one] => Bson::String(one.clone()),
        _ => Bson::Array(types.into_iter().map(Bson::String).collect()),
    };
    node.insert("bsonType", value);
}

/// Widens `node` (a schema node) to describe `value` too; returns whether it changed.
fn merge_value(node: &mut Document, value: &Bson, depth: usize) -> bool {
    let name = type_name(value);
    let mut changed = false;
    let mut types = types_of(node);
    if !types.iter().any(|t| t == name) {
        types.push(name.to_string());
        set_types(node, types);
        changed = true;
    }
    if depth >= MAX_DEPTH {
        return changed;
    }
    match value {
        Bson::Document(doc) => {
            let mut properties = node.get_document("properties").cloned().unwrap_or_default();
            changed |= merge_document(&mut properties, doc, depth + 1);
            node.insert("properties", properties);
        }
        Bson::Array(items) => {
            let mut item_node = node.get_document("items").cloned().unwrap_or_default();
            for item in items.iter().take(MAX_PROPERTIES) {
                changed |= merge_value(&mut item_node, item, depth + 1);
            }
            if !item_node.is_empty() {
                node.insert("items", item_node);
            }
        }
        _ => {}
    }
    changed
}

/// Widens `properties` (a schema's `properties`) to describe `doc` too.
fn merge_document(properties: &mut Document, doc: &Document, depth: usize) -> bool {
    let mut changed = false;
    for (field, value) in doc {
        if !properties.contains_key(field) && properties.len() >= MAX_PROPERTIES {
            continue;
        }
        let mut node = properties.get_document(field).cloned().unwrap_or_default();
        if merge_value(&mut node, value, depth) {
            properties.insert(field.clone(), node);
            changed = true;
        }
    }
    changed
}

/// A new, empty schema of a collection.
fn empty_schema(ns: &str) -> Document {
    let title = split_namespace(ns).map_or(ns, |(_, coll)| coll);
    doc! {"title": title, "bsonType": "object", "required": ["_id"], "properties": {}}
}

/// The fields `old` describes that `new` removes or retypes (dotted paths, with why).
pub fn breaking_changes(old: &Document, new: &Document) -> Vec<String> {
    let mut found = Vec::new();
    compare_nodes(old, new, "", &mut found);
    found
}

fn compare_nodes(old: &Document, new: &Document, path: &str, found: &mut Vec<String>) {
    let (old_types, new_types) = (types_of(old), types_of(new));
    if !path.is_empty() && !old_types.is_empty() {
        let mut lost: Vec<&String> = old_types
            .iter()
            .filter(|t| !new_types.contains(t))
            .collect();
        lost.dedup();
        if !lost.is_empty() && !new_types.is_empty() {
            found.push(format!(
                "'{path}' retyped ({} to {})",
                old_types.join("|"),
                new_types.join("|")
            ));
        }
    }
    let empty = Document::new();
    let old_properties = old.get_document("properties").unwrap_or(&empty);
    let new_properties = new.get_document("properties").unwrap_or(&empty);
    for (field, old_node) in old_properties {
        let child = if path.is_empty() {
            field.clone()
        } else {
            format!("{path}.{field}")
        };
        match (old_node, new_properties.get(field)) {
            (_, None) => found.push(format!("'{child}' removed")),
            (Bson::Document(old_node), Some(Bson::Document(new_node))) => {
                compare_nodes(old_node, new_node, &child, found);
            }
            _ => {}
        }
    }
    if let (Ok(old_items), Ok(new_items)) = (old.get_document("items"), new.get_document("items")) {
        compare_nodes(old_items, new_items, &format!("{path}[]"), found);
    }
}

impl<S: HubStore> Hub<S> {
    /// Widens the schemas of the collections `changes` wrote (an upload the hub applied).
    pub(super) fn learn_schemas(&self, changes: &[Change]) -> Result<()> {
        let mut touched: Vec<(String, Document)> = Vec::new();
        for change in changes {
            let Some(doc) = change.doc() else { continue };
            let Ok((db, coll)) = split_namespace(&change.ns) else {
                continue;
            };
            if is_internal_namespace(db, coll) {
                continue;
            }
            let at = match touched.iter().position(|(ns, _)| *ns == change.ns) {
                Some(at) => at,
                None => {
                    let schema = match self.store.schema(&change.ns)? {
                        Some(record) => record.schema,
                        None => Document::new(),
                    };
                    touched.push((change.ns.clone(), schema));
                    touched.len() - 1
                }
            };
            let schema = &mut touched[at].1;
            if schema.is_empty() {
                *schema = empty_schema(&change.ns);
            }
            let mut properties = schema
                .get_document("properties")
                .cloned()
                .unwrap_or_default();
            if merge_document(&mut properties, doc, 1) {
                schema.insert("properties", properties);
            }
        }
        for (ns, schema) in touched {
            let id = match self.store.schema(&ns)? {
                Some(record) if record.schema == schema => continue,
                Some(record) => record.id,
                None => ObjectId::new().to_hex(),
            };
            self.store.put_schema(&SchemaRecord { id, ns, schema })?;
        }
        Ok(())
    }

    /// Every collection's schema, in namespace order.
    pub fn schemas(&self) -> Result<Vec<SchemaRecord>> {
        self.store.schemas()
    }

    /// Replaces the schema `id`. A breaking change (a field removed or retyped) requires every
    /// registered edge whose query syncs the collection to reset; returns the breaking changes
    /// found and the edges reset.
    pub fn put_schema(&self, id: &str, schema: Document) -> Result<(Vec<String>, Vec<String>)> {
        let Some(mut record) = self.store.schemas()?.into_iter().find(|s| s.id == id) else {
            return Err(Error::Coded {
                code: 2,
                message: format!("no schema with id '{id}'"),
            });
        };
        if schema.get_str("bsonType") != Ok("object") {
            return Err(Error::Coded {
                code: 2,
                message: "a collection's schema must have bsonType \"object\"".into(),
            });
        }
        let breaking = breaking_changes(&record.schema, &schema);
        record.schema = schema;
        self.store.put_schema(&record)?;
        let mut reset = Vec::new();
        if !breaking.is_empty() {
            let (db, coll) = split_namespace(&record.ns)?;
            let reason = format!(
                "breaking schema change of {}: {}",
                record.ns,
                breaking.join(", ")
            );
            for edge in self.store.edges()? {
                let syncs = InstanceQuery::parse(&edge.query, &edge.default_db)
                    .is_ok_and(|query| query.is_synced(db, coll));
                if edge.registration_key_used && syncs {
                    self.require_reset(&edge.id, &reason)?;
                    reset.push(edge.id);
                }
            }
        }
        Ok((breaking, reset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learned(docs: &[Document]) -> Document {
        let mut properties = Document::new();
        for doc in docs {
            merge_document(&mut properties, doc, 1);
        }
        properties
    }

    #[test]
    fn inference_describes_fields_embedded_documents_arrays_and_mixed_types() {
        let properties = learned(&[
            doc! {"_id": ObjectId::new(), "name": "a", "qty": 1, "tags": ["x"], "at": {"x": 1.5}},
            doc! {"_id": ObjectId::new(), "qty": "many"},
        ]);
        assert_eq!(
            properties,
            doc! {
                "_id": {"bsonType": "objectId"},
                "name": {"bsonType": "string"},
                "qty": {"bsonType": ["int", "string"]},
                "tags": {"bsonType": "array", "items": {"bsonType": "string"}},
                "at": {"bsonType": "object", "properties": {"x": {"bsonType": "double"}}},
            }
        );
        // Nothing new: no change.
        let mut again = properties.clone();
        assert!(!merge_document(&mut again, &doc! {"name": "b"}, 1));
    }

    #[test]
    fn removing_or_retyping_a_field_is_breaking_and_adding_one_is_not() {
        let old = doc! {"bsonType": "object", "properties": {
            "name": {"bsonType": "string"},
            "at": {"bsonType": "object", "properties": {"x": {"bsonType": "double"}}},
        }};
        let added = doc! {"bsonType": "object", "properties": {
            "name": {"bsonType": "string"},
            "at": {"bsonType": "object", "properties": {"x": {"bsonType": "double"}}},
            "new": {"bsonType": "int"},
        }};
        assert!(breaking_changes(&old, &added).is_empty());
        let changed = doc! {"bsonType": "object", "properties": {
            "name": {"bsonType": "int"},
            "at": {"bsonType": "object", "properties": {}},
        }};
        assert_eq!(
            breaking_changes(&old, &changed),
            ["'name' retyped (string to int)", "'at.x' removed"]
        );
    }
}
