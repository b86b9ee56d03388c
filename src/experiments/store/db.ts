// The connection to one run store file (better-sqlite3): opening it (creating,
// checking or migrating its schema), prepared statements, write transactions,
// and SQLite's errors turned into StoreErrors that name the file.
//
// Concurrency. The database is in WAL mode with a busy timeout, so a sweep's
// worker processes write into one file at the same time: readers never block,
// writers take turns. Every write call is one BEGIN IMMEDIATE transaction
// (taking the write lock up front, so the busy timeout applies instead of an
// immediate SQLITE_BUSY on a read->write upgrade), and it is committed before
// the call returns: whatever a process wrote before it was killed stays in the
// file. synchronous=NORMAL: a commit survives the process being killed; only a
// power loss or OS crash can lose the last commits, never corrupt the file.
//
// better-sqlite3's types stay in private members, so that dist/*.d.ts never refers to them.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { cannotReadInPlace, isBusy, storeError, StoreError } from './errors.js';
import { checkReadOnly, createOrMigrate, listTables } from './schema.js';

/** Default store file, relative to the current working directory. */
const DEFAULT_STORE_PATH = join('runs', 'dytlab.sqlite');
/** How long a writer waits for another process's write lock before failing (ms). */
const DEFAULT_BUSY_TIMEOUT_MS = 30_000;

export interface ConnectionOptions {
  /** Open without writing: no schema creation or migration, no stale-run marking. The file must exist. */
  readonly?: boolean;
  /** Busy timeout in ms (default 30 s). */
  busyTimeoutMs?: number;
}

/** A prepared statement whose calls turn SQLite errors into StoreErrors (BUSY passes, for retryBusy). */
export interface Statement {
  readonly source: string;
  readonly reader: boolean;
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
  pluck(toggle?: boolean): Statement;
  raw(toggle?: boolean): Statement;
}

/** Path of the store: the argument, else $DYTLAB_STORE, else runs/dytlab.sqlite; resolved against the cwd. */
export function resolveStorePath(path?: string): string {
  const p = path ?? (process.env.DYTLAB_STORE || DEFAULT_STORE_PATH);
  return p === ':memory:' ? p : resolve(p);
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Retries fn while SQLite reports BUSY (beyond the busy handler: journal-mode switches, WAL recovery). */
function retryBusy<T>(fn: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (e) {
      if (!isBusy(e) || Date.now() > deadline) throw e;
      sleepMs(Math.min(5 * 2 ** attempt, 200) * (0.5 + Math.random()));
    }
  }
}

export class StoreDb {
  /** Absolute path of the store file (or ':memory:'). */
  readonly path: string;
  readonly readonly: boolean;
  /** True when a read-only store could not be read in place and was read into memory (see openSnapshot). */
  readonly snapshot: boolean = false;
  readonly busyTimeoutMs: number;
  /** This machine's hostname, as runs record it. */
  readonly host = osHostname();
  private sqlite: Database.Database;
  private readonly statements = new Map<string, Statement>();

  constructor(path?: string, options: ConnectionOptions = {}) {
    this.path = resolveStorePath(path);
    this.readonly = options.readonly ?? false;
    this.busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    const memory = this.path === ':memory:';
    if (!memory) {
      if (existsSync(this.path) && statSync(this.path).isDirectory()) {
        throw new StoreError(`run store ${this.path} is a directory; give the path of a .sqlite file`);
      }
      if (this.readonly && !existsSync(this.path)) throw new StoreError(`run store ${this.path} does not exist`);
      if (!this.readonly) mkdirSync(dirname(this.path), { recursive: true });
    }
    try {
      this.sqlite = new Database(this.path, { readonly: this.readonly, fileMustExist: this.readonly, timeout: this.busyTimeoutMs });
    } catch (e) {
      throw new StoreError(`cannot open run store ${this.path}: ${(e as Error).message}`);
    }
    try {
      this.init(memory);
    } catch (e) {
      this.sqlite.close();
      if (!(this.readonly && !memory && cannotReadInPlace(e))) throw storeError(e, this.path, 'cannot open');
      // A WAL store in a directory this process cannot write (no -shm to create): read a copy.
      this.sqlite = this.openSnapshot(e as Error);
      (this as { snapshot: boolean }).snapshot = true;
      try {
        this.init(memory);
      } catch (e2) {
        this.sqlite.close();
        throw storeError(e2, this.path, 'cannot open');
      }
    }
  }

  private init(memory: boolean): void {
    const db = this.sqlite;
    // Reading the schema fails with SQLITE_NOTADB on a file that is not SQLite.
    retryBusy(() => listTables(db), this.busyTimeoutMs);
    if (!this.readonly) {
      if (!memory) {
        const mode = retryBusy(() => db.pragma('journal_mode = WAL', { simple: true }), this.busyTimeoutMs);
        if (String(mode).toLowerCase() !== 'wal') {
          throw new StoreError(`run store ${this.path}: could not switch to WAL mode (journal_mode is ${String(mode)}); ` +
            'is the file on a network file system?');
        }
      }
      db.pragma('synchronous = NORMAL');
    }
    if (this.readonly) {
      checkReadOnly(db, this.path);
      return;
    }
    // Creation and migration run in one IMMEDIATE transaction, so processes
    // that open a new store at the same moment create it exactly once. Foreign
    // keys are off meanwhile (a migration that rebuilds the runs table must not
    // cascade into its metrics); the pragma cannot change inside a transaction.
    db.pragma('foreign_keys = OFF');
    retryBusy(() => db.transaction(() => createOrMigrate(db, this.path)).immediate(), this.busyTimeoutMs);
    db.pragma('foreign_keys = ON');
  }

  /**
   * A read-only store that SQLite cannot read in place: a WAL database whose
   * directory this process may not write (SQLite needs to create its -shm
   * file). Without a write-ahead log holding commits, the file alone is the
   * whole store, and a copy of it in memory reads exactly what is there.
   */
  private openSnapshot(cause: Error): Database.Database {
    const wal = `${this.path}-wal`;
    if (existsSync(wal) && statSync(wal).size > 0) {
      throw new StoreError(`run store ${this.path}: cannot be read in place (SQLite: ${cause.message}): it is in WAL mode, ` +
        `this process cannot write its directory, and its write-ahead log ${wal} holds commits that are not in the file yet. ` +
        'Open it once with write access (e.g. dytlab store ls as its owner) or copy the .sqlite and its -wal file to a writable directory.');
    }
    let buf: Buffer;
    try {
      buf = readFileSync(this.path);
    } catch (e) {
      throw new StoreError(`cannot open run store ${this.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    // Bytes 18-19 of the header say WAL (2); an in-memory database must read as rollback-journal (1). Only the copy changes.
    if (buf.length >= 100 && buf.subarray(0, 16).toString('latin1') === 'SQLite format 3\0') buf[18] = buf[19] = 1;
    try {
      return new Database(buf, { readonly: true });
    } catch (e) {
      throw storeError(e, this.path, 'cannot open');
    }
  }

  private get conn(): Database.Database {
    if (!this.sqlite.open) throw new StoreError(`run store ${this.path} is closed`);
    return this.sqlite;
  }

  /** The prepared statement for sql (prepared once per connection). */
  stmt(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) {
      const prepared = this.guard(() => this.conn.prepare(sql));
      this.statements.set(sql, this.guarded(prepared));
      s = this.statements.get(sql)!;
    } else if (!this.sqlite.open) {
      throw new StoreError(`run store ${this.path} is closed`);
    }
    return s;
  }

  /** Runs fn, turning an SQLite error (corrupt file, not a database, I/O) into a StoreError naming the file. BUSY passes (retryBusy). */
  guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw isBusy(e) ? e : storeError(e, this.path);
    }
  }

  /** A statement whose calls go through guard(). */
  private guarded(s: Database.Statement): Statement {
    const g: Statement = {
      get source() { return s.source; },
      get reader() { return s.reader; },
      run: (...a: unknown[]) => this.guard(() => s.run(...a)),
      get: (...a: unknown[]) => this.guard(() => s.get(...a)),
      all: (...a: unknown[]) => this.guard(() => s.all(...a)),
      iterate: (...a: unknown[]) => this.guard(() => s.iterate(...a)),
      pluck(toggle = true) { s.pluck(toggle); return g; },
      raw(toggle = true) { s.raw(toggle); return g; },
    };
    return g;
  }

  /** Runs fn in one BEGIN IMMEDIATE transaction (committed on return, rolled back on throw). */
  write<T>(fn: () => T): T {
    if (this.readonly) throw new StoreError(`run store ${this.path} was opened read-only`);
    const conn = this.conn;
    if (conn.inTransaction) return fn();
    try {
      return retryBusy(() => conn.transaction(fn).immediate(), this.busyTimeoutMs);
    } catch (e) {
      throw storeError(e, this.path);
    }
  }

  /** Rows of a query on this store, read one at a time; SQLite errors name this store's file. */
  *rows(sql: string, ...params: unknown[]): Generator<unknown[]> {
    const it = this.guard(() => this.conn.prepare(sql).raw().iterate(...params));
    for (;;) {
      const next = this.guard(() => it.next());
      if (next.done) return;
      yield next.value as unknown[];
    }
  }

  /** SQLite's quick_check of the whole file: the problems it finds (none: []). */
  check(): string[] {
    const rows = this.guard(() => this.conn.pragma('quick_check') as { quick_check: string }[]);
    return rows.map((r) => r.quick_check).filter((t) => t !== 'ok');
  }

  /** Closes the database; later calls throw. Closing twice is harmless. */
  close(): void {
    if (this.sqlite.open) this.sqlite.close();
    this.statements.clear();
  }
}
