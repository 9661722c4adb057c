"""The HTML reports as people see them (issue 16). Each report is rendered in a
real headless Chromium: it must load without a console message (no script
error, nothing fetched) and its screenshot must not be blank. Then what it
says: the drift report names both files and their rows, states the decision
and its rule, lists every feature sorted by drift with numbers to 3
significant digits; the run report (written by every `driftrun train`, and by
`driftrun report --run`) draws the loss curves and says how the run ended."""
import html as htmllib
import json
import os
import re

import h5py
import numpy as np
import pytest

from browser import blank, render
from harness import must_msg, read_jsonl

CONFIG = """
name = "rep"
[data]
train = "{train}"
[model]
hidden = [16]
[train]
epochs = 3
batch_size = 64
[checkpoint]
every_steps = 20
[preprocess]
clip_sigma = 2.0
"""


class Setup:
    def __init__(self, ws):
        self.ws = ws
        ws.make_data(ws.path("d"), "--rows", "3000", "--features", "6", "--batches", "2", "--batch-rows", "800",
                     "--drift", "mean", "--drift-from", "2")
        self.train_h5 = ws.path("d/train.h5")
        self.cfg = ws.write_config("rep.toml", CONFIG.format(train=self.train_h5))
        p = ws.run(["profile", "--in", self.train_h5, "--out", ws.path("ref.profile.h5")])
        assert p.returncode == 0, must_msg(p, "profile")

    def trained(self, ranks=2):
        def run():
            d = self.ws.path("run")
            p = self.ws.run(["train", "--config", self.cfg, "--run-dir", d, "--noprogress"], ranks=ranks)
            assert p.returncode == 0, must_msg(p, "training")
            return d, p
        return self.ws.once("trained", run)


@pytest.fixture(scope="module")
def s(module_workspace):
    return Setup(module_workspace)


def visible_text(html):
    html = re.sub(r"<(style|title)>.*?</\1>", " ", html, flags=re.S)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", html))


def test_the_browser_check_sees_errors_and_blank_pages(s):
    """The check itself can fail: a script error and a fetch are console
    messages, an empty page is blank."""
    bad = s.ws.write_config("bad.html", '<!doctype html><html><body><h1>x</h1><img src="http://example.com/a.png">'
                                        "<script>nosuchfn()</script></body></html>")
    msgs, _ = render(bad, s.ws.path("bad.png"))
    assert any("nosuchfn" in m for m in msgs), msgs
    empty = s.ws.write_config("empty.html", "<!doctype html><html><body></body></html>")
    msgs, png = render(empty, s.ws.path("empty.png"))
    assert not msgs and blank(png)


@pytest.mark.parametrize("current", ("batch-001.h5", "batch-002.h5"))
def test_drift_report_in_a_browser(s, current):
    html_path = s.ws.path(f"drift-{current}.html")
    cur = s.ws.path("d", current)
    p = s.ws.run(["drift", "--reference", s.ws.path("ref.profile.h5"), "--current", cur, "--html", html_path,
                  "--json"])
    assert p.returncode == 0, must_msg(p, "drift --html --json")
    report = json.loads(p.stdout)
    msgs, png = render(html_path, s.ws.path(f"drift-{current}.png"))
    assert not msgs, f"console messages: {msgs}"
    assert not blank(png), "the drift report's screenshot is not blank"
    html = open(html_path).read()
    text = visible_text(html)
    assert "ref.profile.h5" in text and current in text, "both files named"
    assert f"{report['reference']['rows']} rows" in text and f"{report['current']['rows']} rows" in text
    decision = "Dataset drift detected" if report["dataset_drift"] else "No dataset drift"
    assert decision in text and "Wasserstein" in text, "the decision and its rule"
    # Every feature in the summary, sorted: drifted first, then by score.
    rows = [htmllib.unescape(n) for n in re.findall(r'<tr(?: class="drift")?><td><a href="#f-[^"]+">([^<]+)</a>', html)]
    want = [f["name"] for f in sorted(report["features"], key=lambda f: (not f["drifted"], -f["score"]))]
    assert rows == want, f"summary order {rows} vs {want}"
    # 3 significant digits in every decimal number a person reads.
    def significant(num):
        return len(num.split("e")[0].replace("-", "").replace(".", "").lstrip("0"))
    decimals = re.findall(r"\d+\.\d+(?:e[+-]?\d+)?", text)
    assert decimals and all(significant(n) <= 3 for n in decimals), [n for n in decimals if significant(n) > 3]
    if any(f["ks_pvalue"] < 1e-4 for f in report["features"]):
        assert "< 1e-4" in text
    # One histogram per feature, with both axes labelled.
    assert html.count("share of rows per bin</title>") == len(report["features"])
    assert html.count(">feature value (bins cut at the reference deciles)</text>") == len(report["features"])


def test_train_writes_a_run_report_that_renders(s):
    d, p = s.trained()
    assert f"report {d}/report.html" in p.stdout, p.stdout[-500:]
    msgs, png = render(f"{d}/report.html", s.ws.path("run.png"))
    assert not msgs, f"console messages: {msgs}"
    assert not blank(png)
    html = open(f"{d}/report.html").read()
    summary = json.load(open(f"{d}/summary.json"))
    metrics = read_jsonl(f"{d}/metrics.jsonl")
    assert "Loss per epoch" in html and "Validation rmse" in html and "Throughput" in html
    loss_chart = html[html.index("Loss per epoch"):html.index("</svg>", html.index("Loss per epoch"))]
    assert loss_chart.count("<path") == 2 and loss_chart.count("<circle") == 2 * len(metrics), \
        "train and validation loss, one point per epoch"
    text = visible_text(html)
    assert "done" in text and f"{summary['steps']} steps" in text
    assert "train.h5" in text and "config hash" in text and "[train]" in text, "lineage and the resolved config"
    # Imputed and clipped counts, checked with numpy: every row is read once
    # (held in memory), a missing value is NaN or +-Inf, a clipped one is
    # outside [lo, hi] after the fitted shift and scale.
    with h5py.File(s.train_h5) as f:
        x = f["features"][()]
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["feature_names"]]
    with h5py.File(summary["checkpoint"][:-5] + ".h5") as f:
        shift, scale, lo, hi = (f[f"preprocess/{k}"][()] for k in ("shift", "scale", "lo", "hi"))
    finite = np.isfinite(x)
    z = (x - shift) * scale
    want_imputed = {n: int(c) for n, c in zip(names, (~finite).sum(0)) if c}
    want_clipped = {n: int(c) for n, c in zip(names, (finite & ((z < lo) | (z > hi))).sum(0)) if c}
    pre = summary["preprocess"]
    assert pre["rows"] == len(x) and want_imputed and want_clipped, (pre, want_imputed, want_clipped)
    assert pre["imputed"] == want_imputed and pre["clipped"] == want_clipped, (pre, want_imputed, want_clipped)
    assert f">{want_imputed[names[0]]}</td>" in html or names[0] not in want_imputed


def test_report_command_rebuilds_it_and_refuses_misuse(s):
    d, _ = s.trained()
    out = s.ws.path("again.html")
    p = s.ws.run(["report", "--run", d, "--out", out, "--json"])
    assert p.returncode == 0, must_msg(p, "driftrun report --run")
    assert json.loads(p.stdout) == {"report": out}
    assert open(out).read() == open(f"{d}/report.html").read(), "the report is a function of the run folder"
    events = open(f"{d}/events.jsonl").read()
    p = s.ws.run(["report", "--run", d, "--out", f"{d}/events.jsonl"])
    assert p.returncode == 2 and "--out" in p.stderr, must_msg(p, "--out is the run's own events file")
    assert open(f"{d}/events.jsonl").read() == events, "events.jsonl untouched"
    # Never over a file that is not a report (a checkpoint, the data, a page of the user's), nor into a
    # missing folder.
    ckpt = sorted(os.listdir(f"{d}/checkpoints"))[-1]
    mine = s.ws.path("notes.html")
    with open(mine, "w") as f:
        f.write("<!DOCTYPE html><html><body>my notes</body></html>\n")
    for target in (f"{d}/checkpoints/{ckpt}", s.train_h5, f"{d}/model.onnx", mine):
        before = open(target, "rb").read()
        p = s.ws.run(["report", "--run", d, "--out", target])
        assert p.returncode == 2 and "not a driftrun run report" in p.stderr, must_msg(p, f"--out {target}")
        assert open(target, "rb").read() == before, f"{target} untouched"
    p = s.ws.run(["drift", "--reference", s.train_h5, "--current", s.ws.path("d/batch-001.h5"), "--html",
                  f"{d}/model.onnx"])
    assert p.returncode == 2 and "not a driftrun drift report" in p.stderr, must_msg(p, "drift --html over model.onnx")
    # Found by a stranger: one kind of report replaced another (a drift report over the run report).
    before = open(out).read()
    p = s.ws.run(["drift", "--reference", s.train_h5, "--current", s.ws.path("d/batch-001.h5"), "--html", out])
    assert p.returncode == 2 and "not a driftrun drift report" in p.stderr, must_msg(p, "drift --html over a run report")
    assert open(out).read() == before, "the run report untouched"
    drift_html = s.ws.path("drift-again.html")
    for _ in range(2):  # an earlier drift report is replaced
        p = s.ws.run(["drift", "--reference", s.train_h5, "--current", s.ws.path("d/batch-001.h5"), "--html",
                      drift_html])
        assert p.returncode in (0, 1), must_msg(p, "drift --html over an earlier drift report")
    p = s.ws.run(["report", "--run", d, "--out", s.ws.path("no/such/dir/r.html")])
    assert p.returncode == 2 and "does not exist" in p.stderr, must_msg(p, "--out into a missing folder")
    for bad in (s.ws.path("nope"), s.ws.path("d")):
        p = s.ws.run(["report", "--run", bad])
        assert p.returncode == 2 and bad in p.stderr, must_msg(p, f"report --run {bad}")
    assert not os.path.exists(s.ws.path("d/report.html"))


def test_a_stopped_run_has_a_report_that_says_so(s):
    d = s.ws.path("stopped")
    p = s.ws.run(["train", "--config", s.cfg, "--run-dir", d, "--quiet"],
                 env={"DRIFTRUN_FAULT_SIGNAL_AT_STEP": "50"})
    assert p.returncode == 0, must_msg(p, "stopped run")
    html = open(f"{d}/report.html").read()
    assert "stopped" in visible_text(html) and "at step 51" in visible_text(html)
    msgs, png = render(f"{d}/report.html", s.ws.path("stopped.png"))
    assert not msgs and not blank(png)


def test_a_failed_run_has_a_report_with_its_reason(s):
    """A run whose loss turns non-finite exits 4 and still writes report.html
    (the failure and the step it happened at), on 2 ranks."""
    d = s.ws.path("failed")
    p = s.ws.run(["train", "--config", s.cfg, "--run-dir", d, "--quiet", "--set", "train.lr=1e12",
                  "--set", 'train.optimizer="sgd"'], ranks=2)
    assert p.returncode == 4, must_msg(p, "a run with a non-finite loss")
    assert os.path.exists(f"{d}/report.html"), "a failed run writes its report"
    text = visible_text(open(f"{d}/report.html").read())
    # The message, the error event and the report name the same step.
    step = re.search(r"loss is (?:NaN|Inf) at step (\d+)", p.stderr)
    assert step, p.stderr
    errors = [e for e in read_jsonl(f"{d}/events.jsonl") if e.get("event") == "error"]
    assert [e["step"] for e in errors] == [int(step.group(1))], (errors, p.stderr)
    assert f"failed: non-finite loss at step {step.group(1)}" in text, text[:2000]
    msgs, png = render(f"{d}/report.html", s.ws.path("failed.png"))
    assert not msgs and not blank(png)
