#!/usr/bin/env node
'use strict';
// The `dytlab` command: a thin launcher for the built CLI.
let cli;
try {
  cli = require('../dist/cli.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('dist/cli.js')) {
    console.error('dytlab: the package is not built yet (dist/ is missing). Run `npm install` or `npm run build` in the project folder.');
    process.exit(1);
  }
  throw e;
}
cli.main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`dytlab: ${err && err.message ? err.message : err}`); process.exitCode = 1; },
);
