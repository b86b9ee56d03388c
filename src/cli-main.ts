// Entry point that runs the CLI from source (tests spawn it under tsx); bin/dytlab.js runs the built one.
import { main } from './cli.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: Error) => { console.error(`dytlab: ${err.message}`); process.exitCode = 1; },
);
