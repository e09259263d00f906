/* "Save my crisis plan to this device" on the crisis page, and the sign-in page's link to
   the saved copy (shown only when this device holds one). The worker is crisis-sw.js. */
(function () {
  "use strict";
  var box = document.getElementById("crisis-save");
  var link = document.querySelector(".saved-plan-link");
  if (!("serviceWorker" in navigator) || !window.caches) { return; }
  var scope = (box && box.dataset.scope) || "/crisis/";

  function ask(worker) {
    return new Promise(function (resolve) {
      var channel = new MessageChannel();
      channel.port1.onmessage = function (ev) { resolve(ev.data === "saved"); };
      worker.postMessage("save", [channel.port2]);
      setTimeout(function () { resolve(false); }, 10000);
    });
  }

  function activeWorker(reg) {
    if (reg.active) { return Promise.resolve(reg.active); }
    return new Promise(function (resolve) {
      var w = reg.installing || reg.waiting;
      w.addEventListener("statechange", function () { if (w.state === "activated") { resolve(w); } });
    });
  }

  navigator.serviceWorker.getRegistration(scope).then(function (reg) {
    if (link && reg) { link.hidden = false; }
    if (!box) { return; }
    var button = box.querySelector("button");
    var status = box.querySelector("[role=status]");
    box.hidden = false;
    function say(text, state) { status.textContent = text; status.dataset.state = state; }
    if (reg) {
      say(box.dataset.savedText, "saved");
      // Keep the copy current: every visit while signed in refreshes it.
      activeWorker(reg).then(ask);
    }
    button.addEventListener("click", function () {
      button.disabled = true;
      say(box.dataset.savingText, "saving");
      navigator.serviceWorker.register(box.dataset.worker, { scope: scope })
        .then(activeWorker)
        .then(ask)
        .then(function (ok) {
          say(ok ? box.dataset.savedText : box.dataset.failedText, ok ? "saved" : "failed");
        }, function () { say(box.dataset.failedText, "failed"); })
        .then(function () { button.disabled = false; });
    });
  });
})();
