// GANPaint painter: browser side of the websocket protocol in docs/protocol.md.
// Plain script, no build step. One file serves the full painter and the
// /embed page; controls missing from a page are simply skipped.
(() => {
  'use strict';

  const cfgEl = document.getElementById('ganpaint-config');
  if (!cfgEl) return;
  const cfg = JSON.parse(cfgEl.textContent);
  const $ = (id) => document.getElementById(id);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  const FRAME_MAGIC = 0x47504631; // "GPF1"
  const FRAME_HEADER = 12;
  const MAX_UINT32 = 4294967295;
  // Reconnect backoff: quick first retry (a server restart), capped so a
  // long outage does not hammer the server.
  const RETRY_FIRST_MS = 400;
  const RETRY_MAX_MS = 15000;
  // A spinner only after this delay, so fast renders never flicker.
  const SPINNER_DELAY_MS = 180;
  // A touch stroke's first part waits this long, so a second finger that
  // lands (to scroll or zoom the page) cancels it before anything is painted.
  const TOUCH_GRACE_MS = 120;
  const STATUS_CLEAR_MS = 6000;
  // Frames up to this many pixels come as PNG: lossless, so the canvas is
  // exactly what /render.png and a share link give, and small enough (a
  // 128×128 frame is some tens of kB) that JPEG's savings are not worth its
  // colour bleeding, which the pixelated upscaling would magnify.
  const PNG_MAX_PIXELS = 128 * 128;

  const el = {
    wrap: $('canvas-wrap'),
    image: $('image'),
    overlay: $('overlay'),
    loading: $('loading'),
    conn: $('conn'),
    connText: $('conn-text'),
    status: $('status'),
    undo: $('undo'),
    redo: $('redo'),
    reset: $('reset'),
    grid: $('grid'),
    compare: $('compare'),
    original: $('original'),
    download: $('download'),
    share: $('share'),
    shareBox: $('share-box'),
    shareURL: $('share-url'),
    palette: $('palette'),
    brush: $('brush-size'),
    brushOut: $('brush-size-out'),
    strength: $('strength'),
    strengthOut: $('strength-out'),
    eraseAll: $('erase-all'),
    eraseConcept: $('erase-concept'),
    samples: $('samples'),
    pick: $('pick'),
    imageID: $('image-id'),
    random: $('random'),
    layer: $('layer'),
    openFull: $('open-full'),
    modelTitle: $('model-title'),
  };

  // ---- state ---------------------------------------------------------------

  const ui = {
    concept: cfg.concepts.length ? cfg.concepts[0].name : '',
    mode: 'add',
    radius: el.brush ? Number(el.brush.value) : Math.max(1, Math.round(cfg.model.width / 16)),
    units: cfg.units.default,
    grid: false,
    comparing: false,
    highlight: -1, // index into session.editList shown highlighted, or -1
    // A brush chosen instead of the concept (custombrush.js: units picked in
    // the unit editor): {label, color, wire}; strokes send wire as "custom".
    custom: null,
  };

  // What the server told us. Until hello arrives, the page config stands in.
  const model = {
    width: cfg.model.width,
    height: cfg.model.height,
    maxID: cfg.model.max_id,
    layers: new Map(cfg.model.layers.map((l) => [l.name, { name: l.name, width: l.width, height: l.height, concepts: null }])),
    concepts: cfg.concepts.slice(),
    limits: { max_units: cfg.units.max, max_radius: el.brush ? Number(el.brush.max) : 64, max_points: 1024, max_stroke_points: 4096 },
    sampleIDs: cfg.samples.map((s) => s.id),
  };

  const session = {
    token: cfg.state || '',
    id: null,
    layer: cfg.model.default_layer,
    canUndo: false,
    canRedo: false,
    edits: 0,
    original: '', // token of the image without edits
    editList: [], // state message's edit_list
    frameSeq: -1, // seq of the image on screen
    frameFormat: 0, // its encoding: 1 JPEG, 2 PNG (frame header codes)
    wantFormat: 0, // the encoding asked for on this connection
  };

  // ---- status line and connection indicator ---------------------------------

  let statusTimer = 0;
  // statusTag marks what a message is about; 'conn' messages (not
  // connected, paused, server full) are cleared as soon as the connection
  // is back, instead of lingering next to "Connected".
  let statusTag = '';
  function setStatus(text, kind = 'info', sticky = false, tag = '') {
    if (!el.status) return;
    clearTimeout(statusTimer);
    statusTag = tag;
    el.status.textContent = text;
    el.status.dataset.kind = kind;
    if (text && !sticky) {
      statusTimer = setTimeout(() => { el.status.textContent = ''; }, STATUS_CLEAR_MS);
    }
  }

  function setConn(state, text) {
    document.body.dataset.conn = state;
    if (el.conn) el.conn.dataset.state = state;
    if (el.connText) el.connText.textContent = text;
  }

  // Messages for error codes users can act on; others show the server's text.
  const errorText = {
    busy: 'The server is busy; your edit is kept and will appear shortly.',
    rate_limited: 'You are painting faster than the server accepts; your edits are kept and will appear a little late.',
    too_big: null,
    nothing_to_undo: 'Nothing to undo.',
    nothing_to_redo: 'Nothing to redo.',
    bad_state: 'The shared link could not be opened; showing the default image instead.',
  };

  // ---- websocket -------------------------------------------------------------

  const conn = {
    ws: null,
    seq: 0,
    attempt: 0,
    retryTimer: 0,
    countTimer: 0,
    idle: false, // closed by the server for inactivity: reconnect on next use
    everOpen: false,

    url() {
      const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const q = session.token ? '?state=' + encodeURIComponent(session.token) : '';
      return scheme + '//' + location.host + cfg.paths.ws + q;
    },

    open() {
      clearTimeout(this.retryTimer);
      clearInterval(this.countTimer);
      if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
      this.idle = false;
      setConn('connecting', this.everOpen ? 'Reconnecting…' : 'Connecting…');
      let ws;
      try {
        ws = new WebSocket(this.url());
      } catch (err) {
        setStatus('Cannot open a connection: ' + err.message, 'error', true, 'conn');
        this.scheduleRetry();
        return;
      }
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      this.seq = 0; // every connection starts over (docs/protocol.md)
      session.frameSeq = -1;
      ws.onopen = () => {
        if (this.ws !== ws) return;
        this.attempt = 0;
        this.everOpen = true;
        setConn('open', 'Connected');
      };
      ws.onmessage = (ev) => {
        if (this.ws !== ws) return;
        if (typeof ev.data === 'string') onText(ev.data);
        else onFrame(ev.data);
      };
      ws.onclose = (ev) => {
        if (this.ws !== ws) return;
        this.ws = null;
        const unsent = strokes.some((s) => s.sent < s.points.length);
        endDrag(false);
        // Seqs start over on the next connection, so overlays of this one
        // could never be matched with a frame.
        strokes.length = 0;
        drawOverlay();
        pending.clear();
        showSpinner(false);
        updateControls();
        this.onClosed(ev);
        if (unsent) setStatus('The connection dropped before your stroke was sent; paint it again when connected.', 'warn', true, 'conn');
      };
    },

    onClosed(ev) {
      switch (ev.code) {
        case 4000: // idle timeout: wait for the user to come back
          this.idle = true;
          setConn('idle', 'Paused');
          setStatus('Paused after a long idle time. Paint or press a key to resume.', 'info', true, 'conn');
          return;
        case 1013:
          setConn('closed', 'Server full');
          setStatus('The server is full right now; retrying…', 'warn', true, 'conn');
          break;
        case 1009:
          setConn('closed', 'Disconnected');
          setStatus('A message was too large for the server; reconnecting.', 'error');
          break;
        default:
          setConn('closed', 'Offline');
      }
      this.scheduleRetry(ev.code === 1013 ? 4 : 0);
    },

    scheduleRetry(extraSteps = 0) {
      clearTimeout(this.retryTimer);
      if (document.hidden) return; // resumed by visibilitychange
      const step = this.attempt + extraSteps;
      const base = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** step);
      const delay = base / 2 + Math.random() * base / 2;
      this.attempt++;
      // The indicator counts down to the next attempt.
      const at = performance.now() + delay;
      const tick = () => {
        setConn('closed', 'Offline · retrying in ' + Math.max(1, Math.ceil((at - performance.now()) / 1000)) + ' s');
      };
      tick();
      clearInterval(this.countTimer);
      this.countTimer = setInterval(tick, 250);
      this.retryTimer = setTimeout(() => this.open(), delay);
    },

    // connecting: a connection is being opened (or is open and waiting for
    // its first image); strokes drawn meanwhile are queued, not lost.
    connecting() {
      return this.ws !== null && this.ws.readyState <= WebSocket.OPEN && !this.ready();
    },

    ready() {
      return this.ws !== null && this.ws.readyState === WebSocket.OPEN && session.frameSeq >= 0;
    },

    // send stamps state-changing messages with the next seq and returns it,
    // or 0 when not connected.
    send(msg) {
      if (!this.ready()) {
        if (this.idle || !this.ws) this.open();
        return 0;
      }
      if (msg.t !== 'format') {
        if (this.seq >= MAX_UINT32) { // practically unreachable; start a fresh connection
          this.ws.close(1000, 'seq exhausted');
          return 0;
        }
        msg.seq = ++this.seq;
      }
      this.ws.send(JSON.stringify(msg));
      if (msg.seq) pending.add(msg.seq);
      return msg.seq || 0;
    },
  };

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !conn.ws && !conn.idle) conn.open();
  });

  // pending tracks sent seqs without an image yet, for the spinner.
  const pending = {
    last: 0,
    timer: 0,
    add(seq) {
      this.last = seq;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => { if (this.last > session.frameSeq) showSpinner(true); }, SPINNER_DELAY_MS);
    },
    done(seq) {
      if (seq >= this.last) { clearTimeout(this.timer); showSpinner(false); }
    },
    clear() { this.last = 0; clearTimeout(this.timer); },
  };

  function showSpinner(on) {
    if (el.loading) el.loading.classList.toggle('on', on);
  }

  function onText(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    switch (msg.t) {
      case 'hello': onHello(msg); break;
      case 'state': onState(msg); break;
      case 'error': onError(msg); break;
      default: break; // newer servers may add messages
    }
  }

  function onHello(h) {
    model.width = h.image.width;
    model.height = h.image.height;
    model.maxID = h.max_id;
    model.limits = Object.assign({}, model.limits, h.limits || {});
    model.layers = new Map((h.layers || []).map((l) => [l.name, l]));
    model.sampleIDs = h.sample_ids || model.sampleIDs;
    if (el.modelTitle && h.model && h.model.title) el.modelTitle.textContent = h.model.title;
    if (Array.isArray(h.concepts) && !sameConcepts(h.concepts, model.concepts)) {
      model.concepts = h.concepts;
      buildPalette();
    }
    if (el.image.width !== model.width || el.image.height !== model.height) {
      el.image.width = model.width;
      el.image.height = model.height;
    }
    el.wrap.style.aspectRatio = model.width + ' / ' + model.height;
    if (el.brush) {
      el.brush.max = String(Math.min(model.limits.max_radius, Math.max(1, Math.floor(Math.max(model.width, model.height) / 2))));
      setRadius(ui.radius);
    }
    if (el.imageID && model.maxID > 0) el.imageID.max = String(model.maxID - 1);
    if (el.samples && !el.samples.children.length) buildSampleTiles();
    if (el.layer) syncLayerSelect();
    resizeOverlay();
    const formats = h.formats || [];
    session.wantFormat = h.format === 'png' ? 2 : 1;
    if (h.format !== 'png' && formats.includes('png') && model.width * model.height <= PNG_MAX_PIXELS && conn.ws) {
      conn.ws.send(JSON.stringify({ t: 'format', format: 'png' }));
      session.wantFormat = 2;
    }
  }

  function sameConcepts(a, b) {
    return a.length === b.length && a.every((c, i) => c.name === b[i].name && c.color === b[i].color);
  }

  function onState(s) {
    const before = { id: session.id, layer: session.layer, token: session.token };
    session.token = s.state || '';
    session.original = s.original || '';
    session.editList = Array.isArray(s.edit_list) ? s.edit_list : [];
    session.id = s.id;
    session.layer = s.layer;
    session.canUndo = !!s.can_undo;
    session.canRedo = !!s.can_redo;
    session.edits = s.edits | 0;
    el.image.dataset.state = session.token;
    el.image.setAttribute('aria-label', 'Generated image ' + session.id +
      (session.edits ? ' with ' + session.edits + (session.edits === 1 ? ' edit' : ' edits') : ''));
    updateControls();
    updateLinks();
    if (session.edits > 0) fetchOriginal();
    emit('state', s, before);
  }

  function onError(e) {
    const seq = e.seq | 0;
    // busy and internal keep the message applied (the image follows later);
    // every other code means the message changed nothing.
    const kept = e.code === 'busy' || e.code === 'internal';
    if (seq && !kept) {
      dropStrokeOverlay(seq);
      pending.done(seq);
    }
    let text = Object.prototype.hasOwnProperty.call(errorText, e.code) ? errorText[e.code] : null;
    if (!text) text = e.message || ('Error: ' + e.code);
    const quiet = e.code === 'nothing_to_undo' || e.code === 'nothing_to_redo';
    setStatus(text, quiet ? 'info' : e.code === 'busy' ? 'warn' : 'error', e.code === 'bad_state');
    if (e.code === 'too_big' && activeDrag) endDrag(false);
  }

  // Frames decode asynchronously; a counter keeps an older frame whose decode
  // finishes late from replacing a newer one.
  let frameArrivals = 0;
  let frameDrawn = 0;
  const imageCtx = el.image.getContext('2d', { willReadFrequently: true });

  function onFrame(buf) {
    if (!(buf instanceof ArrayBuffer) || buf.byteLength <= FRAME_HEADER) return;
    const v = new DataView(buf);
    if (v.getUint32(0) !== FRAME_MAGIC) return;
    const fmt = v.getUint8(4);
    const seq = v.getUint32(8);
    const type = fmt === 2 ? 'image/png' : 'image/jpeg';
    const n = ++frameArrivals;
    // The state message comes right before its frame; by the time the decode
    // finishes, a newer one may have arrived.
    const edits = session.edits;
    createImageBitmap(new Blob([buf.slice(FRAME_HEADER)], { type }))
      .then((bmp) => {
        if (n < frameDrawn) { bmp.close(); return; }
        frameDrawn = n;
        imageCtx.clearRect(0, 0, el.image.width, el.image.height);
        imageCtx.drawImage(bmp, 0, 0, el.image.width, el.image.height);
        bmp.close();
        const first = session.frameSeq < 0;
        session.frameSeq = seq;
        session.frameFormat = fmt;
        if (edits === 0) keepOriginal();
        loadThumbs();
        el.image.dataset.seq = String(seq);
        el.image.dataset.frames = String((Number(el.image.dataset.frames) || 0) + 1);
        el.wrap.classList.add('has-image');
        pending.done(seq);
        settleStrokes(seq);
        updateControls();
        if (first) onConnected();
        emit('frame');
      })
      .catch(() => setStatus('Could not decode an image from the server.', 'error'));
  }

  // The unedited image of the current id and layer, kept for comparing:
  // copied from the screen when it was shown without edits, else (a page
  // opened from a share link with edits) fetched from /render.png with the
  // state message's original token.
  let originalKey = '';
  let originalFetch = '';
  const imageKey = () => session.id + '/' + session.layer;

  async function fetchOriginal() {
    const key = imageKey();
    const tok = session.original;
    if (!el.original || !tok || originalKey === key || originalFetch === key) return;
    originalFetch = key;
    try {
      const res = await fetch(cfg.paths.render + '?state=' + encodeURIComponent(tok));
      if (!res.ok) throw new Error('status ' + res.status);
      const bmp = await createImageBitmap(await res.blob());
      if (imageKey() === key && originalKey !== key) {
        const c = el.original.getContext('2d');
        el.original.width = el.image.width;
        el.original.height = el.image.height;
        c.clearRect(0, 0, el.original.width, el.original.height);
        c.drawImage(bmp, 0, 0, el.original.width, el.original.height);
        originalKey = key;
        updateControls();
      }
      bmp.close();
    } catch {
      // The button stays disabled; the next image change tries again.
    } finally {
      if (originalFetch === key) originalFetch = '';
    }
  }

  function keepOriginal() {
    if (!el.original) return;
    const c = el.original.getContext('2d');
    if (el.original.width !== el.image.width || el.original.height !== el.image.height) {
      el.original.width = el.image.width;
      el.original.height = el.image.height;
    }
    c.clearRect(0, 0, el.original.width, el.original.height);
    c.drawImage(el.image, 0, 0);
    originalKey = imageKey();
  }

  function setCompare(on) {
    const ok = !!el.original && originalKey === imageKey() && session.edits > 0;
    ui.comparing = on && ok;
    el.wrap.classList.toggle('comparing', ui.comparing);
    if (el.compare) el.compare.setAttribute('aria-pressed', String(ui.comparing));
  }

  // Thumbnails are server renders too. They load after the first frame and
  // two at a time, so they never delay the image being painted, and a busy
  // answer (503) is retried instead of leaving a hole.
  const THUMB_PARALLEL = 2;
  const THUMB_RETRIES = 4;
  let thumbsStarted = false;

  function loadThumbs() {
    if (thumbsStarted || !el.samples) return;
    thumbsStarted = true;
    const queue = $$('img[data-src]', el.samples);
    const next = () => {
      const img = queue.shift();
      if (!img) return;
      let tries = 0;
      img.onload = () => {
        img.closest('.thumb').classList.add('loaded');
        next();
      };
      img.onerror = () => {
        if (++tries > THUMB_RETRIES) {
          next();
          return;
        }
        setTimeout(() => { img.src = img.dataset.src + (img.dataset.src.includes('?') ? '&' : '?') + 'retry=' + tries; }, 500 * 2 ** tries);
      };
      img.src = img.dataset.src;
    };
    for (let i = 0; i < THUMB_PARALLEL; i++) next();
  }

  // ---- controls ---------------------------------------------------------------

  function updateControls() {
    const live = conn.ready();
    if (el.undo) el.undo.disabled = !live || !session.canUndo;
    if (el.redo) el.redo.disabled = !live || !session.canRedo;
    if (el.reset) el.reset.disabled = !live || session.edits === 0;
    const paintable = !!ui.custom || conceptUnits(ui.concept) > 0;
    if (el.eraseAll) el.eraseAll.disabled = !live || !paintable;
    if (el.compare) el.compare.disabled = !(originalKey === imageKey() && session.edits > 0);
    if (ui.comparing) setCompare(true); // drops out when the original no longer applies
    if (el.palette) {
      for (const b of $$('.concept', el.palette)) {
        const ok = conceptUnits(b.dataset.concept) > 0;
        b.classList.toggle('unavailable', !ok);
        b.title = ok ? '' : 'Not paintable at ' + session.layer;
      }
    }
    if (el.samples) {
      for (const t of $$('.thumb', el.samples)) {
        if (Number(t.dataset.id) === session.id) t.setAttribute('aria-current', 'true');
        else t.removeAttribute('aria-current');
      }
    }
    if (el.imageID && session.id !== null && document.activeElement !== el.imageID) {
      el.imageID.placeholder = 'Image ' + session.id;
    }
    if (el.layer && session.layer && el.layer.value !== session.layer) el.layer.value = session.layer;
    syncStrength();
  }

  function updateLinks() {
    const q = session.token ? '?state=' + encodeURIComponent(session.token) : '';
    if (el.download) {
      el.download.href = cfg.paths.render + q;
      el.download.download = 'ganpaint-' + (session.id ?? 'image') + (session.edits ? '-edited' : '') + '.png';
    }
    if (el.openFull) el.openFull.href = cfg.paths.painter + q;
    if (el.shareBox && !el.shareBox.hidden) el.shareURL.value = shareLink();
  }

  function shareLink() {
    const base = cfg.base_url || location.origin;
    return base + cfg.paths.painter + (session.token ? '?state=' + encodeURIComponent(session.token) : '');
  }

  // conceptUnits is how many ranked units the concept has at the current
  // layer: 0 when it cannot be painted there. Before hello we assume it can.
  function conceptUnits(name) {
    const l = model.layers.get(session.layer);
    if (!l || !l.concepts) return model.limits.max_units;
    return l.concepts[name] | 0;
  }

  function maxUnitsFor(name) {
    return Math.max(1, Math.min(cfg.units.max, model.limits.max_units, conceptUnits(name) || cfg.units.max));
  }

  function syncStrength() {
    const cap = maxUnitsFor(ui.concept);
    if (el.strength) el.strength.max = String(cap);
    const units = Math.min(ui.units, cap);
    if (el.strength) el.strength.value = String(units);
    if (el.strengthOut) {
      el.strengthOut.textContent = units + (units === 1 ? ' unit' : ' units') + (units < ui.units ? ' · max for ' + ui.concept : '');
    }
    for (const b of $$('.preset[data-units]')) {
      const n = Number(b.dataset.units);
      b.setAttribute('aria-pressed', String(n === units));
      b.disabled = n > cap;
    }
    syncSteps();
    if (ui.custom && el.strengthOut) el.strengthOut.textContent = ui.custom.label;
  }

  function effectiveUnits() {
    return Math.min(ui.units, maxUnitsFor(ui.concept));
  }

  // ---- brushes and strength steps ------------------------------------------
  // When the model has learned recipes, hello lists each concept's brushes
  // with named steps (docs/protocol.md). The strength field then offers the
  // steps low / medium / high of the concept's default brush, each with its
  // measured effect on hover, and a switch to the IoU ranking, whose unit
  // count the presets and slider set. Models without brushes keep the units.
  const brushUI = { iou: false, step: '', steps: null, iouWrap: null, iouBox: null };

  function brushList(remove) {
    const l = model.layers.get(session.layer);
    const b = l && l.brushes && l.brushes[ui.concept];
    return (b && (remove ? b.remove : b.add)) || [];
  }

  function currentBrush(remove) {
    const list = brushList(remove);
    if (!list.length) return null;
    return (brushUI.iou && list.find((b) => b.ranked)) || list[0];
  }

  // brushFields are the stroke's "brush" and "strength": none without brushes.
  function brushFields(remove) {
    const b = currentBrush(remove);
    if (!b) return {};
    const step = b.steps.some((st) => st.name === brushUI.step) ? brushUI.step : b.default;
    return { brush: b.name, strength: step };
  }

  function pct(x) { return Math.round(100 * (x || 0)) + '%'; }

  function stepTitle(b, st, remove) {
    let t = st.name + ' (strength ' + st.strength + ', ' + b.name + ')';
    const e = st.effect;
    if (!e) return t;
    if (remove) {
      return t + ': erases ' + pct(e.drop) + ' of the ' + ui.concept + ' when applied everywhere; ' + pct(e.damage) + ' of the other labels change';
    }
    return t + ': paints ' + ui.concept + ' in ' + pct(e.success) + ' of the places it fits; changes ' + pct(e.leak_near) +
      ' of the labels around the stroke and ' + pct(e.leak_far) + ' elsewhere (measured)';
  }

  function syncSteps() {
    if (!el.strength) return;
    const field = el.strength.closest('.field');
    if (!field) return;
    if (!brushUI.steps) {
      brushUI.steps = document.createElement('div');
      brushUI.steps.className = 'presets steps';
      brushUI.steps.setAttribute('role', 'group');
      brushUI.steps.setAttribute('aria-label', 'Strength steps');
      brushUI.steps.addEventListener('click', (ev) => {
        const b = ev.target.closest('button');
        if (!b) return;
        brushUI.step = b.dataset.step;
        syncStrength();
      });
      brushUI.iouWrap = document.createElement('label');
      brushUI.iouWrap.className = 'hint iou-switch';
      brushUI.iouBox = document.createElement('input');
      brushUI.iouBox.type = 'checkbox';
      brushUI.iouBox.addEventListener('change', () => { brushUI.iou = brushUI.iouBox.checked; syncStrength(); });
      brushUI.iouWrap.append(brushUI.iouBox, ' IoU ranking: choose the number of units');
      const head = field.querySelector('.field-head');
      (head || field.firstChild).after(brushUI.steps, brushUI.iouWrap);
    }
    const remove = ui.mode === 'remove';
    const b = currentBrush(remove);
    const list = brushList(remove);
    brushUI.steps.hidden = !b;
    brushUI.iouWrap.hidden = !(list.some((x) => x.ranked) && list.some((x) => !x.ranked));
    brushUI.iouBox.checked = brushUI.iou;
    const units = !b || b.ranked;
    for (const n of [el.strength, field.querySelector('.presets:not(.steps)'), $('strength-help')]) if (n) n.hidden = !units;
    if (!b) return;
    const sel = brushFields(remove).strength;
    brushUI.steps.replaceChildren(...b.steps.map((st) => {
      const x = document.createElement('button');
      x.type = 'button';
      x.className = 'preset';
      x.dataset.step = st.name;
      x.textContent = st.name;
      x.title = stepTitle(b, st, remove);
      x.setAttribute('aria-pressed', String(st.name === sel));
      return x;
    }));
    if (el.strengthOut && !b.ranked) el.strengthOut.textContent = sel + ' · ' + b.name;
    else if (el.strengthOut) el.strengthOut.textContent = sel + ' · ' + el.strengthOut.textContent;
  }

  function conceptColor(name) {
    const c = model.concepts.find((x) => x.name === name);
    return c ? c.color : '#ffffff';
  }

  function buildPalette() {
    if (!el.palette) return;
    el.palette.replaceChildren();
    model.concepts.forEach((c, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'concept';
      b.dataset.concept = c.name;
      b.dataset.color = c.color;
      const key = conceptKeyLabel(i);
      b.setAttribute('aria-label', key ? c.name + ' (' + key + ')' : c.name);
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.setAttribute('aria-hidden', 'true');
      const nm = document.createElement('span');
      nm.className = 'concept-name';
      nm.textContent = c.name;
      b.append(sw, nm);
      if (key) {
        const k = document.createElement('kbd');
        k.setAttribute('aria-hidden', 'true');
        k.textContent = key;
        b.append(k);
      }
      el.palette.append(b);
    });
    if (!model.concepts.some((c) => c.name === ui.concept)) ui.concept = model.concepts.length ? model.concepts[0].name : '';
    paintSwatches();
    selectConcept(ui.concept);
  }

  // Every concept has a key, in palette order (the page config has the
  // list: the number row, then letters no other shortcut uses).
  const conceptKeys = cfg.concept_keys || '123456789';
  const conceptKeyLabel = (i) => (i < conceptKeys.length ? conceptKeys[i].toUpperCase() : '');

  // Colours come from data attributes and are applied through the CSSOM, so
  // the page needs no inline style (a strict CSP stays possible).
  function paintSwatches() {
    for (const b of $$('.concept')) b.style.setProperty('--concept', b.dataset.color);
  }

  function selectConcept(name) {
    if (!model.concepts.some((c) => c.name === name)) return;
    ui.concept = name;
    for (const b of $$('.concept')) b.setAttribute('aria-pressed', String(!ui.custom && b.dataset.concept === name));
    if (el.eraseConcept) el.eraseConcept.textContent = ui.custom ? ui.custom.label : name;
    document.documentElement.style.setProperty('--current', ui.custom ? ui.custom.color : conceptColor(name));
    updateControls();
    drawOverlay();
    emit('concept', name);
  }

  function setMode(mode) {
    ui.mode = mode;
    for (const b of $$('button[data-mode]')) b.setAttribute('aria-pressed', String(b.dataset.mode === mode));
    document.body.dataset.mode = mode;
    syncStrength();
    drawOverlay();
  }

  function setRadius(r) {
    const max = el.brush ? Number(el.brush.max) : model.limits.max_radius;
    ui.radius = Math.max(1, Math.min(max, Math.round(r)));
    if (el.brush) el.brush.value = String(ui.radius);
    if (el.brushOut) el.brushOut.textContent = ui.radius + ' px';
    drawOverlay();
  }

  function setUnits(n) {
    ui.units = Math.max(1, Math.min(cfg.units.max, Math.round(n)));
    syncStrength();
  }

  function setGrid(on) {
    ui.grid = on;
    if (el.grid) el.grid.setAttribute('aria-pressed', String(on));
    drawOverlay();
  }

  function buildSampleTiles() {
    for (const id of model.sampleIDs.slice(0, 24)) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'thumb';
      b.dataset.id = String(id);
      b.setAttribute('aria-label', 'Image ' + id);
      const s = document.createElement('span');
      s.className = 'thumb-id';
      s.textContent = String(id);
      b.append(s);
      el.samples.append(b);
    }
  }

  function syncLayerSelect() {
    for (const o of Array.from(el.layer.options)) o.disabled = !model.layers.has(o.value);
  }

  function loadImage(id, layer) {
    if (!Number.isInteger(id) || id < 0 || (model.maxID > 0 && id >= model.maxID)) {
      setStatus('Image ids go from 0 to ' + (model.maxID - 1) + '.', 'error');
      return;
    }
    if (id === session.id && (!layer || layer === session.layer)) return;
    // An image painted before in this tab comes back with its painting
    // (navigation.js remembers it); Reset starts it over, undoably.
    const painting = app.hooks.paintingOf(id, layer || session.layer);
    const msg = painting ? { t: 'open', state: painting.token } : { t: 'load', id };
    if (layer && !painting) msg.layer = layer;
    const seq = conn.send(msg);
    if (!seq) {
      setStatus('Not connected yet.', 'warn', false, 'conn');
      return;
    }
    if (painting) {
      setStatus('Image ' + id + ' again, with your ' + painting.edits + (painting.edits === 1 ? ' edit' : ' edits') +
        '. Reset starts it over; Undo goes back.', 'info');
    }
    emit('navigate', seq);
  }

  // onConnected runs when a connection shows its first image: messages
  // about the connection go, and what waited for it is sent.
  function onConnected() {
    if (statusTag === 'conn') setStatus('');
    if (pendingOpen) {
      const tok = pendingOpen;
      pendingOpen = '';
      openToken(tok);
    }
    flushQueued();
  }

  // openToken shows a share token's painting: on this connection when it is
  // up, else the next connection starts from it.
  let pendingOpen = '';
  function openToken(tok) {
    if (!tok || tok === session.token) return;
    if (conn.ready()) {
      if (conn.send({ t: 'open', state: tok })) return;
    }
    pendingOpen = tok;
    if (!conn.ws) {
      session.token = tok;
      pendingOpen = '';
      conn.open();
    }
  }

  // revealCanvas scrolls the picture into view when the control that changed
  // it (a thumbnail, Random) left it off screen, as on a phone.
  function revealCanvas() {
    const r = el.wrap.getBoundingClientRect();
    if (r.top >= 0 && r.bottom <= window.innerHeight) return;
    const smooth = !window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    el.wrap.scrollIntoView({ block: r.height > window.innerHeight ? 'start' : 'center', behavior: smooth ? 'smooth' : 'auto' });
  }

  function act(t) {
    // Undo in the middle of a drag would split the stroke in two.
    if (activeDrag) return;
    if (!conn.send({ t })) setStatus('Not connected yet.', 'warn', false, 'conn');
  }

  // ---- painting ----------------------------------------------------------------

  const overlayCtx = el.overlay.getContext('2d');
  let overlayScale = 1; // overlay backing pixels per image pixel
  let hover = null; // {x, y} in image pixels, or null
  // Strokes drawn but not yet in the image on screen.
  const strokes = [];
  let activeDrag = null;
  let strokeCounter = Math.floor(Math.random() * 1e6);

  function resizeOverlay() {
    const r = el.overlay.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(r.width * dpr));
    const h = Math.max(1, Math.round(r.height * dpr));
    if (el.overlay.width !== w || el.overlay.height !== h) {
      el.overlay.width = w;
      el.overlay.height = h;
    }
    overlayScale = w / model.width;
    drawOverlay();
  }
  new ResizeObserver(resizeOverlay).observe(el.overlay);

  function toImage(ev) {
    const r = el.overlay.getBoundingClientRect();
    const x = ((ev.clientX - r.left) / r.width) * model.width;
    const y = ((ev.clientY - r.top) / r.height) * model.height;
    return { x, y };
  }

  // Points go to the server as integers (it rounds anyway), so what the
  // overlay shows is exactly what gets painted and replayed from a token.
  function quantize(p) {
    return [
      Math.min(model.width - 1, Math.max(0, Math.round(p.x))),
      Math.min(model.height - 1, Math.max(0, Math.round(p.y))),
    ];
  }

  function nextStrokeID() {
    strokeCounter = (strokeCounter % (MAX_UINT32 - 1)) + 1;
    return strokeCounter;
  }

  function newStroke(points) {
    const layer = model.layers.get(session.layer);
    const cb = ui.custom;
    return {
      id: nextStrokeID(),
      concept: cb ? undefined : ui.concept,
      color: cb ? cb.color : conceptColor(ui.concept),
      mode: ui.mode,
      units: cb ? undefined : effectiveUnits(),
      ...(cb ? { custom: cb.wire } : brushFields(ui.mode === 'remove')),
      radius: ui.radius,
      points,
      sent: 0,
      lastSeq: 0,
      done: false,
      cells: new Set(),
      gridW: layer ? layer.width : 0,
      gridH: layer ? layer.height : 0,
    };
  }

  function canPaint() {
    if (!conn.ready()) {
      if (conn.idle || !conn.ws) conn.open();
      // While the connection opens, the stroke is drawn and queued.
      if (!conn.connecting()) {
        setStatus('Not connected yet; try again in a moment.', 'warn', false, 'conn');
        return false;
      }
    }
    if (!ui.custom && (!ui.concept || conceptUnits(ui.concept) <= 0)) {
      setStatus(ui.concept ? ui.concept + ' cannot be painted at ' + session.layer + '.' : 'Pick a concept first.', 'warn');
      return false;
    }
    return true;
  }

  function startDrag(ev) {
    if (!canPaint()) return;
    try {
      el.overlay.setPointerCapture(ev.pointerId);
    } catch {
      // The pointer is already gone; the drag still works inside the canvas.
    }
    const s = newStroke([]);
    activeDrag = { pointerId: ev.pointerId, stroke: s, lastSend: 0, timer: 0 };
    strokes.push(s);
    addPoint(quantize(toImage(ev)));
    if (ev.pointerType === 'touch') {
      // Two fingers scroll or zoom the page (the canvas allows pinch-zoom
      // gestures): the browser then cancels this pointer. Holding the first
      // part back a moment keeps the finger that lands first from painting.
      activeDrag.lastSend = performance.now() + TOUCH_GRACE_MS - cfg.partial_ms;
      activeDrag.timer = setTimeout(() => sendPart(false), TOUCH_GRACE_MS);
      return;
    }
    // A click paints at once; a drag sends parts as it goes.
    sendPart(false);
  }

  // cancelDrag ends a drag the browser took over (a two-finger scroll or
  // zoom): what it painted is taken back.
  function cancelDrag() {
    const d = activeDrag;
    if (!d) return;
    const s = d.stroke;
    const sent = s.lastSeq > 0;
    endDrag(false);
    const i = strokes.indexOf(s);
    if (i >= 0) strokes.splice(i, 1);
    // Undo removes the whole stroke when nothing else came after it.
    if (sent && conn.seq === s.lastSeq) conn.send({ t: 'undo' });
    drawOverlay();
  }

  // paintDot is the keyboard's stroke: one brush dab at the cursor.
  function paintDot(p) {
    if (activeDrag || !canPaint()) return;
    const s = newStroke([]);
    activeDrag = { pointerId: null, stroke: s, lastSend: 0, timer: 0 };
    strokes.push(s);
    addPoint(quantize(p));
    endDrag(true);
  }

  // Arrow keys move the brush one layer-grid cell (Shift: one pixel) and
  // Enter or Space paints, so the canvas works without a pointer.
  function canvasKey(ev) {
    const layer = model.layers.get(session.layer);
    const big = layer ? model.width / layer.width : Math.max(1, model.width / 16);
    const step = ev.shiftKey ? 1 : big;
    if (!hover) hover = { x: model.width / 2, y: model.height / 2 };
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[ev.key]) {
      hover = {
        x: Math.min(model.width - 1, Math.max(0, hover.x + moves[ev.key][0])),
        y: Math.min(model.height - 1, Math.max(0, hover.y + moves[ev.key][1])),
      };
    } else if (ev.key === 'Enter' || ev.key === ' ') {
      paintDot(hover);
    } else {
      return false;
    }
    drawOverlay();
    return true;
  }

  function addPoint(p) {
    const s = activeDrag.stroke;
    const last = s.points[s.points.length - 1];
    if (last && last[0] === p[0] && last[1] === p[1]) return;
    s.points.push(p);
    markCells(s, last || p, p);
  }

  // markCells rasterises one brush segment exactly as the server does
  // (integer pixels within radius of the segment) and records the layer-grid
  // cells it touches, for the grid view.
  function markCells(s, a, b) {
    if (!s.gridW) return;
    const r = s.radius;
    const x0 = Math.max(0, Math.floor(Math.min(a[0], b[0]) - r));
    const x1 = Math.min(model.width - 1, Math.ceil(Math.max(a[0], b[0]) + r));
    const y0 = Math.max(0, Math.floor(Math.min(a[1], b[1]) - r));
    const y1 = Math.min(model.height - 1, Math.ceil(Math.max(a[1], b[1]) + r));
    const dx = b[0] - a[0];
    const dy = b[1] - a[1];
    const len2 = dx * dx + dy * dy;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        let t = len2 ? ((x - a[0]) * dx + (y - a[1]) * dy) / len2 : 0;
        t = Math.max(0, Math.min(1, t));
        const ex = a[0] + t * dx - x;
        const ey = a[1] + t * dy - y;
        if (ex * ex + ey * ey <= r * r) {
          const cx = Math.floor((x * s.gridW) / model.width);
          const cy = Math.floor((y * s.gridH) / model.height);
          s.cells.add(cy * s.gridW + cx);
        }
      }
    }
  }

  // sendStroke sends the points of s not yet sent as a continuation of its
  // stroke (same "stroke" id), splitting at the protocol's limits. It
  // returns the stroke the points went to last (a full stroke continues in
  // a new one), or null when the connection is not ready.
  function sendStroke(s) {
    while (s.sent < s.points.length) {
      const maxStroke = model.limits.max_stroke_points;
      if (s.sent >= maxStroke) {
        // The stroke is full: continue with a new stroke (its own undo step)
        // that starts at the last sent point so the line stays unbroken.
        const cont = newStroke(s.points.slice(s.sent - 1));
        Object.assign(cont, { concept: s.concept, color: s.color, mode: s.mode, units: s.units, brush: s.brush, strength: s.strength, radius: s.radius, custom: s.custom });
        cont.cells = s.cells;
        s.points = s.points.slice(0, s.sent);
        s.done = true;
        strokes.push(cont);
        s = cont;
      }
      const room = Math.min(model.limits.max_points, model.limits.max_stroke_points - s.sent);
      const part = s.points.slice(s.sent, s.sent + room);
      const seq = conn.send({
        t: 'stroke', concept: s.concept, mode: s.mode, units: s.units, brush: s.brush, strength: s.strength, radius: s.radius, points: part, stroke: s.id,
        custom: s.custom,
      });
      if (!seq) return null;
      s.sent += part.length;
      s.lastSeq = seq;
    }
    return s;
  }

  // sendPart sends the drag's new points. While a connection is being
  // opened (after an idle pause, say) they wait for it: flushQueued sends
  // them with the connection's first image.
  function sendPart(final) {
    const d = activeDrag;
    if (!d) return;
    clearTimeout(d.timer);
    d.timer = 0;
    if (!conn.ready() && conn.connecting()) return;
    const s = sendStroke(d.stroke);
    if (!s) {
      endDrag(false);
      return;
    }
    d.stroke = s;
    d.lastSend = performance.now();
    if (final) s.done = true;
  }

  // flushQueued sends the strokes drawn while the connection was opening.
  function flushQueued() {
    for (const s of strokes.slice()) {
      if (s.sent >= s.points.length) continue;
      if (activeDrag && activeDrag.stroke === s) {
        sendPart(false);
        continue;
      }
      const last = sendStroke(s);
      if (!last) return;
      last.done = true;
    }
  }

  function moveDrag(ev) {
    const d = activeDrag;
    const events = typeof ev.getCoalescedEvents === 'function' ? ev.getCoalescedEvents() : [];
    for (const e of events.length ? events : [ev]) addPoint(quantize(toImage(e)));
    const wait = cfg.partial_ms - (performance.now() - d.lastSend);
    if (wait <= 0) sendPart(false);
    else if (!d.timer) d.timer = setTimeout(() => sendPart(false), wait);
  }

  function endDrag(send) {
    const d = activeDrag;
    if (!d) return;
    if (send) sendPart(true);
    clearTimeout(d.timer);
    d.stroke.done = true;
    const queued = send && conn.connecting() && d.stroke.sent < d.stroke.points.length;
    if (d.stroke.lastSeq === 0 && !queued) {
      // Nothing reached the server, so no frame would ever settle it.
      const i = strokes.indexOf(d.stroke);
      if (i >= 0) strokes.splice(i, 1);
    }
    activeDrag = null;
    if (d.pointerId !== null && el.overlay.hasPointerCapture(d.pointerId)) {
      el.overlay.releasePointerCapture(d.pointerId);
    }
    // When the pointer rested before release, the frame with the stroke's
    // last part is already on screen and no later frame will settle it.
    settleStrokes(session.frameSeq);
  }

  // settleStrokes drops overlays whose strokes the image on screen includes.
  function settleStrokes(seq) {
    for (let i = strokes.length - 1; i >= 0; i--) {
      const s = strokes[i];
      if (s.done && s.lastSeq > 0 && s.lastSeq <= seq) strokes.splice(i, 1);
    }
    drawOverlay();
  }

  function dropStrokeOverlay(seq) {
    const i = strokes.findIndex((s) => s.lastSeq === seq);
    if (i >= 0 && strokes[i] !== (activeDrag && activeDrag.stroke)) strokes.splice(i, 1);
    drawOverlay();
  }

  let overlayQueued = false;
  function drawOverlay() {
    if (overlayQueued) return;
    overlayQueued = true;
    requestAnimationFrame(renderOverlay);
  }

  function renderOverlay() {
    overlayQueued = false;
    const c = overlayCtx;
    const k = overlayScale;
    c.clearRect(0, 0, el.overlay.width, el.overlay.height);
    const layer = model.layers.get(session.layer);
    if (ui.grid && layer) {
      // The edits in the image keep an outline of their cells, so the grid
      // shows what each one changed; strokes not yet in it are tinted too.
      for (const s of strokes) {
        if (s.gridW !== layer.width || s.gridH !== layer.height) continue;
        fillCells(c, layer, k, s.cells, withAlpha(s.color, 0.22));
      }
      drawGrid(c, layer, k);
      for (const e of session.editList) outlineCells(c, layer, k, editCells(e, layer), conceptColor(e.concept), 1);
      for (const s of strokes) {
        if (s.gridW === layer.width && s.gridH === layer.height) outlineCells(c, layer, k, s.cells, s.color, 1);
      }
    }
    const hi = session.editList[ui.highlight];
    if (hi && layer) {
      const cells = editCells(hi, layer);
      fillCells(c, layer, k, cells, withAlpha(conceptColor(hi.concept), 0.35));
      outlineCells(c, layer, k, cells, conceptColor(hi.concept), 2);
    }
    for (const s of strokes) drawStroke(c, s, k);
    if (hover) drawCursor(c, hover, k);
  }

  // editCells decodes an edit_list entry's cells (hex digits, four cells
  // each, first cell in the highest bit; docs/protocol.md) into a Set.
  function editCells(e, layer) {
    if (e._cells && e._cells.n === layer.width * layer.height) return e._cells.set;
    const set = new Set();
    const n = layer.width * layer.height;
    for (let d = 0; d < e.cells.length; d++) {
      const v = parseInt(e.cells[d], 16);
      for (let b = 0; b < 4; b++) if (v & (8 >> b) && d * 4 + b < n) set.add(d * 4 + b);
    }
    e._cells = { n, set };
    return set;
  }

  function fillCells(c, layer, k, cells, style) {
    const cw = (model.width / layer.width) * k;
    const ch = (model.height / layer.height) * k;
    c.fillStyle = style;
    for (const cell of cells) c.fillRect((cell % layer.width) * cw, Math.floor(cell / layer.width) * ch, cw, ch);
  }

  // outlineCells draws the border of a set of cells: a dark halo under the
  // concept colour, so it shows on any image (a green tree on grass too).
  function outlineCells(c, layer, k, cells, color, weight) {
    if (!cells.size) return;
    const cw = (model.width / layer.width) * k;
    const ch = (model.height / layer.height) * k;
    const dpr = window.devicePixelRatio || 1;
    c.save();
    c.beginPath();
    for (const cell of cells) {
      const cx = cell % layer.width;
      const cy = Math.floor(cell / layer.width);
      const x0 = cx * cw;
      const y0 = cy * ch;
      const edge = (nx, ny) => nx < 0 || ny < 0 || nx >= layer.width || ny >= layer.height || !cells.has(ny * layer.width + nx);
      if (edge(cx, cy - 1)) { c.moveTo(x0, y0); c.lineTo(x0 + cw, y0); }
      if (edge(cx, cy + 1)) { c.moveTo(x0, y0 + ch); c.lineTo(x0 + cw, y0 + ch); }
      if (edge(cx - 1, cy)) { c.moveTo(x0, y0); c.lineTo(x0, y0 + ch); }
      if (edge(cx + 1, cy)) { c.moveTo(x0 + cw, y0); c.lineTo(x0 + cw, y0 + ch); }
    }
    c.lineCap = 'square';
    c.strokeStyle = 'rgba(0,0,0,0.75)';
    c.lineWidth = (2 + 2 * weight) * dpr;
    c.stroke();
    c.strokeStyle = color;
    c.lineWidth = 2 * weight * dpr;
    c.stroke();
    c.restore();
  }

  function drawGrid(c, layer, k) {
    const w = el.overlay.width;
    const h = el.overlay.height;
    c.save();
    c.lineWidth = Math.max(1, window.devicePixelRatio || 1);
    for (const [color, off] of [['rgba(0,0,0,0.45)', c.lineWidth], ['rgba(255,255,255,0.7)', 0]]) {
      c.strokeStyle = color;
      c.beginPath();
      for (let i = 1; i < layer.width; i++) {
        const x = Math.round((i * model.width * k) / layer.width) + 0.5 + off;
        c.moveTo(x, 0);
        c.lineTo(x, h);
      }
      for (let j = 1; j < layer.height; j++) {
        const y = Math.round((j * model.height * k) / layer.height) + 0.5 + off;
        c.moveTo(0, y);
        c.lineTo(w, y);
      }
      c.stroke();
    }
    c.restore();
  }

  const stripeCache = new Map();
  // Remove strokes are hatched so they read differently from draw strokes.
  function stripes(color) {
    let p = stripeCache.get(color);
    if (p) return p;
    const t = document.createElement('canvas');
    const n = Math.round(10 * (window.devicePixelRatio || 1));
    t.width = t.height = n;
    const g = t.getContext('2d');
    g.fillStyle = 'rgba(20,20,24,0.45)';
    g.fillRect(0, 0, n, n);
    g.strokeStyle = withAlpha(color, 0.9);
    g.lineWidth = n / 4;
    g.beginPath();
    for (const o of [-n, 0, n]) {
      g.moveTo(o, n);
      g.lineTo(o + n, 0);
    }
    g.stroke();
    p = overlayCtx.createPattern(t, 'repeat');
    stripeCache.set(color, p);
    return p;
  }

  function drawStroke(c, s, k) {
    if (!s.points.length) return;
    c.save();
    // The server paints pixels whose centres lie within the radius; pixel
    // (x, y) covers [x, x+1), so the overlay is offset by half a pixel.
    const pts = s.points.map(([x, y]) => [(x + 0.5) * k, (y + 0.5) * k]);
    const style = s.mode === 'remove' ? stripes(s.color) : withAlpha(s.color, 0.5);
    c.lineCap = 'round';
    c.lineJoin = 'round';
    c.lineWidth = (2 * s.radius + 1) * k;
    if (pts.length === 1) {
      c.fillStyle = style;
      c.beginPath();
      c.arc(pts[0][0], pts[0][1], c.lineWidth / 2, 0, 2 * Math.PI);
      c.fill();
    } else {
      c.strokeStyle = style;
      c.beginPath();
      c.moveTo(pts[0][0], pts[0][1]);
      for (let i = 1; i < pts.length; i++) c.lineTo(pts[i][0], pts[i][1]);
      c.stroke();
    }
    c.restore();
  }

  function drawCursor(c, p, k) {
    const x = p.x * k;
    const y = p.y * k;
    const r = (ui.radius + 0.5) * k;
    c.save();
    c.lineWidth = Math.max(1.5, (window.devicePixelRatio || 1) * 1.5);
    c.strokeStyle = 'rgba(0,0,0,0.6)';
    c.beginPath();
    c.arc(x, y, r + c.lineWidth, 0, 2 * Math.PI);
    c.stroke();
    c.strokeStyle = ui.mode === 'remove' ? '#ffffff' : conceptColor(ui.concept);
    if (ui.mode === 'remove') c.setLineDash([4 * (window.devicePixelRatio || 1), 3 * (window.devicePixelRatio || 1)]);
    c.beginPath();
    c.arc(x, y, r, 0, 2 * Math.PI);
    c.stroke();
    c.restore();
  }

  function withAlpha(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return 'rgba(' + ((n >> 16) & 255) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + a + ')';
  }

  el.overlay.addEventListener('pointerdown', (ev) => {
    if (ev.pointerType === 'mouse' && ev.button !== 0) return;
    if (activeDrag) return; // a second finger does not start a second stroke
    ev.preventDefault();
    hover = toImage(ev);
    startDrag(ev);
    drawOverlay();
  });
  el.overlay.addEventListener('pointermove', (ev) => {
    hover = ev.pointerType === 'touch' && !activeDrag ? null : toImage(ev);
    if (activeDrag && ev.pointerId === activeDrag.pointerId) moveDrag(ev);
    drawOverlay();
  });
  const finish = (ev) => {
    if (!activeDrag || ev.pointerId !== activeDrag.pointerId) return;
    addPoint(quantize(toImage(ev)));
    endDrag(true);
    if (ev.pointerType === 'touch') hover = null;
    drawOverlay();
  };
  el.overlay.addEventListener('pointerup', finish);
  el.overlay.addEventListener('pointercancel', (ev) => {
    if (activeDrag && ev.pointerId === activeDrag.pointerId) cancelDrag();
    if (ev.pointerType === 'touch') hover = null;
  });
  el.overlay.addEventListener('pointerleave', () => {
    if (!activeDrag) {
      hover = null;
      drawOverlay();
    }
  });
  el.overlay.addEventListener('contextmenu', (ev) => ev.preventDefault());

  // ---- wiring -----------------------------------------------------------------

  if (el.palette) {
    el.palette.addEventListener('click', (ev) => {
      const b = ev.target.closest('.concept');
      if (b) {
        ui.custom = null;
        selectConcept(b.dataset.concept);
      }
    });
  }
  for (const b of $$('button[data-mode]')) b.addEventListener('click', () => setMode(b.dataset.mode));
  if (el.brush) el.brush.addEventListener('input', () => setRadius(Number(el.brush.value)));
  if (el.strength) el.strength.addEventListener('input', () => setUnits(Number(el.strength.value)));
  for (const b of $$('.preset[data-units]')) b.addEventListener('click', () => setUnits(Number(b.dataset.units)));
  if (el.undo) el.undo.addEventListener('click', () => act('undo'));
  if (el.redo) el.redo.addEventListener('click', () => act('redo'));
  if (el.reset) el.reset.addEventListener('click', () => act('reset'));
  if (el.grid) el.grid.addEventListener('click', () => setGrid(!ui.grid));
  if (el.compare) el.compare.addEventListener('click', () => setCompare(!ui.comparing));
  if (el.eraseAll) {
    el.eraseAll.addEventListener('click', () => {
      const msg = ui.custom ? { t: 'erase_all', custom: ui.custom.wire } : { t: 'erase_all', concept: ui.concept, units: effectiveUnits(), ...brushFields(true) };
      if (!conn.send(msg)) setStatus('Not connected yet.', 'warn', false, 'conn');
    });
  }
  if (el.samples) {
    el.samples.addEventListener('click', (ev) => {
      const t = ev.target.closest('.thumb');
      if (t) {
        loadImage(Number(t.dataset.id));
        revealCanvas();
      }
    });
  }
  if (el.pick) {
    el.pick.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const raw = el.imageID.value.trim();
      if (!/^\d+$/.test(raw)) {
        setStatus('Type a whole number as the image id.', 'error');
        return;
      }
      loadImage(Number(raw));
      revealCanvas();
    });
  }
  if (el.random) {
    el.random.addEventListener('click', () => {
      const n = model.maxID > 0 ? model.maxID : 1000000;
      loadImage(Math.floor(Math.random() * n));
      revealCanvas();
    });
  }
  if (el.layer) el.layer.addEventListener('change', () => loadImage(session.id ?? 0, el.layer.value));

  if (el.download) {
    // The server's PNG is lossless; the canvas copy is the fallback when the
    // server cannot render right now.
    el.download.addEventListener('click', async (ev) => {
      ev.preventDefault();
      const name = el.download.download || 'ganpaint.png';
      let blob = null;
      try {
        const res = await fetch(el.download.href);
        if (res.ok) blob = await res.blob();
      } catch {
        blob = null;
      }
      if (!blob) blob = await new Promise((resolve) => el.image.toBlob(resolve, 'image/png'));
      if (!blob) {
        setStatus('Could not produce the PNG.', 'error');
        return;
      }
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    });
  }

  if (el.share) {
    el.share.addEventListener('click', async () => {
      if (!session.token) {
        setStatus('Nothing to share yet.', 'warn');
        return;
      }
      const link = shareLink();
      if (el.shareBox) {
        el.shareBox.hidden = false;
        el.shareURL.value = link;
      }
      try {
        await navigator.clipboard.writeText(link);
        setStatus('Share link copied to the clipboard.', 'ok');
      } catch {
        if (el.shareURL) {
          el.shareURL.focus();
          el.shareURL.select();
        }
        setStatus('Copy the link from the box below the image.', 'info');
      }
    });
  }
  if (el.shareURL) el.shareURL.addEventListener('focus', () => el.shareURL.select());

  el.overlay.addEventListener('keydown', (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (canvasKey(ev)) ev.preventDefault();
  });
  el.overlay.addEventListener('focus', () => {
    if (!hover) hover = { x: model.width / 2, y: model.height / 2 };
    drawOverlay();
  });
  el.overlay.addEventListener('blur', () => {
    hover = null;
    drawOverlay();
  });

  document.addEventListener('keydown', (ev) => {
    if (ev.defaultPrevented || ev.altKey) return;
    const tag = ev.target && ev.target.tagName;
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') {
      if (ev.key === 'Escape') ev.target.blur();
      return;
    }
    if (conn.idle) conn.open();
    const mod = ev.ctrlKey || ev.metaKey;
    const key = ev.key.toLowerCase();
    if (mod) {
      if (key === 'z' && !ev.shiftKey) act('undo');
      else if ((key === 'z' && ev.shiftKey) || key === 'y') act('redo');
      else return;
      ev.preventDefault();
      return;
    }
    if (key === 'o') {
      if (!ev.repeat) setCompare(true);
    } else if (key === 'd') setMode('add');
    else if (key === 'r') setMode('remove');
    else if (key === '[') setRadius(ui.radius - Math.max(1, Math.round(ui.radius * 0.2)));
    else if (key === ']') setRadius(ui.radius + Math.max(1, Math.round(ui.radius * 0.2)));
    else if (key === 'g' && el.grid) setGrid(!ui.grid);
    else if (key.length === 1 && conceptKeys.includes(key) && model.concepts[conceptKeys.indexOf(key)]) {
      ui.custom = null;
      selectConcept(model.concepts[conceptKeys.indexOf(key)].name);
    } else return;
    ev.preventDefault();
  });

  document.addEventListener('keyup', (ev) => {
    if (ev.key.toLowerCase() === 'o' && ui.comparing) setCompare(false);
  });
  window.addEventListener('blur', () => { if (ui.comparing) setCompare(false); });

  // Read-only view for tests and debugging in the console.
  Object.defineProperty(window, 'ganpaint', {
    value: Object.freeze({
      get state() { return session.token; },
      get seq() { return session.frameSeq; },
      // sentSeq is the last seq sent on this connection; the image is up to
      // date when seq === sentSeq.
      get sentSeq() { return conn.seq; },
      // settled: the image on screen is the latest state in the encoding
      // asked for, so its pixels are final.
      get settled() {
        return conn.ready() && session.frameSeq === conn.seq && session.frameFormat === session.wantFormat;
      },
      get connected() { return conn.ready(); },
      get id() { return session.id; },
      get edits() { return session.edits; },
      get editList() { return session.editList.map((e) => ({ concept: e.concept, mode: e.mode, cells: e.cells })); },
    }),
  });

  // ---- parts ------------------------------------------------------------------
  // Concerns kept in their own files (navigation.js, …) register an init
  // function with (window.GANPaintParts ||= []).push(init). Their scripts
  // come before this one in the page (deferred scripts run in order), and
  // each init gets this object. Parts read session and model; they change
  // the state only through send and openToken.
  const listeners = new Map();
  function emit(name, ...args) {
    for (const fn of listeners.get(name) || []) fn(...args);
  }
  const app = {
    cfg,
    el,
    model,
    session,
    on(name, fn) {
      if (!listeners.has(name)) listeners.set(name, []);
      listeners.get(name).push(fn);
    },
    send: (msg) => conn.send(msg),
    ready: () => conn.ready(),
    openToken,
    setStatus,
    drawOverlay,
    conceptColor,
    editCells: (e) => {
      const layer = model.layers.get(session.layer);
      return layer ? editCells(e, layer) : new Set();
    },
    // highlight shows edit i of session.editList on the picture (-1: none).
    highlight(i) {
      ui.highlight = i;
      drawOverlay();
    },
    // Overridable by parts: the remembered painting of an image, if any.
    hooks: { paintingOf: () => null },
    setMode,
    // setCustom chooses a brush that is not a concept (see ui.custom), or
    // null; custom() is the one chosen.
    setCustom(b) {
      ui.custom = b;
      selectConcept(ui.concept);
    },
    custom: () => ui.custom,
  };
  for (const init of window.GANPaintParts || []) init(app);

  paintSwatches();
  selectConcept(ui.concept);
  setMode(ui.mode);
  syncStrength();
  setConn('connecting', 'Connecting…');
  conn.open();
})();
