/** Join codes as people read and type them. The server is the authority on normalization. */

/** What the server compares: upper case, without spaces, dashes or underscores. */
export function normalizeCode(code: string): string {
  return code.toUpperCase().replace(/[\s\-_]/g, '');
}

/** A code grouped for reading aloud: `K7QM3X9A` → `K7QM-3X9A`, `K7QM3X9` → `K7Q-M3X9`. */
export function groupCode(code: string): string {
  const plain = normalizeCode(code);
  if (plain.length < 6) {
    return plain;
  }
  const groups: string[] = [];
  let rest = plain;
  const first = rest.length % 4 || 4;
  groups.push(rest.slice(0, first));
  rest = rest.slice(first);
  while (rest) {
    groups.push(rest.slice(0, 4));
    rest = rest.slice(4);
  }
  return groups.join('-');
}
