/* The crisis plan's offline copy (issue 29, item 21). Registered only when the patient asks
   ("Save my crisis plan to this device"); scope /crisis/. It keeps one response, the
   self-contained page /crisis/saved/, and serves it for /crisis/ and /crisis/saved/ when
   the network is gone or the session has ended (the server redirects to sign-in), so the
   plan opens without a password. It touches no other request. Sign-out unregisters it and
   deletes the cache (app.js, on every sign-out form). */
"use strict";
var CACHE = "crisis-plan-v1";
var SCOPE = new URL(self.registration.scope).pathname;   // "/crisis/"
var PAGE = SCOPE + "saved/";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function save() {
  return fetch(PAGE, { credentials: "same-origin", redirect: "manual", cache: "no-store" })
    .then(function (response) {
      if (response.status !== 200 || response.type !== "basic") { return false; }
      return caches.open(CACHE).then(function (cache) { return cache.put(PAGE, response); })
        .then(function () { return true; });
    })
    .catch(function () { return false; });
}

self.addEventListener("message", function (event) {
  if (event.data !== "save") { return; }
  var port = event.ports && event.ports[0];
  event.waitUntil(save().then(function (ok) { if (port) { port.postMessage(ok ? "saved" : "failed"); } }));
});

function savedCopy() {
  return caches.open(CACHE).then(function (cache) { return cache.match(PAGE); });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET" || request.mode !== "navigate") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || (url.pathname !== SCOPE && url.pathname !== PAGE)) { return; }
  event.respondWith(
    fetch(request).then(function (response) {
      // Signed out (idle logoff): the server sends the sign-in page's redirect.
      if (response.type === "opaqueredirect" || response.status >= 500) {
        return savedCopy().then(function (copy) { return copy || response; });
      }
      if (url.pathname === PAGE && response.status === 200) {
        var fresh = response.clone();
        event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.put(PAGE, fresh); }));
      }
      return response;
    }, function (error) {
      return savedCopy().then(function (copy) { if (copy) { return copy; } throw error; });
    })
  );
});
