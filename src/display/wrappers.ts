// Wrapper values that say how a string or byte array should be shown:
// display(markdown('# Title')), display(latex('\\alpha = 1/\\sigma')),
// display(html('<b>bold</b>')), display(png(bytes)).

/** Markdown text (rendered by Jupyter and by the HTML report). */
export class Markdown {
  constructor(readonly text: string) {}
}

/** A LaTeX formula (display math) or a LaTeX fragment already wrapped in $...$ / \begin{...}. */
export class Latex {
  constructor(readonly tex: string) {}
}

/** Raw HTML. It is inserted as is: use it only for markup you wrote or trust. */
export class Html {
  constructor(readonly markup: string) {}
}

/** A PNG image. */
export class Png {
  constructor(readonly bytes: Uint8Array) {}
}

function requireString(fn: string, v: unknown): string {
  if (typeof v !== 'string') throw new TypeError(`${fn}() needs a string, got ${v === null ? 'null' : typeof v}`);
  return v;
}

export function markdown(text: string): Markdown {
  return new Markdown(requireString('markdown', text));
}

export function latex(tex: string): Latex {
  return new Latex(requireString('latex', tex));
}

export function html(markup: string): Html {
  return new Html(requireString('html', markup));
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** True when `bytes` starts with the 8-byte PNG signature. */
export function isPngBytes(bytes: unknown): bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array) || bytes.length < PNG_SIGNATURE.length) return false;
  return PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Width and height from a PNG's IHDR chunk, or undefined when it has none. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  if (!isPngBytes(bytes) || bytes.length < 24) return undefined;
  // signature (8) + chunk length (4) + 'IHDR' (4) + width (4) + height (4)
  if (String.fromCharCode(bytes[12]!, bytes[13]!, bytes[14]!, bytes[15]!) !== 'IHDR') return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

export function png(bytes: Uint8Array): Png {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`png() needs a Uint8Array (or Buffer) of PNG bytes, got ${bytes === null ? 'null' : typeof bytes}`);
  if (!isPngBytes(bytes)) throw new TypeError(`png(): the ${(bytes as Uint8Array).length} bytes given do not start with the PNG signature`);
  return new Png(bytes);
}
