"""The query memory (a repeated question skips the model and gets the very same vector), and the
exported model: damaged exports are made again, and a stuck export lock is named, not waited on."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minutebook.core.embedder import Embedder, bundled_model_path
from minutebook.core.errors import ConfigError
from minutebook.core.onnx_embedder import ensure_exported, onnx_path


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


def _vocabulary_words() -> list[str]:
    """Every 25th whole word of the model's vocabulary: an overwritten MiB of weights shows in some."""
    vocab = json.loads((bundled_model_path() / "tokenizer.json").read_text())["model"]["vocab"]
    return [w for w in sorted(vocab, key=vocab.get) if w.isalpha()][::25]


def test_a_model_export_overwritten_in_place_is_made_again(embedder: Embedder, tmp_path: Path) -> None:
    words = _vocabulary_words()
    expected = embedder.encode(words)
    exported = next(Path(embedder.models_dir).glob(f"*{embedder.runtime}.onnx"))
    for kept in Path(embedder.models_dir).glob(exported.name + "*"):  # the export, and its checksum
        (tmp_path / kept.name).write_bytes(kept.read_bytes())
    copy = tmp_path / exported.name
    with copy.open("r+b") as f:  # 1 MiB in the middle overwritten, the size unchanged
        f.seek(copy.stat().st_size // 2)
        f.write(bytes(range(256)) * 4096)
    assert copy.stat().st_size == exported.stat().st_size
    fresh = Embedder(query_memory=0, runtime=embedder.runtime, models_dir=tmp_path)
    assert np.allclose(fresh.encode(words), expected, atol=1e-5)
    assert copy.read_bytes() == exported.read_bytes()  # made again, as it was


HOLDERS = {
    # another minutebook process exporting: it writes its pid and command into the lock file
    "minutebook": "from minutebook.core.filelock import held\n"
    "lock = held(Path(sys.argv[1]), timeout=1, purpose='export', error=RuntimeError)\nlock.__enter__()",
    # a holder that writes nothing (an older version, another program): found in /proc/locks
    "silent": "import fcntl\nheld = open(sys.argv[1], 'a')\nfcntl.flock(held, fcntl.LOCK_EX)",
}


@pytest.mark.parametrize("holder", HOLDERS)
def test_a_stopped_export_lock_holder_is_named_instead_of_waited_for(holder: str, tmp_path: Path) -> None:
    lock = onnx_path(tmp_path, bundled_model_path(), "onnx-int8").with_suffix(".lock")
    code = f"import sys, time\nfrom pathlib import Path\n{HOLDERS[holder]}\nprint('held', flush=True)\ntime.sleep(600)"
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(lock), "hold-the-export-lock"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        os.kill(child.pid, signal.SIGSTOP)  # as a suspended terminal job would be
        with pytest.raises(ConfigError) as failed:
            ensure_exported(tmp_path, bundled_model_path(), "onnx-int8", lock_timeout=0.5)
    finally:
        child.kill()
        child.wait()
    message = str(failed.value)
    assert str(lock) in message and f"pid {child.pid}" in message, message
    assert "hold-the-export-lock" in message and "stopped" in message, message
    assert not onnx_path(tmp_path, bundled_model_path(), "onnx-int8").exists()
