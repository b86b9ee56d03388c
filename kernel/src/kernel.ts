// The dytlab Jupyter kernel: the messaging protocol 5.3 over zeromq on top of a
// Session (tslab's compiler and executor).
//
// Sockets: shell (ROUTER) and stdin (ROUTER) and iopub (PUB) on the main thread;
// control (ROUTER) and heartbeat (REP) on a worker thread (control-worker.ts),
// so that interrupts and heartbeats are answered while a cell blocks the main
// thread. Shell requests are handled one at a time in arrival order; control
// requests are handled as soon as the main thread is free, ahead of the queue.
//
// Errors do not poison the queue: requests that arrive after a failing cell run
// normally. Like IPython, a failing execute_request with stop_on_error (the
// protocol's default; nbconvert --allow-errors sends false) aborts only the
// execute_requests already waiting in the queue when it failed.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as zmq from 'zeromq';
import { createSession, terminal, type CellEvent, type Session } from './session.js';
import { header, parse, PROTOCOL_VERSION, reply, replyType, serialize, Signer, WireError, type ConnectionInfo, type Message } from './wire.js';
import type { ControlWorkerData, FromWorker, ToWorker } from './control-worker.js';
import { ts } from './tslab-env.js';
import { languageInfo } from './language.js';

export type { ConnectionInfo } from './wire.js';

export interface KernelOptions {
  /** Folder cells compile from (default: the working directory, i.e. the notebook's folder). */
  cwd?: string;
  /** Where the kernel's own diagnostics go (default: the real stderr, i.e. the Jupyter server log). */
  log?: (text: string) => void;
}

type Channel = 'shell' | 'control';
interface Queued { msg: Message; channel: Channel }

function packageVersion(): string {
  try {
    return (require('dytlab/package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** kernel_info_reply content. */
export function kernelInfo(): Record<string, unknown> {
  const version = packageVersion();
  return {
    status: 'ok',
    protocol_version: PROTOCOL_VERSION,
    implementation: 'dytlab',
    implementation_version: version,
    language_info: languageInfo(),
    banner: `dytlab ${version}: TypeScript ${ts.version} (tslab) on Node.js ${process.versions.node}\n` +
      `A lab for transformers without normalization layers. import { createNorm } from 'dytlab'`,
    help_links: [
      { text: 'dytlab', url: 'https://github.com/dytlab/dytlab' },
      { text: 'TypeScript', url: 'https://www.typescriptlang.org/docs/' },
    ],
    debugger: false,
  };
}

/** Jupyter counts cursor positions in code points; JavaScript strings in UTF-16 units. */
export function codePointsToUtf16(s: string, cp: number): number {
  let i = 0;
  for (let n = 0; n < cp && i < s.length; n++) i += s.codePointAt(i)! > 0xffff ? 2 : 1;
  return i;
}
export function utf16ToCodePoints(s: string, u: number): number {
  let n = 0;
  for (let i = 0; i < u && i < s.length; n++) i += s.codePointAt(i)! > 0xffff ? 2 : 1;
  return n;
}

export class Kernel {
  private readonly signer: Signer;
  private readonly id = randomUUID();
  private readonly shell = new zmq.Router();
  private readonly iopub = new zmq.Publisher();
  private readonly stdin = new zmq.Router();
  private worker: Worker | null = null;
  private session: Session | null = null;
  private readonly queue: Queued[] = [];
  private pumping = false;
  private shellSending: Promise<unknown> = Promise.resolve();
  private stopping = false;
  private abortPending = false;
  private keepAlive: NodeJS.Timeout | null = null;
  private parentWatch: NodeJS.Timeout | null = null;
  private readonly log: (text: string) => void;
  private readonly cwd: string;
  /** Resolves when the kernel has shut down (with the exit code to use). */
  readonly done: Promise<number>;
  private finish!: (code: number) => void;

  constructor(private readonly conn: ConnectionInfo, opts: KernelOptions = {}) {
    this.signer = new Signer(conn.key, conn.signature_scheme);
    this.cwd = opts.cwd ?? process.cwd();
    this.log = opts.log ?? ((t) => terminal.err(`[dytlab kernel] ${t}\n`));
    this.done = new Promise((r) => { this.finish = r; });
  }

  private addr(port: number): string {
    return this.conn.transport === 'ipc' ? `ipc://${this.conn.ip}-${port}` : `${this.conn.transport}://${this.conn.ip}:${port}`;
  }

  /** Binds the sockets, then warms the compiler, then serves requests. */
  async start(): Promise<void> {
    // zeromq's pending receives do not keep Node's event loop alive: this does, until shutdown.
    this.keepAlive = setInterval(() => undefined, 1 << 30);
    // Like ipykernel's parent poller: when the process that started us is gone, go too.
    const ppid = process.ppid;
    this.parentWatch = setInterval(() => {
      if (process.ppid !== ppid) {
        this.log(`parent process ${ppid} exited: shutting down`);
        void this.shutdown(0);
      }
    }, 2000);
    this.parentWatch.unref();
    await Promise.all([
      this.shell.bind(this.addr(this.conn.shell_port)),
      this.iopub.bind(this.addr(this.conn.iopub_port)),
      this.stdin.bind(this.addr(this.conn.stdin_port)),
      this.startWorker(),
    ]);
    this.publish(null, 'status', { execution_state: 'starting' });
    this.receive().catch((e: Error) => { if (!this.stopping) this.log(`shell loop ended: ${e.message}`); });
    // Creating the session compiles an empty program (a second or two); requests wait in the queue.
    setImmediate(() => {
      try {
        this.session = createSession({ cwd: this.cwd });
      } catch (e) {
        this.log(`cannot start the TypeScript session: ${(e as Error).stack ?? e}`);
        void this.shutdown(1);
        return;
      }
      this.pump();
    });
  }

  private startWorker(): Promise<void> {
    const ext = path.extname(__filename);
    const file = path.join(__dirname, `control-worker${ext}`);
    if (!fs.existsSync(file)) throw new Error(`missing ${file}`);
    const data: ControlWorkerData = { conn: this.conn, session: this.id };
    // From source (node --import tsx kernel/src/main.ts) the worker needs tsx's require hook.
    const worker = ext === '.ts'
      ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(file)});`, { eval: true, workerData: data })
      : new Worker(file, { workerData: data });
    this.worker = worker;
    return new Promise((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready': resolve(); break;
          case 'failed': reject(new Error(`control/heartbeat sockets: ${m.message}`)); break;
          case 'log': this.log(m.text); break;
          case 'interrupt': this.session?.interrupt(); break;
          case 'status': this.publishRaw(m.parent, 'status', { execution_state: m.state }); break;
          case 'control': this.onControl(m.frames.map((u) => Buffer.from(u.buffer, u.byteOffset, u.byteLength))); break;
        }
      });
      worker.on('error', (e) => { this.log(`control thread failed: ${e.stack ?? e.message}`); reject(e); });
    });
  }

  private async receive(): Promise<void> {
    for await (const frames of this.shell) {
      let msg: Message;
      try {
        msg = parse(frames, this.signer);
      } catch (e) {
        this.log(`shell: dropped a message: ${(e as Error).message}`);
        continue;
      }
      this.queue.push({ msg, channel: 'shell' });
      this.pump();
    }
  }

  private onControl(frames: Buffer[]): void {
    let msg: Message;
    try {
      msg = parse(frames, this.signer);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      this.log(`control: dropped a message: ${e.message}`);
      return;
    }
    // Control requests do not wait for the shell queue.
    void this.handle({ msg, channel: 'control' }).catch((e: Error) => this.log(`control ${msg.header.msg_type} failed: ${e.stack ?? e.message}`));
  }

  private pump(): void {
    if (this.pumping || !this.session) return;
    this.pumping = true;
    void (async () => {
      try {
        while (this.queue.length && !this.stopping) {
          const q = this.queue.shift()!;
          try {
            await this.handle(q);
          } catch (e) {
            this.log(`${q.msg.header.msg_type} failed: ${(e as Error).stack ?? e}`);
          }
        }
      } finally {
        this.pumping = false;
      }
    })();
  }

  private send(channel: Channel, msg: ReturnType<typeof reply>): void {
    const frames = serialize(msg, this.signer);
    if (channel === 'control') {
      const m: ToWorker = { type: 'send', frames };
      this.worker?.postMessage(m);
      return;
    }
    this.shellSending = this.shellSending.then(() => this.shell.send(frames)).catch((e: Error) => this.log(`shell send failed: ${e.message}`));
  }

  private reply(q: Queued, content: Record<string, unknown>, msgType = replyType(q.msg.header.msg_type)): void {
    this.send(q.channel, reply(q.msg, msgType, content, this.id));
  }

  /** Publishes on iopub now (a PUB socket never blocks: this also works from inside a busy cell). */
  private publish(parent: Message | null, msgType: string, content: Record<string, unknown>, metadata: Record<string, unknown> = {}): void {
    const topic = Buffer.from(`kernel.${this.id}.${msgType}`);
    this.sendIopub(serialize(reply(parent, msgType, content, this.id, [topic], metadata), this.signer));
  }

  private publishRaw(parentHeader: Message['header'], msgType: string, content: Record<string, unknown>): void {
    const topic = Buffer.from(`kernel.${this.id}.${msgType}`);
    const msg = { identities: [topic], header: header(msgType, this.id), parent_header: parentHeader, metadata: {}, content };
    this.sendIopub(serialize(msg, this.signer));
  }

  private iopubBacklog: Buffer[][] = [];
  private sendIopub(frames: Buffer[]): void {
    if (this.iopubBacklog.length) { this.iopubBacklog.push(frames); return; }
    try {
      void this.iopub.send(frames).catch((e: Error) => this.log(`iopub send failed: ${e.message}`));
    } catch (e) {
      // Only if a previous send is still in progress: keep the order, retry soon.
      this.iopubBacklog.push(frames);
      const drain = async () => {
        while (this.iopubBacklog.length) {
          const f = this.iopubBacklog[0]!;
          try { await this.iopub.send(f); } catch (err) { this.log(`iopub send failed: ${(err as Error).message}`); }
          this.iopubBacklog.shift();
        }
      };
      setImmediate(() => void drain());
      void e;
    }
  }

  private async handle(q: Queued): Promise<void> {
    const { msg } = q;
    const type = msg.header.msg_type;
    this.publish(msg, 'status', { execution_state: 'busy' });
    try {
      switch (type) {
        case 'kernel_info_request': this.reply(q, kernelInfo()); break;
        case 'execute_request': await this.execute(q); break;
        case 'complete_request': this.complete(q); break;
        case 'inspect_request': this.inspect(q); break;
        case 'is_complete_request': this.reply(q, this.session!.isComplete(String(msg.content.code ?? ''))); break;
        case 'comm_info_request': this.reply(q, { status: 'ok', comms: {} }); break;
        case 'history_request': this.reply(q, { status: 'ok', history: [] }); break;
        case 'interrupt_request':
          // Normally answered by the control thread; this is one sent on shell.
          this.session?.interrupt();
          this.reply(q, { status: 'ok' });
          break;
        case 'shutdown_request': await this.onShutdown(q); return;
        case 'comm_open':
          // No comm targets: close it so that the frontend does not wait on it.
          this.publish(msg, 'comm_close', { comm_id: msg.content.comm_id, data: {} });
          break;
        case 'comm_msg': case 'comm_close': break;
        default:
          this.log(`unsupported request ${type} on ${q.channel}`);
          if (type.endsWith('_request')) this.reply(q, { status: 'error', ename: 'NotImplementedError', evalue: `${type} is not supported`, traceback: [] });
      }
    } finally {
      if (!this.stopping) this.publish(msg, 'status', { execution_state: 'idle' });
    }
    if (this.abortPending) {
      this.abortPending = false;
      this.abortQueued();
    }
  }

  private async execute(q: Queued): Promise<void> {
    const session = this.session!;
    const c = q.msg.content;
    const code = String(c.code ?? '');
    const silent = Boolean(c.silent);
    const storeHistory = c.store_history === undefined ? !silent : Boolean(c.store_history);
    const stopOnError = c.stop_on_error === undefined ? true : Boolean(c.stop_on_error);
    const counted = storeHistory && !silent;
    if (!silent) this.publish(q.msg, 'execute_input', { code, execution_count: session.executionCount + (counted ? 1 : 0) });
    let error: { ename: string; evalue: string; traceback: string[] } | null = null;
    const onEvent = (e: CellEvent) => {
      switch (e.type) {
        case 'stream': this.publish(q.msg, 'stream', { name: e.name, text: e.text }); break;
        case 'display': this.publish(q.msg, 'display_data', { data: e.data, metadata: e.metadata, transient: e.displayId !== undefined ? { display_id: e.displayId } : {} }); break;
        case 'update': this.publish(q.msg, 'update_display_data', { data: e.data, metadata: e.metadata, transient: { display_id: e.displayId } }); break;
        case 'clear': this.publish(q.msg, 'clear_output', { wait: e.wait }); break;
        case 'result': if (!silent) this.publish(q.msg, 'execute_result', { execution_count: session.executionCount, data: e.data, metadata: e.metadata }); break;
        case 'error':
          error = { ename: e.ename, evalue: e.evalue, traceback: e.traceback };
          this.publish(q.msg, 'error', error);
          break;
      }
    };
    const r = await session.execute(code, onEvent, { silent, storeHistory });
    if (r.status === 'ok') {
      this.reply(q, { status: 'ok', execution_count: r.executionCount, user_expressions: {}, payload: [] });
      return;
    }
    const err = (error as { ename: string; evalue: string; traceback: string[] } | null) ?? { ename: 'Error', evalue: 'execution failed', traceback: [] };
    this.reply(q, { status: 'error', execution_count: r.executionCount, ...err, user_expressions: {}, payload: [] }, 'execute_reply');
    // After this request's idle (see handle): abort what is queued behind it.
    if (stopOnError && !silent) this.abortPending = true;
  }

  /** IPython's stop_on_error: execute_requests already queued behind a failed one are not run. */
  private abortQueued(): void {
    const keep: Queued[] = [];
    for (const q of this.queue.splice(0)) {
      if (q.msg.header.msg_type !== 'execute_request') { keep.push(q); continue; }
      this.publish(q.msg, 'status', { execution_state: 'busy' });
      this.reply(q, { status: 'aborted', execution_count: this.session!.executionCount, user_expressions: {}, payload: [] });
      this.publish(q.msg, 'status', { execution_state: 'idle' });
    }
    this.queue.unshift(...keep);
  }

  private complete(q: Queued): void {
    const code = String(q.msg.content.code ?? '');
    const pos = codePointsToUtf16(code, Number(q.msg.content.cursor_pos ?? code.length));
    const r = this.session!.complete(code, pos);
    this.reply(q, {
      status: 'ok',
      matches: r.matches,
      cursor_start: utf16ToCodePoints(code, r.cursorStart),
      cursor_end: utf16ToCodePoints(code, r.cursorEnd),
      metadata: {},
    });
  }

  private inspect(q: Queued): void {
    const code = String(q.msg.content.code ?? '');
    const pos = codePointsToUtf16(code, Number(q.msg.content.cursor_pos ?? code.length));
    const r = this.session!.inspect(code, pos, Number(q.msg.content.detail_level ?? 0));
    this.reply(q, { status: 'ok', found: r.found, data: r.data, metadata: {} });
  }

  private async onShutdown(q: Queued): Promise<void> {
    const restart = Boolean(q.msg.content.restart);
    const content = { status: 'ok', restart };
    this.reply(q, content);
    this.publish(q.msg, 'shutdown_reply', content);
    this.publish(q.msg, 'status', { execution_state: 'idle' });
    // A restart is the client's job: it starts a new kernel process once this one exits.
    await this.shutdown(0);
  }

  /** Closes everything and resolves `done`. */
  async shutdown(code: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    try { this.session?.close(); } catch { /* closing anyway */ }
    await Promise.race([this.shellSending, new Promise((r) => setTimeout(r, 500))]);
    // Let the last replies leave before the sockets close.
    await new Promise((r) => setTimeout(r, 100));
    const m: ToWorker = { type: 'close' };
    this.worker?.postMessage(m);
    for (const s of [this.shell, this.iopub, this.stdin]) {
      s.linger = 500;
      s.close();
    }
    await new Promise((r) => setTimeout(r, 100));
    void this.worker?.terminate();
    if (this.keepAlive) clearInterval(this.keepAlive);
    if (this.parentWatch) clearInterval(this.parentWatch);
    this.finish(code);
  }
}

/** Reads a Jupyter connection file. */
export function readConnectionFile(file: string): ConnectionInfo {
  const c = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ConnectionInfo>;
  for (const k of ['shell_port', 'iopub_port', 'stdin_port', 'control_port', 'hb_port'] as const) {
    if (typeof c[k] !== 'number') throw new Error(`${file}: ${k} missing`);
  }
  return { ...c, transport: c.transport ?? 'tcp', ip: c.ip ?? '127.0.0.1', signature_scheme: c.signature_scheme ?? 'hmac-sha256', key: c.key ?? '' } as ConnectionInfo;
}
