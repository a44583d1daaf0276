//! `{$meta: "textScore"}`: the score the pipeline's leading `$text` search gave the document,
//! carried in the hidden field [`crate::text::TEXT_SCORE_FIELD`] (see `agg::Pipeline`). Without
//! one (no `$text` first, or after a stage that builds new documents, such as `$group`), the
//! expression fails as mongod's does (40218); a document that only another clause of the
//! search's `$or` matched carries null there and has no score (missing). Other `$meta` kinds are Atlas Search's or need
//! metadata Outpost's pipeline does not carry: refused by name.

use bson::Bson;

use super::{Ctx, Operator, ParseScope};
use crate::error::{Error, Result};
use crate::text::TEXT_SCORE_FIELD;

/// The `$meta` kinds mongod knows besides `textScore`.
const OTHER_KINDS: &[&str] = &[
    "randVal",
    "searchScore",
    "searchHighlights",
    "searchScoreDetails",
    "searchSequenceToken",
    "vectorSearchScore",
    "score",
    "scoreDetails",
    "geoNearDistance",
    "geoNearPoint",
    "recordId",
    "indexKey",
    "sortKey",
    "timeseriesBucketMinTime",
    "timeseriesBucketMaxTime",
];

pub(super) fn parse_meta(
    name: &'static str,
    arg: &Bson,
    _scope: &mut ParseScope,
) -> Result<Operator> {
    match arg {
        Bson::String(kind) if kind == "textScore" => {
            Ok(Operator::new(name, Vec::new(), Vec::new()))
        }
        Bson::String(kind) if OTHER_KINDS.contains(&kind.as_str()) => Err(Error::NotSupported(
            format!("{{$meta: \"{kind}\"}} is not supported by Outpost (only \"textScore\" is)"),
        )),
        Bson::String(kind) => Err(Error::coded(
            17308,
            format!("Unsupported argument to $meta: {kind}"),
        )),
        _ => Err(Error::coded(17307, "$meta only supports string arguments")),
    }
}

pub(super) fn meta(_op: &Operator, ctx: &Ctx<'_>) -> Result<Option<Bson>> {
    match ctx.root.get(TEXT_SCORE_FIELD) {
        // A document only another clause of the search's `$or` matched: no score, missing
        // (as mongod's `ExpressionMeta`).
        Some(Bson::Null) => Ok(None),
        Some(score) => Ok(Some(score.clone())),
        None => Err(text_score_unavailable()),
    }
}

/// mongod's error when a pipeline asks for a text score its documents do not have.
pub(crate) fn text_score_unavailable() -> Error {
    Error::coded(
        40218,
        "query requires text score metadata, but it is not available",
    )
}
