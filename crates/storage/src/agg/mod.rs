//! The aggregation pipeline: stages over a stream of documents, and the expression language
//! they (and `$expr`, find projections and pipeline updates) use.
//!
//! A [`Pipeline`] is parsed (and fully validated) once, then run. Running pulls documents
//! through the stages as iterators, so non-blocking stages (`$match`, `$project`, `$limit`,
//! ...) hold one document at a time; blocking stages (`$group`, `$sort`, `$bucket`,
//! `$bucketAuto`, `$facet`, `$setWindowFields`) count the BSON size they hold against
//! MongoDB's 100 MB limit, which `allowDiskUse` lifts (everything still runs in memory).
//!
//! Files: `stage.rs` (parsing, position rules; the simple stages in `stage/`), `project.rs`
//! (`$project`, `$addFields`/`$set`, `$unset`), `group.rs` with `group/` and `accumulator.rs`
//! (`$group`, `$bucket`, `$bucketAuto`, `$sortByCount`), `lookup.rs` (`$lookup`, `$graphLookup`,
//! `$unionWith`), `output.rs` (`$out`, `$merge`), `window.rs` with `window/`
//! (`$setWindowFields`, `$fill`).
//! `densify.rs` (`$densify`).
//! Not supported (NotSupported, code 115, naming the stage): `$geoNear`, the
//! search stages, `$changeStream` and the diagnostic stages.

// The crate's `Error` is large (DuplicateKey carries two documents); boxing it is the error
// module's owner's call, so the lint is allowed for the pipeline code as in `expr`.
#![allow(clippy::result_large_err)]

mod accumulator;
mod decimal_math;
mod densify;
pub mod expr;
pub(crate) mod geo_near;
mod group;
mod lookup;
mod output;
mod paths;
mod project;
mod stage;
#[cfg(test)]
mod tests;
mod window;

use bson::{Bson, Document};

use crate::error::{Error, Result};
use expr::Vars;
use stage::{Stage, StageContext};

/// What a pipeline needs from the database besides its input: other collections for
/// `$lookup`/`$unionWith`/`$graphLookup`, and writes for `$out`/`$merge`. The engine
/// implements it.
pub trait AggEnv {
    /// All documents of `db.coll` in natural order (empty if it does not exist).
    fn scan(&self, db: &str, coll: &str) -> Result<Vec<Document>>;
    /// Replaces the contents of `db.coll` with `docs` (creating it), as `$out` does: all or
    /// nothing, failing with DuplicateKey (11000) if two documents share an `_id`. Every
    /// document has an `_id`.
    fn replace_collection(&self, db: &str, coll: &str, docs: Vec<Document>) -> Result<()>;
    /// Inserts one document into `db.coll` (creating it); duplicate `_id` is an error.
    fn insert(&self, db: &str, coll: &str, doc: Document) -> Result<()>;
    /// Replaces the document whose `_id` is `id` in `db.coll`.
    fn replace(&self, db: &str, coll: &str, id: &Bson, doc: Document) -> Result<()>;
    /// Whether `db.coll` has a unique index on exactly `fields` (in any order), which
    /// `$merge` requires for an `on` other than `_id` (MongoDB's error 51183 otherwise).
    /// The default answers yes, which skips the check.
    fn has_unique_index(&self, db: &str, coll: &str, fields: &[String]) -> Result<bool> {
        let _ = (db, coll, fields);
        Ok(true)
    }
}

/// Options of one `aggregate` command.
#[derive(Debug, Clone, Default)]
pub struct AggOptions {
    /// The database the pipeline runs in (for `$lookup`, `$out`, ...).
    pub db: String,
    pub allow_disk_use: bool,
    /// The command's `let` document as given: its expressions are evaluated (once, against
    /// an empty document) when the pipeline runs, and its names validated.
    pub variables: Document,
    /// True for a database-level aggregate (`{aggregate: 1}`), whose pipeline must start with
    /// `$documents`; false for a collection's aggregate, where `$documents` is refused.
    pub database_level: bool,
    /// `maxTimeMS` as a deadline: reading the input past it fails with MaxTimeMSExpired.
    pub deadline: Option<std::time::Instant>,
    /// The command's `collation` document as given (`None`: the collection's default). Under
    /// it strings compare in `$match`, `$sort`, `$group` keys, comparison and set expressions
    /// and `$lookup` equality.
    pub collation: Option<Document>,
}

/// MongoDB's default memory limit of one blocking stage (100 MB).
pub const BLOCKING_STAGE_MEMORY_LIMIT_BYTES: usize = 100 * 1024 * 1024;

/// A parsed pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    sources: Vec<Document>,
    stages: Vec<Stage>,
    memory_limit_bytes: usize,
    /// The first stage is a `$match` with `$text`: the collection read scores the documents
    /// and they carry their score (`text::TEXT_SCORE_FIELD`) for `{$meta: "textScore"}`.
    text_led: bool,
}

/// The stages an update pipeline may use.
const UPDATE_STAGES: &[&str] = &[
    "$addFields",
    "$set",
    "$project",
    "$unset",
    "$replaceRoot",
    "$replaceWith",
];

/// For a `{$match: {$text: ..., rest...}}` stage: `{$match: {rest...}}` (the `$text`
/// arguments checked; with `$text` under an `$or`, the rest is what is outside that `$or`:
/// the collection read applies the whole filter); `None` for any other stage.
fn leading_text_match_rest(source: &Document) -> Result<Option<Document>> {
    let Ok(filter) = source.get_document("$match") else {
        return Ok(None);
    };
    Ok(crate::text::split_text(filter)?.map(|split| bson::doc! {"$match": split.rest}))
}

impl Pipeline {
    /// Parses and validates every stage (unknown stages, misplaced `$out`/`$merge`, bad
    /// arguments), so that errors come before any document is read.
    pub fn parse(stages: &[Document]) -> Result<Pipeline> {
        Pipeline::parse_in(stages, StageContext::TopLevel, &VariableScope::default())
    }

    /// [`Pipeline::parse`] knowing the command's `let` variables, so that a reference to an
    /// undefined `$$variable` fails now (code 17276), even in an expression that would never
    /// be evaluated, as in MongoDB.
    pub fn parse_with_variables(stages: &[Document], variables: &Document) -> Result<Pipeline> {
        let scope = VariableScope::default().with(variables.keys().cloned());
        Pipeline::parse_in(stages, StageContext::TopLevel, &scope)
    }

    pub(crate) fn parse_in(
        stages: &[Document],
        context: StageContext,
        scope: &VariableScope,
    ) -> Result<Pipeline> {
        let mut parsed = Vec::with_capacity(stages.len());
        let mut text_led = false;
        for (index, source) in stages.iter().enumerate() {
            // A top-level pipeline's first `$match` may hold `$text`: the collection read
            // (`Storage::aggregate` gives the stage to `find`) serves it, and the stage keeps
            // the rest of its filter.
            if index == 0 && context == StageContext::TopLevel {
                if let Some(rest) = leading_text_match_rest(source)? {
                    parsed.push(Stage::parse(&rest, stages.get(1), scope)?);
                    text_led = true;
                    continue;
                }
            }
            parsed.push(Stage::parse(source, stages.get(index + 1), scope)?);
        }
        stage::check_positions(&parsed, context)?;
        Ok(Pipeline {
            sources: stages.to_vec(),
            stages: parsed,
            memory_limit_bytes: BLOCKING_STAGE_MEMORY_LIMIT_BYTES,
            text_led,
        })
    }

    /// For a pipeline led by `$text`: the projection that makes the collection read put each
    /// document's score in the hidden field `{$meta: "textScore"}` reads (the documents are
    /// otherwise whole). `None` for any other pipeline.
    pub(crate) fn text_score_projection(&self) -> Option<Document> {
        self.text_led.then(|| {
            let mut projection = Document::new();
            projection.insert(
                crate::text::TEXT_SCORE_FIELD,
                bson::doc! {"$meta": "textScore"},
            );
            projection
        })
    }

    /// Sets the memory limit of blocking stages (MongoDB's default is 100 MB; the server
    /// parameters `internalQueryMaxBlockingSortMemoryUsageBytes` and
    /// `internalDocumentSourceGroupMaxMemoryBytes` change it in MongoDB).
    pub fn with_memory_limit(mut self, bytes: usize) -> Pipeline {
        self.memory_limit_bytes = bytes;
        self
    }

    /// The leading `$match` filter, if any, so the engine can use an index for it.
    /// The pipeline's first stage when it is `$geoNear` (the engine then produces its input).
    pub(crate) fn leading_geo_near(&self) -> Option<&geo_near::GeoNearSpec> {
        match self.stages.first() {
            Some(stage::Stage::GeoNear(spec)) => Some(spec),
            _ => None,
        }
    }

    pub fn leading_match(&self) -> Option<&Document> {
        self.sources
            .first()
            .and_then(|s| s.get_document("$match").ok())
    }

    /// Whether the pipeline ends with `$out` or `$merge`: it then writes its results to a
    /// collection and returns no documents (the cursor is empty).
    pub fn is_write_stage_last(&self) -> bool {
        matches!(self.stages.last(), Some(Stage::Out(_) | Stage::Merge(_)))
    }

    /// Whether the pipeline starts with `$documents` (it then ignores its input, and is the
    /// only kind of pipeline a database-level aggregate accepts).
    pub fn starts_with_documents(&self) -> bool {
        matches!(self.stages.first(), Some(Stage::Documents(_)))
    }

    /// Checks that every stage may be used in an update (`$addFields`/`$set`, `$project`,
    /// `$unset`, `$replaceRoot`/`$replaceWith`); MongoDB refuses others with code 72.
    pub fn check_update_pipeline(&self) -> Result<()> {
        for source in &self.sources {
            let name = source.keys().next().map(String::as_str).unwrap_or("");
            if !UPDATE_STAGES.contains(&name) {
                return Err(Error::coded(
                    72,
                    format!("{name} is not allowed to be used within an update"),
                ));
            }
        }
        Ok(())
    }

    /// Applies a pipeline update (`$set`/`$addFields`, `$unset`, `$project`,
    /// `$replaceRoot`/`$replaceWith`) to one document. `variables` are the update's `let`
    /// values, already evaluated to constants (see `expr::Vars::from_let`).
    pub fn apply_to_document(&self, doc: Document, variables: &Document) -> Result<Document> {
        self.apply_to_document_at(doc, variables, bson::DateTime::now())
    }

    /// [`Pipeline::apply_to_document`] with a given `$$NOW`, so that every document of one
    /// update command sees the same instant, as in MongoDB.
    pub fn apply_to_document_at(
        &self,
        doc: Document,
        variables: &Document,
        now: bson::DateTime,
    ) -> Result<Document> {
        self.apply_to_document_with(doc, variables, now, None)
    }

    /// [`Pipeline::apply_to_document_at`] with expressions comparing strings under
    /// `collation` (an update's).
    pub fn apply_to_document_with(
        &self,
        doc: Document,
        variables: &Document,
        now: bson::DateTime,
        collation: Option<std::sync::Arc<crate::value::Collation>>,
    ) -> Result<Document> {
        self.check_update_pipeline()?;
        let mut context = RunContext::for_document(variables.clone());
        context.now = now;
        context.collation = collation;
        let mut current = doc;
        for stage in &self.stages {
            current = stage.apply_to_one(current, &context)?;
        }
        Ok(current)
    }

    /// Runs the pipeline over `input`. A pipeline ending with `$out`/`$merge` returns no
    /// documents.
    pub fn run(
        &self,
        input: Box<dyn Iterator<Item = Result<Document>> + '_>,
        env: &dyn AggEnv,
        options: &AggOptions,
    ) -> Result<Vec<Document>> {
        let collation = match &options.collation {
            Some(spec) => crate::value::Collation::parse(spec)?,
            None => None,
        };
        self.run_with_collation(input, env, options, collation)
    }

    /// Runs the pipeline with strings compared under `collation` (the operation's, or the
    /// collection's default, resolved by the engine).
    pub fn run_with_collation(
        &self,
        input: Box<dyn Iterator<Item = Result<Document>> + '_>,
        env: &dyn AggEnv,
        options: &AggOptions,
        collation: Option<std::sync::Arc<crate::value::Collation>>,
    ) -> Result<Vec<Document>> {
        if options.database_level && !self.starts_with_documents() {
            let name = self
                .sources
                .first()
                .and_then(|s| s.keys().next().cloned())
                .unwrap_or_default();
            return Err(Error::InvalidNamespace(format!(
                "{{aggregate: 1}} is not valid for '{name}'; a collection is required."
            )));
        }
        if !options.database_level && self.starts_with_documents() {
            return Err(Error::InvalidNamespace(
                "'$documents' can only be run with {aggregate: 1}".into(),
            ));
        }
        // The command's `let` is evaluated once, with the run's `$$NOW`.
        let evaluated = Vars::from_let(&options.variables)?;
        let context = RunContext {
            env: Some(env),
            db: options.db.clone(),
            allow_disk_use: options.allow_disk_use,
            memory_limit_bytes: self.memory_limit_bytes,
            now: evaluated.now,
            variables: evaluated.user,
            collation,
        };
        self.run_with(input, &context)
    }

    /// Runs the stages with an existing context (sub-pipelines of `$lookup`, `$facet`,
    /// `$unionWith`).
    pub(crate) fn run_with<'a>(
        &'a self,
        input: DocStream<'a>,
        context: &'a RunContext<'a>,
    ) -> Result<Vec<Document>> {
        let mut stream = input;
        for stage in &self.stages {
            stream = stage.execute(stream, context)?;
        }
        stream.map(stage::without_text_score).collect()
    }
}

/// A stream of documents between stages.
pub(crate) type DocStream<'a> = Box<dyn Iterator<Item = Result<Document>> + 'a>;

/// What stages see while running: the environment, the limits and the variables.
pub(crate) struct RunContext<'a> {
    /// None when applying an update pipeline to one document.
    pub env: Option<&'a dyn AggEnv>,
    pub db: String,
    pub allow_disk_use: bool,
    pub memory_limit_bytes: usize,
    /// `$$NOW`, fixed for the whole run.
    pub now: bson::DateTime,
    /// User variables: the command's `let`, and in sub-pipelines `$lookup`'s `let`.
    pub variables: Document,
    /// The operation's collation (`None`: simple).
    pub collation: Option<std::sync::Arc<crate::value::Collation>>,
}

impl<'a> RunContext<'a> {
    fn for_document(variables: Document) -> RunContext<'static> {
        RunContext {
            env: None,
            db: String::new(),
            allow_disk_use: false,
            memory_limit_bytes: BLOCKING_STAGE_MEMORY_LIMIT_BYTES,
            now: bson::DateTime::now(),
            variables,
            collation: None,
        }
    }

    /// A memory tracker for a blocking stage of `kind`, under this run's limit and
    /// `allowDiskUse`.
    pub(crate) fn memory_tracker(&self, kind: MemoryLimitKind) -> MemoryTracker {
        MemoryTracker::new(self.memory_limit_bytes, self.allow_disk_use, kind)
    }

    /// The same context with more user variables (a `$lookup`'s `let`).
    pub(crate) fn with_variables(&self, extra: Document) -> RunContext<'a> {
        let mut variables = self.variables.clone();
        for (k, v) in extra {
            variables.insert(k, v);
        }
        RunContext {
            env: self.env,
            db: self.db.clone(),
            allow_disk_use: self.allow_disk_use,
            memory_limit_bytes: self.memory_limit_bytes,
            now: self.now,
            variables,
            collation: self.collation.clone(),
        }
    }

    pub(crate) fn env(&self) -> Result<&'a dyn AggEnv> {
        self.env.ok_or_else(|| {
            Error::coded(
                72,
                "this stage is not allowed to be used within an update".to_string(),
            )
        })
    }

    /// The variables for expression evaluation: `$$NOW` and the user variables.
    pub(crate) fn vars(&self) -> Vars {
        let mut vars = expression_variables(&self.variables, self.now);
        vars.collation = self.collation.clone();
        vars
    }
}

/// The user variables expressions may refer to while a pipeline is parsed. Unchecked (the
/// default) when the caller did not give the command's `let`: references are then checked
/// when evaluated.
#[derive(Debug, Clone, Default)]
pub(crate) struct VariableScope {
    known: Option<Vars>,
}

impl VariableScope {
    /// Parses an expression, checking its `$$variables` when the scope is known.
    pub(crate) fn parse(&self, expr: &Bson) -> Result<expr::Expr> {
        match &self.known {
            Some(vars) => expr::Expr::parse_with_vars(expr, vars),
            None => expr::Expr::parse(expr),
        }
    }

    /// The scope with more variables (a `$lookup`'s or `$merge`'s `let`). Starting from the
    /// default scope, this turns checking on.
    pub(crate) fn with(&self, names: impl IntoIterator<Item = String>) -> VariableScope {
        let mut vars = self.known.clone().unwrap_or_default();
        for name in names {
            vars.user.insert(name, Bson::Null);
        }
        VariableScope { known: Some(vars) }
    }

    /// The same scope with more variables when checking, unchanged otherwise.
    pub(crate) fn extended(&self, names: impl IntoIterator<Item = String>) -> VariableScope {
        match &self.known {
            Some(_) => self.with(names),
            None => self.clone(),
        }
    }
}

/// Builds the expression module's variables. The one place that knows how [`Vars`] carries
/// `$$NOW` and user variables.
pub(crate) fn expression_variables(user: &Document, now: bson::DateTime) -> Vars {
    Vars {
        user: user.clone(),
        now,
        collation: None,
    }
}

/// Tracks the bytes a blocking stage holds and enforces the memory limit.
pub(crate) struct MemoryTracker {
    used: usize,
    limit: usize,
    allow_disk_use: bool,
    kind: MemoryLimitKind,
}

/// Which MongoDB error message a stage uses when it exceeds the limit.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MemoryLimitKind {
    Sort,
    Group,
    Facet,
    SetWindowFields,
}

impl MemoryTracker {
    pub(crate) fn new(limit: usize, allow_disk_use: bool, kind: MemoryLimitKind) -> MemoryTracker {
        MemoryTracker {
            used: 0,
            limit,
            allow_disk_use,
            kind,
        }
    }

    /// Adds `bytes`; fails with code 292 (QueryExceededMemoryLimitNoDiskUseAllowed) when the
    /// total passes the limit and disk use was not allowed. With `allowDiskUse` the stage goes
    /// on in memory.
    pub(crate) fn add(&mut self, bytes: usize) -> Result<()> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limit && !self.allow_disk_use {
            let message = match self.kind {
                MemoryLimitKind::Sort => format!(
                    "Sort exceeded memory limit of {} bytes, but did not opt in to external \
                     sorting. Aborting operation. Pass allowDiskUse:true to opt in.",
                    self.limit
                ),
                MemoryLimitKind::Group => "Exceeded memory limit for $group, but didn't allow \
                                           external sort. Pass allowDiskUse:true to opt in."
                    .to_string(),
                MemoryLimitKind::SetWindowFields => "Exceeded memory limit for \
                                                     $setWindowFields, but didn't allow \
                                                     external sort. Pass allowDiskUse:true to \
                                                     opt in."
                    .to_string(),
                MemoryLimitKind::Facet => format!(
                    "$facet exceeded memory limit of {} bytes. Pass allowDiskUse:true to opt in.",
                    self.limit
                ),
            };
            return Err(Error::coded(292, message));
        }
        Ok(())
    }

    pub(crate) fn release(&mut self, bytes: usize) {
        self.used = self.used.saturating_sub(bytes);
    }
}
