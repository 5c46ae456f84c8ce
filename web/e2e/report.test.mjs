// Real-browser test of the dissection report and the unit editor: the charts
// render, the unit grid sorts and filters, a unit's page opens with its
// images, an ablation in the editor changes the image, and a point query
// lists units. Like paint.test.mjs it starts no server: web/e2e/run.sh does
// and passes the painter's URL in GANPAINT_URL; the report is at /report/.
//
//   GANPAINT_URL=http://127.0.0.1:8080/ node --test web/e2e/report.test.mjs
//
// Environment: GANPAINT_URL (required), ARTIFACTS_DIR (screenshots; default
// web/e2e/artifacts), CHROMIUM (default /usr/bin/chromium), E2E_TIMEOUT_MS
// (per wait; default 30000), E2E_MIN_ABLATION (fraction of pixels an
// ablation of 20 units must change; default 0.01).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { artifact, launch, pageURL as base, waitMS } from './helpers.mjs';

const minAblation = Number(process.env.E2E_MIN_ABLATION || 0.01);

// A pixel counts as changed when a channel moved by more than this (far
// above JPEG noise between two encodings of the same image).
const CHANGED = 24;

// imageLoaded waits until an <img> has decoded a picture.
async function imageLoaded(locator) {
  await locator.scrollIntoViewIfNeeded();
  await locator.evaluate(
    (img, ms) =>
      new Promise((resolve, reject) => {
        const ok = () => img.complete && img.naturalWidth > 0;
        if (ok()) return resolve();
        const t = setTimeout(() => reject(new Error(`image ${img.src} did not load`)), ms);
        img.addEventListener('load', () => {
          clearTimeout(t);
          resolve();
        });
        img.addEventListener('error', () => {
          clearTimeout(t);
          reject(new Error(`image ${img.src} failed`));
        });
      }),
    waitMS,
  );
}

// changedFraction compares two loaded images pixel by pixel.
async function changedFraction(page, a, b) {
  return page.evaluate(
    ([a, b, limit]) => {
      const read = (img) => {
        const c = document.createElement('canvas');
        c.width = img.naturalWidth;
        c.height = img.naturalHeight;
        const ctx = c.getContext('2d');
        ctx.drawImage(img, 0, 0);
        return ctx.getImageData(0, 0, c.width, c.height).data;
      };
      const x = read(a);
      const y = read(b);
      let changed = 0;
      for (let i = 0; i < x.length; i += 4) {
        const d = Math.max(Math.abs(x[i] - y[i]), Math.abs(x[i + 1] - y[i + 1]), Math.abs(x[i + 2] - y[i + 2]));
        if (d > limit) changed++;
      }
      return changed / (x.length / 4);
    },
    [await a.elementHandle(), await b.elementHandle(), CHANGED],
  );
}

test('dissection report: charts, grid sorting, unit page', { timeout: 8 * waitMS }, async (t) => {
  assert.ok(base, 'GANPAINT_URL must point at the server (web/e2e/run.sh sets it)');
  const browser = await launch();
  const { page, errors } = browser;
  try {
    let layerURL;
    await t.test('the overview draws the layer charts and the comparison', async () => {
      await page.goto(new URL('/report/', base).href, { waitUntil: 'load' });
      const summaries = page.locator('.layer-summary');
      assert.ok((await summaries.count()) >= 1, 'at least one dissected layer');
      assert.match(await summaries.first().locator('.summary').textContent(), /^\d+ of \d+ units are interpretable and cover \d+ concepts\.$/);
      assert.ok((await summaries.first().locator('svg.chart rect.bar').count()) >= 1, 'the layer chart has bars');
      const rows = page.locator('#layer-comparison .comparison-row');
      assert.ok((await rows.count()) >= 1, 'the comparison has a row per concept');
      assert.equal(await rows.first().locator('rect.bar').count(), await summaries.count(), 'one bar per layer in each row');
      layerURL = await summaries.first().locator('h2 a').getAttribute('href');
      await page.screenshot({ path: artifact('report-overview.png'), fullPage: true });
    });

    await t.test('the layer page sorts and filters its unit grid', async () => {
      await page.goto(new URL(layerURL, base).href, { waitUntil: 'load' });
      assert.ok((await page.locator('#concept-chart rect.bar').count()) >= 1, 'the concept chart has bars');
      const cards = page.locator('#unit-grid .unit-card');
      const total = await cards.count();
      assert.ok(total >= 2, 'the grid has the units');
      await imageLoaded(cards.first().locator('img.strip'));

      await page.selectOption('#grid-sort', 'iou');
      const ious = await page.$$eval('#unit-grid .unit-card', (cs) => cs.map((c) => Number(c.dataset.iou)));
      assert.equal(ious.length, total);
      for (let i = 1; i < ious.length; i++) assert.ok(ious[i - 1] >= ious[i], `IoU order broken at ${i}: ${ious[i - 1]} < ${ious[i]}`);
      assert.match(page.url(), /sort=iou/, 'the sort is kept in the address');

      const rankValue = await page.$eval('#grid-sort', (s) => Array.from(s.options).map((o) => o.value).find((v) => v.startsWith('rank:')));
      assert.ok(rankValue, 'the grid can sort by a ranking');
      await page.selectOption('#grid-sort', rankValue);
      const want = await page.$eval('#report-grid', (el, name) => JSON.parse(el.textContent).rankings[name], rankValue.slice(5));
      const got = await page.$$eval('#unit-grid .unit-card', (cs) => cs.map((c) => Number(c.dataset.unit)));
      assert.deepEqual(got.slice(0, 20), want.slice(0, 20), 'the grid follows the ranking');

      const concept = await page.$eval('#grid-filter', (s) => s.options[1] && s.options[1].value);
      assert.ok(concept, 'a concept to filter by');
      await page.selectOption('#grid-filter', concept);
      const visible = await page.$$eval('#unit-grid .unit-card:not([hidden])', (cs) => cs.map((c) => c.dataset.label));
      assert.ok(visible.length >= 1 && visible.length < total, 'the filter hides other concepts');
      assert.ok(visible.every((l) => l === concept), `only ${concept} units are shown`);
      assert.match(await page.locator('#grid-count').textContent(), new RegExp(`^${visible.length} of ${total} units$`));
      await page.screenshot({ path: artifact('report-layer.png') });
    });

    await t.test('a card opens the unit page with its images and IoU chart', async () => {
      const card = page.locator('#unit-grid .unit-card:not([hidden])').first();
      const unit = await card.getAttribute('data-unit');
      await Promise.all([page.waitForURL(/\/unit\/\d+/), card.locator('a').click()]);
      assert.match(await page.locator('#unit-title').textContent(), new RegExp(`unit ${unit}\\b`));
      for (const sel of ['.unit-views img', '#heat', '.tops img']) await imageLoaded(page.locator(sel).first());
      assert.ok((await page.locator('#iou-chart rect.bar').count()) >= 1, 'the IoU chart has bars');
      // Another top image replaces the views.
      const tops = page.locator('.tops a');
      if ((await tops.count()) > 1) {
        await Promise.all([page.waitForURL(/id=\d+/), tops.nth(1).click()]);
        await imageLoaded(page.locator('#heat'));
        assert.equal(await page.locator('.tops a[aria-current="page"]').count(), 1);
      }
      await page.screenshot({ path: artifact('report-unit.png'), fullPage: true });
    });
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
  }
});

test('unit editor: ablation changes the image, point query lists units', { timeout: 8 * waitMS }, async (t) => {
  assert.ok(base, 'GANPAINT_URL must point at the server');
  const browser = await launch();
  const { page, errors } = browser;
  try {
    const runs = () => page.$eval('#ed-pairs', (el) => Number(el.dataset.runs || 0));
    const waitRuns = (n) => page.waitForFunction((n) => Number(document.getElementById('ed-pairs').dataset.runs || 0) >= n, n, { timeout: waitMS });

    await t.test('the editor shows the images before any edit', async () => {
      await page.goto(new URL('/report/edit?ids=0-1', base).href, { waitUntil: 'load' });
      await waitRuns(1);
      assert.equal(await page.locator('#ed-pairs .pair').count(), 2);
      const pair = page.locator('#ed-pairs .pair').first();
      await imageLoaded(pair.locator('img.before'));
      await imageLoaded(pair.locator('img.after'));
      assert.ok((await page.locator('#ed-palette .pal-unit').count()) >= 1, 'the palette lists the units');
    });

    await t.test('removing a ranking range changes the image', async () => {
      const n = await runs();
      // The first ranking of the layer, units 1 to 20, removed everywhere.
      await page.fill('#ed-from', '1');
      await page.fill('#ed-to', '20');
      await page.click('#ed-add-range');
      await waitRuns(n + 1);
      assert.match(await page.locator('#ed-units-info').textContent(), /^20 units: /);
      // A concept's units change the images that show the concept; the
      // most changed of the images must show it.
      let changed = 0;
      const pairs = page.locator('#ed-pairs .pair');
      for (let i = 0; i < (await pairs.count()); i++) {
        await imageLoaded(pairs.nth(i).locator('img.after'));
        changed = Math.max(changed, await changedFraction(page, pairs.nth(i).locator('img.before'), pairs.nth(i).locator('img.after')));
      }
      assert.ok(changed >= minAblation, `the ablation changed ${(100 * changed).toFixed(2)}% of the pixels, want ≥ ${100 * minAblation}%`);
      assert.match(await page.locator('#ed-status').textContent(), /removed 20 units everywhere/);
      await page.screenshot({ path: artifact('editor-ablation.png') });
    });

    await t.test('clicking a point lists the units active there', async () => {
      const img = page.locator('#ed-pairs .pair').first().locator('img.before');
      const box = await img.boundingBox();
      await img.click({ position: { x: box.width / 2, y: box.height / 2 } });
      await page.waitForFunction(() => document.querySelectorAll('#ed-query-raw li').length >= 5, null, { timeout: waitMS });
      const items = await page.$$eval('#ed-query-raw .query-unit', (bs) => bs.map((b) => b.textContent));
      assert.ok(items.every((s) => /^unit \d+ · .+ · -?\d+\.\d\d$/.test(s)), `query items: ${items.slice(0, 3)}`);
      assert.ok((await page.locator('#ed-query-q li').count()) >= 5, 'the quantile list is filled too');
      // Choosing a listed unit adds it.
      const first = page.locator('#ed-query-raw .query-unit').first();
      const unit = await first.getAttribute('data-unit');
      await page.fill('#ed-units', '');
      await page.dispatchEvent('#ed-units', 'change');
      await first.click();
      assert.equal(await page.inputValue('#ed-units'), unit);
      await page.screenshot({ path: artifact('editor-query.png') });
    });
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
  }
});
