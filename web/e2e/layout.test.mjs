// Real-browser tests of the painter's and the embed's layout at the sizes
// people use (issue 11): a laptop, a phone held both ways, and course-page
// frames. Each test fails on the layout defect it is named after.
//
//   GANPAINT_URL=http://127.0.0.1:8080/ node --test web/e2e/layout.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DESKTOP, PHONE, PHONE_LANDSCAPE, artifact, inViewport, url, waitMS, waitSettled, withBrowser } from './helpers.mjs';

// Frames a course page may give the embed: the smallest supported, a narrow
// column, the size docs/embedding.md suggests, and two landscape frames (its
// table lists the picture each one gets).
const FRAMES = [
  { width: 320, height: 400 },
  { width: 360, height: 480 },
  { width: 520, height: 640 },
  { width: 640, height: 480 },
  { width: 800, height: 600 },
];

// framed opens a course page (served by the test on the painter's own
// origin, which the default --frame-ancestors allows) with the embed in an
// iframe of the given size, and returns the iframe's frame.
async function framed(page, frame) {
  const host = url('/__course-page.html');
  await page.route(host, (route) => route.fulfill({
    contentType: 'text/html',
    body: `<!DOCTYPE html><html><body style="margin:0"><iframe src="/embed" title="GANPaint" width="${frame.width}" height="${frame.height}" style="border:0;display:block"></iframe></body></html>`,
  }));
  await page.goto(host, { waitUntil: 'domcontentloaded' });
  const handle = await page.waitForSelector('iframe');
  const f = await handle.contentFrame();
  await f.waitForFunction(() => window.ganpaint && window.ganpaint.settled, null, { timeout: waitMS });
  return f;
}

for (const frame of FRAMES) {
  test(`the embed fits a ${frame.width}×${frame.height} frame`, async (t) => {
    await withBrowser(t, { viewport: { width: frame.width + 200, height: frame.height + 200 } }, async (page) => {
      const f = await framed(page, frame);
      await page.screenshot({ path: artifact(`embed-${frame.width}x${frame.height}.png`), clip: { x: 0, y: 0, ...frame } });
      const size = await f.evaluate(() => ({
        scrollH: document.scrollingElement.scrollHeight,
        scrollW: document.scrollingElement.scrollWidth,
        canvas: document.getElementById('canvas-wrap').getBoundingClientRect().width,
      }));
      t.diagnostic(`page ${size.scrollW}×${size.scrollH}, picture ${Math.round(size.canvas)} px`);
      assert.ok(size.scrollH <= frame.height, `the page needs ${size.scrollH} px of a ${frame.height} px frame`);
      assert.ok(size.scrollW <= frame.width, `the page needs ${size.scrollW} px of a ${frame.width} px frame`);
      for (const sel of ['#canvas-wrap', '#mode-add', '#mode-remove', '#undo', '#open-full', '#palette .concept']) {
        assert.ok(await inViewport(f, sel), `${sel} is inside the frame`);
      }
      assert.ok(size.canvas >= 0.6 * Math.min(frame.width, frame.height), 'the picture takes most of the frame');
      // Every concept can be reached: the palette scrolls sideways.
      const last = f.locator('#palette .concept').last();
      await last.scrollIntoViewIfNeeded();
      assert.ok(await inViewport(f, '#palette .concept:last-child'), 'the last concept scrolls into the frame');
      await last.click();
      assert.equal(await last.getAttribute('aria-pressed'), 'true');
    });
  });
}

test('on a laptop screen the hint, the sample strip and the tools are in view', async (t) => {
  await withBrowser(t, DESKTOP, async (page) => {
    await page.goto(url('/'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    await page.screenshot({ path: artifact('desktop-1280x800.png') });
    assert.match(await page.locator('#hint').textContent(), /pick a concept, then paint on the picture/i);
    assert.ok(await inViewport(page, '#hint'), 'the hint is in view');
    const thumbs = await page.locator('#samples .thumb').count();
    assert.ok(thumbs >= 8, `${thumbs} sample thumbnails`);
    for (let i = 0; i < 8; i++) {
      assert.ok(await inViewport(page, `#samples .thumb:nth-child(${i + 1})`), `sample ${i + 1} is in view without scrolling`);
    }
    for (const sel of ['#canvas-wrap', '#undo', '#share', '#palette']) {
      assert.ok(await inViewport(page, sel), `${sel} is in view without scrolling`);
    }
  });
});

// swipe sends a touch gesture through the browser's input pipeline (as a
// finger on the screen does): fingers start at the given points in the
// painting surface (fractions) and all move by dy pixels.
async function swipe(page, context, fingers, dy) {
  const cdp = await context.newCDPSession(page);
  const box = await page.locator('#overlay').boundingBox();
  const points = (off) => fingers.map(([fx, fy], id) => ({ x: box.x + fx * box.width, y: box.y + fy * box.height + off, id }));
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: points(0) });
  for (let i = 1; i <= 12; i++) {
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: points((dy * i) / 12) });
    await page.waitForTimeout(16);
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await cdp.detach();
}

test('on a phone two fingers scroll past the picture and one finger paints', async (t) => {
  await withBrowser(t, PHONE, async (page, b) => {
    await page.goto(url('/'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    await page.locator('#palette button.concept[data-concept="tree"]').tap();
    await page.evaluate(() => window.scrollTo(0, 0));
    await swipe(page, b.context, [[0.35, 0.8], [0.65, 0.8]], -200);
    await page.waitForFunction(() => window.scrollY > 50, null, { timeout: waitMS });
    await page.waitForTimeout(300); // a stroke, had one started, would have been sent by now
    assert.equal(await page.evaluate(() => window.ganpaint.sentSeq), 0, 'the two-finger scroll painted nothing');

    await page.evaluate(() => window.scrollTo(0, 0));
    await swipe(page, b.context, [[0.3, 0.3]], 120);
    await page.waitForFunction(() => window.ganpaint.edits === 1 && window.ganpaint.settled, null, { timeout: waitMS });
    assert.equal(await page.evaluate(() => window.scrollY), 0, 'a one-finger stroke does not scroll');
  });
});

test('on a phone the mode switch sits by the picture and a sample brings the picture into view', async (t) => {
  await withBrowser(t, PHONE, async (page) => {
    await page.goto(url('/'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    await page.screenshot({ path: artifact('phone-390x844.png') });
    assert.equal(await page.locator('button[data-mode="remove"]:visible').count(), 1, 'one visible Remove button');
    const mode = page.locator('button[data-mode="remove"]:visible').first();
    const [canvas, sw] = [await page.locator('#canvas-wrap').boundingBox(), await mode.boundingBox()];
    assert.ok(sw.y - (canvas.y + canvas.height) < 60, `the mode switch is ${Math.round(sw.y - canvas.y - canvas.height)} px below the picture`);
    assert.ok(await inViewport(page, 'button[data-mode="remove"]:visible'), 'and in view with it');
    await mode.tap();
    assert.equal(await mode.getAttribute('aria-pressed'), 'true');

    const first = await page.evaluate(() => window.ganpaint.id);
    const thumb = page.locator(`#samples .thumb:not([data-id="${first}"])`).nth(2);
    const id = Number(await thumb.getAttribute('data-id'));
    await page.evaluate(() => window.scrollTo(0, document.scrollingElement.scrollHeight));
    await thumb.tap();
    await page.waitForFunction((id) => window.ganpaint.id === id && window.ganpaint.settled, id, { timeout: waitMS });
    await page.waitForFunction(() => {
      const r = document.getElementById('canvas-wrap').getBoundingClientRect();
      return r.top >= -1 && r.bottom <= innerHeight + 1;
    }, null, { timeout: waitMS });

    // Random sits at the bottom of the page: the new picture comes into view.
    await page.locator('#random').scrollIntoViewIfNeeded();
    assert.equal(await inViewport(page, '#canvas-wrap'), false, 'the picture is out of view at the bottom of the page');
    await page.locator('#random').tap();
    await page.waitForFunction(() => {
      const r = document.getElementById('canvas-wrap').getBoundingClientRect();
      return r.top >= -1 && r.bottom <= innerHeight + 1;
    }, null, { timeout: waitMS });
  });
});

test('on a phone held sideways the picture fits the screen', async (t) => {
  await withBrowser(t, PHONE_LANDSCAPE, async (page) => {
    await page.goto(url('/'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    await page.screenshot({ path: artifact('phone-844x390.png') });
    const box = await page.locator('#canvas-wrap').boundingBox();
    t.diagnostic(`picture ${Math.round(box.width)}×${Math.round(box.height)} at y ${Math.round(box.y)}`);
    assert.ok(await inViewport(page, '#canvas-wrap'), 'the whole picture is on screen');
    assert.ok(box.height >= 0.75 * 390, 'and it uses most of the height');
    assert.ok(await inViewport(page, 'button[data-mode="remove"]:visible'), 'the mode switch is beside it');
    // It stays there while the controls beside it scroll.
    await page.evaluate(() => window.scrollTo(0, 300));
    await page.waitForFunction(() => window.scrollY > 0);
    assert.ok(await inViewport(page, '#canvas-wrap'), 'the picture stays on screen while the page scrolls');
  });
});
