"""Export the bundled sentence-transformers model to ONNX once, and prove it embeds the same.

sentence-transformers stays the reference: the exporter loads the model with it, traces the
transformer with mean pooling and L2 normalisation into one graph (fixed opset), then encodes a
fixed probe set both ways. Only a graph within `TOLERANCE` of sentence-transformers on every
probe (together and one by one) is kept, with a manifest that records both sha256s and the
reference embeddings that `assistant.onnx_encoder.load_verified` checks at every load.

It runs in its own process (`python -m ingest.onnx_export ...`, started by
`assistant.embeddings`), so that the process that serves never imports torch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from assistant.errors import ModelError

if TYPE_CHECKING:  # imported where it runs: the exporter's own process, never the server's
    import torch
    from sentence_transformers import SentenceTransformer
from assistant.hashing import sha256_of
from assistant.onnx_encoder import FORMAT, GRAPH, MANIFEST, PROBES, TOLERANCE, OnnxEncoder, probe_difference

OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _pooled_graph(st: SentenceTransformer) -> tuple[torch.nn.Module, int]:
    """The transformer with sentence-transformers' mean pooling and normalisation, as one torch module."""
    import torch

    # the modules' classes moved between sentence-transformers versions: read by name, used untyped
    modules: list[Any] = list(st)
    names = [type(m).__name__ for m in modules]
    if names[:2] != ["Transformer", "Pooling"] or any(n != "Normalize" for n in names[2:]):
        raise ModelError(f"ONNX export supports Transformer + mean Pooling (+ Normalize) models, not {names}.")
    pooling = modules[1]
    mode = pooling.get_config_dict() if hasattr(pooling, "get_config_dict") else {}
    mean = mode.get("pooling_mode") == "mean" or (  # sentence-transformers 6 / the older flags
        mode.get("pooling_mode_mean_tokens") is True
        and not any(
            mode.get(k)
            for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
        )
    )
    if not mean:
        raise ModelError(f"ONNX export supports mean pooling only, not {mode}.")
    hf = modules[0].auto_model
    try:  # traced eager attention: SDPA's Python-side shape checks would be frozen into the graph
        hf.set_attn_implementation("eager")
    except (AttributeError, ValueError):
        hf.config._attn_implementation = "eager"

    class Pooled(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    if st.max_seq_length is None:
        raise ModelError("ONNX export needs a model with a maximum sequence length.")
    return Pooled(hf).eval(), int(st.max_seq_length)


def export(model_dir: Path, weights_sha256: str, folder: Path, *, model_name: str) -> dict[str, object]:
    """Write `folder/model.onnx` and `folder/manifest.json`, or raise ModelError and write nothing."""
    import warnings

    import numpy as np
    import onnxruntime
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f"{folder.name}.lock"), timeout=900):
        if (folder / MANIFEST).is_file():  # another process finished it while we waited
            done: dict[str, object] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            return done
        if sha256_of(model_dir / "model.safetensors") != weights_sha256:
            raise ModelError(f"The weights in {model_dir} are not the ones verified; not exporting them.")
        st = SentenceTransformer(str(model_dir), device="cpu")
        graph, max_len = _pooled_graph(st)
        work = folder.parent / f"{folder.name}.tmp-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            example = st.tokenize(["a short one", "and a somewhat longer second sentence"])
            args = tuple(example[k].to(torch.int64) for k in _INPUTS)
            axes = {k: {0: "batch", 1: "sequence"} for k in _INPUTS} | {"sentence_embedding": {0: "batch"}}
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings; the probes below are the real check
                torch.onnx.export(
                    graph,
                    args,
                    str(work / GRAPH),
                    input_names=list(_INPUTS),
                    output_names=["sentence_embedding"],
                    dynamic_axes=axes,
                    opset_version=OPSET,
                    do_constant_folding=True,
                    dynamo=False,
                )
            reference = np.asarray(
                st.encode(list(PROBES), normalize_embeddings=True, convert_to_numpy=True), dtype=np.float32
            )
            encoder = OnnxEncoder(work / GRAPH, model_dir / "tokenizer.json", max_len)
            diff = probe_difference(encoder, list(PROBES), reference)
            if not diff <= TOLERANCE:
                raise ModelError(
                    f"The ONNX export of {model_name} does not reproduce sentence-transformers' embeddings "
                    f"(largest difference {diff:.2e}, allowed {TOLERANCE:.0e}); it was not kept. "
                    "Serving cannot go on without it: report this with `pip freeze`."
                )
            manifest = {
                "format": FORMAT,
                "model": model_name,
                "weights": "model.safetensors",
                "weights_sha256": weights_sha256,
                "onnx": GRAPH,
                "onnx_sha256": sha256_of(work / GRAPH),
                "opset": OPSET,
                "max_seq_length": max_len,
                "dimension": int(reference.shape[1]),
                "pooling": "mean, L2-normalised",
                "tolerance": TOLERANCE,
                "probe_max_abs_diff": diff,
                "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "export_seconds": round(time.perf_counter() - started, 2),
                "versions": {
                    "torch": torch.__version__,
                    "sentence_transformers": sentence_transformers.__version__,
                    "onnxruntime": onnxruntime.__version__,
                },
                "probes": list(PROBES),
                "reference": reference.tolist(),
            }
            (work / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
            shutil.rmtree(folder, ignore_errors=True)  # an invalid earlier export, if any
            work.replace(folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export the bundled model to ONNX and check it.")
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--sha256", required=True, help="the verified sha256 of model.safetensors")
    parser.add_argument("--out", type=Path, required=True, help="the export folder to create")
    parser.add_argument("--name", default="bundled model")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        manifest = export(args.model_dir, args.sha256, args.out, model_name=args.name)
    except ModelError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(json.dumps({k: manifest[k] for k in ("onnx_sha256", "probe_max_abs_diff", "export_seconds")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
