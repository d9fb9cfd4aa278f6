import { InvalidParamsError } from './errors.js';

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
