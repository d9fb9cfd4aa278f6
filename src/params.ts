import { InvalidParamsError } from './errors.js';
import { refusalOf } from './verdict.js';

/**
 * Asks the job whether it takes these params (`validateParams`), and throws `InvalidParamsError` with its reason
 * when it does not. Only `true` accepts: a check that forgets to return refuses everything at once, rather than
 * letting everything through. A job without the hook takes any params.
 */
export function checkParams(job: { validateParams?(params: never): unknown }, jobName: string, params: unknown): void {
  if (typeof job.validateParams !== 'function') return;
  const refusal = refusalOf('validateParams', 'them', () => job.validateParams!(params as never));
  if (refusal) throw new InvalidParamsError(jobName, refusal.problem, { refused: true, cause: refusal.cause });
}

/**
 * A deep, frozen copy of a run's params: what hooks, the enumerator and `eachIteration` receive. The copy keeps the
 * caller's object and the saved params out of reach of a hook that edits its argument; freezing turns such an edit
 * into an error at the line that makes it instead of a silent change that differs between first run and resume.
 */
export function frozenParams<Params>(jobName: string, params: Params): Params {
  if (params === null || typeof params !== 'object') return params;
  let copy: Params;
  try {
    copy = structuredClone(params);
  } catch (error) {
    throw new InvalidParamsError(jobName, (error as Error).message);
  }
  return deepFreeze(copy);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  }
  return value;
}
