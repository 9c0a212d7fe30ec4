"""The index in a local folder: one Chroma folder per generation, and manifest.json, replaced atomically, naming the live one."""
from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from core.postings import POSTINGS_FILE
from core.store import (
    COLLECTION_NAME,
    GENERATION_PREFIX,
    IndexBusyError,
    IndexMissingError,
    IndexUnusableError,
    Manifest,
)

if TYPE_CHECKING:
    from core.postings import Postings

MANIFEST_FILE = "manifest.json"
CHROMA_DATABASE = "chroma.sqlite3"  # Chroma's SQLite file in each generation folder


def _rebuild_hint(db_dir: Path, problem: str) -> IndexUnusableError:
    return IndexUnusableError(
        f"The course index in {db_dir} is damaged ({problem}). Run `course-guide ingest --db {db_dir}` to rebuild it."
    )



def read_manifest(db_dir: Path, cache: dict[str, Any] | None = None) -> Manifest | None:
    """The live manifest, None if there is no index, IndexUnusableError if it cannot be read.

    With `cache`, a manifest file that is still the one read last time (same inode, modification time and size: each
    publish renames a new file into place) is not parsed again. At 100,000 chunks in 2,000 files, parsing it took
    about 15 ms, and every question reads it several times to follow publishes."""
    path = Path(db_dir) / MANIFEST_FILE
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise _rebuild_hint(db_dir, f"unreadable {MANIFEST_FILE}: {err}") from None
    version = (status.st_ino, status.st_mtime_ns, status.st_size)
    cached = cache.get("last") if cache is not None else None
    if cached is not None and cached[0] == version:
        manifest = cached[1]
    else:
        try:
            manifest = Manifest.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise _rebuild_hint(db_dir, f"unreadable {MANIFEST_FILE}: {err}") from None
        if cache is not None:
            cache["last"] = (version, manifest)  # one assignment, so a thread never sees one half of another's
    if not (Path(db_dir) / manifest.generation).is_dir():
        raise _rebuild_hint(db_dir, f"its data folder {manifest.generation} is missing")
    return manifest


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


def publish_manifest(db_dir: Path, manifest: Manifest) -> None:
    """Switch readers to the manifest's generation in one atomic rename."""
    fd, tmp = tempfile.mkstemp(dir=db_dir, prefix=".manifest-", suffix=".tmp")
    # mkstemp makes the file 0600; a plain new file gets 0666 less the umask, so a server running as
    # another user than the ingest can read it.
    os.fchmod(fd, 0o666 & ~_umask())
    target = Path(db_dir) / MANIFEST_FILE
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(manifest.to_json())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        what = "it is a folder: move it out of the way" if target.is_dir() else "free disk space or fix the folder's permissions"
        raise IndexUnusableError(
            f"Cannot write {target} ({err.strerror}); {what}, then run ingest again. The previous index is unchanged."
        ) from None



def prune_generations(db_dir: Path, keep: set[str]) -> None:
    """Delete generation folders not in `keep` (left by earlier ingests, or by ones that failed midway)."""
    for path in Path(db_dir).glob(f"{GENERATION_PREFIX}*"):
        if path.is_dir() and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def is_read_only(folder: Path) -> bool:
    """Whether a generation folder must not be written: this process may not write it, or it was made read-only
    (no write bit, as after `chmod -R a-w`), which root would otherwise write through."""
    for path in [folder, *folder.rglob("*")]:
        if not os.access(path, os.W_OK) or not path.stat().st_mode & 0o200:
            return True
    return False


def open_client_and_collection(generation_dir: Path, create: bool = False) -> tuple[Any, Any]:
    """The Chroma client of one generation and its collection; close the client when done (it holds files and threads).

    Embeddings are always ours: Chroma's default would download a model."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    # Typed Any: chromadb's ClientAPI does not declare close(), which its clients have.
    client: Any = chromadb.PersistentClient(
        path=str(generation_dir), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    )
    try:
        if create:
            collection = client.create_collection(
                COLLECTION_NAME, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
        else:
            collection = client.get_collection(COLLECTION_NAME, embedding_function=None)
    except BaseException:
        client.close()
        raise
    return client, collection



def copy_database(live: Path, copy: Path) -> None:
    """A consistent copy of a SQLite file that another process may be using.

    Chroma's SQLite file keeps a rollback journal: while a read transaction holds SQLite's shared lock, no writer can
    change the file, so its bytes are copied then with the kernel's file copy, several times faster than SQLite's
    online backup, which copies page by page (10 s against about 2 s for 700 MB here). A file in WAL mode, whose
    committed pages may still be in its -wal file, is copied with the online backup instead."""
    connection = sqlite3.connect(live, isolation_level=None)  # transactions are begun and ended here, explicitly
    try:
        if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            snapshot = sqlite3.connect(copy)
            try:
                connection.backup(snapshot)
            finally:
                snapshot.close()
            return
        connection.execute("BEGIN")
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the shared lock, held until COMMIT
        try:
            shutil.copyfile(live, copy)
        finally:
            connection.execute("COMMIT")
    finally:
        connection.close()


@dataclass(frozen=True)
class LocalStore:
    """The index folder: one Chroma folder per generation, and manifest.json naming the live one.

    Each open collection keeps its Chroma client (SQLite files, HNSW segments, threads) until
    close_collection; a long-running server must close replaced generations, or every publish leaks."""

    db_dir: Path
    _clients: dict[int, Any] = field(default_factory=dict, init=False, compare=False, repr=False)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, init=False, compare=False, repr=False)
    # The last manifest read and its file's identity; a reader asks for it several times per question.
    _manifest_cache: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def read_manifest(self) -> Manifest | None:
        return read_manifest(self.db_dir, self._manifest_cache)

    def publish_manifest(self, manifest: Manifest) -> None:
        publish_manifest(self.db_dir, manifest)

    def open_collection(self, generation: str, create: bool = False):
        folder = self.db_dir / generation
        copy = None
        if not create and is_read_only(folder):
            # Chroma writes to its SQLite file even to read, and has no read-only mode (chroma-core/chroma#1438):
            # serve a read-only index (an image or volume built once) from a private copy, never writing to it.
            copy = Path(tempfile.mkdtemp(prefix="course-guide-readonly-"))
            atexit.register(shutil.rmtree, copy, ignore_errors=True)  # for a process that exits without closing it
            shutil.copytree(folder, copy / generation, copy_function=shutil.copyfile)
            folder = copy / generation
            for path in [folder, *folder.rglob("*")]:
                path.chmod(0o700 if path.is_dir() else 0o600)
        try:
            client, collection = open_client_and_collection(folder, create=create)
        except BaseException:
            if copy is not None:
                shutil.rmtree(copy, ignore_errors=True)
            raise
        with self._clients_lock:
            self._clients[id(collection)] = (client, copy)
        return collection

    def close_collection(self, collection) -> None:
        """Release what open_collection holds for `collection` (and its private copy, if any); it must not be used afterwards."""
        with self._clients_lock:
            client, copy = self._clients.pop(id(collection), (None, None))
        if client is not None:
            client.close()
        if copy is not None:
            shutil.rmtree(copy, ignore_errors=True)

    def prune(self, keep: set[str]) -> None:
        prune_generations(self.db_dir, keep)

    def copy_generation(self, source: str, target: str) -> None:
        """A new generation folder `target` holding what `source` holds, for ingest to change a few files in.

        Only ingest writes a generation, under the ingest lock, so `source`'s vector segment files are still; its
        SQLite file may be touched by a server reading it (Chroma writes even to read), so that one is copied as one
        consistent snapshot (copy_database)."""
        source_dir, target_dir = self.db_dir / source, self.db_dir / target
        target_dir.mkdir()
        for path in sorted(source_dir.rglob("*")):
            copy = target_dir / path.relative_to(source_dir)
            if path.is_dir():
                copy.mkdir(exist_ok=True)
            elif path.name == CHROMA_DATABASE:
                copy_database(path, copy)
            elif not path.name.startswith(CHROMA_DATABASE) and path.name != POSTINGS_FILE:
                # Chroma's -wal and -shm files are in the backup; the word counts are ingest's to write for the copy.
                shutil.copyfile(path, copy)

    def save_postings(self, generation: str, postings: Postings) -> None:
        """Store a generation's word counts in its folder, before it is published, so servers need not count them."""
        postings.save(self.db_dir / generation)

    def load_postings(self, generation: str) -> Postings | None:
        """The word counts stored with a generation, or None (an index built before they were stored)."""
        from core.postings import Postings

        return Postings.load(self.db_dir / generation)

    @contextmanager
    def ingest_lock(self) -> Iterator[None]:
        try:
            self.db_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise IndexUnusableError(f"Cannot use {self.db_dir} as the index folder ({err.strerror}); pass --db with a folder path.") from None
        lock = FileLock(self.db_dir / ".ingest.lock", timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise IndexBusyError(f"Another ingest is writing {self.db_dir}; wait for it to finish, then run again.") from None
        except OSError as err:  # a read-only folder or file system: the lock file cannot be made
            raise IndexUnusableError(
                f"Cannot write the index folder {self.db_dir} ({err.strerror}); ingest needs write access. "
                "Pass --db with a writable folder, or fix its permissions (serving from a read-only index works)."
            ) from None
        try:
            yield
        finally:
            lock.release()

    def remove_all(self) -> None:
        """Delete this index folder and everything in it: the course is removed."""
        with self._clients_lock:
            opened = list(self._clients.values())
            self._clients.clear()
        for client, _copy in opened:
            client.close()
        if self.db_dir.exists():
            shutil.rmtree(self.db_dir)

    def missing_error(self) -> IndexMissingError:
        return IndexMissingError(self.db_dir)

    def damaged_error(self, problem: str) -> IndexUnusableError:
        return _rebuild_hint(self.db_dir, problem)

    def describe(self) -> str:
        return f"folder {self.db_dir}"


