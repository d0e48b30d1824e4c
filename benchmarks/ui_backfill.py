"""Time a UI backfill (launchPartitionBackfill over GraphQL, as the UI's dialog sends it) of
raw_documents + d1_signals + cleaned_documents over all partitions, on a fresh `hare ui`.

    python benchmarks/ui_backfill.py [--repo CHECKOUT]

Prints the runs the backfill made, its seconds (launch to done) and the documents. --repo serves
another checkout (e.g. `git archive cbc0f8c | tar -x -C /tmp/before`) to compare with the code before
the backfill policy.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from ui_server import DagsterDev  # noqa: E402

LAUNCH = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } ... on Error { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }"""
RUNS = """query($id: String!) { runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
  ... on Runs { results { runId status } } } }"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, default=REPO)
    ap.add_argument("--timeout", type=float, default=1200)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hare-ui-backfill-"))
    server = DagsterDev(tmp, repo=args.repo)
    server.start()
    try:
        server.wait_ready(timeout_s=300)
        t0 = time.monotonic()
        out = server.graphql(LAUNCH, {"p": {"allPartitions": True, "title": "ui_backfill benchmark",
                                            "assetSelection": [{"path": [k]} for k in
                                                               ("raw_documents", "d1_signals", "cleaned_documents")]}})
        launched = out["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        bid = launched["backfillId"]
        while (status := server.graphql(STATUS, {"id": bid})["partitionBackfillOrError"]["status"]) not in (
                "COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"):
            if time.monotonic() - t0 > args.timeout:
                break
            time.sleep(2)
        seconds = time.monotonic() - t0
        runs = server.graphql(RUNS, {"id": bid})["runsOrError"]["results"]
        import pyarrow.parquet as pq

        raw_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in (tmp / "hare" / "lake" / "raw_documents").glob("*/*.parquet"))
        cleaned = sum(pq.ParquetFile(f).metadata.num_rows for f in (tmp / "hare" / "lake" / "cleaned_documents").glob("*/*.parquet"))
        print(json.dumps({"repo": str(args.repo), "status": status, "runs": len(runs),
                          "runs_failed": sum(r["status"] != "SUCCESS" for r in runs), "seconds": round(seconds, 1),
                          "raw_documents": raw_rows, "cleaned_documents": cleaned}))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
