// The Plex card's "recently added" strip, filled with what the person looking may see (their own Plex view).
"use strict";
(function () {
  async function fill(strip) {
    strip.dataset.filled = "1";
    let answer;
    try {
      const response = await fetch(strip.dataset.plexRecent, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) { strip.remove(); return; }
      answer = await response.json();
    } catch (_) { strip.remove(); return; }
    for (const item of answer.items) {
      const li = document.createElement("li");
      const link = document.createElement("a");
      link.href = "/plex/items/" + encodeURIComponent(item.id);
      link.title = item.title + (item.year ? " (" + item.year + ")" : "");
      if (item.poster && item.poster.startsWith("/api/v1/plex/images?")) {
        const img = document.createElement("img");
        img.src = item.poster;
        img.alt = link.title;
        img.loading = "lazy";
        link.appendChild(img);
      } else {
        link.textContent = link.title;
      }
      li.appendChild(link);
      strip.appendChild(li);
    }
    if (!answer.items.length) strip.remove();
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
