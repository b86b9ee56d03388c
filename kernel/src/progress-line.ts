// The text line of a progress bar (dytlab's progress(), display/progress-view.ts)
// among a cell's output events: what the notebook worker forwards to the runner
// so that `dytlab reproduce` can say how far a long cell is.

/** The text/plain line of a progress bar's display or update event, else undefined. */
export function progressText(e: unknown): string | undefined {
  const ev = e as { type?: string; data?: Record<string, unknown> } | null;
  if (!ev || (ev.type !== 'update' && ev.type !== 'display')) return undefined;
  const html = ev.data?.['text/html'], text = ev.data?.['text/plain'];
  return typeof html === 'string' && html.includes('dytlab-progress') && typeof text === 'string' ? text : undefined;
}
