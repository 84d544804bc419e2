/** "Did you mean …?": the near matches of a mistyped name (flags, commands, targets, zoo models). Pure. */

/** Levenshtein edit distance (insert, delete, substitute: cost 1 each). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The known names closest to `name`, best first: names within a few edits, and names that contain
 * it or that it contains (so 'vad' finds 'silero-vad'). At most `limit`.
 */
export function closestNames(name: string, known: readonly string[], limit = 3): string[] {
  const needle = name.trim().toLowerCase();
  if (!needle) return [];
  const maxEdits = Math.max(2, Math.floor(needle.length / 3));
  const scored: { name: string; score: number }[] = [];
  for (const candidate of known) {
    const d = editDistance(needle, candidate);
    if (d <= maxEdits) scored.push({ name: candidate, score: d });
    else if (candidate.includes(needle) || needle.includes(candidate))
      scored.push({ name: candidate, score: maxEdits + 1 + Math.abs(candidate.length - needle.length) / 100 });
  }
  scored.sort((x, y) => x.score - y.score || x.name.localeCompare(y.name));
  return scored.slice(0, limit).map((s) => s.name);
}

/** The candidate closest to `input`, when it is close enough to be a likely typo. */
export function closest(input: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(input, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) && bestDistance < best.length ? best : undefined;
}
