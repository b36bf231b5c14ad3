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
    // The browser's own bars take the theme's colour (--theme-color): one colour, no longer the system's choice.
    const paintBars = () => {
      const metas = document.querySelectorAll('meta[name="theme-color"]');
      if (!metas.length) return;
      const color = getComputedStyle(document.documentElement).getPropertyValue("--theme-color").trim();
      metas.forEach((meta, i) => { if (i > 0) meta.remove(); });
      metas[0].removeAttribute("media");
      if (color) metas[0].setAttribute("content", color);
    };
    button.addEventListener("click", () => {
      const next = currentTheme() === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-theme", next);
      document.cookie = "medianest_theme=" + next + "; path=/; max-age=31536000; samesite=lax";
      label();
      paintBars();
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
  // ---- What an action says when it worked, and questions asked in the page ----------------------------------
  // An action that reloads the page says so on the page it reloads to ("Saved."); its element may word it in
  // data-done. Actions that go elsewhere or show their result need no word of their own.
  const FLASH = "medianest.flash";
  // An answer's "warning" (it was done, but not all went well) is said instead, as a warning.
  function done(source, then, fallback, answer) {
    if (then && then !== "reload") return;
    const warning = answer && typeof answer.warning === "string" ? answer.warning : null;
    const said = warning || source.dataset.done || fallback;
    if (!said) return;
    const level = warning ? "warning" : "success";
    try { sessionStorage.setItem(FLASH, JSON.stringify({ title: said, level })); } catch (_) { /* the reload still shows the result */ }
    if (!then) toast({ title: said, level });
  }
  function flash() {
    let said = null;
    try { said = sessionStorage.getItem(FLASH); sessionStorage.removeItem(FLASH); } catch (_) { return; }
    if (!said) return;
    try { toast(JSON.parse(said)); } catch (_) { toast({ title: said, level: "success" }); }
  }
  // A failure of a button's action is shown beside the button, not in an alert.
  function besideButton(button, message) {
    const where = button.closest("[data-errors]");
    const summary = where && where.querySelector(".form-error");
    if (summary) { summary.textContent = message; summary.hidden = false; summary.focus(); return; }
    let note = button.nextElementSibling;
    if (!note || !note.classList.contains("action-error")) {
      note = el("span", "action-error");
      note.setAttribute("role", "alert");
      button.after(note);
    }
    note.textContent = message;
  }
  // The words and look of the button that asks: "Remove user" stays "Remove user" in the question's dialog.
  function actionOf(button) {
    if (!button) return {};
    return { action: button.dataset.action || button.textContent.trim(), danger: button.classList.contains("danger") };
  }
  let asked = 0;
  // A question in a modal dialog of the page: resolves true when the action is chosen; Cancel, Escape or a click
  // outside it resolve false. The safe choice comes first and has the focus; focus goes back where it was.
  function ask(question, options) {
    const opts = options || {};
    return new Promise((resolve) => {
      const id = "ask-" + ++asked;
      const dialog = el("dialog", "ask");
      dialog.setAttribute("aria-labelledby", id);
      const form = el("form");
      form.method = "dialog";
      const text = el("p", "ask-question", question);
      text.id = id;
      const actions = el("div", "actions");
      const cancel = el("button", "", "Cancel");
      cancel.value = "cancel";
      const go = el("button", opts.danger ? "danger" : "primary", opts.action || "OK");
      go.value = "go";
      actions.append(cancel, go);
      form.append(text, actions);
      dialog.appendChild(form);
      const back = document.activeElement;
      dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close("cancel"); });
      dialog.addEventListener("close", () => {
        const yes = dialog.returnValue === "go";
        dialog.remove();
        if (back && back.isConnected && back.focus) back.focus();
        resolve(yes);
      });
      document.body.appendChild(dialog);
      dialog.showModal();
      cancel.focus();
    });
  }
  Object.assign(window.MediaNest, { ask, beside: besideButton });

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
        if (form.dataset.confirm && !(await ask(form.dataset.confirm, actionOf(event.submitter || form.querySelector("[type=submit]"))))) return;
        clearErrors(form);
        const buttons = form.querySelectorAll("button");
        buttons.forEach((b) => (b.disabled = true));
        try {
          const method = (form.dataset.method || "POST").toUpperCase();
          const data = await api(method, form.dataset.api, method === "DELETE" ? undefined : wrapped(form));
          if (form.dataset.reset !== undefined) form.reset();
          done(form, form.dataset.then, method === "DELETE" ? "Removed." : "Saved.", data);
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
  const MAX_TOASTS = 3;
  function toast(note) {
    const holder = document.getElementById("toasts");
    if (!holder) return;
    const link = ownPath(note.link);
    const box = document.createElement(link ? "a" : "div");
    box.className = "toast level-" + (note.level || "info");
    if (link) box.href = link;
    box.appendChild(el("strong", "", note.title));
    if (note.body) box.appendChild(el("p", "", note.body));
    if (!link) {
      box.title = "Click to close";
      box.addEventListener("click", () => box.remove());
    }
    holder.appendChild(box);
    // A few at a time: the oldest goes first (every notification stays on the Notifications page).
    while (holder.children.length > MAX_TOASTS) holder.firstElementChild.remove();
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
  // ---- Dates and times: one way everywhere --------------------------------------------------------------------
  // Every <time datetime> is shown in the person's language and time zone: relative when it is within a week
  // ("5 minutes ago", "in 2 days"), the date after that; the full date and time, with the zone, on hover. The
  // server's own words stay for a page read without script. Relative ones are brought up to date each minute,
  // and times added later (live updates) are shown the same way.
  const RELATIVE_WITHIN_S = 7 * 86400;
  const UNITS = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  let relative = null, dateOnly = null, full = null;
  function formats() {
    if (!full) {
      relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
      dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
      full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
    }
  }
  function showTime(el) {
    const moment = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(moment.getTime())) return;
    formats();
    const seconds = (moment.getTime() - Date.now()) / 1000;
    let text;
    if (Math.abs(seconds) >= RELATIVE_WITHIN_S) text = dateOnly.format(moment);
    else if (Math.abs(seconds) < 10) text = relative.format(0, "second");
    else {
      const [unit, size] = UNITS.find(([, size]) => Math.abs(seconds) >= size);
      text = relative.format(Math.round(seconds / size), unit);
    }
    if (el.textContent !== text) el.textContent = text;
    el.title = full.format(moment);
  }
  function localTimes(root) {
    for (const el of root.querySelectorAll("time[datetime]")) showTime(el);
  }
  function keepTimes() {
    setInterval(() => localTimes(document), 60000);
    new MutationObserver((changes) => {
      for (const change of changes) {
        for (const node of change.addedNodes) {
          if (node.nodeType !== 1) continue;
          if (node.matches("time[datetime]")) showTime(node);
          else localTimes(node);
        }
      }
    }).observe(document.body, { childList: true, subtree: true });
  }
  window.MediaNest.times = localTimes;

  // ---- Plain buttons that call the API: <button data-api data-method data-then data-confirm> --------------
  function bindButtons(root) {
    for (const button of root.querySelectorAll("button[data-api]")) {
      if (button.dataset.bound) continue;
      button.dataset.bound = "1";
      button.addEventListener("click", async () => {
        if (button.dataset.confirm && !(await ask(button.dataset.confirm, actionOf(button)))) return;
        button.disabled = true;
        const then = button.dataset.then || "reload";
        try {
          const method = (button.dataset.method || "POST").toUpperCase();
          const data = await api(method, button.dataset.api, method === "DELETE" ? undefined : {});
          done(button, then, method === "DELETE" ? "Removed." : "Done.", data);
          follow(then, data);
        } catch (failure) {
          besideButton(button, failure.status === undefined ? "MediaNest cannot be reached; check your connection." : failure.message);
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
    const title = document.createElement("h2");
    title.className = "item-title";
    if (note.link && note.link.startsWith("/")) {
      const link = document.createElement("a");
      link.href = note.link;
      link.textContent = note.title;
      title.appendChild(link);
    } else {
      title.textContent = note.title;
    }
    const when = el("time", "muted");
    when.setAttribute("datetime", typeof note.created_at === "string" ? note.created_at : new Date().toISOString());
    head.append(title, when);
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
    keepTimes();
    flash();
    if (signedIn()) connect();
    document.dispatchEvent(new CustomEvent("medianest:ready"));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
