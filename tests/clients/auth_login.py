"""Logs in to an Outpost server started with --auth, with pymongo: SCRAM-SHA-256 (source admin)
and PLAIN (source $external, checked against admin's users), then a wrong password.

Run by tests/integration/auth_clients.rs:
    python3 tests/clients/auth_login.py HOST:PORT USER PASSWORD
Prints one line per step; the Rust test compares them.
"""

import sys

from pymongo import MongoClient
from pymongo.errors import OperationFailure


def client(address, user, password, mechanism, source):
    return MongoClient(
        f"mongodb://{address}/?directConnection=true&serverSelectionTimeoutMS=5000",
        username=user,
        password=password,
        authMechanism=mechanism,
        authSource=source,
    )


def main():
    address, user, password = sys.argv[1:4]
    for mechanism, source in [("SCRAM-SHA-256", "admin"), ("PLAIN", "$external")]:
        with client(address, user, password, mechanism, source) as c:
            items = c["pymongo_auth"]["items"]
            items.insert_one({"by": mechanism})
            status = c.admin.command("connectionStatus")
            users = status["authInfo"]["authenticatedUsers"]
            print(f"{mechanism} users={users[0]['user']}@{users[0]['db']} "
                  f"found={items.count_documents({'by': mechanism})}")
        with client(address, user, password + "-wrong", mechanism, source) as c:
            try:
                c.admin.command("ping")
                print(f"{mechanism} wrong password: logged in")
            except OperationFailure as e:
                print(f"{mechanism} wrong password: code={e.code}")


if __name__ == "__main__":
    main()
