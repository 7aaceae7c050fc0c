// How the console writes numbers, durations and counts: pure functions,
// no DOM, so they can be tested on their own.

const DASH = '—';

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

/** A rate or a count that may be fractional: "0", "4.2", "37", "1.2k", "3.4M". */
export function formatRate(v) {
  if (!isNum(v)) return DASH;
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a < 0.1) return v < 0 ? '>-0.1' : '<0.1';
  if (a < 10) return trim(v.toFixed(1));
  if (a < 1000) return String(Math.round(v));
  if (a < 1e6) return `${trim((v / 1e3).toFixed(a < 1e4 ? 1 : 0))}k`;
  return `${trim((v / 1e6).toFixed(a < 1e7 ? 1 : 0))}M`;
}

function trim(s) {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** A whole count with thousands grouped: "1,234"; "—" when unknown. */
export function formatCount(v) {
  if (!isNum(v)) return DASH;
  return Math.round(v).toLocaleString('en-US');
}

/** Milliseconds as people read a latency: "<1 ms", "840 ms", "1.2 s", "2.5 min". */
export function formatMs(ms) {
  if (!isNum(ms)) return DASH;
  if (ms < 1) return ms <= 0 ? '0 ms' : '<1 ms';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${trim((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))} s`;
  return `${trim((ms / 60_000).toFixed(1))} min`;
}

/** Seconds as a short age or span: "4 s", "12 min", "3 h", "2 d". */
export function formatDuration(secs) {
  if (!isNum(secs)) return DASH;
  const s = Math.max(0, Math.round(secs));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

/** Seconds from `iso` to `now` (ms since the epoch); null for a bad time. */
export function ageSecs(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return null;
  return Math.max(0, (now - t) / 1000);
}

/**
 * A count badge for a page of items: the number, or "N+" when there are
 * more pages; hidden (empty text) at zero.
 */
export function countBadge(items, nextCursor) {
  const n = Array.isArray(items) ? items.length : 0;
  if (n === 0) return { n: 0, text: '', more: false };
  const more = !!nextCursor;
  return { n, text: more ? `${n}+` : String(n), more };
}

/** When an invite or a link runs out, relative to `now`. */
export function expiryLabel(iso, now = Date.now()) {
  if (!iso) return 'never expires';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return DASH;
  const left = (t - now) / 1000;
  if (left <= 0) return 'expired';
  return `expires in ${formatDuration(left)}`;
}

/** A job's progress (0..1) as a whole percentage, clamped. */
export function percent(progress) {
  if (!isNum(progress)) return 0;
  return Math.round(Math.min(1, Math.max(0, progress)) * 100);
}

/** Whether a job in this status may be retried or cancelled. */
export function jobActions(status) {
  return {
    retry: status === 'failed' || status === 'dead' || status === 'cancelled',
    cancel: status === 'queued' || status === 'running' || status === 'failed',
  };
}

/** Whether a list of jobs has one the server is still working on. */
export function hasActiveJobs(jobs) {
  return Array.isArray(jobs) && jobs.some((j) => j && (j.status === 'running' || j.status === 'queued'));
}

const ACTIONS = {
  'user.ban': 'banned',
  'user.unban': 'unbanned',
  'user.admin': 'made admin',
  'user.make_admin': 'made admin',
  'user.unadmin': 'revoked admin from',
  'user.revoke_admin': 'revoked admin from',
  'user.reset_link': 'made a reset link for',
  'user.approve': 'approved',
  'user.reject': 'rejected',
  'report.resolve': 'resolved',
  'job.retry': 'retried',
  'job.cancel': 'cancelled',
  'invite.create': 'created invite',
  'invite.revoke': 'revoked invite',
};

/** An audit action ("user.ban") as a verb phrase ("banned"); unknown ones as they are. */
export function actionPhrase(action) {
  return ACTIONS[action] || String(action || '').replace(/[._]/g, ' ');
}

/** The outcome of a resolved report, as a word. */
export function outcomeLabel(outcome) {
  switch (outcome) {
    case 'dismissed': return 'Dismissed';
    case 'removed': return 'Content removed';
    case 'banned': return 'Author banned';
    default: return 'Open';
  }
}
