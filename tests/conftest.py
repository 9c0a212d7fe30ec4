"""Shared fixtures: the real model (loaded once per session), fixture courses and real indexes in temp dirs, a real server."""
from __future__ import annotations

from core.settings import use_offline_environment

use_offline_environment()

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from app.engine.guide import Guide, open_guide
from core.model import load_embedder
from core.settings import Settings
from ingest.pipeline import IngestReport, ingest_corpus

# Learner records of every server a test starts go to a temp folder, never to the checkout's state/.
os.environ.setdefault("COURSE_GUIDE_STATE_DIR", tempfile.mkdtemp(prefix="course-guide-state-"))

REPO = Path(__file__).resolve().parents[1]
FIXTURE_COURSE = Path(__file__).parent / "fixtures" / "course"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SCREENSHOTS = REPO / "screenshots"

# The fixture handout: one (heading, text) per page; the outline points each heading at its page.
GALAXY_PAGES = [
    ("Galaxies", "A galaxy is a huge system of stars, gas and dust held together by gravity. "
                 "The Milky Way is the galaxy that contains our Solar System."),
    ("Spiral galaxies", "Spiral galaxies have a flat rotating disc with arms that wind out from a central bulge. "
                        "New stars form in the spiral arms, where gas is dense."),
    ("Elliptical galaxies", "Elliptical galaxies are smooth, featureless balls of old red stars. "
                            "They contain little gas, so few new stars are born in them."),
]


def build_pdf(path: Path, pages: list[tuple[str, str]]) -> Path:
    """A real multi-page PDF with an outline entry per page, made with reportlab."""
    import textwrap

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    pdf.setTitle("Galaxies handout")
    for number, (heading, text) in enumerate(pages, start=1):
        key = f"page{number}"
        pdf.bookmarkPage(key)
        pdf.addOutlineEntry(heading, key, level=0)
        pdf.setFont("Helvetica-Bold", 16)
        pdf.drawString(72, 770, heading)
        pdf.setFont("Helvetica", 11)
        y = 740
        for line in textwrap.wrap(text, 85):
            pdf.drawString(72, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return path


@contextmanager
def running_http_server(httpd) -> Iterator[None]:
    """Serve a standard-library HTTP server (a fake LLM, a static course site) in a thread until the block ends."""
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()


def free_port() -> int:
    from app.web.server import free_loopback_port

    return free_loopback_port()


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2, loaded once per test session."""
    return load_embedder()


@pytest.fixture(scope="session")
def fake_embedder():
    """A deterministic hashing embedder for logic tests of the fast tier (`make test-fast`)."""
    from tests.fake_embedder import HashingEmbedder

    return HashingEmbedder()


def pytest_collection_modifyitems(config, items):
    """Tiers: a test that uses the real model (directly or through a fixture) is marked `model`, one that drives
    Chromium `browser`; the fast tier is `-m "not model and not browser"`. `make test` runs every tier."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
        if fixtures & _REAL_MODEL_FIXTURES:
            item.add_marker(pytest.mark.model)


# Fixtures that load the real model; a test using any of them belongs to the `model` tier.
_REAL_MODEL_FIXTURES = {"embedder", "run_ingest", "shipped_settings", "shipped_guide", "shipped_server"}


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A copy of the fixture course with Markdown, text, HTML, a 3-page PDF and a file to skip."""
    root = tmp_path / "course"
    shutil.copytree(FIXTURE_COURSE, root)
    build_pdf(root / "04-galaxies.pdf", GALAXY_PAGES)
    (root / "images").mkdir()
    (root / "images" / "diagram.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    return root


@pytest.fixture
def settings(course: Path, tmp_path: Path) -> Settings:
    return Settings(corpus_dir=course, db_dir=tmp_path / "index")


@pytest.fixture
def run_ingest(embedder):
    def run(settings: Settings, **options) -> IngestReport:
        return ingest_corpus(settings, lambda: embedder, **options)

    return run


@pytest.fixture(scope="session")
def shipped_settings(tmp_path_factory, embedder) -> Settings:
    """The shipped MLOps course, ingested once per session into a temp index."""
    settings = Settings(corpus_dir=REPO / "corpus", db_dir=tmp_path_factory.mktemp("shipped") / "index")
    ingest_corpus(settings, lambda: embedder)
    return settings


@pytest.fixture(scope="session")
def shipped_guide(shipped_settings: Settings, embedder) -> Guide:
    return open_guide(shipped_settings, embedder)


@contextmanager
def serving(settings: Settings, embedder) -> Iterator[tuple[str, Guide]]:
    """The real app (Gradio chat and lesson view) on a free loopback port, in a thread."""
    from app.web.server import create_app, serving_in_thread

    port = free_port()
    settings = settings.model_copy(update={"port": port, "host": "127.0.0.1"})
    guide = open_guide(settings, embedder, require_index=False)
    with serving_in_thread(create_app(guide), port) as url:
        yield url, guide


@pytest.fixture(scope="session")
def shipped_server(shipped_settings: Settings, embedder) -> Iterator[tuple[str, Guide]]:
    with serving(shipped_settings, embedder) as running:
        yield running


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (Playwright's own browser download does not work here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test`, which installs Debian's chromium package.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# --- a real PostgreSQL server for the interaction store's tests, started by the suite itself.

def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return found[-1].parent if found else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Debian's PostgreSQL, initdb'd in a temp folder and started on a free loopback port; yields its server URL.

    PostgreSQL refuses to run as root, so as root (CI, the dev machines) it runs as `nobody`, in a folder of its own."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.fail("PostgreSQL is not installed: run `make test`, which installs Debian's postgresql package.")
    root = Path(tempfile.mkdtemp(prefix="course-guide-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
        as_user = ["runuser", "-u", "nobody", "--"]
    data, port = root / "data", free_port()

    def run(*args: str) -> None:
        result = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)
        if result.returncode:
            log = (root / "log").read_text() if (root / "log").exists() else ""
            pytest.fail(f"PostgreSQL would not start: {' '.join(args[:2])}: {result.stderr or result.stdout}{log[-2000:]}")

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "-t", "60", "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def new_postgres_database(server: str) -> str:
    """A fresh, empty database on the test server; its SQLAlchemy URL."""
    import uuid

    import psycopg

    name = "cg_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path: Path) -> str:
    """An empty interaction store: a SQLite file, and a database on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'interactions.sqlite3'}"
    return new_postgres_database(request.getfixturevalue("postgres_server"))


# --- real servers as child processes: `chroma run`, Debian's redis-server, `course-guide serve`.

BIN = Path(sys.executable).parent


def wait_until_up(url: str, process: subprocess.Popen, what: str, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}; see {process.args[-1]}.log in the test's folder")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not come up at {url}")


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """A server process whose output goes to a file in `cwd` (a pipe nobody reads would fill up and stall it)."""
    with open(cwd / f"{args[-1]}.log", "w") as log:
        return subprocess.Popen(args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen) -> None:
    from app.web.server import stop_process

    stop_process(process)


@contextmanager
def running(args: list[str], env: dict[str, str], cwd: Path, health_url: str, what: str):
    process = start(args, env, cwd)
    try:
        wait_until_up(health_url, process, what)
        yield process
    finally:
        stop(process)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """A real `chroma run` on a free loopback port, storing in a temp folder."""
    from core.settings import OFFLINE_ENVIRONMENT

    port = free_port()
    env = {**os.environ, **OFFLINE_ENVIRONMENT}
    args = [str(BIN / "chroma"), "run", "--path", str(tmp_path_factory.mktemp("chroma")), "--host", "127.0.0.1", "--port", str(port)]
    with running(args, env, tmp_path_factory.mktemp("chroma-cwd"), f"http://127.0.0.1:{port}/api/v2/heartbeat", "chroma run"):
        yield "127.0.0.1", port


class RedisServer:
    """Debian's redis-server on a free loopback port, in memory only; `stop()` and `start()` make an outage."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        import socket

        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run `make test`, which installs Debian's redis-server package.")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"redis-server exited with {self.process.returncode}: {(self.folder / 'redis.log').read_text()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        pytest.fail(f"redis-server did not listen on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    """A real redis-server for the module's tests (`--save '' --appendonly no`: nothing on disk)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
