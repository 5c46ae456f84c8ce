// The unedited image, for the "show original" comparison.
export function install(ctx) {
  const { cfg, proto, el, ui, model, session, paint, $, $$ } = ctx;
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
        ctx.updateControls();
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

  if (el.compare) el.compare.addEventListener('click', () => setCompare(!ui.comparing));

  Object.assign(ctx, { fetchOriginal, keepOriginal, setCompare, hasOriginal: () => originalKey === imageKey() });
}
