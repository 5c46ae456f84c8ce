// Real-browser tests of what a new user trips over in the painter (issue
// 11): each test drives the page as a person would and fails on the defect
// it is named after.
//
//   GANPAINT_URL=http://127.0.0.1:8080/ node --test web/e2e/painter.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DESKTOP, artifact, drag, nextFrame, paint, pixels, samePixels, url, waitMS, waitSettled, withBrowser } from './helpers.mjs';

// overlayAlpha is the largest alpha of the stroke overlay in a small box
// around a point given in fractions of the painting surface.
async function overlayAlpha(page, fx, fy) {
  return page.evaluate(([fx, fy]) => {
    const c = document.getElementById('overlay');
    const x = Math.round(fx * c.width);
    const y = Math.round(fy * c.height);
    const d = c.getContext('2d').getImageData(Math.max(0, x - 3), Math.max(0, y - 3), 7, 7).data;
    let maxA = 0;
    for (let i = 3; i < d.length; i += 4) maxA = Math.max(maxA, d[i]);
    return maxA;
  }, [fx, fy]);
}

test('the stroke overlay clears when the button is released after a pause', async (t) => {
  await withBrowser(t, DESKTOP, async (page) => {
    await page.goto(url('/'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    const from = [0.2, 0.3];
    const to = [0.7, 0.35];
    // Hold still until the image shows everything sent so far: the last
    // frame then arrives before the button is released.
    const box = await page.locator('#overlay').boundingBox();
    const at = (f) => [box.x + f[0] * box.width, box.y + f[1] * box.height];
    await page.mouse.move(...at(from));
    await page.mouse.down();
    for (let i = 1; i <= 12; i++) {
      await page.mouse.move(...at([from[0] + (i / 12) * (to[0] - from[0]), from[1] + (i / 12) * (to[1] - from[1])]));
      await page.waitForTimeout(10);
    }
    await page.waitForTimeout(400);
    await waitSettled(page, 2);
    await nextFrame(page);
    assert.ok(await overlayAlpha(page, ...from) > 0, 'while the button is down the stroke is drawn');
    await page.mouse.up();
    await waitSettled(page, 2);
    await nextFrame(page);
    await page.screenshot({ path: artifact('overlay-after-release.png') });
    assert.equal(await overlayAlpha(page, ...from), 0, 'the overlay is clear where the stroke began');
  });
});

// showing waits until the painter shows image id with edits edits, settled.
async function showing(page, id, edits) {
  await page.waitForFunction(([id, edits]) => window.ganpaint.id === id && window.ganpaint.edits === edits && window.ganpaint.settled,
    [id, edits], { timeout: waitMS });
}

test('changing the image keeps the painting: undo, Back, Forward and the thumbnail bring it back', async (t) => {
  await withBrowser(t, DESKTOP, async (page) => {
    await page.goto(url('/'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    const first = await page.evaluate(() => window.ganpaint.id);
    await paint(page, 'tree', [0.3, 0.7], [0.6, 0.6]);
    const paintedState = await page.evaluate(() => window.ganpaint.state);
    const painted = await pixels(page);

    const other = page.locator(`#samples .thumb:not([data-id="${first}"])`).first();
    const otherID = Number(await other.getAttribute('data-id'));
    await other.click();
    await showing(page, otherID, 0);

    assert.equal(await page.locator('#undo').isEnabled(), true, 'the image change can be undone');
    await page.locator('#undo').click();
    await showing(page, first, 1);
    assert.ok(samePixels(painted, await pixels(page)), 'undo brings back the painted image');
    await page.locator('#redo').click();
    await showing(page, otherID, 0);

    await page.goBack();
    assert.equal(new URL(page.url()).origin, new URL(url('/')).origin, 'Back stays in the painter');
    await showing(page, first, 1);
    assert.ok(samePixels(painted, await pixels(page)), 'Back shows the painted image');
    await page.goForward();
    await showing(page, otherID, 0);

    await page.locator(`#samples .thumb[data-id="${first}"]`).click();
    await showing(page, first, 1);
    assert.equal(await page.evaluate(() => window.ganpaint.state), paintedState, 'the thumbnail brings the painting back');
  });
});

test('a broken link says so in plain words and keeps the address until the user acts', async (t) => {
  await withBrowser(t, DESKTOP, async (page) => {
    await page.goto(url('/?state=garbage'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    const status = await page.locator('#status').textContent();
    assert.match(status, /could not be opened/, 'the status says the link failed');
    assert.match(status, /default image was loaded instead/, 'and what is shown instead');
    assert.doesNotMatch(status, /base64|token|decode/i, 'without decoder jargon');
    assert.equal(new URL(page.url()).searchParams.get('state'), 'garbage', 'the address is not silently replaced');
    await paint(page, 'tree', [0.3, 0.7], [0.6, 0.6]);
    await page.waitForFunction(() => new URL(location.href).searchParams.get('state') === window.ganpaint.state, null, { timeout: waitMS });
  });
});

// pngSize reads the width and height from a PNG's IHDR chunk.
function pngSize(buf) {
  assert.equal(buf.subarray(1, 4).toString('latin1'), 'PNG', 'a PNG file');
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

function meta(html, attr, name) {
  const m = html.match(new RegExp(`<meta ${attr}="${name}" content="([^"]*)"`));
  return m ? m[1].replace(/&amp;/g, '&') : null;
}

test('a share link previews as a large card that says what was painted', async (t) => {
  let share;
  await withBrowser(t, DESKTOP, async (page) => {
    await page.goto(url('/'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    await paint(page, 'tree', [0.3, 0.7], [0.6, 0.6]);
    share = await page.evaluate(() => window.ganpaint.state);
  });
  // What a link-preview service does: fetch the page, read its meta tags,
  // fetch og:image.
  const html = await (await fetch(url('/?state=' + share))).text();
  assert.equal(meta(html, 'name', 'twitter:card'), 'summary_large_image');
  assert.match(meta(html, 'property', 'og:title'), /tree added/, 'og:title says what was painted');
  assert.match(meta(html, 'property', 'og:description'), /tree added in 1 stroke/, 'og:description too');
  const img = meta(html, 'property', 'og:image');
  const res = await fetch(new URL(new URL(img).pathname + new URL(img).search, url('/')));
  assert.equal(res.status, 200);
  const size = pngSize(Buffer.from(await res.arrayBuffer()));
  assert.ok(size.width >= 512 && size.height >= 512, `og:image is ${size.width}×${size.height}, want at least 512 px`);
  assert.equal(Number(meta(html, 'property', 'og:image:width')), size.width, 'og:image:width is the real width');
  assert.equal(Number(meta(html, 'property', 'og:image:height')), size.height, 'og:image:height is the real height');
});

// routeSessions passes the page's websockets through to the server and
// returns control over them: close() ends the current one from the server
// side with a close code, block makes new ones fail at once.
async function routeSessions(page) {
  const ctl = { attempts: 0, block: false, current: null };
  await page.routeWebSocket(/\/ws(\?|$)/, (ws) => {
    ctl.attempts++;
    if (ctl.block) {
      ws.close({ code: 1011, reason: 'test outage' });
      return;
    }
    const server = ws.connectToServer();
    ctl.current = { ws, server };
  });
  ctl.close = async (code, reason) => {
    const c = ctl.current;
    ctl.current = null;
    await c.ws.close({ code, reason });
    await c.server.close();
  };
  return ctl;
}

test('after an idle pause the first stroke is kept and "not connected" does not linger', async (t) => {
  await withBrowser(t, DESKTOP, async (page) => {
    const ctl = await routeSessions(page);
    await page.goto(url('/'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    await page.locator('#palette button.concept[data-concept="tree"]').click();
    await ctl.close(4000, 'idle timeout');
    await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'idle', null, { timeout: waitMS });
    assert.match(await page.locator('#status').textContent(), /Paint or press a key to resume/);

    await drag(page, [0.3, 0.7], [0.6, 0.6]);
    await page.waitForFunction(() => window.ganpaint.connected, null, { timeout: waitMS });
    assert.doesNotMatch(await page.locator('#status').textContent(), /Not connected|Paused/,
      'once connected, the status no longer says it is not');
    await page.waitForFunction(() => window.ganpaint.edits === 1 && window.ganpaint.settled, null, { timeout: waitMS });
    assert.equal(await page.locator('#conn-text').textContent(), 'Connected');
  });
});

test('while offline the retry count counts down', async (t) => {
  await withBrowser(t, DESKTOP, async (page) => {
    const ctl = await routeSessions(page);
    await page.goto(url('/'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    ctl.block = true;
    await ctl.close(1001, 'going away');
    // Retries back off; wait for a wait of 3 s or more.
    const n = Number(await (await page.waitForFunction(() => {
      const m = document.getElementById('conn-text').textContent.match(/retrying in (\d+) s/);
      return m && Number(m[1]) >= 3 ? m[1] : null;
    }, null, { timeout: waitMS, polling: 50 })).jsonValue());
    const attempts = ctl.attempts;
    await page.waitForFunction((n) => document.getElementById('conn-text').textContent === `Offline · retrying in ${n - 1} s`,
      n, { timeout: 3000, polling: 50 });
    assert.equal(ctl.attempts, attempts, 'the count went down while waiting for one retry');
    ctl.block = false;
    await page.waitForFunction(() => window.ganpaint.connected, null, { timeout: waitMS });
  });
});

test('on a page opened from a share link, Original shows the unedited image', async (t) => {
  let share;
  let unedited;
  await withBrowser(t, DESKTOP, async (page) => {
    await page.goto(url('/'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    unedited = await pixels(page);
    await paint(page, 'tree', [0.3, 0.7], [0.6, 0.6]);
    share = await page.evaluate(() => window.ganpaint.state);
  });
  await withBrowser(t, DESKTOP, async (page) => {
    await page.goto(url('/?state=' + share), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    const compare = page.locator('#compare');
    await page.waitForFunction(() => !document.getElementById('compare').disabled, null, { timeout: waitMS });
    await compare.click();
    assert.equal(await compare.getAttribute('aria-pressed'), 'true');
    assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById('original')).opacity > 0.5 ||
      document.getElementById('canvas-wrap').classList.contains('comparing')), true, 'the original is shown');
    assert.ok(samePixels(unedited, await pixels(page, 'original')), 'it is the image before the edits');
  });
});

test('every concept has a key, the keys are listed, and focus looks unlike selection', async (t) => {
  await withBrowser(t, DESKTOP, async (page) => {
    await page.goto(url('/'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    const concepts = await page.locator('#palette .concept').evaluateAll((bs) => bs.map((b) => ({
      name: b.dataset.concept,
      key: (b.querySelector('kbd') || {}).textContent || '',
    })));
    const listed = await page.locator('#concept-keys').textContent();
    for (const c of concepts) {
      assert.notEqual(c.key, '', `${c.name} shows a key`);
      assert.ok(listed.includes(c.key) && listed.includes(c.name), `${c.name} and its key ${c.key} are listed`);
      await page.locator('#overlay').focus();
      await page.keyboard.press(c.key.toLowerCase());
      assert.equal(await page.locator(`#palette .concept[data-concept="${c.name}"]`).getAttribute('aria-pressed'), 'true',
        `key ${c.key} selects ${c.name}`);
    }
    assert.equal(new Set(concepts.map((c) => c.key)).size, concepts.length, 'the keys are all different');

    // Keyboard focus on one concept while another is selected.
    await page.keyboard.press(concepts[0].key.toLowerCase());
    const other = page.locator(`#palette .concept[data-concept="${concepts[1].name}"]`);
    await other.focus();
    const look = (sel) => page.locator(sel).evaluate((b) => {
      const cs = getComputedStyle(b);
      return { focusVisible: b.matches(':focus-visible'), outline: cs.outlineStyle, outlineWidth: parseFloat(cs.outlineWidth),
        outlineColor: cs.outlineColor, border: cs.borderColor, shadow: cs.boxShadow };
    });
    const focused = await look(`#palette .concept[data-concept="${concepts[1].name}"]`);
    const selected = await look(`#palette .concept[data-concept="${concepts[0].name}"]`);
    t.diagnostic(`focused ${JSON.stringify(focused)}; selected ${JSON.stringify(selected)}`);
    assert.ok(focused.focusVisible, 'the focus is a keyboard focus');
    assert.ok(focused.outline !== 'none' && focused.outlineWidth >= 2, 'the focused button has a ring');
    assert.equal(selected.outline, 'none', 'the selected button has none');
    assert.notEqual(focused.outlineColor, selected.border, 'the ring is not the selection colour');
  });
});

// colourPixels counts overlay pixels close to a #rrggbb colour and mostly
// opaque: marks the page drew in a concept's colour.
async function colourPixels(page, hex) {
  return page.evaluate((hex) => {
    const n = parseInt(hex.slice(1), 16);
    const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
    const c = document.getElementById('overlay');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let count = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 200 && Math.abs(d[i] - r) < 40 && Math.abs(d[i + 1] - g) < 40 && Math.abs(d[i + 2] - b) < 40) count++;
    }
    return count;
  }, hex);
}

test('the grid outlines each edit, and the edit list highlights and deletes single strokes', async (t) => {
  await withBrowser(t, DESKTOP, async (page) => {
    await page.goto(url('/'), { waitUntil: 'domcontentloaded' });
    await waitSettled(page, 1);
    const color = (name) => page.locator(`#palette .concept[data-concept="${name}"]`).getAttribute('data-color');
    const [tree, cloud] = [await color('tree'), await color('cloud')];
    await paint(page, 'tree', [0.2, 0.75], [0.5, 0.75]);
    await paint(page, 'cloud', [0.6, 0.2], [0.8, 0.25]);
    await page.mouse.move(1, 1); // the brush cursor is drawn in the concept's colour
    await page.locator('#grid').click();
    await waitSettled(page);
    await nextFrame(page);
    await page.screenshot({ path: artifact('grid-outlines.png') });
    // The strokes are in the image now; their cells stay outlined.
    assert.ok(await colourPixels(page, tree) > 100, 'the tree edit is outlined in the grid view');
    assert.ok(await colourPixels(page, cloud) > 100, 'the cloud edit is outlined in the grid view');

    await page.locator('#grid').click();
    await nextFrame(page);
    assert.equal(await colourPixels(page, tree), 0, 'without the grid the picture is clear');
    const rows = page.locator('#edit-list .edit-row');
    assert.equal(await rows.count(), 2, 'one row per stroke');
    const texts = await rows.allTextContents();
    assert.match(texts[0], /cloud.*draw.*\d+ cells/i, 'newest first, with concept, mode and cells');
    assert.match(texts[1], /tree.*draw.*\d+ cells/i);
    const thumb = await rows.nth(1).locator('canvas').evaluate((c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      return d.some((v, i) => i % 4 === 3 && v > 0);
    });
    assert.ok(thumb, 'each row has a thumbnail');
    await rows.nth(1).hover();
    await nextFrame(page);
    assert.ok(await colourPixels(page, tree) > 100, 'pointing at the tree row highlights its cells');

    await rows.nth(1).locator('.edit-delete').click();
    await page.waitForFunction(() => window.ganpaint.edits === 1 && window.ganpaint.settled, null, { timeout: waitMS });
    assert.deepEqual(await page.evaluate(() => window.ganpaint.editList.map((e) => e.concept)), ['cloud'], 'only the tree stroke went');
    assert.equal(await rows.count(), 1);
    await page.locator('#undo').click();
    await page.waitForFunction(() => window.ganpaint.edits === 2 && window.ganpaint.settled, null, { timeout: waitMS });
    assert.equal(await rows.count(), 2, 'undo brings the deleted stroke back');
  });
});
