//! `$text` under `$or`, as mongod's planner answers it: the union of the text index's
//! candidates and of an index scan for every other clause of that `$or` (each clause that
//! is itself an `$or` through the union of its clauses). mongod has no collection scan for
//! such a query: a clause no index serves fails it with NoQueryExecutionPlans (291, "Failed
//! to produce a solution for TEXT under OR ..."). The candidates are then checked against the
//! whole filter (`read::text`).

use std::collections::HashSet;
use std::sync::Arc;

use bson::Document;
use sled::IVec;

use super::{choose_plan, ExplainInfo, PlanKind};
use crate::engine::catalog::Collection;
use crate::error::{Error, Result};
use crate::query::Filter;
use crate::text::split::{
    conjunction_ors, holds_text, in_conjunction, or_clauses, or_holding_text,
};
use crate::value::Collation;

/// What the clauses' plans are made with.
pub(super) struct OrContext<'a> {
    pub collection: &'a Collection,
    pub collation: Option<Arc<Collation>>,
    pub variables: &'a Document,
    pub info: &'a Arc<ExplainInfo>,
}

/// Document keys, each once, in the order found.
#[derive(Default)]
struct Union {
    seen: HashSet<IVec>,
    keys: Vec<IVec>,
}

impl Union {
    fn push(&mut self, key: IVec) {
        if self.seen.insert(key.clone()) {
            self.keys.push(key);
        }
    }
}

/// mongod's planner error for an `$or` with `$text` and a clause no index serves.
pub(crate) fn text_under_or_error() -> Error {
    Error::coded(
        291,
        "error processing query: planner returned error :: caused by :: Failed to produce a \
         solution for TEXT under OR - other non-TEXT clauses under OR have to be indexed as well.",
    )
}

impl OrContext<'_> {
    /// The candidates of `filter`, whose `$text` is under an `$or`: the text index's `text`
    /// first (so a document both give is the search's, with its score, as in mongod), then
    /// each other clause's.
    pub(super) fn candidates(&self, filter: &Document, text: Vec<IVec>) -> Result<Vec<IVec>> {
        let mut out = Union::default();
        for key in text.iter().cloned() {
            out.push(key);
        }
        self.holding_text(filter, &mut out)?;
        Ok(out.keys)
    }

    /// Adds the candidates of the clauses of the `$or` holding `$text` in `conjunction`
    /// (the text index's are in already).
    fn holding_text(&self, conjunction: &Document, out: &mut Union) -> Result<()> {
        if in_conjunction(conjunction) {
            return Ok(());
        }
        let Some(or) = or_holding_text(conjunction) else {
            return Ok(());
        };
        for clause in or_clauses(or) {
            if holds_text(clause) {
                self.holding_text(clause, out)?;
            } else if !self.indexed(clause, out)? {
                return Err(text_under_or_error());
            }
        }
        Ok(())
    }

    /// Adds the documents an index scan gives for `conjunction` (which has no `$text`);
    /// `false` when no index serves it.
    fn indexed(&self, conjunction: &Document, out: &mut Union) -> Result<bool> {
        let filter =
            Filter::parse_with_collation(conjunction, self.variables, self.collation.clone())?;
        let plan = choose_plan(self.collection, &filter, None, None)?;
        if plan.kind != PlanKind::CollScan {
            let scan = plan.scan(self.collection.docs.clone(), self.info.clone(), None);
            for found in scan {
                if let Some(found) = found? {
                    out.push(found.key);
                }
            }
            return Ok(true);
        }
        // An `$or` of the conjunction whose clauses are all indexed serves it too.
        'ors: for or in conjunction_ors(conjunction) {
            let mut union = Union::default();
            for clause in or_clauses(or) {
                if !self.indexed(clause, &mut union)? {
                    continue 'ors;
                }
            }
            for key in union.keys {
                out.push(key);
            }
            return Ok(true);
        }
        Ok(false)
    }
}
