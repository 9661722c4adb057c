"""Renders an HTML file in a real headless Chromium (Debian's `chromium`) and
says what a person would see: the console messages the page produced (errors,
failed loads, script output) and whether the screenshot shows anything.

    msgs, png = render("report.html", "shot.png", width=1200, height=1600)
    assert not msgs and not blank(png)
"""
import os
import re
import shutil
import subprocess

from PIL import Image

CONSOLE = re.compile(r":CONSOLE[:(]")


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def render(html, png, width=1200, height=1600, timeout=90):
    """(console lines, png path). Raises when the browser fails or writes no
    screenshot. Network access is off: a page that fetches anything logs a
    failed load."""
    exe = chromium()
    if exe is None:
        raise RuntimeError("no chromium on PATH: scripts/setup.sh installs Debian's chromium")
    profile = png + ".profile"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9",
           "--hide-scrollbars", f"--window-size={width},{height}", f"--screenshot={png}",
           "file://" + os.path.abspath(html)]
    if os.path.exists(png):
        os.remove(png)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    shutil.rmtree(profile, ignore_errors=True)
    if not os.path.exists(png):
        raise RuntimeError(f"chromium wrote no screenshot (exit {p.returncode}):\n{p.stderr[-2000:]}")
    return [line for line in p.stderr.splitlines() if CONSOLE.search(line)], png


def blank(png, min_share=0.02):
    """Whether the screenshot is (nearly) one colour: fewer than `min_share` of
    its pixels differ from the most common one."""
    img = Image.open(png).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 24)
    top = max(c for c, _ in colours)
    return 1 - top / (img.width * img.height) < min_share
