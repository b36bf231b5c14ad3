// Search results that grow as each source answers, Discover's rows that load on their own, the buttons that plugins
// offer on a title (some first ask which of their choices to send), and each shown title's facts kept live. Everything
// shown comes from MediaNest's own JSON and is set as text, never as HTML.
"use strict";

(function () {

  const { el, ownPath, outLink, icon } = window.MediaNest.dom;
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

  // ---- Buttons offered on a title (a request to a MediaNest API route) -------------------------------------------
  // A button with choices first opens a chooser: the values ticked are sent as a list under body[field].
  function choicesOf(list) {
    if (!Array.isArray(list)) return [];
    return list.filter((c) => c && (typeof c.value === "number" || typeof c.value === "string") && typeof c.label === "string");
  }
  function plainObject(value) {
    return value && typeof value === "object" && !Array.isArray(value) ? value : {};
  }
  // The body with the values ticked under `field`: own properties only, whatever the names.
  function withField(body, field, values) {
    const sent = {};
    const put = (name, value) => Object.defineProperty(sent, name, { value, enumerable: true, writable: true, configurable: true });
    for (const [name, value] of Object.entries(body)) put(name, value);
    put(field, values);
    return sent;
  }
  function bindAction(button, action) {
    const url = ownPath(action.url);
    const choices = choicesOf(action.choices);
    const field = typeof action.field === "string" && action.field ? action.field : null;
    if (!action.enabled || !url || !url.startsWith("/api/") || (choices.length && !field)) {
      button.disabled = true;
      if (action.reason) button.title = action.reason;
      return;
    }
    const method = action.method || "POST";
    const body = plainObject(action.body);
    if (choices.length) button.setAttribute("aria-haspopup", "dialog");
    button.addEventListener("click", () => {
      const holder = button.closest("[data-facts]");  // the title's block, which stays while its content is renewed
      if (!choices.length) runAction(button, holder, url, method, body);
      else choose(button, action, choices, (values) => runAction(button, holder, url, method, withField(body, field, values)));
    });
  }
  function actionButton(action, primary) {
    const button = el("button", primary ? "primary" : "", action.label);
    button.type = "button";
    if (action.key) button.dataset.key = action.key;
    bindAction(button, action);
    return button;
  }
  async function runAction(button, holder, url, method, body) {
    const { api, toast } = window.MediaNest;
    const hadFocus = document.activeElement === button;
    button.disabled = true;
    let answer;
    try {
      answer = await api(method, url, body);
    } catch (failure) {
      toast({ title: failure.message || "That did not work.", level: "error" });
      button.disabled = false;
      if (hadFocus && button.isConnected) button.focus();
      return;
    }
    toast({ title: (answer && answer.message) || "Done.", level: "info" });
    if (!holder) return;
    // What the title's sources say now ("Request" becomes "Requested"); focus stays in the title's block.
    await refreshTitle(holder.dataset.kind, holder.dataset.tmdb);
    const lost = !document.activeElement || document.activeElement === document.body || !document.activeElement.isConnected;
    if (hadFocus && lost) focusInto(whereOf(holder), button.dataset.key);
  }

  let chooserCount = 0;
  // A modal dialog of checkboxes: those that cannot be ticked are greyed with their reason; "All" when more than one
  // can be; the confirm button (the action's label) stays disabled until something is ticked. Escape or Cancel
  // closes it, and focus goes back to the button.
  function choose(button, action, choices, send) {
    const holder = button.closest("[data-facts]");
    const key = button.dataset.key;
    const id = "chooser-" + ++chooserCount;
    const dialog = el("dialog", "chooser");
    dialog.setAttribute("aria-labelledby", id + "-title");
    const form = el("form");
    form.method = "dialog";
    const heading = el("h2", "", action.choose || action.label);
    heading.id = id + "-title";
    form.appendChild(heading);
    if (holder && holder.dataset.name) form.appendChild(el("p", "muted chooser-about", holder.dataset.name));
    const group = el("fieldset", "choices");
    group.setAttribute("aria-labelledby", heading.id);
    const boxes = [];
    let all = null;
    if (choices.filter((c) => c.enabled !== false).length > 1) {
      const row = el("label", "choice choice-all");
      all = el("input");
      all.type = "checkbox";
      row.append(all, el("span", "choice-label", "All"));
      group.appendChild(row);
    }
    const list = el("ul", "choice-list");
    choices.forEach((choice, index) => {
      const usable = choice.enabled !== false;
      const item = el("li", usable ? "" : "unavailable");
      const row = el("label", "choice");
      const box = el("input");
      box.type = "checkbox";
      box.id = id + "-" + index;
      box.disabled = !usable;
      row.append(box, el("span", "choice-label", choice.label));
      item.appendChild(row);
      if (!usable && typeof choice.reason === "string" && choice.reason) {  // beside the label: not part of its name
        const why = el("span", "choice-reason", choice.reason);
        why.id = box.id + "-why";
        box.setAttribute("aria-describedby", why.id);
        item.appendChild(why);
      }
      list.appendChild(item);
      if (usable) boxes.push({ box, value: choice.value });
    });
    group.appendChild(list);
    const buttons = el("div", "actions chooser-actions");
    const confirm = el("button", "primary", action.label);
    confirm.type = "submit";
    confirm.disabled = true;
    const cancel = el("button", "", "Cancel");
    cancel.type = "button";
    buttons.append(confirm, cancel);
    form.append(group, buttons);
    dialog.appendChild(form);

    const ticked = () => boxes.filter((b) => b.box.checked);
    function update() {
      const count = ticked().length;
      confirm.disabled = count === 0;
      if (all) {
        all.checked = count === boxes.length;
        all.indeterminate = count > 0 && count < boxes.length;
      }
    }
    for (const { box } of boxes) box.addEventListener("change", update);
    if (all) all.addEventListener("change", () => { for (const { box } of boxes) box.checked = all.checked; update(); });
    let chosen = null;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const values = ticked().map((b) => b.value);
      if (!values.length) return;
      chosen = values;
      dialog.close();
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      // The title's block may have been shown again meanwhile: then its button of the same action takes the focus.
      if (button.isConnected) button.focus();
      else if (holder && holder.isConnected) focusInto(whereOf(holder), key);
      if (chosen) send(chosen);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    const first = dialog.querySelector("input:not(:disabled)");
    (first || cancel).focus();
  }
  function bindPageActions() {
    for (const button of document.querySelectorAll("button[data-title-action]")) {
      if (button.disabled) continue;
      let body = {};
      let choices = [];
      try { body = JSON.parse(button.dataset.body || "{}"); } catch (_) { body = {}; }
      try { choices = JSON.parse(button.dataset.choices || "[]"); } catch (_) { choices = []; }
      bindAction(button, {
        key: button.dataset.key,
        label: button.textContent.trim(),
        url: button.dataset.titleAction,
        method: button.dataset.method,
        body,
        enabled: true,
        choices,
        field: button.dataset.field,
        choose: button.dataset.choose,
      });
    }
  }

  // ---- Where a title stands: in a library (with its links), statuses, buttons ---------------------------------
  // In a list: one line of pills and buttons.
  function listWhere(facts, quiet, kind) {
    const nodes = [];
    for (const place of facts.in_library || []) {
      nodes.push(el("span", "pill ok", "In " + place.service));
      const watch = outLink(place.watch_url);
      if (watch) {
        const link = el("a", "button primary");
        link.href = watch;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        link.append(icon("play"), " Watch in " + place.service);
        nodes.push(link);
      }
    }
    for (const status of facts.statuses || []) {
      const pill = el("span", "pill tone-" + (status.tone || "info"), status.label);
      if (status.detail) pill.title = status.detail;
      nodes.push(pill);
    }
    (facts.actions || []).forEach((action, index) => nodes.push(actionButton(action, index === 0 && !(facts.in_library || []).length)));
    // Said only when every source of such facts answered: a library that could not be asked is no "not there".
    if (!nodes.length && quiet && (kind === "movie" || kind === "tv")) nodes.push(el("span", "pill", "Not in the library"));
    return nodes;
  }
  function whereItStands(title, quiet) {
    const where = el("div", "where");
    where.setAttribute("aria-live", "polite");
    where.append(...listWhere(title, quiet, title.kind));
    return where;
  }
  // On a title page: as title.html renders it.
  function pageWhere(facts, quiet) {
    const nodes = [];
    for (const place of facts.in_library || []) {
      const line = el("p");
      line.appendChild(el("span", "pill ok", "In " + place.service));
      if (place.library) line.append(" ", el("span", "muted", "in " + place.library));
      const links = el("p", "actions");
      const watch = outLink(place.watch_url);
      if (watch) {
        const link = el("a", "button primary");
        link.href = watch;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        link.append(icon("play"), " Watch in " + place.service);
        links.appendChild(link);
      }
      const item = ownPath(place.item_url);
      if (item) {
        const link = el("a", "button", "Open in the library");
        link.href = item;
        links.appendChild(link);
      }
      nodes.push(line, links);
    }
    if (!(facts.in_library || []).length && quiet) {
      const line = el("p");
      line.append(el("span", "pill", "Not in the library"), " ", el("span", "muted", "No media server you can use has it yet."));
      nodes.push(line);
    }
    for (const status of facts.statuses || []) {
      const line = el("p");
      line.appendChild(el("span", "pill tone-" + (status.tone || "info"), status.label));
      if (status.detail) line.append(" ", el("span", "muted", status.detail));
      nodes.push(line);
    }
    const actions = facts.actions || [];
    if (actions.length) {
      const line = el("p", "actions title-actions");
      actions.forEach((action, index) => {
        line.appendChild(actionButton(action, index === 0));
        if (!action.enabled && action.reason) line.appendChild(el("span", "muted", action.reason));
      });
      nodes.push(line);
    }
    return nodes;
  }

  // ---- A title's facts kept live: when a plugin says a title changed for this person (title.changed), or after
  // one of its buttons did something, every place the title is shown asks for its facts again. -------------------
  function markTitle(node, title, shape) {
    const tmdb = title.ids && title.ids.tmdb;
    if (!(title.kind === "movie" || title.kind === "tv") || !Number.isInteger(tmdb)) return;
    node.dataset.facts = shape;
    node.dataset.kind = title.kind;
    node.dataset.tmdb = String(tmdb);
    if (Number.isInteger(title.ids.tvdb)) node.dataset.tvdb = String(title.ids.tvdb);
    if (typeof title.ids.imdb === "string" && title.ids.imdb) node.dataset.imdb = title.ids.imdb;
    node.dataset.name = title.title;
  }
  function whereOf(holder) {
    return holder.dataset.facts === "list" ? holder.querySelector(".where") || holder : holder;
  }
  function focusInto(block, key) {
    const usable = [...block.querySelectorAll("button, a[href]")].filter((b) => !b.disabled);
    const target = (key && usable.find((b) => b.dataset.key === key)) || usable[0];
    if (target) {
      target.focus();
    } else {
      block.tabIndex = -1;
      block.focus();
    }
  }
  function factsUrl(holder) {
    const params = new URLSearchParams();
    if (holder.dataset.tvdb) params.set("tvdb", holder.dataset.tvdb);
    if (holder.dataset.imdb) params.set("imdb", holder.dataset.imdb);
    if (holder.dataset.facts === "page") params.set("detail", "true");
    const query = params.toString();
    return "/api/v1/titles/" + encodeURIComponent(holder.dataset.kind) + "/" + encodeURIComponent(holder.dataset.tmdb) +
      "/facts" + (query ? "?" + query : "");
  }
  function showFacts(holder, facts) {
    const where = whereOf(holder);
    const focused = where.contains(document.activeElement) ? document.activeElement : null;
    const key = focused && focused.dataset ? focused.dataset.key : undefined;
    const quiet = !(facts.notes || []).length;
    const shape = holder.dataset.facts;
    if (shape === "page") {
      where.replaceChildren(...pageWhere(facts, quiet));
    } else if (shape === "list") {
      where.replaceChildren(...listWhere(facts, quiet, holder.dataset.kind));
      const meta = holder.querySelector(".meta");
      const places = (facts.in_library || []).map((p) => p.library).filter(Boolean);
      if (meta) meta.textContent = [kindName(holder.dataset.kind), ...places].join(" · ");
    } else if (shape === "poster") {
      const box = holder.firstElementChild;
      let badge = holder.querySelector(".badge");
      const place = (facts.in_library || [])[0];
      if (place && box) {
        if (!badge) {
          badge = el("span", "badge");
          box.insertBefore(badge, box.querySelector(".poster-name"));
        }
        badge.textContent = "In " + place.service;
      } else if (badge) {
        badge.remove();
      }
    }
    if (focused && !focused.isConnected) focusInto(where, key);
  }
  const asked = new Map();
  function refreshTitle(kind, tmdb) {
    return refreshHolders([...document.querySelectorAll("[data-facts]")].filter(
      (h) => h.dataset.kind === String(kind) && h.dataset.tmdb === String(tmdb)));
  }
  async function refreshHolders(holders) {  // one question for each set of facts shown, however often it is shown
    const byUrl = new Map();
    for (const holder of holders) {
      const url = factsUrl(holder);
      if (!byUrl.has(url)) byUrl.set(url, []);
      byUrl.get(url).push(holder);
    }
    await Promise.all([...byUrl].map(async ([url, shown]) => {
      const turn = (asked.get(url) || 0) + 1;
      asked.set(url, turn);
      let facts;
      try { facts = await window.MediaNest.api("GET", url); } catch (_) { return; }  // the next change tries again
      if (asked.get(url) !== turn) return;  // a later answer is on its way: it is the one to show
      for (const holder of shown) if (holder.isConnected) showFacts(holder, facts);
    }));
  }
  function followTitles() {
    const { on } = window.MediaNest || {};
    if (on) {
      on("title.changed", (data) => {
        if (data && (data.kind === "movie" || data.kind === "tv") && Number.isInteger(data.tmdb_id)) refreshTitle(data.kind, data.tmdb_id);
      });
      // A service is out or back (service.outage): the buttons that need it are greyed or offered again, so every
      // title shown with its buttons asks again. Posters only say where a title is, which no outage changes. An
      // outage reported again unchanged (as it is while it lasts) asks nothing.
      const outages = new Map();
      on("service.outage", (data) => {
        if (!data || typeof data.service !== "string") return;
        const reason = typeof data.reason === "string" ? data.reason : null;
        if (outages.has(data.service) && outages.get(data.service) === reason) return;
        outages.set(data.service, reason);
        refreshHolders([...document.querySelectorAll('[data-facts="list"], [data-facts="page"]')]);
      });
    }
    // Back from a gap in the live connection: a title page asks again (what changed meanwhile was not heard).
    document.addEventListener("medianest:resync", () => {
      for (const holder of document.querySelectorAll('[data-facts="page"]')) refreshTitle(holder.dataset.kind, holder.dataset.tmdb);
    });
  }

  // ---- Search ---------------------------------------------------------------------------------------------------
  function resultItem(title, quiet) {
    const item = el("li");
    markTitle(item, title, "list");
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
    text.appendChild(whereItStands(title, quiet));
    item.appendChild(text);
    return item;
  }
  // A row of the size of a result, drawn while sources are still asked: the rows that come take its place.
  const SKELETON_ROWS = 3;
  function skeletonRow() {
    const item = el("li", "skeleton");
    item.setAttribute("aria-hidden", "true");
    const text = el("div");
    for (const part of ["sk-title", "sk-title-2", "sk-meta", "sk-line", "sk-line", "sk-where"]) text.appendChild(el("span", "sk " + part));
    item.append(el("span", "thumb"), text);
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
    // While a source is still asked, placeholders keep the place of the rows it may bring.
    const holding = answer.done ? 0 : Math.max(0, SKELETON_ROWS - nodes.length);
    for (let i = 0; i < holding; i++) list.appendChild(skeletonRow());
    const lines = answer.sources.filter((s) => s.state === "failed" || s.state === "unavailable").map((s) => s.message).concat(answer.notes || []);
    notes.replaceChildren(...lines.map((line) => el("li", "", line)));
    const waiting = answer.sources.filter((s) => s.state === "waiting").map((s) => s.title);
    const count = answer.results.length;
    const found = count === 0 ? "Nothing found" : count === 1 ? "1 title" : count + " titles";
    state.textContent = waiting.length ? found + " so far · still asking " + waiting.join(", ") + "…" : answer.done && count === 0 ? "Nothing found for “" + answer.q + "”. Check the spelling, or try fewer words or the title in its original language." : found + ".";
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
    } finally {
      for (const row of holder.querySelectorAll(".title-list > .skeleton")) row.remove();  // nothing more comes
    }
  }

  // ---- Discover ---------------------------------------------------------------------------------------------------
  function posterItem(title) {
    const item = el("li");
    markTitle(item, title, "poster");
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
    const say = (text) => {  // the line is shown once it says more than "Loading…"
      state.textContent = text;
      state.classList.remove("visually-hidden");
    };
    try {
      const row = await window.MediaNest.api("GET", "/api/v1/discover/" + encodeURIComponent(section.dataset.row));
      if (!row.ok) {
        list.remove();
        say(row.message);
      } else if (!row.titles.length) {
        list.remove();
        say("Nothing here just now.");
      } else {
        list.replaceChildren(...row.titles.map(posterItem));
        if (row.notes && row.notes.length) say(row.notes.join(" "));
        else state.remove();
      }
    } catch (failure) {
      list.remove();
      say(failure.message);
    }
    section.setAttribute("aria-busy", "false");
  }

  function start() {
    runSearch();
    for (const section of document.querySelectorAll("[data-row]")) loadRow(section);
    bindPageActions();
    followTitles();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
