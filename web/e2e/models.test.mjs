// Real-browser test of a server with several models (web/e2e/run.sh serves
// every embedded model: v2, the default, and v1 slimmed for its old links): a link made on the
// second model opens on it, and a link for a model the server lacks says
// so. Skipped when the server has one model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DESKTOP, paint, url, waitSettled, withBrowser } from './helpers.mjs';

// models lists the server's models, the default first.
async function models() {
  const resp = await fetch(url('/api/all_projects'));
  if (!resp.ok) return [];
  return (await resp.json()).map((p) => p.project);
}

// modelOf asks the server which model a share token paints with.
async function modelOf(token) {
  const resp = await fetch(url('/api/model?state=' + encodeURIComponent(token)));
  assert.ok(resp.ok, `api/model for the token: ${resp.status}`);
  return (await resp.json()).model.name;
}

test('a link made on the second model opens on that model', async (t) => {
  const names = await models();
  if (names.length < 2) {
    t.skip('the server has one model');
    return;
  }
  const second = names[1];
  let token = '';
  await withBrowser(t, DESKTOP, async (page) => {
    await page.goto(url('/?model=' + encodeURIComponent(second)), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    assert.equal(await page.locator('.model-picker [aria-current="page"]').textContent(), second, 'the picker marks the second model');
    assert.equal(await page.locator('.model-picker a.model-choice').count(), names.length - 1, 'the picker links the other models');
    await paint(page, 'tree', [0.2, 0.7], [0.5, 0.75]);
    token = await page.evaluate(() => window.ganpaint.state);
    assert.equal(await modelOf(token), second, 'the painting is shared with the second model');
  });
  // A fresh visitor of the share link paints on the second model, and the
  // picker's link to the default model drops it.
  await withBrowser(t, DESKTOP, async (page) => {
    await page.goto(url('/?state=' + encodeURIComponent(token)), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    assert.equal(await page.evaluate(() => window.ganpaint.edits), 1, 'the link opens with its stroke');
    assert.equal(await page.locator('.model-picker [aria-current="page"]').textContent(), second);
    assert.equal(await modelOf(await page.evaluate(() => window.ganpaint.state)), second);
    await page.locator('.model-picker a.model-choice').first().click();
    await page.waitForURL((u) => !u.search.includes('state='), { timeout: 10000 });
    await waitSettled(page, 1);
    assert.equal(await page.locator('.model-picker [aria-current="page"]').textContent(), names[0]);
  });
});

test('a link for a model the server does not have says so', async (t) => {
  await withBrowser(t, DESKTOP, async (page) => {
    await page.goto(url('/?model=no-such-model'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    const status = await page.locator('#status').textContent();
    assert.match(status, /no-such-model/, 'the status line names the missing model');
  });
});
