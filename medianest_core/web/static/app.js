// MediaNest in the browser: the live connection, forms that talk to the JSON API, theme, toasts, live cards.
// No framework and no inline script: pages describe what they want with data- attributes.
"use strict";

(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const signedIn = () => document.body.hasAttribute("data-signed-in");

  // ---- The JSON API -------------------------------------------------------------------------------------
  async function api(method, url, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrf();
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      const error = (data && data.error) || { code: "http_" + response.status, message: "Something went wrong (" + response.status + ")." };
      const failure = new Error(error.message);
      failure.status = response.status;
      failure.error = error;
      throw failure;
    }
    return data;
  }
  window.MediaNest = { api };

  // ---- Theme: follow the system until the person chooses; the choice is a cookie the server reads. ----------
  function currentTheme() {
    const chosen = document.documentElement.getAttribute("data-theme");
    if (chosen) return chosen;
    return window.matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
  }
  function bindTheme() {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    const label = () => button.setAttribute("aria-label", currentTheme() === "dark" ? "Use the light theme" : "Use the dark theme");
    label();
    button.addEventListener("click", () => {
      const next = currentTheme() === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-theme", next);
      document.cookie = "medianest_theme=" + next + "; path=/; max-age=31536000; samesite=lax";
      label();
    });
  }

  // ---- Forms: <form data-api="/api/v1/…" data-method="POST" data-then="reload|/path"> ------------------------
  // Fields become a JSON object (dotted names nest, unless data-path gives the path as a JSON list, for a key
  // that holds dots itself, such as a quota's "overseerr.requests"; data-type="int|number|bool|lines|datetime";
  // empty optional fields with data-empty="null" become null). Errors show beside their fields; what was typed
  // stays.
  function setPath(target, el, value) {
    const parts = el.dataset.path ? JSON.parse(el.dataset.path) : el.name.split(".");
    let node = target;
    for (let i = 0; i < parts.length - 1; i++) node = node[parts[i]] = node[parts[i]] || {};
    node[parts[parts.length - 1]] = value;
  }
  function formBody(form) {
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.name === "csrf_token" || el.type === "submit" || el.type === "button") continue;
      if (el.type === "radio" && !el.checked) continue;
      const kind = el.dataset.type || (el.type === "checkbox" ? "bool" : "text");
      let value;
      if (kind === "bool") value = el.type === "checkbox" ? el.checked : el.value === "true";
      else if (el.value === "" && (el.dataset.empty === "null" || el.tagName === "SELECT")) value = null;
      else if (el.value === "" && el.dataset.empty === "skip") continue;
      else if (kind === "int") value = el.value === "" ? null : Number.parseInt(el.value, 10);
      else if (kind === "number") value = el.value === "" ? null : Number(el.value);
      else if (kind === "lines") value = el.value.split("\n").map((s) => s.trim()).filter(Boolean);
      else if (kind === "datetime") value = el.value ? new Date(el.value).toISOString() : null;
      else value = el.value;
      setPath(body, el, value);
    }
    return body;
  }
  function wrapped(form) {
    const body = formBody(form);
    return form.dataset.wrap ? { [form.dataset.wrap]: body } : body;
  }
  function clearErrors(form) {
    const summary = form.querySelector(".form-error");
    if (summary) { summary.hidden = true; summary.textContent = ""; }
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    for (const el of form.querySelectorAll(".field .error")) el.textContent = "";
  }
  function showErrors(form, failure) {
    const fields = (failure.error && failure.error.details && failure.error.details.fields) || {};
    let first = null;
    let placed = 0;
    // Fields are named by their path in the body: a wrapped form's own names come after "<wrap>.".
    const wrap = form.dataset.wrap ? form.dataset.wrap + "." : "";
    for (const [path, message] of Object.entries(fields)) {
      const name = wrap && path.startsWith(wrap) ? path.slice(wrap.length) : path;
      const input = form.elements.namedItem(name);
      const holder = form.querySelector('[data-field="' + CSS.escape(name) + '"] .error');
      if (holder) { holder.textContent = message; placed++; }
      if (input && input.setAttribute) { input.setAttribute("aria-invalid", "true"); first = first || input; }
    }
    const summary = form.querySelector(".form-error");
    if (summary && placed === 0) {
      summary.textContent = failure.error.message;
      summary.hidden = false;
    }
    const target = first || summary;
    if (target) target.focus();
  }
  function follow(then, data) {
    if (!then) return;
    if (then === "reload") { window.location.reload(); return; }
    if (then.startsWith("show:")) {
      const target = document.getElementById(then.slice(5));
      if (target) {
        for (const el of target.querySelectorAll("[data-value]")) el.textContent = String((data || {})[el.dataset.value] ?? "");
        target.hidden = false;
        target.focus();
      }
      return;
    }
    window.location.assign(then);
  }
  function bindForms(root) {
    for (const form of root.querySelectorAll("form[data-api]")) {
      if (form.dataset.bound) continue;
      form.dataset.bound = "1";
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
        clearErrors(form);
        const buttons = form.querySelectorAll("button");
        buttons.forEach((b) => (b.disabled = true));
        try {
          const method = (form.dataset.method || "POST").toUpperCase();
          const data = await api(method, form.dataset.api, method === "DELETE" ? undefined : wrapped(form));
          if (form.dataset.reset !== undefined) form.reset();
          follow(form.dataset.then, data);
        } catch (failure) {
          if (failure.status === undefined) failure.error = { message: "MediaNest cannot be reached; check your connection." };
          showErrors(form, failure);
        } finally {
          buttons.forEach((b) => (b.disabled = false));
        }
      });
    }
  }

  // ---- Small DOM helpers, shared with the pages' own scripts (MediaNest.dom) ---------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  // Our own pages and API routes are paths: one slash, then no slash or backslash, and no space or control
  // character (browsers drop tabs and newlines, so "/\t/evil.example" would be "//evil.example" to them).
  function ownPath(url) {
    return typeof url === "string" && /^\/(?![\/\\])[^\x00-\x20\x7f\\]*$/.test(url) ? url : null;
  }
  // Links out are http(s) only.
  function outLink(url) {
    return typeof url === "string" && /^https?:\/\//.test(url) ? url : null;
  }
  function icon(name) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    const sprite = document.querySelector('meta[name="icon-sprite"]');
    use.setAttribute("href", (sprite ? sprite.content : "/static/core/icons.svg") + "#" + name);
    svg.appendChild(use);
    return svg;
  }
  window.MediaNest.dom = { el, ownPath, outLink, icon };

  // ---- Unread badge and toasts ----------------------------------------------------------------------------
  function setUnread(count) {
    const badge = document.getElementById("unread-badge");
    if (!badge) return;
    badge.dataset.count = String(count);
    badge.textContent = count > 99 ? "99+" : String(count);
    badge.hidden = count === 0;
    const bell = badge.closest("a");
    if (bell) bell.setAttribute("aria-label", "Notifications, " + count + " unread");
  }
  async function refreshUnread() {
    try { setUnread((await api("GET", "/api/v1/notifications?per_page=1")).unread); } catch (_) { /* shown on the next event */ }
  }
  function toast(note) {
    const holder = document.getElementById("toasts");
    if (!holder) return;
    const link = ownPath(note.link);
    const box = document.createElement(link ? "a" : "div");
    box.className = "toast level-" + (note.level || "info");
    if (link) box.href = link;
    box.appendChild(el("strong", "", note.title));
    if (note.body) box.appendChild(el("p", "", note.body));
    holder.appendChild(box);
    setTimeout(() => box.remove(), 8000);
  }

  // ---- The live connection: reconnects with backoff, and pages read their state again after a gap. -------------
  const handlers = {};
  function on(topic, handler) { (handlers[topic] = handlers[topic] || []).push(handler); }
  window.MediaNest.on = on;
  Object.assign(window.MediaNest, { clearErrors, showErrors, toast });
  const status = () => document.getElementById("live-status");
  function setLive(state) {
    const el = status();
    if (!el) return;
    el.dataset.state = state;
    const text = el.querySelector(".live-text");
    if (text) text.textContent = { live: "Live", reconnecting: "Reconnecting", connecting: "Connecting" }[state] || state;
  }
  function connect() {
    let attempt = 0;
    let everOpen = false;
    let nextId = 1;
    const open = () => {
      const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
      const socket = new WebSocket(url);
      window.MediaNest.socket = socket;
      socket.addEventListener("open", () => {
        socket.send(JSON.stringify({ id: nextId++, type: "subscribe", topics: ["*"] }));
        setLive("live");
        if (everOpen) document.dispatchEvent(new CustomEvent("medianest:resync"));
        everOpen = true;
        attempt = 0;
      });
      socket.addEventListener("message", (message) => {
        let data;
        try { data = JSON.parse(message.data); } catch (_) { return; }
        if (data.type !== "event") return;
        for (const handler of (handlers[data.topic] || []).concat(handlers["*"] || [])) {
          try { handler(data.data, data.topic); } catch (err) { console.error(err); }
        }
      });
      socket.addEventListener("close", (event) => {
        if (event.code === 4001) { // signed out elsewhere, or the session was revoked
          window.location.assign("/login?signed_out=1&next=" + encodeURIComponent(location.pathname + location.search));
          return;
        }
        if (event.code === 1008) return; // refused: the page will send the person to sign in on the next load
        setLive("reconnecting");
        const delay = Math.min(30000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
        attempt = Math.min(attempt + 1, 5);
        setTimeout(open, delay);
      });
    };
    open();
  }

  on("notification.created", (data) => {
    setUnread(Number((document.getElementById("unread-badge") || { dataset: {} }).dataset.count || 0) + 1);
    toast(data.notification);
  });
  on("notification.read", () => refreshUnread());
  document.addEventListener("medianest:resync", refreshUnread);

  // ---- Live dashboard cards: swap a card's HTML when its plugin says its data or its service changed. --------
  async function refreshCard(card) {
    try {
      const response = await fetch(card.dataset.src, { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (!response.ok) return;
      const holder = document.createElement("div");
      holder.innerHTML = await response.text();
      const fresh = holder.firstElementChild;
      if (fresh) card.replaceWith(fresh);
    } catch (_) { /* the next event or reconnect tries again */ }
  }
  function refreshCards(plugin) {
    for (const card of document.querySelectorAll(".card[data-src]")) {
      if (!plugin || card.dataset.plugin === plugin || card.dataset.plugin === "core") refreshCard(card);
    }
  }
  on("card.updated", (data) => refreshCards(data.plugin));
  on("service.status", (data) => refreshCards(data.plugin));
  document.addEventListener("medianest:resync", () => refreshCards(null));

  // ---- Times: <time datetime> shown in the reader's own zone ---------------------------------------------------
  function localTimes(root) {
    for (const el of root.querySelectorAll("time[data-local]")) {
      const moment = new Date(el.getAttribute("datetime"));
      if (!Number.isNaN(moment.getTime())) el.textContent = moment.toLocaleString();
    }
  }

  // ---- Plain buttons that call the API: <button data-api data-method data-then data-confirm> --------------
  function bindButtons(root) {
    for (const button of root.querySelectorAll("button[data-api]")) {
      if (button.dataset.bound) continue;
      button.dataset.bound = "1";
      button.addEventListener("click", async () => {
        if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
        button.disabled = true;
        try {
          const data = await api((button.dataset.method || "POST").toUpperCase(), button.dataset.api, button.dataset.method === "DELETE" ? undefined : {});
          follow(button.dataset.then || "reload", data);
        } catch (failure) {
          const where = button.closest("[data-errors]") || document;
          const summary = where.querySelector(".form-error");
          if (summary) { summary.textContent = failure.message; summary.hidden = false; summary.focus(); }
          else window.alert(failure.message);
        } finally {
          button.disabled = false;
        }
      });
    }
  }

  // ---- The notifications page: new ones appear at the top as they arrive -----------------------------------
  on("notification.created", (data) => {
    const list = document.getElementById("notification-list");
    if (!list) return;
    const note = data.notification;
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    const item = document.createElement("li");
    item.className = "unread level-" + (note.level || "info");
    item.dataset.id = String(note.id);
    const head = document.createElement("div");
    head.className = "item-head";
    const title = document.createElement("h3");
    title.className = "item-title";
    if (note.link && note.link.startsWith("/")) {
      const link = document.createElement("a");
      link.href = note.link;
      link.textContent = note.title;
      title.appendChild(link);
    } else {
      title.textContent = note.title;
    }
    head.append(title, el("span", "muted", "just now"));
    item.appendChild(head);
    if (note.body) item.appendChild(el("p", "", note.body));
    list.prepend(item);
  });

  // ---- "Test connection": the form's values, saved or not, tried against the service -------------------------
  function bindTests(root) {
    for (const button of root.querySelectorAll("button[data-test]")) {
      button.addEventListener("click", async () => {
        const form = button.closest("form");
        const out = form.querySelector(".test-result");
        clearErrors(form);
        button.disabled = true;
        out.textContent = "Testing…";
        out.className = "test-result";
        try {
          const result = await api("POST", button.dataset.test, wrapped(form));
          out.classList.add("state", "state-" + result.state);
          out.textContent = result.state + (result.latency_ms != null ? " · " + Math.round(result.latency_ms) + " ms" : "") + (result.message ? " · " + result.message : "");
        } catch (failure) {
          out.textContent = "";
          showErrors(form, failure);
        } finally {
          button.disabled = false;
        }
      });
    }
  }

  function start() {
    bindTheme();
    bindForms(document);
    bindButtons(document);
    bindTests(document);
    localTimes(document);
    if (signedIn()) connect();
    document.dispatchEvent(new CustomEvent("medianest:ready"));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
