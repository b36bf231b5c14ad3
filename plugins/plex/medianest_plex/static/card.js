// The Plex card's "recently added" strip, filled with what the person looking may see (their own Plex view).
// The card is drawn again whenever its figures change: the new strip shows at once what the last one showed, and
// asks Plex's list again only when that is more than a minute old.
"use strict";
(function () {
  const FRESH_MS = 60000;
  let kept = null; // {address, at, items}: the last answer

  function draw(strip, items) {
    const rows = [];
    for (const item of items) {
      const li = document.createElement("li");
      const link = document.createElement("a");
      link.href = "/plex/items/" + encodeURIComponent(item.id);
      link.title = item.title + (item.year ? " (" + item.year + ")" : "");
      if (item.poster && item.poster.startsWith("/api/v1/plex/images?")) {
        const img = document.createElement("img");
        img.src = item.poster;
        img.alt = link.title;
        img.width = 96;
        img.height = 144;
        link.appendChild(img);
      } else {
        link.textContent = link.title;
        link.className = "no-poster";
      }
      li.appendChild(link);
      rows.push(li);
    }
    strip.replaceChildren(...rows);
  }

  async function fill(strip) {
    strip.dataset.filled = "1";
    const address = strip.dataset.plexRecent;
    if (kept && kept.address === address) {
      draw(strip, kept.items);
      if (Date.now() - kept.at < FRESH_MS) return;
    }
    let answer;
    try {
      const response = await fetch(address, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) { if (!strip.children.length) strip.remove(); return; }
      answer = await response.json();
    } catch (_) { if (!strip.children.length) strip.remove(); return; }
    const changed = !kept || kept.address !== address || JSON.stringify(kept.items) !== JSON.stringify(answer.items);
    kept = { address: address, at: Date.now(), items: answer.items };
    if (!strip.isConnected) return;
    if (!answer.items.length) { strip.remove(); return; }
    if (changed || !strip.children.length) draw(strip, answer.items);
  }
  function scan(root) {
    for (const strip of root.querySelectorAll("[data-plex-recent]:not([data-filled])")) fill(strip);
  }
  function start() {
    scan(document);
    // Cards are swapped in when their data changes: fill the new strip too.
    new MutationObserver(() => scan(document)).observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
