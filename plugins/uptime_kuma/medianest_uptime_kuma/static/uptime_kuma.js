// Uptime Kuma's status page, live: on each `uptime_kuma.monitor` event the monitor's row is drawn again in place,
// with the same words and figures as the page drew it (medianest_uptime_kuma/pages.py, monitor_view). Text only.
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
    head.append(name, state);
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
    row.append(head, bar, figures, cert, message);
    return row;
  }
  function groupList(name) {
    for (const section of holder.querySelectorAll(".uk-group")) {
      if (section.dataset.group === name) return section.querySelector(".uk-list");
    }
    const section = el("section", "uk-group");
    section.dataset.group = name;
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

  function draw(doc) {
    if (!doc || typeof doc !== "object" || doc.id === undefined || doc.id === null) return;
    let row = holder.querySelector('.uk-row[data-monitor-id="' + CSS.escape(String(doc.id)) + '"]');
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
    setText(row, "uptime_30d", percent(doc.uptime_30d));
    setText(row, "latency", latency(doc.latency_ms));
    setText(row, "cert", certText(doc.cert_days));
    // The message of a down monitor is for admins only: the event everyone receives has none, so an admin's
    // page keeps the one it drew until the monitor is back up.
    if (status !== "down") setText(row, "message", null);
    else if (typeof doc.message === "string") setText(row, "message", doc.message);
    const bar = row.querySelector('[data-role="beats"]');
    if (bar) beatBar(bar, doc.beats);
    summary();
    fresh(doc.updated_at);
  }
  // An event comes from a poll that just succeeded: the figures are fresh again.
  function fresh(moment) {
    const stale = document.getElementById("uk-stale");
    if (stale) stale.hidden = true;
    const time = document.querySelector('#uk-summary [data-role="checked"] time');
    if (time && typeof moment === "string" && moment) {
      time.setAttribute("datetime", moment);
      time.title = moment;
      time.textContent = "just now";
    }
  }

  M.on("uptime_kuma.monitor", (data) => draw(data && data.monitor));
  // After a gap in the live connection, the monitors are read again: what changed meanwhile is not lost.
  document.addEventListener("medianest:resync", async () => {
    try {
      const response = await fetch("/api/v1/uptime_kuma/monitors", { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) return;
      const body = await response.json();
      const docs = Array.isArray(body) ? body : body.monitors || body.items || [];
      for (const doc of docs) draw(doc);
    } catch (_) { /* the next event draws it */ }
  });
})();
