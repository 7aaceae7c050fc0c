// The page for an address kith does not know: says so, with a way home
// (the feed when signed in, the sign-in page when not).

import { setTitle } from '../router.js';
import { state } from '../store.js';
import { h } from '../ui.js';

export function mount(root) {
  setTitle('Page not found');
  const signedIn = !!state.me;
  root.append(h('div', { class: ['page', 'page-not-found', signedIn ? null : 'card'], testid: 'not-found' },
    h('div', { class: 'empty' },
      h('p', { class: 'not-found-code', 'aria-hidden': 'true', text: '404' }),
      h('h1', { class: 'empty-title', text: 'Page not found' }),
      h('p', { class: 'empty-detail', text: 'There is nothing at this address. The link may be mistyped, or the page may have moved.' }),
      h('div', { class: 'not-found-actions' },
        signedIn
          ? h('a', { class: 'btn btn-primary', href: '#/feed', testid: 'not-found-home', text: 'Go to your feed' })
          : h('a', { class: 'btn btn-primary', href: '#/login', testid: 'not-found-home', text: 'Sign in' })))));
}
