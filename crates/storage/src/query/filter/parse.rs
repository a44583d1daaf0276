//! Parsing a filter document into the [`Node`] tree: top-level operators (`$and`, `$or`,
//! `$nor`, `$expr`, `$jsonSchema`, `$comment`, `$alwaysTrue`/`$alwaysFalse`, and the refusal
//! of `$text`, `$where` and others where they cannot run), a path's operator document, `$not`,
//! `$all`, `$elemMatch`, `$regex` with `$options`, and `$in`/`$nin` sets.

use bson::{Bson, Document};

use super::eval::is_truthy;
use super::regex::CompiledRegex;
use super::scalar::{exact_integer, parse_bitmask, parse_mod, parse_size, parse_type_selectors};
use super::schema::Schema;
use super::{BitTest, Comparison, InSet, Node, Op, PathPredicate};
use crate::agg::expr::{Expr, Vars};
use crate::error::{Error, Result};

/// Parsing state shared by nested filters.
pub(super) struct ParseContext {
    pub(super) variables: Vars,
}

impl ParseContext {
    /// Parses a filter document (top level or nested in `$and`/`$or`/`$nor`/`$elemMatch`).
    /// `in_elem_match`: the filter applies to array elements (`$elemMatch`), where `$expr`,
    /// `$where` and `$text` are refused.
    pub(super) fn parse_document(&self, filter: &Document, in_elem_match: bool) -> Result<Node> {
        let mut nodes = Vec::new();
        for (key, value) in filter {
            if let Some(operator) = key.strip_prefix('$') {
                if let Some(node) =
                    self.parse_top_level_operator(operator, key, value, in_elem_match)?
                {
                    nodes.push(node);
                }
            } else {
                nodes.push(self.parse_path(key, value)?);
            }
        }
        Ok(if nodes.len() == 1 {
            nodes.pop().unwrap_or(Node::Constant(true))
        } else {
            Node::And(nodes)
        })
    }

    fn parse_top_level_operator(
        &self,
        operator: &str,
        key: &str,
        value: &Bson,
        in_elem_match: bool,
    ) -> Result<Option<Node>> {
        if in_elem_match && matches!(operator, "expr" | "where" | "text") {
            return Err(Error::BadValue(format!(
                "{key} can only be applied to the top-level document"
            )));
        }
        Ok(Some(match operator {
            "and" | "or" | "nor" => {
                let Bson::Array(items) = value else {
                    return Err(Error::BadValue(format!("{key} must be an array")));
                };
                if items.is_empty() {
                    return Err(Error::BadValue(
                        "$and/$or/$nor must be a nonempty array".into(),
                    ));
                }
                let mut children = Vec::new();
                for item in items {
                    let Bson::Document(d) = item else {
                        return Err(Error::BadValue(
                            "$or/$and/$nor entries need to be full objects".into(),
                        ));
                    };
                    children.push(self.parse_document(d, in_elem_match)?);
                }
                match operator {
                    "and" => Node::And(children),
                    "or" => Node::Or(children),
                    _ => Node::Nor(children),
                }
            }
            "comment" => return Ok(None),
            "alwaysTrue" | "alwaysFalse" => {
                if exact_integer(value) != Some(1) {
                    return Err(Error::FailedToParse(format!(
                        "{key} must be an integer value of 1"
                    )));
                }
                Node::Constant(operator == "alwaysTrue")
            }
            "expr" => {
                let expr = Expr::parse(value)?;
                Node::Expr(Box::new(expr), Box::new(self.variables.clone()))
            }
            "jsonSchema" => {
                let Bson::Document(d) = value else {
                    return Err(Error::TypeMismatch("$jsonSchema must be an object".into()));
                };
                Node::Schema(Box::new(Schema::parse(d)?))
            }
            "text" => {
                return Err(Error::NotSupported(
                    "$text is supported in a find's or count's filter and in an aggregation's \
                     first $match only; $text in updates, deletes, distinct, views or later \
                     stages is not supported by Outpost"
                        .into(),
                ))
            }
            "where" | "sampleRate" | "search" => {
                return Err(Error::NotSupported(format!("{key} is not supported")))
            }
            _ => {
                let hint = if operator == "not" {
                    "If you are trying to negate an entire expression, use $nor."
                } else {
                    "If you have a field name that starts with a '$' symbol, consider using $getField or $setField."
                };
                return Err(Error::BadValue(format!(
                    "unknown top level operator: {key}. {hint}"
                )));
            }
        }))
    }

    /// Parses `path: value`: an operator document, a regex, or an equality.
    fn parse_path(&self, path: &str, value: &Bson) -> Result<Node> {
        crate::value::path::check_path_length(path)?;
        match value {
            Bson::RegularExpression(r) => Ok(path_node(
                path,
                Op::Regex(CompiledRegex::new(&r.pattern, &r.options)?),
            )),
            Bson::Document(d) if is_operator_document(d) => self.parse_operators(path, d),
            _ => Ok(path_node(path, Op::Eq(value.clone()))),
        }
    }

    /// Parses `{$gt: 1, $lt: 5, ...}` on one path into an AND of predicates.
    fn parse_operators(&self, path: &str, operators: &Document) -> Result<Node> {
        let mut nodes = Vec::new();
        // `$regex` and `$options` combine into one predicate.
        if operators.contains_key("$options") && !operators.contains_key("$regex") {
            return Err(Error::BadValue("$options needs a $regex".into()));
        }
        if operators.contains_key("$regex") {
            nodes.push(path_node(path, Op::Regex(parse_regex_operator(operators)?)));
        }
        // `$near`/`$nearSphere` take their sibling `$minDistance`/`$maxDistance`.
        if let Some(near) = ["$near", "$nearSphere"]
            .into_iter()
            .find(|op| operators.contains_key(*op))
        {
            let predicate = crate::geo::GeoPredicate::parse_near(near, operators)?;
            return Ok(path_node(path, Op::Geo(Box::new(predicate))));
        }
        for (key, value) in operators {
            match key.as_str() {
                "$regex" | "$options" => {}
                "$not" => nodes.push(Node::Not(Box::new(self.parse_not(path, value)?))),
                "$ne" => {
                    if matches!(value, Bson::RegularExpression(_)) {
                        return Err(Error::BadValue("Can't have regex as arg to $ne.".into()));
                    }
                    nodes.push(Node::Not(Box::new(path_node(path, Op::Eq(value.clone())))))
                }
                "$nin" => nodes.push(Node::Not(Box::new(path_node(
                    path,
                    Op::In(parse_in_set(key, value)?),
                )))),
                "$exists" => {
                    let exists = path_node(path, Op::Exists);
                    nodes.push(if is_truthy(value) {
                        exists
                    } else {
                        Node::Not(Box::new(exists))
                    })
                }
                "$all" => nodes.push(self.parse_all(path, value)?),
                "$elemMatch" => nodes.push(path_node(path, self.parse_elem_match(value)?)),
                _ => nodes.push(path_node(
                    path,
                    self.parse_value_operator(path, key, value)?,
                )),
            }
        }
        Ok(if nodes.len() == 1 {
            nodes.pop().unwrap_or(Node::Constant(true))
        } else {
            Node::And(nodes)
        })
    }

    /// Operators that test one value and so can also appear inside `$elemMatch` (value form)
    /// and `$not`.
    fn parse_value_operator(&self, path: &str, key: &str, value: &Bson) -> Result<Op> {
        if matches!(key, "$gt" | "$gte" | "$lt" | "$lte")
            && matches!(value, Bson::RegularExpression(_))
        {
            return Err(Error::BadValue(format!(
                "Can't have RegEx as arg to predicate over field '{path}'."
            )));
        }
        Ok(match key {
            "$eq" => Op::Eq(value.clone()),
            "$gt" => Op::Compare(Comparison::Gt, value.clone()),
            "$gte" => Op::Compare(Comparison::Gte, value.clone()),
            "$lt" => Op::Compare(Comparison::Lt, value.clone()),
            "$lte" => Op::Compare(Comparison::Lte, value.clone()),
            "$in" => Op::In(parse_in_set(key, value)?),
            "$size" => Op::Size(parse_size(value)?),
            "$type" => {
                let selectors = parse_type_selectors(value)?;
                if selectors.is_empty() {
                    return Err(Error::FailedToParse(format!(
                        "{path} must match at least one type"
                    )));
                }
                Op::Type(selectors)
            }
            "$where" => {
                return Err(Error::BadValue(
                    "$where cannot be applied to a field".into(),
                ))
            }
            "$mod" => parse_mod(value)?,
            "$bitsAllSet" => Op::Bits(BitTest::AllSet, parse_bitmask(key, value)?),
            "$bitsAnySet" => Op::Bits(BitTest::AnySet, parse_bitmask(key, value)?),
            "$bitsAllClear" => Op::Bits(BitTest::AllClear, parse_bitmask(key, value)?),
            "$bitsAnyClear" => Op::Bits(BitTest::AnyClear, parse_bitmask(key, value)?),
            "$elemMatch" => self.parse_elem_match(value)?,
            "$geoWithin" | "$within" => {
                Op::Geo(Box::new(crate::geo::GeoPredicate::parse_within(value)?))
            }
            "$geoIntersects" => {
                Op::Geo(Box::new(crate::geo::GeoPredicate::parse_intersects(value)?))
            }
            "$near" | "$nearSphere" | "$maxDistance" | "$minDistance" => {
                return Err(Error::BadValue(format!(
                    "{key} must be a top-level predicate on a field, with $near or $nearSphere"
                )))
            }
            "$geoNear" | "$box" | "$center" | "$centerSphere" | "$polygon" | "$geometry" => {
                return Err(Error::BadValue(format!("unknown operator: {key}")))
            }
            _ => return Err(Error::BadValue(format!("unknown operator: {key}"))),
        })
    }

    fn parse_not(&self, path: &str, value: &Bson) -> Result<Node> {
        match value {
            Bson::RegularExpression(r) => Ok(path_node(
                path,
                Op::Regex(CompiledRegex::new(&r.pattern, &r.options)?),
            )),
            Bson::Document(d) => {
                if d.is_empty() {
                    return Err(Error::BadValue("$not cannot be empty".into()));
                }
                if !d.keys().all(|k| k.starts_with('$')) {
                    return Err(Error::BadValue(format!(
                        "unknown operator: {}",
                        d.keys()
                            .find(|k| !k.starts_with('$'))
                            .map_or("", |k| k.as_str())
                    )));
                }
                self.parse_operators(path, d)
            }
            _ => Err(Error::BadValue("$not needs a regex or a document".into())),
        }
    }

    fn parse_all(&self, path: &str, value: &Bson) -> Result<Node> {
        let Bson::Array(items) = value else {
            return Err(Error::BadValue("$all needs an array".into()));
        };
        if items.is_empty() {
            return Ok(Node::Constant(false));
        }
        let is_elem_match = |v: &Bson| matches!(v, Bson::Document(d) if d.keys().next().is_some_and(|k| k == "$elemMatch"));
        let mut nodes = Vec::new();
        if items.first().is_some_and(is_elem_match) {
            for item in items {
                match item {
                    Bson::Document(d) if is_elem_match(item) && d.len() == 1 => {
                        let inner = d.get("$elemMatch").unwrap_or(&Bson::Null);
                        nodes.push(path_node(path, self.parse_elem_match(inner)?));
                    }
                    _ => {
                        return Err(Error::BadValue(
                            "$all/$elemMatch has to be consistent".into(),
                        ))
                    }
                }
            }
        } else {
            for item in items {
                match item {
                    Bson::RegularExpression(r) => nodes.push(path_node(
                        path,
                        Op::Regex(CompiledRegex::new(&r.pattern, &r.options)?),
                    )),
                    Bson::Document(d) if is_operator_document(d) => {
                        return Err(Error::BadValue("no $ expressions in $all".into()))
                    }
                    _ => nodes.push(path_node(path, Op::Eq(item.clone()))),
                }
            }
        }
        Ok(Node::And(nodes))
    }

    fn parse_elem_match(&self, value: &Bson) -> Result<Op> {
        let Bson::Document(d) = value else {
            return Err(Error::BadValue("$elemMatch needs an Object".into()));
        };
        let value_form = d.keys().next().is_some_and(|k| {
            k.starts_with('$')
                && !matches!(
                    k.as_str(),
                    "$and"
                        | "$or"
                        | "$nor"
                        | "$where"
                        | "$expr"
                        | "$jsonSchema"
                        | "$text"
                        | "$comment"
                        | "$alwaysTrue"
                        | "$alwaysFalse"
                )
        });
        if !value_form {
            return Ok(Op::ElemMatchObject(Box::new(self.parse_document(d, true)?)));
        }
        // Value form: each operator applies to the element itself. `$not` and `$regex` are
        // expressed as nodes on an empty path, evaluated on a one-field wrapper.
        let mut ops = Vec::new();
        if d.contains_key("$options") && !d.contains_key("$regex") {
            return Err(Error::BadValue("$options needs a $regex".into()));
        }
        if d.contains_key("$regex") {
            ops.push(Op::Regex(parse_regex_operator(d)?));
        }
        for (key, v) in d {
            match key.as_str() {
                "$regex" | "$options" => {}
                "$ne" | "$nin" | "$not" | "$exists" | "$all" => {
                    // Evaluate against `{"": element}` with the general machinery.
                    let mut one = Document::new();
                    one.insert(key.clone(), v.clone());
                    let mut node = self.parse_operators("", &one)?;
                    disable_leaf_array_expansion(&mut node);
                    ops.push(Op::OnElement(Box::new(node)));
                }
                _ if !key.starts_with('$') => {
                    return Err(Error::BadValue(format!("unknown operator: {key}")))
                }
                _ => ops.push(self.parse_value_operator("", key, v)?),
            }
        }
        Ok(Op::ElemMatchValue(ops))
    }
}

fn path_node(path: &str, op: Op) -> Node {
    Node::Path(PathPredicate {
        path: path.to_string(),
        components: path.split('.').map(str::to_string).collect(),
        op,
        expand_leaf_arrays: true,
    })
}

/// Makes every predicate of `node` test values as a whole (see
/// [`PathPredicate::expand_leaf_arrays`]).
fn disable_leaf_array_expansion(node: &mut Node) {
    match node {
        Node::And(children) | Node::Or(children) | Node::Nor(children) => {
            children.iter_mut().for_each(disable_leaf_array_expansion)
        }
        Node::Not(child) => disable_leaf_array_expansion(child),
        Node::Path(p) => p.expand_leaf_arrays = false,
        Node::Expr(..) | Node::Schema(_) | Node::Constant(_) => {}
    }
}

/// Whether `{...}` as a path's value is an operator document (`{$gt: 1}`) rather than a
/// document to compare with. DBRef-like documents (`{$ref, $id}`) are documents.
fn is_operator_document(d: &Document) -> bool {
    d.keys()
        .next()
        .is_some_and(|k| k.starts_with('$') && !matches!(k.as_str(), "$ref" | "$id" | "$db"))
}

/// `$regex` with `$options` from an operator document, checked in document order as MongoDB
/// does (flags on a regex literal and a non-empty `$options` conflict: 51074 when `$options`
/// came first, 51075 otherwise).
fn parse_regex_operator(operators: &Document) -> Result<CompiledRegex> {
    let mut pattern = "";
    let mut options = "";
    for (key, value) in operators {
        match key.as_str() {
            "$regex" => match value {
                Bson::String(p) => pattern = p,
                Bson::RegularExpression(r) => {
                    pattern = &r.pattern;
                    if !r.options.is_empty() {
                        if !options.is_empty() {
                            return Err(Error::coded(
                                51074,
                                "options set in both $regex and $options",
                            ));
                        }
                        options = &r.options;
                    }
                }
                _ => return Err(Error::BadValue("$regex has to be a string".into())),
            },
            "$options" => {
                let Bson::String(o) = value else {
                    return Err(Error::BadValue("$options has to be a string".into()));
                };
                if !options.is_empty() {
                    return Err(Error::coded(
                        51075,
                        "options set in both $regex and $options",
                    ));
                }
                options = o;
            }
            _ => {}
        }
    }
    CompiledRegex::new(pattern, options)
}

fn parse_in_set(key: &str, value: &Bson) -> Result<InSet> {
    let Bson::Array(items) = value else {
        return Err(Error::BadValue(format!("{key} needs an array")));
    };
    let mut set = InSet {
        values: Vec::new(),
        regexes: Vec::new(),
    };
    for item in items {
        match item {
            Bson::RegularExpression(r) => set
                .regexes
                .push(CompiledRegex::new(&r.pattern, &r.options)?),
            Bson::Document(d) if is_operator_document(d) => {
                return Err(Error::BadValue("cannot nest $ under $in".into()))
            }
            _ => set.values.push(item.clone()),
        }
    }
    Ok(set)
}
