"""The sentence-transformers model through ONNX Runtime: exported once (mean pooling and
normalisation inside the graph), its MatMul weights quantised to int8 per channel, and cached
under MINUTEBOOK_HOME/models keyed by the model's hash. Loading it takes a tenth of a second and no
torch; encoding is several times faster than fp32 torch on a CPU (bench/ingest.py measures both).

Exporting needs torch and onnx (installed with the package) and takes a few seconds, once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from minutebook.core.errors import ConfigError

RUNTIMES = ("onnx-int8", "onnx-fp32", "torch")
_FFN_OUTPUT = re.compile(r"/layer\.\d+/output/dense/")  # BERT naming: not the attention's output
EXPORT_VERSION = 2  # bump when the exported graph or the quantisation changes


def model_hash(model_dir: Path) -> str:
    """A digest of the weights, tokenizer and pooling config: what makes the vectors what they are."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(model_dir)):
        path = model_dir / name
        if path.is_file() and (name.endswith((".json", ".txt", ".safetensors", ".bin"))):
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}".encode())
            with path.open("rb") as f:  # the first and last MiB: weights differ there when they differ at all
                digest.update(f.read(1 << 20))
                f.seek(max(0, stat.st_size - (1 << 20)))
                digest.update(f.read(1 << 20))
    pooling = model_dir / "1_Pooling" / "config.json"
    if pooling.exists():
        digest.update(pooling.read_bytes())
    return digest.hexdigest()[:16]


def max_seq_length(model_dir: Path) -> int:
    config = model_dir / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text()).get("max_seq_length") or 256)
    return 256


def onnx_path(models: Path, model_dir: Path, runtime: str) -> Path:
    return models / f"{model_dir.name}-{model_hash(model_dir)}-v{EXPORT_VERSION}-{runtime}.onnx"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # another process exporting the same model: wait for it
        yield


def ensure_exported(models: Path, model_dir: Path, runtime: str) -> Path:
    """The ONNX file for this model and runtime in `models`, exported (once, under a lock) if missing."""
    target = onnx_path(models, model_dir, runtime)
    if target.exists():
        return target
    with _file_lock(target.with_suffix(".lock")):
        if not target.exists():
            _export(model_dir, target, quantise=runtime == "onnx-int8")
    return target


def _export(model_dir: Path, target: Path, *, quantise: bool) -> None:
    try:
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - both are dependencies
        raise ConfigError(f"exporting the embedding model to ONNX needs torch and transformers: {exc}") from exc

    class Pooled(torch.nn.Module):
        """The model plus sentence-transformers' mean pooling and L2 normalisation."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    sample = tokenizer(["an example", "a second, longer example sentence"], padding=True, return_tensors="pt")
    fp32 = target.with_name(target.name + ".fp32.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shapes: the axes are declared dynamic below
        torch.onnx.export(
            Pooled(model),
            (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            str(fp32),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "seq"},
                "token_type_ids": {0: "batch", 1: "seq"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    partial = target.with_name(target.name + ".tmp")
    if quantise:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Per-channel int8 MatMul weights, except each layer's feed-forward output projection,
        # which carries most of the quantisation error: cosine to fp32 0.997 at 1.4x its speed
        # (all MatMuls: 0.993 at 1.6x; the defaults: 0.94), measured on QMSum passages.
        graph = onnx.load(str(fp32), load_external_data=False).graph
        keep_fp32 = [n.name for n in graph.node if n.op_type == "MatMul" and _FFN_OUTPUT.search(n.name)]
        logging.disable(logging.WARNING)  # it advises "pre-processing" on the root logger, for images
        try:
            quantize_dynamic(
                str(fp32), str(partial), weight_type=QuantType.QInt8, per_channel=True,
                op_types_to_quantize=["MatMul"], nodes_to_exclude=keep_fp32,
            )  # fmt: skip
        finally:
            logging.disable(logging.NOTSET)
        fp32.unlink()
    else:
        fp32.rename(partial)
    partial.rename(target)  # whole or absent: a crash mid-export leaves only a .tmp


class OnnxEncoder:
    """Tokenizer and session: thread-safe; ONNX Runtime runs one call at a time per session here."""

    def __init__(self, onnx_file: Path, model_dir: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tokenizer_file = model_dir / "tokenizer.json"
        if not tokenizer_file.exists():
            raise ConfigError(f"no tokenizer.json in {model_dir}: the ONNX runtime needs a fast tokenizer")
        self.max_tokens = max_seq_length(model_dir)
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id("[PAD]") or 0)
        self._counter = Tokenizer.from_file(str(tokenizer_file))  # no truncation: counts whole texts
        self._counter.no_padding()
        self._counter.no_truncation()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self.dim = int(self._session.get_outputs()[0].shape[1] or 0) or self._probe_dim()
        self._lock = threading.Lock()

    def _probe_dim(self) -> int:
        return int(self._run(["x"]).shape[1])

    def _run(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        out = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        return np.asarray(out[0], dtype=np.float32)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        # similar lengths together: padding to the longest in a batch is wasted work
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                out[batch] = self._run([texts[i] for i in batch])
        return out

    def count_tokens(self, texts: list[str]) -> list[int]:
        with self._lock:
            return [len(e.ids) for e in self._counter.encode_batch(texts, add_special_tokens=False)]
