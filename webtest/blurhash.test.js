// The blurhash decoder.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { components, decode83, decodeBlurhash, isBlurhash, linearToSrgb, srgbToLinear } from '../assets/mediakit/blurhash.js';

const HASH = 'LEHV6nWB2yk8pyo0adR*.7kCMdnj';

test('base 83 and the sRGB curve', () => {
  assert.equal(decode83('0'), 0);
  assert.equal(decode83('~'), 82);
  assert.equal(decode83('10'), 83);
  assert.throws(() => decode83('a"b'), /bad character/);
  for (const v of [0, 1, 10, 50, 128, 200, 254, 255]) assert.equal(linearToSrgb(srgbToLinear(v)), v, `${v} round-trips`);
  assert.equal(linearToSrgb(-1), 0);
  assert.equal(linearToSrgb(2), 255);
});

test('the well-known hash has 4x3 components', () => {
  const c = components(HASH);
  assert.equal(c.nx, 4);
  assert.equal(c.ny, 3);
  assert.equal(c.colors.length, 12);
  assert.ok(c.dc.every((v) => v >= 0 && v <= 255));
});

test('it decodes to 32x32 opaque pixels whose average is near the DC colour', () => {
  const px = decodeBlurhash(HASH, 32, 32);
  assert.equal(px.length, 32 * 32 * 4);
  const sum = [0, 0, 0];
  for (let i = 0; i < px.length; i += 4) {
    assert.equal(px[i + 3], 255);
    for (let k = 0; k < 3; k += 1) sum[k] += px[i + k];
  }
  const { dc } = components(HASH);
  const mean = sum.map((s) => s / (32 * 32));
  for (let k = 0; k < 3; k += 1) {
    assert.ok(Math.abs(mean[k] - dc[k]) < 20, `channel ${k}: mean ${mean[k].toFixed(1)} vs DC ${dc[k]}`);
  }
  // Not a flat colour: the AC components are there.
  const reds = new Set();
  for (let i = 0; i < px.length; i += 4) reds.add(px[i]);
  assert.ok(reds.size > 10);
});

test('a 1x1 hash is its DC colour everywhere', () => {
  // Size 0 (1x1), any AC scale, DC #ff8000.
  const dc = (0xff << 16) | (0x80 << 8) | 0x00;
  const digits = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~';
  let enc = '';
  for (let v = dc, i = 0; i < 4; i += 1, v = Math.floor(v / 83)) enc = digits[v % 83] + enc;
  const px = decodeBlurhash(`00${enc}`, 4, 4);
  for (let i = 0; i < px.length; i += 4) assert.deepEqual([...px.slice(i, i + 4)], [255, 128, 0, 255]);
});

test('malformed hashes throw', () => {
  assert.throws(() => decodeBlurhash('', 4, 4));
  assert.throws(() => decodeBlurhash('LEHV6', 4, 4));
  assert.throws(() => decodeBlurhash(HASH.slice(0, -1), 4, 4), /expected 28/);
  assert.throws(() => decodeBlurhash(`${HASH.slice(0, -1)}"`, 4, 4), /bad character/);
  assert.throws(() => decodeBlurhash(null, 4, 4));
  assert.equal(isBlurhash(HASH), true);
  assert.equal(isBlurhash('nope'), false);
});
