import { InvalidParamsError } from './errors.js';

/**
 * Asks the job whether it takes these params (`validateParams`), and throws `InvalidParamsError` with its reason
 * when it does not. Only `true` accepts: a check that forgets to return refuses everything at once, rather than
 * letting everything through. A job without the hook takes any params.
 */
export function checkParams(job: { validateParams?(params: never): unknown }, jobName: string, params: unknown): void {
  if (typeof job.validateParams !== 'function') return;
  let verdict: unknown;
  let cause: unknown;
  try {
    verdict = job.validateParams(params as never);
  } catch (error) {
    verdict = error instanceof Error ? error.message : String(error);
    cause = error;
  }
  if (verdict === true) return;
  const reason =
    typeof verdict === 'string' && verdict !== ''
      ? verdict
      : typeof verdict === 'object' && verdict !== null && typeof (verdict as { then?: unknown }).then === 'function'
        ? 'validateParams returned a Promise; it must answer synchronously (true, false or a reason)'
        : 'validateParams refused them';
  throw new InvalidParamsError(jobName, reason, { refused: true, cause });
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
