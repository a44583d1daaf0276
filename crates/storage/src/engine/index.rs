//! Secondary indexes: the keys a document produces, uniqueness checks, and index builds.

use bson::{Bson, Document};

use super::catalog::{default_index_name, key_fields, Collection, Index, IndexMeta};
use super::kv::WriteSet;
use super::{decode_document, IndexSelector, Storage};
use crate::error::{Error, Result};
use crate::value::compare::type_name;
use crate::value::hash::hash64;
use crate::value::{keyenc, path, Collation};

/// The keys one document produces for one index.
pub(crate) struct DocKeys {
    /// Encoded key values (without the document key suffix), with the values for messages.
    pub keys: Vec<(Vec<u8>, Vec<Bson>)>,
    /// More than one key: the index is multikey from now on.
    pub multikey: bool,
}

/// The keys `doc` produces for `index`, or `None` when a sparse or partial index leaves it out.
pub(crate) fn document_keys(index: &Index, doc: &Document) -> Result<Option<DocKeys>> {
    if let Some(spec) = &index.text {
        return super::text_index::text_document_keys(index, spec, doc);
    }
    if let Some(partial) = &index.partial {
        if !partial.matches(doc) {
            return Ok(None);
        }
    }
    if index.meta.sparse
        && index
            .fields
            .iter()
            .all(|(p, _)| path::get_path(doc, p).is_none())
    {
        return Ok(None);
    }
    let mut per_field: Vec<Vec<Bson>> = index
        .fields
        .iter()
        .map(|(p, _)| path::index_key_values(doc, p))
        .collect();
    let array_fields: Vec<&str> = index
        .fields
        .iter()
        .filter(|(p, _)| path::is_multikey_for(doc, p))
        .map(|(p, _)| p.as_str())
        .collect();
    if let Some(position) = index.hashed {
        hash_key_values(index, position, &array_fields, &mut per_field)?;
    }
    if let Some((position, kind)) =
        crate::geo::keys::geo_field(&index.meta.key, index.meta.geo_options.as_ref())
    {
        return geo_document_keys(index, doc, (position, kind), per_field, &array_fields);
    }
    if array_fields.len() > 1 {
        return Err(Error::coded(
            171,
            format!(
                "cannot index parallel arrays [{}] [{}]",
                array_fields[1], array_fields[0]
            ),
        ));
    }
    // At most one field has several values: the keys are that field's values combined with
    // the single value of every other field.
    let count = per_field.iter().map(Vec::len).max().unwrap_or(1);
    let mut keys = Vec::with_capacity(count);
    for i in 0..count {
        let mut bytes = Vec::new();
        let mut values = Vec::with_capacity(per_field.len());
        for ((_, descending), field_values) in index.fields.iter().zip(per_field.iter()) {
            let value = if field_values.len() > 1 {
                field_values.get(i)
            } else {
                field_values.first()
            }
            .cloned()
            .unwrap_or(Bson::Null);
            let collation = index.collation.as_deref();
            if *descending {
                keyenc::encode_descending_with_into(&value, collation, &mut bytes);
            } else {
                keyenc::encode_with_into(&value, collation, &mut bytes);
            }
            values.push(value);
        }
        if !keys.iter().any(|(k, _): &(Vec<u8>, Vec<Bson>)| *k == bytes) {
            keys.push((bytes, values));
        }
    }
    Ok(Some(DocKeys {
        multikey: !array_fields.is_empty(),
        keys,
    }))
}

/// The keys of a document for an index with a geospatial field: the field's cell keys (see
/// `geo::keys`) combined with the values of the other fields (one of which may be an array).
/// A document without a location is left out of the index.
fn geo_document_keys(
    index: &Index,
    doc: &Document,
    (position, kind): (usize, crate::geo::keys::GeoIndexKind),
    mut per_field: Vec<Vec<Bson>>,
    array_fields: &[&str],
) -> Result<Option<DocKeys>> {
    let Some((geo_path, _)) = index.fields.get(position) else {
        return Ok(None);
    };
    let Some(cells) = crate::geo::keys::field_keys(kind, doc, geo_path)? else {
        return Ok(None);
    };
    let other_arrays: Vec<&&str> = array_fields.iter().filter(|p| **p != geo_path).collect();
    if other_arrays.len() > 1 {
        return Err(Error::coded(
            171,
            format!(
                "cannot index parallel arrays [{}] [{}]",
                other_arrays[1], other_arrays[0]
            ),
        ));
    }
    let multikey = cells.len() > 1 || !array_fields.is_empty();
    if let Some(slot) = per_field.get_mut(position) {
        *slot = vec![Bson::Null];
    }
    let others = usize::max(1, per_field.iter().map(Vec::len).max().unwrap_or(1));
    let mut keys = Vec::new();
    for cell in &cells {
        for i in 0..others {
            let mut bytes = Vec::new();
            let mut values = Vec::with_capacity(per_field.len());
            for (field, ((_, descending), field_values)) in
                index.fields.iter().zip(per_field.iter()).enumerate()
            {
                let value = if field == position {
                    cell.clone()
                } else if field_values.len() > 1 {
                    field_values.get(i).cloned().unwrap_or(Bson::Null)
                } else {
                    field_values.first().cloned().unwrap_or(Bson::Null)
                };
                let collation = index.collation.as_deref();
                if *descending {
                    keyenc::encode_descending_with_into(&value, collation, &mut bytes);
                } else {
                    keyenc::encode_with_into(&value, collation, &mut bytes);
                }
                values.push(value);
            }
            if !keys.iter().any(|(k, _): &(Vec<u8>, Vec<Bson>)| *k == bytes) {
                keys.push((bytes, values));
            }
            if keys.len() > 100_000 {
                return Err(Error::coded(16755, "Can't extract geo keys: too many keys"));
            }
        }
    }
    Ok(Some(DocKeys { keys, multikey }))
}

/// Replaces the hashed field's value by its hash; an array on the way to it (or at it) is
/// refused, as mongod does (16766).
fn hash_key_values(
    index: &Index,
    position: usize,
    array_fields: &[&str],
    per_field: &mut [Vec<Bson>],
) -> Result<()> {
    let Some((path, _)) = index.fields.get(position) else {
        return Ok(());
    };
    if array_fields.contains(&path.as_str()) {
        return Err(Error::coded(
            16766,
            format!(
                "Error: hashed indexes do not currently support array values. Found array at \
                 path: {path}"
            ),
        ));
    }
    if let Some(values) = per_field.get_mut(position) {
        for value in values.iter_mut() {
            *value = Bson::Int64(hash64(value));
        }
    }
    Ok(())
}

/// The index entry key: encoded key values followed by the document key.
pub(crate) fn entry_key(key: &[u8], doc_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + doc_key.len());
    out.extend_from_slice(key);
    out.extend_from_slice(doc_key);
    out
}

/// Fails with a duplicate key error if a unique `index` already holds `key` for a document
/// other than `doc_key`.
pub(crate) fn check_unique(
    ns: &str,
    index: &Index,
    key: &[u8],
    values: &[Bson],
    doc_key: &[u8],
) -> Result<()> {
    if !index.meta.unique {
        return Ok(());
    }
    for item in index.tree.scan_prefix(key) {
        let (_, owner) = item?;
        if owner.as_ref() != doc_key {
            return Err(duplicate_key(ns, &index.meta, values));
        }
    }
    Ok(())
}

pub(crate) fn duplicate_key(ns: &str, meta: &IndexMeta, values: &[Bson]) -> Error {
    let mut key_value = Document::new();
    for ((field, _), value) in meta.key.iter().zip(values.iter()) {
        key_value.insert(field.clone(), value.clone());
    }
    let shown = key_value
        .iter()
        .map(|(k, v)| format!("{k}: {}", shell_repr(v)))
        .collect::<Vec<_>>()
        .join(", ");
    Error::DuplicateKey(Box::new(crate::error::DuplicateKey {
        ns: ns.to_owned(),
        index: meta.name.clone(),
        key_pattern: meta.key.clone(),
        key_value,
        shown: format!("{{ {shown} }}"),
    }))
}

/// A value as the mongo shell prints it in error messages.
fn shell_repr(v: &Bson) -> String {
    match v {
        Bson::String(s) => format!("\"{s}\""),
        Bson::ObjectId(o) => format!("ObjectId('{o}')"),
        other => other.to_string(),
    }
}

/// Options `createIndexes` accepts in an index specification.
const KNOWN_INDEX_OPTIONS: &[&str] = &[
    "key",
    "name",
    "v",
    "unique",
    "sparse",
    "partialFilterExpression",
    "expireAfterSeconds",
    "background",
    "ns",
    "hidden",
    "collation",
    "2dsphereIndexVersion",
    "bits",
    "min",
    "max",
    // Text indexes' options (`text::spec::fix_spec` checks them).
    "weights",
    "default_language",
    "language_override",
    "textIndexVersion",
];

/// Options only text indexes take.
const TEXT_ONLY_OPTIONS: &[&str] = &[
    "weights",
    "default_language",
    "language_override",
    "textIndexVersion",
];

/// Index kinds MongoDB 8.0 builds and Outpost does not, refused by name rather than built as
/// something else: wildcard keys (`{"$**": 1}`, `{"a.$**": 1}`; a `$**` path would otherwise
/// be an ordinary index on a field named `$**`) and hidden indexes (`hidden: true`: the
/// planner does not know how to ignore an index). A wildcard text index is a text index.
fn refuse_unsupported_kinds(spec: &Document, key: &Document) -> Result<()> {
    let text = crate::text::spec::is_text_key(key);
    if let Some(path) = key
        .keys()
        .find(|path| !text && (*path == "$**" || path.ends_with(".$**")))
    {
        return Err(Error::NotSupported(format!(
            "wildcard indexes ('{path}' in the key pattern) are not supported by Outpost (only \
             the wildcard text index {{\"$**\": \"text\"}} is)"
        )));
    }
    if spec
        .get("hidden")
        .is_some_and(|v| !matches!(v, Bson::Boolean(false)))
    {
        return Err(Error::NotSupported(
            "hidden indexes (hidden: true) are not supported by Outpost".into(),
        ));
    }
    Ok(())
}

/// Parses and validates one `createIndexes` specification.
/// Also says whether the spec gave a collation (else the collection's default applies).
fn parse_index_spec(spec: &Document) -> Result<(IndexMeta, bool)> {
    for field in spec.keys() {
        if !KNOWN_INDEX_OPTIONS.contains(&field.as_str()) {
            if [
                "wildcardProjection",
                "storageEngine",
                "clustered",
                "prepareUnique",
            ]
            .contains(&field.as_str())
            {
                return Err(Error::NotSupported(format!(
                    "index option '{field}' is not supported by Outpost"
                )));
            }
            return Err(Error::coded(
                197,
                format!("The field '{field}' is not valid for an index specification. Specification: {spec}"),
            ));
        }
    }
    let key = match spec.get("key") {
        Some(Bson::Document(k)) => k.clone(),
        Some(other) => {
            return Err(Error::TypeMismatch(format!(
                "The field 'key' must be an object, but got {}",
                type_name(other)
            )))
        }
        None => {
            return Err(Error::FailedToParse(
                "The 'key' field is a required property of an index specification".into(),
            ))
        }
    };
    refuse_unsupported_kinds(spec, &key)?;
    // A text index stores its key pattern as `{prefix..., _fts: "text", _ftsx: 1, suffix...}`.
    let (key, text) = if crate::text::spec::is_text_key(&key) {
        let (stored, options) = crate::text::spec::fix_spec(spec, &key)?;
        (stored, Some(options))
    } else {
        for option in TEXT_ONLY_OPTIONS {
            if spec.contains_key(option) {
                return Err(Error::CannotCreateIndex(format!(
                    "the '{option}' option is only valid for text indexes"
                )));
            }
        }
        (key, None)
    };
    key_fields(&key)?;
    let name = match spec.get("name") {
        Some(Bson::String(n)) if !n.is_empty() => n.clone(),
        Some(Bson::String(_)) => {
            return Err(Error::CannotCreateIndex(
                "The index name cannot be empty".into(),
            ))
        }
        Some(other) => {
            return Err(Error::TypeMismatch(format!(
                "The field 'name' must be a string, but got {}",
                type_name(other)
            )))
        }
        None => {
            return Err(Error::FailedToParse(
                "The 'name' field is a required property of an index specification".into(),
            ))
        }
    };
    // The collation as its normalized spec; `Some(None)` for an explicit simple collation,
    // `None` when not given (the collection's default applies).
    let collation = match spec.get("collation") {
        None => None,
        Some(Bson::Document(c)) => Some(Collation::parse(c)?.map(|c| c.to_document())),
        Some(other) => {
            return Err(Error::TypeMismatch(format!(
                "The field 'collation' must be an object, but got {}",
                type_name(other)
            )))
        }
    };
    let flag = |field: &str| -> Result<bool> {
        match spec.get(field) {
            None => Ok(false),
            Some(Bson::Boolean(b)) => Ok(*b),
            Some(Bson::Int32(n)) => Ok(*n != 0),
            Some(Bson::Int64(n)) => Ok(*n != 0),
            Some(Bson::Double(n)) => Ok(*n != 0.0),
            Some(other) => Err(Error::TypeMismatch(format!(
                "The field '{field}' must be a boolean, but got {}",
                type_name(other)
            ))),
        }
    };
    let unique = flag("unique")?;
    let sparse = flag("sparse")?;
    check_hashed_key(&key, unique)?;
    let geo_options = crate::geo::keys::parse_index_options(spec, &key)?;
    if geo_options.is_some() && super::catalog::hashed_field(&key).is_some() {
        return Err(Error::CannotCreateIndex(
            "an index cannot be both hashed and geospatial".into(),
        ));
    }
    if geo_options.is_some() && unique {
        return Err(Error::CannotCreateIndex(
            "a geospatial index cannot be unique".into(),
        ));
    }
    let partial_filter = match spec.get("partialFilterExpression") {
        None => None,
        Some(Bson::Document(d)) => {
            crate::query::Filter::parse(d)?;
            Some(d.clone())
        }
        Some(other) => {
            return Err(Error::TypeMismatch(format!(
                "The field 'partialFilterExpression' must be an object, but got {}",
                type_name(other)
            )))
        }
    };
    if partial_filter.is_some() && sparse {
        return Err(Error::CannotCreateIndex(
            "cannot mix \"partialFilterExpression\" and \"sparse\" options".into(),
        ));
    }
    let expire_after_seconds = match spec.get("expireAfterSeconds") {
        None => None,
        Some(Bson::Int32(n)) if *n >= 0 => Some(i64::from(*n)),
        Some(Bson::Int64(n)) if *n >= 0 => Some(*n),
        Some(Bson::Double(n)) if *n >= 0.0 && n.fract() == 0.0 && *n < 9.0e15 => Some(*n as i64),
        Some(other) => {
            return Err(Error::CannotCreateIndex(format!(
                "TTL index 'expireAfterSeconds' option must be a non-negative integer, got {other}"
            )))
        }
    };
    if expire_after_seconds.is_some() && super::catalog::hashed_field(&key).is_some() {
        return Err(Error::CannotCreateIndex(
            "TTL indexes need a date field in ascending or descending order, not a hashed one"
                .into(),
        ));
    }
    if expire_after_seconds.is_some() && key.len() != 1 {
        return Err(Error::CannotCreateIndex(
            "TTL indexes are single-field indexes, compound indexes do not support TTL".into(),
        ));
    }
    Ok(IndexMeta {
        id: 0,
        name,
        key,
        unique,
        sparse,
        partial_filter,
        expire_after_seconds,
        multikey: false,
        collation: collation.clone().unwrap_or(None),
        geo_options,
        text,
    })
    .map(|meta| (meta, collation.is_some()))
}

/// mongod's rules for hashed fields: at most one per index, never unique.
fn check_hashed_key(key: &Document, unique: bool) -> Result<()> {
    let hashed = key
        .values()
        .filter(|v| matches!(v, Bson::String(kind) if kind == "hashed"))
        .count();
    if hashed > 1 {
        return Err(Error::coded(
            31303,
            format!(
                "A maximum of one index field is allowed to be hashed but found {hashed} for \
                 'key' {key}"
            ),
        ));
    }
    if hashed == 1 && unique {
        return Err(Error::coded(
            16764,
            "Currently hashed indexes cannot guarantee uniqueness. Use a regular index.",
        ));
    }
    Ok(())
}

/// Outpost hashes the values themselves: a hashed index under a non-simple collation (whose
/// keys mongod makes from collation keys) is refused by name.
fn check_hashed_collation(meta: &IndexMeta) -> Result<()> {
    if super::catalog::hashed_field(&meta.key).is_none() {
        return Ok(());
    }
    let collation = match &meta.collation {
        Some(spec) => Collation::parse(spec)?,
        None => None,
    };
    if collation.is_some() {
        return Err(Error::NotSupported(format!(
            "hashed index '{}' with a non-simple collation is not supported by Outpost \
             (give it collation {{locale: \"simple\"}})",
            meta.name
        )));
    }
    Ok(())
}

/// A text index: no collation (an explicit non-simple one is refused, a collection's default
/// does not apply), and at most one text index per collection, as in mongod.
fn check_text_index(
    collection: &Collection,
    meta: &mut IndexMeta,
    collation_given: bool,
) -> Result<()> {
    if meta.text.is_none() {
        return Ok(());
    }
    if collation_given {
        if let Some(spec) = &meta.collation {
            if Collation::parse(spec)?.is_some() {
                return Err(Error::CannotCreateIndex(format!(
                    "Index type 'text' does not support collation: {spec}"
                )));
            }
        }
    }
    meta.collation = None;
    if let Some(existing) = collection
        .indexes
        .iter()
        .find(|i| i.meta.text.is_some() && i.meta.name != meta.name)
    {
        if !same_key_pattern(&existing.meta.key, &meta.key) {
            return Err(Error::IndexOptionsConflict(format!(
                "only one text index per collection allowed, found existing text index \"{}\"",
                existing.meta.name
            )));
        }
    }
    Ok(())
}

/// Key patterns are the same when their fields and values are, in the same order
/// (`Document`'s own equality ignores the order, and `{a: 1, b: 1}` is not `{b: 1, a: 1}`).
pub(crate) fn same_key_pattern(a: &Document, b: &Document) -> bool {
    a.len() == b.len() && a.iter().eq(b.iter())
}

fn same_options(a: &IndexMeta, b: &IndexMeta) -> bool {
    a.unique == b.unique
        && a.sparse == b.sparse
        && a.partial_filter == b.partial_filter
        && a.expire_after_seconds == b.expire_after_seconds
        && a.collation == b.collation
        && a.geo_options == b.geo_options
        && a.text == b.text
}

/// What `createIndexes` did.
#[derive(Debug, Clone)]
pub struct CreateIndexesOutcome {
    pub indexes_before: usize,
    pub indexes_after: usize,
    pub created_collection: bool,
}

impl Storage {
    /// Creates indexes, building them over the existing documents.
    pub fn create_indexes(
        &self,
        db: &str,
        coll: &str,
        specs: &[Document],
    ) -> Result<CreateIndexesOutcome> {
        if self.timeseries_options(db, coll)?.is_some() {
            return Err(Error::NotSupported(format!(
                "secondary indexes on the time-series collection {db}.{coll} are not supported \
                 by Outpost"
            )));
        }
        let mut parsed = Vec::with_capacity(specs.len());
        for spec in specs {
            let (mut meta, collation_given) = parse_index_spec(spec)?;
            if meta.name == "_id_" || meta.key == bson::doc! {"_id": 1} {
                if meta.key != bson::doc! {"_id": 1}
                    || meta.name != "_id_"
                        && spec.get("name").is_some()
                        && meta.name != default_index_name(&meta.key)
                {
                    return Err(Error::IndexOptionsConflict(format!(
                        "Index with name: {} already exists with a different key or name",
                        meta.name
                    )));
                }
                if meta.unique || meta.sparse || meta.partial_filter.is_some() {
                    return Err(Error::coded(197, "The field 'unique'/'sparse'/'partialFilterExpression' is not valid for an _id index specification."));
                }
                meta.name = "_id_".into();
            }
            parsed.push((meta, collation_given));
        }
        let mut w = self.writer();
        let created_collection = self.collection(db, coll).is_none();
        let mut collection = self.collection_or_create(&mut w, db, coll)?;
        let indexes_before = index_count(&collection);
        for (mut meta, collation_given) in parsed {
            if meta.name == "_id_" {
                continue;
            }
            // An index created without a collation takes the collection's default; one that
            // overrides a default with the simple collation records it (listIndexes shows
            // `collation: {locale: "simple"}`, as MongoDB).
            let default = collection.meta.options.get_document("collation").ok();
            if !collation_given {
                meta.collation = default.cloned();
            } else if meta.collation.is_none() && default.is_some() {
                meta.collation = Some(bson::doc! {"locale": "simple"});
            }
            check_hashed_collation(&meta)?;
            check_text_index(&collection, &mut meta, collation_given)?;
            if let Some(existing) = collection.indexes.iter().find(|i| i.meta.name == meta.name) {
                if same_key_pattern(&existing.meta.key, &meta.key)
                    && same_options(&existing.meta, &meta)
                {
                    continue;
                }
                if same_key_pattern(&existing.meta.key, &meta.key) {
                    return Err(Error::IndexOptionsConflict(format!(
                        "An existing index has the same name as the requested index but different options. Requested index: {}, existing index: {}",
                        meta.spec(),
                        existing.meta.spec()
                    )));
                }
                return Err(Error::coded(86, format!(
                    "An existing index has the same name as the requested index but a different key. Requested index: {}, existing index: {}",
                    meta.spec(),
                    existing.meta.spec()
                )));
            }
            // Indexes on the same key with different collations may coexist, as in MongoDB.
            if let Some(existing) = collection.indexes.iter().find(|i| {
                same_key_pattern(&i.meta.key, &meta.key) && i.meta.collation == meta.collation
            }) {
                if same_options(&existing.meta, &meta) {
                    return Err(Error::IndexOptionsConflict(format!(
                        "Index already exists with a different name: {}",
                        existing.meta.name
                    )));
                }
                return Err(Error::IndexOptionsConflict(format!(
                    "An equivalent index already exists with a different name and options. Requested index: {}, existing index: {}",
                    meta.spec(),
                    existing.meta.spec()
                )));
            }
            meta.id = self.inner.kv.generate_id()?;
            collection = self.build_index(&collection, meta)?;
        }
        Ok(CreateIndexesOutcome {
            indexes_before,
            indexes_after: index_count(&collection),
            created_collection,
        })
    }

    /// Builds a new index over every document of `collection`, then publishes it. On failure
    /// (a duplicate key in a unique index) the partial index is removed.
    fn build_index(
        &self,
        collection: &Collection,
        mut meta: IndexMeta,
    ) -> Result<std::sync::Arc<Collection>> {
        let tree_name = super::index_tree_name(meta.id);
        let tree = self.inner.kv.tree(&tree_name)?;
        let index = Index::open(meta.clone(), tree.clone())?;
        let ns = collection.meta.namespace();
        let build = || -> Result<bool> {
            let mut multikey = false;
            let mut set = WriteSet::new();
            let mut pending = 0usize;
            for item in collection.docs.iter() {
                let (doc_key, value) = item?;
                let doc = decode_document(&value)?;
                if let Some(keys) = document_keys(&index, &doc)? {
                    multikey |= keys.multikey;
                    for (key, values) in &keys.keys {
                        check_unique(&ns, &index, key, values, &doc_key)?;
                        // Entries of this same build are not yet in the tree: commit as we go
                        // so the uniqueness check sees them.
                        set.put(&tree, entry_key(key, &doc_key), doc_key.as_ref());
                        pending += 1;
                    }
                }
                if pending >= 1000 || index.meta.unique {
                    self.commit_set(std::mem::take(&mut set))?;
                    pending = 0;
                }
            }
            self.commit_set(set)?;
            Ok(multikey)
        };
        match build() {
            Ok(multikey) => {
                meta.multikey = multikey;
                let mut coll_meta = collection.meta.clone();
                coll_meta.indexes.push(meta);
                self.replace_collection_meta(coll_meta, None)
            }
            Err(e) => {
                self.inner.kv.drop_tree(&tree_name)?;
                Err(e)
            }
        }
    }

    /// Drops indexes; returns the number of indexes before.
    pub fn drop_indexes(&self, db: &str, coll: &str, which: IndexSelector) -> Result<usize> {
        let _w = self.writer();
        let Some(collection) = self.writable_collection(db, coll)? else {
            return Err(Error::NamespaceNotFound(format!(
                "ns not found {db}.{coll}"
            )));
        };
        let before = index_count(&collection);
        let doomed: Vec<IndexMeta> = match which {
            // The collated `_id` index stays with the collection.
            IndexSelector::All => collection
                .meta
                .indexes
                .iter()
                .filter(|i| !i.is_id_index())
                .cloned()
                .collect(),
            IndexSelector::Names(names) => {
                let mut out = Vec::new();
                for name in names {
                    if name == "_id_" {
                        return Err(Error::coded(72, "cannot drop _id index"));
                    }
                    match collection.meta.indexes.iter().find(|i| i.name == name) {
                        Some(i) => out.push(i.clone()),
                        None => {
                            return Err(Error::IndexNotFound(format!(
                                "index not found with name [{name}]"
                            )))
                        }
                    }
                }
                out
            }
            IndexSelector::Key(key) => {
                if key == bson::doc! {"_id": 1} {
                    return Err(Error::coded(72, "cannot drop _id index"));
                }
                let matching: Vec<IndexMeta> = collection
                    .meta
                    .indexes
                    .iter()
                    .filter(|i| same_key_pattern(&i.key, &key))
                    .cloned()
                    .collect();
                match matching.len() {
                    0 => return Err(Error::IndexNotFound(format!("can't find index with key: {key}"))),
                    1 => matching,
                    _ => return Err(Error::coded(96, format!("{} indexes found for key: {key}, identify by name instead. Conflicting indexes: ...", matching.len()))),
                }
            }
        };
        let mut meta = collection.meta.clone();
        meta.indexes
            .retain(|i| !doomed.iter().any(|d| d.id == i.id));
        let mut set = WriteSet::new();
        for d in doomed {
            self.inner
                .kv
                .drop_tree_in(&mut set, &super::index_tree_name(d.id))?;
        }
        self.replace_collection_meta(meta, Some(&mut set))?;
        self.commit_set(set)?;
        Ok(before)
    }

    /// `listIndexes` documents, `_id_` first.
    pub fn list_indexes(&self, db: &str, coll: &str) -> Result<Vec<Document>> {
        let Some(collection) = self.writable_collection(db, coll)? else {
            return Err(Error::NamespaceNotFound(format!(
                "ns does not exist: {db}.{coll}"
            )));
        };
        let mut out = vec![collection.meta.id_index().spec()];
        out.extend(
            collection
                .meta
                .indexes
                .iter()
                .filter(|i| !i.is_id_index())
                .map(IndexMeta::spec),
        );
        Ok(out)
    }

    /// For a collection whose default collation is not simple: builds the `_id` index under
    /// it, so `_id` values equal under the collation are duplicates (as in MongoDB, whose
    /// `_id` index has the collection's default collation). The documents tree stays keyed by
    /// the binary encoding of `_id`; this index is an ordinary unique index named `_id_` that
    /// `listIndexes` and `dropIndexes` do not show or drop (the implicit `_id_` stands for it).
    pub fn create_collated_id_index(&self, db: &str, coll: &str) -> Result<()> {
        let _w = self.writer();
        let Some(collection) = self.writable_collection(db, coll)? else {
            return Ok(());
        };
        if collection.meta.default_collation()?.is_none()
            || collection.meta.indexes.iter().any(IndexMeta::is_id_index)
        {
            return Ok(());
        }
        let mut meta = collection.meta.id_index();
        meta.id = self.inner.kv.generate_id()?;
        self.build_index(&collection, meta)?;
        Ok(())
    }
}

/// The number of indexes as MongoDB counts them: the `_id` index (implicit, or collated and
/// stored) and the secondary ones.
fn index_count(collection: &Collection) -> usize {
    1 + collection
        .indexes
        .iter()
        .filter(|i| !i.meta.is_id_index())
        .count()
}
