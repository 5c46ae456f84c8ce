// Keyboard shortcuts of the page.
export function install(ctx) {
  const { cfg, proto, el, ui, model, session, paint, $, $$ } = ctx;
  document.addEventListener('keydown', (ev) => {
    if (ev.defaultPrevented || ev.altKey) return;
    const tag = ev.target && ev.target.tagName;
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') {
      if (ev.key === 'Escape') ev.target.blur();
      return;
    }
    if (ctx.conn.idle) ctx.conn.open();
    const mod = ev.ctrlKey || ev.metaKey;
    const key = ev.key.toLowerCase();
    if (mod) {
      if (key === 'z' && !ev.shiftKey) ctx.act('undo');
      else if ((key === 'z' && ev.shiftKey) || key === 'y') ctx.act('redo');
      else return;
      ev.preventDefault();
      return;
    }
    if (key === 'o') {
      if (!ev.repeat) ctx.setCompare(true);
    } else if (key === 'd') ctx.setMode('add');
    else if (key === 'r') ctx.setMode('remove');
    else if (key === '[') ctx.setRadius(ui.radius - Math.max(1, Math.round(ui.radius * 0.2)));
    else if (key === ']') ctx.setRadius(ui.radius + Math.max(1, Math.round(ui.radius * 0.2)));
    else if (key === 'g' && el.grid) ctx.setGrid(!ui.grid);
    else if (key.length === 1 && ctx.conceptKeys.includes(key) && model.concepts[ctx.conceptKeys.indexOf(key)]) {
      ui.custom = null;
      ctx.selectConcept(model.concepts[ctx.conceptKeys.indexOf(key)].name);
    } else return;
    ev.preventDefault();
  });

  document.addEventListener('keyup', (ev) => {
    if (ev.key.toLowerCase() === 'o' && ui.comparing) ctx.setCompare(false);
  });
  window.addEventListener('blur', () => { if (ui.comparing) ctx.setCompare(false); });


  Object.assign(ctx, {  });
}
