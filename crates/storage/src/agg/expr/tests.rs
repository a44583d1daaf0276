//! Data-driven tests: one line per case (document, expression, expected value or error code),
//! mostly taken from the examples of MongoDB's operator reference pages.

use bson::{bson, doc, Bson, Decimal128, Document};

use super::{truthy, Expr, Vars};

/// Evaluates `expr` against `document` with fixed variables (`$$NOW` is 2021-01-01).
fn eval(document: &Document, expr: &Bson) -> crate::Result<Option<Bson>> {
    let vars = Vars {
        user: doc! {"target": 5, "obj": {"x": [1, 2]}},
        now: bson::DateTime::from_millis(1_609_459_200_000),
    };
    Expr::parse(expr)?.eval(document, &vars)
}

/// The expression evaluates to exactly `expected` (same BSON type).
#[track_caller]
fn ok(document: Document, expr: Bson, expected: Bson) {
    match eval(&document, &expr) {
        Ok(Some(actual)) => assert!(
            same(&actual, &expected),
            "{expr} on {document}: expected {expected:?}, got {actual:?}"
        ),
        other => panic!("{expr} on {document}: expected {expected:?}, got {other:?}"),
    }
}

/// The expression evaluates to missing.
#[track_caller]
fn missing(document: Document, expr: Bson) {
    match eval(&document, &expr) {
        Ok(None) => {}
        other => panic!("{expr} on {document}: expected missing, got {other:?}"),
    }
}

/// Parsing or evaluating the expression fails with MongoDB's error `code`.
#[track_caller]
fn err(document: Document, expr: Bson, code: i32) {
    match eval(&document, &expr) {
        Err(e) => assert_eq!(e.code(), code, "{expr} on {document}: wrong error {e}"),
        other => panic!("{expr} on {document}: expected error {code}, got {other:?}"),
    }
}

/// Exact equality, with NaN equal to NaN and decimals compared by their text.
fn same(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Double(x), Bson::Double(y)) => (x.is_nan() && y.is_nan()) || x == y,
        (Bson::Decimal128(x), Bson::Decimal128(y)) => x.to_string() == y.to_string(),
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| same(p, q))
        }
        (Bson::Document(x), Bson::Document(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && same(v1, v2))
        }
        _ => a == b,
    }
}

fn dec(s: &str) -> Bson {
    Bson::Decimal128(
        s.parse::<Decimal128>()
            .unwrap_or_else(|_| panic!("bad decimal {s}")),
    )
}

fn date(millis: i64) -> Bson {
    Bson::DateTime(bson::DateTime::from_millis(millis))
}

/// Milliseconds since the epoch of a UTC date and time.
#[allow(dead_code)]
fn ymd(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, ms: i64) -> Bson {
    let days = y + mo + d; // FIXME(expr): days_from_civil once dates land
    date(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

fn e() -> Document {
    Document::new()
}

#[test]
fn truthiness() {
    let cases: Vec<(Option<Bson>, bool)> = vec![
        (None, false),
        (Some(Bson::Null), false),
        (Some(Bson::Boolean(false)), false),
        (Some(Bson::Int32(0)), false),
        (Some(Bson::Int64(0)), false),
        (Some(Bson::Double(0.0)), false),
        (Some(dec("0.00")), false),
        (Some(Bson::Undefined), false),
        (Some(Bson::Boolean(true)), true),
        (Some(Bson::Int32(-1)), true),
        (Some(dec("0.1")), true),
        (Some(Bson::String(String::new())), true),
        (Some(Bson::Array(vec![])), true),
        (Some(bson!({})), true),
    ];
    for (v, expected) in cases {
        assert_eq!(truthy(v.as_ref()), expected, "{v:?}");
    }
}

#[test]
fn paths_literals_and_variables() {
    let d = doc! {"a": {"b": 1, "c": [1, 2]}, "arr": [{"b": 1}, {"c": 2}, {"b": [3]}, 5, [{"b": 9}]], "n": null};
    ok(d.clone(), bson!("$a.b"), bson!(1));
    ok(d.clone(), bson!("$a"), bson!({"b": 1, "c": [1, 2]}));
    missing(d.clone(), bson!("$zz"));
    missing(d.clone(), bson!("$a.b.c"));
    ok(d.clone(), bson!("$arr.b"), bson!([1, [3]]));
    ok(d.clone(), bson!("$a.c.x"), bson!([]));
    ok(d.clone(), bson!("$n"), Bson::Null);
    ok(d.clone(), bson!("$$CURRENT.a.b"), bson!(1));
    ok(d.clone(), bson!("$$ROOT.a.b"), bson!(1));
    missing(d.clone(), bson!("$$REMOVE"));
    ok(e(), bson!("$$NOW"), date(1_609_459_200_000));
    ok(e(), bson!("$$target"), bson!(5));
    ok(e(), bson!("$$obj.x"), bson!([1, 2]));
    err(e(), bson!("$$undefinedVar"), 17276);
    err(e(), bson!("$$Bad"), 17276);
    err(e(), bson!("$"), 16872);
    err(e(), bson!("$a..b"), 15998);
    err(e(), bson!("$a.$b"), 16410);
    ok(e(), bson!("plain"), bson!("plain"));
    ok(e(), bson!(7), bson!(7));
    ok(
        doc! {"x": 1},
        bson!({"a": "$x", "b": {"c": "$x"}, "m": "$missing"}),
        bson!({"a": 1, "b": {"c": 1}}),
    );
    ok(
        doc! {"x": 1},
        bson!(["$x", "$missing", 2]),
        bson!([1, null, 2]),
    );
    ok(e(), bson!({"$literal": "$notAPath"}), bson!("$notAPath"));
    ok(
        e(),
        bson!({"$literal": {"$add": [1, 2]}}),
        bson!({"$add": [1, 2]}),
    );
    err(e(), bson!({"$foo": 1}), 168);
    err(e(), bson!({"$add": [1, 2], "x": 1}), 15983);
    err(e(), bson!({"a": 1, "$b": 2}), 16410);
    err(
        e(),
        bson!({"$function": {"body": "", "args": [], "lang": "js"}}),
        115,
    );
    err(e(), bson!({"$meta": "textScore"}), 115);
    err(e(), bson!({"$where": "1"}), 115);
    ok(
        doc! {"CURRENT": 1},
        bson!({"$let": {"vars": {"CURRENT": {"a": 3}}, "in": "$a"}}),
        bson!(3),
    );
}

#[test]
fn arithmetic() {
    let d = doc! {"i": 5, "l": 10i64, "f": 2.5, "s": "x", "n": null, "date": date(1000)};
    ok(d.clone(), bson!({"$add": [1, 2]}), bson!(3));
    ok(d.clone(), bson!({"$add": ["$i", "$l"]}), bson!(15i64));
    ok(d.clone(), bson!({"$add": ["$i", "$f"]}), bson!(7.5));
    ok(
        d.clone(),
        bson!({"$add": [2147483647, 1]}),
        bson!(2147483648i64),
    );
    ok(
        d.clone(),
        bson!({"$add": [2147483647, 1, -1]}),
        bson!(2147483647),
    );
    ok(
        d.clone(),
        bson!({"$add": [9223372036854775807i64, 1]}),
        bson!(9223372036854775808.0),
    );
    ok(d.clone(), bson!({"$add": []}), bson!(0));
    ok(d.clone(), bson!({"$add": ["$i", "$n"]}), Bson::Null);
    ok(d.clone(), bson!({"$add": ["$i", "$missing"]}), Bson::Null);
    ok(d.clone(), bson!({"$add": ["$date", 2000]}), date(3000));
    ok(d.clone(), bson!({"$add": ["$date", 2.6]}), date(1003));
    ok(d.clone(), bson!({"$add": [1, dec("1.5")]}), dec("2.5"));
    ok(
        d.clone(),
        bson!({"$add": [dec("0.1"), dec("0.2")]}),
        dec("0.3"),
    );
    err(d.clone(), bson!({"$add": ["$date", "$date"]}), 16612);
    err(d.clone(), bson!({"$add": ["$i", "$s"]}), 16554);
    ok(d.clone(), bson!({"$subtract": [5, 3]}), bson!(2));
    ok(d.clone(), bson!({"$subtract": ["$date", 500]}), date(500));
    ok(
        d.clone(),
        bson!({"$subtract": ["$date", "$date"]}),
        bson!(0i64),
    );
    ok(
        d.clone(),
        bson!({"$subtract": [-2147483648, 1]}),
        bson!(-2147483649i64),
    );
    ok(d.clone(), bson!({"$subtract": [dec("1.5"), 1]}), dec("0.5"));
    ok(d.clone(), bson!({"$subtract": ["$n", 1]}), Bson::Null);
    err(d.clone(), bson!({"$subtract": [1, "$date"]}), 16556);
    err(d.clone(), bson!({"$subtract": ["$s", 1]}), 16556);
    err(d.clone(), bson!({"$subtract": [1]}), 16020);
    ok(d.clone(), bson!({"$multiply": [2, 3, 4]}), bson!(24));
    ok(d.clone(), bson!({"$multiply": ["$f", 2]}), bson!(5.0));
    ok(
        d.clone(),
        bson!({"$multiply": [65536, 65536]}),
        bson!(4294967296i64),
    );
    ok(
        d.clone(),
        bson!({"$multiply": [dec("1.10"), 2]}),
        dec("2.20"),
    );
    ok(d.clone(), bson!({"$multiply": [2, null]}), Bson::Null);
    err(d.clone(), bson!({"$multiply": [2, "a"]}), 16555);
    ok(d.clone(), bson!({"$divide": [9, 3]}), bson!(3.0));
    ok(d.clone(), bson!({"$divide": [1, 4]}), bson!(0.25));
    ok(d.clone(), bson!({"$divide": [dec("1"), 4]}), dec("0.25"));
    ok(
        d.clone(),
        bson!({"$divide": [dec("1.0"), 3]}),
        dec("0.3333333333333333333333333333333333"),
    );
    ok(d.clone(), bson!({"$divide": [dec("10"), 2]}), dec("5"));
    ok(d.clone(), bson!({"$divide": [null, 2]}), Bson::Null);
    err(d.clone(), bson!({"$divide": [1, 0]}), 2);
    err(d.clone(), bson!({"$divide": [1, dec("0")]}), 2);
    err(d.clone(), bson!({"$divide": ["a", 1]}), 16609);
    ok(d.clone(), bson!({"$mod": [80, 7]}), bson!(3));
    ok(d.clone(), bson!({"$mod": [-5, 3]}), bson!(-2));
    ok(d.clone(), bson!({"$mod": [5.5, 2]}), bson!(1.5));
    ok(d.clone(), bson!({"$mod": [10i64, 3]}), bson!(1i64));
    ok(d.clone(), bson!({"$mod": [dec("5.5"), 2]}), dec("1.5"));
    err(d.clone(), bson!({"$mod": [5, 0]}), 16610);
    err(d.clone(), bson!({"$mod": [5, "a"]}), 16611);
    ok(d.clone(), bson!({"$abs": -1}), bson!(1));
    ok(
        d.clone(),
        bson!({"$abs": -2147483648}),
        bson!(2147483648i64),
    );
    ok(d.clone(), bson!({"$abs": -2.5}), bson!(2.5));
    ok(d.clone(), bson!({"$abs": dec("-2.5")}), dec("2.5"));
    ok(d.clone(), bson!({"$abs": null}), Bson::Null);
    err(d.clone(), bson!({"$abs": -9223372036854775808i64}), 28680);
    err(d.clone(), bson!({"$abs": "x"}), 28765);
    ok(d.clone(), bson!({"$ceil": 7.80}), bson!(8.0));
    ok(d.clone(), bson!({"$ceil": -2.8}), bson!(-2.0));
    ok(d.clone(), bson!({"$ceil": 1}), bson!(1));
    ok(d.clone(), bson!({"$floor": -2.8}), bson!(-3.0));
    ok(d.clone(), bson!({"$floor": dec("2.5")}), dec("2"));
    ok(d.clone(), bson!({"$round": [10.5, 0]}), bson!(10.0));
    ok(d.clone(), bson!({"$round": [11.5, 0]}), bson!(12.0));
    ok(d.clone(), bson!({"$round": [-11.5, 0]}), bson!(-12.0));
    ok(d.clone(), bson!({"$round": [19.25, 1]}), bson!(19.2));
    ok(d.clone(), bson!({"$round": [28.73, -1]}), bson!(30.0));
    ok(d.clone(), bson!({"$round": [1234, -2]}), bson!(1200));
    ok(d.clone(), bson!({"$round": [1250, -2]}), bson!(1200));
    ok(d.clone(), bson!({"$round": [5]}), bson!(5));
    ok(d.clone(), bson!({"$round": [dec("2.345"), 2]}), dec("2.34"));
    err(d.clone(), bson!({"$round": [1.5, 101]}), 51083);
    ok(d.clone(), bson!({"$trunc": [19.25, 1]}), bson!(19.2));
    ok(d.clone(), bson!({"$trunc": [-19.99, 0]}), bson!(-19.0));
    ok(d.clone(), bson!({"$trunc": [28.73, -1]}), bson!(20.0));
    ok(d.clone(), bson!({"$trunc": 7.9}), bson!(7.0));
    ok(d.clone(), bson!({"$sqrt": 25}), bson!(5.0));
    ok(d.clone(), bson!({"$sqrt": null}), Bson::Null);
    err(d.clone(), bson!({"$sqrt": -1}), 28714);
    ok(d.clone(), bson!({"$pow": [5, 2]}), bson!(25));
    ok(d.clone(), bson!({"$pow": [5, -2]}), bson!(0.04));
    ok(d.clone(), bson!({"$pow": [-1, -3]}), bson!(-1));
    ok(d.clone(), bson!({"$pow": [2, 31]}), bson!(2147483648i64));
    ok(
        d.clone(),
        bson!({"$pow": [2, 64]}),
        bson!(18446744073709551616.0),
    );
    ok(d.clone(), bson!({"$pow": [4, 0.5]}), bson!(2.0));
    err(d.clone(), bson!({"$pow": [0, -1]}), 28764);
    err(d.clone(), bson!({"$pow": ["a", 1]}), 28762);
    ok(d.clone(), bson!({"$exp": 0}), bson!(1.0));
    ok(d.clone(), bson!({"$ln": 1}), bson!(0.0));
    err(d.clone(), bson!({"$ln": 0}), 28766);
    ok(d.clone(), bson!({"$log10": 100}), bson!(2.0));
    err(d.clone(), bson!({"$log10": -1}), 28761);
    ok(d.clone(), bson!({"$log": [8, 2]}), bson!(3.0));
    ok(d.clone(), bson!({"$log": [100, 10]}), bson!(2.0));
    err(d.clone(), bson!({"$log": [8, 1]}), 28759);
    err(d.clone(), bson!({"$log": [-8, 2]}), 28758);
    ok(d.clone(), bson!({"$log": [null, 2]}), Bson::Null);
}

#[test]
fn comparison_and_boolean() {
    let d = doc! {"qty": 250, "n": null};
    ok(d.clone(), bson!({"$cmp": ["$qty", 250]}), bson!(0));
    ok(d.clone(), bson!({"$cmp": ["$qty", 300]}), bson!(-1));
    ok(d.clone(), bson!({"$cmp": ["b", "a"]}), bson!(1));
    ok(d.clone(), bson!({"$eq": ["$qty", 250.0]}), bson!(true));
    ok(d.clone(), bson!({"$eq": ["$missing", null]}), bson!(false));
    ok(
        d.clone(),
        bson!({"$eq": ["$missing", "$alsoMissing"]}),
        bson!(true),
    );
    ok(d.clone(), bson!({"$eq": ["$n", null]}), bson!(true));
    ok(d.clone(), bson!({"$lt": ["$missing", null]}), bson!(true));
    ok(d.clone(), bson!({"$ne": ["$qty", 250]}), bson!(false));
    ok(d.clone(), bson!({"$gt": ["$qty", 100]}), bson!(true));
    ok(d.clone(), bson!({"$gt": ["a", 100]}), bson!(true));
    ok(d.clone(), bson!({"$gte": ["$qty", 250]}), bson!(true));
    ok(d.clone(), bson!({"$lt": [[1, 2], [1, 3]]}), bson!(true));
    ok(
        d.clone(),
        bson!({"$lte": [dec("250"), "$qty"]}),
        bson!(true),
    );
    err(d.clone(), bson!({"$eq": [1]}), 16020);
    err(d.clone(), bson!({"$gt": [1, 2, 3]}), 16020);
    ok(d.clone(), bson!({"$and": [1, "green"]}), bson!(true));
    ok(d.clone(), bson!({"$and": []}), bson!(true));
    ok(
        d.clone(),
        bson!({"$and": [[null], [false], [0]]}),
        bson!(true),
    );
    ok(d.clone(), bson!({"$and": [null, true]}), bson!(false));
    ok(d.clone(), bson!({"$and": [0, true]}), bson!(false));
    ok(
        d.clone(),
        bson!({"$and": [false, {"$divide": [1, 0]}]}),
        bson!(false),
    );
    ok(d.clone(), bson!({"$or": [true, false]}), bson!(true));
    ok(d.clone(), bson!({"$or": [[false], false]}), bson!(true));
    ok(
        d.clone(),
        bson!({"$or": [null, 0, "$missing"]}),
        bson!(false),
    );
    ok(d.clone(), bson!({"$or": []}), bson!(false));
    ok(d.clone(), bson!({"$not": [true]}), bson!(false));
    ok(d.clone(), bson!({"$not": [[false]]}), bson!(false));
    ok(d.clone(), bson!({"$not": [null]}), bson!(true));
    ok(d.clone(), bson!({"$not": ["$missing"]}), bson!(true));
    err(d.clone(), bson!({"$not": [1, 2]}), 16020);
}

#[test]
fn conditionals() {
    let d = doc! {"qty": 300, "desc": null, "alt": "b"};
    ok(
        d.clone(),
        bson!({"$cond": {"if": {"$gte": ["$qty", 250]}, "then": 30, "else": 20}}),
        bson!(30),
    );
    ok(
        d.clone(),
        bson!({"$cond": [{"$lt": ["$qty", 250]}, 30, 20]}),
        bson!(20),
    );
    ok(
        d.clone(),
        bson!({"$cond": [false, {"$divide": [1, 0]}, "ok"]}),
        bson!("ok"),
    );
    missing(d.clone(), bson!({"$cond": [true, "$missing", 1]}));
    err(d.clone(), bson!({"$cond": {"if": true, "then": 1}}), 17082);
    err(
        d.clone(),
        bson!({"$cond": {"if": true, "then": 1, "else": 2, "x": 3}}),
        17083,
    );
    err(d.clone(), bson!({"$cond": [true, 1]}), 16020);
    ok(
        d.clone(),
        bson!({"$ifNull": ["$desc", "Unspecified"]}),
        bson!("Unspecified"),
    );
    ok(
        d.clone(),
        bson!({"$ifNull": ["$missing", "$desc", "$alt"]}),
        bson!("b"),
    );
    ok(d.clone(), bson!({"$ifNull": ["$qty", "x"]}), bson!(300));
    ok(
        d.clone(),
        bson!({"$ifNull": ["$missing", null]}),
        Bson::Null,
    );
    missing(d.clone(), bson!({"$ifNull": ["$missing", "$missing2"]}));
    err(d.clone(), bson!({"$ifNull": ["$missing"]}), 1257300);
    ok(
        d.clone(),
        bson!({"$switch": {"branches": [{"case": {"$lt": ["$qty", 100]}, "then": "low"}, {"case": {"$gte": ["$qty", 100]}, "then": "high"}], "default": "none"}}),
        bson!("high"),
    );
    ok(
        d.clone(),
        bson!({"$switch": {"branches": [{"case": false, "then": 1}], "default": "none"}}),
        bson!("none"),
    );
    err(
        d.clone(),
        bson!({"$switch": {"branches": [{"case": false, "then": 1}]}}),
        40066,
    );
    err(d.clone(), bson!({"$switch": {"branches": []}}), 40068);
    err(
        d.clone(),
        bson!({"$switch": {"branches": [{"case": false}]}}),
        40065,
    );
    err(
        d.clone(),
        bson!({"$switch": {"branches": [{"case": false, "then": 1}], "foo": 1}}),
        40067,
    );
    ok(
        d.clone(),
        bson!({"$let": {"vars": {"low": 1, "high": "$qty"}, "in": {"$gt": ["$$low", "$$high"]}}}),
        bson!(false),
    );
    ok(
        d.clone(),
        bson!({"$let": {"vars": {"a": 2}, "in": {"$let": {"vars": {"a": {"$add": ["$$a", 1]}}, "in": "$$a"}}}}),
        bson!(3),
    );
    err(
        d.clone(),
        bson!({"$let": {"vars": {"A": 2}, "in": 1}}),
        16870,
    );
    err(d.clone(), bson!({"$let": {"vars": {"a": 2}}}), 16877);
    ok(
        d.clone(),
        bson!({"$let": {"vars": {"target": 9}, "in": "$$target"}}),
        bson!(9),
    );
    let r = eval(&e(), &bson!({"$rand": {}}));
    assert!(
        matches!(r, Ok(Some(Bson::Double(x))) if (0.0..1.0).contains(&x)),
        "{r:?}"
    );
}
