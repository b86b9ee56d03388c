// The combined progress display of `dytlab sweep` on stderr: one line per
// active worker and a totals line, redrawn in place on a terminal; on a pipe
// or log file, one line per finished run and a totals line every `everySec`.
import type { RunOutcome, SweepEvent, WorkerProgress } from '../experiments/sweep-runner.js';
import type { PlannedRun } from '../experiments/sweep.js';
import { describeLabels } from '../experiments/sweep.js';
import { formatDuration } from '../experiments/sweep-estimate.js';

export interface DisplayStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

interface Slot { run: PlannedRun; started: number; progress?: WorkerProgress }

export function runLabel(run: Pick<PlannedRun, 'hash' | 'labels'>): string {
  return `${run.hash.slice(0, 8)} ${describeLabels(run.labels)}`;
}

function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4);
}

export function outcomeText(run: PlannedRun, o: RunOutcome): string {
  const evals = o.lastEval ? Object.entries(o.lastEval).map(([k, v]) => `${k} ${fmtNum(v)}`).join(', ') : '';
  const why = o.reason ? ` (${o.reason})` : '';
  return `${o.status}${why} ${runLabel(run)}${o.step !== undefined ? ` after ${o.step} steps` : ''}` +
    `${evals ? `: ${evals}` : ''} [${formatDuration(o.seconds)}]`;
}

export class SweepDisplay {
  private readonly slots = new Map<number, Slot>();
  private readonly t0 = Date.now();
  private drawn = 0;
  private lastDraw = 0;
  private lastPlain = Date.now();
  private done = 0;
  private readonly counts = { finished: 0, diverged: 0, stalled: 0, failed: 0 };
  private durations: number[] = [];
  private waitingElsewhere = 0;

  constructor(
    private readonly stream: DisplayStream,
    private readonly name: string,
    private readonly total: number,
    private readonly jobs: number,
    alreadyDone: number,
    /** Estimated seconds of one run, used for the ETA until runs of this sweep have finished. */
    private readonly estimate: number,
    private readonly everySec = 30,
  ) {
    this.done = alreadyDone;
  }

  private get tty(): boolean {
    return Boolean(this.stream.isTTY);
  }

  private totals(): string {
    const elapsed = (Date.now() - this.t0) / 1000;
    const left = this.total - this.done - this.slots.size;
    const mean = this.durations.length ? this.durations.reduce((a, b) => a + b, 0) / this.durations.length : this.estimate;
    const activeLeft = [...this.slots.values()].map((s) => s.progress?.etaSec ?? mean);
    const eta = (activeLeft.reduce((a, b) => a + b, 0) + Math.max(0, left - this.waitingElsewhere) * mean) / Math.max(1, this.jobs);
    const { finished, diverged, stalled, failed } = this.counts;
    const ended = [finished && `${finished} finished`, diverged && `${diverged} diverged`, stalled && `${stalled} stalled`, failed && `${failed} failed`].filter(Boolean);
    return `${this.name}: ${this.done}/${this.total} done${ended.length ? ` (${ended.join(', ')} now)` : ''}, ` +
      `${this.slots.size} running, ${Math.max(0, left)} to go${this.waitingElsewhere ? ` (${this.waitingElsewhere} elsewhere)` : ''}; ` +
      `${formatDuration(elapsed)}${left + this.slots.size > 0 ? `, ~${formatDuration(eta)} left` : ''}`;
  }

  private slotLine(slot: number, s: Slot): string {
    const p = s.progress;
    const elapsed = (Date.now() - s.started) / 1000;
    if (!p) return `  [${slot + 1}] ${runLabel(s.run)}  starting ${formatDuration(elapsed)}`;
    const evals = p.eval ? ' ' + Object.entries(p.eval).map(([k, v]) => `${k} ${fmtNum(v)}`).join(' ') : '';
    return `  [${slot + 1}] ${runLabel(s.run)}  ${p.step}/${p.steps} loss ${fmtNum(p.loss)}${evals} ` +
      `${p.itemsPerSec.toFixed(0)} ${p.unit}/s ${formatDuration(elapsed)} eta ${formatDuration(p.etaSec)}`;
  }

  private clear(): void {
    if (this.tty && this.drawn > 0) this.stream.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }

  private draw(force = false): void {
    if (!this.tty) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 200) return;
    this.lastDraw = now;
    const width = Math.max(40, (this.stream.columns || 120) - 1);
    const lines = [...[...this.slots.entries()].sort(([a], [b]) => a - b).map(([i, s]) => this.slotLine(i, s)), this.totals()];
    this.clear();
    this.stream.write(lines.map((l) => l.slice(0, width)).join('\n') + '\n');
    this.drawn = lines.length;
  }

  /** A line that stays (above the live block on a terminal). */
  private permanent(line: string): void {
    this.clear();
    this.stream.write(line + '\n');
    this.draw(true);
  }

  onEvent(e: SweepEvent): void {
    switch (e.type) {
      case 'start':
        this.slots.set(e.slot, { run: e.run, started: Date.now() });
        this.draw(true);
        break;
      case 'progress': {
        const s = this.slots.get(e.slot);
        if (s) s.progress = e.progress;
        this.draw();
        break;
      }
      case 'end':
        this.slots.delete(e.slot);
        this.done++;
        this.counts[e.outcome.status]++;
        this.durations.push(e.outcome.seconds);
        this.permanent(outcomeText(e.run, e.outcome));
        if (e.outcome.status === 'failed' && e.outcome.output) {
          this.permanent(e.outcome.output.trimEnd().split('\n').slice(-8).map((l) => `    | ${l}`).join('\n'));
        }
        break;
      case 'skip':
        if (e.slot !== undefined) this.slots.delete(e.slot);
        this.done++;
        this.permanent(`skipped ${runLabel(e.run)} (${e.why})`);
        break;
      case 'waiting': {
        if (e.released !== undefined) this.slots.delete(e.released);
        const grew = e.runs.length > this.waitingElsewhere;
        this.waitingElsewhere = e.runs.length;
        if (grew) {
          this.permanent(`waiting for ${e.runs.length} combination${e.runs.length > 1 ? 's' : ''} in flight in another process: ` +
            e.runs.map((r) => r.hash.slice(0, 8)).join(', '));
        } else {
          this.draw(true);
        }
        break;
      }
    }
    if (!this.tty && Date.now() - this.lastPlain >= this.everySec * 1000) {
      this.lastPlain = Date.now();
      this.stream.write([...[...this.slots.entries()].map(([i, s]) => this.slotLine(i, s)), this.totals()].join('\n') + '\n');
    }
  }

  /** Removes the live block (call before printing the summary). */
  close(): void {
    this.clear();
  }
}
