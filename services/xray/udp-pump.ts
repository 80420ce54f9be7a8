// Sends queued datagrams on a UDP socket connected to the daemon, paced and bounded. One implementation for both
// senders: the request thread's (emitter.ts, inline) and the Worker's (udp-worker.ts).
import { isIPv6 } from 'node:net'

// At most this many datagrams per millisecond (128k a second), so a burst (a split segment, a load spike)
// reaches the daemon spread out instead of overrunning its receive buffer.
const chunk = 128
const maxQueued = 20_000

// What the request thread and the sender worker (udp-worker.ts) say when shutting down: close, then closed once
// everything handed over has been sent.
export const closeMessage = 'close'
export const closedMessage = 'closed'

export interface DatagramPump {
  /** Sends to host:port from now on (a new connected socket; the old one closes once the new one is open). */
  target(host: string, port: number): Promise<void>
  /** The host the socket is connected to, or being connected to. */
  readonly host: string | undefined
  /** Queues datagrams (the array is taken over, not copied); beyond the bound they are dropped and counted. */
  enqueue(datagrams: string[]): void
  /** Datagrams the kernel refused and datagrams dropped for want of room, so far. */
  counts(): { failed: number; dropped: number }
  /** Sends what is queued at once (shutting down), once a socket being opened is open, then closes the socket. */
  close(): Promise<void>
}

/** `problem` is told of every refusal, failure to open and drop (the caller rate-limits what it says). */
export function createDatagramPump(problem: (error?: unknown) => void): DatagramPump {
  let socket: { sendMany(packets: readonly string[]): number; close(): void } | undefined
  let host: string | undefined
  let opening = false
  let opened: Promise<void> | undefined
  let queue: string[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  let failed = 0
  let dropped = 0

  /** Sends one chunk; true when more is queued. */
  const sendChunk = (): boolean => {
    if (!socket || queue.length === 0) return false
    const batch = queue.length <= chunk ? queue : queue.slice(0, chunk)
    queue = queue.length <= chunk ? [] : queue.slice(chunk)
    try {
      const sent = socket.sendMany(batch)
      // A full socket buffer takes fewer: the rest goes first next time.
      if (sent < batch.length) queue = batch.slice(sent).concat(queue)
    } catch (error) {
      // Bun throws synchronously (ECONNREFUSED) when nothing listens on a local port.
      failed += batch.length
      problem(error)
    }
    return queue.length > 0
  }
  const pump = () => {
    timer = undefined
    if (sendChunk()) timer = setTimeout(pump, 1)
  }
  const kick = () => {
    if (timer === undefined && !opening) pump()
  }

  /** Opens a socket connected to to:port; the old one closes once the new one is open. */
  const open = async (to: string, port: number): Promise<void> => {
    try {
      const connected = await Bun.udpSocket({
        // The socket's family must be the daemon's: an IPv4 socket cannot connect to an IPv6 address.
        ...(isIPv6(to) ? { hostname: '::' } : {}),
        connect: { hostname: to, port },
        socket: {
          // A refusal that arrives later (ICMP port unreachable while the daemon restarts) is reported on the
          // socket; unhandled, it would end the thread's event loop and every document after it. The socket
          // stays usable.
          error(_socket, error) {
            failed++
            problem(error)
          },
        },
      })
      socket?.close()
      socket = connected
    } catch (error) {
      problem(error)
    } finally {
      opening = false
    }
    kick()
  }

  return {
    get host() {
      return host
    },
    target(to, port) {
      host = to
      opening = true
      opened = open(to, port)
      return opened
    },
    enqueue(datagrams) {
      if (queue.length + datagrams.length > maxQueued) {
        dropped += datagrams.length
        problem()
        return
      }
      queue = queue.length === 0 ? datagrams : queue.concat(datagrams)
      kick()
    },
    counts: () => ({ failed, dropped }),
    async close() {
      // Datagrams handed over while the socket was still opening go out on it, not nowhere.
      await opened
      clearTimeout(timer)
      timer = undefined
      // Until all is sent, or a full socket buffer stops taking any.
      for (let before = queue.length; sendChunk() && queue.length < before; before = queue.length) {}
      socket?.close()
      socket = undefined
    },
  }
}
