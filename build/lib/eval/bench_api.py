"""`make bench` API load table: N concurrent clients POSTing /api/ask to the real app on loopback for a bounded time."""
from __future__ import annotations

from core.settings import use_offline_environment

use_offline_environment()

import argparse
import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "eval" / "datasets" / "dev.jsonl"
# Far above what the bench sends, so the numbers measure answering, not the per-client limiter.
BENCH_RATE_LIMIT = 1_000_000


@contextlib.contextmanager
def _serving(settings, embedder) -> Iterator[str]:
    """The real app (create_app over Guide.open) on a free loopback port, in a thread, with the rate limit lifted."""
    from app.engine.guide import open_guide
    from app.web.server import create_app, free_loopback_port, serving_in_thread

    port = free_loopback_port()
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port, "rate_limit_per_minute": BENCH_RATE_LIMIT})
    with serving_in_thread(create_app(open_guide(settings, embedder, require_index=False)), port) as url:
        yield url


def _requests(dataset_path: Path) -> list[dict]:
    """One /api/ask body per dev case: the plain question, plus its history for follow-up cases."""
    from eval.dataset import load_dataset

    bodies = []
    for case in load_dataset(dataset_path).cases:
        body: dict = {"question": case.question}
        if case.history:
            body["history"] = case.history
        bodies.append(body)
    return bodies


async def _load(base_url: str, bodies: list[dict], clients: int, seconds: float) -> tuple[list[float], int, float]:
    """Run `clients` loops, each asking one question at a time until time is up; latencies in ms, errors, elapsed s."""
    import httpx

    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client(n: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        i = n  # clients start at different questions so they do not all ask the same one at once
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                response = await http.post("/api/ask", json=bodies[i % len(bodies)])
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1
            i += clients

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(n, http) for n in range(clients)))
    return latencies, errors, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20, help="Concurrent clients (default 20).")
    parser.add_argument("--seconds", type=float, default=20.0, help="How long the clients keep asking (default 20).")
    parser.add_argument("--db", type=Path, default=None, help="An existing index folder; default: ingest corpus/ into a temp dir.")
    parser.add_argument("--dataset", type=Path, default=DEV_SET)
    args = parser.parse_args()

    from core.model import load_embedder
    from core.settings import Settings
    from eval.bench import percentile
    from ingest.pipeline import ingest_corpus

    bodies = _requests(args.dataset)
    tmp = Path(tempfile.mkdtemp(prefix="course-guide-bench-api-"))
    try:
        embedder = load_embedder()
        if args.db is None:
            settings = Settings(corpus_dir=ROOT / "corpus", db_dir=tmp / "index")
            ingest_corpus(settings, lambda: embedder, log=lambda _m: None, progress=False)
        else:
            settings = Settings(corpus_dir=ROOT / "corpus", db_dir=args.db)
        with _serving(settings, embedder) as base_url:
            latencies, errors, elapsed = asyncio.run(_load(base_url, bodies, args.clients, args.seconds))
        done = len(latencies)
        p = {pct: percentile(latencies, pct) if len(latencies) > 1 else float("nan") for pct in (50, 95, 99)}
        print(f"\nAPI load: POST /api/ask, {len(bodies)} questions from {args.dataset.name} cycled, offline answers, "
              f"{args.seconds:g} s on loopback, {os.cpu_count()} CPU cores (server and clients share them)")
        print(f"{'clients':>8}{'requests':>10}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
        print(f"{args.clients:>8}{done:>10}{done / elapsed:>8.1f}{p[50]:>9.0f}{p[95]:>9.0f}{p[99]:>9.0f}{errors:>8}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
