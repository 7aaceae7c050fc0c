// The admin console's formatting of rates, durations, counts and states.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  actionPhrase,
  ageSecs,
  countBadge,
  expiryLabel,
  formatCount,
  formatDuration,
  formatMs,
  formatRate,
  hasActiveJobs,
  jobActions,
  outcomeLabel,
  percent,
} from '../assets/admin/format.js';

test('rates keep one decimal below 10, none below 1000, then k and M', () => {
  assert.equal(formatRate(0), '0');
  assert.equal(formatRate(0.04), '<0.1');
  assert.equal(formatRate(4.25), '4.3');
  assert.equal(formatRate(4), '4');
  assert.equal(formatRate(37.6), '38');
  assert.equal(formatRate(1234), '1.2k');
  assert.equal(formatRate(12_345), '12k');
  assert.equal(formatRate(3_400_000), '3.4M');
  assert.equal(formatRate(null), '—');
  assert.equal(formatRate(Number.NaN), '—');
});

test('counts are whole and grouped', () => {
  assert.equal(formatCount(1234567), '1,234,567');
  assert.equal(formatCount(2.6), '3');
  assert.equal(formatCount(undefined), '—');
});

test('latencies read as ms, then seconds, then minutes', () => {
  assert.equal(formatMs(0), '0 ms');
  assert.equal(formatMs(0.3), '<1 ms');
  assert.equal(formatMs(12.4), '12 ms');
  assert.equal(formatMs(999.4), '999 ms');
  assert.equal(formatMs(1250), '1.3 s');
  assert.equal(formatMs(15_000), '15 s');
  assert.equal(formatMs(150_000), '2.5 min');
  assert.equal(formatMs(null), '—');
});

test('durations and ages', () => {
  assert.equal(formatDuration(4.4), '4 s');
  assert.equal(formatDuration(-3), '0 s');
  assert.equal(formatDuration(125), '2 min');
  assert.equal(formatDuration(3 * 3600 + 5), '3 h');
  assert.equal(formatDuration(2 * 86400 + 1), '2 d');
  const now = Date.parse('2025-01-01T12:00:00Z');
  assert.equal(ageSecs('2025-01-01T11:59:30Z', now), 30);
  assert.equal(ageSecs('2025-01-01T12:00:10Z', now), 0, 'a clock ahead is no negative age');
  assert.equal(ageSecs('nope', now), null);
});

test('a count badge says N+ when there are more pages, nothing at zero', () => {
  assert.deepEqual(countBadge([], null), { n: 0, text: '', more: false });
  assert.deepEqual(countBadge(undefined, 'c'), { n: 0, text: '', more: false });
  assert.deepEqual(countBadge([1, 2, 3], null), { n: 3, text: '3', more: false });
  assert.deepEqual(countBadge(new Array(100).fill(0), 'next'), { n: 100, text: '100+', more: true });
});

test('expiry labels', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(expiryLabel(null, now), 'never expires');
  assert.equal(expiryLabel('2024-12-31T00:00:00Z', now), 'expired');
  assert.equal(expiryLabel('2025-01-01T01:00:00Z', now), 'expires in 1 h');
  assert.equal(expiryLabel('2025-01-08T00:00:00Z', now), 'expires in 7 d');
});

test('job progress and the actions each status allows', () => {
  assert.equal(percent(0.456), 46);
  assert.equal(percent(2), 100);
  assert.equal(percent(-1), 0);
  assert.equal(percent(null), 0);
  assert.deepEqual(jobActions('queued'), { retry: false, cancel: true });
  assert.deepEqual(jobActions('running'), { retry: false, cancel: true });
  assert.deepEqual(jobActions('failed'), { retry: true, cancel: true });
  assert.deepEqual(jobActions('dead'), { retry: true, cancel: false });
  assert.deepEqual(jobActions('cancelled'), { retry: true, cancel: false });
  assert.deepEqual(jobActions('succeeded'), { retry: false, cancel: false });
  assert.equal(hasActiveJobs([{ status: 'failed' }, { status: 'running' }]), true);
  assert.equal(hasActiveJobs([{ status: 'succeeded' }]), false);
  assert.equal(hasActiveJobs(null), false);
});

test('audit actions and report outcomes in words', () => {
  assert.equal(actionPhrase('user.ban'), 'banned');
  assert.equal(actionPhrase('report.resolve'), 'resolved');
  assert.equal(actionPhrase('something.new_thing'), 'something new thing');
  assert.equal(outcomeLabel('banned'), 'Author banned');
  assert.equal(outcomeLabel('removed'), 'Content removed');
  assert.equal(outcomeLabel('dismissed'), 'Dismissed');
  assert.equal(outcomeLabel(null), 'Open');
});
