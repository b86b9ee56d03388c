// The control and heartbeat channels, on a worker thread so that they answer
// while a cell blocks the main thread in a synchronous loop.
//  - heartbeat (REP): echoes;
//  - control (ROUTER): interrupt_request is handled here: reply, then SIGINT to
//    this process, which breaks a synchronous cell (vm breakOnSigint) or reaches
//    the session's listener when the cell awaits. Other control requests
//    (shutdown, kernel_info, ...) go to the main thread, which sends the replies
//    back through this thread.
import { parentPort, workerData } from 'node:worker_threads';
import * as zmq from 'zeromq';
import { parse, reply, serialize, Signer, type ConnectionInfo, type Header } from './wire.js';

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'control'; frames: Uint8Array[] }
  | { type: 'status'; state: 'busy' | 'idle'; parent: Header }
  | { type: 'interrupt' }
  | { type: 'log'; text: string };
export type ToWorker = { type: 'send'; frames: Uint8Array[] } | { type: 'close' };

export interface ControlWorkerData { conn: ConnectionInfo; session: string }

const port = parentPort!;
const { conn, session } = workerData as ControlWorkerData;
const signer = new Signer(conn.key, conn.signature_scheme);
const addr = (p: number) => (conn.transport === 'ipc' ? `ipc://${conn.ip}-${p}` : `${conn.transport}://${conn.ip}:${p}`);
const post = (m: FromWorker) => port.postMessage(m);
const toBuf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

const control = new zmq.Router();
const hb = new zmq.Reply();
let sending: Promise<unknown> = Promise.resolve();
const send = (frames: Buffer[]) => {
  sending = sending.then(() => control.send(frames)).catch((e: Error) => post({ type: 'log', text: `control send failed: ${e.message}` }));
};

port.on('message', (m: ToWorker) => {
  if (m.type === 'send') send(m.frames.map(toBuf));
  else if (m.type === 'close') {
    void sending.finally(() => {
      control.linger = 0;
      hb.linger = 0;
      control.close();
      hb.close();
      port.close();
    });
  }
});

async function heartbeat(): Promise<void> {
  for await (const frames of hb) await hb.send(frames);
}

async function controlLoop(): Promise<void> {
  for await (const frames of control) {
    let msg;
    try {
      msg = parse(frames, signer);
    } catch (e) {
      post({ type: 'log', text: `control: dropped a message: ${(e as Error).message}` });
      continue;
    }
    if (msg.header.msg_type !== 'interrupt_request') {
      post({ type: 'control', frames });
      continue;
    }
    post({ type: 'status', state: 'busy', parent: msg.header });
    send(serialize(reply(msg, 'interrupt_reply', { status: 'ok' }, session), signer));
    if (process.platform === 'win32') post({ type: 'interrupt' });
    else process.kill(process.pid, 'SIGINT');
    post({ type: 'status', state: 'idle', parent: msg.header });
  }
}

(async () => {
  try {
    await Promise.all([control.bind(addr(conn.control_port)), hb.bind(addr(conn.hb_port))]);
  } catch (e) {
    post({ type: 'failed', message: (e as Error).message });
    return;
  }
  post({ type: 'ready' });
  heartbeat().catch(() => undefined);
  controlLoop().catch(() => undefined);
})();
