"""The sentence-transformers model through ONNX Runtime: exported once (mean pooling and
normalisation inside the graph), its MatMul weights quantised to int8 per channel, and cached
under MINUTEBOOK_HOME/models keyed by the model's hash. Loading it takes a tenth of a second and no
torch; encoding is several times faster than fp32 torch on a CPU (bench/ingest.py measures both).

Exporting needs torch and onnx (installed with the package) and takes a few seconds, once. The
export's sha256, size and mtime are recorded beside it (`<file>.sha256.json`); a file whose bytes
no longer match is made again (core/embedder.py), and so is one with no record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import warnings
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from minutebook.core.errors import ConfigError
from minutebook.core.filelock import EXPORT_LOCK_TIMEOUT, held

RUNTIMES = ("onnx-int8", "onnx-fp32", "torch")
_FFN_OUTPUT = re.compile(r"/layer\.\d+/output/dense/")  # BERT naming: not the attention's output
EXPORT_VERSION = 2  # bump when the exported graph or the quantisation changes


class DamagedExport(Exception):
    """An exported model whose bytes are not the ones recorded when it was written."""


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


def _export_lock(target: Path, timeout: float) -> AbstractContextManager[None]:
    """One export of `target` at a time across processes; a waiter gives up after `timeout` seconds
    naming the holder (core/filelock.py)."""
    return held(
        target.with_suffix(".lock"),
        timeout=timeout,
        purpose="cannot export the embedding model: another minutebook process is exporting it",
        error=ConfigError,
    )


def checksum_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256.json")


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _stamp(target: Path) -> dict[str, int]:
    stat = target.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def record_checksum(target: Path, *, written_as: Path | None = None) -> None:
    """Record `written_as`'s (default: `target`'s) sha256 and stamp as `target`'s, atomically."""
    source = written_as or target
    record = {"sha256": file_sha256(source), **_stamp(source)}
    partial = checksum_path(target).with_name(f"{checksum_path(target).name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(record), encoding="utf-8")
    partial.rename(checksum_path(target))


def verify_export(target: Path) -> None:
    """Raise DamagedExport unless `target` is what was recorded when it was written. The file is
    hashed only when its size or mtime differ from the record: hashing the 69 MB int8 export costs
    150 ms of CPU on a busy 2-core machine, at every CLI command, while any write to the file
    (a 1 MiB overwritten in place included) moves its mtime. A file hashed and found whole (a copy,
    a restored backup) gets its stamp recorded again."""
    try:
        record = json.loads(checksum_path(target).read_text(encoding="utf-8"))
        recorded = str(record["sha256"])
        stamp = {"size": int(record["size"]), "mtime_ns": int(record["mtime_ns"])}
    except (OSError, ValueError, KeyError, TypeError):
        raise DamagedExport(f"{target}: no readable checksum recorded beside it") from None
    if _stamp(target) == stamp:
        return
    actual = file_sha256(target)
    if actual != recorded:
        raise DamagedExport(f"{target}: its sha256 is {actual[:12]}…, not the {recorded[:12]}… recorded at export")
    with contextlib.suppress(OSError):
        record_checksum(target)


def ensure_exported(models: Path, model_dir: Path, runtime: str, *, lock_timeout: float = EXPORT_LOCK_TIMEOUT) -> Path:
    """The ONNX file for this model and runtime in `models`, exported (once, under a lock) if missing
    or exported before checksums were recorded."""
    target = onnx_path(models, model_dir, runtime)
    if target.exists() and checksum_path(target).exists():
        return target
    with _export_lock(target, lock_timeout):
        if not (target.exists() and checksum_path(target).exists()):
            _export(model_dir, target, quantise=runtime == "onnx-int8")
    return target


def export_again(models: Path, model_dir: Path, runtime: str, *, lock_timeout: float = EXPORT_LOCK_TIMEOUT) -> Path:
    """Replace a damaged export, unless another process replaced it while this one waited."""
    target = onnx_path(models, model_dir, runtime)
    with _export_lock(target, lock_timeout):
        try:
            verify_export(target)
        except DamagedExport:
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
    record_checksum(target, written_as=partial)  # a crash before the next line: the old file fails its check
    partial.rename(target)  # whole or absent: a crash mid-export leaves only a .tmp


class OnnxEncoder:
    """Tokenizers and one session, thread-safe. Bulk encodes (ingest, re-embed) take the session
    one batch at a time, in turn; queries never queue behind them: ONNX Runtime runs calls on one
    session concurrently, so a question's few milliseconds run beside a bulk batch instead of after
    a whole note's worth of them. Measured on 2 cores under a load average of 10 for issue 23: a
    query beside a bulk batch of 16, p99 76 ms; with a second session for queries about the same
    (56-73 ms) for 83 MB more; behind a lock taken per batch, seconds (a batch of 16 took 3.7 s).
    bench/load.py's noisy-neighbour run measures it through the API."""

    def __init__(self, onnx_file: Path, model_dir: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        self._tokenizer_file = model_dir / "tokenizer.json"
        if not self._tokenizer_file.exists():
            raise ConfigError(f"no tokenizer.json in {model_dir}: the ONNX runtime needs a fast tokenizer")
        self.max_tokens = max_seq_length(model_dir)
        # One tokenizer per path, each made on first use (80 ms apiece on a busy machine: a CLI
        # search needs only the query's) and used under its path's lock: HF fast tokenizers fail
        # ("Already borrowed") when two threads use one at once.
        self._tokenizers: dict[str, Any] = {}
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self._bulk_lock = threading.Lock()  # one bulk batch at a time: two would only share the cores
        self._query_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.dim = int(self._session.get_outputs()[0].shape[1] or 0) or int(self.encode_query(["x"]).shape[1])

    def _tokenizer(self, path: str) -> Any:
        """The tokenizer of `path` (bulk, query, count); the caller holds that path's lock."""
        if (made := self._tokenizers.get(path)) is None:
            from tokenizers import Tokenizer

            made = Tokenizer.from_file(str(self._tokenizer_file))
            if path == "count":  # whole texts
                made.no_padding()
                made.no_truncation()
            else:
                made.enable_truncation(self.max_tokens)
                made.enable_padding(pad_id=made.token_to_id("[PAD]") or 0)
            self._tokenizers[path] = made
        return made

    def _run(self, path: str, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer(path).encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        out = self._session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        return np.asarray(out[0], dtype=np.float32)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Bulk: the session is taken and given back per batch, so other bulk encodes interleave."""
        # similar lengths together: padding to the longest in a batch is wasted work
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            with self._bulk_lock:
                out[batch] = self._run("bulk", [texts[i] for i in batch])
        return out

    def encode_query(self, texts: list[str]) -> np.ndarray:
        """A question's few texts, beside any bulk batch in progress rather than after it."""
        with self._query_lock:
            return self._run("query", texts)

    def count_tokens(self, texts: list[str]) -> list[int]:
        with self._count_lock:
            counted = self._tokenizer("count").encode_batch(texts, add_special_tokens=False)
            return [len(e.ids) for e in counted]
