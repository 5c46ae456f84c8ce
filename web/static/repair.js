// "Repair artifacts" toggle: switches off the current layer's artifact units
// (found by `ganpaint artifacts`) with the painter's {"t":"repair"} message
// (docs/protocol.md). Installed by app.js (see "parts" there).
export function install(app) {
  const row = document.getElementById('repair-row');
  const toggle = document.getElementById('repair-toggle');
  const hint = document.getElementById('repair-hint');
  if (!row || !toggle) return;
  const cfg = app.cfg;
  const repairOf = new Map((cfg.model.layers || []).map((l) => [l.name, l.repair | 0]));

  function show(layer, on) {
    const n = repairOf.get(layer) || 0;
    row.hidden = n === 0;
    toggle.checked = !!on;
    if (n > 0) hint.textContent = 'Switches off ' + n + ' artifact units of ' + layer + ' everywhere: the units whose removal made images most realistic (ganpaint artifacts).';
  }

  app.on('state', (s) => show(s.layer, s.repair));
  toggle.addEventListener('change', () => {
    if (!app.send({ t: 'repair', on: toggle.checked })) {
      toggle.checked = !toggle.checked;
      app.setStatus('Not connected yet.', 'warn');
    }
  });
  show(cfg.model.default_layer, false);
}
