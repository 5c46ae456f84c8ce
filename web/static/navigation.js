// GANPaint painter: browser history and the paintings of earlier images.
//
// Every image the user switches to (sample, Random, Open, layer) gets its own
// history entry, so Back and Forward move between images and their paintings
// instead of leaving the app; while one image is painted, its entry's URL
// follows the painting, so a reload or a bookmark keeps it. Each image
// painted in this tab is remembered: going back to it by its thumbnail
// brings its painting back (app.js asks through hooks.paintingOf).
// Installed by app.js (see "parts" there); the embed page has
// no history of its own inside a course page, so this only runs on the
// full painter.
export function install(app) {
  if (app.cfg.page !== 'painter') return;

  const painted = new Map(); // "id/layer" -> { token, edits }
  const key = (id, layer) => id + '/' + layer;
  // The seq of the user's last image change: the first state at or after it
  // that shows another image gets a new history entry.
  let pushAfter = 0;
  // A page opened from a broken link keeps that link in the address bar
  // until the user does something, so nothing changes behind their back.
  let keepAddress = !!app.cfg.state_error;

  app.hooks.paintingOf = (id, layer) => {
    const p = painted.get(key(id, layer));
    return p && p.token !== app.session.token ? p : null;
  };

  app.on('navigate', (seq) => {
    pushAfter = seq;
  });

  app.on('state', (s, before) => {
    const k = key(s.id, s.layer);
    if (s.edits > 0 && s.state) painted.set(k, { token: s.state, edits: s.edits });
    else painted.delete(k);
    if (!s.state) return;
    if (keepAddress) {
      // seq 0 is the state a connection starts with: no user action yet.
      if (s.seq === 0) return;
      keepAddress = false;
    }
    const u = new URL(location.href);
    u.searchParams.set('state', s.state);
    const href = u.pathname + u.search + u.hash;
    const moved = before.id !== null && (before.id !== s.id || before.layer !== s.layer);
    if (pushAfter && s.seq >= pushAfter) {
      pushAfter = 0;
      if (moved) {
        history.pushState({ ganpaint: true }, '', href);
        return;
      }
    }
    if (u.href !== location.href) history.replaceState({ ganpaint: true }, '', href);
  });

  window.addEventListener('popstate', () => {
    const tok = new URL(location.href).searchParams.get('state');
    if (tok) app.openToken(tok);
  });
}
