"""Open an HTML file in headless Chromium and report what went wrong on the page.

Chromium's ``--enable-logging=stderr`` output cannot tell a page's ``console.error`` from
its ``console.log`` (this Debian build prints both as ``INFO:CONSOLE``), and buries them
among its own D-Bus and GPU complaints. So the check talks to the browser over the
DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON messages separated by NUL
bytes on file descriptors 3 and 4), which needs no Python package and gives levels:

* ``Runtime.consoleAPICalled`` of type error or assert (``console.error``, ``console.assert``),
* ``Runtime.exceptionThrown`` (uncaught exceptions, syntax errors),
* ``Log.entryAdded`` at level error (failed resource loads, Content-Security-Policy refusals),
* ``Network.requestWillBeSent`` for anything other than the page itself (data:/blob: aside):
  a self-contained report requests nothing.

Chromium's own stderr noise never reaches the result; its tail is kept for diagnostics.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--mute-audio",
)


class BrowserError(RuntimeError):
    """Chromium could not be started or did not answer."""


@dataclass
class BrowserCheck:
    """What the page did: ``ok`` when it loaded with no console error and no request."""

    ok: bool
    console_errors: list[str]
    title: str | None
    warnings: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # URLs the page asked for besides itself
    loaded: bool = True
    probe: Any = None  # what the ``probe`` expression evaluated to after the load
    browser_log: str = field(default="", repr=False)  # tail of Chromium's stderr, for diagnosing the browser itself


def find_chromium() -> str | None:
    """Path of a Chromium binary: $CHROMIUM, /usr/bin/chromium, or chromium(-browser) on PATH."""
    candidates = [os.environ.get("CHROMIUM"), "/usr/bin/chromium"]
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class _Pipe:
    """The DevTools protocol over Chromium's --remote-debugging-pipe."""

    def __init__(self, write_fd: int, read_fd: int, deadline: float) -> None:
        self.write_fd, self.read_fd, self.deadline = write_fd, read_fd, deadline
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            written = os.write(self.write_fd, data)
            data = data[written:]
        return self.next_id

    def receive(self, until: float) -> dict[str, Any] | None:
        """The next message, or None when ``until`` (monotonic) passes first."""
        while b"\0" not in self.buffer:
            left = min(until, self.deadline) - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                chunk = os.read(self.read_fd, 1 << 16)
                if not chunk:
                    raise BrowserError("Chromium closed the DevTools pipe")
                self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        ident = self.send(method, params, session)
        while True:
            message = self.receive(self.deadline)
            if message is None:
                raise BrowserError(f"no answer from Chromium to {method}")
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)


def _describe_exception(details: dict[str, Any]) -> str:
    exception = details.get("exception") or {}
    text = exception.get("description") or details.get("text") or "exception"
    where = details.get("url")
    if where:
        text += f" ({where}:{details.get('lineNumber', 0) + 1})"
    return text


def _console_text(params: dict[str, Any]) -> str:
    parts = []
    for arg in params.get("args", []):
        if "value" in arg:
            parts.append(str(arg["value"]))
        else:
            parts.append(arg.get("description") or arg.get("type", "?"))
    text = " ".join(parts)
    frames = (params.get("stackTrace") or {}).get("callFrames") or []
    if frames:
        text += f" ({frames[0].get('url', '')}:{frames[0].get('lineNumber', 0) + 1})"
    return text


def check_renders(
    html_path: str | os.PathLike[str],
    timeout: float = 30.0,
    settle: float = 0.5,
    chromium: str | None = None,
    width: int | None = None,
    probe: str | None = None,
    screenshot: str | os.PathLike[str] | None = None,
) -> BrowserCheck:
    """Load ``html_path`` in headless Chromium and collect the page's console errors.

    Waits for the load event, then ``settle`` seconds for late errors (timers). ``ok`` is
    True when the page loaded, logged no error, threw nothing and requested nothing
    besides itself. Layout depends on the window, so ``width`` (CSS pixels) fixes the
    viewport's; ``probe``, a JavaScript expression, is then evaluated on the laid-out page
    and its JSON value returned as ``probe``; ``screenshot`` saves the whole page as a PNG
    for a person to look at. Raises :class:`FileNotFoundError` when there is no Chromium and
    :class:`BrowserError` when it does not answer within ``timeout`` seconds.
    """
    binary = chromium or find_chromium()
    if binary is None:
        raise FileNotFoundError("no Chromium found (set $CHROMIUM or install the 'chromium' package)")
    page = Path(html_path).resolve()
    if not page.is_file():
        raise FileNotFoundError(page)
    url = page.as_uri()

    profile = tempfile.mkdtemp(prefix="report-check-")
    command_read, command_write = os.pipe()  # we write commands; Chromium reads fd 3
    answer_read, answer_write = os.pipe()  # Chromium writes fd 4; we read

    def place_pipes() -> None:  # in the child, before exec: fds 3 and 4 as Chromium expects
        import fcntl

        high_in = fcntl.fcntl(command_read, fcntl.F_DUPFD, 10)
        high_out = fcntl.fcntl(answer_write, fcntl.F_DUPFD, 10)
        os.dup2(high_in, 3)
        os.dup2(high_out, 4)

    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open while the browser runs, closed below
    process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        close_fds=False,  # Python's own fds are non-inheritable (PEP 446); fds 3 and 4 are ours
        preexec_fn=place_pipes,
        start_new_session=True,  # its renderer and GPU processes can be ended as one group
    )
    os.close(command_read)
    os.close(answer_write)
    pipe = _Pipe(command_write, answer_read, time.monotonic() + timeout)
    errors: list[str] = []
    warnings: list[str] = []
    requests: list[str] = []
    title: str | None = None
    probed: Any = None
    loaded = False
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            pipe.call(f"{domain}.enable", session=session)
        if width is not None:
            pipe.call("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
        pipe.events.clear()  # about:blank's own events are not the page's
        navigation = pipe.call("Page.navigate", {"url": url}, session=session)
        if navigation.get("errorText"):
            errors.append(f"navigation failed: {navigation['errorText']}")
        settle_until: float | None = None
        if any(event.get("method") == "Page.loadEventFired" for event in pipe.events):
            loaded = True  # fired before Page.navigate answered
            settle_until = time.monotonic() + settle
        while True:
            until = settle_until if settle_until is not None else pipe.deadline
            message = pipe.receive(until)
            if message is None:
                break
            pipe.events.append(message)
            if message.get("method") == "Page.loadEventFired" and settle_until is None:
                loaded = True
                settle_until = time.monotonic() + settle
        if loaded:
            result = pipe.call("Runtime.evaluate", {"expression": "document.title", "returnByValue": True}, session=session)
            title = (result.get("result") or {}).get("value")
            if probe is not None:
                result = pipe.call("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session=session)
                if "exceptionDetails" in result:
                    errors.append(f"probe failed: {_describe_exception(result['exceptionDetails'])}")
                probed = (result.get("result") or {}).get("value")
            if screenshot is not None:
                image = pipe.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                                  session=session)
                Path(screenshot).write_bytes(base64.b64decode(image["data"]))
        else:
            errors.append(f"the page did not finish loading within {timeout:.0f} s")
        for event in pipe.events:
            method, params = event.get("method"), event.get("params") or {}
            if method == "Runtime.consoleAPICalled":
                if params.get("type") in ("error", "assert"):
                    errors.append(f"console.{params['type']}: {_console_text(params)}")
                elif params.get("type") == "warning":
                    warnings.append(f"console.warn: {_console_text(params)}")
            elif method == "Runtime.exceptionThrown":
                errors.append(f"uncaught: {_describe_exception(params.get('exceptionDetails') or {})}")
            elif method == "Log.entryAdded":
                entry = params.get("entry") or {}
                text = f"{entry.get('source', 'log')}: {entry.get('text', '')}"
                if entry.get("url"):
                    text += f" ({entry['url']})"
                if entry.get("level") == "error":
                    errors.append(text)
                elif entry.get("level") == "warning":
                    warnings.append(text)
            elif method == "Network.requestWillBeSent":
                requested = (params.get("request") or {}).get("url", "")
                if requested != url and not requested.startswith(("data:", "blob:", "about:")):
                    requests.append(requested)
        with contextlib.suppress(BrowserError):
            pipe.call("Browser.close")
    finally:
        _stop(process)
        for fd in (command_write, answer_read):
            with contextlib.suppress(OSError):
                os.close(fd)
        stderr.seek(0)
        log = stderr.read().decode(errors="replace")
        stderr.close()
        shutil.rmtree(profile, ignore_errors=True)
    return BrowserCheck(
        ok=loaded and not errors and not requests,
        console_errors=list(dict.fromkeys(errors)),
        title=title,
        warnings=list(dict.fromkeys(warnings)),
        requests=list(dict.fromkeys(requests)),
        loaded=loaded,
        probe=probed,
        browser_log=log[-4000:],
    )


def _stop(process: subprocess.Popen) -> None:
    """Wait for the Chromium we started to exit; end its process group if it lingers."""
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
        process.wait(timeout=10)
    # Children (renderer, GPU) share the group and normally follow the browser out;
    # end any that are still there after a grace period.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if not _group_alive(process.pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _group_alive(group: int) -> bool:
    """Whether a process of ``group`` is still running (zombies, which wait only to be
    reaped, do not count; without /proc, any member counts)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) "
        if len(fields) > 2 and fields[2] == str(group) and fields[0] not in ("Z", "X"):
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.browser PAGE.html``: print the check, exit 1 when not ok."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.browser", description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--width", type=int, help="viewport width in CSS pixels")
    parser.add_argument("--screenshot", type=Path, help="save the whole page as this PNG")
    args = parser.parse_args(argv)
    check = check_renders(args.page, width=args.width, screenshot=args.screenshot)
    print(f"ok: {check.ok}  title: {check.title!r}  loaded: {check.loaded}")
    for line in check.console_errors:
        print(f"error: {line}")
    for line in check.warnings:
        print(f"warning: {line}")
    for line in check.requests:
        print(f"request: {line}")
    return 0 if check.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
