// The kernel, its installer and the notebook runner live in kernel/, built after
// the library they import as 'dytlab'; the CLI loads them at run time.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** kernel/src/<name>.ts as built (dist/kernel/<name>.js), or its source under tsx before a build. */
export function loadKernelModule<T>(name: string): T {
  const candidates = [
    join(__dirname, '..', 'kernel', `${name}.js`), // dist/cli -> dist/kernel
    join(__dirname, '..', '..', 'dist', 'kernel', `${name}.js`), // src/cli run from source (tsx)
    join(__dirname, '..', '..', 'kernel', 'src', `${name}.ts`), // ... before the kernel is built
  ];
  const found = candidates.find((f) => existsSync(f));
  if (!found) throw new Error(`the kernel is not built (dist/kernel/${name}.js is missing): run npm run build`);
  return require(found) as T;
}
