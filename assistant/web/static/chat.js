() => {
  // Keep the visitor's question at the top while the answer streams in below it, so a long
  // answer is read from its start (and its safety banner) rather than from its end.
  const attach = () => {
    const log = document.querySelector("#pa-chat .bubble-wrap");
    if (!log) { setTimeout(attach, 300); return; }
    let users = log.querySelectorAll(".user-row").length;
    let target = null;
    const stop = () => { target = null; };
    ["wheel", "touchstart", "keydown", "mousedown"].forEach((ev) => log.addEventListener(ev, stop, { passive: true }));
    new MutationObserver(() => {
      const rows = log.querySelectorAll(".user-row");
      if (rows.length !== users) {
        users = rows.length; target = rows[rows.length - 1] || null;
        // on a phone the page itself may have scrolled to the input box: bring the conversation's
        // top back into view once per question, so the answer is read from its start
        const top = log.getBoundingClientRect().top;
        if (target && (top < 0 || top > window.innerHeight * 0.4)) window.scrollBy(0, top - 8);
      }
      if (target && target.isConnected) {
        log.scrollTop += target.getBoundingClientRect().top - log.getBoundingClientRect().top - 8;
      }
    }).observe(log, { childList: true, subtree: true, characterData: true });
  };
  attach();

  // A character counter instead of a silent cut: past the limit the visitor is told plainly, and a
  // message sent anyway is still triaged for red flags before it is refused as too long.
  const count = () => {
    const box = document.querySelector("#pa-question textarea");
    const out = document.querySelector("#pa-count");
    if (!box || !out) { setTimeout(count, 300); return; }
    const limit = parseInt(out.dataset.limit || "4000", 10);
    const update = () => {
      const n = box.value.length;
      out.classList.toggle("pa-count--over", n > limit);
      if (n === 0) { out.textContent = ""; return; }
      out.textContent = n > limit
        ? `${n.toLocaleString()} / ${limit.toLocaleString()} characters: that is longer than I can read in one go. ` +
          `Please send the main question in a shorter message. If you have worrying symptoms, call ${out.dataset.emergency} now.`
        : `${n.toLocaleString()} / ${limit.toLocaleString()} characters`;
    };
    ["input", "change"].forEach((ev) => box.addEventListener(ev, update));
    new MutationObserver(update).observe(box, { attributes: true, attributeFilter: ["value"] });
    setInterval(() => { if (out.dataset.shown !== String(box.value.length)) { out.dataset.shown = String(box.value.length); update(); } }, 500);  // the box is emptied by script after sending
    update();
  };
  count();

  // "Did you mean...?" chips: choosing one sends its question as the visitor's next message.
  document.addEventListener("click", (ev) => {
    const chip = ev.target.closest && ev.target.closest(".pa-chip");
    if (!chip) return;
    const box = document.querySelector("#pa-question textarea");
    if (!box) return;
    box.value = chip.dataset.ask || chip.textContent;
    box.dispatchEvent(new Event("input", { bubbles: true }));
    const send = document.querySelector("#pa-question button.submit-button, #pa-question button[aria-label='Submit'], #pa-question button");
    if (send) send.click(); else box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
  });
}
