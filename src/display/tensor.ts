// tfjs tensors -> shape, dtype, summary statistics and a small preview.
// Duck-typed (shape, dtype, dataSync), so this module does not load tfjs.
import { escapeHtml, formatNumber } from './html.js';
import type { MimeBundle } from './types.js';

interface TensorLike {
  shape: number[];
  dtype: string;
  dataSync(): ArrayLike<number | string | Uint8Array>;
  isDisposed?: boolean;
  size?: number;
}

export function isTensorLike(v: unknown): v is TensorLike {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return Array.isArray(o.shape) && typeof o.dtype === 'string' && typeof o.dataSync === 'function';
}

export interface TensorStats {
  count: number; finite: number; nan: number; posInf: number; negInf: number;
  min: number; max: number; mean: number; std: number;
}

/**
 * Statistics over the finite values (NaN and ±Inf are counted, not included;
 * min/max/mean/std are NaN when no value is finite). std is the population std.
 */
export function tensorStats(values: ArrayLike<number>): TensorStats {
  let nan = 0, posInf = 0, negInf = 0, finite = 0;
  let min = Infinity, max = -Infinity, sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (Number.isNaN(v)) { nan++; continue; }
    if (v === Infinity) { posInf++; continue; }
    if (v === -Infinity) { negInf++; continue; }
    finite++;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = finite ? sum / finite : NaN;
  let ss = 0;
  if (finite) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (Number.isFinite(v)) ss += (v - mean) * (v - mean);
    }
  }
  return {
    count: values.length, finite, nan, posInf, negInf,
    min: finite ? min : NaN, max: finite ? max : NaN, mean, std: finite ? Math.sqrt(ss / finite) : NaN,
  };
}

const PREVIEW_ROWS = 8;
const PREVIEW_COLS = 10;
const PREVIEW_1D = 12;

interface Preview { rows: string[][]; moreRows: boolean; moreCols: boolean; note: string }

function valueText(v: unknown): string {
  if (typeof v === 'number') return formatNumber(v);
  if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v).toString('utf8'));
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

/** The leading 2-D slice [0, …, 0, :rows, :cols] (or the first elements of a vector). */
function preview(shape: number[], values: ArrayLike<unknown>, dtype: string): Preview {
  const fmt = (i: number): string => {
    if (dtype === 'complex64') {
      const re = values[2 * i] as number, im = values[2 * i + 1] as number;
      return `${formatNumber(re)}${im < 0 ? '-' : '+'}${formatNumber(Math.abs(im))}i`;
    }
    return valueText(values[i]);
  };
  if (shape.length === 0) return { rows: [[fmt(0)]], moreRows: false, moreCols: false, note: '' };
  if (shape.some((d) => d === 0)) return { rows: [], moreRows: false, moreCols: false, note: '(empty)' };
  if (shape.length === 1) {
    const n = shape[0] as number;
    const k = Math.min(n, PREVIEW_1D);
    return { rows: [Array.from({ length: k }, (_, i) => fmt(i))], moreRows: false, moreCols: n > k, note: '' };
  }
  const cols = shape[shape.length - 1] as number, rows = shape[shape.length - 2] as number;
  const r = Math.min(rows, PREVIEW_ROWS), c = Math.min(cols, PREVIEW_COLS);
  const out: string[][] = [];
  for (let i = 0; i < r; i++) out.push(Array.from({ length: c }, (_, j) => fmt(i * cols + j)));
  const lead = shape.slice(0, -2);
  const note = lead.length ? `showing [${[...lead.map(() => '0'), ':', ':'].join(', ')}]` : '';
  return { rows: out, moreRows: rows > r, moreCols: cols > c, note };
}

function previewText(p: Preview, rank: number): string {
  if (rank === 0) return p.rows[0]?.[0] ?? '';
  const widths: number[] = [];
  for (const row of p.rows) row.forEach((s, j) => { widths[j] = Math.max(widths[j] ?? 0, s.length); });
  const lines = p.rows.map((row) => `[${row.map((s, j) => s.padStart(widths[j] as number)).join(', ')}${p.moreCols ? ', \u2026' : ''}]`);
  if (p.moreRows) lines.push(' \u2026');
  return lines.join('\n');
}

function previewHtml(p: Preview, rank: number): string {
  if (rank === 0) return `<code>${escapeHtml(p.rows[0]?.[0] ?? '')}</code>`;
  const body = p.rows.map((row) => `<tr>${row.map((s) => `<td style="text-align:right">${escapeHtml(s)}</td>`).join('')}${p.moreCols ? '<td>\u2026</td>' : ''}</tr>`).join('');
  const more = p.moreRows ? `<tr><td colspan="${(p.rows[0]?.length ?? 0) + (p.moreCols ? 1 : 0)}">\u22ee</td></tr>` : '';
  return `<table class="dytlab-tensor-preview" style="font-family:monospace;font-size:smaller">${body}${more}</table>`;
}

function statsLine(s: TensorStats): string {
  const parts = [`min ${formatNumber(s.min)}`, `max ${formatNumber(s.max)}`, `mean ${formatNumber(s.mean)}`, `std ${formatNumber(s.std)}`];
  const bad = `NaN ${s.nan}  +Inf ${s.posInf}  -Inf ${s.negInf}`;
  const over = s.finite === s.count ? '' : ` (over ${s.finite} finite of ${s.count})`;
  return `${parts.join('  ')}${over}  |  ${bad}`;
}

export function renderTensor(value: unknown): MimeBundle {
  const t = value as TensorLike;
  const shape = [...t.shape];
  const size = shape.reduce((a, b) => a * b, 1);
  const head = `Tensor ${t.dtype} [${shape.join(', ')}]  (${size} value${size === 1 ? '' : 's'})`;
  if (t.isDisposed) {
    return { 'text/plain': `${head}  <disposed>`, 'text/html': `<div class="dytlab-tensor"><b>${escapeHtml(head)}</b> <i>disposed</i></div>` };
  }
  const values = t.dataSync();
  const numeric = t.dtype !== 'string' && t.dtype !== 'complex64';
  const stats = numeric ? tensorStats(values as ArrayLike<number>) : undefined;
  const p = preview(shape, values as ArrayLike<unknown>, t.dtype);
  const text = [head, stats ? statsLine(stats) : '', p.note, previewText(p, shape.length)].filter(Boolean).join('\n');
  const statsHtml = stats
    ? `<table class="dytlab-tensor-stats" style="font-size:smaller"><tr>${['min', 'max', 'mean', 'std', 'NaN', '+Inf', '-Inf'].map((h) => `<th>${h}</th>`).join('')}</tr>`
      + `<tr>${[stats.min, stats.max, stats.mean, stats.std].map((v) => `<td>${escapeHtml(formatNumber(v))}</td>`).join('')}`
      + `${[stats.nan, stats.posInf, stats.negInf].map((v) => `<td${v ? ' style="color:#b91c1c;font-weight:bold"' : ''}>${v}</td>`).join('')}</tr></table>`
      + (stats.finite === stats.count ? '' : `<div style="font-size:smaller">statistics over ${stats.finite} finite of ${stats.count} values</div>`)
    : '';
  const html = `<div class="dytlab-tensor"><div><b>Tensor</b> <code>${escapeHtml(t.dtype)}</code> shape <code>[${escapeHtml(shape.join(', '))}]</code> (${size} value${size === 1 ? '' : 's'})</div>`
    + `${statsHtml}${p.note ? `<div style="font-size:smaller">${escapeHtml(p.note)}</div>` : ''}${previewHtml(p, shape.length)}</div>`;
  return { 'text/plain': text, 'text/html': html };
}
