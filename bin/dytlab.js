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
// Exit once the command is done, even if a notebook left timers or handles open
// (the unref'd timer only fires when something else keeps the process alive).
const done = (code) => {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 500).unref();
};
cli.main(process.argv.slice(2)).then(done, (err) => {
  console.error(`dytlab: ${err && err.message ? err.message : err}`);
  done(1);
});
