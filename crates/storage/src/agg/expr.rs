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
//! Operators live in submodules by family; each is one entry in [`lookup_operator`], which
//! says how its arguments are parsed ([`Shape`]) and which function evaluates it. Operators
//! evaluate their own arguments, so `$cond`, `$and`, `$switch`, ... are lazy like MongoDB's,
//! and argument checks happen in MongoDB's order (so the same error wins).
//!
//! Variables bound by `$let`, `$map`, `$filter` and `$reduce` live in a chain of stack frames
//! ([`Frame`]) so binding one costs no allocation beyond the bound value itself.
//!
//! Error codes and messages follow MongoDB's `expression.cpp`; operators MongoDB has that
//! Outpost does not (`$function`, `$meta`, ...) fail with NotSupported naming them.

// The crate's `Error` is large (DuplicateKey carries two documents); boxing it is the error
// module owner's call, so the lint is allowed here rather than worked around per function.

use bson::{Bson, Document};

use crate::error::{Error, Result};

mod arith;
mod array;
mod convert;
mod date;
mod decimal;
pub(crate) mod meta;
mod number;
mod object;
mod string;
mod trig;
#[cfg(test)]
#[rustfmt::skip] // one case per line, however long
mod tests;

/// The longest string an expression may build: MongoDB refuses strings of 16 MB and more
/// with 16493.
const MAX_STRING_BYTES: usize = 16 * 1024 * 1024;

/// The most an expression may build or hold at once in arrays, documents and argument lists:
/// the memory limit of a blocking stage (100 MB), past which MongoDB fails with
/// ExceededMemoryLimit (146).
const MAX_VALUE_BYTES: usize = super::BLOCKING_STAGE_MEMORY_LIMIT_BYTES;

fn string_too_long() -> Error {
    Error::coded(16493, "Tried to create string longer than 16MB")
}

fn too_much_memory(name: &str) -> Error {
    Error::coded(
        146,
        format!(
            "{name} used too much memory and cannot spill to disk. Memory limit: \
             {MAX_VALUE_BYTES} bytes"
        ),
    )
}

/// Counts the memory of the values an expression builds or holds (elements of an array or
/// document being built, evaluated arguments), refusing more than [`MAX_VALUE_BYTES`] or
/// values nested deeper than 200 levels. Every operator's result is also checked
/// ([`check_result`]); together they bound what any expression can make, however it nests
/// (`$reduce` doubling a string or an array or wrapping a document, `$map` over a large
/// range, `$let` binding many large values).
pub(super) struct Budget {
    name: &'static str,
    used: usize,
}

/// The most levels of documents and arrays a value built by an expression may have
/// (MongoDB's BSON depth limit).
const MAX_VALUE_DEPTH: usize = 200;

impl Budget {
    pub(super) fn new(name: &'static str) -> Budget {
        Budget { name, used: 0 }
    }

    /// Counts `value`; refuses it when the total passes the limit.
    pub(super) fn add(&mut self, value: &Bson) -> Result<()> {
        self.used = self.used.saturating_add(memory_size(value)?);
        if self.used > MAX_VALUE_BYTES {
            return Err(too_much_memory(self.name));
        }
        Ok(())
    }
}

/// The memory `value` holds: each value's in-memory slot (a `Bson`, far larger than the 16
/// bytes MongoDB's `Value` takes) plus the bytes of its strings, keys and binaries, walked
/// without recursion; refuses a value nested deeper than [`MAX_VALUE_DEPTH`] (dropping or
/// encoding one recurses per level). Counting the real slot keeps the bound a bound on this
/// process's memory, at the price of refusing arrays of small values sooner than MongoDB does.
fn memory_size(value: &Bson) -> Result<usize> {
    let slot = std::mem::size_of::<Bson>();
    let mut total = 0usize;
    let mut stack = vec![(value, 1usize)];
    while let Some((value, depth)) = stack.pop() {
        total = total.saturating_add(slot);
        match value {
            Bson::Document(_) | Bson::Array(_) if depth > MAX_VALUE_DEPTH => {
                return Err(Error::coded(
                    15,
                    format!(
                        "an expression built a value nested deeper than {MAX_VALUE_DEPTH} levels"
                    ),
                ));
            }
            Bson::Document(d) => {
                for (key, v) in d {
                    total = total.saturating_add(std::mem::size_of::<String>() + key.len());
                    stack.push((v, depth + 1));
                }
            }
            Bson::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            other => {
                total = total.saturating_add(crate::value::size::value_size(other));
            }
        }
        if total > MAX_VALUE_BYTES {
            // Already over: the caller refuses it; no need to walk the rest.
            return Ok(total);
        }
    }
    Ok(total)
}

/// Refuses a result string of 16 MB or more, and a result array or document over the memory
/// limit.
fn check_result(name: &'static str, value: &Option<Bson>) -> Result<()> {
    match value {
        Some(Bson::String(s)) if s.len() >= MAX_STRING_BYTES => Err(string_too_long()),
        Some(v @ (Bson::Array(_) | Bson::Document(_))) => Budget::new(name).add(v),
        _ => Ok(()),
    }
}

/// Refuses a string about to grow to `len` bytes.
pub(super) fn check_string_len(len: usize) -> Result<()> {
    if len >= MAX_STRING_BYTES {
        return Err(string_too_long());
    }
    Ok(())
}

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

/// The table of operators: name -> (argument shape, evaluation function). Returns the static
/// name too, so the parsed operator can name itself in errors without allocating.
fn lookup_operator(name: &str) -> Option<(&'static str, Shape, EvalFn)> {
    use arith as a;
    use array as ar;
    use convert as c;
    use date as d;
    use object as o;
    use string as s;
    use trig as t;
    let entry: (&'static str, Shape, EvalFn) = match name {
        // Arithmetic.
        "$add" => ("$add", VARIADIC, a::add),
        "$subtract" => ("$subtract", positional(2, 2), a::subtract),
        "$multiply" => ("$multiply", VARIADIC, a::multiply),
        "$divide" => ("$divide", positional(2, 2), a::divide),
        "$mod" => ("$mod", positional(2, 2), a::modulo),
        "$abs" => ("$abs", positional(1, 1), a::abs),
        "$ceil" => ("$ceil", positional(1, 1), a::ceil),
        "$floor" => ("$floor", positional(1, 1), a::floor),
        "$round" => ("$round", positional(1, 2), a::round),
        "$trunc" => ("$trunc", positional(1, 2), a::trunc),
        "$sqrt" => ("$sqrt", positional(1, 1), a::sqrt),
        "$pow" => ("$pow", positional(2, 2), a::pow),
        "$exp" => ("$exp", positional(1, 1), a::exp),
        "$ln" => ("$ln", positional(1, 1), a::ln),
        "$log" => ("$log", positional(2, 2), a::log),
        "$log10" => ("$log10", positional(1, 1), a::log10),
        // Trigonometry.
        "$sin" => ("$sin", positional(1, 1), t::sin),
        "$cos" => ("$cos", positional(1, 1), t::cos),
        "$tan" => ("$tan", positional(1, 1), t::tan),
        "$asin" => ("$asin", positional(1, 1), t::asin),
        "$acos" => ("$acos", positional(1, 1), t::acos),
        "$atan" => ("$atan", positional(1, 1), t::atan),
        "$atan2" => ("$atan2", positional(2, 2), t::atan2),
        "$sinh" => ("$sinh", positional(1, 1), t::sinh),
        "$cosh" => ("$cosh", positional(1, 1), t::cosh),
        "$tanh" => ("$tanh", positional(1, 1), t::tanh),
        "$asinh" => ("$asinh", positional(1, 1), t::asinh),
        "$acosh" => ("$acosh", positional(1, 1), t::acosh),
        "$atanh" => ("$atanh", positional(1, 1), t::atanh),
        "$degreesToRadians" => ("$degreesToRadians", positional(1, 1), t::degrees_to_radians),
        "$radiansToDegrees" => ("$radiansToDegrees", positional(1, 1), t::radians_to_degrees),
        // Comparison and boolean.
        "$cmp" => ("$cmp", positional(2, 2), a::cmp),
        "$eq" => ("$eq", positional(2, 2), a::eq),
        "$ne" => ("$ne", positional(2, 2), a::ne),
        "$gt" => ("$gt", positional(2, 2), a::gt),
        "$gte" => ("$gte", positional(2, 2), a::gte),
        "$lt" => ("$lt", positional(2, 2), a::lt),
        "$lte" => ("$lte", positional(2, 2), a::lte),
        "$and" => ("$and", VARIADIC, a::and),
        "$or" => ("$or", VARIADIC, a::or),
        "$not" => ("$not", positional(1, 1), a::not),
        // Conditionals and variables.
        "$cond" => ("$cond", Shape::Custom(parse_cond), a::cond),
        "$ifNull" => ("$ifNull", Shape::Custom(parse_if_null), a::if_null),
        "$switch" => ("$switch", Shape::Custom(parse_switch), a::switch),
        "$literal" => ("$literal", Shape::Custom(parse_literal), eval_not_reached),
        "$const" => ("$const", Shape::Custom(parse_literal), eval_not_reached),
        "$let" => ("$let", Shape::Custom(parse_let), eval_let),
        "$rand" => ("$rand", Shape::Custom(parse_rand), a::rand),
        "$meta" => ("$meta", Shape::Custom(meta::parse_meta), meta::meta),
        // Strings.
        "$concat" => ("$concat", VARIADIC, s::concat),
        // MongoDB parses the deprecated $substr as $substrBytes (and names it so in errors).
        "$substr" => ("$substrBytes", positional(3, 3), s::substr_bytes),
        "$substrBytes" => ("$substrBytes", positional(3, 3), s::substr_bytes),
        "$substrCP" => ("$substrCP", positional(3, 3), s::substr_cp),
        "$toLower" => ("$toLower", positional(1, 1), s::to_lower),
        "$toUpper" => ("$toUpper", positional(1, 1), s::to_upper),
        "$split" => ("$split", positional(2, 2), s::split),
        "$trim" => ("$trim", s::TRIM_SHAPE, s::trim),
        "$ltrim" => ("$ltrim", s::TRIM_SHAPE, s::ltrim),
        "$rtrim" => ("$rtrim", s::TRIM_SHAPE, s::rtrim),
        "$strLenCP" => ("$strLenCP", positional(1, 1), s::str_len_cp),
        "$strLenBytes" => ("$strLenBytes", positional(1, 1), s::str_len_bytes),
        "$indexOfCP" => ("$indexOfCP", positional(2, 4), s::index_of_cp),
        "$indexOfBytes" => ("$indexOfBytes", positional(2, 4), s::index_of_bytes),
        "$strcasecmp" => ("$strcasecmp", positional(2, 2), s::strcasecmp),
        "$regexMatch" => ("$regexMatch", s::REGEX_SHAPE, s::regex_match),
        "$regexFind" => ("$regexFind", s::REGEX_SHAPE, s::regex_find),
        "$regexFindAll" => ("$regexFindAll", s::REGEX_SHAPE, s::regex_find_all),
        "$replaceOne" => ("$replaceOne", s::REPLACE_SHAPE, s::replace_one),
        "$replaceAll" => ("$replaceAll", s::REPLACE_SHAPE, s::replace_all),
        // Arrays.
        "$size" => ("$size", positional(1, 1), ar::size),
        "$arrayElemAt" => ("$arrayElemAt", positional(2, 2), ar::array_elem_at),
        "$filter" => ("$filter", Shape::Custom(ar::parse_filter), ar::filter),
        "$map" => ("$map", Shape::Custom(ar::parse_map), ar::map),
        "$reduce" => ("$reduce", Shape::Custom(ar::parse_reduce), ar::reduce),
        "$in" => ("$in", positional(2, 2), ar::in_array),
        "$slice" => ("$slice", positional(2, 3), ar::slice),
        "$concatArrays" => ("$concatArrays", VARIADIC, ar::concat_arrays),
        "$range" => ("$range", positional(2, 3), ar::range),
        "$reverseArray" => ("$reverseArray", positional(1, 1), ar::reverse_array),
        "$first" => ("$first", positional(1, 1), ar::first),
        "$last" => ("$last", positional(1, 1), ar::last),
        "$indexOfArray" => ("$indexOfArray", positional(2, 4), ar::index_of_array),
        "$isArray" => ("$isArray", positional(1, 1), ar::is_array),
        "$zip" => ("$zip", ar::ZIP_SHAPE, ar::zip),
        "$sortArray" => ("$sortArray", ar::SORT_ARRAY_SHAPE, ar::sort_array),
        "$firstN" => ("$firstN", ar::N_SHAPE, ar::first_n),
        "$lastN" => ("$lastN", ar::N_SHAPE, ar::last_n),
        "$maxN" => ("$maxN", ar::N_SHAPE, ar::max_n),
        "$minN" => ("$minN", ar::N_SHAPE, ar::min_n),
        "$allElementsTrue" => ("$allElementsTrue", positional(1, 1), ar::all_elements_true),
        "$anyElementTrue" => ("$anyElementTrue", positional(1, 1), ar::any_element_true),
        "$setUnion" => ("$setUnion", VARIADIC, ar::set_union),
        "$setIntersection" => ("$setIntersection", VARIADIC, ar::set_intersection),
        "$setDifference" => ("$setDifference", positional(2, 2), ar::set_difference),
        "$setEquals" => (
            "$setEquals",
            Shape::Custom(ar::parse_set_equals),
            ar::set_equals,
        ),
        "$setIsSubset" => ("$setIsSubset", positional(2, 2), ar::set_is_subset),
        "$sum" => ("$sum", VARIADIC, ar::sum),
        "$avg" => ("$avg", VARIADIC, ar::avg),
        "$min" => ("$min", VARIADIC, ar::min),
        "$max" => ("$max", VARIADIC, ar::max),
        "$stdDevPop" => ("$stdDevPop", VARIADIC, ar::std_dev_pop),
        "$stdDevSamp" => ("$stdDevSamp", VARIADIC, ar::std_dev_samp),
        // Objects.
        "$mergeObjects" => ("$mergeObjects", VARIADIC, o::merge_objects),
        "$getField" => ("$getField", Shape::Custom(o::parse_get_field), o::get_field),
        "$setField" => ("$setField", o::SET_FIELD_SHAPE, o::set_field),
        "$unsetField" => ("$unsetField", o::UNSET_FIELD_SHAPE, o::unset_field),
        "$objectToArray" => ("$objectToArray", positional(1, 1), o::object_to_array),
        "$arrayToObject" => ("$arrayToObject", positional(1, 1), o::array_to_object),
        // Dates.
        "$year" => ("$year", d::PART_SHAPE, d::year),
        "$month" => ("$month", d::PART_SHAPE, d::month),
        "$dayOfMonth" => ("$dayOfMonth", d::PART_SHAPE, d::day_of_month),
        "$dayOfWeek" => ("$dayOfWeek", d::PART_SHAPE, d::day_of_week),
        "$dayOfYear" => ("$dayOfYear", d::PART_SHAPE, d::day_of_year),
        "$hour" => ("$hour", d::PART_SHAPE, d::hour),
        "$minute" => ("$minute", d::PART_SHAPE, d::minute),
        "$second" => ("$second", d::PART_SHAPE, d::second),
        "$millisecond" => ("$millisecond", d::PART_SHAPE, d::millisecond),
        "$week" => ("$week", d::PART_SHAPE, d::week),
        "$isoWeek" => ("$isoWeek", d::PART_SHAPE, d::iso_week),
        "$isoWeekYear" => ("$isoWeekYear", d::PART_SHAPE, d::iso_week_year),
        "$isoDayOfWeek" => ("$isoDayOfWeek", d::PART_SHAPE, d::iso_day_of_week),
        "$dateToString" => ("$dateToString", d::DATE_TO_STRING_SHAPE, d::date_to_string),
        "$dateFromString" => (
            "$dateFromString",
            d::DATE_FROM_STRING_SHAPE,
            d::date_from_string,
        ),
        "$dateToParts" => ("$dateToParts", d::DATE_TO_PARTS_SHAPE, d::date_to_parts),
        "$dateFromParts" => (
            "$dateFromParts",
            d::DATE_FROM_PARTS_SHAPE,
            d::date_from_parts,
        ),
        "$dateAdd" => ("$dateAdd", d::DATE_ADD_SHAPE, d::date_add),
        "$dateSubtract" => ("$dateSubtract", d::DATE_ADD_SHAPE, d::date_subtract),
        "$dateDiff" => ("$dateDiff", d::DATE_DIFF_SHAPE, d::date_diff),
        "$dateTrunc" => ("$dateTrunc", d::DATE_TRUNC_SHAPE, d::date_trunc),
        // Types.
        "$type" => ("$type", positional(1, 1), c::type_of),
        "$convert" => ("$convert", c::CONVERT_SHAPE, c::convert),
        "$toInt" => ("$toInt", c::SHORTHAND_SHAPE, c::to_int),
        "$toLong" => ("$toLong", c::SHORTHAND_SHAPE, c::to_long),
        "$toDouble" => ("$toDouble", c::SHORTHAND_SHAPE, c::to_double),
        "$toDecimal" => ("$toDecimal", c::SHORTHAND_SHAPE, c::to_decimal),
        "$toString" => ("$toString", c::SHORTHAND_SHAPE, c::to_string),
        "$toBool" => ("$toBool", c::SHORTHAND_SHAPE, c::to_bool),
        "$toDate" => ("$toDate", c::SHORTHAND_SHAPE, c::to_date),
        "$toObjectId" => ("$toObjectId", c::SHORTHAND_SHAPE, c::to_object_id),
        "$isNumber" => ("$isNumber", positional(1, 1), c::is_number),
        "$bsonSize" => ("$bsonSize", positional(1, 1), o::bson_size),
        "$binarySize" => ("$binarySize", positional(1, 1), o::binary_size),
        "$tsSecond" => ("$tsSecond", positional(1, 1), d::ts_second),
        "$tsIncrement" => ("$tsIncrement", positional(1, 1), d::ts_increment),
        _ => return None,
    };
    Some(entry)
}

/// Operators MongoDB has that Outpost deliberately does not implement.
const UNSUPPORTED_OPERATORS: &[&str] = &[
    "$function",
    "$accumulator",
    "$where",
    "$toHashedIndexKey",
    "$median",
    "$percentile",
    "$top",
    "$topN",
    "$bottom",
    "$bottomN",
    "$getSeqNumber",
    "$internalJsEmit",
    "$encStrStartsWith",
];

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

fn parse_object_literal(d: &Document, scope: &mut ParseScope) -> Result<Expr> {
    let mut fields: Vec<(String, Expr)> = Vec::with_capacity(d.len());
    for (name, value) in d {
        validate_field_name(name)?;
        if fields.iter().any(|(n, _)| n == name) {
            return Err(Error::coded(
                16406,
                format!("duplicate field name specified in object literal: {d}"),
            ));
        }
        fields.push((name.clone(), Expr::parse_in(value, scope)?));
    }
    if fields.iter().all(|(_, e)| e.as_constant().is_some()) {
        let mut out = Document::new();
        for (name, e) in fields {
            if let Expr::Constant(v) = e {
                out.insert(name, v);
            }
        }
        return Ok(Expr::Constant(Bson::Document(out)));
    }
    Ok(Expr::Object(fields))
}

/// MongoDB's rules for a field name inside a path or object literal.
fn validate_field_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::coded(
            15998,
            "FieldPath field names may not be empty strings.",
        ));
    }
    if name.starts_with('$') {
        return Err(Error::coded(
            16410,
            format!(
                "FieldPath field names may not start with '$'. Consider using $getField or \
                 $setField. ('{name}')"
            ),
        ));
    }
    if name.contains('\0') {
        return Err(Error::coded(
            16411,
            "FieldPath field names may not contain '\\0'.",
        ));
    }
    if name.contains('.') {
        return Err(Error::coded(
            16412,
            format!("FieldPath field names may not contain '.'. ('{name}')"),
        ));
    }
    Ok(())
}

/// Checks a variable name being bound (`$let`, `as`, a command's `let`): MongoDB's
/// `uassertValidNameForUserWrite`. `CURRENT` is the one system variable that may be rebound.
fn validate_user_variable_name(name: &str) -> Result<()> {
    if name == "CURRENT" {
        return Ok(());
    }
    if name.is_empty() {
        return Err(Error::coded(16866, "empty variable names are not allowed"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || !c.is_ascii()) {
        return Err(Error::coded(
            16867,
            format!("'{name}' starts with an invalid character for a user variable name"),
        ));
    }
    check_variable_characters(name, 16868)
}

/// Checks a variable name being read (`$$name`): MongoDB's `uassertValidNameForUserRead`.
fn validate_variable_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::coded(16869, "empty variable names are not allowed"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || !c.is_ascii()) {
        return Err(Error::coded(
            16870,
            format!("'{name}' starts with an invalid character for a variable name"),
        ));
    }
    check_variable_characters(name, 16871)
}

/// Letters, digits, `_` and non-ASCII characters after the first.
fn check_variable_characters(name: &str, code: i32) -> Result<()> {
    for c in name.chars().skip(1) {
        if !(c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()) {
            return Err(Error::coded(
                code,
                format!("'{name}' contains an invalid character for a variable name: '{c}'"),
            ));
        }
    }
    Ok(())
}

fn parse_field_path(s: &str, scope: &ParseScope) -> Result<FieldPath> {
    crate::value::path::check_path_length(s)?;
    if let Some(rest) = s.strip_prefix("$$") {
        let mut parts = rest.split('.');
        let name = parts.next().unwrap_or("");
        validate_variable_name(name)?;
        let fields = parts
            .map(|p| validate_field_name(p).map(|_| p.to_string()))
            .collect::<Result<Vec<_>>>()?;
        let variable = if scope.locals.iter().any(|l| l == name) {
            Variable::Local(name.to_string())
        } else {
            match name {
                "CURRENT" => Variable::Current,
                "ROOT" => Variable::Root,
                "NOW" => Variable::Now,
                "REMOVE" => Variable::Remove,
                "KEEP" => Variable::Redact("keep"),
                "PRUNE" => Variable::Redact("prune"),
                "DESCEND" => Variable::Redact("descend"),
                "CLUSTER_TIME" | "SEARCH_META" | "USER_ROLES" | "SEARCH_SCORE" => {
                    return Err(Error::NotSupported(format!(
                        "the system variable $${name} is not supported"
                    )))
                }
                _ => {
                    let known = match &scope.user {
                        Some(user) => user.iter().any(|u| u == name),
                        None => name.starts_with(|c: char| c.is_ascii_lowercase() || !c.is_ascii()),
                    };
                    if !known {
                        return Err(Error::coded(
                            17276,
                            format!("Use of undefined variable: {name}"),
                        ));
                    }
                    Variable::User(name.to_string())
                }
            }
        };
        return Ok(FieldPath { variable, fields });
    }
    let rest = s.strip_prefix('$').unwrap_or(s);
    if rest.is_empty() {
        return Err(Error::coded(
            16872,
            "'$' by itself is not a valid FieldPath",
        ));
    }
    let fields = rest
        .split('.')
        .map(|p| validate_field_name(p).map(|_| p.to_string()))
        .collect::<Result<Vec<_>>>()?;
    Ok(FieldPath {
        variable: Variable::Current,
        fields,
    })
}

impl FieldPath {
    fn eval(&self, ctx: &Ctx<'_>) -> Result<Option<Bson>> {
        match &self.variable {
            Variable::Current => match ctx.local("CURRENT") {
                Some(frame) => Ok(walk_value(frame.value.as_ref(), &self.fields)),
                None => Ok(walk_document(ctx.root, &self.fields)),
            },
            Variable::Root => Ok(walk_document(ctx.root, &self.fields)),
            Variable::Now => Ok(walk_value(
                Some(&Bson::DateTime(ctx.vars.now)),
                &self.fields,
            )),
            Variable::Remove => Ok(None),
            Variable::Redact(word) => Ok(walk_value(
                Some(&Bson::String((*word).to_string())),
                &self.fields,
            )),
            Variable::Local(name) => match ctx.local(name) {
                Some(frame) => Ok(walk_value(frame.value.as_ref(), &self.fields)),
                None => Err(Error::coded(
                    17276,
                    format!("Use of undefined variable: {name}"),
                )),
            },
            Variable::User(name) => match ctx.local(name) {
                Some(frame) => Ok(walk_value(frame.value.as_ref(), &self.fields)),
                None => match ctx.vars.user.get(name) {
                    Some(v) => Ok(walk_value(Some(v), &self.fields)),
                    None => Err(Error::coded(
                        17276,
                        format!("Use of undefined variable: {name}"),
                    )),
                },
            },
        }
    }
}

/// Walks `fields` from a value: the whole value for an empty path, into a document, or over
/// an array as [`walk_array`] does; anything else has no fields (missing).
fn walk_value(v: Option<&Bson>, fields: &[String]) -> Option<Bson> {
    if fields.is_empty() {
        return match v {
            Some(Bson::Document(d)) => Some(Bson::Document(whole_document(d))),
            other => other.cloned(),
        };
    }
    match v {
        Some(Bson::Document(d)) => walk_document(d, fields),
        Some(Bson::Array(items)) => Some(walk_array(items, fields)),
        _ => None,
    }
}

/// MongoDB's expression field path: into sub-documents; over an array, the array of the
/// path's values in its document elements (non-documents and missing values skipped).
fn walk_document(d: &Document, fields: &[String]) -> Option<Bson> {
    // `$$ROOT` / `$$CURRENT` with no path: the whole document.
    let Some((first, rest)) = fields.split_first() else {
        return Some(Bson::Document(whole_document(d)));
    };

    let v = d.get(first)?;
    if rest.is_empty() {
        return Some(v.clone());
    }
    match v {
        Bson::Document(sub) => walk_document(sub, rest),
        Bson::Array(items) => Some(walk_array(items, rest)),
        _ => None,
    }
}

/// A whole document as an expression value: without the hidden text score a `$text`-led
/// pipeline carries (it is metadata, not a field).
fn whole_document(d: &Document) -> Document {
    let mut out = d.clone();
    crate::text::strip_text_score(&mut out);
    out
}

fn walk_array(items: &[Bson], fields: &[String]) -> Bson {
    let mut out = Vec::new();
    for item in items {
        if let Bson::Document(d) = item {
            if let Some(v) = walk_document(d, fields) {
                out.push(v);
            }
        }
    }
    Bson::Array(out)
}

fn parse_operator(d: &Document, scope: &mut ParseScope) -> Result<Expr> {
    let Some((name, arg)) = d.iter().next() else {
        return Err(Error::FailedToParse("empty expression".into()));
    };
    if UNSUPPORTED_OPERATORS.contains(&name.as_str()) {
        return Err(Error::NotSupported(format!(
            "the aggregation expression {name} is not supported"
        )));
    }
    let Some((static_name, shape, eval)) = lookup_operator(name) else {
        return Err(Error::coded(
            168,
            format!("Unrecognized expression '{name}'"),
        ));
    };
    let op = match shape {
        Shape::Positional { min, max } => {
            let args = positional_args(arg, scope)?;
            check_arity(static_name, args.len(), min, max)?;
            Operator {
                name: static_name,
                args: args.into_iter().map(Some).collect(),
                names: Vec::new(),
                extra: 0,
                regex_cache: std::sync::OnceLock::new(),
                eval,
            }
        }
        Shape::Named(spec) => {
            let args = parse_named_args(static_name, arg, spec, scope)?;
            Operator {
                name: static_name,
                args,
                names: Vec::new(),
                extra: 0,
                regex_cache: std::sync::OnceLock::new(),
                eval,
            }
        }
        Shape::Custom(parse) => {
            if static_name == "$literal" || static_name == "$const" {
                return Ok(Expr::Constant(arg.clone()));
            }
            let mut op = parse(static_name, arg, scope)?;
            op.eval = eval;
            op
        }
    };
    Ok(Expr::Operator(Box::new(op)))
}

/// `{$op: [a, b]}` has arguments a and b; `{$op: a}` has the one argument a.
fn positional_args(arg: &Bson, scope: &mut ParseScope) -> Result<Vec<Expr>> {
    match arg {
        Bson::Array(items) => items.iter().map(|i| Expr::parse_in(i, scope)).collect(),
        other => Ok(vec![Expr::parse_in(other, scope)?]),
    }
}

fn check_arity(name: &str, n: usize, min: usize, max: usize) -> Result<()> {
    if n >= min && n <= max {
        return Ok(());
    }
    if min == max {
        return Err(Error::coded(
            16020,
            format!("Expression {name} takes exactly {min} arguments. {n} were passed in."),
        ));
    }
    if max == usize::MAX {
        return Err(Error::coded(
            16020,
            format!("Expression {name} takes at least {min} arguments. {n} were passed in."),
        ));
    }
    Err(Error::coded(
        28667,
        format!(
            "Expression {name} takes at least {min} arguments, and at most {max}. {n} were \
             passed in."
        ),
    ))
}

/// Parses `{field: <expr>, ...}` into arguments in the order of the spec's fields.
fn parse_named_args(
    name: &str,
    arg: &Bson,
    spec: &NamedArgs,
    scope: &mut ParseScope,
) -> Result<Vec<Option<Expr>>> {
    let Bson::Document(d) = arg else {
        return Err(Error::coded(
            spec.not_object,
            format!(
                "{name} only supports an object as its argument, found {}",
                type_name(Some(arg))
            ),
        ));
    };
    let mut args: Vec<Option<Expr>> = vec![None; spec.fields.len()];
    for (key, value) in d {
        let Some(position) = spec.fields.iter().position(|(f, _)| f == key) else {
            let message = match spec.unknown_style {
                UnknownStyle::Argument => format!("Unrecognized argument to {name}: {key}"),
                UnknownStyle::FoundUnknown => format!("{name} found an unknown argument: {key}"),
                UnknownStyle::ArgumentExpected(rest) => {
                    format!("Unrecognized argument to {name}: {key}. {rest}")
                }
            };
            return Err(Error::coded(spec.unknown, message));
        };
        if let Some(slot) = args.get_mut(position) {
            *slot = Some(Expr::parse_in(value, scope)?);
        }
    }
    for ((field, code), slot) in spec.fields.iter().zip(args.iter()) {
        if *code != 0 && slot.is_none() {
            let message = match spec.missing_style {
                MissingStyle::Parameter => format!("Missing '{field}' parameter to {name}"),
                MissingStyle::Specified => format!("{name} requires '{field}' to be specified"),
                MissingStyle::RequiresParameter => format!("{name} requires '{field}' parameter"),
                MissingStyle::Field => format!("{name} requires an '{field}' field"),
                MissingStyle::MissingValue => format!("Missing value for '{field}'"),
                MissingStyle::Fixed(text) => format!("{name} {text}"),
            };
            return Err(Error::coded(*code, message));
        }
    }
    Ok(args)
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

/// Placeholder evaluation function, replaced by the table's after a custom parse.
fn eval_not_reached(op: &Operator, _ctx: &Ctx<'_>) -> Result<Option<Bson>> {
    Err(Error::coded(
        168,
        format!("Unrecognized expression '{}'", op.name),
    ))
}

/// `$rand: {}` (an empty object, or an empty array).
fn parse_rand(name: &'static str, arg: &Bson, _scope: &mut ParseScope) -> Result<Operator> {
    match arg {
        Bson::Document(d) if d.is_empty() => Ok(Operator::new(name, Vec::new(), Vec::new())),
        Bson::Array(a) if a.is_empty() => Ok(Operator::new(name, Vec::new(), Vec::new())),
        _ => Err(Error::coded(
            3040501,
            "$rand does not currently accept arguments",
        )),
    }
}

fn parse_literal(name: &'static str, arg: &Bson, _scope: &mut ParseScope) -> Result<Operator> {
    Ok(Operator::new(
        name,
        vec![Some(Expr::Constant(arg.clone()))],
        Vec::new(),
    ))
}

/// `$cond: [if, then, else]` or `$cond: {if, then, else}`.
fn parse_cond(name: &'static str, arg: &Bson, scope: &mut ParseScope) -> Result<Operator> {
    if let Bson::Document(d) = arg {
        let mut slots: [Option<Expr>; 3] = [None, None, None];
        for (key, value) in d {
            let i = match key.as_str() {
                "if" => 0,
                "then" => 1,
                "else" => 2,
                _ => {
                    return Err(Error::coded(
                        17083,
                        format!("Unrecognized parameter to $cond: {key}"),
                    ))
                }
            };
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(Expr::parse_in(value, scope)?);
            }
        }
        for (i, (field, code)) in [("if", 17080), ("then", 17081), ("else", 17082)]
            .iter()
            .enumerate()
        {
            if slots.get(i).is_some_and(|s| s.is_none()) {
                return Err(Error::coded(
                    *code,
                    format!("Missing '{field}' parameter to $cond"),
                ));
            }
        }
        return Ok(Operator::new(name, slots.into_iter().collect(), Vec::new()));
    }
    let args = positional_args(arg, scope)?;
    check_arity(name, args.len(), 3, 3)?;
    Ok(Operator::new(
        name,
        args.into_iter().map(Some).collect(),
        Vec::new(),
    ))
}

fn parse_if_null(name: &'static str, arg: &Bson, scope: &mut ParseScope) -> Result<Operator> {
    let args = positional_args(arg, scope)?;
    if args.len() < 2 {
        return Err(Error::coded(
            1257300,
            "$ifNull needs at least two arguments, had: ".to_string() + &args.len().to_string(),
        ));
    }
    Ok(Operator::new(
        name,
        args.into_iter().map(Some).collect(),
        Vec::new(),
    ))
}

/// `$switch: {branches: [{case, then}, ...], default}`: arguments are case0, then0, case1,
/// then1, ..., and the default last (possibly absent).
fn parse_switch(name: &'static str, arg: &Bson, scope: &mut ParseScope) -> Result<Operator> {
    let Bson::Document(d) = arg else {
        return Err(Error::coded(
            40060,
            format!(
                "$switch requires an object as an argument, found: {}",
                type_name(Some(arg))
            ),
        ));
    };
    let mut args: Vec<Option<Expr>> = Vec::new();
    let mut default = None;
    let mut saw_branches = false;
    for (key, value) in d {
        match key.as_str() {
            "branches" => {
                saw_branches = true;
                let Bson::Array(branches) = value else {
                    return Err(Error::coded(
                        40061,
                        format!(
                            "$switch expected an array for 'branches', found: {}",
                            type_name(Some(value))
                        ),
                    ));
                };
                for branch in branches {
                    let Bson::Document(b) = branch else {
                        return Err(Error::coded(
                            40062,
                            format!(
                                "$switch expected each branch to be an object, found: {}",
                                type_name(Some(branch))
                            ),
                        ));
                    };
                    let (mut case, mut then) = (None, None);
                    for (bk, bv) in b {
                        match bk.as_str() {
                            "case" => case = Some(Expr::parse_in(bv, scope)?),
                            "then" => then = Some(Expr::parse_in(bv, scope)?),
                            _ => {
                                return Err(Error::coded(
                                    40063,
                                    format!("$switch found an unknown argument to a branch: {bk}"),
                                ))
                            }
                        }
                    }
                    if case.is_none() {
                        return Err(Error::coded(
                            40064,
                            "$switch requires each branch have a 'case' expression",
                        ));
                    }
                    if then.is_none() {
                        return Err(Error::coded(
                            40065,
                            "$switch requires each branch have a 'then' expression.",
                        ));
                    }
                    args.push(case);
                    args.push(then);
                }
            }
            "default" => default = Some(Expr::parse_in(value, scope)?),
            _ => {
                return Err(Error::coded(
                    40067,
                    format!("$switch found an unknown argument: {key}"),
                ))
            }
        }
    }
    if !saw_branches || args.is_empty() {
        return Err(Error::coded(40068, "$switch requires at least one branch."));
    }
    args.push(default);
    Ok(Operator::new(name, args, Vec::new()))
}

/// `$let: {vars: {x: <expr>, ...}, in: <expr>}`: arguments are the variables' expressions
/// then `in`; names are the variables' names.
fn parse_let(name: &'static str, arg: &Bson, scope: &mut ParseScope) -> Result<Operator> {
    let Bson::Document(d) = arg else {
        return Err(Error::coded(
            16874,
            "$let only supports an object as its argument",
        ));
    };
    let mut vars_spec = None;
    let mut in_spec = None;
    for (key, value) in d {
        match key.as_str() {
            "vars" => vars_spec = Some(value),
            "in" => in_spec = Some(value),
            _ => {
                return Err(Error::coded(
                    16875,
                    format!("Unrecognized parameter to $let: {key}"),
                ))
            }
        }
    }
    let Some(vars_spec) = vars_spec else {
        return Err(Error::coded(16876, "Missing 'vars' parameter to $let"));
    };
    let Some(in_spec) = in_spec else {
        return Err(Error::coded(16877, "Missing 'in' parameter to $let"));
    };
    let Bson::Document(vars_doc) = vars_spec else {
        return Err(Error::coded(
            10065,
            "invalid parameter: expected an object (vars)",
        ));
    };
    let mut args = Vec::new();
    let mut names = Vec::new();
    // The variables' expressions see the enclosing scope only.
    for (var, value) in vars_doc {
        validate_user_variable_name(var)?;
        args.push(Some(Expr::parse_in(value, scope)?));
        names.push(var.clone());
    }
    let depth = scope.locals.len();
    scope.locals.extend(names.iter().cloned());
    let body = Expr::parse_in(in_spec, scope);
    scope.locals.truncate(depth);
    args.push(Some(body?));
    Ok(Operator::new(name, args, names))
}

fn eval_let(op: &Operator, ctx: &Ctx<'_>) -> Result<Option<Bson>> {
    let n = op.names.len();
    let mut values = Vec::with_capacity(n);
    let mut budget = Budget::new("$let");
    for i in 0..n {
        let v = op.arg(i, ctx)?;
        if let Some(v) = &v {
            budget.add(v)?;
        }
        values.push(v);
    }
    eval_with_bindings(op, n, &op.names, values, ctx)
}

/// Evaluates argument `body` with `names` bound to `values` (one frame each, chained).
fn eval_with_bindings(
    op: &Operator,
    body: usize,
    names: &[String],
    mut values: Vec<Option<Bson>>,
    ctx: &Ctx<'_>,
) -> Result<Option<Bson>> {
    match names.split_first() {
        None => op.arg(body, ctx),
        Some((first, rest)) => {
            let value = if values.is_empty() {
                None
            } else {
                values.remove(0)
            };
            let frame = ctx.frame(first, value);
            let inner = ctx.with(&frame);
            eval_with_bindings(op, body, rest, values, &inner)
        }
    }
}
