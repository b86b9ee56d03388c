// installKernel / removeKernel (kernel/src/install.ts) keep to Jupyter's kernel
// name rule and delete only the kernelspec folders they wrote: `--name .` or
// `--name ..` once wrote kernel.json into kernels/ or share/jupyter and then
// removed the whole folder, with every other kernelspec in it.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { checkKernelName, installKernel, kernelMainPath, listKernels, removeKernel, SPEC_FILES } from '../kernel/src/install';

const TMP = mkdtempSync(join(tmpdir(), 'dytlab-kernelspec-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

/** Every file and folder under `root`, relative, sorted. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(relative(root, p) + (e.isDirectory() ? '/' : ''));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out.sort();
}

const FOREIGN = { argv: ['python3', '-m', 'ipykernel_launcher', '-f', '{connection_file}'], display_name: 'Python 3', language: 'python' };

/** A prefix with our kernelspec, a foreign one beside it, and a file of Jupyter's own in share/jupyter. */
function setup(name: string): { prefix: string; jupyter: string; kernels: string } {
  const prefix = join(TMP, name);
  const jupyter = join(prefix, 'share', 'jupyter');
  const kernels = join(jupyter, 'kernels');
  installKernel({ where: { prefix }, name: 'dytlab' });
  mkdirSync(join(kernels, 'foreign'), { recursive: true });
  writeFileSync(join(kernels, 'foreign', 'kernel.json'), JSON.stringify(FOREIGN));
  writeFileSync(join(kernels, 'foreign', 'logo-64x64.png'), 'not ours');
  mkdirSync(join(jupyter, 'nbextensions'), { recursive: true });
  writeFileSync(join(jupyter, 'nbextensions', 'keep.js'), '// keep');
  return { prefix, jupyter, kernels };
}

describe('kernelspec names and removal', () => {
  test('the built kernel exists (npm run build), since installKernel points at it', () => {
    assert.ok(existsSync(kernelMainPath()), `${kernelMainPath()} is missing: run npm run build`);
  });

  test('names follow Jupyter\'s rule; ".", ".." and path separators are refused', () => {
    for (const ok of ['dytlab', 'dytlab-test', 'My_Kernel.2', 'a.b', '...']) assert.equal(checkKernelName(ok), ok);
    for (const bad of ['.', '..', '../x', 'a/b', 'a\\b', '', ' x', 'x\n', 'k\u00e9rnel', '/abs']) {
      assert.throws(() => checkKernelName(bad), (e: Error) => {
        assert.ok(e.message.includes(JSON.stringify(bad)), `the message names the name: ${e.message}`);
        assert.match(e.message, /ASCII letters and numbers .*- \. _/);
        return true;
      }, JSON.stringify(bad));
    }
  });

  test('remove --name . / .. / ../x / foreign refuses and deletes nothing', () => {
    const { prefix, jupyter } = setup('refuse');
    const before = tree(prefix);
    assert.ok(before.includes('share/jupyter/kernels/dytlab/kernel.json'));
    assert.ok(before.includes('share/jupyter/kernels/foreign/kernel.json'));
    for (const name of ['.', '..', '../x', '../..', 'kernels/../..']) {
      assert.throws(() => removeKernel({ where: { prefix }, name }), /invalid kernel name/, name);
      assert.deepEqual(tree(prefix), before, `remove --name ${name} changed the prefix`);
    }
    assert.throws(() => removeKernel({ where: { prefix }, name: 'foreign' }), (e: Error) => {
      assert.match(e.message, /refusing to remove .*foreign: its kernel\.json was not written by dytlab kernel install/);
      assert.match(e.message, /nothing was deleted/);
      return true;
    });
    assert.deepEqual(tree(prefix), before);
    assert.ok(existsSync(join(jupyter, 'nbextensions', 'keep.js')));
  });

  test('install --name . / .. writes nothing outside kernels/<name>; install over a foreign kernelspec refuses', () => {
    const { prefix, kernels, jupyter } = setup('install');
    const before = tree(prefix);
    for (const name of ['.', '..', '../x']) {
      assert.throws(() => installKernel({ where: { prefix }, name }), /invalid kernel name/, name);
    }
    assert.ok(!existsSync(join(kernels, 'kernel.json')));
    assert.ok(!existsSync(join(jupyter, 'kernel.json')));
    assert.throws(() => installKernel({ where: { prefix }, name: 'foreign' }), /not installing over the kernelspec in .*foreign: its kernel\.json was not written by dytlab/);
    assert.deepEqual(JSON.parse(readFileSync(join(kernels, 'foreign', 'kernel.json'), 'utf8')), FOREIGN);
    assert.deepEqual(tree(prefix), before);
    // Installing our own again (an update) is fine.
    installKernel({ where: { prefix }, name: 'dytlab', displayName: 'TS again' });
    assert.equal(JSON.parse(readFileSync(join(kernels, 'dytlab', 'kernel.json'), 'utf8')).display_name, 'TS again');
  });

  test('a folder holding other files, or a symbolic link, is not removed', () => {
    const { prefix, kernels } = setup('extra');
    writeFileSync(join(kernels, 'dytlab', 'notes.txt'), 'mine');
    assert.throws(() => removeKernel({ where: { prefix }, name: 'dytlab' }), /holds files dytlab kernel install did not write \(notes\.txt\)/);
    assert.ok(existsSync(join(kernels, 'dytlab', 'kernel.json')));
    assert.ok(existsSync(join(kernels, 'dytlab', 'notes.txt')));
    symlinkSync(join(kernels, 'foreign'), join(kernels, 'link'), 'dir');
    writeFileSync(join(kernels, 'foreign', 'kernel.json'), readFileSync(join(kernels, 'dytlab', 'kernel.json')));
    assert.throws(() => removeKernel({ where: { prefix }, name: 'link' }), /refusing to remove .*link: it is a symbolic link/);
    assert.ok(existsSync(join(kernels, 'foreign', 'logo-64x64.png')));
  });

  test('a normal install and remove still work, and leave the neighbours alone', () => {
    const { prefix, kernels, jupyter } = setup('normal');
    const dir = installKernel({ where: { prefix }, name: 'dytlab-test' });
    assert.equal(dir, join(kernels, 'dytlab-test'));
    assert.deepEqual(readdirSync(dir).sort(), [...SPEC_FILES].sort());
    const spec = JSON.parse(readFileSync(join(dir, 'kernel.json'), 'utf8'));
    assert.deepEqual(spec.argv, [process.execPath, kernelMainPath(), '{connection_file}']);
    assert.equal(spec.metadata.dytlab.installer, 'dytlab kernel install');
    const names = listKernels({ JUPYTER_PATH: jupyter, JUPYTER_DATA_DIR: join(TMP, 'no-user') }).map((f) => f.name);
    assert.ok(names.includes('dytlab-test') && names.includes('foreign'), names.join(', '));
    assert.equal(removeKernel({ where: { prefix }, name: 'dytlab-test' }), dir);
    assert.ok(!existsSync(dir));
    assert.equal(removeKernel({ where: { prefix }, name: 'dytlab-test' }), null, 'nothing left to remove');
    assert.ok(statSync(join(kernels, 'foreign')).isDirectory());
    assert.ok(existsSync(join(kernels, 'dytlab', 'kernel.json')));
    assert.ok(existsSync(join(jupyter, 'nbextensions', 'keep.js')));
  });

  test('a kernelspec written before the metadata marker existed is still ours to remove', () => {
    const { prefix, kernels } = setup('legacy');
    const file = join(kernels, 'dytlab', 'kernel.json');
    const spec = JSON.parse(readFileSync(file, 'utf8'));
    spec.metadata = { debugger: false }; // what installKernel wrote before
    writeFileSync(file, JSON.stringify(spec, null, 2));
    assert.equal(removeKernel({ where: { prefix }, name: 'dytlab' }), join(kernels, 'dytlab'));
    assert.ok(!existsSync(join(kernels, 'dytlab')));
    assert.ok(existsSync(join(kernels, 'foreign', 'kernel.json')));
  });
});
