/**
 * Says yes at most once per `intervalMs` for each key, so a lasting condition (a database that is down)
 * gives a log line now and then instead of one per request.
 */
export function createThrottle(intervalMs: number): (key: string) => boolean {
  const last = new Map<string, number>()
  return (key) => {
    const now = Date.now()
    const previous = last.get(key)
    if (previous !== undefined && now - previous < intervalMs) return false
    last.set(key, now)
    return true
  }
}
