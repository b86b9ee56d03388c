// The run store's files: what is refused (not a store, a newer schema, a
// directory), WAL mode and busy timeout, the schema version, the store path.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { openStore, resolveStorePath, STORE_SCHEMA_VERSION, StoreError } from '../src/experiments/store/index.js';
import { tempStores } from './fixtures/store-env.js';

const { dir: TMP, freshPath } = tempStores();

describe('run store: files, schema, environment', () => {
  test('a file that is not a dytlab store is refused with a message naming it', () => {
    const text = join(TMP, 'notes.sqlite');
    writeFileSync(text, 'this is not a database, just some notes that happen to be long enough\n'.repeat(20));
    assert.throws(() => openStore(text), (e: Error) =>
      e instanceof StoreError && e.message.includes(text) && /not a dytlab run store: not an SQLite database/.test(e.message));
    assert.equal(readFileSync(text, 'utf8').slice(0, 12), 'this is not ', 'the file is left as it was');

    const other = join(TMP, 'other-app.sqlite');
    const db = new Database(other);
    db.exec('CREATE TABLE users (id INTEGER); CREATE TABLE orders (id INTEGER)');
    db.close();
    assert.throws(() => openStore(other), (e: Error) =>
      e.message.includes(other) && /not a dytlab run store \(it has no meta table; its tables: orders, users\)/.test(e.message));

    const foreignMeta = join(TMP, 'foreign-meta.sqlite');
    const db2 = new Database(foreignMeta);
    db2.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('app', 'mlflow')");
    db2.close();
    assert.throws(() => openStore(foreignMeta), /not a dytlab run store \(its meta table says app = "mlflow"\)/);

    const newer = freshPath('newer');
    openStore(newer).close();
    const db3 = new Database(newer);
    db3.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(STORE_SCHEMA_VERSION + 1));
    db3.close();
    assert.throws(() => openStore(newer), (e: Error) =>
      e.message.includes(newer) && e.message.includes(`schema version ${STORE_SCHEMA_VERSION + 1}`) && /Upgrade dytlab/.test(e.message));

    assert.throws(() => openStore(TMP), /is a directory/);
    assert.throws(() => openStore(join(TMP, 'missing.sqlite'), { readonly: true }), /does not exist/);
  });

  test('a new store is in WAL mode with a busy timeout and records its schema version', () => {
    const path = freshPath();
    openStore(path).close();
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.deepEqual(db.prepare("SELECT value FROM meta WHERE key IN ('app', 'schema_version') ORDER BY key").pluck().all(),
        ['dytlab', String(STORE_SCHEMA_VERSION)]);
    } finally {
      db.close();
    }
    const store = openStore(path);
    try {
      assert.equal((store as unknown as { db: { sqlite: InstanceType<typeof Database> } }).db.sqlite.pragma('busy_timeout', { simple: true }), 30_000);
    } finally {
      store.close();
    }
    assert.throws(() => store.listRuns(), /is closed/);
  });

  test('the store path: argument, else $DYTLAB_STORE, else runs/dytlab.sqlite under the cwd', () => {
    const saved = process.env.DYTLAB_STORE;
    try {
      delete process.env.DYTLAB_STORE;
      assert.equal(resolveStorePath(), join(process.cwd(), 'runs', 'dytlab.sqlite'));
      const envPath = freshPath('env');
      process.env.DYTLAB_STORE = envPath;
      assert.equal(resolveStorePath(), envPath);
      assert.equal(resolveStorePath('x/y.sqlite'), join(process.cwd(), 'x', 'y.sqlite'));
      const store = openStore();
      try {
        assert.equal(store.path, envPath);
      } finally {
        store.close();
      }
    } finally {
      if (saved === undefined) delete process.env.DYTLAB_STORE;
      else process.env.DYTLAB_STORE = saved;
    }
  });
});
