/* Document page: while the document is being processed, show its live stage. */
(function () {
  "use strict";
  var el = document.getElementById("live-status");
  if (!el) return;
  var url = el.dataset.url;
  var started = el.dataset.status;
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (b) {
        el.querySelector("[data-role=status]").textContent = b.status;
        el.querySelector("[data-role=stage]").textContent = b.stage || "—";
        if (b.status !== started && b.status !== "received" && b.status !== "processing") {
          window.location.reload();
          return;
        }
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();
