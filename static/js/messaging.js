// Secure messaging: keep a draft on this device while it is written (a message written
// offline, or before a failed send, is not lost), forget it once the server confirms it was
// sent, and stop a second click from sending twice (the server refuses duplicates anyway).
(function () {
  "use strict";
  function store() {
    try { return window.localStorage; } catch (e) { return null; }
  }
  var ls = store();
  document.querySelectorAll("[data-draft-sent]").forEach(function (el) {
    if (!ls) return;
    var prefix = el.getAttribute("data-draft-sent");
    Object.keys(ls).forEach(function (k) {
      if (k === prefix || k.indexOf(prefix + ":") === 0) ls.removeItem(k);
    });
  });
  document.querySelectorAll("[data-draft-key]").forEach(function (field) {
    var key = field.getAttribute("data-draft-key");
    if (ls && !field.value && ls.getItem(key)) field.value = ls.getItem(key);
    field.addEventListener("input", function () {
      if (!ls) return;
      if (field.value) ls.setItem(key, field.value); else ls.removeItem(key);
    });
  });
  document.querySelectorAll("form[data-draft-form]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) {
        // Re-enabled after a while: if the network failed, the patient can send again.
        button.disabled = true;
        window.setTimeout(function () { button.disabled = false; }, 8000);
      }
    });
  });
})();
