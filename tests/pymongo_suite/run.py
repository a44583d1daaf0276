#!/usr/bin/env python3
"""Runs pymongo's own tests of the index, collection and cursor types Outpost serves (text,
geospatial and hashed indexes, capped collections and tailable cursors, min/max, exhaust
cursors, validate, the profiler) against a running Outpost, and prints the counts.

pymongo's test suite is not vendored: the source distribution of PYMONGO_VERSION (below) is
downloaded with pip at run time into a cache directory and its `test/` package run with
pytest, importing that distribution's own `pymongo` and `bson` (pure Python), so the tests
and the library they test always match whatever pymongo is installed. pytest and
pytest-asyncio are installed with pip on first use when they are missing.

Usage: run.py --port PORT [--host HOST] [--cache DIR]
Exits 0 only when every selected test ran and passed (a skipped or missing test fails too).
"""

import argparse
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

PYMONGO_VERSION = "4.20.1"

# The selection: every test of pymongo's suite that exercises the features of issue 14,
# sync and async. Left out, on purpose:
# - test_cursor.py TestCursor::test_to_list_tailable: tails `local.oplog.rs`, the replica
#   set's oplog, which Outpost does not have (its history log is not exposed as an oplog).
# - test_collection.py TestCollection::test_index_haystack: geoHaystack indexes were removed
#   in MongoDB 5.0 (the test skips itself on servers newer than 4.4).
SELECTION = [
    # Text, geospatial and hashed indexes.
    "test_collection.py::TestCollection::test_index_text",
    "test_collection.py::TestCollection::test_index_2dsphere",
    "test_collection.py::TestCollection::test_index_geo2d",
    "test_collection.py::TestCollection::test_index_hashed",
    # Capped collections and tailable cursors.
    "test_collection.py::TestCollection::test_options",
    "test_database.py::TestDatabase::test_create_collection",
    "test_database.py::TestDatabase::test_list_collection_names_filter",
    "test_database.py::TestDatabase::test_list_collections",
    "test_cursor.py::TestCursor::test_tailable",
    "test_cursor.py::TestCursor::test_concurrent_close",
    "test_cursor.py::TestCursor::test_max_await_time_ms",
    # find's min and max.
    "test_collection.py::TestCollection::test_min_query",
    "test_cursor.py::TestCursor::test_min",
    "test_cursor.py::TestCursor::test_max",
    "test_cursor.py::TestCursor::test_min_max_without_hint",
    # Exhaust cursors.
    "test_collection.py::TestCollection::test_exhaust",
    "test_collection.py::TestCollection::test_exhaust_limit_raises_without_iterating",
    "test_cursor.py::TestCursor::test_add_remove_option_exhaust",
    "test_cursor.py::TestRawBatchCursor::test_exhaust",
    "test_cursor.py::TestRawBatchCommandCursor::test_exhaust_cursor_db_set",
    "test_client.py::TestClient::test_exhaust_network_error",
    # TestExhaustCursor's other tests need gevent's monkey patching (they skip without it).
    "test_client.py::TestExhaustCursor::test_exhaust_query_server_error",
    "test_client.py::TestExhaustCursor::test_exhaust_getmore_server_error",
    "test_client.py::TestExhaustCursor::test_exhaust_query_network_error",
    "test_client.py::TestExhaustCursor::test_exhaust_getmore_network_error",
    "test_monitoring.py::TestCommandMonitoring::test_exhaust",
    # validate.
    "test_database.py::TestDatabase::test_validate_collection",
    "test_database.py::TestDatabase::test_validate_collection_background",
    # The profiler (system.profile), through find's and distinct's comment.
    "test_cursor.py::TestCursor::test_comment",
]

# Tests the asynchronous suite skips (pymongo marks them sync-only).
SYNC_ONLY = {
    "test_cursor.py::TestCursor::test_concurrent_close",
    "test_cursor.py::TestRawBatchCommandCursor::test_exhaust_cursor_db_set",
}


def selection(root: Path):
    """Node ids of the selection, sync and async (the async suite calls some classes Async*)."""
    ids = []
    for item in SELECTION:
        ids.append("test/" + item)
        if item in SYNC_ONLY:
            continue
        path, _, rest = item.partition("::")
        cls, _, test = rest.partition("::")
        source = (root / "test" / "asynchronous" / path).read_text()
        if f"class Async{cls}(" in source:
            cls = "Async" + cls
        ids.append("test/asynchronous/" + path + "::" + cls + ("::" + test if test else ""))
    return ids


def fetch(cache: Path) -> Path:
    """The unpacked source distribution of PYMONGO_VERSION, downloaded once into `cache`."""
    root = cache / f"pymongo-{PYMONGO_VERSION}"
    if (root / "test" / "__init__.py").exists():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-binary", ":all:", "--no-deps", "--dest", str(cache), f"pymongo=={PYMONGO_VERSION}"],
        check=True,
    )
    archive = cache / f"pymongo-{PYMONGO_VERSION}.tar.gz"
    with tarfile.open(archive) as tar:
        tar.extractall(cache, filter="data")
    return root


def ensure_pytest():
    """pytest and pytest-asyncio, installed with pip on first use (as the driver tests install
    their clients)."""
    try:
        import pytest  # noqa: F401
        import pytest_asyncio  # noqa: F401
    except ImportError:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "pytest>=8.2", "pytest-asyncio>=0.24"],
            check=True,
        )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", required=True)
    parser.add_argument("--cache", default=str(Path(__file__).resolve().parents[2] / "target" / "pymongo-suite"))
    args = parser.parse_args()
    ensure_pytest()
    root = fetch(Path(args.cache))
    ids = selection(root)
    env = dict(os.environ, DB_IP=args.host, DB_PORT=str(args.port))
    # pytest from the distribution's root: its pyproject.toml configures pytest, and its
    # `pymongo`/`bson` packages come first on sys.path. The junit report of pyproject.toml's
    # options goes to a temporary place.
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=",
               "-m", "default or default_async", "-rA", "-q", "--no-header", *ids]
    print("running", len(ids), "pymongo test ids from pymongo", PYMONGO_VERSION, flush=True)
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    print(output)
    counts = {k: 0 for k in ("passed", "failed", "skipped", "error", "errors", "deselected")}
    summary = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    if summary:
        for number, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", summary[-1]):
            counts[word] += int(number)
    errors = counts["error"] + counts["errors"]
    print(f"pymongo suite ({PYMONGO_VERSION}): {counts['passed']} passed, {counts['failed']} failed, "
          f"{counts['skipped']} skipped, {errors} errors")
    if "no tests ran" in output or "not found" in output or "ERROR: " in output and counts["passed"] == 0:
        print("some selected tests were not found in this pymongo version")
        return 1
    ok = result.returncode == 0 and counts["failed"] == 0 and errors == 0 and counts["skipped"] == 0 \
        and counts["passed"] > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
