// `dytlab kernel install | list | remove`: the Jupyter kernelspec for the dytlab
// kernel. The kernel is built separately (kernel/ -> dist/kernel/, after the
// library it imports); this command loads its installer from there at run time.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

interface KernelInstaller {
  kernelCommand(args: string[]): Promise<number>;
}

function loadInstaller(): KernelInstaller {
  const candidates = [
    join(__dirname, '..', 'kernel', 'install.js'), // dist/cli/kernel.js -> dist/kernel/install.js
    join(__dirname, '..', '..', 'dist', 'kernel', 'install.js'), // src/cli/kernel.ts run from source (tsx)
    join(__dirname, '..', '..', 'kernel', 'src', 'install.ts'), // ... before the kernel is built
  ];
  const found = candidates.find((f) => existsSync(f));
  if (!found) throw new Error('the kernel is not built (dist/kernel/install.js is missing): run npm run build');
  return require(found) as KernelInstaller;
}

/** `dytlab kernel <install|list|remove> [options]`; returns the exit code. */
export async function kernelCommand(args: string[]): Promise<number> {
  return loadInstaller().kernelCommand(args);
}
