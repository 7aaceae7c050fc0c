// Files given to a composer other than by its picker: dropped onto it, or
// pasted into it (a screenshot, a copied photo). Text pastes and drags of
// anything but files are left alone.

function hasFiles(dt) {
  return !!dt && [...(dt.types || [])].includes('Files');
}

/**
 * Takes files dropped on or pasted into `target`, calling `onFiles(File[])`.
 * The class `drop-active` is on `target` while files are dragged over it.
 * `pasteImagesOnly`: a paste adds images only (what a clipboard holds).
 * Returns a function that stops listening.
 */
export function acceptFiles(target, onFiles, { pasteImagesOnly = true } = {}) {
  let depth = 0;
  const setActive = (on) => target.classList.toggle('drop-active', on);
  const enter = (e) => {
    if (!hasFiles(e.dataTransfer)) return;
    e.preventDefault();
    depth += 1;
    setActive(true);
  };
  const over = (e) => {
    if (!hasFiles(e.dataTransfer)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  };
  const leave = (e) => {
    if (!hasFiles(e.dataTransfer)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) setActive(false);
  };
  const drop = (e) => {
    if (!hasFiles(e.dataTransfer)) return;
    e.preventDefault();
    depth = 0;
    setActive(false);
    const files = [...(e.dataTransfer.files || [])];
    if (files.length) onFiles(files);
  };
  const paste = (e) => {
    const files = [...(e.clipboardData?.files || [])].filter((f) => !pasteImagesOnly || (f.type || '').startsWith('image/'));
    if (!files.length) return;
    e.preventDefault();
    onFiles(files);
  };
  const on = [['dragenter', enter], ['dragover', over], ['dragleave', leave], ['drop', drop], ['paste', paste]];
  for (const [t, fn] of on) target.addEventListener(t, fn);
  return () => {
    for (const [t, fn] of on) target.removeEventListener(t, fn);
  };
}
