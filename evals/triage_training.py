"""Training the learned red-flag net, reproducibly, and measuring how it generalises.

`physio-assistant train-triage` runs `train()`: every labelled message of the triage and training-only
sets in `evals/datasets/manifest.yaml` plus every example in the rule file, deduplicated; one
encoding of every clause; a logistic
read-out per flag family (fixed seed: same data, same weights) and the training rows as its
nearest-neighbour memory; thresholds chosen by grouped
cross-validation; the weights written with the hash of their training data, so a test can tell
when the shipped weights are stale.

`leave_one_set_out()` trains without each independent set in turn (and without its near-duplicates
elsewhere) and reports the first-contact catch of rules plus net on the set left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.canonical import table as canonical_table
from assistant.gloss import load_table as load_gloss_table
from assistant.guardrails.triage_net import ASIDE, DENIED, LIVE, Memory, NetSignal, NetWeights, score_vectors, whole_of
from assistant.guardrails.triager import Triager, net_text, policy_path, weights_path
from assistant.models import Level, Triage, Turn
from evals.manifest import DATASETS, load_manifest

SEED = 20261203
# Each bar is the mean of the bars chosen out of fold on this many fold splits. With one split, the
# split alone moved a bar by up to 0.14 (six seeds, 2026-12-05: escalate bars up to 0.03-0.14 apart
# between two splits, ask bars 0.03-0.12), and a retrain that adds one example reshuffles the folds, so
# the figures moved between sessions for no reason of the rules'. The mean of three splits' bars against
# three others: at most 0.03 (escalate) and 0.06 (ask) apart. Averaging the splits' scores instead and
# choosing once held the bars as well but lowered every ask bar (a mean of three models' scores has a
# thinner tail than one model's): leave-one-set-out asked 255 plain messages of 1,493 instead of 242.
SPLITS = 5
ESCALATE_BUDGET = 0.0025
# The share of plain self-care messages the net may ask, all families together (the rules' own
# questions come on top; the limit for both is 10%).
ASK_BUDGET = 0.10
# Each family's `ask` bar is set on its own: the lowest at which at most its share of plain self-care
# messages (out of fold, of the sets written as patients write: `train`) are asked. A crisis family
# (net.yaml `crisis: true`: self-harm) gets the most, an emergency family (by the rules' own flag
# levels: cauda equina, heart and aorta, overdose) more than an urgent one. Together at most 10.5% of
# those sets' plain messages (fewer: some are asked by more than one family); out of fold over every
# plain message, training-only ones too, 12.2% on 2026-12-04.
#
# Until 2026-12-04 one budget was shared greedily (the family whose next step caught the most
# positives per plain message asked went first). That allocation was chaotic: with 3% of the
# training data left out, bars moved by up to 0.24 and leave-one-set-out over nineteen sets missed
# 53-63. Fixed shares, in the same three runs: 49-50 missed, and fewer plain messages asked
# (121-131 of 864, against 130-141).
# The crisis share was 0.03 until 2026-12-05: at 0.02 leave-one-set-out over twenty-five sets asked 16
# fewer plain messages (213 instead of 229 of 1,221) and missed none more (32), the self-harm bar 0.63
# instead of 0.57; at 0.015, 209 and 32 (bar 0.66); an emergency share of 0.01 cost 3 more missed.
CRISIS_PLAIN_SHARE = 0.02
EMERGENCY_PLAIN_SHARE = 0.015
URGENT_PLAIN_SHARE = 0.006
# the bars a threshold may take: every hundredth from 0.30, and finer steps below it (the memory's
# score is 0 on most plain messages, so an `ask` bar can sit low and still ask few of them)
_GRID = np.unique(
    np.concatenate([np.round(np.geomspace(0.002, 0.3, 60), 4), np.round(np.arange(0.30, 0.995, 0.01), 2)])
)
RANK = {"self_care": 0, "routine": 1, "urgent": 2, "emergency": 3}
TEAM_SETS = ("triage",)  # the team's own set; the manifest names the training-only sets


@dataclass
class Example:
    """One labelled conversation: what the net may read, and which families are really present."""

    id: str
    set: str
    message: str
    history: list[Turn]
    families: frozenset[str]
    level: str
    negated: bool


@dataclass
class Encoded:
    """Every example's units as indices into one matrix of clause embeddings."""

    vectors: np.ndarray
    live: list[list[int]]
    whole: list[int | None]
    denied: list[list[int]]
    live_texts: list[list[str]]
    denied_texts: list[list[str]]
    aside: list[list[int]] = field(default_factory=list)
    aside_texts: list[list[str]] = field(default_factory=list)

    def features(self, i: int) -> np.ndarray | None:
        if not self.live[i]:
            return None
        lv = self.vectors[self.live[i]]
        whole = self.vectors[self.whole[i]] if self.whole[i] is not None else lv.max(axis=0)
        return np.concatenate([whole, lv.max(axis=0)])

    def signal(self, w: NetWeights, i: int) -> NetSignal:
        lv = self.vectors[self.live[i]]
        dv = self.vectors[self.denied[i]]
        whole = self.vectors[self.whole[i]] if self.whole[i] is not None else None
        av = self.vectors[self.aside[i]] if self.aside else None
        aside_texts = self.aside_texts[i] if self.aside_texts else []
        return score_vectors(w, lv, whole, dv, self.live_texts[i], self.denied_texts[i], av, aside_texts)


def memo_encode(
    encode: Callable[[list[str]], np.ndarray], store: dict[str, np.ndarray]
) -> Callable[[list[str]], np.ndarray]:
    """`encode`, computing each distinct text once and keeping its vector in `store`."""

    def cached(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in store]
        if missing:
            store.update(zip(missing, encode(missing), strict=True))
        return np.stack([store[t] for t in texts])

    return cached


def independent_sets(datasets: Path = DATASETS) -> list[str]:
    """Sets written by people who never saw the rules: every triage set of the manifest but the team's."""
    return sorted(e.name for e in load_manifest(datasets).of_kind("triage") if e.name not in TEAM_SETS)


def held_out_sets(datasets: Path = DATASETS) -> set[str]:
    """Triage sets the net never trains on (`held_out: true` in the manifest)."""
    return {e.name for e in load_manifest(datasets).of_kind("triage") if e.held_out}


def _training_files(datasets: Path, *, with_held_out: bool = False) -> list[Path]:
    """The triage and training-only sets of the manifest but the held-out ones (unless asked for), by
    file name (the order the weights' hash reads)."""
    manifest = load_manifest(datasets)
    entries = manifest.of_kind("triage", "training-only")
    paths = [manifest.path(e) for e in entries if with_held_out or not e.held_out]
    return sorted((p for p in paths if p.is_file()), key=lambda p: p.name)


def family_of(policy_families: dict[str, Any]) -> dict[str, str]:
    return {flag: name for name, fam in policy_families.items() for flag in fam.flags}


def load_examples(triager: Triager, datasets: Path = DATASETS, *, with_held_out: bool = False) -> list[Example]:
    """Every labelled message and rule example, exact duplicates dropped (first kept); the held-out
    sets' messages only when asked for (to be measured, never trained on)."""
    fam = family_of(triager.policy.families)
    out: list[Example] = []
    seen: set[tuple[str, str]] = set()

    def add(ex: Example) -> None:
        key = (ex.message.strip().lower(), json.dumps([t.content for t in ex.history]))
        if key not in seen:
            seen.add(key)
            out.append(ex)

    for path in _training_files(datasets, with_held_out=with_held_out):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            present = set(row.get("expected_flags") or [])
            for m in row.get("mentions") or []:
                if m.get("status") == "present":
                    present.add(m["flag"])
            add(
                Example(
                    id=str(row["id"]),
                    set=path.stem,
                    message=row["message"],
                    history=[Turn.model_validate(t) for t in row.get("history") or []],
                    families=frozenset(fam[f] for f in present if f in fam),
                    level=row["expected_triage"],
                    negated=bool(row.get("negated")),
                )
            )
    # questions the knowledge base cannot answer (recipes, horoscopes, other body parts): never a red flag
    manifest = load_manifest(datasets)
    for entry in manifest.of_kind("scope"):
        scope = manifest.path(entry)
        if not scope.is_file():
            continue
        for line in scope.read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else {}
            if row.get("expect") == "refuse":
                add(Example(str(row["id"]), entry.name, row["message"], [], frozenset(), "self_care", False))
    for flag in triager.engine.rules.source.flags:
        for i, text in enumerate(flag.examples.fire):
            add(
                Example(
                    f"{flag.id}-fire-{i}",
                    "rule_examples",
                    text,
                    [],
                    frozenset({fam[flag.id]} if flag.id in fam else set()),
                    flag.level.value,
                    False,
                )
            )
        for i, text in enumerate(flag.examples.quiet):
            add(Example(f"{flag.id}-quiet-{i}", "rule_examples", text, [], frozenset(), "self_care", True))
    return out


def data_hash(examples: Sequence[Example], model_name: str) -> str:
    """What the weights were trained from: the examples' text and labels, and the encoder."""
    h = hashlib.sha256(model_name.encode())
    for ex in examples:
        h.update(json.dumps([ex.set, ex.message, [t.model_dump() for t in ex.history], sorted(ex.families)]).encode())
    return h.hexdigest()


def training_hash(triager: Triager, model_name: str, datasets: Path = DATASETS) -> str:
    return (
        data_hash(load_examples(triager, datasets), model_name)
        + ":"
        + _hash_text(policy_families_text(triager))
        + ":"
        + _hash_text(reading_rules_text(triager))
    )


def reading_rules_text(triager: Triager) -> str:
    """The rules that shape what the net reads: the triage rules (a denied or hypothetical mention is
    taken out of the live text), the canonical table and the glossary. A rule change changes the net's
    features, so the shipped weights are stale until retrained (found 2026-12-05: retraining the shipped
    commit gave other ask bars than it shipped with, the rules having changed after the last training)."""
    return "\n".join(
        (
            triager.engine.rules.source.model_dump_json(),
            canonical_table().model_dump_json(),
            load_gloss_table().model_dump_json(),
        )
    )


def policy_families_text(triager: Triager) -> str:
    return json.dumps({k: v.flags for k, v in triager.policy.families.items()}, sort_keys=True)


def _hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_examples(
    triager: Triager, examples: Sequence[Example], encode: Callable[[list[str]], np.ndarray]
) -> Encoded:
    """Split every example into the units the net reads, and encode each distinct text once."""
    index: dict[str, int] = {}
    live, whole, denied, live_texts, denied_texts, aside, aside_texts = [], [], [], [], [], [], []

    def idx(text: str) -> int:
        return index.setdefault(text, len(index))

    for ex in examples:
        units, current = triager.units(ex.message, ex.history)
        lv = [u for u in units if u.status == LIVE]
        live.append([idx(u.text) for u in lv])
        live_texts.append([u.text for u in lv])
        denied.append([idx(u.text) for u in units if u.status == DENIED])
        denied_texts.append([u.text for u in units if u.status == DENIED])
        aside.append([idx(u.text) for u in units if u.status == ASIDE])
        aside_texts.append([u.text for u in units if u.status == ASIDE])
        text = whole_of(units, current, net_text(ex.message))  # as the net reads it when serving
        whole.append(idx(text) if text else None)
    texts = sorted(index, key=index.__getitem__)
    vectors = encode(texts) if texts else np.zeros((0, 384), np.float32)
    return Encoded(
        np.asarray(vectors, dtype=np.float32), live, whole, denied, live_texts, denied_texts, aside, aside_texts
    )


def clusters(examples: Sequence[Example], enc: Encoded, threshold: float = 0.9) -> list[int]:
    """Near-duplicate groups (whole-text cosine above `threshold`, across any files), for grouped splits."""
    n = len(examples)
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    rows = [i for i in range(n) if enc.whole[i] is not None]
    if rows:
        m = enc.vectors[[enc.whole[i] for i in rows]]
        sims = m @ m.T
        for a, b in zip(*np.nonzero(np.triu(sims > threshold, k=1)), strict=True):
            parent[find(rows[a])] = find(rows[b])
    return [find(i) for i in range(n)]


def fit(X: np.ndarray, Y: np.ndarray, families: Sequence[str], C: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """One logistic read-out per family (lbfgs, fixed seed, balanced classes): weights and biases."""
    from sklearn.linear_model import LogisticRegression

    W = np.zeros((len(families), X.shape[1]), dtype=np.float64)
    b = np.zeros(len(families), dtype=np.float64)
    for j in range(len(families)):
        y = Y[:, j]
        if y.min() == y.max():
            b[j] = -10.0
            continue
        clf = LogisticRegression(C=C, class_weight="balanced", max_iter=3000, random_state=SEED)
        clf.fit(X, y)
        W[j], b[j] = clf.coef_[0], clf.intercept_[0]
    return W.astype(np.float32), b.astype(np.float32)


def fit_net(
    X: np.ndarray, Y: np.ndarray, families: Sequence[str], model_name: str = "", data_hash: str = ""
) -> NetWeights:
    """The net for training rows X, Y: the logistic read-out (`fit`) and the rows themselves as its memory."""
    W, b = fit(X, Y, families)
    return NetWeights(
        families=list(families),
        weights=W,
        bias=b,
        data_hash=data_hash,
        model_name=model_name,
        memory=Memory.of(X, Y, data_hash),
    )


def design(
    examples: Sequence[Example], enc: Encoded, families: Sequence[str], rows: Iterable[int]
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    kept, xs, ys = [], [], []
    for i in rows:
        x = enc.features(i)
        if x is None:
            continue
        kept.append(i)
        xs.append(x)
        ys.append([f in examples[i].families for f in families])
    return np.asarray(xs, np.float32), np.asarray(ys, np.int64), kept


def out_of_fold(
    examples: Sequence[Example],
    enc: Encoded,
    families: Sequence[str],
    groups: Sequence[int],
    folds: int = 5,
    seed: int = SEED,
) -> np.ndarray:
    """Out-of-fold live probabilities for every example (grouped by near-duplicate cluster), on the
    fold split that `seed` draws."""
    uniq = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(uniq))
    fold_of_group = {uniq[k]: int(pos % folds) for pos, k in enumerate(order)}
    fold = np.array([fold_of_group[g] for g in groups])
    probs = np.zeros((len(examples), len(families)), np.float32)
    for k in range(folds):
        X, Y, _ = design(examples, enc, families, np.nonzero(fold != k)[0])
        w = fit_net(X, Y, families)
        Xt, _, kept = design(examples, enc, families, np.nonzero(fold == k)[0])
        if kept:
            probs[kept] = w.probabilities(Xt)
    return probs


def mean_bars(per_split: Sequence[Mapping[str, Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    """Each bar as the mean of the bars chosen on each fold split (`SPLITS`)."""
    return {
        fam: {kind: round(float(np.mean([bars[fam][kind] for bars in per_split])), 4) for kind in per_split[0][fam]}
        for fam in per_split[0]
    }


def choose_thresholds(
    examples: Sequence[Example],
    probs: np.ndarray,
    families: Sequence[str],
    shares: Mapping[str, float],
    plain_sets: Collection[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Per family, from out-of-fold probabilities: `escalate` where at most ESCALATE_BUDGET of the family's
    negatives, and of denied, hypothetical or someone else's mentions, would be escalated; `ask` by
    `ask_thresholds` (`shares`: each family's share of plain messages)."""
    escalate: dict[str, float] = {}
    for j, fam in enumerate(families):
        neg = np.array([fam not in ex.families for ex in examples])
        negated = neg & np.array([ex.negated for ex in examples])
        escalate[fam] = next(
            (
                float(t)
                for t in _GRID
                if t >= 0.6
                and (probs[neg, j] >= t).mean() <= ESCALATE_BUDGET
                and (probs[negated, j] >= t).mean() <= ESCALATE_BUDGET
            ),
            0.99,
        )
    asks = ask_thresholds(examples, probs, families, escalate, shares, plain_sets)
    return {f: {"escalate": escalate[f], "ask": asks[f]} for f in families}


def family_shares(triager: Triager) -> dict[str, float]:
    """Each family's share of plain messages asked: crisis, then emergency (by the rules' own levels), then urgent."""
    return {
        name: CRISIS_PLAIN_SHARE
        if fam.crisis
        else EMERGENCY_PLAIN_SHARE
        if triager.engine.flag(fam.flag).level == Level.emergency
        else URGENT_PLAIN_SHARE
        for name, fam in triager.policy.families.items()
    }


def ask_thresholds(
    examples: Sequence[Example],
    probs: np.ndarray,
    families: Sequence[str],
    escalate: dict[str, float],
    shares: Mapping[str, float],
    plain_sets: Collection[str] | None = None,
) -> dict[str, float]:
    """The `ask` bars: per family, the lowest at which at most its share of plain self-care messages
    would be asked (never above its `escalate` bar). A family's bar depends on its own scores only, so
    retraining on slightly different data moves it little. `plain_sets`: the sets whose plain messages
    count (the ones written as patients write, not the training-only sets written to teach the net)."""
    plain = np.array(
        [
            ex.level == "self_care"
            and not ex.negated
            and not ex.families
            and (plain_sets is None or ex.set in plain_sets)
            for ex in examples
        ]
    )
    bars: dict[str, float] = {}
    for j, fam in enumerate(families):
        on_plain = probs[plain, j]
        low = next((float(t) for t in _GRID if (on_plain >= t).mean() <= shares[fam]), 0.99)
        bars[fam] = min(low, escalate[fam])
    return bars


@dataclass
class Trained:
    weights: NetWeights
    thresholds: dict[str, dict[str, float]]
    report: dict[str, Any] = field(default_factory=dict)


def train(
    triager: Triager,
    encode: Callable[[list[str]], np.ndarray],
    model_name: str,
    datasets: Path = DATASETS,
    say: Callable[[str], None] = print,
) -> Trained:
    """Train on everything; thresholds by grouped cross-validation; the weights carry their data's hash."""
    families = list(triager.policy.families)
    examples = load_examples(triager, datasets)
    say(f"{len(examples)} labelled examples from {len({e.set for e in examples})} sources; encoding their clauses...")
    enc = encode_examples(triager, examples, encode)
    groups = clusters(examples, enc)
    say(
        f"{len(enc.vectors)} distinct clauses; {len(examples) - len(set(groups))} near-duplicates grouped; "
        "cross-validating..."
    )
    splits = [out_of_fold(examples, enc, families, groups, seed=SEED + k) for k in range(SPLITS)]
    # the bars are set on the plain messages of the sets written as patients write (the team's set and
    # the independent ones), not on the training-only sets: those were written to teach the net hard
    # look-alikes (doses within the label, idioms), so a bar set on them sits higher than patients'
    # plain messages need, and misses more (2026-12-04, twenty-four sets left out in turn: 27 missed
    # instead of 36, for 219 plain messages asked instead of 190, of 1,161)
    plain_sets = {*independent_sets(datasets), *TEAM_SETS}
    shares = family_shares(triager)
    thresholds = mean_bars([choose_thresholds(examples, p, families, shares, plain_sets) for p in splits])
    X, Y, _ = design(examples, enc, families, range(len(examples)))
    weights = fit_net(X, Y, families, model_name, training_hash(triager, model_name, datasets))
    counts = {f: int(Y[:, j].sum()) for j, f in enumerate(families)}
    weights.meta = {
        "examples": len(examples),
        "positives": counts,
        "seed": SEED,
        "bars": f"mean of the bars chosen out of fold on {SPLITS} grouped 5-fold splits",
        "features": "whole live text + max-pooled live clauses",
        "score": "mean of the logistic read-out and the memory's nearest-neighbour share",
    }
    plain = np.array([ex.level == "self_care" and not ex.negated and not ex.families for ex in examples])
    bars = np.array([thresholds[f]["ask"] for f in families])
    asked = np.mean([np.any(p[plain] >= bars, axis=1).mean() for p in splits])
    report = {"positives": counts, "examples": len(examples), "plain_asked": float(asked)}
    return Trained(weights, thresholds, report)


def write(trained: Trained, knowledge: Path) -> None:
    """Weights to triage_net.json; the chosen thresholds into net.yaml's `thresholds:` block (comments kept)."""
    trained.weights.save(weights_path(knowledge))
    path = policy_path(knowledge)
    text = path.read_text(encoding="utf-8")
    head = text[: text.index("\nthresholds:")]
    lines = [f"  {f}: {{escalate: {t['escalate']}, ask: {t['ask']}}}" for f, t in trained.thresholds.items()]
    path.write_text(head + "\nthresholds:\n" + "\n".join(lines) + "\n", encoding="utf-8")


# ---- generalisation ------------------------------------------------------------------------------
# what leave-one-set-out counts on each set (emergency/urgent rows, denied mentions, plain messages)
TALLY = (
    *("n_eu", "rules_level", "level", "screened", "missed"),
    *("neg", "neg_over", "plain", "plain_asked", "plain_raised"),
)


def caught(expected: str, t: Triage) -> str:
    """'level' when triaged at or above the expected level, 'screened' when a screening question was
    asked, else 'missed'."""
    if RANK[t.level.value] >= RANK[expected]:
        return "level"
    return "screened" if t.screening_question else "missed"


def leave_one_set_out(
    triager: Triager, encode: Callable[[list[str]], np.ndarray], model_name: str, datasets: Path = DATASETS
) -> dict[str, dict[str, float]]:
    """For each independent set: train without it (and its near-duplicates), then triage it with rules + that net.
    Held-out sets are never trained on, so theirs is the shipped net's first contact."""
    families = list(triager.policy.families)
    examples = load_examples(triager, datasets, with_held_out=True)
    never = held_out_sets(datasets)
    enc = encode_examples(triager, examples, encode)
    groups = clusters(examples, enc)
    out: dict[str, dict[str, float]] = {}
    for held in independent_sets(datasets):
        test = [i for i, e in enumerate(examples) if e.set == held]
        banned = {groups[i] for i in test}
        train_rows = [
            i for i, e in enumerate(examples) if e.set != held and e.set not in never and groups[i] not in banned
        ]
        X, Y, _ = design(examples, enc, families, train_rows)
        w = fit_net(X, Y, families, model_name)
        tally = dict.fromkeys(TALLY, 0)
        for i in test:
            ex = examples[i]
            rules = triager.engine.triage(ex.message, ex.history)
            combined = triager.combine(rules, enc.signal(w, i), ex.message, ex.history)
            if ex.level in ("urgent", "emergency"):
                tally["n_eu"] += 1
                tally["rules_level"] += caught(ex.level, rules) == "level"
                tally[caught(ex.level, combined)] += 1
            if ex.negated:
                tally["neg"] += 1
                tally["neg_over"] += RANK[combined.level.value] >= 2 and RANK[combined.level.value] > RANK[ex.level]
            elif ex.level == "self_care" and not ex.families:
                tally["plain"] += 1
                tally["plain_asked"] += bool(combined.screening_question)
                tally["plain_raised"] += RANK[combined.level.value] >= 2  # sent to a doctor today or to A&E
        out[held] = {**{k: float(v) for k, v in tally.items()}, **rates(tally)}
    return out


def rates(tally: Mapping[str, float]) -> dict[str, float]:
    """The rates of a leave-one-set-out tally (`TALLY`): one set's, or all sets' pooled."""
    n = max(tally["n_eu"], 1)
    return {
        "rules_catch": tally["rules_level"] / n,
        "catch": (tally["level"] + tally["screened"]) / n,
        "screened_instead_rate": tally["screened"] / n,
        "over_triage_negated_rate": tally["neg_over"] / max(tally["neg"], 1),
        "plain_asked_rate": tally["plain_asked"] / max(tally["plain"], 1),
        "plain_raised_rate": tally["plain_raised"] / max(tally["plain"], 1),
    }
