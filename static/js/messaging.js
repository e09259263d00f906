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

// Live updates. The per-user socket (app.js) carries ids only ("message", thread, message);
// the page then fetches what changed over HTTP, with the same access checks as the page:
// an open conversation asks for the messages after the last one it shows (also whenever
// the socket opens again, so a push lost while it was down is not a message lost), and the
// inbox reloads its list.
(function () {
  "use strict";
  var list = document.querySelector("[data-live-thread]");
  var inbox = document.querySelector("[data-live-inbox]");
  if (!list && !inbox) return;
  var fetching = false, again = false;

  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html", "X-Idle-Passive": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; });
  }
  function parse(html) { return new DOMParser().parseFromString(html, "text/html"); }

  function catchUp() {
    if (fetching) { again = true; return; }
    fetching = true; again = false;
    var after = parseInt(list.dataset.lastId || "0", 10) || 0;
    get(list.dataset.sinceUrl + "?after=" + after).then(function (html) {
      if (html === null) return;
      parse(html).querySelectorAll("[data-since-items] > li[data-message-id]").forEach(function (li) {
        var id = parseInt(li.dataset.messageId, 10);
        if (document.getElementById("msg-" + id)) return;
        list.appendChild(document.importNode(li, true));
        if (id > (parseInt(list.dataset.lastId || "0", 10) || 0)) list.dataset.lastId = String(id);
      });
    }).catch(function () { /* the next push or reconnect tries again */ })
      .then(function () { fetching = false; if (again) catchUp(); });
  }

  function reloadInbox() {
    if (fetching) { again = true; return; }
    fetching = true; again = false;
    get(window.location.href).then(function (html) {
      if (html === null) return;
      var fresh = parse(html).querySelector("[data-live-inbox]");
      if (fresh) inbox.replaceChildren.apply(inbox, Array.prototype.map.call(fresh.childNodes, function (n) { return document.importNode(n, true); }));
    }).catch(function () { /* the next push or reconnect tries again */ })
      .then(function () { fetching = false; if (again) reloadInbox(); });
  }

  var refresh = list ? catchUp : reloadInbox;
  document.addEventListener("viop:user-event", function (ev) {
    var d = ev.detail || {};
    if (d.type !== "message") return;
    if (list && String(d.thread) !== list.dataset.liveThread) return;
    refresh();
  });
  var firstOpen = true;
  document.addEventListener("viop:user-socket-open", function () {
    // The inbox was rendered just now; a conversation checks even then (a message stored
    // between the page and its socket would otherwise wait for the next push).
    if (firstOpen && !list) { firstOpen = false; return; }
    firstOpen = false;
    refresh();
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") refresh();
  });
})();
