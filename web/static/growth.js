// "Where can it grow?" overlay: shades each cell of the paint grid by the
// measured success of inserting the selected concept there, from the
// dissection's location maps or measured on the current image
// (GET /api/growth, docs/protocol.md). Installed by app.js as a part: it
// follows the state and the selected concept through app.on.
export function install(app) {
  const row = document.getElementById('growth-row');
  const toggle = document.getElementById('growth-toggle');
  const measure = document.getElementById('growth-measure');
  const status = document.getElementById('growth-status');
  const nameEl = document.getElementById('growth-concept');
  const wrap = document.getElementById('canvas-wrap');
  const paintSurface = document.getElementById('overlay');
  if (!row || !toggle || !wrap) return;
  const endpoint = row.dataset.endpoint || '/api/growth';
  const legend = status.textContent.trim();

  const canvas = document.createElement('canvas');
  canvas.className = 'growth-overlay';
  canvas.setAttribute('aria-hidden', 'true');
  canvas.hidden = true;
  wrap.insertBefore(canvas, paintSurface);

  let concept = (nameEl.textContent || '').trim();
  let token = '';
  let layer = '';
  let map = null; // the map on screen
  let request = null;

  function setStatus(text) {
    status.textContent = text;
  }

  function describe(m) {
    if (m.source === 'image') {
      return 'Measured on this image (' + Math.round(m.ms || 0) + ' ms): painting ' + m.concept + ' with its top ' + m.k +
        ' units in each cell. ' + legend;
    }
    return 'From the dissection: ' + m.images + ' images per cell, top ' + m.k + ' units. ' + legend;
  }

  // draw paints one pixel per block; CSS scales it over the image.
  function draw(m) {
    map = m;
    canvas.width = m.cols;
    canvas.height = m.rows;
    const ctx = canvas.getContext('2d');
    const img = ctx.createImageData(m.cols, m.rows);
    for (let i = 0; i < m.rows * m.cols; i++) {
      const r = m.rate[i];
      let c;
      if (m.present[i]) c = [122, 167, 255, 110];
      else if (r > 0) c = [60, 220, 110, Math.round(60 + 150 * r)];
      else c = [255, 80, 80, 90];
      img.data.set(c, 4 * i);
    }
    ctx.putImageData(img, 0, 0);
    canvas.hidden = !toggle.checked;
    setStatus(describe(m));
  }

  async function load(image) {
    if (request) request.abort();
    const ctl = new AbortController();
    request = ctl;
    const q = new URLSearchParams({ concept });
    if (token) q.set('state', token);
    if (image) q.set('image', '1');
    setStatus(image ? 'Measuring ' + concept + ' in every cell…' : 'Loading…');
    row.setAttribute('aria-busy', 'true');
    try {
      const resp = await fetch(endpoint + '?' + q, { signal: ctl.signal });
      const body = await resp.json().catch(() => ({}));
      if (resp.ok) draw(body);
      else {
        map = null;
        canvas.hidden = true;
        setStatus(body.error || ('Failed (' + resp.status + ').'));
      }
    } catch (err) {
      if (err.name !== 'AbortError') setStatus('Failed: ' + err.message);
    } finally {
      if (request === ctl) {
        request = null;
        row.removeAttribute('aria-busy');
        row.dataset.loads = String((Number(row.dataset.loads) || 0) + 1);
      }
    }
  }

  function refresh() {
    measure.disabled = !toggle.checked || !concept;
    if (!toggle.checked) {
      canvas.hidden = true;
      setStatus(legend);
      return;
    }
    load(false);
  }

  toggle.addEventListener('change', refresh);
  measure.addEventListener('click', () => load(true));

  app.on('concept', (name) => {
    if (name === concept) return;
    concept = String(name || '');
    nameEl.textContent = concept;
    if (toggle.checked) load(false);
  });
  app.on('state', (s) => {
    const layerChanged = s.layer !== layer;
    const imageChanged = s.state !== token;
    token = s.state || '';
    layer = s.layer || '';
    if (!toggle.checked) return;
    if (layerChanged || (map && map.source === 'dissection' && map.layer !== layer)) load(false);
    else if (imageChanged && map && map.source === 'image') setStatus('The image changed since this map was measured; measure again for this image.');
  });
}
