/* Video for group rooms and visits: a green room, then Janus VideoRoom (janus.js).
 * Django decides everything (join answers with a token, or "waiting"); this file only shows
 * it. Names: Janus knows opaque displays, the state poll maps them to first names. */
(function () {
  'use strict';
  const cfgEl = document.getElementById('video-config');
  if (!cfgEl) return;
  const cfg = JSON.parse(cfgEl.textContent);
  const S = cfg.strings;
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 4000;
  const STATS_MS = 2000;

  function t(key, vars) {
    let s = S[key] || key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split('{' + k + '}').join(v);
    return s;
  }
  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    const hx = document.body.getAttribute('hx-headers');
    try { return JSON.parse(hx)['X-CSRFToken']; } catch (e) { return ''; }
  }
  async function post(url, data) {
    try {
      const r = await fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-CSRFToken': csrf() },
        body: new URLSearchParams(data || {}),
      });
      let body = {};
      try { body = await r.json(); } catch (e) { /* a proxy's error page */ }
      return { ok: r.ok, status: r.status, body };
    } catch (e) {
      return { ok: false, status: 0, body: { code: 'offline' } };
    }
  }
  function notice(text, kind) {
    const el = $('video-notice');
    el.textContent = text;
    el.className = 'message message-' + (kind || 'info');
    el.hidden = !text;
  }
  function showError(el, text) { el.textContent = text; el.hidden = !text; }

  // --- Green room -----------------------------------------------------------------------
  let preview = null;
  let meterCtx = null;
  let meterFrame = 0;
  const previewEl = $('preview');

  function joinMode() {
    const el = document.querySelector('input[name="join-mode"]:checked');
    return el ? el.value : 'video';
  }

  function stopPreview() {
    if (meterFrame) cancelAnimationFrame(meterFrame);
    meterFrame = 0;
    if (meterCtx) { meterCtx.close().catch(() => {}); meterCtx = null; }
    if (preview) preview.getTracks().forEach((tr) => tr.stop());
    preview = null;
  }

  function deviceMessage(err) {
    const name = err && err.name;
    if (name === 'NotAllowedError' || name === 'SecurityError') return S.denied;
    if (name === 'NotFoundError' || name === 'OverconstrainedError') return S.no_device;
    if (name === 'NotReadableError' || name === 'AbortError') return S.device_busy;
    return S.no_device;
  }

  async function startPreview() {
    stopPreview();
    showError($('device-error'), '');
    const mode = joinMode();
    const mic = $('mic-select').value;
    const cam = $('cam-select').value;
    const audio = mic ? { deviceId: { exact: mic } } : true;
    const video = mode === 'audio' ? false
      : Object.assign({ width: { ideal: 640 }, height: { ideal: 360 } }, cam ? { deviceId: { exact: cam } } : {});
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showError($('device-error'), S.no_device);
      return;
    }
    try {
      preview = await navigator.mediaDevices.getUserMedia({ audio, video });
    } catch (err) {
      // No camera (or a blocked one): try the microphone alone before giving up.
      if (video && err.name !== 'NotAllowedError') {
        try { preview = await navigator.mediaDevices.getUserMedia({ audio, video: false }); } catch (e) { preview = null; }
      }
      if (!preview) { showError($('device-error'), deviceMessage(err)); return; }
      showError($('device-error'), deviceMessage(err));
    }
    const hasVideo = preview.getVideoTracks().length > 0 && mode === 'video';
    previewEl.srcObject = preview;
    previewEl.hidden = !hasVideo;
    $('preview-off').hidden = hasVideo;
    meter(preview);
    listDevices();
  }

  function meter(stream) {
    const track = stream.getAudioTracks()[0];
    const el = $('mic-level');
    if (!track || !window.AudioContext) return;
    meterCtx = new AudioContext();
    const src = meterCtx.createMediaStreamSource(new MediaStream([track]));
    const analyser = meterCtx.createAnalyser();
    analyser.fftSize = 512;
    src.connect(analyser);
    const data = new Uint8Array(analyser.fftSize);
    const tick = () => {
      analyser.getByteTimeDomainData(data);
      let peak = 0;
      for (const v of data) peak = Math.max(peak, Math.abs(v - 128) / 128);
      el.value = Math.min(1, peak * 1.5);
      el.textContent = el.value.toFixed(2);
      meterFrame = requestAnimationFrame(tick);
    };
    tick();
  }

  async function listDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    for (const [kind, sel] of [['audioinput', $('mic-select')], ['videoinput', $('cam-select')]]) {
      const current = sel.value || (preview && (kind === 'audioinput' ? preview.getAudioTracks() : preview.getVideoTracks())[0]?.getSettings().deviceId) || '';
      sel.textContent = '';
      devices.filter((d) => d.kind === kind).forEach((d, i) => {
        const o = document.createElement('option');
        o.value = d.deviceId;
        o.textContent = d.label || (kind === 'audioinput' ? 'Microphone ' : 'Camera ') + (i + 1);
        sel.appendChild(o);
      });
      if (current) sel.value = current;
    }
  }

  // --- In the room ----------------------------------------------------------------------
  let creds = null;
  let janus = null;
  let pub = null;
  let sub = null;
  let subReady = false;
  let subQueue = [];
  let joined = false;
  let published = false;
  const feeds = {};      // feed id -> {display, mids: Set}
  const midInfo = {};    // subscriber mid -> {feed, type}
  const tiles = {};      // tile key -> {li, video, stream}
  let roster = {};       // display -> {name, host, user_id, ...}
  let me = { audio_locked: false, video_locked: false, may_share: false };
  let micMuted = false;
  let camOff = false;
  let sharing = false;
  let screenMid = null;
  let pollTimer = 0;
  let statsTimer = 0;
  let joinTimer = 0;
  let poorRuns = 0;
  let goodRuns = 0;
  let degrade = 0;  // 0 full, 1 lower video, 2 audio only
  let restartTimer = 0;

  function janusServer() {
    if (creds.server) return creds.server;
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/janus/';
  }

  async function requestJoin() {
    clearTimeout(joinTimer);
    const button = $('join-button');
    button.disabled = true;
    button.textContent = S.joining;
    showError($('join-error'), '');
    const data = {};
    if (cfg.ask_location) {
      const loc = document.querySelector('input[name="location"]:checked');
      data.location = loc ? loc.value : '';
      data.place = $('location-place').value;
    }
    const r = await post(cfg.urls.join, data);
    button.disabled = false;
    button.textContent = S.join;
    if (!r.ok) {
      const code = r.body.code;
      if ((code === 'rate' || r.status === 0) && !$('video-waiting').hidden) {
        joinTimer = setTimeout(requestJoin, 10000);  // still waiting: ask again, slower
        return;
      }
      if (code === 'removed' || code === 'closed' || code === 'locked') return finish(r.body.error || S.ended);
      showError($('join-error'), r.body.error || S.unavailable);
      if (code === 'location') (document.querySelector('input[name="location"]') || $('location-place')).focus();
      return;
    }
    if (r.body.status === 'waiting') {
      $('green-room').hidden = true;
      $('video-waiting').hidden = false;
      joinTimer = setTimeout(requestJoin, 3000);
      return;
    }
    creds = r.body;
    applyMe(creds, true);
    $('video-waiting').hidden = true;
    $('green-room').hidden = true;
    $('stage').hidden = false;
    $('video-left').hidden = true;
    startJanus();
  }

  function startJanus() {
    Janus.init({
      debug: false,
      dependencies: Janus.useDefaultDependencies(),
      callback: () => {
        janus = new Janus({
          server: janusServer(),
          token: creds.token,
          iceServers: creds.ice_servers,
          iceTransportPolicy: creds.relay_only ? 'relay' : undefined,
          success: attachPublisher,
          error: (err) => {
            if (!joined) notice(S.unavailable, 'warning');
            else reconnect();
          },
          destroyed: () => {},
        });
      },
    });
  }

  function reconnect() {
    if (!joined) return;
    notice(S.reconnecting, 'warning');
    teardown(false);
    setTimeout(requestJoin, 2000);
  }

  function attachPublisher() {
    janus.attach({
      plugin: 'janus.plugin.videoroom',
      opaqueId: creds.display,
      success: (handle) => {
        pub = handle;
        pub.send({ message: {
          request: 'join', ptype: 'publisher', room: creds.room, pin: creds.pin,
          id: creds.feed, display: creds.display, token: creds.acl,
        } });
      },
      error: () => notice(S.unavailable, 'warning'),
      iceState: (state) => watchIce(state),
      onmessage: (msg, jsep) => {
        const ev = msg.videoroom;
        if (ev === 'joined') {
          joined = true;
          notice('');
          publishOwn();
          addPublishers(msg.publishers || []);
          startPolling();
        } else if (ev === 'destroyed') {
          finish(S.ended);
        } else if (ev === 'event') {
          if (msg.publishers) addPublishers(msg.publishers);
          const gone = msg.unpublished || msg.leaving || msg.kicked;
          if (gone === 'ok' && msg.reason === 'kicked') return finish(S.removed);
          if (gone && gone !== 'ok') removeFeed(gone);
          if (msg.error_code) notice(t('error', { message: msg.error }), 'warning');
        }
        if (jsep) pub.handleRemoteJsep({ jsep });
      },
      onlocaltrack: (track, on) => {
        if (track.kind !== 'video') return;
        const tile = ensureTile('self', S.you, true);
        setTrack(tile, track, on);
      },
      onremotetrack: () => {},
      oncleanup: () => { published = false; },
    });
  }

  function publishOwn() {
    const mode = joinMode();
    const tracks = [];
    const audio = preview && preview.getAudioTracks()[0];
    const video = preview && mode !== 'audio' && preview.getVideoTracks()[0];
    // The microphone first, then the camera: Django's locks name these mids (0, 1).
    if (audio) tracks.push({ type: 'audio', capture: audio, recv: false });
    if (video) tracks.push({ type: 'video', capture: video, recv: false });
    if (!tracks.length) return;
    pub.createOffer({
      tracks,
      success: (jsep) => {
        pub.send({ message: { request: 'publish', audio: !!audio, video: !!video }, jsep });
        published = true;
        if (mode === 'camera-off' || me.video_locked) setCamera(true);
        if (me.audio_locked) setMic(true);
        $('btn-cam').hidden = !video;
      },
      error: () => notice(S.unavailable, 'warning'),
    });
  }

  function addPublishers(list) {
    const streams = [];
    for (const p of list) {
      if (p.id === creds.feed) continue;
      const feed = feeds[p.id] || (feeds[p.id] = { display: p.display, mids: new Set() });
      for (const s of p.streams || []) {
        if (s.disabled) {  // stopped (a shared screen): its tile goes; it may come back
          feed.mids.delete(s.mid);
          for (const [mid, info] of Object.entries(midInfo)) {
            if (info.feed === p.id && info.feedMid === s.mid) dropScreen(mid);
          }
          continue;
        }
        if (feed.mids.has(s.mid)) continue;
        feed.mids.add(s.mid);
        streams.push({ feed: p.id, mid: s.mid });
      }
      ensureTile(p.display, nameOf(p.display), false);
    }
    if (!streams.length) return;
    if (!sub) return createSubscriber(streams);
    if (!subReady) { subQueue.push(...streams); return; }
    sub.send({ message: { request: 'subscribe', streams } });
  }

  function removeFeed(id) {
    const feed = feeds[id];
    if (!feed) return;
    delete feeds[id];
    for (const key of Object.keys(tiles)) {
      if (key === feed.display || key.startsWith(feed.display + ':')) { tiles[key].li.remove(); delete tiles[key]; }
    }
    for (const [mid, info] of Object.entries(midInfo)) if (info.feed === id) delete midInfo[mid];
    if (sub && subReady) sub.send({ message: { request: 'unsubscribe', streams: [{ feed: id }] } });
  }

  function createSubscriber(streams) {
    janus.attach({
      plugin: 'janus.plugin.videoroom',
      opaqueId: creds.display,
      success: (handle) => {
        sub = handle;
        sub.send({ message: {
          request: 'join', ptype: 'subscriber', room: creds.room, pin: creds.pin,
          streams, token: creds.acl,
        } });
      },
      error: () => notice(S.unavailable, 'warning'),
      iceState: (state) => watchIce(state),
      onmessage: (msg, jsep) => {
        if (msg.streams) mapStreams(msg.streams);
        if (msg.videoroom === 'attached' && !subReady) {
          subReady = true;
          if (subQueue.length) { sub.send({ message: { request: 'subscribe', streams: subQueue } }); subQueue = []; }
        }
        if (jsep) {
          sub.createAnswer({
            jsep,
            tracks: [],
            success: (answer) => sub.send({ message: { request: 'start', room: creds.room }, jsep: answer }),
            error: () => notice(S.unavailable, 'warning'),
          });
        }
      },
      onremotetrack: (track, mid, on) => {
        const info = midInfo[mid];
        if (!info) return;
        const feed = feeds[info.feed];
        if (!feed) return;
        const key = info.screen ? feed.display + ':' + mid : feed.display;
        if (info.screen && !on) {  // sharing stopped: the wide tile goes
          if (tiles[key]) { tiles[key].li.remove(); delete tiles[key]; }
          return;
        }
        const tile = ensureTile(key, nameOf(feed.display), false, info.screen);
        setTrack(tile, track, on);
      },
      oncleanup: () => {},
    });
  }

  function mapStreams(streams) {
    const seen = {};
    for (const s of streams) {
      if (s.feed_id !== undefined && !s.active) dropScreen(s.mid);
      if (s.feed_id === undefined || !s.active) continue;
      // A feed's second video stream is a shared screen.
      const n = (seen[s.feed_id] = seen[s.feed_id] || { video: 0 });
      const screen = s.type === 'video' && n.video++ > 0;
      midInfo[s.mid] = { feed: s.feed_id, feedMid: s.feed_mid, type: s.type, screen };
      if (!feeds[s.feed_id]) feeds[s.feed_id] = { display: s.feed_display, mids: new Set([s.feed_mid]) };
    }
  }

  function dropScreen(mid) {
    const info = midInfo[mid];
    if (!info || !info.screen || !feeds[info.feed]) return;
    const key = feeds[info.feed].display + ':' + mid;
    if (tiles[key]) { tiles[key].li.remove(); delete tiles[key]; }
  }

  // --- Tiles ------------------------------------------------------------------------------
  function nameOf(display) {
    return (roster[display] && roster[display].name) || S.someone;
  }

  function ensureTile(key, name, self, screen) {
    if (tiles[key]) return tiles[key];
    const li = document.createElement('li');
    li.className = 'tile' + (self ? ' tile-self' : '') + (screen ? ' tile-screen' : '');
    li.dataset.key = key;
    li.setAttribute('aria-label', screen ? name + ' — ' + S.share : name);
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    if (self) video.muted = true;
    const label = document.createElement('p');
    label.className = 'tile-name';
    const nameEl = document.createElement('span');
    nameEl.className = 'tile-label';
    nameEl.textContent = screen ? name + ' — ' + S.share : name;
    const state = document.createElement('span');
    state.className = 'tile-state';
    label.append(nameEl, ' ', state);
    li.append(video, label);
    if (cfg.host && !self && !screen) {
      const controls = document.createElement('div');
      controls.className = 'tile-controls';
      li.append(controls);
    }
    $('gallery').appendChild(li);
    const tile = { li, video, stream: new MediaStream(), nameEl, state, self, screen, key };
    video.srcObject = tile.stream;
    tiles[key] = tile;
    renderTile(tile);
    return tile;
  }

  function setTrack(tile, track, on) {
    for (const old of tile.stream.getTracks()) {
      if (old.kind === track.kind && (old.id !== track.id || !on)) tile.stream.removeTrack(old);
    }
    if (on && !tile.stream.getTracks().includes(track)) tile.stream.addTrack(track);
    tile.video.srcObject = tile.stream;
    const p = tile.video.play();
    if (p && p.catch) p.catch(() => {});
  }

  function renderTile(tile) {
    if (tile.self || tile.screen) return;
    const entry = roster[tile.key];
    if (!entry) return;
    tile.nameEl.textContent = entry.name + (entry.host ? ' · ' + (cfg.kind === 'visit' ? S.clinician : S.facilitator) : '');
    const bits = [];
    if (entry.audio_locked) bits.push(S.muted);
    if (cfg.host && entry.location) {
      bits.push(entry.location === S.location_home ? entry.location : t('location_elsewhere', { place: entry.place }));
      if (entry.pos) bits.push(t('pos', { code: entry.pos }));
    }
    tile.state.textContent = bits.join(' · ');
    const controls = tile.li.querySelector('.tile-controls');
    if (!controls || entry.host) return;
    controls.textContent = '';
    const add = (label, action, danger) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'button small ' + (danger ? 'danger' : 'secondary');
      // Short on the tile; the full sentence (with the name) for screen readers.
      b.textContent = S[label + '_short'];
      b.setAttribute('aria-label', t(label, { name: entry.name }));
      b.addEventListener('click', () => hostAction(action, entry));
      controls.appendChild(b);
    };
    add(entry.audio_locked ? 'host_release_mute' : 'host_mute', entry.audio_locked ? 'release_mute' : 'mute');
    add(entry.video_locked ? 'host_release_video' : 'host_stop_video', entry.video_locked ? 'release_video' : 'stop_video');
    add('host_remove', 'remove', true);
  }

  async function hostAction(action, entry) {
    if (action === 'remove' && !window.confirm(t('confirm_remove', { name: entry ? entry.name : '' }))) return;
    if (action === 'end' && !window.confirm(S.confirm_end)) return;
    const r = await post(cfg.urls.moderate, {
      action,
      user_id: entry && entry.user_id ? entry.user_id : '',
      seat_id: entry && entry.seat_id ? entry.seat_id : '',
    });
    if (!r.ok) notice(t('error', { message: r.body.error || r.status }), 'warning');
    poll();
  }

  // --- Self controls ----------------------------------------------------------------------
  function setMic(muted) {
    micMuted = muted;
    if (pub) (muted ? pub.muteAudio() : pub.unmuteAudio());
    const b = $('btn-mic');
    b.textContent = muted ? S.unmute : S.mute;
    b.setAttribute('aria-pressed', String(muted));
    b.disabled = me.audio_locked;
  }
  function setCamera(off) {
    camOff = off;
    if (pub) (off ? pub.muteVideo() : pub.unmuteVideo());
    const b = $('btn-cam');
    b.textContent = off ? S.camera_on : S.camera_off;
    b.setAttribute('aria-pressed', String(off));
    b.disabled = me.video_locked;
  }

  async function toggleShare() {
    if (!pub) return;
    if (sharing) {
      pub.createOffer({
        // By mid: without one janus.js would remove the first video track, the camera.
        tracks: [{ type: 'screen', mid: screenMid, remove: true }],
        success: (jsep) => pub.send({ message: { request: 'configure' }, jsep }),
      });
      setSharing(false);
      return;
    }
    pub.createOffer({
      tracks: [{ type: 'screen', capture: true, recv: false, add: true }],
      success: (jsep) => {
        pub.send({ message: { request: 'configure' }, jsep });
        const camera = preview && preview.getVideoTracks()[0];
        const screen = pub.webrtcStuff.pc.getTransceivers().find(
          (t) => t.sender.track && t.sender.track.kind === 'video' && t.sender.track !== camera);
        screenMid = screen ? screen.mid : null;
        // The browser's own "Stop sharing" bar ends the track: stop here too.
        if (screen) screen.sender.track.addEventListener('ended', () => { if (sharing) toggleShare(); });
        setSharing(true);
      },
      error: () => setSharing(false),
    });
  }
  function setSharing(on) {
    sharing = on;
    const b = $('btn-share');
    b.textContent = on ? S.stop_share : S.share;
    b.setAttribute('aria-pressed', String(on));
  }

  function applyMe(state, first) {
    const was = me;
    me = { audio_locked: !!state.audio_locked, video_locked: !!state.video_locked, may_share: !!state.may_share };
    if (me.audio_locked && (first || !was.audio_locked)) { setMic(true); if (!first) notice(S.muted_by_host, 'warning'); }
    if (!me.audio_locked && was.audio_locked && !first) notice(S.mute_released, 'info');
    if (me.video_locked && (first || !was.video_locked)) { setCamera(true); if (!first) notice(S.video_stopped_by_host, 'warning'); }
    $('btn-mic').disabled = me.audio_locked;
    $('btn-cam').disabled = me.video_locked;
    $('btn-share').hidden = !me.may_share || !navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia;
    if (!me.may_share && sharing) toggleShare();
  }

  // --- State poll: names, locks, removal, the end -----------------------------------------
  function startPolling() {
    clearInterval(pollTimer);
    poll();
    pollTimer = setInterval(poll, POLL_MS);
    clearInterval(statsTimer);
    statsTimer = setInterval(stats, STATS_MS);
  }

  async function poll() {
    const r = await post(cfg.urls.state, { media: joined && published ? '1' : '0' });
    if (!r.ok) return;
    const s = r.body;
    if (s.seat === 'removed') return finish(S.removed);
    if (s.ended) return finish(S.ended);
    roster = s.roster || {};
    applyMe(s, false);
    // Someone Django no longer seats (removed) leaves every gallery even if Janus was slow.
    for (const [id, feed] of Object.entries(feeds)) if (!roster[feed.display]) removeFeed(Number(id));
    for (const tile of Object.values(tiles)) {
      if (!tile.self && !tile.screen) {
        tile.nameEl.textContent = nameOf(tile.key);
        tile.li.setAttribute('aria-label', nameOf(tile.key));
      }
      renderTile(tile);
    }
    const toggle = $('share-toggle');
    if (toggle) toggle.checked = !!s.members_may_share;
    const lock = $('video-lock');
    if (lock) {
      lock.dataset.action = s.locked ? 'unlock' : 'lock';
      lock.textContent = s.locked ? S.unlock : S.lock;
      lock.setAttribute('aria-pressed', String(!!s.locked));
    }
    if (cfg.host && s.waiting) renderWaiting(s.waiting);
  }

  function renderWaiting(list) {
    const ul = $('video-lobby');
    if (!ul) return;
    ul.textContent = '';
    if (!list.length) {
      const li = document.createElement('li');
      li.className = 'muted';
      li.textContent = S.nobody_waiting;
      ul.appendChild(li);
    }
    for (const w of list) {
      const li = document.createElement('li');
      const where = w.location ? ' (' + (w.place ? t('location_elsewhere', { place: w.place }) : w.location) + ')' : '';
      li.append(w.name + where + ' ');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'button small';
      b.textContent = S.admit;
      b.addEventListener('click', () => hostAction('admit', w));
      li.appendChild(b);
      ul.appendChild(li);
    }
    const all = $('video-admit-all');
    if (all) all.disabled = !list.length;
  }

  // --- Connection quality, the active speaker, fallback and ICE restarts ------------------
  async function stats() {
    if (!pub || !pub.webrtcStuff || !pub.webrtcStuff.pc) return;
    let rtt = 0;
    let lost = 0;
    const report = await pub.webrtcStuff.pc.getStats();
    report.forEach((r) => {
      if (r.type === 'candidate-pair' && r.nominated && r.currentRoundTripTime) rtt = Math.max(rtt, r.currentRoundTripTime);
      if (r.type === 'remote-inbound-rtp' && typeof r.fractionLost === 'number') lost = Math.max(lost, r.fractionLost);
    });
    const quality = rtt > 0.5 || lost > 0.1 ? 'poor' : rtt > 0.25 || lost > 0.03 ? 'fair' : 'good';
    const q = $('quality');
    if (q.dataset.quality !== quality) { q.dataset.quality = quality; q.textContent = S['quality_' + quality]; }
    adapt(quality);
    speaker();
  }

  function adapt(quality) {
    if (quality === 'poor') { poorRuns += 1; goodRuns = 0; } else if (quality === 'good') { goodRuns += 1; poorRuns = 0; }
    if (poorRuns >= 3 && degrade < 2) {
      degrade += 1;
      poorRuns = 0;
      setVideoLimit(degrade);
      notice(degrade === 1 ? S.lower_video : S.audio_only, 'warning');
    } else if (goodRuns >= 10 && degrade > 0) {
      degrade = 0;
      goodRuns = 0;
      setVideoLimit(0);
      notice(S.restored, 'info');
    }
  }

  function setVideoLimit(level) {
    const pc = pub && pub.webrtcStuff && pub.webrtcStuff.pc;
    if (!pc) return;
    for (const sender of pc.getSenders()) {
      if (!sender.track || sender.track.kind !== 'video') continue;
      const params = sender.getParameters();
      if (!params.encodings || !params.encodings.length) params.encodings = [{}];
      params.encodings[0].maxBitrate = level === 1 ? 150000 : undefined;
      params.encodings[0].scaleResolutionDownBy = level === 1 ? 2 : 1;
      params.encodings[0].active = level < 2;
      sender.setParameters(params).catch(() => {});
    }
  }

  async function speaker() {
    const pc = sub && sub.webrtcStuff && sub.webrtcStuff.pc;
    if (!pc) return;
    let best = null;
    let level = 0.02;
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio' && (r.audioLevel || 0) > level) {
        level = r.audioLevel;
        best = midInfo[r.mid];
      }
    });
    const key = best && feeds[best.feed] ? feeds[best.feed].display : null;
    for (const tile of Object.values(tiles)) tile.li.classList.toggle('speaking', tile.key === key);
  }

  function watchIce(state) {
    if (state === 'connected' || state === 'completed') { clearTimeout(restartTimer); restartTimer = 0; return; }
    if ((state === 'disconnected' || state === 'failed') && !restartTimer) {
      restartTimer = setTimeout(iceRestart, state === 'failed' ? 0 : 3000);
    }
  }

  function iceRestart() {
    restartTimer = 0;
    if (!joined) return;
    notice(S.reconnecting, 'warning');
    if (pub && published) {
      pub.createOffer({
        iceRestart: true,
        success: (jsep) => pub.send({ message: { request: 'configure' }, jsep }),
      });
    }
    if (sub && subReady) sub.send({ message: { request: 'configure', restart: true } });
  }

  // --- Leaving ----------------------------------------------------------------------------
  function teardown(sayLeft) {
    clearInterval(pollTimer);
    clearInterval(statsTimer);
    clearTimeout(joinTimer);
    if (sayLeft !== false && joined) post(cfg.urls.leave, {});
    joined = false;
    published = false;
    subReady = false;
    subQueue = [];
    if (janus) { try { janus.destroy({ cleanupHandles: true }); } catch (e) { /* already gone */ } }
    janus = pub = sub = null;
    for (const key of Object.keys(feeds)) delete feeds[key];
    for (const key of Object.keys(midInfo)) delete midInfo[key];
    for (const key of Object.keys(tiles)) { tiles[key].li.remove(); delete tiles[key]; }
  }

  function finish(text) {
    teardown();
    stopPreview();
    $('stage').hidden = true;
    $('green-room').hidden = true;
    $('video-waiting').hidden = true;
    $('video-left').hidden = false;
    $('video-left-text').textContent = text;
    $('btn-rejoin').hidden = text !== S.left;
    notice('');
  }

  // --- Wiring -----------------------------------------------------------------------------
  $('green-form').addEventListener('submit', (e) => { e.preventDefault(); requestJoin(); });
  for (const el of document.querySelectorAll('input[name="join-mode"]')) el.addEventListener('change', startPreview);
  $('mic-select').addEventListener('change', startPreview);
  $('cam-select').addEventListener('change', startPreview);
  for (const el of document.querySelectorAll('input[name="location"]')) {
    el.addEventListener('change', () => { $('place-row').hidden = el.value !== 'elsewhere' || !el.checked; });
  }
  $('btn-mic').addEventListener('click', () => setMic(!micMuted));
  $('btn-cam').addEventListener('click', () => setCamera(!camOff));
  $('btn-share').addEventListener('click', toggleShare);
  $('btn-leave').addEventListener('click', () => finish(S.left));
  $('btn-rejoin').addEventListener('click', () => {
    $('video-left').hidden = true;
    $('green-room').hidden = false;
    startPreview();
  });
  const shareToggle = $('share-toggle');
  if (shareToggle) shareToggle.addEventListener('change', () => hostAction(shareToggle.checked ? 'share_on' : 'share_off'));
  const admitAll = $('video-admit-all');
  if (admitAll) admitAll.addEventListener('click', () => hostAction('admit_all'));
  for (const id of ['video-lock', 'video-end']) {
    const el = $(id);
    if (el) el.addEventListener('click', () => hostAction(el.dataset.action));
  }
  window.addEventListener('online', () => { if (joined) iceRestart(); });
  window.addEventListener('pagehide', () => { if (joined) navigator.sendBeacon && navigator.sendBeacon(cfg.urls.leave, new URLSearchParams({ csrfmiddlewaretoken: csrf() })); });

  // For the browser tests: the peer connections and which feed each subscribed mid carries.
  window.viopVideo = {
    peerConnections: () => [pub, sub].filter((h) => h && h.webrtcStuff && h.webrtcStuff.pc).map((h) => h.webrtcStuff.pc),
    subscriber: () => (sub && sub.webrtcStuff ? sub.webrtcStuff.pc : null),
    publisher: () => (pub && pub.webrtcStuff ? pub.webrtcStuff.pc : null),
    mids: () => Object.fromEntries(Object.entries(midInfo).map(([mid, i]) => [mid, { feed: i.feed, type: i.type, display: feeds[i.feed] && feeds[i.feed].display }])),
    display: () => (creds ? creds.display : null),
    joined: () => joined,
    published: () => published,
  };

  startPreview();
})();
