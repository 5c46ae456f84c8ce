// Real-browser test of the unit editor's custom brush: units picked in the
// editor go to the painter with one click, the painter shows the brush in
// its palette and paints with it at the chosen strength step, the image
// changes, and the share link
// reproduces the painted image; a bad brush address is explained, not a
// broken page. Like the other tests it starts no server: web/e2e/run.sh does
// and passes the painter's URL in GANPAINT_URL.
//
//   GANPAINT_URL=http://127.0.0.1:8080/ node --test web/e2e/custombrush.test.mjs
//
// Environment: GANPAINT_URL (required), ARTIFACTS_DIR, CHROMIUM,
// E2E_TIMEOUT_MS (see helpers.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { artifact, drag, frames, pixels, samePixels, url, waitMS, waitSettled, withBrowser } from './helpers.mjs';

// A pixel counts as changed when one channel moved by more than this.
const CHANGED = 24;
const UNITS = 12;

function changedShare(a, b) {
  let n = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    const d = Math.max(Math.abs(a.data[i] - b.data[i]), Math.abs(a.data[i + 1] - b.data[i + 1]), Math.abs(a.data[i + 2] - b.data[i + 2]));
    if (d > CHANGED) n++;
  }
  return n / (a.data.length / 4);
}

test('custom brush: editor units painted in the painter and shared', { timeout: 10 * waitMS }, async (t) => {
  await withBrowser(t, {}, async (page, b) => {
    // The editor: the first ranking's top units, inserted.
    await page.goto(url('/report/edit?ids=0'), { waitUntil: 'load' });
    const runs = () => page.$eval('#ed-pairs', (el) => Number(el.dataset.runs || 0));
    await page.waitForFunction(() => Number(document.getElementById('ed-pairs').dataset.runs || 0) >= 1, null, { timeout: waitMS });
    assert.equal(await page.getAttribute('#ed-to-painter', 'aria-disabled'), 'true', 'no units yet: the link is off');
    await page.check('input[name="ed-mode"][value="add"]');
    const n = await runs();
    await page.fill('#ed-from', '1');
    await page.fill('#ed-to', String(UNITS));
    await page.click('#ed-add-range');
    await page.waitForFunction((n) => Number(document.getElementById('ed-pairs').dataset.runs || 0) > n, n, { timeout: waitMS });
    const layer = await page.inputValue('#ed-layer');
    const units = (await page.inputValue('#ed-units')).split(/,\s*/).map(Number);
    assert.equal(units.length, UNITS);
    assert.equal(await page.getAttribute('#ed-to-painter', 'aria-disabled'), 'false');

    // One click: the painter, with the brush chosen, in the editor's mode.
    await Promise.all([page.waitForURL(/custom_units=/, { timeout: waitMS }), page.click('#ed-to-painter')]);
    const addr = new URL(page.url());
    assert.equal(addr.searchParams.get('custom_layer'), layer);
    assert.deepEqual(addr.searchParams.get('custom_units').split(',').map(Number), units);
    assert.equal(addr.searchParams.get('custom_mode'), 'add');
    await waitSettled(page);
    const brush = page.locator('#custom-brush');
    assert.equal((await brush.textContent()).trim(), `custom: ${UNITS} units @ ${layer}`);
    assert.equal(await brush.getAttribute('aria-pressed'), 'true');
    assert.equal(await page.locator('#palette .concept[aria-pressed="true"]').count(), 0, 'no concept is chosen with it');
    assert.equal(await page.getAttribute('#mode-add', 'aria-pressed'), 'true');

    // Paint with it: the image changes, and the edit is the custom brush.
    const before = await pixels(page);
    const f = await frames(page);
    await drag(page, [0.15, 0.55], [0.85, 0.65], { steps: 20 });
    await page.waitForFunction(() => window.ganpaint.edits > 0, null, { timeout: waitMS });
    await waitSettled(page, f + 1);
    const after = await pixels(page);
    const share = changedShare(before, after);
    assert.ok(share > 0.01, `the custom brush changed ${(100 * share).toFixed(2)}% of the pixels`);
    const edits = await page.evaluate(() => window.ganpaint.editList);
    assert.equal(edits.length, 1);
    assert.equal(edits[0].concept, `custom: ${UNITS} units @ ${layer}`);
    assert.equal(edits[0].strength, 'medium', 'the default step: strength 1');
    await page.screenshot({ path: artifact('custom-brush.png') });

    // The strength steps apply to the custom brush: the same stroke at
    // "high" paints harder than at the default "medium".
    assert.deepEqual((await page.locator('.steps button').allTextContents()).map((s) => s.trim()), ['low', 'medium', 'high']);
    assert.equal(await page.getAttribute('.steps button[data-step="medium"]', 'aria-pressed'), 'true');
    let fu = await frames(page);
    await page.click('#undo');
    await page.waitForFunction(() => window.ganpaint.edits === 0, null, { timeout: waitMS });
    await waitSettled(page, fu + 1);
    await page.click('.steps button[data-step="high"]');
    assert.equal(await page.getAttribute('.steps button[data-step="high"]', 'aria-pressed'), 'true');
    fu = await frames(page);
    await drag(page, [0.15, 0.55], [0.85, 0.65], { steps: 20 });
    await page.waitForFunction(() => window.ganpaint.edits > 0, null, { timeout: waitMS });
    await waitSettled(page, fu + 1);
    const high = await pixels(page);
    assert.equal((await page.evaluate(() => window.ganpaint.editList))[0].strength, 'high');
    assert.ok(!samePixels(high, after), 'the high step paints differently from medium');

    // A concept button goes back to concepts.
    await page.locator('#palette .concept').first().click();
    assert.equal(await brush.getAttribute('aria-pressed'), 'false');

    // The share link, in a new tab of the same browser, shows the same image.
    const tok = await page.evaluate(() => window.ganpaint.state);
    const tab = await b.context.newPage();
    await tab.goto(url('/?state=' + encodeURIComponent(tok)), { waitUntil: 'load' });
    await waitSettled(tab);
    assert.ok(samePixels(await pixels(tab), high), 'the share link reproduces the painted image, step included');
    await tab.close();

    // The brush address alone opens the brush in a new tab too.
    const again = await b.context.newPage();
    await again.goto(addr.href, { waitUntil: 'load' });
    await waitSettled(again);
    assert.equal(await again.getAttribute('#custom-brush', 'aria-pressed'), 'true');
    await again.close();

    // A brush the server refuses: the page says why and still paints.
    await page.goto(url(`/?custom_layer=${layer}&custom_units=1,99999`), { waitUntil: 'load' });
    await waitSettled(page);
    assert.equal(await page.locator('#custom-brush').count(), 0);
    assert.match(await page.locator('#status').textContent(), /custom brush in this address cannot be used: unit 99999 is not in 0\.\.\d+/);
    assert.equal(await page.getAttribute('#status', 'data-kind'), 'error');
  });
});
