// The controls: concepts, mode, brush size, units and brush steps.
export function install(ctx) {
  const { cfg, proto, el, ui, model, session, paint, $, $$ } = ctx;
  // ---- controls ---------------------------------------------------------------

  function updateControls() {
    const live = ctx.conn.ready();
    if (el.undo) el.undo.disabled = !live || !session.canUndo;
    if (el.redo) el.redo.disabled = !live || !session.canRedo;
    if (el.reset) el.reset.disabled = !live || session.edits === 0;
    const paintable = !!ui.custom || conceptUnits(ui.concept) > 0;
    if (el.eraseAll) el.eraseAll.disabled = !live || !paintable;
    if (el.compare) el.compare.disabled = !(ctx.hasOriginal() && session.edits > 0);
    if (ui.comparing) ctx.setCompare(true); // drops out when the original no longer applies
    if (el.palette) {
      for (const b of $$('.concept', el.palette)) {
        const ok = conceptUnits(b.dataset.concept) > 0;
        b.classList.toggle('unavailable', !ok);
        b.title = ok ? '' : 'Not paintable at ' + session.layer;
      }
    }
    if (el.samples) {
      for (const t of $$('.thumb', el.samples)) {
        if (Number(t.dataset.id) === session.id) t.setAttribute('aria-current', 'true');
        else t.removeAttribute('aria-current');
      }
    }
    if (el.imageID && session.id !== null && document.activeElement !== el.imageID) {
      el.imageID.placeholder = 'Image ' + session.id;
    }
    if (el.layer && session.layer && el.layer.value !== session.layer) el.layer.value = session.layer;
    syncStrength();
  }


  // conceptUnits is how many ranked units the concept has at the current
  // layer: 0 when it cannot be painted there. Before hello we assume it can.
  function conceptUnits(name) {
    const l = model.layers.get(session.layer);
    if (!l || !l.concepts) return model.limits.max_units;
    return l.concepts[name] | 0;
  }

  function maxUnitsFor(name) {
    return Math.max(1, Math.min(cfg.units.max, model.limits.max_units, conceptUnits(name) || cfg.units.max));
  }

  function syncStrength() {
    const cap = maxUnitsFor(ui.concept);
    if (el.strength) el.strength.max = String(cap);
    const units = Math.min(ui.units, cap);
    if (el.strength) el.strength.value = String(units);
    if (el.strengthOut) {
      el.strengthOut.textContent = units + (units === 1 ? ' unit' : ' units') + (units < ui.units ? ' · max for ' + ui.concept : '');
    }
    for (const b of $$('.preset[data-units]')) {
      const n = Number(b.dataset.units);
      b.setAttribute('aria-pressed', String(n === units));
      b.disabled = n > cap;
    }
    syncSteps();
  }

  function effectiveUnits() {
    return Math.min(ui.units, maxUnitsFor(ui.concept));
  }

  // ---- brushes and strength steps ------------------------------------------
  // When the model has learned recipes, hello lists each concept's brushes
  // with named steps (docs/protocol.md). The strength field then offers the
  // steps low / medium / high of the concept's default brush, each with its
  // measured effect on hover, and a switch to the IoU ranking, whose unit
  // count the presets and slider set. Models without brushes keep the units.
  const brushUI = { iou: false, step: '', steps: null, iouWrap: null, iouBox: null };

  function brushList(remove) {
    if (ui.custom) return (ui.custom.brushes && (remove ? ui.custom.brushes.remove : ui.custom.brushes.add)) || [];
    const l = model.layers.get(session.layer);
    const b = l && l.brushes && l.brushes[ui.concept];
    return (b && (remove ? b.remove : b.add)) || [];
  }

  function currentBrush(remove) {
    const list = brushList(remove);
    if (!list.length) return null;
    return (brushUI.iou && list.find((b) => b.ranked)) || list[0];
  }

  // brushFields are the stroke's "brush" and "strength": none without brushes.
  function brushFields(remove) {
    const b = currentBrush(remove);
    if (!b) return {};
    const step = b.steps.some((st) => st.name === brushUI.step) ? brushUI.step : b.default;
    return { brush: b.name, strength: step };
  }

  function pct(x) { return Math.round(100 * (x || 0)) + '%'; }

  function stepTitle(b, st, remove) {
    let t = st.name + ' (strength ' + st.strength + ', ' + b.name + ')';
    const e = st.effect;
    if (!e) return t;
    if (remove) {
      return t + ': erases ' + pct(e.drop) + ' of the ' + ui.concept + ' when applied everywhere; ' + pct(e.damage) + ' of the other labels change';
    }
    return t + ': paints ' + ui.concept + ' in ' + pct(e.success) + ' of the places it fits; changes ' + pct(e.leak_near) +
      ' of the labels around the stroke and ' + pct(e.leak_far) + ' elsewhere (measured)';
  }

  function syncSteps() {
    if (!el.strength) return;
    const field = el.strength.closest('.field');
    if (!field) return;
    if (!brushUI.steps) {
      brushUI.steps = document.createElement('div');
      brushUI.steps.className = 'presets steps';
      brushUI.steps.setAttribute('role', 'group');
      brushUI.steps.setAttribute('aria-label', 'Strength steps');
      brushUI.steps.addEventListener('click', (ev) => {
        const b = ev.target.closest('button');
        if (!b) return;
        brushUI.step = b.dataset.step;
        syncStrength();
      });
      brushUI.iouWrap = document.createElement('label');
      brushUI.iouWrap.className = 'hint iou-switch';
      brushUI.iouBox = document.createElement('input');
      brushUI.iouBox.type = 'checkbox';
      brushUI.iouBox.addEventListener('change', () => { brushUI.iou = brushUI.iouBox.checked; syncStrength(); });
      brushUI.iouWrap.append(brushUI.iouBox, ' IoU ranking: choose the number of units');
      const head = field.querySelector('.field-head');
      (head || field.firstChild).after(brushUI.steps, brushUI.iouWrap);
    }
    const remove = ui.mode === 'remove';
    const b = currentBrush(remove);
    const list = brushList(remove);
    brushUI.steps.hidden = !b;
    brushUI.iouWrap.hidden = !(list.some((x) => x.ranked) && list.some((x) => !x.ranked));
    brushUI.iouBox.checked = brushUI.iou;
    const units = !b || b.ranked;
    for (const n of [el.strength, field.querySelector('.presets:not(.steps)'), $('strength-help')]) if (n) n.hidden = !units;
    if (!b) return;
    const sel = brushFields(remove).strength;
    brushUI.steps.replaceChildren(...b.steps.map((st) => {
      const x = document.createElement('button');
      x.type = 'button';
      x.className = 'preset';
      x.dataset.step = st.name;
      x.textContent = st.name;
      x.title = stepTitle(b, st, remove);
      x.setAttribute('aria-pressed', String(st.name === sel));
      return x;
    }));
    if (el.strengthOut && !b.ranked) el.strengthOut.textContent = sel + ' · ' + b.name;
    else if (el.strengthOut) el.strengthOut.textContent = sel + ' · ' + el.strengthOut.textContent;
  }

  function conceptColor(name) {
    const c = model.concepts.find((x) => x.name === name);
    return c ? c.color : '#ffffff';
  }

  function buildPalette() {
    if (!el.palette) return;
    el.palette.replaceChildren();
    model.concepts.forEach((c, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'concept';
      b.dataset.concept = c.name;
      b.dataset.color = c.color;
      const key = conceptKeyLabel(i);
      b.setAttribute('aria-label', key ? c.name + ' (' + key + ')' : c.name);
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.setAttribute('aria-hidden', 'true');
      const nm = document.createElement('span');
      nm.className = 'concept-name';
      nm.textContent = c.name;
      b.append(sw, nm);
      if (key) {
        const k = document.createElement('kbd');
        k.setAttribute('aria-hidden', 'true');
        k.textContent = key;
        b.append(k);
      }
      el.palette.append(b);
    });
    if (!model.concepts.some((c) => c.name === ui.concept)) ui.concept = model.concepts.length ? model.concepts[0].name : '';
    paintSwatches();
    selectConcept(ui.concept);
  }

  // Every concept has a key, in palette order (the page config has the
  // list: the number row, then letters no other shortcut uses).
  const conceptKeys = cfg.concept_keys || '123456789';
  const conceptKeyLabel = (i) => (i < conceptKeys.length ? conceptKeys[i].toUpperCase() : '');

  // Colours come from data attributes and are applied through the CSSOM, so
  // the page needs no inline style (a strict CSP stays possible).
  function paintSwatches() {
    for (const b of $$('.concept')) b.style.setProperty('--concept', b.dataset.color);
  }

  function selectConcept(name) {
    if (!model.concepts.some((c) => c.name === name)) return;
    ui.concept = name;
    for (const b of $$('.concept')) b.setAttribute('aria-pressed', String(!ui.custom && b.dataset.concept === name));
    if (el.eraseConcept) el.eraseConcept.textContent = ui.custom ? ui.custom.label : name;
    document.documentElement.style.setProperty('--current', ui.custom ? ui.custom.color : conceptColor(name));
    updateControls();
    ctx.drawOverlay();
    ctx.emit('concept', name);
  }

  function setMode(mode) {
    ui.mode = mode;
    for (const b of $$('button[data-mode]')) b.setAttribute('aria-pressed', String(b.dataset.mode === mode));
    document.body.dataset.mode = mode;
    syncStrength();
    ctx.drawOverlay();
  }

  function setRadius(r) {
    const max = el.brush ? Number(el.brush.max) : model.limits.max_radius;
    ui.radius = Math.max(1, Math.min(max, Math.round(r)));
    if (el.brush) el.brush.value = String(ui.radius);
    if (el.brushOut) el.brushOut.textContent = ui.radius + ' px';
    ctx.drawOverlay();
  }

  function setUnits(n) {
    ui.units = Math.max(1, Math.min(cfg.units.max, Math.round(n)));
    syncStrength();
  }

  function setGrid(on) {
    ui.grid = on;
    if (el.grid) el.grid.setAttribute('aria-pressed', String(on));
    ctx.drawOverlay();
  }


  if (el.palette) {
    el.palette.addEventListener('click', (ev) => {
      const b = ev.target.closest('.concept');
      if (b) {
        ui.custom = null;
        selectConcept(b.dataset.concept);
      }
    });
  }
  for (const b of $$('button[data-mode]')) b.addEventListener('click', () => setMode(b.dataset.mode));
  if (el.brush) el.brush.addEventListener('input', () => setRadius(Number(el.brush.value)));
  if (el.strength) el.strength.addEventListener('input', () => setUnits(Number(el.strength.value)));
  for (const b of $$('.preset[data-units]')) b.addEventListener('click', () => setUnits(Number(b.dataset.units)));

  if (el.grid) el.grid.addEventListener('click', () => setGrid(!ui.grid));

  Object.assign(ctx, { updateControls, conceptUnits, maxUnitsFor, syncStrength, effectiveUnits, brushList, currentBrush, brushFields, pct, stepTitle, syncSteps, conceptColor, buildPalette, paintSwatches, selectConcept, setMode, setRadius, setUnits, setGrid, brushUI, conceptKeys, conceptKeyLabel });
}
