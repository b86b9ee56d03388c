// The sweep figure builders (src/viz/heatmap.ts, src/viz/bars.ts): pure specs,
// plain JSON, and clear errors on misshapen input.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { errorBars, heatmap } from '../src/viz/index.js';

describe('heatmap', () => {
  const x = [0.001, 0.01, 0.1];
  const y = ['layernorm', 'dyt a0=0.5'];
  const z = [[2.1, 1.9, null], [2.5, NaN, 3.21234]];

  test('categories on both axes, values written in the cells, missing cells blank, diverged cells crossed out', () => {
    const spec = heatmap({
      x, y, z, marked: [[false, false, true], [false, true, false]], text: [['', 'best', ''], ['', '', '']],
      title: 'val loss', xTitle: 'lr', yTitle: 'norm', zTitle: 'loss', reverseScale: true,
    });
    assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec, 'plain JSON');
    const [h, marks] = spec.data as [Record<string, unknown>, Record<string, unknown>];
    assert.equal(h.type, 'heatmap');
    assert.deepEqual(h.x, ['0.001', '0.01', '0.1']);
    assert.deepEqual(h.y, y);
    assert.deepEqual(h.z, [[2.1, 1.9, null], [2.5, null, 3.21234]]);
    assert.deepEqual(h.text, [['2.1', 'best', ''], ['2.5', '', '3.21']]);
    assert.equal(h.reversescale, true);
    assert.equal(marks.type, 'scatter');
    assert.equal(marks.name, 'diverged');
    assert.deepEqual([marks.x, marks.y], [['0.1', '0.01'], ['layernorm', 'dyt a0=0.5']]);
    const layout = spec.layout as { xaxis: { type: string; title: { text: string } }; yaxis: { type: string }; showlegend: boolean };
    assert.deepEqual([layout.xaxis.type, layout.yaxis.type, layout.xaxis.title.text, layout.showlegend], ['category', 'category', 'lr', true]);
  });

  test('no marks: one trace, no legend; digits: false writes no values', () => {
    const spec = heatmap({ x, y, z, digits: false });
    assert.equal(spec.data.length, 1);
    assert.deepEqual((spec.data[0] as { text: string[][] }).text, [['', '', ''], ['', '', '']]);
    assert.equal((spec.layout as { showlegend: boolean }).showlegend, false);
    assert.equal(heatmap({ x, y, z, marked: [[false, false, false], [false, false, false]] }).data.length, 1);
  });

  test('misshapen input names what is wrong', () => {
    assert.throws(() => heatmap({ x, y, z: [[1, 2, 3]] }), /z has 1 rows, expected 2/);
    assert.throws(() => heatmap({ x, y, z: [[1, 2, 3], [1, 2]] }), /z\[1\] has 2 cells, expected 3/);
    assert.throws(() => heatmap({ x, y, z, marked: [[true], [false]] }), /marked\[0\] has 1 cells/);
    assert.throws(() => heatmap({ x, y, z: [[1, 2, '3' as unknown as number], [1, 2, 3]] }), /z\[0\]\[2\] = 3 is not a number/);
  });
});

describe('errorBars', () => {
  test('asymmetric error bars from interval ends; null where there is no interval', () => {
    const spec = errorBars({
      series: [{ name: 'val loss', x: ['ln', 'tanh', 'identity'], mean: [1.2, 1.5, null], low: [1.0, null, null], high: [1.5, null, null], text: ['n=3', 'n=1', 'diverged'] }],
      yTitle: 'loss',
    });
    const bar = spec.data[0] as { type: string; x: string[]; y: (number | null)[]; error_y: { array: number[]; arrayminus: number[]; symmetric: boolean }; text: string[] };
    assert.equal(bar.type, 'bar');
    assert.deepEqual(bar.x, ['ln', 'tanh', 'identity']);
    assert.deepEqual(bar.y, [1.2, 1.5, null]);
    assert.equal(bar.error_y.symmetric, false);
    assert.ok(Math.abs(bar.error_y.array[0]! - 0.3) < 1e-12);
    assert.ok(Math.abs(bar.error_y.arrayminus[0]! - 0.2) < 1e-12);
    assert.deepEqual([bar.error_y.array.slice(1), bar.error_y.arrayminus.slice(1)], [[0, 0], [0, 0]]);
    assert.deepEqual(bar.text, ['n=3', 'n=1', 'diverged']);
    assert.equal((spec.layout as { barmode?: string }).barmode, undefined);
  });

  test('several series group; horizontal bars put the error on x', () => {
    const spec = errorBars({
      horizontal: true,
      series: [
        { name: 'ViT', x: ['ln', 'dyt'], mean: [0.97, 0.96], low: [0.96, 0.95], high: [0.98, 0.97] },
        { name: 'LM', x: ['ln', 'dyt'], mean: [2.1, 2.2] },
      ],
    });
    assert.equal((spec.layout as { barmode: string }).barmode, 'group');
    const [a, b] = spec.data as [Record<string, unknown>, Record<string, unknown>];
    assert.equal(a.orientation, 'h');
    assert.deepEqual(a.y, ['ln', 'dyt']);
    assert.ok(a.error_x && !a.error_y);
    assert.equal(b.error_x, undefined);
    assert.throws(() => errorBars({ series: [{ name: 's', x: ['a', 'b'], mean: [1] }] }), /series\[0\] \('s'\)\.mean has 1 values, expected 2/);
    assert.throws(() => errorBars({ series: [{ name: 's', x: ['a'], mean: [1], low: [0] }] }), /give both low and high/);
  });
});
