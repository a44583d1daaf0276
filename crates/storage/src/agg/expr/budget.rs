//! The bounds on what an expression builds: the memory of the values it holds or makes
//! ([`Budget`], 146 past the blocking-stage limit), the depth of built values (200 levels),
//! and the 16 MB string limit (16493). Every operator's result passes [`check_result`].

use bson::Bson;

use crate::error::{Error, Result};

/// The longest string an expression may build: MongoDB refuses strings of 16 MB and more
/// with 16493.
pub(super) const MAX_STRING_BYTES: usize = 16 * 1024 * 1024;

/// The most an expression may build or hold at once in arrays, documents and argument lists:
/// the memory limit of a blocking stage (100 MB), past which MongoDB fails with
/// ExceededMemoryLimit (146).
pub(super) const MAX_VALUE_BYTES: usize = crate::agg::BLOCKING_STAGE_MEMORY_LIMIT_BYTES;

pub(super) fn string_too_long() -> Error {
    Error::coded(16493, "Tried to create string longer than 16MB")
}

pub(super) fn too_much_memory(name: &str) -> Error {
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
pub(super) const MAX_VALUE_DEPTH: usize = 200;

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
pub(super) fn memory_size(value: &Bson) -> Result<usize> {
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
pub(super) fn check_result(name: &'static str, value: &Option<Bson>) -> Result<()> {
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
