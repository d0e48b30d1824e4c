"""The `hare` command: materialize the graph in-process, start the web UI, write the sample corpus."""

from __future__ import annotations

import argparse
import ast
import difflib
import os
import re
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUIET_LIBRARIES = {"TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                   "TOKENIZERS_PARALLELISM": "false",
                   # lm-eval's per-request bars and datasets' "Generating split" bars (benchmark_scores)
                   "TQDM_DISABLE": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def prepare_environment() -> None:
    """Defaults for HARE_HOME / DAGSTER_HOME, and an instance config in DAGSTER_HOME."""
    for var, value in QUIET_LIBRARIES.items():  # progress bars would drown the per-run lines
        os.environ.setdefault(var, value)
    home = Path(os.environ.setdefault("HARE_HOME", str(Path(".hare").resolve()))).resolve()
    os.environ["HARE_HOME"] = str(home)
    if os.environ.get("HARE_CONFIG"):  # absolute: `hare ui` runs dagster dev from DAGSTER_HOME
        os.environ["HARE_CONFIG"] = str(Path(os.environ["HARE_CONFIG"]).resolve())
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(home / "dagster"))).resolve()
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists() and (REPO / "dagster.yaml").exists():
        shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")


def _names_list(names, wanted: str | None = None, limit: int = 60) -> str:
    """Valid names for a message: close matches to `wanted` first (difflib), then the rest, sorted."""
    names = sorted(set(names))
    close = difflib.get_close_matches(wanted, names, n=5, cutoff=0.6) if wanted else []
    rest = [n for n in names if n not in close]
    shown = close + rest[: max(limit - len(close), 0)]
    more = f" (+{len(names) - len(shown)} more)" if len(shown) < len(names) else ""
    head = f"did you mean {', '.join(close)}? " if close else ""
    return f"{head}valid: {', '.join(n for n in shown if n not in close) or '-'}{more}"


def _unknown_keys(error: Exception) -> list[str]:
    """The asset names a DagsterInvalidSubsetError says do not exist ("AssetKey(s) ['x'] were selected...")."""
    m = re.search(r"AssetKey\(s\) (\[.*?\]) were selected", str(error))
    try:
        return [str(k) for k in ast.literal_eval(m.group(1))] if m else []
    except (ValueError, SyntaxError):
        return []


def resolve_selection(graph, selection: str) -> set:
    """The asset keys of a selection: a comma-separated list, each item any Dagster selection string
    (as `dagster asset materialize --select` splits it), joined with "or"."""
    import dagster as dg

    items = [item.strip() for item in selection.split(",") if item.strip()]
    if not items:
        raise SystemExit(f"hare: empty selection {selection!r}")
    names = [k.to_user_string() for k in graph.get_all_asset_keys()]
    selected: set = set()
    for item in items:
        try:
            keys = dg.AssetSelection.from_string(item).resolve(graph)
        except dg.DagsterInvalidSubsetError as e:  # a well-formed selection naming an asset that does not exist
            unknown = _unknown_keys(e) or [item]
            raise SystemExit("hare: " + "; ".join(f"no asset {u!r}: {_names_list(names, u)}" for u in unknown)) \
                from None
        except dg.DagsterError as e:  # an unparsable selection string
            raise SystemExit(f"hare: {e} (Dagster selection syntax, e.g. 'key:a or key:b', 'group:d1', "
                             "'+d1_documents'; a comma-separated list selects each item)") from None
        if not keys:
            raise SystemExit(f"hare: selection {item!r} matches no asset; {_names_list(names, item)}")
        selected |= keys
    return selected


def plan_runs(defs, selection: str | None, partition: str | None) -> list[tuple[list, str | None]]:
    """(asset keys, partition key) per run, in dependency order.

    Consecutive assets that share a partitions definition run together, one run per partition.
    """
    graph = defs.resolve_asset_graph()
    selected = resolve_selection(graph, selection) if selection else set(graph.get_all_asset_keys())
    waves: list[tuple[list, object]] = []
    for level in graph.toposorted_asset_keys_by_level:
        for key in sorted(k for k in level if k in selected):
            pdef = graph.get(key).partitions_def
            if waves and waves[-1][1] == pdef:
                waves[-1][0].append(key)
            else:
                waves.append(([key], pdef))
    runs: list[tuple[list, str | None]] = []
    for keys, pdef in waves:
        if pdef is None:
            runs.append((keys, None))
            continue
        all_keys = pdef.get_partition_keys()
        if partition is not None and partition not in all_keys:
            continue
        runs.extend((keys, k) for k in ([partition] if partition is not None else all_keys))
    if partition is not None and not any(pk == partition for _, pk in runs):
        valid = [k for _, pdef in waves if pdef is not None for k in pdef.get_partition_keys()]
        raise SystemExit(f"hare: no selected asset has a partition {partition!r}; "
                         + (_names_list(valid, partition) if valid else "the selected assets are not partitioned"))
    return runs


def failure_messages(result) -> list[str]:
    """Why a run failed: step errors (the user's Failure description) and failed checks."""
    out = []
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            desc = data.user_failure_data.description if data.user_failure_data else None
            out.append(f"{event.step_key}: {desc or data.error.message.strip()}")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION" and not event.event_specific_data.passed:
            check = event.event_specific_data
            out.append(f"check {check.asset_key.to_user_string()}:{check.check_name} failed: {dict(check.metadata)}")
    return out


def job_runs(defs, job: str, partition: str | None) -> list[tuple[list, str | None]]:
    """(asset keys, partition key) per run of a job: the ablation job runs once per configured arm."""
    from hare_assets.core.settings import load_settings

    try:
        keys = sorted(defs.resolve_job_def(job).asset_layer.executable_asset_keys)
    except Exception:  # Dagster raises its own error types for an unknown job
        jobs = [j.name for j in (defs.jobs or []) if not j.name.startswith("__")]
        raise SystemExit(f"hare: no job {job!r}; {_names_list(jobs, job)}") from None
    arms = load_settings().training.ablation_arms if job == "ablation" else ()
    partitions = [partition] if partition else list(arms) or [None]
    return [(keys, p) for p in partitions]


def materialize(selection: str | None, partition: str | None, verbose: bool, job: str | None = None) -> int:
    prepare_environment()
    import dagster as dg

    from hare_assets.definitions import build_definitions

    defs = build_definitions()  # from the current HARE_CONFIG
    runs = job_runs(defs, job, partition) if job else plan_runs(defs, selection, partition)
    assets = list(defs.assets or [])
    resources = defs.resources or {}
    instance = dg.DagsterInstance.get()
    print(f"hare: {len(runs)} runs; HARE_HOME={os.environ['HARE_HOME']} DAGSTER_HOME={os.environ['DAGSTER_HOME']}",
          flush=True)
    failed: list[str] = []
    started = time.monotonic()
    for i, (keys, pk) in enumerate(runs, start=1):
        names = ", ".join(k.to_user_string() for k in keys)
        label = f"{names}" + (f" [{pk}]" if pk else "")
        t0 = time.monotonic()
        result = dg.materialize(assets, selection=keys, partition_key=pk, instance=instance, resources=resources,
                                run_config=None if verbose else QUIET_LOGS, raise_on_error=False,
                                tags={"hare/cli": "materialize"})
        status = "ok" if result.success else "FAILED"
        print(f"[{i}/{len(runs)}] {status:6s} {time.monotonic() - t0:6.1f}s  {label}  (run {result.run_id[:8]})",
              flush=True)
        if not result.success:
            failed.append(label)
            for message in failure_messages(result):
                print(f"    {message}", flush=True)
        # A failed wave stops before its dependents; the other partitions of the wave still run.
        last_of_wave = i == len(runs) or runs[i][0] != keys
        if failed and last_of_wave:
            break
    total = time.monotonic() - started
    if failed:
        print(f"hare: {len(failed)} run(s) failed after {total:.1f}s: " + "; ".join(failed), file=sys.stderr)
        return 1
    print(f"hare: all {len(runs)} runs succeeded in {total:.1f}s", flush=True)
    return 0


def ui_workspace(dagster_home: Path) -> Path:
    """The repo's workspace.yaml with its working directories made absolute, written into DAGSTER_HOME.

    `dagster dev` runs from DAGSTER_HOME: started from the repo it warns that the repo's dagster.yaml
    "will not be used" (it only looks at the current folder, not at the copy in DAGSTER_HOME), and a
    python_module's working_directory is relative to the current folder, not to the workspace file.
    """
    import yaml

    source = REPO / "workspace.yaml"
    workspace = (yaml.safe_load(source.read_text()) if source.exists() else None) or {
        "load_from": [{"python_module": {"module_name": "hare_assets.definitions", "location_name": "hare"}}]}
    for entry in workspace.get("load_from") or []:
        for target in entry.values():
            if isinstance(target, dict):
                target["working_directory"] = str((REPO / target.get("working_directory", ".")).resolve())
    out = dagster_home / "workspace.yaml"
    out.write_text(f"# Written by `hare ui` from {source}; edit that file instead.\n"
                   + yaml.safe_dump(workspace, sort_keys=False))
    return out


def ui(host: str, port: int) -> int:
    prepare_environment()
    from hare_assets.core.settings import load_settings

    load_settings()  # a bad config fails here with its message, not inside the code server
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    cmd = ["dagster", "dev", "-h", host, "-p", str(port), "-w", str(ui_workspace(dagster_home))]
    print("hare: " + " ".join(cmd) + f"  (in {dagster_home})", flush=True)
    os.chdir(dagster_home)
    os.execvp(cmd[0], cmd)


def sample(root: str | None) -> int:
    prepare_environment()
    from hare_assets.core.sample import write_sample
    from hare_assets.core.settings import load_settings

    target = Path(root) if root else Path(load_settings().sample_corpus.root)
    manifest = write_sample(target)
    print(f"hare: sample corpus at {target} ({sum(s['records'] for s in manifest['sources'].values())} records)")
    return 0


def export(asset: str, directory: str, run: str | None, push_repo: str | None) -> int:
    """Export a lake dataset (or, for `checkpoints`, a run's HF model folder) with its card."""
    prepare_environment()
    from hare_assets.core.export import (
        ExportError,
        export_checkpoint,
        export_dataset,
        push,
    )

    home = Path(os.environ["HARE_HOME"])
    try:
        if asset == "checkpoints":
            if not run:
                raise ExportError("checkpoints needs --run RUN")
            card = export_checkpoint(home, run, Path(directory))
        else:
            card = export_dataset(home, asset, Path(directory), run)
    except ExportError as e:
        print(f"hare: {e}", file=sys.stderr)
        return 1
    print(f"hare: exported {asset}" + (f"[{run}]" if run else "") + f" to {directory} (card {card})", flush=True)
    if push_repo:
        url = push(Path(directory), push_repo, "model" if asset == "checkpoints" else "dataset")
        print(f"hare: pushed to {push_repo}: {url}", flush=True)
    return 0


def chat(run: str, system: str | None, max_new_tokens: int, temperature: float) -> int:
    """Talk to a run's final checkpoint through its saved chat template, tokens streamed to the terminal."""
    prepare_environment()
    from model_training.chat import chat_loop

    checkpoint = Path(os.environ["HARE_HOME"]) / "checkpoints" / run / "final"
    if not checkpoint.is_dir():
        print(f"hare: no checkpoint at {checkpoint}: materialize checkpoints[{run}] first", file=sys.stderr)
        return 1
    if sys.stdin.isatty():
        print(f"hare: chatting with {checkpoint}; an empty line ends", flush=True)
    try:
        chat_loop(checkpoint, sys.stdin, sys.stdout, system, max_new_tokens, temperature)
    except ValueError as e:
        print(f"hare: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """`hare ...`; a config that cannot be used prints one message (file, key path, reason) and exits 2."""
    from hare_assets.core.settings import ConfigError

    try:
        return _main(argv)
    except ConfigError as e:
        print(f"hare: {e}", file=sys.stderr, flush=True)
        return 2


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hare", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("materialize", help="materialize assets in-process (all partitions unless --partition)")
    m.add_argument("--select", help="Dagster asset selection, e.g. 'raw_documents' or 'group:d1' or '+d1_documents'")
    m.add_argument("--partition", help="only this partition key of the partitioned assets")
    m.add_argument("--verbose", action="store_true", help="show Dagster's own step logs")
    m.add_argument("--job", help="a job's assets instead of a selection: 'ablation' runs once per ablation arm")
    u = sub.add_parser("ui", help="start the Dagster web UI on this workspace")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    s = sub.add_parser("sample", help="write the embedded sample corpus")
    s.add_argument("--root", help="target folder (default: the config's sample_corpus.root)")
    e = sub.add_parser("export", help="write an asset as a Hugging Face dataset folder (checkpoints: a model folder) "
                                      "with its card")
    e.add_argument("asset", help="a lake asset (d1_documents, training_mix, ...) or checkpoints")
    e.add_argument("directory", help="new or empty target folder")
    e.add_argument("--run", help="the run partition (training_mix, tokenized_shards' tables, checkpoints)")
    e.add_argument("--push", metavar="REPO", help="also upload to the Hub repo (HfApi.upload_folder; token: HF_TOKEN)")
    c = sub.add_parser("chat", help="talk to a chat checkpoint in the terminal (its chat template, streamed tokens)")
    c.add_argument("--run", default="chat", help="the training run whose final checkpoint answers (default: chat)")
    c.add_argument("--system", help="a system turn to start the conversation with")
    c.add_argument("--max-new-tokens", type=int, default=256)
    c.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    args = parser.parse_args(argv)
    if args.command == "chat":
        return chat(args.run, args.system, args.max_new_tokens, args.temperature)
    if args.command == "materialize":
        if args.job and args.select:
            parser.error("give --job or --select, not both")
        return materialize(args.select, args.partition, args.verbose, args.job)
    if args.command == "ui":
        return ui(args.host, args.port)
    if args.command == "export":
        return export(args.asset, args.directory, args.run, args.push)
    return sample(args.root)


if __name__ == "__main__":
    sys.exit(main())
