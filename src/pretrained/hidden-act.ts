// transformers' activation names (ACT2FN) for the MLPs of loaded checkpoints.
import { tf } from '../engine/tf.js';
import type { Tensor } from '../engine/tf.js';
import { gelu, geluExact } from '../nn/mlp.js';
import { cfgStr } from './config.js';
import type { Snapshot } from './snapshot.js';

export type Activation = (x: Tensor) => Tensor;

/** ACT2FN names this lab computes; the tanh GELUs are one formula under several names. */
export const HIDDEN_ACTS = {
  gelu: geluExact, // exact erf GELU (nn.GELU())
  gelu_new: gelu, // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  gelu_pytorch_tanh: gelu,
  gelu_fast: gelu,
  relu: (x: Tensor) => tf.relu(x),
  silu: (x: Tensor) => tf.tidy(() => tf.mul(x, tf.sigmoid(x))),
  swish: (x: Tensor) => tf.tidy(() => tf.mul(x, tf.sigmoid(x))),
  quick_gelu: (x: Tensor) => tf.tidy(() => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)))),
} satisfies Record<string, Activation>;
export type HiddenAct = keyof typeof HIDDEN_ACTS;

/** config.json's activation field (`hidden_act` unless said), checked against HIDDEN_ACTS. */
export function hiddenAct(s: Pick<Snapshot, 'dir' | 'config'>, key: string | string[] = 'hidden_act', fallback: HiddenAct = 'gelu'): { name: HiddenAct; fn: Activation } {
  const name = cfgStr(s, key, fallback, Object.keys(HIDDEN_ACTS) as HiddenAct[]);
  return { name, fn: HIDDEN_ACTS[name] };
}
