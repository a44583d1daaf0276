//! `$jsonSchema`: the subset of JSON Schema draft 4 MongoDB supports, plus `bsonType`.
//!
//! Supported keywords: `bsonType`, `type`, `required`, `properties`, `additionalProperties`,
//! `patternProperties`, `enum`, `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`,
//! `multipleOf`, `minLength`, `maxLength`, `pattern`, `items` (one schema or a tuple),
//! `additionalItems`, `minItems`, `maxItems`, `uniqueItems`, `minProperties`,
//! `maxProperties`, `allOf`, `anyOf`, `oneOf`, `not`, `title`, `description`. `dependencies`
//! and `encrypt*` are refused as not supported; other keywords are refused as MongoDB does.
//! As in JSON Schema, a keyword for one type (`minimum`) ignores values of other types.

use bson::{Bson, Document};

use super::regex::CompiledRegex;
use super::scalar::{exact_integer, parse_type_selector};
use super::TypeSelector;
use crate::error::{Error, Result};
use crate::value::{compare, equal, Number};

#[derive(Debug, Clone)]
pub struct Schema {
    keywords: Vec<Keyword>,
}

#[derive(Debug, Clone)]
enum Keyword {
    BsonType(Vec<TypeSelector>),
    JsonType(Vec<JsonType>),
    Required(Vec<String>),
    Properties(Vec<(String, Schema)>),
    AdditionalProperties {
        declared: Vec<String>,
        patterns: Vec<CompiledRegex>,
        rule: Additional,
    },
    PatternProperties(Vec<(CompiledRegex, Schema)>),
    Enum(Vec<Bson>),
    Minimum {
        bound: Bson,
        exclusive: bool,
    },
    Maximum {
        bound: Bson,
        exclusive: bool,
    },
    MultipleOf(f64),
    MinLength(usize),
    MaxLength(usize),
    Pattern(CompiledRegex),
    Items(Box<Schema>),
    TupleItems {
        items: Vec<Schema>,
        additional: Additional,
    },
    MinItems(usize),
    MaxItems(usize),
    UniqueItems,
    MinProperties(usize),
    MaxProperties(usize),
    AllOf(Vec<Schema>),
    AnyOf(Vec<Schema>),
    OneOf(Vec<Schema>),
    Not(Box<Schema>),
}

#[derive(Debug, Clone)]
enum Additional {
    Allowed,
    Forbidden,
    Schema(Box<Schema>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Object,
    Array,
    Number,
    Boolean,
    String,
    Null,
}

fn keyword_error(keyword: &str, what: &str) -> Error {
    Error::TypeMismatch(format!("$jsonSchema keyword '{keyword}' must be {what}"))
}

fn non_negative(keyword: &str, v: &Bson) -> Result<usize> {
    exact_integer(v)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| keyword_error(keyword, "a representable, non-negative integer"))
}

fn schema_list(keyword: &str, v: &Bson) -> Result<Vec<Schema>> {
    let Bson::Array(items) = v else {
        return Err(keyword_error(keyword, "an array"));
    };
    if items.is_empty() {
        return Err(Error::FailedToParse(format!(
            "$jsonSchema keyword '{keyword}' must be a non-empty array"
        )));
    }
    items
        .iter()
        .map(|item| match item {
            Bson::Document(d) => Schema::parse(d),
            _ => Err(keyword_error(keyword, "an array of objects")),
        })
        .collect()
}

fn sub_schema(keyword: &str, v: &Bson) -> Result<Schema> {
    match v {
        Bson::Document(d) => Schema::parse(d),
        _ => Err(keyword_error(keyword, "an object")),
    }
}

fn additional(keyword: &str, v: &Bson) -> Result<Additional> {
    match v {
        Bson::Boolean(true) => Ok(Additional::Allowed),
        Bson::Boolean(false) => Ok(Additional::Forbidden),
        Bson::Document(d) => Ok(Additional::Schema(Box::new(Schema::parse(d)?))),
        _ => Err(keyword_error(keyword, "either an object or a boolean")),
    }
}

impl Schema {
    pub fn parse(spec: &Document) -> Result<Schema> {
        if spec.contains_key("type") && spec.contains_key("bsonType") {
            return Err(Error::FailedToParse(
                "Cannot specify both $jsonSchema keywords 'type' and 'bsonType'".into(),
            ));
        }
        let mut keywords = Vec::new();
        for (key, value) in spec {
            let keyword = match key.as_str() {
                "title" | "description" | "$comment" => continue,
                "exclusiveMinimum" | "exclusiveMaximum" => {
                    if !matches!(value, Bson::Boolean(_)) {
                        return Err(keyword_error(key, "a boolean"));
                    }
                    let partner = if key == "exclusiveMinimum" {
                        "minimum"
                    } else {
                        "maximum"
                    };
                    if !spec.contains_key(partner) {
                        return Err(Error::FailedToParse(format!(
                            "$jsonSchema keyword '{partner}' must be a present if {key} is present"
                        )));
                    }
                    continue;
                }
                "additionalItems" => {
                    if !spec.contains_key("items") {
                        continue;
                    }
                    additional(key, value)?;
                    continue;
                }
                "bsonType" => {
                    let names: Vec<&Bson> = match value {
                        Bson::Array(items) => items.iter().collect(),
                        other => vec![other],
                    };
                    let mut selectors = Vec::new();
                    for name in names {
                        if !matches!(name, Bson::String(_)) {
                            return Err(keyword_error(key, "a string or an array of strings"));
                        }
                        selectors.push(parse_type_selector(name)?);
                    }
                    Keyword::BsonType(selectors)
                }
                "type" => {
                    let names: Vec<&Bson> = match value {
                        Bson::Array(items) => items.iter().collect(),
                        other => vec![other],
                    };
                    let mut types = Vec::new();
                    for name in names {
                        types.push(match name {
                            Bson::String(s) => match s.as_str() {
                                "object" => JsonType::Object,
                                "array" => JsonType::Array,
                                "number" => JsonType::Number,
                                "boolean" => JsonType::Boolean,
                                "string" => JsonType::String,
                                "null" => JsonType::Null,
                                "integer" => {
                                    return Err(Error::BadValue(
                                        "JSON type 'integer' is not currently supported.".into(),
                                    ))
                                }
                                other => {
                                    return Err(Error::BadValue(format!(
                                        "Unknown JSON Schema type: {other}"
                                    )))
                                }
                            },
                            _ => return Err(keyword_error(key, "a string or an array of strings")),
                        });
                    }
                    Keyword::JsonType(types)
                }
                "required" => {
                    let Bson::Array(items) = value else {
                        return Err(keyword_error(key, "an array"));
                    };
                    if items.is_empty() {
                        return Err(Error::FailedToParse(
                            "$jsonSchema keyword 'required' cannot be an empty array".into(),
                        ));
                    }
                    let mut names = Vec::new();
                    for item in items {
                        let Bson::String(s) = item else {
                            return Err(keyword_error(key, "an array of strings"));
                        };
                        names.push(s.clone());
                    }
                    Keyword::Required(names)
                }
                "properties" => {
                    let Bson::Document(d) = value else {
                        return Err(keyword_error(key, "an object"));
                    };
                    let mut properties = Vec::new();
                    for (name, sub) in d {
                        properties.push((name.clone(), sub_schema(key, sub)?));
                    }
                    Keyword::Properties(properties)
                }
                "patternProperties" => {
                    let Bson::Document(d) = value else {
                        return Err(keyword_error(key, "an object"));
                    };
                    let mut patterns = Vec::new();
                    for (pattern, sub) in d {
                        patterns.push((CompiledRegex::new(pattern, "")?, sub_schema(key, sub)?));
                    }
                    Keyword::PatternProperties(patterns)
                }
                "additionalProperties" => {
                    let declared = match spec.get("properties") {
                        Some(Bson::Document(d)) => d.keys().cloned().collect(),
                        _ => Vec::new(),
                    };
                    let mut patterns = Vec::new();
                    if let Some(Bson::Document(d)) = spec.get("patternProperties") {
                        for pattern in d.keys() {
                            patterns.push(CompiledRegex::new(pattern, "")?);
                        }
                    }
                    Keyword::AdditionalProperties {
                        declared,
                        patterns,
                        rule: additional(key, value)?,
                    }
                }
                "enum" => {
                    let Bson::Array(items) = value else {
                        return Err(keyword_error(key, "an array"));
                    };
                    if items.is_empty() {
                        return Err(Error::FailedToParse(
                            "$jsonSchema keyword 'enum' cannot be an empty array".into(),
                        ));
                    }
                    Keyword::Enum(items.clone())
                }
                "minimum" | "maximum" => {
                    if Number::of(value).is_none() {
                        return Err(keyword_error(key, "a number"));
                    }
                    let exclusive_key = if key == "minimum" {
                        "exclusiveMinimum"
                    } else {
                        "exclusiveMaximum"
                    };
                    let exclusive = matches!(spec.get(exclusive_key), Some(Bson::Boolean(true)));
                    if key == "minimum" {
                        Keyword::Minimum {
                            bound: value.clone(),
                            exclusive,
                        }
                    } else {
                        Keyword::Maximum {
                            bound: value.clone(),
                            exclusive,
                        }
                    }
                }
                "multipleOf" => {
                    let m = Number::of(value)
                        .map(|n| n.to_f64())
                        .filter(|m| *m > 0.0 && m.is_finite())
                        .ok_or_else(|| keyword_error(key, "a positive number"))?;
                    Keyword::MultipleOf(m)
                }
                "minLength" => Keyword::MinLength(non_negative(key, value)?),
                "maxLength" => Keyword::MaxLength(non_negative(key, value)?),
                "minItems" => Keyword::MinItems(non_negative(key, value)?),
                "maxItems" => Keyword::MaxItems(non_negative(key, value)?),
                "minProperties" => Keyword::MinProperties(non_negative(key, value)?),
                "maxProperties" => Keyword::MaxProperties(non_negative(key, value)?),
                "pattern" => {
                    let Bson::String(p) = value else {
                        return Err(keyword_error(key, "a string"));
                    };
                    Keyword::Pattern(CompiledRegex::new(p, "")?)
                }
                "uniqueItems" => match value {
                    Bson::Boolean(true) => Keyword::UniqueItems,
                    Bson::Boolean(false) => continue,
                    _ => return Err(keyword_error(key, "a boolean")),
                },
                "items" => match value {
                    Bson::Document(d) => Keyword::Items(Box::new(Schema::parse(d)?)),
                    Bson::Array(_) => Keyword::TupleItems {
                        items: schema_list(key, value)?,
                        additional: match spec.get("additionalItems") {
                            Some(v) => additional("additionalItems", v)?,
                            None => Additional::Allowed,
                        },
                    },
                    _ => return Err(keyword_error(key, "an array or an object")),
                },
                "allOf" => Keyword::AllOf(schema_list(key, value)?),
                "anyOf" => Keyword::AnyOf(schema_list(key, value)?),
                "oneOf" => Keyword::OneOf(schema_list(key, value)?),
                "not" => Keyword::Not(Box::new(sub_schema(key, value)?)),
                "dependencies" | "encrypt" | "encryptMetadata" => {
                    return Err(Error::NotSupported(format!(
                        "$jsonSchema keyword '{key}' is not supported"
                    )))
                }
                "$ref" | "$schema" | "default" | "definitions" | "format" | "id" => {
                    return Err(Error::FailedToParse(format!(
                        "$jsonSchema keyword '{key}' is not currently supported"
                    )))
                }
                _ => {
                    return Err(Error::FailedToParse(format!(
                        "Unknown $jsonSchema keyword: {key}"
                    )))
                }
            };
            keywords.push(keyword);
        }
        Ok(Schema { keywords })
    }

    pub fn matches_document(&self, doc: &Document) -> bool {
        self.matches(&Bson::Document(doc.clone()))
    }

    fn matches(&self, v: &Bson) -> bool {
        self.keywords.iter().all(|k| k.matches(v))
    }
}

impl JsonType {
    fn matches(&self, v: &Bson) -> bool {
        match self {
            JsonType::Object => matches!(v, Bson::Document(_)),
            JsonType::Array => matches!(v, Bson::Array(_)),
            JsonType::Number => Number::of(v).is_some(),
            JsonType::Boolean => matches!(v, Bson::Boolean(_)),
            JsonType::String => matches!(v, Bson::String(_)),
            JsonType::Null => matches!(v, Bson::Null),
        }
    }
}

fn additional_matches(rule: &Additional, v: &Bson) -> bool {
    match rule {
        Additional::Allowed => true,
        Additional::Forbidden => false,
        Additional::Schema(s) => s.matches(v),
    }
}

impl Keyword {
    fn matches(&self, v: &Bson) -> bool {
        match self {
            Keyword::BsonType(selectors) => selectors.iter().any(|s| s.matches(v)),
            Keyword::JsonType(types) => types.iter().any(|t| t.matches(v)),
            Keyword::Required(names) => match v {
                Bson::Document(d) => names.iter().all(|n| d.contains_key(n)),
                _ => true,
            },
            Keyword::Properties(properties) => match v {
                Bson::Document(d) => properties
                    .iter()
                    .all(|(name, schema)| d.get(name).is_none_or(|p| schema.matches(p))),
                _ => true,
            },
            Keyword::PatternProperties(patterns) => match v {
                Bson::Document(d) => d.iter().all(|(name, value)| {
                    patterns
                        .iter()
                        .all(|(re, schema)| !re.is_match(name) || schema.matches(value))
                }),
                _ => true,
            },
            Keyword::AdditionalProperties {
                declared,
                patterns,
                rule,
            } => match v {
                Bson::Document(d) => d.iter().all(|(name, value)| {
                    declared.contains(name)
                        || patterns.iter().any(|re| re.is_match(name))
                        || additional_matches(rule, value)
                }),
                _ => true,
            },
            Keyword::Enum(values) => values
                .iter()
                .any(|e| crate::value::type_rank(e) == crate::value::type_rank(v) && equal(e, v)),
            Keyword::Minimum { bound, exclusive } => {
                Number::of(v).is_none() || {
                    let ord = compare(v, bound);
                    if *exclusive {
                        ord.is_gt()
                    } else {
                        ord.is_ge()
                    }
                }
            }
            Keyword::Maximum { bound, exclusive } => {
                Number::of(v).is_none() || {
                    let ord = compare(v, bound);
                    if *exclusive {
                        ord.is_lt()
                    } else {
                        ord.is_le()
                    }
                }
            }
            Keyword::MultipleOf(m) => match Number::of(v) {
                Some(n) => {
                    let x = n.to_f64();
                    x.is_finite() && (x / m).fract() == 0.0
                }
                None => true,
            },
            Keyword::MinLength(n) => match v {
                Bson::String(s) => s.chars().count() >= *n,
                _ => true,
            },
            Keyword::MaxLength(n) => match v {
                Bson::String(s) => s.chars().count() <= *n,
                _ => true,
            },
            Keyword::Pattern(re) => match v {
                Bson::String(s) => re.is_match(s),
                _ => true,
            },
            Keyword::Items(schema) => match v {
                Bson::Array(items) => items.iter().all(|i| schema.matches(i)),
                _ => true,
            },
            Keyword::TupleItems { items, additional } => {
                match v {
                    Bson::Array(values) => values.iter().enumerate().all(|(i, value)| match items
                        .get(i)
                    {
                        Some(schema) => schema.matches(value),
                        None => additional_matches(additional, value),
                    }),
                    _ => true,
                }
            }
            Keyword::MinItems(n) => match v {
                Bson::Array(items) => items.len() >= *n,
                _ => true,
            },
            Keyword::MaxItems(n) => match v {
                Bson::Array(items) => items.len() <= *n,
                _ => true,
            },
            Keyword::UniqueItems => match v {
                Bson::Array(items) => items.iter().enumerate().all(|(i, a)| {
                    items.iter().skip(i + 1).all(|b| {
                        !(crate::value::type_rank(a) == crate::value::type_rank(b) && equal(a, b))
                    })
                }),
                _ => true,
            },
            Keyword::MinProperties(n) => match v {
                Bson::Document(d) => d.len() >= *n,
                _ => true,
            },
            Keyword::MaxProperties(n) => match v {
                Bson::Document(d) => d.len() <= *n,
                _ => true,
            },
            Keyword::AllOf(schemas) => schemas.iter().all(|s| s.matches(v)),
            Keyword::AnyOf(schemas) => schemas.iter().any(|s| s.matches(v)),
            Keyword::OneOf(schemas) => schemas.iter().filter(|s| s.matches(v)).count() == 1,
            Keyword::Not(schema) => !schema.matches(v),
        }
    }
}
