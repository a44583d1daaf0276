//! Deeply nested documents: MongoDB accepts 200 levels on the wire and stores up to 180; the
//! server must answer (never crash) at and beyond those limits, whatever runtime embeds it.

use bson::{doc, Bson, Document};
use outpost_tests::TestServer;

/// `{a: {a: ... {a: 1}}}` with `depth` levels of documents.
fn nested(depth: usize) -> Document {
    let mut doc = doc! {"a": 1};
    for _ in 1..depth {
        doc = doc! {"a": doc};
    }
    doc
}

fn depth_of(doc: &Document) -> usize {
    match doc.get("a") {
        Some(Bson::Document(inner)) => 1 + depth_of(inner),
        _ => 1,
    }
}

#[tokio::test]
async fn deep_documents_are_stored_read_and_refused_past_the_limits() {
    let server = TestServer::start().await;
    let coll = server.db("nesting").collection::<Document>("c");
    // 150 levels of `a` plus the top-level document with `_id`.
    let mut deep = nested(150);
    deep.insert("_id", 1);
    coll.insert_one(deep)
        .await
        .expect("a 150-level document is stored");
    let back = coll
        .find_one(doc! {"_id": 1})
        .await
        .expect("find")
        .expect("document");
    assert_eq!(depth_of(&back), 150);
    // Past MongoDB's limits: refused with an error, and the server keeps serving.
    let mut too_deep = nested(210);
    too_deep.insert("_id", 2);
    assert!(coll.insert_one(too_deep).await.is_err());
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 1);
    server.shutdown().await;
}
