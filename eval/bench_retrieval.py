"""`make bench` retrieval table: BM25, dense, hybrid fusions and a plain LangChain RAG baseline on the dev set, plus refusal and latency.

`--dataset FILE --corpus DIR` runs the same table on another course, e.g. the held-out one in eval/datasets/heldout_webdev/."""
from __future__ import annotations

from core.settings import use_offline_environment

use_offline_environment()

import argparse
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "eval" / "datasets" / "dev.jsonl"
SHIPPED_CORPUS = ROOT / "corpus"
# The baseline a user would write from the LangChain docs: 1000-character chunks, 200 overlap, top 4.
BASELINE_CHUNK_CHARS, BASELINE_OVERLAP, BASELINE_K = 1000, 200, 4
# A baseline chunk counts as a gold passage when it holds one of the gold section's sentences of at least this many words.
_GOLD_SENTENCE_WORDS = 6


def _ranked_metrics(cases, rankings) -> dict[str, float]:
    """Mean hit@1, hit@5, MRR and nDCG@10 over cases; `rankings[i]` lists, per ranked passage, the gold sources it matches."""
    from eval import metrics as m

    rows = [
        (m.hit_at_k(hits, 1), m.hit_at_k(hits, 5), m.reciprocal_rank(hits), m.ndcg_at_k(hits, len(case.sources), 10))
        for case, hits in zip(cases, rankings)
    ]
    return {name: sum(r[i] for r in rows) / len(rows) for i, name in enumerate(["hit@1", "hit@5", "MRR", "nDCG@10"])}


def _our_rankings(guide, cases, config) -> list[list[frozenset[int]]]:
    from app.engine.conversation import condense
    from app.engine.retrieval import hybrid_search

    rankings = []
    for case in cases:
        question = condense(case.question, case.history or [])
        vector = guide.embedder.encode([question])[0]
        questions = guide.question_index() if config.question_weight and config.mode == "hybrid" else None
        hits = hybrid_search(question, vector, guide.index, guide.lexical(), 10, config, questions=questions)
        rankings.append([
            frozenset(i for i, gold in enumerate(case.sources) if gold.matches(h.chunk.source, h.chunk.section, h.chunk.page))
            for h in hits
        ])
    return rankings


def _baseline_rankings(guide, cases, corpus: Path, workdir: Path) -> list[list[frozenset[int]]]:
    """RecursiveCharacterTextSplitter(1000, 200) + Chroma.similarity_search(k=4), same model, same course files."""
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_core.documents import Document as LCDocument
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from core.markup import html_to_markdown
    from core.text import split_sentences
    from ingest.loaders import FORMATS, decode_text, list_course_files, load_document

    class SameModel(Embeddings):
        def embed_documents(self, texts):
            return [list(map(float, v)) for v in guide.embedder.encode(texts)]

        def embed_query(self, text):
            return list(map(float, guide.embedder.encode([text])[0]))

    documents = []
    files, _skipped = list_course_files(corpus)
    for path in files:
        source = path.relative_to(corpus).as_posix()
        fmt = FORMATS[path.suffix.lower()]
        if fmt in ("markdown", "text", "html"):  # the file as written, as TextLoader would read it
            text = decode_text(path.read_bytes())
            text = html_to_markdown(text) if fmt == "html" else text
            documents.append(LCDocument(page_content=text, metadata={"source": source, "page": 0}))
            continue
        doc = load_document(path, corpus)
        if fmt != "pdf":  # notebooks, slides, transcripts, Word: the whole text, as a generic document loader gives it
            text = "\n\n".join(s.text for s in doc.sections)
            documents.append(LCDocument(page_content=text, metadata={"source": source, "page": 0}))
            continue
        for page in sorted({s.page or 0 for s in doc.sections}):  # page by page, as PyPDFLoader does
            text = "\n\n".join(s.text for s in doc.sections if (s.page or 0) == page)
            documents.append(LCDocument(page_content=text, metadata={"source": source, "page": page}))
    splitter = RecursiveCharacterTextSplitter(chunk_size=BASELINE_CHUNK_CHARS, chunk_overlap=BASELINE_OVERLAP)
    store = Chroma(
        collection_name="baseline", embedding_function=SameModel(), persist_directory=str(workdir / "baseline"),
        client_settings=ChromaSettings(anonymized_telemetry=False),
    )
    store.add_documents(splitter.split_documents(documents))
    # Gold passages of the baseline: chunks holding a sentence of a gold section, as our chunks define it.
    gold_sentences: dict[tuple[int, int], list[str]] = {}
    chunks = guide.index.chunks()
    for ci, case in enumerate(cases):
        for gi, gold in enumerate(case.sources):
            gold_sentences[ci, gi] = [
                s.text for c in chunks if gold.matches(c.source, c.section, c.page)
                for s in split_sentences(c.text) if len(s.text.split()) >= _GOLD_SENTENCE_WORDS
            ]
    rankings = []
    for ci, case in enumerate(cases):
        from app.engine.conversation import condense

        found = store.similarity_search(condense(case.question, case.history or []), k=BASELINE_K)
        rankings.append([
            frozenset(
                gi for gi, gold in enumerate(case.sources)
                if d.metadata["source"] == gold.source and (gold.page is None or d.metadata["page"] == gold.page)
                and any(sentence in " ".join(d.page_content.split()) for sentence in gold_sentences[ci, gi])
            )
            for d in found
        ])
    return rankings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, default=DEV_SET, help="JSONL dataset [default: the dev set]")
    parser.add_argument("--corpus", type=Path, default=SHIPPED_CORPUS,
                        help="course folder the dataset's sources come from [default: the shipped corpus/]")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        parser.error(f"no course folder at {args.corpus}; pass --corpus with the folder of the dataset's lessons")

    from app.engine.answer import answer_question, prepare_question
    from app.engine.guide import open_guide
    from app.engine.retrieval import RetrievalConfig
    from core.model import load_embedder
    from core.settings import Settings
    from eval.bench import percentile
    from eval.dataset import load_dataset
    from ingest.pipeline import ingest_corpus

    dataset = load_dataset(args.dataset)
    in_scope = [c for c in dataset.cases if c.in_scope and not c.synthetic]
    tmp = Path(tempfile.mkdtemp(prefix="course-guide-bench-retrieval-"))
    try:
        settings = Settings(corpus_dir=args.corpus, db_dir=tmp / "index")
        embedder = load_embedder()
        ingest_corpus(settings, lambda: embedder, log=lambda _m: None, progress=False)
        guide = open_guide(settings, embedder)
        default = RetrievalConfig()
        variants = {
            "BM25 alone": replace(default, mode="bm25", neighbours=False),
            "dense alone": replace(default, mode="dense", neighbours=False),
            "hybrid RRF": replace(default, fusion="rrf", neighbours=False),
            **{f"hybrid weighted {w:.2f}": replace(default, dense_weight=w, neighbours=False) for w in (0.6, 0.7, 0.8, 0.85, 0.9)},
            "hybrid default, no MMR": replace(default, mmr_lambda=1.0, neighbours=False),
            "hybrid default, no generated questions": replace(default, question_weight=0.0, neighbours=False),
        }
        table = {name: _ranked_metrics(in_scope, _our_rankings(guide, in_scope, config)) for name, config in variants.items()}
        table["LangChain baseline (k=4)"] = _ranked_metrics(in_scope, _baseline_rankings(guide, in_scope, settings.corpus_dir, tmp))

        print(f"\nRetrieval on {args.dataset.name} over {args.corpus}: {len(in_scope)} in-scope questions "
              "(follow-ups made to stand alone first)")
        print(f"default: {default.fusion} fusion, dense weight {default.dense_weight}, MMR lambda {default.mmr_lambda}")
        print(f"{'retriever':<40}{'hit@1':>8}{'hit@5':>8}{'MRR':>8}{'nDCG@10':>9}")
        for name, row in table.items():
            print(f"{name:<40}{row['hit@1']:>8.3f}{row['hit@5']:>8.3f}{row['MRR']:>8.3f}{row['nDCG@10']:>9.3f}")
        print("(the baseline returns 4 passages, so its hit@5 is hit@4 and its nDCG@10 is over 4)")

        refused_in = [c.question for c in in_scope if not prepare_question(guide, c.question, c.history).in_scope]
        out = [c for c in dataset.cases if not c.in_scope]
        answered_out = [c.question for c in out if prepare_question(guide, c.question, c.history).in_scope]
        print(f"\nRefusal on {args.dataset.name}: out-of-scope refused {1 - len(answered_out) / len(out):.1%} of {len(out)} "
              f"(aim >= 95%); in-scope wrongly refused {len(refused_in) / len(in_scope):.1%} of {len(in_scope)} (aim <= 3%)")

        timings = []
        for case in dataset.cases * 2:
            started = time.perf_counter()
            answer_question(guide, case.question, case.history)
            timings.append((time.perf_counter() - started) * 1000)
        print(f"Offline answer latency over {len(timings)} answers: p50 {percentile(timings, 50):.1f} ms, p95 {percentile(timings, 95):.1f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
