// Day headings in a conversation (assets/time.js).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { dayKey, dayLabel } from '../assets/time.js';

describe('dayLabel', () => {
  const now = new Date(2026, 11, 5, 9, 30).getTime(); // a Saturday morning, local time
  const at = (y, mo, d, hh = 12) => new Date(y, mo, d, hh).toISOString();

  test('today and yesterday by the local calendar, not by 24 hours', () => {
    assert.equal(dayLabel(at(2026, 11, 5, 0), now), 'Today');
    assert.equal(dayLabel(at(2026, 11, 4, 23), now), 'Yesterday');
  });

  test('a weekday within the week, then a date, with the year only when it differs', () => {
    const weekday = new Date(2026, 11, 2).toLocaleDateString([], { weekday: 'long' });
    assert.equal(dayLabel(at(2026, 11, 2), now), weekday);
    assert.ok(!/2026/.test(dayLabel(at(2026, 10, 1), now)), 'no year for this year');
    assert.ok(/2025/.test(dayLabel(at(2025, 10, 1), now)), 'the year for another year');
  });

  test('a bad time gives no heading', () => {
    assert.equal(dayLabel('not a time', now), '');
    assert.equal(dayKey(''), '');
  });

  test('two times on one local day share a key', () => {
    assert.equal(dayKey(at(2026, 11, 5, 1)), dayKey(at(2026, 11, 5, 23)));
    assert.notEqual(dayKey(at(2026, 11, 5, 1)), dayKey(at(2026, 11, 4, 23)));
  });
});
