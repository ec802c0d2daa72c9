from hf_nvr.common.text import normalize_text, passage_text, text_hash, text_hashes


def test_normalisation_folds_unicode_case_and_whitespace():
    assert normalize_text("  Ｆｉｎｅ\tTEXT\n here ") == "fine text here"
    assert text_hash("ﬁne text") == text_hash("FINE   text")
    assert text_hash("fine text") != text_hash("fine texts")


def test_hashes_are_stable_and_never_zero():
    assert text_hash("") != 0
    assert text_hashes(["a", "A "]).tolist() == [text_hash("a")] * 2
    assert text_hash("stable") == text_hash("stable")


def test_passage_text_follows_beir():
    assert passage_text("Title", "body") == "Title body"
    assert passage_text("", "body") == "body"
    assert passage_text("Title", "body", use_title=False) == "body"
