/* Live group room client (protocol: docs/rooms-protocol.md). Vanilla JS, no library.
 *
 * Nothing is lost: every message carries a client id; unsent ones are kept and resent
 * (same id, so never duplicated) after a reconnect, once the catch-up ("sync" after the
 * last id seen) has filled any gap. Reconnects back off exponentially (1 s … 30 s).
 * Every message carries its room's seq (1, 2, 3 … with no holes): a message whose seq is
 * not the next, or a pong or welcome telling of a newer seq, means a broadcast was lost,
 * and the page asks for what it lacks ("sync" after the last message it holds with none
 * missing before it). Messages are shown in id order, each once.
 */
(function () {
  "use strict";
  var cfgEl = document.getElementById("room-config");
  if (!cfgEl) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var S = cfg.strings;
  var $ = function (id) { return document.getElementById(id); };
  var fmt = function (tpl, data) {
    return tpl.replace(/\{(\w+)\}/g, function (_, k) { return data[k] == null ? "" : String(data[k]); });
  };

  var ws = null;
  var attempt = 0;
  var reconnectTimer = null;
  var stableTimer = null;
  var STABLE_MS = 10000;
  var pingTimer = null;
  var finished = false;       // removed / ended / signed out: stop reconnecting
  var syncing = false;
  var initialLoad = false;
  var lastId = 0;             // newest message held with none missing before it (sync resumes here)
  var lastSeq = 0;            // that message's seq
  var ahead = new Map();      // seq -> id of messages held past a gap
  var knownSeq = 0;           // the newest seq the server has told of (welcome, pong)
  var presenceAt = "";        // when the newest presence list shown was read
  var lobbyAt = "";
  var filling = false;        // a "sync" for a gap is on its way
  var gapTimer = null;
  var earliestId = null;      // oldest id shown (scroll-back continues from here)
  var shown = new Map();      // id -> <li>
  var pending = new Map();    // client_id -> {body, li}
  var people = [];
  var readMarkers = new Map();
  var typingTimers = new Map();
  var lastTypingSent = 0;
  var lastReadSent = 0;
  var readTimer = null;
  var mutedUntil = null;
  var handRaised = false;

  var list = $("chat-list");
  var composer = $("composer");
  var bodyInput = $("composer-body");
  var errorEl = $("composer-error");
  var announcer = $("announcer");

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  function setState(state) {
    var badge = $("conn-state");
    badge.dataset.state = state;
    badge.textContent = S[state] || state;
  }

  function send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      frame.v = 1;
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function announce(text) {
    var p = document.createElement("p");
    p.textContent = text;
    announcer.appendChild(p);
    while (announcer.childNodes.length > 5) announcer.removeChild(announcer.firstChild);
  }

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function timeOf(iso) {
    try {
      // The viewer's profile zone and the 24-hour clock, as the page header and My week show.
      return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: cfg.tz || undefined });
    } catch (e) { return ""; }
  }

  function systemText(m) {
    var tpl = S[m.event] || m.event;
    return fmt(tpl, { name: m.subject ? m.subject.name : "" });
  }

  function renderMessage(m, li) {
    li = li || document.createElement("li");
    li.textContent = "";
    li.id = "m-" + m.id;
    li.dataset.id = m.id;
    if (m.kind === "system") {
      li.className = "chat-system";
      li.textContent = systemText(m);
      return li;
    }
    li.className = "chat-msg" + (m.author && m.author.id === cfg.me ? " mine" : "") + (m.deleted ? " deleted" : "");
    var head = document.createElement("p");
    head.className = "chat-meta";
    var who = document.createElement("strong");
    who.textContent = m.author ? m.author.name : "";
    head.appendChild(who);
    if (m.author && m.author.staff) {
      var badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = S.facilitator;
      head.appendChild(document.createTextNode(" "));
      head.appendChild(badge);
    }
    var time = document.createElement("time");
    time.dateTime = m.at;
    time.textContent = " " + timeOf(m.at);
    head.appendChild(time);
    li.appendChild(head);
    var body = document.createElement("p");
    body.className = "chat-body";
    body.textContent = m.deleted ? S.deleted : m.body;
    li.appendChild(body);
    if (cfg.facilitator && !m.deleted) {
      var del = document.createElement("button");
      del.type = "button";
      del.className = "link-button chat-delete";
      del.textContent = S.delete;
      del.setAttribute("aria-label", S.delete + ": " + (m.author ? m.author.name : "") + " " + timeOf(m.at));
      del.addEventListener("click", function () { send({ type: "delete", message_id: m.id }); });
      li.appendChild(del);
    }
    return li;
  }

  function insertInOrder(li, id) {
    // Messages arrive mostly in order; walk back from the end to find the place.
    var node = list.lastElementChild;
    while (node && (node.classList.contains("pending") || Number(node.dataset.id) > id)) {
      node = node.previousElementSibling;
    }
    if (node) node.after(li); else list.prepend(li);
  }

  // "Pat joined", "Robin joined" in the same minute read as one line: "Pat, Robin joined".
  // The later line stays in the list, hidden, so ids and catch-up are unchanged.
  function foldArrivals(li, m) {
    if (m.kind !== "system" || (m.event !== "joined" && m.event !== "left") || !m.subject) return;
    li.dataset.event = m.event;
    li.dataset.minute = (m.at || "").slice(0, 16);
    li.dataset.names = m.subject.name;
    var prev = li.previousElementSibling;
    while (prev && prev.hidden) prev = prev.previousElementSibling;
    if (!prev || prev.dataset.event !== m.event || prev.dataset.minute !== li.dataset.minute) return;
    prev.dataset.names += ", " + m.subject.name;
    prev.textContent = fmt(S[m.event], { name: prev.dataset.names });
    li.hidden = true;
  }

  function addMessage(m, opts) {
    opts = opts || {};
    if (shown.has(m.id)) {
      // Already there: only a tombstone can change it.
      if (m.deleted) renderMessage(m, shown.get(m.id));
      return;
    }
    var stick = nearBottom();
    var li;
    if (m.client_id && pending.has(m.client_id)) {
      li = pending.get(m.client_id).li;
      pending.delete(m.client_id);
      li.classList.remove("pending");
      li.remove();
    }
    li = renderMessage(m, li);
    insertInOrder(li, m.id);
    shown.set(m.id, li);
    foldArrivals(li, m);
    if (earliestId === null || m.id < earliestId) earliestId = m.id;
    noteSeq(m);
    if (opts.live && !(m.author && m.author.id === cfg.me)) {
      announce(m.kind === "system" ? systemText(m) : fmt(S.new_message, { name: m.author.name, body: m.body }));
    }
    if (stick || (m.author && m.author.id === cfg.me)) list.scrollTop = list.scrollHeight;
    scheduleRead();
  }

  // --- Gaps: a lost broadcast shows as a seq the page has not reached ------------------------

  function advance() {
    ahead.forEach(function (id, seq) { if (seq <= lastSeq) ahead.delete(seq); });
    while (ahead.has(lastSeq + 1)) {
      lastSeq += 1;
      lastId = ahead.get(lastSeq);
      ahead.delete(lastSeq);
    }
  }

  function noteSeq(m) {
    if (m.seq == null || m.seq <= lastSeq) return;
    ahead.set(m.seq, m.id);
    advance();
  }

  function settle(messages) {
    // A sync or first page holds every message after the id it was asked from: none is
    // missing up to its last one.
    var top = messages[messages.length - 1];
    if (top && top.seq != null && top.seq > lastSeq) {
      lastSeq = top.seq;
      lastId = top.id;
    }
    advance();
  }

  function behind() { return ahead.size > 0 || knownSeq > lastSeq; }

  function checkGap() {
    // Wait a moment first: a broadcast may still be on its way (an ack can overtake one).
    if (gapTimer || !behind()) return;
    gapTimer = setTimeout(function () {
      gapTimer = null;
      if (!behind() || syncing || filling) return;  // filled, or a sync will check again
      filling = send({ type: "sync", after: lastId });
    }, 1500);
  }

  function tombstone(id) {
    var li = shown.get(id);
    if (!li || li.classList.contains("deleted")) return;
    li.classList.add("deleted");
    var body = li.querySelector(".chat-body");
    if (body) body.textContent = S.deleted;
    var del = li.querySelector(".chat-delete");
    if (del) del.remove();
  }

  function scheduleRead() {
    if (readTimer || !lastId) return;
    var wait = Math.max(0, 2000 - (Date.now() - lastReadSent));
    readTimer = setTimeout(function () {
      readTimer = null;
      if (document.visibilityState === "visible" && send({ type: "read", message_id: lastId })) {
        lastReadSent = Date.now();
      }
    }, wait);
  }

  function addPending(clientId, body) {
    var li = document.createElement("li");
    li.className = "chat-msg mine pending";
    var head = document.createElement("p");
    head.className = "chat-meta muted";
    head.textContent = S.not_sent;
    var p = document.createElement("p");
    p.className = "chat-body";
    p.textContent = body;
    li.appendChild(head);
    li.appendChild(p);
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
    pending.set(clientId, { body: body, li: li });
  }

  function flushPending() {
    pending.forEach(function (item, clientId) {
      send({ type: "send", client_id: clientId, body: item.body });
    });
  }

  // --- People, lobby, alerts -------------------------------------------------------------

  function button(label, onClick, cls) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = cls || "link-button";
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  function renderPeople() {
    var ul = $("people");
    ul.textContent = "";
    $("people-count").textContent = String(people.length);
    people.forEach(function (p) {
      var li = document.createElement("li");
      var name = document.createElement("span");
      name.textContent = p.name + (p.id === cfg.me ? " " + S.you : "");
      li.appendChild(name);
      var badges = [];
      if (p.facilitator) badges.push([S.facilitator, ""]);
      if (p.hand) badges.push([S.hand_raised, "ok"]);
      if (p.muted_until) badges.push([S.muted, "danger"]);
      if (cfg.facilitator && !p.facilitator) {
        var read = readMarkers.get(p.id) || 0;
        badges.push(read >= lastId ? [S.caught_up, "ok"] : [S.behind, ""]);
      }
      badges.forEach(function (b) {
        var s = document.createElement("span");
        s.className = "badge " + b[1];
        s.textContent = b[0];
        li.appendChild(document.createTextNode(" "));
        li.appendChild(s);
      });
      if (cfg.facilitator && !p.facilitator) {
        var controls = document.createElement("span");
        controls.className = "person-controls";
        if (p.muted_until) {
          controls.appendChild(button(S.unmute, function () { send({ type: "mute", user_id: p.id, minutes: 0 }); }));
        } else {
          controls.appendChild(button(S.mute, function () {
            var minutes = parseInt($("mute-minutes").value, 10) || 5;
            send({ type: "mute", user_id: p.id, minutes: Math.min(Math.max(minutes, 1), 120) });
          }));
        }
        controls.appendChild(button(S.remove, function () {
          if (window.confirm(fmt(S.confirm_remove, { name: p.name }))) send({ type: "remove", user_id: p.id });
        }));
        controls.querySelectorAll("button").forEach(function (b) {
          b.setAttribute("aria-label", b.textContent + " " + p.name);
        });
        li.appendChild(controls);
      }
      ul.appendChild(li);
    });
  }

  function renderLobby(waiting) {
    if (!cfg.facilitator) return;
    var ul = $("lobby");
    ul.textContent = "";
    $("lobby-count").textContent = String(waiting.length);
    $("admit-all").disabled = waiting.length === 0;
    if (!waiting.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = S.nobody_waiting;
      ul.appendChild(none);
    }
    waiting.forEach(function (p) {
      var li = document.createElement("li");
      var name = document.createElement("span");
      name.textContent = p.name + " ";
      li.appendChild(name);
      var b = button(S.admit, function () { send({ type: "admit", user_id: p.id }); }, "button secondary small");
      b.setAttribute("aria-label", S.admit + " " + p.name);
      li.appendChild(b);
      ul.appendChild(li);
    });
  }

  function addAlert(a) {
    $("alerts-card").hidden = false;
    var li = document.createElement("li");
    var text = document.createElement("p");
    text.textContent = fmt(S.risk, { name: a.user.name }) + " (“" + a.phrase + "”)";
    li.appendChild(text);
    var view = document.createElement("a");
    view.href = "#m-" + a.message_id;
    view.textContent = S.view_message;
    li.appendChild(view);
    if (a.flag_url) {
      li.appendChild(document.createTextNode(" · "));
      var flag = document.createElement("a");
      flag.href = a.flag_url;
      flag.target = "_blank";
      flag.rel = "noopener";
      flag.textContent = S.review_flag;
      li.appendChild(flag);
    }
    if (a.crisis_plan_url) {
      li.appendChild(document.createTextNode(" · "));
      var plan = document.createElement("a");
      plan.href = a.crisis_plan_url;
      plan.target = "_blank";
      plan.rel = "noopener";
      plan.textContent = S.crisis_plan;
      li.appendChild(plan);
    }
    $("alerts").prepend(li);
  }

  function setPinned(pinned) {
    $("pinned").hidden = !pinned;
    $("pinned-text").textContent = pinned ? pinned.text : "";
  }

  function setMuted(until) {
    mutedUntil = until ? new Date(until) : null;
    var muted = mutedUntil && mutedUntil > new Date();
    bodyInput.disabled = !!muted;
    $("send-button").disabled = !!muted;
    errorEl.textContent = muted ? fmt(S.muted_you, { time: timeOf(until) }) : "";
    if (muted) {
      setTimeout(function () { if (mutedUntil && mutedUntil <= new Date()) setMuted(null); },
        mutedUntil - new Date() + 500);
    }
  }

  function showTyping(user) {
    if (user.id === cfg.me) return;
    clearTimeout(typingTimers.get(user.id) && typingTimers.get(user.id).timer);
    var timer = setTimeout(function () { typingTimers.delete(user.id); renderTyping(); }, 4000);
    typingTimers.set(user.id, { name: user.name, timer: timer });
    renderTyping();
  }

  function clearTyping(userId) {
    var entry = typingTimers.get(userId);
    if (!entry) return;
    clearTimeout(entry.timer);
    typingTimers.delete(userId);
    renderTyping();
  }

  function renderTyping() {
    var names = [];
    typingTimers.forEach(function (v) { names.push(v.name); });
    var tpl = names.length > 1 ? S.typing_many : S.typing;
    $("typing").textContent = names.length ? fmt(tpl, { names: names.join(", ") }) : "";
  }

  function finish(text) {
    finished = true;
    clearInterval(pingTimer);
    $("room-main").hidden = true;
    $("lobby-wait").hidden = true;
    $("room-closed").hidden = false;
    $("room-closed-text").textContent = text;
    setState("offline");
    $("conn-state").textContent = text;
  }

  // --- Frames from the server -------------------------------------------------------------

  var handlers = {
    welcome: function (f) {
      $("live-notice").hidden = true;
      $("lobby-wait").hidden = true;
      $("room-main").hidden = false;
      people = f.presence;
      setPinned(f.pinned);
      setMuted(f.you.muted_until);
      setHand(!!f.you.hand);
      if (cfg.facilitator) {
        renderLobby(f.lobby || []);
        (f.read_markers || []).forEach(function (r) { readMarkers.set(r.user_id, r.message_id); });
        $("lock-toggle").checked = !!f.locked;
      }
      renderPeople();
      syncing = true;
      filling = false;
      if (f.seq > knownSeq) knownSeq = f.seq;
      if (lastId === 0 && shown.size === 0) {
        // First visit: the newest page; older pages on request ("Show earlier messages").
        initialLoad = true;
        send({ type: "history", before: 0, limit: 50 });
      } else {
        // Reconnect: everything after the last id seen, in order, then resend unsent ones.
        send({ type: "sync", after: lastId });
      }
    },
    waiting: function () {
      $("live-notice").hidden = true;
      $("room-main").hidden = true;
      $("lobby-wait").hidden = false;
    },
    messages: function (f) {
      f.messages.forEach(function (m) { addMessage(m); });
      (f.deleted || []).forEach(tombstone);
      settle(f.messages);
      if (f.more) { send({ type: "sync", after: lastId }); return; }
      filling = false;
      if (!ahead.size && knownSeq > lastSeq) knownSeq = lastSeq;  // the sync had them all
      if (syncing) {  // a reconnect's catch-up: now resend what was never acknowledged
        syncing = false;
        flushPending();
        list.scrollTop = list.scrollHeight;
      }
      renderPeople();
      checkGap();
    },
    history: function (f) {
      var before = list.scrollHeight;
      var top = list.scrollTop;
      f.messages.forEach(function (m) { addMessage(m); });
      $("load-earlier").hidden = !f.more;
      if (initialLoad) {
        initialLoad = false;
        if (f.messages.length) lastSeq = Math.max(lastSeq, f.messages[0].seq - 1);
        settle(f.messages);
        syncing = false;
        flushPending();
        list.scrollTop = list.scrollHeight;
        renderPeople();
        checkGap();
      } else {
        list.scrollTop = top + list.scrollHeight - before;  // keep the reader's place
      }
    },
    message: function (f) {
      if (f.message.author) clearTyping(f.message.author.id);
      if (syncing) { addMessage(f.message); return; }
      addMessage(f.message, { live: true });
      if (cfg.facilitator) renderPeople();
      checkGap();
    },
    ack: function (f) { addMessage(f.message, { live: true }); checkGap(); },
    deleted: function (f) { tombstone(f.message_id); },
    presence: function (f) {
      // Lists read under the room's lock carry when: a slower process's older list is dropped.
      if (f.at && f.at < presenceAt) return;
      presenceAt = f.at || presenceAt;
      people = f.people;
      renderPeople();
    },
    lobby: function (f) {
      if (f.at && f.at < lobbyAt) return;
      lobbyAt = f.at || lobbyAt;
      renderLobby(f.people);
    },
    typing: function (f) { showTyping(f.user); },
    read: function (f) { readMarkers.set(f.user_id, f.message_id); renderPeople(); },
    hand: function (f) {
      people.forEach(function (p) { if (p.id === f.user.id) p.hand = f.raised; });
      renderPeople();
      if (f.raised && f.user.id !== cfg.me) announce(fmt(S.raised_hand, { name: f.user.name }));
    },
    muted: function (f) {
      people.forEach(function (p) { if (p.id === f.user.id) p.muted_until = f.until; });
      renderPeople();
    },
    you_muted: function (f) {
      setMuted(f.until);
      if (!f.until) announce(S.unmuted_you);
    },
    locked: function (f) { if (cfg.facilitator) $("lock-toggle").checked = f.locked; },
    pinned: function (f) { setPinned(f.pinned); if (f.pinned) announce(f.pinned.text); },
    risk_alert: function (f) { addAlert(f); },
    removed: function () { finish(S.removed_you); },
    ended: function () { finish(S.room_closed); },
    pong: function (f) {
      // The room's newest seq: a message broadcast while this page heard nothing (Redis
      // down) is found here even when no later message shows the gap.
      if (f.seq > knownSeq) knownSeq = f.seq;
      checkGap();
    },
    error: function (f) {
      if (f.code === "live_unavailable") {  // Redis down: the socket closes (4503) and retries
        $("live-notice").textContent = f.message;
        $("live-notice").hidden = false;
        return;
      }
      if (f.ref && pending.has(f.ref) && f.code !== "rate_limited") {
        var item = pending.get(f.ref);
        item.li.remove();
        pending.delete(f.ref);
        if (!bodyInput.value) bodyInput.value = item.body;
      }
      if (f.code === "rate_limited" && f.ref && pending.has(f.ref)) {
        // Kept as "not sent yet" and tried again once the window has passed.
        var ref = f.ref;
        setTimeout(function () {
          var item = pending.get(ref);
          if (item) send({ type: "send", client_id: ref, body: item.body });
        }, 5000);
      }
      if (f.code === "muted") { setMuted(f.until); return; }
      errorEl.textContent = fmt(S.error, { message: f.message });
    },
  };

  // --- The socket ---------------------------------------------------------------------------

  function connect() {
    if (finished) return;
    clearTimeout(reconnectTimer);
    setState(attempt ? "reconnecting" : "connecting");
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + cfg.ws_path);
    ws.onopen = function () {
      // The back-off restarts only once a socket has stayed up: a server that accepts and
      // then closes at once (1011) is retried ever more slowly, not once a second.
      clearTimeout(stableTimer);
      stableTimer = setTimeout(function () { attempt = 0; }, STABLE_MS);
      setState("connected");
      clearInterval(pingTimer);
      pingTimer = setInterval(function () { send({ type: "ping" }); }, 25000);
    };
    ws.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      var h = handlers[frame.type];
      if (h) h(frame);
    };
    ws.onclose = function (ev) {
      clearInterval(pingTimer);
      clearTimeout(stableTimer);
      ws = null;
      if (finished) return;
      if (ev.code === 4403) { finish(S.removed_you); return; }
      if (ev.code === 4410) { finish(S.room_closed); return; }
      if (ev.code === 4401) { finished = true; window.location.reload(); return; }
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    attempt += 1;
    setState(navigator.onLine === false ? "offline" : "reconnecting");
    // Exponential back-off with jitter: 1, 2, 4, 8, 16, 30, 30 … seconds.
    var delay = Math.min(30000, 1000 * Math.pow(2, attempt - 1)) * (0.75 + Math.random() * 0.5);
    reconnectTimer = setTimeout(connect, delay);
  }

  var peopleCard = $("people-card");
  if (peopleCard && window.matchMedia && window.matchMedia("(min-width: 56rem)").matches) {
    peopleCard.open = true;
  }

  window.addEventListener("online", function () {
    if (finished) return;
    if (!ws) { attempt = Math.max(attempt - 1, 0); connect(); return; }
    // The socket survived the outage: say so, and ping so a dead one is found out soon.
    if (ws.readyState === WebSocket.OPEN) { setState("connected"); send({ type: "ping" }); }
  });
  window.addEventListener("offline", function () { if (!finished) setState("offline"); });
  document.addEventListener("visibilitychange", scheduleRead);

  // --- User input ---------------------------------------------------------------------------

  function submit() {
    var body = bodyInput.value.trim();
    if (!body) return;
    errorEl.textContent = "";
    var clientId = newClientId();
    addPending(clientId, body);
    bodyInput.value = "";
    if (!syncing) send({ type: "send", client_id: clientId, body: body });
    bodyInput.focus();
  }

  composer.addEventListener("submit", function (ev) { ev.preventDefault(); submit(); });
  bodyInput.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); submit(); }
  });
  bodyInput.addEventListener("input", function () {
    if (Date.now() - lastTypingSent > 2500 && bodyInput.value) {
      if (send({ type: "typing" })) lastTypingSent = Date.now();
    }
  });
  $("load-earlier").addEventListener("click", function () {
    if (earliestId) send({ type: "history", before: earliestId, limit: 50 });
  });
  var hand = $("hand-button");
  function setHand(raised) {
    handRaised = raised;
    if (!hand) return;
    hand.setAttribute("aria-pressed", String(raised));
    hand.textContent = raised ? S.lower_hand : S.raise_hand;
  }
  if (hand) {
    hand.addEventListener("click", function () {
      if (send({ type: "hand", raised: !handRaised })) setHand(!handRaised);
    });
  }
  if (cfg.facilitator) {
    $("admit-all").addEventListener("click", function () { send({ type: "admit_all" }); });
    $("lock-toggle").addEventListener("change", function (ev) { send({ type: "lock", locked: ev.target.checked }); });
    $("pin-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = $("pin-body").value.trim();
      if (text) { send({ type: "pin", body: text }); $("pin-body").value = ""; }
    });
    $("unpin").addEventListener("click", function () { send({ type: "pin", body: "" }); });
    var dialog = $("end-dialog");
    $("end-session").addEventListener("click", function () { dialog.showModal(); });
    $("end-cancel").addEventListener("click", function () { dialog.close(); });
    $("end-confirm").addEventListener("click", function () { dialog.close(); send({ type: "end" }); });
  }

  connect();
})();
