/** What the benchmarks share: their summary statistic, and the loop that runs two sides in turn. */

/** The middle value (the upper one of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/**
 * Runs `a` and `b` once each per round, `rounds` times, alternating which goes first so that neither always runs
 * right after a garbage collection of the other, and calls `report` after each round. Returns every figure of each
 * side, in order.
 */
export async function inTurn(
  rounds: number,
  a: () => Promise<number>,
  b: () => Promise<number>,
  report: (round: number, a: number, b: number) => void,
): Promise<{ a: number[]; b: number[] }> {
  const all = { a: [] as number[], b: [] as number[] };
  for (let round = 1; round <= rounds; round++) {
    let x: number;
    let y: number;
    if (round % 2) {
      x = await a();
      y = await b();
    } else {
      y = await b();
      x = await a();
    }
    all.a.push(x);
    all.b.push(y);
    report(round, x, y);
  }
  return all;
}
