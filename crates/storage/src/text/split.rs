//! Where a filter's `$text` is, with mongod's rules: at most one `$text` per query ("Too many
//! text expressions", 2), never under `$nor` ("text expression not allowed in nor", 2; mongod's
//! `CanonicalQuery::isValid`). It may be in the filter's conjunction (the top level or inside
//! `$and`s) or inside an `$or` (at any depth of `$and`s and `$or`s), which mongod answers as
//! the union of the text index's matches and of the other clauses' index scans.
//! (`$elemMatch` refuses `$text` in the filter parser, and `$not` never takes it: there it is
//! an unknown operator.)

use bson::{Bson, Document};

use super::query::TextArgs;
use crate::error::{Error, Result};

/// The field that stands for `$text` in the filter of a search under `$or`
/// ([`TextSplit::under_or`]): set to `true` on a candidate document the search matched
/// before the filter is tested. The NUL byte makes it a name no stored document has.
pub const TEXT_MATCH_FIELD: &str = "\0textMatch";

/// A filter with one `$text`, taken apart.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSplit {
    pub args: TextArgs,
    /// What every match meets besides the search: the filter's conjunction without `$text`,
    /// or without the `$or` that holds it.
    pub rest: Document,
    /// The conjunction that holds `$text` (the innermost `$or` clause holding it, or the whole
    /// filter), without it: where a compound text index's prefix fields get their values.
    pub clause: Document,
    /// When `$text` is under an `$or`: the whole filter with `$text` replaced by
    /// `{TEXT_MATCH_FIELD: true}`.
    pub under_or: Option<Document>,
}

/// A filter's `$text`, taken apart; `None` without one.
pub fn split_text(filter: &Document) -> Result<Option<TextSplit>> {
    let mut count = Count::default();
    count_text(filter, false, &mut count);
    if count.texts == 0 {
        return Ok(None);
    }
    if count.texts > 1 {
        return Err(Error::BadValue("Too many text expressions".into()));
    }
    if count.under_nor {
        return Err(Error::BadValue("text expression not allowed in nor".into()));
    }
    let value = text_value(filter)
        .ok_or_else(|| Error::BadValue("$text is not allowed in this context".into()))?;
    let args = TextArgs::parse(value)?;
    let rest = without_text(filter);
    if in_conjunction(filter) {
        return Ok(Some(TextSplit {
            args,
            clause: rest.clone(),
            rest,
            under_or: None,
        }));
    }
    Ok(Some(TextSplit {
        args,
        rest,
        clause: text_clause(filter),
        under_or: Some(mark_text(filter)),
    }))
}

#[derive(Default)]
struct Count {
    texts: usize,
    under_nor: bool,
}

fn count_text(filter: &Document, in_nor: bool, count: &mut Count) {
    for (key, value) in filter {
        match (key.as_str(), value) {
            ("$text", _) => {
                count.texts += 1;
                count.under_nor |= in_nor;
            }
            ("$and" | "$or" | "$nor", Bson::Array(items)) => {
                let nor = in_nor || key == "$nor";
                for item in items {
                    if let Bson::Document(clause) = item {
                        count_text(clause, nor, count);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The clauses of an `$and` or `$or` value that are documents (the filter parser reports
/// the others).
fn clauses(value: &Bson) -> impl Iterator<Item = &Document> {
    let items: &[Bson] = match value {
        Bson::Array(items) => items,
        _ => &[],
    };
    items.iter().filter_map(|item| match item {
        Bson::Document(d) => Some(d),
        _ => None,
    })
}

/// Whether `filter` holds `$text` anywhere under `$and`s and `$or`s.
pub fn holds_text(filter: &Document) -> bool {
    filter.iter().any(|(key, value)| match key.as_str() {
        "$text" => true,
        "$and" | "$or" => clauses(value).any(holds_text),
        _ => false,
    })
}

/// Whether `$text` is in the conjunction of `filter`: at its top level or inside `$and`s.
pub fn in_conjunction(filter: &Document) -> bool {
    filter.iter().any(|(key, value)| match key.as_str() {
        "$text" => true,
        "$and" => clauses(value).any(in_conjunction),
        _ => false,
    })
}

/// The clauses of the `$or` of `filter`'s conjunction that holds `$text`, if one does.
pub fn or_holding_text(filter: &Document) -> Option<&Bson> {
    for (key, value) in filter {
        match key.as_str() {
            "$or" if clauses(value).any(holds_text) => return Some(value),
            "$and" => {
                if let Some(found) = clauses(value).find_map(or_holding_text) {
                    return Some(found);
                }
            }
            _ => {}
        }
    }
    None
}

/// The `$or`s of `filter`'s conjunction (top level and inside `$and`s).
pub fn conjunction_ors(filter: &Document) -> Vec<&Bson> {
    let mut out = Vec::new();
    for (key, value) in filter {
        match key.as_str() {
            "$or" => out.push(value),
            "$and" => out.extend(clauses(value).flat_map(conjunction_ors)),
            _ => {}
        }
    }
    out
}

/// The clauses of an `$or` value.
pub fn or_clauses(value: &Bson) -> impl Iterator<Item = &Document> {
    clauses(value)
}

fn text_value(filter: &Document) -> Option<&Bson> {
    filter.iter().find_map(|(key, value)| match key.as_str() {
        "$text" => Some(value),
        "$and" | "$or" => clauses(value).find_map(text_value),
        _ => None,
    })
}

/// `filter`'s conjunction without `$text` and without the `$or` holding it. An `$and` left
/// empty is dropped; malformed `$and`s are kept for the filter parser's errors.
fn without_text(filter: &Document) -> Document {
    let mut rest = Document::new();
    for (key, value) in filter {
        match (key.as_str(), value) {
            ("$text", _) => {}
            ("$or", _) if clauses(value).any(holds_text) => {}
            ("$and", Bson::Array(items)) => {
                let mut kept = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Bson::Document(clause) if holds_text(clause) => {
                            let clause = without_text(clause);
                            if !clause.is_empty() {
                                kept.push(Bson::Document(clause));
                            }
                        }
                        other => kept.push(other.clone()),
                    }
                }
                if !kept.is_empty() || items.is_empty() {
                    rest.insert(key.clone(), Bson::Array(kept));
                }
            }
            _ => {
                rest.insert(key.clone(), value.clone());
            }
        }
    }
    rest
}

/// The innermost conjunction holding `$text` (through `$or` clauses), without it.
fn text_clause(filter: &Document) -> Document {
    if in_conjunction(filter) {
        return without_text(filter);
    }
    match or_holding_text(filter).and_then(|or| clauses(or).find(|c| holds_text(c))) {
        Some(clause) => text_clause(clause),
        None => Document::new(),
    }
}

/// `filter` with its `$text` replaced by `{TEXT_MATCH_FIELD: true}`.
fn mark_text(filter: &Document) -> Document {
    let mut out = Document::new();
    for (key, value) in filter {
        match (key.as_str(), value) {
            ("$text", _) => {
                out.insert(TEXT_MATCH_FIELD, true);
            }
            ("$and" | "$or", Bson::Array(items)) => {
                let items = items
                    .iter()
                    .map(|item| match item {
                        Bson::Document(clause) if holds_text(clause) => {
                            Bson::Document(mark_text(clause))
                        }
                        other => other.clone(),
                    })
                    .collect();
                out.insert(key.clone(), Bson::Array(items));
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn rest(filter: Document) -> Option<Document> {
        split_text(&filter).expect("valid").map(|s| s.rest)
    }

    #[test]
    fn text_comes_out_of_the_top_level_and_of_nested_ands() {
        assert_eq!(rest(doc! {"a": 1}), None);
        assert_eq!(
            rest(doc! {"$text": {"$search": "x"}, "a": 1}),
            Some(doc! {"a": 1})
        );
        assert_eq!(
            rest(doc! {"$and": [{"$text": {"$search": "x"}, "b": 2}, {"a": 1}]}),
            Some(doc! {"$and": [{"b": 2}, {"a": 1}]})
        );
        assert_eq!(
            rest(doc! {"c": 3, "$and": [{"$and": [{"$text": {"$search": "x"}}]}]}),
            Some(doc! {"c": 3})
        );
        // An empty `$and` stays for the parser's error.
        assert_eq!(rest(doc! {"$and": []}), None);
        let split = split_text(&doc! {"$text": {"$search": "x"}, "a": 1})
            .expect("valid")
            .expect("text");
        assert_eq!(split.under_or, None);
        assert_eq!(split.clause, doc! {"a": 1});
    }

    #[test]
    fn text_under_or_keeps_the_rest_and_marks_the_filter() {
        let filter = doc! {
            "a": 1,
            "$or": [{"$text": {"$search": "x"}, "pre": 3}, {"b": 2}],
        };
        let split = split_text(&filter).expect("valid").expect("text");
        assert_eq!(split.args.search, "x");
        assert_eq!(split.rest, doc! {"a": 1});
        assert_eq!(split.clause, doc! {"pre": 3});
        assert_eq!(
            split.under_or,
            Some(doc! {"a": 1, "$or": [{TEXT_MATCH_FIELD: true, "pre": 3}, {"b": 2}]})
        );
        // Deeper: an `$or` in an `$and` in an `$or` clause.
        let deep = doc! {"$or": [
            {"$and": [{"p": 1}, {"$or": [{"$and": [{"$text": {"$search": "y"}}]}, {"c": 1}]}]},
            {"d": 1},
        ]};
        let split = split_text(&deep).expect("valid").expect("text");
        assert_eq!(split.rest, Document::new());
        assert_eq!(split.clause, Document::new());
        assert!(!in_conjunction(&deep));
        assert!(holds_text(&deep));
    }

    #[test]
    fn one_text_per_query_and_never_under_nor() {
        let twice = doc! {"$text": {"$search": "x"}, "$and": [{"$text": {"$search": "y"}}]};
        let err = split_text(&twice).expect_err("refused");
        assert_eq!(
            (err.code(), err.to_string().as_str()),
            (2, "Too many text expressions")
        );
        let or_twice = doc! {"$or": [{"$text": {"$search": "x"}}, {"$text": {"$search": "y"}}]};
        assert_eq!(split_text(&or_twice).err().map(|e| e.code()), Some(2));
        for filter in [
            doc! {"$nor": [{"$text": {"$search": "x"}}, {"a": 1}]},
            doc! {"$or": [{"$nor": [{"$text": {"$search": "x"}}]}, {"a": 1}]},
        ] {
            let err = split_text(&filter).expect_err("refused");
            assert_eq!(err.code(), 2);
            assert_eq!(err.to_string(), "text expression not allowed in nor");
        }
    }
}
