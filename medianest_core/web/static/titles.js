// Search results that grow as each source answers, Discover's rows that load on their own, and the buttons that
// plugins offer on a title. Everything shown comes from MediaNest's own JSON and is set as text, never as HTML.
"use strict";

(function () {
  const ICONS = "/static/core/icons.svg";

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  // Our own pages and API routes are paths; links out are http(s) only.
  function ownPath(url) {
    // One slash, then no slash or backslash, and no space or control character (browsers drop tabs and newlines).
    return typeof url === "string" && /^\/(?![\/\\])[^\x00-\x20\x7f\\]*$/.test(url) ? url : null;
  }
  function outLink(url) {
    return typeof url === "string" && /^https?:\/\//.test(url) ? url : null;
  }
  function icon(name) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", ICONS + "#" + name);
    svg.appendChild(use);
    return svg;
  }
  function poster(title) {
    const src = ownPath(title.poster);
    if (src) {
      const img = el("img", "thumb");
      img.src = src;
      img.alt = "";
      img.loading = "lazy";
      img.width = 150;
      img.height = 225;
      img.addEventListener("error", () => img.replaceWith(noPoster(title)), { once: true });
      return img;
    }
    return noPoster(title);
  }
  function noPoster(title) {
    const box = el("span", "thumb no-poster");
    box.setAttribute("aria-hidden", "true");
    box.appendChild(icon(title.kind === "tv" ? "tv" : title.kind === "movie" ? "film" : "circle"));
    return box;
  }
  const KINDS = { movie: "Film", tv: "Series", episode: "Episode", season: "Season", artist: "Artist", album: "Album", track: "Track", clip: "Video" };
  function kindName(kind) {
    return KINDS[kind] || (kind ? kind.charAt(0).toUpperCase() + kind.slice(1) : "");
  }

  // ---- Buttons offered on a title (a POST to a MediaNest API route) --------------------------------------------
  function actionButton(action, primary) {
    const button = el("button", primary ? "primary" : "", action.label);
    button.type = "button";
    const url = ownPath(action.url);
    if (!action.enabled || !url || !url.startsWith("/api/")) {
      button.disabled = true;
      if (action.reason) button.title = action.reason;
      return button;
    }
    button.addEventListener("click", () => runAction(button, url, action.method || "POST", action.body || {}));
    return button;
  }
  async function runAction(button, url, method, body) {
    const { api, toast } = window.MediaNest;
    button.disabled = true;
    try {
      const answer = await api(method, url, body);
      toast({ title: (answer && answer.message) || "Done.", level: "info" });
    } catch (failure) {
      toast({ title: failure.message || "That did not work.", level: "error" });
      button.disabled = false;
    }
  }
  function bindPageActions() {
    for (const button of document.querySelectorAll("button[data-title-action]")) {
      if (button.disabled) continue;
      const url = ownPath(button.dataset.titleAction);
      if (!url) continue;
      let body = {};
      try { body = JSON.parse(button.dataset.body || "{}"); } catch (_) { body = {}; }
      button.addEventListener("click", () => runAction(button, url, button.dataset.method || "POST", body));
    }
  }

  // ---- Where a title stands: in a library (with its links), statuses, buttons ---------------------------------
  function whereItStands(title) {
    const where = el("div", "where");
    for (const place of title.in_library || []) {
      where.appendChild(el("span", "pill ok", "In " + place.service));
      const watch = outLink(place.watch_url);
      if (watch) {
        const link = el("a", "button primary");
        link.href = watch;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        link.append(icon("play"), " Watch in " + place.service);
        where.appendChild(link);
      }
    }
    for (const status of title.statuses || []) {
      const pill = el("span", "pill tone-" + (status.tone || "info"), status.label);
      if (status.detail) pill.title = status.detail;
      where.appendChild(pill);
    }
    (title.actions || []).forEach((action, index) => where.appendChild(actionButton(action, index === 0 && !(title.in_library || []).length)));
    return where;
  }

  // ---- Search ---------------------------------------------------------------------------------------------------
  function resultItem(title, quiet) {
    const item = el("li");
    const href = ownPath(title.url);
    if (href) {  // the poster opens the title too; the heading's link is the one announced
      const link = el("a");
      link.href = href;
      link.tabIndex = -1;
      link.setAttribute("aria-hidden", "true");
      link.appendChild(poster(title));
      item.appendChild(link);
    } else {
      item.appendChild(poster(title));
    }
    const text = el("div");
    const heading = el("h3");
    const name = title.title + (title.year ? " (" + title.year + ")" : "");
    if (href) {
      const link = el("a", "", name);
      link.href = href;
      heading.appendChild(link);
    } else {
      heading.textContent = name;
    }
    text.appendChild(heading);
    const places = (title.in_library || []).map((p) => p.library).filter(Boolean);
    text.appendChild(el("p", "meta", [kindName(title.kind), ...places].join(" · ")));
    if (title.overview) text.appendChild(el("p", "overview", title.overview));
    const where = whereItStands(title);
    // Said only when every source of such facts answered: a library that could not be asked is no "not there".
    if (!where.childElementCount && quiet && (title.kind === "movie" || title.kind === "tv")) {
      where.appendChild(el("span", "pill", "Not in the library"));
    }
    text.appendChild(where);
    item.appendChild(text);
    return item;
  }
  const shown = new WeakMap();
  function showSearch(holder, answer) {
    const list = holder.querySelector(".title-list");
    const notes = holder.querySelector(".source-notes");
    const state = holder.querySelector(".search-state");
    const quiet = !(answer.notes || []).length;
    // A result that has not changed keeps its element, and elements move only when the order changes: the entry a
    // person is about to click does not vanish under the pointer when another source answers.
    const kept = shown.get(list) || new Map();
    const next = new Map();
    const nodes = answer.results.map((title) => {
      const key = JSON.stringify([title, quiet]);
      const node = kept.get(key) || resultItem(title, quiet);
      next.set(key, node);
      return node;
    });
    shown.set(list, next);
    nodes.forEach((node, index) => {
      if (list.children[index] !== node) list.insertBefore(node, list.children[index] || null);
    });
    while (list.children.length > nodes.length) list.lastElementChild.remove();
    const lines = answer.sources.filter((s) => s.state === "failed").map((s) => s.message).concat(answer.notes || []);
    notes.replaceChildren(...lines.map((line) => el("li", "", line)));
    const waiting = answer.sources.filter((s) => s.state === "waiting").map((s) => s.title);
    const count = answer.results.length;
    const found = count === 0 ? "Nothing found" : count === 1 ? "1 title" : count + " titles";
    state.textContent = waiting.length ? found + " so far · still asking " + waiting.join(", ") + "…" : answer.done && count === 0 ? "Nothing found for “" + answer.q + "”." : found + ".";
    holder.setAttribute("aria-busy", answer.done ? "false" : "true");
  }
  async function runSearch() {
    const holder = document.getElementById("search-results");
    if (!holder) return;
    const url = "/api/v1/search/stream?q=" + encodeURIComponent(holder.dataset.q);
    try {
      const response = await fetch(url, { headers: { Accept: "application/x-ndjson" }, credentials: "same-origin" });
      if (!response.ok || !response.body) {
        let message = "Search is unavailable just now (" + response.status + ").";
        try { message = (await response.json()).error.message || message; } catch (_) { /* keep the plain line */ }
        throw new Error(message);
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (value) buffered += value;
        let cut;
        while ((cut = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, cut).trim();
          buffered = buffered.slice(cut + 1);
          if (line) showSearch(holder, JSON.parse(line));
        }
        if (done) break;
      }
    } catch (failure) {
      holder.setAttribute("aria-busy", "false");
      holder.querySelector(".search-state").textContent = failure.message || "Search is unavailable just now.";
    }
  }

  // ---- Discover ---------------------------------------------------------------------------------------------------
  function posterItem(title) {
    const item = el("li");
    const href = ownPath(title.url);
    const box = el(href ? "a" : "div");
    if (href) box.href = href;
    box.appendChild(poster(title));
    if ((title.in_library || []).length) {
      box.appendChild(el("span", "badge", "In " + title.in_library[0].service));
    }
    box.appendChild(el("span", "poster-name", title.title));
    if (title.year) box.appendChild(el("span", "muted", String(title.year)));
    item.appendChild(box);
    return item;
  }
  async function loadRow(section) {
    const state = section.querySelector(".row-state");
    const list = section.querySelector(".poster-row");
    try {
      const row = await window.MediaNest.api("GET", "/api/v1/discover/" + encodeURIComponent(section.dataset.row));
      if (!row.ok) {
        list.remove();
        state.textContent = row.message;
      } else if (!row.titles.length) {
        list.remove();
        state.textContent = "Nothing here just now.";
      } else {
        list.replaceChildren(...row.titles.map(posterItem));
        if (row.notes && row.notes.length) state.textContent = row.notes.join(" ");
        else state.remove();
      }
    } catch (failure) {
      list.remove();
      state.textContent = failure.message;
    }
    section.setAttribute("aria-busy", "false");
  }

  function start() {
    runSearch();
    for (const section of document.querySelectorAll("[data-row]")) loadRow(section);
    bindPageActions();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
