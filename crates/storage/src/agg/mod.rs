//! The aggregation pipeline: stages over a stream of documents, and the expression language
//! they (and `$expr`, find projections and pipeline updates) use.

pub mod expr;

use bson::{Bson, Document};

use crate::error::{Error, Result};

/// What a pipeline needs from the database besides its input: other collections for
/// `$lookup`/`$unionWith`, and writes for `$out`/`$merge`. The engine implements it.
pub trait AggEnv {
    /// All documents of `db.coll` in natural order (empty if it does not exist).
    fn scan(&self, db: &str, coll: &str) -> Result<Vec<Document>>;
    /// Replaces the contents of `db.coll` with `docs` (creating it), as `$out` does.
    fn replace_collection(&self, db: &str, coll: &str, docs: Vec<Document>) -> Result<()>;
    /// Inserts one document into `db.coll` (creating it); duplicate `_id` is an error.
    fn insert(&self, db: &str, coll: &str, doc: Document) -> Result<()>;
    /// Replaces the document whose `_id` is `id` in `db.coll`.
    fn replace(&self, db: &str, coll: &str, id: &Bson, doc: Document) -> Result<()>;
}

/// Options of one `aggregate` command.
#[derive(Debug, Clone, Default)]
pub struct AggOptions {
    /// The database the pipeline runs in (for `$lookup`, `$out`, ...).
    pub db: String,
    pub allow_disk_use: bool,
    /// The command's `let` variables.
    pub variables: Document,
}

/// A parsed pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    stages: Vec<Document>,
}

impl Pipeline {
    pub fn parse(stages: &[Document]) -> Result<Pipeline> {
        Ok(Pipeline {
            stages: stages.to_vec(),
        })
    }

    /// The leading `$match` filter, if any, so the engine can use an index for it.
    pub fn leading_match(&self) -> Option<&Document> {
        self.stages
            .first()
            .and_then(|s| s.get_document("$match").ok())
    }

    /// Applies a pipeline update (`$set`/`$addFields`, `$unset`, `$project`,
    /// `$replaceRoot`/`$replaceWith`) to one document.
    pub fn apply_to_document(&self, _doc: Document, _variables: &Document) -> Result<Document> {
        Err(Error::NotSupported(
            "pipeline updates are not implemented yet".into(),
        ))
    }

    /// Runs the pipeline over `input`.
    pub fn run(
        &self,
        _input: Box<dyn Iterator<Item = Result<Document>> + '_>,
        _env: &dyn AggEnv,
        _options: &AggOptions,
    ) -> Result<Vec<Document>> {
        Err(Error::NotSupported(
            "aggregate is not implemented yet".into(),
        ))
    }
}
