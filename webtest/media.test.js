// The media client's pure parts: the attachments list (with a fake
// upload), the grid's layout, the lightbox's navigation, the crop's
// geometry and the choice of photo variants.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Attachments, kindOf, MAX_ALT, moveItem, statusOf } from '../assets/mediakit/attachments.js';
import { cropRect, fitIn, moveCenter, OUTPUT_PX, outputSide, squareSide } from '../assets/mediakit/crop.js';
import { describeMedia, layoutOf, mediaOf } from '../assets/mediakit/grid.js';
import { step, swipeDirection } from '../assets/mediakit/lightbox.js';
import { fallbackSrc, sizeOf, srcsetOf, variantOf } from '../assets/mediakit/picture.js';

/** An upload the test finishes or fails by hand. */
function fakeUploads() {
  const made = [];
  const create = (file, opts) => {
    let resolve;
    let reject;
    const promise = new Promise((ok, no) => {
      resolve = ok;
      reject = no;
    });
    const up = { file, opts, aborted: false, start: () => promise, abort() { this.aborted = true; }, resolve, reject };
    made.push(up);
    return up;
  };
  return { made, create };
}

const file = (name, type, size = 100) => ({ name, type, size, lastModified: 1 });
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('attachments', () => {
  test('files are told apart by type, else by name', () => {
    assert.equal(kindOf(file('a.jpg', 'image/jpeg')), 'image');
    assert.equal(kindOf(file('a.mov', 'video/quicktime')), 'video');
    assert.equal(kindOf(file('IMG_1.HEIC', '')), 'image');
    assert.equal(kindOf(file('clip.mkv', '')), 'video');
    assert.equal(kindOf(file('doc.pdf', 'application/pdf')), 'other');
  });

  test('moving clamps at the ends and keeps everything', () => {
    assert.deepEqual(moveItem([1, 2, 3], 0, 1), [2, 1, 3]);
    assert.deepEqual(moveItem([1, 2, 3], 2, 1), [1, 2, 3]);
    assert.deepEqual(moveItem([1, 2, 3], 0, -1), [1, 2, 3]);
    assert.deepEqual(moveItem([1, 2, 3], 2, -2), [3, 1, 2]);
  });

  test('each file uploads at once; sending waits for every byte, not for processing', async () => {
    const up = fakeUploads();
    let changes = 0;
    const views = { m1: { id: 'm1', status: 'processing', progress: 0.2 } };
    const list = new Attachments({ createUpload: up.create, fetchView: async (id) => views[id] || { id, status: 'queued' }, onChange: () => { changes += 1; } });
    list.add([file('a.jpg', 'image/jpeg'), file('b.mp4', 'video/mp4')]);
    assert.equal(up.made.length, 2);
    assert.equal(list.uploading, true);
    assert.equal(list.sendable, false);
    up.made[0].opts.onProgress(50);
    assert.equal(list.items[0].sent, 50);
    up.made[0].opts.onState('offline');
    assert.equal(statusOf(list.items[0]), 'offline');
    up.made[0].resolve({ id: 'm1' });
    await tick();
    assert.equal(list.items[0].phase, 'uploaded');
    assert.equal(statusOf(list.items[0]), 'processing', 'its view was fetched');
    assert.equal(list.sendable, false, 'the second is still uploading');
    up.made[1].resolve({ id: 'm2' });
    await tick();
    assert.equal(list.sendable, true, 'processing may go on server-side');
    list.setAlt(list.items[1].key, 'x'.repeat(MAX_ALT + 10));
    assert.equal(list.items[1].alt.length, MAX_ALT);
    list.setAlt(list.items[0].key, 'a dog');
    list.move(list.items[1].key, -1);
    assert.deepEqual(list.payload(), [{ id: 'm2', alt: 'x'.repeat(MAX_ALT) }, { id: 'm1', alt: 'a dog' }], 'in the order shown');
    assert.ok(changes > 0);
    list.clear();
    assert.equal(list.count, 0);
    assert.equal(up.made.some((u) => u.aborted), false, 'sent uploads are not cancelled');
  });

  test('at most ten; removing cancels an unfinished upload; a refusal blocks sending until removed', async () => {
    const up = fakeUploads();
    const list = new Attachments({ createUpload: up.create });
    const { added, refused } = list.add(Array.from({ length: 12 }, (_, i) => file(`${i}.jpg`, 'image/jpeg')));
    assert.deepEqual([added, refused], [10, 2]);
    list.remove(list.items[0].key);
    assert.equal(up.made[0].aborted, true);
    for (const u of up.made.slice(1)) u.resolve({ id: u.file.name });
    up.made[0].reject(new Error('ignored: removed'));
    await tick();
    assert.equal(list.sendable, true);
    const more = fakeUploads();
    list.createUpload = more.create;
    list.add([file('x.heic', 'image/heic')]);
    more.made[0].reject(Object.assign(new Error('HEIC images are not supported'), { status: 415 }));
    await tick();
    assert.equal(list.failed, true);
    assert.equal(list.sendable, false);
    assert.equal(list.items.at(-1).error, 'HEIC images are not supported', "the server's own words");
    list.remove(list.items.at(-1).key);
    assert.equal(list.sendable, true);
  });

  test('a processing failure from a frame shows on its file; other files are not attempted', async () => {
    const up = fakeUploads();
    const list = new Attachments({ createUpload: up.create });
    list.add([file('a.jpg', 'image/jpeg'), file('notes.pdf', 'application/pdf')]);
    assert.equal(up.made.length, 1, 'a PDF is refused without a round trip');
    assert.match(list.items[1].error, /not a photo or video/);
    up.made[0].resolve({ id: 'm9' });
    await tick();
    list.mediaChanged({ id: 'm9', status: 'failed', error: 'corrupt image' });
    assert.equal(list.items[0].error, 'Processing failed: corrupt image');
  });

  test('the upload is scoped to the signed-in user', () => {
    const up = fakeUploads();
    new Attachments({ scope: 'u1', createUpload: up.create }).add([file('a.jpg', 'image/jpeg')]);
    assert.equal(up.made[0].opts.scope, 'u1');
  });
});

describe('grid', () => {
  test('layouts: 1, 2, 3, then 2x2 with the rest counted on the fourth', () => {
    assert.deepEqual(layoutOf(1), { shown: 1, more: 0, cls: 'n-1' });
    assert.deepEqual(layoutOf(3), { shown: 3, more: 0, cls: 'n-3' });
    assert.deepEqual(layoutOf(4), { shown: 4, more: 0, cls: 'n-4' });
    assert.deepEqual(layoutOf(10), { shown: 4, more: 6, cls: 'n-4' });
  });

  test("a post's media, or the one video of an older post", () => {
    assert.deepEqual(mediaOf({ media: [{ id: 'a' }] }), [{ id: 'a' }]);
    assert.deepEqual(mediaOf({ media: [], media_id: 'v' }), [{ id: 'v' }]);
    assert.deepEqual(mediaOf({ body: 'x' }), []);
  });

  test('a preview line names what a message carries', () => {
    assert.equal(describeMedia([{ kind: 'image' }]), 'Photo');
    assert.equal(describeMedia([{ kind: 'image' }, { kind: 'image' }]), '2 photos');
    assert.equal(describeMedia([{ kind: 'video' }]), 'Video');
    assert.equal(describeMedia([{ kind: 'image' }, { kind: 'video' }]), '2 attachments');
    assert.equal(describeMedia([]), '');
  });
});

describe('lightbox', () => {
  test('previous and next wrap around', () => {
    assert.equal(step(0, -1, 5), 4);
    assert.equal(step(4, 1, 5), 0);
    assert.equal(step(2, 1, 5), 3);
    assert.equal(step(0, 1, 0), 0);
  });

  test('a swipe is long and sideways; left goes on, right goes back', () => {
    assert.equal(swipeDirection(200, 100, 100, 110), 1);
    assert.equal(swipeDirection(100, 100, 200, 90), -1);
    assert.equal(swipeDirection(100, 100, 130, 100), 0, 'too short');
    assert.equal(swipeDirection(100, 100, 170, 180), 0, 'more down than sideways: a scroll');
  });
});

describe('crop', () => {
  test('the photo fits the stage, centred', () => {
    assert.deepEqual(fitIn(4000, 3000, 320), { scale: 0.08, dx: 0, dy: 40 });
  });

  test('the square is the short side at zoom 1, smaller when zoomed, and never leaves the photo', () => {
    assert.equal(squareSide(4000, 3000, 1), 3000);
    assert.equal(squareSide(4000, 3000, 2), 1500);
    assert.equal(squareSide(4000, 3000, 99), 750, 'zoom is capped');
    assert.deepEqual(cropRect(4000, 3000, { cx: 2000, cy: 1500, zoom: 1 }), { x: 500, y: 0, side: 3000 });
    assert.deepEqual(cropRect(4000, 3000, { cx: 0, cy: 0, zoom: 2 }), { x: 0, y: 0, side: 1500 });
    assert.deepEqual(cropRect(4000, 3000, { cx: 9999, cy: 9999, zoom: 2 }), { x: 2500, y: 1500, side: 1500 });
    const moved = moveCenter(4000, 3000, { cx: 2000, cy: 1500, zoom: 1 }, 5000, -50);
    assert.deepEqual([moved.cx, moved.cy], [2500, 1500], 'dragged as far as the square can go');
  });

  test('the upload is at most OUTPUT_PX square and never enlarged', () => {
    assert.equal(outputSide(3000), OUTPUT_PX);
    assert.equal(outputSide(200.4), 200);
  });
});

describe('picture', () => {
  const view = {
    width: 4000,
    height: 3000,
    url: '/media/x-display.webp',
    variants: [
      { name: 'display', width: 2048, height: 1536, webp: '/media/x-display.webp', jpeg: '/media/x-display.jpg' },
      { name: 'thumb', width: 400, height: 300, webp: '/media/x-thumb.webp', jpeg: '/media/x-thumb.jpg' },
    ],
  };

  test('srcsets list the variants smallest first, per format', () => {
    assert.equal(srcsetOf(view, 'webp'), '/media/x-thumb.webp 400w, /media/x-display.webp 2048w');
    assert.equal(srcsetOf(view, 'jpeg', ['display']), '/media/x-display.jpg 2048w');
    assert.equal(srcsetOf({ variants: [] }, 'webp'), '');
  });

  test('the fallback src is the preferred JPEG; sizes come from the original', () => {
    assert.equal(fallbackSrc(view), '/media/x-thumb.jpg');
    assert.equal(fallbackSrc(view, 'display'), '/media/x-display.jpg');
    assert.equal(fallbackSrc({ url: '/u' }), '/u');
    assert.equal(variantOf(view, 'nope'), null);
    assert.deepEqual(sizeOf(view), [4000, 3000]);
    assert.deepEqual(sizeOf({}), [4, 3]);
  });
});
