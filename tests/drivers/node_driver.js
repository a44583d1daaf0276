// The Node.js driver (npm `mongodb`) against Outpost, run by tests/integration/drivers.rs:
//   node tests/drivers/node_driver.js <uri>
// Watches a collection while another client writes, then runs a transaction with
// withTransaction. Prints one "key=value" line per step for the Rust test to compare.
const { MongoClient } = require("mongodb");

async function main() {
  const uri = process.argv[2];
  const client = new MongoClient(uri);
  const other = new MongoClient(uri);
  await client.connect();
  await other.connect();
  try {
    const coll = client.db("drivers_node").collection("orders");
    const otherColl = other.db("drivers_node").collection("orders");

    const stream = coll.watch();
    // The first tryNext opens the stream (aggregate): writes after it are seen.
    console.log("opened=" + (await stream.tryNext()));
    await otherColl.insertOne({ _id: 1, item: "apple", qty: 1 });
    await otherColl.updateOne({ _id: 1 }, { $set: { qty: 2 } });
    const inserted = await stream.next();
    const updated = await stream.next();
    console.log("watch=" + inserted.operationType + "," + updated.operationType);
    console.log("updatedFields=" + JSON.stringify(updated.updateDescription.updatedFields));

    const session = client.startSession();
    try {
      await session.withTransaction(async () => {
        await coll.insertOne({ _id: 2, item: "pear", qty: 5 }, { session });
        await coll.updateOne({ _id: 1 }, { $inc: { qty: 10 } }, { session });
        const own = await coll.countDocuments({}, { session });
        console.log("inTransaction=" + own + " outside=" + (await otherColl.countDocuments({})));
      });
    } finally {
      await session.endSession();
    }
    const keys = [(await stream.next()).documentKey._id, (await stream.next()).documentKey._id];
    console.log("transactionEvents=" + keys.join(","));
    const docs = await otherColl.find().sort({ _id: 1 }).toArray();
    console.log("committed=" + JSON.stringify(docs));
    await stream.close();
  } finally {
    await client.close();
    await other.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
