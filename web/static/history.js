// Changing the state: loading images, opening share tokens, undo, redo
// and reset.
export function install(ctx) {
  const { cfg, proto, el, ui, model, session, paint, $, $$ } = ctx;
  function loadImage(id, layer) {
    if (!Number.isInteger(id) || id < 0 || (model.maxID > 0 && id >= model.maxID)) {
      ctx.setStatus('Image ids go from 0 to ' + (model.maxID - 1) + '.', 'error');
      return;
    }
    if (id === session.id && (!layer || layer === session.layer)) return;
    // An image painted before in this tab comes back with its painting
    // (navigation.js remembers it); Reset starts it over, undoably.
    const painting = ctx.hooks.paintingOf(id, layer || session.layer);
    const msg = painting ? { t: 'open', state: painting.token } : { t: 'load', id };
    if (layer && !painting) msg.layer = layer;
    const seq = ctx.conn.send(msg);
    if (!seq) {
      ctx.setStatus('Not connected yet.', 'warn', false, 'conn');
      return;
    }
    if (painting) {
      ctx.setStatus('Image ' + id + ' again, with your ' + painting.edits + (painting.edits === 1 ? ' edit' : ' edits') +
        '. Reset starts it over; Undo goes back.', 'info');
    }
    ctx.emit('navigate', seq);
  }

  // onConnected runs when a connection shows its first image: messages
  // about the connection go, and what waited for it is sent.
  function onConnected() {
    if (ctx.statusTag() === 'conn') ctx.setStatus('');
    if (pendingOpen) {
      const tok = pendingOpen;
      pendingOpen = '';
      openToken(tok);
    }
    ctx.flushQueued();
  }

  // openToken shows a share token's painting: on this connection when it is
  // up, else the next connection starts from it.
  let pendingOpen = '';
  function openToken(tok) {
    if (!tok || tok === session.token) return;
    if (ctx.conn.ready()) {
      if (ctx.conn.send({ t: 'open', state: tok })) return;
    }
    pendingOpen = tok;
    if (!ctx.conn.ws) {
      session.token = tok;
      pendingOpen = '';
      ctx.conn.open();
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
    if (paint.activeDrag) return;
    if (!ctx.conn.send({ t })) ctx.setStatus('Not connected yet.', 'warn', false, 'conn');
  }


  if (el.undo) el.undo.addEventListener('click', () => act('undo'));
  if (el.redo) el.redo.addEventListener('click', () => act('redo'));
  if (el.reset) el.reset.addEventListener('click', () => act('reset'));

  Object.assign(ctx, { loadImage, onConnected, openToken, revealCanvas, act });
}
