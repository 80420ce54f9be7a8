/**
 * Says yes at most once per `intervalMs` for each key, so a lasting condition (a database that is down)
 * gives a log line now and then instead of one per request. `force` says yes regardless and restarts the
 * interval, for a line written because something changed.
 */
export function createThrottle(intervalMs: number): (key: string, force?: boolean) => boolean {
  const last = new Map<string, number>()
  return (key, force = false) => {
    const now = Date.now()
    const previous = last.get(key)
    if (!force && previous !== undefined && now - previous < intervalMs) return false
    last.set(key, now)
    return true
  }
}
