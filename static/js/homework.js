/* Homework autosave: htmx posts each step form (debounced in the markup); this script adds
   an increasing sequence number (the server ignores a stale save), shows saving / saved /
   not saved per step, retries failed saves with back-off, flushes unsent answers when the
   page is hidden or closed, and saves everything before "Submit". */
(function () {
  "use strict";
  var i18n = document.getElementById("hw-i18n");
  if (!i18n) { return; }
  var T = i18n.dataset;
  var last = 0;
  var dirty = new Set();    // changed since the last save was sent
  var pending = new Set();  // a save is in flight
  var failed = new Set();   // the last save failed (network or server error)
  var rejected = new Set(); // the server refused the answer (message shown)
  var backoff = new Map();
  var timers = new Map();

  function nextSeq() { last = Math.max(last + 1, Date.now() * 1000); return last; }
  function autosaveForm(elt) { return elt && elt.closest ? elt.closest("form[data-autosave]") : null; }

  function setState(form, state, text) {
    var box = form.querySelector(".hw-save-state");
    if (box) {
      box.textContent = "";
      var span = document.createElement("span");
      span.className = "hw-state-text";
      span.dataset.state = state;
      span.textContent = text;
      box.appendChild(span);
    }
    var retry = form.querySelector(".hw-retry");
    if (retry) { retry.hidden = state !== "failed"; }
    updatePage();
  }

  function updatePage() {
    var el = document.getElementById("hw-page-state");
    if (!el) { return; }
    var state, text;
    if (failed.size || rejected.size) { state = "failed"; text = T.someUnsaved; }
    else if (pending.size || dirty.size) { state = "saving"; text = T.saving; }
    else { state = "saved"; text = T.allSaved; }
    el.dataset.state = state;
    el.textContent = text;
  }

  function save(form) {
    clearTimeout(timers.get(form));
    if (window.htmx) { window.htmx.trigger(form, "submit"); }
  }

  function scheduleRetry(form) {
    var delay = Math.min((backoff.get(form) || 1000) * 2, 30000);
    backoff.set(form, delay);
    clearTimeout(timers.get(form));
    timers.set(form, setTimeout(function () { save(form); }, delay));
  }

  function markFailed(form) {
    pending.delete(form);
    failed.add(form);
    dirty.add(form);
    setState(form, "failed", T.failed);
    scheduleRetry(form);
  }

  // Capture phase: mark the form dirty before htmx (listening on the form) sends the save,
  // so the request's own beforeRequest clears the mark rather than the other way round.
  document.addEventListener("input", function (ev) {
    var form = autosaveForm(ev.target);
    if (form) { dirty.add(form); setState(form, "dirty", T.unsaved); }
  }, true);
  document.addEventListener("change", function (ev) {
    var form = autosaveForm(ev.target);
    if (form) { dirty.add(form); }
  }, true);

  document.body.addEventListener("htmx:configRequest", function (ev) {
    if (autosaveForm(ev.detail.elt)) { ev.detail.parameters.seq = nextSeq(); }
  });
  document.body.addEventListener("htmx:beforeRequest", function (ev) {
    var form = autosaveForm(ev.detail.elt);
    if (!form) { return; }
    dirty.delete(form);
    pending.add(form);
    setState(form, "saving", T.saving);
  });
  document.body.addEventListener("htmx:beforeSwap", function (ev) {
    // A refused answer (4xx) carries a message to show; it is not a transport failure.
    var status = ev.detail.xhr.status;
    if (status >= 400 && status < 500) { ev.detail.shouldSwap = true; ev.detail.isError = false; }
  });
  document.body.addEventListener("htmx:afterRequest", function (ev) {
    var form = autosaveForm(ev.detail.elt);
    if (!form || !ev.detail.xhr) { return; }
    var status = ev.detail.xhr.status;
    if (status === 0 || status >= 500) { markFailed(form); return; }
    pending.delete(form);
    failed.delete(form);
    backoff.delete(form);
    if (status >= 400) { rejected.add(form); dirty.add(form); }
    else { rejected.delete(form); }
    var retry = form.querySelector(".hw-retry");
    if (retry) { retry.hidden = true; }
    updatePage();
  });
  ["htmx:sendError", "htmx:timeout"].forEach(function (name) {
    document.body.addEventListener(name, function (ev) {
      var form = autosaveForm(ev.detail.elt);
      if (form) { markFailed(form); return; }
      var entry = ev.detail.elt && ev.detail.elt.closest && ev.detail.elt.closest("form[data-entry-form]");
      if (entry) {
        var note = entry.querySelector(".hw-entry-offline") || document.createElement("p");
        note.className = "errorlist hw-entry-offline";
        note.setAttribute("role", "alert");
        note.textContent = T.entryFailed;
        entry.querySelector("fieldset").appendChild(note);
      }
    });
  });

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest(".hw-retry");
    if (button) { var form = autosaveForm(button); if (form) { backoff.delete(form); save(form); } }
  });
  window.addEventListener("online", function () { failed.forEach(function (form) { save(form); }); });

  // Closing or hiding the page: send what has not been sent, without waiting for an answer.
  function flush() {
    dirty.forEach(function (form) {
      var data = new FormData(form);
      data.set("seq", String(nextSeq()));
      try {
        fetch(form.action, { method: "POST", body: data, keepalive: true, credentials: "same-origin", headers: { "HX-Request": "true" } });
      } catch (e) { /* the page is going away; nothing else to do */ }
    });
  }
  window.addEventListener("pagehide", flush);
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") { flush(); } });
  window.addEventListener("beforeunload", function (ev) {
    if (failed.size || rejected.size) { ev.preventDefault(); ev.returnValue = ""; }
  });

  // Submit: save everything first, then submit once nothing is in flight.
  var submitForm = document.querySelector("form[data-submit-form]");
  if (submitForm) {
    submitForm.addEventListener("submit", function (ev) {
      if (!dirty.size && !pending.size) { return; }
      ev.preventDefault();
      dirty.forEach(function (form) { save(form); });
      var waited = 0;
      (function wait() {
        if (!pending.size && !dirty.size) { submitForm.submit(); return; }
        waited += 200;
        if (waited > 15000) { updatePage(); return; }
        setTimeout(wait, 200);
      })();
    });
  }
  // Answers given before the scripts ran (a slow phone, a quick tap) fired no event htmx could
  // hear: once htmx has set the forms up, save every form whose fields differ from the page
  // as it was served.
  function changedBeforeLoad(form) {
    return Array.prototype.some.call(form.elements, function (el) {
      if (el.type === "checkbox" || el.type === "radio") { return el.checked !== el.defaultChecked; }
      if (el.tagName === "SELECT") {
        return Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; });
      }
      if (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type !== "hidden")) {
        return el.value !== el.defaultValue;
      }
      return false;
    });
  }
  function saveEarlyAnswers() {
    document.querySelectorAll("form[data-autosave]").forEach(function (form) {
      if (changedBeforeLoad(form)) { dirty.add(form); save(form); }
    });
  }
  // htmx (loaded before this script) sets the forms up on DOMContentLoaded, before this runs.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setTimeout(saveEarlyAnswers, 0); });
  } else {
    setTimeout(saveEarlyAnswers, 0);
  }
  updatePage();
})();
