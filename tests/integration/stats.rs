//! The `$collStats` stage, which mongosh's `db.collection.stats()` runs.

use bson::{doc, Bson, Document};
use futures::TryStreamExt;
use outpost_tests::TestServer;

#[tokio::test]
async fn coll_stats_stage_reports_count_and_storage_stats() {
    let server = TestServer::start().await;
    let coll = server.db("stats").collection::<Document>("c");
    coll.insert_many(vec![doc! {"a": 1}, doc! {"a": 2}, doc! {"a": 3}])
        .await
        .expect("insert");
    let out: Vec<Document> = coll
        .aggregate(vec![doc! {"$collStats": {"storageStats": {}, "count": {}}}])
        .await
        .expect("aggregate")
        .try_collect()
        .await
        .expect("documents");
    assert_eq!(out.len(), 1);
    let stats = &out[0];
    assert_eq!(stats.get_str("ns").expect("ns"), "stats.c");
    assert_eq!(stats.get("count"), Some(&Bson::Int64(3)));
    let storage = stats.get_document("storageStats").expect("storageStats");
    assert_eq!(storage.get("count"), Some(&Bson::Int64(3)));
    assert_eq!(storage.get("nindexes"), Some(&Bson::Int32(1)));
    assert!(storage.get_i64("size").expect("size") > 0);
    // Counters Outpost does not keep are refused by name, not invented.
    let err = coll
        .aggregate(vec![doc! {"$collStats": {"latencyStats": {}}}])
        .await
        .expect_err("latencyStats");
    assert!(err.to_string().contains("latencyStats"), "{err}");
    server.shutdown().await;
}
