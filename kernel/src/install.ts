// Kernelspecs without Python: `dytlab kernel install | list | remove`.
// Paths follow jupyter_core (`jupyter --paths`): JUPYTER_PATH entries, the user
// data dir (JUPYTER_DATA_DIR, else ~/.local/share/jupyter on Linux,
// ~/Library/Jupyter on macOS, %APPDATA%\jupyter on Windows), the environment's
// prefix (a virtualenv or conda env), then /usr/local/share/jupyter and
// /usr/share/jupyter (%PROGRAMDATA%\jupyter on Windows).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deflateSync } from 'node:zlib';

export const DEFAULT_NAME = 'dytlab';
export const DISPLAY_NAME = 'TypeScript (dytlab)';
/** The metadata key `installKernel` writes, by which `removeKernel` knows the kernelspecs it may delete. */
export const SPEC_MARKER = 'dytlab';
/**
 * "message": Jupyter sends interrupt_request on the control channel. The kernel
 * answers it on a worker thread and raises SIGINT in its own process, which stops
 * a busy loop as well as a pending await; it works the same in nbclient/nbconvert,
 * JupyterLab and through kernel gateways where a signal cannot reach the process,
 * and interrupts only the kernel (not child processes in its process group).
 * The kernel also handles SIGINT itself, so "signal" would work too.
 */
export const INTERRUPT_MODE = 'message';

/** The user's Jupyter data dir (jupyter_core's jupyter_data_dir()). */
export function userDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.JUPYTER_DATA_DIR) return path.resolve(env.JUPYTER_DATA_DIR);
  const home = os.homedir();
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Jupyter');
  if (process.platform === 'win32') return path.join(env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), 'jupyter');
  return path.join(env.XDG_DATA_HOME || path.join(home, '.local', 'share'), 'jupyter');
}

/** The environment's prefix (sys.prefix) without asking Python when a virtualenv/conda env is active. */
export function sysPrefix(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VIRTUAL_ENV) return env.VIRTUAL_ENV;
  if (env.CONDA_PREFIX) return env.CONDA_PREFIX;
  for (const py of ['python3', 'python']) {
    const r = spawnSync(py, ['-c', 'import sys; print(sys.prefix)'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  throw new Error('--sys-prefix: no virtualenv or conda env is active and no python3 was found to ask; use --prefix DIR');
}

/** The data dirs Jupyter searches, highest priority first (jupyter --paths, "data"). */
export function jupyterDataPath(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const p of (env.JUPYTER_PATH ?? '').split(path.delimiter)) if (p) out.push(path.resolve(p));
  out.push(userDataDir(env));
  const envPrefix = env.VIRTUAL_ENV ?? env.CONDA_PREFIX;
  if (envPrefix) out.push(path.join(envPrefix, 'share', 'jupyter'));
  if (process.platform === 'win32') {
    if (env.PROGRAMDATA) out.push(path.join(env.PROGRAMDATA, 'jupyter'));
  } else {
    out.push('/usr/local/share/jupyter', '/usr/share/jupyter');
  }
  return [...new Set(out)];
}

/** The built kernel entry point of this project (dist/kernel/main.js). */
export function kernelMainPath(): string {
  // From dist/kernel/install.js it is next to us; from kernel/src/install.ts (tsx) it is in dist/kernel.
  return path.extname(__filename) === '.js' && path.basename(__dirname) === 'kernel' && fs.existsSync(path.join(__dirname, 'main.js'))
    ? path.join(__dirname, 'main.js')
    : path.resolve(__dirname, '..', '..', 'dist', 'kernel', 'main.js');
}

export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode?: string;
  env?: Record<string, string>;
  metadata?: Record<string, unknown>;
}

export function kernelSpec(opts: { displayName?: string; node?: string; main?: string } = {}): KernelSpec {
  return {
    argv: [opts.node ?? process.execPath, opts.main ?? kernelMainPath(), '{connection_file}'],
    display_name: opts.displayName ?? DISPLAY_NAME,
    language: 'typescript',
    interrupt_mode: INTERRUPT_MODE,
    env: {},
    metadata: { debugger: false, [SPEC_MARKER]: { installer: 'dytlab kernel install' } },
  };
}

/** The files `installKernel` writes into a kernelspec folder (nothing else is ever deleted). */
export const SPEC_FILES = ['kernel.json', 'logo-svg.svg', 'logo-32x32.png', 'logo-64x64.png'] as const;

/** Jupyter's rule (jupyter_client kernelspec.py, `_is_valid_kernel_name`), in words. */
export const KERNEL_NAME_RULE = 'kernel names can only contain ASCII letters and numbers and these separators: - . _ (hyphen, period, and underscore), and cannot be "." or ".."';

/**
 * Throws unless `name` is a valid kernelspec name: Jupyter's own pattern
 * `^[a-z0-9._-]+$` (case-insensitive), and not "." or "..", which would name the
 * kernels folder itself or its parent. No path separator can pass.
 */
export function checkKernelName(name: unknown): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(name) || name === '.' || name === '..') {
    throw new Error(`invalid kernel name ${JSON.stringify(name)}: ${KERNEL_NAME_RULE}`);
  }
  return name;
}

/**
 * Why the kernel.json text `text` is not one this tool wrote, or null when it is:
 * it carries the metadata marker installKernel adds, or (kernelspecs written
 * before the marker existed) its argv is exactly [node, .../dist/kernel/main.js,
 * '{connection_file}'] with language 'typescript', as installKernel wrote it then.
 */
export function foreignSpecReason(text: string): string | null {
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (e) {
    return `its kernel.json is not valid JSON (${(e as Error).message})`;
  }
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) return 'its kernel.json is not a JSON object';
  const s = spec as Partial<KernelSpec>;
  const marker = (s.metadata as Record<string, unknown> | undefined)?.[SPEC_MARKER] as { installer?: unknown } | undefined;
  if (marker && typeof marker === 'object' && marker.installer === 'dytlab kernel install') return null;
  const argv = s.argv;
  const main = Array.isArray(argv) && typeof argv[1] === 'string' ? argv[1].replace(/\\/g, '/') : '';
  if (Array.isArray(argv) && argv.length === 3 && typeof argv[0] === 'string' && argv[2] === '{connection_file}'
    && /(^|\/)dist\/kernel\/main\.js$/.test(main) && s.language === 'typescript') return null;
  return `its kernel.json was not written by dytlab kernel install (argv ${JSON.stringify(argv)})`;
}

export type Where = { user: true } | { prefix: string } | { sysPrefix: true };

/** The kernels folder an install/remove at `where` uses. */
export function kernelsDir(where: Where, env: NodeJS.ProcessEnv = process.env): string {
  if ('prefix' in where) return path.join(path.resolve(where.prefix), 'share', 'jupyter', 'kernels');
  if ('sysPrefix' in where) return path.join(sysPrefix(env), 'share', 'jupyter', 'kernels');
  return path.join(userDataDir(env), 'kernels');
}

/** Writes `<kernels>/<name>/kernel.json` and the logos; returns the folder. */
export function installKernel(opts: { where: Where; name?: string; displayName?: string; env?: NodeJS.ProcessEnv }): string {
  const name = checkKernelName(opts.name ?? DEFAULT_NAME);
  const main = kernelMainPath();
  if (!fs.existsSync(main)) throw new Error(`${main} does not exist: build the project first (npm run build)`);
  const dir = path.join(kernelsDir(opts.where, opts.env), name);
  // Updating our own kernelspec is fine; writing over another kernel's is not.
  const existing = path.join(dir, 'kernel.json');
  if (fs.existsSync(existing)) {
    const why = fs.lstatSync(dir).isSymbolicLink() ? `${dir} is a symbolic link` : foreignSpecReason(fs.readFileSync(existing, 'utf8'));
    if (why) throw new Error(`not installing over the kernelspec in ${dir}: ${why}; choose another --name, or remove that kernelspec first (jupyter kernelspec remove ${name})`);
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'kernel.json'), `${JSON.stringify(kernelSpec({ ...(opts.displayName ? { displayName: opts.displayName } : {}), main }), null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'logo-svg.svg'), logoSvg());
  fs.writeFileSync(path.join(dir, 'logo-32x32.png'), logoPng(32));
  fs.writeFileSync(path.join(dir, 'logo-64x64.png'), logoPng(64));
  return dir;
}

/**
 * Removes `<kernels>/<name>`; returns the folder removed, or null if there was none.
 * It deletes only a folder that is a direct child of the kernels folder (not a
 * symbolic link), whose kernel.json this tool wrote (see foreignSpecReason) and
 * which holds nothing but the files installKernel writes; anything else throws,
 * saying why, and is left as it is.
 */
export function removeKernel(opts: { where: Where; name?: string; env?: NodeJS.ProcessEnv }): string | null {
  const name = checkKernelName(opts.name ?? DEFAULT_NAME);
  const kernels = path.resolve(kernelsDir(opts.where, opts.env));
  const dir = path.join(kernels, name);
  if (path.dirname(dir) !== kernels || path.basename(dir) !== name) throw new Error(`refusing to remove ${dir}: not a folder directly inside ${kernels}`);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch {
    return null;
  }
  const refuse = (why: string): never => {
    throw new Error(`refusing to remove ${dir}: ${why}; nothing was deleted`);
  };
  if (st.isSymbolicLink()) refuse('it is a symbolic link');
  if (!st.isDirectory()) refuse('it is not a folder');
  const file = path.join(dir, 'kernel.json');
  if (!fs.existsSync(file)) return null;
  const why = foreignSpecReason(fs.readFileSync(file, 'utf8'));
  if (why) refuse(`${why}; remove it with jupyter kernelspec remove ${name}`);
  const entries = fs.readdirSync(dir, { withFileTypes: true });
  const known = new Set<string>(SPEC_FILES);
  const others = entries.filter((e) => !known.has(e.name) || !e.isFile()).map((e) => e.name);
  if (others.length) refuse(`it holds files dytlab kernel install did not write (${others.join(', ')})`);
  for (const e of entries) fs.unlinkSync(path.join(dir, e.name));
  fs.rmdirSync(dir);
  return dir;
}

export interface FoundSpec { name: string; dir: string; spec: KernelSpec | null; error?: string }

/** Kernelspecs in Jupyter's search path; the first folder holding a name wins, as in Jupyter. */
export function listKernels(env: NodeJS.ProcessEnv = process.env): FoundSpec[] {
  const seen = new Map<string, FoundSpec>();
  for (const data of jupyterDataPath(env)) {
    const kernels = path.join(data, 'kernels');
    let names: string[];
    try { names = fs.readdirSync(kernels).sort(); } catch { continue; }
    for (const name of names) {
      const dir = path.join(kernels, name);
      const file = path.join(dir, 'kernel.json');
      if (seen.has(name.toLowerCase()) || !fs.existsSync(file)) continue;
      try {
        seen.set(name.toLowerCase(), { name, dir, spec: JSON.parse(fs.readFileSync(file, 'utf8')) as KernelSpec });
      } catch (e) {
        seen.set(name.toLowerCase(), { name, dir, spec: null, error: (e as Error).message });
      }
    }
  }
  return [...seen.values()];
}

// ---- logo: the tanh curve DyT is named after, on TypeScript blue ----

function logoSvg(): string {
  const pts: string[] = [];
  for (let i = 0; i <= 40; i++) {
    const x = -2 + (4 * i) / 40;
    pts.push(`${(8 + (i / 40) * 48).toFixed(2)},${(32 - 18 * Math.tanh(1.6 * x)).toFixed(2)}`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">
  <rect width="64" height="64" rx="10" fill="#3178c6"/>
  <line x1="8" y1="32" x2="56" y2="32" stroke="#ffffff" stroke-opacity="0.35" stroke-width="2"/>
  <polyline points="${pts.join(' ')}" fill="none" stroke="#ffffff" stroke-width="5" stroke-linecap="round" stroke-linejoin="round"/>
</svg>
`;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** The same picture as logoSvg, rasterized (RGBA PNG, size x size). */
export function logoPng(size: number): Buffer {
  const s = size / 64;
  const curve: [number, number][] = [];
  for (let i = 0; i <= 200; i++) {
    const x = -2 + (4 * i) / 200;
    curve.push([(8 + (i / 200) * 48) * s, (32 - 18 * Math.tanh(1.6 * x)) * s]);
  }
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const px = x + 0.5, py = y + 0.5;
      // Rounded square (radius 10/64) with a soft edge.
      const r = 10 * s;
      const dx = Math.max(r - px, 0, px - (size - r)), dy = Math.max(r - py, 0, py - (size - r));
      const inside = Math.min(1, Math.max(0, r + 0.5 - Math.hypot(dx, dy)));
      let d = Infinity;
      for (const [cx, cy] of curve) d = Math.min(d, Math.hypot(px - cx, py - cy));
      const line = Math.min(1, Math.max(0, 2.5 * s + 0.5 - d));
      const axis = Math.abs(py - 32 * s) < 1 * s && px > 8 * s && px < 56 * s ? 0.35 : 0;
      const w = Math.max(line, axis);
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = Math.round(0x31 + (255 - 0x31) * w);
      raw[o + 1] = Math.round(0x78 + (255 - 0x78) * w);
      raw[o + 2] = Math.round(0xc6 + (255 - 0xc6) * w);
      raw[o + 3] = Math.round(255 * inside);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 6; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}
