// The card of the first link in a post (PostView.link, fetched by the
// server): the page's picture, site, title and description, opening the
// page in a new tab without telling it where the reader came from.

import { h } from '../ui.js';

/** The URL as an http(s) link target, or null. */
function httpUrl(raw) {
  try {
    const u = new URL(String(raw));
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch {
    return null;
  }
}

/**
 * The picture's address when this page may show it, else null: the page's
 * Content-Security-Policy lets images come from kith itself only, so the
 * server fetches the page's picture and serves its own copy
 * (`link.image.url`); a picture elsewhere would be refused, not shown.
 */
function imageUrl(raw) {
  if (!raw || typeof location === 'undefined') return null;
  try {
    const u = new URL(String(raw), location.href);
    return u.origin === location.origin ? u.href : null;
  } catch {
    return null;
  }
}

const text = (s) => (typeof s === 'string' ? s.trim() : '');

/** The card for `link` ({ url, title, description, site_name, image: { url, width, height } }), or null. */
export function linkCard(link) {
  const url = link ? httpUrl(link.url) : null;
  if (!url) return null;
  const host = url.hostname.replace(/^www\./, '');
  const title = text(link.title);
  const description = text(link.description);
  const site = text(link.site_name) || host;
  const src = imageUrl(link.image?.url);
  const size = (v) => (Number.isInteger(v) && v > 0 ? v : undefined);
  const picture = src ? h('img', {
    class: 'link-card-image',
    src,
    // The size reserves the space before the picture arrives.
    width: size(link.image.width),
    height: size(link.image.height),
    alt: '',
    loading: 'lazy',
    decoding: 'async',
    referrerpolicy: 'no-referrer',
  }) : null;
  const card = h('a', {
    class: ['link-card', picture ? 'has-image' : null],
    href: url.href,
    target: '_blank',
    rel: 'noopener noreferrer nofollow',
    testid: 'link-card',
  },
  picture ? h('span', { class: 'link-card-media' }, picture) : null,
  h('span', { class: 'link-card-text' },
    h('span', { class: 'link-card-site', text: site }),
    h('span', { class: 'link-card-title', text: title || url.href }),
    description ? h('span', { class: 'link-card-description', text: description }) : null));
  // A picture that fails leaves a card of text, not a broken image.
  picture?.addEventListener('error', () => {
    picture.parentElement?.remove();
    card.classList.remove('has-image');
  }, { once: true });
  return card;
}
