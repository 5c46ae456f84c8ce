// Shared set-up of the real-browser tests: a fresh chromium profile per
// browser, waits on the page's read-only window.ganpaint view, and pixel
// reads. The tests start no server: web/e2e/run.sh does, and passes the
// painter's URL in GANPAINT_URL.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const pageURL = process.env.GANPAINT_URL;
export const artifacts = process.env.ARTIFACTS_DIR || join(here, 'artifacts');
export const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
export const waitMS = Number(process.env.E2E_TIMEOUT_MS || 30000);

const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Screen sizes the tests use: a laptop, a phone held upright and sideways.
export const DESKTOP = { viewport: { width: 1280, height: 800 } };
export const PHONE = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true };
export const PHONE_LANDSCAPE = { viewport: { width: 844, height: 390 }, hasTouch: true, isMobile: true };

// url resolves a path and query against the painter's address.
export function url(pathAndQuery = '/') {
  assert.ok(pageURL, 'GANPAINT_URL must point at the painter page (web/e2e/run.sh sets it)');
  return new URL(pathAndQuery, pageURL).href;
}

export function artifact(name) {
  mkdirSync(artifacts, { recursive: true });
  return join(artifacts, name);
}

// launch opens chromium with a new, empty profile directory that is removed
// again on close, so no state leaks between runs or between browsers.
// Console errors and uncaught exceptions are collected in errors.
export async function launch(opts = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'ganpaint-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
    ...opts,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    // A busy server answers a thumbnail with 503 and the page retries it;
    // that is load shedding working, not a failure of the page.
    if (msg.type() === 'error' && !/status of 503/.test(msg.text())) errors.push(msg.text());
  });
  return {
    page,
    context,
    errors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// withBrowser runs fn with a fresh browser, saves a screenshot named after
// the test when it fails, and checks the console stayed clean.
export async function withBrowser(t, opts, fn) {
  const b = await launch(opts);
  try {
    await fn(b.page, b);
  } catch (err) {
    const name = t.name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
    await b.page.screenshot({ path: artifact('failure-' + name + '.png') }).catch(() => {});
    throw err;
  } finally {
    await b.close();
  }
  assert.deepEqual(b.errors, [], 'no errors in the page console');
}

// waitSettled waits until the image on screen shows the last message sent
// (seq of the frame == last seq sent, in the final encoding) and at least
// minFrames frames have been drawn, and returns that seq.
export async function waitSettled(page, minFrames = 1) {
  await page.waitForFunction(
    (n) => {
      const g = window.ganpaint;
      const img = document.getElementById('image');
      return g && g.settled && Number(img.dataset.frames) >= n;
    },
    minFrames,
    { timeout: waitMS },
  );
  return page.evaluate(() => window.ganpaint.seq);
}

export async function frames(page) {
  return page.evaluate(() => Number(document.getElementById('image').dataset.frames));
}

// nextFrame waits for two animation frames, so overlay redraws queued with
// requestAnimationFrame have happened.
export async function nextFrame(page) {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

// pixels returns a canvas's pixels (the image canvas by default, at the
// model's native resolution).
export async function pixels(page, id = 'image') {
  return page.evaluate((id) => {
    const c = document.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    return { width: c.width, height: c.height, data: Array.from(d.data) };
  }, id);
}

export function samePixels(a, b) {
  if (a.width !== b.width || a.height !== b.height || a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

// drag moves the mouse from one point to another in fractions of the
// painting surface, in steps like a person's drag. hold keeps the button
// down (after the last move) for that many milliseconds.
export async function drag(page, from, to, { steps = 24, hold = 0 } = {}) {
  const box = await page.locator('#overlay').boundingBox();
  assert.ok(box && box.width > 0, 'the painting surface is visible');
  const at = (fx, fy) => [box.x + fx * box.width, box.y + fy * box.height];
  await page.mouse.move(...at(...from));
  await page.mouse.down();
  for (let i = 1; i <= steps; i++) {
    const t = i / steps;
    await page.mouse.move(...at(from[0] + t * (to[0] - from[0]), from[1] + t * (to[1] - from[1])));
    await page.waitForTimeout(10); // a human-ish drag, so partial strokes are sent
  }
  if (hold) await page.waitForTimeout(hold);
  await page.mouse.up();
  return box;
}

// paint selects a concept and mode, drags a stroke and waits until the
// image on screen includes it.
export async function paint(page, concept, from, to, { mode = 'add', hold = 0 } = {}) {
  await page.locator(`#palette button.concept[data-concept="${concept}"]`).click();
  await page.locator(`#mode-${mode}`).click();
  const before = await page.evaluate(() => window.ganpaint.edits);
  const n = await frames(page);
  await drag(page, from, to, { hold });
  await page.waitForFunction((e) => window.ganpaint.edits > e, before, { timeout: waitMS });
  await waitSettled(page, n + 1);
}

// inViewport reports whether an element's box lies wholly inside the
// visible viewport (with a pixel of slack for rounding).
export async function inViewport(page, selector) {
  return page.locator(selector).first().evaluate((e) => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.top >= -1 && r.left >= -1 &&
      r.bottom <= innerHeight + 1 && r.right <= innerWidth + 1;
  });
}
