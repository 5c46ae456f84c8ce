// The status line and the connection indicator.
export function install(ctx) {
  const { cfg, proto, el, ui, model, session, paint, $, $$ } = ctx;
  const STATUS_CLEAR_MS = 6000;

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

  Object.assign(ctx, { setStatus, setConn, errorText, statusTag: () => statusTag });
}
