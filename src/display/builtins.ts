// The built-in display plugins, in the order they are tried.
import { renderMath, unwrapLatex } from './math.js';
import { isPlotlyFigure, renderPlotly } from './plotly.js';
import { ProgressView, renderProgress } from './progress-view.js';
import { isFrameLike, isRecordArray, renderTable } from './table.js';
import { isTensorLike, renderTensor } from './tensor.js';
import type { DisplayPlugin, MimeBundle } from './types.js';
import { Html, isPngBytes, Latex, Markdown, Png, pngSize } from './wrappers.js';

function pngBundle(bytes: Uint8Array): MimeBundle {
  const size = pngSize(bytes);
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  return { 'image/png': b64, 'text/plain': `<PNG image${size ? ` ${size.width}x${size.height}` : ''}, ${bytes.length} bytes>` };
}

function isError(v: unknown): v is Error {
  return v instanceof Error || Object.prototype.toString.call(v) === '[object Error]';
}

/** name: message, the stack frames, and the chain of causes. */
export function errorText(err: Error, depth = 0): string {
  const name = err.name || 'Error';
  const head = `${name}: ${err.message}`;
  const frames = typeof err.stack === 'string' ? err.stack.split('\n').filter((l) => /^\s+at /.test(l)) : [];
  const lines = [head, ...frames];
  if (err instanceof AggregateError) {
    err.errors.forEach((e, i) => lines.push(`  [${i}] ${isError(e) ? `${e.name}: ${e.message}` : String(e)}`));
  }
  const cause = (err as { cause?: unknown }).cause;
  if (cause !== undefined && depth < 5) {
    lines.push(`Caused by: ${isError(cause) ? errorText(cause, depth + 1) : String(cause)}`);
  }
  return lines.join('\n');
}

function stripTags(markup: string): string {
  return markup.replace(/<script[\s\S]*?<\/script>|<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]*>/g, '').replace(/\s+/g, ' ').trim();
}

export const BUILTIN_PLUGINS: readonly DisplayPlugin[] = Object.freeze([
  {
    name: 'markdown',
    test: (v: unknown) => v instanceof Markdown,
    render: (v: unknown) => ({ 'text/markdown': (v as Markdown).text, 'text/plain': (v as Markdown).text }),
  },
  {
    name: 'latex',
    test: (v: unknown) => v instanceof Latex,
    render: (v: unknown) => {
      const src = (v as Latex).tex;
      const { tex, display } = unwrapLatex(src);
      const trimmed = src.trim();
      const wrapped = trimmed.startsWith('$') || trimmed.startsWith('\\[') || trimmed.startsWith('\\(') || trimmed.startsWith('\\begin') ? trimmed : `$$${trimmed}$$`;
      return { 'text/latex': wrapped, 'text/html': renderMath(tex, display), 'text/plain': src };
    },
  },
  {
    name: 'html',
    test: (v: unknown) => v instanceof Html,
    render: (v: unknown) => {
      const markup = (v as Html).markup;
      const text = stripTags(markup);
      return { 'text/html': markup, 'text/plain': text.length > 200 ? `${text.slice(0, 199)}\u2026` : text || '<HTML>' };
    },
  },
  {
    name: 'png',
    test: (v: unknown) => v instanceof Png || isPngBytes(v),
    render: (v: unknown) => pngBundle(v instanceof Png ? v.bytes : (v as Uint8Array)),
  },
  {
    name: 'progress',
    test: (v: unknown) => v instanceof ProgressView,
    render: renderProgress,
  },
  {
    name: 'error',
    test: isError,
    render: (v: unknown) => ({ 'text/plain': errorText(v as Error) }),
  },
  { name: 'tensor', test: isTensorLike, render: renderTensor },
  { name: 'plotly', test: isPlotlyFigure, render: renderPlotly },
  { name: 'table', test: (v: unknown) => isRecordArray(v) || isFrameLike(v), render: renderTable },
]);

