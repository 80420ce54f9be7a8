// Runs in a Worker: the UDP sends (a syscall per datagram, most of the cost of a traced request when done on
// the request thread) happen here, off the thread that serves requests.
declare const self: Worker

interface Setup {
  readonly host: string
  readonly port: number
}

// At most this many datagrams per millisecond (128k a second), so a burst (a split segment, a load spike)
// reaches the daemon spread out instead of overrunning its receive buffer.
const chunk = 128
const maxQueued = 20_000

let socket: { sendMany(packets: readonly string[]): number; close(): void } | undefined
let queue: string[] = []
let pumping = false
let failures = 0
let dropped = 0
let lastReport = 0

/** Tells the request thread about failures and drops, at most once a second (it logs them rate-limited anyway). */
function report(): void {
  const now = Date.now()
  if (now - lastReport < 1000) return
  lastReport = now
  self.postMessage({ failures, dropped })
}

async function pump(): Promise<void> {
  pumping = true
  while (queue.length > 0 && socket) {
    const batch = queue.length <= chunk ? queue : queue.slice(0, chunk)
    queue = queue.length <= chunk ? [] : queue.slice(chunk)
    try {
      socket.sendMany(batch)
    } catch {
      // Bun throws synchronously (ECONNREFUSED) when nothing listens on a local port.
      failures += batch.length
      report()
    }
    if (queue.length > 0) await Bun.sleep(1)
  }
  pumping = false
}

self.onmessage = async (event: MessageEvent<Setup | readonly string[]>) => {
  const data = event.data
  if (!Array.isArray(data)) {
    const setup = data as Setup
    const previous = socket
    socket = await Bun.udpSocket({
      connect: { hostname: setup.host, port: setup.port },
      socket: {
        // A refusal that arrives later (ICMP port unreachable while the daemon restarts) is reported on the
        // socket; unhandled, it would end this worker and every document after it. The socket stays usable.
        error() {
          failures++
          report()
        },
      },
    })
    previous?.close()
  } else if (queue.length + data.length > maxQueued) {
    dropped += data.length
    report()
  } else {
    for (const packet of data as readonly string[]) queue.push(packet)
  }
  if (!pumping && socket) void pump()
}
