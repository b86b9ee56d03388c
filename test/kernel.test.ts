// The dytlab Jupyter kernel (kernel/): the in-process Session, `dytlab kernel
// install|list|remove`, and the kernel driven by the real Jupyter client
// (nbconvert/nbclient and jupyter_client, Python). Needs `npm run build`
// (dist/kernel/, dist/cli/); the Jupyter parts need a Python 3 with nbclient,
// jupyter_client, nbconvert and nbformat (DYTLAB_PYTHON, python3 or /usr/bin/python3):
// without one they fail, saying what to install (.ci/run installs Debian's packages).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

const ROOT = join(__dirname, '..');
const FIXTURES = join(__dirname, 'fixtures');
const KERNEL_MAIN = join(ROOT, 'dist', 'kernel', 'main.js');
const CLI = join(ROOT, 'bin', 'dytlab.js');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-kernel-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

function findPython(): string | null {
  for (const py of [process.env.DYTLAB_PYTHON, 'python3', '/usr/bin/python3', 'python']) {
    if (!py) continue;
    const r = spawnSync(py, ['-c', 'import nbclient, jupyter_client, nbconvert, nbformat'], { timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return null;
}
const PYTHON = findPython();
function needPython(): string {
  if (!PYTHON) {
    throw new Error('no Python 3 with nbclient, jupyter_client, nbconvert, nbformat: apt-get install python3-nbclient ' +
      'jupyter-client python3-nbconvert python3-nbformat (as .ci/run does), or set DYTLAB_PYTHON');
  }
  return PYTHON;
}

/** Jupyter's paths, all inside TMP: the kernelspec under <prefix>/share/jupyter, nothing from the user's setup. */
function jupyterEnv(prefix: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    JUPYTER_PATH: join(prefix, 'share', 'jupyter'),
    JUPYTER_DATA_DIR: join(TMP, 'user-data'),
    JUPYTER_CONFIG_DIR: join(TMP, 'config'),
    JUPYTER_RUNTIME_DIR: join(TMP, 'runtime'),
    PYDEVD_DISABLE_FILE_VALIDATION: '1',
  };
}

/** `dytlab kernel ...` through the built CLI. */
function kernelCli(args: string[], env: NodeJS.ProcessEnv = process.env): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [CLI, 'kernel', ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
}

function installInto(prefix: string): void {
  const r = kernelCli(['install', '--prefix', prefix]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
}

test('the kernel is built (npm run build)', () => {
  for (const f of [KERNEL_MAIN, join(ROOT, 'dist', 'kernel', 'session.js'), join(ROOT, 'dist', 'kernel', 'control-worker.js'), join(ROOT, 'dist', 'cli', 'kernelspec.js')]) {
    assert.ok(existsSync(f), `${f} is missing: run npm run build`);
  }
});

describe('session (in-process, tslab converter + executor)', () => {
  let r: Record<string, any>;
  before(() => {
    const out = join(TMP, 'probe.json');
    const outside = mkdtempSync(join(TMP, 'outside-'));
    const p = spawnSync(process.execPath, ['--import', 'tsx', join(FIXTURES, 'kernel-session-probe.ts'), out, outside],
      { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
    assert.equal(p.status, 0, `probe failed: ${p.stdout}${p.stderr}${existsSync(out) ? readFileSync(out, 'utf8') : ''}`);
    r = JSON.parse(readFileSync(out, 'utf8'));
  });

  /** Stream events with consecutive ones of the same stream joined (a stalled machine may split a flush). */
  const streams = (ev: any[]) => ev.filter((e) => e.type === 'stream').reduce((acc: [string, string][], e) => {
    const last = acc[acc.length - 1];
    if (last && last[0] === e.name) last[1] += e.text;
    else acc.push([e.name, e.text]);
    return acc;
  }, []);

  test('stdout and stderr written during a cell become stream events; the last value a result', () => {
    assert.deepEqual(streams(r.streams.events), [['stdout', 'out 1\nraw\n'], ['stderr', 'err\nraw err\n']]);
    assert.deepEqual(r.result.events, [{ type: 'result', data: { 'text/plain': '2' }, metadata: {} }]);
    assert.deepEqual(r.result.reply, { status: 'ok', executionCount: 2 });
    assert.deepEqual(r.nullish.events, [], 'undefined shows nothing');
    assert.deepEqual(streams(r.coalesced.events), [['stdout', '0\n1\n2\n3\n4\n']]);
    assert.ok(r.coalesced.events.length <= 2, `quick writes are coalesced: ${r.coalesced.events.length} events`);
  });

  test('compile errors name the cell line and column', () => {
    const [e] = r.compile.events;
    assert.equal(r.compile.reply.status, 'error');
    assert.equal(e.type, 'error');
    assert.equal(e.ename, 'CompileError');
    assert.match(e.evalue, /^TS2322: Type 'string' is not assignable to type 'number'\. \(line 3, column 7\)$/);
    assert.equal(e.traceback[0], "In[5]:3:7 - error TS2322: Type 'string' is not assignable to type 'number'.");
    assert.ok(e.traceback.includes("3 | const c: number = 'three';"), e.traceback.join('\n'));
  });

  test('runtime errors: ename, evalue, and a traceback in cell lines', () => {
    const [e] = r.runtime.events;
    assert.equal(e.ename, 'RangeError');
    assert.equal(e.evalue, 'v is 1');
    assert.deepEqual(e.traceback.slice(0, 3), ['RangeError: v is 1', '    at f (In[6]:5:11)', '    at In[6]:8:4']);
    assert.ok(!e.traceback.some((l: string) => /tslab|node:vm|evalmachine/.test(l)), e.traceback.join('\n'));
  });

  test('timeoutMs stops a busy loop and a pending await with TimeoutError; variables survive', () => {
    for (const k of ['timeoutBusy', 'timeoutAwait']) {
      assert.equal(r[k].reply.status, 'error', k);
      assert.deepEqual(r[k].events.map((e: any) => [e.ename, e.evalue]), [['TimeoutError', 'cell exceeded 1 s']], k);
      assert.ok(r[k].ms < 5000, `${k} took ${r[k].ms} ms`);
    }
    assert.deepEqual(r.afterTimeout.events, [{ type: 'result', data: { 'text/plain': '42' }, metadata: {} }]);
  });

  test('interrupt() stops a pending await', () => {
    assert.equal(r.interruptAwait.reply.status, 'error');
    assert.equal(r.interruptAwait.events[0].ename, 'InterruptError');
    assert.ok(r.interruptAwait.ms < 5000);
  });

  test("displays (tslab's display; dytlab's display() when exported) become display/update/clear events", () => {
    const ev = r.tslabDisplay.events;
    assert.deepEqual(ev[0], { type: 'display', data: { 'text/html': '<i>x</i>' }, metadata: {} });
    assert.equal(ev[1].type, 'display');
    assert.equal(ev[2].type, 'update');
    assert.ok(ev[1].displayId && ev[1].displayId === ev[2].displayId);
    assert.deepEqual(ev[2].data, { 'text/plain': 'second' });
    if (r.hasDytlabDisplay) {
      const d = r.dytlabDisplay.events;
      assert.deepEqual(d.map((e: any) => e.type), ['display', 'update', 'clear'], JSON.stringify(d));
      assert.equal(d[0].displayId, d[1].displayId);
      assert.equal(d[2].wait, true);
    }
  });

  test('silent cells show no result and take no execution count; complete, inspect, isComplete', () => {
    assert.deepEqual(r.silent.events, []);
    assert.equal(r.silent.reply.executionCount, r.countBeforeSilent);
    assert.equal(r.countAfterSilent, r.countBeforeSilent);
    assert.deepEqual(r.complete, { matches: ['toFixed'], cursorStart: 2, cursorEnd: 6 });
    assert.deepEqual(r.inspect, { found: true, data: { 'text/plain': 'const x: number' } });
    assert.deepEqual(r.isComplete, [{ status: 'incomplete', indent: '  ' }, { status: 'complete' }, { status: 'invalid' }]);
  });

  test("a notebook folder outside the project still imports 'dytlab' and sees @types/node", () => {
    assert.deepEqual(r.outside.reply, { status: 'ok', executionCount: 1 }, JSON.stringify(r.outside.events));
    const res = r.outside.events.find((e: any) => e.type === 'result');
    assert.equal(res?.data['text/plain'], "[ 'function', 4, 'string' ]");
  });
});

describe('dytlab kernel install | list | remove', () => {
  test('install --prefix writes kernel.json (this Node, dist/kernel/main.js) and logos; list shows it', () => {
    const prefix = join(TMP, 'prefix-install');
    installInto(prefix);
    const dir = join(prefix, 'share', 'jupyter', 'kernels', 'dytlab');
    const spec = JSON.parse(readFileSync(join(dir, 'kernel.json'), 'utf8'));
    assert.deepEqual(spec.argv, [process.execPath, KERNEL_MAIN, '{connection_file}']);
    assert.equal(spec.display_name, 'TypeScript (dytlab)');
    assert.equal(spec.language, 'typescript');
    assert.equal(spec.interrupt_mode, 'message');
    for (const logo of ['logo-32x32.png', 'logo-64x64.png']) {
      assert.deepEqual([...readFileSync(join(dir, logo)).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], logo);
    }
    assert.match(readFileSync(join(dir, 'logo-svg.svg'), 'utf8'), /^<svg /);
    const env = { ...process.env, JUPYTER_PATH: join(prefix, 'share', 'jupyter'), JUPYTER_DATA_DIR: join(TMP, 'empty-user') };
    const list = kernelCli(['list'], env);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`dytlab\\s+${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.ok(list.stdout.includes(JSON.stringify(spec.argv)), list.stdout);
    const json = JSON.parse(kernelCli(['list', '--json'], env).stdout);
    assert.deepEqual(json.kernelspecs.dytlab.spec.argv, spec.argv);
    assert.equal(json.kernelspecs.dytlab.resource_dir, dir);
  });

  test('--user honours JUPYTER_DATA_DIR; --name; remove; bad options fail', () => {
    const data = join(TMP, 'user-install');
    const env = { ...process.env, JUPYTER_DATA_DIR: data, JUPYTER_PATH: '' };
    let r = kernelCli(['install', '--user', '--name', 'dytlab-test'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(data, 'kernels', 'dytlab-test', 'kernel.json')));
    assert.match(kernelCli(['list'], env).stdout, /dytlab-test/);
    r = kernelCli(['remove', '--user', '--name', 'dytlab-test'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!existsSync(join(data, 'kernels', 'dytlab-test')));
    r = kernelCli(['remove', '--user', '--name', 'dytlab-test'], env);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no kernelspec 'dytlab-test'/);
    r = kernelCli(['install', '--user', '--prefix', data], env);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /'--user' cannot be used with option '--prefix/);
    assert.equal(kernelCli(['frobnicate']).status, 2);
  });

  test('bin/dytlab kernel is wired into the CLI', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'dytlab.js'), 'kernel', 'list', '--json'],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, JUPYTER_PATH: join(TMP, 'none') } });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(JSON.parse(r.stdout).kernelspecs);
  });
});

describe('Jupyter: nbconvert --execute (nbclient)', () => {
  const prefix = join(TMP, 'prefix-nbconvert');
  const outDir = join(TMP, 'nbconvert-out');
  const nbconvert = (extra: string[], output: string) => spawnSync(needPython(), [
    '-m', 'nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.kernel_name=dytlab',
    '--ExecutePreprocessor.timeout=120', '--ExecutePreprocessor.startup_timeout=120', ...extra,
    '--output-dir', outDir, '--output', output, join(FIXTURES, 'kernel-basic.ipynb'),
  ], { cwd: ROOT, env: jupyterEnv(prefix), encoding: 'utf8', timeout: 240_000 });
  let nb: any;
  before(() => {
    installInto(prefix);
    mkdirSync(outDir, { recursive: true });
    const r = nbconvert(['--allow-errors'], 'allow-errors.ipynb');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    nb = JSON.parse(readFileSync(join(outDir, 'allow-errors.ipynb'), 'utf8'));
  });
  const code = () => nb.cells.filter((c: any) => c.cell_type === 'code');
  const outputs = (i: number) => code()[i].outputs as any[];

  test('every code cell has its execution count; language_info declares typescript for pygments', () => {
    assert.deepEqual(code().map((c: any) => c.execution_count), code().map((_: unknown, i: number) => i + 1));
    const li = nb.metadata.language_info;
    assert.equal(li.name, 'typescript');
    assert.equal(li.pygments_lexer, 'typescript');
    assert.equal(li.file_extension, '.ts');
    assert.match(li.version, /^5\.\d+\.\d+$/);
  });

  test('stream outputs, the bare expression as execute_result, dytlab, a display', () => {
    assert.deepEqual(outputs(1).map((o) => [o.output_type, o.name, [o.text].flat().join('')]), [['stream', 'stdout', 'hello 42\n'], ['stream', 'stderr', 'to stderr\n']]);
    const [res] = outputs(2);
    assert.equal(res.output_type, 'execute_result');
    assert.equal(res.execution_count, 3);
    assert.equal([res.data['text/plain']].flat().join(''), '42');
    assert.deepEqual(outputs(3).map((o) => [o.output_type, [o.text].flat().join('')]), [['stream', 'dyt 2x4\n']]);
    assert.equal(outputs(4)[0].output_type, 'display_data');
    assert.equal([outputs(4)[0].data['text/html']].flat().join(''), '<b>rich</b> output');
  });

  test('the throwing cell has an error output with ename, evalue and a traceback in cell lines', () => {
    const [err] = outputs(5);
    assert.equal(err.output_type, 'error');
    assert.equal(err.ename, 'RangeError');
    assert.equal(err.evalue, 'alpha 21 out of range');
    assert.equal(err.traceback[0], 'RangeError: alpha 21 out of range');
    assert.equal(err.traceback[1], '    at check (In[6]:3:11)');
  });

  test('with --allow-errors the cells after the error ran, with their outputs (a compile error too)', () => {
    assert.deepEqual(outputs(6).map((o) => [o.output_type, [o.text].flat().join('')]), [['stream', 'after 22\n']]);
    const [compile] = outputs(7);
    assert.equal(compile.output_type, 'error');
    assert.equal(compile.ename, 'CompileError');
    assert.match(compile.evalue, /TS2322.*\(line 1, column 7\)/);
    const [last] = outputs(8);
    assert.equal(last.output_type, 'execute_result');
    assert.equal([last.data['text/plain']].flat().join(''), '44');
  });

  test('without --allow-errors nbconvert stops at the error and reports it', () => {
    const r = nbconvert([], 'stops.ipynb');
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /RangeError/);
    assert.match(r.stdout + r.stderr, /alpha 21 out of range/);
  });
});

// A jupyter_client session: interrupts, request types, restart, shutdown.
const CLIENT_PY = String.raw`
import json, os, queue, signal, sys, time
from jupyter_client.manager import KernelManager

out = {}
km = KernelManager(kernel_name='dytlab')
t0 = time.time()
km.start_kernel(cwd=os.environ['KERNEL_CWD'])
kc = km.client()
kc.start_channels()
pending = {}

def pull(timeout):
    msg = kc.get_iopub_msg(timeout=timeout)
    pending.setdefault(msg['parent_header'].get('msg_id'), []).append(msg)

def collect(msg_id, timeout=60):
    """iopub messages of one request up to its idle status (other requests' messages wait their turn)."""
    outputs, deadline = [], time.time() + timeout
    while True:
        box = pending.setdefault(msg_id, [])
        while box:
            msg = box.pop(0)
            if msg['msg_type'] == 'status':
                if msg['content']['execution_state'] == 'idle':
                    return outputs
                continue
            outputs.append({'msg_type': msg['msg_type'], 'content': msg['content']})
        pull(max(0.1, deadline - time.time()))

def wait_running(msg_id, timeout=60):
    deadline = time.time() + timeout
    while not any(m['msg_type'] == 'execute_input' for m in pending.get(msg_id, [])):
        pull(max(0.1, deadline - time.time()))

def shell_reply(msg_id, timeout=60):
    deadline = time.time() + timeout
    while True:
        msg = kc.get_shell_msg(timeout=max(0.1, deadline - time.time()))
        if msg['parent_header'].get('msg_id') == msg_id:
            return {'msg_type': msg['msg_type'], 'content': msg['content']}

def execute(code, timeout=60, **kw):
    msg_id = kc.execute(code, **kw)
    return {'reply': shell_reply(msg_id, timeout), 'iopub': collect(msg_id, timeout)}

def interrupted(code, how):
    msg_id = kc.execute(code)
    wait_running(msg_id)
    time.sleep(2.5)
    beating = kc.hb_channel.is_beating()  # the heartbeat answers while the cell blocks the main thread
    t = time.time()
    how()
    reply = shell_reply(msg_id, timeout=10)
    return {'reply': reply, 'seconds': round(time.time() - t, 2), 'iopub': collect(msg_id, 10), 'beating': beating}

try:
    kc.wait_for_ready(timeout=120)
    out['startup_s'] = round(time.time() - t0, 2)
    info = kc.kernel_info(reply=True, timeout=30)
    out['kernel_info'] = {'msg_type': info['msg_type'], 'content': info['content']}
    out['kept'] = execute('const kept = 41')
    out['interrupt_busy'] = interrupted('let i = 0; while (true) { i++ }', km.interrupt_kernel)
    out['interrupt_await'] = interrupted('await new Promise((r) => setTimeout(r, 60000))', km.interrupt_kernel)
    out['interrupt_signal'] = interrupted('let j = 0; while (true) { j++ }', lambda: km.signal_kernel(signal.SIGINT))
    out['after_interrupt'] = execute('kept + 1')
    ids = [kc.execute(c, stop_on_error=False) for c in ['const p1 = 1', 'throw new TypeError("bad p")', 'p1 + 10']]
    out['pipelined_no_stop'] = [{'reply': shell_reply(i), 'iopub': collect(i)} for i in ids]
    # The failing cell awaits first, so the two requests behind it are surely read and queued (even on a loaded machine).
    ids = [kc.execute(c, stop_on_error=True) for c in ['await new Promise((r) => setTimeout(r, 1500)); throw new Error("stop")', 'const never = 1', 'kept']]
    out['pipelined_stop'] = [{'reply': shell_reply(i), 'iopub': collect(i)} for i in ids]
    out['after_abort'] = execute('kept * 2')
    out['stream'] = execute('for (let k = 0; k < 5; k++) console.log(k)')
    r = kc.complete('kept.toFi', 9, reply=True, timeout=30)
    out['complete'] = {'msg_type': r['msg_type'], 'content': r['content']}
    r = kc.inspect('kept', 2, reply=True, timeout=30)
    out['inspect'] = {'msg_type': r['msg_type'], 'content': r['content']}
    out['is_complete'] = [shell_reply(kc.is_complete(c), 30) for c in ['function f() {', '1 + 1']]
    r = kc.comm_info(reply=True, timeout=30)
    out['comm_info'] = {'msg_type': r['msg_type'], 'content': r['content']}
    r = kc.history(reply=True, timeout=30)
    out['history'] = {'msg_type': r['msg_type'], 'content': r['content']}
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=120)
    out['after_restart'] = execute('typeof kept')
    out['after_restart_2'] = execute('1 + 1')
    msg_id = kc.shutdown()
    deadline = time.time() + 20
    while time.time() < deadline and 'shutdown_reply' not in out:
        try:
            m = kc.get_control_msg(timeout=1)
        except queue.Empty:
            continue
        if m['parent_header'].get('msg_id') == msg_id:
            out['shutdown_reply'] = {'msg_type': m['msg_type'], 'content': m['content']}
    deadline = time.time() + 15
    while km.is_alive() and time.time() < deadline:
        time.sleep(0.2)
    out['exited'] = not km.is_alive()
except Exception as e:
    out['exception'] = repr(e)
finally:
    kc.stop_channels()
    if km.has_kernel and km.is_alive():
        km.shutdown_kernel(now=True)
    json.dump(out, sys.stdout)
`;

describe('Jupyter: jupyter_client (KernelManager)', () => {
  let r: Record<string, any>;
  before(() => {
    const prefix = join(TMP, 'prefix-client');
    installInto(prefix);
    const script = join(TMP, 'kernel-client.py');
    writeFileSync(script, CLIENT_PY);
    const p = spawnSync(needPython(), [script], { cwd: ROOT, env: { ...jupyterEnv(prefix), KERNEL_CWD: FIXTURES }, encoding: 'utf8', timeout: 300_000 });
    assert.equal(p.status, 0, p.stderr);
    r = JSON.parse(p.stdout);
    assert.equal(r.exception, undefined, `${r.exception}\n${p.stderr}`);
  });

  test('kernel_info_reply: language_info, implementation, protocol 5.3', () => {
    assert.equal(r.kernel_info.msg_type, 'kernel_info_reply');
    const c = r.kernel_info.content;
    assert.equal(c.implementation, 'dytlab');
    assert.equal(c.protocol_version, '5.3');
    assert.deepEqual({ ...c.language_info, version: undefined }, {
      name: 'typescript', version: undefined, mimetype: 'text/typescript', file_extension: '.ts', pygments_lexer: 'typescript', codemirror_mode: 'typescript',
    });
    assert.match(c.language_info.version, /^5\.\d+\.\d+$/);
  });

  test('interrupt (interrupt_request on control, and SIGINT) stops a busy loop and a pending await; the kernel keeps its variables', () => {
    for (const k of ['interrupt_busy', 'interrupt_await', 'interrupt_signal']) {
      const x = r[k];
      assert.equal(x.reply.msg_type, 'execute_reply', k);
      assert.ok(['error', 'aborted'].includes(x.reply.content.status), `${k}: ${x.reply.content.status}`);
      assert.ok(x.seconds < 10, `${k}: ${x.seconds} s`);
      assert.equal(x.reply.content.ename, 'InterruptError', k);
      assert.equal(x.beating, true, `${k}: heartbeat while busy`);
    }
    const res = r.after_interrupt.iopub.find((m: any) => m.msg_type === 'execute_result');
    assert.equal(res.content.data['text/plain'], '42');
  });

  test('execute_input / execute_result carry execution counts', () => {
    assert.deepEqual(r.kept.reply.content, { status: 'ok', execution_count: 1, user_expressions: {}, payload: [] });
    assert.deepEqual(r.kept.iopub, [{ msg_type: 'execute_input', content: { code: 'const kept = 41', execution_count: 1 } }]);
    const res = r.after_interrupt.iopub.find((m: any) => m.msg_type === 'execute_result');
    assert.equal(res.content.execution_count, r.after_interrupt.reply.content.execution_count);
  });

  test('pipelined requests after a failing one run (stop_on_error false); with stop_on_error only those already queued abort', () => {
    const [a, b, c] = r.pipelined_no_stop;
    assert.equal(a.reply.content.status, 'ok');
    assert.equal(b.reply.content.status, 'error');
    assert.equal(b.reply.content.ename, 'TypeError');
    assert.equal(b.reply.content.evalue, 'bad p');
    assert.ok(b.iopub.some((m: any) => m.msg_type === 'error' && m.content.ename === 'TypeError'));
    assert.equal(c.reply.content.status, 'ok');
    assert.equal(c.iopub.find((m: any) => m.msg_type === 'execute_result').content.data['text/plain'], '11');
    assert.deepEqual(r.pipelined_stop.map((x: any) => x.reply.content.status), ['error', 'aborted', 'aborted']);
    assert.equal(r.after_abort.reply.content.status, 'ok');
    assert.equal(r.after_abort.iopub.find((m: any) => m.msg_type === 'execute_result').content.data['text/plain'], '82');
  });

  test('stream messages', () => {
    const text = r.stream.iopub.filter((m: any) => m.msg_type === 'stream').map((m: any) => m.content.text).join('');
    assert.equal(text, '0\n1\n2\n3\n4\n');
  });

  test('complete, inspect, is_complete, comm_info, history replies', () => {
    assert.equal(r.complete.msg_type, 'complete_reply');
    assert.deepEqual(r.complete.content, { status: 'ok', matches: ['toFixed'], cursor_start: 5, cursor_end: 9, metadata: {} });
    assert.equal(r.inspect.msg_type, 'inspect_reply');
    assert.deepEqual(r.inspect.content, { status: 'ok', found: true, data: { 'text/plain': 'const kept: 41' }, metadata: {} });
    assert.deepEqual(r.is_complete, [
      { msg_type: 'is_complete_reply', content: { status: 'incomplete', indent: '  ' } },
      { msg_type: 'is_complete_reply', content: { status: 'complete' } },
    ]);
    assert.deepEqual(r.comm_info, { msg_type: 'comm_info_reply', content: { status: 'ok', comms: {} } });
    assert.deepEqual(r.history, { msg_type: 'history_reply', content: { status: 'ok', history: [] } });
  });

  test('restart gives a fresh kernel; shutdown_request is answered and the kernel exits', () => {
    assert.equal(r.after_restart.reply.content.status, 'error', 'kept is gone after a restart');
    assert.equal(r.after_restart.reply.content.execution_count, 1);
    assert.equal(r.after_restart.reply.content.ename, 'CompileError');
    assert.equal(r.after_restart_2.reply.content.execution_count, 2);
    assert.deepEqual(r.shutdown_reply, { msg_type: 'shutdown_reply', content: { status: 'ok', restart: false } });
    assert.equal(r.exited, true);
  });
});
