"""The web UI end to end: `dagster dev` on workspace.yaml, GraphQL backfill + lineage, a Chromium screenshot.

One `dagster dev` (webserver + daemon + code server) serves the whole module on a free port, with a
private HARE_HOME and DAGSTER_HOME. Set HARE_UI_SCREENSHOT=/some/path.png to keep the screenshot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from ui_server import DagsterDev

STAGE_GROUPS = ["sources", "d1", "topics", "d2", "d3", "decontamination", "mixture", "training",
                "evaluation", "warehouse"]
# Two contiguous ranges in config order (PhiPapers, RedPajamaBook | HackerNews): the backfill policy
# groups a range's partitions into one run, so 2 runs for 3 partitions.
BACKFILL_PARTITIONS = ["PhiPapers", "RedPajamaBook", "HackerNews"]
BACKFILL_TIMEOUT_S = 150.0
TERMINAL_BAD = {"FAILED", "CANCELED", "COMPLETED_FAILED"}
DONE = {"COMPLETED", "COMPLETED_SUCCESS"}  # COMPLETED: the deprecated name of COMPLETED_SUCCESS


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory) -> DagsterDev:
    server = DagsterDev(tmp_path_factory.mktemp("ui"))
    server.start()
    try:
        server.wait_ready(timeout_s=120)
        yield server
    finally:
        server.stop()


def asset_key(name: str) -> dict:
    return {"path": [name]}


def asset_nodes(server: DagsterDev) -> dict[str, dict]:
    data = server.graphql("""{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }""")
    return {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}


def test_asset_groups_present(dagster_dev):
    nodes = asset_nodes(dagster_dev)
    groups = {n["groupName"] for n in nodes.values()}
    missing = [g for g in STAGE_GROUPS if g not in groups]
    assert not missing, f"groups {missing} missing; have {sorted(groups)}"
    assert nodes["raw_documents"]["groupName"] == "sources"


LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}"""

BACKFILL = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status numPartitions partitionNames error { message stack } }
    ... on Error { message }
  }
}"""

BACKFILL_RUNS = """
query Runs($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}"""

RUN_ERRORS = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection { events {
      __typename
      ... on MessageEvent { message level }
      ... on ExecutionStepFailureEvent { stepKey error { message stack } }
      ... on RunFailureEvent { error { message } }
    } }
  }
}"""

MATERIALIZATIONS = """
query Mats($key: AssetKeyInput!, $partitions: [String!]) {
  assetNodeOrError(assetKey: $key) {
    __typename
    ... on AssetNode {
      assetMaterializations(partitions: $partitions) {
        partition runId timestamp
        metadataEntries {
          label
          ... on IntMetadataEntry { intValue intRepr }
          ... on FloatMetadataEntry { floatValue }
          ... on TableSchemaMetadataEntry { schema { columns { name type description } } }
        }
      }
    }
  }
}"""


def backfill_diagnostics(server: DagsterDev, backfill_id: str) -> str:
    lines = []
    runs = server.graphql(BACKFILL_RUNS, {"id": backfill_id})["runsOrError"].get("results") or []
    for run in runs:
        partition = next((t["value"] for t in run["tags"] if t["key"] == "dagster/partition"), "?")
        lines.append(f"run {run['runId']} partition={partition} status={run['status']}")
        if run["status"] == "FAILURE":
            events = server.graphql(RUN_ERRORS, {"runId": run["runId"]})["logsForRun"].get("events") or []
            for ev in events:
                if ev["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent") or ev.get("level") == "ERROR":
                    err = ev.get("error") or {}
                    lines.append(f"  {ev['__typename']}: {ev.get('message')}\n    {err.get('message')}"
                                 f"{''.join(err.get('stack') or [])[-1500:]}")
    return "\n".join(lines) or "(no runs)"


def test_backfill_raw_documents(dagster_dev):
    launched = dagster_dev.graphql(LAUNCH, {"params": {
        "partitionNames": BACKFILL_PARTITIONS,
        "assetSelection": [asset_key("raw_documents")],
        "title": "test_ui backfill",
    }})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    while True:
        backfill = dagster_dev.graphql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        status = backfill["status"]
        if status in DONE:
            break
        if status in TERMINAL_BAD or time.monotonic() > deadline:
            pytest.fail(dagster_dev.failure(
                f"backfill {backfill_id} is {status} after {BACKFILL_TIMEOUT_S - (deadline - time.monotonic()):.0f} s"
                f" (error: {backfill.get('error')})\n{backfill_diagnostics(dagster_dev, backfill_id)}"))
        time.sleep(2)
    assert sorted(backfill["partitionNames"]) == sorted(BACKFILL_PARTITIONS)
    runs = dagster_dev.graphql(BACKFILL_RUNS, {"id": backfill_id})["runsOrError"]["results"]
    assert len(runs) == 2, f"backfill policy: {len(runs)} runs for {BACKFILL_PARTITIONS} (two ranges)"

    mats = dagster_dev.graphql(MATERIALIZATIONS, {"key": asset_key("raw_documents"),
                                                  "partitions": BACKFILL_PARTITIONS})["assetNodeOrError"]
    assert mats["__typename"] == "AssetNode", mats
    by_partition = {m["partition"]: m for m in mats["assetMaterializations"]}  # newest first; one each here
    assert set(by_partition) == set(BACKFILL_PARTITIONS), by_partition.keys()
    for partition, mat in by_partition.items():
        meta = {e["label"]: e for e in mat["metadataEntries"]}
        assert "records_read" in meta, f"{partition}: metadata {sorted(meta)}"
        assert int(meta["records_read"]["intRepr"]) > 0, (partition, meta["records_read"])
        assert int(meta["dagster/row_count"]["intRepr"]) > 0, (partition, meta.get("dagster/row_count"))
        # Each partition's own numbers, although both came from one run: the lake holds that many rows.
        lake = dagster_dev.hare_home / "lake" / "raw_documents" / partition
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in lake.glob("*.parquet"))
        assert int(meta["dagster/row_count"]["intRepr"]) == rows, (partition, rows)
        columns = {c["name"]: c for c in meta["dagster/column_schema"]["schema"]["columns"]}
        assert set(columns) >= {"id", "source", "text"}, columns
        undescribed = [name for name, c in columns.items() if not c["description"]]
        assert not undescribed, f"columns without a description over GraphQL: {undescribed}"
    counts = {p: by_partition[p]["metadataEntries"] for p in BACKFILL_PARTITIONS}
    assert len({str(sorted((e["label"], e.get("intRepr")) for e in v)) for v in counts.values()}) == len(counts), \
        "partitions of one run got the same metadata"


def test_dagster_dev_log_has_no_instance_warning(dagster_dev):
    log = dagster_dev.log.read_text(errors="replace")
    assert "hare: dagster dev" in log, log[:2000]
    assert "will not be used" not in log, dagster_dev.failure("dagster dev warns about the repo's dagster.yaml")


def test_community_dialog_off(dagster_dev):
    # The UI shows "Join the Dagster community" when shouldShowNux is true (nux: enabled: false in dagster.yaml).
    assert dagster_dev.graphql("{ shouldShowNux }")["shouldShowNux"] is False


def test_d1_documents_lineage(dagster_dev):
    nodes = asset_nodes(dagster_dev)
    d1 = nodes["d1_documents"]
    assert d1["groupName"] == "d1"
    upstream = {"/".join(k["path"]) for k in d1["dependencyKeys"]}
    assert "cleaned_documents" in upstream, upstream
    cleaned_upstream = {"/".join(k["path"]) for k in nodes["cleaned_documents"]["dependencyKeys"]}
    assert "d1_signals" in cleaned_upstream, cleaned_upstream
    signals_upstream = {"/".join(k["path"]) for k in nodes["d1_signals"]["dependencyKeys"]}
    assert "raw_documents" in signals_upstream, signals_upstream
    assert nodes["cleaned_documents"]["groupName"] == nodes["d1_signals"]["groupName"] == "d1"


class _Texts(HTMLParser):
    """The text nodes of a rendered DOM (HTML and SVG), outside <script>/<style>."""

    def __init__(self):
        super().__init__()
        self.skip = 0
        self.texts: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style") and self.skip > 0

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.texts.add(data.strip())


def visible_texts(dom: str) -> set[str]:
    parser = _Texts()
    parser.feed(dom)
    return parser.texts


def chromium(args: list[str], url: str, profile: Path, timeout_s: float = 90.0) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1600,1000",
           "--virtual-time-budget=20000", *args, url]
    return subprocess.run(cmd, capture_output=True, timeout=timeout_s, stdin=subprocess.DEVNULL)


def test_asset_graph_screenshot(dagster_dev, tmp_path):
    if shutil.which("chromium") is None:
        pytest.skip("chromium not installed: apt-get install chromium")
    url = f"{dagster_dev.url}/asset-groups"
    png = tmp_path / "graph.png"
    shot = chromium([f"--screenshot={png}"], url, tmp_path / "profile-shot")
    assert png.exists(), f"no screenshot (rc {shot.returncode}): {shot.stderr.decode(errors='replace')[-3000:]}"
    if os.environ.get("HARE_UI_SCREENSHOT"):
        shutil.copy(png, os.environ["HARE_UI_SCREENSHOT"])
    assert png.stat().st_size > 10_000, f"screenshot is only {png.stat().st_size} bytes"

    dump = chromium(["--dump-dom"], url, tmp_path / "profile-dom")
    dom = dump.stdout.decode(errors="replace")
    assert dump.returncode == 0 and dom, f"--dump-dom failed (rc {dump.returncode}): {dump.stderr.decode(errors='replace')[-3000:]}"
    (tmp_path / "graph.html").write_text(dom)
    texts = visible_texts(dom)
    assert "Global asset lineage" in texts or "raw_documents" in texts, \
        f"not the asset graph page: {sorted(texts)[:60]}"
    missing = [g for g in ("sources", "d1", "decontamination", "mixture", "training", "evaluation")
               if g not in texts]
    assert not missing, f"groups {missing} not rendered on {url}; page texts: {sorted(texts)[:80]}"


BROWSER_PARTITIONS = ["AMPS", "DM_math", "Orca_math"]  # contiguous in config order: one run


def test_browser_first_screen_and_backfill(dagster_dev, tmp_path):
    """As a user: the first page (no community dialog), then a backfill of three sources from the
    asset page's Materialize dialog; the backfill policy runs them in one run."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("chromium not installed: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed: pip install -e '.[test]'")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu",
                                                               "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(dagster_dev.url + "/")
            page.get_by_text("Materialize an asset").or_(page.get_by_text("Overview")).first.wait_for(timeout=60_000)
            page.wait_for_timeout(3000)  # the dialog, when on, opens after the first queries
            page.screenshot(path=str(tmp_path / "first.png"))
            assert page.get_by_role("dialog").count() == 0, page.get_by_role("dialog").first.inner_text()
            assert "Join the Dagster community" not in page.content()

            page.goto(dagster_dev.url + "/assets/raw_documents")
            page.get_by_role("button", name="Materialize…").click()
            # The launch dialog; the partition picker opens a popover that is a "dialog" too.
            dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
            dialog.wait_for(timeout=30_000)
            assert "maximum of 8 partitions per run" in dialog.inner_text()
            dialog.get_by_text("Select a partition or create one").click()
            search = page.get_by_placeholder("Filter partitions")
            for name in BROWSER_PARTITIONS:
                search.fill(name)
                page.wait_for_timeout(300)
                page.locator("label", has_text=name).filter(has=page.locator("input[type=checkbox]")).last.click()
            page.keyboard.press("Escape")
            assert f"{len(BROWSER_PARTITIONS)} partitions" in dialog.inner_text()
            dialog.get_by_role("button", name="Launch backfill").click()
            dialog.wait_for(state="hidden", timeout=30_000)
            page.screenshot(path=str(tmp_path / "launched.png"))
            if os.environ.get("HARE_UI_SCREENSHOT"):
                shutil.copy(tmp_path / "first.png", os.environ["HARE_UI_SCREENSHOT"])
        finally:
            browser.close()

    backfills = dagster_dev.graphql("""{ partitionBackfillsOrError { ... on PartitionBackfills {
        results { id partitionNames } } } }""")["partitionBackfillsOrError"]["results"]
    ours = [b for b in backfills if sorted(b["partitionNames"] or []) == sorted(BROWSER_PARTITIONS)]
    assert ours, f"no backfill of {BROWSER_PARTITIONS} launched from the browser: {backfills}"
    backfill_id = ours[0]["id"]
    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    while (status := dagster_dev.graphql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]["status"]) \
            not in DONE:
        if status in TERMINAL_BAD or time.monotonic() > deadline:
            pytest.fail(dagster_dev.failure(f"browser backfill {backfill_id} is {status}\n"
                                            f"{backfill_diagnostics(dagster_dev, backfill_id)}"))
        time.sleep(2)
    runs = dagster_dev.graphql(BACKFILL_RUNS, {"id": backfill_id})["runsOrError"]["results"]
    assert len(runs) == 1, f"{len(runs)} runs for {len(BROWSER_PARTITIONS)} partitions (policy: 8 a run)"
