// Hash navigation, shared by the views.

let onSameHash = null;

/** The app registers its route function here. */
export function setRouteHandler(fn) {
  onSameHash = fn;
}

/** Goes to `hash` (e.g. '#/chat/abc'); re-renders when already there. */
export function navigate(hash, { replace = false } = {}) {
  if (location.hash === hash) {
    if (onSameHash) onSameHash();
    return;
  }
  if (replace) {
    location.replace(hash);
  } else {
    location.hash = hash;
  }
}

export function setTitle(text) {
  document.title = text ? `${text} · kith` : 'kith';
}
