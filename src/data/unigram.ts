// The baseline a language model must beat: validation cross-entropy under the
// training set's token frequencies (a model that ignores context entirely).
import { ConfigError } from '../util/schema.js';

/**
 * Cross-entropy in nats/token of `val` under the unigram model of `train` with
 * add-one (Laplace) smoothing: p(t) = (count_train(t) + 1) / (|train| + vocabSize).
 * Every id must lie in [0, vocabSize).
 */
export function unigramCrossEntropy(train: ArrayLike<number>, val: ArrayLike<number>, vocabSize: number): number {
  if (!Number.isInteger(vocabSize) || vocabSize < 1) {
    throw new ConfigError(`unigramCrossEntropy: vocabSize = ${vocabSize} is invalid: expected a positive integer`);
  }
  if (val.length === 0) throw new ConfigError('unigramCrossEntropy: val is empty: nothing to score');
  const counts = new Float64Array(vocabSize);
  const tally = (ids: ArrayLike<number>, name: string, add: boolean): void => {
    for (let i = 0; i < ids.length; i++) {
      const t = ids[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= vocabSize) {
        throw new ConfigError(`unigramCrossEntropy: ${name}[${i}] = ${t} is invalid: expected an id in [0, ${vocabSize})`);
      }
      if (add) counts[t] += 1;
    }
  };
  tally(train, 'train', true);
  tally(val, 'val', false);
  const logZ = Math.log(train.length + vocabSize);
  const logP = counts.map((c) => Math.log(c + 1) - logZ);
  let nll = 0;
  for (let i = 0; i < val.length; i++) nll -= logP[val[i]!]!;
  return nll / val.length;
}
