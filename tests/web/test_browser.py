"""A real browser (Debian's chromium, driven by Playwright) against the real server.

A visitor asks a question and sees sources and the disclaimer; an emergency shows the red banner
with the number; typed HTML stays text; a physiotherapist signs in, corrects an answer, and the
next identical question gets the correction. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.web.support import REVIEW_PASSWORD, REVIEW_USER, Server

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
QUESTION = "is walking ok with sciatica?"
EMERGENCY = "I can't feel my bum when I wipe"
CORRECTION = (
    "Yes: walking is one of the best things you can do with sciatica. "
    "Start with 10 easy minutes on flat ground (checked by our team)."
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_chat(browser: Browser, server: Server, viewport: dict[str, int]) -> Page:
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(30_000)
    page.goto(server.url + "/")
    expect(page.locator("#pa-question textarea")).to_be_visible()
    return page


def ask(page: Page, message: str) -> None:
    """Type a message, send it with Enter, and wait until its whole answer (with disclaimer) is shown."""
    before = page.locator(".pa-disclaimer").count()
    page.locator("#pa-question textarea").fill(message)
    page.locator("#pa-question textarea").press("Enter")
    expect(page.locator(".pa-disclaimer")).to_have_count(before + 1)


def last_reply(page: Page):  # type: ignore[no-untyped-def]
    return page.locator(".pa-reply").last


def show(page: Page, selector: str) -> None:
    """Scroll the conversation so `selector` is at its top, for a telling screenshot."""
    page.evaluate(
        """(s) => { const log = document.querySelector('#pa-chat .bubble-wrap');
        const t = [...document.querySelectorAll(s)].pop();
        if (log && t) log.scrollTop += t.getBoundingClientRect().top - log.getBoundingClientRect().top - 8; }""",
        selector,
    )


def test_patient_chat_and_clinician_correction(browser: Browser, server: Server, screenshots: Path) -> None:
    page = open_chat(browser, server, DESKTOP)
    expect(page.locator(".pa-header")).to_contain_text(re.compile(r"Open now|Closed"))
    expect(page.locator(".pa-footer__disclaimer")).to_contain_text("not a diagnosis")
    expect(page.locator(".pa-greeting")).to_contain_text(
        re.compile(r"(open now|opens again|closed).*book", re.I | re.S)
    )
    expect(page.locator("#pa-chat button.example").first).to_be_visible()
    page.screenshot(path=screenshots / "chat-desktop-welcome.png", full_page=True)

    # a question: answer with sources (expandable, titled) and the disclaimer
    ask(page, QUESTION)
    reply = last_reply(page)
    expect(reply.locator(".pa-answer")).to_contain_text(re.compile("walk", re.I))
    expect(reply.locator(".pa-sources details.pa-source summary").first).to_be_visible()
    expect(reply.locator(".pa-disclaimer")).to_contain_text("not a diagnosis")
    expect(page.locator(".pa-footer__disclaimer")).to_be_visible()
    reply.locator(".pa-source summary").first.click()
    expect(reply.locator(".pa-source[open]")).to_have_count(1)

    # thumbs up on that answer is stored against its logged turn
    page.locator("#pa-chat button[aria-label=Like]").last.click()
    expect(page.get_by_text("Thank you for your feedback")).to_be_visible()
    liked = [t for t in server.records().list_turns(limit=50) if t["user_message"] == QUESTION and t["liked"]]
    assert liked, "the like was stored with the turn"
    show(page, ".pa-user-text, .user-row")
    page.screenshot(path=screenshots / "chat-desktop-answer.png", full_page=True)
    if reply.locator(".pa-card").count():
        show(page, ".pa-plan")
        page.locator("#pa-chat").screenshot(path=screenshots / "chat-desktop-exercise-cards.png")

    # an emergency: the red banner with the number to call, first in the reply, and no exercises
    ask(page, EMERGENCY)
    reply = last_reply(page)
    banner = reply.locator(".pa-banner--emergency")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text("999")
    expect(banner.locator('a[href="tel:999"]')).to_be_visible()
    assert reply.locator(":scope > *").first.get_attribute("class").startswith("pa-banner")
    colour = banner.evaluate("e => getComputedStyle(e).borderLeftColor")
    assert colour == "rgb(220, 38, 38)", colour
    expect(reply.locator(".pa-card")).to_have_count(0)
    show(page, ".user-row")
    page.screenshot(path=screenshots / "chat-desktop-emergency.png", full_page=True)

    # typed HTML is shown as text, never run
    ask(page, '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> my back hurts')
    assert page.evaluate("window.__pwned") is None
    user_texts = page.locator("#pa-chat .user-row").last
    expect(user_texts).to_contain_text("<script>window.__pwned = 1</script>")
    assert page.locator("#pa-chat script").count() == 0
    assert page.locator("#pa-chat .user-row img").count() == 0
    page.close()

    # a physiotherapist signs in and corrects the walking answer
    review = browser.new_page(viewport=DESKTOP)
    review.set_default_timeout(30_000)
    review.goto(server.url + "/review")
    expect(review).to_have_url(re.compile(r"/review/login$"))
    review.screenshot(path=screenshots / "review-login.png")
    review.fill("#username", REVIEW_USER)
    review.fill("#password", REVIEW_PASSWORD)
    review.click("button[type=submit]")
    expect(review.locator("#rv-turns")).to_be_visible()
    row = review.locator("#rv-turns [role=row].virtual-row", has_text=QUESTION).first
    row.locator("[role=gridcell]", has_text=QUESTION).click()
    expect(review.locator("#rv-detail .rv-question")).to_have_text(QUESTION)
    review.locator("#rv-correction textarea").fill(CORRECTION)
    review.click("#rv-save")
    expect(review.locator("#rv-action-msg")).to_contain_text("Correction saved")
    review.screenshot(path=screenshots / "review-correction.png", full_page=True)
    review.close()

    # the next identical question gets the physiotherapist's answer, marked as checked
    page = open_chat(browser, server, DESKTOP)
    ask(page, QUESTION)
    reply = last_reply(page)
    expect(reply.locator(".pa-answer")).to_contain_text(CORRECTION)
    expect(reply.locator(".pa-badge--ok")).to_contain_text("Checked by our physiotherapists")
    expect(reply.locator(".pa-disclaimer")).to_contain_text("not a diagnosis")
    show(page, ".user-row")
    page.screenshot(path=screenshots / "chat-desktop-corrected.png", full_page=True)
    page.close()


def test_phone_width(browser: Browser, server: Server, screenshots: Path) -> None:
    page = open_chat(browser, server, PHONE)
    page.screenshot(path=screenshots / "chat-phone-welcome.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling at 375 px"
    ask(page, EMERGENCY)
    banner = last_reply(page).locator(".pa-banner--emergency")
    expect(banner).to_be_visible()
    box = banner.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    show(page, ".user-row")
    page.screenshot(path=screenshots / "chat-phone-emergency.png", full_page=True)
    page.click("#pa-new")
    expect(page.locator(".pa-reply")).to_have_count(0)
    ask(page, "what exercises can I do for sciatica?")
    expect(last_reply(page).locator(".pa-card").first).to_be_visible()
    show(page, ".pa-plan")
    page.screenshot(path=screenshots / "chat-phone-exercises.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.close()


def test_on_a_phone_the_answer_is_read_first_without_scrolling(
    browser: Browser, server: Server, screenshots: Path
) -> None:
    page = open_chat(browser, server, {"width": 390, "height": 844})
    ask(page, "is walking ok?")
    reply = last_reply(page)
    first = reply.locator(".pa-answer p").first
    expect(first).to_be_visible()
    box = first.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 844, (
        f"the answer's first paragraph is on screen: {box}"
    )
    # what follows the answer is folded away until asked for
    assert reply.locator("details.pa-more[open]").count() == 0
    expect(reply.locator(".pa-card")).to_have_count(0)  # "is walking ok?" asks for no exercises
    page.screenshot(path=screenshots / "chat-phone-answer.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.close()


def test_keyboard_only_visitor_can_ask(browser: Browser, server: Server) -> None:
    page = open_chat(browser, server, DESKTOP)
    labels = page.evaluate(
        "[...document.querySelectorAll('textarea, input')].filter(e => e.offsetParent).map(e => e.labels && "
        "e.labels.length ? e.labels[0].innerText.trim() : (e.getAttribute('aria-label') || ''))"
    )
    assert all(labels), f"every visible input has a label: {labels}"
    page.locator("#pa-question textarea").focus()
    page.keyboard.type("how long does sciatica usually last?")
    page.keyboard.press("Enter")
    expect(page.locator(".pa-disclaimer")).to_have_count(1)
    page.close()


def test_a_long_paste_is_counted_not_cut_and_its_red_flag_still_triaged(
    browser: Browser, server: Server, screenshots: Path
) -> None:
    page = open_chat(browser, server, DESKTOP)
    box = page.locator("#pa-question textarea")
    long_text = "My back has been sore for a few weeks now and sitting makes it worse. " * 70 + EMERGENCY
    box.fill(long_text)
    assert len(box.input_value()) == len(long_text), "the browser must not cut a long paste silently"
    expect(page.locator("#pa-count")).to_contain_text("longer than I can read in one go")
    page.screenshot(path=str(screenshots / "long-paste-counter.png"))
    box.press("Enter")
    expect(page.locator(".pa-disclaimer")).to_have_count(1)
    expect(last_reply(page)).to_contain_text("999")
    box.fill("is walking ok?")
    expect(page.locator("#pa-count")).to_have_text(re.compile(r"^14 / 4,000 characters$"))
    page.close()
