/* The notification bell: live unread count, a spoken (aria-live) and visible notice when a
   notification arrives over the per-user socket (app.js fires `viop:user-event`), and new
   items prepended on the notifications page. Text is set with textContent, never HTML. */
(function () {
  "use strict";
  var bell = document.getElementById("notif-bell");
  if (!bell || bell.dataset.ready) { return; }
  bell.dataset.ready = "1";
  var count = document.getElementById("notif-count");
  var countN = document.getElementById("notif-count-n");
  var live = document.getElementById("notif-live");
  var toast = document.getElementById("notif-toast");
  var toastTimer = null;
  var labels = {
    open: bell.dataset.labelOpen || "Open",
    dismiss: bell.dataset.labelDismiss || "Dismiss",
    fresh: bell.dataset.labelNew || "New notification:",
    now: bell.dataset.labelNow || "Just now"
  };

  function setCount(n) {
    n = parseInt(n, 10);
    if (isNaN(n) || n < 0) { return; }
    countN.textContent = String(n);
    count.hidden = n === 0;
  }
  function safeLink(href) {
    return typeof href === "string" && href.charAt(0) === "/" && href.charAt(1) !== "/" ? href : bell.getAttribute("href");
  }
  function showToast(data) {
    if (!toast) { return; }
    toast.textContent = "";
    toast.classList.toggle("urgent", !!data.urgent);
    var title = document.createElement("p");
    var strong = document.createElement("strong");
    strong.textContent = data.title || "";
    title.appendChild(strong);
    toast.appendChild(title);
    if (data.body) { var body = document.createElement("p"); body.textContent = data.body; toast.appendChild(body); }
    var row = document.createElement("div"); row.className = "button-row";
    var open = document.createElement("a"); open.href = safeLink(data.link); open.textContent = labels.open;
    var close = document.createElement("button"); close.type = "button"; close.className = "link-button notif-toast-close"; close.textContent = labels.dismiss;
    close.addEventListener("click", function () { toast.hidden = true; });
    row.appendChild(open); row.appendChild(close); toast.appendChild(row);
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toast.hidden = true; }, data.urgent ? 60000 : 12000);
  }
  function prependToList(data) {
    var list = document.getElementById("notif-list");
    if (!list || document.getElementById("notif-" + data.id)) { return; }
    var li = document.createElement("li");
    li.className = "notif-item unread"; li.id = "notif-" + data.id;
    var text = document.createElement("div"); text.className = "notif-text";
    var t = document.createElement("p"); t.className = "notif-title"; t.textContent = data.title || "";
    text.appendChild(t);
    if (data.body) { var b = document.createElement("p"); b.textContent = data.body; text.appendChild(b); }
    var when = document.createElement("p"); when.className = "muted"; when.textContent = labels.now;
    text.appendChild(when);
    var a = document.createElement("a"); a.href = safeLink(data.link); a.textContent = labels.open;
    var actions = document.createElement("div"); actions.className = "notif-actions"; actions.appendChild(a);
    li.appendChild(text); li.appendChild(actions);
    list.insertBefore(li, list.firstChild);
    var empty = document.getElementById("notif-empty");
    if (empty) { empty.hidden = true; }
  }
  var latest = parseInt(bell.dataset.latestId || "0", 10) || 0;
  function handle(data) {
    if (data.type === "notification") {
      if (data.id && data.id <= latest && document.getElementById("notif-" + data.id)) { return; }
      if (data.id > latest) { latest = data.id; }
      if (typeof data.unread === "number") { setCount(data.unread); }
      if (live) { live.textContent = ""; setTimeout(function () { live.textContent = labels.fresh + " " + (data.title || ""); }, 50); }
      showToast(data);
      prependToList(data);
    } else if (data.type === "notification.read") {
      setCount(data.unread);
    }
  }
  document.addEventListener("viop:user-event", function (ev) { handle(ev.detail || {}); });

  function refresh() {
    return fetch(bell.dataset.unreadUrl + "?after=" + latest, { credentials: "same-origin", headers: { "Accept": "application/json", "X-Idle-Passive": "1" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d) { return; }
        (d.items || []).slice().reverse().forEach(function (item) { if (item.id > latest) { handle(item); } });
        setCount(d.unread);
      })
      .catch(function () { /* the next push, poll or page load corrects it */ });
  }
  // A page left in the background may have missed pushes while its socket was down.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { refresh(); }
  });
  // The embedded stack's in-memory channel layer cannot carry a push from the Celery
  // worker's process to this page's: the server asks for polling then (0 = push only).
  var poll = parseInt(bell.dataset.pollSeconds || "0", 10);
  if (poll > 0) {
    setInterval(function () { if (document.visibilityState === "visible") { refresh(); } }, poll * 1000);
  }
})();
