"""`physio-assistant bench`: speed and memory as ratios against bare model operations, side by side.

The machine is shared and noisy, so each figure is measured next to its baseline in the same run
(interleaved where it can be) and reported as a ratio. The baselines are bare sentence-transformers
operations on the same bundled model (what serving cost before it moved to ONNX Runtime): per-turn
latency against a bare query encode, ingest against raw encode throughput, cold start against a
bare model load plus one encode, a one-shot `ask` against the same command on the
sentence-transformers path (PHYSIO_EMBEDDING_BACKEND=sentence-transformers), serving memory
against the bare model's. `--web` starts one server per path on loopback and load-tests both
(50 visitors x 5 messages); `--url` load-tests a server already running. `--int8` tries int8
dynamic quantisation of the graph against fp32 in one eval run (retrieval and triage figures).

One module per benchmark (`turn`, `triage_long`, `ingest_speed`, `cold_start`, `jsonl`, `web`,
`soak`, `int8`), what they share in `common`, the verdicts, table and plot in `report`, and the
command in `cli`.
"""

from evals.bench.cli import main
from evals.bench.common import bench_messages
from evals.bench.report import TARGETS, markdown, plot, verdicts
from evals.bench.web import web_load

__all__ = ["TARGETS", "bench_messages", "main", "markdown", "plot", "verdicts", "web_load"]
