"""Overdoses told as numbers: every example in knowledge/safety/medicines.yaml is a test, plus the arithmetic."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest
import yaml

from assistant.errors import ConfigError
from assistant.guardrails.doses import Overdose, _lower, _read, default_path, engine, load_medicines, overdose

FILE = load_medicines()
EXAMPLES = (
    [pytest.param(text, True, id=f"{m.id}-fire-{i}") for m in FILE.medicines for i, text in enumerate(m.fire)]
    + [pytest.param(text, False, id=f"{m.id}-quiet-{i}") for m in FILE.medicines for i, text in enumerate(m.quiet)]
    + [pytest.param(text, True, id=f"{s.id}-fire-{i}") for s in FILE.stock_forms for i, text in enumerate(s.fire)]
    + [pytest.param(text, False, id=f"{s.id}-quiet-{i}") for s in FILE.stock_forms for i, text in enumerate(s.quiet)]
)


@pytest.mark.parametrize(("text", "fires"), EXAMPLES)
def test_every_example_in_the_file(text: str, fires: bool) -> None:
    result = overdose(text)
    assert (result is not None) == fires, result and result.evidence


def test_every_medicine_and_stock_form_has_examples() -> None:
    assert [m.id for m in FILE.medicines if not (m.fire and m.quiet)] == []


def _amount(result: Overdose | None, kind: str, ingredient: str) -> float | None:
    assert result is not None
    found = [f.amount_mg for f in result.findings if f.kind == kind and f.ingredients == (ingredient,)]
    return found[0] if found else None


@pytest.mark.parametrize(
    ("text", "kind", "ingredient", "amount"),
    [
        # the brief's four stories
        ("I took about 10 of the extra strength 500mg paracetamol this morning in one go", "dose", "paracetamol", 5000),
        ("I've been taking ibuprofen 400 every 2 hours for 3 days", "day", "ibuprofen", 3200),
        (
            "I've been having 2 co-codamol, 2 Panadol and a Lemsip every 4 hours since yesterday",
            "dose",
            "paracetamol",
            2500,
        ),
        (
            "I've been having 2 co-codamol, 2 Panadol and a Lemsip every 4 hours since yesterday",
            "day",
            "paracetamol",
            10000,
        ),
        ("taking about 20 of my 300mg gabapentin a day this week instead of 3", "day", "gabapentin", 6000),
        # summing one ingredient across products, each with its own frequency
        ("2 co-codamol four times a day and 2 panadol four times a day", "day", "paracetamol", 8000),
        ("3 nurofen plus every 2 hours", "day", "codeine", 307.2),
        # every N hours, N-hourly, minutes, a range taken at its cautious end
        ("2 paracetamol 3-hourly", "day", "paracetamol", 16 / 3 * 1000),
        ("one tramadol 100mg every 4-6 hours and 2 more tramadol 100mg at once", "dose", "tramadol", 200),
        ("a 400 ibuprofen every 30 minutes", "day", "ibuprofen", 12800),
        # word numbers, x2 / 2x, a couple, half
        ("took twenty-five paracetamol today", "day", "paracetamol", 12500),
        ("a couple of 30mg codeine every 2 hours", "day", "codeine", 480),
        ("swallowed 3x 500mg paracetamol together", "dose", "paracetamol", 1500),
        ("paracetamol 500mg x3 in one go", "dose", "paracetamol", 1500),
        # strengths given, defaulted (smallest usual), grams, pairs, plurals
        ("took 6 ibuprofen at once", "dose", "ibuprofen", 1200),
        ("took 6 ibuprofen 400s at once", "dose", "ibuprofen", 2400),
        ("had 8g of paracetamol today", "day", "paracetamol", 8000),
        ("3 co-codamol 30/500 every 4 hours", "day", "codeine", 360),
        ("took 2 tablets of 50mg tramadol every 2 hours", "day", "tramadol", 800),
        # per dose only: one sitting over the dose limit but the day within it
        ("I take 3 paracetamol at night", "dose", "paracetamol", 1500),
        # no time given: counted as one day, compared with the daily limit only
        ("I took 10 paracetamol", "day", "paracetamol", 5000),
        ("I've had 10 paracetamol, then 6 more", "day", "paracetamol", 8000),
    ],
)
def test_arithmetic(text: str, kind: str, ingredient: str, amount: float) -> None:
    assert _amount(overdose(text), kind, ingredient) == pytest.approx(amount)


@pytest.mark.parametrize(
    "text",
    [
        "2 paracetamol 3 times a day",
        "I take 2 paracetamol four times a day, so 8 a day",  # the total restated is not a second intake
        "I take 8 paracetamol a day, 2 tablets every 6 hours",  # nor the dose that makes it up
        "I took 10 paracetamol over 3 days",  # spread over days
        "took 25 amitriptyline",  # 25 tablets or 25 mg? ambiguous: left to the caller
        "I'm 45 and take paracetamol every day",
        "I took paracetamol at 2pm and again at 8pm",
        "I took 2 paracetamol 5 hours ago",
        "on 12/05 I took 2 paracetamol",
        "10ml oramorph every hour",  # no fixed ceiling: numbers are never judged
        "can I take paracetamol and ibuprofen together?",
        "I took 8 paracetamol. The 8 paracetamol did nothing",  # told twice, counted once
        "2 paracetamol every 6 hours",
        "2 paracetamol 4 times a day",
        "ibuprofen 200mg, 2 every 8 hours",
    ],
)
def test_label_respecting_or_unreadable_stays_quiet(text: str) -> None:
    result = overdose(text)
    assert result is None, result.evidence


def test_the_per_dose_limit_is_separate_from_the_day() -> None:
    result = overdose("I take 3 paracetamol at night")
    assert result is not None
    assert [f.kind for f in result.findings] == ["dose"]
    assert result.findings[0].limit_mg == 1000


def test_evidence_and_spans_point_at_the_words_read() -> None:
    text = "Yesterday was fine. I took about 10 of the extra strength 500mg paracetamol this morning in one go"
    result = overdose(text)
    assert result is not None
    assert result.findings[0].evidence == (
        "paracetamol about 5,000 mg at once (10 x 500 mg paracetamol); the most in one dose is 1,000 mg"
    )
    read = [text[a:b] for a, b in result.spans]
    assert read == ["10", "500mg", "paracetamol", "this morning", "in one go"]


def test_spans_index_the_raw_text_whatever_its_case() -> None:
    text = "SWALLOWED ALL MY AMITRIPTYLINE"
    result = overdose(text)
    assert result is not None
    assert [text[a:b] for a, b in result.spans] == [text]
    assert result.ingredients == ("amitriptyline",)


def test_stock_forms_name_every_medicine_in_the_sentence() -> None:
    result = overdose("doubled up the nerve pain capsules and the morphine syrup")
    assert result is not None
    assert result.findings[0].kind == "stock"
    assert result.ingredients == ("morphine",)


def test_a_question_with_no_intake_reads_nothing() -> None:
    intakes, stocks, _ = _read(engine(), "how many paracetamol would be too many?")
    assert [i.count for i in intakes] == [None] and not intakes[0].stated and stocks == []


def test_the_file_loads_and_every_medicine_names_known_ingredients() -> None:
    limits = {i.id for i in FILE.ingredients}
    assert all(set(m.contains) <= limits for m in FILE.medicines)
    assert default_path().is_file()


def test_an_unknown_key_fails_loudly(tmp_path: Path) -> None:
    data = yaml.safe_load(default_path().read_text(encoding="utf-8"))
    data["medicines"][0]["strenght"] = [500]
    bad = tmp_path / "medicines.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="strenght"):
        load_medicines(bad)


def test_a_name_given_to_two_medicines_fails_loudly(tmp_path: Path) -> None:
    data = yaml.safe_load(default_path().read_text(encoding="utf-8"))
    data["medicines"][1]["names"].append("panadol")
    bad = tmp_path / "medicines.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="panadol"):
        load_medicines(bad)


def _noise(n: int, seed: int) -> str:
    rng = random.Random(seed)
    words = re.findall(
        r"\S+",
        "I took 2 paracetamol every 4 hours and a couple of 500mg ibuprofen at night , my back hurts so much . "
        "all my the whole packet doubled twice 30/500 x2 3x co-codamol lemsip today since this morning in one go",
    )
    out = " ".join(rng.choice(words) for _ in range(n // 4))
    return out[:n]


@pytest.mark.parametrize("size", [1000, 8000])
def test_long_messages_finish_fast(size: int) -> None:
    text = _noise(size, seed=size)
    overdose(text)  # warm the cache
    start = time.perf_counter()
    for _ in range(10):
        overdose(text)
    per_message = (time.perf_counter() - start) / 10
    assert per_message < 0.002 * size / 1000 * 5, per_message  # generous under load; see the report for figures


def test_pathological_input_stays_linear() -> None:
    for text in ("1 " * 4000, "a " * 4000, "every " * 1300, "x" * 8000, "all my " * 1100):
        start = time.perf_counter()
        overdose(text)
        assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    "text",
    [
        "plain ascii",
        "Café PARACETAMOL",
        "\u0130brahim took 10",  # a capital I with a dot: its lower case is two characters
        "\u039f\u03a3 \u03a3\u039f\u03a3 x\u03a3.",  # capital sigmas, final and not
        "\u1e9e\u00df \u01c5 \u2126",
    ],
)
def test_lower_keeps_each_character_in_place(text: str) -> None:
    """The fast lower case is the per-character one, so spans still index the text as given."""
    slow = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    assert _lower(text) == slow
    assert len(_lower(text)) == len(text)


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("I took two co-codamol and a Lemsip", True),  # 1,500 mg of paracetamol in one go
        ("took 2 co-codamol and 2 lemsip max", True),
        ("I took 2 ibuprofen and 2 naproxen", True),  # two NSAIDs together, whatever the amounts
        ("I took a paracetamol and a co-codamol", False),  # 1,000 mg: within the most in one dose
        ("I took 2 co-codamol at 8 and a lemsip at 2", False),  # told apart in time
        ("took two co-codamol then a lemsip an hour later", False),
        ("I have had 2 co-codamol and a lemsip today", False),  # spread over the day, within it
    ],
)
def test_two_counted_products_sharing_an_ingredient_are_summed_as_one_dose(text: str, fires: bool) -> None:
    found = overdose(text)
    assert (found is not None) == fires, text
    if found is not None:
        assert found.findings[0].kind == "both"
