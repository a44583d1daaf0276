// Outpost's mongosh smoke test, run by tests/integration/mongosh.rs against a fresh server:
//   mongosh <uri> --quiet --file tests/mongosh/smoke.js
// Each result is printed as one "key=value" line that the Rust test compares exactly.

// `use mongosh_smoke`
const shop = db.getSiblingDB("mongosh_smoke");

let result = shop.items.insertOne({ _id: 1, name: "apple", qty: 5 });
print("insertOne acknowledged=" + result.acknowledged + " insertedId=" + result.insertedId);

result = shop.items.insertMany([
  { _id: 2, name: "banana", qty: 7 },
  { _id: 3, name: "cherry", qty: 1 },
  { _id: 4, name: "date", qty: 12 },
]);
print("insertMany acknowledged=" + result.acknowledged + " insertedCount=" + Object.keys(result.insertedIds).length);

// `show dbs`
const databases = db.adminCommand({ listDatabases: 1 });
print("listDatabases ok=" + databases.ok + " hasSmoke=" + databases.databases.some((d) => d.name === "mongosh_smoke"));

const top = shop.items.find({}, { _id: 0, name: 1 }).sort({ qty: -1 }).limit(2).toArray();
print("find sort limit=" + top.map((d) => d.name).join(","));

result = shop.items.updateOne({ _id: 3 }, { $set: { qty: 30 } });
print("updateOne matched=" + result.matchedCount + " modified=" + result.modifiedCount);

result = shop.items.deleteOne({ _id: 1 });
print("deleteOne deleted=" + result.deletedCount);

print("countDocuments all=" + shop.items.countDocuments({}));
print("countDocuments qty>10=" + shop.items.countDocuments({ qty: { $gt: 10 } }));

print("createIndex=" + shop.items.createIndex({ name: 1 }, { unique: true }));
print("getIndexes=" + shop.items.getIndexes().map((i) => i.name + ":" + JSON.stringify(i.key)).join(","));

try {
  shop.items.insertOne({ _id: 9, name: "banana" });
  print("duplicate=accepted");
} catch (e) {
  print("duplicate code=" + e.code);
}

print("findOne:");
printjson(shop.items.findOne({ _id: 3 }));

print("drop=" + shop.items.drop());
print("collections after drop=" + shop.getCollectionNames().length);
print("smoke done");
