// A library's filter and sort apply as they change: the list is drawn again in place and the address follows the
// form, so back, forward and reload keep what was chosen. Without script the form's button does the same.
"use strict";
(function () {
  const WAIT_MS = 300; // after the last key typed in the filter
  let asked = 0;
  let timer = null;

  function addressOf(form) {
    const params = new URLSearchParams();
    const title = form.elements.title.value.trim();
    if (title) params.set("title", title);
    const sort = form.elements.sort.value;
    if (sort !== "title") params.set("sort", sort);
    const query = params.toString();
    return form.getAttribute("action") + (query ? "?" + query : "");
  }

  function showForm(form, url) {
    const params = new URL(url, location.href).searchParams;
    form.elements.title.value = params.get("title") || "";
    form.elements.sort.value = params.get("sort") || "title";
    if (!form.elements.sort.value) form.elements.sort.value = "title"; // a sort this page does not know
  }

  async function load(url) {
    const mine = ++asked;
    const results = document.getElementById("library-results");
    const status = document.getElementById("library-status");
    results.setAttribute("aria-busy", "true");
    let page;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (mine !== asked) return;
      if (!response.ok && response.status !== 404) throw new Error(String(response.status));
      page = new DOMParser().parseFromString(await response.text(), "text/html");
    } catch (_) {
      if (mine === asked) location.assign(url); // let the browser show what went wrong
      return;
    }
    if (mine !== asked) return;
    const fresh = page.getElementById("library-results");
    if (!fresh) { location.assign(url); return; }
    results.replaceChildren(...fresh.childNodes);
    results.removeAttribute("aria-busy");
    const total = page.getElementById("library-total");
    if (total) document.getElementById("library-total").textContent = total.textContent;
    if (page.title) document.title = page.title;
    const count = results.querySelectorAll(".posters a").length;
    if (status) status.textContent = total ? total.textContent.replace(/[()]/g, "") + " found" : count + " shown";
  }

  function apply(form) {
    clearTimeout(timer);
    const url = addressOf(form);
    if (url === location.pathname + location.search) return;
    history.pushState({ library: true }, "", url);
    load(url);
  }

  function start() {
    const form = document.getElementById("library-form");
    if (!form) return;
    form.addEventListener("submit", (event) => { event.preventDefault(); apply(form); });
    form.elements.sort.addEventListener("change", () => apply(form));
    form.elements.title.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => apply(form), WAIT_MS);
    });
    // The search field's own clear button ("x") fires "search" at once.
    form.elements.title.addEventListener("search", () => apply(form));
    window.addEventListener("popstate", () => {
      clearTimeout(timer);
      showForm(form, location.href);
      load(location.href);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
