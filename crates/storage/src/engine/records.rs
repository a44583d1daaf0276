//! Typed internal records: state that belongs to a layer above storage (the sync engine's
//! registry, versions and cursors; the server's users) kept in trees of their own.
//!
//! A record tree is not a collection: no command lists, reads or writes it, it has no history
//! entries and it never syncs. Records are serde types stored as BSON; a record that does not
//! decode as its type is an error (`Corrupt`), never a silent default. Writes commit on their
//! own ([`RecordTree::put`]) or together with documents in a [`super::RemoteBatch`]
//! (`put_record`).

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::kv::Tree;
use super::Storage;
use crate::error::{Error, Result};

/// One tree of records of type `T`, keyed by bytes. Cheap to clone.
pub struct RecordTree<T> {
    pub(super) tree: Tree,
    name: String,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for RecordTree<T> {
    fn clone(&self) -> Self {
        RecordTree {
            tree: self.tree.clone(),
            name: self.name.clone(),
            _type: PhantomData,
        }
    }
}

impl Storage {
    /// The record tree `name` (created if missing). Names are the owner's: `sync.edges`,
    /// `auth.users`, ...
    pub fn records<T: Serialize + DeserializeOwned>(&self, name: &str) -> Result<RecordTree<T>> {
        Ok(RecordTree {
            tree: self.inner.kv.tree(&format!("records/{name}"))?,
            name: name.to_string(),
            _type: PhantomData,
        })
    }
}

impl<T: Serialize + DeserializeOwned> RecordTree<T> {
    pub fn get(&self, key: &[u8]) -> Result<Option<T>> {
        match self.tree.get(key)? {
            Some(bytes) => self.decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Stores `value` under `key` (atomically, on its own).
    pub fn put(&self, key: &[u8], value: &T) -> Result<()> {
        self.tree.insert(key, encode(value)?)?;
        Ok(())
    }

    pub fn remove(&self, key: &[u8]) -> Result<()> {
        self.tree.remove(key)?;
        Ok(())
    }

    /// Every record, in key order.
    pub fn iter(&self) -> impl Iterator<Item = Result<(Vec<u8>, T)>> + '_ {
        self.tree.iter().map(move |item| {
            let (key, bytes) = item?;
            let value = self.decode(&key, &bytes)?;
            Ok((key.to_vec(), value))
        })
    }

    /// The records whose keys start with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &[u8]) -> impl Iterator<Item = Result<(Vec<u8>, T)>> + '_ {
        self.tree.scan_prefix(prefix).map(move |item| {
            let (key, bytes) = item?;
            let value = self.decode(&key, &bytes)?;
            Ok((key.to_vec(), value))
        })
    }

    pub(super) fn decode(&self, key: &[u8], bytes: &[u8]) -> Result<T> {
        bson::from_slice(bytes).map_err(|error| {
            Error::Corrupt(format!(
                "record {}/{}: {error}",
                self.name,
                String::from_utf8_lossy(key)
            ))
        })
    }
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    bson::to_vec(value).map_err(|error| Error::BadValue(format!("cannot encode a record: {error}")))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Cursor {
        seq: u64,
        name: String,
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Other {
        flag: bool,
    }

    #[test]
    fn records_round_trip_and_fail_loudly_on_a_wrong_shape() {
        let storage = Storage::temporary().unwrap();
        let tree = storage.records::<Cursor>("test.cursors").unwrap();
        let cursor = Cursor {
            seq: 1 << 40,
            name: "a".into(),
        };
        tree.put(b"k", &cursor).unwrap();
        assert_eq!(tree.get(b"k").unwrap(), Some(cursor.clone()));
        assert_eq!(tree.iter().count(), 1);
        let wrong = storage.records::<Other>("test.cursors").unwrap();
        let error = wrong.get(b"k").unwrap_err();
        assert!(error.to_string().contains("test.cursors"), "{error}");
        tree.remove(b"k").unwrap();
        assert_eq!(tree.get(b"k").unwrap(), None);
        // Records are not collections.
        assert!(storage.list_databases().is_empty());
    }
}
