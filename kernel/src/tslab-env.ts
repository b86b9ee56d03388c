// Where tslab's TypeScript fork looks for files, and how cells resolve 'dytlab'.
//
// tslab compiles cells with fixed compiler options (Node10 module resolution, no
// tsconfig) from the directory it is created in. Two things then break for a
// dytlab notebook:
//  - `import { createNorm } from 'dytlab'`: Node10 resolution knows nothing of
//    package self-reference, so the type checker cannot find 'dytlab' even inside
//    this project (and outside it, neither can Node's require);
//  - `@types/node` is found by walking up from the notebook's folder; a notebook
//    outside the project gets tslab's own (older) copy, or none.
// We give the fork's `ts.sys` (used only by tslab) a small virtual overlay: for
// each session folder, `<cwd>/node_modules/dytlab` is this project, and
// `<cwd>/node_modules/@types/node` is the project's @types/node, but only where
// no real one is found walking up. Real files always win. At run time a fallback
// in Module._resolveFilename resolves 'dytlab' to this project when Node's own
// resolution fails, so the type checker and `require` agree.
import Module from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Converter, ConverterOptions } from 'tslab/dist/converter';

/** The few members of tslab's TypeScript fork (`@tslab/typescript-for-tslab`) used here. */
interface TsSys {
  getCurrentDirectory(): string;
  fileExists(p: string): boolean;
  directoryExists(p: string): boolean;
  readFile(p: string, encoding?: string): string | undefined;
  realpath?(p: string): string;
  getDirectories(p: string): string[];
}
export interface TsFork {
  version: string;
  sys: TsSys;
  createSourceFile(fileName: string, text: string, target: number, setParentNodes?: boolean, kind?: number): { parseDiagnostics?: { start?: number; length?: number; messageText: unknown }[] };
  ScriptTarget: { Latest: number };
  ScriptKind: { TS: number };
}

const tslabConverterPath = require.resolve('tslab/dist/converter');
/** tslab's TypeScript fork: the same instance tslab's converter uses. */
export const ts: TsFork = Module.createRequire(tslabConverterPath)('@tslab/typescript-for-tslab') as TsFork;

/** The dytlab package this kernel belongs to (its folder holds package.json and dist/). */
export const projectRoot: string = path.dirname(require.resolve('dytlab/package.json'));

const norm = (p: string) => p.replace(/\\/g, '/');

/** virtual folder -> real folder */
const overlay = new Map<string, string>();

function mapPath(p: string): string {
  if (overlay.size === 0) return p;
  const n = norm(p);
  for (const [v, real] of overlay) {
    if (n === v) return real;
    if (n.startsWith(v + '/')) return real + n.slice(v.length);
  }
  return p;
}

/** Virtual child folder names directly under `dir` (e.g. 'node_modules' under cwd). */
function virtualChildren(dir: string): string[] {
  const d = norm(dir).replace(/\/$/, '');
  const out = new Set<string>();
  for (const v of overlay.keys()) {
    if (v.startsWith(d + '/')) out.add(v.slice(d.length + 1).split('/')[0]!);
  }
  return [...out];
}

let sysPatched = false;
function patchSys(): void {
  if (sysPatched) return;
  sysPatched = true;
  const sys = ts.sys;
  const orig = {
    fileExists: sys.fileExists.bind(sys),
    directoryExists: sys.directoryExists.bind(sys),
    readFile: sys.readFile.bind(sys),
    realpath: sys.realpath?.bind(sys),
    getDirectories: sys.getDirectories.bind(sys),
  };
  sys.fileExists = (p) => orig.fileExists(mapPath(p));
  sys.readFile = (p, enc) => orig.readFile(mapPath(p), enc);
  sys.directoryExists = (p) => orig.directoryExists(mapPath(p)) || virtualChildren(p).length > 0;
  if (orig.realpath) {
    const rp = orig.realpath;
    sys.realpath = (p) => rp(mapPath(p));
  }
  sys.getDirectories = (p) => {
    const m = mapPath(p);
    const real = orig.directoryExists(m) ? orig.getDirectories(m) : [];
    return [...new Set([...real, ...virtualChildren(p)])];
  };
}

/** Whether `<dir or an ancestor>/node_modules/<rel>` exists for real. */
function foundWalkingUp(dir: string, rel: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (path.basename(d) !== 'node_modules' && fs.existsSync(path.join(d, 'node_modules', rel))) return true;
    if (path.dirname(d) === d) return false;
  }
}

function typesNodeDir(): string | null {
  for (const from of [projectRoot, path.dirname(tslabConverterPath)]) {
    try {
      return path.dirname(require.resolve('@types/node/package.json', { paths: [from] }));
    } catch { /* next */ }
  }
  return null;
}

/**
 * Makes 'dytlab' (types) and @types/node visible to tslab's compiler from `cwd`
 * where they are not found for real. Returns a function that removes the overlay.
 */
export function addOverlay(cwd: string): () => void {
  patchSys();
  const added: string[] = [];
  const base = norm(path.resolve(cwd));
  if (!foundWalkingUp(cwd, 'dytlab/package.json')) {
    overlay.set(`${base}/node_modules/dytlab`, norm(projectRoot));
    added.push(`${base}/node_modules/dytlab`);
  }
  const typesNode = typesNodeDir();
  if (typesNode && !foundWalkingUp(cwd, '@types/node/package.json')) {
    overlay.set(`${base}/node_modules/@types/node`, norm(typesNode));
    added.push(`${base}/node_modules/@types/node`);
  }
  return () => { for (const v of added) overlay.delete(v); };
}

type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;
let resolvePatched = false;
/**
 * Lets `require('dytlab')` (and 'dytlab/...') from a notebook anywhere load this
 * project's build when Node's own resolution fails (a notebook outside the project).
 * Inside the project, self-reference resolves it first; either way one instance.
 */
export function installDytlabResolveFallback(): void {
  if (resolvePatched) return;
  resolvePatched = true;
  const M = Module as unknown as { _resolveFilename: ResolveFilename };
  const orig = M._resolveFilename;
  const fromProject = Module.createRequire(path.join(projectRoot, 'package.json'));
  M._resolveFilename = function (this: unknown, request, parent, isMain, options) {
    try {
      return orig.call(this, request, parent, isMain, options);
    } catch (e) {
      if ((request === 'dytlab' || request.startsWith('dytlab/')) && (e as { code?: string }).code === 'MODULE_NOT_FOUND') {
        return fromProject.resolve(request);
      }
      throw e;
    }
  };
}

/** tslab's createConverter, compiling as if started in `cwd` (it reads the current directory once). */
export function createConverterAt(cwd: string, options: ConverterOptions): Converter {
  // Loaded lazily: requiring the converter is cheap, creating one takes a second or two.
  const { createConverter } = require('tslab/dist/converter') as typeof import('tslab/dist/converter');
  const sys = ts.sys;
  const prev = sys.getCurrentDirectory;
  const dir = norm(path.resolve(cwd));
  sys.getCurrentDirectory = () => dir;
  try {
    return createConverter(options);
  } finally {
    sys.getCurrentDirectory = prev;
  }
}
