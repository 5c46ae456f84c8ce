// Dissection report: sorts and filters a layer page's unit grid. The grid is
// complete without this script (server-rendered in unit order); the script
// only reorders and hides cards, and keeps the choice in the address
// (?sort=…&concept=…&interp=1) so a sorted view can be linked.
'use strict';

(function () {
  const grid = document.getElementById('unit-grid');
  const dataEl = document.getElementById('report-grid');
  if (!grid || !dataEl) return;
  const data = JSON.parse(dataEl.textContent);
  const sortSel = document.getElementById('grid-sort');
  const filterSel = document.getElementById('grid-filter');
  const interpBox = document.getElementById('grid-interp');
  const countEl = document.getElementById('grid-count');
  const cards = Array.from(grid.querySelectorAll('.unit-card'));
  const total = cards.length;

  // position[name][unit] = the unit's place in ranking name.
  const position = {};
  for (const [name, order] of Object.entries(data.rankings || {})) {
    const pos = new Map();
    order.forEach((unit, i) => pos.set(unit, i));
    position[name] = pos;
  }

  const unitOf = (c) => Number(c.dataset.unit);
  const comparators = {
    unit: (a, b) => unitOf(a) - unitOf(b),
    label: (a, b) => a.dataset.label.localeCompare(b.dataset.label) || Number(b.dataset.iou) - Number(a.dataset.iou) || unitOf(a) - unitOf(b),
    iou: (a, b) => Number(b.dataset.iou) - Number(a.dataset.iou) || unitOf(a) - unitOf(b),
  };

  function comparator(key) {
    if (comparators[key]) return comparators[key];
    if (key.startsWith('rank:')) {
      const pos = position[key.slice(5)];
      if (pos) {
        const at = (c) => (pos.has(unitOf(c)) ? pos.get(unitOf(c)) : Infinity);
        return (a, b) => at(a) - at(b) || unitOf(a) - unitOf(b);
      }
    }
    return comparators.unit;
  }

  function hasOption(sel, value) {
    return Array.from(sel.options).some((o) => o.value === value);
  }

  function apply() {
    const key = sortSel.value;
    const concept = filterSel.value;
    const interpOnly = interpBox.checked;
    const sorted = cards.slice().sort(comparator(key));
    let shown = 0;
    const frag = document.createDocumentFragment();
    for (const c of sorted) {
      const visible = (!concept || c.dataset.label === concept) && (!interpOnly || c.dataset.interp === 'true');
      c.hidden = !visible;
      if (visible) shown++;
      frag.appendChild(c);
    }
    grid.appendChild(frag);
    countEl.textContent = shown === total ? `${total} units` : `${shown} of ${total} units`;
    grid.dataset.sort = key;
    const q = new URLSearchParams(location.search);
    const set = (k, v) => (v ? q.set(k, v) : q.delete(k));
    set('sort', key === 'unit' ? '' : key);
    set('concept', concept);
    set('interp', interpOnly ? '1' : '');
    const qs = q.toString();
    history.replaceState(null, '', location.pathname + (qs ? '?' + qs : '') + location.hash);
  }

  // Start from the address, so links such as ?concept=tree from the
  // overview's bars open the filtered grid.
  const q = new URLSearchParams(location.search);
  if (q.get('sort') && hasOption(sortSel, q.get('sort'))) sortSel.value = q.get('sort');
  if (q.get('concept') && hasOption(filterSel, q.get('concept'))) filterSel.value = q.get('concept');
  interpBox.checked = q.get('interp') === '1';

  sortSel.addEventListener('change', apply);
  filterSel.addEventListener('change', apply);
  interpBox.addEventListener('change', apply);
  apply();
})();
