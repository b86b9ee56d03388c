// bench/peer's pieces: the cases (the LM and the ViT, the same sizes on both
// sides), dytlab's side of a case built through the public API, the parameter
// parity check, and the PyTorch side as a long-lived python process
// (bench/peer/peer.py --serve) with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
// removed from its environment only.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { AdamW, createLM, createViT, crossEntropy, DEFAULT_ALPHA0, tf, type NormSpec } from '../../src/index.js';

export type PeerModel = 'lm' | 'vit';
export type PeerNorm = 'layernorm' | 'dyt';
export const PEER_MODELS: readonly PeerModel[] = ['lm', 'vit'];
export const PEER_NORMS: readonly PeerNorm[] = ['layernorm', 'dyt'];

/** One benchmark case: the model's sizes and its optimizer, the same on both sides. */
export interface PeerCase {
  model: PeerModel;
  norm: PeerNorm;
  dModel: number; layers: number; heads: number; mlpRatio: number; batch: number;
  /** LM only. */
  vocab: number; context: number;
  /** ViT only. */
  imageSize: number; patch: number; channels: number; classes: number;
  lr: number; beta1: number; beta2: number; eps: number; weightDecay: number;
  alpha0: number;
  seed: number;
}

const common = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, alpha0: DEFAULT_ALPHA0, seed: 0, vocab: 96, context: 64, imageSize: 28, patch: 7, channels: 1, classes: 10 };
/** The LM of the issue: vocab 96, d_model 128, 4 layers, 4 heads, context 64, batch 16, GELU MLP 4x, AdamW (wd 0.1). */
export const LM_CASE: Omit<PeerCase, 'norm'> = { ...common, model: 'lm', dModel: 128, layers: 4, heads: 4, mlpRatio: 4, batch: 16, weightDecay: 0.1 };
/** configs/study/variants-vit.json's ViT: d_model 64, 4 blocks, 4 heads, patch 7 on 28x28, MLP 2x, mean pool, batch 64, AdamW (wd 0.05, beta2 0.99). */
export const VIT_CASE: Omit<PeerCase, 'norm'> = { ...common, model: 'vit', dModel: 64, layers: 4, heads: 4, mlpRatio: 2, batch: 64, weightDecay: 0.05, beta2: 0.99 };

export function peerCase(model: PeerModel, norm: PeerNorm, patch: Partial<PeerCase> = {}): PeerCase {
  return { ...(model === 'lm' ? LM_CASE : VIT_CASE), norm, ...patch, model };
}

/** peer.py's arguments for a case. */
export function torchArgs(c: PeerCase, o: { warmup: number; steps: number; threads: number; countOnly?: boolean }): string[] {
  const a = [
    '--model', c.model, '--norm', c.norm, '--d-model', c.dModel, '--layers', c.layers, '--heads', c.heads,
    '--mlp-ratio', c.mlpRatio, '--batch', c.batch, '--lr', c.lr, '--beta1', c.beta1, '--beta2', c.beta2, '--eps', c.eps,
    '--weight-decay', c.weightDecay, '--alpha0', c.alpha0, '--seed', c.seed, '--warmup', o.warmup, '--steps', o.steps, '--threads', o.threads,
    ...(c.model === 'lm' ? ['--vocab', c.vocab, '--context', c.context] : ['--image-size', c.imageSize, '--patch', c.patch, '--channels', c.channels, '--classes', c.classes]),
    ...(o.countOnly ? ['--count-only'] : []),
  ];
  return a.map(String);
}

const normSpec = (c: PeerCase): NormSpec => (c.norm === 'layernorm' ? { kind: 'layernorm' } : { kind: 'dyt', alpha0: c.alpha0 });

/** dytlab's side of a case, as a researcher writes it: createLM / createViT, AdamW, crossEntropy, tf.variableGrads. */
export interface DytlabCase {
  shapes: ParamShape[];
  itemsPerStep: number;
  unit: 'tokens' | 'images';
  /** One full training step (forward, backward, AdamW update) on batch i (of a few, cycled); resolves when done. */
  step(i: number): Promise<number>;
  dispose(): void;
}

export function dytlabCase(c: PeerCase): DytlabCase {
  const model = c.model === 'lm'
    ? createLM({ vocabSize: c.vocab, context: c.context, dModel: c.dModel, nLayers: c.layers, nHeads: c.heads, mlp: 'gelu', mlpRatio: c.mlpRatio, norm: normSpec(c), seed: c.seed })
    : createViT({ imageSize: c.imageSize, patchSize: c.patch, channels: c.channels, classes: c.classes, dModel: c.dModel, nLayers: c.layers, nHeads: c.heads, mlpRatio: c.mlpRatio, pool: 'mean', norm: normSpec(c), seed: c.seed });
  const params = model.namedParameters();
  const opt = new AdamW(params, { beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay });
  const vars = model.trainableVariables();
  const names = new Map(params.map((p) => [p.variable.name, p.name]));
  const batches = Array.from({ length: 4 }, (_, i) => (c.model === 'lm'
    ? { x: tf.randomUniform([c.batch, c.context], 0, c.vocab, 'int32', 11 + i), y: tf.randomUniform([c.batch, c.context], 0, c.vocab, 'int32', 51 + i) }
    : { x: tf.randomUniform([c.batch, c.imageSize, c.imageSize, c.channels], 0, 1, 'float32', 11 + i), y: tf.randomUniform([c.batch], 0, c.classes, 'int32', 51 + i) }));
  return {
    shapes: paramShapes(params),
    itemsPerStep: c.model === 'lm' ? c.batch * c.context : c.batch,
    unit: c.model === 'lm' ? 'tokens' : 'images',
    async step(i: number): Promise<number> {
      const b = batches[i % batches.length]!;
      const { value, grads } = tf.variableGrads(() => crossEntropy(model.apply(b.x), b.y), vars);
      opt.apply(new Map(Object.entries(grads).map(([k, g]) => [names.get(k)!, g])), c.lr);
      const loss = (await value.data())[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    },
    dispose() {
      opt.dispose();
      model.dispose();
      tf.dispose(batches.flatMap((b) => [b.x, b.y]));
    },
  };
}

export interface ParamShape { name: string; shape: number[] }

export function paramShapes(params: readonly { name: string; variable: { shape: number[] }; trainable: boolean }[]): ParamShape[] {
  return params.filter((p) => p.trainable).map((p) => ({ name: p.name, shape: [...p.variable.shape] }));
}

export interface ParamParity {
  ok: boolean;
  dytlab: number;
  torch: number;
  /** What differs (empty when ok): the totals, and tensor sizes present on one side only. */
  differences: string[];
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/**
 * Do two models hold the same trainable parameters? Same total, and the same
 * multiset of tensor sizes (names and layouts differ between the libraries:
 * dytlab's Linear weight is [in, out], torch's [out, in]).
 */
export function paramParity(dytlab: readonly ParamShape[], torch: readonly ParamShape[]): ParamParity {
  const count = (xs: readonly ParamShape[]) => xs.reduce((a, p) => a + numel(p.shape), 0);
  const sizes = (xs: readonly ParamShape[]) => {
    const m = new Map<number, string[]>();
    for (const p of xs) m.set(numel(p.shape), [...(m.get(numel(p.shape)) ?? []), p.name]);
    return m;
  };
  const d = count(dytlab), t = count(torch);
  const differences: string[] = [];
  if (d !== t) differences.push(`total: dytlab ${d}, torch ${t}`);
  const ds = sizes(dytlab), ts = sizes(torch);
  for (const n of [...new Set([...ds.keys(), ...ts.keys()])].sort((a, b) => a - b)) {
    const a = ds.get(n) ?? [], b = ts.get(n) ?? [];
    if (a.length !== b.length) differences.push(`tensors of ${n} values: dytlab ${a.length} (${a.slice(0, 3).join(', ')}${a.length > 3 ? ', ...' : ''}), torch ${b.length} (${b.slice(0, 3).join(', ')}${b.length > 3 ? ', ...' : ''})`);
  }
  return { ok: differences.length === 0, dytlab: d, torch: t, differences };
}

/** paramParity that throws, naming the case and every difference. */
export function assertParamParity(label: string, dytlab: readonly ParamShape[], torch: readonly ParamShape[]): ParamParity {
  const p = paramParity(dytlab, torch);
  if (!p.ok) throw new Error(`bench/peer ${label}: the two models differ in their parameters, so the comparison would not be fair:\n  ${p.differences.join('\n  ')}`);
  return p;
}

// ---------------------------------------------------------------------------------------------
// The PyTorch side

export const PEER_SCRIPT = join(__dirname, 'peer.py');

/** The environment of the python process: this one's, without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE. */
export function torchEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out = { ...env };
  delete out.OPENBLAS_CORETYPE;
  delete out.OPENBLAS_L2_SIZE;
  return out;
}

/**
 * A python that imports torch: DYTLAB_PYTHON when set (and only it), else the
 * first of /usr/bin/python3 (Debian's python3-torch) and python3 on the PATH.
 */
export function findTorchPython(env: NodeJS.ProcessEnv = process.env): { python: string; torch: string } | { reason: string } {
  const tried: string[] = [];
  for (const py of env.DYTLAB_PYTHON ? [env.DYTLAB_PYTHON] : ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000, env: torchEnv(env) });
    if (r.status === 0) return { python: py, torch: r.stdout.trim() };
    tried.push(`${py}: ${r.error ? r.error.message : (r.stderr || '').trim().split('\n').pop()}`);
  }
  return { reason: `no python with torch (${tried.join('; ')}); install Debian's python3-torch or set DYTLAB_PYTHON` };
}

export interface TorchResult {
  model: PeerModel; norm: PeerNorm; threads: number; params: number; shapes: [string, number[]][];
  unit: 'tokens' | 'images'; itemsPerStep: number; stepMs?: number[]; losses?: number[];
}

/** peer.py --serve: one job at a time, each a list of arguments, answered with one JSON line. */
export class TorchPeer {
  private readonly lines: AsyncIterator<string>;
  private constructor(private readonly child: ChildProcessWithoutNullStreams, readonly info: Record<string, unknown>, lines: AsyncIterator<string>, private readonly stderr: () => string) {
    this.lines = lines;
  }

  static async start(python: string, extraEnv: Record<string, string> = {}): Promise<TorchPeer> {
    const child = spawn(python, [PEER_SCRIPT, '--serve'], { env: { ...torchEnv(), ...extraEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err = (err + d.toString('utf8')).slice(-4000); });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done) throw new Error(`bench/peer: ${python} ${PEER_SCRIPT} --serve ended before it was ready:\n${err}`);
    const info = JSON.parse(first.value) as Record<string, unknown>;
    return new TorchPeer(child, info, lines, () => err);
  }

  async job(args: string[]): Promise<TorchResult> {
    this.child.stdin.write(`${JSON.stringify(args)}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error(`bench/peer: peer.py ended during a job:\n${this.stderr()}`);
    const out = JSON.parse(r.value) as TorchResult & { error?: string };
    if (out.error) throw new Error(`bench/peer: ${out.error}`);
    return out;
  }

  close(): void {
    this.child.stdin.end();
  }
}

export function torchShapes(r: TorchResult): ParamShape[] {
  return r.shapes.map(([name, shape]) => ({ name, shape }));
}
