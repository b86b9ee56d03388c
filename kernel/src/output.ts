// Process-wide output capture: process.stdout/stderr writes, dytlab's display
// sink and tslab's display hook all become CellEvents for the cell running now.
// After a cell finishes, late output (timers, unawaited promises) still goes to
// that cell, as in IPython; the next cell takes over when it starts.
import type { CellEvent } from './session.js';
import { displayApi, type DisplaySink, type MimeBundle } from './display-bridge.js';

type Emit = (e: CellEvent) => void;
type Write = typeof process.stdout.write;

const realStdoutWrite: Write = process.stdout.write;
const realStderrWrite: Write = process.stderr.write;

/** The process's real stdout/stderr, for the embedding program's own messages while cells are captured. */
export const terminal = {
  out(text: string): void { realStdoutWrite.call(process.stdout, text); },
  err(text: string): void { realStderrWrite.call(process.stderr, text); },
};

/** Stream text is coalesced: flushed on any other event, at the end of a cell, or after this long. */
const FLUSH_MS = 50;
const FLUSH_BYTES = 64 * 1024;

class Router {
  private emit: Emit | null = null;
  private pending: { name: 'stdout' | 'stderr'; text: string; since: number } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private users = 0;
  private prevSink: DisplaySink | null = null;
  private prevTslabHook: unknown = null;

  /** Starts capturing (reference counted: one per open session). */
  acquire(): void {
    if (this.users++ > 0) return;
    process.stdout.write = this.writer('stdout', realStdoutWrite, process.stdout);
    process.stderr.write = this.writer('stderr', realStderrWrite, process.stderr);
    const api = displayApi();
    if (typeof api.setDisplaySink === 'function') {
      const sink: DisplaySink = {
        display: (data, metadata, displayId) => this.event({ type: 'display', data: data as MimeBundle, metadata: metadata ?? {}, ...(displayId !== undefined ? { displayId } : {}) }),
        update: (data, metadata, displayId) => this.event({ type: 'update', data: data as MimeBundle, metadata: metadata ?? {}, displayId }),
        clear: (wait) => this.event({ type: 'clear', wait: Boolean(wait) }),
      };
      this.prevSink = api.setDisplaySink(sink);
    }
    const tj = tslabJupyter();
    this.prevTslabHook = tj.lastWriteDisplayData;
    tj.lastWriteDisplayData = (content: { data?: MimeBundle; metadata?: Record<string, unknown>; transient?: { display_id?: string } }, update: boolean) => {
      const data = content.data ?? {};
      const metadata = content.metadata ?? {};
      const id = content.transient?.display_id;
      if (update && id) this.event({ type: 'update', data, metadata, displayId: id });
      else this.event({ type: 'display', data, metadata, ...(id ? { displayId: id } : {}) });
    };
  }

  /** Stops capturing when the last session closes. */
  release(): void {
    if (--this.users > 0) return;
    this.users = 0;
    this.flush();
    this.emit = null;
    process.stdout.write = realStdoutWrite;
    process.stderr.write = realStderrWrite;
    const api = displayApi();
    if (typeof api.setDisplaySink === 'function') api.setDisplaySink(this.prevSink);
    this.prevSink = null;
    tslabJupyter().lastWriteDisplayData = this.prevTslabHook;
  }

  /** Routes output to `emit` from now on (the cell that starts). */
  route(emit: Emit): void {
    this.flush();
    this.emit = emit;
  }

  /** Sends any buffered stream text. */
  flush(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const p = this.pending;
    this.pending = null;
    if (p && p.text && this.emit) this.safeEmit({ type: 'stream', name: p.name, text: p.text });
  }

  /** A non-stream event: buffered text goes first to keep the order. */
  event(e: CellEvent): void {
    this.flush();
    if (this.emit) this.safeEmit(e);
    else if (e.type === 'display' || e.type === 'update') terminal.out(`${String(e.data['text/plain'] ?? '')}\n`);
  }

  write(name: 'stdout' | 'stderr', text: string): void {
    if (!text) return;
    if (this.pending && this.pending.name !== name) this.flush();
    if (!this.pending) this.pending = { name, text, since: Date.now() };
    else this.pending.text += text;
    // A busy loop never lets a timer run: flush on the write itself when it is time.
    if (Date.now() - this.pending.since >= FLUSH_MS || this.pending.text.length >= FLUSH_BYTES) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => { this.timer = null; this.flush(); }, FLUSH_MS);
      this.timer.unref();
    }
  }

  private safeEmit(e: CellEvent): void {
    const emit = this.emit!;
    try {
      emit(e);
    } catch (err) {
      terminal.err(`dytlab kernel: output handler failed: ${(err as Error)?.stack ?? String(err)}\n`);
    }
  }

  private writer(name: 'stdout' | 'stderr', real: Write, stream: NodeJS.WriteStream): Write {
    const router = this;
    return function write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
      const callback = typeof encoding === 'function' ? encoding : typeof cb === 'function' ? cb : undefined;
      if (!router.emit) {
        return (real as (...a: unknown[]) => boolean).call(stream, chunk, encoding, cb);
      }
      let text: string;
      if (typeof chunk === 'string') text = chunk;
      else if (chunk instanceof Uint8Array) text = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString(typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : 'utf8');
      else text = String(chunk);
      router.write(name, text);
      if (callback) process.nextTick(callback as () => void);
      return true;
    } as Write;
  }
}

export const router = new Router();

interface TslabJupyter { lastWriteDisplayData: unknown }
function tslabJupyter(): TslabJupyter {
  return require('tslab/dist/jupyter') as TslabJupyter;
}
