// The links of the current state: download, share, open full painter.
export function install(ctx) {
  const { cfg, proto, el, ui, model, session, paint, $, $$ } = ctx;
  function updateLinks() {
    const q = session.token ? '?state=' + encodeURIComponent(session.token) : '';
    if (el.download) {
      el.download.href = cfg.paths.render + q;
      el.download.download = 'ganpaint-' + (session.id ?? 'image') + (session.edits ? '-edited' : '') + '.png';
    }
    if (el.openFull) el.openFull.href = cfg.paths.painter + q;
    if (el.shareBox && !el.shareBox.hidden) el.shareURL.value = shareLink();
  }

  function shareLink() {
    const base = cfg.base_url || location.origin;
    return base + cfg.paths.painter + (session.token ? '?state=' + encodeURIComponent(session.token) : '');
  }


  if (el.layer) el.layer.addEventListener('change', () => ctx.loadImage(session.id ?? 0, el.layer.value));

  if (el.download) {
    // The server's PNG is lossless; the canvas copy is the fallback when the
    // server cannot render right now.
    el.download.addEventListener('click', async (ev) => {
      ev.preventDefault();
      const name = el.download.download || 'ganpaint.png';
      let blob = null;
      try {
        const res = await fetch(el.download.href);
        if (res.ok) blob = await res.blob();
      } catch {
        blob = null;
      }
      if (!blob) blob = await new Promise((resolve) => el.image.toBlob(resolve, 'image/png'));
      if (!blob) {
        ctx.setStatus('Could not produce the PNG.', 'error');
        return;
      }
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    });
  }

  if (el.share) {
    el.share.addEventListener('click', async () => {
      if (!session.token) {
        ctx.setStatus('Nothing to share yet.', 'warn');
        return;
      }
      const link = shareLink();
      if (el.shareBox) {
        el.shareBox.hidden = false;
        el.shareURL.value = link;
      }
      try {
        await navigator.clipboard.writeText(link);
        ctx.setStatus('Share link copied to the clipboard.', 'ok');
      } catch {
        if (el.shareURL) {
          el.shareURL.focus();
          el.shareURL.select();
        }
        ctx.setStatus('Copy the link from the box below the image.', 'info');
      }
    });
  }
  if (el.shareURL) el.shareURL.addEventListener('focus', () => el.shareURL.select());


  Object.assign(ctx, { updateLinks, shareLink });
}
