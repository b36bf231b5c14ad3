// Uptime Kuma's status page, live: on each `uptime_kuma.monitor` event the monitor's row is drawn again in place,
// with the same words and figures as the page drew it (medianest_uptime_kuma/pages.py, monitor_view). Text only.
// Everyone can ask to be told when a monitor changes; an admin also shows or hides a monitor, renames it, moves it
// up or down and ties it to a MediaNest service (PATCH /api/v1/uptime_kuma/monitors/{id}). A monitor hidden from
// people leaves their open pages (`uptime_kuma.monitor_hidden` carries its id only).
(function () {
  "use strict";
  const M = window.MediaNest;
  const holder = document.getElementById("uk-groups");
  if (!M || !M.dom || !holder) return;
  const { el } = M.dom;
  const WORDS = { up: "Up", down: "Down", pending: "Pending", maintenance: "Maintenance", unknown: "Unknown" };
  const NUMBERS = { 0: "down", 1: "up", 2: "pending", 3: "maintenance" };
  const BEATS = Number(holder.dataset.beats) || 50;
  const ADMIN = holder.dataset.admin === "true";
  const API = "/api/v1/uptime_kuma/monitors/";
  let SERVICES = {};
  try { SERVICES = JSON.parse((document.getElementById("uk-services") || {}).textContent || "{}") || {}; } catch (_) { SERVICES = {}; }

  function statusOf(value) {
    if (typeof value === "number") return NUMBERS[value] || "unknown";
    const text = typeof value === "string" ? value.toLowerCase() : "unknown";
    return Object.prototype.hasOwnProperty.call(WORDS, text) ? text : "unknown";
  }
  const isNumber = (value) => typeof value === "number" && Number.isFinite(value);
  function percent(ratio) {
    if (!isNumber(ratio)) return "—";
    const hundredths = Math.floor(Math.min(Math.max(ratio, 0), 1) * 10000 + 1e-6);
    const whole = Math.floor(hundredths / 100);
    const rest = hundredths % 100;
    if (rest === 0) return whole + "%";
    return (whole + "." + String(rest).padStart(2, "0")).replace(/0+$/, "") + "%";
  }
  // Over how many days MediaNest measured a 30-day uptime it worked out itself, when fewer than 30.
  function uptime30d(ratio, days) {
    const text = percent(ratio);
    if (text === "—" || !isNumber(days) || days < 1 || days >= 30) return text;
    const whole = Math.floor(days);
    return text + " over " + whole + " day" + (whole === 1 ? "" : "s");
  }
  const latency = (ms) => (isNumber(ms) ? Math.round(ms) + " ms" : "—");
  function certText(days) {
    if (!isNumber(days)) return null;
    const count = Math.floor(days);
    if (count < 0) return "Certificate expired";
    return "Certificate: " + count + " day" + (count === 1 ? "" : "s") + " left";
  }
  function beatTitle(beat) {
    const parts = [WORDS[statusOf(beat.status)]];
    if (typeof beat.time === "string" && beat.time) parts.push(beat.time.slice(0, 16).replace("T", " ") + " UTC");
    if (isNumber(beat.ping)) parts.push(Math.round(beat.ping) + " ms");
    return parts.join(" · ");
  }
  function beatBar(bar, beats) {
    const drawn = (Array.isArray(beats) ? beats.filter((b) => b && typeof b === "object") : []).slice(-BEATS);
    bar.replaceChildren();
    let up = 0;
    for (const beat of drawn) {
      const status = statusOf(beat.status);
      if (status === "up") up += 1;
      const span = el("span", "uk-beat uk-beat-" + status);
      span.title = beatTitle(beat);
      bar.appendChild(span);
    }
    let label = "up " + up + " of the last " + drawn.length + " checks";
    if (drawn.length === 0) label = "No checks yet";
    else if (drawn.length === 1) label = up ? "up at the last check" : statusOf(drawn[0].status) + " at the last check";
    bar.setAttribute("aria-label", label);
  }
  function setText(row, role, text) {
    const node = row.querySelector('[data-role="' + role + '"]');
    if (!node) return;
    node.textContent = text || "";
    if (role === "cert" || role === "message") node.hidden = !text;
  }

  function newRow(id) {
    const row = el("li", "uk-row");
    row.dataset.monitorId = String(id);
    const head = el("div", "uk-row-head");
    const name = el("span", "uk-name");
    name.dataset.role = "name";
    const state = el("span", "state");
    state.dataset.role = "status";
    head.appendChild(name);
    if (ADMIN) {
      const hidden = el("span", "uk-hidden-tag", "Hidden from people");
      hidden.dataset.role = "hidden";
      hidden.hidden = true;
      const service = el("span", "uk-service-tag");
      service.dataset.role = "service";
      service.hidden = true;
      head.append(hidden, service);
    }
    head.appendChild(state);
    const bar = el("span", "uk-beats uk-beats-page");
    bar.setAttribute("role", "img");
    bar.dataset.role = "beats";
    const figures = el("dl", "uk-figures");
    for (const [term, role] of [["24 h", "uptime_24h"], ["30 days", "uptime_30d"], ["Latency", "latency"]]) {
      const pair = el("div");
      const value = el("dd");
      value.dataset.role = role;
      pair.append(el("dt", "", term), value);
      figures.appendChild(pair);
    }
    const cert = el("p", "uk-cert muted");
    cert.dataset.role = "cert";
    const message = el("p", "uk-message");
    message.dataset.role = "message";
    const actions = el("div", "uk-actions");
    const watch = el("button", "small uk-watch", "Tell me when it changes");
    watch.type = "button";
    watch.dataset.role = "watch";
    watch.dataset.watching = "false";
    watch.setAttribute("aria-describedby", "uk-watch-help");
    actions.appendChild(watch);
    const blank = document.getElementById("uk-admin-blank");
    if (ADMIN && blank) {
      const controls = blank.content.cloneNode(true);
      for (const node of controls.querySelectorAll("[id]")) node.id = node.id.replace(/-new$/, "-" + id);
      for (const node of controls.querySelectorAll("[for]")) node.htmlFor = node.htmlFor.replace(/-new$/, "-" + id);
      for (const node of controls.querySelectorAll("[aria-describedby]")) {
        node.setAttribute("aria-describedby", node.getAttribute("aria-describedby").replace(/-new\b/g, "-" + id));
      }
      actions.appendChild(controls);
    }
    row.append(head, bar, figures, cert, message, actions);
    bindRow(row);
    // Whether this person already watches it (a monitor shown again keeps its watchers).
    M.api("GET", API + encodeURIComponent(String(id))).then((body) => setWatching(row, Boolean(body && body.watching)), () => {});
    return row;
  }
  function groupList(name) {
    for (const section of holder.querySelectorAll(".uk-group")) {
      if (section.dataset.group === name) return section.querySelector(".uk-list");
    }
    const section = el("section", "uk-group");
    section.dataset.group = name;
    if (!name) section.dataset.loose = "";
    if (name) section.appendChild(el("h2", "", name));
    const list = el("ul", "uk-list");
    section.appendChild(list);
    holder.appendChild(section);
    return list;
  }
  function summary() {
    const rows = holder.querySelectorAll(".uk-row");
    const down = holder.querySelectorAll('.uk-row[data-status="down"]').length;
    const count = rows.length;
    let text = down + " of " + count + " are down.";
    if (count === 0) text = "No monitor is shown yet.";
    else if (down === 0) text = count > 1 ? "Everything is up." : "It is up.";
    else if (down === count) text = count > 1 ? "Everything is down." : "It is down.";
    const line = document.querySelector('#uk-summary [data-role="summary"]');
    if (line) line.textContent = text;
    const empty = document.getElementById("uk-empty");
    if (empty) empty.hidden = count > 0;
  }

  // `saved`: the answer to this admin's own change (the form then shows what was saved).
  function draw(doc, saved) {
    if (!doc || typeof doc !== "object" || doc.id === undefined || doc.id === null) return;
    let row = holder.querySelector('.uk-row[data-monitor-id="' + CSS.escape(String(doc.id)) + '"]');
    const created = !row;
    if (!row) {
      if (!ADMIN && doc.visible === false) return;
      row = newRow(doc.id);
      groupList(typeof doc.group === "string" ? doc.group : "").appendChild(row);
    }
    const status = statusOf(doc.status);
    row.className = "uk-row uk-is-" + status;
    row.dataset.status = status;
    setText(row, "name", typeof doc.name === "string" ? doc.name : "");
    const state = row.querySelector('[data-role="status"]');
    if (state) {
      state.className = "state state-" + status;
      state.textContent = WORDS[status];
    }
    setText(row, "uptime_24h", percent(doc.uptime_24h));
    setText(row, "uptime_30d", uptime30d(doc.uptime_30d, doc.uptime_30d_days));
    setText(row, "latency", latency(doc.latency_ms));
    setText(row, "cert", certText(doc.cert_days));
    // The message of a down monitor is for admins only: the event everyone receives has none, so an admin's
    // page keeps the one it drew until the monitor is back up.
    if (status !== "down") setText(row, "message", null);
    else if (typeof doc.message === "string") setText(row, "message", doc.message);
    const bar = row.querySelector('[data-role="beats"]');
    if (bar) beatBar(bar, doc.beats);
    if (doc.position === null || typeof doc.position === "number") {
      row.dataset.position = doc.position === null ? "" : String(doc.position);
    }
    if (ADMIN) drawAdmin(row, doc, saved || created);
    order();
    summary();
    fresh(doc.updated_at);
  }

  // ---- What the admin decided: the marks in the row's head and the values of its form --------------------------
  function drawAdmin(row, doc, form) {
    const hidden = row.querySelector('[data-role="hidden"]');
    if (hidden && typeof doc.visible === "boolean") hidden.hidden = doc.visible;
    const tag = row.querySelector('[data-role="service"]');
    if (tag && (doc.service === null || typeof doc.service === "string")) {
      tag.textContent = doc.service ? "Tied to " + (SERVICES[doc.service] || doc.service) : "";
      tag.hidden = !doc.service;
    }
    const name = typeof doc.name === "string" ? doc.name : "";
    for (const role of ["up", "down"]) {
      const button = row.querySelector('[data-role="' + role + '"]');
      if (button) button.setAttribute("aria-label", "Move " + name + " " + role);
    }
    const editName = row.querySelector('[data-role="edit-name"]');
    if (editName) editName.textContent = " " + name;
    if (form) fillForm(row, doc);
  }
  // The form shows what was saved (only after a save or for a new row: what an admin is typing is left alone).
  function fillForm(row, doc) {
    const form = row.querySelector('form[data-role="edit"]');
    if (!form) return;
    if (typeof doc.title === "string" || doc.title === null) form.elements.namedItem("title").value = doc.title || "";
    if (typeof doc.visible === "boolean") form.elements.namedItem("visible").checked = doc.visible;
    const select = form.elements.namedItem("service");
    if (select && (doc.service === null || typeof doc.service === "string")) {
      const wanted = doc.service || "";
      if (wanted && !Array.from(select.options).some((option) => option.value === wanted)) {
        select.appendChild(el("option", "", wanted + " (not running)")).value = wanted;
      }
      select.value = wanted;
    }
  }

  // ---- Order: by position (none last), then name, as the server lists them; groups by their first monitor ---------
  function sortKey(row) {
    const position = row.dataset.position;
    const name = (row.querySelector('[data-role="name"]') || {}).textContent || "";
    return [position === "" || position === undefined ? 1 : 0, Number(position) || 0, name.toLowerCase(), Number(row.dataset.monitorId) || 0];
  }
  function compare(a, b) {
    const x = sortKey(a);
    const y = sortKey(b);
    for (let i = 0; i < x.length; i++) {
      if (x[i] < y[i]) return -1;
      if (x[i] > y[i]) return 1;
    }
    return 0;
  }
  function order() {
    const sections = Array.from(holder.querySelectorAll(".uk-group"));
    for (const section of sections) {
      const list = section.querySelector(".uk-list");
      const rows = Array.from(list.children);
      const sorted = rows.slice().sort(compare);
      if (sorted.some((row, index) => row !== rows[index])) list.append(...sorted);
      if (!rows.length) section.remove();
    }
    const kept = Array.from(holder.querySelectorAll(".uk-group"));
    const sortedSections = kept.slice().sort((a, b) => {
      const loose = (a.dataset.loose !== undefined) - (b.dataset.loose !== undefined);
      if (loose) return loose;
      const first = (s) => s.querySelector(".uk-row");
      return compare(first(a), first(b));
    });
    if (sortedSections.some((section, index) => section !== kept[index])) holder.append(...sortedSections);
    for (const section of holder.querySelectorAll(".uk-group")) {
      const rows = section.querySelectorAll(".uk-row");
      rows.forEach((row, index) => {
        const up = row.querySelector('[data-role="up"]');
        const down = row.querySelector('[data-role="down"]');
        if (up) up.disabled = index === 0;
        if (down) down.disabled = index === rows.length - 1;
      });
    }
  }

  // ---- A monitor hidden from people leaves their page ----------------------------------------------------------
  function remove(id) {
    const row = holder.querySelector('.uk-row[data-monitor-id="' + CSS.escape(String(id)) + '"]');
    if (!row) return;
    const section = row.closest(".uk-group");
    row.remove();
    if (section && !section.querySelector(".uk-row")) section.remove();
    summary();
  }

  // ---- Watching: "Tell me when it changes" / "Stop telling me" --------------------------------------------------
  function setWatching(row, watching) {
    const button = row.querySelector('[data-role="watch"]');
    if (!button) return;
    button.dataset.watching = watching ? "true" : "false";
    button.textContent = watching ? "Stop telling me" : "Tell me when it changes";
  }
  async function toggleWatch(row, button) {
    const watching = button.dataset.watching === "true";
    button.disabled = true;
    try {
      const answer = await M.api(watching ? "DELETE" : "PUT", API + encodeURIComponent(row.dataset.monitorId) + "/watch");
      setWatching(row, Boolean(answer && answer.watching));
      M.toast({ title: (answer && answer.message) || "Done.", level: "info" });
    } catch (failure) {
      M.toast({ title: failure.message || "That did not work.", level: "error" });
      if (failure.status === 404) remove(row.dataset.monitorId);
    } finally {
      button.disabled = false;
      button.focus();
    }
  }

  // ---- The admin's controls -------------------------------------------------------------------------------------
  async function save(row, form) {
    M.clearErrors(form);
    const body = {
      title: form.elements.namedItem("title").value.trim(),
      visible: form.elements.namedItem("visible").checked,
      service: form.elements.namedItem("service").value || null,
    };
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const answer = await M.api("PATCH", API + encodeURIComponent(row.dataset.monitorId), body);
      const doc = Object.assign({}, answer.monitor, { title: body.title || null });
      draw(doc, true);
      const name = typeof doc.name === "string" ? doc.name : "The monitor";
      M.toast({ title: "Saved: " + name + (doc.visible === false ? " (hidden from people)" : "") + ".", level: "info" });
      const details = row.querySelector('[data-role="admin"]');
      if (details) {
        details.open = false;
        details.querySelector("summary").focus();
      }
    } catch (failure) {
      if (failure.status === undefined) failure.error = { message: "MediaNest cannot be reached; check your connection." };
      M.showErrors(form, failure);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }
  // Moving gives every monitor of the page a position in the order shown (10, 20, …), the two swapped: the first
  // move numbers them all, later ones change two.
  async function move(row, step, button) {
    const list = row.parentElement;
    const siblings = Array.from(list.children);
    const other = siblings[siblings.indexOf(row) + step];
    if (!other) return;
    const all = Array.from(holder.querySelectorAll(".uk-row"));
    const a = all.indexOf(row);
    const b = all.indexOf(other);
    [all[a], all[b]] = [all[b], all[a]];
    const buttons = holder.querySelectorAll('[data-role="up"], [data-role="down"]');
    buttons.forEach((each) => (each.disabled = true));
    try {
      for (let index = 0; index < all.length; index++) {
        const position = (index + 1) * 10;
        if (all[index].dataset.position === String(position)) continue;
        const answer = await M.api("PATCH", API + encodeURIComponent(all[index].dataset.monitorId), { position });
        draw(answer.monitor, true);
      }
      const name = (row.querySelector('[data-role="name"]') || {}).textContent || "The monitor";
      M.toast({ title: name + " moved " + (step < 0 ? "up" : "down") + ".", level: "info" });
    } catch (failure) {
      M.toast({ title: failure.message || "That did not work.", level: "error" });
    } finally {
      buttons.forEach((each) => (each.disabled = false));
      order();
      const focus = button.disabled ? row.querySelector('[data-role="' + (step < 0 ? "down" : "up") + '"]') : button;
      if (focus) focus.focus();
    }
  }
  function bindRow(row) {
    if (row.dataset.bound) return;
    row.dataset.bound = "1";
    const watch = row.querySelector('[data-role="watch"]');
    if (watch) watch.addEventListener("click", () => toggleWatch(row, watch));
    const up = row.querySelector('[data-role="up"]');
    if (up) up.addEventListener("click", () => move(row, -1, up));
    const down = row.querySelector('[data-role="down"]');
    if (down) down.addEventListener("click", () => move(row, 1, down));
    const form = row.querySelector('form[data-role="edit"]');
    if (form) {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        save(row, form);
      });
    }
  }
  // An event comes from a poll that just succeeded: the figures are fresh again.
  // A document no newer than the time shown (an admin's change) says nothing about freshness.
  function fresh(moment) {
    const shown = document.querySelector('#uk-summary [data-role="checked"] time');
    const then = typeof moment === "string" ? Date.parse(moment) : NaN;
    if (Number.isNaN(then) || (shown && Date.parse(shown.getAttribute("datetime")) >= then)) return;
    const stale = document.getElementById("uk-stale");
    if (stale) stale.hidden = true;
    const time = document.querySelector('#uk-summary [data-role="checked"] time');
    if (time && typeof moment === "string" && moment) {
      time.setAttribute("datetime", moment);
      window.MediaNest.times(time.parentElement);  // shown as every time is: "now", in the person's words
    }
  }

  for (const row of holder.querySelectorAll(".uk-row")) bindRow(row);
  order();

  M.on("uptime_kuma.monitor", (data) => draw(data && data.monitor));
  // An admin's change, as the admins see it (their open pages keep hidden monitors, marked).
  M.on("uptime_kuma.monitor_edited", (data) => {
    if (ADMIN && data && data.monitor) draw(data.monitor);
  });
  M.on("uptime_kuma.monitor_hidden", (data) => {
    if (!ADMIN && data && data.id !== undefined) remove(data.id);
  });
  // After a gap in the live connection, the monitors are read again: what changed meanwhile is not lost.
  document.addEventListener("medianest:resync", async () => {
    try {
      const response = await fetch("/api/v1/uptime_kuma/monitors", { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) return;
      const body = await response.json();
      const docs = Array.isArray(body) ? body : body.monitors || body.items || [];
      for (const doc of docs) draw(doc);
      // What was hidden meanwhile leaves the page.
      const known = new Set(docs.map((doc) => String(doc && doc.id)));
      for (const row of holder.querySelectorAll(".uk-row")) {
        if (!known.has(row.dataset.monitorId)) remove(row.dataset.monitorId);
      }
    } catch (_) { /* the next event draws it */ }
  });
})();
