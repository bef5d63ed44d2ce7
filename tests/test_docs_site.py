"""The documentation site, as a reader sees it: built, opened in headless Chromium.

The site (``make docs``) is built, or brought up to date, once per session; it
is served on loopback (module scripts do not load from ``file://``) and opened
in Debian's ``chromium-headless-shell``, driven through its DevTools protocol
over a WebSocket (the ``websockets`` client; no Selenium, no Playwright).

* Every machine's page (one per ``spec/*.toml``) renders its Mermaid diagram to
  an SVG with exactly one node per state of the spec, from the vendored
  mermaid.min.js (no network), without a JavaScript error; a screenshot of the
  connection machine's page is written to ``docs/_build/screenshots/``.
* The site's search finds ``try_send`` and links to its API reference entry.
* Every program under ``examples/`` runs and exits cleanly (the tutorial's and
  the guide's code are among them and are included into their pages).

Chromium missing is a failure, not a skip: ``.ci/run`` installs it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from wsstate_tools.spec import load

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BUILD = DOCS / "_build"
HTML = BUILD / "html"
DOCTREES = BUILD / "doctrees"
SCREENSHOTS = BUILD / "screenshots"
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
MACHINES = sorted(p.stem for p in (ROOT / "spec").glob("*.toml"))
CHROMIUM_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser")
#: How long a page may take to render its diagram or search results.
RENDER_TIMEOUT = 30.0


# --- the built site, served -----------------------------------------------------------


@pytest.fixture(scope="session")
def site() -> Iterator[str]:
    """The site, built (incrementally: ``make docs`` usually ran just before), served."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-b",
            "html",
            "-q",
            "-W",
            "--keep-going",
            "-d",
            DOCTREES,
            DOCS,
            HTML,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"the docs build failed:\n{done.stdout}{done.stderr}"

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=HTML))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- Chromium over the DevTools protocol ------------------------------------------------


def chromium_executable() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "no headless Chromium: install Debian's chromium-headless-shell "
        "(apt-get install chromium-headless-shell; .ci/run does)"
    )


def save(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class Page:
    """One browser tab, attached with a flat DevTools session."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session
        self.errors: list[str] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.call(method, session=self.session, **params)

    async def goto(self, url: str) -> None:
        self.errors.clear()
        await self.call("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def evaluate(self, expression: str) -> Any:
        reply = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in reply:
            raise AssertionError(f"{expression!r} raised: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def wait_for(self, expression: str, limit: float = RENDER_TIMEOUT) -> Any:
        deadline = time.monotonic() + limit
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {limit}s waiting for {expression!r}; "
                    f"page errors: {self.errors}"
                )
            await asyncio.sleep(0.1)

    async def screenshot(self, path: Path, selector: str) -> None:
        """A PNG of the element ``selector`` selects (the whole of it, scrolled or not)."""
        box = await self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return {x: r.x + window.scrollX, "
            "y: r.y + window.scrollY, width: r.width, height: r.height} })()"
        )
        reply = await self.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={**box, "scale": 1},
        )
        await asyncio.to_thread(save, path, base64.b64decode(reply["data"]))


class Browser:
    """A headless Chromium process and its DevTools WebSocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.pages: dict[str, Page] = {}
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if "id" in message:
                future = self.pending.pop(message["id"])
                if "error" in message:
                    future.set_exception(AssertionError(f"DevTools: {message['error']}"))
                else:
                    future.set_result(message.get("result", {}))
                continue
            page = self.pages.get(message.get("sessionId", ""))
            if page is None:
                continue
            params = message.get("params", {})
            if message["method"] == "Runtime.exceptionThrown":
                page.errors.append(json.dumps(params["exceptionDetails"])[:500])
            elif message["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                page.errors.append(f"{params['entry'].get('url')}: {params['entry']['text']}")

    async def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[ident] = future
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self.ws.send(json.dumps(message))
        return await asyncio.wait_for(future, RENDER_TIMEOUT)

    async def new_page(self) -> Page:
        target = await self.call("Target.createTarget", url="about:blank")
        attached = await self.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        page = Page(self, attached["sessionId"])
        self.pages[page.session] = page
        await page.call("Page.enable")
        await page.call("Runtime.enable")
        await page.call("Log.enable")
        await page.call(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=1024,
            deviceScaleFactor=1,
            mobile=False,
        )
        return page


def devtools_address(profile: Path) -> tuple[str, str] | None:
    """The port and path Chromium wrote to its profile once its DevTools server is up."""
    active = profile / "DevToolsActivePort"
    lines = active.read_text().splitlines() if active.is_file() else []
    return (lines[0], lines[1]) if len(lines) >= 2 else None


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    exe = chromium_executable()
    # Chromium's helper processes may still write to the profile for a moment after
    # the browser exits: its whole process group is ended, and leftovers ignored.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        process = await asyncio.create_subprocess_exec(
            *[exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
            *["--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 20
            while (address := await asyncio.to_thread(devtools_address, Path(profile))) is None:
                assert process.returncode is None, f"{exe} exited with {process.returncode}"
                assert time.monotonic() < deadline, f"{exe} did not open its DevTools port"
                await asyncio.sleep(0.05)
            port, path = address
            async with ws_connect(f"ws://127.0.0.1:{port}{path}", max_size=None) as ws:
                browser = Browser(ws)
                try:
                    yield browser
                finally:
                    browser.reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await browser.reader
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the browser's own helpers


# --- the checks ---------------------------------------------------------------------------

#: Every node of the rendered diagram: its id and its label (the start/end pseudo-states
#: have none).
NODES_JS = """
Array.from(document.querySelectorAll('.wsstate-diagram svg g.node')).map(
  n => ({id: n.id, label: n.textContent.trim()}))
"""


#: The text of every diagram Mermaid could not draw (it draws an error picture instead).
ERRORS_JS = """
Array.from(document.querySelectorAll('svg[aria-roledescription=error] .error-text')).map(
  s => s.textContent.trim())
"""


def assert_no_mermaid_error(page: str, errors: list[str]) -> None:
    assert not errors, f"{page}: Mermaid could not draw a diagram: {errors}"


def test_every_machine_has_a_spec() -> None:
    assert MACHINES, "no spec/*.toml"


async def test_machine_diagrams_render_one_node_per_state(site: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        for machine in MACHINES:
            spec = load(ROOT / "spec" / f"{machine}.toml")
            await page.goto(f"{site}/machines/{machine}.html")
            await page.evaluate("document.querySelector('.wsstate-diagram').scrollIntoView()")
            await page.wait_for("document.querySelector('.wsstate-diagram svg') !== null")
            assert_no_mermaid_error(machine, await page.evaluate(ERRORS_JS))
            await page.wait_for("document.querySelector('.wsstate-diagram svg g.node') !== null")
            nodes = await page.evaluate(NODES_JS)
            states = [n["label"] for n in nodes if n["label"]]
            assert sorted(states) == sorted(spec.state_names), (
                f"{machine}: the diagram's nodes {states} are not the spec's states "
                f"{list(spec.state_names)} (one node per state)"
            )
            edges = await page.evaluate(
                "document.querySelectorAll('.wsstate-diagram svg .edgeLabel').length"
            )
            assert edges > 0, f"{machine}: the diagram has no transition labels"
            # The page also carries the full table: one body row per (state, event) pair.
            rows = await page.evaluate(
                "document.querySelectorAll('table.wsstate-rows tbody tr').length"
            )
            assert rows == len(spec.state_names) * len(spec.event_names)
            assert not page.errors, f"{machine}: JavaScript errors: {page.errors}"
            if machine == "connection":
                await page.screenshot(SCREENSHOTS / "connection.png", "section#diagram")
    shot = SCREENSHOTS / "connection.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000, "the screenshot looks blank"


async def test_index_diagram_renders(site: str) -> None:
    """The diagram embedded in the entry page (a ```mermaid fence) renders too."""
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site}/index.html")
        await page.evaluate("document.querySelector('.mermaid').scrollIntoView()")
        await page.wait_for("document.querySelector('.mermaid svg') !== null")
        assert_no_mermaid_error("index", await page.evaluate(ERRORS_JS))
        await page.wait_for("document.querySelectorAll('.mermaid svg g.node').length > 0")
        assert not page.errors, page.errors


async def test_search_finds_try_send(site: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{site}/search.html?q=try_send")
        links = await page.wait_for(
            "(() => { const a = Array.from(document.querySelectorAll('ul.search li a'))"
            ".map(a => a.getAttribute('href')); return a.length ? a : null })()"
        )
        assert any("GuardedConnection.try_send" in link for link in links), links
        assert not page.errors, page.errors


def test_tutorial_includes_its_examples() -> None:
    tutorial = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    included = re.findall(r"```\{literalinclude\} \.\./(examples/\S+\.py)", tutorial)
    assert "examples/tutorial.py" in included
    for path in included:
        assert (ROOT / path) in EXAMPLES, path


# --- every example runs -------------------------------------------------------------------

#: An ASGI example (a module-level ``app`` and no ``__main__``) serves its WebSocket here.
ASGI_PATH = "/ws"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def assert_quiet(name: str, output: str) -> None:
    assert "Traceback" not in output, f"{name} printed a traceback:\n{output}"
    assert not re.search(r"\bERROR\b", output), f"{name} logged an ERROR:\n{output}"


async def run_asgi_example(path: Path) -> None:
    """Serve ``path``'s ``app`` with uvicorn, open a session, then stop the server."""
    import wsstate

    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "uvicorn", f"examples.{path.stem}:app", "--port", str(port)],
        *["--ws", "websockets-sansio", "--log-level", "info"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                assert server.returncode is None, "uvicorn exited"
                assert time.monotonic() < deadline, "uvicorn did not start"
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await writer.wait_closed()
            break
        async with wsstate.connect(f"ws://127.0.0.1:{port}{ASGI_PATH}") as conn:
            first = await asyncio.wait_for(conn.recv(), 10)
            assert first, "the example sent an empty first message"
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGINT)
        try:
            raw, _ = await asyncio.wait_for(server.communicate(), 15)
        except TimeoutError:
            server.kill()
            raw, _ = await server.communicate()
    output = raw.decode(errors="replace")
    assert server.returncode == 0, output
    assert_quiet(path.name, output)


#: Examples whose output shows a naive endpoint's ERROR records on purpose, and the line
#: that says the harness found them (tests/test_fuzz_examples.py checks the rest).
SHOWS_ERRORS: Final = {"naive_endpoint.py": "naive endpoint: FAILED (as expected)"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if 'if __name__ == "__main__":' in text:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{path.name} exited with {done.returncode}:\n{output}"
        if path.name in SHOWS_ERRORS:  # its output is a naive endpoint's counterexample
            assert SHOWS_ERRORS[path.name] in output, output
        else:
            assert_quiet(path.name, output)
    elif re.search(r"^app = ", text, flags=re.M):
        asyncio.run(run_asgi_example(path))
    else:
        pytest.fail(
            f"{path.name}: not a program (no __main__ block) nor an ASGI app (app = ...): "
            "tell this test how to run it"
        )


# --- the extension's own rules --------------------------------------------------------------


def test_close_code_rules_are_the_runtimes() -> None:
    from wsstate_tools.sphinxext import sendable_ranges

    assert sendable_ranges() == [(1000, 1003), (1007, 1014), (3000, 4999)]


@pytest.mark.parametrize("machine", MACHINES)
def test_every_machine_gets_a_page(machine: str, site: str) -> None:
    from wsstate_tools.sphinxext import render_machine_page

    spec = load(ROOT / "spec" / f"{machine}.toml")
    page = render_machine_page(spec, f"spec/{machine}.toml")
    for directive in ("diagram", "states", "events", "table", "effects", "timers", "close-codes"):
        assert f"```{{wsstate-{directive}}} {machine}\n```" in page
    assert (
        (DOCS / "machines" / f"{machine}.md").read_text(encoding="utf-8").startswith("% GENERATED")
    ), "make docs writes the machine pages"
