// Requests through Overseerr, in the browser: one's requests kept live on the requests page (rows replaced in place
// or added at the top as their states change), cancel, approve and decline there; the admin's page that links
// people to Overseerr users. Loaded on every signed-in page: each part starts only where its elements are.
// Everything shown comes from MediaNest's JSON and is set as text.
"use strict";
(function () {
  const M = () => window.MediaNest;
  const KINDS = { movie: "Film", tv: "Series" };
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  const { el, ownPath, icon } = window.MediaNest.dom;
  function noPoster(kind) {
    const box = el("span", "ov-thumb no-poster");
    box.appendChild(icon(kind === "tv" ? "tv" : "film"));
    return box;
  }

  // ---- What a row says (as pages.row_view does on the server) ----------------------------------------------
  function day(text) {
    const found = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(text || ""));
    return found ? Number(found[3]) + " " + MONTHS[Number(found[2]) - 1] + " " + found[1] : String(text || "").slice(0, 10);
  }
  function seasonsText(numbers) {
    if (!Array.isArray(numbers) || !numbers.length) return null;
    const sorted = numbers.slice().sort((a, b) => a - b);
    return (sorted.length === 1 ? "Season " : "Seasons ") + sorted.join(", ");
  }
  function duration(seconds) {
    for (const [unit, size] of [["day", 86400], ["h", 3600], ["min", 60]]) {
      if (seconds >= size) {
        const count = Math.round(seconds / size);
        return count + " " + unit + (unit === "day" && count !== 1 ? "s" : "");
      }
    }
    return Math.round(seconds) + " s";
  }
  function timeLeft(text) {
    const found = /^(?:(\d+)\.)?(\d{1,3}):([0-5]\d):([0-5]\d)(?:\.\d+)?$/.exec(typeof text === "string" ? text.trim() : "");
    if (!found) return null;
    const [days, hours, minutes, seconds] = found.slice(1).map((part) => Number(part || 0));
    return duration(((days * 24 + hours) * 60 + minutes) * 60 + seconds);
  }

  // ---- The requests page --------------------------------------------------------------------------------------
  const list = () => document.getElementById("ov-list");

  function view(doc) {
    const holder = list();
    const everyone = holder.dataset.scope === "all";
    const admin = holder.dataset.admin === "true";
    const viewer = Number(holder.dataset.viewer);
    let tones = {};
    try { tones = JSON.parse(holder.dataset.tones || "{}"); } catch (_) { tones = {}; }
    const asker = doc.requested_by || {};
    const mine = !everyone || asker.user_id === viewer;
    let when = "Requested " + day(doc.created_at);
    if (everyone) when += " by " + (asker.name || "someone in Overseerr");
    const meta = [KINDS[doc.kind] || String(doc.kind)];
    const seasons = seasonsText(doc.seasons);
    if (seasons) meta.push(seasons);
    if (doc.is4k) meta.push("4K");
    meta.push(when);
    const left = doc.state === "processing" ? timeLeft((doc.download || {}).time_left) : null;
    const there = seasonsText(doc.seasons_available);
    return {
      tone: tones[doc.state] || "info",
      meta,
      download: doc.state === "processing" ? (left ? "Downloading — " + left + " left" : "Downloading") : null,
      partly: doc.state === "partially_available" && doc.kind === "tv" && there ? there + " in Plex" : null,
      watchUrl: typeof doc.watch_url === "string" && doc.watch_url.startsWith("https://") ? doc.watch_url : null,
      cancel: !!doc.cancellable && mine,
      decide: admin && everyone && doc.state === "pending",
    };
  }

  function renderRow(doc) {
    const r = view(doc);
    const url = ownPath(doc.url) || "#";
    const item = el("li", "ov-row");
    item.id = "request-" + doc.id;
    item.dataset.id = String(doc.id);
    item.dataset.state = doc.state;

    const posterLink = el("a", "ov-poster");
    posterLink.href = url;
    posterLink.tabIndex = -1;
    posterLink.setAttribute("aria-hidden", "true");
    const src = ownPath(doc.poster);
    if (src) {
      const img = el("img", "ov-thumb");
      img.src = src;
      img.alt = "";
      img.loading = "lazy";
      img.width = 92;
      img.height = 138;
      img.dataset.kind = doc.kind;
      posterLink.appendChild(img);
    } else {
      posterLink.appendChild(noPoster(doc.kind));
    }
    item.appendChild(posterLink);

    const body = el("div", "ov-body");
    const head = el("div", "ov-row-head");
    const title = el("h2", "ov-title");
    const link = el("a", "", doc.title);
    link.href = url;
    title.appendChild(link);
    if (doc.year) title.append(" ", el("span", "muted", "(" + doc.year + ")"));
    const pill = el("span", "pill tone-" + r.tone, doc.state_label);
    pill.dataset.role = "state";
    head.append(title, pill);
    body.appendChild(head);

    body.appendChild(el("p", "ov-meta muted", r.meta.join(" · ")));
    if (r.download) { const p = el("p", "ov-note", r.download); p.dataset.role = "download"; body.appendChild(p); }
    if (r.partly) { const p = el("p", "ov-note", r.partly); p.dataset.role = "partly"; body.appendChild(p); }

    if (r.watchUrl || r.cancel || r.decide) {
      const actions = el("div", "actions ov-actions");
      if (r.watchUrl) {
        const watch = el("a", "button small primary", "Watch in Plex");
        watch.href = r.watchUrl;
        watch.target = "_blank";
        watch.rel = "noopener noreferrer";
        actions.appendChild(watch);
      }
      const button = (action, label, className) => {
        const b = el("button", className, label);
        b.type = "button";
        b.dataset.ovAction = action;
        actions.appendChild(b);
      };
      if (r.decide) { button("approve", "Approve", "small primary"); button("decline", "Decline", "small danger"); }
      if (r.cancel) button("cancel", "Cancel", "small");
      body.appendChild(actions);
    }
    item.appendChild(body);
    return item;
  }

  function showEmpty() {
    const empty = document.getElementById("ov-empty");
    if (empty) empty.hidden = !!list().querySelector("li.ov-row");
  }

  // A request's new document: its row is drawn again in place; a request not shown yet comes at the top of the
  // first page when it belongs to what the page lists; a removed one goes.
  function apply(doc) {
    const holder = list();
    if (!holder || !doc || doc.id === undefined) return;
    const old = document.getElementById("request-" + doc.id);
    if (doc.removed) {
      if (old) old.remove();
      showEmpty();
      return;
    }
    const focused = old && old.contains(document.activeElement) ? document.activeElement : null;
    const fresh = renderRow(doc);
    if (old) {
      old.replaceWith(fresh);
      if (focused) {  // focus stays on the row, on the same button when it is still there
        const same = focused.dataset && focused.dataset.ovAction ? fresh.querySelector('[data-ov-action="' + focused.dataset.ovAction + '"]') : null;
        (same || fresh.querySelector(".ov-title a")).focus();
      }
    } else if (holder.dataset.page === "1" && (!holder.dataset.state || holder.dataset.state === doc.state)) {
      holder.prepend(fresh);
    }
    showEmpty();
  }

  function setPending(count) {
    const holder = document.getElementById("ov-waiting");
    if (!holder || typeof count !== "number") return;
    holder.dataset.count = String(count);
    const link = holder.querySelector("a");
    const text = count === 0 ? "Nothing waits for approval." : count === 1 ? "1 request waits for approval." : count + " requests wait for approval.";
    if (link) link.textContent = text;
  }

  const ACTIONS = {
    cancel: { method: "DELETE", path: "", done: "Request cancelled", ask: (t) => "Cancel your request for “" + t + "”?", label: "Cancel request" },
    approve: { method: "POST", path: "/approve", done: "Approved" },
    decline: { method: "POST", path: "/decline", done: "Declined", ask: (t) => "Decline the request for “" + t + "”?", label: "Decline" },
  };

  async function act(row, action) {
    const spec = ACTIONS[action];
    if (!spec) return;
    const title = row.querySelector(".ov-title a").textContent;
    if (spec.ask && !(await M().ask(spec.ask(title), { action: spec.label, danger: true }))) return;
    const answer = await M().api(spec.method, "/api/v1/overseerr/requests/" + encodeURIComponent(row.dataset.id) + spec.path);
    if (action === "cancel") {
      row.remove();
      showEmpty();
    } else {
      const doc = answer && (answer.request || (answer.id !== undefined ? answer : null));
      if (doc) apply(doc);
    }
    M().toast({ title: spec.done, body: title, level: "success" });
  }

  function startRequests() {
    const holder = list();
    if (!holder) return;
    holder.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-ov-action]");
      if (!button) return;
      const row = button.closest("li.ov-row");
      button.disabled = true;
      try { await act(row, button.dataset.ovAction); }
      catch (failure) { M().toast({ title: "That did not work", body: failure.message, level: "error" }); }
      finally { if (button.isConnected) button.disabled = false; }
    });
    if (holder.dataset.scope === "all") {
      M().on("overseerr.requests", (data) => { setPending(data.pending); apply(data.request); });
    } else {
      M().on("overseerr.request", (data) => apply(data.request));
      M().on("overseerr.requests", (data) => setPending(data.pending));
    }
    // After a gap in the live connection, the list is read again (the first page: what may have changed most).
    document.addEventListener("medianest:resync", async () => {
      const params = new URLSearchParams({ scope: holder.dataset.scope, page: holder.dataset.page });
      if (holder.dataset.state) params.set("state", holder.dataset.state);
      try {
        const found = await M().api("GET", "/api/v1/overseerr/requests?" + params.toString());
        for (const doc of found.requests.slice().reverse()) apply(doc);
      } catch (_) { /* the rows stay as they were */ }
    });
  }

  // ---- Posters that fail to load become a plain box (images fail before or after this script runs) ----------
  function posterFailed(img) {
    if (img.dataset.failed) return;
    img.dataset.failed = "1";
    img.replaceWith(noPoster(img.dataset.kind));
  }
  document.addEventListener("error", (event) => {
    const target = event.target;
    if (target instanceof HTMLImageElement && target.classList.contains("ov-thumb")) posterFailed(target);
  }, true);
  function checkPosters() {
    for (const img of document.querySelectorAll("img.ov-thumb")) {
      if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) posterFailed(img);
    }
  }

  // ---- The admin's page: who is which Overseerr user ---------------------------------------------------------
  async function startLinks() {
    const table = document.getElementById("ov-links");
    if (!table) return;
    const status = document.getElementById("ov-users-status");
    const errors = document.getElementById("ov-links-errors");
    const summary = errors ? errors.querySelector(".form-error") : null;
    const say = (text) => { if (summary) { summary.textContent = text; summary.hidden = !text; } };
    // Come from a person's admin page (?user=N): their row is marked; show it at once, focus its choice once ready.
    const current = table.querySelector('tr[aria-current="true"]');
    if (current) current.scrollIntoView({ block: "center" });
    let users = [];
    try {
      users = (await M().api("GET", "/api/v1/overseerr/users")).users || [];
      status.textContent = users.length === 1 ? "Overseerr has 1 user." : "Overseerr has " + users.length + " users.";
    } catch (failure) {
      status.textContent = "Overseerr's users could not be read (" + failure.message + "): the links stay as they are; reload to try again.";
      return;
    }
    const label = (user) => (user.name || "User " + user.id) + (user.email ? " (" + user.email + ")" : "");
    for (const row of table.querySelectorAll("tr[data-user-id]")) {
      const select = row.querySelector('[data-role="choice"]');
      for (const user of users) {
        const option = el("option", "", label(user));
        option.value = String(user.id);
        select.appendChild(option);
      }
      select.value = row.dataset.linked || "";
      select.disabled = false;
      row.querySelector('[data-ov-link="save"]').disabled = false;
    }
    const idle = !document.activeElement || document.activeElement === document.body;  // never take focus from where the admin went meanwhile
    if (current && idle) current.querySelector('[data-role="choice"]').focus({ preventScroll: true });
    table.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-ov-link]");
      if (!button) return;
      const row = button.closest("tr");
      const select = row.querySelector('[data-role="choice"]');
      const path = "/api/v1/overseerr/links/" + encodeURIComponent(row.dataset.userId);
      const person = row.querySelector("td a").textContent;
      say("");
      if (button.dataset.ovLink === "save" && !select.value) { say("Choose an Overseerr user for " + person + " first."); select.focus(); return; }
      button.disabled = true;
      try {
        if (button.dataset.ovLink === "save") {
          const answer = await M().api("PUT", path, { overseerr_user_id: Number(select.value) });
          const link = answer.link || answer;
          row.dataset.linked = String(link.overseerr_user_id);
          row.querySelector('[data-role="name"]').textContent = link.overseerr_name || "User " + link.overseerr_user_id;
          row.querySelector('[data-role="how"]').textContent = { plex: "Plex account", imported: "Imported", admin: "Set by an admin" }[link.how] || link.how || "Set by an admin";
          row.querySelector('[data-ov-link="unlink"]').hidden = false;
          M().toast({ title: "Linked", body: person + " asks Overseerr as " + (link.overseerr_name || "user " + link.overseerr_user_id) + ".", level: "success" });
        } else {
          if (!(await M().ask("Unlink " + person + " from their Overseerr user?", { action: "Unlink", danger: true }))) return;
          await M().api("DELETE", path);
          row.dataset.linked = "";
          const name = row.querySelector('[data-role="name"]');
          name.replaceChildren(el("span", "muted", "Not linked"));
          row.querySelector('[data-role="how"]').replaceChildren(el("span", "none", "—"));
          select.value = "";
          button.hidden = true;
          M().toast({ title: "Unlinked", body: person, level: "success" });
        }
      } catch (failure) {
        say(failure.message);
      } finally {
        button.disabled = false;
      }
    });
  }

  function start() {
    if (!window.MediaNest) return;
    checkPosters();
    startRequests();
    startLinks();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
