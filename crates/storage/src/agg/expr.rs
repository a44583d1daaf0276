//! Aggregation expressions (`{$add: ["$a", 1]}`), evaluated against one document.

use bson::{Bson, Document};

use crate::error::{Error, Result};

/// Variables in scope: `$$ROOT`, `$$CURRENT`, `$$NOW`, `let` variables and those bound by
/// `$let`, `$map`, `$filter` and `$reduce`.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub user: Document,
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub struct Expr {
    source: Bson,
}

impl Expr {
    pub fn parse(expr: &Bson) -> Result<Expr> {
        Err(Error::NotSupported(format!(
            "aggregation expressions are not implemented yet: {expr}"
        )))
    }

    /// Evaluates against `root` (which is also `$$CURRENT`). A missing value is `None`.
    pub fn eval(&self, _root: &Document, _vars: &Vars) -> Result<Option<Bson>> {
        Err(Error::NotSupported(format!(
            "aggregation expressions are not implemented yet: {}",
            self.source
        )))
    }
}
