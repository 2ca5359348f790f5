/* SRS console: polls /api/v1 of this server (same origin: http_api auth credentials come along) and
 * draws summaries, streams, clients, vhosts and the config. No library; charts are plain canvas.
 * ?interval=ms sets the poll period (default 2000, at least 500).
 * window.srsConsole holds what the page last read (for scripts and tests). */
(function () {
  'use strict';

  var params = new URLSearchParams(location.search);
  var INTERVAL_MS = Math.max(500, parseInt(params.get('interval') || '2000', 10) || 2000);
  var HISTORY = 90;        // points kept per chart (3 min at 2 s)
  var SPARK = 40;          // points kept per stream sparkline
  var RATE_WINDOW_MS = 6000;
  // location.origin, never a relative URL: a page opened as http://user:pass@host/ resolves relative
  // URLs with the credentials in them, which fetch() refuses; the browser adds them by itself.
  var ORIGIN = location.origin;

  var state = {
    ticks: 0, errors: 0, lastError: '', env: null, whep: false,
    summary: null, streams: [], clients: [], vhosts: [], kicked: [],
    history: {cpuSelf: [], cpuSys: [], mem: [], memSys: [], recv: [], send: []},
    byteSamples: [], sparks: {}
  };
  window.srsConsole = state;

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'className') e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function setStatus(text, ok) {
    var s = $('status');
    s.textContent = text;
    s.className = 'status ' + (ok ? 'ok' : 'bad');
  }

  function api(path, method) {
    return fetch(ORIGIN + path, {method: method || 'GET', cache: 'no-store', credentials: 'same-origin'})
      .then(function (r) {
        if (r.status === 401) throw new Error('401: the HTTP API needs credentials');
        if (!r.ok) throw new Error(r.status + ' ' + path);
        return r.json();
      });
  }

  function push(list, value, max) {
    list.push(value);
    while (list.length > max) list.shift();
  }

  function fmtKbps(k) { return k >= 10000 ? (k / 1000).toFixed(1) + ' Mbps' : Math.round(k) + ' kbps'; }
  function fmtDuration(s) {
    s = Math.floor(s);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm ' + (s % 60) + 's';
  }

  // ------------------------------------------------------------------ charts
  // A line chart of series [{values, color, label}] on a canvas, y from 0 to the largest value.
  function drawChart(canvas, series, unit) {
    var ratio = window.devicePixelRatio || 1;
    var w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(w * ratio)) { canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); }
    var ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var max = 0;
    series.forEach(function (s) { s.values.forEach(function (v) { if (v > max) max = v; }); });
    max = niceMax(max);
    var left = 38, top = 6, bottom = h - 14, right = w - 4;
    ctx.font = '10px system-ui, sans-serif';
    ctx.fillStyle = '#6b7785';
    ctx.strokeStyle = '#e6ebf0';
    ctx.lineWidth = 1;
    for (var i = 0; i <= 2; i++) {
      var y = bottom - (bottom - top) * i / 2;
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(right, y); ctx.stroke();
      ctx.fillText(trimNum(max * i / 2) + unit, 2, y + 3);
    }
    ctx.fillText('-' + Math.round(HISTORY * INTERVAL_MS / 1000) + 's', left, h - 2);
    series.forEach(function (s) {
      if (!s.values.length) return;
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 1.6;
      ctx.beginPath();
      s.values.forEach(function (v, i) {
        var x = right - (s.values.length - 1 - i) * (right - left) / (HISTORY - 1);
        var y = bottom - (bottom - top) * (max ? v / max : 0);
        if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      });
      ctx.stroke();
    });
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }
  function trimNum(v) { return v >= 100 ? Math.round(v) : Math.round(v * 10) / 10; }

  function legend(id, series, unit) {
    var box = $(id);
    box.textContent = '';
    series.forEach(function (s) {
      var last = s.values.length ? s.values[s.values.length - 1] : 0;
      var i = el('i'); i.style.background = s.color;
      box.appendChild(el('span', {}, [i, document.createTextNode(s.label + ' ' + trimNum(last) + unit)]));
    });
  }

  function sparkline(canvas, values) {
    var w = canvas.width, h = canvas.height, ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, w, h);
    var max = Math.max.apply(null, values.concat([1]));
    ctx.strokeStyle = '#1f6feb';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    values.forEach(function (v, i) {
      var x = w - (values.length - 1 - i) * w / (SPARK - 1), y = h - 2 - (h - 4) * v / max;
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.stroke();
  }

  // ------------------------------------------------------------------ summaries
  function showSummary(d) {
    var self = d.self, sys = d.system, h = state.history;
    push(h.cpuSelf, self.cpu_percent * 100, HISTORY);
    push(h.cpuSys, sys.cpu_percent * 100, HISTORY);
    push(h.mem, self.mem_kbyte / 1024, HISTORY);
    // kbps over the last RATE_WINDOW_MS of byte counters: the server adds a player's bytes in
    // batches, so the rate between two polls alone jumps up and down
    var samples = state.byteSamples, now = {t: sys.srs_sample_time, recv: sys.srs_recv_bytes, send: sys.srs_send_bytes};
    if (!samples.length || now.t > samples[samples.length - 1].t) samples.push(now);
    while (samples.length > 2 && now.t - samples[1].t >= RATE_WINDOW_MS) samples.shift();
    var first = samples[0];
    if (now.t > first.t) {
      var ms = now.t - first.t;
      push(h.recv, Math.max(0, now.recv - first.recv) * 8 / ms, HISTORY);
      push(h.send, Math.max(0, now.send - first.send) * 8 / ms, HISTORY);
    }
    var cpu = [{values: h.cpuSelf, color: '#1f6feb', label: 'srs'}, {values: h.cpuSys, color: '#9aa7b4', label: 'system'}];
    var mem = [{values: h.mem, color: '#8250df', label: 'srs RSS'}];
    var net = [{values: h.recv, color: '#1a7f37', label: 'in'}, {values: h.send, color: '#d4700a', label: 'out'}];
    drawChart($('chart-cpu'), cpu, '%'); legend('legend-cpu', cpu, '%');
    drawChart($('chart-mem'), mem, 'MB'); legend('legend-mem', mem, ' MB');
    drawChart($('chart-net'), net, 'k'); legend('legend-net', net, ' kbps');
    var facts = [
      ['version', self.version], ['pid', self.pid], ['uptime', fmtDuration(self.srs_uptime)],
      ['connections', sys.conn_srs + (sys.conn_srs_max ? ' / ' + sys.conn_srs_max : '')],
      ['cpus', sys.cpus_online], ['load', [sys.load_1m, sys.load_5m, sys.load_15m].map(trimNum).join(' ')],
      ['memory', Math.round(self.mem_kbyte / 1024) + ' MB (' + trimNum(self.mem_percent * 100) + '%)']
    ];
    var dl = $('facts');
    dl.textContent = '';
    facts.forEach(function (f) { dl.appendChild(el('dt', {text: f[0]})); dl.appendChild(el('dd', {text: String(f[1])})); });
  }

  // ------------------------------------------------------------------ streams
  function vhostName(id) {
    for (var i = 0; i < state.vhosts.length; i++) if (state.vhosts[i].id === id) return state.vhosts[i].name;
    return '';
  }

  function videoText(v) {
    if (!v) return '';
    return [v.codec, v.profile, v.level].filter(Boolean).join(' ') + ' ' + v.width + 'x' + v.height;
  }
  function audioText(a) {
    if (!a) return '';
    return [a.codec, a.profile].filter(Boolean).join(' ') + ' ' + a.sample_rate + 'Hz ' + a.channel + 'ch';
  }

  // The preview URLs of a stream: HTTP-FLV and HLS on the HTTP server (env.json), WebRTC by WHEP here.
  function previewUrls(s) {
    var urls = {}, env = state.env, name = vhostName(s.vhost), base = httpBase();
    var vc = (env.vhosts || []).filter(function (v) { return v.name === name; })[0]
      || (env.vhosts || []).filter(function (v) { return v.name === '__defaultVhost__'; })[0];
    if (base) {
      var fill = function (p) {
        return p.replace('[vhost]/', '').replace('[vhost]', '').replace('[app]', s.app).replace('[stream]', s.name)
          .replace(/^\/+/, '');
      };
      if (vc && vc.flv) urls.flv = base + fill(vc.flv);
      if (vc && vc.hls) urls.hls = base + fill(vc.hls);
    }
    if (vc && vc.webrtc) {
      urls.webrtc = ORIGIN + '/rtc/v1/whep/?app=' + encodeURIComponent(s.app) + '&stream=' + encodeURIComponent(s.name);
    }
    return urls;
  }

  function showStreams(streams) {
    var body = $('streams-body'), seen = {};
    $('streams-count').textContent = streams.length ? '(' + streams.length + ')' : '';
    $('streams-empty').hidden = streams.length > 0;
    streams = streams.slice().sort(function (a, b) {  // a stable order, whatever the API's
      var ka = a.app + '/' + a.name + ' ' + a.vhost, kb = b.app + '/' + b.name + ' ' + b.vhost;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    streams.forEach(function (s, index) {
      seen[s.id] = true;
      var spark = state.sparks[s.id] || (state.sparks[s.id] = []);
      push(spark, (s.kbps && s.kbps.recv_30s) || 0, SPARK);
      var row = body.querySelector('tr[data-stream="' + CSS.escape(s.id) + '"]');
      if (!row) {
        row = el('tr', {'data-stream': s.id}, [
          el('td', {className: 'name'}), el('td', {className: 'video'}), el('td', {className: 'audio'}),
          el('td', {className: 'num bitrate'}, [el('canvas', {className: 'spark', width: 120, height: 28}),
            el('span')]),
          el('td', {className: 'num players'}), el('td', {className: 'snap'}), el('td', {className: 'preview'})]);
      }
      if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
      var vname = vhostName(s.vhost);
      var nameCell = row.querySelector('.name');
      nameCell.textContent = '';
      nameCell.appendChild(el('div', {text: s.app + '/' + s.name}));
      nameCell.appendChild(el('div', {className: 'muted', text: vname}, []));
      nameCell.appendChild(el('span', {className: 'badge' + (s.publish.active ? ' live' : ''),
        text: s.publish.active ? 'publishing' : 'idle'}));
      row.querySelector('.video').textContent = videoText(s.video);
      row.querySelector('.audio').textContent = audioText(s.audio);
      sparkline(row.querySelector('canvas.spark'), spark);
      row.querySelector('.bitrate span').textContent = ' ' + fmtKbps((s.kbps && s.kbps.recv_30s) || 0);
      row.querySelector('.players').textContent = String(Math.max(0, s.clients - (s.publish.active ? 1 : 0)));
      showSnapshot(row.querySelector('.snap'), s);
      showPreviewButtons(row.querySelector('.preview'), s);
    });
    Array.prototype.slice.call(body.querySelectorAll('tr')).forEach(function (row) {
      if (!seen[row.getAttribute('data-stream')]) {
        delete state.sparks[row.getAttribute('data-stream')];
        row.remove();
      }
    });
  }

  // The HTTP server's base URL (env.json), or '' when it is off.
  function httpBase() {
    var env = state.env;
    if (!env || !env.http_server.enabled) return '';
    return location.protocol + '//' + location.hostname + ':' + env.http_server.port + '/';
  }

  // A thumbnail when the API gives the stream a snapshot (a path on the HTTP server), refreshed
  // every 5 polls; nothing when it does not (or the image does not load).
  function showSnapshot(cell, s) {
    var img = cell.querySelector('img');
    if (!s.snapshot || !httpBase()) { if (img) img.remove(); return; }
    if (img && state.ticks % 5 !== 0) return;
    var url = new URL(s.snapshot, httpBase());
    url.searchParams.set('w', '160');
    url.searchParams.set('t', String(state.ticks));
    if (!img) {
      img = el('img', {className: 'snapshot', alt: 'snapshot of ' + s.name});
      img.onerror = function () { img.hidden = true; };
      img.onload = function () { img.hidden = false; };
      cell.appendChild(img);
    }
    img.src = url.href;
  }

  function showPreviewButtons(cell, s) {
    var urls = previewUrls(s), key = Object.keys(urls).join(',');
    if (cell.getAttribute('data-kinds') === key) return;
    cell.setAttribute('data-kinds', key);
    cell.textContent = '';
    [['flv', 'FLV'], ['hls', 'HLS'], ['webrtc', 'WebRTC']].forEach(function (k) {
      if (!urls[k[0]]) return;
      var b = el('button', {type: 'button', 'data-preview': k[0], text: k[1]});
      b.addEventListener('click', function () { preview(k[0], previewUrls(s)[k[0]], s.app + '/' + s.name); });
      cell.appendChild(b);
      cell.appendChild(document.createTextNode(' '));
    });
  }

  // ------------------------------------------------------------------ preview
  var player = null;  // {stop()}

  function loadScript(src, global) {
    if (window[global]) return Promise.resolve();
    return new Promise(function (resolve, reject) {
      var s = el('script', {src: src});
      s.onload = resolve;
      s.onerror = function () { reject(new Error('cannot load ' + src)); };
      document.head.appendChild(s);
    });
  }

  function stopPreview() {
    if (player) { try { player.stop(); } catch (e) { /* already gone */ } player = null; }
    var video = $('video');
    video.removeAttribute('src');
    video.srcObject = null;
    video.load();
  }

  function preview(kind, url, title) {
    stopPreview();
    var video = $('video'), box = $('preview'), st = $('preview-state');
    box.hidden = false;
    $('preview-title').textContent = title + ' (' + kind + ')';
    st.textContent = url;
    state.preview = {kind: kind, url: url, error: ''};
    var fail = function (e) { state.preview.error = String(e); st.textContent = 'error: ' + e; };
    if (kind === 'flv') {
      loadScript('js/mpegts.js', 'mpegts').then(function () {
        var p = mpegts.createPlayer({type: 'flv', isLive: true, url: url}, {enableStashBuffer: false});
        p.attachMediaElement(video);
        p.load();
        p.on(mpegts.Events.ERROR, function (t, d) { fail(t + ' ' + d); });
        player = {stop: function () { p.destroy(); }};
        video.play().catch(function () { /* autoplay policy: the user presses play */ });
      }).catch(fail);
    } else if (kind === 'hls') {
      loadScript('js/hls.min.js', 'Hls').then(function () {
        if (!window.Hls || !Hls.isSupported()) { video.src = url; player = null; return; }
        var h = new Hls({liveDurationInfinity: true});
        h.on(Hls.Events.ERROR, function (e, d) { if (d.fatal) fail(d.type + ' ' + d.details); });
        h.loadSource(url);
        h.attachMedia(video);
        player = {stop: function () { h.destroy(); }};
        video.play().catch(function () {});
      }).catch(fail);
    } else if (kind === 'webrtc') {
      whep(video, url).then(function (pc) { player = {stop: function () { pc.close(); }}; }).catch(fail);
    }
  }

  // WebRTC playback by WHEP: a recvonly offer POSTed as application/sdp, the answer in the body.
  function whep(video, url) {
    var pc = new RTCPeerConnection();
    pc.addTransceiver('audio', {direction: 'recvonly'});
    pc.addTransceiver('video', {direction: 'recvonly'});
    pc.ontrack = function (e) { video.srcObject = e.streams[0]; video.play().catch(function () {}); };
    return pc.createOffer().then(function (offer) {
      return pc.setLocalDescription(offer).then(function () {
        return fetch(url, {method: 'POST', body: offer.sdp, headers: {'Content-Type': 'application/sdp'},
          credentials: 'same-origin'});
      });
    }).then(function (r) {
      if (!r.ok) throw new Error('WHEP ' + r.status);
      return r.text();
    }).then(function (sdp) {
      return pc.setRemoteDescription({type: 'answer', sdp: sdp});
    }).then(function () { return pc; }, function (e) { pc.close(); throw e; });
  }

  // ------------------------------------------------------------------ clients
  function showClients(clients) {
    var body = $('clients-body');
    $('clients-count').textContent = clients.length ? '(' + clients.length + ')' : '';
    body.textContent = '';
    clients.forEach(function (c) {
      var kick = el('button', {type: 'button', className: 'kick', 'data-kick': c.id, text: 'Kick'});
      kick.addEventListener('click', function () { kickClient(c.id, kick); });
      body.appendChild(el('tr', {'data-client': c.id}, [
        el('td', {className: 'num', text: c.id}), el('td', {text: c.type}), el('td', {text: c.url}),
        el('td', {text: c.ip}), el('td', {className: 'num', text: fmtDuration(c.alive)}),
        el('td', {className: 'num', text: (c.kbps.recv_30s || 0) + ' / ' + (c.kbps.send_30s || 0)}),
        el('td', {}, [kick])]));
    });
  }

  function kickClient(id, button) {
    button.disabled = true;
    api('/api/v1/clients/' + encodeURIComponent(id), 'DELETE').then(function (r) {
      if (r.code !== 0) throw new Error('kick ' + id + ': code ' + r.code);
      state.kicked.push(id);
      setStatus('client ' + id + ' kicked', true);
      return poll();
    }).catch(function (e) { button.disabled = false; setStatus(String(e.message || e), false); });
  }

  // ------------------------------------------------------------------ vhosts, config
  function showVhosts(vhosts) {
    var body = $('vhosts-body');
    body.textContent = '';
    vhosts.forEach(function (v) {
      body.appendChild(el('tr', {}, [
        el('td', {text: v.name}), el('td', {text: v.enabled ? 'yes' : 'no'}),
        el('td', {className: 'num', text: String(v.streams)}), el('td', {className: 'num', text: String(v.clients)}),
        el('td', {className: 'num', text: v.kbps.recv_30s + ' / ' + v.kbps.send_30s}),
        el('td', {text: v.hls && v.hls.enabled ? 'on (' + (v.hls.fragment || '?') + 's)' : 'off'})]));
    });
  }

  function showConfig() {
    return Promise.all([api('/api/v1/versions'), api('/api/v1/features'), api('/api/v1/raw?rpc=raw'),
      api('/console/env.json')]).then(function (r) {
      var view = {version: r[0].data.version, server: r[0].server, features: r[1].data.features,
        raw: r[2], http: r[3]};
      $('config-view').textContent = JSON.stringify(view, null, 2);
      $('server').textContent = 'server ' + r[0].server + ' · SRS ' + r[0].data.version;
    });
  }

  // ------------------------------------------------------------------ the loop
  function poll() {
    return Promise.all([api('/api/v1/summaries'), api('/api/v1/vhosts'), api('/api/v1/streams'),
      api('/api/v1/clients?count=100')]).then(function (r) {
      state.ticks += 1;
      state.summary = r[0].data;
      state.vhosts = r[1].vhosts || [];
      state.streams = r[2].streams || [];
      state.clients = r[3].clients || [];
      showSummary(r[0].data);
      showStreams(state.streams);
      showClients(state.clients);
      showVhosts(state.vhosts);
      setStatus('updated ' + new Date().toLocaleTimeString(), true);
      document.title = 'SRS console · ' + state.streams.length + ' streams';
    }).catch(function (e) {
      state.errors += 1;
      state.lastError = String(e.message || e);
      setStatus(state.lastError, false);
    });
  }


  $('preview-close').addEventListener('click', function () { stopPreview(); $('preview').hidden = true; });
  Promise.all([api('/console/env.json').then(function (env) { state.env = env; })])
    .catch(function (e) { state.lastError = String(e.message || e); })
    .then(function () {
      showConfig().catch(function (e) { $('config-view').textContent = String(e.message || e); });
      poll().then(function loop() { setTimeout(function () { poll().then(loop); }, INTERVAL_MS); });
    });
})();
