// Blurhash (blurha.sh): a photo's colours in ~30 characters, which the
// server computes when it processes an image (docs/media.md). Decoded to a
// few pixels and stretched by CSS, it fills a photo's tile while the photo
// itself loads, so the page neither jumps nor flashes grey.
//
// A hash is: one base-83 digit for the component counts, one for the AC
// scale, four for the DC (average) colour in sRGB, then two per AC
// component (a cosine's weight per channel). Decoding sums the cosines in
// linear light and converts back to sRGB.

const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~';

/** A base-83 number; throws on a character outside the alphabet. */
export function decode83(str) {
  let value = 0;
  for (const c of str) {
    const d = DIGITS.indexOf(c);
    if (d < 0) throw new Error(`blurhash: bad character ${JSON.stringify(c)}`);
    value = value * 83 + d;
  }
  return value;
}

/** 0–255 sRGB to 0–1 linear light. */
export function srgbToLinear(v) {
  const x = v / 255;
  return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
}

/** 0–1 linear light to 0–255 sRGB (clamped). */
export function linearToSrgb(v) {
  const x = Math.max(0, Math.min(1, v));
  return Math.round((x <= 0.0031308 ? x * 12.92 : 1.055 * x ** (1 / 2.4) - 0.055) * 255);
}

const signPow = (v, e) => Math.sign(v) * Math.abs(v) ** e;

/**
 * The hash's parts: { nx, ny, dc: [r, g, b] (sRGB 0–255), colors: linear
 * [r, g, b] per component, DC first }. Throws on a malformed hash.
 */
export function components(hash, punch = 1) {
  if (typeof hash !== 'string' || hash.length < 6) throw new Error('blurhash: too short');
  const size = decode83(hash[0]);
  const nx = (size % 9) + 1;
  const ny = Math.floor(size / 9) + 1;
  if (hash.length !== 4 + 2 * nx * ny) {
    throw new Error(`blurhash: ${hash.length} characters, expected ${4 + 2 * nx * ny} for ${nx}x${ny}`);
  }
  const maxAc = ((decode83(hash[1]) + 1) / 166) * punch;
  const dcValue = decode83(hash.slice(2, 6));
  const dc = [dcValue >> 16, (dcValue >> 8) & 255, dcValue & 255];
  const colors = [dc.map(srgbToLinear)];
  const ac = (q) => signPow((q - 9) / 9, 2) * maxAc;
  for (let i = 1; i < nx * ny; i += 1) {
    const v = decode83(hash.slice(4 + i * 2, 6 + i * 2));
    colors.push([ac(Math.floor(v / (19 * 19))), ac(Math.floor(v / 19) % 19), ac(v % 19)]);
  }
  return { nx, ny, dc, colors };
}

/** Whether `hash` decodes. */
export function isBlurhash(hash) {
  try {
    components(hash);
    return true;
  } catch {
    return false;
  }
}

/**
 * `hash` as `width` x `height` RGBA pixels (alpha 255), ready for an
 * ImageData. Throws on a malformed hash.
 */
export function decodeBlurhash(hash, width, height, punch = 1) {
  const { nx, ny, colors } = components(hash, punch);
  const out = new Uint8ClampedArray(width * height * 4);
  // The cosines per column and per row, computed once each.
  const cosX = new Float64Array(width * nx);
  for (let x = 0; x < width; x += 1) {
    for (let i = 0; i < nx; i += 1) cosX[x * nx + i] = Math.cos((Math.PI * x * i) / width);
  }
  const cosY = new Float64Array(height * ny);
  for (let y = 0; y < height; y += 1) {
    for (let j = 0; j < ny; j += 1) cosY[y * ny + j] = Math.cos((Math.PI * y * j) / height);
  }
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let j = 0; j < ny; j += 1) {
        const cy = cosY[y * ny + j];
        for (let i = 0; i < nx; i += 1) {
          const basis = cosX[x * nx + i] * cy;
          const c = colors[i + j * nx];
          r += c[0] * basis;
          g += c[1] * basis;
          b += c[2] * basis;
        }
      }
      const p = 4 * (x + y * width);
      out[p] = linearToSrgb(r);
      out[p + 1] = linearToSrgb(g);
      out[p + 2] = linearToSrgb(b);
      out[p + 3] = 255;
    }
  }
  return out;
}

/** Pixels of the placeholder canvas: few, since CSS stretches them smoothly. */
export const PLACEHOLDER_PX = 32;

/**
 * A canvas painted with `hash` (class `blurhash`, hidden from assistive
 * technology), or null when there is no hash or it is malformed.
 */
export function blurhashCanvas(hash, size = PLACEHOLDER_PX) {
  if (!hash || typeof document === 'undefined') return null;
  let pixels;
  try {
    pixels = decodeBlurhash(hash, size, size);
  } catch {
    return null;
  }
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  canvas.className = 'blurhash';
  canvas.setAttribute('aria-hidden', 'true');
  const g = canvas.getContext('2d');
  if (!g) return null;
  const img = g.createImageData(size, size);
  img.data.set(pixels);
  g.putImageData(img, 0, 0);
  return canvas;
}
