"""A headless Chromium driven over the DevTools protocol on a pipe, with the standard library only.

Chromium started with ``--remote-debugging-pipe`` reads protocol commands on file descriptor 3 and
writes answers and events on 4, one JSON message per NUL-terminated chunk. That is all the browser
test and the latency script need (open a page, evaluate a script and await its promise, take a
screenshot), so no driver (Selenium, Playwright) and no chromedriver matching the browser version.

    with HeadlessChromium() as browser:
        browser.open("http://127.0.0.1:8000/")
        browser.evaluate("window.demo.ready.then(() => 1)")
        png = browser.screenshot()  # PNG bytes
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserError(RuntimeError):
    """The browser could not be started, or a page or script failed in it."""


def find_chromium() -> str | None:
    """The path of a Chromium or Chrome binary ($CHROMIUM first), or None."""
    candidates = [os.environ.get("CHROMIUM", ""), *BROWSERS]
    return next((found for name in candidates if name and (found := shutil.which(name))), None)


class HeadlessChromium:
    def __init__(self, binary: str | None = None, *, width: int = 900, height: int = 1100,
                 timeout: float = 60):
        self.binary = binary or find_chromium()
        if self.binary is None:
            raise BrowserError("no Chromium found (install Debian's chromium package, or set $CHROMIUM)")
        self.size = (width, height)
        self.timeout = timeout
        self._next_id = 0
        self._buffer = b""

    def __enter__(self) -> HeadlessChromium:
        self._profile = tempfile.mkdtemp(prefix="edgedistill-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def on_fds_3_and_4() -> None:  # in the child, before exec
            read_end, write_end = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        flags = ["--headless=new", "--remote-debugging-pipe", f"--user-data-dir={self._profile}",
                 "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-extensions", "--mute-audio", f"--window-size={self.size[0]},{self.size[1]}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self._process = subprocess.Popen([self.binary, *flags, "about:blank"], pass_fds=(3, 4),
                                         preexec_fn=on_fds_3_and_4, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        try:
            target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
            attached = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})
            self._session = attached["sessionId"]
            self.command("Page.enable")
            self.command("Emulation.setDeviceMetricsOverride", {"width": self.size[0], "height": self.size[1],
                                                               "deviceScaleFactor": 1, "mobile": False})
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    @property
    def version(self) -> str:
        return self._send("Browser.getVersion")["product"]

    # ------------------------------------------------------------------ the protocol
    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method} failed in Chromium: {answer['error'].get('message')}")
                return answer.get("result", {})

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise BrowserError(f"Chromium did not answer within {self.timeout:.0f} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium exited")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def command(self, method: str, params: dict | None = None) -> dict:
        """A protocol command on the page."""
        return self._send(method, params, self._session)

    # ------------------------------------------------------------------ what callers use
    def open(self, url: str) -> None:
        """Navigate and wait until the document has loaded."""
        result = self.command("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"Chromium could not open {url}: {result['errorText']}")
        self.evaluate("new Promise(r => document.readyState === 'complete' ? r() : "
                      "addEventListener('load', () => r()))")

    def evaluate(self, expression: str):
        """The JSON value of ``expression`` in the page (a promise is awaited)."""
        result = self.command("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                   "returnByValue": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"the page's script failed: {text}")
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        """A PNG of the page, as tall as its content."""
        height = self.evaluate("Math.ceil(Math.max(...Array.from(document.body.children, "
                               "e => e.getBoundingClientRect().bottom + scrollY)) + 8)")
        self.command("Emulation.setDeviceMetricsOverride", {"width": self.size[0], "height": max(height, 200),
                                                           "deviceScaleFactor": 1, "mobile": False})
        return base64.b64decode(self.command("Page.captureScreenshot", {"format": "png"})["data"])
