//! Aggregation expressions (`{$add: ["$a", 1]}`), evaluated against one document.
//!
//! An expression is parsed once into an [`Expr`] tree and evaluated many times. Evaluation
//! returns `Option<Bson>`: `None` is MongoDB's "missing" value, which is distinct from null
//! (an object literal drops a field whose value is missing; `$ifNull` treats both alike).
//!
//! ```
//! use bson::{bson, doc, Bson};
//! use outpost_storage::agg::expr::{Expr, Vars};
//!
//! let vars = Vars::from_let(&doc! {"rate": 2})?;          // `let` values, `$$NOW` fixed once
//! let expr = Expr::parse_with_vars(&bson!({"$multiply": ["$price", "$$rate"]}), &vars)?;
//! for doc in [doc! {"price": 3}, doc! {"price": 5}] {
//!     let value: Option<Bson> = expr.eval(&doc, &vars)?;   // `$$ROOT` = `$$CURRENT` = doc
//!     assert!(value.is_some());
//! }
//! # Ok::<(), outpost_storage::Error>(())
//! ```
//!
//! Operators live in submodules by family; each is one entry in `table.rs`'s
//! `lookup_operator`, which says how its arguments are parsed ([`Shape`]) and which function
//! evaluates it. Operators evaluate their own arguments, so `$cond`, `$and`, `$switch`, ...
//! are lazy like MongoDB's, and argument checks happen in MongoDB's order (so the same error
//! wins).
//!
//! This file holds the parsed tree ([`Expr`], `Operator`, `FieldPath`), the variables
//! ([`Vars`], the evaluation context and its frames) and parsing and evaluation of a node.
//! Beside the operator families: `table.rs` (the operator table), `parse.rs` (object
//! literals, operator documents, argument lists), `path.rs` (field paths and variable names),
//! `control.rs` (`$cond`, `$ifNull`, `$switch`, `$let`, `$literal`, `$rand`), `budget.rs`
//! (memory, depth and string limits).
//!
//! Variables bound by `$let`, `$map`, `$filter` and `$reduce` live in a chain of stack frames
//! ([`Frame`]) so binding one costs no allocation beyond the bound value itself.
//!
//! Error codes and messages follow MongoDB's `expression.cpp`; operators MongoDB has that
//! Outpost does not (`$function`, `$meta`, ...) fail with NotSupported naming them.

// The crate's `Error` is large (DuplicateKey carries two documents); boxing it is the error
// module owner's call, so the lint is allowed here rather than worked around per function.

use bson::{Bson, Document};

use self::budget::{check_result, check_string_len, Budget};
use self::parse::{parse_object_literal, parse_operator, positional_args};
use self::path::{parse_field_path, validate_user_variable_name};
use self::table::eval_not_reached;
use crate::error::{Error, Result};

mod arith;
mod array;
mod budget;
mod control;
mod convert;
mod date;
mod decimal;
pub(crate) mod meta;
mod number;
mod object;
mod parse;
mod path;
mod string;
mod table;
mod trig;
#[cfg(test)]
#[rustfmt::skip] // one case per line, however long
mod tests;

/// Variables in scope for one command: the `let` variables and `$$NOW`. `$$ROOT` and
/// `$$CURRENT` are the document passed to [`Expr::eval`]; variables bound by `$let`, `$map`,
/// `$filter` and `$reduce` are kept on the evaluation stack, not here.
#[derive(Debug, Clone)]
pub struct Vars {
    /// The command's `let` variables (already evaluated to constants).
    pub user: Document,
    /// `$$NOW`: fixed for the whole command so every document sees the same instant.
    pub now: bson::DateTime,
    /// The operation's collation (`None`: simple): string comparisons in `$eq`, `$cmp`,
    /// `$in`, set expressions, ... use it.
    pub collation: Option<std::sync::Arc<crate::value::Collation>>,
}

impl Default for Vars {
    fn default() -> Vars {
        Vars::new(Document::new())
    }
}

impl Vars {
    /// Variables for one command, with `$$NOW` taken from the clock once.
    pub fn new(user: Document) -> Vars {
        Vars {
            user,
            now: bson::DateTime::now(),
            collation: None,
        }
    }

    /// Evaluates a command's `let` document: each value is an expression evaluated against an
    /// empty document, and may use `$$NOW` and the variables defined before it.
    pub fn from_let(let_spec: &Document) -> Result<Vars> {
        let mut vars = Vars::default();
        let empty = Document::new();
        for (name, spec) in let_spec {
            validate_user_variable_name(name)?;
            let expr = Expr::parse(spec)?;
            let value = expr.eval(&empty, &vars)?;
            // A variable bound to a missing value is kept as null: `let` values are constants.
            vars.user.insert(name.clone(), value.unwrap_or(Bson::Null));
        }
        Ok(vars)
    }
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A constant (including `$literal`).
    Constant(Bson),
    /// `"$a.b"` or `"$$var.a.b"`.
    Path(FieldPath),
    /// `{a: <expr>, b: <expr>}`: fields whose value is missing are left out.
    Object(Vec<(String, Expr)>),
    /// `[<expr>, ...]`: missing elements become null.
    Array(Vec<Expr>),
    /// `{$op: args}`.
    Operator(Box<Operator>),
}

/// A field path: a variable (`CURRENT` for `"$a.b"`) and the fields to walk from it.
#[derive(Debug, Clone)]
pub struct FieldPath {
    variable: Variable,
    fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Variable {
    Current,
    Root,
    Now,
    Remove,
    /// `$$KEEP`, `$$PRUNE`, `$$DESCEND` for `$redact`: they evaluate to their own names.
    Redact(&'static str),
    /// A variable bound by `$let`/`$map`/`$filter`/`$reduce` (or `CURRENT` rebound by `$let`).
    Local(String),
    /// A `let` variable of the command, checked when evaluated.
    User(String),
}

/// The function that evaluates one operator, given its parsed arguments.
type EvalFn = fn(&Operator, &Ctx<'_>) -> Result<Option<Bson>>;

/// An operator expression `{$name: args}` with its arguments parsed.
#[derive(Debug, Clone)]
pub struct Operator {
    name: &'static str,
    /// Positional arguments, or named ones in the order of the operator's field list. `None`
    /// is an optional named argument that was not given.
    args: Vec<Option<Expr>>,
    /// Variable names bound by `$let`, `$map`, `$filter`, `$reduce` (in operator-specific
    /// order).
    names: Vec<String>,
    /// An operator-specific number fixed at parse time (`$zip`: how many arguments are
    /// inputs).
    extra: usize,
    /// The last regex compiled by `$regexMatch`/`$regexFind`/`$regexFindAll` with its pattern
    /// and flags, reused while they stay the same (they usually are constants).
    regex_cache: std::sync::OnceLock<(String, String, crate::pcre::Pcre)>,
    eval: EvalFn,
}

/// One bound variable on the evaluation stack.
pub(crate) struct Frame<'a> {
    name: &'a str,
    value: Option<Bson>,
    parent: Option<&'a Frame<'a>>,
}

/// Everything an expression can see while evaluating.
pub(crate) struct Ctx<'a> {
    root: &'a Document,
    vars: &'a Vars,
    frames: Option<&'a Frame<'a>>,
}

impl<'a> Ctx<'a> {
    /// The operation's collation (`None`: simple).
    fn collation(&self) -> Option<&'a crate::value::Collation> {
        self.vars.collation.as_deref()
    }

    /// A context with one more variable bound.
    fn with<'b>(&'b self, frame: &'b Frame<'b>) -> Ctx<'b>
    where
        'a: 'b,
    {
        Ctx {
            root: self.root,
            vars: self.vars,
            frames: Some(frame),
        }
    }

    fn frame<'b>(&'b self, name: &'b str, value: Option<Bson>) -> Frame<'b> {
        Frame {
            name,
            value,
            parent: self.frames,
        }
    }

    fn local(&self, name: &str) -> Option<&'a Frame<'a>> {
        let mut frame = self.frames;
        while let Some(f) = frame {
            if f.name == name {
                return Some(f);
            }
            frame = f.parent;
        }
        None
    }
}

/// MongoDB's truthiness: false, null, missing, undefined and zero of any numeric type are
/// false; everything else (empty strings and arrays included) is true.
pub fn truthy(v: Option<&Bson>) -> bool {
    match v {
        None | Some(Bson::Null) | Some(Bson::Undefined) => false,
        Some(Bson::Boolean(b)) => *b,
        Some(Bson::Int32(i)) => *i != 0,
        Some(Bson::Int64(i)) => *i != 0,
        Some(Bson::Double(d)) => *d != 0.0,
        Some(Bson::Decimal128(d)) => !crate::value::decimal::Dec::from_bson(d).is_zero(),
        Some(_) => true,
    }
}

/// MongoDB's type name (`$type`'s answer, and the word used in error messages).
pub(crate) fn type_name(v: Option<&Bson>) -> &'static str {
    match v {
        None => "missing",
        Some(v) => match v {
            Bson::Double(_) => "double",
            Bson::String(_) => "string",
            Bson::Document(_) => "object",
            Bson::Array(_) => "array",
            Bson::Binary(_) => "binData",
            Bson::Undefined => "undefined",
            Bson::ObjectId(_) => "objectId",
            Bson::Boolean(_) => "bool",
            Bson::DateTime(_) => "date",
            Bson::Null => "null",
            Bson::RegularExpression(_) => "regex",
            Bson::DbPointer(_) => "dbPointer",
            Bson::JavaScriptCode(_) => "javascript",
            Bson::Symbol(_) => "symbol",
            Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
            Bson::Int32(_) => "int",
            Bson::Timestamp(_) => "timestamp",
            Bson::Int64(_) => "long",
            Bson::Decimal128(_) => "decimal",
            Bson::MinKey => "minKey",
            Bson::MaxKey => "maxKey",
        },
    }
}

/// Null, undefined or missing: the values most operators answer with null.
pub(crate) fn is_nullish(v: Option<&Bson>) -> bool {
    matches!(v, None | Some(Bson::Null) | Some(Bson::Undefined))
}

/// How an operator's argument is written.
#[derive(Clone, Copy)]
enum Shape {
    /// Positional arguments (a single non-array argument counts as one), between `min` and
    /// `max` of them (`usize::MAX` for variadic).
    Positional { min: usize, max: usize },
    /// An object of named arguments (see [`NamedArgs`]).
    Named(&'static NamedArgs),
    /// Parsed by its own function.
    Custom(fn(&'static str, &Bson, &mut ParseScope) -> Result<Operator>),
}

/// Parse-time state: names bound by enclosing `$let`/`$map`/`$filter`/`$reduce`.
#[derive(Default)]
pub(crate) struct ParseScope {
    locals: Vec<String>,
    /// The command's `let` variable names when known at parse time, so an undefined
    /// `$$name` is refused while parsing, as MongoDB does.
    user: Option<Vec<String>>,
}

/// How MongoDB words the error for an unknown named argument.
#[derive(Clone, Copy)]
enum UnknownStyle {
    /// "Unrecognized argument to $op: f"
    Argument,
    /// "$op found an unknown argument: f"
    FoundUnknown,
    /// "Unrecognized argument to $op: f. Expected arguments are ..." (the text that follows).
    ArgumentExpected(&'static str),
}

/// How MongoDB words the error for a missing required argument.
#[derive(Clone, Copy)]
enum MissingStyle {
    /// "Missing 'f' parameter to $op"
    Parameter,
    /// "$op requires 'f' to be specified"
    Specified,
    /// "$op requires 'f' parameter"
    RequiresParameter,
    /// "$op requires an 'f' field"
    Field,
    /// "Missing value for 'f'"
    MissingValue,
    /// A fixed message.
    Fixed(&'static str),
}

/// The named arguments of an operator taking `{field: <expr>, ...}`.
pub(crate) struct NamedArgs {
    /// Argument names in evaluation order, each with the error code for its absence (0 when
    /// it is optional).
    fields: &'static [(&'static str, i32)],
    /// The code for an argument that is not an object.
    not_object: i32,
    /// The code for an unknown argument.
    unknown: i32,
    unknown_style: UnknownStyle,
    missing_style: MissingStyle,
}

const fn positional(min: usize, max: usize) -> Shape {
    Shape::Positional { min, max }
}

const VARIADIC: Shape = Shape::Positional {
    min: 0,
    max: usize::MAX,
};

impl Expr {
    /// Parses an expression.
    pub fn parse(expr: &Bson) -> Result<Expr> {
        Expr::parse_in(expr, &mut ParseScope::default())
    }

    /// Parses an expression knowing the command's variables, so that a reference to an
    /// undefined `$$variable` fails at parse time (code 17276) even where it would never be
    /// evaluated, as in MongoDB.
    pub fn parse_with_vars(expr: &Bson, vars: &Vars) -> Result<Expr> {
        let mut scope = ParseScope {
            locals: Vec::new(),
            user: Some(vars.user.keys().cloned().collect()),
        };
        Expr::parse_in(expr, &mut scope)
    }

    /// Parses an object expression `{a: <expr>, b: <expr>}` (as `$addFields` and
    /// `$replaceWith` take), whose field names must not start with `$`.
    pub fn parse_object(spec: &Document) -> Result<Expr> {
        parse_object_literal(spec, &mut ParseScope::default())
    }

    /// The fields of a plain field path `"$a.b"` (`["a", "b"]`), e.g. to recognise a rename.
    pub fn field_path(&self) -> Option<Vec<&str>> {
        match self {
            Expr::Path(FieldPath {
                variable: Variable::Current,
                fields,
            }) if !fields.is_empty() => Some(fields.iter().map(String::as_str).collect()),
            _ => None,
        }
    }

    /// The constant value of this expression, if it is one (e.g. a `$literal`).
    pub fn as_constant(&self) -> Option<&Bson> {
        match self {
            Expr::Constant(v) => Some(v),
            _ => None,
        }
    }

    fn parse_in(expr: &Bson, scope: &mut ParseScope) -> Result<Expr> {
        match expr {
            Bson::String(s) if s.starts_with('$') => Ok(Expr::Path(parse_field_path(s, scope)?)),
            Bson::Document(d) => match d.iter().next() {
                Some((first, _)) if first.starts_with('$') => {
                    if d.len() != 1 {
                        return Err(Error::coded(
                            15983,
                            format!(
                                "An object representing an expression must have exactly one \
                                 field: {d}"
                            ),
                        ));
                    }
                    parse_operator(d, scope)
                }
                _ => parse_object_literal(d, scope),
            },
            Bson::Array(items) => {
                let parsed = items
                    .iter()
                    .map(|item| Expr::parse_in(item, scope))
                    .collect::<Result<Vec<_>>>()?;
                if let Some(values) = all_constants(&parsed) {
                    return Ok(Expr::Constant(Bson::Array(values)));
                }
                Ok(Expr::Array(parsed))
            }
            other => Ok(Expr::Constant(other.clone())),
        }
    }

    /// Evaluates against `root` (which is also `$$CURRENT`). A missing value is `None`.
    pub fn eval(&self, root: &Document, vars: &Vars) -> Result<Option<Bson>> {
        let ctx = Ctx {
            root,
            vars,
            frames: None,
        };
        self.eval_in(&ctx)
    }

    /// Evaluates with `$$CURRENT` (and so `"$field"` paths) bound to `current` while
    /// `$$ROOT` stays `root`, as `$redact` does for sub-documents.
    pub fn eval_with_current(
        &self,
        root: &Document,
        current: &Document,
        vars: &Vars,
    ) -> Result<Option<Bson>> {
        let frame = Frame {
            name: "CURRENT",
            value: Some(Bson::Document(current.clone())),
            parent: None,
        };
        let ctx = Ctx {
            root,
            vars,
            frames: Some(&frame),
        };
        self.eval_in(&ctx)
    }

    fn eval_in(&self, ctx: &Ctx<'_>) -> Result<Option<Bson>> {
        match self {
            Expr::Constant(v) => Ok(Some(v.clone())),
            Expr::Path(path) => path.eval(ctx),
            Expr::Object(fields) => {
                let mut out = Document::new();
                let mut budget = Budget::new("an object expression");
                for (name, expr) in fields {
                    if let Some(v) = expr.eval_in(ctx)? {
                        budget.add(&v)?;
                        out.insert(name.clone(), v);
                    }
                }
                Ok(Some(Bson::Document(out)))
            }
            Expr::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut budget = Budget::new("an array expression");
                for item in items {
                    let v = item.eval_in(ctx)?.unwrap_or(Bson::Null);
                    budget.add(&v)?;
                    out.push(v);
                }
                Ok(Some(Bson::Array(out)))
            }
            Expr::Operator(op) => {
                let result = (op.eval)(op, ctx)?;
                check_result(op.name, &result)?;
                Ok(result)
            }
        }
    }
}

fn all_constants(exprs: &[Expr]) -> Option<Vec<Bson>> {
    exprs.iter().map(|e| e.as_constant().cloned()).collect()
}

impl Operator {
    /// Evaluates argument `i` (missing if it was not given).
    fn arg(&self, i: usize, ctx: &Ctx<'_>) -> Result<Option<Bson>> {
        match self.args.get(i) {
            Some(Some(expr)) => expr.eval_in(ctx),
            _ => Ok(None),
        }
    }

    /// Whether optional argument `i` was given.
    fn has(&self, i: usize) -> bool {
        matches!(self.args.get(i), Some(Some(_)))
    }

    /// Evaluates every argument.
    fn eval_args(&self, ctx: &Ctx<'_>) -> Result<Vec<Option<Bson>>> {
        let mut budget = Budget::new(self.name);
        self.args
            .iter()
            .map(|a| match a {
                Some(expr) => {
                    let v = expr.eval_in(ctx)?;
                    if let Some(v) = &v {
                        budget.add(v)?;
                    }
                    Ok(v)
                }
                None => Ok(None),
            })
            .collect()
    }

    fn new(name: &'static str, args: Vec<Option<Expr>>, names: Vec<String>) -> Operator {
        Operator {
            name,
            args,
            names,
            extra: 0,
            regex_cache: std::sync::OnceLock::new(),
            eval: eval_not_reached,
        }
    }
}
