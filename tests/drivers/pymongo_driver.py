"""pymongo against Outpost, run by tests/integration/drivers.rs:
    python3 tests/drivers/pymongo_driver.py <uri>
Watches a collection while another client writes, then runs a transaction with
with_transaction. Prints one "key=value" line per step for the Rust test to compare."""

import json
import sys

from pymongo import MongoClient


def main(uri):
    client = MongoClient(uri)
    other = MongoClient(uri)
    try:
        coll = client.drivers_py.orders
        other_coll = other.drivers_py.orders
        with coll.watch() as stream:
            other_coll.insert_one({"_id": 1, "item": "apple", "qty": 1})
            other_coll.update_one({"_id": 1}, {"$set": {"qty": 2}})
            inserted = stream.next()
            updated = stream.next()
            print("watch=%s,%s" % (inserted["operationType"], updated["operationType"]))
            print("updatedFields=" + json.dumps(updated["updateDescription"]["updatedFields"], separators=(",", ":")))

            def callback(session):
                coll.insert_one({"_id": 2, "item": "pear", "qty": 5}, session=session)
                coll.update_one({"_id": 1}, {"$inc": {"qty": 10}}, session=session)
                own = coll.count_documents({}, session=session)
                print("inTransaction=%d outside=%d" % (own, other_coll.count_documents({})))

            with client.start_session() as session:
                session.with_transaction(callback)
            keys = [stream.next()["documentKey"]["_id"], stream.next()["documentKey"]["_id"]]
            print("transactionEvents=%s" % ",".join(str(k) for k in keys))
        docs = list(other_coll.find().sort("_id", 1))
        print("committed=" + json.dumps(docs, separators=(",", ":")))
    finally:
        client.close()
        other.close()


if __name__ == "__main__":
    main(sys.argv[1])
