"""`driftrun submit` on a real single-node Slurm cluster (munged, slurmctld,
slurmd started by scripts/slurm/cluster.sh in a temporary folder, stopped by
their pids afterwards).

- A 2-task job completes; its model is exported and registered, and its weights
  equal those of `mpirun -np 2 driftrun train` of the same config.
- The time-limit signal (slurm.signal, sent as Slurm's --signal would) and
  `scontrol requeue` (what preemption does) mid-run: the job checkpoints,
  comes back, resumes and ends with the weights of an uninterrupted run; the
  logs of both attempts are kept.
- A job failing with an application error is not requeued.
- --dry-run with hostile values: refused with a message, or quoted so that the
  script runs nothing but srun driftrun (run with a fake srun that records argv).
"""
import fcntl
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
import urllib.request

import h5py
import numpy as np
import pytest

from harness import final_weights, model_toml, must_msg, read_jsonl

def model(name, epochs):
    """The Slurm tests' model: exported to ONNX and registered."""
    return model_toml(name, epochs, registry_keys="register = true", more="[export]\nonnx = true\n")



class Cluster:
    def __init__(self, ws):
        self.ws = ws
        self.dir = ws.path("slurm-cluster")
        self.script = os.path.join(ws.source, "scripts", "slurm", "cluster.sh")
        p = subprocess.run(["bash", self.script, "start", self.dir, "--cpus", "8"], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, must_msg(p, "scripts/slurm/cluster.sh start")
        self.env = dict(os.environ, SLURM_CONF=os.path.join(self.dir, "slurm.conf"))

    def stop(self):
        # A job a failed test left running would outlive the daemons (its srun lingers).
        self.run("scancel", "--user", str(os.getuid()), "--full", timeout=60)
        time.sleep(1)
        subprocess.run(["bash", self.script, "stop", self.dir], capture_output=True, timeout=60)

    def run(self, *args, timeout=120):
        return subprocess.run(list(args), cwd=self.ws.tmp, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def driftrun(self, *args):
        return self.run(self.ws.driftrun, *args)

    def submit(self, config, *args):
        p = self.driftrun("submit", "--config", config, "--json", *args)
        assert p.returncode == 0, must_msg(p, "driftrun submit")
        return json.loads(p.stdout)

    def job(self, job_id):
        """scontrol show job's fields (kept MinJobAge seconds after the end)."""
        p = self.run("scontrol", "show", "job", "-o", str(job_id))
        assert p.returncode == 0, must_msg(p, "scontrol show job")
        fields = {}
        for word in p.stdout.split():
            if "=" in word:
                k, v = word.split("=", 1)
                fields[k] = v
        return fields

    def wait_state(self, job_id, states, timeout=180, release=True):
        """Waits for one of `states`. A requeued job waits about two minutes
        before it may start again (Slurm's BeginTime): released at once here."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            f = self.job(job_id)
            if f["JobState"] in states:
                return f
            if release and f["JobState"] == "PENDING" and f.get("Reason") == "BeginTime":
                self.run("scontrol", "update", f"jobid={job_id}", "StartTime=now")
            time.sleep(0.3)
        raise AssertionError(f"job {job_id} never reached {states}: {self.job(job_id)}\n" + self.logs())

    def logs(self):
        out = ""
        for root, _, files in os.walk(self.ws.tmp):
            for f in files:
                if f.endswith(".log") and "slurm" in root:
                    out += f"--- {os.path.join(root, f)}\n" + open(os.path.join(root, f)).read()[-2000:]
        return out


@pytest.fixture(scope="module")
def cluster(module_workspace):
    ws = module_workspace
    assert shutil.which("slurmctld"), "Slurm is not installed (scripts/setup.sh installs slurm-wlm munge)"
    ws.make_data(ws.path("data"), "--rows", "4000")
    c = Cluster(ws)
    yield c
    c.stop()


def config(ws, name, epochs):
    return ws.write_config(f"{name}.toml", model(name, epochs))


def uninterrupted(ws, name, epochs):
    """The same job trained straight through with mpirun, for the weights."""
    def run():
        cfg = config(ws, name + "_ref", epochs)
        run_dir = ws.path("ref-" + name)
        p = ws.run(["train", "--config", cfg, "--run-dir", run_dir, "--quiet", "--set", "registry.register=false",
                    "--set", f'name="{name}"'], ranks=2)
        assert p.returncode == 0, must_msg(p, "mpirun -np 2 driftrun train")
        return final_weights(run_dir)
    return ws.once(("ref", name, epochs), run)


def assert_same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_a_two_task_job_trains_exports_and_registers(cluster):
    ws = cluster.ws
    cfg = config(ws, "small", 3)
    s = cluster.submit(cfg, "--ntasks-per-node", "2")
    f = cluster.wait_state(s["job_id"], {"COMPLETED", "FAILED", "CANCELLED"})
    assert f["JobState"] == "COMPLETED", cluster.logs()
    run = s["run_dir"]
    assert os.path.isfile(os.path.join(run, "model.onnx"))
    assert read_jsonl(os.path.join(run, "metrics.jsonl"))
    with open(os.path.join(run, "summary.json")) as fh:
        assert json.load(fh)["world_size"] == 2
    p = ws.run(["registry", "list", "--registry", ws.path("registry"), "--json"])
    assert p.returncode == 0, must_msg(p, "registry list")
    assert any(v["name"] == "small" for v in json.loads(p.stdout)), p.stdout
    assert_same(final_weights(run), uninterrupted(ws, "small", 3))
    log = open(os.path.join(run, "slurm", "logs", f"{s['job_id']}.0.log")).read()
    assert "registered small:" in log and "srun exited 0" in log
    ends = [a for a in read_jsonl(os.path.join(run, "slurm", "attempts.jsonl")) if a["event"] == "end"]
    assert [e["cause"] for e in ends] == ["done"]


def wait_checkpoint(cluster, run, job_id, timeout=120):
    t0 = time.time()
    ck = os.path.join(run, "checkpoints")
    while not (os.path.isdir(ck) and any(f.endswith(".json") for f in os.listdir(ck))):
        assert time.time() - t0 < timeout, "no checkpoint\n" + cluster.logs()
        assert cluster.job(job_id)["JobState"] in ("PENDING", "RUNNING", "CONFIGURING"), cluster.logs()
        time.sleep(0.1)


@pytest.mark.parametrize("how", ["time-limit signal", "scontrol requeue"])
def test_interrupted_job_requeues_resumes_and_matches_an_uninterrupted_run(cluster, how):
    ws = cluster.ws
    name = "long_" + how.split()[0].replace("-", "_")
    cfg = config(ws, name, 150)
    s = cluster.submit(cfg, "--ntasks-per-node", "2")
    job, run = s["job_id"], s["run_dir"]
    wait_checkpoint(cluster, run, job)
    if how == "time-limit signal":
        p = cluster.run("scancel", "--signal=USR1", job)  # what sbatch --signal=USR1@S sends to the tasks
    else:
        p = cluster.run("scontrol", "requeue", job)  # what preemption with PreemptMode=REQUEUE does
    assert p.returncode == 0, must_msg(p, how)
    f = cluster.wait_state(job, {"COMPLETED", "FAILED", "CANCELLED"}, timeout=400)
    assert f["JobState"] == "COMPLETED" and int(f["Restarts"]) == 1, (f, cluster.logs())
    logs = sorted(os.listdir(os.path.join(run, "slurm", "logs")))
    assert logs == [f"{job}.0.log", f"{job}.1.log"], logs
    second = open(os.path.join(run, "slurm", "logs", f"{job}.1.log")).read()
    assert "resumed from" in second, second
    # Found by a stranger: the stop's resume line was garbled (--run-dir twice,
    # a bare parenthesis, submit --resume, which submit has no flag for).
    first = open(os.path.join(run, "slurm", "logs", f"{job}.0.log")).read()
    line = next(ln for ln in first.splitlines() if ln.startswith("resume with: "))
    assert line.count("--run-dir") == 1 and "--resume" not in line and line.startswith("resume with: driftrun submit"), line
    causes = [a.get("cause") for a in read_jsonl(os.path.join(run, "slurm", "attempts.jsonl")) if a["event"] != "start"]
    if how == "time-limit signal":
        assert causes == ["time_limit", "time_limit", "done"], causes  # end, requeue, end
    else:
        assert causes == ["stopped", "done"], causes
    assert_same(final_weights(run), uninterrupted(ws, name, 150))


def test_an_application_error_is_not_requeued(cluster):
    ws = cluster.ws
    cfg = config(ws, "broken", 3)
    # Bad rows only the job finds (a missing file is refused at submit): a NaN label.
    bad = ws.path("data", "nanlabel.h5")
    with h5py.File(ws.path("data", "train.h5"), "r") as src, h5py.File(bad, "w") as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for k in src:
            dst[k] = src[k][()]
        labels = dst["labels"][()]
        labels[7] = np.nan
        del dst["labels"]
        dst["labels"] = labels
    s = cluster.submit(cfg, "--ntasks-per-node", "2", "--set", f'data.train="{bad}"')
    f = cluster.wait_state(s["job_id"], {"COMPLETED", "FAILED", "CANCELLED"})
    assert f["JobState"] == "FAILED" and f["Restarts"] == "0", f
    assert f["ExitCode"].startswith("3:"), f  # bad input data
    time.sleep(2)
    assert cluster.job(s["job_id"])["JobState"] == "FAILED"
    ends = [a for a in read_jsonl(os.path.join(s["run_dir"], "slurm", "attempts.jsonl")) if a["event"] == "end"]
    assert [(e["cause"], e["exit"]) for e in ends] == [("failed", 3)]


# ---- hostile values: refused, or quoted so that nothing but srun driftrun runs

HOSTILE = ["with space", "it's", 'dq"x', "$(touch PWNED1)", "`touch PWNED2`", "a;touch PWNED3", "-leading"]


def fake_srun(ws):
    bin_dir = ws.path("fakebin")
    os.makedirs(bin_dir, exist_ok=True)
    path = os.path.join(bin_dir, "srun")
    with open(path, "w") as f:
        f.write('#!/usr/bin/env python3\nimport json, os, sys\n'
                'open(os.environ["ARGV_LOG"], "a").write(json.dumps(sys.argv[1:]) + "\\n")\n')
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return bin_dir


@pytest.mark.parametrize("hostile", HOSTILE)
def test_dry_run_quotes_hostile_names_and_paths(cluster, hostile):
    ws = cluster.ws
    base = ws.path("hostile", str(HOSTILE.index(hostile)))
    os.makedirs(base, exist_ok=True)
    cfg = os.path.join(base, f"cfg {hostile}.toml")
    with open(cfg, "w") as f:
        f.write(model("hostile", 1).replace('"data/train.h5"',
                                                              json.dumps(ws.path("data", "train.h5"))))
    # As a run name it is refused (a name is a folder name: letters, digits, '.', '_', '-').
    bad = ws.write_config("badname.toml", model(hostile.replace('"', "'"), 1))
    p = cluster.driftrun("submit", "--config", bad, "--dry-run")
    assert p.returncode == 2 and "is not allowed" in p.stderr, must_msg(p, "a hostile name")
    run_dir = os.path.join(base, f"run {hostile}")
    p = cluster.driftrun("submit", "--config", cfg, "--run-dir", run_dir, "--dry-run", "--json")
    assert p.returncode == 0, must_msg(p, "submit --dry-run")
    out = json.loads(p.stdout)
    assert not os.path.exists(run_dir), "--dry-run wrote the run folder"
    # Run the script as Slurm would, with a fake srun: the argv it gets is exactly driftrun's.
    os.makedirs(os.path.join(run_dir, "slurm", "logs"))
    script = os.path.join(base, "job.sbatch")
    with open(script, "w") as f:
        f.write(out["script_text"])
    argv_log = os.path.join(base, "argv.jsonl")
    env = dict(os.environ, PATH=fake_srun(ws) + os.pathsep + os.environ["PATH"], SLURM_JOB_ID="77",
               ARGV_LOG=argv_log)
    r = subprocess.run(["bash", script], cwd=base, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, must_msg(r, "the batch script with a fake srun")
    calls = read_jsonl(argv_log)
    assert calls == [["--mpi=pmix", "--kill-on-bad-exit=1", ws.driftrun, "train", "--config",
                      os.path.join(run_dir, "slurm", "config.toml"), "--run-dir", run_dir, "--resume", "auto",
                      "--slurm", "--noprogress"]], calls
    for marker in ("PWNED1", "PWNED2", "PWNED3"):
        for d in (base, ws.tmp, run_dir):
            assert not os.path.exists(os.path.join(d, marker)), f"the script ran {marker}"
    assert os.path.isfile(os.path.join(run_dir, "slurm", "logs", "77.0.log"))


@pytest.mark.parametrize("flag,value", [
    ("--partition", "debug;touch x"), ("--partition", "$(id)"), ("--partition", "-x"), ("--account", "a b"),
    ("--qos", "q`id`"), ("--time", "10;rm"), ("--time", "1:00:00:00"), ("--time", "0:30"), ("--time", "1:99:99"),
    ("--signal-before", "0"), ("--nodes", "0"), ("--run-dir", "bad\nline")])
def test_dry_run_refuses_values_slurm_would_not_take(cluster, flag, value):
    ws = cluster.ws
    cfg = config(ws, "refused", 1)
    p = cluster.driftrun("submit", "--config", cfg, "--dry-run", flag, value)
    assert p.returncode == 2, must_msg(p, f"submit {flag} {value!r}")
    assert flag.lstrip("-").replace("-", "_") in p.stderr.replace("-", "_") or "control character" in p.stderr, \
        p.stderr


def test_a_partition_the_cluster_lacks_is_a_usage_error_and_leaves_nothing(cluster):
    """Found by a stranger: exit 5 (an outage), a literal \\n, and the folder's
    slurm/ files left behind although nothing was queued."""
    ws = cluster.ws
    cfg = config(ws, "nopart", 1)
    d = ws.path("nopart-run")
    p = cluster.driftrun("submit", "--config", cfg, "--partition", "nosuch", "--time", "5", "--run-dir", d)
    assert p.returncode == 2, must_msg(p, "submit --partition nosuch")
    assert "invalid partition" in p.stderr.lower() and "nothing was queued" in p.stderr, p.stderr
    assert "\\n" not in p.stderr, p.stderr
    assert not os.path.exists(d), os.listdir(d)


def test_a_finished_run_is_not_queued_again(cluster):
    ws = cluster.ws
    cfg = config(ws, "done-run", 1)
    d = ws.path("done-run-dir")
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet"])
    assert p.returncode == 0, must_msg(p, "the local run")
    p = cluster.driftrun("submit", "--config", cfg, "--time", "5", "--run-dir", d)
    assert p.returncode == 2 and "holds a finished run" in p.stderr, must_msg(p, "submit of a finished run")
    assert not os.path.exists(os.path.join(d, "slurm", "jobs.jsonl"))


def test_flags_win_over_the_slurm_section_and_the_copy_carries_them(cluster):
    ws = cluster.ws
    cfg = ws.write_config("sect.toml", model("sect", 1) +
                          '[slurm]\nntasks_per_node = 4\ntime = "2:00:00"\npartition = "gpu"\nsignal = "USR2"\n')
    p = cluster.driftrun("submit", "--config", cfg, "--dry-run", "--time", "30", "--signal-before", "90")
    assert p.returncode == 0, must_msg(p, "submit --dry-run")
    assert "#SBATCH --time=30\n" in p.stdout and "#SBATCH --ntasks-per-node=4\n" in p.stdout
    assert "#SBATCH --partition=gpu\n" in p.stdout and "#SBATCH --signal=USR2@90\n" in p.stdout


def test_a_slow_last_checkpoint_warns_at_submit(cluster):
    ws = cluster.ws
    cfg = config(ws, "slowck", 1)
    run_dir = ws.path("slowck-run")
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "events.jsonl"), "w") as f:
        f.write(json.dumps({"event": "checkpoint", "step": 50, "path": "x", "seconds": 300.0}) + "\n")
    p = cluster.driftrun("submit", "--config", cfg, "--run-dir", run_dir, "--dry-run", "--signal-before", "120")
    assert p.returncode == 0, must_msg(p, "submit --dry-run")
    assert "took 300.0 s, longer than --signal-before 120 s" in p.stderr, p.stderr


# ---- driftrun serve --executor slurm

def slurm_job_id(handle):
    assert handle.startswith("slurm:"), handle
    return handle[len("slurm:"):]


def test_serve_with_the_slurm_executor_retrains_and_promotes(cluster, workspace):
    from service_harness import Svc
    s = Svc(workspace, ("--batches", "1"), executor="slurm")
    s.drop(s.batch(1))
    p = s.serve("--max-batches", "1", env=cluster.env)
    assert p.returncode == 0, must_msg(p, "serve --executor slurm")
    jobs = s.rows("SELECT * FROM jobs")
    assert [j["state"] for j in jobs] == ["promoted"], jobs
    f = cluster.job(slurm_job_id(jobs[0]["handle"]))
    assert f["JobState"] == "COMPLETED" and f["NumTasks"] == "2", f
    script = open(os.path.join(jobs[0]["run_dir"], "slurm", "job.sbatch")).read()
    assert "#SBATCH --ntasks=2\n" in script and "--slurm" in script
    v = s.versions()
    assert len(v) == 1 and "production" in v[0]["aliases"]
    p = workspace.run(["status", "--config", s.config, "--json"])
    assert p.returncode == 0 and f'"slurm_job":"{slurm_job_id(jobs[0]["handle"])}"' in p.stdout, \
        must_msg(p, "status --json")


def test_serve_restarted_while_its_slurm_job_runs_follows_the_same_job(cluster, workspace):
    from service_harness import Svc
    # Long enough (about 140000 steps) to outlast the metrics scrape and the stop below: the
    # job trains 8400 steps in under a second on a fast machine.
    s = Svc(workspace, ("--batches", "1"), epochs=5000, every=2000, executor="slurm")
    # Found by a stranger: a [slurm] value sbatch would refuse surfaced only when a retrain fired.
    p = s.serve("--set", 'slurm.time="abc"', env=cluster.env)
    assert p.returncode == 2 and "slurm.time" in p.stderr and "model.toml" in p.stderr, must_msg(p, "bad [slurm]")
    s.drop(s.batch(1))
    proc = s.serve_bg("--max-batches", "1", "--set", 'service.metrics="127.0.0.1:0"', env=cluster.env)
    try:
        job = s.wait("SELECT * FROM jobs WHERE state = 'running' AND handle != ''", "the job", proc)[0]
        # Found by a stranger: with the Slurm executor a running job had no per-job series.
        url = re.search(r"metrics: (http://\S+)", open(workspace.path("serve-bg.log")).read()).group(1)
        deadline, text = time.time() + 120, ""
        while f'driftrun_job_step{{job="{job["id"]}"' not in text:
            assert time.time() < deadline, text
            text = urllib.request.urlopen(url, timeout=10).read().decode()
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, open(workspace.path("serve-bg.log")).read()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    slurm_id = slurm_job_id(job["handle"])
    # The service's shutdown left the Slurm job running.
    assert cluster.job(slurm_id)["JobState"] in ("PENDING", "RUNNING"), cluster.job(slurm_id)
    p = s.serve("--max-batches", "1", env=cluster.env)
    assert p.returncode == 0, must_msg(p, "serve after a restart")
    jobs = s.rows("SELECT * FROM jobs")
    assert [j["state"] for j in jobs] == ["promoted"] and jobs[0]["handle"] == job["handle"], jobs
    assert jobs[0]["attempts"] == 1, jobs  # followed by its job id, not submitted again
    assert cluster.job(slurm_id)["JobState"] == "COMPLETED"
    assert len(s.versions()) == 1


def test_signal_stop_reaches_a_slurm_job_which_checkpoints_and_ends(cluster, workspace):
    from service_harness import Svc
    s = Svc(workspace, epochs=400, every=100, executor="slurm")
    proc = s.serve_bg(env=cluster.env)
    try:
        job = s.wait("SELECT * FROM jobs WHERE state = 'running' AND handle != ''", "the job", proc)[0]
        ck = workspace.path("state", "jobs", "1", "run", "checkpoints")
        t0 = time.time()
        while not (os.path.isdir(ck) and any(f.endswith(".json") for f in os.listdir(ck))):
            assert time.time() - t0 < 120, "no checkpoint"
            time.sleep(0.1)
        p = workspace.run(["signal", "--config", s.config, "--stop", "1", "--reason", "wrong window", "--by", "ann"])
        assert p.returncode == 0, must_msg(p, "signal --stop")
        done = s.wait("SELECT * FROM jobs WHERE id = 1 AND state != 'running'", "the job to stop", proc)[0]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert done["state"] == "failed" and "stopped by hand" in done["reason"], done
    f = cluster.job(slurm_job_id(job["handle"]))
    assert f["JobState"] == "COMPLETED" and f["Restarts"] == "0", f  # checkpointed and exited 0, not requeued
    ends = [a for a in read_jsonl(workspace.path("state", "jobs", "1", "run", "slurm", "attempts.jsonl"))
            if a["event"] == "end"]
    assert [e["cause"] for e in ends] == ["stopped"]


# ---- sweeps: one job array, ranked, the best registered

def test_a_sweep_of_four_runs_as_one_array_and_registers_the_best(cluster):
    ws = cluster.ws
    cfg = ws.write_config("sweep.toml", model("sweepy", 2) + """
[sweep]
params = ["train.lr = [1e-3, 3e-3]", "model.hidden = [[8], [16, 16]]"]
max_parallel = 2
""")
    s = cluster.submit(cfg, "--ntasks-per-node", "2")
    assert len(s["array_jobs"]) == 1 and s["trials"] == 4, s
    array = s["array_jobs"][0]
    sweep = s["sweep_dir"]
    assert "#SBATCH --array=0-3%2\n" in open(s["scripts"][0]).read()
    # Found by a stranger: --register-best while trials still ran registered
    # "the best of 4" out of the one that had finished.
    p = cluster.driftrun("sweep", "summary", sweep, "--register-best")
    assert p.returncode == 2 and "still pending or running" in p.stderr, must_msg(p, "register-best too early")
    t0 = time.time()
    while True:
        p = cluster.driftrun("sweep", "status", sweep, "--json")
        assert p.returncode == 0, must_msg(p, "sweep status")
        states = [t["state"] for t in json.loads(p.stdout)["trials"]]
        if all(st in ("done", "failed") for st in states):
            break
        assert time.time() - t0 < 300, (states, cluster.logs())
        time.sleep(0.5)
    assert states == ["done"] * 4, cluster.logs()
    # Each trial trained its own combination (its resolved config), as a task of the one array.
    combos = set()
    for i in range(4):
        run = os.path.join(sweep, f"trial-{i}")
        text = open(os.path.join(run, "config.resolved.toml")).read()
        lr = next(line for line in text.splitlines() if line.startswith("lr = "))
        hidden = next(line for line in text.splitlines() if line.startswith("hidden = "))
        combos.add((lr, hidden))
        assert os.listdir(os.path.join(run, "slurm", "logs")) == [f"{array}_{i}.0.log"]
    assert combos == {(f"lr = {lr}", f"hidden = {h}") for lr in ("0.001", "0.003") for h in ("[8]", "[16, 16]")}
    # Ranked by validation loss, as the trials' own summary.json files say.
    losses = {i: json.load(open(os.path.join(sweep, f"trial-{i}", "summary.json")))["val_loss"] for i in range(4)}
    p = cluster.driftrun("sweep", "summary", sweep, "--register-best", "--json")
    assert p.returncode == 0, must_msg(p, "sweep summary --register-best")
    ranked = json.loads(p.stdout)["ranked"]
    assert [t["index"] for t in ranked] == sorted(losses, key=lambda i: (losses[i], i))
    assert [t["val_loss"] for t in ranked] == sorted(losses.values())
    best = ranked[0]["index"]
    v = json.loads(ws.run(["registry", "list", "--registry", ws.path("registry"), "--model", "sweepy",
                           "--json"]).stdout)
    assert len(v) == 1 and f"trial {best}, the best of 4" in v[0]["trigger"], v
    # Trials register nothing themselves; a second --register-best adds nothing.
    p = cluster.driftrun("sweep", "summary", sweep, "--register-best")
    assert p.returncode == 0 and "already registered" in p.stdout, must_msg(p, "register-best again")
    p = cluster.driftrun("sweep", "summary", os.path.join(sweep, "trial-0"))
    assert p.returncode == 2 and "not a sweep folder" in p.stderr
    # A trial is a plain run: submitting its folder again would continue it;
    # this one is done, so it is refused rather than queued for nothing.
    trial = os.path.join(sweep, "trial-0")
    p = cluster.driftrun("submit", "--config", os.path.join(trial, "slurm", "config.toml"), "--run-dir", trial,
                         "--ntasks-per-node", "2", "--dry-run")
    assert p.returncode == 2 and "holds a finished run" in p.stderr, must_msg(p, "submit a finished trial again")


@pytest.mark.parametrize("entry,says", [
    ("train.lr = []", "non-empty list"), ("train.lr = 0.1", "non-empty list"), ("train.lrr = [0.1]", "unknown key"),
    ("train.lr = [\"fast\"]", "train.lr"), ("slurm.time = [\"10\"]", "cannot be swept"),
    ("model.kind = [\"mlp\", \"nope\"]", "must be one of"), ("train.lr", "has no '='")])
def test_a_bad_sweep_entry_is_refused_naming_it(cluster, entry, says):
    ws = cluster.ws
    cfg = ws.write_config("badsweep.toml", model("badsweep", 1) +
                          "[sweep]\nparams = [" + json.dumps(entry) + "]\n")
    p = cluster.driftrun("submit", "--config", cfg, "--dry-run")
    assert p.returncode == 2 and says in p.stderr and "sweep.params[0]" in p.stderr, must_msg(p, entry)


def test_a_sweep_trial_train_would_refuse_on_the_jobs_ranks_is_refused_before_it_is_queued(cluster):
    """Found by a stranger: a trial whose batch does not divide across the
    job's ranks was checked on one rank, submitted, and failed in the queue."""
    ws = cluster.ws
    cfg = ws.write_config("ranksweep.toml", model("ranksweep", 1) +
                          "[sweep]\nparams = [\"train.batch_size = [64, 65]\"]\n")
    p = cluster.driftrun("submit", "--config", cfg, "--ntasks-per-node", "2", "--dry-run")
    assert p.returncode == 2 and "sweep trial 1" in p.stderr and "across 2 ranks" in p.stderr, \
        must_msg(p, "a trial of batch 65 on 2 ranks")


@pytest.mark.parametrize("args,says", [
    (["--set", "train.lr=-1"], "train.lr"), (["--ntasks-per-node", "3"], "does not divide across 3 ranks"),
    (["--set", "train.epochs=0"], "train.epochs")])
def test_what_train_would_refuse_is_refused_before_it_is_queued(cluster, args, says):
    ws = cluster.ws
    cfg = config(ws, "refusedearly", 1)
    p = cluster.driftrun("submit", "--config", cfg, "--run-dir", ws.path("refusedearly-run"), *args)
    assert p.returncode == 2 and says in p.stderr, must_msg(p, f"submit {args}")
    assert not os.path.exists(ws.path("refusedearly-run", "slurm", "jobs.jsonl"))


def test_a_request_no_node_can_run_missing_data_or_a_file_as_folder_is_refused_before_it_is_queued(cluster):
    """Found by a stranger: a missing training file was queued (exit 0) to fail
    in the job with exit 3; --nodes 2 on a one-node cluster waited in the queue
    for ever; --run-dir naming a file was exit 5, and the dry run passed."""
    ws = cluster.ws
    cfg = config(ws, "early", 1)
    d = ws.path("early-run")
    for dry in ([], ["--dry-run"]):
        p = cluster.driftrun("submit", "--config", cfg, "--run-dir", d, "--set", 'data.train="nope.h5"', *dry)
        assert p.returncode == 3 and "nope.h5' does not exist" in p.stderr, must_msg(p, f"missing data {dry}")
        p = cluster.driftrun("submit", "--config", cfg, "--run-dir", cfg, *dry)
        assert p.returncode == 2 and "is a file, not a folder" in p.stderr, must_msg(p, f"a file as --run-dir {dry}")
    p = cluster.driftrun("submit", "--config", cfg, "--run-dir", d, "--nodes", "2", "--time", "5")
    assert p.returncode == 2 and "nothing was queued" in p.stderr, must_msg(p, "more nodes than the cluster has")
    p = cluster.driftrun("submit", "--config", cfg, "--run-dir", d, "--ntasks-per-node", "4", "--cpus-per-task", "4")
    assert p.returncode == 2 and "nothing was queued" in p.stderr, must_msg(p, "more CPUs than a node has")
    assert not os.path.exists(d), os.listdir(d)


def test_a_job_the_folder_never_recorded_and_a_submit_under_way_refuse_another(cluster):
    """Found by a stranger: a submit killed while sbatch ran queued a job that
    jobs.jsonl never recorded, and the next submit queued a second one on the
    folder (exit 0; it failed on the folder's lock). Two submits at once both
    queued; a sweep joined a folder of an earlier run's submission."""
    ws = cluster.ws
    cfg = config(ws, "unrecorded", 400)
    s = cluster.submit(cfg, "--ntasks-per-node", "2")
    os.remove(os.path.join(s["run_dir"], "slurm", "jobs.jsonl"))  # as if the submit had died before recording it
    p = cluster.driftrun("submit", "--config", cfg, "--run-dir", s["run_dir"], "--ntasks-per-node", "2")
    assert p.returncode == 2 and f"already has Slurm job {s['job_id']}" in p.stderr, must_msg(p, "unrecorded job")
    sw = ws.write_config("joined.toml", model("unrecorded", 1) + '[sweep]\nparams = ["train.lr = [1e-3, 2e-3]"]\n')
    p = cluster.driftrun("submit", "--config", sw, "--run-dir", s["run_dir"], "--dry-run")
    assert p.returncode == 2 and "a sweep needs a new folder" in p.stderr, must_msg(p, "a sweep into a run's folder")
    cluster.run("scancel", s["job_id"])
    d = ws.path("under-way")
    lock = os.path.join(os.path.dirname(d), "." + os.path.basename(d) + ".submit.lock")
    with open(lock, "w") as held:  # what a submit holds from its checks until its job is recorded
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        p = cluster.driftrun("submit", "--config", cfg, "--run-dir", d, "--ntasks-per-node", "2")
    assert p.returncode == 2 and "is in use by another driftrun process" in p.stderr, must_msg(p, "under way")
    assert not os.path.exists(d)


def test_a_sweep_folder_claimed_by_another_submit_is_refused_and_a_failed_sbatch_leaves_it_reusable(cluster):
    """Found by a stranger: two submits into one new folder at once both
    queued their arrays and mixed the trials; and a submit whose sbatch failed
    left a sweep.json that refused every later submit of the folder."""
    ws = cluster.ws
    sw = ws.write_config("claimed.toml", model("claimed", 1) +
                         '[sweep]\nparams = ["train.lr = [1e-3, 2e-3]"]\n')
    d = ws.path("claimed-sweep")
    os.makedirs(d)
    with open(os.path.join(d, "sweep.lock"), "w") as held:  # what the first submit holds while it writes
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        p = cluster.driftrun("submit", "--config", sw, "--run-dir", d, "--ntasks-per-node", "2")
    assert p.returncode != 0 and "sweep folder" in p.stderr, must_msg(p, "a claimed sweep folder")
    assert not os.path.exists(os.path.join(d, "sweep.json"))
    bogus = ws.path("unreachable-slurm.conf")  # a controller nobody answers for (a missing file takes 60 s)
    with open(bogus, "w") as f:
        f.write("ClusterName=none\nSlurmctldHost=localhost\nSlurmctldPort=9\nMessageTimeout=2\n")
    env = dict(cluster.env, SLURM_CONF=bogus)
    p = subprocess.run([ws.driftrun, "submit", "--config", sw, "--run-dir", d, "--ntasks-per-node", "2"],
                       capture_output=True, text=True, env=env, cwd=ws.tmp, timeout=120)
    assert p.returncode == 5 and "nothing was queued" in p.stderr, must_msg(p, "sbatch without Slurm")
    assert not os.path.exists(os.path.join(d, "sweep.json"))
    p = cluster.driftrun("submit", "--config", sw, "--run-dir", d, "--ntasks-per-node", "2", "--json")
    assert p.returncode == 0, must_msg(p, "the same folder submitted again once Slurm answers")
    cluster.run("scancel", json.loads(p.stdout)["array_jobs"][0])


def test_a_second_submit_to_a_busy_run_folder_and_a_cancelled_sweep_are_told(cluster):
    ws = cluster.ws
    cfg = config(ws, "busy", 400)
    s = cluster.submit(cfg, "--ntasks-per-node", "2")
    p = cluster.driftrun("submit", "--config", cfg, "--run-dir", s["run_dir"], "--ntasks-per-node", "2")
    assert p.returncode == 2 and f"already has Slurm job {s['job_id']}" in p.stderr, must_msg(p, "busy folder")
    cluster.run("scancel", s["job_id"])
    # Submitted again once the job is gone: each job keeps the script it ran
    # (found by a stranger: job.sbatch was rewritten for every submission).
    deadline = time.time() + 60
    while time.time() < deadline and cluster.run("squeue", "--noheader", "--jobs", s["job_id"]).stdout.strip():
        time.sleep(1)
    again = cluster.submit(cfg, "--run-dir", s["run_dir"], "--ntasks-per-node", "2", "--time", "7")
    cluster.run("scancel", again["job_id"])
    with open(os.path.join(s["run_dir"], "slurm", "jobs.jsonl")) as f:
        lines = [json.loads(x) for x in f]
    assert [x["job"] for x in lines] == [s["job_id"], again["job_id"]], lines
    scripts = [open(x["script"]).read() for x in lines]
    assert lines[0]["script"] != lines[1]["script"], lines
    assert "--time=7" not in scripts[0] and "--time=7" in scripts[1], scripts[1]
    # A sweep whose array is cancelled before its trials ran: they are "not queued", with how to go on.
    sw = ws.write_config("cancelled.toml", model("cancelled", 1) +
                         '[sweep]\nmethod = "random"\ntrials = 3\nparams = ["train.lr = [1e-3, 2e-3, 3e-3, 4e-3]"]\n')
    d = cluster.submit(sw, "--ntasks-per-node", "2", "--partition", "debug", "--time", "5")
    cluster.run("scancel", d["array_jobs"][0])
    # A task that was running takes up to KillWait (10 s) to end.
    deadline = time.time() + 60
    while time.time() < deadline and cluster.run("squeue", "--noheader", "--array", "--jobs",
                                                  d["array_jobs"][0]).stdout.strip():
        time.sleep(1)
    p = cluster.driftrun("sweep", "status", d["sweep_dir"], "--json")
    assert p.returncode == 0, must_msg(p, "sweep status")
    trials = json.loads(p.stdout)["trials"]
    assert len({json.dumps(t["params"]) for t in trials}) == 3  # a random sweep never repeats a combination
    # A task that had started when the array was cancelled checkpointed ("stopped"); the others never ran.
    assert all(t["state"] in ("not queued", "stopped", "done", "failed") for t in trials), trials
    gone = [t for t in trials if t["state"] in ("not queued", "stopped")]
    assert gone and all("driftrun submit --config" in t["reason"] for t in gone), trials
    # Found by a stranger: with Slurm out of reach the states were guessed
    # without a word; a damaged summary.json read as "stopped (done)"; a file
    # given as the folder "did not exist".
    bogus = ws.path("unreachable-slurm-2.conf")
    with open(bogus, "w") as f:
        f.write("ClusterName=none\nSlurmctldHost=localhost\nSlurmctldPort=9\nMessageTimeout=2\n")
    p = subprocess.run([ws.driftrun, "sweep", "status", d["sweep_dir"]], capture_output=True, text=True,
                       env=dict(cluster.env, SLURM_CONF=bogus), cwd=ws.tmp, timeout=120)
    assert p.returncode == 0 and "Slurm could not be asked" in p.stderr, must_msg(p, "status without Slurm")
    with open(os.path.join(d["sweep_dir"], "trial-0", "summary.json"), "w") as f:
        f.write("garbage")
    p = cluster.driftrun("sweep", "status", d["sweep_dir"], "--json")
    t0 = json.loads(p.stdout)["trials"][0]
    assert t0["state"] == "damaged" and "summary.json is not valid JSON" in t0["reason"], t0
    p = cluster.driftrun("sweep", "status", os.path.join(d["sweep_dir"], "sweep.json"))
    assert p.returncode == 2 and "is a file, not a sweep folder" in p.stderr, must_msg(p, "status of a file")


def write_atomically(path, text):
    """A job's srun may read slurm.conf at any moment: never let it see the file
    truncated (CI once saw "slurm.conf is empty" and a trial that never ran)."""
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def test_a_sweep_larger_than_max_array_size_is_split_into_arrays_run_one_after_the_other(cluster):
    ws = cluster.ws
    conf = os.path.join(cluster.dir, "slurm.conf")
    original = open(conf).read()
    try:
        write_atomically(conf, original.replace("MaxArraySize=1001", "MaxArraySize=2"))
        p = cluster.run("scontrol", "reconfigure")
        assert p.returncode == 0, must_msg(p, "scontrol reconfigure")
        cfg = ws.write_config("split.toml", model("split", 1) +
                              '[sweep]\nparams = ["train.lr = [1e-3, 2e-3, 3e-3]"]\n')
        s = cluster.submit(cfg, "--ntasks-per-node", "2")
    finally:
        write_atomically(conf, original)
        cluster.run("scontrol", "reconfigure")
    assert len(s["array_jobs"]) == 2 and len(s["scripts"]) == 2, s
    texts = [open(x).read() for x in s["scripts"]]
    assert "#SBATCH --array=0-1\n" in texts[0] and "trial=$((SLURM_ARRAY_TASK_ID + 0))" in texts[0]
    assert "#SBATCH --array=0-0\n" in texts[1] and "trial=$((SLURM_ARRAY_TASK_ID + 2))" in texts[1]
    second = cluster.job(s["array_jobs"][1])
    assert f"afterany:{s['array_jobs'][0]}" in second.get("Dependency", ""), second
    t0 = time.time()
    while True:
        p = cluster.driftrun("sweep", "status", s["sweep_dir"], "--json")
        states = [t["state"] for t in json.loads(p.stdout)["trials"]]
        if all(st in ("done", "failed", "not queued") for st in states):
            break
        assert time.time() - t0 < 300, (states, cluster.logs())
        time.sleep(0.5)
    assert states == ["done"] * 3, (states, cluster.logs())
    assert os.listdir(os.path.join(s["sweep_dir"], "trial-2", "slurm", "logs")) == [f"{s['array_jobs'][1]}_0.0.log"]
