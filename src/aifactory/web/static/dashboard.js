// The dashboard's only script, served from this origin (the Content-Security-Policy allows no
// inline script). It never builds HTML from data: every value goes in through textContent.
(function () {
  "use strict";

  var TERMINAL = { completed: true, failed: true, cancelled: true };
  var POLL_MS = 1000;

  function setText(root, field, value) {
    root.querySelectorAll('[data-field="' + field + '"]').forEach(function (el) {
      el.textContent = String(value);
    });
  }

  function setStatus(row, status) {
    var cell = row && row.querySelector('[data-field="status"]');
    if (!cell) return;
    var badge = document.createElement("span");
    badge.className = "badge st-" + status.replace(/[^a-z]/g, "");
    badge.textContent = status;
    cell.replaceChildren(badge);
  }

  function watch(box) {
    var url = box.getAttribute("data-progress-url");
    var bar = box.querySelector("progress");
    var row = box.closest("tr");
    var live = box.closest("[data-reload-when-done]");
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (run) {
          if (bar) bar.value = run.progress;
          ["completed", "total", "passed", "failed", "errored"].forEach(function (f) {
            setText(box, f, run[f]);
          });
          setStatus(row, run.status);
          if (TERMINAL[run.status]) {
            box.setAttribute("data-finished", run.status);
            if (live) window.location.reload();
            return;
          }
          window.setTimeout(tick, POLL_MS);
        })
        .catch(function () {
          window.setTimeout(tick, POLL_MS * 5);
        });
    }
    window.setTimeout(tick, POLL_MS);
  }

  function init() {
    document.querySelectorAll("[data-progress-url]").forEach(watch);
    // Filter forms apply as soon as a select changes.
    document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
      select.addEventListener("change", function () {
        select.form.requestSubmit();
      });
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
