"""The Ray executor on a real multi-process cluster: a head and a second node started with ``ray start`` on this
machine, one CPU each and a small object store that spills to disk, run a recipe with every global step and a
plugin step from a module beside the recipe; the output equals the local executor's byte for byte.

Each node is a ``ray start --block`` process in a session of its own, stopped at the end (passing or failing)
by terminating the processes this test started, by pid: a bare ``ray stop`` would kill every Ray process of
the machine, other runs' too. The nodes get their own ``--temp-dir`` so that no other ``ray.init()`` on the
machine finds (or is found by) this cluster.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT, tree_digest, write_jsonl, write_recipe

from dataprep.inspect import scan_folder

#: Ray's smallest object store (``ray_constants.OBJECT_STORE_MINIMUM_MEMORY_BYTES`` is 75 MiB)
STORE_BYTES = 80 << 20
#: every node spills each primary copy its store holds, in batches of any size (defaults: above 80% of the store,
#: 100 MiB at once, ``ray_config_def.h``), and task results of over 1 KB go to the store instead of inline to
#: their owner (default 100 KB), so that the blocks of every stage and of the MinHash shuffles and joins go
#: through disk and back; idle workers are kept (default: killed after 1 s), so that a stage does not import
#: dataprep anew
NODE_ENV = {"RAY_object_spilling_threshold": "0", "RAY_min_spilling_size": "0",
            "RAY_max_direct_call_object_size": "1024", "RAY_idle_worker_killing_time_threshold_ms": "600000"}
START_TIMEOUT = 40.0

PLUGIN = '''
"""A recipe plugin: appends a tag to every document and rejects those that mention 'forbidden'."""
import dataclasses

import polars as pl

from dataprep.registry import register
from dataprep.step import Step


@register
@dataclasses.dataclass
class ClusterTag(Step):
    name = "cluster_tag"
    tag: str = " [tagged]"

    def annotate_polars(self, df):
        return df.with_columns((pl.col("text") + self.tag).alias("text"))

    def reason_expr(self, df):
        return pl.when(pl.col("text").str.contains("forbidden")).then(pl.lit("forbidden"))
'''


def _corpus(root: Path, files: int = 4, per_file: int = 500) -> None:
    """JSONL files with exact copies, near copies (a word of the last line changed), a repeated first line and
    rejected documents across files, so that every global step decides something in every task. Every kept
    document's last line is its own, so that it keeps the plugin's tag through ``paragraph_dedup``."""
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(3000)]
    originals: list[str] = []
    for f in range(files):
        rows = []
        for i in range(per_file):
            if originals and i % 17 == 3:
                text = rng.choice(originals)  # an exact copy of an earlier document
            elif originals and i % 13 == 5:
                *lines, last = rng.choice(originals).split("\n")
                words = last.split(" ")
                words[rng.randrange(len(words))] = "changed"  # a near copy
                text = "\n".join([*lines, " ".join(words)])
            else:
                lines = [" ".join(rng.choices(vocab, k=30)) for _ in range(4)]
                if i % 9 == 0:
                    lines.insert(0, "subscribe to our newsletter for more news every week")  # a repeated line
                if i % 50 == 7:
                    lines.insert(1, "this one is forbidden")
                text = "\n".join(lines)
                originals.append(text)
            rows.append({"id": f"f{f}-{i}", "text": text})
        write_jsonl(root / "d" / f"part-{f}.jsonl", rows)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (from /proc), which tells it from a later process given its pid; None
    once it has ended (a zombie too)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _descendants(pids: list[int]) -> dict[int, str | None]:
    """Every live process below ``pids`` (from /proc), with its start time."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out: dict[int, str | None] = {}
    todo = list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            out[child] = _start_time(child)
            todo.append(child)
    return out


#: run in a separate interpreter, so that this process never connects to Ray: waits for the alive nodes
QUERY = """
import sys, time
from ray._private.internal_api import get_state_from_address
address, want, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
state = get_state_from_address(address)
while True:
    alive = sum(node["Alive"] for node in state.node_table())
    if alive >= want or time.monotonic() > deadline:
        break
    time.sleep(0.3)
print(alive)
"""


class Cluster:
    """A head node and a second node, one CPU and a spilling 80 MiB object store each, as ``ray start --block``
    processes of this test in sessions of their own; :meth:`stop` ends them and every process below them."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.temp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
        self.procs: list[subprocess.Popen] = []
        gcs, *self.ports = _free_ports(13)
        self.address = f"127.0.0.1:{gcs}"
        try:
            self._start(0, ["--head", "--port", str(gcs), "--include-dashboard", "false"])
            deadline = time.monotonic() + START_TIMEOUT
            while True:  # the second node can join once the head's GCS listens
                try:
                    socket.create_connection(("127.0.0.1", gcs), timeout=1).close()
                    break
                except OSError:
                    self._check(0, deadline)
                    time.sleep(0.2)
            self._start(1, ["--address", self.address])
            for i in range(2):
                while "Ray runtime started" not in self._log(i):
                    self._check(i, deadline)
                    time.sleep(0.2)
            query = subprocess.run([sys.executable, "-c", QUERY, self.address, "2", str(START_TIMEOUT)],
                                   capture_output=True, text=True, env=env, timeout=START_TIMEOUT + 30)
            assert query.stdout.strip() == "2", f"not 2 alive Ray nodes: {query.stdout}{query.stderr[-2000:]}"
        except BaseException:
            self.stop()
            raise

    def _start(self, i: int, role: list[str]) -> None:
        ports = [str(self.ports.pop()) for _ in range(6)]
        cmd = [str(Path(sys.executable).parent / "ray"), "start", *role, "--block", "--num-cpus", "1",
               "--object-store-memory", str(STORE_BYTES), "--temp-dir", str(self.temp),
               "--object-spilling-directory", str(self.root / f"spill{i}"), "--node-ip-address", "127.0.0.1",
               "--min-worker-port", "0", "--max-worker-port", "0", "--disable-usage-stats",
               "--node-manager-port", ports[0], "--object-manager-port", ports[1],
               "--dashboard-agent-listen-port", ports[2], "--dashboard-agent-grpc-port", ports[3],
               "--runtime-env-agent-port", ports[4], "--metrics-export-port", ports[5]]
        with open(self.root / f"node{i}.log", "wb") as log:
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                               start_new_session=True))

    def _log(self, i: int) -> str:
        return (self.root / f"node{i}.log").read_text(errors="replace")

    def _check(self, i: int, deadline: float) -> None:
        if self.procs[i].poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"Ray node {i} did not start:\n{self._log(i)[-3000:]}")

    def spilled_objects(self) -> int:
        """Objects the nodes spilled to disk so far, from their raylets' logs (``Spilled N MiB, K objects``)."""
        total = 0
        for log in (self.temp / "session_latest" / "logs").glob("raylet*.out"):
            counts = [int(m) for m in re.findall(r"Spilled \d+ MiB, (\d+) objects", log.read_text(errors="replace"))]
            total += max(counts, default=0)
        return total

    def worker_nodes(self) -> set[str]:
        """The nodes that started task or actor workers, from the workers' logs."""
        nodes = set()
        for log in (self.temp / "session_latest" / "logs").glob("python-core-worker-*.log"):
            nodes.update(re.findall(r"Initializing worker at address: \S+ worker_id=\w+ node_id=(\w+)",
                                    log.read_text(errors="replace")))
        return nodes

    def stop(self) -> None:
        """SIGTERM every process of the cluster at once, SIGKILL those left after a few seconds."""
        tree = {p.pid: _start_time(p.pid) for p in self.procs} | _descendants([p.pid for p in self.procs])

        def running() -> list[int]:  # the same processes (pid and start time), not later ones with their pids
            return [pid for pid, started in tree.items() if started is not None and _start_time(pid) == started]

        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            for pid in running():
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            deadline = time.monotonic() + wait
            for p in self.procs:
                try:
                    p.wait(timeout=max(0.01, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            while running() and time.monotonic() < deadline:
                time.sleep(0.1)
        shutil.rmtree(self.temp, ignore_errors=True)


def _dataprep(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dataprep.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)


def _finish(proc: subprocess.Popen, what: str, timeout: float) -> str:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{what} took more than {timeout:.0f} s:\n{err[-3000:]}") from None
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{out}\n{err[-5000:]}"
    return out


@pytest.mark.slow
def test_ray_cluster_with_spilling_equals_local(tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="the Ray executor's cluster test needs Ray: pip install -e '.[ray]'")
    _corpus(tmp_path)
    (tmp_path / "cluster_steps.py").write_text(PLUGIN)  # a plugin beside the recipe: not on the workers' path
    recipe = write_recipe(tmp_path / "r.yaml", [{"name": "d", "paths": ["d/"]}], plugins=["cluster_steps"],
                          steps=["cluster_tag", "exact_dedup", "minhash_dedup", "paragraph_dedup"])
    # no token authentication on this private cluster (bound to 127.0.0.1): the nodes, the query and the
    # driver agree without a token file in ~/.ray
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    local = _dataprep("run", str(recipe), "-o", str(tmp_path / "local"), "-w", "2", "-q", env=env)  # meanwhile
    cluster = Cluster(tmp_path, {**env, **NODE_ENV})
    try:
        out = _finish(_dataprep("run", str(recipe), "-o", str(tmp_path / "ray"), "--executor", "ray",
                                "--address", cluster.address, "-q", env=env), "the run on the cluster", 150)
        spilled, nodes = cluster.spilled_objects(), cluster.worker_nodes()
    finally:
        cluster.stop()
    _finish(local, "the local run", 60)
    assert not [p for p in cluster.procs if p.poll() is None]
    assert "kept" in out
    assert len(nodes) == 2  # both nodes worked
    assert spilled > 0  # blocks went through disk
    assert tree_digest(tmp_path / "local") == tree_digest(tmp_path / "ray")  # shards, stats, report, manifest
    by_step = json.loads((tmp_path / "ray" / "stats.json").read_text())["by_step"]
    assert by_step["cluster_tag"]["rejected"] > 0 and by_step["exact_dedup"]["duplicates"] > 0
    assert by_step["minhash_dedup"]["clusters"] > 0 and by_step["paragraph_dedup"]["counters"]["units_removed"] > 0
    kept = scan_folder(tmp_path / "ray" / "kept").collect()
    assert kept.height > 0 and kept["text"].str.ends_with(" [tagged]").all()  # the plugin ran on the cluster
    runs = [json.loads(line) for line in (tmp_path / "ray" / "runs.jsonl").read_text().splitlines()]
    assert runs[-1]["executor"] == "ray"


#: plugin modules the ``isolated`` fixture (conftest) forgets after each test
PLUGIN_PREFIXES = ("rc_plugin",)


def test_plugins_beside_the_recipe_are_shipped_and_found_by_tasks(tmp_path, isolated):
    """What Ray ships (``py_modules``): the recipe's plugin files and packages beside it, not installed modules.
    Where Ray was started by the caller, a task puts the recipe's folder on ``sys.path`` before it unpickles the
    recipe: a fresh interpreter (as a Ray worker) runs a task of the plugin recipe with it, and cannot without."""
    from dataprep.execution.plan import list_tasks, plan_stages
    from dataprep.execution.ray import plugin_paths
    from dataprep.recipe import load_recipe

    (tmp_path / "rc_plugin_file.py").write_text(PLUGIN.replace("cluster_tag", "rc_tag"))
    (tmp_path / "rc_plugin_pkg").mkdir()
    (tmp_path / "rc_plugin_pkg" / "__init__.py").write_text("")
    (tmp_path / "rc_plugin_pkg" / "more.py").write_text("")
    write_jsonl(tmp_path / "d" / "a.jsonl", [{"id": "1", "text": "hello"}, {"id": "2", "text": "forbidden"}])
    path = write_recipe(tmp_path / "r.yaml", [{"name": "d", "paths": ["d/"]}], steps=["rc_tag"],
                        plugins=["rc_plugin_file", "rc_plugin_pkg.more", "json"], output=str(tmp_path / "out"))
    recipe = load_recipe(path)
    assert plugin_paths(recipe) == [str(tmp_path / "rc_plugin_file.py"), str(tmp_path / "rc_plugin_pkg")]

    stage = plan_stages(recipe.steps)[0]
    task = list_tasks(recipe)[0]
    (tmp_path / "out" / "_work").mkdir(parents=True)
    (tmp_path / "payload").write_bytes(pickle.dumps((recipe, stage, {task.index: task})))
    script = ("import json, sys, pyarrow as pa; from dataprep.execution.ray import _run_batch; "
              "dirs = json.loads(sys.argv[1]); payload = open(sys.argv[2], 'rb').read(); "
              f"print(_run_batch(pa.table({{'task': [{task.index}]}}), payload, dirs, sys.argv[3])"
              ".column('stats')[0].as_py())")

    def task_in_fresh_interpreter(dirs: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", script, json.dumps(dirs), str(tmp_path / "payload"),
                               str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=120)

    without = task_in_fresh_interpreter([])
    assert without.returncode != 0 and "No module named 'rc_plugin_file'" in without.stderr
    with_dirs = task_in_fresh_interpreter([str(tmp_path)])
    assert with_dirs.returncode == 0, with_dirs.stderr[-3000:]
    stats = json.loads(with_dirs.stdout.strip().splitlines()[-1])
    assert stats["input"]["docs"] == 2 and stats["rejected"]["rc_tag"]["forbidden"]["docs"] == 1
