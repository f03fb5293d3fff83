"""Whatever a patient pastes, the pipeline answers with a clear message and never a stack trace."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.errors import InputError
from assistant.models import Level

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400)
ODD = st.sampled_from(
    [
        "\u202eevil right-to-left\u202c text",
        "\u0645\u0631\u062d\u0628\u0627 \u0638\u0647\u0631\u064a \u064a\u0624\u0644\u0645\u0646\u064a",
        "\U0001f62d\U0001f62d my back \U0001f525\U0001f525",
        "<script>alert('x')</script> is walking ok?",
        "**bold** [link](javascript:alert(1)) ![img](http://x/y.png)",
        "\x00\x1b[31mred\x1b[0m",
        "' OR 1=1; DROP TABLE messages; --",
        "{{7*7}} ${jndi:ldap://x}",
    ]
)
FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@FAST
@given(message=st.one_of(TEXT, ODD))
def test_any_text_gets_an_answer_with_the_disclaimer(assistant, message: str) -> None:
    reply = assistant.reply(message)
    assert reply.disclaimer and reply.disclaimer in reply.answer
    assert reply.triage.level in set(Level)
    json.dumps(reply.contract())


@FAST
@given(
    message=st.one_of(
        st.integers(),
        st.floats(allow_nan=True),
        st.binary(max_size=64),
        st.lists(st.text(max_size=5), max_size=3),
        st.none(),
    )
)
def test_wrong_types_in_the_message_field_are_refused_clearly(assistant, message: object) -> None:
    reply = assistant.reply(message)
    assert reply.refused and reply.answer


@FAST
@given(
    history=st.one_of(
        st.text(max_size=20),
        st.integers(),
        st.lists(
            st.one_of(
                st.integers(),
                st.text(max_size=5),
                st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
            ),
            min_size=1,
            max_size=3,
        ),
    )
)
def test_malformed_history_gives_an_input_error_not_a_crash(assistant, history: object) -> None:
    with pytest.raises(InputError):
        assistant.reply("is walking ok?", history)


def test_a_script_in_a_message_is_never_echoed_as_live_html(assistant) -> None:
    reply = assistant.reply("<script>alert('x')</script> why does my leg tingle?")
    assert "<script>" not in reply.answer


def test_a_very_long_message_is_capped_quickly(assistant) -> None:
    import time

    start = time.perf_counter()
    reply = assistant.reply("my back hurts " * 100_000)
    assert reply.refused and "too long" in reply.answer
    assert time.perf_counter() - start < 5


@FAST
@given(message=TEXT)
def test_triage_never_raises(assistant, message: str) -> None:
    assistant.engine.triage(message)
