"""`make bench` many-learners table: open-loop Poisson arrivals of dev-set questions against `serve --workers N`, then a burst.

The server is the real console script in a child process (`course-guide serve --workers 2 --no-chat`) over an index
ingested into a temp folder, with the default rate limit counted in a redis-server that the bench starts when Debian's
redis-server is installed. Each simulated learner speaks from an address of its own (X-Forwarded-For, which uvicorn
trusts from 127.0.0.1; addresses from 198.18.0.0/15, the benchmarking range: a header only, nothing is sent there).

Open loop: a question is sent at its arrival time whether or not earlier ones were answered, and its latency counts
from that time, so a server that falls behind shows it. An error is a 5xx, a dropped or refused connection, a timeout,
or any other non-200 answer except a 429 with Retry-After, which counts as handled."""
from __future__ import annotations

from core.settings import use_offline_environment

use_offline_environment()

import argparse
import asyncio
import contextlib
import ipaddress
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BENCH_RANGE = ipaddress.ip_network("198.18.0.0/15")
P95_TARGET_MS = 300


@dataclass
class Outcomes:
    """What one phase got back: latencies of the 200s (ms), handled 429s, errors by kind."""

    latencies: list[float] = field(default_factory=list)
    limited: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def learner_address(learner: int) -> str:
    return str(BENCH_RANGE[learner + 1])


async def _ask(http, body: dict, address: str, sent_at: float, outcomes: Outcomes) -> None:
    import httpx

    try:
        response = await http.post("/api/ask", json=body, headers={"X-Forwarded-For": address})
    except httpx.TimeoutException:
        outcomes.error("timeout")
        return
    except httpx.TransportError as err:
        outcomes.error(type(err).__name__)  # refused, reset or dropped: the server did not answer
        return
    if response.status_code == 200:
        outcomes.latencies.append((time.perf_counter() - sent_at) * 1000)
    elif response.status_code == 429 and response.headers.get("retry-after", "").isdigit():
        outcomes.limited += 1
    else:
        outcomes.error(f"HTTP {response.status_code}")


async def poisson_phase(base_url: str, bodies: list[dict], rate: float, seconds: float, learners: int, seed: int) -> Outcomes:
    """Questions arriving as a Poisson process of `rate` per second for `seconds`, each from a random learner."""
    import httpx

    rng = random.Random(seed)
    outcomes = Outcomes()
    arrivals: list[float] = []
    t = rng.expovariate(rate)
    while t < seconds:
        arrivals.append(t)
        t += rng.expovariate(rate)
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        start = time.perf_counter()
        tasks = []
        for at in arrivals:
            delay = start + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = bodies[rng.randrange(len(bodies))]
            tasks.append(asyncio.create_task(_ask(http, body, learner_address(rng.randrange(learners)), start + at, outcomes)))
        await asyncio.gather(*tasks)
    return outcomes


async def burst_phase(base_url: str, bodies: list[dict], clients: int) -> Outcomes:
    """`clients` learners asking at the same moment, each on a connection of its own."""
    import httpx

    outcomes = Outcomes()

    async def one(n: int) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            await ready.wait()
            await _ask(http, bodies[n % len(bodies)], learner_address(100_000 + n), time.perf_counter(), outcomes)

    ready = asyncio.Event()
    tasks = [asyncio.create_task(one(n)) for n in range(clients)]
    await asyncio.sleep(0.2)  # every client is waiting on the event before it is set
    ready.set()
    await asyncio.gather(*tasks)
    return outcomes


@contextlib.contextmanager
def _redis() -> Iterator[str | None]:
    """A throwaway redis-server on a free loopback port, or None when Debian's redis-server is not installed."""
    from app.web.server import free_loopback_port, stop_process

    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_loopback_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(process, timeout=10)


@contextlib.contextmanager
def _serving(db_dir: Path, workers: int, redis_url: str | None, log_dir: Path) -> Iterator[tuple[str, int]]:
    """`course-guide serve --workers N --no-chat` in a child process on a free loopback port; yields its base URL and pid."""
    import httpx

    from app.web.server import free_loopback_port, stop_process

    port = free_loopback_port()
    env = {**os.environ, "COURSE_GUIDE_DB_DIR": str(db_dir), "COURSE_GUIDE_STATE_DIR": str(log_dir / "state"),
           "COURSE_GUIDE_RECORD_INTERACTIONS": "false"}
    if redis_url:
        env["COURSE_GUIDE_REDIS_URL"] = redis_url
    args = [str(BIN / "course-guide"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--no-chat"]
    with open(log_dir / "serve.log", "w") as log:
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 900  # each worker loads the model: minutes on a busy machine
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {(log_dir / 'serve.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.5)
        # Every worker loads its model at start; ask a few questions so each has answered once before timing starts.
        for _ in range(4 * workers):
            httpx.post(url + "/api/ask", json={"question": "What is MLOps?"}, timeout=60)
        yield url, process.pid
    finally:
        stop_process(process, timeout=30)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the uvicorn supervisor and its workers), in MB, from /proc."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = [Path(f"/proc/{current}/task/{task}/children").read_text().split() for task in os.listdir(f"/proc/{current}/task")]
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0) / 1024
        pending += [int(child) for group in children for child in group]
    return total


def _row(name: str, sent: int, outcomes: Outcomes, elapsed: float, p95_target: bool) -> str:
    from eval.bench import percentile

    lat = outcomes.latencies
    p = {pct: percentile(lat, pct) if len(lat) > 1 else float("nan") for pct in (50, 95, 99)}
    errors = ", ".join(f"{kind}: {n}" for kind, n in sorted(outcomes.errors.items())) or "0"
    verdict = []
    if p95_target:
        verdict.append(f"p95 {'<' if p[95] < P95_TARGET_MS else '≥'} {P95_TARGET_MS} ms")
    verdict.append("0 errors" if not outcomes.error_count else f"{outcomes.error_count} errors")
    ok = (not p95_target or p[95] < P95_TARGET_MS) and not outcomes.error_count
    return (f"| {name} | {sent} | {len(lat)} | {outcomes.limited} | {sent / elapsed:.1f} | {p[50]:.0f} | {p[95]:.0f} | "
            f"{p[99]:.0f} | {errors} | {'met' if ok else 'missed'}: {'; '.join(verdict)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=2000, help="Active learners (default 2000).")
    parser.add_argument("--every", type=float, default=300.0, help="Seconds between one learner's questions (default 300).")
    parser.add_argument("--rate", type=float, default=None, help="Questions per second; default: learners / every (6.7).")
    parser.add_argument("--seconds", type=float, default=60.0, help="How long questions arrive (default 60).")
    parser.add_argument("--burst", type=int, default=100, help="Concurrent clients in the burst (default 100; 0: none).")
    parser.add_argument("--workers", type=int, default=2, help="serve --workers (default 2).")
    parser.add_argument("--db", type=Path, default=None, help="An existing index folder; default: ingest corpus/ into a temp dir.")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    rate = args.rate or args.learners / args.every

    from core.model import load_embedder
    from core.settings import Settings
    from eval.bench_api import DEV_SET, _requests
    from ingest.pipeline import ingest_corpus

    bodies = _requests(DEV_SET)
    tmp = Path(tempfile.mkdtemp(prefix="course-guide-bench-load-"))
    try:
        db_dir = args.db
        if db_dir is None:
            db_dir = tmp / "index"
            embedder = load_embedder()
            ingest_corpus(Settings(corpus_dir=ROOT / "corpus", db_dir=db_dir), lambda: embedder, log=lambda _m: None, progress=False)
            del embedder
        with _redis() as redis_url, _serving(db_dir, args.workers, redis_url, tmp) as (base_url, server_pid):
            started = time.perf_counter()
            steady = asyncio.run(poisson_phase(base_url, bodies, rate, args.seconds, args.learners, args.seed))
            steady_elapsed = time.perf_counter() - started
            started = time.perf_counter()
            burst = asyncio.run(burst_phase(base_url, bodies, args.burst)) if args.burst else None
            burst_elapsed = time.perf_counter() - started
            rss_mb = tree_rss_mb(server_pid)
        limit_note = "counted in redis-server" if redis_url else "counted per worker (redis-server not installed)"
        print(f"\nMany learners: `serve --workers {args.workers} --no-chat` on loopback, offline answers, "
              f"{len(bodies)} dev-set questions; default rate limit ({limit_note}); {os.cpu_count()} CPU cores shared "
              f"by the server and the load generator. Open loop, latency from each question's arrival time.\n")
        print("| phase | sent | answered | 429 handled | sent/s | p50 ms | p95 ms | p99 ms | errors | target |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        sent = len(steady.latencies) + steady.limited + steady.error_count
        print(_row(f"{args.learners} learners, Poisson {rate:.2f}/s, {args.seconds:g} s", sent, steady, steady_elapsed, True))
        if burst is not None:
            print(_row(f"burst, {args.burst} concurrent clients", args.burst, burst, burst_elapsed, False))
        print(f"\nServer memory afterwards (supervisor and {args.workers} workers, resident): {rss_mb:.0f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
