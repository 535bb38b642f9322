/* Queue: "n" claims the next document; the list refreshes itself; saved filters with their counts
   (kept in this browser). Server HTML is parsed only from our own pages, with DOMParser (which runs
   no script), and filter names are set with textContent. */
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

  // --- refresh without a reload: the counts and the rows, unless the user is working in them.
  var EVERY = 30000;
  function busy() {
    var a = document.activeElement;
    return a && a !== document.body && (a.closest("table.queue") || a.closest(".filters"));
  }
  function refresh() {
    if (document.hidden || busy()) return Promise.resolve(false);
    return fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        [".queue-head .stats", "table.queue tbody"].forEach(function (sel) {
          var old = document.querySelector(sel), neu = fresh.querySelector(sel);
          if (old && neu) old.replaceWith(document.importNode(neu, true));
        });
        var note = document.getElementById("refresh-note");
        if (note) note.textContent = "Refreshed at " + new Date().toLocaleTimeString("en-GB", {
          timeZone: document.body.dataset.timeZone || "UTC", hour12: false }) + "; again in 30 seconds.";
        return countSaved().then(function () { return true; });
      })
      .catch(function () { return false; });
  }
  window.docprocQueueRefresh = refresh;  // lets a test (or the console) refresh at once
  setInterval(refresh, EVERY);

  // --- saved filters
  var KEY = "docproc.savedFilters";
  function load() {
    try { return JSON.parse(window.localStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }
  function store(list) {
    try { window.localStorage.setItem(KEY, JSON.stringify(list)); } catch (e) { /* not kept */ }
  }
  function currentQuery() {
    var form = document.querySelector("form.filters");
    var params = new URLSearchParams();
    new FormData(form).forEach(function (v, k) { if (v) params.set(k, v); });
    return params.toString();
  }
  function render() {
    var list = load();
    var nav = document.getElementById("saved-filters");
    var ul = document.getElementById("saved-filter-list");
    if (!nav || !ul) return;
    ul.textContent = "";
    nav.hidden = list.length === 0;
    list.forEach(function (f, i) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = "?" + f.query;
      a.textContent = f.name + " ";
      var count = document.createElement("span");
      count.className = "count";
      count.dataset.query = f.query;
      count.textContent = "…";
      a.appendChild(count);
      var del = document.createElement("button");
      del.type = "button";
      del.className = "link";
      del.textContent = "✕";
      del.setAttribute("aria-label", "Forget the filter " + f.name);
      del.addEventListener("click", function () { var l = load(); l.splice(i, 1); store(l); render(); countSaved(); });
      li.appendChild(a);
      li.appendChild(del);
      ul.appendChild(li);
    });
  }
  function countSaved() {
    var spans = Array.prototype.slice.call(document.querySelectorAll("#saved-filter-list .count"));
    return Promise.all(spans.map(function (span) {
      return fetch("?" + span.dataset.query, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (b) { span.textContent = String(b.total); })
        .catch(function () { span.textContent = "?"; });
    }));
  }
  var save = document.getElementById("save-filter");
  if (save) save.addEventListener("click", function () {
    var name = document.getElementById("filter-name").value.trim() || "filter " + (load().length + 1);
    var list = load().filter(function (f) { return f.name !== name; });
    list.push({ name: name.slice(0, 40), query: currentQuery() });
    store(list);
    render();
    countSaved();
  });
  render();
  countSaved();
})();
