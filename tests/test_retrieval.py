"""lmcore.retrieval: sentence embeddings, search, passages and extractive summaries."""

import pytest
import torch

from lmcore.retrieval import embed_texts, extractive_summary, search, split_passages


def test_embeddings_are_unit_length_and_ignore_padding(minilm, tokenizer):
    encoder = minilm
    alone = embed_texts(encoder, tokenizer, ["A short text."])
    padded = embed_texts(encoder, tokenizer, ["A short text.", "A much longer text that forces padding " * 5])
    torch.testing.assert_close(alone[0], padded[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(padded.norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="longer than the model allows"):
        embed_texts(encoder, tokenizer, ["x"], max_length=1024)


def test_search_finds_the_paraphrase(minilm, tokenizer):
    encoder = minilm
    passages = [
        "The cat sleeps on the sofa.",
        "Interest rates rose again this quarter.",
        "Rockets launch satellites.",
    ]
    query = embed_texts(encoder, tokenizer, ["Which animal is napping on the couch?"])
    scores, indices = search(query, embed_texts(encoder, tokenizer, passages), k=2)
    assert indices[0, 0].item() == 0 and scores[0, 0] > scores[0, 1]
    with pytest.raises(ValueError, match="must share d"):
        search(torch.zeros(1, 3), torch.zeros(2, 4))


def test_split_passages_drops_headings_code_and_short_paragraphs():
    text = "# Title\n\nshort one\n\n```python\nx = 1\n```\n\n" + "word " * 30 + "\n\n| a | b |\n|---|---|"
    assert split_passages(text) == [("word " * 30).strip()]


def test_extractive_summary_centroid_and_mmr():
    vectors = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.0], [0.99, 0.14], [0.0, 1.0], [0.7, 0.7]]), dim=1
    )
    centroid = torch.nn.functional.normalize(vectors.mean(0), dim=0)
    assert extractive_summary(vectors, 2) == sorted((vectors @ centroid).topk(2).indices.tolist())
    diverse = extractive_summary(vectors, 2, diversity=0.9)
    assert len(diverse) == 2 and diverse == sorted(diverse)
    with pytest.raises(ValueError, match=r"diversity must be in \[0, 1\]"):
        extractive_summary(vectors, 2, diversity=2.0)


def test_the_books_documents_read_as_a_reader_reads_them(tmp_path):
    import json

    from lmcore.retrieval import book_documents, documents_digest

    (tmp_path / "chapters").mkdir()
    (tmp_path / "book").mkdir()
    cell = {
        "cell_type": "markdown",
        "source": ['We trained on {eval}`f"{n:,}"` messages.'],
        "metadata": {
            "user_expressions": [{"expression": 'f"{n:,}"', "result": {"data": {"text/plain": "'1,000'"}}}]
        },
    }
    code = {"cell_type": "code", "source": "n = 1000", "metadata": {}}
    (tmp_path / "chapters" / "01_a.ipynb").write_text(json.dumps({"cells": [cell, code]}))
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "book" / "runtimes.md").write_text(
        "| 6. Applications | 10.4 min |\n"
    )  # rewritten by every run
    documents = book_documents(tmp_path)
    assert documents == {"01_a": "We trained on 1,000 messages.", "intro": "# Intro\n"}
    before = documents_digest(documents)
    (tmp_path / "book" / "intro.md").write_text("# Introduction\n")
    assert documents_digest(book_documents(tmp_path)) != before
    with pytest.raises(FileNotFoundError, match="root must be the book's repository"):
        book_documents(tmp_path / "chapters")
