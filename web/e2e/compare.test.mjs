// Real-browser test of the compare panel: a remove stroke, then "Compare"
// shows the scene four ways with times; "remove everywhere" compares with the
// segmenter's mask. Like paint.test.mjs it starts no server: web/e2e/run.sh
// does and passes the painter's URL in GANPAINT_URL.
//
//   GANPAINT_URL=http://127.0.0.1:8080/ node --test web/e2e/compare.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { artifact, launch, pageURL, waitMS as stepMS } from './helpers.mjs';

// A comparison runs the generator, the segmenter and three fills on a CPU.
const waitMS = 2 * stepMS;

async function settled(page, edits) {
  await page.waitForFunction((n) => {
    const g = window.ganpaint;
    return g && g.settled && g.edits === n && Number(document.getElementById('image').dataset.frames) > 0;
  }, edits, { timeout: waitMS });
}

// tiles reads the panel: per tile its caption and whether it holds an image.
async function tiles(page) {
  return page.$$eval('#compare-grid .compare-tile', (figs) => figs.map((f) => ({
    name: f.querySelector('.compare-name')?.textContent || '',
    detail: f.querySelector('.compare-ms')?.textContent || '',
    image: (f.querySelector('img')?.getAttribute('src') || '').startsWith('data:image/png;base64,'),
    missing: f.querySelector('.compare-missing')?.textContent || '',
  })));
}

// runs counts the panel's finished requests (compare.js keeps it).
async function runs(page) {
  return page.evaluate(() => Number(document.getElementById('compare-card').dataset.runs) || 0);
}

async function compareNow(page) {
  const n = await runs(page);
  await page.locator('#compare-run').click();
  await page.waitForFunction((old) => (Number(document.getElementById('compare-card').dataset.runs) || 0) > old, n, { timeout: waitMS });
  return tiles(page);
}

function checkTiles(got) {
  assert.deepEqual(got.map((t) => t.name), ['GAN removal', 'Learned inpainting', 'Navier–Stokes', 'Telea', 'Filled region']);
  // The default model ships a learned inpainter, so all four methods show a picture.
  for (const t of got.slice(0, 4)) {
    assert.ok(t.image, `${t.name} shows an image`);
    assert.match(t.detail, /^\d+(\.\d)? ms$/, `${t.name} shows its time`);
  }
  assert.match(got[4].detail, /% of the image$/);
}

test('compare panel after a removal', { timeout: 8 * waitMS }, async (t) => {
  assert.ok(pageURL, 'GANPAINT_URL must point at the painter page (web/e2e/run.sh sets it)');
  const { page, errors, close } = await launch({ viewport: { width: 1280, height: 1000 } });
  try {
    await page.goto(pageURL, { waitUntil: 'domcontentloaded' });
    await settled(page, 0);
    assert.equal(await page.locator('#compare-run').isDisabled(), true, 'nothing to compare before an edit');

    await t.test('a remove stroke, compared', async () => {
      await page.locator('button.concept[data-concept="tree"]').click();
      await page.locator('#mode-remove').click();
      const box = await page.locator('#overlay').boundingBox();
      await page.mouse.move(box.x + 0.2 * box.width, box.y + 0.6 * box.height);
      await page.mouse.down();
      await page.mouse.move(box.x + 0.5 * box.width, box.y + 0.7 * box.height, { steps: 8 });
      await page.mouse.up();
      await settled(page, 1);
      const got = await compareNow(page);
      await page.screenshot({ path: artifact('compare-stroke.png'), fullPage: true });
      checkTiles(got);
      assert.match(await page.textContent('#compare-region'), /brushed cells/);
    });

    await t.test('remove everywhere, compared with the segmenter\'s mask', async () => {
      await page.locator('#erase-all').click();
      await settled(page, 2);
      const got = await compareNow(page);
      await page.screenshot({ path: artifact('compare-everywhere.png'), fullPage: true });
      checkTiles(got);
      assert.match(await page.textContent('#compare-region'), /segmenter’s mask of tree/);
    });

    await t.test('an add stroke is not a removal', async () => {
      await page.locator('#mode-add').click();
      const box = await page.locator('#overlay').boundingBox();
      await page.mouse.click(box.x + 0.5 * box.width, box.y + 0.5 * box.height);
      await settled(page, 3);
      await compareNow(page);
      assert.match(await page.textContent('#compare-status'), /not a removal/);
    });
  } catch (err) {
    await page.screenshot({ path: artifact('compare-failure.png') }).catch(() => {});
    throw err;
  } finally {
    await close();
  }
  assert.deepEqual(errors.filter((e) => !/status of 409/.test(e)), [], 'no errors in the page console');
});
