/**
 * A line diff of two cell sources, for the student's "diff against your cell": the lines of `mine`
 * removed (`del`), of `theirs` added (`add`), and unchanged ones (`ctx`), from a longest common
 * subsequence of lines. Cells are small; above {@link MAX_CELLS} line pairs the diff gives up on
 * alignment and shows every line of one removed and of the other added (still correct, only longer).
 */

export type DiffLine = { kind: 'ctx' | 'add' | 'del'; text: string };

export const MAX_CELLS = 4_000_000;

export function lineDiff(mine: string, theirs: string): DiffLine[] {
  const a = mine.split('\n');
  const b = theirs.split('\n');
  // common head and tail first: the usual edit touches a few lines in the middle
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) {
    head++;
  }
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) {
    tail++;
  }
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  const lines: DiffLine[] = a.slice(0, head).map(text => ({ kind: 'ctx', text }));
  lines.push(...middle(midA, midB));
  lines.push(...a.slice(a.length - tail).map(text => ({ kind: 'ctx' as const, text })));
  return lines;
}

function middle(a: string[], b: string[]): DiffLine[] {
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_CELLS) {
    return [...a.map(text => ({ kind: 'del' as const, text })), ...b.map(text => ({ kind: 'add' as const, text }))];
  }
  // lcs[i][j]: length of the longest common subsequence of a[i:] and b[j:]
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const lines: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      lines.push({ kind: 'ctx', text: a[i++] });
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      lines.push({ kind: 'del', text: a[i++] });
    } else {
      lines.push({ kind: 'add', text: b[j++] });
    }
  }
  while (i < n) {
    lines.push({ kind: 'del', text: a[i++] });
  }
  while (j < m) {
    lines.push({ kind: 'add', text: b[j++] });
  }
  return lines;
}

/** The changed lines with `context` unchanged lines around each run of changes; `null` marks a gap. */
export function hunks(lines: DiffLine[], context = 2): (DiffLine | null)[] {
  const keep = new Uint8Array(lines.length);
  lines.forEach((line, index) => {
    if (line.kind !== 'ctx') {
      for (let k = Math.max(0, index - context); k <= Math.min(lines.length - 1, index + context); k++) {
        keep[k] = 1;
      }
    }
  });
  const shown: (DiffLine | null)[] = [];
  lines.forEach((line, index) => {
    if (keep[index]) {
      shown.push(line);
    } else if (shown.length && shown[shown.length - 1] !== null) {
      shown.push(null);
    }
  });
  if (shown.length && shown[shown.length - 1] === null) {
    shown.pop();
  }
  return shown;
}
