"""Sentence embeddings with a pretrained BERT, for retrieval and extractive summaries (chapter 6).

all-MiniLM-L6-v2 was trained (Reimers & Gurevych, 2019; sentence-transformers) so that the
**mean of its token vectors, normalised to length 1**, places texts with similar meaning close
together: the cosine similarity of two such vectors is their dot product. That turns a BERT
into a search engine and a summariser with no further training:

* :func:`embed_texts`: texts -> unit vectors ``(n, d_model)``;
* :func:`search`: the ``k`` passages closest to each query;
* :func:`split_passages`: paragraphs of a Markdown text, the units a question is answered with;
* :func:`book_documents`: the book's own text, chapter by chapter and page by page, as a reader
  reads it (each computed number in place of its expression), and :func:`documents_digest`;
* :func:`extractive_summary`: pick sentences near the text's centroid, optionally penalising
  redundancy (maximal marginal relevance, Carbonell & Goldstein, 1998).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ._checks import expect_positive_int, expect_tensor
from .bert import masked_mean
from .runtime import evaluating

__all__ = [
    "embed_texts",
    "extractive_summary",
    "search",
    "split_passages",
    "book_documents",
    "documents_digest",
]


def embed_texts(
    bert, tokenizer, texts: Sequence[str], max_length: int = 256, batch_size: int = 64
) -> torch.Tensor:
    """Unit-length mean-pooled embeddings ``(len(texts), d_model)`` of ``texts``."""
    if isinstance(texts, str) or not texts:
        raise ValueError("texts must be a non-empty list of strings")
    expect_positive_int("batch_size", batch_size)
    limit = bert.config.max_position_embeddings
    if max_length > limit:
        raise ValueError(f"max_length {max_length} is longer than the model allows ({limit} positions)")
    vectors = []
    with evaluating(bert):
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = bert(batch["input_ids"], batch["attention_mask"]).last_hidden_state  # (batch, seq, d)
            vectors.append(F.normalize(masked_mean(hidden, batch["attention_mask"]), dim=-1))  # unit length
    return torch.cat(vectors)


def search(queries: torch.Tensor, passages: torch.Tensor, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities and indices ``(n_queries, k)`` of the ``k`` passages closest to each query.

    Both inputs must be unit vectors (as :func:`embed_texts` returns), so a dot product is a cosine.
    """
    expect_tensor("queries", queries)
    expect_tensor("passages", passages)
    if queries.dim() != 2 or passages.dim() != 2 or queries.shape[1] != passages.shape[1]:
        raise ValueError(
            f"queries (n, d) and passages (m, d) must share d; got {tuple(queries.shape)} and {tuple(passages.shape)}"
        )
    expect_positive_int("k", k)
    scores = queries @ passages.T  # (n_queries, n_passages)
    top = scores.topk(min(k, passages.shape[0]), dim=-1)
    return top.values, top.indices


def split_passages(markdown: str, min_words: int = 25) -> list[str]:
    """Paragraphs of a Markdown text with at least ``min_words`` words, code and directives dropped."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)  # code blocks and MyST directives
    passages = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [
            line.strip() for line in paragraph.splitlines() if not line.lstrip().startswith(("#", "|", ":"))
        ]
        cleaned = re.sub(r"\s+", " ", " ".join(lines)).strip()
        if len(cleaned.split()) >= min_words:
            passages.append(cleaned)
    return passages


def extractive_summary(vectors: torch.Tensor, n_sentences: int, diversity: float = 0.0) -> list[int]:
    """Indices (in text order) of ``n_sentences`` sentences that summarise a text.

    ``vectors``: unit embeddings of the text's sentences ``(n, d)``. Each pick maximises
    ``(1 - diversity) * cos(sentence, centroid) - diversity * max cos(sentence, already picked)``:
    ``diversity=0`` takes the sentences closest to the text's mean meaning (the centroid method);
    larger values trade relevance for covering different points (maximal marginal relevance).
    """
    expect_tensor("vectors", vectors)
    if vectors.dim() != 2:
        raise ValueError(f"vectors must be (sentences, d); got shape {tuple(vectors.shape)}")
    expect_positive_int("n_sentences", n_sentences)
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be in [0, 1]; got {diversity}")
    centroid = F.normalize(vectors.mean(0), dim=0)
    relevance = vectors @ centroid  # (n,)
    similarity = vectors @ vectors.T  # (n, n)
    chosen: list[int] = []
    for _ in range(min(n_sentences, len(vectors))):
        redundancy = similarity[:, chosen].max(1).values if chosen else torch.zeros_like(relevance)
        score = (1 - diversity) * relevance - diversity * redundancy
        score[chosen] = float("-inf")
        chosen.append(int(score.argmax()))
    return sorted(chosen)


# pages that record the notebooks' runs, rewritten by every run: not text to search
RUN_RECORDS = ("runtimes.md",)


def book_documents(root: str | Path) -> dict[str, str]:
    """The book's text by document name: every chapter's Markdown cells (``root/chapters``), each
    ``{eval}`` expression replaced by the result stored with it, then every page (``root/book``)
    but the run-time table (:data:`RUN_RECORDS`), which every notebook run rewrites.

    This is what chapter 6 searches and summarises; :func:`documents_digest` of it tells whether
    the text changed since the chapter's stored run.
    """
    root = Path(root)
    if not (root / "chapters").is_dir() or not (root / "book").is_dir():
        raise FileNotFoundError(f"root must be the book's repository, with chapters/ and book/; got {root}")
    documents = {}
    for path in sorted((root / "chapters").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        documents[path.stem] = "\n\n".join(
            _as_read(cell) for cell in cells if cell["cell_type"] == "markdown"
        )
    for page in sorted((root / "book").glob("*.md")):
        if page.name not in RUN_RECORDS:
            documents[page.stem] = page.read_text(encoding="utf-8")
    return documents


def _as_read(cell: dict) -> str:
    """A Markdown cell as a reader reads it: each ``{eval}`` expression as its stored result."""
    text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    for item in cell.get("metadata", {}).get("user_expressions", []):
        value = item["result"]["data"]["text/plain"].strip("'")
        text = text.replace("{eval}`" + item["expression"] + "`", value)
    return text


def documents_digest(documents: dict[str, str]) -> str:
    """SHA-256 (first 12 hex digits) of the documents, names and texts in order."""
    return hashlib.sha256(json.dumps(documents, sort_keys=True).encode()).hexdigest()[:12]
