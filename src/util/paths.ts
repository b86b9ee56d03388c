// Where the dytlab package lives on disk, so notebooks (whose working directory
// is the notebook folder under Jupyter and the caller's under `dytlab run`)
// find the shipped configs and the shared run store the same way.
import * as fs from 'node:fs';
import * as path from 'node:path';

const PACKAGE_NAME = 'dytlab';

/**
 * Directory of the dytlab package: walk up from this file (src/util under tsx,
 * dist/util when built), then from the working directory, to the package.json named "dytlab".
 */
export function packageRoot(): string | undefined {
  const starts = typeof __dirname === 'string' ? [__dirname, process.cwd()] : [process.cwd()];
  for (const start of starts) {
    let dir = path.resolve(start);
    for (;;) {
      const pkg = path.join(dir, 'package.json');
      if (fs.existsSync(pkg)) {
        try {
          if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
        } catch {
          // unreadable package.json: keep walking
        }
      }
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return undefined;
}

/** A path inside the dytlab package (e.g. 'configs/vit-tiny.json'); an error names where it looked. */
export function projectFile(rel: string): string {
  const root = packageRoot();
  if (root === undefined) throw new Error(`cannot find the ${PACKAGE_NAME} package root (package.json) above ${typeof __dirname === 'string' ? __dirname : process.cwd()}`);
  return path.join(root, rel);
}

/** The run store notebooks share: DYTLAB_STORE, else <package root>/runs/dytlab.sqlite. */
export function notebookStorePath(): string {
  return process.env.DYTLAB_STORE || projectFile(path.join('runs', 'dytlab.sqlite'));
}
