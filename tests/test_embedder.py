"""The query memory: a repeated question skips the model and gets the very same vector."""

from pathlib import Path

import numpy as np
import pytest

from minutebook.core.embedder import Embedder


def test_repeated_queries_are_remembered_and_read_only(embedder: Embedder) -> None:
    first = embedder.encode_one("who owns the read replicas?")
    again = embedder.encode_one("who owns the read replicas?")
    assert again is first and np.isclose(np.linalg.norm(first), 1.0, atol=1e-3)
    with pytest.raises(ValueError):
        first[0] = 0.0  # shared between callers: nobody may change it
    assert embedder.encode_one("who owns Okta SSO?") is not first


def test_memory_can_be_switched_off(embedder: Embedder) -> None:
    embedder.encode_one("warm")  # loaded, so the fresh one can share it
    fresh = Embedder(embedder.model_path, query_memory=0, runtime=embedder.runtime, models_dir=embedder.models_dir)
    fresh._model, fresh._onnx = embedder._model, embedder._onnx  # same weights, no second load
    a, b = fresh.encode_one("code freeze"), fresh.encode_one("code freeze")
    assert a is not b and np.allclose(a, b)


def test_a_damaged_model_export_is_made_again(embedder: Embedder, tmp_path: Path) -> None:
    embedder.encode_one("warm")  # exported into the shared models directory
    exported = next(Path(embedder.models_dir).glob(f"*{embedder.runtime}.onnx"))
    (tmp_path / exported.name).write_bytes(exported.read_bytes()[:1000])  # as a full disk would leave it
    fresh = Embedder(query_memory=0, runtime=embedder.runtime, models_dir=tmp_path)
    assert np.allclose(fresh.encode_one("code freeze"), embedder.encode_one("code freeze"), atol=1e-5)
    assert (tmp_path / exported.name).stat().st_size == exported.stat().st_size
