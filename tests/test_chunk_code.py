"""The chunker keeps a code block the splitter cut in one chunk when the whole of it fits the model's window."""
from __future__ import annotations

from core.markup import Section
from ingest.chunker import chunk_document
from ingest.loaders import Document

PROSE = ("Gradient boosting builds shallow trees one after another, and each new tree fixes the errors that the "
         "trees before it made on the training rows. ") * 3
# A blank line inside the block: the splitter's widest boundary, so it cuts the block there.
CODE = ("```python\n" + "\n".join(f"tree_{i} = fit_tree(rows, depth={i % 3 + 1})" for i in range(3)) + "\n\n"
        + "\n".join(f"score_{i} = evaluate(tree_{i}, held_out_rows)" for i in range(6)) + "\n```")


def test_a_code_block_cut_by_the_splitter_is_one_chunk_when_it_fits(embedder):
    text = f"{PROSE}\n\nTo fit the trees, run this code:\n\n{CODE}"
    doc = Document(source="trees.md", title="Trees", format="markdown", sections=[Section(("Trees", "Boosting"), "boosting", text)])
    chunks = chunk_document(doc, "sha", embedder, chunk_tokens=200, overlap_tokens=30)
    holding = [c for c in chunks if "tree_0 = " in c.text]
    assert len(holding) == 1 and CODE in holding[0].text, [c.text for c in chunks]
    assert all(embedder.count_tokens(c.embed_text()) <= embedder.max_tokens for c in chunks)
