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
      if (rows.length !== users) { users = rows.length; target = rows[rows.length - 1] || null; }
      if (target && target.isConnected) {
        log.scrollTop += target.getBoundingClientRect().top - log.getBoundingClientRect().top - 8;
      }
    }).observe(log, { childList: true, subtree: true, characterData: true });
  };
  attach();
}
