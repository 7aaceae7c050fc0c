// Links that arrive by mail (or from an admin): "Forgot password?"
// (#/forgot-password), a password-reset link (#/reset-password/TOKEN) and
// an address-verification link (#/verify-email/TOKEN). Reset and verify
// work signed in or out: signed in they show inside the app's shell.

import { api } from '../api.js';
import { authConfig, setAuthNotice, setReturnTo } from '../auth-flow.js';
import { bus } from '../bus.js';
import { EVENTS } from '../events.js';
import { refreshMe } from '../mediakit/avatar.js';
import { setTitle } from '../router.js';
import { strengthMeter } from '../settings/meter.js';
import { passwordStrength } from '../settings/strength.js';
import { state } from '../store.js';
import { formError, h, replace, spinner } from '../ui.js';
import { authCard, field, input, outcome } from './auth.js';

const INVALID_LINK = 'This link is invalid or has expired.';

/** Signed in, pages go in a card on the shell's page; signed out, in the auth card. */
function frame(root, opts) {
  if (!state.me) return authCard(root, opts);
  const body = h('div', { class: 'auth-body' });
  root.append(h('div', { class: 'page page-narrow' },
    h('section', { class: 'card auth-inline', testid: opts.testid },
      h('h1', { class: 'auth-title', text: opts.title }),
      opts.sub ? h('p', { class: 'auth-sub', text: opts.sub }) : null,
      body)));
  return body;
}

// ---- forgot password -----------------------------------------------------

function forgotPage(root) {
  setTitle('Reset your password');
  const body = authCard(root, { title: 'Forgot your password?', testid: 'forgot-page' });
  body.append(spinner());
  authConfig().then((config) => {
    if (!body.isConnected) return;
    if (!config.mail) {
      replace(body, outcome({
        iconName: 'key',
        title: 'Ask for a reset link',
        text: 'This server does not send mail, so it cannot mail you a link. Ask the person who runs it for a password-reset link: they can make one for your account.',
        testid: 'forgot-no-mail',
        actions: [h('a', { class: 'btn btn-secondary', href: '#/login', testid: 'go-login', text: 'Back to sign in' })],
      }));
      return;
    }
    const err = formError();
    const email = input('forgot-email', { type: 'email', autocomplete: 'email', inputmode: 'email', spellcheck: 'false' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', testid: 'forgot-submit', text: 'Send me a link' });
    const form = h('form', { class: 'auth-form', novalidate: true },
      h('p', { class: 'muted', text: 'Enter the address you verified on your account. We will mail you a link to choose a new password.' }),
      field('Email address', email),
      err.el,
      submit);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.clear();
      const value = email.value.trim();
      if (!/^[^\s@]+@[^\s@]+$/.test(value)) {
        err.show('Enter an email address.');
        email.focus();
        return;
      }
      submit.disabled = true;
      try {
        await api.post('/api/auth/password-reset', { email: value }, { quiet401: true });
        replace(body, outcome({
          iconName: 'mail',
          tone: 'success',
          title: 'Check your inbox',
          text: `If an account has ${value} as its address, a link to choose a new password is on its way. Nothing there after a few minutes? Look in your spam folder.`,
          testid: 'forgot-sent',
          actions: [h('a', { class: 'btn btn-secondary', href: '#/login', testid: 'go-login', text: 'Back to sign in' })],
        }));
        body.querySelector('.auth-outcome-title').focus();
      } catch (ex) {
        err.show(ex);
        submit.disabled = false;
      }
    });
    replace(body, form, h('p', { class: 'auth-switch' }, 'Remembered it? ', h('a', { href: '#/login', testid: 'go-login', text: 'Sign in' })));
    email.focus();
  });
}

// ---- reset password ------------------------------------------------------

function resetPage(root, { token }) {
  setTitle('Choose a new password');
  const body = frame(root, { title: 'Choose a new password', sub: 'Every device signed in to your account is signed out when you save it.', testid: 'reset-page' });
  const err = formError();
  const pw = input('reset-password', { type: 'password', autocomplete: 'new-password' });
  const again = input('reset-confirm', { type: 'password', autocomplete: 'new-password' });
  const meter = strengthMeter(pw);
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', testid: 'reset-submit', text: 'Save new password' });
  const form = h('form', { class: 'auth-form', novalidate: true },
    field('New password', pw, null, meter.el),
    field('New password, again', again),
    err.el,
    submit);
  const invalid = () => outcome({
    iconName: 'x',
    tone: 'danger',
    title: INVALID_LINK,
    text: 'A reset link works once, and not for long. Ask for a new one.',
    testid: 'link-invalid',
    actions: [h('a', { class: 'btn btn-primary', href: '#/forgot-password', text: 'Get a new link' })],
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    const s = passwordStrength(pw.value);
    if (!s.ok) {
      err.show(s.hint);
      pw.focus();
      return;
    }
    if (pw.value !== again.value) {
      err.show('The two passwords are not the same.');
      again.focus();
      return;
    }
    submit.disabled = true;
    try {
      await api.post('/api/auth/password-reset/confirm', { token, password: pw.value }, { quiet401: true });
      setAuthNotice('Your password is changed. Sign in with your new password.');
      if (state.me) {
        // Every session ended, this one too.
        bus.emit(EVENTS.SESSION_ENDED);
        return;
      }
      replace(body, outcome({
        iconName: 'check',
        tone: 'success',
        title: 'Your password is changed',
        text: 'Sign in with your new password. Every device that was signed in has been signed out.',
        testid: 'reset-done',
        actions: [h('a', { class: 'btn btn-primary', href: '#/login', testid: 'go-login', text: 'Sign in' })],
      }));
      body.querySelector('.auth-outcome-title').focus();
    } catch (ex) {
      if (ex.code === 'invalid_token') {
        replace(body, invalid());
        return;
      }
      err.show(ex);
      submit.disabled = false;
    }
  });
  body.append(form);
  pw.focus();
}

// ---- verify an address ----------------------------------------------------

function verifyPage(root, { token }) {
  setTitle('Verify your address');
  const here = `#/verify-email/${encodeURIComponent(token)}`;
  if (!state.me) {
    const body = authCard(root, { title: 'Verify your address', testid: 'verify-page' });
    body.append(outcome({
      iconName: 'mail',
      title: 'Sign in to verify',
      text: 'Sign in to the account that asked for this address; it is verified as soon as you are in.',
      testid: 'verify-signin',
      actions: [h('a', {
        class: 'btn btn-primary',
        href: '#/login',
        testid: 'verify-go-login',
        text: 'Sign in',
        onclick: () => {
          setReturnTo(here);
          setAuthNotice('Sign in to verify your email address.');
        },
      })],
    }));
    return;
  }
  const body = frame(root, { title: 'Verify your address', testid: 'verify-page' });
  body.append(spinner('Verifying…'));
  api.post('/api/me/email/verify', { token }).then(async (res) => {
    try {
      await refreshMe();
    } catch {
      // shown from the answer below either way
    }
    if (!body.isConnected) return;
    replace(body, outcome({
      iconName: 'check',
      tone: 'success',
      title: 'Your address is verified',
      text: `${res?.user?.email || 'Your address'} can now be used to reset your password.`,
      testid: 'verify-done',
      actions: [h('a', { class: 'btn btn-primary', href: '#/settings/email', text: 'Back to settings' })],
    }));
  }, (ex) => {
    if (!body.isConnected) return;
    replace(body, outcome({
      iconName: 'x',
      tone: 'danger',
      title: ex.code === 'invalid_token' ? INVALID_LINK : 'Your address could not be verified',
      text: ex.code === 'invalid_token' ? 'A verification link works once, and not for long. Send a new one from your settings.' : ex.message,
      testid: 'link-invalid',
      actions: [h('a', { class: 'btn btn-primary', href: '#/settings/email', text: 'Email settings' })],
    }));
  });
}

export const forgot = { mount: (root) => forgotPage(root) };
export const reset = { mount: (root, params) => resetPage(root, params) };
export const verify = { mount: (root, params) => verifyPage(root, params) };
