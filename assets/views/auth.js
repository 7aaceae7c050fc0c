// Sign in and sign up. The sign-up form follows the server's sign-up mode
// (GET /api/auth/config): open as it always was, an invite code under
// `invite` (prefilled from #/signup/CODE links), a reason under
// `approval` (then a "waiting for approval" screen), and a notice under
// `closed`. The sign-in page tells apart a wrong password, an account
// awaiting approval and a banned one, and links to the password reset.

import { api } from '../api.js';
import { authConfig, takeAuthNotice } from '../auth-flow.js';
import { bus } from '../bus.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { setTitle } from '../router.js';
import { formError, h, replace, spinner } from '../ui.js';

/** The card every signed-out page is drawn in; returns its body to fill. */
export function authCard(root, { title, sub, testid }) {
  const body = h('div', { class: 'auth-body' });
  root.append(h('div', { class: 'auth-card card', testid },
    h('div', { class: 'auth-brand' },
      h('img', { src: '/favicon.svg', alt: '', width: '40', height: '40' }),
      h('span', { class: 'brand-name', text: 'kith' })),
    h('h1', { class: 'auth-title', text: title }),
    sub ? h('p', { class: 'auth-sub', text: sub }) : null,
    body));
  return body;
}

/** A field: label, control, optional hint (tied by aria-describedby). */
export function field(label, control, hint, extra) {
  const hintEl = hint ? h('p', { class: 'hint', id: `${control.id}-hint`, text: hint }) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id, text: label }), control, hintEl, extra || null);
}

export function input(id, attrs) {
  return h('input', { id, name: id, type: 'text', class: 'input', testid: id, ...attrs });
}

/** An outcome panel (an icon, a heading, words, then links or buttons). */
export function outcome({ iconName, tone = 'info', title, text, actions = [], testid }) {
  return h('div', { class: ['auth-outcome', `tone-${tone}`], testid, role: 'status' },
    h('span', { class: 'auth-outcome-icon', 'aria-hidden': 'true' }, icon(iconName, 'icon icon-lg')),
    h('h2', { class: 'auth-outcome-title', tabindex: '-1', text: title }),
    text ? h('p', { class: 'auth-outcome-text', text }) : null,
    actions.length ? h('div', { class: 'auth-outcome-actions' }, actions) : null);
}

function busy(button, on) {
  button.disabled = on;
  if (on) button.setAttribute('aria-busy', 'true');
  else button.removeAttribute('aria-busy');
}

// ---- sign in --------------------------------------------------------------

const LOGIN_ERRORS = {
  awaiting_approval: 'Your account is waiting for an admin’s approval. You can sign in as soon as it is approved.',
  forbidden: 'This account is banned from this server.',
  bad_credentials: 'That username and password do not match.',
};

function loginPage(root) {
  setTitle('Sign in');
  const body = authCard(root, { title: 'Welcome back', sub: 'Sign in to see what your friends are up to.' });
  const notice = takeAuthNotice();
  const err = formError();
  const username = input('login-username', { autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' });
  const password = input('login-password', { type: 'password', autocomplete: 'current-password' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', testid: 'login-submit', text: 'Sign in' });
  const forgot = h('a', { class: 'field-link', href: '#/forgot-password', testid: 'go-forgot', text: 'Forgot password?' });
  const form = h('form', { class: 'auth-form', novalidate: true },
    field('Username', username),
    h('div', { class: 'field' },
      h('div', { class: 'field-row' }, h('label', { for: password.id, text: 'Password' }), forgot),
      password),
    err.el,
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    const u = username.value.trim();
    const p = password.value;
    if (!u || !p) {
      err.show('Enter a username and a password.');
      (u ? password : username).focus();
      return;
    }
    busy(submit, true);
    try {
      const res = await api.post('/api/auth/login', { username: u, password: p }, { quiet401: true });
      bus.emit(EVENTS.SESSION_STARTED, res.user);
    } catch (ex) {
      const known = ex.status === 401 ? LOGIN_ERRORS.bad_credentials : LOGIN_ERRORS[ex.code];
      err.show(known || ex);
      if (ex.code === 'awaiting_approval') err.el.dataset.code = ex.code;
      busy(submit, false);
      password.focus();
      password.select();
    }
  });
  replace(body,
    notice ? h('p', { class: 'auth-notice', testid: 'auth-notice', role: 'status', text: notice }) : null,
    form,
    h('p', { class: 'auth-switch', id: 'login-hint' }, 'New here? ',
      h('a', { href: '#/signup', testid: 'go-signup', text: 'Create an account' })));
  username.focus();
}

// ---- sign up --------------------------------------------------------------

const SIGNUP_ERRORS = {
  invalid_invite: 'That invite code does not work: it may be mistyped, used up, expired or revoked. Ask for a new one.',
  signups_closed: 'Sign-ups are closed on this server.',
};

function closedView() {
  return outcome({
    iconName: 'lock',
    title: 'Sign-ups are closed',
    text: 'This server is not taking new accounts right now. If you know the person who runs it, ask them for an account.',
    testid: 'signup-closed',
    actions: [h('a', { class: 'btn btn-primary', href: '#/login', testid: 'go-login', text: 'Sign in' })],
  });
}

function pendingView(message) {
  return outcome({
    iconName: 'check',
    tone: 'success',
    title: 'Your request is waiting for approval',
    text: `${message ? `${message.charAt(0).toUpperCase()}${message.slice(1)}.` : ''} An admin looks at each new account. Once yours is approved, sign in with the username and password you chose.`.trim(),
    testid: 'signup-pending',
    actions: [h('a', { class: 'btn btn-secondary', href: '#/login', testid: 'go-login', text: 'Back to sign in' })],
  });
}

function signupForm(body, config, code) {
  const mode = config.signup;
  const err = formError();
  const username = input('signup-username', { autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' });
  const password = input('signup-password', { type: 'password', autocomplete: 'new-password' });
  const displayName = input('signup-display-name', { autocomplete: 'name', maxlength: '64' });
  const invite = mode === 'invite'
    ? input('signup-invite', { autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', value: code || '', required: true })
    : null;
  const reason = mode === 'approval'
    ? h('textarea', { id: 'signup-reason', name: 'reason', class: 'input', testid: 'signup-reason', rows: '3', maxlength: '500', required: true })
    : null;
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', testid: 'signup-submit', text: mode === 'approval' ? 'Ask to join' : 'Create account' });
  const form = h('form', { class: 'auth-form', novalidate: true },
    invite ? field('Invite code', invite, code ? 'From your invite link.' : 'The code from the invite you were sent.') : null,
    field('Username', username, '3 to 32 letters, digits, dots or underscores.'),
    field('Display name (optional)', displayName, 'The name your friends see. You can change it later.'),
    field('Password', password, 'At least 8 characters.'),
    reason ? field('Why do you want to join?', reason, 'The admins read this before approving your account.') : null,
    err.el,
    submit);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    const u = username.value.trim();
    const p = password.value;
    const missing = [[invite, 'Enter your invite code.'], [username, 'Enter a username.'], [password, 'Enter a password.'], [reason, 'Tell the admins why you want to join.']]
      .find(([el]) => el && !el.value.trim());
    if (missing) {
      err.show(missing[1]);
      missing[0].focus();
      return;
    }
    busy(submit, true);
    const req = { username: u, password: p };
    if (invite) req.invite = invite.value.trim();
    if (reason) req.reason = reason.value.trim();
    const shown = displayName.value.trim();
    if (shown) req.display_name = shown;
    try {
      const res = await api.post('/api/auth/signup', req, { quiet401: true });
      if (res?.pending) {
        replace(body, pendingView(res.message));
        body.querySelector('.auth-outcome-title').focus();
        return;
      }
      bus.emit(EVENTS.SESSION_STARTED, res.user);
    } catch (ex) {
      if (ex.code === 'signups_closed') {
        replace(body, closedView());
        return;
      }
      const aboutName = /display_name/i.test(ex.message || '');
      err.show(SIGNUP_ERRORS[ex.code] || (aboutName ? 'A display name can be at most 64 characters, on one line.' : ex));
      busy(submit, false);
      const target = ex.code === 'invalid_invite' ? invite : aboutName ? displayName : ex.status === 409 ? username : password;
      (target || password).focus();
    }
  });

  replace(body, form,
    h('p', { class: 'auth-switch', id: 'signup-hint' }, 'Already have an account? ',
      h('a', { href: '#/login', testid: 'go-login', text: 'Sign in' })));
  (invite && !invite.value ? invite : username).focus();
}

function signupPage(root, params) {
  setTitle('Sign up');
  const body = authCard(root, { title: 'Create your account', sub: 'Your friends, your server.' });
  body.append(spinner('Loading the sign-up form…'));
  authConfig().then((config) => {
    if (!body.isConnected) return;
    if (config.signup === 'closed') {
      replace(body, closedView());
      return;
    }
    const sub = body.parentElement.querySelector('.auth-sub');
    if (sub && config.signup === 'invite') sub.textContent = 'This server is invite-only: you need a code from someone already here.';
    if (sub && config.signup === 'approval') sub.textContent = 'An admin approves each new account on this server.';
    signupForm(body, config, params?.code);
  });
}

export const login = { mount: (root) => loginPage(root) };
export const signup = { mount: (root, params) => signupPage(root, params) };
