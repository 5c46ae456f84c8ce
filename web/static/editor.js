// Unit editor: choose units (by a ranking range, by clicking the palette or
// the units listed at a clicked point), remove or insert them everywhere or
// under a painted mask, and compare images before and after. Everything
// goes through the REST API (docs/api.md): /api/units and /api/rankings for
// the palette, /api/generate for the images, /api/features for the point
// query.
'use strict';

(function () {
  const cfgEl = document.getElementById('editor-config');
  if (!cfgEl) return;
  const cfg = JSON.parse(cfgEl.textContent);
  const $ = (id) => document.getElementById(id);
  const el = {
    layer: $('ed-layer'), ranking: $('ed-ranking'), from: $('ed-from'), to: $('ed-to'), addRange: $('ed-add-range'),
    units: $('ed-units'), unitsInfo: $('ed-units-info'), clear: $('ed-clear'), alpha: $('ed-alpha'), alphaOut: $('ed-alpha-out'),
    maskClear: $('ed-mask-clear'), ids: $('ed-ids'), run: $('ed-run'), status: $('ed-status'), request: $('ed-request'),
    pairs: $('ed-pairs'), queryInfo: $('ed-query-info'), queryRaw: $('ed-query-raw'), queryQ: $('ed-query-q'), palette: $('ed-palette'),
    toPainter: $('ed-to-painter'),
  };
  const state = {
    layer: null, // {name, channels, width, height}
    units: [], // chosen units, in the order chosen
    info: [], // /api/units answer for the layer
    rankings: [], // /api/rankings answer
    before: new Map(), // id → data URL of the unedited image
    runs: 0,
    maskPainted: false,
    busy: false,
  };

  function status(text, kind) {
    el.status.textContent = text;
    el.status.dataset.kind = kind || 'info';
  }

  async function call(path, body) {
    const opts = body === undefined ? {} : {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    };
    const resp = await fetch(cfg.api + path, opts);
    let data = null;
    try {
      data = await resp.json();
    } catch (e) {
      throw new Error(`${path}: HTTP ${resp.status}`);
    }
    if (!resp.ok) throw new Error(data && data.error ? data.error : `${path}: HTTP ${resp.status}`);
    return data;
  }

  const q = (params) => new URLSearchParams(Object.assign({ project: cfg.project }, params)).toString();

  // ---- units ----

  function parseList(text, limit) {
    const out = [];
    const bad = [];
    for (const part of text.split(/[\s,;]+/)) {
      if (!part) continue;
      const m = /^(\d+)(?:-(\d+))?$/.exec(part);
      if (!m) {
        bad.push(part);
        continue;
      }
      const a = Number(m[1]);
      const b = m[2] === undefined ? a : Number(m[2]);
      for (let v = Math.min(a, b); v <= Math.max(a, b) && out.length < limit; v++) {
        if (!out.includes(v)) out.push(v);
      }
    }
    return { out, bad };
  }

  function describeUnits() {
    const counts = new Map();
    for (const u of state.units) {
      const label = (state.info[u] && state.info[u].label) || '?';
      counts.set(label, (counts.get(label) || 0) + 1);
    }
    const parts = Array.from(counts.entries()).sort((a, b) => b[1] - a[1]).map(([l, n]) => `${l} ×${n}`);
    const n = state.units.length;
    return n ? `${n} unit${n === 1 ? '' : 's'}: ${parts.join(', ')}` : 'No unit chosen.';
  }

  function setUnits(list) {
    const ch = state.layer.channels;
    state.units = list.filter((u, i) => u >= 0 && u < ch && list.indexOf(u) === i);
    el.units.value = state.units.join(', ');
    el.unitsInfo.textContent = describeUnits();
    for (const li of el.palette.children) {
      li.setAttribute('aria-pressed', String(state.units.includes(Number(li.dataset.unit))));
    }
    painterLink();
  }

  // painterLink points "Paint with these units" at the painter with the
  // chosen units, layer and action as a custom brush, in the address so it
  // opens in a new tab too; the painter checks it and says what is wrong.
  function painterLink() {
    if (!el.toPainter) return;
    const p = new URLSearchParams();
    p.set(cfg.custom_params.layer, state.layer.name);
    p.set(cfg.custom_params.units, state.units.join(','));
    p.set(cfg.custom_params.mode, mode());
    const ok = state.units.length > 0;
    // painter_url may carry ?model= (a server with several models).
    const to = new URL(cfg.painter_url, location.href);
    if (ok) for (const [k, v] of p) to.searchParams.set(k, v);
    el.toPainter.href = to.pathname + to.search;
    el.toPainter.setAttribute('aria-disabled', String(!ok));
    el.toPainter.title = ok ? `Paint with ${state.units.length} units of ${state.layer.name} (${mode()})` : 'Choose units first';
  }

  function toggleUnit(u) {
    if (state.units.includes(u)) setUnits(state.units.filter((v) => v !== u));
    else setUnits(state.units.concat([u]));
  }

  function rankingOrder(name) {
    const r = state.rankings.find((x) => x.name === name);
    if (!r) return state.info.map((_, i) => i);
    return r.scores.map((s, i) => [s, i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
  }

  function renderPalette() {
    const order = rankingOrder(el.ranking.value);
    const frag = document.createDocumentFragment();
    for (const u of order) {
      const info = state.info[u] || {};
      const li = document.createElement('li');
      li.className = 'pal-unit';
      li.dataset.unit = String(u);
      li.tabIndex = 0;
      li.setAttribute('role', 'button');
      li.setAttribute('aria-pressed', String(state.units.includes(u)));
      li.title = `unit ${u}: ${info.label || '?'} (IoU ${info.iou !== undefined ? info.iou.toFixed(3) : '?'})`;
      if (info.img) {
        const img = document.createElement('img');
        img.loading = 'lazy';
        img.alt = '';
        img.src = info.img;
        li.appendChild(img);
      }
      const cap = document.createElement('span');
      cap.textContent = `${u} ${info.label || ''}`;
      const col = cfg.colors[info.label];
      if (col) cap.dataset.color = col;
      li.appendChild(cap);
      frag.appendChild(li);
    }
    el.palette.replaceChildren(frag);
    // Colours come from data attributes so the page needs no inline style.
    for (const cap of el.palette.querySelectorAll('[data-color]')) cap.style.borderColor = cap.dataset.color;
  }

  async function loadLayer(name, units) {
    state.layer = cfg.layers.find((l) => l.name === name) || cfg.layers[0];
    el.layer.value = state.layer.name;
    const [u, r] = await Promise.all([
      call('/units?' + q({ layer: state.layer.name })),
      call('/rankings?' + q({ layer: state.layer.name })),
    ]);
    state.info = u.res;
    state.rankings = r.res;
    el.ranking.replaceChildren(...state.rankings.map((rk) => new Option(rk.name, rk.name)));
    el.to.max = el.from.max = String(state.layer.channels);
    renderPalette();
    setUnits(units || []);
    el.queryRaw.replaceChildren();
    el.queryQ.replaceChildren();
  }

  // ---- mask ----

  let maskCanvas = null;

  function ensureMaskCanvas(firstPair) {
    if (!firstPair) return;
    const wrap = firstPair.querySelector('.after-wrap');
    if (!maskCanvas) {
      maskCanvas = document.createElement('canvas');
      maskCanvas.width = cfg.width;
      maskCanvas.height = cfg.height;
      maskCanvas.className = 'mask-canvas';
      maskCanvas.id = 'ed-mask';
      maskCanvas.setAttribute('aria-label', 'Mask: drag to paint where the edit applies');
      let down = false;
      const paint = (ev) => {
        const r = maskCanvas.getBoundingClientRect();
        const x = ((ev.clientX - r.left) / r.width) * cfg.width;
        const y = ((ev.clientY - r.top) / r.height) * cfg.height;
        const ctx = maskCanvas.getContext('2d');
        ctx.fillStyle = 'rgba(122, 167, 255, 0.55)';
        ctx.beginPath();
        ctx.arc(x, y, Math.max(2, cfg.width / 16), 0, 2 * Math.PI);
        ctx.fill();
        state.maskPainted = true;
        document.querySelector('input[name="ed-where"][value="mask"]').checked = true;
      };
      maskCanvas.addEventListener('pointerdown', (ev) => {
        down = true;
        maskCanvas.setPointerCapture(ev.pointerId);
        paint(ev);
      });
      maskCanvas.addEventListener('pointermove', (ev) => down && paint(ev));
      maskCanvas.addEventListener('pointerup', () => {
        if (down) {
          down = false;
          run();
        }
      });
    }
    if (maskCanvas.parentNode !== wrap) wrap.appendChild(maskCanvas);
  }

  function clearMask() {
    if (maskCanvas) maskCanvas.getContext('2d').clearRect(0, 0, maskCanvas.width, maskCanvas.height);
    state.maskPainted = false;
  }

  // ---- generate ----

  function where() {
    return document.querySelector('input[name="ed-where"]:checked').value;
  }

  function mode() {
    return document.querySelector('input[name="ed-mode"]:checked').value;
  }

  function interventions() {
    if (!state.units.length) return [];
    const alpha = Number(el.alpha.value);
    const value = mode() === 'add' ? 'level' : 0;
    const iv = { ablations: state.units.map((unit) => ({ layer: state.layer.name, unit, alpha, value })) };
    if (where() === 'mask') {
      if (!state.maskPainted) return null;
      iv.mask = { shape: [], bitbounds: [], bitstring: maskCanvas.toDataURL('image/png') };
    }
    return [iv];
  }

  function pairFor(id) {
    let pair = el.pairs.querySelector(`.pair[data-id="${id}"]`);
    if (pair) return pair;
    pair = document.createElement('div');
    pair.className = 'pair';
    pair.dataset.id = String(id);
    const mk = (cls, alt) => {
      const wrap = document.createElement('div');
      wrap.className = cls + '-wrap';
      const img = document.createElement('img');
      img.className = cls;
      img.alt = alt;
      img.width = cfg.width;
      img.height = cfg.height;
      wrap.appendChild(img);
      return wrap;
    };
    const b = mk('before', `Image ${id} unedited (click to list the units active at a point)`);
    b.querySelector('img').addEventListener('click', (ev) => queryPoint(id, ev));
    const label = document.createElement('span');
    label.className = 'pair-id';
    label.textContent = `#${id}`;
    b.appendChild(label);
    pair.appendChild(b);
    pair.appendChild(mk('after', `Image ${id} edited`));
    return pair;
  }

  let runSeq = 0;

  async function run() {
    const { out: ids, bad } = parseList(el.ids.value, cfg.max_ids);
    if (bad.length || !ids.length) {
      status(bad.length ? `Not an image number: ${bad[0]}` : 'Give at least one image number.', 'error');
      return;
    }
    if (ids.some((id) => id >= cfg.max_id)) {
      status(`Image numbers go up to ${cfg.max_id - 1}.`, 'error');
      return;
    }
    const ivs = interventions();
    if (ivs === null) {
      status('Paint a mask on the first edited image, or choose "everywhere".', 'error');
      return;
    }
    const seq = ++runSeq;
    status('Generating…', 'busy');
    el.run.disabled = true;
    try {
      const missing = ids.filter((id) => !state.before.has(id));
      if (missing.length) {
        const r = await call('/generate', { project: cfg.project, ids: missing });
        for (const g of r.res) state.before.set(g.id, g.d);
      }
      const body = { project: cfg.project, ids, interventions: ivs || [] };
      el.request.textContent = JSON.stringify(body, (k, v) => (typeof v === 'string' && v.length > 80 ? v.slice(0, 60) + '…' : v), 1);
      const after = ivs && ivs.length ? (await call('/generate', body)).res : ids.map((id) => ({ id, d: state.before.get(id) }));
      if (seq !== runSeq) return; // a newer run has started
      const frag = document.createDocumentFragment();
      after.forEach((g, i) => {
        const pair = pairFor(ids[i]);
        pair.querySelector('img.before').src = state.before.get(ids[i]);
        pair.querySelector('img.after').src = g.d;
        frag.appendChild(pair);
      });
      el.pairs.replaceChildren(frag);
      ensureMaskCanvas(el.pairs.firstElementChild);
      state.runs++;
      el.pairs.dataset.runs = String(state.runs);
      const what = state.units.length ? `${mode() === 'add' ? 'inserted' : 'removed'} ${state.units.length} units ${where() === 'mask' ? 'under the mask' : 'everywhere'}` : 'no edit';
      status(`${ids.length} images, ${what}.`, 'ok');
      saveAddress(ids);
    } catch (e) {
      if (seq === runSeq) status(e.message, 'error');
    } finally {
      if (seq === runSeq) el.run.disabled = false;
    }
  }

  function saveAddress(ids) {
    const p = new URLSearchParams();
    p.set('layer', state.layer.name);
    if (state.units.length) p.set('units', state.units.join(','));
    p.set('ids', el.ids.value.replace(/\s+/g, ''));
    if (mode() === 'add') p.set('mode', 'add');
    history.replaceState(null, '', location.pathname + '?' + p.toString());
  }

  // ---- point query ----

  async function queryPoint(id, ev) {
    const img = ev.currentTarget;
    const r = img.getBoundingClientRect();
    const x = Math.min(cfg.width - 1, Math.max(0, Math.floor(((ev.clientX - r.left) / r.width) * cfg.width)));
    const y = Math.min(cfg.height - 1, Math.max(0, Math.floor(((ev.clientY - r.top) / r.height) * cfg.height)));
    for (const m of el.pairs.querySelectorAll('.query-mark')) m.remove();
    const mark = document.createElement('span');
    mark.className = 'query-mark';
    img.parentNode.appendChild(mark);
    mark.dataset.x = String(x / cfg.width);
    mark.dataset.y = String(y / cfg.height);
    mark.style.left = `${(100 * (x + 0.5)) / cfg.width}%`;
    mark.style.top = `${(100 * (y + 0.5)) / cfg.height}%`;
    el.queryInfo.textContent = `Image ${id}, pixel (${x}, ${y}) at ${state.layer.name}…`;
    try {
      const res = await call('/features', {
        project: cfg.project, ids: [id], layers: [state.layer.name],
        masks: [{ shape: [cfg.height, cfg.width], bitbounds: [y, x, y + 1, x + 1], bitstring: '1' }],
      });
      const st = res.res[state.layer.name];
      fillQuery(el.queryRaw, st.max, (v) => v.toFixed(2));
      if (st.max_quantile) fillQuery(el.queryQ, st.max_quantile, (v) => (100 * v).toFixed(1) + '%');
      else el.queryQ.replaceChildren();
      el.queryInfo.textContent = `Image ${id}, pixel (${x}, ${y}) at ${state.layer.name}: click a unit to choose it.`;
      el.queryRaw.dataset.id = String(id);
    } catch (e) {
      el.queryInfo.textContent = e.message;
    }
  }

  const queryTop = 15;

  function fillQuery(list, values, fmt) {
    const order = values.map((v, u) => [v, u]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, queryTop);
    list.replaceChildren(...order.map(([v, u]) => {
      const li = document.createElement('li');
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'query-unit';
      btn.dataset.unit = String(u);
      const label = (state.info[u] && state.info[u].label) || '?';
      btn.textContent = `unit ${u} · ${label} · ${fmt(v)}`;
      btn.addEventListener('click', () => toggleUnit(u));
      li.appendChild(btn);
      const more = document.createElement('a');
      more.href = cfg.unit_url.replace('{layer}', state.layer.name).replace('{unit}', String(u));
      more.textContent = '↗';
      more.title = `unit ${u} in the report`;
      more.className = 'query-more';
      li.appendChild(document.createTextNode(' '));
      li.appendChild(more);
      return li;
    }));
  }

  // ---- wiring ----

  el.layer.addEventListener('change', () => {
    state.before.clear();
    loadLayer(el.layer.value, []).then(run, (e) => status(e.message, 'error'));
  });
  el.ranking.addEventListener('change', renderPalette);
  el.addRange.addEventListener('click', () => {
    const order = rankingOrder(el.ranking.value);
    const a = Math.max(1, Number(el.from.value) || 1);
    const b = Math.min(order.length, Math.max(a, Number(el.to.value) || a));
    setUnits(state.units.concat(order.slice(a - 1, b)));
    run();
  });
  el.units.addEventListener('change', () => {
    const { out, bad } = parseList(el.units.value, state.layer.channels);
    setUnits(out);
    if (bad.length) status(`Ignored: ${bad.join(' ')}`, 'error');
  });
  el.clear.addEventListener('click', () => {
    setUnits([]);
    run();
  });
  el.palette.addEventListener('click', (ev) => {
    const li = ev.target.closest('.pal-unit');
    if (li) toggleUnit(Number(li.dataset.unit));
  });
  el.palette.addEventListener('keydown', (ev) => {
    const li = ev.target.closest('.pal-unit');
    if (li && (ev.key === 'Enter' || ev.key === ' ')) {
      ev.preventDefault();
      toggleUnit(Number(li.dataset.unit));
    }
  });
  el.alpha.addEventListener('input', () => (el.alphaOut.textContent = el.alpha.value));
  el.maskClear.addEventListener('click', () => {
    clearMask();
    if (where() === 'mask') run();
  });
  el.run.addEventListener('click', run);
  for (const r of document.querySelectorAll('input[name="ed-mode"]')) r.addEventListener('change', painterLink);
  if (el.toPainter) {
    el.toPainter.addEventListener('click', (ev) => {
      if (!state.units.length) {
        ev.preventDefault();
        status('Choose units first: a ranking range, the palette or a clicked point.', 'error');
      }
    });
  }
  el.ids.addEventListener('keydown', (ev) => ev.key === 'Enter' && run());

  // Start from the address (links from the report: ?layer=…&units=…).
  const start = new URLSearchParams(location.search);
  if (start.get('ids')) el.ids.value = start.get('ids');
  if (start.get('mode') === 'add') document.querySelector('input[name="ed-mode"][value="add"]').checked = true;
  const layerName = start.get('layer') || cfg.default_layer;
  const startLayer = cfg.layers.find((l) => l.name === layerName) || cfg.layers[0];
  const startUnits = parseList(start.get('units') || '', startLayer.channels).out;
  loadLayer(startLayer.name, startUnits).then(run, (e) => status(e.message, 'error'));
})();
