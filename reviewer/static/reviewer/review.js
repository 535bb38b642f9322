/* Review screen: field selection with the page box highlighted, inline edits sent as forms
   (CSRF token included), zoom/pan, page switching, lock renewal and keyboard shortcuts.
   Text from documents is only ever set with textContent, never parsed as HTML. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var root = document.getElementById("review");
  if (!root) return;
  var fields = Array.prototype.slice.call(document.querySelectorAll("#fields .field[data-field-id]"));
  var viewer = document.getElementById("viewer");
  var pages = Array.prototype.slice.call(viewer.querySelectorAll(".page"));
  var tabs = Array.prototype.slice.call(document.querySelectorAll(".page-tab"));
  var current = 0;
  var zoom = 1;
  var STATUS = { needs_review: "Needs review", auto_accepted: "Auto accepted", accepted: "Accepted", corrected: "Corrected" };

  function csrf() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function boxFor(li) {
    return viewer.querySelector('.box[data-field-id="' + li.dataset.fieldId + '"]');
  }

  function activePage() {
    var p = viewer.querySelector(".page.active");
    return p ? Number(p.dataset.page) : 1;
  }

  function showPage(n) {
    n = String(n);
    pages.forEach(function (p) { p.classList.toggle("active", p.dataset.page === n); });
    tabs.forEach(function (t) { t.classList.toggle("active", t.dataset.page === n); });
  }

  function centreOn(box) {
    var v = viewer.getBoundingClientRect();
    var b = box.getBoundingClientRect();
    viewer.scrollLeft += (b.left + b.width / 2) - (v.left + v.width / 2);
    viewer.scrollTop += (b.top + b.height / 2) - (v.top + v.height / 2);
  }

  // Scroll the field list only (scrollIntoView would also move the window).
  function revealInList(li) {
    var pane = li.closest(".fields-pane");
    if (!pane) return;
    var p = pane.getBoundingClientRect();
    var r = li.getBoundingClientRect();
    if (r.top < p.top) pane.scrollTop -= (p.top - r.top) + 8;
    else if (r.bottom > p.bottom) pane.scrollTop += (r.bottom - p.bottom) + 8;
  }

  function select(i, keepFocus) {
    if (!fields.length) return;
    current = Math.max(0, Math.min(fields.length - 1, i));
    fields.forEach(function (f, j) { f.classList.toggle("current", j === current); });
    Array.prototype.forEach.call(viewer.querySelectorAll(".box.current"), function (b) { b.classList.remove("current"); });
    var li = fields[current];
    revealInList(li);
    var box = boxFor(li);
    if (box) {
      showPage(box.parentElement.dataset.page);
      box.classList.add("current");
      centreOn(box);
    } else if (li.dataset.page) {
      showPage(li.dataset.page);
    }
    if (!keepFocus) li.focus({ preventScroll: true });
  }

  function nextPending(step) {
    for (var k = 1; k <= fields.length; k++) {
      var j = (current + step * k + fields.length * k) % fields.length;
      if (fields[j].classList.contains("needs_review")) return j;
    }
    return -1;
  }

  // The next field still to check in one direction from the current one, without wrapping round.
  function pendingAhead(step) {
    for (var j = current + step; j >= 0 && j < fields.length; j += step) {
      if (fields[j].classList.contains("needs_review")) return j;
    }
    return -1;
  }

  // Zoom is the page's width as a fraction of the viewer's: 1 fits the width. "Fit page" shows
  // the whole page; the choice is remembered per document type (receipts differ from forms).
  var zoomKey = "docproc.zoom." + (root.dataset.docType || "");
  function pageAspect() {
    var p = viewer.querySelector(".page.active");
    var m = p ? /([0-9.]+)\s*\/\s*([0-9.]+)/.exec(p.style.aspectRatio || "") : null;
    return m && Number(m[2]) > 0 ? Number(m[1]) / Number(m[2]) : 0.77;
  }
  function fitPageZoom() {
    var w = viewer.clientWidth - 24, h = viewer.clientHeight - 24;
    return w > 0 && h > 0 ? Math.min(1, (h * pageAspect()) / w) : 1;
  }
  function remember(mode) {
    try { window.localStorage.setItem(zoomKey, mode); } catch (e) { /* private mode: not remembered */ }
  }
  function setZoom(z, mode) {
    var box = fields.length ? boxFor(fields[current]) : null;
    zoom = Math.max(0.2, Math.min(4, Math.round(z * 100) / 100));
    pages.forEach(function (p) { p.style.width = (zoom * 100) + "%"; });
    var label = mode === "width" ? "Fit width" : (mode === "page" ? "Fit page" : Math.round(zoom * 100) + "%");
    var level = document.getElementById("zoom-level");
    level.textContent = label;
    level.dataset.mode = mode || "manual";
    remember(mode || String(zoom));
    if (box) centreOn(box);
  }
  function zoomWidth() { setZoom(1, "width"); }
  function zoomPage() { setZoom(fitPageZoom(), "page"); }
  function zoomBy(f) { setZoom(zoom * f); }
  function restoreZoom() {
    var saved = null;
    try { saved = window.localStorage.getItem(zoomKey); } catch (e) { saved = null; }
    if (saved === "page") zoomPage();
    else if (saved && isFinite(Number(saved)) && Number(saved) > 0) setZoom(Number(saved));
    else zoomWidth();  // tall narrow receipts are read at the viewer's width, not shrunk to its height
  }

  function startEdit(li) {
    fields.forEach(function (f) { if (f !== li) f.classList.remove("editing"); });
    li.classList.add("editing");
    var input = li.querySelector(".items-editor input[data-col]") || li.querySelector("[name=value]");
    input.focus();
    if (input.select) input.select();
  }

  function stopEdit(li, restore) {
    li.classList.remove("editing");
    if (restore) {
      var input = li.querySelector("[name=value]");
      input.value = input.defaultValue;
      var editor = li.querySelector(".items-editor");
      if (editor) loadRows(editor, input.defaultValue);
    }
    li.focus({ preventScroll: true });
  }

  function showError(li, text) {
    var el = li.querySelector(".field-error");
    if (!el) {
      el = document.createElement("p");
      el.className = "field-error";
      el.setAttribute("role", "alert");
      li.appendChild(el);
    }
    el.textContent = text;
  }

  function updatePending(n) {
    var el = document.getElementById("pending-count");
    el.dataset.count = n;
    el.textContent = n + (n === 1 ? " field" : " fields") + " to check";
    el.classList.toggle("done", n === 0);
  }

  function send(li, action, confirmed) {
    var editor = li.querySelector(".items-editor");
    if (editor && action === "correct") serialiseRows(editor);
    var form = li.querySelector("form.field-form");
    var data = new FormData(form);
    data.set("action", action);
    if (confirmed && action === "accept") data.set("confirm", "1");
    if (confirmed && action === "correct") data.set("reason", "as_printed");
    // getAttribute: the form's "action" property is shadowed by its buttons named "action".
    return fetch(form.getAttribute("action"), {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrf() }
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      if (!res.ok) {
        // A value that fails its checks is kept only when the reviewer confirms the document prints it so.
        if (!confirmed && (res.body.code === "confirm_required" || res.body.code === "invalid_value") &&
            window.confirm(res.body.detail + "\n\nKeep it as printed on the document?")) {
          return send(li, action, true);
        }
        showError(li, res.body.detail || "The change was not saved.");
        if (res.body.code === "lock_lost" || res.body.code === "not_yours") lockLost(res.body.detail);
        return;
      }
      var b = res.body;
      var err = li.querySelector(".field-error");
      if (err) err.remove();
      var why = li.querySelector("[data-role=reasons]");
      if (why) why.remove();
      ["needs_review", "auto_accepted", "accepted", "corrected"].forEach(function (s) { li.classList.remove(s); });
      li.classList.add(b.status);
      var box = boxFor(li);
      if (box) { box.className = "box current " + b.status; }
      li.querySelector("[data-role=status]").textContent = STATUS[b.status] || b.status;
      var value = li.querySelector("[data-role=value]");
      var input = li.querySelector("[name=value]");
      input.value = b.text;
      input.defaultValue = b.text;
      if (editor) {
        loadRows(editor, b.text);
        value.textContent = rowCount(editor);
      } else {
        value.textContent = b.text === "" ? "(empty)" : b.text;
      }
      var flag = li.querySelector("[data-role=flag]");
      if (flag) { flag.hidden = !b.messages.length; flag.title = b.messages.join("; "); }
      refreshTotals();
      var list = li.querySelector("[data-role=messages]");
      list.textContent = "";
      b.messages.forEach(function (m) {
        var item = document.createElement("li");
        item.textContent = m;
        list.appendChild(item);
      });
      updatePending(b.pending);
      stopEdit(li, false);
      var j = nextPending(1);
      if (j >= 0) select(j);
    }).catch(function () { showError(li, "Network error: the change was not saved."); });
  }

  // --- line-item table editor ---------------------------------------------------------------
  // Rows of a table field as inputs; each cell's box on the page follows the focused cell; the
  // sum of the amount column is recomputed as the reviewer types and compared with the printed total.
  function columnsOf(editor) { return editor.dataset.columns ? editor.dataset.columns.split(",") : []; }

  function rowCount(editor) {
    var n = editor.querySelectorAll("tbody tr").length;
    return n + (n === 1 ? " row" : " rows");
  }

  function makeRow(editor, values, orig) {
    var tr = document.createElement("tr");
    if (orig !== null && orig !== undefined) tr.dataset.orig = orig;
    var n = document.createElement("td");
    n.className = "n";
    tr.appendChild(n);
    columnsOf(editor).forEach(function (c) {
      var td = document.createElement("td");
      var input = document.createElement("input");
      input.type = "text";
      input.autocomplete = "off";
      input.dataset.col = c;
      if (c === editor.dataset.sumColumn) input.inputMode = "decimal";
      var v = values && values[c] !== undefined && values[c] !== null ? String(values[c]) : "";
      input.value = v;
      input.defaultValue = v;
      td.appendChild(input);
      tr.appendChild(td);
    });
    var act = document.createElement("td");
    var del = document.createElement("button");
    del.type = "button";
    del.className = "del-row";
    del.title = "Delete this row (Alt+Backspace)";
    del.textContent = "✕";
    act.appendChild(del);
    tr.appendChild(act);
    return tr;
  }

  function renumberRows(editor) {
    Array.prototype.forEach.call(editor.querySelectorAll("tbody tr"), function (tr, i) {
      tr.querySelector(".n").textContent = String(i + 1);
      Array.prototype.forEach.call(tr.querySelectorAll("input[data-col]"), function (input) {
        input.setAttribute("aria-label", "Row " + (i + 1) + " " + input.dataset.col);
      });
      tr.querySelector(".del-row").setAttribute("aria-label", "Delete row " + (i + 1));
    });
  }

  function loadRows(editor, text) {
    var rows;
    try { rows = JSON.parse(text || "[]"); } catch (e) { return; }
    if (!Array.isArray(rows)) return;
    var body = editor.querySelector("tbody");
    body.textContent = "";
    rows.forEach(function (r, i) { body.appendChild(makeRow(editor, r, i)); });
    renumberRows(editor);
    refreshTotals();
  }

  function serialiseRows(editor) {
    var cols = columnsOf(editor);
    var rows = [];
    Array.prototype.forEach.call(editor.querySelectorAll("tbody tr"), function (tr) {
      var row = {};
      var any = false;
      cols.forEach(function (c) {
        var v = tr.querySelector('input[data-col="' + c + '"]').value.trim();
        row[c] = v === "" ? null : v;
        if (v !== "") any = true;
      });
      if (any) rows.push(row);
    });
    editor.querySelector("[name=value]").value = JSON.stringify(rows);
  }

  // "1,607.54", "$54.51", "1.607,54" -> a number of cents, or null when it is not an amount.
  function cents(text) {
    var t = String(text || "").replace(/[^0-9.,-]/g, "");
    if (!t) return null;
    var dot = t.lastIndexOf("."), comma = t.lastIndexOf(",");
    var dec = Math.max(dot, comma);
    if (dec >= 0 && t.length - dec - 1 <= 2 && !(dot < 0 && t.length - dec - 1 === 3)) {
      t = t.slice(0, dec).replace(/[.,]/g, "") + "." + t.slice(dec + 1);
    } else {
      t = t.replace(/[.,]/g, "");
    }
    var n = Number(t);
    return isFinite(n) ? Math.round(n * 100) : null;
  }

  function money(c) {
    var neg = c < 0; c = Math.abs(c);
    var whole = String(Math.floor(c / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + whole + "." + String(c % 100).padStart(2, "0");
  }

  function printedTotal(editor) {
    var id = editor.dataset.totalField;
    var li = id ? document.getElementById("field-" + id) : null;
    if (!li) return null;
    var input = li.querySelector("[name=value]");
    return li.classList.contains("editing") ? input.value : input.defaultValue;
  }

  function refreshTotals() {
    Array.prototype.forEach.call(document.querySelectorAll(".items-editor"), function (editor) {
      var col = editor.dataset.sumColumn;
      var out = editor.querySelector("[data-role=sum]");
      if (!col || !out) return;
      var sum = 0, bad = 0;
      Array.prototype.forEach.call(editor.querySelectorAll('input[data-col="' + col + '"]'), function (input) {
        if (!input.value.trim()) return;
        var c = cents(input.value);
        if (c === null) bad++; else sum += c;
      });
      out.textContent = money(sum) + (bad ? " (" + bad + " not a number)" : "");
      var printed = editor.querySelector("[data-role=printed]");
      var match = editor.querySelector("[data-role=match]");
      if (!printed) return;
      var text = printedTotal(editor);
      var p = cents(text);
      printed.textContent = text || "(empty)";
      var same = p !== null && p === sum && !bad;
      match.textContent = p === null ? "" : (same ? "✓ matches" : "≠ differs by " + money(Math.abs(sum - p)));
      match.className = same ? "ok" : "bad";
      var li = editor.closest(".field");
      var value = li.querySelector("[data-role=value]");
      if (!li.classList.contains("editing")) return;
      value.textContent = rowCount(editor);
    });
  }

  function cellBoxFor(input) {
    var li = input.closest(".field");
    var tr = input.closest("tr");
    if (!tr || tr.dataset.orig === undefined) return null;
    return viewer.querySelector('.cell-box[data-field-id="' + li.dataset.fieldId + '"][data-row="' + tr.dataset.orig +
                                '"][data-col="' + input.dataset.col + '"]');
  }

  function focusCell(editor, row, col) {
    var trs = editor.querySelectorAll("tbody tr");
    if (row < 0 || row >= trs.length) return false;
    var input = trs[row].querySelector('input[data-col="' + col + '"]') || trs[row].querySelector("input[data-col]");
    input.focus();
    input.select();
    return true;
  }

  function addRow(editor, after) {
    var tr = makeRow(editor, null, null);
    var body = editor.querySelector("tbody");
    if (after && after.parentNode === body) body.insertBefore(tr, after.nextSibling); else body.appendChild(tr);
    renumberRows(editor);
    tr.querySelector("input[data-col]").focus();
    refreshTotals();
  }

  function deleteRow(editor, tr) {
    var body = editor.querySelector("tbody");
    var rows = Array.prototype.slice.call(body.children);
    var i = rows.indexOf(tr);
    var col = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.col : null;
    tr.remove();
    renumberRows(editor);
    refreshTotals();
    if (!focusCell(editor, Math.min(i, body.children.length - 1), col)) editor.querySelector(".add-row").focus();
  }

  Array.prototype.forEach.call(document.querySelectorAll(".items-editor"), function (editor) {
    editor.addEventListener("input", refreshTotals);
    editor.addEventListener("focusin", function (ev) {
      Array.prototype.forEach.call(viewer.querySelectorAll(".cell-box.current"), function (b) { b.classList.remove("current"); });
      var t = ev.target;
      if (!t.dataset || !t.dataset.col) return;
      var box = cellBoxFor(t);
      if (box) {
        showPage(box.parentElement.dataset.page);
        box.classList.add("current");
        centreOn(box);
      }
    });
    editor.addEventListener("click", function (ev) {
      var del = ev.target.closest(".del-row");
      if (del) deleteRow(editor, del.closest("tr"));
      else if (ev.target.closest(".add-row")) addRow(editor, editor.querySelector("tbody tr:last-child"));
    });
    editor.addEventListener("keydown", function (ev) {
      var t = ev.target;
      if (!t.dataset || !t.dataset.col) return;
      var tr = t.closest("tr");
      var rows = Array.prototype.slice.call(editor.querySelectorAll("tbody tr"));
      var i = rows.indexOf(tr);
      var handled = true;
      if (ev.key === "Enter" && ev.altKey) addRow(editor, tr);
      else if (ev.key === "Backspace" && ev.altKey) deleteRow(editor, tr);
      else if (ev.key === "ArrowDown" && !ev.altKey && !ev.ctrlKey) focusCell(editor, i + 1, t.dataset.col);
      else if (ev.key === "ArrowUp" && !ev.altKey && !ev.ctrlKey) focusCell(editor, i - 1, t.dataset.col);
      else handled = false;
      if (handled) { ev.preventDefault(); ev.stopPropagation(); }
    });
  });
  // A change to the printed total (typed, or saved) changes the comparison.
  document.addEventListener("input", function (ev) { if (!ev.target.closest(".items-editor")) refreshTotals(); });

  fields.forEach(function (li, i) {
    li.addEventListener("click", function (ev) {
      if (ev.target.closest("form")) return;
      select(i, false);
    });
    var form = li.querySelector("form.field-form");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var action = ev.submitter && ev.submitter.value ? ev.submitter.value : "correct";
      send(li, action);
    });
    var editButton = li.querySelector("button.edit");
    if (editButton) editButton.addEventListener("click", function () { select(i, true); startEdit(li); });
  });

  Array.prototype.forEach.call(viewer.querySelectorAll(".box"), function (box) {
    box.addEventListener("click", function () {
      for (var i = 0; i < fields.length; i++) if (fields[i].dataset.fieldId === box.dataset.fieldId) select(i);
    });
  });

  tabs.forEach(function (t) { t.addEventListener("click", function () { showPage(t.dataset.page); }); });
  document.getElementById("zoom-in").addEventListener("click", function () { zoomBy(1.25); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoomBy(1 / 1.25); });
  document.getElementById("zoom-fit").addEventListener("click", zoomPage);
  document.getElementById("zoom-width").addEventListener("click", zoomWidth);
  viewer.addEventListener("wheel", function (ev) {
    if (!ev.ctrlKey) return;
    ev.preventDefault();
    zoomBy(ev.deltaY < 0 ? 1.1 : 1 / 1.1);
  }, { passive: false });

  // Pan by dragging the page.
  var drag = null;
  viewer.addEventListener("mousedown", function (ev) {
    if (ev.button !== 0) return;
    drag = { x: ev.clientX, y: ev.clientY, left: viewer.scrollLeft, top: viewer.scrollTop, moved: false };
    viewer.classList.add("dragging");
  });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    viewer.scrollLeft = drag.left - (ev.clientX - drag.x);
    viewer.scrollTop = drag.top - (ev.clientY - drag.y);
  });
  window.addEventListener("mouseup", function () { drag = null; viewer.classList.remove("dragging"); });

  // Dialogs.
  function openDialog(id) {
    var d = document.getElementById(id);
    if (id === "problem-dialog") {
      var li = fields[current];
      var where = "page " + activePage() + (li ? ", field " + li.dataset.name : "");
      document.getElementById("problem-page").value = String(activePage());
      document.getElementById("problem-field").value = li ? li.dataset.name : "";
      document.getElementById("problem-where").textContent = where;
    }
    if (d && !d.open) d.showModal();
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-dialog]"), function (b) {
    b.addEventListener("click", function () { openDialog(b.dataset.dialog); });
  });
  Array.prototype.forEach.call(document.querySelectorAll("dialog [data-close]"), function (b) {
    b.addEventListener("click", function () { b.closest("dialog").close(); });
  });
  var rejectDialog = document.getElementById("reject-dialog");
  rejectDialog.addEventListener("keydown", function (ev) {
    if (ev.target.tagName === "TEXTAREA") return;
    var n = Number(ev.key);
    var radios = rejectDialog.querySelectorAll("input[name=reason]");
    if (n >= 1 && n <= radios.length) {
      ev.preventDefault();
      radios[n - 1].checked = true;
      radios[n - 1].focus();
      if (radios[n - 1].value === "other") document.getElementById("reject-note").focus();
    }
  });

  // Times in the user's zone (the server's rule), 24-hour, with the zone named.
  var zoneName = document.body.dataset.timeZone || "UTC";
  function clock(d) {
    try {
      return d.toLocaleTimeString("en-GB", { timeZone: zoneName, hour12: false }) + " " + zoneName;
    } catch (e) {
      return d.toISOString().slice(11, 19) + " UTC";
    }
  }

  // Lock renewal while the page is open.
  var lockState = document.getElementById("lock-state");
  var timer = null;
  function lockLost(detail) {
    lockState.textContent = detail || "Your claim on this document was lost.";
    lockState.classList.add("lost");
    if (timer) clearInterval(timer);
  }
  function renew() {
    fetch(root.dataset.heartbeatUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrf() }
    }).then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) { lockLost(b.detail); return; }
        var until = new Date(b.locked_until);
        lockState.textContent = "Held by you until " + clock(until);
      });
    }).catch(function () { lockState.textContent = "Offline: retrying…"; });
  }
  timer = setInterval(renew, Number(root.dataset.renewEvery || 60) * 1000);
  renew();

  function submitForm(id) {
    var f = document.getElementById(id);
    if (f.requestSubmit) f.requestSubmit(); else f.submit();
  }

  document.addEventListener("keydown", function (ev) {
    if (document.querySelector("dialog[open]")) return;  // the dialog has the keyboard
    var li = fields[current];
    var t = ev.target;
    var typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
    if (typing) {
      if (ev.key === "Escape" && li) { ev.preventDefault(); stopEdit(t.closest(".field") || li, true); }
      else if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && t.closest(".field-form")) {
        ev.preventDefault();
        send(t.closest(".field"), "correct");
      } else if (ev.key === "Enter" && t.tagName === "SELECT" && t.closest(".field-form")) {
        ev.preventDefault();
        send(t.closest(".field"), "correct");
      }
      return;
    }
    if (t && (t.tagName === "BUTTON" || t.tagName === "A") && (ev.key === "Enter" || ev.key === " ")) return;
    if (ev.altKey || (ev.metaKey && ev.key !== "Enter")) return;
    var handled = true;
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) submitForm("submit-form");
    else if (ev.ctrlKey) handled = false;
    else if (t === viewer && ev.key.indexOf("Arrow") === 0) handled = false;  // the viewer scrolls
    else if (ev.key === "j" || ev.key === "ArrowDown") select(current + 1);
    else if (ev.key === "k" || ev.key === "ArrowUp") select(current - 1);
    else if (ev.key === "Tab") {
      // Tab walks the fields still to check, then leaves the list (to Submit) in the page's order.
      var onField = t && t.classList && t.classList.contains("field");
      var j = onField ? pendingAhead(ev.shiftKey ? -1 : 1) : -1;
      if (j >= 0) select(j);
      else if (onField && !ev.shiftKey) document.getElementById("submit-button").focus();
      else handled = false;
    }
    else if (ev.key === "v") viewer.focus({ preventScroll: true });
    else if (ev.key === "a" && li) send(li, "accept");
    else if (ev.key === "A") submitForm("accept-confident-form");
    else if ((ev.key === "e" || ev.key === "Enter") && li) startEdit(li);
    else if (ev.key === "s") submitForm("submit-form");
    else if (ev.key === "r") openDialog("reject-dialog");
    else if (ev.key === "x") openDialog("escalate-dialog");
    else if (ev.key === "!") openDialog("problem-dialog");
    else if (ev.key === "p") submitForm("postpone-form");
    else if (ev.key === "+" || ev.key === "=") zoomBy(1.25);
    else if (ev.key === "-") zoomBy(1 / 1.25);
    else if (ev.key === "0") zoomPage();
    else if (ev.key === "w") zoomWidth();
    else if (ev.key === "[" || ev.key === "]") {
      var n = activePage() + (ev.key === "]" ? 1 : -1);
      if (n >= 1 && n <= pages.length) showPage(n);
    } else if (ev.key === "?") openDialog("help-dialog");
    else handled = false;
    if (handled) ev.preventDefault();
  });

  refreshTotals();
  restoreZoom();
  var first = nextPending(1);
  select(fields.length && fields[0].classList.contains("needs_review") ? 0 : (first >= 0 ? first : 0));
})();
