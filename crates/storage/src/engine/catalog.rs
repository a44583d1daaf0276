//! The catalog: which collections exist, their options and their indexes. Persisted as one
//! BSON document per collection in the `catalog` tree, cached in memory.

use std::sync::Arc;

use bson::{Bson, Document};
use serde::{Deserialize, Serialize};

use super::kv::Tree;
use crate::error::{Error, Result};
use crate::query::Filter;
use crate::value::Collation;

/// Persisted description of an index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexMeta {
    /// Internal id: the index's entries live in tree `index/{id}`.
    pub id: u64,
    pub name: String,
    /// The key pattern, e.g. `{a: 1, b: -1}`.
    pub key: Document,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub sparse: bool,
    #[serde(default)]
    pub partial_filter: Option<Document>,
    #[serde(default)]
    pub expire_after_seconds: Option<i64>,
    /// True once some document produced more than one key for this index.
    #[serde(default)]
    pub multikey: bool,
    /// The index's collation as its normalized specification (`None`: simple). Keys of
    /// strings are ICU sort keys under it.
    #[serde(default)]
    pub collation: Option<Document>,
    /// A geospatial index's options as `listIndexes` shows them (`2dsphereIndexVersion`;
    /// `bits`, `min`, `max` of a 2d index); `None` for other indexes.
    #[serde(default)]
    pub geo_options: Option<Document>,
    /// A text index's weights and languages (its key pattern holds `_fts: "text", _ftsx: 1`).
    #[serde(default)]
    pub text: Option<crate::text::TextIndexOptions>,
}

impl IndexMeta {
    /// The document `listIndexes` returns for this index.
    pub fn spec(&self) -> Document {
        let mut spec = bson::doc! {"v": 2, "key": self.key.clone(), "name": self.name.clone()};
        if self.unique && self.name != "_id_" {
            spec.insert("unique", true);
        }
        if self.sparse {
            spec.insert("sparse", true);
        }
        if let Some(p) = &self.partial_filter {
            spec.insert("partialFilterExpression", p.clone());
        }
        if let Some(s) = self.expire_after_seconds {
            spec.insert("expireAfterSeconds", s);
        }
        if let Some(c) = &self.collation {
            spec.insert("collation", c.clone());
        }
        for (option, value) in self.geo_options.iter().flatten() {
            spec.insert(option.clone(), value.clone());
        }
        if let Some(text) = &self.text {
            text.append_to(&mut spec);
        }
        spec
    }

    pub fn is_id_index(&self) -> bool {
        self.name == "_id_"
    }
}

/// Persisted description of a collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectionMeta {
    /// Internal id: documents live in tree `docs/{id}`.
    pub id: u64,
    pub db: String,
    pub name: String,
    /// A 16-byte UUID, as `listCollections` reports in `info.uuid`.
    pub uuid: bson::Binary,
    /// The options given to `create` (validator, capped, ...), as `listCollections` reports.
    #[serde(default)]
    pub options: Document,
    /// Secondary indexes; the `_id` index is implicit and not listed here.
    #[serde(default)]
    pub indexes: Vec<IndexMeta>,
}

impl CollectionMeta {
    pub fn namespace(&self) -> String {
        format!("{}.{}", self.db, self.name)
    }

    /// True for a view: a read-only collection defined by a pipeline.
    pub fn is_view(&self) -> bool {
        self.options.contains_key("viewOn")
    }

    /// True when the collection's history entries keep the document before each change
    /// (`changeStreamPreAndPostImages: {enabled: true}`, for change streams'
    /// `fullDocumentBeforeChange`).
    pub fn keeps_pre_images(&self) -> bool {
        self.options
            .get_document("changeStreamPreAndPostImages")
            .and_then(|o| o.get_bool("enabled"))
            .unwrap_or(false)
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(bson::to_vec(self)?)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<CollectionMeta> {
        Ok(bson::from_slice(bytes)?)
    }

    /// The implicit `_id` index.
    pub fn id_index(&self) -> IndexMeta {
        IndexMeta {
            id: 0,
            name: "_id_".into(),
            key: bson::doc! {"_id": 1},
            unique: true,
            sparse: false,
            partial_filter: None,
            expire_after_seconds: None,
            multikey: false,
            collation: self.options.get_document("collation").ok().cloned(),
            geo_options: None,
            text: None,
        }
    }

    /// The collection's default collation (`create`'s `collation`), `None` when simple.
    pub fn default_collation(&self) -> Result<Option<Arc<Collation>>> {
        match self.options.get_document("collation") {
            Ok(spec) => Collation::parse(spec),
            Err(_) => Ok(None),
        }
    }
}

/// A secondary index, opened.
#[derive(Clone)]
pub struct Index {
    pub meta: IndexMeta,
    pub tree: Tree,
    /// Key fields in order: (dotted path, descending).
    pub fields: Vec<(String, bool)>,
    pub partial: Option<Filter>,
    /// The index's collation (`None`: simple).
    pub collation: Option<Arc<Collation>>,
    /// The position in `fields` of the hashed field, whose keys are MongoDB's hash of the
    /// value (`value::hash::hash64`): usable for equality only, never for ranges or sorts.
    pub hashed: Option<usize>,
    /// A text index's specification: its keys are terms (`engine::text_index`), read only by
    /// `$text` searches, never by ordinary plans.
    pub text: Option<Arc<crate::text::TextSpec>>,
}

impl Index {
    pub fn open(meta: IndexMeta, tree: Tree) -> Result<Index> {
        let fields = key_fields(&meta.key)?;
        let collation = match &meta.collation {
            Some(c) => Collation::parse(c)?,
            None => None,
        };
        // A partial filter compares strings under the index's collation, as in MongoDB.
        let partial = match &meta.partial_filter {
            Some(p) => Some(Filter::parse_with_collation(
                p,
                &Document::new(),
                collation.clone(),
            )?),
            None => None,
        };
        let text = match &meta.text {
            Some(options) => Some(Arc::new(crate::text::TextSpec::new(&meta.key, options)?)),
            None => None,
        };
        Ok(Index {
            text,
            hashed: hashed_field(&meta.key),
            meta,
            tree,
            fields,
            partial,
            collation,
        })
    }
}

/// A collection, opened: its metadata, its document tree and its indexes.
#[derive(Clone)]
pub struct Collection {
    pub meta: CollectionMeta,
    pub docs: Tree,
    pub indexes: Vec<Index>,
    pub validator: Option<Validator>,
    /// Limits and insertion order of a capped collection.
    pub capped: Option<super::capped::Capped>,
}

/// Which writes a validator checks (`validationLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationLevel {
    Off,
    /// Every insert and update.
    Strict,
    /// Inserts, and updates of documents that were valid before.
    Moderate,
}

/// A collection's document validator (`validator`, `validationLevel`, `validationAction`).
#[derive(Clone)]
pub struct Validator {
    pub filter: Filter,
    pub level: ValidationLevel,
    /// False for `validationAction: "warn"`: log and accept.
    pub error: bool,
}

impl Validator {
    /// Reads the validator from collection options; `None` when there is none.
    pub fn from_options(options: &Document) -> Result<Option<Validator>> {
        let filter = match options.get("validator") {
            None => return Ok(None),
            Some(Bson::Document(v)) if v.is_empty() => return Ok(None),
            Some(Bson::Document(v)) => {
                for op in ["$where", "$near", "$nearSphere", "$text", "$expr"] {
                    if op == "$expr" {
                        continue;
                    }
                    if v.contains_key(op) {
                        return Err(Error::BadValue(format!(
                            "{op} is not allowed in collection validators"
                        )));
                    }
                }
                // The validator compares strings under the collection's default collation.
                let collation = match options.get_document("collation") {
                    Ok(spec) => Collation::parse(spec)?,
                    Err(_) => None,
                };
                Filter::parse_with_collation(v, &Document::new(), collation)?
            }
            Some(other) => {
                return Err(Error::TypeMismatch(format!(
                    "'validator' must be an object, not {other}"
                )))
            }
        };
        let level = match options.get_str("validationLevel") {
            Err(_) | Ok("strict") => ValidationLevel::Strict,
            Ok("moderate") => ValidationLevel::Moderate,
            Ok("off") => ValidationLevel::Off,
            Ok(other) => {
                return Err(Error::BadValue(format!(
                    "Enumeration value '{other}' for field 'validationLevel' is not a valid value."
                )))
            }
        };
        let error = match options.get_str("validationAction") {
            Err(_) | Ok("error") => true,
            Ok("warn") => false,
            Ok(other) => {
                return Err(Error::BadValue(format!(
                    "Enumeration value '{other}' for field 'validationAction' is not a valid value."
                )))
            }
        };
        Ok(Some(Validator {
            filter,
            level,
            error,
        }))
    }
}

/// Parses a key pattern into (path, descending) pairs. Only ascending/descending fields are
/// supported; special index types are refused by name.
pub fn key_fields(key: &Document) -> Result<Vec<(String, bool)>> {
    if key.is_empty() {
        return Err(Error::CannotCreateIndex(
            "Index keys cannot be empty.".into(),
        ));
    }
    let mut fields = Vec::with_capacity(key.len());
    for (path, direction) in key {
        crate::value::path::check_path_length(path)?;
        if path.is_empty() || path.split('.').any(|p| p.is_empty()) {
            return Err(Error::CannotCreateIndex(format!(
                "Index key contains an illegal field name: '{path}'"
            )));
        }
        let descending = match direction {
            Bson::Int32(n) if *n != 0 => *n < 0,
            Bson::Int64(n) if *n != 0 => *n < 0,
            Bson::Double(n) if *n != 0.0 && n.is_finite() => *n < 0.0,
            // A hashed field's keys are MongoDB's hash of the value, in ascending order.
            Bson::String(kind) if kind == "hashed" => false,
            // Geospatial keys are cell ids (see `geo::keys`), in ascending order.
            Bson::String(kind) if crate::geo::keys::is_geo_index_type(kind) => false,
            // A text index's `_fts` field (its keys are terms: `engine::text_index`).
            Bson::String(kind) if kind == "text" => false,
            Bson::String(kind) => {
                return Err(Error::NotSupported(format!(
                    "index type '{kind}' is not supported by Outpost (only ascending, descending, hashed, text, 2dsphere and 2d keys are)"
                )))
            }
            other => {
                return Err(Error::CannotCreateIndex(format!(
                    "Values in the index key pattern can't be 0 or non-numeric: {path}: {other}"
                )))
            }
        };
        fields.push((path.clone(), descending));
    }
    Ok(fields)
}

/// The position of the hashed field in a key pattern, if it has one (`{a: 1, b: "hashed"}`:
/// 1). A valid pattern has at most one.
pub fn hashed_field(key: &Document) -> Option<usize> {
    key.values()
        .position(|v| matches!(v, Bson::String(kind) if kind == "hashed"))
}

/// The default name MongoDB gives an index: `a_1_b_-1`.
pub fn default_index_name(key: &Document) -> String {
    key.iter()
        .map(|(k, v)| {
            let dir = match v {
                Bson::Int32(n) => n.to_string(),
                Bson::Int64(n) => n.to_string(),
                Bson::Double(n) if n.fract() == 0.0 => format!("{}", *n as i64),
                Bson::Double(n) => n.to_string(),
                Bson::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{k}_{dir}")
        })
        .collect::<Vec<_>>()
        .join("_")
}

/// Checks a database name as MongoDB does.
pub fn validate_db_name(db: &str) -> Result<()> {
    if db.is_empty() || db.len() >= 64 || db.chars().any(|c| "/\\. \"$\0".contains(c)) {
        return Err(Error::InvalidNamespace(format!(
            "Invalid database name: '{db}'"
        )));
    }
    Ok(())
}

/// Checks a collection name as MongoDB does.
pub fn validate_collection_name(db: &str, coll: &str) -> Result<()> {
    validate_db_name(db)?;
    if coll.is_empty() || coll.contains('\0') || coll.starts_with('.') {
        return Err(Error::InvalidNamespace(format!(
            "Invalid collection name: '{coll}'"
        )));
    }
    if coll.contains('$') {
        return Err(Error::InvalidNamespace(format!(
            "Invalid collection name: {db}.{coll}"
        )));
    }
    if db.len() + 1 + coll.len() > 255 {
        return Err(Error::InvalidNamespace(format!(
            "Fully qualified namespace is too long: {db}.{coll}"
        )));
    }
    Ok(())
}
