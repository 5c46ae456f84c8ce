// Painting: strokes from the pointer and the keyboard, sent to the server
// in parts while drawing, and kept as overlays until the image shows them.
import { editOf, eraseAllMessage, strokeMessage } from './edit.js';

export function install(ctx) {
  const { cfg, proto, el, ui, model, session, paint, $, $$ } = ctx;
  // A touch stroke's first part waits this long, so a second finger that
  // lands (to scroll or zoom the page) cancels it before anything is painted
  // (see touches below: the second finger's pointerdown cancels it).
  const TOUCH_GRACE_MS = 120;

  // Strokes drawn but not yet in the image on screen.
  let strokeCounter = Math.floor(Math.random() * 1e6);



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
    strokeCounter = (strokeCounter % (proto.max_seq - 1)) + 1;
    return strokeCounter;
  }

  function newStroke(points) {
    const layer = model.layers.get(session.layer);
    const cb = ui.custom;
    return {
      id: nextStrokeID(),
      concept: cb ? undefined : ui.concept,
      color: cb ? cb.color : ctx.conceptColor(ui.concept),
      mode: ui.mode,
      units: cb ? undefined : ctx.effectiveUnits(),
      // A custom brush has strength steps but no brush name of its own.
      ...(cb ? { custom: cb.wire, strength: ctx.brushFields(ui.mode === 'remove').strength } : ctx.brushFields(ui.mode === 'remove')),
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
    if (!ctx.conn.ready()) {
      if (ctx.conn.idle || !ctx.conn.ws) ctx.conn.open();
      // While the connection opens, the stroke is drawn and queued.
      if (!ctx.conn.connecting()) {
        ctx.setStatus('Not connected yet; try again in a moment.', 'warn', false, 'conn');
        return false;
      }
    }
    if (!ui.custom && (!ui.concept || ctx.conceptUnits(ui.concept) <= 0)) {
      ctx.setStatus(ui.concept ? ui.concept + ' cannot be painted at ' + session.layer + '.' : 'Pick a concept first.', 'warn');
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
    paint.activeDrag = { pointerId: ev.pointerId, stroke: s, lastSend: 0, timer: 0 };
    paint.strokes.push(s);
    addPoint(quantize(toImage(ev)));
    if (ev.pointerType === 'touch') {
      // Two fingers scroll or zoom the page (the canvas allows pinch-zoom
      // gestures): the browser then cancels this pointer. Holding the first
      // part back a moment keeps the finger that lands first from painting.
      paint.activeDrag.lastSend = performance.now() + TOUCH_GRACE_MS - cfg.partial_ms;
      paint.activeDrag.timer = setTimeout(() => sendPart(false), TOUCH_GRACE_MS);
      return;
    }
    // A click paints at once; a drag sends parts as it goes.
    sendPart(false);
  }

  // cancelDrag ends a drag the browser took over (a two-finger scroll or
  // zoom): what it painted is taken back.
  function cancelDrag() {
    const d = paint.activeDrag;
    if (!d) return;
    const s = d.stroke;
    const sent = s.lastSeq > 0;
    endDrag(false);
    const i = paint.strokes.indexOf(s);
    if (i >= 0) paint.strokes.splice(i, 1);
    // Undo removes the whole stroke when nothing else came after it.
    if (sent && ctx.conn.seq === s.lastSeq) ctx.conn.send({ t: 'undo' });
    ctx.drawOverlay();
  }

  // paintDot is the keyboard's stroke: one brush dab at the cursor.
  function paintDot(p) {
    if (paint.activeDrag || !canPaint()) return;
    const s = newStroke([]);
    paint.activeDrag = { pointerId: null, stroke: s, lastSend: 0, timer: 0 };
    paint.strokes.push(s);
    addPoint(quantize(p));
    endDrag(true);
  }

  // Arrow keys move the brush one layer-grid cell (Shift: one pixel) and
  // Enter or Space paints, so the canvas works without a pointer.
  function canvasKey(ev) {
    const layer = model.layers.get(session.layer);
    const big = layer ? model.width / layer.width : Math.max(1, model.width / 16);
    const step = ev.shiftKey ? 1 : big;
    if (!paint.hover) paint.hover = { x: model.width / 2, y: model.height / 2 };
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[ev.key]) {
      paint.hover = {
        x: Math.min(model.width - 1, Math.max(0, paint.hover.x + moves[ev.key][0])),
        y: Math.min(model.height - 1, Math.max(0, paint.hover.y + moves[ev.key][1])),
      };
    } else if (ev.key === 'Enter' || ev.key === ' ') {
      paintDot(paint.hover);
    } else {
      return false;
    }
    ctx.drawOverlay();
    return true;
  }

  function addPoint(p) {
    const s = paint.activeDrag.stroke;
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
        Object.assign(cont, editOf(s), { color: s.color });
        cont.cells = s.cells;
        s.points = s.points.slice(0, s.sent);
        s.done = true;
        paint.strokes.push(cont);
        s = cont;
      }
      const room = Math.min(model.limits.max_points, model.limits.max_stroke_points - s.sent);
      const part = s.points.slice(s.sent, s.sent + room);
      const seq = ctx.conn.send(strokeMessage(s, part));
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
    const d = paint.activeDrag;
    if (!d) return;
    clearTimeout(d.timer);
    d.timer = 0;
    if (!ctx.conn.ready() && ctx.conn.connecting()) return;
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
    for (const s of paint.strokes.slice()) {
      if (s.sent >= s.points.length) continue;
      if (paint.activeDrag && paint.activeDrag.stroke === s) {
        sendPart(false);
        continue;
      }
      const last = sendStroke(s);
      if (!last) return;
      last.done = true;
    }
  }

  function moveDrag(ev) {
    const d = paint.activeDrag;
    const events = typeof ev.getCoalescedEvents === 'function' ? ev.getCoalescedEvents() : [];
    for (const e of events.length ? events : [ev]) addPoint(quantize(toImage(e)));
    const wait = cfg.partial_ms - (performance.now() - d.lastSend);
    if (wait <= 0) sendPart(false);
    else if (!d.timer) d.timer = setTimeout(() => sendPart(false), wait);
  }

  function endDrag(send) {
    const d = paint.activeDrag;
    if (!d) return;
    if (send) sendPart(true);
    clearTimeout(d.timer);
    d.stroke.done = true;
    const queued = send && ctx.conn.connecting() && d.stroke.sent < d.stroke.points.length;
    if (d.stroke.lastSeq === 0 && !queued) {
      // Nothing reached the server, so no frame would ever settle it.
      const i = paint.strokes.indexOf(d.stroke);
      if (i >= 0) paint.strokes.splice(i, 1);
    }
    paint.activeDrag = null;
    if (d.pointerId !== null && el.overlay.hasPointerCapture(d.pointerId)) {
      el.overlay.releasePointerCapture(d.pointerId);
    }
    // When the pointer rested before release, the frame with the stroke's
    // last part is already on screen and no later frame will settle it.
    settleStrokes(session.frameSeq);
  }

  // settleStrokes drops overlays whose strokes the image on screen includes.
  function settleStrokes(seq) {
    for (let i = paint.strokes.length - 1; i >= 0; i--) {
      const s = paint.strokes[i];
      if (s.done && s.lastSeq > 0 && s.lastSeq <= seq) paint.strokes.splice(i, 1);
    }
    ctx.drawOverlay();
  }

  function dropStrokeOverlay(seq) {
    const i = paint.strokes.findIndex((s) => s.lastSeq === seq);
    if (i >= 0 && paint.strokes[i] !== (paint.activeDrag && paint.activeDrag.stroke)) paint.strokes.splice(i, 1);
    ctx.drawOverlay();
  }


  // Fingers down on the picture. A second one means the page is being
  // scrolled or zoomed: it cancels the stroke the first finger began, at
  // once, so nothing is sent however late the browser's own pointercancel
  // comes (under load the grace period can pass before it does). Fingers
  // are forgotten wherever they lift, so a missed lift cannot block painting.
  const touches = new Set();
  const lift = (ev) => touches.delete(ev.pointerId);
  window.addEventListener('pointerup', lift, true);
  window.addEventListener('pointercancel', lift, true);

  el.overlay.addEventListener('pointerdown', (ev) => {
    if (ev.pointerType === 'mouse' && ev.button !== 0) return;
    if (ev.pointerType === 'touch') {
      touches.add(ev.pointerId);
      if (touches.size > 1) {
        cancelDrag();
        paint.hover = null;
        ctx.drawOverlay();
        return;
      }
    }
    if (paint.activeDrag) return; // a pen or mouse during a stroke does not start another
    ev.preventDefault();
    paint.hover = toImage(ev);
    startDrag(ev);
    ctx.drawOverlay();
  });
  el.overlay.addEventListener('pointermove', (ev) => {
    paint.hover = ev.pointerType === 'touch' && !paint.activeDrag ? null : toImage(ev);
    if (paint.activeDrag && ev.pointerId === paint.activeDrag.pointerId) moveDrag(ev);
    ctx.drawOverlay();
  });
  const finish = (ev) => {
    if (!paint.activeDrag || ev.pointerId !== paint.activeDrag.pointerId) return;
    addPoint(quantize(toImage(ev)));
    endDrag(true);
    if (ev.pointerType === 'touch') paint.hover = null;
    ctx.drawOverlay();
  };
  el.overlay.addEventListener('pointerup', finish);
  el.overlay.addEventListener('pointercancel', (ev) => {
    if (paint.activeDrag && ev.pointerId === paint.activeDrag.pointerId) cancelDrag();
    if (ev.pointerType === 'touch') paint.hover = null;
  });
  el.overlay.addEventListener('pointerleave', () => {
    if (!paint.activeDrag) {
      paint.hover = null;
      ctx.drawOverlay();
    }
  });
  el.overlay.addEventListener('contextmenu', (ev) => ev.preventDefault());


  if (el.eraseAll) {
    el.eraseAll.addEventListener('click', () => {
      const e = ui.custom ? { custom: ui.custom.wire, strength: ctx.brushFields(true).strength } : { concept: ui.concept, units: ctx.effectiveUnits(), ...ctx.brushFields(true) };
      if (!ctx.conn.send(eraseAllMessage(e))) ctx.setStatus('Not connected yet.', 'warn', false, 'conn');
    });
  }

  el.overlay.addEventListener('keydown', (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (canvasKey(ev)) ev.preventDefault();
  });
  el.overlay.addEventListener('focus', () => {
    if (!paint.hover) paint.hover = { x: model.width / 2, y: model.height / 2 };
    ctx.drawOverlay();
  });
  el.overlay.addEventListener('blur', () => {
    paint.hover = null;
    ctx.drawOverlay();
  });


  Object.assign(ctx, { toImage, quantize, nextStrokeID, newStroke, canPaint, startDrag, cancelDrag, paintDot, canvasKey, addPoint, markCells, sendStroke, sendPart, flushQueued, moveDrag, endDrag, settleStrokes, dropStrokeOverlay });
}
