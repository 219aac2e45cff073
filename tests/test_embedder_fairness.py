"""Questions never wait behind bulk embedding: a query is encoded while an ingest's batch is
still in the model, not after the whole note (issue 23, item 1)."""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from minutebook.core.embedder import Embedder

# Generous: with the fix the question is answered within milliseconds; without it, never, and the
# held batch goes on after this long so the test can fail instead of hanging.
PATIENCE = 60


def test_a_question_is_encoded_while_an_ingest_batch_is_in_the_model(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    if embedder.runtime == "torch":
        pytest.skip("the ONNX runtimes share one session between questions and ingests")
    encoder = embedder.onnx
    run = encoder._run
    in_model, answered = threading.Event(), threading.Event()
    answered_during_batch: list[bool] = []

    def held_first_batch(*args: Any) -> np.ndarray:
        if len(args[-1]) > 1 and not in_model.is_set():  # the bulk batch; a question is one text
            in_model.set()
            answered_during_batch.append(answered.wait(PATIENCE))
        return np.asarray(run(*args))

    monkeypatch.setattr(encoder, "_run", held_first_batch)
    chunks = [f"part {i}: the read replicas lag behind the primary during the nightly load" for i in range(48)]
    with ThreadPoolExecutor(max_workers=1) as ingest:
        bulk = ingest.submit(embedder.encode, chunks)
        assert in_model.wait(PATIENCE)
        question = embedder.encode_one("who owns the read replicas? (asked during an ingest)")
        answered.set()
        vectors = bulk.result()
    assert answered_during_batch == [True]
    monkeypatch.undo()
    # side by side, neither got the other's vectors
    assert np.allclose(vectors, embedder.encode(chunks), atol=1e-5)
    alone = Embedder(embedder.model_path, query_memory=0, runtime=embedder.runtime, models_dir=embedder.models_dir)
    alone._onnx = encoder
    assert np.allclose(question, alone.encode_one("who owns the read replicas? (asked during an ingest)"), atol=1e-5)
