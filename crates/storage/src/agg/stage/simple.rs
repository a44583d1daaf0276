//! The stages with a number or a name for argument and little to run: `$limit`, `$skip`,
//! `$count` and `$sample` (parsed with MongoDB's codes; `$sample` by reservoir sampling with
//! a small seeded generator), and `$documents` (its expression's array of documents).

use bson::{Bson, Document};

use crate::agg::expr::Expr;
use crate::agg::paths::integral_i64;
use crate::agg::{DocStream, RunContext};
use crate::error::{Error, Result};

/// `$limit`: a positive 64-bit integer (5107201 when not an integer, 15958 when not positive).
pub(super) fn parse_limit(spec: &Bson) -> Result<u64> {
    let n = parse_stage_integer(spec, "$limit", 5107201)?;
    if n <= 0 {
        return Err(Error::coded(15958, "the limit must be positive"));
    }
    u64::try_from(n).map_err(|_| Error::coded(15958, "the limit must be positive"))
}

/// `$skip`: a non-negative 64-bit integer (5107200).
pub(super) fn parse_skip(spec: &Bson) -> Result<u64> {
    let n = parse_stage_integer(spec, "$skip", 5107200)?;
    u64::try_from(n).map_err(|_| {
        Error::coded(
            5107200,
            format!(
                "invalid argument to $skip stage: Expected a non-negative number in: $skip: {n}"
            ),
        )
    })
}

/// MongoDB's `parseIntegerElementToLong` with the stage's error code.
fn parse_stage_integer(spec: &Bson, stage: &str, code: i32) -> Result<i64> {
    if !crate::agg::paths::is_number(spec) {
        return Err(Error::coded(
            code,
            format!("invalid argument to {stage} stage: Expected a number in: {stage}: {spec}"),
        ));
    }
    if let Bson::Double(d) = spec {
        if d.is_nan() {
            return Err(Error::coded(
                code,
                format!(
                    "invalid argument to {stage} stage: Expected an integer, but found NaN in: \
                     {stage}: {spec}"
                ),
            ));
        }
    }
    integral_i64(spec).ok_or_else(|| {
        let reason = match spec {
            Bson::Decimal128(_) => "Cannot represent as a 64-bit integer",
            _ => "Expected an integer",
        };
        Error::coded(
            code,
            format!("invalid argument to {stage} stage: {reason}: {stage}: {spec}"),
        )
    })
}

/// `$count: "<field>"` (40156/40157/40158/40160).
pub(super) fn parse_count(spec: &Bson) -> Result<String> {
    let Bson::String(field) = spec else {
        return Err(Error::coded(
            40156,
            "the count field must be a non-empty string",
        ));
    };
    if field.is_empty() {
        return Err(Error::coded(
            40157,
            "the count field must be a non-empty string",
        ));
    }
    if field.starts_with('$') {
        return Err(Error::coded(
            40158,
            "the count field cannot be a $-prefixed path",
        ));
    }
    if field.contains('.') {
        return Err(Error::coded(40160, "the count field cannot contain '.'"));
    }
    Ok(field.clone())
}

/// `$sample: {size: n}` (28745-28749).
pub(super) fn parse_sample(spec: &Bson) -> Result<u64> {
    let Bson::Document(d) = spec else {
        return Err(Error::coded(
            28745,
            "the $sample stage specification must be an object",
        ));
    };
    let mut size = None;
    for (k, v) in d {
        if k == "size" {
            if !crate::agg::paths::is_number(v) {
                return Err(Error::coded(
                    28746,
                    "size argument to $sample must be a number",
                ));
            }
            let n = crate::value::Number::of(v)
                .map(|n| n.to_f64())
                .unwrap_or(0.0);
            if n < 0.0 {
                return Err(Error::coded(
                    28747,
                    "size argument to $sample must not be negative",
                ));
            }
            size = Some(integral_i64(v).unwrap_or(n.clamp(0.0, 9.0e18) as i64));
        } else {
            return Err(Error::coded(
                28748,
                format!("unrecognized option to $sample: {k}"),
            ));
        }
    }
    let Some(size) = size else {
        return Err(Error::coded(28749, "$sample stage must specify a size"));
    };
    Ok(u64::try_from(size).unwrap_or(0))
}

/// `$sample`: a uniform random sample without replacement (reservoir sampling), in random
/// order.
pub(super) fn sample(input: DocStream<'_>, size: u64) -> Result<Vec<Document>> {
    let keep = usize::try_from(size).unwrap_or(usize::MAX);
    let mut rng = SmallRng::seeded();
    let mut reservoir: Vec<Document> = Vec::new();
    let mut seen: u64 = 0;
    for r in input {
        let doc = r?;
        seen += 1;
        if reservoir.len() < keep {
            reservoir.push(doc);
        } else {
            let j = rng.below(seen);
            if let Ok(j) = usize::try_from(j) {
                if let Some(slot) = reservoir.get_mut(j) {
                    *slot = doc;
                }
            }
        }
    }
    // Fisher-Yates shuffle.
    for i in (1..reservoir.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap_or(0);
        reservoir.swap(i, j);
    }
    Ok(reservoir)
}

/// A small xorshift generator; `$sample` needs randomness, not cryptography.
struct SmallRng(u64);

impl SmallRng {
    fn seeded() -> SmallRng {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        SmallRng(hasher.finish() | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..bound` (bound > 0).
    fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        self.next() % bound
    }
}

/// `$documents`: the expression must give an array of documents.
pub(super) fn evaluate_documents(expr: &Expr, context: &RunContext<'_>) -> Result<Vec<Document>> {
    let value = expr.eval(&Document::new(), &context.vars())?;
    let error = || {
        Error::coded(
            5858203,
            "error during lookup of $documents: the expression must evaluate to an array of \
             objects",
        )
    };
    match value {
        Some(Bson::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Bson::Document(d) => Ok(d),
                _ => Err(error()),
            })
            .collect(),
        _ => Err(error()),
    }
}
