// GANPaint painter: the list of edits, like the reference's expert mode.
//
// One row per edit of the image on screen (from the state message's
// edit_list, docs/protocol.md): a thumbnail with the edit's layer-grid cells,
// the concept, draw or remove, and how many cells it changed. Pointing at a
// row (or focusing it) highlights its cells on the picture; × deletes that
// one edit (an undoable "delete" message). Installed by app.js (see "parts" there).
export function install(app) {
  const list = document.getElementById('edit-list');
  if (!list) return;
  const empty = document.getElementById('edit-list-empty');
  const count = document.getElementById('edit-count');
  const THUMB = 48; // CSS pixels of a row's thumbnail

  let rows = []; // { li, canvas, edit } in edit order

  function describe(e, cells) {
    const verb = e.mode === 'remove' ? 'remove' : 'draw';
    const where = e.everywhere ? 'everywhere' : cells.size + (cells.size === 1 ? ' cell' : ' cells');
    return { verb, where };
  }

  function build() {
    const edits = app.session.editList;
    list.replaceChildren();
    rows = edits.map((e, i) => {
      const cells = app.editCells(e);
      const d = describe(e, cells);
      const li = document.createElement('li');
      li.className = 'edit-row';
      li.dataset.index = String(i);
      li.style.setProperty('--concept', app.conceptColor(e.concept));
      const canvas = document.createElement('canvas');
      canvas.className = 'edit-thumb';
      const dpr = window.devicePixelRatio || 1;
      canvas.width = canvas.height = Math.round(THUMB * dpr);
      canvas.setAttribute('aria-hidden', 'true');
      const text = document.createElement('span');
      text.className = 'edit-text';
      const name = document.createElement('span');
      name.className = 'edit-concept';
      name.textContent = e.concept;
      const meta = document.createElement('span');
      meta.className = 'edit-meta';
      meta.textContent = '#' + (i + 1) + ' · ' + d.verb + ' · ' + d.where;
      text.append(name, meta);
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'edit-delete';
      del.textContent = '×';
      del.setAttribute('aria-label', 'Delete edit ' + (i + 1) + ': ' + d.verb + ' ' + e.concept + ', ' + d.where);
      del.title = 'Delete this edit';
      li.append(canvas, text, del);
      return { li, canvas, edit: e, cells };
    });
    // Newest first: the edit just made is the one most often looked at.
    for (let i = rows.length - 1; i >= 0; i--) list.append(rows[i].li);
    if (empty) empty.hidden = rows.length > 0;
    if (count) count.textContent = rows.length ? String(rows.length) : '';
    drawThumbs();
  }

  // Thumbnails: the picture on screen, dimmed, with the edit's cells in
  // the concept's colour.
  function drawThumbs() {
    const img = app.el.image;
    const layer = app.model.layers.get(app.session.layer);
    if (!layer) return;
    for (const r of rows) {
      const c = r.canvas.getContext('2d');
      const n = r.canvas.width;
      c.imageSmoothingEnabled = false;
      c.clearRect(0, 0, n, n);
      c.drawImage(img, 0, 0, n, n);
      c.fillStyle = 'rgba(0,0,0,0.5)';
      c.fillRect(0, 0, n, n);
      c.fillStyle = app.conceptColor(r.edit.concept);
      c.globalAlpha = r.edit.mode === 'remove' ? 0.45 : 0.7;
      const cw = n / layer.width;
      const ch = n / layer.height;
      for (const cell of r.cells) {
        c.fillRect((cell % layer.width) * cw, Math.floor(cell / layer.width) * ch, cw, ch);
      }
      c.globalAlpha = 1;
    }
  }

  const indexOf = (node) => {
    const li = node && node.closest && node.closest('.edit-row');
    return li ? Number(li.dataset.index) : -1;
  };

  list.addEventListener('pointerover', (ev) => app.highlight(indexOf(ev.target)));
  list.addEventListener('pointerleave', () => app.highlight(-1));
  list.addEventListener('focusin', (ev) => app.highlight(indexOf(ev.target)));
  list.addEventListener('focusout', () => app.highlight(-1));
  list.addEventListener('click', (ev) => {
    const b = ev.target.closest('.edit-delete');
    if (!b) return;
    const i = indexOf(b);
    if (i < 0) return;
    if (!app.send({ t: 'delete', edit: i })) {
      app.setStatus('Not connected yet.', 'warn');
      return;
    }
    app.highlight(-1);
  });

  let shown = null;
  app.on('state', () => {
    if (shown === app.session.editList) return;
    shown = app.session.editList;
    // Rows are rebuilt, so a highlight would point at another edit.
    app.highlight(-1);
    build();
  });
  app.on('frame', drawThumbs);
}
