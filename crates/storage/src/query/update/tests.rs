//! Update language tests: tables of (document, update, expected document or error code),
//! mostly MongoDB's documentation examples for each operator, plus edge cases.

use bson::{bson, doc, Bson, Decimal128, Document};

use super::{upsert_seed, Update, UpdateContext};
use crate::query::Filter;

fn dec(s: &str) -> Bson {
    Bson::Decimal128(s.parse::<Decimal128>().expect("decimal literal"))
}

/// Byte-exact comparison: types and field order matter.
fn same(a: &Document, b: &Document) -> bool {
    bson::to_vec(a).ok() == bson::to_vec(b).ok()
}

/// Whether the query filter implements operators yet. Cases that need more than top-level
/// equality from `Filter` (conditions in `$pull`, array filters with operators or dotted
/// paths) run only when it does; until then they are counted as skipped.
fn filter_supports_operators() -> bool {
    Filter::parse(&doc! {"a": {"$gt": 1}, "b.c": 1})
        .map(|f| f.matches(&doc! {"a": 2, "b": {"c": 1}}))
        .unwrap_or(false)
}

#[derive(Default)]
struct Table {
    run: usize,
    skipped: usize,
    failures: Vec<String>,
}

enum Expect {
    Doc(Document),
    Code(i32),
}

struct Case<'a> {
    doc: Document,
    update: Bson,
    filters: Option<Vec<Document>>,
    ctx: UpdateContext<'a>,
    expect: Expect,
    needs_full_filter: bool,
}

impl Table {
    fn check(&mut self, case: Case) {
        if case.needs_full_filter && !filter_supports_operators() {
            self.skipped += 1;
            return;
        }
        self.run += 1;
        let result = Update::parse(&case.update, case.filters.as_deref())
            .and_then(|u| u.apply(&case.doc, &case.ctx));
        let describe = || format!("doc {} update {}", case.doc, case.update);
        match (&case.expect, result) {
            (Expect::Doc(want), Ok(got)) if same(want, &got) => {}
            (Expect::Code(want), Err(e)) if e.code() == *want => {}
            (Expect::Doc(want), got) => self
                .failures
                .push(format!("{}: want {want}, got {got:?}", describe())),
            (Expect::Code(want), got) => self
                .failures
                .push(format!("{}: want error {want}, got {got:?}", describe())),
        }
    }

    fn ok(&mut self, doc: Document, update: impl Into<Bson>, want: Document) {
        self.check(Case {
            doc,
            update: update.into(),
            filters: None,
            ctx: UpdateContext::default(),
            expect: Expect::Doc(want),
            needs_full_filter: false,
        });
    }

    fn err(&mut self, doc: Document, update: impl Into<Bson>, code: i32) {
        self.check(Case {
            doc,
            update: update.into(),
            filters: None,
            ctx: UpdateContext::default(),
            expect: Expect::Code(code),
            needs_full_filter: false,
        });
    }

    /// A case that needs operator support from `Filter`.
    fn ok_full(&mut self, doc: Document, update: impl Into<Bson>, want: Document) {
        self.check(Case {
            doc,
            update: update.into(),
            filters: None,
            ctx: UpdateContext::default(),
            expect: Expect::Doc(want),
            needs_full_filter: true,
        });
    }

    fn ok_filters(
        &mut self,
        doc: Document,
        update: impl Into<Bson>,
        filters: Vec<Document>,
        want: Document,
        needs_full_filter: bool,
    ) {
        self.check(Case {
            doc,
            update: update.into(),
            filters: Some(filters),
            ctx: UpdateContext::default(),
            expect: Expect::Doc(want),
            needs_full_filter,
        });
    }

    fn err_filters(
        &mut self,
        doc: Document,
        update: impl Into<Bson>,
        filters: Vec<Document>,
        code: i32,
    ) {
        self.check(Case {
            doc,
            update: update.into(),
            filters: Some(filters),
            ctx: UpdateContext::default(),
            expect: Expect::Code(code),
            needs_full_filter: false,
        });
    }

    fn ok_positional(
        &mut self,
        doc: Document,
        update: impl Into<Bson>,
        index: usize,
        want: Document,
    ) {
        self.check(Case {
            doc,
            update: update.into(),
            filters: None,
            ctx: UpdateContext {
                array_index: Some(index),
                ..UpdateContext::default()
            },
            expect: Expect::Doc(want),
            needs_full_filter: false,
        });
    }

    fn ok_insert(&mut self, doc: Document, update: impl Into<Bson>, want: Document) {
        self.check(Case {
            doc,
            update: update.into(),
            filters: None,
            ctx: UpdateContext {
                is_insert: true,
                ..UpdateContext::default()
            },
            expect: Expect::Doc(want),
            needs_full_filter: false,
        });
    }

    fn finish(self, area: &str, minimum: usize) {
        assert!(
            self.failures.is_empty(),
            "{area}: {} of {} cases failed:\n{}",
            self.failures.len(),
            self.run,
            self.failures.join("\n")
        );
        assert!(
            self.run + self.skipped >= minimum,
            "{area}: expected at least {minimum} cases"
        );
        eprintln!(
            "{area}: {} cases passed, {} skipped",
            self.run, self.skipped
        );
    }
}

#[test]
#[rustfmt::skip]
fn set_and_unset() {
    let mut t = Table::default();
    let product = doc! {
        "_id": 100, "quantity": 250, "instock": true, "reorder": false,
        "details": {"model": "14QQ", "make": "Clothes Corp"},
        "tags": ["apparel", "clothing"],
        "ratings": [{"by": "Customer007", "rating": 4}]
    };
    // Docs: set top-level fields; existing fields keep their place.
    t.ok(product.clone(), doc! {"$set": {"quantity": 500, "details": {"model": "2600", "make": "Fashionaires"}, "tags": ["coats", "outerwear", "clothing"]}}, doc! {"_id": 100, "quantity": 500, "instock": true, "reorder": false, "details": {"model": "2600", "make": "Fashionaires"}, "tags": ["coats", "outerwear", "clothing"], "ratings": [{"by": "Customer007", "rating": 4}]});
    // Docs: set fields in embedded documents.
    t.ok(product.clone(), doc! {"$set": {"details.make": "Kustom Kidz"}}, doc! {"_id": 100, "quantity": 250, "instock": true, "reorder": false, "details": {"model": "14QQ", "make": "Kustom Kidz"}, "tags": ["apparel", "clothing"], "ratings": [{"by": "Customer007", "rating": 4}]});
    // Docs: set elements in arrays.
    t.ok(product.clone(), doc! {"$set": {"tags.1": "rain gear", "ratings.0.rating": 2}}, doc! {"_id": 100, "quantity": 250, "instock": true, "reorder": false, "details": {"model": "14QQ", "make": "Clothes Corp"}, "tags": ["apparel", "rain gear"], "ratings": [{"by": "Customer007", "rating": 2}]});
    // Docs: $unset removes fields.
    t.ok(product.clone(), doc! {"$unset": {"quantity": "", "instock": ""}}, doc! {"_id": 100, "reorder": false, "details": {"model": "14QQ", "make": "Clothes Corp"}, "tags": ["apparel", "clothing"], "ratings": [{"by": "Customer007", "rating": 4}]});
    // New fields are appended in sorted order, whatever the update's order.
    t.ok(doc! {"_id": 1}, doc! {"$set": {"b": 1, "a": 1}}, doc! {"_id": 1, "a": 1, "b": 1});
    t.ok(doc! {"_id": 1, "z": 0}, doc! {"$set": {"y": 1, "x": 1, "z": 2}}, doc! {"_id": 1, "z": 2, "x": 1, "y": 1});
    t.ok(doc! {"_id": 1}, doc! {"$set": {"c": 1}, "$inc": {"a": 1}}, doc! {"_id": 1, "a": 1, "c": 1});
    t.ok(doc! {"_id": 1}, doc! {"$set": {"a.c": 1, "a.b": 1}}, doc! {"_id": 1, "a": {"b": 1, "c": 1}});
    t.ok(doc! {"_id": 1}, doc! {"$set": {"a-b": 1, "a.b": 1}}, doc! {"_id": 1, "a": {"b": 1}, "a-b": 1});
    // Intermediate documents are created.
    t.ok(doc! {"_id": 1}, doc! {"$set": {"a.b.c": 1}}, doc! {"_id": 1, "a": {"b": {"c": 1}}});
    t.ok(doc! {"_id": 1, "a": {}}, doc! {"$set": {"a.b": 1}}, doc! {"_id": 1, "a": {"b": 1}});
    // Numeric components index arrays; past the end pads with nulls.
    t.ok(doc! {"_id": 1, "a": [1, 2]}, doc! {"$set": {"a.0": 9}}, doc! {"_id": 1, "a": [9, 2]});
    t.ok(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.3": 9}}, doc! {"_id": 1, "a": [1, null, null, 9]});
    t.ok(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.2.b": 9}}, doc! {"_id": 1, "a": [1, null, {"b": 9}]});
    t.ok(doc! {"_id": 1, "a": [{"b": 1}]}, doc! {"$set": {"a.0.c": 2}}, doc! {"_id": 1, "a": [{"b": 1, "c": 2}]});
    // A numeric component on a document is a field name.
    t.ok(doc! {"_id": 1, "a": {}}, doc! {"$set": {"a.0": 1}}, doc! {"_id": 1, "a": {"0": 1}});
    t.ok(doc! {"_id": 1}, doc! {"$set": {"a.0": 1}}, doc! {"_id": 1, "a": {"0": 1}});
    // Traversing a scalar or naming a field of an array: PathNotViable.
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$set": {"a.b": 1}}, 28);
    t.err(doc! {"_id": 1, "a": null}, doc! {"$set": {"a.b": 1}}, 28);
    t.err(doc! {"_id": 1, "a": [{"b": 1}]}, doc! {"$set": {"a.b": 1}}, 28);
    t.err(doc! {"_id": 1, "a": "x"}, doc! {"$set": {"a.0": 1}}, 28);
    // $unset: missing paths and paths through scalars are no-ops; array elements become null.
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"$unset": {"b": 1}}, doc! {"_id": 1, "a": 1});
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"$unset": {"a.b": 1}}, doc! {"_id": 1, "a": 1});
    t.ok(doc! {"_id": 1, "a": [1, 2, 3]}, doc! {"$unset": {"a.1": 1}}, doc! {"_id": 1, "a": [1, null, 3]});
    t.ok(doc! {"_id": 1, "a": {"b": 1, "c": 2}}, doc! {"$unset": {"a.b": true}}, doc! {"_id": 1, "a": {"c": 2}});
    t.ok(doc! {"_id": 1, "a": [1]}, doc! {"$unset": {"a.5": 1}}, doc! {"_id": 1, "a": [1]});
    // Empty operator documents are allowed (MongoDB 5.0+).
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"$set": {}}, doc! {"_id": 1, "a": 1});
    // Values keep their exact types.
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"$set": {"a": 1.0}}, doc! {"_id": 1, "a": 1.0});
    t.ok(doc! {"_id": 1}, doc! {"$set": {"a": {"$x": 1}}}, doc! {"_id": 1, "a": {"$x": 1}});
    // A top-level `$` field in the result is refused.
    t.err(doc! {"_id": 1}, doc! {"$set": {"$a": 1}}, 52);
    t.finish("set/unset", 30);
}

#[test]
#[rustfmt::skip]
fn arithmetic() {
    let mut t = Table::default();
    // Docs: $inc.
    t.ok(doc! {"_id": 1, "sku": "abc123", "quantity": 10, "metrics": {"orders": 2, "ratings": 3.5}}, doc! {"$inc": {"quantity": -2, "metrics.orders": 1}}, doc! {"_id": 1, "sku": "abc123", "quantity": 8, "metrics": {"orders": 3, "ratings": 3.5}});
    t.ok(doc! {"_id": 1}, doc! {"$inc": {"a": 5}}, doc! {"_id": 1, "a": 5});
    t.ok(doc! {"_id": 1}, doc! {"$inc": {"a.b": 5i64}}, doc! {"_id": 1, "a": {"b": 5i64}});
    // Result types: int32 + int32 stays int32 unless it overflows.
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"$inc": {"a": 1}}, doc! {"_id": 1, "a": 2});
    t.ok(doc! {"_id": 1, "a": i32::MAX}, doc! {"$inc": {"a": 1}}, doc! {"_id": 1, "a": 2_147_483_648i64});
    t.ok(doc! {"_id": 1, "a": i32::MIN}, doc! {"$inc": {"a": -1}}, doc! {"_id": 1, "a": -2_147_483_649i64});
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"$inc": {"a": 1i64}}, doc! {"_id": 1, "a": 2i64});
    t.ok(doc! {"_id": 1, "a": 1i64}, doc! {"$inc": {"a": 1}}, doc! {"_id": 1, "a": 2i64});
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"$inc": {"a": 0.5}}, doc! {"_id": 1, "a": 1.5});
    t.ok(doc! {"_id": 1, "a": 1.5}, doc! {"$inc": {"a": 1}}, doc! {"_id": 1, "a": 2.5});
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"$inc": {"a": dec("1.5")}}, doc! {"_id": 1, "a": dec("2.5")});
    t.ok(doc! {"_id": 1, "a": dec("1.0")}, doc! {"$inc": {"a": 1}}, doc! {"_id": 1, "a": dec("2.0")});
    t.ok(doc! {"_id": 1, "a": dec("0.1")}, doc! {"$inc": {"a": dec("0.2")}}, doc! {"_id": 1, "a": dec("0.3")});
    t.ok(doc! {"_id": 1, "a": 2.5}, doc! {"$inc": {"a": dec("1")}}, doc! {"_id": 1, "a": dec("3.50000000000000")});
    // Decimal results round to 34 digits, half to even.
    t.ok(doc! {"_id": 1, "a": dec("9999999999999999999999999999999999")}, doc! {"$inc": {"a": dec("1")}}, doc! {"_id": 1, "a": dec("1.000000000000000000000000000000000E+34")});
    t.ok(doc! {"_id": 1, "a": dec("1234567890123456789012345678901234")}, doc! {"$mul": {"a": dec("0.5")}}, doc! {"_id": 1, "a": dec("617283945061728394506172839450617.0")});
    t.ok(doc! {"_id": 1, "a": dec("1234567890123456789012345678901234")}, doc! {"$mul": {"a": dec("1234567890123456789012345678901234")}}, doc! {"_id": 1, "a": dec("1.524157875323883675049535156256667E+66")});
    t.ok(doc! {"_id": 1, "a": dec("1E+40")}, doc! {"$inc": {"a": dec("-0.5")}}, doc! {"_id": 1, "a": dec("1.000000000000000000000000000000000E+40")});
    t.ok(doc! {"_id": 1, "a": dec("1E+40")}, doc! {"$inc": {"a": 1}}, doc! {"_id": 1, "a": dec("1.000000000000000000000000000000000E+40")});
    t.ok(doc! {"_id": 1, "a": dec("0.1")}, doc! {"$mul": {"a": 3i64}}, doc! {"_id": 1, "a": dec("0.3")});
    t.ok(doc! {"_id": 1, "a": dec("-2")}, doc! {"$inc": {"a": dec("2")}}, doc! {"_id": 1, "a": dec("0")});
    t.ok(doc! {"_id": 1, "a": dec("Infinity")}, doc! {"$inc": {"a": dec("-Infinity")}}, doc! {"_id": 1, "a": dec("NaN")});
    t.ok(doc! {"_id": 1, "a": dec("1.5")}, doc! {"$mul": {"a": 0}}, doc! {"_id": 1, "a": dec("0.0")});
    t.ok(doc! {"_id": 1}, doc! {"$mul": {"a": dec("1.25")}}, doc! {"_id": 1, "a": dec("0.00")});
    t.ok(doc! {"_id": 1, "a": dec("NaN")}, doc! {"$inc": {"a": 1}}, doc! {"_id": 1, "a": dec("NaN")});
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"$inc": {"a": f64::NAN}}, doc! {"_id": 1, "a": f64::NAN});
    // int64 overflow is an error.
    t.err(doc! {"_id": 1, "a": i64::MAX}, doc! {"$inc": {"a": 1}}, 2);
    t.err(doc! {"_id": 1, "a": i64::MAX}, doc! {"$mul": {"a": 2}}, 2);
    // Non-numeric target or argument.
    t.err(doc! {"_id": 1, "a": "x"}, doc! {"$inc": {"a": 1}}, 14);
    t.err(doc! {"_id": 1, "a": null}, doc! {"$inc": {"a": 1}}, 14);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$inc": {"a": "1"}}, 14);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$mul": {"a": null}}, 14);
    t.err(doc! {"_id": 1, "a": [1]}, doc! {"$mul": {"a": 2}}, 14);
    // Docs: $mul.
    t.ok(doc! {"_id": 1, "item": "Hats", "price": dec("10.99"), "quantity": 25}, doc! {"$mul": {"price": dec("1.25"), "quantity": 2}}, doc! {"_id": 1, "item": "Hats", "price": dec("13.7375"), "quantity": 50});
    // Docs: $mul on a missing field sets zero of the argument's type.
    t.ok(doc! {"_id": 2, "item": "Unknown"}, doc! {"$mul": {"price": 100i64}}, doc! {"_id": 2, "item": "Unknown", "price": 0i64});
    t.ok(doc! {"_id": 2}, doc! {"$mul": {"price": 2.5}}, doc! {"_id": 2, "price": 0.0});
    // Docs: mixed types.
    t.ok(doc! {"_id": 3, "item": "Scarf", "price": 10i64}, doc! {"$mul": {"price": 5}}, doc! {"_id": 3, "item": "Scarf", "price": 50i64});
    t.ok(doc! {"_id": 1, "a": 65536}, doc! {"$mul": {"a": 65536}}, doc! {"_id": 1, "a": 4_294_967_296i64});
    t.ok(doc! {"_id": 1, "a": 3}, doc! {"$mul": {"a": 0.5}}, doc! {"_id": 1, "a": 1.5});
    // Docs: $min / $max.
    t.ok(doc! {"_id": 1, "highScore": 800, "lowScore": 200}, doc! {"$min": {"lowScore": 150}}, doc! {"_id": 1, "highScore": 800, "lowScore": 150});
    t.ok(doc! {"_id": 1, "highScore": 800, "lowScore": 150}, doc! {"$min": {"lowScore": 250}}, doc! {"_id": 1, "highScore": 800, "lowScore": 150});
    t.ok(doc! {"_id": 1, "highScore": 800, "lowScore": 200}, doc! {"$max": {"highScore": 950}}, doc! {"_id": 1, "highScore": 950, "lowScore": 200});
    t.ok(doc! {"_id": 1, "highScore": 950, "lowScore": 200}, doc! {"$max": {"highScore": 870}}, doc! {"_id": 1, "highScore": 950, "lowScore": 200});
    t.ok(doc! {"_id": 1}, doc! {"$max": {"a": 1}}, doc! {"_id": 1, "a": 1});
    // Comparison across types uses BSON order: numbers below strings, null below numbers.
    t.ok(doc! {"_id": 1, "a": "x"}, doc! {"$min": {"a": 5}}, doc! {"_id": 1, "a": 5});
    t.ok(doc! {"_id": 1, "a": null}, doc! {"$max": {"a": 5}}, doc! {"_id": 1, "a": 5});
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"$min": {"a": 1.0}}, doc! {"_id": 1, "a": 1});
    t.ok(doc! {"_id": 1, "d": bson::DateTime::from_millis(1000)}, doc! {"$min": {"d": bson::DateTime::from_millis(10)}}, doc! {"_id": 1, "d": bson::DateTime::from_millis(10)});
    // Docs: $bit.
    t.ok(doc! {"_id": 1, "expdata": 13}, doc! {"$bit": {"expdata": {"and": 10}}}, doc! {"_id": 1, "expdata": 8});
    t.ok(doc! {"_id": 2, "expdata": 3i64}, doc! {"$bit": {"expdata": {"or": 5}}}, doc! {"_id": 2, "expdata": 7i64});
    t.ok(doc! {"_id": 3, "expdata": 1i64}, doc! {"$bit": {"expdata": {"xor": 5}}}, doc! {"_id": 3, "expdata": 4i64});
    t.ok(doc! {"_id": 1, "a": 12}, doc! {"$bit": {"a": {"and": 10, "or": 1}}}, doc! {"_id": 1, "a": 9});
    t.ok(doc! {"_id": 1}, doc! {"$bit": {"a": {"or": 5}}}, doc! {"_id": 1, "a": 5});
    t.ok(doc! {"_id": 1}, doc! {"$bit": {"a": {"and": 5}}}, doc! {"_id": 1, "a": 0});
    t.err(doc! {"_id": 1, "a": 1.0}, doc! {"$bit": {"a": {"and": 1}}}, 2);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$bit": {"a": {"and": 1.0}}}, 2);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$bit": {"a": {"not": 1}}}, 2);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$bit": {"a": {}}}, 2);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$bit": {"a": 5}}, 2);
    t.finish("arithmetic", 45);
}

#[test]
#[rustfmt::skip]
fn rename_and_current_date_and_set_on_insert() {
    let mut t = Table::default();
    let person = doc! {
        "_id": 1, "alias": ["The American Cincinnatus", "The American Fabius"],
        "mobile": "555-555-5555", "nmae": {"first": "george", "last": "washington"}
    };
    // Docs: rename a field; the new name goes at the end.
    t.ok(person.clone(), doc! {"$rename": {"nmae": "name"}}, doc! {"_id": 1, "alias": ["The American Cincinnatus", "The American Fabius"], "mobile": "555-555-5555", "name": {"first": "george", "last": "washington"}});
    // Docs: rename a field in an embedded document.
    t.ok(doc! {"_id": 1, "name": {"first": "george", "last": "washington"}}, doc! {"$rename": {"name.first": "name.fname"}}, doc! {"_id": 1, "name": {"last": "washington", "fname": "george"}});
    // Docs: renaming a missing field does nothing.
    t.ok(person.clone(), doc! {"$rename": {"wife": "spouse"}}, person.clone());
    // Renaming over an existing field replaces it in place.
    t.ok(doc! {"_id": 1, "a": 1, "b": 2, "c": 3}, doc! {"$rename": {"c": "a"}}, doc! {"_id": 1, "a": 3, "b": 2});
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"$rename": {"a": "b.c"}}, doc! {"_id": 1, "b": {"c": 1}});
    // Errors: same path, prefix, non-string target, arrays, dynamic paths.
    t.err(person.clone(), doc! {"$rename": {"a": "a"}}, 2);
    t.err(person.clone(), doc! {"$rename": {"a": "a.b"}}, 2);
    t.err(person.clone(), doc! {"$rename": {"a.b": "a"}}, 2);
    t.err(person.clone(), doc! {"$rename": {"a": 1}}, 2);
    t.err(person.clone(), doc! {"$rename": {"alias.0": "first"}}, 2);
    t.err(doc! {"_id": 1, "a": [], "b": 1}, doc! {"$rename": {"b": "a.0"}}, 2);
    t.err(doc! {"_id": 1, "a": [{"b": 1}]}, doc! {"$rename": {"a.$": "c"}}, 2);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$rename": {"a": "c.$[]"}}, 2);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$rename": {"a": "b"}, "$set": {"b": 1}}, 40);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$rename": {"a": "b"}, "$set": {"a": 1}}, 40);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$rename": {"a.b": "c"}}, 28);
    t.err(doc! {"_id": 1, "a": [{"b": 1}]}, doc! {"$rename": {"a.b": "c"}}, 28);
    t.ok(doc! {"_id": 1, "a": {"c": 1}}, doc! {"$rename": {"a.b": "c"}}, doc! {"_id": 1, "a": {"c": 1}});
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$rename": {"_id": "b"}}, 66);
    // $setOnInsert applies only on insert.
    t.ok(doc! {"_id": 1}, doc! {"$setOnInsert": {"a": 1}}, doc! {"_id": 1});
    t.ok_insert(doc! {"_id": 1}, doc! {"$setOnInsert": {"a": 1}, "$set": {"b": 2}}, doc! {"_id": 1, "a": 1, "b": 2});
    t.ok_insert(doc! {"_id": 1, "item": "apple"}, doc! {"$set": {"item": "apple"}, "$setOnInsert": {"defaultQty": 100}}, doc! {"_id": 1, "item": "apple", "defaultQty": 100});
    t.err(doc! {"_id": 1}, doc! {"$setOnInsert": {"a": 1}, "$set": {"a": 2}}, 40);
    t.finish("rename/currentDate/setOnInsert", 20);

    // $currentDate: the value is now, of the requested type.
    let update = Update::parse(
        &Bson::from(doc! {"$currentDate": {"lastModified": true, "cancellation.date": {"$type": "timestamp"}, "d2": {"$type": "date"}}, "$set": {"status": "D"}}),
        None,
    )
    .expect("parse");
    let out = update
        .apply(
            &doc! {"_id": 1, "status": "a", "lastModified": 1},
            &UpdateContext::default(),
        )
        .expect("apply");
    assert!(
        matches!(out.get("lastModified"), Some(Bson::DateTime(_))),
        "{out}"
    );
    assert!(matches!(out.get("d2"), Some(Bson::DateTime(_))), "{out}");
    assert!(
        matches!(
            out.get_document("cancellation")
                .ok()
                .and_then(|c| c.get("date")),
            Some(Bson::Timestamp(_))
        ),
        "{out}"
    );
    assert_eq!(
        out.keys().collect::<Vec<_>>(),
        vec!["_id", "status", "lastModified", "cancellation", "d2"]
    );
    for bad in [
        bson!({"a": 1}),
        bson!({"a": {"$type": "x"}}),
        bson!({"a": {"$type": "date", "b": 1}}),
        bson!({"a": "date"}),
    ] {
        let u = Update::parse(&Bson::from(doc! {"$currentDate": bad.clone()}), None);
        assert_eq!(u.map(|_| ()).map_err(|e| e.code()), Err(2), "{bad}");
    }
}

#[test]
#[rustfmt::skip]
fn arrays() {
    let mut t = Table::default();
    // Docs: $push a value, and several with $each.
    t.ok(doc! {"_id": 1, "scores": [44, 78, 38, 80]}, doc! {"$push": {"scores": 89}}, doc! {"_id": 1, "scores": [44, 78, 38, 80, 89]});
    t.ok(doc! {"_id": 1, "scores": [44]}, doc! {"$push": {"scores": {"$each": [90, 92, 85]}}}, doc! {"_id": 1, "scores": [44, 90, 92, 85]});
    t.ok(doc! {"_id": 1}, doc! {"$push": {"scores": 1}}, doc! {"_id": 1, "scores": [1]});
    t.ok(doc! {"_id": 1}, doc! {"$push": {"scores": [1, 2]}}, doc! {"_id": 1, "scores": [[1, 2]]});
    t.ok(doc! {"_id": 1, "a": []}, doc! {"$push": {"a": {"b": 1}}}, doc! {"_id": 1, "a": [{"b": 1}]});
    // Without $each, a document with $-fields is pushed as it is.
    t.ok(doc! {"_id": 1, "a": []}, doc! {"$push": {"a": {"$slice": 1}}}, doc! {"_id": 1, "a": [{"$slice": 1}]});
    // Docs: $each with $sort and $slice.
    t.ok(doc! {"_id": 5, "quizzes": [{"wk": 1, "score": 10}, {"wk": 2, "score": 8}, {"wk": 3, "score": 5}, {"wk": 4, "score": 6}]}, doc! {"$push": {"quizzes": {"$each": [{"wk": 5, "score": 8}, {"wk": 6, "score": 7}, {"wk": 7, "score": 6}], "$sort": {"score": -1}, "$slice": 3}}}, doc! {"_id": 5, "quizzes": [{"wk": 1, "score": 10}, {"wk": 2, "score": 8}, {"wk": 5, "score": 8}]});
    // Docs: $position.
    t.ok(doc! {"_id": 1, "scores": [100]}, doc! {"$push": {"scores": {"$each": [50, 60, 70], "$position": 0}}}, doc! {"_id": 1, "scores": [50, 60, 70, 100]});
    t.ok(doc! {"_id": 1, "scores": [50, 60, 70, 100]}, doc! {"$push": {"scores": {"$each": [20, 30], "$position": 2}}}, doc! {"_id": 1, "scores": [50, 60, 20, 30, 70, 100]});
    t.ok(doc! {"_id": 1, "scores": [50, 60, 20, 30, 70, 100]}, doc! {"$push": {"scores": {"$each": [90, 80], "$position": -2}}}, doc! {"_id": 1, "scores": [50, 60, 20, 30, 90, 80, 70, 100]});
    t.ok(doc! {"_id": 1, "a": [1, 2]}, doc! {"$push": {"a": {"$each": [3], "$position": 10}}}, doc! {"_id": 1, "a": [1, 2, 3]});
    t.ok(doc! {"_id": 1, "a": [1, 2]}, doc! {"$push": {"a": {"$each": [3], "$position": -10}}}, doc! {"_id": 1, "a": [3, 1, 2]});
    // Docs: $sort on whole elements and on embedded fields.
    t.ok(doc! {"_id": 2, "tests": [89, 70, 89, 50]}, doc! {"$push": {"tests": {"$each": [40, 60], "$sort": 1}}}, doc! {"_id": 2, "tests": [40, 50, 60, 70, 89, 89]});
    t.ok(doc! {"_id": 2, "tests": [40, 50, 60]}, doc! {"$push": {"tests": {"$each": [], "$sort": -1}}}, doc! {"_id": 2, "tests": [60, 50, 40]});
    t.ok(doc! {"_id": 1, "quizzes": [{"id": 1, "score": 6}, {"id": 2, "score": 9}]}, doc! {"$push": {"quizzes": {"$each": [{"id": 3, "score": 8}, {"id": 4, "score": 7}, {"id": 5, "score": 6}], "$sort": {"score": 1}}}}, doc! {"_id": 1, "quizzes": [{"id": 1, "score": 6}, {"id": 5, "score": 6}, {"id": 4, "score": 7}, {"id": 3, "score": 8}, {"id": 2, "score": 9}]});
    t.ok(doc! {"_id": 1, "a": [{"b": {"c": 2}}, {"b": {"c": 1}}]}, doc! {"$push": {"a": {"$each": [], "$sort": {"b.c": 1}}}}, doc! {"_id": 1, "a": [{"b": {"c": 1}}, {"b": {"c": 2}}]});
    // Docs: $slice.
    t.ok(doc! {"_id": 1, "scores": [40, 50, 60]}, doc! {"$push": {"scores": {"$each": [80, 78, 86], "$slice": -5}}}, doc! {"_id": 1, "scores": [50, 60, 80, 78, 86]});
    t.ok(doc! {"_id": 2, "scores": [89, 90]}, doc! {"$push": {"scores": {"$each": [100, 20], "$slice": 3}}}, doc! {"_id": 2, "scores": [89, 90, 100]});
    t.ok(doc! {"_id": 3, "scores": [89, 70, 100, 20]}, doc! {"$push": {"scores": {"$each": [], "$slice": -3}}}, doc! {"_id": 3, "scores": [70, 100, 20]});
    t.ok(doc! {"_id": 3, "scores": [1, 2]}, doc! {"$push": {"scores": {"$each": [3], "$slice": 0}}}, doc! {"_id": 3, "scores": []});
    t.ok(doc! {"_id": 3}, doc! {"$push": {"s": {"$each": [3, 1, 2], "$sort": 1, "$slice": 2}}}, doc! {"_id": 3, "s": [1, 2]});
    // Elements that are not documents sort by null under a field pattern.
    t.ok(doc! {"_id": 1, "a": [{"b": 1}, 5, {"b": -1}, [0]]}, doc! {"$push": {"a": {"$each": [], "$sort": {"b": 1}}}}, doc! {"_id": 1, "a": [5, [0], {"b": -1}, {"b": 1}]});
    t.ok(doc! {"_id": 1, "a": [{"b": 1}, "x", null, 2]}, doc! {"$push": {"a": {"$each": [], "$sort": -1}}}, doc! {"_id": 1, "a": [{"b": 1}, "x", 2, null]});
    // $push errors.
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$push": {"a": 2}}, 2);
    t.err(doc! {"_id": 1, "a": {}}, doc! {"$push": {"a": 2}}, 2);
    t.err(doc! {"_id": 1, "a": []}, doc! {"$push": {"a": {"$each": 1}}}, 2);
    t.err(doc! {"_id": 1, "a": []}, doc! {"$push": {"a": {"$each": [1], "$slice": "x"}}}, 2);
    t.err(doc! {"_id": 1, "a": []}, doc! {"$push": {"a": {"$each": [1], "$slice": 1.5}}}, 2);
    t.err(doc! {"_id": 1, "a": []}, doc! {"$push": {"a": {"$each": [1], "$position": "x"}}}, 2);
    t.err(doc! {"_id": 1, "a": []}, doc! {"$push": {"a": {"$each": [1], "$sort": 2}}}, 2);
    t.err(doc! {"_id": 1, "a": []}, doc! {"$push": {"a": {"$each": [1], "$sort": {}}}}, 2);
    t.err(doc! {"_id": 1, "a": []}, doc! {"$push": {"a": {"$each": [1], "$sort": "x"}}}, 2);
    t.err(doc! {"_id": 1, "a": []}, doc! {"$push": {"a": {"$each": [1], "$foo": 1}}}, 2);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$push": {"a.b": 1}}, 28);
    // Docs: $addToSet.
    t.ok(doc! {"_id": 1, "letters": ["a", "b"]}, doc! {"$addToSet": {"letters": ["c", "d"]}}, doc! {"_id": 1, "letters": ["a", "b", ["c", "d"]]});
    t.ok(doc! {"_id": 1, "tags": ["electronics", "camera"]}, doc! {"$addToSet": {"tags": "accessories"}}, doc! {"_id": 1, "tags": ["electronics", "camera", "accessories"]});
    t.ok(doc! {"_id": 1, "tags": ["electronics", "camera"]}, doc! {"$addToSet": {"tags": "camera"}}, doc! {"_id": 1, "tags": ["electronics", "camera"]});
    t.ok(doc! {"_id": 2, "item": "cable", "tags": ["electronics", "supplies"]}, doc! {"$addToSet": {"tags": {"$each": ["camera", "electronics", "accessories"]}}}, doc! {"_id": 2, "item": "cable", "tags": ["electronics", "supplies", "camera", "accessories"]});
    t.ok(doc! {"_id": 1}, doc! {"$addToSet": {"a": {"$each": [1, 1, 2]}}}, doc! {"_id": 1, "a": [1, 2]});
    t.ok(doc! {"_id": 1, "a": [1]}, doc! {"$addToSet": {"a": 1.0}}, doc! {"_id": 1, "a": [1]});
    t.ok(doc! {"_id": 1, "a": [{"x": 1, "y": 2}]}, doc! {"$addToSet": {"a": {"y": 2, "x": 1}}}, doc! {"_id": 1, "a": [{"x": 1, "y": 2}, {"y": 2, "x": 1}]});
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$addToSet": {"a": 1}}, 2);
    t.err(doc! {"_id": 1, "a": []}, doc! {"$addToSet": {"a": {"$each": 1}}}, 14);
    // Docs: $pop.
    t.ok(doc! {"_id": 1, "scores": [8, 9, 10]}, doc! {"$pop": {"scores": -1}}, doc! {"_id": 1, "scores": [9, 10]});
    t.ok(doc! {"_id": 1, "scores": [9, 10]}, doc! {"$pop": {"scores": 1}}, doc! {"_id": 1, "scores": [9]});
    t.ok(doc! {"_id": 1, "scores": []}, doc! {"$pop": {"scores": 1}}, doc! {"_id": 1, "scores": []});
    t.ok(doc! {"_id": 1}, doc! {"$pop": {"scores": 1}}, doc! {"_id": 1});
    t.ok(doc! {"_id": 1, "s": [1, 2]}, doc! {"$pop": {"s": 1.0}}, doc! {"_id": 1, "s": [1]});
    t.err(doc! {"_id": 1, "scores": [1]}, doc! {"$pop": {"scores": 2}}, 9);
    t.err(doc! {"_id": 1, "scores": [1]}, doc! {"$pop": {"scores": "x"}}, 9);
    t.err(doc! {"_id": 1, "scores": 1}, doc! {"$pop": {"scores": 1}}, 14);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$pop": {"a.b": 1}}, 28);
    // Docs: $pull with a value and with a document condition.
    t.ok(doc! {"_id": 1, "vegetables": ["carrots", "celery", "squash", "carrots"]}, doc! {"$pull": {"vegetables": "carrots"}}, doc! {"_id": 1, "vegetables": ["celery", "squash"]});
    t.ok(doc! {"_id": 1, "results": [{"item": "A", "score": 5}, {"item": "B", "score": 8}]}, doc! {"$pull": {"results": {"score": 8, "item": "B"}}}, doc! {"_id": 1, "results": [{"item": "A", "score": 5}]});
    t.ok(doc! {"_id": 1, "a": [[1, 2], [3]]}, doc! {"$pull": {"a": [1, 2]}}, doc! {"_id": 1, "a": [[3]]});
    t.ok(doc! {"_id": 1, "a": [1, 1.0, 2]}, doc! {"$pull": {"a": 1}}, doc! {"_id": 1, "a": [2]});
    t.ok(doc! {"_id": 1, "a": [{"b": 1}, 2]}, doc! {"$pull": {"a": {}}}, doc! {"_id": 1, "a": [2]});
    t.ok(doc! {"_id": 1}, doc! {"$pull": {"a": 1}}, doc! {"_id": 1});
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$pull": {"a": 1}}, 2);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$pull": {"a.b": 1}}, 28);
    // Docs: $pull with conditions (need the full filter).
    t.ok_full(doc! {"_id": 1, "fruits": ["apples", "pears", "oranges", "grapes", "bananas"], "vegetables": ["carrots", "celery", "squash", "carrots"]}, doc! {"$pull": {"fruits": {"$in": ["apples", "oranges"]}, "vegetables": "carrots"}}, doc! {"_id": 1, "fruits": ["pears", "grapes", "bananas"], "vegetables": ["celery", "squash"]});
    t.ok_full(doc! {"_id": 1, "votes": [3, 5, 6, 7, 7, 8]}, doc! {"$pull": {"votes": {"$gte": 6}}}, doc! {"_id": 1, "votes": [3, 5]});
    t.ok_full(doc! {"_id": 1, "results": [{"item": "A", "score": 5, "answers": [{"q": 1, "a": 4}, {"q": 2, "a": 6}]}, {"item": "B", "score": 8, "answers": [{"q": 1, "a": 8}, {"q": 2, "a": 9}]}]}, doc! {"$pull": {"results": {"answers": {"$elemMatch": {"q": 2, "a": {"$gte": 8}}}}}}, doc! {"_id": 1, "results": [{"item": "A", "score": 5, "answers": [{"q": 1, "a": 4}, {"q": 2, "a": 6}]}]});
    t.ok_full(doc! {"_id": 1, "a": [{"x": 1}, {"x": 5}]}, doc! {"$pull": {"a": {"x": {"$gt": 2}}}}, doc! {"_id": 1, "a": [{"x": 1}]});
    t.ok_full(doc! {"_id": 1, "a": ["apple", "banana", "blueberry"]}, doc! {"$pull": {"a": bson::Regex { pattern: "^b".into(), options: String::new() }}}, doc! {"_id": 1, "a": ["apple"]});
    t.ok_full(doc! {"_id": 1, "a": [{"x": 1, "y": 1}, {"x": 2, "y": 5}, {"x": 3, "y": 9}]}, doc! {"$pull": {"a": {"$or": [{"x": 1}, {"y": {"$gt": 8}}]}}}, doc! {"_id": 1, "a": [{"x": 2, "y": 5}]});
    t.ok_full(doc! {"_id": 1, "a": [1, 5, 10]}, doc! {"$pull": {"a": {"$in": [5, 10], "$gt": 6}}}, doc! {"_id": 1, "a": [1, 5]});
    t.ok_full(doc! {"_id": 1, "a": [[1, 2], [3]]}, doc! {"$pull": {"a": {"$size": 1}}}, doc! {"_id": 1, "a": [[1, 2]]});
    // Docs: $pullAll.
    t.ok(doc! {"_id": 1, "scores": [0, 2, 5, 5, 1, 0]}, doc! {"$pullAll": {"scores": [0, 5]}}, doc! {"_id": 1, "scores": [2, 1]});
    t.ok(doc! {"_id": 1}, doc! {"$pullAll": {"scores": [0, 5]}}, doc! {"_id": 1});
    t.err(doc! {"_id": 1, "scores": [1]}, doc! {"$pullAll": {"scores": 1}}, 2);
    t.err(doc! {"_id": 1, "scores": 1}, doc! {"$pullAll": {"scores": [1]}}, 2);
    t.finish("arrays", 65);
}

#[test]
#[rustfmt::skip]
fn positional_and_array_filters() {
    let mut t = Table::default();
    // Docs: `$` updates the element the query matched.
    t.ok_positional(doc! {"_id": 1, "grades": [85, 80, 80]}, doc! {"$set": {"grades.$": 82}}, 1, doc! {"_id": 1, "grades": [85, 82, 80]});
    t.ok_positional(doc! {"_id": 4, "grades": [{"grade": 80, "mean": 75, "std": 8}, {"grade": 85, "mean": 90, "std": 5}]}, doc! {"$set": {"grades.$.std": 6}}, 1, doc! {"_id": 4, "grades": [{"grade": 80, "mean": 75, "std": 8}, {"grade": 85, "mean": 90, "std": 6}]});
    t.ok_positional(doc! {"_id": 1, "a": [{"b": [1, 2]}]}, doc! {"$push": {"a.$.b": 3}}, 0, doc! {"_id": 1, "a": [{"b": [1, 2, 3]}]});
    t.ok_positional(doc! {"_id": 1, "a": [1, 2]}, doc! {"$set": {"a.$": 9, "b": 1}}, 0, doc! {"_id": 1, "a": [9, 2], "b": 1});
    // `$` without a query match, twice, or first.
    t.err(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.$": 1}}, 2);
    t.err(doc! {"_id": 1, "a": [[1]]}, doc! {"$set": {"a.$.$": 1}}, 2);
    t.err(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"$": 1}}, 2);
    // Positional and its concrete index in one update conflict at apply time.
    t.check(Case {
        doc: doc! {"_id": 1, "a": [1, 2]},
        update: doc! {"$set": {"a.$": 5, "a.0": 6}}.into(),
        filters: None,
        ctx: UpdateContext {
            array_index: Some(0),
            ..UpdateContext::default()
        },
        expect: Expect::Code(40),
        needs_full_filter: false,
    });
    // Docs: `$[]` updates every element.
    t.ok(doc! {"_id": 1, "grades": [85, 82, 80]}, doc! {"$inc": {"grades.$[]": 10}}, doc! {"_id": 1, "grades": [95, 92, 90]});
    t.ok(doc! {"_id": 1, "grades": [{"grade": 80, "mean": 75}, {"grade": 85, "mean": 90}]}, doc! {"$inc": {"grades.$[].std": -2}}, doc! {"_id": 1, "grades": [{"grade": 80, "mean": 75, "std": -2}, {"grade": 85, "mean": 90, "std": -2}]});
    t.ok(doc! {"_id": 1, "a": []}, doc! {"$set": {"a.$[]": 1}}, doc! {"_id": 1, "a": []});
    t.ok(doc! {"_id": 1, "a": [[1, 2], [3]]}, doc! {"$inc": {"a.$[].$[]": 1}}, doc! {"_id": 1, "a": [[2, 3], [4]]});
    t.ok(doc! {"_id": 1, "a": [{"b": [1]}, {"b": [2]}]}, doc! {"$push": {"a.$[].b": 0}}, doc! {"_id": 1, "a": [{"b": [1, 0]}, {"b": [2, 0]}]});
    t.err(doc! {"_id": 1, "a": 1}, doc! {"$set": {"a.$[]": 1}}, 2);
    t.err(doc! {"_id": 1, "a": [{"b": [1]}, {}]}, doc! {"$set": {"a.$[].b.$[]": 1}}, 2);
    t.err(doc! {"_id": 1, "a": [1, 2]}, doc! {"$set": {"a.$[].b": 1}}, 28);
    t.ok_filters(doc! {"_id": 1, "a": [1, 2, 3]}, doc! {"$inc": {"a.$[x]": 10}}, vec![doc! {"$or": [{"x": 1}, {"x": {"$gte": 3}}]}], doc! {"_id": 1, "a": [11, 2, 13]}, true);
    t.ok_filters(doc! {"_id": 1, "a": [{"b": [1, 5]}, {"b": [7]}]}, doc! {"$set": {"a.$[].b.$[big]": 0}}, vec![doc! {"big": {"$gt": 4}}], doc! {"_id": 1, "a": [{"b": [1, 0]}, {"b": [0]}]}, true);
    t.err(doc! {"_id": 1}, doc! {"$set": {"a.$[]": 1}}, 2);
    t.err(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"$[]": 1}}, 2);
    t.err(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.$[]": 1, "a.0": 2}}, 40);
    t.err(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.$[]": 1, "a": 2}}, 40);
    // `$[<id>]` with arrayFilters.
    t.ok_filters(doc! {"_id": 1, "grades": [95, 92, 90]}, doc! {"$set": {"grades.$[element]": 100}}, vec![doc! {"element": 92}], doc! {"_id": 1, "grades": [95, 100, 90]}, false);
    t.ok_filters(doc! {"_id": 1, "a": [1, 2, 1]}, doc! {"$set": {"a.$[x]": 0}}, vec![doc! {"x": 1}], doc! {"_id": 1, "a": [0, 2, 0]}, false);
    t.ok_filters(doc! {"_id": 1, "a": [1, 2]}, doc! {"$set": {"a.$[x]": 0}}, vec![doc! {"x": 5}], doc! {"_id": 1, "a": [1, 2]}, false);
    t.ok_filters(doc! {"_id": 1, "a": [1, 2, 3]}, doc! {"$set": {"a.$[x]": 10, "a.$[y]": 20}}, vec![doc! {"x": 1}, doc! {"y": 3}], doc! {"_id": 1, "a": [10, 2, 20]}, false);
    t.ok_filters(doc! {"_id": 1, "grades": [95, 92, 90, 150]}, doc! {"$set": {"grades.$[element]": 100}}, vec![doc! {"element": {"$gte": 100}}], doc! {"_id": 1, "grades": [95, 92, 90, 100]}, true);
    t.ok_filters(doc! {"_id": 1, "grades": [{"grade": 80, "mean": 75}, {"grade": 85, "mean": 90}, {"grade": 85, "mean": 85}]}, doc! {"$set": {"grades.$[elem].mean": 100}}, vec![doc! {"elem.grade": {"$gte": 85}}], doc! {"_id": 1, "grades": [{"grade": 80, "mean": 75}, {"grade": 85, "mean": 100}, {"grade": 85, "mean": 100}]}, true);
    t.ok_filters(doc! {"_id": 1, "degrees": [{"level": "Master"}, {"level": "Bachelor"}]}, doc! {"$set": {"degrees.$[degree].gradcampaign": 1}}, vec![doc! {"degree.level": {"$ne": "Bachelor"}}], doc! {"_id": 1, "degrees": [{"level": "Master", "gradcampaign": 1}, {"level": "Bachelor"}]}, true);
    // Two filters selecting one element for the same path conflict at apply time.
    t.err_filters(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.$[x]": 1, "a.$[y]": 2}}, vec![doc! {"x": 1}, doc! {"y": 1}], 40);
    t.err_filters(doc! {"_id": 1, "a": [{"b": {}}]}, doc! {"$set": {"a.$[w].b": 1, "a.$[x].b.c": 2, "a.$[v].d": 3}}, vec![ doc! {"w": {"b": {}}}, doc! {"x": {"b": {}}}, doc! {"v": {"b": {}}}, ], 40);
    // Filter errors: unused, missing, malformed, duplicate.
    t.err_filters(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.$[x]": 1}}, vec![doc! {"x": 1}, doc! {"y": 1}], 9);
    t.err_filters(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.$[x]": 1}}, vec![], 2);
    t.err_filters(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.$[x]": 1}}, vec![doc! {"x": 1, "y": 1}], 9);
    t.err_filters(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.$[x]": 1}}, vec![doc! {"x": 1}, doc! {"x": 2}], 9);
    t.err_filters(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.$[X]": 1}}, vec![doc! {"X": 1}], 2);
    t.err_filters(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a": 1}}, vec![doc! {}], 9);
    t.err_filters(doc! {"_id": 1, "a": 1}, doc! {"$set": {"a.$[x]": 1}}, vec![doc! {"x": 1}], 2);
    t.err_filters(doc! {"_id": 1, "a": [1]}, doc! {"$set": {"a.$[x]": 1, "a.0": 1}}, vec![doc! {"x": 1}], 40);
    t.finish("positional/arrayFilters", 30);
}

#[test]
#[rustfmt::skip]
fn validation() {
    let mut t = Table::default();
    let d = doc! {"_id": 1, "a": {"b": 1}};
    // Unknown operators, non-document arguments, mixed operator/field documents.
    t.err(d.clone(), doc! {"$foo": {"a": 1}}, 9);
    t.err(d.clone(), doc! {"$set": {"a": 1}, "b": 1}, 9);
    t.err(d.clone(), doc! {"$set": 1}, 9);
    t.err(d.clone(), doc! {"$set": []}, 9);
    t.err(d.clone(), doc! {"$set": null}, 9);
    t.err(d.clone(), doc! {"$unset": "a"}, 9);
    // Conflicting paths.
    t.err(d.clone(), doc! {"$set": {"a": 1, "a.b": 2}}, 40);
    t.err(d.clone(), doc! {"$set": {"a.b": 1}, "$inc": {"a": 2}}, 40);
    t.err(d.clone(), doc! {"$set": {"a": 1}, "$inc": {"a": 2}}, 40);
    t.err(d.clone(), doc! {"$set": {"a.b": 1}, "$unset": {"a.b": 1}}, 40);
    t.err(d.clone(), doc! {"$push": {"a": 1}, "$pull": {"a": 1}}, 40);
    t.ok(d.clone(), doc! {"$set": {"a.b": 5, "a.c": 2}}, doc! {"_id": 1, "a": {"b": 5, "c": 2}});
    t.ok(d.clone(), doc! {"$set": {"ab": 5, "a.c": 2}}, doc! {"_id": 1, "a": {"b": 1, "c": 2}, "ab": 5});
    // Empty paths.
    t.err(d.clone(), doc! {"$set": {"": 1}}, 56);
    t.err(d.clone(), doc! {"$set": {"a..b": 1}}, 56);
    t.err(d.clone(), doc! {"$set": {"a.": 1}}, 56);
    t.err(d.clone(), doc! {"$set": {".a": 1}}, 56);
    // `_id` is immutable, but may be set to its own value.
    t.err(d.clone(), doc! {"$set": {"_id": 2}}, 66);
    t.ok(d.clone(), doc! {"$set": {"_id": 1}}, d.clone());
    t.err(d.clone(), doc! {"$unset": {"_id": 1}}, 66);
    t.err(d.clone(), doc! {"$inc": {"_id": 1}}, 66);
    t.err(doc! {"_id": {"x": 1}}, doc! {"$set": {"_id.x": 2}}, 66);
    t.ok(doc! {"_id": {"x": 1}}, doc! {"$set": {"_id.x": 1}}, doc! {"_id": {"x": 1}});
    t.err(doc! {"_id": {"x": 1}}, doc! {"$set": {"_id.y": 2}}, 66);
    // An upsert may set `_id` when the query did not; it goes first.
    t.ok_insert(doc! {"a": 1}, doc! {"$set": {"_id": 5}}, doc! {"_id": 5, "a": 1});
    t.err(doc! {"a": 1}, doc! {"$set": {"_id": [1]}}, 53);
    t.err(doc! {"a": 1}, doc! {"$set": {"_id": bson::Regex { pattern: "x".into(), options: String::new() }}}, 53);
    t.err(doc! {"a": 1}, doc! {"$set": {"_id": Bson::Undefined}}, 53);
    t.err(doc! {"a": 1}, doc! {"$set": {"_id": {"$x": 1}}}, 52);
    t.err(doc! {"_id": 1}, doc! {"b": 1, "_id": [1]}, 66);
    t.err(doc! {"a": 1}, doc! {"_id": [1]}, 53);
    t.finish("validation", 25);
}

#[test]
#[rustfmt::skip]
fn replacement_and_pipeline() {
    let mut t = Table::default();
    // A replacement keeps `_id`, first.
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"b": 2}, doc! {"_id": 1, "b": 2});
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"b": 2, "_id": 1}, doc! {"_id": 1, "b": 2});
    t.ok(doc! {"_id": 1, "a": 1}, doc! {"_id": 1.0, "b": 2}, doc! {"_id": 1, "b": 2});
    t.ok(doc! {"_id": 1, "a": 1}, doc! {}, doc! {"_id": 1});
    t.ok(doc! {"a": 1}, doc! {"_id": 7, "b": 2}, doc! {"_id": 7, "b": 2});
    t.ok(doc! {"_id": 1}, doc! {"a": {"$b": 1}}, doc! {"_id": 1, "a": {"$b": 1}});
    t.err(doc! {"_id": 1, "a": 1}, doc! {"_id": 2, "b": 2}, 66);
    t.err(doc! {"_id": 1, "a": 1}, doc! {"b": 2, "$set": {"c": 1}}, 52);
    // Pipelines: stages outside the update set are refused before the pipeline runs.
    t.err(doc! {"_id": 1}, bson!([{"$match": {"a": 1}}]), 72);
    t.err(doc! {"_id": 1}, bson!([{"$group": {"_id": null}}]), 72);
    t.err(doc! {"_id": 1}, bson!([{"$set": {"a": 1}}, {"$sort": {"a": 1}}]), 72);
    t.err(doc! {"_id": 1}, bson!([{"$bogus": {}}]), 40324);
    t.err(doc! {"_id": 1}, bson!([{"$set": {"a": 1}, "$unset": "b"}]), 40323);
    t.err(doc! {"_id": 1}, bson!([1]), 14);
    t.err(doc! {"_id": 1}, Bson::Int32(1), 14);
    t.err_filters(doc! {"_id": 1}, bson!([{"$set": {"a": 1}}]), vec![doc! {"x": 1}], 9);
    t.err_filters(doc! {"_id": 1}, doc! {"a": 1}, vec![doc! {"x": 1}], 9);
    t.ok_filters(doc! {"_id": 1}, doc! {"a": 1}, vec![], doc! {"_id": 1, "a": 1}, false);
    t.finish("replacement/pipeline", 16);

    for stages in [
        bson!([{"$set": {"a": 1}}]),
        bson!([{"$addFields": {"a": 1}}, {"$unset": "b"}]),
        bson!([{"$project": {"a": 1}}]),
        bson!([{"$replaceRoot": {"newRoot": "$a"}}]),
        bson!([{"$replaceWith": "$a"}]),
    ] {
        let update = Update::parse(&stages, None).expect("allowed pipeline");
        assert!(update.is_pipeline() && !update.is_replacement());
        assert_eq!(update.modified_paths(), None);
    }
}

#[test]
fn nesting_limit() {
    let nested = |levels: usize| {
        let mut value = Bson::Int32(1);
        for _ in 0..levels {
            value = Bson::Document(doc! {"x": value});
        }
        value
    };
    let apply = |levels: usize| {
        Update::parse(&Bson::from(doc! {"$set": {"a": nested(levels)}}), None)
            .and_then(|u| u.apply(&doc! {"_id": 1}, &UpdateContext::default()))
            .map(|_| ())
            .map_err(|e| e.code())
    };
    // `a` is level 1, so 179 nested documents reach level 180, the limit.
    assert_eq!(apply(179), Ok(()));
    assert_eq!(apply(180), Err(15));
}

#[test]
#[rustfmt::skip]
fn field_order_and_modified_paths() {
    let update = Update::parse(
        &Bson::from(doc! {"$set": {"b": 1, "a.$[]": 2}, "$rename": {"x": "y"}}),
        None,
    )
    .expect("parse");
    assert_eq!(
        update.modified_paths(),
        Some(vec![
            "b".to_string(),
            "a.$[]".into(),
            "x".into(),
            "y".into()
        ])
    );
    assert!(!update.is_pipeline() && !update.is_replacement());
    assert!(Update::parse(&Bson::from(doc! {"a": 1}), None)
        .expect("replacement")
        .is_replacement());
}

fn check_seed(t: &mut Table, filter: Document, want: Result<Document, i32>) {
    t.run += 1;
    match (upsert_seed(&filter), &want) {
        (Ok(got), Ok(w)) if same(&got, w) => {}
        (Err(e), Err(code)) if e.code() == *code => {}
        (got, _) => t
            .failures
            .push(format!("seed {filter}: want {want:?}, got {got:?}")),
    }
}

#[test]
#[rustfmt::skip]
fn upsert_seeding() {
    let mut t = Table::default();
    check_seed(&mut t, doc! {"a": 1}, Ok(doc! {"a": 1}));
    check_seed(&mut t, doc! {"_id": 1, "a": 1}, Ok(doc! {"_id": 1, "a": 1}));
    check_seed(&mut t, doc! {"a": 1, "_id": 1}, Ok(doc! {"_id": 1, "a": 1}));
    check_seed(&mut t, doc! {"a.b": 1}, Ok(doc! {"a": {"b": 1}}));
    check_seed(&mut t, doc! {"a.b": 1, "a.c": 2}, Ok(doc! {"a": {"b": 1, "c": 2}}));
    check_seed(&mut t, doc! {"a": {"$eq": 1}}, Ok(doc! {"a": 1}));
    check_seed(&mut t, doc! {"a": {"$gt": 1}}, Ok(doc! {}));
    check_seed(&mut t, doc! {"a": {"$gt": 1}, "b": 2}, Ok(doc! {"b": 2}));
    check_seed(&mut t, doc! {"a": {"$in": [1]}}, Ok(doc! {"a": 1}));
    check_seed(&mut t, doc! {"a": {"$in": [1, 2]}}, Ok(doc! {}));
    check_seed(&mut t, doc! {"$and": [{"a": 1}, {"b.c": 2}]}, Ok(doc! {"a": 1, "b": {"c": 2}}));
    check_seed(&mut t, doc! {"$or": [{"a": 1}]}, Ok(doc! {"a": 1}));
    check_seed(&mut t, doc! {"$or": [{"a": 1}, {"b": 1}]}, Ok(doc! {}));
    check_seed(&mut t, doc! {"a": {"b": 1}}, Ok(doc! {"a": {"b": 1}}));
    check_seed(&mut t, doc! {"a": bson::Regex { pattern: "x".into(), options: String::new() }}, Ok(doc! {}));
    check_seed(&mut t, doc! {"$expr": {"$eq": ["$a", 1]}}, Ok(doc! {}));
    check_seed(&mut t, doc! {"a": 1, "$and": [{"a": 2}]}, Err(54));
    check_seed(&mut t, doc! {"a": 1, "a.b": 2}, Err(54));
    check_seed(&mut t, doc! {"a.b": 1, "$and": [{"a": {"$eq": 2}}]}, Err(54));
    check_seed(&mut t, doc! {"_id": {"$eq": 5}}, Ok(doc! {"_id": 5}));
    check_seed(&mut t, doc! {"b": 1, "a": 2, "_id": 3}, Ok(doc! {"_id": 3, "a": 2, "b": 1}));
    check_seed(&mut t, doc! {"x.b": 1, "c": 1, "x.a": 2}, Ok(doc! {"c": 1, "x": {"a": 2, "b": 1}}));
    t.finish("upsert seed", 20);

    // After seeding, the update applies as an insert.
    let seed = upsert_seed(&doc! {"_id": 1, "a.b": 1, "c": {"$gt": 0}}).expect("seed");
    let update = Update::parse(
        &Bson::from(doc! {"$set": {"x": 1}, "$setOnInsert": {"y": 2}}),
        None,
    )
    .expect("parse");
    let ctx = UpdateContext {
        is_insert: true,
        ..UpdateContext::default()
    };
    let out = update.apply(&seed, &ctx).expect("apply");
    assert!(
        same(&out, &doc! {"_id": 1, "a": {"b": 1}, "x": 1, "y": 2}),
        "{out}"
    );
}

#[test]
#[rustfmt::skip]
fn comparison_helper_sees_types_and_order() {
    assert!(same(&doc! {"a": 1, "b": 2}, &doc! {"a": 1, "b": 2}));
    assert!(!same(&doc! {"a": 1}, &doc! {"a": 1i64}));
    assert!(!same(&doc! {"a": 1, "b": 2}, &doc! {"b": 2, "a": 1}));
}
