// `dytlab kernel install | list | remove`: the Jupyter kernelspec for the dytlab kernel.
import { join, dirname } from 'node:path';
import { readFileSync } from 'node:fs';
import { loadKernelModule } from './kernel-module.js';

// The shapes used here (kernel/src/install.ts); kept local so src/ never compiles kernel/.
type Where = { user: true } | { prefix: string } | { sysPrefix: true };
interface FoundSpec { name: string; dir: string; spec: { argv: string[] } | null; error?: string }
interface Installer {
  DEFAULT_NAME: string;
  installKernel(o: { where: Where; name?: string; displayName?: string }): string;
  removeKernel(o: { where: Where; name?: string }): string | null;
  listKernels(): FoundSpec[];
  kernelsDir(where: Where): string;
  jupyterDataPath(): string[];
}

export interface KernelIO { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown } }
export interface WhereOptions { user?: boolean; prefix?: string; sysPrefix?: boolean }

const installer = () => loadKernelModule<Installer>('install');

/** --user (the default), --prefix DIR or --sys-prefix: one at most. */
export function whereFrom(o: WhereOptions): Where {
  const given = [o.user && '--user', o.prefix !== undefined && '--prefix', o.sysPrefix && '--sys-prefix'].filter(Boolean);
  if (given.length > 1) throw new Error(`give only one of --user, --prefix DIR, --sys-prefix (got ${given.join(' and ')})`);
  return o.prefix !== undefined ? { prefix: o.prefix } : o.sysPrefix ? { sysPrefix: true } : { user: true };
}

export function kernelInstall(o: WhereOptions & { name?: string; displayName?: string }, io: KernelIO): number {
  const k = installer();
  const name = o.name ?? k.DEFAULT_NAME;
  const dir = k.installKernel({ where: whereFrom(o), name, ...(o.displayName ? { displayName: o.displayName } : {}) });
  const spec = JSON.parse(readFileSync(join(dir, 'kernel.json'), 'utf8')) as { argv: string[] };
  io.stdout.write(`installed kernelspec ${name} in ${dir}\n  argv: ${JSON.stringify(spec.argv)}\n`);
  const data = dirname(dirname(dir));
  if (!k.jupyterDataPath().some((d) => join(d, 'kernels', name) === dir)) {
    io.stdout.write(`note: ${data} is not in Jupyter's search path; add it with JUPYTER_PATH=${data}\n`);
  }
  return 0;
}

export function kernelList(o: { json: boolean }, io: KernelIO): number {
  const k = installer();
  const found = k.listKernels();
  if (o.json) {
    io.stdout.write(`${JSON.stringify({ kernelspecs: Object.fromEntries(found.map((f) => [f.name, { resource_dir: f.dir, spec: f.spec, ...(f.error ? { error: f.error } : {}) }])) }, null, 2)}\n`);
    return 0;
  }
  if (!found.length) {
    io.stdout.write(`no kernelspecs found in:\n${k.jupyterDataPath().map((d) => `  ${join(d, 'kernels')}`).join('\n')}\n`);
    return 0;
  }
  const w = Math.max(...found.map((f) => f.name.length));
  io.stdout.write('Available kernels:\n');
  for (const f of found) {
    io.stdout.write(`  ${f.name.padEnd(w)}  ${f.dir}\n`);
    io.stdout.write(`  ${' '.repeat(w)}  argv: ${f.spec ? JSON.stringify(f.spec.argv) : `unreadable kernel.json (${f.error})`}\n`);
  }
  return 0;
}

export function kernelRemove(o: WhereOptions & { name?: string }, io: KernelIO): number {
  const k = installer();
  const where = whereFrom(o), name = o.name ?? k.DEFAULT_NAME;
  const dir = k.removeKernel({ where, name });
  if (!dir) {
    io.stderr.write(`dytlab kernel remove: no kernelspec '${name}' in ${k.kernelsDir(where)}\n`);
    return 1;
  }
  io.stdout.write(`removed ${dir}\n`);
  return 0;
}
