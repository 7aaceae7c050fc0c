// Times as people read them: relative ("5 min. ago") for recent ones, the
// clock time in a conversation, the full date on hover.

import { h } from './ui.js';

const rtf = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat
  ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' })
  : null;

export function relativeTime(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const diff = (t - Date.now()) / 1000;
  const abs = Math.abs(diff);
  if (abs < 45) return 'just now';
  if (!rtf) return new Date(t).toLocaleString();
  if (abs < 3600) return rtf.format(Math.round(diff / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(diff / 3600), 'hour');
  if (abs < 86400 * 7) return rtf.format(Math.round(diff / 86400), 'day');
  return new Date(t).toLocaleDateString();
}

export function timeEl(iso, cls = 'time') {
  const d = new Date(iso);
  return h('time', {
    class: cls,
    datetime: iso,
    title: Number.isNaN(d.getTime()) ? '' : d.toLocaleString(),
    text: relativeTime(iso),
  });
}

export function clockTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Midnight (local) of the day `t` (ms) falls in. */
function dayStart(t) {
  const d = new Date(t);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/**
 * The heading of a day in a conversation, as phones write it: "Today",
 * "Yesterday", the weekday within the last week, else the date (with the
 * year only when it is not this year). `now` is for tests.
 */
export function dayLabel(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const days = Math.round((dayStart(now) - dayStart(t)) / 86400000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  const d = new Date(t);
  if (days > 1 && days < 7) return d.toLocaleDateString([], { weekday: 'long' });
  const sameYear = d.getFullYear() === new Date(now).getFullYear();
  return d.toLocaleDateString([], { day: 'numeric', month: 'long', year: sameYear ? undefined : 'numeric' });
}

/** A key that is the same for two times on the same local day. */
export function dayKey(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '' : String(dayStart(t));
}
