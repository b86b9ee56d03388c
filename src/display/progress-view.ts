// The value a progress display shows, and its rendering (a bar in HTML, a
// line of text). progress() in progress.ts drives it.
import { escapeHtml } from './html.js';
import type { MimeBundle } from './types.js';

export class ProgressView {
  constructor(
    readonly label: string,
    readonly total: number,
    readonly done: number,
    readonly elapsedSec: number,
    readonly info: string,
    readonly finished: boolean,
  ) {}

  get fraction(): number {
    if (this.total <= 0) return this.finished ? 1 : 0;
    return Math.min(1, Math.max(0, this.done / this.total));
  }

  /** Seconds left at the average rate so far (NaN while unknown). */
  get etaSec(): number {
    if (this.finished || this.done <= 0 || this.total <= 0) return NaN;
    return Math.max(0, (this.elapsedSec * (this.total - this.done)) / this.done);
  }
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function countText(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

export function renderProgress(value: unknown): MimeBundle {
  const p = value as ProgressView;
  const pct = Math.floor(p.fraction * 100);
  const timing = p.finished ? `${formatDuration(p.elapsedSec)}` : `${formatDuration(p.elapsedSec)} eta ${formatDuration(p.etaSec)}`;
  const width = 24, fill = Math.round(p.fraction * width);
  const counts = `${countText(p.done)}/${countText(p.total)}`;
  const text = [p.label, `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}]`, counts, `${pct}%`, timing, p.info]
    .filter((s) => s !== '').join(' ');
  const colour = p.finished ? '#16a34a' : '#2563eb';
  const html = `<div class="dytlab-progress" style="display:flex;align-items:center;gap:0.6em;font-family:monospace;font-size:13px">`
    + (p.label ? `<span>${escapeHtml(p.label)}</span>` : '')
    + `<div role="progressbar" aria-valuemin="0" aria-valuemax="${escapeHtml(p.total)}" aria-valuenow="${escapeHtml(p.done)}" `
    + `style="flex:0 0 18em;height:0.9em;background:#e5e7eb;border-radius:3px;overflow:hidden">`
    + `<div style="width:${(p.fraction * 100).toFixed(1)}%;height:100%;background:${colour}"></div></div>`
    + `<span>${escapeHtml(counts)} (${pct}%) ${escapeHtml(timing)}${p.info ? ` \u00b7 ${escapeHtml(p.info)}` : ''}</span></div>`;
  return { 'text/html': html, 'text/plain': text };
}
