// How strong a new password looks, as a hint beside the field: a score
// from 0 to 4 and a word. Pure, so it is tested in node. The server only
// insists on 8 characters; this nudges towards longer, varied ones and
// warns about the obvious (a repeated character, a run like "12345678",
// the username inside the password, a well-known password).

/** The fewest characters the server accepts. */
export const MIN_PASSWORD = 8;

const COMMON = new Set([
  'password', 'password1', 'password123', '12345678', '123456789', '1234567890', 'qwertyuiop', 'qwerty123',
  'iloveyou', 'letmein1', 'sunshine', 'princess', 'football', 'baseball', 'welcome1', 'admin123', 'abcdefgh',
  'trustno1', 'passw0rd', '11111111', '00000000', 'superman', 'starwars', 'whatever', 'dragon12',
]);

const LABELS = ['Too short', 'Weak', 'Fair', 'Good', 'Strong'];

/** Whether `pw` is one character repeated, or a run up or down ("abcdefgh", "87654321"). */
function monotonous(pw) {
  if (new Set(pw).size <= 2) return true;
  const codes = [...pw].map((c) => c.codePointAt(0));
  const steps = new Set(codes.slice(1).map((c, i) => c - codes[i]));
  return steps.size === 1 && [...steps].every((d) => Math.abs(d) <= 1);
}

/**
 * { score: 0..4, label, ok } for a new password; `ok` is whether the
 * server will take it (its length). `username` counts against it.
 */
export function passwordStrength(pw, username = '') {
  const text = String(pw || '');
  const n = [...text].length;
  if (n < MIN_PASSWORD) return { score: 0, label: LABELS[0], ok: false, hint: `Use at least ${MIN_PASSWORD} characters.` };
  const lower = text.toLowerCase();
  const name = String(username || '').toLowerCase();
  if (COMMON.has(lower) || monotonous(text) || (name.length >= 3 && lower.includes(name))) {
    return { score: 1, label: LABELS[1], ok: true, hint: 'Easy to guess: avoid your name, common passwords and simple patterns.' };
  }
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(text)).length;
  let score = 1;
  if (n >= 10) score += 1;
  if (n >= 14) score += 1;
  if (classes >= 3 || (classes >= 2 && n >= 12)) score += 1;
  if (n >= 20) score = 4;
  score = Math.min(4, score);
  const hint = score >= 3 ? '' : 'Longer is stronger: try a few unrelated words.';
  return { score, label: LABELS[score], ok: true, hint };
}
