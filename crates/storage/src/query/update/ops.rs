//! The update operators: parsing each `{path: argument}` pair into a [`Modifier`], and
//! applying a modifier to the value found at one concrete path.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::arith::{arithmetic, bitwise, is_number, ArithmeticOp, BitOp};
use crate::error::{Error, Result};
use crate::query::Filter;
use crate::value::{compare_with, equal_with, Collation};

/// Field name used to wrap a scalar array element (and the condition) so a query filter can
/// test it: `{$pull: {a: {$gte: 6}}}` matches element `e` when the filter `{"__element":
/// {$gte: 6}}` matches `{"__element": e}`. MongoDB does the same with an empty field name; a
/// non-empty name keeps us independent of how the filter treats empty paths.
pub const WRAPPED_ELEMENT_FIELD: &str = "__element";

/// One parsed update operator applied to one path.
#[derive(Debug, Clone)]
pub enum Modifier {
    Set(Bson),
    SetOnInsert(Bson),
    Unset,
    Arithmetic(ArithmeticOp, Bson),
    Min(Bson),
    Max(Bson),
    /// `$rename`: the value is the source path; the modifier sits at the destination path.
    Rename {
        from: Vec<String>,
    },
    CurrentDate {
        timestamp: bool,
    },
    Push(PushSpec),
    AddToSet(Vec<Bson>),
    /// `$pop`: true removes the first element (-1), false the last (1).
    Pop {
        first: bool,
    },
    Pull(PullMatcher),
    PullAll(Vec<Bson>),
    Bit(Vec<(BitOp, Bson)>),
}

#[derive(Debug, Clone)]
pub struct PushSpec {
    values: Vec<Bson>,
    slice: Option<i64>,
    sort: Option<PushSort>,
    position: Option<i64>,
}

#[derive(Debug, Clone)]
enum PushSort {
    /// `$sort: 1` or `-1`: the elements themselves.
    WholeValue { descending: bool },
    /// `$sort: {field: 1, ...}`: fields of embedded documents.
    Fields(Vec<(Vec<String>, bool)>),
}

#[derive(Debug, Clone)]
pub enum PullMatcher {
    /// A condition on embedded documents: `{$pull: {results: {score: 8}}}`.
    Document(Filter),
    /// An operator condition or regex on the element itself, through the wrapped-element
    /// trick (see [`WRAPPED_ELEMENT_FIELD`]).
    Wrapped(Filter),
    /// A plain value: elements equal to it are removed.
    Equal(Bson),
}

impl Modifier {
    /// Parses the argument of `operator` for the field `field` (the field as written, for
    /// error messages).
    pub fn parse(operator: &str, field: &str, argument: &Bson) -> Result<Modifier> {
        Ok(match operator {
            "$set" => Modifier::Set(argument.clone()),
            "$setOnInsert" => Modifier::SetOnInsert(argument.clone()),
            "$unset" => Modifier::Unset,
            "$inc" | "$mul" => {
                let op = if operator == "$inc" {
                    ArithmeticOp::Add
                } else {
                    ArithmeticOp::Multiply
                };
                if !is_number(argument) {
                    let verb = if op == ArithmeticOp::Add {
                        "increment"
                    } else {
                        "multiply"
                    };
                    return Err(Error::TypeMismatch(format!(
                        "Cannot {verb} with non-numeric argument: {{{field}: {argument}}}"
                    )));
                }
                Modifier::Arithmetic(op, argument.clone())
            }
            "$min" => Modifier::Min(argument.clone()),
            "$max" => Modifier::Max(argument.clone()),
            "$currentDate" => parse_current_date(field, argument)?,
            "$push" => Modifier::Push(parse_push(argument)?),
            "$addToSet" => Modifier::AddToSet(parse_add_to_set(argument)?),
            "$pop" => {
                let n = integer_argument(argument).ok_or_else(|| {
                    Error::FailedToParse(format!("Expected a number in: {field}: {argument}"))
                })?;
                if n != 1 && n != -1 {
                    return Err(Error::FailedToParse(format!(
                        "$pop expects 1 or -1, found: {n}"
                    )));
                }
                Modifier::Pop { first: n == -1 }
            }
            "$pull" => Modifier::Pull(parse_pull(argument)?),
            "$pullAll" => match argument {
                Bson::Array(values) => Modifier::PullAll(values.clone()),
                other => {
                    return Err(Error::BadValue(format!(
                        "$pullAll requires an array argument but was given a {}",
                        type_name(other)
                    )))
                }
            },
            "$bit" => Modifier::Bit(parse_bit(argument)?),
            // $rename is parsed by the caller, which knows both paths.
            _ => {
                return Err(Error::FailedToParse(format!(
                    "Unknown modifier: {operator}. Expected a valid update modifier or \
                     pipeline-style update specified as an array"
                )))
            }
        })
    }

    /// Whether the modifier creates its path when it is missing (MongoDB's "path creating"
    /// nodes). The others do nothing on a missing path.
    pub fn creates_missing_path(&self) -> bool {
        !matches!(
            self,
            Modifier::Unset
                | Modifier::Pop { .. }
                | Modifier::Pull(_)
                | Modifier::PullAll(_)
                | Modifier::Rename { .. }
        )
    }

    /// The value for a path that does not exist yet.
    pub fn value_for_missing(
        &self,
        now: bson::DateTime,
        collation: Option<&Collation>,
    ) -> Result<Bson> {
        Ok(match self {
            Modifier::Set(v) | Modifier::SetOnInsert(v) | Modifier::Min(v) | Modifier::Max(v) => {
                v.clone()
            }
            Modifier::Arithmetic(ArithmeticOp::Add, v) => v.clone(),
            // `$mul` on a missing field sets zero of the argument's type.
            Modifier::Arithmetic(ArithmeticOp::Multiply, v) => {
                arithmetic(ArithmeticOp::Multiply, v, &Bson::Int32(0)).unwrap_or(Bson::Int32(0))
            }
            Modifier::CurrentDate { timestamp } => current_date(*timestamp, now),
            Modifier::Push(spec) => spec.apply(Vec::new(), collation),
            Modifier::AddToSet(values) => {
                let mut items = Vec::new();
                add_to_set(&mut items, values, collation);
                Bson::Array(items)
            }
            Modifier::Bit(ops) => {
                let mut value = Bson::Int32(0);
                for (op, operand) in ops {
                    value = bitwise(*op, &value, operand).unwrap_or(value);
                }
                value
            }
            Modifier::Unset
            | Modifier::Pop { .. }
            | Modifier::Pull(_)
            | Modifier::PullAll(_)
            | Modifier::Rename { .. } => Bson::Null,
        })
    }

    /// The new value for an existing value, or `None` when the modifier leaves it unchanged.
    /// `path` and `id` are for error messages.
    pub fn modify_existing(
        &self,
        existing: &Bson,
        path: &str,
        id: Option<&Bson>,
        now: bson::DateTime,
        collation: Option<&Collation>,
    ) -> Result<Option<Bson>> {
        let field = path.rsplit('.').next().unwrap_or(path);
        let id_text = || match id {
            Some(v) => format!("_id: {v}"),
            None => "no id".to_string(),
        };
        Ok(match self {
            Modifier::Set(v) | Modifier::SetOnInsert(v) => Some(v.clone()),
            Modifier::Arithmetic(op, operand) => {
                let name = if *op == ArithmeticOp::Add {
                    "$inc"
                } else {
                    "$mul"
                };
                if !is_number(existing) {
                    return Err(Error::TypeMismatch(format!(
                        "Cannot apply {name} to a value of non-numeric type. {{{}}} has the \
                         field '{field}' of non-numeric type {}",
                        id_text(),
                        type_name(existing)
                    )));
                }
                match arithmetic(*op, existing, operand) {
                    Some(v) => Some(v),
                    None if matches!(existing, Bson::Decimal128(_))
                        || matches!(operand, Bson::Decimal128(_)) =>
                    {
                        return Err(Error::NotSupported(format!(
                            "{name} with a decimal128 result outside decimal128's exponent \
                             range is not supported"
                        )))
                    }
                    None => {
                        return Err(Error::BadValue(format!(
                            "Failed to apply {name} operations to current value \
                             ((NumberLong){existing}) for document {{{}}}",
                            id_text()
                        )))
                    }
                }
            }
            Modifier::Min(v) => {
                (compare_with(v, existing, collation) == Ordering::Less).then(|| v.clone())
            }
            Modifier::Max(v) => {
                (compare_with(v, existing, collation) == Ordering::Greater).then(|| v.clone())
            }
            Modifier::CurrentDate { timestamp } => Some(current_date(*timestamp, now)),
            Modifier::Push(spec) => match existing {
                Bson::Array(items) => Some(spec.apply(items.clone(), collation)),
                other => {
                    return Err(Error::BadValue(format!(
                        "The field '{path}' must be an array but is of type {} in document \
                         {{{}}}",
                        type_name(other),
                        id_text()
                    )))
                }
            },
            Modifier::AddToSet(values) => match existing {
                Bson::Array(items) => {
                    let mut items = items.clone();
                    add_to_set(&mut items, values, collation);
                    Some(Bson::Array(items))
                }
                other => {
                    return Err(Error::BadValue(format!(
                        "Cannot apply $addToSet to non-array field. Field named '{field}' has \
                         non-array type {}",
                        type_name(other)
                    )))
                }
            },
            Modifier::Pop { first } => match existing {
                Bson::Array(items) => {
                    let mut items = items.clone();
                    if items.is_empty() {
                        return Ok(None);
                    }
                    if *first {
                        items.remove(0);
                    } else {
                        items.pop();
                    }
                    Some(Bson::Array(items))
                }
                other => {
                    return Err(Error::TypeMismatch(format!(
                        "Path '{path}' contains an element of non-array type '{}'",
                        type_name(other)
                    )))
                }
            },
            Modifier::Pull(matcher) => match existing {
                Bson::Array(items) => {
                    let kept: Vec<Bson> = items
                        .iter()
                        .filter(|e| !matcher.matches(e, collation))
                        .cloned()
                        .collect();
                    (kept.len() != items.len()).then_some(Bson::Array(kept))
                }
                _ => {
                    return Err(Error::BadValue(
                        "Cannot apply $pull to a non-array value".into(),
                    ))
                }
            },
            Modifier::PullAll(values) => match existing {
                Bson::Array(items) => {
                    let kept: Vec<Bson> = items
                        .iter()
                        .filter(|e| !values.iter().any(|v| equal_with(v, e, collation)))
                        .cloned()
                        .collect();
                    (kept.len() != items.len()).then_some(Bson::Array(kept))
                }
                _ => {
                    return Err(Error::BadValue(
                        "Cannot apply $pullAll to a non-array value".into(),
                    ))
                }
            },
            Modifier::Bit(ops) => {
                if !matches!(existing, Bson::Int32(_) | Bson::Int64(_)) {
                    return Err(Error::BadValue(format!(
                        "Cannot apply $bit to a value of non-integral type.{{{}}} has the field \
                         {field} of non-integer type {}",
                        id_text(),
                        type_name(existing)
                    )));
                }
                let mut value = existing.clone();
                for (op, operand) in ops {
                    value = bitwise(*op, &value, operand).unwrap_or(value);
                }
                Some(value)
            }
            Modifier::Unset | Modifier::Rename { .. } => None,
        })
    }
}

impl PushSpec {
    /// Inserts the values at the position, then sorts, then slices, as MongoDB does.
    fn apply(&self, mut items: Vec<Bson>, collation: Option<&Collation>) -> Bson {
        let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
        let at = match self.position {
            None => len,
            Some(p) if p > len => len,
            Some(p) if p >= 0 => p,
            Some(p) if p.unsigned_abs() < len.unsigned_abs() => len + p,
            Some(_) => 0,
        };
        let at = usize::try_from(at).unwrap_or(items.len()).min(items.len());
        let tail = items.split_off(at);
        items.extend(self.values.iter().cloned());
        items.extend(tail);
        if let Some(sort) = &self.sort {
            items.sort_by(|a, b| sort.compare(a, b, collation));
        }
        if let Some(slice) = self.slice {
            let keep = usize::try_from(slice.unsigned_abs()).unwrap_or(usize::MAX);
            if items.len() > keep {
                if slice >= 0 {
                    items.truncate(keep);
                } else {
                    items.drain(..items.len() - keep);
                }
            }
        }
        Bson::Array(items)
    }
}

impl PushSort {
    fn compare(&self, a: &Bson, b: &Bson, collation: Option<&Collation>) -> Ordering {
        match self {
            PushSort::WholeValue { descending } => {
                let ord = compare_with(a, b, collation);
                if *descending {
                    ord.reverse()
                } else {
                    ord
                }
            }
            PushSort::Fields(fields) => {
                for (path, descending) in fields {
                    let ord = compare_with(&sort_key(a, path), &sort_key(b, path), collation);
                    let ord = if *descending { ord.reverse() } else { ord };
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                Ordering::Equal
            }
        }
    }
}

/// The value of an element at a sort path (null when missing). A non-document element is
/// wrapped as `{"": element}` by MongoDB's `PatternElementCmp`; sort fields are never empty,
/// so such an element (an array included) always sorts by null.
fn sort_key(element: &Bson, path: &[String]) -> Bson {
    if !matches!(element, Bson::Document(_)) {
        return Bson::Null;
    }
    let mut current = element;
    for part in path {
        let next = match current {
            Bson::Document(d) => d.get(part),
            Bson::Array(a) => super::path::array_index(part).and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(v) => current = v,
            None => return Bson::Null,
        }
    }
    current.clone()
}

impl PullMatcher {
    /// Conditions carry the collation already ([`super::Update::with_collation`]); a plain
    /// value compares under `collation`.
    fn matches(&self, element: &Bson, collation: Option<&Collation>) -> bool {
        match self {
            PullMatcher::Document(filter) => match element {
                Bson::Document(d) => filter.matches(d),
                _ => false,
            },
            PullMatcher::Wrapped(filter) => {
                let mut wrapped = Document::new();
                wrapped.insert(WRAPPED_ELEMENT_FIELD, element.clone());
                filter.matches(&wrapped)
            }
            PullMatcher::Equal(value) => equal_with(element, value, collation),
        }
    }
}

/// Appends each value not already present (by MongoDB equality), in order.
fn add_to_set(items: &mut Vec<Bson>, values: &[Bson], collation: Option<&Collation>) {
    for value in values {
        if !items
            .iter()
            .any(|existing| equal_with(existing, value, collation))
        {
            items.push(value.clone());
        }
    }
}

fn current_date(timestamp: bool, now: bson::DateTime) -> Bson {
    if timestamp {
        let seconds = u32::try_from(now.timestamp_millis().div_euclid(1000)).unwrap_or(0);
        Bson::Timestamp(bson::Timestamp {
            time: seconds,
            increment: 1,
        })
    } else {
        Bson::DateTime(now)
    }
}

fn parse_current_date(field: &str, argument: &Bson) -> Result<Modifier> {
    match argument {
        // MongoDB sets a date for `false` too.
        Bson::Boolean(_) => Ok(Modifier::CurrentDate { timestamp: false }),
        Bson::Document(spec) => {
            let mut timestamp = None;
            for (k, v) in spec {
                if k != "$type" {
                    return Err(Error::BadValue(format!(
                        "The only valid field of the option is '$type': {{$currentDate: \
                         {{field : {{$type: 'date/timestamp'}}}}}}; {{{field}: {argument}}}"
                    )));
                }
                timestamp = match v {
                    Bson::String(s) if s == "date" => Some(false),
                    Bson::String(s) if s == "timestamp" => Some(true),
                    _ => {
                        return Err(Error::BadValue(
                            "The '$type' string field is required to be 'date' or \
                             'timestamp': {$currentDate: {field : {$type: 'date'}}}"
                                .into(),
                        ))
                    }
                };
            }
            match timestamp {
                Some(timestamp) => Ok(Modifier::CurrentDate { timestamp }),
                None => Err(Error::BadValue(
                    "The '$type' string field is required to be 'date' or 'timestamp': \
                     {$currentDate: {field : {$type: 'date'}}}"
                        .into(),
                )),
            }
        }
        other => Err(Error::BadValue(format!(
            "{} is not valid type for $currentDate. Please use a boolean ('true') or a $type \
             expression ({{$type: 'timestamp/date'}}).",
            type_name(other)
        ))),
    }
}

fn parse_push(argument: &Bson) -> Result<PushSpec> {
    let clauses = match argument {
        Bson::Document(d) if d.contains_key("$each") => d,
        other => {
            return Ok(PushSpec {
                values: vec![other.clone()],
                slice: None,
                sort: None,
                position: None,
            })
        }
    };
    let mut spec = PushSpec {
        values: Vec::new(),
        slice: None,
        sort: None,
        position: None,
    };
    for (name, value) in clauses {
        match name.as_str() {
            "$each" => match value {
                Bson::Array(values) => spec.values = values.clone(),
                other => {
                    return Err(Error::BadValue(format!(
                        "The argument to $each in $push must be an array but it was of type: {}",
                        type_name(other)
                    )))
                }
            },
            "$slice" => {
                spec.slice = Some(integer_argument(value).ok_or_else(|| {
                    Error::BadValue(format!(
                        "The value for $slice must be an integer value but was given type: {}",
                        type_name(value)
                    ))
                })?)
            }
            "$position" => {
                spec.position = Some(integer_argument(value).ok_or_else(|| {
                    Error::BadValue(format!(
                        "The value for $position must be an integer value, not of type: {}",
                        type_name(value)
                    ))
                })?)
            }
            "$sort" => spec.sort = Some(parse_push_sort(value)?),
            other => {
                return Err(Error::BadValue(format!(
                    "Unrecognized clause in $push: {other}"
                )))
            }
        }
    }
    Ok(spec)
}

fn sort_direction(v: &Bson) -> Option<bool> {
    let n = crate::value::Number::of(v)?.to_f64();
    if n == 1.0 {
        Some(false)
    } else if n == -1.0 {
        Some(true)
    } else {
        None
    }
}

fn parse_push_sort(value: &Bson) -> Result<PushSort> {
    let bad_direction = || Error::BadValue("The $sort element value must be either 1 or -1".into());
    match value {
        Bson::Document(pattern) => {
            if pattern.is_empty() {
                return Err(Error::BadValue(
                    "The $sort pattern is empty when it should be a set of fields.".into(),
                ));
            }
            let mut fields = Vec::new();
            for (name, direction) in pattern {
                let descending = sort_direction(direction).ok_or_else(bad_direction)?;
                if name.is_empty() {
                    return Err(Error::BadValue("The $sort field cannot be empty".into()));
                }
                let parts: Vec<String> = name.split('.').map(str::to_string).collect();
                if parts.iter().any(String::is_empty) {
                    return Err(Error::BadValue(format!(
                        "The $sort field is a dotted field but has an empty part: {name}"
                    )));
                }
                fields.push((parts, descending));
            }
            Ok(PushSort::Fields(fields))
        }
        v if is_number(v) => Ok(PushSort::WholeValue {
            descending: sort_direction(v).ok_or_else(bad_direction)?,
        }),
        _ => Err(Error::BadValue(
            "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort \
             embedded fields"
                .into(),
        )),
    }
}

fn parse_add_to_set(argument: &Bson) -> Result<Vec<Bson>> {
    match argument {
        Bson::Document(d) if d.keys().next().is_some_and(|k| k == "$each") => {
            if d.len() > 1 {
                return Err(Error::BadValue(format!(
                    "Found unexpected fields after $each in $addToSet: {argument}"
                )));
            }
            match d.get("$each") {
                Some(Bson::Array(values)) => Ok(values.clone()),
                other => Err(Error::TypeMismatch(format!(
                    "The argument to $each in $addToSet must be an array but it was of type {}",
                    other.map(type_name).unwrap_or("missing")
                ))),
            }
        }
        other => Ok(vec![other.clone()]),
    }
}

/// Top-level operators of a query that make `{$pull: {a: {...}}}` a condition on embedded
/// documents rather than on the element itself.
const TOP_LEVEL_QUERY_OPERATORS: &[&str] = &[
    "$and",
    "$or",
    "$nor",
    "$expr",
    "$where",
    "$text",
    "$comment",
    "$jsonSchema",
    "$alwaysTrue",
    "$alwaysFalse",
];

fn parse_pull(argument: &Bson) -> Result<PullMatcher> {
    match argument {
        Bson::Document(condition) => {
            let first = condition.keys().next();
            let is_element_operator = first.is_some_and(|k| {
                k.starts_with('$') && !TOP_LEVEL_QUERY_OPERATORS.contains(&k.as_str())
            });
            if is_element_operator {
                let mut wrapped = Document::new();
                wrapped.insert(WRAPPED_ELEMENT_FIELD, argument.clone());
                Ok(PullMatcher::Wrapped(Filter::parse(&wrapped)?))
            } else {
                Ok(PullMatcher::Document(Filter::parse(condition)?))
            }
        }
        Bson::RegularExpression(_) => {
            let mut wrapped = Document::new();
            wrapped.insert(WRAPPED_ELEMENT_FIELD, argument.clone());
            Ok(PullMatcher::Wrapped(Filter::parse(&wrapped)?))
        }
        other => Ok(PullMatcher::Equal(other.clone())),
    }
}

fn parse_bit(argument: &Bson) -> Result<Vec<(BitOp, Bson)>> {
    let Bson::Document(spec) = argument else {
        return Err(Error::BadValue(format!(
            "The $bit modifier is not compatible with a {}. You must pass in an embedded \
             document: {{$bit: {{field: {{and/or/xor: #}}}}",
            type_name(argument)
        )));
    };
    if spec.is_empty() {
        return Err(Error::BadValue(
            "You must pass in at least one bitwise operation. The format is: {$bit: {field: \
             {and/or/xor: #}}"
                .into(),
        ));
    }
    let mut ops = Vec::new();
    for (name, operand) in spec {
        let op = match name.as_str() {
            "and" => BitOp::And,
            "or" => BitOp::Or,
            "xor" => BitOp::Xor,
            other => {
                return Err(Error::BadValue(format!(
                    "The $bit modifier only supports 'and', 'or', and 'xor', not '{other}' which \
                     is an unknown operator: {{{other}: {operand}}}"
                )))
            }
        };
        if !matches!(operand, Bson::Int32(_) | Bson::Int64(_)) {
            return Err(Error::BadValue(format!(
                "The $bit modifier field must be an Integer(32/64 bit); a '{}' is not supported \
                 here: {{{name}: {operand}}}",
                type_name(operand)
            )));
        }
        ops.push((op, operand.clone()));
    }
    Ok(ops)
}

/// An integral number as MongoDB's `parseIntegerElementToLong` accepts it: int32, int64, or a
/// double/decimal with no fractional part that fits in an int64.
fn integer_argument(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(_) | Bson::Decimal128(_) => {
            let d = crate::value::Number::of(v)?.to_f64();
            // -2^63 is exact as a double; 2^63 is not an i64.
            if d.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&d)
            {
                // The range check above makes the conversion exact.
                Some(d as i64)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// MongoDB's name for a BSON type, as used in error messages.
pub use crate::value::compare::type_name;
