//! PCRE patterns through the wire: look-ahead, look-behind, back-references, atomic groups
//! and possessive quantifiers in `$regex` filters and in `$regexMatch`/`$regexFind`/
//! `$regexFindAll`, and a catastrophically backtracking pattern answered with MongoDB's
//! match-limit error (51156) instead of a hang.

use bson::{doc, Bson, Document, Regex};
use futures::TryStreamExt;
use outpost_tests::{command_error, TestServer};

fn words() -> Vec<Document> {
    vec![
        doc! {"_id": 1, "s": "foobar"},
        doc! {"_id": 2, "s": "foobaz"},
        doc! {"_id": 3, "s": "price $42"},
        doc! {"_id": 4, "s": "price 42"},
        doc! {"_id": 5, "s": "hey hey"},
        doc! {"_id": 6, "s": "hey you"},
        doc! {"_id": 7, "s": "aaa"},
    ]
}

async fn start_with_words() -> TestServer {
    let server = TestServer::start().await;
    server
        .db("test")
        .collection::<Document>("words")
        .insert_many(words())
        .await
        .expect("insert");
    server
}

async fn ids_matching(server: &TestServer, filter: Document) -> Vec<i32> {
    let docs: Vec<Document> = server
        .db("test")
        .collection::<Document>("words")
        .find(filter.clone())
        .sort(doc! {"_id": 1})
        .await
        .unwrap_or_else(|e| panic!("find {filter} failed: {e}"))
        .try_collect()
        .await
        .expect("cursor");
    docs.iter()
        .map(|d| d.get_i32("_id").expect("int _id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_with_look_around_and_back_references() {
    let server = start_with_words().await;
    let regex = |pattern: &str, options: &str| {
        Bson::RegularExpression(Regex {
            pattern: pattern.into(),
            options: options.into(),
        })
    };
    let cases: Vec<(Document, Vec<i32>)> = vec![
        (doc! {"s": {"$regex": "foo(?=bar)"}}, vec![1]),
        (doc! {"s": {"$regex": "^foo(?!bar)"}}, vec![2]),
        (doc! {"s": {"$regex": "(?<=\\$)\\d+"}}, vec![3]),
        (doc! {"s": {"$regex": "(?<!\\$)\\b\\d+"}}, vec![4]),
        (doc! {"s": {"$regex": "^(\\w+) \\1$"}}, vec![5]),
        (doc! {"s": regex("^(HEY) \\1$", "i")}, vec![5]),
        (doc! {"s": {"$in": [regex("^(\\w)\\1\\1$", "")]}}, vec![7]),
        (doc! {"s": {"$not": regex("(?=.*o)", "")}}, vec![3, 4, 5, 7]),
        // Atomic group and possessive quantifier: nothing is given back to the last `a`.
        (doc! {"s": {"$regex": "^(?>a+)a$"}}, vec![]),
        (doc! {"s": {"$regex": "^a++a$"}}, vec![]),
        (doc! {"s": {"$regex": "^a+a$"}}, vec![7]),
    ];
    let mut wrong = Vec::new();
    for (filter, expected) in cases {
        let got = ids_matching(&server, filter.clone()).await;
        if got != expected {
            wrong.push(format!("{filter}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "mismatches:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_patterns_are_refused_with_51091() {
    let server = start_with_words().await;
    let coll = server.db("test").collection::<Document>("words");
    // A variable-length look-behind is invalid in PCRE as well.
    for pattern in ["(?<=a+)b", "[", "(?<n>a)\\k<m>"] {
        let failure = command_error(coll.find(doc! {"s": {"$regex": pattern}}).await);
        failure.assert(51091, "Location51091", "Regular expression is invalid");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregation_regex_operators_use_pcre() {
    let server = start_with_words().await;
    let coll = server.db("test").collection::<Document>("words");
    let pipeline = vec![
        doc! {"$match": {"_id": {"$in": [3, 5]}}},
        doc! {"$sort": {"_id": 1}},
        doc! {"$project": {
            "_id": 0,
            "dollars": {"$regexMatch": {"input": "$s", "regex": "(?<=\\$)\\d"}},
            "number": {"$regexFind": {"input": "$s", "regex": "(?<=\\$)(\\d)(\\d)"}},
            "repeat": {"$regexFind": {"input": "$s", "regex": "(\\w+) \\1"}},
            "all": {"$regexFindAll": {"input": "$s", "regex": "(?<=h)e|(?=y$)"}},
        }},
    ];
    let got: Vec<Document> = coll
        .aggregate(pipeline)
        .await
        .expect("aggregate")
        .try_collect()
        .await
        .expect("cursor");
    let expected = vec![
        doc! {
            "dollars": true,
            "number": {"match": "42", "idx": 7, "captures": ["4", "2"]},
            "repeat": null,
            "all": [],
        },
        doc! {
            "dollars": false,
            "number": null,
            "repeat": {"match": "hey hey", "idx": 0, "captures": ["hey"]},
            "all": [
                {"match": "e", "idx": 1, "captures": []},
                // The empty match before the last `y` starts where `e` ended: skipped.
                {"match": "e", "idx": 5, "captures": []},
            ],
        },
    ];
    assert_eq!(got, expected);

    let failure = command_error(
        coll.aggregate(vec![
            doc! {"$project": {"m": {"$regexMatch": {"input": "$s", "regex": "(?<=a+)b"}}}},
        ])
        .await,
    );
    failure.assert(51111, "Location51111", "Invalid Regex in $regexMatch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catastrophic_backtracking_is_an_error_not_a_hang() {
    let server = TestServer::start().await;
    let coll = server.db("test").collection::<Document>("slow");
    let text = format!("{}b", "a".repeat(60));
    coll.insert_one(doc! {"_id": 1, "s": &text})
        .await
        .expect("insert");
    // `(a|aa)+` has exponentially many ways to split the a's; the back-reference makes the
    // pattern backtrack instead of running on the linear-time engine.
    let pattern = "^(a|aa)+\\1?$";

    let failure = command_error(coll.find(doc! {"s": {"$regex": pattern}}).await);
    failure.assert(51156, "Location51156", "match limit exceeded");

    for op in ["$regexMatch", "$regexFind", "$regexFindAll"] {
        let failure = command_error(
            coll.aggregate(vec![
                doc! {"$project": {"m": {op: {"input": "$s", "regex": pattern}}}},
            ])
            .await,
        );
        failure.assert(51156, "Location51156", "match limit exceeded");
        assert!(failure.message.contains(op), "{failure:?}");
    }

    // The same pattern on a short input is answered normally.
    coll.insert_one(doc! {"_id": 2, "s": "aaaa"})
        .await
        .expect("insert");
    let matched = coll
        .count_documents(doc! {"_id": 2, "s": {"$regex": pattern}})
        .await
        .expect("count");
    assert_eq!(matched, 1);
}
