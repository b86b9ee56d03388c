// Display plugins (src/display): MIME bundles per plugin, escaping, plugin
// precedence and failures, display()/update()/clearOutput() through a sink,
// stdout without one, progress throttling, the once-per-session plotly.js
// embedding of the html fallback, and the pure figure builders (src/viz).
import { after, afterEach, before, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/engine/tf.js';
import { initBackend } from '../src/engine/backend.js';
import { arquero } from '../src/experiments/store/frames.js';
import {
  clearOutput, display, displayPlugins, html, latex, markdown, png, progress, registerDisplayPlugin, resetDisplayPlugins,
  resetPlotlyEmbed, setDisplaySink, toMimeBundle, unregisterDisplayPlugin, PLOTLY_MIME, PLOTLY_BUNDLE_MARKER, TABLE_MAX_ROWS,
  type DisplaySink, type MimeBundle,
} from '../src/display/index.js';
import { tensorStats } from '../src/display/tensor.js';
import { applyCarriageReturns, jsonForScript, stripAnsi } from '../src/display/html.js';
import { lineChart, scatter } from '../src/viz/index.js';

// A 1x1 PNG.
const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const PNG_BYTES = new Uint8Array(Buffer.from(PNG_B64, 'base64'));

type Event =
  | { kind: 'display'; data: MimeBundle; id?: string }
  | { kind: 'update'; data: MimeBundle; id: string }
  | { kind: 'clear'; wait: boolean };

function recordingSink(): DisplaySink & { events: Event[] } {
  const events: Event[] = [];
  return {
    events,
    display: (data, _md, id) => events.push({ kind: 'display', data, id }),
    update: (data, _md, id) => events.push({ kind: 'update', data, id }),
    clear: (wait) => events.push({ kind: 'clear', wait }),
  };
}

/** Runs fn with process.stdout.write captured; returns what was written. */
function captureStdout(fn: () => void): string {
  const chunks: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  (process.stdout as { write: unknown }).write = (chunk: unknown) => {
    chunks.push(String(chunk));
    return true;
  };
  try {
    fn();
  } finally {
    (process.stdout as { write: unknown }).write = original;
  }
  return chunks.join('');
}

const html0 = (b: MimeBundle): string => {
  assert.equal(typeof b['text/html'], 'string', `no text/html in bundle with keys ${Object.keys(b).join(', ')}`);
  return b['text/html'] as string;
};

/** Every <script ...> opened in `h` is closed exactly once, and no `<script` appears inside a script body. */
function assertScriptsBalanced(h: string): void {
  const opens = (h.match(/<script\b/gi) ?? []).length;
  const closes = (h.match(/<\/script>/gi) ?? []).length;
  assert.equal(opens, closes, `unbalanced <script>: ${opens} opened, ${closes} closed`);
}

before(async () => {
  await initBackend('cpu');
});

beforeEach(() => {
  resetDisplayPlugins();
  resetPlotlyEmbed();
  setDisplaySink(null);
});

afterEach(() => {
  setDisplaySink(null);
  resetDisplayPlugins();
});

describe('plotly figures', () => {
  const fig = () => lineChart({ series: [{ name: 'loss', x: [1, 2, 3], y: [3, 2, 1] }], title: 'Loss' });

  test('bundle: plotly JSON, html fallback and text; JSON is plain (typed arrays become arrays, NaN null)', () => {
    const b = toMimeBundle({ data: [{ type: 'scatter', x: new Float32Array([1, 2]), y: [NaN, 4] }], layout: { title: { text: 'T' } } });
    assert.deepEqual(Object.keys(b).sort(), [PLOTLY_MIME, 'text/html', 'text/plain'].sort());
    assert.deepEqual(b[PLOTLY_MIME], { data: [{ type: 'scatter', x: [1, 2], y: [null, 4] }], layout: { title: { text: 'T' } } });
    assert.match(b['text/plain'] as string, /Plotly figure "T": 1 trace \(scatter\)/);
    assert.match(html0(b), /Plotly\.newPlot/);
  });

  test('the html fallback embeds plotly.js in the first figure only, until resetPlotlyEmbed()', () => {
    const first = html0(toMimeBundle(fig()));
    const second = html0(toMimeBundle(fig()));
    assert.ok(first.includes(PLOTLY_BUNDLE_MARKER), 'first figure should embed plotly.js');
    assert.ok(first.length > 3_000_000, `first figure html is only ${first.length} chars`);
    assert.equal(first.split(PLOTLY_BUNDLE_MARKER).length - 1, 1);
    assert.ok(!second.includes(PLOTLY_BUNDLE_MARKER), 'second figure must reuse window.Plotly');
    assert.ok(second.length < 5_000, `second figure html is ${second.length} chars`);
    assert.match(second, /window\.Plotly/);
    assert.match(second, /setTimeout\(draw, 50\)/, 'later figures wait until plotly.js is loaded');
    assert.ok(!/\b(src|href)\s*=/.test(second), 'the fallback refers to no resource');
    assertScriptsBalanced(first);
    assertScriptsBalanced(second);
    resetPlotlyEmbed();
    assert.ok(html0(toMimeBundle(fig())).includes(PLOTLY_BUNDLE_MARKER), 'after resetPlotlyEmbed the next figure embeds again');
  });

  test('a title containing </script> cannot break out of the fallback script', () => {
    toMimeBundle(fig()); // consume the embed so the fallback is small
    const b = toMimeBundle({ data: [{ y: [1] }], layout: { title: { text: '</script><script>alert(1)</script>' } } });
    const h = html0(b);
    assert.ok(!h.includes('<script>alert(1)'), h);
    assertScriptsBalanced(h);
    assert.equal(JSON.parse(jsonForScript('</script>')), '</script>');
  });

  test('what counts as a figure', () => {
    assert.equal(displayPlugins().includes('plotly'), true);
    const plain = (v: unknown) => Object.keys(toMimeBundle(v));
    assert.deepEqual(plain({ data: [1, 2] }), ['text/plain']);
    assert.deepEqual(plain({ data: [] }), ['text/plain']);
    assert.deepEqual(plain({ data: [{ foo: 1 }] }), ['text/plain']);
    assert.ok(plain({ data: [], layout: { title: { text: 'empty' } } }).includes(PLOTLY_MIME));
    assert.ok(plain({ data: [{ type: 'heatmap', z: [[1]] }] }).includes(PLOTLY_MIME));
  });
});

describe('tables', () => {
  test('array of records: <table> with escaped cells, aligned text', () => {
    const rows = [{ name: '<script>alert(1)</script>', loss: 1.5, step: 10 }, { name: 'b', loss: 0.25, step: 200 }];
    const b = toMimeBundle(rows);
    const h = html0(b);
    assert.match(h, /<table/);
    assert.ok(!h.includes('<script>'), 'cell text must be escaped');
    assert.ok(h.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.match(h, /<th>name<\/th><th>loss<\/th><th>step<\/th>/);
    const lines = (b['text/plain'] as string).split('\n');
    assert.equal(lines.length, 4, b['text/plain'] as string);
    assert.match(lines[0] as string, /^name\s+loss\s+step$/);
    // numeric columns right-aligned: the step column ends at the same position in every row
    const ends = [lines[2], lines[3]].map((l) => (l as string).length);
    assert.equal(ends[0], ends[1]);
    assert.ok((lines[2] as string).endsWith(' 10') && (lines[3] as string).endsWith('200'));
  });

  test(`capped at ${TABLE_MAX_ROWS} rows with a note`, () => {
    const rows = Array.from({ length: 120 }, (_, i) => ({ i, sq: i * i }));
    const b = toMimeBundle(rows);
    const h = html0(b);
    assert.equal((h.match(/<tr><th>\d+<\/th>/g) ?? []).length, TABLE_MAX_ROWS);
    assert.match(h, /70 more rows/);
    assert.match(b['text/plain'] as string, /… 70 more rows \(120 in all\)$/);
  });

  test('records with different keys are not a table', () => {
    assert.deepEqual(Object.keys(toMimeBundle([{ a: 1 }, { b: 2 }])), ['text/plain']);
  });

  test('arquero tables (duck-typed)', () => {
    const aq = arquero();
    const t = aq.table({ layer: Array.from({ length: 60 }, (_, i) => i), alpha: Array.from({ length: 60 }, () => 0.5), tag: Array.from({ length: 60 }, () => '<b>x</b>') });
    const b = toMimeBundle(t);
    const h = html0(b);
    assert.match(h, /<th>layer<\/th><th>alpha<\/th><th>tag<\/th>/);
    assert.equal((h.match(/<tr><th>\d+<\/th>/g) ?? []).length, TABLE_MAX_ROWS);
    assert.match(h, /10 more rows/);
    assert.ok(!h.includes('<b>x</b>'));
    assert.match(b['text/plain'] as string, /^layer\s+alpha\s+tag/);
  });
});

describe('tensors', () => {
  test('shape, dtype, statistics over finite values, NaN/Inf counts, preview', () => {
    const t = tf.tensor2d([[1, 2, NaN], [Infinity, 5, -Infinity]]);
    try {
      const b = toMimeBundle(t);
      const text = b['text/plain'] as string;
      assert.match(text, /^Tensor float32 \[2, 3\]  \(6 values\)/);
      assert.match(text, /min 1\s+max 5\s+mean 2\.6667\s+std 1\.6997 \(over 3 finite of 6\)/);
      assert.match(text, /NaN 1\s+\+Inf 1\s+-Inf 1/);
      assert.match(text, /\[\s*1,\s*2,\s*NaN\]\n\[Inf, 5, -Inf\]/);
      const h = html0(b);
      assert.match(h, /shape <code>\[2, 3\]<\/code>/);
      assert.match(h, /float32/);
    } finally {
      t.dispose();
    }
  });

  test('large and high-rank tensors show a leading slice; disposed tensors say so', () => {
    const t = tf.ones([3, 20, 30]);
    const b = toMimeBundle(t);
    assert.match(b['text/plain'] as string, /showing \[0, :, :\]/);
    assert.match(b['text/plain'] as string, /, …\]/);
    t.dispose();
    assert.match(toMimeBundle(t)['text/plain'] as string, /<disposed>/);
  });

  test('string tensors are escaped in html', () => {
    const t = tf.tensor1d(['<script>alert(1)</script>', 'ok'], 'string');
    const h = html0(toMimeBundle(t));
    t.dispose();
    assert.ok(!h.includes('<script>'));
    assert.ok(h.includes('&lt;script&gt;'));
  });

  test('tensorStats', () => {
    const s = tensorStats([1, NaN, Infinity, 3, -Infinity]);
    assert.deepEqual({ ...s }, { count: 5, finite: 2, nan: 1, posInf: 1, negInf: 1, min: 1, max: 3, mean: 2, std: 1 });
    assert.ok(Number.isNaN(tensorStats([NaN]).mean));
  });
});

describe('images, wrappers, errors, fallback', () => {
  test('png wrapper and raw PNG bytes -> image/png base64', () => {
    for (const v of [png(PNG_BYTES), PNG_BYTES, Buffer.from(PNG_BYTES)]) {
      const b = toMimeBundle(v);
      assert.equal(b['image/png'], PNG_B64);
      assert.match(b['text/plain'] as string, /PNG image 1x1/);
    }
    assert.throws(() => png(new Uint8Array([1, 2, 3])), /PNG signature/);
    assert.deepEqual(Object.keys(toMimeBundle(new Uint8Array([1, 2, 3]))), ['text/plain']);
  });

  test('markdown, latex, html wrappers', () => {
    const md = toMimeBundle(markdown('# Title <b>'));
    assert.equal(md['text/markdown'], '# Title <b>');
    const tex = toMimeBundle(latex('\\alpha = 1/\\sigma'));
    assert.equal(tex['text/latex'], '$$\\alpha = 1/\\sigma$$');
    assert.match(html0(tex), /<math/);
    assert.equal(toMimeBundle(latex('$x$'))['text/latex'], '$x$');
    const h = toMimeBundle(html('<b>bold</b> <i>x</i>'));
    assert.equal(h['text/html'], '<b>bold</b> <i>x</i>');
    assert.equal(h['text/plain'], 'bold x');
    assert.throws(() => markdown(3 as unknown as string), TypeError);
  });

  test('errors: name, message and cause in text/plain', () => {
    const err = new RangeError('alpha must be positive', { cause: new Error('lr too high') });
    const text = toMimeBundle(err)['text/plain'] as string;
    assert.match(text, /^RangeError: alpha must be positive/);
    assert.match(text, /Caused by: Error: lr too high/);
  });

  test('fallback: util.inspect, depth 2, truncated', () => {
    assert.deepEqual(toMimeBundle('a <script>'), { 'text/plain': "'a <script>'" });
    const deep = toMimeBundle({ a: { b: { c: { d: 1 } } } })['text/plain'] as string;
    assert.match(deep, /\[Object\]/);
    const big = toMimeBundle(Array.from({ length: 5000 }, (_, i) => ({ i, s: 'x'.repeat(50) })))['text/plain'] as string;
    assert.ok(big.length < 12_000, `fallback text is ${big.length} chars`);
  });

  test('terminal text helpers', () => {
    assert.equal(stripAnsi('\u001b[31mred\u001b[0m \u001b]8;;x\u0007link\u001b]8;;\u0007'), 'red link');
    assert.equal(applyCarriageReturns('10%\r50%\r100%\nnext\r'), '100%\nnext');
  });
});

describe('plugin registry', () => {
  test('user plugins take precedence over built-ins; first, replace, unregister', () => {
    registerDisplayPlugin({ name: 'records-as-count', test: (v) => Array.isArray(v), render: (v) => ({ 'text/plain': `${(v as unknown[]).length} rows` }) });
    assert.equal(displayPlugins()[0], 'records-as-count');
    assert.deepEqual(toMimeBundle([{ a: 1 }]), { 'text/plain': '1 rows' });
    registerDisplayPlugin({ name: 'front', test: () => false, render: () => ({}) }, { first: true });
    registerDisplayPlugin({ name: 'back', test: () => false, render: () => ({}) });
    assert.deepEqual(displayPlugins().slice(0, 3), ['front', 'records-as-count', 'back']);
    registerDisplayPlugin({ name: 'records-as-count', test: (v) => Array.isArray(v), render: () => ({ 'text/plain': 'replaced' }) });
    assert.equal(displayPlugins().filter((n) => n === 'records-as-count').length, 1);
    assert.equal(toMimeBundle([{ a: 1 }])['text/plain'], 'replaced');
    assert.equal(unregisterDisplayPlugin('records-as-count'), true);
    assert.equal(unregisterDisplayPlugin('records-as-count'), false);
    assert.match(toMimeBundle([{ a: 1 }])['text/html'] as string, /<table/);
    assert.throws(() => registerDisplayPlugin({ name: '', test: () => true, render: () => ({}) }), /non-empty string name/);
    assert.throws(() => registerDisplayPlugin({ name: 'x' } as never), /test\(value\)/);
  });

  test('a plugin that adds no text/plain gets one', () => {
    registerDisplayPlugin({ name: 'html-only', test: (v) => v === 42, render: () => ({ 'text/html': '<b>42</b>' }) });
    assert.deepEqual(toMimeBundle(42), { 'text/html': '<b>42</b>', 'text/plain': '42' });
  });

  test('a failing plugin is reported in text/plain and the next plugin renders', () => {
    registerDisplayPlugin({ name: 'boom', test: () => true, render: () => { throw new Error('kaput'); } });
    registerDisplayPlugin({ name: 'bad-test', test: () => { throw new TypeError('no test today'); }, render: () => ({}) });
    registerDisplayPlugin({ name: 'not-a-bundle', test: () => true, render: () => 'html' as never });
    const b = toMimeBundle([{ a: '<i>x</i>' }]);
    const text = b['text/plain'] as string;
    assert.match(text, /\[display plugin 'boom' failed in render\(\): Error: kaput\]/);
    assert.match(text, /\[display plugin 'bad-test' failed in test\(\): TypeError: no test today\]/);
    assert.match(text, /\[display plugin 'not-a-bundle' failed in render\(\): TypeError: render\(\) returned string/);
    assert.match(html0(b), /<table/, 'the built-in table plugin still renders');
    const sink = recordingSink();
    setDisplaySink(sink);
    assert.doesNotThrow(() => display({ any: 'thing' }));
    assert.equal(sink.events.length, 1);
    assert.match((sink.events[0] as { data: MimeBundle }).data['text/plain'] as string, /kaput/);
  });
});

describe('display, update, clear', () => {
  test('display and handle.update go to the sink with one display id', () => {
    const sink = recordingSink();
    assert.equal(setDisplaySink(sink), null);
    const h = display(markdown('v1'));
    h.update(markdown('v2'));
    const named = display('x', { id: 'my-id' });
    assert.equal(named.id, 'my-id');
    clearOutput(true);
    clearOutput();
    assert.equal(setDisplaySink(null), sink);
    assert.deepEqual(sink.events.map((e) => e.kind), ['display', 'update', 'display', 'clear', 'clear']);
    const [d, u, n, c1, c2] = sink.events as [Event & { id: string; data: MimeBundle }, Event & { id: string; data: MimeBundle }, Event & { id: string }, Event, Event];
    assert.equal(d.id, h.id);
    assert.equal(u.id, h.id);
    assert.equal(u.data['text/markdown'], 'v2');
    assert.equal(n.id, 'my-id');
    assert.deepEqual([c1, c2], [{ kind: 'clear', wait: true }, { kind: 'clear', wait: false }]);
  });

  test('without a sink: text/plain to stdout', () => {
    const out = captureStdout(() => {
      const h = display(markdown('# hello'));
      h.update([{ a: 1, b: 'x' }]);
      clearOutput();
    });
    assert.equal(out, '# hello\na  b\n-  -\n1  x\n');
  });

  test('plotly.js stays in the saved notebook: clearOutput, updates, and no-sink displays', () => {
    const fig = (k: number) => ({ data: [{ y: [k] }] });
    const embeds = (e: Event | undefined) => htmlOf(e).includes(PLOTLY_BUNDLE_MARKER);
    const htmlOf = (e: Event | undefined) => String((e as { data?: MimeBundle })?.data?.['text/html'] ?? '');

    // Shown without a sink, the first figure's html goes nowhere: the next one still embeds.
    captureStdout(() => display(fig(0)));
    const sink = recordingSink();
    setDisplaySink(sink);
    const h = display(fig(1));
    display(fig(2));
    assert.deepEqual(sink.events.map(embeds), [true, false]);
    // Updating the figure that holds plotly.js keeps it there.
    h.update(fig(3));
    assert.equal(embeds(sink.events[2]), true);
    // Clearing the cell that holds it: the next figure embeds again.
    clearOutput(true);
    const h4 = display(fig(4));
    display(fig(5));
    assert.deepEqual(sink.events.slice(3).map((e) => (e.kind === 'clear' ? 'clear' : embeds(e))), ['clear', true, false]);
    // Replacing the holder by something that is not a figure: the next figure embeds again.
    h4.update('not a figure');
    display(fig(6));
    assert.deepEqual(sink.events.slice(6).map(embeds), [false, true]);
  });
});

describe('progress', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  test('one display, throttled updates (>= 100 ms apart), the final update always sent', () => {
    const sink = recordingSink();
    setDisplaySink(sink);
    const p = progress(100, 'train <b>');
    assert.equal(sink.events.length, 1);
    assert.equal(sink.events[0]?.kind, 'display');
    for (let i = 1; i <= 50; i++) p.update(i, `loss ${i}`);
    assert.equal(sink.events.length, 1, 'updates within 100 ms are dropped');
    mock.timers.tick(99);
    p.update(60);
    assert.equal(sink.events.length, 1);
    mock.timers.tick(1);
    p.update(61, 'loss 0.5');
    assert.equal(sink.events.length, 2);
    mock.timers.tick(10);
    p.update(100, 'done soon');
    assert.equal(sink.events.length, 3, 'reaching the total is always sent');
    mock.timers.tick(10);
    p.finish('final <i>');
    p.update(5);
    p.finish();
    assert.equal(sink.events.length, 4, 'finish sends once; later calls are ignored');
    for (const e of sink.events.slice(1)) {
      assert.equal(e.kind, 'update');
      assert.equal((e as { id: string }).id, p.id);
    }
    const mid = (sink.events[1] as { data: MimeBundle }).data;
    assert.match(mid['text/plain'] as string, /^train <b> \[#+\.+\] 61\/100 61% 0\.1s eta 0\.1s loss 0\.5$/);
    const last = (sink.events[3] as { data: MimeBundle }).data;
    assert.match(last['text/plain'] as string, /100\/100 100% 0\.1s final <i>$/);
    const h = html0(last);
    assert.match(h, /role="progressbar"/);
    assert.match(h, /width:100\.0%/);
    assert.ok(h.includes('train &lt;b&gt;') && h.includes('final &lt;i&gt;'), 'label and info are escaped');
  });

  test('invalid totals are refused', () => {
    assert.throws(() => progress(-1), RangeError);
    assert.throws(() => progress(NaN), RangeError);
  });
});

describe('viz builders', () => {
  test('lineChart', () => {
    const f = lineChart({ series: [{ name: 'a', x: [1, 2], y: new Float64Array([0.5, NaN]) }, { name: 'b', x: [1], y: [2] }], title: 'T', xTitle: 'step', yTitle: 'loss', logY: true });
    assert.deepEqual(f, {
      data: [
        { type: 'scatter', mode: 'lines', name: 'a', x: [1, 2], y: [0.5, null] },
        { type: 'scatter', mode: 'lines', name: 'b', x: [1], y: [2] },
      ],
      layout: { title: { text: 'T' }, xaxis: { title: { text: 'step' } }, yaxis: { title: { text: 'loss' }, type: 'log' }, showlegend: true },
    });
    assert.deepEqual(JSON.parse(JSON.stringify(f)), f, 'plain JSON');
    assert.throws(() => lineChart({ series: [{ name: 'bad', x: [1, 2], y: [1] }] }), /series\[0\] \('bad'\): x has 2 values but y has 1/);
  });

  test('scatter: colours, webgl, maxPoints', () => {
    const n = 1000;
    const xs = Array.from({ length: n }, (_, i) => i);
    const f = scatter({ points: { x: xs, y: xs.map((v) => v * 2) }, color: xs, name: 'tokens', webgl: true, maxPoints: 100 });
    const t = f.data[0] as { type: string; x: number[]; y: number[]; marker: { color: number[]; colorscale: string } };
    assert.equal(t.type, 'scattergl');
    assert.equal(t.x.length, 100);
    assert.deepEqual(t.x.slice(0, 3), [0, 10, 20]);
    assert.deepEqual(t.y.slice(0, 3), [0, 20, 40]);
    assert.deepEqual(t.marker.color.slice(0, 3), [0, 10, 20]);
    assert.match(JSON.stringify(f.layout), /showing 100 of 1000 points/);
    const g = scatter({ points: { x: [1], y: [2] }, color: 'red' });
    assert.deepEqual(g, { data: [{ type: 'scatter', mode: 'markers', x: [1], y: [2], marker: { size: 4, color: 'red' } }], layout: {} });
    assert.throws(() => scatter({ points: { x: [1], y: [2] }, color: [1, 2] }), /color has 2 values/);
    assert.throws(() => scatter({ points: { x: [1], y: [2] }, maxPoints: 0 }), /maxPoints/);
  });
});

after(() => {
  resetPlotlyEmbed();
});
