// Sign in and sign up.

import { api } from '../api.js';
import { bus } from '../bus.js';
import { EVENTS } from '../events.js';
import { setTitle } from '../router.js';
import { formError, h } from '../ui.js';

function authPage(root, { mode }) {
  const isSignup = mode === 'signup';
  setTitle(isSignup ? 'Sign up' : 'Sign in');
  const prefix = isSignup ? 'signup' : 'login';
  const err = formError();
  const username = h('input', {
    id: `${prefix}-username`,
    name: 'username',
    type: 'text',
    class: 'input',
    testid: `${prefix}-username`,
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
  });
  const password = h('input', {
    id: `${prefix}-password`,
    name: 'password',
    type: 'password',
    class: 'input',
    testid: `${prefix}-password`,
    autocomplete: isSignup ? 'new-password' : 'current-password',
  });
  const submit = h('button', {
    type: 'submit',
    class: 'btn btn-primary btn-block',
    testid: `${prefix}-submit`,
    text: isSignup ? 'Create account' : 'Sign in',
  });
  const form = h('form', { class: 'auth-form', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: username.id, text: 'Username' }),
      username,
      isSignup ? h('p', { class: 'hint', text: '3 to 32 letters, digits, dots or underscores.' }) : null),
    h('div', { class: 'field' },
      h('label', { for: password.id, text: 'Password' }),
      password,
      isSignup ? h('p', { class: 'hint', text: 'At least 8 characters.' }) : null),
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
    submit.disabled = true;
    submit.setAttribute('aria-busy', 'true');
    try {
      const path = isSignup ? '/api/auth/signup' : '/api/auth/login';
      const res = await api.post(path, { username: u, password: p }, { quiet401: true });
      bus.emit(EVENTS.SESSION_STARTED, res.user);
    } catch (ex) {
      err.show(ex);
      submit.disabled = false;
      submit.removeAttribute('aria-busy');
      password.focus();
      password.select();
    }
  });

  const switcher = isSignup
    ? h('p', { class: 'auth-switch', id: `${prefix}-hint` }, 'Already have an account? ',
      h('a', { href: '#/login', testid: 'go-login', text: 'Sign in' }))
    : h('p', { class: 'auth-switch', id: `${prefix}-hint` }, 'New here? ',
      h('a', { href: '#/signup', testid: 'go-signup', text: 'Create an account' }));

  root.append(h('div', { class: 'auth-card card' },
    h('div', { class: 'auth-brand' },
      h('img', { src: '/favicon.svg', alt: '', width: '40', height: '40' }),
      h('span', { class: 'brand-name', text: 'kith' })),
    h('h1', { class: 'auth-title', text: isSignup ? 'Create your account' : 'Welcome back' }),
    h('p', { class: 'auth-sub', text: isSignup ? 'Your friends, your server.' : 'Sign in to see what your friends are up to.' }),
    form,
    switcher));
  username.focus();
}

export const login = { mount: (root) => authPage(root, { mode: 'login' }) };
export const signup = { mount: (root) => authPage(root, { mode: 'signup' }) };
