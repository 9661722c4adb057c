"""The pool executor beyond the behaviour it shares with the local one
(test_service.py runs every service test with both): `mpirun -np N driftrun
serve --executor pool` with real ranks, a real registry, the journal read back
with sqlite3.

- Two models retrain at once on disjoint groups of 2 workers while a third,
  older but of lower priority, waits; each job's weights equal `mpirun -np 2
  driftrun train` of its config.
- kill -9 of a worker mid-job: the world ends, scripts/serve-supervised.sh
  restarts the service, the job resumes and ends with the weights of an
  uninterrupted run; one version registered. `driftrun status` shows the
  running job's ranks, step and heartbeat.
- A worker that hangs: the collective's deadline names the job, the op and the
  ranks; the world ends with exit 5; a restart resumes the job.
- A job leader that falls silent: the heartbeat timeout names it; exit 5; a job
  asking for more ranks than the pool has gets the pool's size and says so.
- A soft failure (NaN loss) fails its job with the reason, frees its ranks, and
  the next job runs on them.
- Without mpirun: a usage error that says how to start it.
"""
import json
import os
import signal
import subprocess
import time

import numpy as np

from harness import final_weights, model_toml, must_msg

MODEL_MORE = """[monitor]
incoming = "{incoming}"
min_rows = 200
[retrain]
ranks = {ranks}
priority = {priority}
"""

SERVICE = """
[service]
models = [{models}]
state = "state"
poll_s = 0.2
max_jobs = 3
"""


class Pool:
    """A workspace with one data set, several model configs and a pool service."""

    def __init__(self, ws, models, data_flags=("--batches", "1")):
        self.ws = ws
        ws.make_data(ws.path("data"), "--rows", "4000", "--batch-rows", "600", *data_flags)
        for m in models:
            spec = dict(epochs=3, lr="3e-3", every=50, ranks=2, priority=0, incoming="")
            spec.update(m)
            ws.write_config(f"{m['name']}.toml", model_toml(
                m["name"], spec["epochs"], spec["every"], spec["lr"], f"registry-{m['name']}",
                more=MODEL_MORE.format(**spec)))
        self.config = ws.write_config(
            "service.toml", SERVICE.format(models=", ".join(f'"{m["name"]}.toml"' for m in models)))

    def command(self, ranks, args):
        return ["mpirun", "-np", str(ranks), "--bind-to", "none", self.ws.driftrun, "serve", "--config",
                self.config, "--executor", "pool"] + list(args)

    def serve(self, ranks, *args, env=None, timeout=300):
        full = dict(os.environ)
        full.update(env or {})
        return subprocess.run(self.command(ranks, args), cwd=self.ws.tmp, env=full, capture_output=True,
                              text=True, timeout=timeout)

    def popen(self, cmd, session=True):
        log = open(self.ws.path("serve-bg.log"), "a")
        return subprocess.Popen(cmd, cwd=self.ws.tmp, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=session)

    def log(self):
        return open(self.ws.path("serve-bg.log")).read()[-4000:]

    def rows(self, sql, *params):
        import sqlite3
        c = sqlite3.connect(self.ws.path("state", "journal.db"))
        c.row_factory = sqlite3.Row
        with c:
            return [dict(r) for r in c.execute(sql, params)]

    def wait(self, sql, what, proc, timeout=240):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if os.path.exists(self.ws.path("state", "journal.db")):
                try:
                    r = self.rows(sql)
                except Exception:  # the service is still creating the journal
                    r = None
                if r:
                    return r
            if proc.poll() is not None:
                raise AssertionError(f"the service exited {proc.returncode} waiting for {what}:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log()}")

    def versions(self, name):
        p = self.ws.run(["registry", "list", "--registry", self.ws.path(f"registry-{name}"), "--json"])
        assert p.returncode == 0, must_msg(p, "registry list")
        return json.loads(p.stdout)

    def train_alone(self, job, ranks=2):
        """The job's own config trained by `driftrun train` on `ranks` ranks."""
        out = self.ws.path(f"alone-{job}")
        p = self.ws.run(["train", "--config", self.ws.path("state", "jobs", str(job), "config.toml"),
                         "--run-dir", out, "--quiet"], ranks=ranks)
        assert p.returncode == 0, must_msg(p, "driftrun train of the job's config")
        return final_weights(out)


def ranks_of(job):
    """World ranks from the pool's handle ("pool:<job>:<n> ranks 1,2")."""
    return [int(r) for r in job["handle"].split(" ranks ")[1].split(",")]


def events(pool, job):
    return pool.rows("SELECT at, state, reason FROM job_events WHERE job = ?1 ORDER BY id", job)


def assert_same_weights(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_two_models_train_at_once_on_disjoint_groups_and_a_third_waits(workspace):
    # "old" is listed first (its job is the oldest) but has the lowest priority.
    pool = Pool(workspace, [dict(name="old", priority=0, epochs=40), dict(name="a", priority=1, epochs=40),
                            dict(name="b", priority=1, epochs=40)])
    proc = pool.popen(pool.command(5, []))
    try:
        pool.wait("SELECT count(*) AS n FROM jobs WHERE state = 'promoted' HAVING n = 3", "three promoted jobs", proc)
        proc.send_signal(signal.SIGUSR1)
        assert proc.wait(timeout=120) == 0, pool.log()
    finally:
        if proc.poll() is None:
            proc.kill()
    jobs = {j["model"]: j for j in pool.rows("SELECT * FROM jobs")}
    assert jobs["old"]["id"] < jobs["a"]["id"] < jobs["b"]["id"]
    ev = {m: events(pool, j["id"]) for m, j in jobs.items()}
    start = {m: next(e["at"] for e in ev[m] if e["state"] == "running") for m in ev}
    end = {m: next(e["at"] for e in ev[m] if e["state"] == "trained") for m in ev}
    launched = {m: next(e["reason"] for e in ev[m] if "pool:" in e["reason"]) for m in ev}
    ra, rb = (sorted(int(r) for r in launched[m].split(" ranks ")[-1].rstrip(")").split(",")) for m in "ab")
    assert len(ra) == 2 and len(rb) == 2 and not set(ra) & set(rb), launched
    assert start["a"] < end["b"] and start["b"] < end["a"], "a and b did not train at the same time"
    assert start["old"] >= min(end["a"], end["b"]), "the low-priority job did not wait for free ranks"
    for m in ("a", "b"):
        assert_same_weights(pool.train_alone(jobs[m]["id"]), final_weights(jobs[m]["run_dir"]))


def worker_pids(config):
    """World rank → pid of each `driftrun serve` rank started with `config`."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"serve" not in cmd or config.encode() not in cmd or cmd[0].endswith(b"mpirun"):
            continue
        for e in env:
            if e.startswith(b"OMPI_COMM_WORLD_RANK="):
                out[int(e.split(b"=")[1])] = int(pid)
    return out


def test_a_killed_worker_heals_under_the_supervisor_and_the_job_ends_as_uninterrupted(workspace):
    # Long enough that the status calls below see it running on a busy machine
    # (400 epochs were not, with the hand-written MLP backward).
    pool = Pool(workspace, [dict(name="m", epochs=1500, every=100, incoming="incoming")])
    os.makedirs(workspace.path("incoming"))
    supervised = [os.path.join(workspace.source, "scripts", "serve-supervised.sh"), "--backoff-s", "1", "--"]
    proc = pool.popen(supervised + pool.command(3, ["--max-batches", "0"]))
    try:
        pool.wait("SELECT id FROM jobs WHERE state = 'running' AND handle != ''", "the job", proc)
        ck = workspace.path("state", "jobs", "1", "run", "checkpoints")
        t0 = time.time()
        while not (os.path.isdir(ck) and any(f.endswith(".json") for f in os.listdir(ck))):
            assert time.time() - t0 < 120, "no checkpoint:\n" + pool.log()
            time.sleep(0.05)
        t0 = time.time()
        while True:  # the master rewrites state/pool.json within a second of a change
            st = json.loads(workspace.run(["status", "--config", pool.config, "--json"]).stdout)
            job = st["models"][0]["jobs"][0]
            if "pool" in job or time.time() - t0 > 10:
                break
            time.sleep(0.2)
        assert st["service"]["pool"] == {"workers": 2, "busy": 2, "idle": 0}, st["service"]
        assert job["pool"]["ranks"] == [1, 2] and job["pool"]["heartbeat_age_s"] < 30, job
        text = workspace.run(["status", "--config", pool.config]).stdout
        assert "ranks 1,2" in text and "heartbeat" in text, text
        pids = worker_pids(pool.config)
        assert sorted(pids) == [0, 1, 2], pids
        os.kill(pids[2], signal.SIGKILL)
        pool.wait("SELECT id FROM jobs WHERE id = 1 AND state = 'promoted'", "the job after the restart", proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "restart 1 of 5" in pool.log(), pool.log()
    job = pool.rows("SELECT * FROM jobs WHERE id = 1")[0]
    assert job["attempts"] >= 2, job
    assert len(pool.versions("m")) == 1
    assert_same_weights(pool.train_alone(1), final_weights(job["run_dir"]))


def test_a_hung_worker_is_named_by_the_deadline_and_ends_the_world_with_exit_5(workspace):
    pool = Pool(workspace, [dict(name="m", epochs=150, every=100)])
    p = pool.serve(3, "--max-batches", "0", "--set", "dist.timeout_s=3",
                   env={"DRIFTRUN_FAULT_SLEEP_AT_STEP": "150", "DRIFTRUN_FAULT_SLEEP_S": "600"})
    assert p.returncode == 5, must_msg(p, "serve with a hung worker")
    out = p.stdout + p.stderr
    assert "job 1 on world ranks 1,2" in out, out[-3000:]
    assert "did not complete within 3" in out and "rank" in out, out[-3000:]
    ev = [e["reason"] for e in events(pool, 1)]
    assert any(r.startswith("pool: job 1 on world ranks 1,2") for r in ev), ev
    assert "infrastructure failure" in open(workspace.path("state", "jobs", "1", "train.log")).read()
    # The restart resumes the job from its last checkpoint and finishes it.
    proc = pool.popen(pool.command(3, []))
    try:
        pool.wait("SELECT id FROM jobs WHERE id = 1 AND state = 'promoted'", "the resumed job", proc)
        proc.send_signal(signal.SIGUSR1)
        assert proc.wait(timeout=120) == 0, pool.log()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert pool.rows("SELECT attempts FROM jobs WHERE id = 1")[0]["attempts"] == 2
    assert len(pool.versions("m")) == 1


def test_a_silent_leader_trips_the_heartbeat_timeout_and_a_big_job_gets_the_pool_size(workspace):
    pool = Pool(workspace, [dict(name="m", epochs=150, every=100, ranks=4)])
    p = pool.serve(2, "--set", "service.heartbeat_timeout_s=3",
                   env={"DRIFTRUN_FAULT_SLEEP_AT_STEP": "4000", "DRIFTRUN_FAULT_SLEEP_S": "600"})
    assert p.returncode == 5, must_msg(p, "serve with a silent leader")
    out = p.stdout + p.stderr
    assert "job 1 on world ranks 1: its leader (rank 1) sent no heartbeat" in out, out[-3000:]
    assert "last heard after step " in out and "service.heartbeat_timeout_s = 3)" in out, out[-3000:]
    ev = [e["reason"] for e in events(pool, 1)]
    assert any("retrain.ranks 4 capped to the executor's 1" in r for r in ev), ev


def test_a_failed_job_frees_its_ranks_and_the_next_job_runs(workspace):
    pool = Pool(workspace, [dict(name="bad", priority=1, lr="1e30"), dict(name="good", priority=0)])
    proc = pool.popen(pool.command(3, []))
    try:
        pool.wait("SELECT id FROM jobs WHERE model = 'good' AND state = 'promoted'", "the good job", proc)
        proc.send_signal(signal.SIGUSR1)
        assert proc.wait(timeout=120) == 0, pool.log()
    finally:
        if proc.poll() is None:
            proc.kill()
    jobs = {j["model"]: j for j in pool.rows("SELECT * FROM jobs")}
    assert jobs["bad"]["state"] == "failed", jobs["bad"]
    assert "the job's ranks ended with exit code 4" in jobs["bad"]["reason"], jobs["bad"]["reason"]
    assert "NaN" in jobs["bad"]["reason"] or "Inf" in jobs["bad"]["reason"], jobs["bad"]["reason"]
    assert ranks_of(jobs["good"]) == [1, 2]
    assert not os.path.exists(workspace.path("registry-bad", "registry.db"))
    assert len(pool.versions("good")) == 1


def test_the_pool_without_mpirun_says_how_to_start_it(workspace):
    pool = Pool(workspace, [dict(name="m")])
    p = workspace.run(["serve", "--config", pool.config, "--executor", "pool"])
    assert p.returncode == 2, must_msg(p, "pool without mpirun")
    assert "mpirun -np N driftrun serve --executor pool" in p.stderr, p.stderr


def test_the_local_executor_under_mpirun_is_refused_before_anything_runs(workspace):
    pool = Pool(workspace, [dict(name="m")])
    p = workspace.run(["serve", "--config", pool.config, "--executor", "local"], ranks=2)
    assert p.returncode == 2, must_msg(p, "local executor under mpirun")
    assert "without mpirun" in p.stderr and "--executor pool" in p.stderr, p.stderr
    assert not os.path.exists(workspace.path("state", "journal.db")), "nothing may be written"
