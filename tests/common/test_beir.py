import pytest

from hf_nvr.common.beir import bundled_scifact_dir, load_beir, read_jsonl, read_qrels


def test_bundled_scifact_has_the_beir_counts():
    train = load_beir(bundled_scifact_dir(), "train")
    test = load_beir(bundled_scifact_dir(), "test")
    assert len(train.corpus) == 5183
    assert (len(train.queries), sum(map(len, train.qrels.values()))) == (809, 919)
    assert (len(test.queries), sum(map(len, test.qrels.values()))) == (300, 339)
    assert (bundled_scifact_dir() / "SOURCE.md").exists()


def test_pairs_are_the_mining_input():
    pairs = load_beir(bundled_scifact_dir(), "train").pairs()
    assert len(pairs) == 809
    row = pairs[0]
    assert set(row) == {"query_id", "query", "positive", "positive_ids"}
    assert len(row["positive"]) == len(row["positive_ids"]) >= 1


def test_corpus_subset_keeps_the_judged_documents():
    test = load_beir(bundled_scifact_dir(), "test")
    small = test.with_corpus_subset(500, test.judged_ids())
    assert len(small.corpus) == 500 and test.judged_ids() <= set(small.corpus)


def test_bad_files_name_the_line(tmp_path):
    bad = tmp_path / "corpus.jsonl"
    bad.write_text('{"_id": "1", "text": "ok"}\n{not json}\n')
    with pytest.raises(ValueError, match=r"corpus.jsonl:2: not valid JSON"):
        read_jsonl(bad)
    qrels = tmp_path / "q.tsv"
    qrels.write_text("")
    with pytest.raises(ValueError, match="expected a header"):
        read_qrels(qrels)
    with pytest.raises(FileNotFoundError, match="BEIR layout"):
        load_beir(tmp_path / "missing")
