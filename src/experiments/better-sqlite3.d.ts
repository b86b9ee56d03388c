// Minimal type declarations for better-sqlite3 12.x (no @types package is
// installed). Only what dytlab uses; the full API is documented at
// https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md.
// Kept out of every exported type so that dist/*.d.ts never refers to it.
declare module 'better-sqlite3' {
  namespace Database {
    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }

    interface Statement {
      readonly source: string;
      readonly reader: boolean;
      run(...params: unknown[]): RunResult;
      get(...params: unknown[]): unknown;
      all(...params: unknown[]): unknown[];
      iterate(...params: unknown[]): IterableIterator<unknown>;
      pluck(toggle?: boolean): this;
      raw(toggle?: boolean): this;
    }

    interface Transaction<F extends (...args: never[]) => unknown> {
      (...args: Parameters<F>): ReturnType<F>;
      deferred(...args: Parameters<F>): ReturnType<F>;
      immediate(...args: Parameters<F>): ReturnType<F>;
      exclusive(...args: Parameters<F>): ReturnType<F>;
    }

    interface PragmaOptions {
      simple?: boolean;
    }

    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      /** Busy timeout in milliseconds (default 5000). */
      timeout?: number;
      verbose?: (message?: unknown, ...rest: unknown[]) => void;
      nativeBinding?: string;
    }

    interface Database {
      readonly name: string;
      readonly open: boolean;
      readonly inTransaction: boolean;
      readonly readonly: boolean;
      readonly memory: boolean;
      prepare(source: string): Statement;
      exec(source: string): this;
      pragma(source: string, options?: PragmaOptions): unknown;
      transaction<F extends (...args: never[]) => unknown>(fn: F): Transaction<F>;
      close(): this;
    }

    interface DatabaseConstructor {
      new (filename?: string, options?: Options): Database;
      /** An in-memory database holding a copy of this serialized database (a file's bytes). */
      new (serialized: Buffer, options?: Options): Database;
      (filename?: string, options?: Options): Database;
      readonly SqliteError: new (message: string, code: string) => Error & { code: string };
    }
  }

  const Database: Database.DatabaseConstructor;
  export = Database;
}
