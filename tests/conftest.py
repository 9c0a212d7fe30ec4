"""Shared fixtures: the real model (loaded once per session), fixture courses and real indexes in temp dirs, a real server."""
from __future__ import annotations

from core.settings import use_offline_environment

use_offline_environment()

import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from app.engine.guide import Guide, open_guide
from core.model import load_embedder
from core.settings import Settings
from ingest.pipeline import IngestReport, ingest_corpus

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
