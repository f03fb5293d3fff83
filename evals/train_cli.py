"""`physio-assistant train-triage` and `train-scope`: retrain the learned read-outs (the red-flag net, the scope
read-out) and write them into the knowledge folder; `--check` compares their data hashes only."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from assistant.settings import Settings


class VectorCache:
    """Clause embeddings kept between trainings (a retrain after a small data change takes seconds).

    Stored as plain arrays (no pickle); keyed by the encoder's name, so another model starts afresh.
    """

    def __init__(self, path: Path, model_name: str) -> None:
        self.path, self.model_name = path, model_name
        self.vectors: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                if str(data["model"]) == model_name:
                    self.vectors = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))

    def wrap(self, encode: Callable[[list[str]], np.ndarray]) -> Callable[[list[str]], np.ndarray]:
        from evals.triage_training import memo_encode

        return memo_encode(encode, self.vectors)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self.vectors)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            model=np.array(self.model_name),
            texts=np.array(texts),
            vectors=np.stack([self.vectors[t] for t in texts]),
        )
        tmp.replace(self.path)


def check_hash(
    path: Path, stored: Callable[[Path], str], wanted: str, what: str, command: str, say: Callable[[str], None]
) -> int:
    """`--check`: 0 when the weights at `path` were trained on today's data (the hash they carry is
    `wanted`), 1 when they are stale or missing."""
    have = stored(path) if path.is_file() else "(none)"
    if have == wanted:
        say(f"The {what} in {path} matches its training data.")
        return 0
    say(f"The {what} in {path} is stale: run `physio-assistant {command}` and commit the result.")
    return 1


def run_train_triage(
    settings: Settings, knowledge: Path | None, *, check_only: bool = False, say: Callable[[str], None] = print
) -> int:
    """Train (or, with `check_only`, only compare hashes); 1 when `--check` finds the weights stale."""
    from assistant.embeddings import load_embedder
    from assistant.guardrails.needs_index import index_path
    from assistant.guardrails.triage import load_engine
    from assistant.guardrails.triage_net import NetWeights
    from assistant.guardrails.triager import Triager, load_net_policy, weights_path
    from evals import triage_training as T

    knowledge = knowledge or settings.knowledge_path
    triager = Triager(load_engine(knowledge), load_net_policy(knowledge))
    model_name = settings.embedding_model
    if check_only:
        path, wanted = weights_path(knowledge), T.training_hash(triager, model_name)
        code = check_hash(path, lambda p: NetWeights.load(p).data_hash, wanted, "triage net", "train-triage", say)
        if not triager.engine.needs_index.complete():
            say(f"The rule index in {index_path(knowledge)} is stale: run `physio-assistant train-triage` and commit.")
            code = 1
        return code
    start = time.perf_counter()
    embedder = load_embedder(settings)
    cache = VectorCache(settings.data_dir / "cache" / "triage-clauses.npz", model_name)
    trained = T.train(triager, cache.wrap(embedder.encode), model_name, say=say)
    cache.save()
    T.write(trained, knowledge)
    triager.engine.needs_index.save(index_path(knowledge))  # loading the engine needs no search next time
    for fam, t in trained.thresholds.items():
        say(
            f"  {fam:14s} positives {trained.report['positives'][fam]:4d}  "
            f"escalate >= {t['escalate']:.2f}  ask >= {t['ask']:.2f}"
        )
    say(f"  plain self-care messages the net would ask, out of fold: {trained.report['plain_asked']:.1%}")
    took = time.perf_counter() - start
    say(
        f"Wrote {weights_path(knowledge)}, {index_path(knowledge).name} and the thresholds in net.yaml in {took:.0f} s."
    )
    return 0


def run_train_scope(
    settings: Settings, knowledge: Path | None, *, check_only: bool = False, say: Callable[[str], None] = print
) -> int:
    """Train the scope read-out (or, with `check_only`, compare hashes); 1 when `--check` finds it stale."""
    from assistant.content import load_knowledge
    from assistant.scope import ScopeWeights, scope_path
    from evals import scope_training as S

    knowledge = knowledge or settings.knowledge_path
    kb = load_knowledge(knowledge)
    model_name = settings.embedding_model
    path = scope_path(knowledge)
    if check_only:
        wanted = S.data_hash(S.load_labelled(kb), model_name)
        return check_hash(path, lambda p: ScopeWeights.load(p).data_hash, wanted, "scope read-out", "train-scope", say)
    from assistant.embeddings import load_embedder

    start = time.perf_counter()
    embedder = load_embedder(settings)
    cache = VectorCache(settings.data_dir / "cache" / "scope-texts.npz", model_name)
    weights = S.train(kb, cache.wrap(embedder.encode), model_name, say=say)
    cache.save()
    weights.save(path)
    r = weights.report
    say(
        f"Wrote {path} in {time.perf_counter() - start:.0f} s: threshold {weights.threshold:.3f}; cross-validated, "
        f"{r['cv_outside_declined']:.1%} of outside questions declined, {r['cv_inside_declined']:.1%} of inside ones."
    )
    return 0
