// The run store's one error class, and how SQLite's errors become it: every
// message names the store file and says what SQLite said.

export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

/** SQLite reported BUSY (another process holds the lock); retryBusy waits these out. */
export function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** SQLite could not read a read-only WAL database in place (it needs to create the -shm file beside it). */
export function cannotReadInPlace(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'SQLITE_READONLY_DIRECTORY' || code === 'SQLITE_READONLY_CANTINIT' || code === 'SQLITE_READONLY_RECOVERY' ||
    code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY';
}

/** An SQLite error as a StoreError naming the store's file (path) and what SQLite said. */
export function storeError(e: unknown, path: string, doing?: string): Error {
  if (e instanceof StoreError) return e;
  const code = (e as { code?: unknown }).code;
  const msg = (e as Error)?.message ?? String(e);
  if (code === 'SQLITE_NOTADB') {
    return new StoreError(`run store ${path}: not a dytlab run store: not an SQLite database (SQLite: ${msg})`);
  }
  if (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT')) {
    return new StoreError(`run store ${path}: the file is corrupt (SQLite: ${msg}); ` +
      'what is still readable can be recovered with sqlite3\'s .recover');
  }
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    return new StoreError(`run store ${path}: ${doing ? `${doing}: ` : ''}${msg} (SQLite: ${code})`);
  }
  if (doing === 'cannot open' && e instanceof Error) return new StoreError(`cannot open run store ${path}: ${msg}`);
  return e as Error;
}
