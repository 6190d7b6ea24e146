/**
 * The Shamir threshold: the one rule for which thresholds sops can split a data key with, and
 * sops's wording when it cannot.
 *
 * With one key group there is nothing to split: every key wraps the whole data key and the
 * threshold is not used (sops writes it as given). With several groups sops splits the key with
 * its `shamir.Split(key, groups, threshold)`, which refuses a threshold below 2 or above the number
 * of groups; a threshold of 0 (unset) means "all groups".
 */
import { ExitCode, SopsError } from '../errors.js';

/** Why sops's Shamir split refuses `threshold` for `groups` key groups (its words), or undefined. */
export function shamirSplitProblem(groups: number, threshold: number): string | undefined {
  if (groups <= 1) return undefined;
  const t = threshold === 0 ? groups : threshold;
  if (groups < t) return 'parts cannot be less than threshold';
  if (groups > 255) return 'parts cannot exceed 255';
  if (t < 2) return 'threshold must be at least 2';
  return undefined;
}

/**
 * Refuse a threshold the data key cannot be split with, as sops refuses it when it generates the
 * data key (exit code 1), with a line that says what to do instead.
 */
export function checkShamirThreshold(groups: number, threshold: number): void {
  const problem = shamirSplitProblem(groups, threshold);
  if (problem === undefined) return;
  const t = threshold === 0 ? groups : threshold;
  const advice =
    t < 2
      ? 'a threshold of 1 would let any one key group decrypt, which sops cannot read: to let any one key decrypt, put all the keys in one key group'
      : groups > 255
        ? 'use at most 255 key groups'
        : `${t} of ${groups} key groups can never be found: lower the threshold or add key groups`;
  throw new SopsError(`Could not generate data key: [could not split data key into parts for Shamir: ${problem}] (${advice})`, ExitCode.ErrorGeneric);
}
