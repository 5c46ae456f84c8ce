// What the server says: hello, state and error messages and image frames
// (their header layout comes from the page config's protocol).
export function install(ctx) {
  const { cfg, proto, el, ui, model, session, paint, $, $$ } = ctx;
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
      ctx.buildPalette();
    }
    if (el.image.width !== model.width || el.image.height !== model.height) {
      el.image.width = model.width;
      el.image.height = model.height;
    }
    el.wrap.style.aspectRatio = model.width + ' / ' + model.height;
    if (el.brush) {
      el.brush.max = String(Math.min(model.limits.max_radius, Math.max(1, Math.floor(Math.max(model.width, model.height) / 2))));
      ctx.setRadius(ui.radius);
    }
    if (el.imageID && model.maxID > 0) el.imageID.max = String(model.maxID - 1);
    if (el.samples && !el.samples.children.length) ctx.buildSampleTiles();
    if (el.layer) ctx.syncLayerSelect();
    ctx.resizeOverlay();
    const formats = h.formats || [];
    session.wantFormat = proto.formats[h.format === 'png' ? 'png' : 'jpeg'];
    if (h.format !== 'png' && formats.includes('png') && model.width * model.height <= proto.png_max_pixels && ctx.conn.ws) {
      ctx.conn.ws.send(JSON.stringify({ t: 'format', format: 'png' }));
      session.wantFormat = proto.formats.png;
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
    ctx.updateControls();
    ctx.updateLinks();
    if (session.edits > 0) ctx.fetchOriginal();
    ctx.emit('state', s, before);
  }

  function onError(e) {
    const seq = e.seq | 0;
    // busy and internal keep the message applied (the image follows later);
    // every other code means the message changed nothing.
    const kept = e.code === 'busy' || e.code === 'internal';
    if (seq && !kept) {
      ctx.dropStrokeOverlay(seq);
      ctx.pending.done(seq);
    }
    let text = Object.prototype.hasOwnProperty.call(ctx.errorText, e.code) ? ctx.errorText[e.code] : null;
    if (!text) text = e.message || ('Error: ' + e.code);
    const quiet = e.code === 'nothing_to_undo' || e.code === 'nothing_to_redo';
    ctx.setStatus(text, quiet ? 'info' : e.code === 'busy' ? 'warn' : 'error', e.code === 'bad_state' || e.code === 'unknown_model');
    if (e.code === 'too_big' && paint.activeDrag) ctx.endDrag(false);
  }

  // Frames decode asynchronously; a counter keeps an older frame whose decode
  // finishes late from replacing a newer one.
  let frameArrivals = 0;
  let frameDrawn = 0;
  const imageCtx = el.image.getContext('2d', { willReadFrequently: true });

  function onFrame(buf) {
    if (!(buf instanceof ArrayBuffer) || buf.byteLength <= proto.frame_header) return;
    const v = new DataView(buf);
    if (v.getUint32(0) !== proto.frame_magic) return;
    const fmt = v.getUint8(proto.format_offset);
    const seq = v.getUint32(proto.seq_offset);
    const type = fmt === proto.formats.png ? 'image/png' : 'image/jpeg';
    const n = ++frameArrivals;
    // The state message comes right before its frame; by the time the decode
    // finishes, a newer one may have arrived.
    const edits = session.edits;
    createImageBitmap(new Blob([buf.slice(proto.frame_header)], { type }))
      .then((bmp) => {
        if (n < frameDrawn) { bmp.close(); return; }
        frameDrawn = n;
        imageCtx.clearRect(0, 0, el.image.width, el.image.height);
        imageCtx.drawImage(bmp, 0, 0, el.image.width, el.image.height);
        bmp.close();
        const first = session.frameSeq < 0;
        session.frameSeq = seq;
        session.frameFormat = fmt;
        if (edits === 0) ctx.keepOriginal();
        ctx.loadThumbs();
        el.image.dataset.seq = String(seq);
        el.image.dataset.frames = String((Number(el.image.dataset.frames) || 0) + 1);
        el.wrap.classList.add('has-image');
        ctx.pending.done(seq);
        ctx.settleStrokes(seq);
        ctx.updateControls();
        if (first) ctx.onConnected();
        ctx.emit('frame');
      })
      .catch(() => ctx.setStatus('Could not decode an image from the server.', 'error'));
  }


  Object.assign(ctx, { onText, onHello, sameConcepts, onState, onError, onFrame });
}
