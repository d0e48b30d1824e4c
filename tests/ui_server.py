"""Start `hare ui` (dagster dev on the repo's workspace) in a private instance, and talk GraphQL to it.

Used by tests/test_ui.py. `dagster dev` spawns the webserver, the daemon and a code server as
children, so it runs in its own session (process group) and the whole group is killed at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, n: int = 80) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError as e:
        return f"(no log: {e})"


class GraphQLError(AssertionError):
    pass


@dataclass
class DagsterDev:
    tmp: Path
    port: int = field(default_factory=free_port)
    repo: Path = REPO  # the checkout to serve (benchmarks/ui_backfill.py measures another commit's too)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hare_home(self) -> Path:
        return self.tmp / "hare"

    @property
    def dagster_home(self) -> Path:
        return self.tmp / "dagster_home"

    @property
    def log(self) -> Path:
        return self.tmp / "dagster_dev.log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("HARE_CONFIG", None)  # the packaged default config: the embedded sample corpus
        env["HARE_HOME"] = str(self.hare_home)
        env["DAGSTER_HOME"] = str(self.dagster_home)
        env["PYTHONUNBUFFERED"] = "1"
        # dagster dev must come from this interpreter's environment even when the venv is not activated
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        return env

    def start(self) -> None:
        self.hare_home.mkdir(parents=True, exist_ok=True)
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        # Through `hare ui`, as a user starts it: it copies the repo's dagster.yaml (telemetry and the
        # "Join the Dagster community" dialog off) into DAGSTER_HOME and runs dagster dev from there.
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hare_assets.cli", "ui", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.repo, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )

    def stop(self, grace_s: float = 8.0) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the leader's pid is the group id
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self.proc.poll()
                try:
                    os.killpg(pgid, 0)  # anyone left in the group?
                except ProcessLookupError:
                    break
                time.sleep(0.2)
            else:
                continue
            break
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def failure(self, what: str) -> str:
        return f"{what}\n--- dagster dev log tail ({self.log}) ---\n{tail(self.log)}"

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait for the webserver, then for the code location to load (or fail with its error)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(self.failure(f"dagster dev exited with {self.proc.returncode}"))
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(self.failure(f"dagster dev did not answer on {self.url} in {timeout_s:.0f} s"))
            time.sleep(1)
        query = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
              name loadStatus
              locationOrLoadError { __typename ... on PythonError { message stack } } } } } }"""
        while True:
            data = self.graphql(query)
            entries = data["workspaceOrError"].get("locationEntries") or []
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [e for e in entries if e["locationOrLoadError"]["__typename"] == "PythonError"]
                if errors:
                    err = errors[0]["locationOrLoadError"]
                    raise AssertionError(self.failure(
                        f"code location {errors[0]['name']!r} failed to load:\n{err['message']}"
                        f"{''.join(err.get('stack') or [])[-3000:]}"))
                return
            if time.monotonic() > deadline:
                raise AssertionError(self.failure(f"code location not loaded in {timeout_s:.0f} s: {entries}"))
            time.sleep(1)

    def graphql(self, query: str, variables: dict | None = None, timeout_s: float = 60.0) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(f"{self.url}/graphql", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as r:
                payload = json.load(r)
        except urllib.error.HTTPError as e:
            raise GraphQLError(self.failure(f"GraphQL HTTP {e.code}: {e.read()[:2000]!r}")) from None
        if payload.get("errors"):
            raise GraphQLError(f"GraphQL errors: {json.dumps(payload['errors'], indent=1)[:4000]}")
        return payload["data"]
