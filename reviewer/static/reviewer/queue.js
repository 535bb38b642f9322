/* Queue: "n" claims the next document. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var next = document.getElementById("next-button");
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
    if (ev.key === "n" && next && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      ev.preventDefault();
      next.form.requestSubmit ? next.form.requestSubmit() : next.form.submit();
    }
  });
})();
