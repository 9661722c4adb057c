"""MLflow for teams that already use it (issue 16), against a real `mlflow
server` from the project's .venv (SQLite backend, local artifact folder, a
free loopback port), read back with the `mlflow` Python client.

- `driftrun train` with [mlflow] tracking_uri logs the run from rank 0: params
  (the resolved config), metrics per epoch with step = epoch (equal to
  metrics.jsonl), lineage tags, the ONNX file and the run report as artifacts
  (byte for byte); a resumed run continues its MLflow run.
- MLflow being down costs a warning, not the run.
- `driftrun registry export-mlflow` mirrors versions (source runs:/RUN/model,
  the tracked training run when there is one) with their tags and the
  aliases; a second export adds nothing.
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from harness import must_msg, read_jsonl, free_port

from mlflow import MlflowClient  # scripts/setup.sh installs mlflow into .venv

CONFIG = """
name = "{name}"
[data]
train = "{train}"
[model]
hidden = [16]
[train]
epochs = 3
batch_size = 64
[checkpoint]
every_steps = 20
[registry]
path = "{registry}"
register = true
[mlflow]
tracking_uri = "{uri}"
"""


@pytest.fixture(scope="module")
def server(module_workspace):
    ws = module_workspace
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "mlflow")  # the .venv's, beside its python
    log = open(ws.path("mlflow-server.log"), "w")
    proc = subprocess.Popen([exe, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                             "--backend-store-uri", f"sqlite:///{ws.path('mlflow.db')}",
                             "--artifacts-destination", ws.path("mlflow-artifacts")],
                            cwd=ws.tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    t0 = time.time()
    while True:
        try:
            if urllib.request.urlopen(uri + "/health", timeout=2).read().strip() == b"OK":
                break
        except OSError:
            pass
        assert proc.poll() is None and time.time() - t0 < 120, open(ws.path("mlflow-server.log")).read()[-3000:]
        time.sleep(0.3)
    ws.make_data(ws.path("d"), "--rows", "3000", "--features", "6")
    yield uri, ws
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def config(ws, uri, name="mlt", registry="reg", experiment=""):
    return ws.write_config(f"{name}.toml", CONFIG.format(name=name, train=ws.path("d/train.h5"),
                                                         registry=ws.path(registry), uri=uri) +
                           f'experiment = "{experiment}"\n')


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_of(client, experiment, run_name):
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"experiment {experiment} exists"
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.info.run_name == run_name]
    assert len(runs) == 1, f"one MLflow run named {run_name}: {[r.info.run_name for r in runs]}"
    return runs[0]


def test_training_is_logged_from_rank_0(server):
    uri, ws = server
    d = ws.path("run-a")
    p = ws.run(["train", "--config", config(ws, uri), "--run-dir", d, "--quiet"], ranks=2)
    assert p.returncode == 0, must_msg(p, "train with tracking on 2 ranks")
    c = MlflowClient(uri)
    r = run_of(c, "mlt", "run-a")
    assert r.info.status == "FINISHED" and r.data.tags["driftrun.status"] == "done"
    assert r.data.params["train.lr"] == "0.001" and r.data.params["model.hidden"] == "[16]"
    assert r.data.params["mlflow.tracking_uri"] == uri and len(r.data.params) > 100, "every resolved key"
    assert r.data.tags["driftrun.config_hash"] == json.load(open(f"{d}/summary.json"))["config_hash"]
    assert r.data.tags["driftrun.run_id"].startswith("run-a-")
    rows = read_jsonl(f"{d}/metrics.jsonl")
    for key in ("train_loss", "val_loss", "val_metric", "samples_per_s"):
        hist = sorted(c.get_metric_history(r.info.run_id, key), key=lambda m: m.step)
        assert [m.step for m in hist] == [row["epoch"] for row in rows], key
        assert [m.value for m in hist] == pytest.approx([row[key] for row in rows], rel=1e-12), key
    got = c.download_artifacts(r.info.run_id, "", ws.path("dl-a"))
    assert sha(os.path.join(got, "model.onnx")) == sha(f"{d}/model.onnx")
    assert sha(os.path.join(got, "report.html")) == sha(f"{d}/report.html")
    events = [e for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "mlflow"]
    assert events and events[0]["ok"] and events[0]["run_id"] == r.info.run_id
    assert json.load(open(f"{d}/mlflow.json"))["run_id"] == r.info.run_id


def test_a_resumed_run_continues_its_mlflow_run(server):
    uri, ws = server
    d = ws.path("run-b")
    cfg = config(ws, uri)
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet"], env={"DRIFTRUN_FAULT_SIGNAL_AT_STEP": "50"})
    assert p.returncode == 0, must_msg(p, "stopped run")
    c = MlflowClient(uri)
    r = run_of(c, "mlt", "run-b")
    assert r.info.status == "KILLED" and r.data.tags["driftrun.status"] == "stopped"
    p = ws.run(["train", "--config", cfg, "--run-dir", d, "--quiet", "--resume", "auto"])
    assert p.returncode == 0, must_msg(p, "resumed run")
    r = run_of(c, "mlt", "run-b")
    assert r.info.status == "FINISHED"
    steps = sorted({m.step for m in c.get_metric_history(r.info.run_id, "val_loss")})
    assert steps == [1, 2, 3], steps


def test_mlflow_down_costs_a_warning_not_the_run(server):
    _, ws = server
    dead = f"http://127.0.0.1:{free_port()}"
    d = ws.path("run-down")
    p = ws.run(["train", "--config", config(ws, dead, name="down", registry="reg-down"), "--run-dir", d,
                "--quiet"], ranks=2)
    assert p.returncode == 0, must_msg(p, "training with MLflow down")
    assert "warning: MLflow" in p.stderr and "unreachable" in p.stderr, p.stderr[-600:]
    assert os.path.exists(f"{d}/summary.json") and os.path.exists(f"{d}/model.onnx")
    events = [e for e in read_jsonl(f"{d}/events.jsonl") if e["event"] == "mlflow"]
    assert len(events) == 1 and not events[0]["ok"], events
    p = ws.run(["train", "--config", config(ws, "localhost:5000", name="bad", registry="reg-bad"), "--run-dir",
                ws.path("run-bad"), "--quiet"], ranks=2, timeout=120)
    assert p.returncode == 2 and "mlflow.tracking_uri" in p.stderr, must_msg(p, "a URI without a scheme")


def test_registry_export_mirrors_versions_and_aliases_once(server):
    uri, ws = server
    if not os.path.exists(ws.path("run-a")):
        test_training_is_logged_from_rank_0(server)
    reg = ws.path("reg")
    # One run folder registered twice (stopped by max_steps, resumed and trained
    # on), tracked in an experiment of its own: each version keeps its own ONNX,
    # and the tracked run is found wherever it went.
    team = config(ws, uri, experiment="team exp")
    d = ws.path("run-e")
    for extra in (["--set", "train.max_steps=30"], ["--set", "train.max_steps=0", "--resume", "auto",
                                                     "--allow-config-change"]):
        p = ws.run(["train", "--config", team, "--run-dir", d, "--quiet"] + extra)
        assert p.returncode == 0, must_msg(p, f"run-e {extra}")
    p = ws.run(["registry", "promote", "mlt:1", "--alias", "production", "--by", "ann", "--registry", reg])
    assert p.returncode == 0, must_msg(p, "promote mlt:1")
    p = ws.run(["registry", "export-mlflow", "--tracking-uri", uri, "--registry", reg, "--json"])
    assert p.returncode == 0, must_msg(p, "export-mlflow")
    first = json.loads(p.stdout)
    listed = json.loads(ws.run(["registry", "list", "--registry", reg, "--json"]).stdout)
    versions = {v["version"]: v for v in listed}
    assert len(first) == 1 and len(first[0]["created"]) == len(versions)
    c = MlflowClient(uri)
    mv = {int(v.tags["driftrun.version"]): v for v in c.search_model_versions("name='mlt'")}
    assert set(mv) == set(versions)
    tracked = run_of(c, "mlt", "run-a")
    for n, v in versions.items():
        m = mv[n]
        onnx = v["artifacts"]["onnx"]
        assert m.tags["driftrun.sha256"] == onnx["sha256"] and m.tags["driftrun.trigger"] == v["trigger"]
        assert m.source == f"runs:/{m.run_id}/model-v{n}", "one artifact folder per version"
        got = c.download_artifacts(m.run_id, f"model-v{n}", ws.path(f"dl-v{n}"))
        assert sha(os.path.join(got, "model.onnx")) == onnx["sha256"]
    run_a_version = next(n for n, v in versions.items() if v["run_dir"].endswith("run-a"))
    assert mv[run_a_version].run_id == tracked.info.run_id, "the tracked training run is the version's source"
    team_run = run_of(c, "team exp", "run-e")
    run_e = [n for n, v in versions.items() if v["run_dir"].endswith("run-e")]
    assert len(run_e) == 2 and all(mv[n].run_id == team_run.info.run_id for n in run_e), \
        "both versions of run-e come from its tracked run in its own experiment"
    model = c.get_registered_model("mlt")
    prod = next(n for n, v in versions.items() if "production" in v["aliases"])
    cand = next(n for n, v in versions.items() if "candidate" in v["aliases"])
    assert model.aliases == {"production": mv[prod].version, "candidate": mv[cand].version}
    p = ws.run(["registry", "export-mlflow", "--tracking-uri", uri, "--registry", reg, "--json"])
    assert p.returncode == 0, must_msg(p, "second export")
    again = json.loads(p.stdout)
    assert again[0]["created"] == [] and again[0]["existing"] == len(versions)
    assert len(c.search_model_versions("name='mlt'")) == len(versions), "a second export adds nothing"


def test_a_hung_server_does_not_hold_training(server):
    """A server that accepts connections and never answers: training runs at
    its own pace (its summary's wall time is small), and the command ends within
    the client's timeout plus the 30 s cap on the final wait, exit 0."""
    _, ws = server
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)  # accepted by the kernel, never read or answered
    uri = f"http://127.0.0.1:{lsock.getsockname()[1]}"
    d = ws.path("run-hung")
    t0 = time.time()
    p = ws.run(["train", "--config", config(ws, uri, name="hung", registry="reg-hung"), "--run-dir", d,
                "--quiet"], timeout=120)
    took = time.time() - t0
    lsock.close()
    assert p.returncode == 0, must_msg(p, "training with a hung MLflow")
    assert json.load(open(f"{d}/summary.json"))["wall_s"] < 15, "training did not wait for MLflow"
    assert took < 60 and "warning: MLflow" in p.stderr, (took, p.stderr[-600:])
