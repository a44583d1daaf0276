#!/usr/bin/env python3
"""Seeds for the fuzz targets, from real driver messages.

Starts `outpost serve` on a free port, puts a recording proxy in front of it, and runs pymongo
through the proxy doing what applications do (inserts, finds with filters, updates of each
kind, aggregations, index and collection commands). Every message pymongo sends becomes a seed
of the `wire` target; its OP_MSG body (with document sequences folded in) a seed of `command`;
the filters, updates and pipelines inside a seed of `filter`, `update` and `pipeline`. The
`sync_change` seeds are changes in the sync protocol's shape and instance queries.

    python3 fuzz/seeds.py target/debug/outpost fuzz/seeds
"""
import os, socket, struct, subprocess, sys, tempfile, threading, time

import bson
import pymongo

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def read_message(sock):
    header = b""
    while len(header) < 16:
        chunk = sock.recv(16 - len(header))
        if not chunk:
            return None
        header += chunk
    (length,) = struct.unpack("<i", header[:4])
    body = b""
    while len(body) < length - 16:
        chunk = sock.recv(length - 16 - len(body))
        if not chunk:
            return None
        body += chunk
    return header + body

def proxy(listen_port, server_port, recorded):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", listen_port))
    listener.listen()

    def pump(client):
        server = socket.create_connection(("127.0.0.1", server_port))
        while True:
            request = read_message(client)
            if request is None:
                break
            recorded.append(request)
            server.sendall(request)
            reply = read_message(server)
            if reply is None:
                break
            client.sendall(reply)
        client.close()
        server.close()

    while True:
        client, _ = listener.accept()
        threading.Thread(target=pump, args=(client,), daemon=True).start()

def op_msg_body(message):
    """The body of an OP_MSG (op code 2013) with its document sequences folded in."""
    (op_code,) = struct.unpack("<i", message[12:16])
    if op_code != 2013:
        return None
    at, body = 20, None
    while at < len(message):
        kind = message[at]
        at += 1
        (size,) = struct.unpack("<i", message[at:at + 4])
        if kind == 0:
            body = bson.decode(message[at:at + size])
        else:
            end = at + size
            name_end = message.index(b"\0", at + 4)
            name = message[at + 4:name_end].decode()
            docs, p = [], name_end + 1
            while p < end:
                (doc_size,) = struct.unpack("<i", message[p:p + 4])
                docs.append(bson.decode(message[p:p + doc_size]))
                p += doc_size
            body = body or {}
            body[name] = docs
        at += size
    return body

def exercise(uri):
    client = pymongo.MongoClient(uri, directConnection=True)
    db = client.shop
    items = db.items
    items.drop()
    items.insert_many([{"_id": i, "sku": f"s{i}", "qty": i * 3, "tags": ["a", "b"][: i % 3],
                        "dim": {"h": i, "w": [1, 2]}, "price": bson.Decimal128("1.5")}
                       for i in range(20)])
    items.create_index([("sku", 1)], unique=True)
    items.create_index([("dim.h", -1), ("qty", 1)])
    for f in [{"qty": {"$gt": 5}}, {"tags": {"$all": ["a"]}}, {"$or": [{"sku": "s1"}, {"qty": {"$in": [3, 6]}}]},
              {"dim.w": {"$elemMatch": {"$gte": 2}}}, {"sku": {"$regex": "^s1", "$options": "i"}},
              {"$expr": {"$gt": ["$qty", "$dim.h"]}}, {"tags": {"$size": 2}}, {"price": {"$type": "decimal"}},
              {"qty": {"$not": {"$mod": [2, 0]}}}, {"dim": {"$exists": True}, "$nor": [{"qty": 0}]}]:
        list(items.find(f).sort("qty", -1).limit(5))
    for u in [{"$set": {"dim.h": 9}}, {"$inc": {"qty": 1}, "$unset": {"tags": ""}},
              {"$push": {"tags": {"$each": ["z"], "$slice": -3}}}, {"$pull": {"tags": "a"}},
              {"$addToSet": {"tags": "q"}}, {"$rename": {"sku": "code"}}, {"$min": {"qty": 1}},
              {"$currentDate": {"at": True}}, {"$mul": {"qty": 2}}]:
        items.update_one({"_id": 3}, u)
    items.update_many({"tags": "b"}, {"$set": {"tags.$[t]": "c"}}, array_filters=[{"t": "b"}])
    items.update_one({"_id": 4}, [{"$set": {"total": {"$multiply": ["$qty", 2]}}}])
    items.replace_one({"_id": 5}, {"sku": "s5", "qty": 0})
    items.find_one_and_update({"_id": 6}, {"$inc": {"qty": -1}}, upsert=True)
    items.delete_many({"qty": {"$lt": 2}})
    list(items.aggregate([{"$match": {"qty": {"$gte": 1}}}, {"$group": {"_id": "$tags", "n": {"$sum": 1}, "avg": {"$avg": "$qty"}}},
                          {"$sort": {"n": -1}}, {"$project": {"n": 1, "x": {"$concat": ["a", "b"]}}}]))
    list(items.aggregate([{"$unwind": "$tags"}, {"$lookup": {"from": "items", "localField": "tags", "foreignField": "tags", "as": "same"}},
                          {"$facet": {"a": [{"$count": "n"}], "b": [{"$bucket": {"groupBy": "$qty", "boundaries": [0, 10, 100], "default": "x"}}]}}]))
    list(items.aggregate([{"$setWindowFields": {"sortBy": {"qty": 1}, "output": {"s": {"$sum": "$qty", "window": {"documents": [-1, 0]}}}}},
                          {"$addFields": {"r": {"$reduce": {"input": [1, 2, 3], "initialValue": 0, "in": {"$add": ["$$value", "$$this"]}}}}},
                          {"$replaceRoot": {"newRoot": {"$mergeObjects": ["$dim", {"q": "$qty"}]}}}]))
    items.count_documents({"qty": {"$gt": 1}})
    items.distinct("tags")
    db.command("listCollections")
    db.command("collStats", "items")
    items.create_index([("$**", 1)])
    db.create_collection("capped", capped=True, size=4096)
    db.command("createIndexes", "items", indexes=[{"key": {"qty": 1}, "name": "q", "partialFilterExpression": {"qty": {"$gt": 1}}}])
    client.admin.command("serverStatus")
    client.close()

def write(directory, name, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)

def sync_seeds(out):
    oid = bson.ObjectId()
    changes = [
        {"seq": 1, "ns": "shop.items", "id": oid, "hlc": 1 << 20, "doc": {"_id": oid, "qty": 1}, "insert": True},
        {"seq": 2, "ns": "shop.items", "id": oid, "hlc": 1 << 21, "doc": {"_id": oid, "qty": 2, "d": {"e": 1}},
         "fields": ["qty", "d\0e"], "inc": {"qty": 1}, "origin": "edge-1"},
        {"seq": 3, "ns": "shop.items", "id": oid, "hlc": 1 << 22, "delete": True},
        {"seq": 4, "ns": "shop.items", "id": None, "hlc": 1 << 23, "drop": True},
        {"shop.items": {"qty": {"$gt": 1}}, "*": "qty > 1 && sku BEGINSWITH[c] 's'"},
        {"items": "TRUEPREDICATE", "shop.orders": {"store": 42}},
    ]
    for n, change in enumerate(changes):
        write(os.path.join(out, "sync_change"), f"{n}", bson.encode(change))
    for n, text in enumerate(["store_id == 42 && qty > 3", "name LIKE[c] 'a*' || tags IN {'x', 'y'}",
                              "!(a == oid(507f1f77bcf86cd799439011))", "x CONTAINS 'q' AND y != nil"]):
        write(os.path.join(out, "sync_change"), f"rql-{n}", text.encode())

def main():
    outpost, out = sys.argv[1], sys.argv[2]
    server_port, proxy_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen([outpost, "serve", "--port", str(server_port), "--dbpath", data],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", server_port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            recorded = []
            threading.Thread(target=proxy, args=(proxy_port, server_port, recorded), daemon=True).start()
            exercise(f"mongodb://127.0.0.1:{proxy_port}")
        finally:
            server.kill()
    counts = {}
    def add(target, data):
        counts[target] = counts.get(target, 0) + 1
        write(os.path.join(out, target), f"{counts[target]:04}", data)
    for message in recorded:
        add("wire", message)
        body = op_msg_body(message)
        if body is None:
            continue
        add("command", bson.encode(body))
        for key in ("filter", "q", "query"):
            if isinstance(body.get(key), dict):
                add("filter", bson.encode(body[key]))
        for update in body.get("updates", []):
            add("filter", bson.encode(update.get("q", {})))
            u = {"u": update["u"]}
            if "arrayFilters" in update:
                u["af"] = update["arrayFilters"]
            add("update", bson.encode(u))
        if "update" in body and isinstance(body.get("update"), dict):
            add("update", bson.encode({"u": body["update"]}))
        if isinstance(body.get("pipeline"), list):
            add("pipeline", bson.encode({"p": body["pipeline"]}))
            for stage in body["pipeline"]:
                if "$match" in stage:
                    add("filter", bson.encode(stage["$match"]))
    sync_seeds(out)
    print(counts)

if __name__ == "__main__":
    main()
