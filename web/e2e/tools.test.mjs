// Real-browser test of the Analysis card: the "where can it grow" overlay
// (the dissection's map, then measured on the image) and, when the model has
// an artifact ranking, the "repair artifacts" toggle. Started by
// web/e2e/run.sh with GANPAINT_URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { artifact, launch, pageURL, waitMS as stepMS } from './helpers.mjs';

// Measuring a map runs the generator 64 times on a CPU.
const waitMS = 3 * stepMS;

async function settled(page) {
  await page.waitForFunction(() => window.ganpaint && window.ganpaint.settled && Number(document.getElementById('image').dataset.frames) > 0,
    null, { timeout: waitMS });
}

async function loads(page) {
  return page.evaluate(() => Number(document.getElementById('growth-row').dataset.loads) || 0);
}

async function afterLoad(page, action) {
  const n = await loads(page);
  await action();
  await page.waitForFunction((old) => (Number(document.getElementById('growth-row').dataset.loads) || 0) > old, n, { timeout: waitMS });
}

// overlay reads the growth canvas: its size and how many blocks are shaded
// green (grows), red (does not) and blue (already there).
async function overlay(page) {
  return page.evaluate(() => {
    const c = document.querySelector('canvas.growth-overlay');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const n = { green: 0, red: 0, blue: 0 };
    // The canvas stores premultiplied alpha, so read back colours by their
    // strongest channel, not exact values.
    for (let i = 0; i < d.length; i += 4) {
      const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
      if (g > r && g > b) n.green++;
      else if (r > g && r > b) n.red++;
      else if (b > r && b > g) n.blue++;
    }
    return { w: c.width, h: c.height, hidden: c.hidden, ...n };
  });
}

test('analysis card', { timeout: 6 * waitMS }, async (t) => {
  assert.ok(pageURL, 'GANPAINT_URL must point at the painter page (web/e2e/run.sh sets it)');
  const { page, errors, close } = await launch({ viewport: { width: 1280, height: 1000 } });
  try {
    await page.goto(pageURL, { waitUntil: 'domcontentloaded' });
    await settled(page);

    await t.test('the dissection\'s map of door, then measured on this image', async () => {
      await page.locator('button.concept[data-concept="door"]').click();
      assert.equal(await page.textContent('#growth-concept'), 'door');
      await afterLoad(page, () => page.locator('#growth-toggle').check());
      let o = await overlay(page);
      assert.equal(o.hidden, false);
      assert.equal(o.w * o.h, o.green + o.red + o.blue, 'every block is shaded');
      assert.match(await page.textContent('#growth-status'), /From the dissection/);
      await afterLoad(page, () => page.locator('#growth-measure').click());
      o = await overlay(page);
      assert.equal(o.w * o.h, o.green + o.red + o.blue);
      assert.match(await page.textContent('#growth-status'), /Measured on this image \(\d+ ms\)/);
      await page.screenshot({ path: artifact('growth.png'), fullPage: true });
      await page.locator('#growth-toggle').uncheck();
      assert.equal((await overlay(page)).hidden, true);
    });

    await t.test('repair artifacts, when the model has a ranking', async (st) => {
      if (await page.locator('#repair-row').count() === 0 || await page.locator('#repair-row').isHidden()) {
        st.skip('no artifact ranking for this layer');
        return;
      }
      const before = await page.evaluate(() => window.ganpaint.seq);
      await page.locator('#repair-toggle').check();
      await page.waitForFunction((s) => window.ganpaint.seq > s && window.ganpaint.settled, before, { timeout: waitMS });
      const tok = await page.evaluate(() => document.getElementById('image').dataset.state);
      assert.ok(tok.length > 0);
      assert.equal(await page.locator('#repair-toggle').isChecked(), true);
      // A fresh page from the share link comes back with the toggle on.
      const shared = new URL(pageURL);
      shared.searchParams.set('state', tok);
      await page.goto(shared.href, { waitUntil: 'domcontentloaded' });
      await settled(page);
      await page.waitForFunction(() => document.getElementById('repair-toggle').checked, null, { timeout: waitMS });
    });
  } catch (err) {
    await page.screenshot({ path: artifact('tools-failure.png') }).catch(() => {});
    throw err;
  } finally {
    await close();
  }
  assert.deepEqual(errors, [], 'no errors in the page console');
});
