// The kernel from a real notebook front end: Debian's classic Notebook 6 server
// (`jupyter-notebook`) on 127.0.0.1 with the dytlab kernelspec, driven in
// headless Chromium through playwright-core. The tour runs top to bottom (every
// code cell gets an execution count, the plotly figure is drawn as SVG), then
// cells added in the page check: a throwing cell shows its traceback, the
// interrupt button stops a long await loop and the variables survive, a display
// handle updated twice shows its last value once, and a restart gives a fresh
// kernel. Screenshots go to a folder under the OS temp dir (printed). Nothing is
// skipped: without the server or Chromium the test fails and says why.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, findChromium } from '../src/figures/chromium.js';

const ROOT = join(__dirname, '..');
const TMP = mkdtempSync(join(tmpdir(), 'dytlab-browser-'));
const ARTIFACTS = mkdtempSync(join(tmpdir(), 'dytlab-browser-artifacts-'));
const TOKEN = randomBytes(16).toString('hex');
const NB = 'tour.ipynb';

/** `jupyter-notebook` on PATH (Debian's package), or an Error saying how to get it. */
function notebookServer(): string {
  for (const d of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const p = join(d, 'jupyter-notebook');
    try { accessSync(p, constants.X_OK); return p; } catch { /* next */ }
  }
  throw new Error('jupyter-notebook (the classic Notebook 6 server) is not on PATH: apt-get install jupyter-notebook (as .ci/run does)');
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

/** Jupyter's paths, all inside TMP: the kernelspec under <prefix>/share/jupyter, nothing from the user's setup. */
function jupyterEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    JUPYTER_PATH: join(TMP, 'prefix', 'share', 'jupyter'),
    JUPYTER_DATA_DIR: join(TMP, 'data'),
    JUPYTER_CONFIG_DIR: join(TMP, 'config'),
    JUPYTER_RUNTIME_DIR: join(TMP, 'runtime'),
    IPYTHONDIR: join(TMP, 'ipython'),
    JUPYTER_NO_CONFIG: '1',
  };
}

let server: ChildProcess | undefined;
let serverLog = '';
let browser: Browser | undefined;
let page: Page;
let base = '';
let shot = 0;

/** A screenshot of the window with `selector` (or cell `index`) scrolled into view: Notebook 6 scrolls inside #site, not the page. */
async function screenshot(name: string, at?: number | string): Promise<void> {
  if (at !== undefined) {
    await page.evaluate((a) => {
      const el = typeof a === 'number' ? (window as any).Jupyter.notebook.get_cell(a)?.element[0] : document.querySelector(a);
      (el as HTMLElement | null)?.scrollIntoView({ block: 'center' });
    }, at).catch(() => undefined);
  }
  await page.screenshot({ path: join(ARTIFACTS, `${String(++shot).padStart(2, '0')}-${name}.png`) }).catch(() => undefined);
}

async function startServer(): Promise<void> {
  const exe = notebookServer();
  const install = spawnSync(process.execPath, [join(ROOT, 'bin', 'dytlab.js'), 'kernel', 'install', '--prefix', join(TMP, 'prefix')], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(install.status, 0, `dytlab kernel install --prefix failed: ${install.stderr}`);
  const nbdir = join(TMP, 'notebooks');
  mkdirSync(nbdir, { recursive: true });
  // The tour on its smoke profile (a browser cannot pass -p): what a front end opens, parameters edited by hand.
  const tour = JSON.parse(readFileSync(join(ROOT, 'notebooks', '00-tour.ipynb'), 'utf8')) as { cells: { metadata?: { tags?: string[] }; source: string | string[] }[] };
  const params = tour.cells.find((c) => c.metadata?.tags?.includes('parameters'))!;
  const src = [params.source].flat().join('');
  assert.match(src, /const profile: string = 'quick';/, 'the tour\'s parameters cell changed: update this test');
  params.source = src.replace("const profile: string = 'quick';", "const profile: string = 'smoke';");
  writeFileSync(join(nbdir, NB), JSON.stringify(tour));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(exe, [
    '--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0', `--notebook-dir=${nbdir}`,
    `--NotebookApp.token=${TOKEN}`, '--NotebookApp.password=', '--allow-root', '--NotebookApp.quit_button=False',
  ], { cwd: nbdir, env: jupyterEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => { serverLog = (serverLog + d.toString('utf8')).slice(-20_000); };
  server.stdout!.on('data', keep);
  server.stderr!.on('data', keep);
  let exited: string | undefined;
  server.once('exit', (code, signal) => { exited = `exited with ${signal ?? code}`; });
  const deadline = Date.now() + 300_000; // generous: a loaded machine; idle, it answers in ~2 s
  for (;;) {
    if (exited) throw new Error(`jupyter-notebook ${exited} before it answered:\n${serverLog.slice(-3000)}`);
    try {
      const r = await fetch(`${base}/api/kernelspecs?token=${TOKEN}`);
      if (r.ok) {
        const specs = await r.json() as { kernelspecs: Record<string, unknown> };
        assert.ok(specs.kernelspecs.dytlab, `the server does not list the dytlab kernelspec: ${JSON.stringify(Object.keys(specs.kernelspecs))}`);
        return;
      }
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`jupyter-notebook did not answer on ${base} within 300 s:\n${serverLog.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

before(async () => {
  await startServer();
  browser = await chromium.launch({ executablePath: findChromium(), args: [...CHROMIUM_ARGS], headless: true });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Generous limits for a loaded machine (idle, the page loads in about a second).
  page.setDefaultTimeout(120_000);
  page.setDefaultNavigationTimeout(300_000);
  page.on('pageerror', (e) => { serverLog += `\n[page error] ${e.message}`; });
  await page.goto(`${base}/notebooks/${NB}?token=${TOKEN}`, { waitUntil: 'load' });
  // The kernel has started and answered kernel_info.
  await page.waitForFunction(() => {
    const k = (window as any).Jupyter?.notebook?.kernel;
    return Boolean(k && k.is_connected() && k.info_reply && k.info_reply.status === 'ok');
  }, undefined, { timeout: 300_000 }).catch(async (e) => {
    await screenshot('kernel-not-ready');
    throw new Error(`the dytlab kernel did not become ready in the page: ${(e as Error).message}\n${serverLog.slice(-3000)}`);
  });
});

after(async () => {
  await browser?.close().catch(() => undefined);
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => { const t = setTimeout(r, 5000); server!.once('exit', () => { clearTimeout(t); r(undefined); }); });
    if (server.exitCode === null) server.kill('SIGKILL');
  }
  rmSync(TMP, { recursive: true, force: true });
  console.log(`notebook-browser screenshots: ${ARTIFACTS}`);
});

/** Appends a code cell with `source`, runs it, waits for its reply; returns its prompt number and output text. */
async function runNewCell(source: string, timeoutMs = 120_000): Promise<{ index: number; prompt: unknown; text: string; html: string }> {
  const index = await page.evaluate((src) => {
    const nb = (window as any).Jupyter.notebook;
    const cell = nb.insert_cell_at_bottom('code');
    cell.set_text(src);
    cell.execute();
    return nb.ncells() - 1;
  }, source);
  await waitCellDone(index, timeoutMs);
  return { index, ...(await cellState(index)) };
}

async function waitCellDone(index: number, timeoutMs: number): Promise<void> {
  // The prompt number comes with execute_reply on shell; the outputs come on iopub, which may
  // arrive later. The notebook marks a request's callbacks shell_done and iopub_done (code cells
  // keep them, clear_on_done false) once it has the reply and the iopub idle: wait for both.
  await page.waitForFunction((i) => {
    const J = (window as any).Jupyter;
    const cell = J.notebook.get_cell(i);
    if (typeof cell.input_prompt_number !== 'number') return false;
    const id = cell.last_msg_id;
    const cb = id ? J.notebook.kernel._msg_callbacks[id] : undefined;
    return !cb || (cb.shell_done && cb.iopub_done);
  }, index, { timeout: timeoutMs, polling: 200 });
}

async function cellState(index: number): Promise<{ prompt: unknown; text: string; html: string }> {
  return page.evaluate((i) => {
    const cell = (window as any).Jupyter.notebook.get_cell(i);
    const out = cell.output_area.element[0] as HTMLElement;
    return { prompt: cell.input_prompt_number, text: out.innerText, html: out.innerHTML };
  }, index);
}

describe('the dytlab kernel in classic Jupyter Notebook (headless Chromium)', () => {
  test('Run All: every code cell gets an execution count, the figure is drawn as SVG', { timeout: 900_000 }, async () => {
    await screenshot('opened');
    await page.evaluate(() => (window as any).Jupyter.notebook.execute_all_cells());
    const done = await page.waitForFunction(() => {
      const cells = (window as any).Jupyter.notebook.get_cells().filter((c: any) => c.cell_type === 'code');
      const errored = cells.some((c: any) => c.output_area.outputs.some((o: any) => o.output_type === 'error'));
      const k = (window as any).Jupyter.notebook.kernel;
      // (Inline: a named function here would be wrapped in tsx's __name, which the page lacks.)
      return errored || cells.every((c: any) => typeof c.input_prompt_number === 'number' && (!k._msg_callbacks[c.last_msg_id] || (k._msg_callbacks[c.last_msg_id].shell_done && k._msg_callbacks[c.last_msg_id].iopub_done))) ? { errored } : false;
    }, undefined, { timeout: 840_000, polling: 500 });
    await screenshot('run-all-figure', '#notebook .output_area svg.main-svg');
    const state = await page.evaluate(() => {
      const cells = (window as any).Jupyter.notebook.get_cells().filter((c: any) => c.cell_type === 'code');
      return {
        prompts: cells.map((c: any) => c.input_prompt_number),
        domPrompts: cells.map((c: any) => (c.element[0].querySelector('.input_prompt') as HTMLElement).innerText.replace(/\s+/g, ' ').trim()),
        errors: cells.flatMap((c: any) => c.output_area.outputs.filter((o: any) => o.output_type === 'error').map((o: any) => `${o.ename}: ${o.evalue}`)),
        svgs: document.querySelectorAll('#notebook .output_area svg.main-svg').length,
        fallbackText: Array.from(document.querySelectorAll('#notebook .dytlab-plotly')).map((e) => (e.querySelector('svg') ? '' : (e as HTMLElement).innerText)).filter(Boolean),
        tables: document.querySelectorAll('#notebook .output_area table').length,
      };
    });
    assert.deepEqual(state.errors, [], 'no cell of the tour fails');
    assert.ok(!(await done.jsonValue() as { errored: boolean }).errored);
    assert.deepEqual(state.prompts, state.prompts.map((_: unknown, i: number) => i + 1), `execution counts 1..n in order: ${JSON.stringify(state.prompts)}`);
    assert.deepEqual(state.domPrompts, state.prompts.map((n: number) => `In [${n}]:`), 'the page shows the counts');
    assert.ok(state.svgs >= 1, 'the plotly figure is drawn (svg.main-svg in the page)');
    assert.deepEqual(state.fallbackText, [], 'no figure shows the text fallback');
    assert.ok(state.tables >= 1, 'the tour\'s tables are shown as HTML tables');
  });

  test('a throwing cell shows its traceback', { timeout: 180_000 }, async () => {
    const r = await runNewCell("function inner() { throw new Error('boom from the browser test'); }\ninner();");
    await screenshot('traceback', r.index);
    assert.equal(typeof r.prompt, 'number');
    assert.match(r.text, /boom from the browser test/);
    assert.match(r.text, /inner/, 'the traceback names the function');
    assert.match(r.html, /output_error/, 'shown as an error output');
  });

  test('the interrupt button stops a long cell; the variables survive', { timeout: 240_000 }, async () => {
    const kept = await runNewCell('const kept = 41 + 1;\nlet ticks = 0;\nkept');
    assert.match(kept.text, /42/);
    // 120 s of awaiting unless interrupted.
    const index = await page.evaluate(() => {
      const nb = (window as any).Jupyter.notebook;
      const cell = nb.insert_cell_at_bottom('code');
      cell.set_text('for (let i = 0; i < 1200; i++) { ticks++; await new Promise((r) => setTimeout(r, 100)); }\n"not interrupted"');
      cell.execute();
      return nb.ncells() - 1;
    });
    await page.waitForFunction(() => document.querySelector('#kernel_indicator_icon')?.classList.contains('kernel_busy_icon'), undefined, { timeout: 60_000 });
    await new Promise((r) => setTimeout(r, 2000));
    const t0 = Date.now();
    await page.click('button[data-jupyter-action="jupyter-notebook:interrupt-kernel"]');
    await waitCellDone(index, 60_000);
    const stoppedAfter = Date.now() - t0;
    const s = await cellState(index);
    await screenshot('interrupted', index);
    assert.ok(stoppedAfter < 60_000, `stopped ${stoppedAfter} ms after the interrupt`);
    assert.match(s.text, /interrupt/i, `the cell says it was interrupted: ${s.text}`);
    assert.doesNotMatch(s.text, /not interrupted/);
    const after = await runNewCell('`${kept} ${ticks > 0 && ticks < 1200}`');
    assert.match(after.text, /42 true/, 'variables defined before the interrupt are still there');
  });

  test('display updates in place: a handle updated twice shows the last value once', { timeout: 180_000 }, async () => {
    const r = await runNewCell("const h = display(markdown('value-one'));\nh.update(markdown('value-two'));\nh.update(markdown('value-three'));");
    await screenshot('display-update', r.index);
    assert.equal((r.text.match(/value-three/g) ?? []).length, 1, r.text);
    assert.doesNotMatch(r.text, /value-one|value-two/);
  });

  test('a restart gives a fresh kernel: counts restart at 1, the old state is gone', { timeout: 420_000 }, async () => {
    const marked = await runNewCell("(globalThis as any).restartMarker = 'before restart';\n(globalThis as any).restartMarker");
    assert.match(marked.text, /before restart/);
    await page.evaluate(() => new Promise<void>((res, rej) => {
      const J = (window as any).Jupyter;
      J.notebook.events.one('kernel_ready.Kernel', () => res());
      J.notebook.kernel.restart(undefined, (e: unknown) => rej(new Error(`restart failed: ${JSON.stringify(e)}`)));
    }));
    await page.waitForFunction(() => {
      const k = (window as any).Jupyter.notebook.kernel;
      return k.is_connected() && k.info_reply && k.info_reply.status === 'ok';
    }, undefined, { timeout: 300_000 });
    const r = await runNewCell('String((globalThis as any).restartMarker)');
    await screenshot('restarted', r.index);
    assert.equal(r.prompt, 1, 'the first cell after a restart is In [1]');
    assert.match(r.text, /'undefined'/, 'a new kernel process: the global set before is gone');
    const two = await runNewCell('1 + 1');
    assert.equal(two.prompt, 2);
    assert.match(two.text, /^2$/m);
  });
});
