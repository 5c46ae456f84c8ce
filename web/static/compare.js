// Compare panel: after a removal, the same scene four ways (GAN removal,
// learned inpainting, Navier–Stokes, Telea) with each method's time, from
// GET /api/compare (docs/protocol.md). Installed by app.js as a part: it
// follows the painting state through app.on('state').
export function install(app) {
  const card = document.getElementById('compare-card');
  if (!card) return;
  const endpoint = card.dataset.endpoint || '/api/compare';
  const run = document.getElementById('compare-run');
  const auto = document.getElementById('compare-auto');
  const grid = document.getElementById('compare-grid');
  const status = document.getElementById('compare-status');
  const region = document.getElementById('compare-region');
  // Waiting this long after the last state before an automatic run lets a
  // drag finish (strokes arrive in parts) without a request per part.
  const AUTO_DELAY_MS = 700;
  const RETRY_MS = 1500;

  let token = '';
  let edits = 0;
  let shown = ''; // token of the results on screen
  let inflight = null; // AbortController of the running request
  let timer = 0;

  function setStatus(text, kind) {
    status.textContent = text;
    status.dataset.kind = kind || 'info';
  }

  function update() {
    run.disabled = !token || edits === 0;
    card.classList.toggle('stale', shown !== '' && shown !== token);
  }

  app.on('state', (s) => {
    token = s.state || '';
    edits = s.edits | 0;
    update();
    if (auto.checked && edits > 0 && token !== shown) {
      clearTimeout(timer);
      timer = setTimeout(() => compare(true), AUTO_DELAY_MS);
    }
  });

  run.addEventListener('click', () => compare(false));
  auto.addEventListener('change', () => {
    if (auto.checked && token && edits > 0 && token !== shown) compare(true);
  });

  function fmtMS(ms) {
    return ms >= 100 ? Math.round(ms) + ' ms' : ms.toFixed(1) + ' ms';
  }

  function tile(src, title, detail, missing) {
    const fig = document.createElement('figure');
    fig.className = 'compare-tile' + (missing ? ' missing' : '');
    if (src) {
      const img = document.createElement('img');
      img.src = src;
      img.alt = title;
      img.decoding = 'async';
      fig.appendChild(img);
    } else {
      const ph = document.createElement('div');
      ph.className = 'compare-missing';
      ph.textContent = missing || 'not available';
      fig.appendChild(ph);
    }
    const cap = document.createElement('figcaption');
    const name = document.createElement('span');
    name.className = 'compare-name';
    name.textContent = title;
    cap.appendChild(name);
    if (detail) {
      const d = document.createElement('span');
      d.className = 'compare-ms';
      d.textContent = detail;
      cap.appendChild(d);
    }
    fig.appendChild(cap);
    return fig;
  }

  function show(res, tok) {
    grid.replaceChildren();
    for (const m of res.methods || []) {
      grid.appendChild(m.available ? tile(m.image, m.label, fmtMS(m.ms)) : tile('', m.label, '', m.reason));
    }
    const pct = (100 * (res.mask_share || 0)).toFixed(1) + '% of the image';
    const maskTile = tile(res.mask, 'Filled region', pct);
    maskTile.classList.add('compare-mask');
    grid.appendChild(maskTile);
    region.textContent = res.scope === 'everywhere'
      ? 'Remove “' + res.concept + '” everywhere: the other methods fill the segmenter’s mask of ' + res.concept +
        ' (grown 2 px; ' + fmtMS(res.mask_ms || 0) + ' to segment).'
      : 'Remove stroke: the other methods fill the brushed cells of ' + res.layer + '.';
    shown = tok;
    setStatus('Image ' + res.id + ': times are the server’s, for this image.', 'ok');
    update();
  }

  async function compare(automatic) {
    clearTimeout(timer);
    if (!token || edits === 0) return;
    if (inflight) inflight.abort();
    const ctl = new AbortController();
    inflight = ctl;
    const tok = token;
    card.setAttribute('aria-busy', 'true');
    setStatus('Comparing…', 'info');
    try {
      const resp = await fetch(endpoint + '?state=' + encodeURIComponent(tok), { signal: ctl.signal });
      const body = await resp.json().catch(() => ({}));
      if (resp.ok) {
        show(body, tok);
      } else if (resp.status === 503 && automatic) {
        setStatus((body.error || 'Busy') + ' — retrying.', 'warn');
        timer = setTimeout(() => compare(true), RETRY_MS);
      } else {
        setStatus(body.error || ('Comparison failed (' + resp.status + ').'), resp.status === 409 ? 'info' : 'warn');
      }
    } catch (err) {
      if (err.name !== 'AbortError') setStatus('Comparison failed: ' + err.message, 'error');
    } finally {
      if (inflight === ctl) {
        inflight = null;
        card.removeAttribute('aria-busy');
        // Finished requests, for tests and tools that wait on the panel.
        card.dataset.runs = String((Number(card.dataset.runs) || 0) + 1);
      }
    }
  }

  update();
}
