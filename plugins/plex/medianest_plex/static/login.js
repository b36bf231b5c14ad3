// Signing in with Plex: ask MediaNest every 1.5 s whether Plex has approved, then go on (no inline script).
"use strict";
(function () {
  const panel = document.getElementById("plex-login");
  if (!panel) return;
  const status = document.getElementById("plex-login-status");
  let stopped = false;
  async function poll() {
    if (stopped) return;
    let answer;
    try {
      const response = await fetch(panel.dataset.poll, { method: "POST", credentials: "same-origin", headers: { Accept: "application/json" } });
      answer = await response.json();
    } catch (_) {
      answer = { status: "waiting", message: "MediaNest cannot be reached; still trying." };
    }
    if (answer.status === "signed_in") {
      stopped = true;
      status.textContent = "Signed in. One moment…";
      window.location.assign(answer.next && answer.next.startsWith("/") && !answer.next.startsWith("//") ? answer.next : "/");
      return;
    }
    if (answer.status === "waiting") {
      if (answer.message) status.textContent = answer.message;
      setTimeout(poll, 1500);
      return;
    }
    stopped = true;
    status.classList.add("warn");
    status.textContent = answer.message || "The sign-in did not work. Start again.";
  }
  setTimeout(poll, 1500);
})();
