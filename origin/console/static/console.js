// The console's progressive enhancement, written by hand: every page reads fully without it.
// - live figures: sections marked data-live are fetched again every few seconds (the same page,
//   rendered by the server) and swapped in place, except one holding the keyboard focus;
// - copy buttons for a secret shown once.
(function () {
  "use strict";

  function enableCopyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var field = document.getElementById(button.getAttribute("data-copy"));
      if (!field || !navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(field.value).then(
          function () { button.textContent = "Copied"; },
          function () { field.select(); }
        );
      });
    });
  }

  function liveRefresh() {
    var every = Number(document.body.getAttribute("data-refresh")) || 0;
    var status = document.getElementById("live-status");
    if (!every || !window.fetch || !window.DOMParser) return;

    function later() { window.setTimeout(tick, every * 1000); }

    function tick() {
      if (document.hidden) { later(); return; }
      fetch(window.location.href, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { "x-console-refresh": "1" }
      }).then(function (response) {
        if (response.redirected && /\/console\/login$/.test(new URL(response.url).pathname)) {
          window.location.assign(response.url);  // the session ended: sign in again
          return;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text().then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-live][id]").forEach(function (section) {
            if (section.contains(document.activeElement)) return;
            var replacement = fresh.getElementById(section.id);
            if (replacement) section.replaceWith(document.importNode(replacement, true));
          });
          document.body.setAttribute("data-refreshed", String(Date.now()));
          if (status) status.textContent = "updated " + new Date().toLocaleTimeString();
          later();
        });
      }).catch(function (error) {
        if (status) status.textContent = "could not refresh (" + error.message + "); trying again";
        later();
      });
    }
    later();
  }

  document.addEventListener("DOMContentLoaded", function () {
    enableCopyButtons();
    liveRefresh();
  });
})();
