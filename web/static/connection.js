// The websocket: connecting, reconnecting with backoff, seq numbers, and
// the spinner for messages still waiting for their image.
export function install(ctx) {
  const { cfg, proto, el, ui, model, session, paint, $, $$ } = ctx;
  // Reconnect backoff: quick first retry (a server restart), capped so a
  // long outage does not hammer the server.
  const RETRY_FIRST_MS = 400;
  const RETRY_MAX_MS = 15000;
  // A spinner only after this delay, so fast renders never flicker.
  const SPINNER_DELAY_MS = 180;

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
      // The token names its model; without one, paths.ws carries the
      // page's ?model= (a server with several models).
      const url = new URL(cfg.paths.ws, location.href);
      if (session.token) url.search = '?state=' + encodeURIComponent(session.token);
      return scheme + '//' + location.host + url.pathname + url.search;
    },

    open() {
      clearTimeout(this.retryTimer);
      clearInterval(this.countTimer);
      if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
      this.idle = false;
      ctx.setConn('connecting', this.everOpen ? 'Reconnecting…' : 'Connecting…');
      let ws;
      try {
        ws = new WebSocket(this.url());
      } catch (err) {
        ctx.setStatus('Cannot open a connection: ' + err.message, 'error', true, 'conn');
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
        ctx.setConn('open', 'Connected');
      };
      ws.onmessage = (ev) => {
        if (this.ws !== ws) return;
        if (typeof ev.data === 'string') ctx.onText(ev.data);
        else ctx.onFrame(ev.data);
      };
      ws.onclose = (ev) => {
        if (this.ws !== ws) return;
        this.ws = null;
        const unsent = paint.strokes.some((s) => s.sent < s.points.length);
        ctx.endDrag(false);
        // Seqs start over on the next connection, so overlays of this one
        // could never be matched with a frame.
        paint.strokes.length = 0;
        ctx.drawOverlay();
        pending.clear();
        showSpinner(false);
        ctx.updateControls();
        this.onClosed(ev);
        if (unsent) ctx.setStatus('The connection dropped before your stroke was sent; paint it again when connected.', 'warn', true, 'conn');
      };
    },

    onClosed(ev) {
      switch (ev.code) {
        case proto.close.idle: // idle timeout: wait for the user to come back
          this.idle = true;
          ctx.setConn('idle', 'Paused');
          ctx.setStatus('Paused after a long idle time. Paint or press a key to resume.', 'info', true, 'conn');
          return;
        case proto.close.full:
          ctx.setConn('closed', 'Server full');
          ctx.setStatus('The server is full right now; retrying…', 'warn', true, 'conn');
          break;
        case proto.close.too_big:
          ctx.setConn('closed', 'Disconnected');
          ctx.setStatus('A message was too large for the server; reconnecting.', 'error');
          break;
        default:
          ctx.setConn('closed', 'Offline');
      }
      this.scheduleRetry(ev.code === proto.close.full ? 4 : 0);
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
        ctx.setConn('closed', 'Offline · retrying in ' + Math.max(1, Math.ceil((at - performance.now()) / 1000)) + ' s');
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
        if (this.seq >= proto.max_seq) { // practically unreachable; start a fresh connection
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

  Object.assign(ctx, { showSpinner, conn, pending });
}
