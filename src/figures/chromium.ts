// Which Chromium renders figures: $DYTLAB_CHROMIUM, else the first Chromium or
// Chrome on PATH, else the browser playwright-core would download. None found
// is an error naming every place looked at, and how to fix it.
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

const requireHere = createRequire(__filename);

/** Executable names looked for on PATH, in order. */
export const CHROMIUM_NAMES: readonly string[] = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome', 'chrome'];

/**
 * Flags for headless Chromium as root in a container without network: no
 * sandbox (it needs user namespaces), no GPU, and nothing that phones home.
 * playwright-core gives each launch a fresh profile (its own --user-data-dir).
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
];

export class ChromiumNotFoundError extends Error {
  constructor(message: string, readonly tried: string[]) {
    super(message);
    this.name = 'ChromiumNotFoundError';
  }
}

function executable(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** playwright-core's module (a runtime dependency: figure export launches Chromium through it), or an Error saying it is missing. */
export function playwrightCore(): typeof import('playwright-core') {
  try {
    return requireHere('playwright-core') as typeof import('playwright-core');
  } catch (err) {
    throw new Error(`exporting figures drives Chromium through the package 'playwright-core' (a dependency of dytlab), which did not load (${(err as Error).message.split('\n')[0]}): run npm install where dytlab is installed`);
  }
}

/** The browser playwright-core would use (downloaded by `npx playwright install chromium`), or undefined when it cannot say. */
function playwrightPath(): string | undefined {
  try {
    return playwrightCore().chromium.executablePath();
  } catch {
    return undefined;
  }
}

/**
 * The Chromium executable to use. `env` defaults to process.env. Throws a
 * ChromiumNotFoundError listing what was tried; a DYTLAB_CHROMIUM that names no
 * executable is an error even when another Chromium exists (it is never
 * silently replaced).
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string {
  const tried: string[] = [];
  const fix = "install Debian's chromium (apt-get install chromium) or another Chromium/Chrome, or set DYTLAB_CHROMIUM to its executable";
  const explicit = env.DYTLAB_CHROMIUM;
  if (explicit !== undefined && explicit !== '') {
    if (executable(explicit)) return explicit;
    tried.push(`DYTLAB_CHROMIUM=${explicit} (not an executable file)`);
  } else {
    tried.push('DYTLAB_CHROMIUM (not set)');
  }
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  let onPath: string | undefined;
  for (const d of dirs) {
    for (const n of CHROMIUM_NAMES) if (!onPath && executable(join(d, n))) onPath = join(d, n);
  }
  tried.push(dirs.length ? `PATH (${CHROMIUM_NAMES.join(', ')} in ${dirs.join(delimiter)}): ${onPath ? `found ${onPath}` : 'none'}` : 'PATH (empty)');
  const pw = onPath ? undefined : playwrightPath();
  if (!onPath) tried.push(pw ? `playwright-core's browser ${pw}${executable(pw) ? '' : ' (not installed)'}` : "playwright-core's browser (unknown for this platform)");
  if (explicit) {
    throw new ChromiumNotFoundError(`no Chromium to render figures: DYTLAB_CHROMIUM=${explicit} is not an executable file${onPath ? ` (${onPath} is on PATH: unset DYTLAB_CHROMIUM to use it)` : ''}. Tried: ${tried.join('; ')}. Fix: ${fix}.`, tried);
  }
  if (onPath) return onPath;
  if (pw && executable(pw)) return pw;
  throw new ChromiumNotFoundError(`no Chromium to render figures. Tried: ${tried.join('; ')}. Fix: ${fix}.`, tried);
}
