// GANPaint painter: browser side of the websocket protocol in docs/protocol.md.
// Native ES modules, no build step: the server serves each at a
// content-hashed URL and rewrites the imports below to those URLs. One
// entry serves the full painter and the /embed page; controls missing from
// a page are simply skipped. The modules share one context object (ctx):
// the page config, the elements, the state below, and each module's
// functions, which install() adds.
import { install as installStatus } from './status.js';
import { install as installConnection } from './connection.js';
import { install as installSession } from './session.js';
import { install as installOriginal } from './original.js';
import { install as installImages } from './images.js';
import { install as installHistory } from './history.js';
import { install as installPalette } from './palette.js';
import { install as installShare } from './share.js';
import { install as installCanvas } from './canvas.js';
import { install as installBrush } from './brush.js';
import { install as installKeys } from './keys.js';
import { install as installNavigation } from './navigation.js';
import { install as installStrokes } from './strokes.js';
import { install as installCompare } from './compare.js';
import { install as installRepair } from './repair.js';
import { install as installGrowth } from './growth.js';
import { install as installCustomBrush } from './custombrush.js';

function main() {
  const cfgEl = document.getElementById('ganpaint-config');
  if (!cfgEl) return;
  const cfg = JSON.parse(cfgEl.textContent);
  const $ = (id) => document.getElementById(id);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

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
    limits: Object.assign({}, cfg.limits, { max_units: cfg.units.max, max_radius: el.brush ? Number(el.brush.max) : cfg.limits.max_radius }),
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

  // Strokes drawn but not yet in the image on screen, the drag in
  // progress, and the brush cursor ({x, y} in image pixels, or null).
  const paint = { strokes: [], activeDrag: null, hover: null };

  const ctx = {
    cfg, proto: cfg.protocol, el, ui, model, session, paint, $, $$,
    hooks: { paintingOf: () => null },
  };
  for (const install of [
    installStatus, installConnection, installSession, installOriginal, installImages, installHistory,
    installPalette, installShare, installCanvas, installBrush, installKeys,
  ]) install(ctx);

  Object.defineProperty(window, 'ganpaint', {
    value: Object.freeze({
      get state() { return session.token; },
      get seq() { return session.frameSeq; },
      // sentSeq is the last seq sent on this connection; the image is up to
      // date when seq === sentSeq.
      get sentSeq() { return ctx.conn.seq; },
      // settled: the image on screen is the latest state in the encoding
      // asked for, so its pixels are final.
      get settled() {
        return ctx.conn.ready() && session.frameSeq === ctx.conn.seq && session.frameFormat === session.wantFormat;
      },
      get connected() { return ctx.conn.ready(); },
      get id() { return session.id; },
      get edits() { return session.edits; },
      get editList() { return session.editList.map((e) => ({ concept: e.concept, mode: e.mode, strength: e.strength, cells: e.cells })); },
    }),
  });

  // ---- parts ------------------------------------------------------------------
  // Tools in their own modules (navigation, the edit list, the analysis
  // tools, the custom brush) get the smaller app object below instead of
  // ctx: they read session and model, listen with on, and change the state
  // only through send, openToken and the few setters here. Each installs
  // itself only where its page has its elements (the analysis tools only
  // when the server offers them), so one import list serves every page.
  const listeners = new Map();
  ctx.emit = function emit(name, ...args) {
    for (const fn of listeners.get(name) || []) fn(...args);
  };
  const app = {
    cfg,
    el,
    model,
    session,
    on(name, fn) {
      if (!listeners.has(name)) listeners.set(name, []);
      listeners.get(name).push(fn);
    },
    send: (msg) => ctx.conn.send(msg),
    ready: () => ctx.conn.ready(),
    openToken: ctx.openToken,
    setStatus: ctx.setStatus,
    drawOverlay: ctx.drawOverlay,
    conceptColor: ctx.conceptColor,
    editCells: (e) => {
      const layer = model.layers.get(session.layer);
      return layer ? ctx.editCells(e, layer) : new Set();
    },
    // highlight shows edit i of session.editList on the picture (-1: none).
    highlight(i) {
      ui.highlight = i;
      ctx.drawOverlay();
    },
    // Overridable by parts: the remembered painting of an image, if any.
    hooks: ctx.hooks,
    setMode: ctx.setMode,
    // setCustom chooses a brush that is not a concept (see ui.custom), or
    // null; custom() is the one chosen.
    setCustom(b) {
      ui.custom = b;
      ctx.selectConcept(ui.concept);
    },
    custom: () => ui.custom,
  };
  for (const install of [installNavigation, installStrokes, installCompare, installRepair, installGrowth, installCustomBrush]) install(app);

  ctx.paintSwatches();
  ctx.selectConcept(ui.concept);
  ctx.setMode(ui.mode);
  ctx.syncStrength();
  ctx.setConn('connecting', 'Connecting…');
  ctx.conn.open();
}

main();
