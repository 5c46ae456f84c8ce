// Drawing the overlay: the grid, edit outlines, strokes not yet in the
// image and the brush cursor.
export function install(ctx) {
  const { cfg, proto, el, ui, model, session, paint, $, $$ } = ctx;
  const overlayCtx = el.overlay.getContext('2d');
  let overlayScale = 1; // overlay backing pixels per image pixel

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
      for (const s of paint.strokes) {
        if (s.gridW !== layer.width || s.gridH !== layer.height) continue;
        fillCells(c, layer, k, s.cells, withAlpha(s.color, 0.22));
      }
      drawGrid(c, layer, k);
      for (const e of session.editList) outlineCells(c, layer, k, editCells(e, layer), ctx.conceptColor(e.concept), 1);
      for (const s of paint.strokes) {
        if (s.gridW === layer.width && s.gridH === layer.height) outlineCells(c, layer, k, s.cells, s.color, 1);
      }
    }
    const hi = session.editList[ui.highlight];
    if (hi && layer) {
      const cells = editCells(hi, layer);
      fillCells(c, layer, k, cells, withAlpha(ctx.conceptColor(hi.concept), 0.35));
      outlineCells(c, layer, k, cells, ctx.conceptColor(hi.concept), 2);
    }
    for (const s of paint.strokes) drawStroke(c, s, k);
    if (paint.hover) drawCursor(c, paint.hover, k);
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
    c.strokeStyle = ui.mode === 'remove' ? '#ffffff' : ctx.conceptColor(ui.concept);
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


  Object.assign(ctx, { resizeOverlay, drawOverlay, renderOverlay, editCells, fillCells, outlineCells, drawGrid, stripes, drawStroke, drawCursor, withAlpha });
}
