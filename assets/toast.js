// Transient messages in the corner (a live region).

import { h } from './ui.js';

export function toast(message, kind = 'info', ms = 4000) {
  const region = document.getElementById('toasts');
  if (!region) return;
  const el = h('div', { class: ['toast', `toast-${kind}`], text: message });
  region.append(el);
  while (region.children.length > 3) region.firstElementChild.remove();
  setTimeout(() => el.remove(), ms);
}
