// GANPaint painter: the custom brush from the unit editor.
//
// The editor's "Paint with these units" opens the painter with
// ?custom_layer=…&custom_units=…&custom_mode=… ; the server checks the
// brush and renders its palette button (#custom-brush) and the page config's
// "custom". This part chooses it on load, with the editor's action, and
// again when the button is clicked; a concept button or key goes back to
// concepts (app.js). Strokes and "remove everywhere" then carry
// {"custom": {layer, units}} instead of a concept (docs/protocol.md), so
// they are undone, listed and shared like any other edit. Installed by
// app.js (see "parts" there).
export function install(app) {
  const c = app.cfg.custom;
  const button = document.getElementById('custom-brush');
  if (!c || !button) return;

  const brush = Object.freeze({
    label: c.label,
    color: c.color,
    layer: c.layer,
    // brushes: {add, remove}, each one brush with its strength steps, as
    // hello lists a concept's (palette.js shows their steps).
    brushes: c.brushes,
    wire: Object.freeze({ layer: c.layer, units: c.units.slice() }),
  });

  function choose() {
    app.setCustom(brush);
    // A brush paints at its layer or a later one; say so before a stroke
    // fails (the server gives the same reason).
    const layers = app.cfg.model.layers.map((l) => l.name);
    if (layers.indexOf(app.session.layer) > layers.indexOf(brush.layer)) {
      app.setStatus('The custom brush paints at ' + brush.layer + ': switch the layer to ' + brush.layer + ' to use it.', 'warn');
    }
  }

  button.addEventListener('click', choose);
  app.on('concept', () => button.setAttribute('aria-pressed', String(app.custom() === brush)));
  app.setMode(c.mode === 'remove' ? 'remove' : 'add');
  choose();
}
