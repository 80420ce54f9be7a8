/** Keeps the first spelling of each address, comparing case-insensitively. */
export function uniqueAddresses(list: readonly string[]): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const item of list) {
    const key = item.trim().toLowerCase()
    if (seen.has(key)) continue
    seen.add(key)
    out.push(item.trim())
  }
  return out
}
