// The command tree of `dytlab`, on commander: every command answers --help,
// accepts --opt=value, suggests close spellings, and misuse exits 2. Each
// action hands typed options to the module that does the work.
import { Command, Option } from 'commander';
import { BACKEND_NAMES, type BackendName } from '../engine/backend.js';
import { RUN_STATUSES, type RunStatus } from '../experiments/store/index.js';
import { VERSION } from '../version.js';
import { collect, positiveInt, positiveSeconds, text } from './args.js';
import { bashCompletion } from './completion.js';
import { doctorCommand } from './doctor.js';
import { figuresCommand } from './figures.js';
import { inspectCommand } from './inspect.js';
import { kernelInstall, kernelList, kernelRemove, type KernelIO } from './kernelspec.js';
import { reproduceCommand, runCommand, type Profile } from './notebooks.js';
import { storeLs, storeMerge } from './store.js';
import { studyExport, studyRun, studyStatus } from './study.js';
import { sweepCommand } from './sweep.js';
import { trainCommand } from './train.js';

export interface CliIO extends KernelIO {
  stdout: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(s: string): unknown; isTTY?: boolean; columns?: number };
}

const ENVIRONMENT = `
Environment:
  DYTLAB_BACKEND=tensorflow|wasm|cpu|webgpu   force a compute backend
  DYTLAB_WASM_THREADS=N                       wasm threads (default: one per CPU, self-checked; 0 = off)
  DYTLAB_RELAXED_SIMD=1|0                     kernels' relaxed-SIMD build (default: where the runtime has it; 1 = also Node 20)
  DYTLAB_STORE=PATH                           the run store (default runs/dytlab.sqlite)
  DYTLAB_CHROMIUM=PATH                        the Chromium that renders figures (default: chromium/google-chrome on PATH, else playwright-core's)
  DYTLAB_FIGURES=skip                         run/reproduce: do not export the figures notebooks saved`;

/** Where --prefix, --user and --sys-prefix (one of them) say the kernelspec goes. */
function whereOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--user', "the user's Jupyter data folder ($JUPYTER_DATA_DIR or ~/.local/share/jupyter; the default)").conflicts(['prefix', 'sysPrefix']))
    .addOption(new Option('--prefix <dir>', 'DIR/share/jupyter (e.g. a virtualenv)').argParser(text).conflicts(['sysPrefix']))
    .addOption(new Option('--sys-prefix', "Python's sys.prefix/share/jupyter"))
    .option('--name <name>', 'kernelspec name (letters, digits, -, _ and .)', text);
}

/**
 * The program, writing through `io`. `done(code)` receives each action's exit code.
 * Commander's own exits (help, version, misuse) surface as CommanderErrors (exitOverride).
 */
export function buildProgram(io: CliIO, done: (code: number) => void): Command {
  const program = new Command('dytlab')
    .description('a lab for transformers without normalization layers')
    .version(VERSION, '-v, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      getOutHelpWidth: () => io.stdout.columns ?? 100,
      getErrHelpWidth: () => io.stderr.columns ?? 100,
    })
    .showSuggestionAfterError(true)
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', ENVIRONMENT);

  program.command('doctor')
    .description('show the compute backend chosen and check the engine numerically')
    .addOption(new Option('--backend <name>', 'use this backend instead of choosing').choices(BACKEND_NAMES))
    .option('--json', 'print the report as JSON')
    .action(async (o: { backend?: BackendName; json?: boolean }) => done(await doctorCommand({ ...o, json: o.json ?? false })));

  program.command('train')
    .description('train one run from a JSON/YAML config; metrics go to the run store')
    .option('--config <file>', 'the run config (JSON or YAML)', text)
    .option('--set <key=value>', 'override a config field (repeatable; value parsed as JSON when it parses)', collect)
    .option('--store <path>', 'the run store (default $DYTLAB_STORE or runs/dytlab.sqlite)', text)
    .option('--resume <checkpoint>', 'continue from a checkpoint (its config, unless --config is given)', text)
    .option('--quiet', 'no progress bar')
    .option('--allow-large', 'train even when the memory estimate is above the limit (75% of this machine\'s memory)')
    .addHelpText('after', '\nExit status: 0 finished, 3 diverged, 4 stalled (train.stall), 1 failed, 2 misuse; 130/143 interrupted (resumable).')
    .action(async (o: { config?: string; set?: string[]; store?: string; resume?: string; quiet?: boolean; allowLarge?: boolean }, cmd: Command) => {
      if (o.config === undefined && o.resume === undefined) cmd.error('error: give --config FILE (or --resume CHECKPOINT)', { exitCode: 2 });
      done(await trainCommand({ ...o, set: o.set ?? [], quiet: o.quiet ?? false, allowLarge: o.allowLarge ?? false }));
    });

  program.command('sweep')
    .description("run a sweep's missing combinations in parallel workers (default one per core)")
    .argument('<file>', 'the sweep file (JSON or YAML)', text)
    .option('--profile <name>', "one of the sweep file's profiles", text)
    .option('--store <path>', 'the run store (default $DYTLAB_STORE or runs/dytlab.sqlite)', text)
    .option('--jobs <n>', 'parallel workers', positiveInt)
    .option('--shard <i/N>', 'run only the combinations k with k mod N = i (default: from Slurm array variables)', text)
    .option('--dry-run', 'print the plan and an estimated time; train nothing')
    .option('--quiet', 'no progress display')
    .option('--allow-large', 'run combinations whose memory estimate is over their worker\'s share of the limit')
    .action(async (file: string, o: { profile?: string; store?: string; jobs?: number; shard?: string; dryRun?: boolean; quiet?: boolean; allowLarge?: boolean }) =>
      done(await sweepCommand({ file, ...o, dryRun: o.dryRun ?? false, quiet: o.quiet ?? false }, io)));

  const study = program.command('study').description('the study (configs/study/): run its sweeps, see how far they are, export data/study/');
  study.command('run')
    .description('run every study sweep (grid, then its learning-rate bracket) into the study store; resumable')
    .option('--store <path>', 'the study store (default runs/study.sqlite)', text)
    .option('--jobs <n>', 'parallel workers per sweep', positiveInt)
    .option('--profile <name>', "the sweeps' profile (smoke: seconds, for tests; default: the study itself)", text)
    .option('--only <study>', 'only this study (repeatable: variants, swiglu, stability)', collect)
    .option('--dry-run', 'print the plans and estimated times; train nothing')
    .option('--quiet', 'no progress display')
    .action(async (o: { store?: string; jobs?: number; profile?: string; only?: string[]; dryRun?: boolean; quiet?: boolean }) =>
      done(await studyRun({ ...o, dryRun: o.dryRun ?? false, quiet: o.quiet ?? false }, io)));
  study.command('status')
    .description('per study sweep: runs with a result, runs to go, bracket cells still open')
    .option('--store <path>', 'the study store (default runs/study.sqlite)', text)
    .option('--profile <name>', "the sweeps' profile", text)
    .action((o: { store?: string; profile?: string }) => done(studyStatus(o, io)));
  study.command('export')
    .description('write runs.csv, runs.parquet, choices.csv and traces.csv (default into data/study/)')
    .option('--store <path>', 'the study store (default runs/study.sqlite)', text)
    .option('--out <dir>', 'output folder (default data/study)', text)
    .option('--profile <name>', "the sweeps' profile", text)
    .option('--partial', 'export even when runs or bracket cells are still open')
    .action((o: { store?: string; out?: string; profile?: string; partial?: boolean }) => done(studyExport(o, io)));

  const store = program.command('store').description('combine and list run stores');
  store.command('merge')
    .description('copy the runs of other stores (e.g. sweep shards) into TARGET, no duplicates')
    .argument('<target>', 'the store to merge into (created if missing)', text)
    .argument('<sources...>', 'stores to copy from')
    .action((target: string, sources: string[]) => done(storeMerge(target, sources.map(text), io)));
  store.command('ls')
    .description('list runs: id, name, status, steps, final metric')
    .option('--store <path>', 'the run store (default $DYTLAB_STORE or runs/dytlab.sqlite)', text)
    .addOption(new Option('--status <status>', 'only runs with this status').choices(RUN_STATUSES))
    .option('--name <name>', 'only runs with this name', text)
    .option('--metric <name>', 'the metric to show', text, 'val/loss')
    .option('--json', 'print JSON')
    .action((o: { store?: string; status?: RunStatus; name?: string; metric: string; json?: boolean }) => done(storeLs({ ...o, json: o.json ?? false }, io)));

  program.command('run')
    .description('execute notebooks headless, each in its own process, into DIR: executed .ipynb + HTML report')
    .argument('<notebooks...>', 'the notebooks (.ipynb)')
    .option('-p, --param <name=value>', 'set a parameter (repeatable; value parsed as JSON when it parses)', collect)
    .option('--out <dir>', 'output folder', text, 'reports')
    .option('--timeout <seconds>', 'per-cell time limit', positiveSeconds)
    .option('--allow-errors', 'keep executing after a failing cell')
    .action(async (notebooks: string[], o: { param?: string[]; out: string; timeout?: number; allowErrors?: boolean }) =>
      done(await runCommand({
        notebooks: notebooks.map(text), params: o.param ?? [], outDir: o.out, allowErrors: o.allowErrors ?? false,
        ...(o.timeout !== undefined ? { timeoutSec: o.timeout } : {}),
      })));

  program.command('reproduce')
    .description('run every notebook in notebooks/ into reports/, with reports/index.html')
    .addOption(new Option('--profile <name>', 'the notebooks\' profile').choices(['quick', 'full', 'study']).default('quick'))
    .option('--jobs <n>', 'notebooks at a time (default: one per core, each on its share of the cores)', positiveInt)
    .option('--out <dir>', 'output folder', text, 'reports')
    .option('--notebooks <dir>', 'folder of notebooks', text, 'notebooks')
    .action(async (o: { profile: Profile; jobs?: number; out: string; notebooks: string }) =>
      done(await reproduceCommand({ profile: o.profile, ...(o.jobs ? { jobs: o.jobs } : {}), outDir: o.out, notebooksDir: o.notebooks })));

  program.command('figures')
    .description('write the figures executed notebooks saved (saveFigure) as SVG/PNG/PDF with their data (CSV) and provenance (JSON), without re-running them')
    .argument('<notebooks...>', 'executed notebooks (.ipynb), e.g. reports/00-tour.ipynb')
    .option('--out <dir>', "into DIR/figures/<notebook>/ (default: each notebook's folder, e.g. reports/figures/00-tour/)", text)
    .option('--flat', 'straight into --out DIR as <name>.* (e.g. docs/figures; names must be unique across the notebooks)')
    .option('--only <name>', 'only this figure (repeatable)', collect)
    .option('--formats <list>', 'comma-separated: svg,png,pdf (default: what each figure asked for, normally all three)', text)
    .addHelpText('after', '\nRenders with plotly.js in headless Chromium: $DYTLAB_CHROMIUM, else chromium/google-chrome on PATH, else playwright-core\'s browser.')
    .action(async (notebooks: string[], o: { out?: string; flat?: boolean; only?: string[]; formats?: string }) =>
      done(await figuresCommand({ notebooks: notebooks.map(text), flat: o.flat ?? false, ...(o.out ? { out: o.out } : {}), ...(o.only ? { only: o.only } : {}), ...(o.formats ? { formats: o.formats } : {}) }, io)));

  program.command('inspect')
    .description('describe a Hugging Face snapshot folder from config.json and the safetensors headers (no weights read)')
    .argument('<dir>', 'the snapshot folder (config.json + model.safetensors or model.safetensors.index.json)', text)
    .option('--json', 'print the report as JSON')
    .option('--batch <n>', 'sequences in the forward-pass memory estimate', positiveInt, 1)
    .option('--tokens <n>', 'tokens per sequence in the estimate (default: the context, at most 1024; a ViT: its patches + 1)', positiveInt)
    .action(async (dir: string, o: { json?: boolean; batch: number; tokens?: number }) =>
      done(await inspectCommand({ dir, json: o.json ?? false, batch: o.batch, ...(o.tokens !== undefined ? { tokens: o.tokens } : {}) }, io)));

  const kernel = program.command('kernel').description('install, list or remove the Jupyter kernelspec "TypeScript (dytlab)"');
  whereOptions(kernel.command('install').description('write the kernelspec (argv: this Node.js, dist/kernel/main.js, {connection_file})'))
    .option('--display-name <text>', 'the name Jupyter shows', text)
    .action((o: { user?: boolean; prefix?: string; sysPrefix?: boolean; name?: string; displayName?: string }) => done(kernelInstall(o, io)));
  kernel.command('list')
    .description("kernelspecs found in Jupyter's paths (JUPYTER_PATH, user, env prefix, system)")
    .option('--json', 'print JSON (as jupyter kernelspec list --json)')
    .action((o: { json?: boolean }) => done(kernelList({ json: o.json ?? false }, io)));
  whereOptions(kernel.command('remove').alias('uninstall').description('delete a kernelspec this tool installed'))
    .action((o: { user?: boolean; prefix?: string; sysPrefix?: boolean; name?: string }) => done(kernelRemove(o, io)));

  program.command('completion')
    .description('print a bash/zsh completion script (load it with: source <(dytlab completion))')
    .action(() => { io.stdout.write(bashCompletion(program)); done(0); });

  return program;
}
