// The event table and the bus: one naming style, every event both sent
// and heard, and no name outside the table.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { createBus } from '../assets/bus.js';
import { EVENTS, isEvent } from '../assets/events.js';

const ASSETS = new URL('../assets/', import.meta.url).pathname;

function sources(dir = ASSETS) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (entry.name.endsWith('.js')) out.push({ path, text: readFileSync(path, 'utf8') });
  }
  return out;
}

const all = sources();
const namesIn = (re) => new Set(all.flatMap(({ text }) => [...text.matchAll(re)].map((m) => m[1])));

test('the table is frozen and every name is `subject:change` in lowercase, once', () => {
  assert.ok(Object.isFrozen(EVENTS));
  const names = Object.values(EVENTS);
  for (const name of names) assert.match(name, /^[a-z]+:[a-z]+$/);
  assert.equal(new Set(names).size, names.length);
});

test('every declared event is emitted somewhere and listened to somewhere', () => {
  const emitted = namesIn(/emit\(EVENTS\.([A-Z_]+)/g);
  const heard = namesIn(/\bon\(EVENTS\.([A-Z_]+)/g);
  for (const key of Object.keys(EVENTS)) {
    assert.ok(emitted.has(key), `EVENTS.${key} is never emitted`);
    assert.ok(heard.has(key), `EVENTS.${key} is never listened to`);
  }
  for (const key of [...emitted, ...heard]) assert.ok(key in EVENTS, `EVENTS.${key} is not declared`);
});

test('no event is named by a string literal outside the table', () => {
  for (const { path, text } of all) {
    assert.doesNotMatch(text, /\b(emit|on)\(\s*['"`]/, path);
  }
});

test('no custom property is stored on a DOM node', () => {
  for (const { path, text } of all) {
    assert.doesNotMatch(text, /\.kith[A-Z]\w*/, path);
  }
});

test('the bus delivers to listeners until they unsubscribe, and refuses undeclared names', () => {
  const bus = createBus();
  const got = [];
  const off = bus.on(EVENTS.CHAT_UNREAD, (d) => got.push(d));
  bus.emit(EVENTS.CHAT_UNREAD, 1);
  bus.emit(EVENTS.CHAT_READ, 2);
  off();
  bus.emit(EVENTS.CHAT_UNREAD, 3);
  assert.deepEqual(got, [1]);
  assert.equal(isEvent('chat:unread'), true);
  assert.throws(() => bus.emit('chat:synced'), /unknown event/);
  assert.throws(() => bus.on('rt:error', () => {}), /unknown event/);
});
