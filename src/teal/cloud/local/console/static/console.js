// The console's live parts. An element with data-live="URL" is fetched again
// every data-every milliseconds and its content replaced when it changed; a
// fragment holding [data-final] (a finished action) is the last one fetched.
// A link to #request-... opens that request's lines (a failed one's traceback).
"use strict";

function refresh(part) {
  const every = Number(part.dataset.every || 2000);
  let last = null;
  const timer = setInterval(async () => {
    try {
      const answer = await fetch(part.dataset.live, { cache: "no-store" });
      if (!answer.ok) return;
      const html = await answer.text();
      if (html !== last) {
        last = html;
        part.innerHTML = html;
      }
      if (part.querySelector("[data-final]")) clearInterval(timer);
    } catch (error) {
      // the gateway is restarting: the next tick tries again
    }
  }, every);
}

function openTarget() {
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target && target.tagName === "DETAILS") {
    target.open = true;
    target.scrollIntoView();
  }
}

document.querySelectorAll("[data-live]").forEach(refresh);
window.addEventListener("hashchange", openTarget);
openTarget();
