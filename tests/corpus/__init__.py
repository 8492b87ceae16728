"""The bad-input corpus: every case is made at test time by `cases.py` and run by `test_corpus.py`."""
