/**
 * Says yes at most once per `intervalMs` for each key, so a lasting condition (a database that is down)
 * gives a log line now and then instead of one per request. `now` says yes regardless and restarts the
 * interval, for a line written because something changed.
 */
export function createThrottle(intervalMs: number): (key: string, now?: boolean) => boolean {
  const last = new Map<string, number>()
  return (key, now = false) => {
    const time = Date.now()
    const previous = last.get(key)
    if (!now && previous !== undefined && time - previous < intervalMs) return false
    last.set(key, time)
    return true
  }
}
