"""The retraining service's test harness: a workspace with data, model and
service configs and an incoming folder (Svc), and process helpers. Used by
test_service*.py and test_slurm.py."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time

from harness import model_toml, must_msg

MODEL_MORE = """[monitor]
incoming = "incoming"
min_rows = 200
[trigger]
cooldown_s = {cooldown}
[retrain]
ranks = 2
window = 3
"""

SERVICE = """
[service]
models = ["model.toml"]
state = "state"
poll_s = 0.2
"""


class Svc:
    """A service workspace: data, model and service configs, incoming folder."""

    def __init__(self, ws, data_flags=(), epochs=3, every=50, cooldown=0, executor="local"):
        self.ws = ws
        self.executor = executor
        ws.make_data(ws.path("data"), "--rows", "4000", "--batch-rows", "600", *data_flags)
        ws.write_config("model.toml", model_toml(epochs=epochs, every=every, more=MODEL_MORE.format(cooldown=cooldown)))
        self.config = ws.write_config("service.toml", SERVICE)
        os.makedirs(ws.path("incoming"), exist_ok=True)
        self.mtime = time.time() - 1000

    def drop(self, src, name=None):
        """Renames a complete copy of `src` into incoming, each newer than the last."""
        name = name or os.path.basename(src)
        tmp = self.ws.path("incoming", "." + name + ".tmp")
        shutil.copyfile(src, tmp)
        self.mtime += 1
        os.utime(tmp, (self.mtime, self.mtime))
        os.rename(tmp, self.ws.path("incoming", name))

    def command(self, args):
        cmd = [self.ws.driftrun, "serve", "--config", self.config, "--executor", self.executor] + list(args)
        return POOL_MPIRUN + cmd if self.executor == "pool" else cmd

    def serve(self, *args, env=None, timeout=300):
        full = dict(os.environ)
        full.update(env or {})
        return subprocess.run(self.command(args), cwd=self.ws.tmp, env=full, capture_output=True, text=True,
                              timeout=timeout)

    def serve_bg(self, *args, env=None, session=False):
        full = dict(os.environ)
        full.update(env or {})
        log = open(self.ws.path("serve-bg.log"), "a")
        return subprocess.Popen(self.command(args), cwd=self.ws.tmp, env=full, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=session)

    def db(self):
        c = sqlite3.connect(self.ws.path("state", "journal.db"))
        c.row_factory = sqlite3.Row
        return c

    def rows(self, sql, *params):
        with self.db() as c:
            return [dict(r) for r in c.execute(sql, params)]

    def wait(self, sql, what, proc=None, timeout=240):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if os.path.exists(self.ws.path("state", "journal.db")):
                try:
                    r = self.rows(sql)
                except sqlite3.OperationalError:  # the service is still creating the journal
                    r = None
                if r:
                    return r
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"the service exited {proc.returncode} while waiting for {what}:\n"
                                     + open(self.ws.path("serve-bg.log")).read()[-3000:])
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def versions(self):
        p = self.ws.run(["registry", "list", "--registry", self.ws.path("registry"), "--json"])
        assert p.returncode == 0, must_msg(p, "registry list")
        return json.loads(p.stdout)

    def batch(self, n):
        return self.ws.path("data", f"batch-{n:03d}.h5")


# The pool's service: a master and two workers (retrain.ranks = 2).
POOL_MPIRUN = ["mpirun", "-np", "3", "--bind-to", "none"]



def stop(proc, executor="local"):
    """Stops the service cleanly. Under mpirun that is SIGUSR1, which mpirun
    relays to every rank (SIGTERM works too, but mpirun then exits 1)."""
    proc.send_signal(signal.SIGUSR1 if executor == "pool" else signal.SIGTERM)
    return proc.wait(timeout=120)



def children(pid):
    """The pids of `pid`'s child processes (mpirun's ranks; the local service's jobs)."""
    found = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/stat") as f:
                if d.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return found


def wait_gone(pids, timeout=60):
    def alive(p):
        try:
            with open(f"/proc/{p}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    t0 = time.time()
    while any(alive(p) for p in pids):
        assert time.time() - t0 < timeout, f"processes {pids} still alive {timeout} s after their parent died"
        time.sleep(0.1)

