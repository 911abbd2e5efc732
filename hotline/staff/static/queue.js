// Keep the queue (or the alerts list) current: re-fetch this page every few seconds and swap
// the table in,
// unless the user is busy with a form on it. No inline script: the CSP forbids it.
(function () {
  "use strict";
  var live = document.getElementById("queue-live") || document.getElementById("broadcasts-live");
  if (!live || !window.fetch || !window.DOMParser) { return; }
  var seconds = parseInt(live.dataset.refresh, 10) || 30;

  function busy() {
    var active = document.activeElement;
    return active && active !== document.body && active.closest("form") !== null &&
      active.tagName !== "BUTTON";
  }

  function refresh() {
    if (document.visibilityState !== "visible" || busy()) { return; }
    // the header says "the page, not a person": it does not keep an idle sign-in alive
    fetch(window.location.href, {credentials: "same-origin",
                                 headers: {"X-Hotline-Auto-Refresh": "1"}})
      .then(function (response) {
        if (!response.ok || response.redirected) { window.location.reload(); return null; }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(live.id);
        if (fresh) { live.innerHTML = fresh.innerHTML; } else { window.location.reload(); }
      })
      .catch(function () { /* offline for a moment: try again next time */ });
  }

  window.setInterval(refresh, seconds * 1000);
}());
