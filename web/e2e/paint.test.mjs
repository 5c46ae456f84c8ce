// Real-browser test of the painter: paints a tree stroke in Debian's chromium,
// checks the repainted image, undoes it, and opens the share link in a fresh
// browser profile. It starts no server: web/e2e/run.sh does, and passes the
// painter's URL in GANPAINT_URL.
//
//   GANPAINT_URL=http://127.0.0.1:8080/ node --test web/e2e/paint.test.mjs
//
// Environment: GANPAINT_URL (required), ARTIFACTS_DIR (screenshots and
// result.json; default web/e2e/artifacts), CHROMIUM (default
// /usr/bin/chromium), E2E_TIMEOUT_MS (per wait; default 30000),
// E2E_MIN_INSIDE / E2E_MAX_FAR (fractions of changed pixels required inside
// the stroke's cells / allowed far from them; defaults 0.15 / 0.10).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { artifact, drag, frames, launch, pageURL, pixels, samePixels, waitMS, waitSettled } from './helpers.mjs';

const minInside = Number(process.env.E2E_MIN_INSIDE || 0.15);
const maxFar = Number(process.env.E2E_MAX_FAR || 0.1);

// The stroke, in fractions of the image: a diagonal across the lower middle,
// where outdoor scenes have ground for trees to grow on.
const STROKE = { from: [0.3, 0.72], to: [0.62, 0.6], steps: 24 };

// A pixel counts as changed when one channel moved by more than this (JPEG
// noise between two encodings of different images stays far below).
const CHANGED = 24;

// strokeRegion is the part of the image the stroke edits: the layer-grid
// cells within the brush radius of the stroke (the server max-pools the brush
// mask onto the grid), as a cell-aligned box in image pixels.
function strokeRegion(img, grid, radius) {
  const xs = [STROKE.from[0], STROKE.to[0]].map((f) => f * img.width);
  const ys = [STROKE.from[1], STROKE.to[1]].map((f) => f * img.height);
  const cw = img.width / grid.width;
  const ch = img.height / grid.height;
  const x0 = Math.floor((Math.min(...xs) - radius) / cw) * cw;
  const x1 = Math.ceil((Math.max(...xs) + radius + 1) / cw) * cw;
  const y0 = Math.floor((Math.min(...ys) - radius) / ch) * ch;
  const y1 = Math.ceil((Math.max(...ys) + radius + 1) / ch) * ch;
  return { x0: Math.max(0, x0), x1: Math.min(img.width, x1), y0: Math.max(0, y0), y1: Math.min(img.height, y1), cw, ch };
}

// diffStats compares two images inside a box and far away from it (more than
// two grid cells, since later generator layers spread an edit a little).
function diffStats(a, b, r) {
  const inside = { n: 0, changed: 0 };
  const far = { n: 0, changed: 0 };
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      const i = (y * a.width + x) * 4;
      const d = Math.max(Math.abs(a.data[i] - b.data[i]), Math.abs(a.data[i + 1] - b.data[i + 1]), Math.abs(a.data[i + 2] - b.data[i + 2]));
      const isIn = x >= r.x0 && x < r.x1 && y >= r.y0 && y < r.y1;
      const dx = Math.max(r.x0 - x, x - (r.x1 - 1), 0);
      const dy = Math.max(r.y0 - y, y - (r.y1 - 1), 0);
      const isFar = dx > 2 * r.cw || dy > 2 * r.ch;
      const s = isIn ? inside : isFar ? far : null;
      if (!s) continue;
      s.n++;
      if (d > CHANGED) s.changed++;
    }
  }
  return {
    inside: inside.n ? inside.changed / inside.n : 0,
    far: far.n ? far.changed / far.n : 0,
    farPixels: far.n,
  };
}

async function paintStroke(page) {
  await drag(page, STROKE.from, STROKE.to, { steps: STROKE.steps });
}

test('paint a tree, undo it, share it', { timeout: 6 * waitMS }, async (t) => {
  assert.ok(pageURL, 'GANPAINT_URL must point at the painter page (web/e2e/run.sh sets it)');
  const browser = await launch();
  const { page } = browser;
  let original;
  let painted;
  let shareURL;
  try {
    await t.test('first frame arrives', async () => {
      await page.goto(pageURL, { waitUntil: 'domcontentloaded' });
      await waitSettled(page, 1);
      original = await pixels(page);
      assert.ok(original.width > 0 && original.height > 0);
    });

    await t.test('a tree stroke repaints the painted region', async () => {
      const tree = page.locator('button.concept[data-concept="tree"]');
      assert.equal(await tree.count(), 1, 'the palette has a tree button');
      await tree.click();
      assert.equal(await tree.getAttribute('aria-pressed'), 'true');
      await page.locator('#mode-add').click();
      const framesBefore = await frames(page);
      await paintStroke(page);
      await page.waitForFunction(() => window.ganpaint.edits >= 1, null, { timeout: waitMS });
      await waitSettled(page, framesBefore + 1);
      painted = await pixels(page);
      await page.screenshot({ path: artifact('painted.png') });

      const grid = await page.evaluate(() => {
        const cfg = JSON.parse(document.getElementById('ganpaint-config').textContent);
        const layer = cfg.model.layers.find((l) => l.name === cfg.model.default_layer) || cfg.model.layers[0];
        return { width: layer.width, height: layer.height };
      });
      const radius = Number(await page.locator('#brush-size').inputValue());
      const region = strokeRegion(original, grid, radius);
      const d = diffStats(original, painted, region);
      t.diagnostic(`changed pixels: ${(100 * d.inside).toFixed(1)}% inside the stroke's cells, ${(100 * d.far).toFixed(1)}% far outside`);
      writeFileSync(artifact('result.json'), JSON.stringify({ url: pageURL, region, radius, grid, ...d }, null, 2) + '\n');
      assert.ok(d.inside >= minInside, `at least ${100 * minInside}% of the stroke's cells changed (got ${(100 * d.inside).toFixed(1)}%)`);
      if (d.farPixels > 0) {
        assert.ok(d.far <= maxFar, `at most ${100 * maxFar}% of pixels far from the stroke changed (got ${(100 * d.far).toFixed(1)}%)`);
        assert.ok(d.far < d.inside / 2, 'the stroke changes its own region much more than the rest');
      }
    });

    await t.test('undo brings back the original pixels exactly', async () => {
      const framesBefore = await frames(page);
      await page.locator('#undo').click();
      await page.waitForFunction(() => window.ganpaint.edits === 0, null, { timeout: waitMS });
      await waitSettled(page, framesBefore + 1);
      const undone = await pixels(page);
      await page.screenshot({ path: artifact('undone.png') });
      assert.ok(samePixels(original, undone), 'pixels after undo equal the first frame');
    });

    await t.test('redo and copy the share link', async () => {
      const framesBefore = await frames(page);
      await page.keyboard.press('Control+Shift+Z');
      await page.waitForFunction(() => window.ganpaint.edits === 1, null, { timeout: waitMS });
      await waitSettled(page, framesBefore + 1);
      assert.ok(samePixels(painted, await pixels(page)), 'redo shows the painted image again');
      await page.locator('#share').click();
      await page.locator('#share-url').waitFor({ state: 'visible', timeout: waitMS });
      shareURL = await page.locator('#share-url').inputValue();
      assert.match(shareURL, /[?&]state=[A-Za-z0-9_-]+/);
    });
  } catch (err) {
    await page.screenshot({ path: artifact('failure.png') }).catch(() => {});
    throw err;
  } finally {
    await browser.close();
  }
  assert.deepEqual(browser.errors, [], 'no errors in the page console');

  await t.test('the share link reproduces the image in a fresh browser', async () => {
    // The link carries the page's public base URL; the test server may be
    // reached under another host name, so keep only its query.
    const shared = new URL(pageURL);
    shared.search = new URL(shareURL).search;
    const fresh = await launch();
    try {
      await fresh.page.goto(shared.href, { waitUntil: 'domcontentloaded' });
      await waitSettled(fresh.page, 1);
      await fresh.page.screenshot({ path: artifact('shared.png') });
      const got = await pixels(fresh.page);
      assert.ok(samePixels(painted, got), 'the shared page shows exactly the painted image');
      assert.equal(await fresh.page.evaluate(() => window.ganpaint.edits), 1);
      assert.deepEqual(fresh.errors, [], 'no errors in the page console');
    } finally {
      await fresh.close();
    }
  });
});
