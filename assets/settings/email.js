// Settings › Email: the address password resets go to. Adding or
// changing one mails a verification link (the address waits, shown as
// "check your inbox", until it is opened); removing it means resets
// must come from the server's operator. A server that sends no mail
// says so instead of offering the form.

import { api } from '../api.js';
import { bus } from '../bus.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { state } from '../store.js';
import { toast } from '../toast.js';
import { formError, h, replace } from '../ui.js';
import { card, whileBusy } from './kit.js';

const ERRORS = {
  email_taken: 'That address belongs to another account here.',
  mail_disabled: 'This server does not send mail, so it cannot verify an address.',
};

export function render(el, ctx, shared) {
  const err = formError('email-error');
  const box = h('div', { class: 'email-state', testid: 'email-state' });
  const input = h('input', { id: 'settings-email', type: 'email', class: 'input', testid: 'settings-email', autocomplete: 'email', inputmode: 'email', spellcheck: 'false' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'email-save' });
  const formTitle = h('label', { for: input.id });
  const form = h('form', { class: 'settings-form', novalidate: true },
    h('div', { class: 'field' }, formTitle, h('div', { class: 'inline-form' }, input, submit)),
    err.el);

  const setMe = (user) => {
    shared.me = { ...shared.me, ...user };
    if (state.me) {
      state.me = { ...state.me, ...user };
      bus.emit(EVENTS.ME_CHANGED, state.me);
    }
  };

  const draw = () => {
    const { email, email_pending: pending } = shared.me;
    const rows = [];
    if (email) {
      const remove = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', testid: 'email-remove', text: 'Remove' });
      remove.addEventListener('click', async () => {
        if (!window.confirm(`Remove ${email}? Without an address, only the server's operator can help you back in if you forget your password.`)) return;
        err.clear();
        try {
          await whileBusy(remove, () => api.del('/api/me/email'));
          setMe({ email: null, email_pending: null });
          toast('Your address is removed.');
          draw();
          input.focus();
        } catch (e) {
          err.show(e);
        }
      });
      rows.push(h('div', { class: 'email-row', testid: 'email-verified' },
        icon('mail'),
        h('span', { class: 'email-address', text: email }),
        h('span', { class: 'pill pill-success', text: 'Verified' }),
        remove));
    }
    if (pending) {
      const resend = h('button', { type: 'button', class: 'link-btn', testid: 'email-resend', text: 'Send the link again' });
      resend.addEventListener('click', () => send(pending, resend));
      rows.push(h('div', { class: 'email-pending', testid: 'email-pending', role: 'status' },
        h('span', { class: 'email-pending-icon', 'aria-hidden': 'true' }, icon('mail')),
        h('div', {},
          h('p', { class: 'email-pending-title' }, 'Check your inbox: ', h('strong', { text: pending })),
          h('p', { class: 'muted small' }, 'Open the link we sent to verify this address. ', resend))));
    }
    if (!email && !pending) {
      rows.push(h('p', { class: 'muted', testid: 'email-none', text: 'No address yet. Add one so that you can reset your password if you forget it.' }));
    }
    replace(box, rows);
    formTitle.textContent = email || pending ? 'Change address' : 'Add an address';
    submit.textContent = 'Send verification link';
  };

  async function send(address, button) {
    err.clear();
    try {
      const res = await whileBusy(button, () => api.put('/api/me/email', { email: address }));
      if (!ctx.alive) return;
      setMe({ email_pending: res?.email_pending || address });
      input.value = '';
      draw();
      toast(`A verification link is on its way to ${address}.`);
    } catch (e) {
      if (e.status === 422) err.show('That does not look like an email address.');
      else err.show(ERRORS[e.code] || e);
      input.focus();
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) {
      err.show('Enter an email address, like name@example.com.');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    input.removeAttribute('aria-invalid');
    send(value, submit);
  });

  const noMail = !shared.config.mail;
  draw();
  el.append(card({
    title: 'Email address',
    description: 'Used only to reset your password. No one else sees it.',
    testid: 'settings-email-card',
  },
  box,
  noMail
    ? h('div', { class: 'callout', testid: 'email-no-mail' },
      h('p', { class: 'callout-title', text: 'This server does not send mail' }),
      h('p', { text: 'Addresses cannot be verified here, and reset links do not arrive by mail. If you forget your password, ask the person who runs this server for a reset link.' }))
    : form));
}
