//! The operator table: each operator's name, the shape its arguments are parsed in and the
//! function that evaluates it, and the operators Outpost refuses by name (NotSupported).

use bson::Bson;

use super::control::{
    eval_let, parse_cond, parse_if_null, parse_let, parse_literal, parse_rand, parse_switch,
};
use super::meta;
use super::{positional, Ctx, EvalFn, Operator, Shape, VARIADIC};
use crate::error::{Error, Result};

/// The table of operators: name -> (argument shape, evaluation function). Returns the static
/// name too, so the parsed operator can name itself in errors without allocating.
pub(super) fn lookup_operator(name: &str) -> Option<(&'static str, Shape, EvalFn)> {
    use super::arith as a;
    use super::array as ar;
    use super::convert as c;
    use super::date as d;
    use super::object as o;
    use super::string as s;
    use super::trig as t;
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
pub(super) const UNSUPPORTED_OPERATORS: &[&str] = &[
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

/// Placeholder evaluation function, replaced by the table's after a custom parse.
pub(super) fn eval_not_reached(op: &Operator, _ctx: &Ctx<'_>) -> Result<Option<Bson>> {
    Err(Error::coded(
        168,
        format!("Unrecognized expression '{}'", op.name),
    ))
}
