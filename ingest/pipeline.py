"""Incremental ingest: re-chunk changed files, embed only new passages, build a fresh generation and publish it atomically."""
from __future__ import annotations

import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from core.index import IndexReader, open_store
from core.model import TextEmbedder, model_identity
from core.postings import Postings
from core.quiz import QuizItem
from core.settings import Settings
from core.store import (
    CHUNKER_VERSION,
    FailedFile,
    FileEntry,
    IndexUnusableError,
    Manifest,
    Store,
    get_every_record,
    new_generation_name,
)
from core.types import Chunk
from ingest.chunker import ChunkTooLongError, TooManyChunksError, chunk_document
from ingest.loaders import FORMATS, BadFileError, CourseSite, list_course_files, load_document, source_sha256
from ingest.quizzes import QuizProblem, load_instructor_items, named_lessons

# A change touching at most this share of the live generation's chunks is published by copying the generation and
# replacing only the changed files' chunks in the copy; a bigger one writes a whole new generation (which also
# drops the deleted records that copies carry along).
COPY_SHARE = 0.2


class IngestError(RuntimeError):
    """The ingest cannot run or must not publish; the message says what to do."""


@dataclass(frozen=True)
class FileProblem:
    source: str
    reason: str

    def message(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass
class IngestReport:
    files: int = 0
    skipped: list[str] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    chunks: int = 0
    seconds: float = 0.0
    generation: str | None = None
    published: bool = False
    quiz_items: int = 0
    quiz_problems: list[QuizProblem] = field(default_factory=list)

    def summary_line(self) -> str:
        extra = []
        if self.skipped:
            extra.append(f"{len(self.skipped)} skipped")
        if self.problems:
            extra.append(f"{len(self.problems)} failed")
        files = f"{self.files} files" + (f" ({', '.join(extra)})" if extra else "")
        return (
            f"{files}; chunks: {self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged ({self.chunks} in index); {self.seconds:.1f} s"
        ) + (f"; quiz items: {self.quiz_items} loaded, {len(self.quiz_problems)} rejected" if self.quiz_items or self.quiz_problems else "")

    def to_dict(self) -> dict:
        return {
            "files": self.files,
            "skipped": self.skipped,
            "problems": [{"source": p.source, "reason": p.reason} for p in self.problems],
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "embedded": self.embedded,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "generation": self.generation,
            "published": self.published,
            "quiz_items": self.quiz_items,
            "quiz_problems": [{"source": p.source, "item": p.item, "reason": p.reason} for p in self.quiz_problems],
        }


def index_config(settings: Settings) -> dict:
    """Everything that shapes chunks and vectors; an index built with another config is rebuilt from scratch."""
    return {
        "model": model_identity(settings.model_path, settings.embed_backend),
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap_tokens": settings.chunk_overlap_tokens,
        "chunker_version": CHUNKER_VERSION,
        # Citation URLs of Markdown lessons are made at ingest, so a new course site rebuilds them.
        "course_site_url": settings.course_site_url,
        "course_site_style": settings.course_site_style,
    }


class FileTooLargeError(BadFileError):
    """A course file over the size limit; not read at all."""


def _check_size(path: Path, max_bytes: int) -> None:
    size = path.stat().st_size
    if size > max_bytes:
        raise FileTooLargeError(
            f"is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB limit for one course file "
            "(COURSE_GUIDE_MAX_FILE_BYTES); split it into smaller lessons, or raise the limit"
        )


def _stored(manifest: Manifest | None, store: Store) -> dict[str, tuple[Chunk, list[float]]]:
    """Every chunk of the live generation with its vector, by id, so unchanged passages are never re-embedded."""
    if manifest is None:
        return {}
    collection = store.open_collection(manifest.generation)
    try:
        got = get_every_record(collection, ["documents", "metadatas", "embeddings"])
    finally:
        store.close_collection(collection)
    return {
        i: (Chunk.from_store(i, d, m), e)
        for i, d, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])
    }


def _write_failed(store: Store, err: Exception) -> IngestError:
    return IngestError(
        f"Could not write the new index generation in the {store.describe()} ({type(err).__name__}: {err}). If the disk "
        "is full, free space or move the index (--db), then run ingest again. The previous index is unchanged and still serves."
    )


def _open_generation(store: Store, name: str):
    """The new generation's empty collection."""
    from chromadb.errors import ChromaError

    try:
        return store.open_collection(name, create=True)
    except (ChromaError, OSError) as err:
        raise _write_failed(store, err) from None


def _write_generation(store: Store, name: str, chunks: list[Chunk], vectors: list, collection: Any = None) -> None:
    """Write every chunk into generation `name`, into `collection` if it was opened already; the collection is closed after."""
    from chromadb.errors import ChromaError

    if collection is None:
        collection = _open_generation(store, name)
    try:
        batch = collection._client.get_max_batch_size()
        for start in range(0, len(chunks), batch):
            part = chunks[start : start + batch]
            collection.add(
                ids=[c.id for c in part],
                embeddings=vectors[start : start + batch],
                documents=[c.text for c in part],
                metadatas=[c.metadata() for c in part],
            )
        held = collection.count()
    except (ChromaError, OSError) as err:  # e.g. "database or disk is full"
        raise _write_failed(store, err) from None
    finally:
        store.close_collection(collection)
    if held != len(chunks):
        raise IngestError(f"the new index holds {held} chunks, expected {len(chunks)}; run ingest again")


@dataclass
class _Prepared:
    """What a new generation needs besides its vectors, made while the model encodes."""

    collection: Any  # the generation's collection, created and still empty
    postings: Postings | None  # its word counts; None for a store that keeps none
    quiz: tuple[list[QuizItem], list[QuizProblem]]  # the course's instructor items, and what was rejected


def _prepare_generation(store: Store, name: str, corpus: Path, final: list[Chunk]) -> _Prepared:
    """Create generation `name`'s collection and make its word counts and quiz items, none of which needs a vector."""
    collection = _open_generation(store, name)
    try:
        postings = Postings.from_chunks(final) if getattr(store, "save_postings", None) is not None else None
        quiz = load_instructor_items(corpus, final)
    except BaseException:
        store.close_collection(collection)
        raise
    return _Prepared(collection, postings, quiz)


def _abandon(preparing: Future[_Prepared], store: Store) -> None:
    """Wait for a preparation whose ingest failed, and close the collection it opened (the caller prunes its folder)."""
    try:
        prepared = preparing.result()
    except BaseException:  # its own failure closed what it opened; the ingest's error is the one raised
        return
    store.close_collection(prepared.collection)


def ingest_corpus(
    settings: Settings,
    get_embedder: Callable[[], TextEmbedder],
    *,
    strict: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = lambda _msg: None,
) -> IngestReport:
    """Bring the index (settings.db_dir, or the Chroma server) in step with settings.corpus_dir; loads the model only if something changed."""
    started = time.perf_counter()
    corpus = Path(settings.corpus_dir)
    if not corpus.is_dir():
        raise IngestError(f"No course folder at {corpus}. Pass --corpus DIR or set COURSE_GUIDE_CORPUS_DIR.")
    store = open_store(settings)
    try:
        with store.ingest_lock():
            report = _ingest_locked(settings, corpus, store, get_embedder, strict, progress, log)
    except IndexUnusableError as err:  # busy, unwritable folder, unreachable server
        raise IngestError(str(err)) from None
    report.seconds = time.perf_counter() - started
    return report


def _strict_failure(report: IngestReport) -> IngestError:
    return IngestError(
        f"{len(report.problems)} file(s) could not be ingested and --strict is on; the index was not changed. "
        "Fix or remove them, or run without --strict."
    )


@dataclass
class _Plan:
    """What differs between the course folder and the live index."""

    sources: dict[str, Path]  # every ingestible file, by its path relative to the course folder
    shas: dict[str, str]
    changed: list[str]  # new or edited files: to be loaded and chunked
    deleted: list[str]  # in the index, gone from the folder
    still_failed: dict[str, FailedFile]  # failed last time and unchanged since
    orders: dict[str, int | None] = field(default_factory=dict)  # front-matter lesson order of each file loaded now


def file_limits(settings: Settings) -> dict[str, int]:
    """The per-file limits; a file refused under them is tried again once they change."""
    return {"max_file_bytes": settings.max_file_bytes, "max_chunks_per_file": settings.max_chunks_per_file}


def _plan(corpus: Path, files: list[Path], old_files: dict[str, FileEntry], old_failed: dict[str, FailedFile], limits: dict[str, int]) -> _Plan:
    sources = {p.relative_to(corpus).as_posix(): p for p in files}
    shas = {source: source_sha256(path) for source, path in sources.items()}
    old_failed = {s: f for s, f in old_failed.items() if f.limits is None or f.limits == limits}

    def known_shas(source: str) -> set[str]:
        # Unchanged means the bytes match what the index holds, or what failed last time (no need to fail again).
        return {entry[source].sha256 for entry in (old_files, old_failed) if source in entry}

    changed = [s for s in sources if shas[s] not in known_shas(s)]
    still_failed = {s: f for s, f in old_failed.items() if s in shas and s not in changed}
    return _Plan(sources, shas, changed, sorted(set(old_files) - set(shas)), still_failed)


def _ingest_locked(settings, corpus, store, get_embedder, strict, progress, log) -> IngestReport:
    report = IngestReport()
    files, skipped = list_course_files(corpus)
    report.skipped = [p.relative_to(corpus).as_posix() for p in skipped]
    for path, why in skipped.items():
        log(f"skipped {path.relative_to(corpus).as_posix()}: {why}")
    if not files:
        raise IngestError(f"No course documents in {corpus} (looked for {', '.join(sorted(FORMATS))}).")
    report.files = len(files)

    try:
        old = store.read_manifest()
    except IndexUnusableError as err:
        log(f"{err} Rebuilding it now.")
        old = None
    config = index_config(settings)
    if old is not None and old.config != config:
        log("index settings or model changed: rebuilding every chunk")
        old = replace(old, files={}, failed={})
    old_files = old.files if old else {}
    plan = _plan(corpus, files, old_files, old.failed if old else {}, file_limits(settings))

    report.problems = [FileProblem(s, f.reason) for s, f in plan.still_failed.items()]
    for problem in report.problems:
        log(f"error: {problem.message()} (unchanged since the last ingest)")
    if strict and report.problems:
        raise _strict_failure(report)
    if old is not None and old_files and not plan.changed and not plan.deleted:
        report.unchanged = report.chunks = old.chunk_count
        report.generation = old.generation
        corpus_path = str(corpus.resolve())
        # Quiz items are re-resolved against the stored chunks; their text is enough, not their vectors.
        reader = IndexReader(store)
        try:
            quiz = _quiz_items(corpus, reader.chunks(), report, log)
        finally:
            reader.close()
        if old.corpus_dir != corpus_path or set(old.failed) != set(plan.still_failed) or quiz != old.quiz_items:
            # Same chunks, but the course folder moved, a bad file went away or a quiz file changed: the manifest must say so.
            store.publish_manifest(replace(old, corpus_dir=corpus_path, failed=plan.still_failed, quiz_items=quiz))
            # New quiz items are new content for learners; a moved folder or a gone bad file is bookkeeping.
            report.published = quiz != old.quiz_items
        if old.previous:
            # A run killed between its manifest switch and its prune left an extra generation: remove it now. (A
            # manifest from before `previous` was recorded does not say which one a server may still be reading.)
            store.prune(keep={old.generation, old.previous})
        return report

    embedder = get_embedder()
    new_chunks, failed = _chunk_changed(plan, corpus, old_files, embedder, settings, report, log)
    if strict and report.problems:
        raise _strict_failure(report)

    if settings.publish_by_copy and old is not None and old_files and _worth_copying(store, plan, new_chunks, old):
        return _publish_by_copy(store, old, plan, new_chunks, failed, embedder, settings, corpus, progress, report, log)

    stored = _stored(old if old_files else None, store)
    final, manifest_files = _assemble(plan, new_chunks, stored, old_files, report, log)
    to_embed = [c for c in final if c.id not in stored]
    report.embedded = len(to_embed)
    vectors_by_id = {i: vec for i, (_, vec) in stored.items()}
    name = new_generation_name()
    live = {old.generation, *([old.previous] if old.previous else [])} if old else set()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-prepare") as pool:
        # Torch releases the GIL while it computes, so the new generation's collection is created, and its word counts
        # and quiz items made, while the model encodes, instead of after it.
        preparing = pool.submit(_prepare_generation, store, name, corpus, final)
        try:
            if to_embed:
                log(f"embedding {len(to_embed)} chunks")
                vectors = embedder.encode([c.embed_text() for c in to_embed], batch_size=settings.embed_batch_size, progress=progress)
                vectors_by_id.update({c.id: v for c, v in zip(to_embed, vectors)})
            prepared = preparing.result()
        except BaseException:
            # An interrupted embedding (or a failed preparation) leaves no generation folder behind.
            _abandon(preparing, store)
            store.prune(keep=live)
            raise
    try:
        _write_generation(store, name, final, [vectors_by_id[c.id] for c in final], prepared.collection)
        _save_postings(store, name, lambda: prepared.postings)
    except IngestError:
        # Free what the half-written generation took (on a full disk, that is the point); the live ones stay.
        store.prune(keep=live)
        raise
    quiz = _report_quiz(prepared.quiz, report, log)
    previous = old.generation if old else None
    store.publish_manifest(
        Manifest(name, config, manifest_files, len(final), str(corpus.resolve()), failed, quiz_items=quiz, previous=previous)
    )
    # The generation before stays: a running server may be answering from it right now.
    store.prune(keep={name} | ({previous} if previous else set()))
    report.chunks = len(final)
    report.generation = name
    report.published = True
    return report


def _save_postings(store: Store, generation: str, make: Callable[[], Postings | None]) -> None:
    """Store the new generation's word counts beside it (a local index: a Chroma server has no folder for them), so each
    server computes BM25 from them instead of tokenising every chunk; `make` returns None when they cannot be made."""
    save = getattr(store, "save_postings", None)
    if save is None:
        return
    postings = make()
    if postings is None:
        return
    try:
        save(generation, postings)
    except OSError as err:
        raise _write_failed(store, err) from None


def _worth_copying(store: Store, plan: _Plan, new_chunks: dict[str, list[Chunk]], old: Manifest) -> bool:
    """Whether the store can copy a generation and the change is small enough for a copy to be the cheaper publish."""
    if getattr(store, "copy_generation", None) is None:
        return False  # a Chroma server has no collection copy: each publish writes a whole generation there
    touched = sum(old.files[s].chunks for s in set(new_chunks) | set(plan.deleted) if s in old.files)
    touched += sum(len(chunks) for chunks in new_chunks.values())
    return touched <= COPY_SHARE * old.chunk_count


def _publish_by_copy(store, old: Manifest, plan, new_chunks, failed, embedder, settings, corpus, progress, report, log) -> IngestReport:
    """A small change: the live generation is copied, and in the copy only the changed and deleted files' chunks are
    replaced; the copy is published by the same manifest switch as a full write, so readers see the old course or the new."""
    from chromadb.errors import ChromaError

    live = {old.generation, *([old.previous] if old.previous else [])}
    touched = sorted(set(new_chunks) | set(plan.deleted))
    stored = _stored_of(store, old.generation, touched)
    manifest_files = _count_changes(plan, new_chunks, stored, old.files, report, log)
    fresh = [chunk for source in sorted(new_chunks) for chunk in new_chunks[source]]
    to_embed = [c for c in fresh if c.id not in stored]
    report.embedded = len(to_embed)
    vectors_by_id = {i: vec for i, (_, vec) in stored.items()}
    if to_embed:  # before anything is written, so an interrupted embedding leaves nothing behind
        log(f"embedding {len(to_embed)} chunks")
        vectors = embedder.encode([c.embed_text() for c in to_embed], batch_size=settings.embed_batch_size, progress=progress)
        vectors_by_id.update({c.id: v for c, v in zip(to_embed, vectors)})

    name = new_generation_name()
    try:
        store.copy_generation(old.generation, name)
        collection = store.open_collection(name)
    except (ChromaError, OSError, sqlite3.Error) as err:
        store.prune(keep=live)
        raise _write_failed(store, err) from None
    try:
        stale = sorted(set(stored) - {c.id for c in fresh})
        if stale:
            collection.delete(ids=stale)
        batch = collection._client.get_max_batch_size()
        for write, part_of in ((collection.add, [c for c in fresh if c.id not in stored]), (collection.update, [c for c in fresh if c.id in stored])):
            # Kept passages are written too: their file's hash and their place in the lesson may have changed.
            for start in range(0, len(part_of), batch):
                part = part_of[start : start + batch]
                write(
                    ids=[c.id for c in part], embeddings=[vectors_by_id[c.id] for c in part],
                    documents=[c.text for c in part], metadatas=[c.metadata() for c in part],
                )
        held = collection.count()
        # The unchanged files' word counts are kept and only the changed files' chunks are counted; from an index
        # built before counts were stored there is nothing to keep, and servers count every chunk as before.
        _save_postings(store, name, lambda: _replaced_postings(store, old.generation, touched, fresh))
        quiz_chunks = []
        # Quiz items are resolved against the chunks of the lessons they name: only those are read (none without quiz files).
        lessons = sorted(named_lessons(corpus) & set(manifest_files))
        if lessons:
            named = get_every_record(collection, ["documents", "metadatas"], where={"source": {"$in": lessons}})
            quiz_chunks = [Chunk.from_store(i, d, m) for i, d, m in zip(named["ids"], named["documents"], named["metadatas"])]
    except (ChromaError, OSError) as err:
        store.close_collection(collection)
        store.prune(keep=live)
        raise _write_failed(store, err) from None
    except IngestError:
        store.close_collection(collection)
        store.prune(keep=live)
        raise
    store.close_collection(collection)
    expected = sum(entry.chunks for entry in manifest_files.values())
    if held != expected:
        store.prune(keep=live)
        raise IngestError(f"the new index holds {held} chunks, expected {expected}; run ingest again")
    quiz = _quiz_items(corpus, sorted(quiz_chunks, key=lambda c: (c.source, c.ordinal)), report, log)
    store.publish_manifest(
        Manifest(name, old.config, manifest_files, held, str(corpus.resolve()), failed, quiz_items=quiz, previous=old.generation)
    )
    store.prune(keep={name, old.generation})
    report.chunks = held
    report.generation = name
    report.published = True
    return report


def _replaced_postings(store: Store, generation: str, touched: list[str], fresh: list[Chunk]) -> Postings | None:
    """`generation`'s stored word counts with the `touched` files' rows replaced by the counts of their `fresh` chunks."""
    old = store.load_postings(generation)  # type: ignore[attr-defined]  # only stores with save_postings get here
    return old.replacing(touched, fresh) if old is not None else None


def _stored_of(store: Store, generation: str, sources: list[str]) -> dict[str, tuple[Chunk, list[float]]]:
    """The chunks of `sources` in `generation`, with their vectors, by id: what a small change may reuse."""
    if not sources:  # every changed file failed to load: nothing to replace
        return {}
    collection = store.open_collection(generation)
    try:
        got = collection.get(where={"source": {"$in": sources}}, include=["documents", "metadatas", "embeddings"])
    finally:
        store.close_collection(collection)
    return {i: (Chunk.from_store(i, d, m), e) for i, d, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])}


def _count_changes(plan, new_chunks, stored, old_files, report, log) -> dict[str, FileEntry]:
    """The next generation's file entries when only the changed and deleted files' chunks (`stored`) are read, and the
    counts of what changed; the same counts _assemble makes from every chunk."""
    by_source: dict[str, set[str]] = {}
    for chunk_id, (chunk, _) in stored.items():
        by_source.setdefault(chunk.source, set()).add(chunk_id)
    manifest_files: dict[str, FileEntry] = {}
    for source in sorted(plan.shas):
        if source in new_chunks:
            chunks = new_chunks[source]
            _count_changed_file(report, by_source.get(source, set()), {c.id for c in chunks})
            manifest_files[source] = FileEntry(plan.shas[source], chunks[0].title, len(chunks), plan.orders.get(source))
        elif source in old_files:
            report.unchanged += old_files[source].chunks
            manifest_files[source] = old_files[source]
    for source in plan.deleted:
        report.removed += len(by_source.get(source, set()))
        log(f"removed {source}: no longer in the course folder")
    if not manifest_files:
        raise IngestError("No file could be ingested; see the errors above. The previous index (if any) is unchanged.")
    return manifest_files


def _quiz_items(corpus: Path, chunks: list[Chunk], report: IngestReport, log) -> list[dict]:
    """The course's valid instructor quiz items, for the manifest; each rejected item is reported."""
    return _report_quiz(load_instructor_items(corpus, chunks), report, log)


def _report_quiz(found: tuple[list[QuizItem], list[QuizProblem]], report: IngestReport, log) -> list[dict]:
    """The valid items of `found` (what load_instructor_items returned), for the manifest; each rejected item is reported."""
    items, report.quiz_problems = found
    report.quiz_items = len(items)
    for problem in report.quiz_problems:
        log(f"quiz error: {problem.message()}")
    return [item.to_dict() for item in items]


def _chunk_changed(plan, corpus, old_files, embedder, settings, report, log) -> tuple[dict[str, list[Chunk]], dict[str, FailedFile]]:
    """Chunks of every new or edited file; a file that cannot be read is reported and remembered as failed."""
    new_chunks: dict[str, list[Chunk]] = {}
    failed = dict(plan.still_failed)
    for source in plan.changed:
        try:
            _check_size(plan.sources[source], settings.max_file_bytes)
            document = load_document(plan.sources[source], corpus, CourseSite.from_settings(settings))
            new_chunks[source] = chunk_document(
                document, plan.shas[source], embedder, settings.chunk_tokens, settings.chunk_overlap_tokens,
                max_chunks=settings.max_chunks_per_file,
            )
            plan.orders[source] = document.order
        except (BadFileError, ChunkTooLongError, TooManyChunksError) as err:
            problem = FileProblem(source, str(err))
            report.problems.append(problem)
            over_limit = isinstance(err, (FileTooLargeError, TooManyChunksError))
            failed[source] = FailedFile(plan.shas[source], problem.reason, file_limits(settings) if over_limit else None)
            kept = " (its previous version stays in the index)" if source in old_files else ""
            log(f"error: {problem.message()}{kept}")
    return new_chunks, failed


def _count_changed_file(report: IngestReport, old_ids: set[str], new_ids: set[str]) -> None:
    """Count one changed file's passages: its new ones replace its old ones, and pairs of them count as updated."""
    fresh, gone = len(new_ids - old_ids), len(old_ids - new_ids)
    report.unchanged += len(new_ids & old_ids)
    report.updated += min(fresh, gone)
    report.added += fresh - min(fresh, gone)
    report.removed += gone - min(fresh, gone)


def _assemble(plan, new_chunks, stored, old_files, report, log) -> tuple[list[Chunk], dict[str, FileEntry]]:
    """Every chunk of the next generation, in corpus order, and the counts of what changed."""
    by_source: dict[str, list[str]] = {}
    for chunk_id, (chunk, _) in stored.items():
        by_source.setdefault(chunk.source, []).append(chunk_id)
    final: list[Chunk] = []
    manifest_files: dict[str, FileEntry] = {}
    for source in sorted(plan.shas):
        if source in new_chunks:
            chunks = new_chunks[source]
            _count_changed_file(report, set(by_source.get(source, [])), {c.id for c in chunks})
            manifest_files[source] = FileEntry(plan.shas[source], chunks[0].title, len(chunks), plan.orders.get(source))
        elif source in old_files and source in by_source:
            # Unchanged, or bad now but good before: keep what the index already has.
            chunks = sorted((stored[i][0] for i in by_source[source]), key=lambda c: c.ordinal)
            report.unchanged += len(chunks)
            manifest_files[source] = old_files[source]
        else:
            continue
        final.extend(chunks)
    for source in plan.deleted:
        report.removed += len(by_source.get(source, []))
        log(f"removed {source}: no longer in the course folder")
    if not final:
        raise IngestError("No file could be ingested; see the errors above. The previous index (if any) is unchanged.")
    return final, manifest_files
