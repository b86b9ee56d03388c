// The `dytlab` command: parses argv with the command tree of cli/program.ts and
// returns the exit code (0 ok, 1 failed, 2 misuse, 3 a diverged training run, 4 a stalled one).
import { CommanderError } from 'commander';
import { buildProgram, type CliIO } from './cli/program.js';

export { buildProgram, type CliIO } from './cli/program.js';

export async function main(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => { code = c; });
  if (argv.length === 0) {
    // Bare `dytlab` is misuse: usage on stderr, exit 2 (as conventional).
    io.stderr.write(program.helpInformation());
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    // help and --version exit 0; every other parse error (already printed) is misuse.
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  return code;
}
