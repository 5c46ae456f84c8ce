// Choosing the image: sample thumbnails, the id box, Random, the layer.
export function install(ctx) {
  const { cfg, proto, el, ui, model, session, paint, $, $$ } = ctx;
  // answer (503) is retried instead of leaving a hole.
  const THUMB_PARALLEL = 2;
  const THUMB_RETRIES = 4;
  let thumbsStarted = false;

  function loadThumbs() {
    if (thumbsStarted || !el.samples) return;
    thumbsStarted = true;
    const queue = $$('img[data-src]', el.samples);
    const next = () => {
      const img = queue.shift();
      if (!img) return;
      let tries = 0;
      img.onload = () => {
        img.closest('.thumb').classList.add('loaded');
        next();
      };
      img.onerror = () => {
        if (++tries > THUMB_RETRIES) {
          next();
          return;
        }
        setTimeout(() => { img.src = img.dataset.src + (img.dataset.src.includes('?') ? '&' : '?') + 'retry=' + tries; }, 500 * 2 ** tries);
      };
      img.src = img.dataset.src;
    };
    for (let i = 0; i < THUMB_PARALLEL; i++) next();
  }

  function buildSampleTiles() {
    for (const id of model.sampleIDs.slice(0, 24)) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'thumb';
      b.dataset.id = String(id);
      b.setAttribute('aria-label', 'Image ' + id);
      const s = document.createElement('span');
      s.className = 'thumb-id';
      s.textContent = String(id);
      b.append(s);
      el.samples.append(b);
    }
  }

  function syncLayerSelect() {
    for (const o of Array.from(el.layer.options)) o.disabled = !model.layers.has(o.value);
  }


  if (el.samples) {
    el.samples.addEventListener('click', (ev) => {
      const t = ev.target.closest('.thumb');
      if (t) {
        ctx.loadImage(Number(t.dataset.id));
        ctx.revealCanvas();
      }
    });
  }
  if (el.pick) {
    el.pick.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const raw = el.imageID.value.trim();
      if (!/^\d+$/.test(raw)) {
        ctx.setStatus('Type a whole number as the image id.', 'error');
        return;
      }
      ctx.loadImage(Number(raw));
      ctx.revealCanvas();
    });
  }
  if (el.random) {
    el.random.addEventListener('click', () => {
      const n = model.maxID > 0 ? model.maxID : 1000000;
      ctx.loadImage(Math.floor(Math.random() * n));
      ctx.revealCanvas();
    });
  }

  Object.assign(ctx, { loadThumbs, buildSampleTiles, syncLayerSelect });
}
