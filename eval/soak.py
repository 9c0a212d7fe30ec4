"""`make soak`: a running server (`course-guide serve` in a child process) through N publishes; /proc figures before and after."""
from __future__ import annotations

from core.settings import use_offline_environment

use_offline_environment()

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSON = "# Lenses\n\nA convex lens bends light towards a focus. Revision {n}.\n\n## Mirrors\n\nA concave mirror also focuses light.\n"


def proc_figures(pid: int, db_dir: Path) -> dict[str, float]:
    """Open descriptors, deleted files still held open, native threads and resident memory of `pid`, and the index's disk use."""
    fd_dir = Path(f"/proc/{pid}/fd")
    targets = []
    for fd in os.listdir(fd_dir):
        try:
            targets.append(os.readlink(fd_dir / fd))
        except OSError:  # closed while we looked
            continue
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    disk = sum(p.stat().st_size for p in db_dir.rglob("*") if p.is_file())
    return {
        "open fds": len(targets),
        "deleted files held open": sum(t.endswith("(deleted)") for t in targets),
        "threads": int(status["Threads"]),
        "RSS MB": int(status["VmRSS"].split()[0]) / 1024,
        "index on disk MB": disk / 1e6,
    }


def wait_for(url: str, server: subprocess.Popen, seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before answering; see its output above")
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.5)
    raise SystemExit(f"the server at {url} did not answer within {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--publishes", type=int, default=300)
    parser.add_argument("--max-seconds", type=float, default=900, help="stop publishing after this long, whatever the count")
    args = parser.parse_args()

    import httpx

    from app.web.server import free_loopback_port
    from core.model import load_embedder
    from core.settings import Settings
    from ingest.pipeline import ingest_corpus

    work = Path(tempfile.mkdtemp(prefix="course-guide-soak-"))
    course, db_dir = work / "course", work / "index"
    course.mkdir()
    (course / "01-lenses.md").write_text(LESSON.format(n=0))
    settings = Settings(corpus_dir=course, db_dir=db_dir)
    embedder = load_embedder()
    ingest_corpus(settings, lambda: embedder)

    port = free_loopback_port()
    env = {**os.environ, "COURSE_GUIDE_RATE_LIMIT_PER_MINUTE": "1000000"}
    server = subprocess.Popen(
        [sys.executable, "-c", "from app.cli.main import main; main()", "serve", "--db", str(db_dir), "--port", str(port)], cwd=ROOT, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url, server)
        with httpx.Client(base_url=url, timeout=60) as http:

            def ask() -> str:
                """One question, then the generation the server answered from."""
                http.post("/api/ask", json={"question": "How does a convex lens focus light?"}).raise_for_status()
                return http.get("/api/health").json()["generation"]

            ask()
            before = proc_figures(server.pid, db_dir)
            started, done = time.monotonic(), 0
            for n in range(1, args.publishes + 1):
                if time.monotonic() - started > args.max_seconds:
                    break
                (course / "01-lenses.md").write_text(LESSON.format(n=n))
                report = ingest_corpus(settings, lambda: embedder)
                if not report.published:
                    raise SystemExit(f"publish {n} did not publish")
                if ask() != report.generation:
                    raise SystemExit(f"after publish {n} the server still answers from an older generation")
                done = n
                if n % 50 == 0:
                    print(f"{n} publishes, {time.monotonic() - started:.0f} s: {proc_figures(server.pid, db_dir)}", flush=True)
            after = proc_figures(server.pid, db_dir)
            seconds = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{done} publishes in {seconds:.0f} s, one question after each (server pid {server.pid})\n")
    print(f"| {'figure':<26} | {'before':>8} | {'after':>8} |")
    print(f"|{'-' * 28}|{'-' * 10}|{'-' * 10}|")
    for name in before:
        print(f"| {name:<26} | {before[name]:>8.1f} | {after[name]:>8.1f} |")
    # Bounds far below the old leak (~11 fds, 3 threads and 3.5 MB per publish) and above allocator noise.
    if (after["deleted files held open"] or after["open fds"] > before["open fds"] + 10
            or after["threads"] > before["threads"] + 5 or after["RSS MB"] > before["RSS MB"] + 150):
        raise SystemExit("the server leaks across publishes (see the table)")


if __name__ == "__main__":
    main()
