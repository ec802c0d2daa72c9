import hashlib

import numpy as np
import pyarrow as pa
import pytest
from datasets import Dataset

from hf_nvr.common.text import passage_text, text_hash
from hf_nvr.mining.corpus import Corpus

ROWS = [{"_id": 7, "title": "Title A", "text": "alpha text"}, {"_id": 3, "title": "", "text": "beta text"},
        {"_id": 5, "title": None, "text": "gamma text"}]


def test_every_input_kind_gives_the_same_ids_and_texts():
    expected_texts = [passage_text(r["title"], r["text"]) for r in ROWS]
    from_dataset = Corpus.from_any(Dataset.from_list(ROWS))
    from_dicts = Corpus.from_any(ROWS)
    for corpus in (from_dataset, from_dicts):
        assert list(corpus.iter_ids()) == ["7", "3", "5"]
        assert list(corpus.iter_texts()) == expected_texts == ["Title A alpha text", "beta text", "gamma text"]
    no_title = Corpus.from_any(Dataset.from_list(ROWS), use_title=False)
    assert list(no_title.iter_texts()) == ["alpha text", "beta text", "gamma text"]
    assert list(Corpus.from_any({"x": "one", "y": "two"}).iter_ids()) == ["x", "y"]
    assert list(Corpus.from_any(["one", "two"]).iter_ids()) == ["0", "1"]


def test_a_dataset_corpus_stays_in_arrow_and_respects_selection():
    ds = Dataset.from_list(ROWS).select([2, 0])
    corpus = Corpus.from_any(ds)
    assert isinstance(corpus._texts, pa.ChunkedArray)
    assert list(corpus.iter_ids()) == ["5", "7"]
    assert corpus.texts([1, 0]) == ["Title A alpha text", "gamma text"] and corpus.ids([]) == []


def test_lookups_by_id_and_by_normalised_text():
    corpus = Corpus.from_any([{"_id": f"d{i}", "text": f"passage {i % 50}"} for i in range(120)])
    assert corpus.positions_of_ids(["d0", "d119", "nope", "d7"]).tolist() == [0, 119, -1, 7]
    found = corpus.positions_of_hashes(np.array([text_hash("PASSAGE  3"), text_hash("absent"), text_hash("passage 49")]))
    assert found.tolist() == [3, -1, 49]  # first occurrence of duplicated texts
    assert corpus.hashes.tolist() == [text_hash(f"passage {i % 50}") for i in range(120)]


def test_fingerprint_is_the_digest_of_ids_and_texts_in_order():
    corpus = Corpus.from_any(ROWS)
    digest = hashlib.sha256()
    for cid, text in zip(corpus.iter_ids(), corpus.iter_texts()):
        digest.update(cid.encode() + b"\0" + text.encode() + b"\0")
    assert corpus.fingerprint() == digest.hexdigest()[:16]
    assert Corpus.from_any(ROWS[::-1]).fingerprint() != corpus.fingerprint()


def test_written_corpus_reads_back_memory_mapped(tmp_path):
    corpus = Corpus.from_any([{"_id": f"d{i}", "text": f"text {i}"} for i in range(1000)])
    corpus.write(tmp_path / "c.arrow")
    back = Corpus.read(tmp_path / "c.arrow")
    assert back.fingerprint() == corpus.fingerprint()
    assert back.text_view()[999] == "text 999" and len(back.text_view()) == 1000
    assert list(back.text_view())[:2] == ["text 0", "text 1"]


@pytest.mark.parametrize(
    ("corpus", "match"),
    [
        ([{"_id": "a", "text": "x"}, {"_id": "b", "text": "  "}], r"corpus row 1 \(id 'b'\) has an empty or missing text"),
        ([{"_id": "a", "text": "x"}, {"_id": "b"}], r"corpus row 1 \(id 'b'\) has an empty or missing text"),
        ([{"_id": "a", "text": "x"}, {"_id": "a", "text": "y"}], "corpus id 'a' occurs more than once"),
        ([], "the corpus is empty"),
        (Dataset.from_dict({"body": ["x"]}), "corpus has no 'text' column"),
    ],
)
def test_bad_corpora_are_refused_with_the_row_and_the_fix(corpus, match):
    with pytest.raises(ValueError, match=match):
        Corpus.from_any(corpus)
