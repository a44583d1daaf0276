//! `$group` accumulators (`$sum`, `$push`, `$topN`, ...): parsed once per `$group` field,
//! with one [`AccumulatorState`] per group.

use std::cmp::Ordering;
use std::collections::{BTreeSet, VecDeque};

use bson::{Bson, Document};

use super::decimal_math::DecimalValue;
use super::expr::{Expr, Vars};
use super::paths::{bson_size, integral_i64, type_name, OrderedBson};
use super::VariableScope;
use crate::error::{Error, Result};
use crate::query::SortSpec;
use crate::value::compare_with;

/// The accumulators MongoDB has but Outpost does not (JavaScript, or newer statistics).
const UNSUPPORTED_ACCUMULATORS: &[&str] = &[
    "$accumulator",
    "$median",
    "$percentile",
    "$concatArrays",
    "$setUnion",
];

/// One `field: {$op: argument}` of a `$group` (or `$bucket`/`$bucketAuto` `output`).
#[derive(Debug, Clone)]
pub(crate) struct AccumulatorSpec {
    pub field: String,
    operator: Operator,
}

#[derive(Debug, Clone)]
enum Operator {
    Sum(Expr),
    Avg(Expr),
    Min(Expr),
    Max(Expr),
    First(Expr),
    Last(Expr),
    Push(Expr),
    AddToSet(Expr),
    Count,
    MergeObjects(Expr),
    StdDev {
        input: Expr,
        sample: bool,
    },
    /// `$top`/`$bottom` (`n` is None) and `$topN`/`$bottomN`.
    TopBottom {
        n: Option<Expr>,
        sort: SortSpec,
        output: Expr,
        bottom: bool,
    },
    FirstLastN {
        n: Expr,
        input: Expr,
        last: bool,
    },
    MinMaxN {
        n: Expr,
        input: Expr,
        max: bool,
    },
}

/// The running state of one accumulator in one group.
#[derive(Debug, Clone)]
pub(crate) enum AccumulatorState {
    Sum(NumericSum),
    Avg(NumericSum),
    Min(Option<Bson>),
    Max(Option<Bson>),
    /// None until the first document; a missing value is recorded as null.
    First(Option<Bson>),
    Last(Bson),
    Push(Vec<Bson>),
    AddToSet(Vec<Bson>, BTreeSet<OrderedBson>),
    MergeObjects(Document),
    StdDev(Welford),
    /// Kept in sort order: (the document for the sort, the output value).
    TopBottom(usize, Vec<(Document, Bson)>),
    FirstN(usize, Vec<Bson>),
    LastN(usize, VecDeque<Bson>),
    MinMaxN(usize, Vec<Bson>),
}

impl AccumulatorSpec {
    /// Parses `field: {$op: argument}` with MongoDB's checks in MongoDB's order: 40234 (not
    /// an object starting with an operator), 40235/40236 (field name with '.' or '$'), 40238
    /// (not exactly one accumulator), 40237 (array argument), 15952 (unknown operator).
    pub(crate) fn parse(
        field: &str,
        spec: &Bson,
        scope: &VariableScope,
    ) -> Result<AccumulatorSpec> {
        let spec_doc = match spec {
            Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')) => d,
            _ => {
                return Err(Error::coded(
                    40234,
                    format!("The field '{field}' must be an accumulator object"),
                ))
            }
        };
        if field.contains('.') {
            return Err(Error::coded(
                40235,
                format!("The field name '{field}' cannot contain '.'"),
            ));
        }
        if field.starts_with('$') {
            return Err(Error::coded(
                40236,
                format!("The field name '{field}' cannot be an operator name"),
            ));
        }
        let (Some((name, argument)), 1) = (spec_doc.iter().next(), spec_doc.len()) else {
            return Err(Error::coded(
                40238,
                format!("The field '{field}' must specify one accumulator"),
            ));
        };
        if let Bson::Array(_) = argument {
            return Err(Error::coded(
                40237,
                format!("The {name} accumulator is a unary operator"),
            ));
        }
        let unary = |argument: &Bson| -> Result<Expr> { scope.parse(argument) };
        let operator = match name.as_str() {
            "$sum" => Operator::Sum(unary(argument)?),
            "$avg" => Operator::Avg(unary(argument)?),
            "$min" => Operator::Min(unary(argument)?),
            "$max" => Operator::Max(unary(argument)?),
            "$first" => Operator::First(unary(argument)?),
            "$last" => Operator::Last(unary(argument)?),
            "$push" => Operator::Push(unary(argument)?),
            "$addToSet" => Operator::AddToSet(unary(argument)?),
            "$mergeObjects" => Operator::MergeObjects(unary(argument)?),
            "$stdDevPop" => Operator::StdDev {
                input: unary(argument)?,
                sample: false,
            },
            "$stdDevSamp" => Operator::StdDev {
                input: unary(argument)?,
                sample: true,
            },
            "$count" => {
                match argument {
                    Bson::Document(d) if d.is_empty() => {}
                    _ => {
                        return Err(Error::TypeMismatch(
                            "$count takes no arguments, i.e. $count:{}".into(),
                        ))
                    }
                }
                Operator::Count
            }
            "$top" | "$bottom" | "$topN" | "$bottomN" => parse_top_bottom(name, argument, scope)?,
            "$firstN" | "$lastN" | "$minN" | "$maxN" => {
                let (n, input) = parse_n_input(name, argument, scope)?;
                match name.as_str() {
                    "$firstN" => Operator::FirstLastN {
                        n,
                        input,
                        last: false,
                    },
                    "$lastN" => Operator::FirstLastN {
                        n,
                        input,
                        last: true,
                    },
                    "$minN" => Operator::MinMaxN {
                        n,
                        input,
                        max: false,
                    },
                    _ => Operator::MinMaxN {
                        n,
                        input,
                        max: true,
                    },
                }
            }
            other if UNSUPPORTED_ACCUMULATORS.contains(&other) => {
                return Err(Error::NotSupported(format!(
                    "the {other} accumulator is not supported"
                )))
            }
            other => {
                return Err(Error::coded(
                    15952,
                    format!("unknown group operator '{other}'"),
                ))
            }
        };
        Ok(AccumulatorSpec {
            field: field.to_string(),
            operator,
        })
    }

    /// A fresh state for a new group. `n` may depend on the group key, as in MongoDB, so it
    /// is evaluated against `{_id: key}`.
    pub(crate) fn start(&self, group_key: &Bson, vars: &Vars) -> Result<AccumulatorState> {
        let key_document = || {
            let mut d = Document::new();
            d.insert("_id", group_key.clone());
            d
        };
        Ok(match &self.operator {
            Operator::Sum(_) | Operator::Count => AccumulatorState::Sum(NumericSum::default()),
            Operator::Avg(_) => AccumulatorState::Avg(NumericSum::default()),
            Operator::Min(_) => AccumulatorState::Min(None),
            Operator::Max(_) => AccumulatorState::Max(None),
            Operator::First(_) => AccumulatorState::First(None),
            Operator::Last(_) => AccumulatorState::Last(Bson::Null),
            Operator::Push(_) => AccumulatorState::Push(Vec::new()),
            Operator::AddToSet(_) => AccumulatorState::AddToSet(Vec::new(), BTreeSet::new()),
            Operator::MergeObjects(_) => AccumulatorState::MergeObjects(Document::new()),
            Operator::StdDev { .. } => AccumulatorState::StdDev(Welford::default()),
            Operator::TopBottom { n, .. } => {
                let n = match n {
                    Some(n) => evaluate_n(n, &key_document(), vars)?,
                    None => 1,
                };
                AccumulatorState::TopBottom(n, Vec::new())
            }
            Operator::FirstLastN { n, last, .. } => {
                let n = evaluate_n(n, &key_document(), vars)?;
                if *last {
                    AccumulatorState::LastN(n, VecDeque::new())
                } else {
                    AccumulatorState::FirstN(n, Vec::new())
                }
            }
            Operator::MinMaxN { n, .. } => {
                AccumulatorState::MinMaxN(evaluate_n(n, &key_document(), vars)?, Vec::new())
            }
        })
    }

    /// Adds one document. Returns an estimate of the bytes the state grew by.
    pub(crate) fn process(
        &self,
        state: &mut AccumulatorState,
        doc: &Document,
        vars: &Vars,
    ) -> Result<usize> {
        let mut grown = 0;
        match (&self.operator, state) {
            (Operator::Count, AccumulatorState::Sum(sum)) => {
                sum.add(&Bson::Int32(1));
            }
            (Operator::Sum(e), AccumulatorState::Sum(sum))
            | (Operator::Avg(e), AccumulatorState::Avg(sum)) => {
                if let Some(v) = e.eval(doc, vars)? {
                    sum.add(&v);
                }
            }
            (Operator::Min(e), AccumulatorState::Min(current)) => {
                if let Some(v) = e.eval(doc, vars)? {
                    if !is_nullish(&v)
                        && current.as_ref().is_none_or(|c| {
                            compare_with(&v, c, vars.collation.as_deref()) == Ordering::Less
                        })
                    {
                        grown += bson_size(&v);
                        *current = Some(v);
                    }
                }
            }
            (Operator::Max(e), AccumulatorState::Max(current)) => {
                if let Some(v) = e.eval(doc, vars)? {
                    if !is_nullish(&v)
                        && current.as_ref().is_none_or(|c| {
                            compare_with(&v, c, vars.collation.as_deref()) == Ordering::Greater
                        })
                    {
                        grown += bson_size(&v);
                        *current = Some(v);
                    }
                }
            }
            (Operator::First(e), AccumulatorState::First(current)) => {
                if current.is_none() {
                    let v = e.eval(doc, vars)?.unwrap_or(Bson::Null);
                    grown += bson_size(&v);
                    *current = Some(v);
                }
            }
            (Operator::Last(e), AccumulatorState::Last(current)) => {
                let v = e.eval(doc, vars)?.unwrap_or(Bson::Null);
                grown += bson_size(&v);
                *current = v;
            }
            (Operator::Push(e), AccumulatorState::Push(items)) => {
                if let Some(v) = e.eval(doc, vars)? {
                    grown += bson_size(&v);
                    items.push(v);
                }
            }
            (Operator::AddToSet(e), AccumulatorState::AddToSet(items, seen)) => {
                if let Some(v) = e.eval(doc, vars)? {
                    if seen.insert(OrderedBson(v.clone(), vars.collation.clone())) {
                        grown += 2 * bson_size(&v);
                        items.push(v);
                    }
                }
            }
            (Operator::MergeObjects(e), AccumulatorState::MergeObjects(merged)) => {
                match e.eval(doc, vars)? {
                    None | Some(Bson::Null) | Some(Bson::Undefined) => {}
                    Some(Bson::Document(d)) => {
                        for (k, v) in d {
                            grown += bson_size(&v) + k.len();
                            merged.insert(k, v);
                        }
                    }
                    Some(other) => {
                        return Err(Error::coded(
                            40400,
                            format!(
                                "$mergeObjects requires object inputs, but input {other} is of \
                                 type {}",
                                type_name(&other)
                            ),
                        ))
                    }
                }
            }
            (Operator::StdDev { input, .. }, AccumulatorState::StdDev(w)) => {
                if let Some(v) = input.eval(doc, vars)? {
                    if let Some(n) = crate::value::Number::of(&v) {
                        w.add(n.to_f64());
                    }
                }
            }
            (
                Operator::TopBottom {
                    sort,
                    output,
                    bottom,
                    ..
                },
                AccumulatorState::TopBottom(n, items),
            ) => {
                let value = output.eval(doc, vars)?.unwrap_or(Bson::Null);
                // Upper bound: equal keys keep their arrival order (a stable sort).
                let position = items.partition_point(|(d, _)| {
                    sort.compare_under(d, doc, vars.collation.as_deref()) != Ordering::Greater
                });
                if *bottom {
                    grown += super::paths::document_size(doc) + bson_size(&value);
                    items.insert(position, (doc.clone(), value));
                    if items.len() > *n {
                        items.remove(0);
                    }
                } else if position < *n {
                    grown += super::paths::document_size(doc) + bson_size(&value);
                    items.insert(position, (doc.clone(), value));
                    items.truncate(*n);
                }
            }
            (Operator::FirstLastN { input, .. }, AccumulatorState::FirstN(n, items)) => {
                if items.len() < *n {
                    let v = input.eval(doc, vars)?.unwrap_or(Bson::Null);
                    grown += bson_size(&v);
                    items.push(v);
                }
            }
            (Operator::FirstLastN { input, .. }, AccumulatorState::LastN(n, items)) => {
                let v = input.eval(doc, vars)?.unwrap_or(Bson::Null);
                grown += bson_size(&v);
                items.push_back(v);
                if items.len() > *n {
                    items.pop_front();
                }
            }
            (Operator::MinMaxN { input, max, .. }, AccumulatorState::MinMaxN(n, items)) => {
                if let Some(v) = input.eval(doc, vars)? {
                    if !is_nullish(&v) {
                        // Kept best first: descending for $maxN, ascending for $minN.
                        let position = items.partition_point(|x| {
                            let ord = compare_with(x, &v, vars.collation.as_deref());
                            if *max {
                                ord != Ordering::Less
                            } else {
                                ord != Ordering::Greater
                            }
                        });
                        if position < *n {
                            grown += bson_size(&v);
                            items.insert(position, v);
                            items.truncate(*n);
                        }
                    }
                }
            }
            _ => {
                return Err(Error::coded(
                    5787802,
                    format!(
                        "internal error: accumulator state mismatch for {}",
                        self.field
                    ),
                ))
            }
        }
        Ok(grown)
    }

    /// The accumulated value.
    pub(crate) fn finish(&self, state: AccumulatorState) -> Bson {
        match state {
            AccumulatorState::Sum(sum) => sum.sum(),
            AccumulatorState::Avg(sum) => sum.average(),
            AccumulatorState::Min(v) | AccumulatorState::Max(v) | AccumulatorState::First(v) => {
                v.unwrap_or(Bson::Null)
            }
            AccumulatorState::Last(v) => v,
            AccumulatorState::Push(items) | AccumulatorState::AddToSet(items, _) => {
                Bson::Array(items)
            }
            AccumulatorState::MergeObjects(d) => Bson::Document(d),
            AccumulatorState::StdDev(w) => {
                let sample = matches!(self.operator, Operator::StdDev { sample: true, .. });
                w.result(sample)
            }
            AccumulatorState::TopBottom(_, items) => {
                let single = matches!(self.operator, Operator::TopBottom { n: None, .. });
                let mut values: Vec<Bson> = items.into_iter().map(|(_, v)| v).collect();
                if single {
                    values.pop().unwrap_or(Bson::Null)
                } else {
                    Bson::Array(values)
                }
            }
            AccumulatorState::FirstN(_, items) | AccumulatorState::MinMaxN(_, items) => {
                Bson::Array(items)
            }
            AccumulatorState::LastN(_, items) => Bson::Array(items.into_iter().collect()),
        }
    }
}

fn is_nullish(v: &Bson) -> bool {
    matches!(v, Bson::Null | Bson::Undefined)
}

fn parse_top_bottom(name: &str, argument: &Bson, scope: &VariableScope) -> Result<Operator> {
    let Bson::Document(spec) = argument else {
        return Err(Error::coded(5788001, format!("{name} requires an object")));
    };
    let with_n = name.ends_with('N');
    let mut n = None;
    let mut sort = None;
    let mut output = None;
    for (key, value) in spec {
        match key.as_str() {
            "n" if with_n => n = Some(scope.parse(value)?),
            "output" => output = Some(scope.parse(value)?),
            "sortBy" => {
                let Bson::Document(sort_doc) = value else {
                    return Err(Error::coded(
                        10065,
                        "invalid parameter: expected an object (sortBy)",
                    ));
                };
                sort = Some(SortSpec::parse(sort_doc)?);
            }
            other => {
                return Err(Error::coded(
                    5788002,
                    format!("Unknown argument to {name} '{other}'"),
                ))
            }
        }
    }
    if with_n && n.is_none() {
        return Err(Error::coded(5788003, "Missing value for 'n'"));
    }
    let Some(output) = output else {
        return Err(Error::coded(5788004, "Missing value for 'output'"));
    };
    let Some(sort) = sort else {
        return Err(Error::coded(5788005, "Missing value for 'sortBy'"));
    };
    Ok(Operator::TopBottom {
        n,
        sort,
        output,
        bottom: name.starts_with("$bottom"),
    })
}

fn parse_n_input(name: &str, argument: &Bson, scope: &VariableScope) -> Result<(Expr, Expr)> {
    let Bson::Document(spec) = argument else {
        return Err(Error::coded(
            5787801,
            format!("specification must be an object; found {argument}"),
        ));
    };
    let mut n = None;
    let mut input = None;
    for (key, value) in spec {
        match key.as_str() {
            "n" => n = Some(scope.parse(value)?),
            "input" => input = Some(scope.parse(value)?),
            other => {
                return Err(Error::coded(
                    5787901,
                    format!("Unknown argument for 'n' operator: {other} in {name}"),
                ))
            }
        }
    }
    let Some(n) = n else {
        return Err(Error::coded(5787906, "Missing value for 'n'"));
    };
    let Some(input) = input else {
        return Err(Error::coded(5787907, "Missing value for 'input'"));
    };
    Ok((n, input))
}

/// Evaluates and validates `n` as MongoDB does (5787902/5787903/5787908).
fn evaluate_n(n: &Expr, root: &Document, vars: &Vars) -> Result<usize> {
    let value = n.eval(root, vars)?.unwrap_or(Bson::Null);
    if !super::paths::is_number(&value) {
        return Err(Error::coded(
            5787902,
            format!("Value for 'n' must be of integral type, but found {value}"),
        ));
    }
    let Some(i) = integral_i64(&value) else {
        return Err(Error::coded(
            5787903,
            format!("Value for 'n' must be of integral type, but found {value}"),
        ));
    };
    if i <= 0 {
        return Err(Error::coded(
            5787908,
            format!("'n' must be greater than 0, found {i}"),
        ));
    }
    usize::try_from(i).map_err(|_| Error::BadValue(format!("'n' is too large: {i}")))
}

/// `$sum`/`$avg` arithmetic with MongoDB's result types: int32 while every input is int32 and
/// the total fits, then int64, then double on int64 overflow; double if any input is a
/// double; decimal if any input is a decimal. Non-numeric inputs are ignored.
#[derive(Debug, Clone, Default)]
pub(crate) struct NumericSum {
    /// 0: int32 (or nothing yet), 1: int64, 2: double, 3: decimal.
    widest: u8,
    integer_total: i128,
    double_total: f64,
    double_compensation: f64,
    saw_double: bool,
    decimal_total: Option<DecimalValue>,
    count: i64,
}

impl NumericSum {
    /// Adds a value; returns whether it was numeric.
    pub(crate) fn add(&mut self, v: &Bson) -> bool {
        match v {
            Bson::Int32(i) => {
                self.integer_total = self.integer_total.saturating_add(i128::from(*i));
            }
            Bson::Int64(i) => {
                self.widest = self.widest.max(1);
                self.integer_total = self.integer_total.saturating_add(i128::from(*i));
            }
            Bson::Double(d) => {
                self.widest = self.widest.max(2);
                self.saw_double = true;
                // Neumaier's compensated summation.
                let t = self.double_total + d;
                if self.double_total.abs() >= d.abs() {
                    self.double_compensation += (self.double_total - t) + d;
                } else {
                    self.double_compensation += (d - t) + self.double_total;
                }
                self.double_total = t;
            }
            Bson::Decimal128(d) => {
                self.widest = 3;
                let total = self.decimal_total.unwrap_or_else(DecimalValue::zero);
                self.decimal_total = Some(total.add(DecimalValue::from_bson(d)));
            }
            _ => return false,
        }
        self.count += 1;
        true
    }

    fn doubles(&self) -> f64 {
        let d = self.double_total + self.double_compensation;
        if d.is_nan() || d.is_infinite() {
            self.double_total
        } else {
            d
        }
    }

    fn as_f64(&self) -> f64 {
        // The i128 total fits a double's range; precision beyond 2^53 is lost as in MongoDB.
        (self.integer_total as f64) + self.doubles()
    }

    fn as_decimal(&self) -> DecimalValue {
        let mut total = self.decimal_total.unwrap_or_else(DecimalValue::zero);
        if let Ok(i) = i64::try_from(self.integer_total) {
            total = total.add(DecimalValue::from_i64(i));
        } else {
            total = total.add(DecimalValue::from_f64(self.integer_total as f64));
        }
        if self.saw_double {
            total = total.add(DecimalValue::from_f64(self.doubles()));
        }
        total
    }

    /// The `$sum` result.
    pub(crate) fn sum(&self) -> Bson {
        match self.widest {
            0 => {
                if let Ok(i) = i32::try_from(self.integer_total) {
                    Bson::Int32(i)
                } else if let Ok(i) = i64::try_from(self.integer_total) {
                    Bson::Int64(i)
                } else {
                    Bson::Double(self.as_f64())
                }
            }
            1 => match i64::try_from(self.integer_total) {
                Ok(i) => Bson::Int64(i),
                Err(_) => Bson::Double(self.as_f64()),
            },
            2 => Bson::Double(self.as_f64()),
            _ => self.as_decimal().to_bson(),
        }
    }

    /// The `$avg` result: null without numeric inputs, decimal with decimal inputs, else double.
    pub(crate) fn average(&self) -> Bson {
        if self.count == 0 {
            return Bson::Null;
        }
        if self.widest == 3 {
            return self.as_decimal().divide_by_count(self.count).to_bson();
        }
        Bson::Double(self.as_f64() / (self.count as f64))
    }
}

/// Welford's running variance for `$stdDevPop`/`$stdDevSamp`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Welford {
    count: u64,
    mean: f64,
    m2: f64,
}

impl Welford {
    fn add(&mut self, x: f64) {
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / (self.count as f64);
        self.m2 += delta * (x - self.mean);
    }

    fn result(&self, sample: bool) -> Bson {
        let divisor = if sample {
            if self.count < 2 {
                return Bson::Null;
            }
            self.count - 1
        } else {
            if self.count == 0 {
                return Bson::Null;
            }
            self.count
        };
        Bson::Double((self.m2 / divisor as f64).sqrt())
    }
}
