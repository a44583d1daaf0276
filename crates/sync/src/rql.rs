//! Realm Query Language (RQL) to MongoDB filter documents.
//!
//! Atlas Edge Server and Device Sync describe what a client syncs with RQL text such as
//! `store_id == 42 && status IN {'open', 'paid'}`. [`compile`] turns that text into a MongoDB
//! filter document (`{$and: [{store_id: 42}, {status: {$in: ['open', 'paid']}}]}`) so that the
//! storage crate's filter evaluates it, the same code that answers `find`.
//!
//! Supported, following realm-core's grammar (`query_bison.yy`):
//! - comparisons `==` (`=`), `!=` (`<>`), `<`, `<=` (`=<`), `>`, `>=` (`=>`), with the property
//!   on either side (`42 == store_id` flips to `store_id == 42`), and `==[c]`/`!=[c]` for
//!   case-insensitive string equality;
//! - `&&`/`AND`, `||`/`OR`, `!`/`NOT`, parentheses; NOT binds tighter than AND, AND than OR;
//! - `IN {a, b}` (also `IN[c]`), `'x' IN tags` (the list property contains 'x'), `BETWEEN {a, b}`;
//! - `BEGINSWITH`, `ENDSWITH`, `CONTAINS`, `LIKE` (`*` any run, `?` one character), each with
//!   an optional `[c]`, compiled to an anchored, escaped `$regex`;
//! - `ANY`/`SOME` (a no-op: MongoDB already matches any array element) and `NONE` prefixes on
//!   properties, and on lists: `== ANY {a, b}` is `$in`, `== NONE {a, b}` is `$nin`;
//! - `TRUEPREDICATE` (`{}`) and `FALSEPREDICATE` ([`always_false_filter`]);
//! - literals: strings, integers (int32 when they fit, else int64; `0x` hex), floats, `inf`,
//!   `nan`, `true`, `false`, `null`/`nil`, `oid(...)`, `uuid(...)`, `B64"..."`, timestamps
//!   (`T<s>:<ns>`, `YYYY-MM-DD@HH:MM:SS`), lists `{...}` where a list is accepted;
//! - dotted property paths (`address.city`).
//!
//! Keywords are case-insensitive. Valid RQL that has no faithful MongoDB filter is refused with
//! [`Error::NotSupported`] naming it (arithmetic, `ALL`, `SUBQUERY`, `@count` and other `@`
//! operators, `$0` arguments, subscripts, `TEXT`, `GEOWITHIN`, `SORT`/`DISTINCT`/`LIMIT`,
//! comparing two properties, `[d]`); malformed text with [`Error::InvalidQuery`] at the byte
//! offset where the problem was found.
//!
//! Semantics to know: `!=` compiles to `$ne`, which for an array property means "no element
//! equals", and which matches documents missing the property; `== null` matches a missing
//! property, as MongoDB's `{a: null}` does.

mod lexer;
#[cfg(test)]
mod tests;

use bson::{doc, Bson, Document, Regex};

use crate::error::{Error, Result};
use lexer::{CompareOp, Token, TokenKind};

/// Parentheses and `NOT`s nested deeper than this are refused, so that hostile input cannot
/// exhaust the stack.
const MAX_NESTING_DEPTH: usize = 100;

/// Compiles RQL text to a MongoDB filter document.
///
/// ```
/// use bson::doc;
/// let filter = outpost_sync::rql::compile("store_id == 42 && name BEGINSWITH[c] 'a'").unwrap();
/// assert_eq!(
///     filter,
///     doc! {"$and": [{"store_id": 42}, {"name": {"$regex": "^a", "$options": "i"}}]}
/// );
/// ```
pub fn compile(text: &str) -> Result<Document> {
    let tokens = lexer::tokenize(text)?;
    let end = Token {
        kind: TokenKind::End,
        start: text.len(),
        end: text.len(),
    };
    let mut parser = Parser {
        text,
        tokens,
        index: 0,
        depth: 0,
        end,
    };
    let filter = parser.parse_or()?;
    let token = parser.peek().clone();
    match &token.kind {
        TokenKind::End => Ok(filter),
        TokenKind::Word(word)
            if ["SORT", "DISTINCT", "LIMIT"]
                .iter()
                .any(|k| word.eq_ignore_ascii_case(k)) =>
        {
            Err(not_supported(&token, word.to_uppercase()))
        }
        _ => Err(parser.expected(&token, "'&&', '||' or the end of the query")),
    }
}

/// A filter no stored document matches: every stored document has an `_id`.
pub fn always_false_filter() -> Document {
    doc! {"_id": {"$exists": false}}
}

fn invalid(position: usize, message: impl Into<String>) -> Error {
    Error::InvalidQuery {
        position,
        message: message.into(),
    }
}

fn not_supported(token: &Token, feature: impl Into<String>) -> Error {
    Error::NotSupported {
        position: token.start,
        feature: feature.into(),
    }
}

/// The operator of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Compare(CompareOp),
    In,
    Between,
    BeginsWith,
    EndsWith,
    Contains,
    Like,
}

impl Operator {
    fn is_string_operator(self) -> bool {
        matches!(
            self,
            Operator::BeginsWith | Operator::EndsWith | Operator::Contains | Operator::Like
        )
    }
}

/// How a list property is compared: RQL's `ANY`/`SOME` (the default), `ALL` or `NONE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quantifier {
    Any,
    None,
}

/// One side of a comparison.
#[derive(Debug, Clone)]
enum Operand {
    Value(Bson),
    /// `{a, b}` or `ANY {a, b}`: equal to one of the values.
    List(Vec<Bson>),
    /// `NONE {a, b}`: equal to none of the values.
    ExcludedList(Vec<Bson>),
    Property {
        path: String,
        quantifier: Quantifier,
    },
}

/// An operand with its byte span in the query text.
#[derive(Debug, Clone)]
struct Spanned {
    operand: Operand,
    start: usize,
    end: usize,
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    index: usize,
    depth: usize,
    /// Returned by `peek` past the last token (the token list always ends with `End`, so this
    /// is only a fallback that keeps `peek` free of indexing).
    end: Token,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.index).unwrap_or(&self.end)
    }

    fn peek_second(&self) -> &Token {
        self.tokens.get(self.index + 1).unwrap_or(&self.end)
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if self.index < self.tokens.len() {
            self.index += 1;
        }
        token
    }

    /// The text of `token` as written.
    fn text_of(&self, token: &Token) -> &str {
        self.text.get(token.start..token.end).unwrap_or("")
    }

    fn text_between(&self, start: usize, end: usize) -> &str {
        self.text.get(start..end).unwrap_or("")
    }

    /// "expected X, found 'y'" at `token`, or just "expected X" at the end of the query.
    fn expected(&self, token: &Token, what: &str) -> Error {
        if token.kind == TokenKind::End {
            invalid(token.start, format!("expected {what}"))
        } else {
            invalid(
                token.start,
                format!("expected {what}, found '{}'", self.text_of(token)),
            )
        }
    }

    fn is_keyword(token: &Token, keyword: &str) -> bool {
        matches!(&token.kind, TokenKind::Word(word) if word.eq_ignore_ascii_case(keyword))
    }

    fn enter(&mut self, token: &Token) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING_DEPTH {
            return Err(invalid(
                token.start,
                format!("query nested more than {MAX_NESTING_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// `and_query (('||' | OR) and_query)*`
    fn parse_or(&mut self) -> Result<Document> {
        let mut branches = vec![self.parse_and()?];
        while matches!(self.peek().kind, TokenKind::Or) || Self::is_keyword(self.peek(), "OR") {
            let operator = self.advance();
            // AND binds tighter: each OR branch is a whole AND chain.
            let first = self.parse_unary_after(&operator)?;
            branches.push(self.continue_and(first)?);
        }
        Ok(combine("$or", branches))
    }

    /// `unary (('&&' | AND) unary)*`
    fn parse_and(&mut self) -> Result<Document> {
        let first = self.parse_unary(None)?;
        self.continue_and(first)
    }

    fn continue_and(&mut self, first: Document) -> Result<Document> {
        let mut operands = vec![first];
        while matches!(self.peek().kind, TokenKind::And) || Self::is_keyword(self.peek(), "AND") {
            let operator = self.advance();
            operands.push(self.parse_unary_after(&operator)?);
        }
        Ok(combine("$and", operands))
    }

    fn parse_unary_after(&mut self, operator: &Token) -> Result<Document> {
        let operator_text = self.text_of(operator).to_string();
        self.parse_unary(Some(&operator_text))
    }

    /// `('!' | NOT) unary | '(' or_query ')' | TRUEPREDICATE | FALSEPREDICATE | comparison`.
    /// `after` is the text of the operator before it, for messages.
    fn parse_unary(&mut self, after: Option<&str>) -> Result<Document> {
        let token = self.peek().clone();
        if matches!(token.kind, TokenKind::Not) || Self::is_keyword(&token, "NOT") {
            self.advance();
            self.enter(&token)?;
            let operator_text = self.text_of(&token).to_string();
            let inner = self.parse_unary(Some(&operator_text))?;
            self.leave();
            return Ok(doc! {"$nor": [inner]});
        }
        if token.kind == TokenKind::LeftParen {
            self.advance();
            self.enter(&token)?;
            let inner = self.parse_or()?;
            let closing = self.peek().clone();
            if closing.kind != TokenKind::RightParen {
                return Err(self.expected(&closing, "'&&', '||' or ')'"));
            }
            self.advance();
            self.leave();
            return Ok(inner);
        }
        if Self::is_keyword(&token, "TRUEPREDICATE") {
            self.advance();
            return Ok(Document::new());
        }
        if Self::is_keyword(&token, "FALSEPREDICATE") {
            self.advance();
            return Ok(always_false_filter());
        }
        if Self::is_keyword(&token, "SUBQUERY") && self.peek_second().kind == TokenKind::LeftParen {
            return Err(not_supported(&token, "SUBQUERY"));
        }
        let what = match after {
            Some(operator) => format!("a comparison after '{operator}'"),
            None => "a comparison".to_string(),
        };
        // `a == 1 OR OR b == 2`: AND and OR are never property names.
        let reserved = Self::is_keyword(&token, "AND") || Self::is_keyword(&token, "OR");
        if reserved || !Self::can_start_operand(&token) {
            return Err(self.expected(&token, &what));
        }
        self.parse_comparison()
    }

    fn can_start_operand(token: &Token) -> bool {
        matches!(
            token.kind,
            TokenKind::Word(_)
                | TokenKind::Literal(_)
                | TokenKind::LeftBrace
                | TokenKind::Argument
                | TokenKind::AtWord(_)
        )
    }

    /// `operand operator ['[c]'] operand`
    fn parse_comparison(&mut self) -> Result<Document> {
        let left = self.parse_operand(None)?;
        let operator_token = self.advance();
        let operator = match &operator_token.kind {
            TokenKind::Compare(op) => Operator::Compare(*op),
            TokenKind::Word(word) => match word.to_ascii_uppercase().as_str() {
                "IN" => Operator::In,
                "BETWEEN" => Operator::Between,
                "BEGINSWITH" => Operator::BeginsWith,
                "ENDSWITH" => Operator::EndsWith,
                "CONTAINS" => Operator::Contains,
                "LIKE" => Operator::Like,
                "TEXT" | "GEOWITHIN" => {
                    return Err(not_supported(&operator_token, word.to_uppercase()))
                }
                _ => return Err(self.expected_operator(&left, &operator_token)),
            },
            TokenKind::Arithmetic(sign) => {
                return Err(not_supported(
                    &operator_token,
                    format!("arithmetic ('{sign}')"),
                ))
            }
            TokenKind::LeftBracket => {
                return Err(not_supported(&operator_token, "subscripts ('[...]')"))
            }
            _ => return Err(self.expected_operator(&left, &operator_token)),
        };
        let operator_text = self.text_of(&operator_token).to_string();
        let mut case_insensitive = false;
        if let TokenKind::Modifier(modifier) = self.peek().kind.clone() {
            let modifier_token = self.advance();
            match modifier.as_str() {
                "c" => case_insensitive = true,
                "d" | "cd" | "dc" => {
                    return Err(not_supported(
                        &modifier_token,
                        format!("diacritic-insensitive comparison ('[{modifier}]')"),
                    ))
                }
                _ => {
                    return Err(invalid(
                        modifier_token.start,
                        format!("unknown modifier '[{modifier}]': expected '[c]'"),
                    ))
                }
            }
            let allows_case = matches!(
                operator,
                Operator::Compare(CompareOp::Equal | CompareOp::NotEqual) | Operator::In
            ) || operator.is_string_operator();
            if !allows_case {
                return Err(invalid(
                    modifier_token.start,
                    format!("'[c]' cannot follow '{operator_text}'"),
                ));
            }
        }
        let right = self.parse_operand(Some(&operator_text))?;
        self.compile_comparison(left, operator, &operator_token, case_insensitive, right)
    }

    fn expected_operator(&self, left: &Spanned, found: &Token) -> Error {
        let what = format!(
            "a comparison operator after '{}'",
            self.text_between(left.start, left.end)
        );
        self.expected(found, &what)
    }

    /// A value, a list or a property path. `after` is the operator before a right-hand
    /// operand, for messages.
    fn parse_operand(&mut self, after: Option<&str>) -> Result<Spanned> {
        let token = self.peek().clone();
        let what = match after {
            Some(operator) => format!("a value after '{operator}'"),
            None => "a property or a value".to_string(),
        };
        let operand = match &token.kind {
            TokenKind::Literal(value) => {
                self.advance();
                Operand::Value(value.clone())
            }
            TokenKind::LeftBrace => return self.parse_list(),
            TokenKind::LeftParen if after.is_some() => {
                self.advance();
                self.enter(&token)?;
                let inner = self.parse_operand(after)?;
                let closing = self.peek().clone();
                if closing.kind != TokenKind::RightParen {
                    return Err(self.expected(&closing, "')'"));
                }
                self.advance();
                self.leave();
                return Ok(Spanned {
                    operand: inner.operand,
                    start: token.start,
                    end: closing.end,
                });
            }
            TokenKind::Argument => {
                return Err(not_supported(&token, "a query argument ('$0')"));
            }
            TokenKind::AtWord(word) => {
                return Err(not_supported(&token, format!("'{word}'")));
            }
            TokenKind::Word(word) if self.peek_second().kind == TokenKind::LeftBrace => {
                // `ANY {a, b}`, `NONE {a, b}`: a quantified list.
                let upper = word.to_ascii_uppercase();
                if !matches!(upper.as_str(), "ANY" | "SOME" | "NONE") {
                    let feature = if upper == "ALL" {
                        "ALL".to_string()
                    } else {
                        format!("'{word}' before a list")
                    };
                    return Err(not_supported(&token, feature));
                }
                self.advance();
                let list = self.parse_list()?;
                let operand = match (upper.as_str(), list.operand) {
                    ("NONE", Operand::List(values)) => Operand::ExcludedList(values),
                    (_, operand) => operand,
                };
                return Ok(Spanned {
                    operand,
                    start: token.start,
                    end: list.end,
                });
            }
            TokenKind::Word(word) => {
                if let Some(value) = keyword_value(word) {
                    self.advance();
                    Operand::Value(value)
                } else {
                    return self.parse_property();
                }
            }
            _ => return Err(self.expected(&token, &what)),
        };
        Ok(Spanned {
            operand,
            start: token.start,
            end: token.end,
        })
    }

    /// `{ value, value, ... }`
    fn parse_list(&mut self) -> Result<Spanned> {
        let open = self.advance();
        let mut values = Vec::new();
        if self.peek().kind == TokenKind::RightBrace {
            let close = self.advance();
            return Ok(Spanned {
                operand: Operand::List(values),
                start: open.start,
                end: close.end,
            });
        }
        loop {
            let token = self.advance();
            let value = match &token.kind {
                TokenKind::Literal(value) => value.clone(),
                TokenKind::Word(word) => match keyword_value(word) {
                    Some(value) => value,
                    None => return Err(self.expected(&token, "a constant value in the list")),
                },
                TokenKind::Argument => {
                    return Err(not_supported(&token, "a query argument ('$0')"))
                }
                _ => return Err(self.expected(&token, "a constant value in the list")),
            };
            values.push(value);
            let separator = self.advance();
            match separator.kind {
                TokenKind::Comma => continue,
                TokenKind::RightBrace => {
                    return Ok(Spanned {
                        operand: Operand::List(values),
                        start: open.start,
                        end: separator.end,
                    })
                }
                _ => return Err(self.expected(&separator, "',' or '}' in the list")),
            }
        }
    }

    /// `[ANY | SOME | ALL | NONE] name ('.' name)*`
    fn parse_property(&mut self) -> Result<Spanned> {
        let first = self.peek().clone();
        let mut quantifier = Quantifier::Any;
        let next_is_word = matches!(self.peek_second().kind, TokenKind::Word(_));
        if next_is_word {
            if Self::is_keyword(&first, "ANY") || Self::is_keyword(&first, "SOME") {
                self.advance();
            } else if Self::is_keyword(&first, "NONE") {
                self.advance();
                quantifier = Quantifier::None;
            } else if Self::is_keyword(&first, "ALL") {
                return Err(not_supported(&first, "ALL"));
            }
        }
        let mut path = String::new();
        let mut end;
        loop {
            let token = self.advance();
            let TokenKind::Word(name) = &token.kind else {
                return Err(self.expected(&token, "a property name after '.'"));
            };
            if name.starts_with('$') {
                return Err(not_supported(
                    &token,
                    format!("a property name starting with '$' ('{name}')"),
                ));
            }
            path.push_str(name);
            end = token.end;
            if self.peek().kind != TokenKind::Dot {
                break;
            }
            self.advance();
            path.push('.');
            let next = self.peek().clone();
            if let TokenKind::AtWord(word) = &next.kind {
                return Err(not_supported(&next, format!("'{word}'")));
            }
        }
        if self.peek().kind == TokenKind::LeftBracket {
            return Err(not_supported(self.peek(), "subscripts ('[...]')"));
        }
        Ok(Spanned {
            operand: Operand::Property { path, quantifier },
            start: first.start,
            end,
        })
    }

    /// Puts the property on the left and builds the filter for the comparison.
    fn compile_comparison(
        &self,
        left: Spanned,
        operator: Operator,
        operator_token: &Token,
        case_insensitive: bool,
        right: Spanned,
    ) -> Result<Document> {
        let operator_text = self.text_of(operator_token).to_uppercase();
        let (path, quantifier, operator, value) = match (left.operand, right.operand) {
            (Operand::Property { .. }, Operand::Property { .. }) => {
                return Err(Error::NotSupported {
                    position: left.start,
                    feature: format!(
                        "comparing two properties ('{}' and '{}')",
                        self.text_between(left.start, left.end),
                        self.text_between(right.start, right.end)
                    ),
                })
            }
            (Operand::Property { path, quantifier }, value) => (path, quantifier, operator, value),
            (value, Operand::Property { path, quantifier }) => {
                let flipped = match operator {
                    Operator::Compare(op) => Operator::Compare(flip(op)),
                    // `'x' IN tags`: the list property has an element equal to 'x'.
                    Operator::In if matches!(value, Operand::Value(_)) => {
                        Operator::Compare(CompareOp::Equal)
                    }
                    _ => {
                        return Err(Error::NotSupported {
                            position: operator_token.start,
                            feature: format!("{operator_text} with the property on its right"),
                        })
                    }
                };
                (path, quantifier, flipped, value)
            }
            _ => {
                return Err(invalid(
                    left.start,
                    "a comparison needs a property on one side",
                ))
            }
        };
        let value_position = if matches!(value, Operand::List(_) | Operand::ExcludedList(_))
            || left.start < right.start
        {
            right.start
        } else {
            left.start
        };
        let condition = compile_condition(
            operator,
            &operator_text,
            case_insensitive,
            value,
            value_position,
            operator_token,
        )?;
        let filter = doc! {path: condition};
        Ok(match quantifier {
            Quantifier::Any => filter,
            Quantifier::None => doc! {"$nor": [filter]},
        })
    }
}

/// The constant a keyword stands for in value position.
fn keyword_value(word: &str) -> Option<Bson> {
    if word.eq_ignore_ascii_case("true") {
        Some(Bson::Boolean(true))
    } else if word.eq_ignore_ascii_case("false") {
        Some(Bson::Boolean(false))
    } else if word.eq_ignore_ascii_case("null") || word.eq_ignore_ascii_case("nil") {
        Some(Bson::Null)
    } else {
        lexer::special_float(word).map(Bson::Double)
    }
}

/// `a < b` is `b > a`.
fn flip(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Less => CompareOp::Greater,
        CompareOp::LessOrEqual => CompareOp::GreaterOrEqual,
        CompareOp::Greater => CompareOp::Less,
        CompareOp::GreaterOrEqual => CompareOp::LessOrEqual,
        same => same,
    }
}

/// The condition on the property (the value of `{path: condition}`).
fn compile_condition(
    operator: Operator,
    operator_text: &str,
    case_insensitive: bool,
    value: Operand,
    value_position: usize,
    operator_token: &Token,
) -> Result<Bson> {
    let needs_string = |what: &str| {
        invalid(
            value_position,
            format!("{what} needs a string value on its right"),
        )
    };
    match (operator, value) {
        (
            Operator::Compare(CompareOp::Equal) | Operator::In,
            list @ (Operand::List(_) | Operand::ExcludedList(_)),
        ) => {
            let (name, values) = match list {
                Operand::ExcludedList(values) => ("$nin", values),
                Operand::List(values) => ("$in", values),
                _ => ("$in", Vec::new()),
            };
            let values = if case_insensitive {
                values
                    .into_iter()
                    .map(|value| match value {
                        Bson::String(text) => Ok(Bson::RegularExpression(Regex {
                            pattern: format!("^{}\\z", escape_regex(&text)),
                            options: "i".to_string(),
                        })),
                        _ => Err(invalid(
                            value_position,
                            format!("'{operator_text}[c]' needs a list of strings"),
                        )),
                    })
                    .collect::<Result<Vec<Bson>>>()?
            } else {
                values
            };
            Ok(Bson::Document(doc! {name: values}))
        }
        (Operator::In, Operand::Value(_)) => Err(invalid(
            value_position,
            "IN needs a list such as {'a', 'b'} or a list property on its right",
        )),
        (Operator::Between, Operand::List(values)) => match <[Bson; 2]>::try_from(values) {
            Ok([low, high]) => Ok(Bson::Document(doc! {"$gte": low, "$lte": high})),
            Err(_) => Err(invalid(
                value_position,
                "BETWEEN needs a list of two values, such as {1, 10}",
            )),
        },
        (Operator::Between, Operand::Value(_) | Operand::ExcludedList(_)) => Err(invalid(
            value_position,
            "BETWEEN needs a list of two values, such as {1, 10}",
        )),
        (_, Operand::List(_) | Operand::ExcludedList(_)) => Err(not_supported(
            operator_token,
            format!("comparing a list with '{operator_text}'"),
        )),
        (Operator::Compare(CompareOp::Equal), Operand::Value(value)) => {
            if case_insensitive {
                let Bson::String(text) = value else {
                    return Err(needs_string(&format!("'{operator_text}[c]'")));
                };
                Ok(regex_condition(format!("^{}\\z", escape_regex(&text)), "i"))
            } else {
                Ok(value)
            }
        }
        (Operator::Compare(CompareOp::NotEqual), Operand::Value(value)) => {
            if case_insensitive {
                let Bson::String(text) = value else {
                    return Err(needs_string(&format!("'{operator_text}[c]'")));
                };
                let regex = regex_condition(format!("^{}\\z", escape_regex(&text)), "i");
                Ok(Bson::Document(doc! {"$not": regex}))
            } else {
                Ok(Bson::Document(doc! {"$ne": value}))
            }
        }
        (Operator::Compare(op), Operand::Value(value)) => {
            let name = match op {
                CompareOp::Less => "$lt",
                CompareOp::LessOrEqual => "$lte",
                CompareOp::Greater => "$gt",
                CompareOp::GreaterOrEqual => "$gte",
                CompareOp::Equal => "$eq",
                CompareOp::NotEqual => "$ne",
            };
            Ok(Bson::Document(doc! {name: value}))
        }
        (string_operator, Operand::Value(value)) => {
            let Bson::String(text) = value else {
                return Err(needs_string(operator_text));
            };
            let escaped = escape_regex(&text);
            let (pattern, mut options) = match string_operator {
                Operator::BeginsWith => (format!("^{escaped}"), String::new()),
                Operator::EndsWith => (format!("{escaped}\\z"), String::new()),
                Operator::Like => (format!("^{}\\z", like_to_regex(&text)), String::new()),
                _ => (escaped, String::new()),
            };
            if case_insensitive {
                options.push('i');
            }
            // `*` and `?` match any character, newlines included.
            if string_operator == Operator::Like {
                options.push('s');
            }
            Ok(regex_condition(pattern, &options))
        }
        (_, Operand::Property { .. }) => Err(invalid(
            value_position,
            "a comparison needs a property on one side",
        )),
    }
}

/// `{$regex: pattern}`, with `$options` when there are any.
fn regex_condition(pattern: String, options: &str) -> Bson {
    if options.is_empty() {
        Bson::Document(doc! {"$regex": pattern})
    } else {
        Bson::Document(doc! {"$regex": pattern, "$options": options})
    }
}

/// `text` as a regular expression matching itself literally, in a form both PCRE (MongoDB) and
/// Rust's `regex` read the same way.
fn escape_regex(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        push_literal(&mut escaped, c);
    }
    escaped
}

fn push_literal(out: &mut String, c: char) {
    match c {
        '\\' | '^' | '$' | '.' | '|' | '?' | '*' | '+' | '(' | ')' | '[' | ']' | '{' | '}' => {
            out.push('\\');
            out.push(c);
        }
        // MongoDB refuses a pattern with an embedded NUL byte.
        '\0' => out.push_str("\\x00"),
        _ => out.push(c),
    }
}

/// A LIKE pattern as a regular expression body: `*` is any run, `?` any one character.
fn like_to_regex(pattern: &str) -> String {
    let mut regex = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '*' => regex.push_str(".*"),
            '?' => regex.push('.'),
            other => push_literal(&mut regex, other),
        }
    }
    regex
}

/// Joins filters under `$and` or `$or`; a single filter stands alone.
fn combine(operator: &str, mut filters: Vec<Document>) -> Document {
    if filters.len() == 1 {
        if let Some(only) = filters.pop() {
            return only;
        }
    }
    doc! {operator: filters}
}
