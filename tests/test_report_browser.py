"""The demo run's Snakemake report in a real browser: headless Chromium (Debian's ``chromium``,
which ``.ci/run`` installs through ``tests/install_chromium.sh``), driven over the DevTools
protocol by the small websocket client below.

The page must load without a console error or an uncaught exception, hold the Motifs category
with one subcategory per target, and every figure the run made (the plots, each target's motif
table and the CWM logo of every pattern in its ``matches.json``), each image decodable by the
browser. Screenshots of the start page, the Motifs category and a motif table are saved under the
test's tmp folder.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import results_of

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")
TARGETS = ("AP1", "CTCF", "GATA")


class DevTools:
    """A DevTools protocol session with one page over a websocket (RFC 6455, text frames)."""

    def __init__(self, url: str, timeout: float = 60.0):
        match = re.match(r"ws://([^:/]+):(\d+)(/.*)", url)
        self.socket = socket.create_connection((match[1], int(match[2])), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.socket.sendall(
            f"GET {match[3]} HTTP/1.1\r\nHost: {match[1]}:{match[2]}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.socket.recv(4096)
        head, self.buffer = response.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.next_id = 0
        self.events: list[dict] = []

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.socket.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the browser closed the DevTools connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _receive(self) -> dict:
        payload = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            payload += self._read(length)
            if first & 0x0F == 0x8:
                raise ConnectionError("the browser closed the DevTools connection")
            if first & 0x80:  # the last fragment
                return json.loads(payload)

    def call(self, method: str, **params) -> dict:
        """Send a command and return its result; events that arrive meanwhile are kept."""
        self.next_id += 1
        payload = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
        mask = os.urandom(4)
        self.socket.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        while True:
            message = self._receive()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60.0) -> dict:
        """The first ``event`` received (kept or new)."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.events:
                if message.get("method") == event:
                    return message
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event} within {timeout} s")
            self.events.append(self._receive())

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression (a promise is awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return path

    def close(self) -> None:
        self.socket.close()

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries received so far."""
        found = []
        for message in self.events:
            method, params = message.get("method"), message.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails']}")
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(f"console.{params['type']}: {params['args']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"log: {params['entry']['text']} ({params['entry'].get('url')})")
        return found


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium on an empty page, and a DevTools session with that page."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed: tests/install_chromium.sh installs Debian's "
                    "package (root and apt-get needed), as .ci/run does")
    profile = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "--window-size=1400,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                pytest.fail(f"chromium exited with status {process.returncode} at start-up")
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            port = found and found[1]
        assert port, "chromium did not open its DevTools port within 60 s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as reply:
            pages = [entry for entry in json.load(reply) if entry["type"] == "page"]
        session = DevTools(pages[0]["webSocketDebuggerUrl"])
        try:
            for domain in ("Page", "Runtime", "Log"):
                session.call(f"{domain}.enable")
            yield session
        finally:
            session.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


@pytest.fixture(scope="module")
def report_page(browser, demo_run, tmp_path_factory):
    """The demo's report.html loaded and rendered; its ``categories`` and ``results`` (without
    the data) as the page's JavaScript sees them; the folder of the screenshots."""
    report = results_of(demo_run, "demo") / "report.html"
    browser.call("Page.navigate", url=report.as_uri())
    browser.wait_for("Page.loadEventFired", timeout=120)
    # The report is a React app: wait until it has drawn its navigation.
    for _ in range(100):
        if browser.evaluate("document.querySelectorAll('nav, a').length > 0"):
            break
        time.sleep(0.1)
    shots = tmp_path_factory.mktemp("screenshots")
    browser.screenshot(shots / "start.png")
    page = browser.evaluate(
        "({categories: categories, results: Object.fromEntries(Object.entries(results).map("
        "([path, entry]) => [path, {mime: entry.mime_type, labels: entry.labels, "
        "size: entry.data_uri.length}]))})"
    )
    return page, shots


def test_the_report_loads_without_console_errors(browser, report_page):
    page, shots = report_page
    assert browser.errors() == []
    assert browser.evaluate("document.title").startswith("Snakemake Report")
    assert (shots / "start.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_motif_section_has_every_target_and_every_pattern(browser, report_page, demo_run):
    page, shots = report_page
    motifs = page["categories"]["Motifs"]
    assert sorted(motifs) == sorted(TARGETS)
    for target in TARGETS:
        outcome = json.loads((results_of(demo_run, "demo") / "motifs" / target / "matches.json")
                             .read_text())
        expected = {f"results/demo/motifs/{target}/motifs.html"} | {
            f"results/demo/motifs/{target}/{pattern['logo']}" for pattern in outcome["patterns"]}
        assert set(motifs[target]) == expected
        assert len(outcome["patterns"]) >= 1
        table = f"results/demo/motifs/{target}/motifs.html"
        assert page["results"][table]["mime"] == "text/html"
        # The table the report embeds names the leading pattern's top JASPAR match.
        html = browser.evaluate(f"fetch(results[{json.dumps(table)}].data_uri).then(r => r.text())")
        top = outcome["patterns"][0]["matches"][0]
        assert top["id"] in html and top["name"] in html and f"{top['q_value']:.2e}" in html
    browser.evaluate("app.showCategory('Motifs'), true")
    time.sleep(0.5)
    assert "AP1" in browser.evaluate("document.body.innerText")
    browser.screenshot(shots / "motifs.png")
    table = "results/demo/motifs/AP1/motifs.html"
    browser.evaluate(f"app.setView({{content: 'html', contentPath: results[{json.dumps(table)}]"
                     f".data_uri, resultPath: {json.dumps(table)}}}), true")
    time.sleep(1.0)
    assert browser.evaluate("document.querySelectorAll('iframe').length") == 1
    browser.screenshot(shots / "motifs_AP1.png")
    assert browser.errors() == []


def test_every_figure_of_the_run_is_in_the_report_and_decodes(browser, report_page, demo_run):
    page, _ = report_page
    images = sorted(path for path, entry in page["results"].items() if entry["mime"] == "image/png")
    plots = {f"results/demo/plots/{name}.png" for name in
             ("delta_histogram", "mean_profile", "motif_recovery",
              *(f"logos_{target}" for target in TARGETS))}
    logos = {str(path.relative_to(demo_run)) for path in
             (results_of(demo_run, "demo") / "motifs").glob("*/logos/*.png")}
    assert len(logos) >= len(TARGETS)
    assert set(images) == plots | logos
    widths = browser.evaluate(
        "Promise.all(" + json.dumps(images) + ".map(path => new Promise(done => {"
        "const image = new Image(); image.onload = () => done(image.naturalWidth);"
        "image.onerror = () => done(0); image.src = results[path].data_uri; })))"
    )
    # Every PNG decodes in the browser, at its full size (the smallest, a CWM logo, is 330 px).
    assert all(width >= 300 for width in widths), dict(zip(images, widths, strict=True))
    assert browser.errors() == []
