// mongosh against Outpost, run by tests/integration/drivers.rs:
//   mongosh <uri> --quiet --norc --file tests/drivers/mongosh_driver.js
// Watches a collection while another connection writes, then runs a transaction with
// Session.withTransaction. Prints one "key=value" line per step for the Rust test.
const shop = db.getSiblingDB("drivers_mongosh");
const other = new Mongo(db.getMongo()._uri).getDB("drivers_mongosh");

const stream = shop.orders.watch();
// next() below waits for the other connection's writes, as intended.
stream.disableBlockWarnings();
print("opened=" + stream.tryNext());
other.orders.insertOne({ _id: 1, item: "apple", qty: 1 });
other.orders.updateOne({ _id: 1 }, { $set: { qty: 2 } });
const inserted = stream.next();
const updated = stream.next();
print("watch=" + inserted.operationType + "," + updated.operationType);
print("updatedFields=" + JSON.stringify(updated.updateDescription.updatedFields));

const session = db.getMongo().startSession();
session.withTransaction(() => {
  const orders = session.getDatabase("drivers_mongosh").orders;
  orders.insertOne({ _id: 2, item: "pear", qty: 5 });
  orders.updateOne({ _id: 1 }, { $inc: { qty: 10 } });
  print("inTransaction=" + orders.countDocuments({}) + " outside=" + other.orders.countDocuments({}));
});
session.endSession();
const keys = [stream.next().documentKey._id, stream.next().documentKey._id];
print("transactionEvents=" + keys.join(","));
print("committed=" + JSON.stringify(other.orders.find().sort({ _id: 1 }).toArray()));
stream.close();
