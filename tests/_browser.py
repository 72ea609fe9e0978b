"""Headless Chromium driven through chromedriver's W3C WebDriver HTTP API, with urllib alone.

Why this way: Python's standard library has no websocket client (the DevTools protocol needs
one), while WebDriver is plain JSON over HTTP; chromedriver ships with Debian's chromium
(`chromium-driver`) in the same version, and gives page loads that wait, script execution
(sync and async), real pointer input (actions) and screenshots.  No selenium.

`browser_or_skip()` skips when chromium or chromedriver is missing -- except under CI=true,
where the browser is installed by `.ci/run` and a missing one is a failure.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_browser() -> tuple[str | None, str | None]:
    chromium = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    return chromium, shutil.which("chromedriver")


def browser_or_skip() -> tuple[str, str]:
    chromium, driver = find_browser()
    if chromium and driver:
        return chromium, driver
    missing = " and ".join(n for n, p in (("chromium", chromium), ("chromedriver", driver)) if not p)
    reason = f"{missing} not installed (Debian: apt install chromium chromium-driver)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; .ci/run installs them, so under CI this is a failure")
    pytest.skip(reason)


class WebDriverError(RuntimeError):
    pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except OSError:  # the pipe was closed when the driver stopped
        pass


class Chromium:
    """One headless Chromium session.  Use as a context manager; `quit()` ends both processes."""

    def __init__(self, chromium: str, driver: str, width: int = 1200, height: int = 900, timeout: float = 60.0):
        self.timeout = timeout
        self.proc = subprocess.Popen([driver, "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self._port()}"
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--hide-scrollbars", f"--window-size={width},{height}",
                "--allow-file-access-from-files"]  # a file:// page may read its file:// video's pixels (canvas)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "pageLoadStrategy": "normal",
                                                 "goog:chromeOptions": {"binary": chromium, "args": args}}}}
        try:
            self.session = self._call("POST", "/session", caps)["sessionId"]
        except BaseException:
            self._stop_driver()
            raise
        self._call("POST", f"/session/{self.session}/timeouts", {"script": int(timeout * 1000)})

    def _port(self) -> int:
        """The port chromedriver says it listens on.  Raw reads: a buffered readline could hold the line that
        names the port while select() waits for more bytes."""
        deadline = time.monotonic() + self.timeout
        fd = self.proc.stdout.fileno()
        seen = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                chunk = os.read(fd, 4096)
                seen += chunk
                found = re.search(rb"started successfully on port (\d+)", seen)
                if found:  # from now on its output is read and dropped, so a full pipe never blocks it
                    threading.Thread(target=_drain, args=(fd,), daemon=True).start()
                    return int(found[1])
                if not chunk:  # end of output: the driver exited
                    break
        self._stop_driver()
        raise WebDriverError(f"chromedriver did not start (exit code {self.proc.returncode}): {seen.decode()!r}")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout + 10) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            value = json.loads(e.read() or b"{}").get("value", {})
            raise WebDriverError(f"{method} {path}: {value.get('error')}: {value.get('message', '')[:500]}") from None

    def _s(self, path: str) -> str:
        return f"/session/{self.session}{path}"

    def open(self, path: Path) -> None:
        self._call("POST", self._s("/url"), {"url": Path(path).resolve().as_uri()})

    def run(self, script: str, *args: Any) -> Any:
        """Run `script` (a function body: `return ...`) with `arguments`."""
        return self._call("POST", self._s("/execute/sync"), {"script": script, "args": list(args)})

    def run_async(self, script: str, *args: Any) -> Any:
        """Run `script`; it calls `arguments[arguments.length - 1](value)` when done."""
        return self._call("POST", self._s("/execute/async"), {"script": script, "args": list(args)})

    def element(self, css: str) -> dict[str, str]:
        return self._call("POST", self._s("/element"), {"using": "css selector", "value": css})

    def pointer(self, css: str, dx: float, dy: float, click: bool = False) -> None:
        """Move the mouse to (dx, dy) pixels from the centre of the element `css` (and click there)."""
        steps: list[dict[str, Any]] = [{"type": "pointerMove", "duration": 0, "x": round(dx), "y": round(dy),
                                        "origin": self.element(css)}]
        if click:
            steps += [{"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]
        self._call("POST", self._s("/actions"), {"actions": [
            {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": steps}]})

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self._call("GET", self._s("/screenshot"))))
        return path

    def _stop_driver(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def quit(self) -> None:
        try:
            self._call("DELETE", self._s(""))
        except (WebDriverError, OSError):
            pass
        finally:
            self._stop_driver()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.quit()
