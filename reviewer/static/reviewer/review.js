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

  function setZoom(z) {
    var box = fields.length ? boxFor(fields[current]) : null;
    zoom = Math.max(0.5, Math.min(4, Math.round(z * 100) / 100));
    pages.forEach(function (p) { p.style.width = (zoom * 100) + "%"; });
    document.getElementById("zoom-level").textContent = Math.round(zoom * 100) + "%";
    if (box) centreOn(box);
  }

  function startEdit(li) {
    fields.forEach(function (f) { if (f !== li) f.classList.remove("editing"); });
    li.classList.add("editing");
    var input = li.querySelector("[name=value]");
    input.focus();
    if (input.select) input.select();
  }

  function stopEdit(li, restore) {
    li.classList.remove("editing");
    if (restore) {
      var input = li.querySelector("[name=value]");
      input.value = input.defaultValue;
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
      value.textContent = b.text === "" ? "(empty)" : b.text;
      var input = li.querySelector("[name=value]");
      input.value = b.text;
      input.defaultValue = b.text;
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
  document.getElementById("zoom-in").addEventListener("click", function () { setZoom(zoom * 1.25); });
  document.getElementById("zoom-out").addEventListener("click", function () { setZoom(zoom / 1.25); });
  document.getElementById("zoom-fit").addEventListener("click", function () { setZoom(1); });
  viewer.addEventListener("wheel", function (ev) {
    if (!ev.ctrlKey) return;
    ev.preventDefault();
    setZoom(ev.deltaY < 0 ? zoom * 1.1 : zoom / 1.1);
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
        lockState.textContent = "Held by you until " + until.toLocaleTimeString();
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
    else if (ev.key === "j" || ev.key === "ArrowDown") select(current + 1);
    else if (ev.key === "k" || ev.key === "ArrowUp") select(current - 1);
    else if (ev.key === "Tab") { var j = nextPending(ev.shiftKey ? -1 : 1); if (j >= 0) select(j); }
    else if (ev.key === "a" && li) send(li, "accept");
    else if (ev.key === "A") submitForm("accept-confident-form");
    else if ((ev.key === "e" || ev.key === "Enter") && li) startEdit(li);
    else if (ev.key === "s") submitForm("submit-form");
    else if (ev.key === "r") openDialog("reject-dialog");
    else if (ev.key === "x") openDialog("escalate-dialog");
    else if (ev.key === "p") submitForm("postpone-form");
    else if (ev.key === "+" || ev.key === "=") setZoom(zoom * 1.25);
    else if (ev.key === "-") setZoom(zoom / 1.25);
    else if (ev.key === "0") setZoom(1);
    else if (ev.key === "[" || ev.key === "]") {
      var n = activePage() + (ev.key === "]" ? 1 : -1);
      if (n >= 1 && n <= pages.length) showPage(n);
    } else if (ev.key === "?") openDialog("help-dialog");
    else handled = false;
    if (handled) ev.preventDefault();
  });

  var first = nextPending(1);
  select(fields.length && fields[0].classList.contains("needs_review") ? 0 : (first >= 0 ? first : 0));
})();
