"""A headless Chromium driven over the Chrome DevTools Protocol, with no dependency.

Used to check that generated HTML really renders (no console errors, every image decoded)
and to take screenshots of web pages (the HTML report, the MLflow UI)::

    python -m facial_anomaly.browser file:///abs/path/report.html out.png --full-page
    python -m facial_anomaly.browser http://127.0.0.1:5000/#/compare-runs?... out.png --wait-for table

Chromium is started with ``--remote-debugging-pipe``: DevTools messages (JSON, each ended
by a NUL byte) travel over the child's file descriptors 3 (commands in) and 4 (replies
and events out) — no port, no websocket library, nothing listening on the network. The
executable is ``$FACIAL_ANOMALY_CHROMIUM``, else ``chromium`` / ``chromium-browser`` /
``google-chrome`` on the PATH (Debian: ``apt-get install chromium``). Protocol reference:
https://chromedevtools.github.io/devtools-protocol/ (text only; nothing is fetched).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_ENV = "FACIAL_ANOMALY_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Headless, no sandbox (containers run as root), nothing that phones home or updates itself.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)
# Child file descriptors of the DevTools pipe (fixed by Chromium).
_CHILD_READS_FD, _CHILD_WRITES_FD = 3, 4


class BrowserUnavailable(RuntimeError):
    """No Chromium executable was found."""


class BrowserError(RuntimeError):
    """Chromium failed, answered a command with an error, or did not answer in time."""


def find_chromium(explicit: str | None = None) -> str | None:
    """Path of a Chromium executable: ``explicit``, ``$FACIAL_ANOMALY_CHROMIUM``, then the
    usual names on the PATH; None when there is none."""
    for candidate in (explicit, os.environ.get(CHROMIUM_ENV)):
        if candidate:  # a name on the PATH or a path to an executable file
            return shutil.which(candidate)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageLog:
    """What a page reported while it was open."""

    console_errors: list[str] = field(default_factory=list)  # console.error / console.assert calls
    exceptions: list[str] = field(default_factory=list)  # uncaught JavaScript exceptions
    log_errors: list[str] = field(default_factory=list)  # browser errors: failed loads, CSP violations

    @property
    def errors(self) -> list[str]:
        """Every error of the three kinds, in that order."""
        return [*self.console_errors, *self.exceptions, *self.log_errors]


def _remote_text(value: dict) -> str:
    """A readable rendering of a DevTools ``RemoteObject``."""
    if "value" in value:
        return str(value["value"])
    return str(value.get("description") or value.get("type", "?"))


class HeadlessChromium:
    """One headless Chromium process; use as a context manager.

    Args:
        executable: the browser binary; None = :func:`find_chromium`.
        timeout_s: the longest wait for any answer or page load, seconds.
        window_px: (width, height) of new pages' viewport, CSS pixels.

    Raises:
        BrowserUnavailable: no executable found.
    """

    def __init__(self, executable: str | None = None, *, timeout_s: float = 60.0, window_px=(1280, 900)):
        path = find_chromium(executable)
        if path is None:
            raise BrowserUnavailable(
                f"no Chromium found (set ${CHROMIUM_ENV}, or install it: apt-get install chromium)"
            )
        self.executable, self.timeout_s, self.window_px = path, float(timeout_s), tuple(window_px)
        self._profile = tempfile.TemporaryDirectory(prefix="facial_anomaly_chromium_")
        # Chromium's stderr, read back only to explain a crash.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._pid: int | None = None
        self._exit_status: int | None = None
        command = [
            path,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={self._profile.name}",
            f"--window-size={self.window_px[0]},{self.window_px[1]}",
            "about:blank",
        ]
        to_child_read, self._to_child = os.pipe()
        self._from_child, from_child_write = os.pipe()
        # Copies at fd ≥ 10 so that placing them on 3 and 4 cannot overwrite one another.
        # posix_spawn rather than subprocess's preexec_fn: it is safe when threads run.
        high_read = fcntl.fcntl(to_child_read, fcntl.F_DUPFD_CLOEXEC, 10)
        high_write = fcntl.fcntl(from_child_write, fcntl.F_DUPFD_CLOEXEC, 10)
        try:
            self._pid = os.posix_spawn(
                path,
                command,
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_DUP2, self._stderr.fileno(), 2),
                    (os.POSIX_SPAWN_DUP2, high_read, _CHILD_READS_FD),
                    (os.POSIX_SPAWN_DUP2, high_write, _CHILD_WRITES_FD),
                ],
                setpgroup=0,  # its own process group: renderers and helpers end with it
            )
        except OSError as error:
            self.close()
            raise BrowserError(f"cannot start {path}: {error}") from None
        finally:
            for fd in (to_child_read, from_child_write, high_read, high_write):
                os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []
        try:
            self.version = self.command("Browser.getVersion")["product"]
        except Exception:
            self.close()
            raise

    # ------------------------------------------------------------------ protocol

    def _running(self) -> bool:
        """Whether the browser process still runs; reaps it (and keeps its exit code) once ended."""
        if self._pid is None:
            return False
        pid, status = os.waitpid(self._pid, os.WNOHANG)
        if pid == 0:
            return True
        self._pid, self._exit_status = None, os.waitstatus_to_exitcode(status)
        return False

    def _exited(self) -> str:
        """Why the pipe closed: the exit code (waiting up to 2 s for it) and the end of stderr."""
        deadline = time.monotonic() + 2.0
        while self._running() and time.monotonic() < deadline:
            time.sleep(0.02)
        return f"Chromium exited (code {self._exit_status}): {self._stderr_tail()}"

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"Chromium did not answer within {self.timeout_s:.0f} s")
            readable, _, _ = select.select([self._from_child], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise BrowserError(self._exited())
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def command(self, method: str, params: dict | None = None, *, session: str | None = None) -> dict:
        """Send one DevTools command and return its ``result``; events that arrive meanwhile
        are queued for :meth:`wait_event`.

        Raises:
            BrowserError: an error answer, a timeout or a dead browser.
        """
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        try:
            os.write(self._to_child, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise BrowserError(self._exited()) from None
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method} failed: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_event(self, method: str, *, session: str | None = None, timeout_s: float | None = None) -> dict:
        """The ``params`` of the next ``method`` event (of ``session``), waiting for it."""
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        while True:
            for index, event in enumerate(self._events):
                if event["method"] == method and event.get("sessionId") == session:
                    del self._events[index]
                    return event.get("params", {})
            self._events.append(self._read_message(deadline))

    def take_events(self, session: str | None = None) -> list[dict]:
        """Every queued event of ``session``, removed from the queue (reads what is pending)."""
        while True:
            readable, _, _ = select.select([self._from_child], [], [], 0)
            if not readable and b"\0" not in self._buffer:
                break
            self._events.append(self._read_message(time.monotonic() + self.timeout_s))
        taken = [event for event in self._events if event.get("sessionId") == session]
        self._events = [event for event in self._events if event.get("sessionId") != session]
        return taken

    # ------------------------------------------------------------------- pages

    def open(self, url: str, *, wait_for_selector: str | None = None, settle_s: float = 0.0) -> Page:
        """A new tab showing ``url``, returned after its ``load`` event (and, when given, once
        ``wait_for_selector`` matches an element and ``settle_s`` more seconds passed).

        Raises:
            BrowserError: navigation failed (e.g. file not found) or a wait timed out.
        """
        target = self.command("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.command("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, target, session)
        for domain in ("Page", "Runtime", "Log"):
            self.command(f"{domain}.enable", session=session)
        width, height = self.window_px
        self.command(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        navigation = self.command("Page.navigate", {"url": url}, session=session)
        if navigation.get("errorText"):
            raise BrowserError(f"cannot open {url}: {navigation['errorText']}")
        self.wait_event("Page.loadEventFired", session=session)
        if wait_for_selector is not None:
            page.wait_for(wait_for_selector)
        if settle_s > 0:
            time.sleep(settle_s)
        page.collect()
        return page

    def close(self) -> None:
        """End the browser (politely, then by force) and remove its profile folder."""
        if self._running():
            with contextlib.suppress(OSError):
                os.write(self._to_child, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            deadline = time.monotonic() + 10.0
            while self._running() and time.monotonic() < deadline:
                time.sleep(0.05)
            if self._pid is not None:  # did not close itself: end its process group, then reap it
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
                self._pid = None
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._stderr.close()
        self._profile.cleanup()

    def __enter__(self) -> HeadlessChromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Page:
    """One tab of a :class:`HeadlessChromium`; :attr:`log` collects its errors."""

    def __init__(self, browser: HeadlessChromium, target_id: str, session: str):
        self.browser, self.target_id, self.session = browser, target_id, session
        self.log = PageLog()

    def collect(self) -> PageLog:
        """Move pending console messages, exceptions and browser log entries into :attr:`log`."""
        for event in self.browser.take_events(self.session):
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                self.log.console_errors.append(" ".join(_remote_text(arg) for arg in params.get("args", [])))
            elif event["method"] == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                thrown = details.get("exception", {})
                self.log.exceptions.append(str(thrown.get("description") or details.get("text", "exception")))
            elif event["method"] == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                self.log.log_errors.append(f"{entry.get('text', '')} {entry.get('url', '')}".strip())
        return self.log

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (promises are awaited).

        Raises:
            BrowserError: the expression threw.
        """
        result = self.browser.command(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=self.session,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{expression!r} threw: {details.get('exception', {}).get('description', details)}")
        return result.get("result", {}).get("value")

    def wait_for(self, selector: str, *, timeout_s: float | None = None, poll_s: float = 0.1) -> None:
        """Wait until ``document.querySelector(selector)`` finds an element."""
        deadline = time.monotonic() + (self.browser.timeout_s if timeout_s is None else timeout_s)
        probe = f"document.querySelector({json.dumps(selector)}) !== null"
        while not self.evaluate(probe):
            if time.monotonic() > deadline:
                raise BrowserError(f"no element matches {selector!r} after {self.browser.timeout_s:.0f} s")
            time.sleep(poll_s)

    def screenshot(self, path: str | os.PathLike, *, full_page: bool = False) -> Path:
        """Write a PNG of the viewport (or of the whole page) to ``path``; returns the path."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.browser.command("Page.getLayoutMetrics", session=self.session)["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.browser.command("Page.captureScreenshot", params, session=self.session)["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    def image_status(self) -> dict[str, int]:
        """``{"total": n, "decoded": k}``: images in the document and those that decode to a
        picture. Lazily loaded images (``loading="lazy"``, off screen) are switched to eager
        loading first and awaited, so every image is checked, not only the visible ones."""
        status = self.evaluate(
            "(async () => { const images = Array.from(document.images);"
            " images.forEach(i => { i.loading = 'eager'; });"
            " const ok = await Promise.all(images.map(i => i.decode().then(() => i.naturalWidth > 0, () => false)));"
            " return {total: images.length, decoded: ok.filter(Boolean).length}; })()"
        )
        self.collect()
        return status


def screenshot(
    url: str,
    out_png: str | os.PathLike,
    *,
    width: int = 1280,
    height: int = 900,
    full_page: bool = False,
    wait_for_selector: str | None = None,
    settle_s: float = 0.0,
    executable: str | None = None,
) -> PageLog:
    """Open ``url`` in a fresh headless Chromium and save a screenshot; returns the page's errors."""
    with HeadlessChromium(executable, window_px=(width, height)) as browser:
        page = browser.open(url, wait_for_selector=wait_for_selector, settle_s=settle_s)
        page.screenshot(out_png, full_page=full_page)
        return page.collect()


def main(argv: list[str] | None = None) -> int:
    """``python -m facial_anomaly.browser URL OUT.png [--width W --height H --full-page
    --wait-for SELECTOR --settle SECONDS]``; prints the page's errors, exit code 1 if any."""
    parser = argparse.ArgumentParser(description="Screenshot a web page with headless Chromium.")
    parser.add_argument("url", help="http(s):// or file:// URL (a plain path is turned into a file URL)")
    parser.add_argument("out", help="PNG file to write")
    parser.add_argument("--width", type=int, default=1280, help="viewport width, CSS pixels")
    parser.add_argument("--height", type=int, default=900, help="viewport height, CSS pixels")
    parser.add_argument("--full-page", action="store_true", help="capture the whole page, not only the viewport")
    parser.add_argument("--wait-for", default=None, help="CSS selector to wait for before the screenshot")
    parser.add_argument("--settle", type=float, default=0.0, help="extra seconds to wait after loading")
    args = parser.parse_args(argv)
    url = args.url if "://" in args.url else Path(args.url).resolve().as_uri()
    log = screenshot(
        url,
        args.out,
        width=args.width,
        height=args.height,
        full_page=args.full_page,
        wait_for_selector=args.wait_for,
        settle_s=args.settle,
    )
    for error in log.errors:
        print(f"page error: {error}")
    print(f"wrote {args.out}")
    return 1 if log.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
