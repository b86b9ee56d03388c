// The Jupyter wire protocol (messaging spec 5.3): frames, HMAC signatures, headers.
//   [routing identities..., '<IDS|MSG>', signature, header, parent_header, metadata, content, buffers...]
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

export const PROTOCOL_VERSION = '5.3';
const DELIM = Buffer.from('<IDS|MSG>');

export interface ConnectionInfo {
  transport: string;
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
  [k: string]: unknown;
}

export interface Message {
  identities: Buffer[];
  header: Header;
  parent_header: Header | Record<string, never>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  buffers: Buffer[];
}

export class Signer {
  private readonly algorithm: string | null;
  constructor(private readonly key: string, scheme: string) {
    if (!key) this.algorithm = null;
    else {
      const m = /^hmac-(.+)$/.exec(scheme || 'hmac-sha256');
      if (!m) throw new Error(`unsupported signature_scheme '${scheme}'`);
      this.algorithm = m[1]!;
    }
  }

  sign(parts: (Buffer | string)[]): string {
    if (!this.algorithm) return '';
    const h = createHmac(this.algorithm, this.key);
    for (const p of parts) h.update(p);
    return h.digest('hex');
  }

  verify(signature: string, parts: (Buffer | string)[]): boolean {
    if (!this.algorithm) return true;
    const want = Buffer.from(this.sign(parts));
    const got = Buffer.from(signature);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}

export class WireError extends Error {}

/** Parses and verifies one multipart message. */
export function parse(frames: Buffer[], signer: Signer): Message {
  const d = frames.findIndex((f) => f.equals(DELIM));
  if (d < 0) throw new WireError('message without <IDS|MSG> delimiter');
  if (frames.length < d + 6) throw new WireError('message with fewer than 5 parts after the delimiter');
  const signature = frames[d + 1]!.toString();
  const parts = frames.slice(d + 2, d + 6);
  if (!signer.verify(signature, parts)) throw new WireError('invalid message signature');
  const json = (b: Buffer) => JSON.parse(b.toString('utf8') || '{}');
  return {
    identities: frames.slice(0, d),
    header: json(parts[0]!),
    parent_header: json(parts[1]!),
    metadata: json(parts[2]!),
    content: json(parts[3]!),
    buffers: frames.slice(d + 6),
  };
}

/** JSON that survives values cells produce: BigInt as a string, typed arrays as arrays. */
export function safeJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (typeof v === 'bigint') return v.toString();
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
    return v;
  }) ?? 'null';
}

/** Signs and frames a message. */
export function serialize(msg: Omit<Message, 'buffers'> & { buffers?: Buffer[] }, signer: Signer): Buffer[] {
  const parts = [safeJson(msg.header), safeJson(msg.parent_header), safeJson(msg.metadata), safeJson(msg.content)].map((s) => Buffer.from(s, 'utf8'));
  return [...msg.identities, DELIM, Buffer.from(signer.sign(parts)), ...parts, ...(msg.buffers ?? [])];
}

/** A header for a message this kernel sends. */
export function header(msgType: string, session: string): Header {
  return {
    msg_id: randomUUID(),
    session,
    username: 'kernel',
    date: new Date().toISOString(),
    msg_type: msgType,
    version: PROTOCOL_VERSION,
  };
}

/** A reply (or iopub message) to `parent`. */
export function reply(parent: Message | null, msgType: string, content: Record<string, unknown>, session: string, identities?: Buffer[], metadata: Record<string, unknown> = {}): Omit<Message, 'buffers'> {
  return {
    identities: identities ?? parent?.identities ?? [],
    header: header(msgType, session),
    parent_header: parent ? parent.header : {},
    metadata,
    content,
  };
}

/** The reply type for a request type: execute_request -> execute_reply. */
export function replyType(requestType: string): string {
  return requestType.replace(/_request$/, '_reply');
}
