// The YouTube page: preview a link, ask for the download, and follow one's downloads live.
"use strict";
(function () {
  const M = () => window.MediaNest;
  const list = () => document.getElementById("yt-list");

  function size(bytes) {
    if (bytes === null || bytes === undefined) return "—";
    let value = Math.max(bytes, 0);
    for (const unit of ["bytes", "KB", "MB", "GB", "TB"]) {
      if (value < 1024 || unit === "TB") return (unit === "bytes" || unit === "KB" || value >= 100 ? Math.round(value) : value.toFixed(1)) + " " + unit;
      value /= 1024;
    }
    return "";
  }
  function duration(seconds) {
    seconds = Math.max(seconds, 0);
    if (seconds >= 3600) return Math.round(seconds / 3600) + " h";
    if (seconds >= 60) return Math.round(seconds / 60) + " min";
    return Math.round(seconds) + " s";
  }
  // How far the whole download is: the worker's fraction, or, when a report has none (as when an item starts),
  // the items before the current one, so the bar does not jump back to empty.
  function fraction(d) {
    const p = d.progress || {};
    if (typeof p.fraction === "number") return p.fraction;
    return p.item && p.of ? (p.item - 1) / p.of : 0;
  }
  function figures(d) {
    const p = d.progress || {};
    if (d.state === "queued") return "Waiting for its turn…";
    if (!p.item) return "Reading the playlist…";
    let text = "Item " + p.item + " of " + p.of + (p.title ? ": " + p.title : "") + " · " + size(p.bytes || 0);
    if (p.speed) text += " · " + size(p.speed) + "/s";
    if (p.eta !== null && p.eta !== undefined) text += " · " + duration(p.eta) + " left";
    return text;
  }

  // ---- Rows: the server renders them; what changes while a download waits or runs is updated in place. -----
  const STATE_WORDS = { queued: "Queued", running: "Downloading" };
  const LIVE = ["queued", "running"];
  // A queued or running row is drawn the same but for its state, its bar and its figures: those change in place.
  function showInPlace(row, d) {
    if (!row || !LIVE.includes(row.dataset.state) || !LIVE.includes(d.state)) return false;
    if (row.dataset.state !== d.state) {
      row.dataset.state = d.state;
      const state = row.querySelector('[data-role="state"]');
      if (state) {
        state.textContent = STATE_WORDS[d.state];
        state.className = "state state-" + d.state;
      }
    }
    const bar = row.querySelector('[data-role="bar"]');
    if (bar) bar.value = fraction(d);
    const text = row.querySelector('[data-role="figures"]');
    if (text) text.textContent = figures(d);
    return true;
  }
  async function fetchRow(id) {
    const response = await fetch("/youtube/rows/" + encodeURIComponent(id), { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (response.status === 404) return null;
    if (!response.ok) throw new Error("The download could not be shown (HTTP " + response.status + ").");
    const holder = document.createElement("ul");
    holder.innerHTML = await response.text();
    return holder.querySelector("li.yt-row");
  }
  function place(id, fresh, insert) {
    const old = document.getElementById("download-" + id);
    if (!fresh) { if (old) old.remove(); }
    else if (old) old.replaceWith(fresh);
    else if (insert && list()) list().prepend(fresh);
    const empty = document.getElementById("yt-empty");
    if (empty && list()) empty.hidden = !!list().querySelector("li.yt-row");
  }
  // One fetch of a row at a time: what is reported while it is on its way is kept, and the row is fetched once
  // more only when the row that came back cannot show it in place (its state has moved on since).
  const inFlight = new Map();
  function refreshRow(id, insert, latest) {
    const key = String(id);
    const going = inFlight.get(key);
    if (going) {
      going.insert = going.insert || !!insert;
      if (latest) going.latest = latest;
      return going.done;
    }
    const entry = { insert: !!insert, latest: null, done: null };
    inFlight.set(key, entry);
    entry.done = (async () => {
      try {
        for (;;) {
          entry.latest = null;
          const fresh = await fetchRow(id);
          place(id, fresh, entry.insert);
          const seen = entry.latest;
          if (!fresh || !seen) return;
          const row = document.getElementById("download-" + id);
          if (!row || showInPlace(row, seen) || row.dataset.state === seen.state) return;
        }
      } finally {
        inFlight.delete(key);
      }
    })();
    return entry.done;
  }
  const quiet = () => { /* the next report, or a resync after a gap, shows the row */ };
  const lastState = new Map();
  function onUpdate(data) {
    const d = data.download;
    if (!d || !list()) return;
    const key = String(d.id);
    const changed = lastState.get(key) !== d.state;
    lastState.set(key, d.state);
    const row = document.getElementById("download-" + d.id);
    // While the row is being fetched, the report is kept and looked at when it comes back.
    if (inFlight.has(key)) refreshRow(d.id, false, d).catch(quiet);
    else if (!showInPlace(row, d) && (row || list().dataset.page === "1")) refreshRow(d.id, !row, d).catch(quiet);
    if (changed) refreshLimits();
  }

  // The quota and the room left, read again when a download changes state (one read at a time, and one more
  // after it when something changed meanwhile).
  let limitsGoing = null, limitsAgain = false;
  function refreshLimits() {
    if (limitsGoing) { limitsAgain = true; return limitsGoing; }
    limitsGoing = (async () => {
      try {
        do { limitsAgain = false; await readLimits(); } while (limitsAgain);
      } finally { limitsGoing = null; }
    })();
    return limitsGoing;
  }
  async function readLimits() {
    const holder = document.getElementById("yt-limits");
    if (!holder) return;
    try {
      const limits = await M().api("GET", "/api/v1/youtube/limits");
      const q = limits.quota, s = limits.storage;
      let text = q.limit === null ? "No limit on downloads. " : q.remaining + " of " + q.limit + " downloads left this " + (q.period_s === 3600 ? "hour" : duration(q.period_s)) + ". ";
      text += size(s.available_bytes) + " free for downloads";
      if (s.cap_bytes !== null) text += " · you use " + size(s.used_bytes) + " of your " + size(s.cap_bytes);
      holder.textContent = text + ".";
    } catch (_) { /* the figures stay as they were */ }
  }

  // ---- Actions on a row -----------------------------------------------------------------------------------
  async function details(row, button) {
    const holder = row.querySelector('[data-role="items"]');
    if (!holder.hidden) { holder.hidden = true; button.setAttribute("aria-expanded", "false"); return; }
    const d = await M().api("GET", "/api/v1/youtube/downloads/" + row.dataset.id);
    holder.replaceChildren();
    for (const item of d.entries) {
      const li = document.createElement("li");
      li.dataset.state = item.state;
      li.textContent = item.title + " — " + ({ done: "downloaded", failed: "failed", pending: "not downloaded yet" }[item.state] || item.state);
      if (item.state === "done" && item.size) li.textContent += " (" + size(item.size) + ")";
      if (item.error) {
        const why = document.createElement("span");
        why.className = "yt-error";
        why.textContent = ": " + item.error;
        li.appendChild(why);
      }
      holder.appendChild(li);
    }
    if (!d.entries.length) holder.appendChild(Object.assign(document.createElement("li"), { textContent: "The playlist has not been read yet." }));
    holder.hidden = false;
    button.setAttribute("aria-expanded", "true");
  }
  async function act(row, action, button) {
    const id = row.dataset.id;
    const base = "/api/v1/youtube/downloads/" + id;
    if (action === "details") return details(row, button);
    if (action === "delete") {
      const box = row.querySelector("[data-yt-collection]");
      const withCollection = !!(box && box.checked);
      const title = row.querySelector("h3").textContent;
      const question = "Delete “" + title + "” and its files" + (withCollection ? ", and its collection in Plex" : "") + "?";
      if (!(await M().ask(question, { action: "Delete", danger: true }))) return;
      await M().api("DELETE", base + (withCollection ? "?collection=true" : ""));
      row.remove();
      const empty = document.getElementById("yt-empty");
      if (empty) empty.hidden = !!list().querySelector("li.yt-row");
      refreshLimits();
      return;
    }
    const d = await M().api("POST", base + "/" + action);
    await refreshRow(id, false, d);
  }
  function bindList() {
    const holder = list();
    if (!holder) return;
    holder.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-yt-action]");
      if (!button) return;
      const row = button.closest("li.yt-row");
      button.disabled = true;
      try { await act(row, button.dataset.ytAction, button); }
      catch (failure) { M().beside(button, failure.message || "That did not work; try again."); }
      finally { button.disabled = false; }
    });
  }

  // ---- The form: preview first, then download. --------------------------------------------------------------
  function bindForm() {
    const form = document.getElementById("yt-form");
    const panel = document.getElementById("yt-preview");
    if (!form || !panel) return;
    let previewed = null;
    const close = () => { panel.hidden = true; previewed = null; };
    form.addEventListener("input", () => { if (previewed && form.elements.url.value.trim() !== previewed) close(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      M().clearErrors(form);
      const button = document.getElementById("yt-preview-button");
      button.disabled = true;
      button.textContent = "Reading the link…";
      try {
        const found = await M().api("POST", "/api/v1/youtube/preview", { url: form.elements.url.value });
        previewed = form.elements.url.value.trim();
        panel.querySelector(".yt-preview-title").textContent = found.title;
        panel.querySelector(".yt-preview-count").textContent = found.kind === "playlist" ? found.count + (found.count === 1 ? " video" : " videos") : "One video";
        const items = panel.querySelector(".yt-preview-items");
        items.replaceChildren(...found.items.map((title) => Object.assign(document.createElement("li"), { textContent: title })));
        if (found.count > found.items.length) items.appendChild(Object.assign(document.createElement("li"), { className: "muted", textContent: "and " + (found.count - found.items.length) + " more" }));
        panel.hidden = false;
        document.getElementById("yt-download-button").focus();
      } catch (failure) {
        close();
        M().showErrors(form, failure);
      } finally {
        button.disabled = false;
        button.textContent = "Preview";
      }
    });
    document.getElementById("yt-preview-cancel").addEventListener("click", () => { close(); form.elements.url.focus(); });
    document.getElementById("yt-download-button").addEventListener("click", async (event) => {
      const button = event.currentTarget;
      M().clearErrors(form);
      button.disabled = true;
      try {
        const d = await M().api("POST", "/api/v1/youtube/downloads", { url: form.elements.url.value, quality: form.elements.quality.value });
        close();
        form.reset();
        // Its live reports may have brought the row already, or be fetching it: then that is the one fetch.
        if (!document.getElementById("download-" + d.id)) await refreshRow(d.id, true);
        refreshLimits();
        M().toast({ title: "Download queued", body: d.title, level: "success" });
      } catch (failure) {
        close();
        M().showErrors(form, failure);
      } finally {
        button.disabled = false;
      }
    });
  }

  function start() {
    if (!window.MediaNest || !list()) return;
    bindForm();
    bindList();
    M().on("youtube.download", onUpdate);
    document.addEventListener("medianest:resync", () => {
      for (const row of list().querySelectorAll("li.yt-row")) {
        if (["queued", "running", "importing", "waiting"].includes(row.dataset.state)) refreshRow(row.dataset.id, false).catch(quiet);
      }
      refreshLimits();
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
