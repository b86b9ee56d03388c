// Progress for long work: a bar that redraws in place on a terminal, plain
// periodic lines elsewhere (CI logs, pipes). Notebooks use the trainer's callback.
/** finish(info, done): the last line, at `done` (default: total; a run that stopped early gives the step it stopped at). */
export interface ProgressBar { update(done: number, info?: string): void; finish(info?: string, done?: number): void }

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function progressBar(total: number, label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  const t0 = Date.now();
  const tty = Boolean(stream.isTTY);
  let lastDraw = 0, lastLine = -1;
  const line = (done: number, info: string) => {
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const elapsed = (Date.now() - t0) / 1000;
    const eta = done > 0 ? (elapsed * (total - done)) / done : NaN;
    const width = 24, fill = Math.round(frac * width);
    return `${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${total} ${info} ${fmtTime(elapsed)} eta ${fmtTime(eta)}`;
  };
  return {
    update(done, info = '') {
      const now = Date.now();
      if (tty) {
        if (now - lastDraw < 100 && done < total) return;
        lastDraw = now;
        stream.write(`\r${line(done, info).slice(0, (stream.columns || 120) - 1)}\x1b[K`);
      } else {
        const decile = Math.floor((10 * done) / Math.max(1, total));
        if (decile === lastLine) return;
        lastLine = decile;
        stream.write(`${line(done, info)}\n`);
      }
    },
    finish(info = '', done = total) {
      stream.write(`${tty ? '\r' : ''}${line(done, info)}${tty ? '\x1b[K' : ''}\n`);
    },
  };
}
