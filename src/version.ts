import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// Read at load time so the version has one source: package.json (one level above src/ and dist/).
export const VERSION: string = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
