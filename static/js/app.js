/* Virtual IOP page script: the phone's Menu button, the idle-logoff warning and the per-user
   socket (closes on logout). */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var toggle = document.querySelector(".nav-toggle");
  var nav = document.getElementById("main-nav");
  if (!toggle || !nav) { return; }
  toggle.hidden = false;
  function setOpen(open) {
    toggle.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  }
  toggle.addEventListener("click", function () {
    var open = toggle.getAttribute("aria-expanded") !== "true";
    setOpen(open);
    if (open) { var first = nav.querySelector("a, button"); if (first) { first.focus(); } }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && nav.classList.contains("open")) { setOpen(false); toggle.focus(); }
  });
})();

(function () {
  "use strict";
  var body = document.body;
  var timeout = parseInt(body.dataset.idleTimeout || "0", 10);
  if (!timeout) { return; }
  var warning = parseInt(body.dataset.idleWarning || "60", 10);
  var dialog = document.getElementById("idle-dialog");
  var countdown = document.getElementById("idle-countdown");
  var deadline = Date.now() + timeout * 1000;
  var timer = null;

  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function signedOut() {
    window.location.href = body.dataset.loginUrl + "?next=" + encodeURIComponent(window.location.pathname);
  }
  function schedule(remaining) {
    deadline = Date.now() + remaining * 1000;
    clearTimeout(timer);
    timer = setTimeout(check, Math.max(1000, (remaining - warning) * 1000));
  }
  function tick() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    if (countdown) { countdown.textContent = left + " s"; }
    if (left <= 0) { check(); return; }
    if (dialog && dialog.open) { setTimeout(tick, 1000); }
  }
  function check() {
    // Another tab may have been active: ask the server before warning anyone.
    fetch(body.dataset.sessionStatusUrl, { credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (d) { return [r.status, d]; }); })
      .then(function (res) {
        var data = res[1];
        if (!data.authenticated) { signedOut(); return; }
        if (data.remaining > warning) { if (dialog && dialog.open) { dialog.close(); } schedule(data.remaining); return; }
        deadline = Date.now() + data.remaining * 1000;
        if (dialog && !dialog.open) { dialog.showModal(); document.getElementById("idle-stay").focus(); }
        tick();
        clearTimeout(timer);
        timer = setTimeout(check, Math.max(1000, data.remaining * 1000 + 500));
      })
      .catch(function () { clearTimeout(timer); timer = setTimeout(check, 5000); });
  }
  var stay = document.getElementById("idle-stay");
  if (stay) {
    stay.addEventListener("click", function () {
      fetch(body.dataset.keepaliveUrl, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() } })
        .then(function (r) { return r.json(); })
        .then(function (d) { if (!d.authenticated) { signedOut(); return; } if (dialog) { dialog.close(); } schedule(d.remaining); })
        .catch(function () { /* keep the dialog; the next check decides */ });
    });
  }
  document.body.addEventListener("htmx:afterRequest", function () { schedule(timeout); });
  schedule(timeout);

  // Per-user socket: the server closes it with 4401 when the session ends anywhere.
  var proto = window.location.protocol === "https:" ? "wss://" : "ws://";
  var backoff = 1000;
  var opened = false;
  // The nav's counts (hx-trigger "viop:badges from:body") load again.
  function refreshBadges() { document.body.dispatchEvent(new CustomEvent("viop:badges")); }
  function connect() {
    var ws;
    try { ws = new WebSocket(proto + window.location.host + "/ws/me/"); } catch (e) { return; }
    window.viopUserSocket = ws;
    var stable = null;  // the back-off restarts only once a socket has stayed up 10 s
    ws.addEventListener("open", function () {
      stable = setTimeout(function () { backoff = 1000; }, 10000);
      // Pushes sent while no socket was open (before the first, or between two) are lost:
      // pages catch up from the server (an open conversation asks for what came after the
      // last message it shows; the nav's counts reload after a reconnect).
      if (opened) { refreshBadges(); }
      opened = true;
      document.dispatchEvent(new CustomEvent("viop:user-socket-open"));
    });
    ws.addEventListener("message", function (ev) {
      var data; try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (data.badges) { refreshBadges(); }
      document.dispatchEvent(new CustomEvent("viop:user-event", { detail: data }));
    });
    ws.addEventListener("close", function (ev) {
      clearTimeout(stable);
      if (ev.code === 4401 || ev.code === 4403) { check(); return; }
      setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 30000);
    });
  }
  // Not for a staff session still setting up MFA: the server would refuse it (4403).
  if ("WebSocket" in window && body.dataset.userSocket === "1") { connect(); }
})();

/* Sign-out forgets the crisis plan saved on this device (crisis-sw.js): a shared computer
   must not keep it. (Not Clear-Site-Data "storage": it would also drop unsent message
   drafts.) Idle logoff is not a sign-out and keeps the copy: that is its purpose. */
(function () {
  "use strict";
  function forgetSavedPlan() {
    var jobs = [];
    if (navigator.serviceWorker) {
      jobs.push(navigator.serviceWorker.getRegistrations().then(function (regs) {
        return Promise.all(regs.map(function (r) { return r.unregister(); }));
      }));
    }
    if (window.caches) {
      jobs.push(caches.keys().then(function (keys) {
        return Promise.all(keys.filter(function (k) { return k.indexOf("crisis-plan") === 0; })
          .map(function (k) { return caches.delete(k); }));
      }));
    }
    return Promise.all(jobs);
  }
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.matches || !form.matches("form[data-signout]") || form.dataset.forgotten) { return; }
    ev.preventDefault();
    var go = function () { form.dataset.forgotten = "1"; form.submit(); };
    Promise.race([forgetSavedPlan(), new Promise(function (r) { setTimeout(r, 2000); })]).then(go, go);
  });
})();
