"""The service's Prometheus endpoint ([service] metrics), read by a real
Prometheus server (Debian's `prometheus`, started here with a scrape config
pointing at the service) and through its HTTP query API.

- While a pool job runs: /metrics parses as the text format and has the jobs by
  state, the workers busy, the job's step and samples/s; Prometheus scrapes it
  and its query API returns the series with the model's label.
- After a drifted batch: the drift share and per-feature scores, retrains by
  outcome and the last promotion time.
- A non-loopback address without metrics_allow_remote is refused (exit 2); a
  port that is taken is an infrastructure error (exit 5) naming it.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from browser import blank, render
from harness import must_msg, free_port
from test_pool import Pool

LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
                  r'[-+0-9.eEinfa]+$')


def metrics_url(pool, proc, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        m = re.search(r"metrics: (http://127\.0\.0\.1:\d+/metrics)", open(pool.ws.path("serve-bg.log")).read())
        if m:
            return m.group(1)
        assert proc.poll() is None, pool.log()
        time.sleep(0.1)
    raise AssertionError("the service never said where its metrics are:\n" + pool.log())


def scrape(url):
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert line.startswith("# HELP ") or line.startswith("# TYPE "), line
            continue
        assert LINE.match(line), f"not the Prometheus text format: {line!r}"
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    return samples


def test_prometheus_scrapes_the_service_and_answers_a_query(workspace):
    pool = Pool(workspace, [dict(name="m", epochs=1200, every=100)])
    proc = pool.popen(pool.command(3, ["--set", "service.metrics=127.0.0.1:0"]))
    prom = None
    try:
        url = metrics_url(pool, proc)
        pool.wait("SELECT id FROM jobs WHERE state = 'running' AND handle != ''", "the job", proc)
        t0 = time.time()
        while True:  # the first heartbeat with a step
            s = scrape(url)
            if 'driftrun_job_step{job="1",model="m"}' in s or time.time() - t0 > 30:
                break
            time.sleep(0.2)
        assert s['driftrun_up{executor="pool"}'] == 1
        assert s['driftrun_jobs{model="m",state="running"}'] == 1
        assert s['driftrun_workers{state="busy"}'] == 2 and s['driftrun_workers{state="idle"}'] == 0
        assert s['driftrun_job_step{job="1",model="m"}'] > 0, s
        assert s['driftrun_job_samples_per_second{job="1",model="m"}'] > 0, s
        assert 'driftrun_job_allreduce_seconds{job="1",model="m"}' in s

        assert shutil.which("prometheus"), "Debian's prometheus is not installed (scripts/setup.sh installs it)"
        port = free_port()
        target = url.split("//")[1].split("/")[0]
        cfg = workspace.write_config("prometheus.yml", f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: driftrun
    static_configs:
      - targets: ["{target}"]
""")
        prom = subprocess.Popen(["prometheus", f"--config.file={cfg}",
                                 f"--storage.tsdb.path={workspace.path('tsdb')}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                cwd=workspace.tmp, stdout=open(workspace.path("prometheus.log"), "w"),
                                stderr=subprocess.STDOUT)
        query = urllib.parse.urlencode({"query": 'driftrun_jobs{model="m"}'})
        result, t0 = [], time.time()
        while not result and time.time() - t0 < 90:
            assert prom.poll() is None, open(workspace.path("prometheus.log")).read()[-3000:]
            try:
                r = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{query}", timeout=5))
                result = r["data"]["result"]
            except OSError:
                pass
            time.sleep(0.5)
        assert result, "Prometheus never returned driftrun_jobs:\n" + \
            open(workspace.path("prometheus.log")).read()[-3000:]
        states = {r["metric"]["state"] for r in result}
        assert "running" in states and "promoted" in states
        assert all(r["metric"]["job"] == "driftrun" and r["metric"]["model"] == "m" for r in result)
    finally:
        if prom is not None:
            prom.kill()
            prom.wait()
        if proc.poll() is None:
            proc.send_signal(signal.SIGUSR1)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_drift_scores_retrains_and_promotions_are_series(workspace):
    pool = Pool(workspace, [dict(name="m", incoming="incoming")],
                data_flags=("--batches", "1", "--drift", "mean", "--drift-from", "1", "--drift-magnitude", "1.0"))
    os.makedirs(workspace.path("incoming"))
    shutil.copyfile(workspace.path("data", "batch-001.h5"), workspace.path("incoming", "batch-001.h5"))
    proc = pool.popen(pool.command(3, ["--set", "service.metrics=127.0.0.1:0"]))
    try:
        url = metrics_url(pool, proc)
        pool.wait("SELECT id FROM jobs WHERE id = 2 AND state IN ('promoted', 'rejected')", "the retrain", proc)
        s = scrape(url)
        live = urllib.request.urlopen(url[:-len("metrics")], timeout=10)
        live_html = live.read().decode()
        assert live.headers["Content-Type"].startswith("text/html")
        proc.send_signal(signal.SIGUSR1)
        assert proc.wait(timeout=120) == 0, pool.log()
    finally:
        if proc.poll() is None:
            proc.kill()
    b = pool.rows("SELECT * FROM batches")[0]
    assert s['driftrun_batches_checked_total{model="m"}'] == 1
    assert s['driftrun_drift_share{model="m"}'] == b["drift_share"] > 0
    scores = json.loads(b["scores"])["drift"]["features"]
    for name, f in scores.items():
        key = f'driftrun_feature_drift_score{{model="m",feature="{name}",statistic="{f["decided_by"]}"}}'
        assert s[key] == f["score"], key
        assert s[f'driftrun_feature_drifted{{model="m",feature="{name}"}}'] == (1 if f["drifted"] else 0)
    jobs = pool.rows("SELECT state FROM jobs")
    promoted = sum(j["state"] == "promoted" for j in jobs)
    assert s['driftrun_retrains_total{model="m",outcome="promoted"}'] == promoted
    last = pool.rows("SELECT max(e.at) AS at FROM job_events e WHERE e.state = 'promoted'")[0]["at"]
    assert s['driftrun_last_promotion_timestamp_seconds{model="m"}'] == pytest.approx(last)
    assert s['driftrun_workers{state="idle"}'] == 2
    check_dashboard(workspace, pool, live_html, b, jobs)


def check_dashboard(workspace, pool, live_html, batch, jobs):
    """The service's / and `driftrun report --config` draw the same dashboard:
    it renders in Chromium without a console message, marks the retrain and the
    threshold on the drift chart, and lists the batch and the jobs."""
    p = workspace.run(["report", "--config", pool.config, "--out", workspace.path("dash.html"), "--json"])
    assert p.returncode == 0, must_msg(p, "driftrun report --config")
    assert json.loads(p.stdout) == {"report": workspace.path("dash.html")}
    written = open(workspace.path("dash.html")).read()
    for name, html in (("live", live_html), ("written", written)):
        path = workspace.write_config(f"dash-{name}.html", html)
        msgs, png = render(path, workspace.path(f"dash-{name}.png"))
        assert not msgs and not blank(png), (name, msgs)
        assert "Drift share per batch" in html and ">threshold 50%</text>" in html, name
        assert ">retrain 2</text>" in html and "batch-001.h5" in html, name
        for j in jobs:
            assert f'<span class="tag ok">{j["state"]}</span>' in html or j["state"] not in ("promoted",), name
    assert 'http-equiv="refresh"' in live_html and 'http-equiv="refresh"' not in written
    # The production history: one promotion per promoted job, newest first.
    promoted = sum(j["state"] == "promoted" for j in jobs)
    history = written[written.index("Production history"):written.index("Recent batches")]
    assert history.count(">promoted</span>") == promoted, history
    p = workspace.run(["report", "--config", pool.config, "--out", pool.config])
    assert p.returncode == 2 and "--out" in p.stderr, must_msg(p, "--out is the service config")


def test_a_remote_address_needs_consent_and_a_taken_port_is_named(workspace):
    pool = Pool(workspace, [dict(name="m")])
    p = workspace.run(["serve", "--config", pool.config, "--set", "service.metrics=0.0.0.0:9464"])
    assert p.returncode == 2 and "metrics_allow_remote" in p.stderr, must_msg(p, "remote metrics")
    p = workspace.run(["serve", "--config", pool.config, "--set", 'service.metrics="9464"'])
    assert p.returncode == 2 and "host:port" in p.stderr, must_msg(p, "metrics without a host")
    with socket.socket() as taken:
        # SO_REUSEPORT as another service (or cpp-httplib's default) would set it: sharing must still fail.
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = workspace.run(["serve", "--config", pool.config, "--set", f"service.metrics=127.0.0.1:{port}"])
    assert p.returncode == 5 and f"127.0.0.1:{port}" in p.stderr, must_msg(p, "a taken port")
    assert not os.path.exists(workspace.path("registry-m", "registry.db")), "nothing may run after the refusal"
    # Found by a stranger: the refused serve still recorded its --set values as the service's.
    assert not os.path.exists(workspace.path("state", "serve.json")), "a serve that never ran recorded itself"
