"""Drive the system's headless Chromium over the DevTools protocol, with no extra dependency.

Why a pipe and not a websocket: ``--remote-debugging-pipe`` makes Chromium read protocol commands from file
descriptor 3 and write its answers to descriptor 4, one JSON message per NUL-terminated chunk (Playwright and
Puppeteer launch it the same way). That needs no websocket library, no free port and no polling for the
browser to come up, and nothing else on the machine can reach the browser.

Why Chromium from the system and not a downloaded one: the tests must use the browser a user has, with its own
``EventSource``, and CI installs Debian's ``chromium``. Where none is installed the browser tests skip, and
:data:`SKIP_REASON` says how to get one.

Only what the tests need is here: open pages, evaluate JavaScript, wait for a condition, put files into a file
input or drop them on an element the way a user's drag would, and take screenshots.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["SKIP_REASON", "Browser", "CdpError", "Page", "find_chromium"]

BASH = shutil.which("bash") or "/bin/bash"  # dash cannot redirect descriptors above 9
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SKIP_REASON = (
    "no headless Chromium found (looked for $CHROMIUM, /usr/bin/chromium and chromium on PATH); install it "
    "with `apt-get install chromium` (Debian/Ubuntu) or point $CHROMIUM at a Chrome/Chromium binary"
)

FLAGS = (
    "--headless",
    "--no-sandbox",  # CI containers run as root, where the sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers give /dev/shm 64 MB; Chromium would crash on big pages
    "--no-first-run",
    "--no-default-browser-check",
    "--no-proxy-server",  # the tests talk to 127.0.0.1 only; an http_proxy in the environment must not matter
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--disable-features=Translate,MediaRouter,OptimizationHints,InterestFeedContentSuggestions",
    # a page the tests drive is never in front: its timers and network must not be throttled
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--password-store=basic",
    "--use-mock-keychain",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)


class CdpError(RuntimeError):
    """A DevTools command failed, or JavaScript evaluated in a page threw."""


def find_chromium() -> str | None:
    """``$CHROMIUM`` if set, else the first Chromium-like browser on ``PATH`` (Debian: /usr/bin/chromium)."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


class Browser:
    """One headless Chromium process; pages are its tabs, each reached through its own flat session.

    Messages are read by a background thread and matched to waiting commands by id; events go to the
    listeners of their session (a :class:`Page` collects console output and errors that way).
    """

    def __init__(self, executable: str, *, width: int = 1280, height: int = 860) -> None:
        self.executable = executable
        self.width, self.height = width, height
        self.profile = Path(tempfile.mkdtemp(prefix="pagewise-chromium-"))
        # writing has its own lock: a writer blocked on a full pipe must not stop the reader storing replies
        self._write_lock = threading.Lock()
        self._changed = threading.Condition()
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._listeners: dict[str, list[Callable[[str, dict[str, Any]], None]]] = {}
        self._closed = False
        # our end writes commands into Chromium's fd 3; Chromium writes replies into its fd 4
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # Chromium expects the pipe on fds 3 and 4 exactly; bash moves the child's ends there just before
        # exec (no preexec_fn, which is unsafe with threads). Lifted above 9 first so they cannot be 3 or 4.
        r, w = _lift(to_browser_read), _lift(from_browser_write)
        self._log = (self.profile / "chromium.log").open("wb")
        self.proc = subprocess.Popen(
            [
                BASH,
                "-c",
                f'exec "$@" 3<&{r} 4>&{w} {r}<&- {w}>&-',
                "bash",
                executable,
                *FLAGS,
                f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            pass_fds=(r, w),
            # its own process group, so closing it also ends the renderer and helper processes it started
            start_new_session=True,
        )
        os.close(r)
        os.close(w)
        self._reader = threading.Thread(target=self._read_loop, name="chromium-cdp", daemon=True)
        self._reader.start()
        try:
            self.version = str(self.send("Browser.getVersion", timeout=30)["product"])
        except Exception as exc:
            log = self.log_text()
            self.close()
            raise CdpError(f"{executable} did not come up: {exc}\n{log[-2000:]}") from exc

    # -- protocol plumbing ------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                if raw:
                    self._dispatch(json.loads(raw))
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            with self._changed:
                self._replies[int(message["id"])] = message
                self._changed.notify_all()
            return
        session = str(message.get("sessionId", ""))
        for listener in list(self._listeners.get(session, ())):
            listener(str(message.get("method", "")), dict(message.get("params", {})))

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send one command and wait for its answer; raises :class:`CdpError` if Chromium reports an error."""
        with self._changed:
            self._next_id += 1
            command_id = self._next_id
        message: dict[str, Any] = {"id": command_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        with self._write_lock:
            view = memoryview(data)
            while view:
                written = os.write(self._to_browser, view)
                view = view[written:]
        deadline = time.monotonic() + timeout
        with self._changed:
            while command_id not in self._replies:
                remaining = deadline - time.monotonic()
                if self._closed:
                    raise CdpError(f"{method}: the browser went away")
                if remaining <= 0:
                    raise CdpError(f"{method}: no answer after {timeout}s")
                self._changed.wait(remaining)
            reply = self._replies.pop(command_id)
        if "error" in reply:
            raise CdpError(
                f"{method}: {reply['error'].get('message')} {reply['error'].get('data', '')}".strip()
            )
        return dict(reply.get("result", {}))

    def listen(self, session: str, listener: Callable[[str, dict[str, Any]], None]) -> None:
        self._listeners.setdefault(session, []).append(listener)

    # -- pages --------------------------------------------------------------------------------------------

    def new_page(self) -> Page:
        """A fresh tab with its own session (console and errors collected from the start)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, target, session)

    def close(self) -> None:
        """Close politely, then make sure: the browser's process group is gone and its profile removed."""
        with contextlib.suppress(Exception):
            if self.proc.poll() is None and not self._closed:
                self.send("Browser.close", timeout=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        else:
            # the browser itself exited; helpers it left in its group (if any) go too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return (self.profile / "chromium.log").read_text(errors="replace")
        return ""


def _lift(fd: int) -> int:
    """The same pipe end on a descriptor number of at least 10 (the original is closed)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Page:
    """One tab. Console output and errors are collected so a test can assert there were none and a failing
    test can show them."""

    def __init__(self, browser: Browser, target_id: str, session: str) -> None:
        self.browser = browser
        self.target_id = target_id
        self.session = session
        self.console: list[str] = []
        self.errors: list[str] = []  # uncaught exceptions and errors the page's own code logged
        self.network_errors: list[str] = []
        browser.listen(session, self._on_event)
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": browser.width, "height": browser.height, "deviceScaleFactor": 1, "mobile": False},
        )

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append(f"console.{params.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(str(details.get("exception", {}).get("description") or details.get("text")))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                line = f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip()
                # failed requests are expected where a test provokes them (a refused upload, a gateway down)
                (self.network_errors if entry.get("source") == "network" else self.errors).append(line)

    def send(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def goto(self, url: str, timeout: float = 30.0) -> None:
        """Navigate and wait until that document has loaded (its deferred scripts ran)."""
        result = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if result.get("errorText"):
            raise CdpError(f"navigating to {url}: {result['errorText']}")
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'", timeout)

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The JSON value of ``expression`` (awaited if it is a promise); page exceptions become CdpError."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True, "userGesture": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise CdpError(str(details.get("exception", {}).get("description") or details.get("text")))
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 30.0, interval: float = 0.05) -> Any:
        """Poll ``expression`` until truthy and return its value; on timeout, tell what the page logged."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(CdpError):  # a navigation in flight destroys the context for a moment
                value = self.evaluate(expression)
                if value:
                    return value
            time.sleep(interval)
        raise TimeoutError(
            f"still falsy after {timeout}s: {expression}\nlast value: {value!r}\n{self.diagnostics()}"
        )

    def diagnostics(self) -> str:
        """What the page logged, for assertion messages."""
        return (
            f"page errors: {self.errors}\nnetwork errors: {self.network_errors[-10:]}\n"
            f"console: {self.console[-20:]}"
        )

    def _node(self, selector: str) -> int:
        root = self.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = int(self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"])
        if not node:
            raise CdpError(f"no element matches {selector!r}")
        return node

    def set_input_files(self, selector: str, paths: list[Path]) -> None:
        """What choosing files in the file dialog does: the input gets the files and fires ``change``."""
        self.send(
            "DOM.setFileInputFiles",
            {"nodeId": self._node(selector), "files": [str(p.resolve()) for p in paths]},
        )

    def drop_files(self, selector: str, paths: list[Path]) -> None:
        """Drag files from outside the browser onto the element's centre and drop them, as a user would."""
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        data = {"items": [], "files": [str(p.resolve()) for p in paths], "dragOperationsMask": 1}
        for kind in ("dragEnter", "dragOver", "drop"):
            self.send("Input.dispatchDragEvent", {"type": kind, "x": box["x"], "y": box["y"], "data": data})

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page, not just the viewport, once CSS transitions (a bar growing) have ended."""
        with contextlib.suppress(TimeoutError):
            self.wait_for("document.getAnimations().every((a) => !(a instanceof CSSTransition))", 3)
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.send(
            "Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True}
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        with contextlib.suppress(CdpError):
            self.browser.send("Target.closeTarget", {"targetId": self.target_id}, timeout=5)
