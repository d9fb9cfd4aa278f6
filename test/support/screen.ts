/**
 * What a terminal `columns` wide shows after a program wrote `output` to it: its lines top to bottom, scrollback
 * included, so a test sees what a person would, not the bytes. A newline also returns the carriage, as a terminal's
 * driver does by default. It knows the controls a line-based program uses (carriage return, erase in line, column,
 * save/restore cursor, modes, colours); any other escape sequence throws, so a test notices instead of misreading.
 */
export function renderScreen(output: string, columns: number): { lines: string[]; wrapped: boolean } {
  const lines: string[][] = [[]];
  let row = 0;
  let col = 0;
  let autowrap = true;
  let wrapped = false;
  let saved = { row: 0, col: 0 };
  const line = () => (lines[row] ??= []);
  const newline = () => {
    row++;
    col = 0;
    while (lines.length <= row) lines.push([]);
  };
  for (let i = 0; i < output.length; i++) {
    const ch = output[i]!;
    if (ch === '\r') col = 0;
    else if (ch === '\n') newline();
    else if (ch === '\b') col = Math.max(0, col - 1);
    else if (ch === '\x1b') {
      const next = output[i + 1];
      if (next === '7') {
        saved = { row, col };
        i++;
      } else if (next === '8') {
        ({ row, col } = saved);
        i++;
      } else if (next === '[') {
        const match = /^\[(\??)([\d;]*)([A-Za-z])/.exec(output.slice(i + 1));
        if (!match) throw new Error(`unsupported escape sequence at ${i}: ${JSON.stringify(output.slice(i, i + 10))}`);
        i += match[0].length;
        const [, priv, params, final] = match;
        const n = params === '' ? 0 : Number(params!.split(';')[0]);
        if (priv) {
          if (params === '7') autowrap = final === 'h';
        } else if (final === 'K') {
          const l = line();
          if (n === 0) l.length = Math.min(l.length, col);
          else if (n === 1) for (let c = 0; c <= col && c < l.length; c++) l[c] = ' ';
          else l.length = 0;
        } else if (final === 'G') col = Math.max(0, (n || 1) - 1);
        else if (final !== 'm') throw new Error(`unsupported escape sequence at ${i}: ${JSON.stringify(match[0])}`);
      } else throw new Error(`unsupported escape sequence at ${i}: ${JSON.stringify(output.slice(i, i + 10))}`);
    } else if (ch >= ' ') {
      if (col >= columns) {
        wrapped = true;
        if (autowrap) newline();
        else col = columns - 1;
      }
      const l = line();
      while (l.length < col) l.push(' ');
      l[col++] = ch;
    }
  }
  return { lines: lines.map((l) => l.join('').trimEnd()), wrapped };
}
