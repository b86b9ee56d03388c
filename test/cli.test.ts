// The command line's conventions: --help on every command, misuse exits 2 and
// names the problem, --opt=value, did-you-mean, and values that are really
// flags refused (an unset $STORE must not make a store named "--dry-run").
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../src/cli.js';

const ROOT = join(__dirname, '..');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-cli-'));
after(() => rmSync(TMP, { recursive: true, force: true }));
const TINY_SWEEP = join(ROOT, 'configs', 'sweeps', 'tiny.json');

/** `dytlab ARGS` in this process, output captured. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const io = {
    stdout: { write: (s: string) => { out += s; return true; } },
    stderr: { write: (s: string) => { err += s; return true; } },
  };
  const code = await main(args, io);
  return { code, out, err };
}

/** A one-layer LM on a Markov chain: trains in a second or two. */
function tinyConfig(): string {
  const file = join(TMP, `tiny-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({
    name: 'cli-tiny',
    model: { kind: 'lm', context: 8, dModel: 8, nLayers: 1, nHeads: 2, mlp: 'gelu', norm: { kind: 'rmsnorm' } },
    data: { dataset: 'markov', vocabSize: 8, branching: 2, length: 400 },
    train: { steps: 2, batchSize: 2, lr: 0.01, warmupSteps: 1, evalEvery: 2, evalBatches: 1 },
  }));
  return file;
}

describe('help, version and usage', () => {
  for (const cmd of [['doctor'], ['train'], ['sweep'], ['store'], ['store', 'ls'], ['store', 'merge'], ['run'], ['reproduce'],
    ['kernel'], ['kernel', 'install'], ['kernel', 'list'], ['kernel', 'remove'], ['inspect'], ['completion']]) {
    test(`dytlab ${cmd.join(' ')} --help prints its usage and exits 0`, async () => {
      for (const flag of ['--help', '-h']) {
        const r = await cli([...cmd, flag]);
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, new RegExp(`^Usage: dytlab ${cmd.join(' ')}[ |]`));
        assert.match(r.out, /Options:/);
      }
    });
  }

  test('bare dytlab prints usage on stderr and exits 2', async () => {
    const r = await cli([]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^Usage: dytlab /);
    assert.match(r.err, /Commands:[\s\S]*train[\s\S]*sweep/);
  });

  test('--version prints the package version', async () => {
    const r = await cli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.out.trim(), require('../package.json').version);
  });

  test('an unknown option exits 2, names it and suggests the close one', async () => {
    const r = await cli(['sweep', TINY_SWEEP, '--dryrun']);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown option '--dryrun'/);
    assert.match(r.err, /Did you mean --dry-run\?/);
    const s = await cli(['store', 'ls', '--stor', 'x']);
    assert.equal(s.code, 2);
    assert.match(s.err, /Did you mean --store\?/);
  });

  test('an unknown command exits 2 and suggests the close one', async () => {
    const r = await cli(['trian']);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown command 'trian'/);
    assert.match(r.err, /Did you mean train\?/);
  });

  test('missing arguments and bad values exit 2 naming the option', async () => {
    for (const [args, pattern] of [
      [['run'], /missing required argument 'notebooks'/],
      [['sweep'], /missing required argument 'file'/],
      [['sweep', TINY_SWEEP, '--jobs', '0'], /--jobs <n>.*'0' is invalid/],
      [['run', 'x.ipynb', '--timeout', 'soon'], /--timeout <seconds>.*'soon' is invalid/],
      [['reproduce', '--profile', 'huge'], /--profile.*'huge' is invalid.*quick, full/],
      [['store', 'ls', '--status', 'sleeping'], /'sleeping' is invalid.*finished/],
      [['train'], /give --config FILE/],
      [['kernel', 'install', '--user', '--prefix', TMP], /'--user' cannot be used with option '--prefix/],
    ] as [string[], RegExp][]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, pattern, args.join(' '));
    }
  });

  test('bin/dytlab: the built command exits 2 on misuse and 0 on --help', () => {
    const bin = join(ROOT, 'bin', 'dytlab.js');
    const bad = spawnSync(process.execPath, [bin, 'sweep', '--frobnicate'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /unknown option '--frobnicate'/);
    const bare = spawnSync(process.execPath, [bin], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(bare.status, 2);
    const help = spawnSync(process.execPath, [bin, 'train', '--help'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /--config <file>/);
  });
});

describe('values are values, flags are flags', () => {
  test('a flag after --store is not taken as the store (sweep --store --dry-run)', async () => {
    const before = readdirSync(ROOT);
    const r = await cli(['sweep', TINY_SWEEP, '--store', '--dry-run']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--store <path>.*'--dry-run' is an option, not a value/);
    assert.ok(!existsSync(join(ROOT, '--dry-run')), 'a store file named --dry-run was created');
    assert.deepEqual(readdirSync(ROOT), before);
  });

  test('train --store --quiet and train --store "" are refused before anything runs', async () => {
    const cfg = tinyConfig();
    const q = await cli(['train', '--config', cfg, '--store', '--quiet']);
    assert.equal(q.code, 2);
    assert.match(q.err, /'--quiet' is an option, not a value/);
    assert.ok(!existsSync(join(ROOT, '--quiet')));
    const e = await cli(['train', '--config', cfg, '--store', '']);
    assert.equal(e.code, 2);
    assert.match(e.err, /--store <path>.*The value is empty/);
  });

  test('--opt=value works (train --config=FILE --store=PATH --set=k=v)', async () => {
    const cfg = tinyConfig(), store = join(TMP, 'eq.sqlite');
    const r = await cli(['train', `--config=${cfg}`, `--store=${store}`, '--set=train.steps=3', '--quiet']);
    assert.equal(r.code, 0, r.err);
    assert.ok(existsSync(store), 'the store named with --store= was not written');
    const ls = await cli(['store', 'ls', `--store=${store}`, '--json']);
    assert.equal(ls.code, 0, ls.err);
    const rows = JSON.parse(ls.out) as { name: string; steps: number; status: string }[];
    assert.deepEqual(rows.map((x) => [x.name, x.status, x.steps]), [['cli-tiny', 'finished', 3]]);
  });

  test('--set __proto__.x=1 is refused without touching Object.prototype', async () => {
    const cfg = tinyConfig();
    for (const key of ['__proto__.polluted', 'model.__proto__.polluted', 'constructor.prototype.polluted']) {
      await assert.rejects(cli(['train', '--config', cfg, '--set', `${key}=1`, '--store', join(TMP, 'p.sqlite')]),
        /cannot be set \(it is not a config field\)/);
      assert.equal(({} as Record<string, unknown>).polluted, undefined, `${key} polluted Object.prototype`);
    }
  });

  test("a sweep file's set and axes cannot reach Object.prototype", async () => {
    for (const field of ['set', 'axes']) {
      const file = join(TMP, `proto-${field}.json`);
      const value = field === 'set' ? 1 : [1, 2];
      writeFileSync(file, `{"name": "p", "base": ${JSON.stringify(join(ROOT, 'configs', 'lm-tiny.json'))}, "${field}": {"__proto__.polluted": ${JSON.stringify(value)}}}`);
      const r = await cli(['sweep', file, '--dry-run', '--store', join(TMP, 'none.sqlite')]).catch((e: Error) => ({ code: 1, out: '', err: e.message }));
      assert.notEqual(r.code, 0);
      assert.match(r.err, /'__proto__' cannot be set/);
      assert.equal(({} as Record<string, unknown>).polluted, undefined, `the sweep file's ${field} polluted Object.prototype`);
    }
  });
});

describe('shell completion', () => {
  test('dytlab completion completes commands, subcommands and options in bash', async () => {
    const r = await cli(['completion']);
    assert.equal(r.code, 0, r.err);
    const script = join(TMP, 'completion.bash');
    writeFileSync(script, r.out);
    const probe = `source ${JSON.stringify(script)}
t() { COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _dytlab_complete; echo "\${COMPREPLY[*]}"; }
t dytlab s; t dytlab store ""; t dytlab store ls --st; t dytlab sweep x.json --dr; t dytlab kernel un`;
    const b = spawnSync('bash', ['-c', probe], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(b.status, 0, b.stderr);
    assert.deepEqual(b.stdout.trim().split('\n'), ['sweep study store', 'merge ls', '--store --status', '--dry-run', 'uninstall']);
  });
});

describe('sweep memory check', () => {
  test('a combination over the memory limit stops the sweep before anything is written, naming it', async () => {
    const file = join(TMP, 'huge-sweep.json'), store = join(TMP, 'huge.sqlite');
    writeFileSync(file, JSON.stringify({
      name: 'huge',
      base: {
        model: { kind: 'lm', context: 16, dModel: 16, nLayers: 1, nHeads: 2, mlp: 'gelu', norm: { kind: 'rmsnorm' } },
        data: { dataset: 'markov', vocabSize: 16, branching: 3, length: 400 },
        train: { steps: 2, batchSize: 2, lr: 0.01, warmupSteps: 1 },
      },
      axes: { 'model.dModel': [16, 65536] },
    }));
    await assert.rejects(cli(['sweep', file, '--store', store, '--jobs', '2', '--quiet']),
      /combination #1.*model\.dModel = 65536[\s\S]*each worker gets 1\/2/);
    assert.ok(!existsSync(store), 'the store was created before the memory check');
  });
});
