/**
 * Asks a synchronous check (`validateCursor`, `validateParams`) and says why it refused, or `undefined` when it
 * accepted. Only `true` accepts; `false`, a reason or a throw refuses, and so does a Promise, which a check given
 * input from outside must not return: the run would go on before the answer came.
 */
export function refusalOf(hook: string, refusedWhat: string, ask: () => unknown): { problem: string; cause?: unknown } | undefined {
  let verdict: unknown;
  let cause: unknown;
  try {
    verdict = ask();
  } catch (error) {
    verdict = error instanceof Error ? error.message : String(error);
    cause = error;
  }
  if (verdict === true) return undefined;
  const problem =
    typeof verdict === 'string' && verdict !== ''
      ? verdict
      : isThenable(verdict)
        ? `${hook} returned a Promise; it must answer synchronously (true, false or a reason)`
        : `${hook} refused ${refusedWhat}`;
  return cause === undefined ? { problem } : { problem, cause };
}

export function isThenable(value: unknown): value is PromiseLike<any> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';
}
