// Runs in a Worker: the UDP sends (a syscall per datagram) happen here, beside the thread that serves requests,
// through the same pump the request thread uses when the process has only one CPU (udp-pump.ts).
import { closedMessage, closeMessage, createDatagramPump } from './udp-pump'

declare const self: Worker

interface Setup {
  readonly host: string
  readonly port: number
}

let lastReport = 0

/** Tells the request thread about failures and drops, at most once a second (it logs them rate-limited anyway). */
const pump = createDatagramPump(() => {
  const now = Date.now()
  if (now - lastReport < 1000) return
  lastReport = now
  self.postMessage(pump.counts())
})

self.onmessage = (event: MessageEvent<Setup | string[] | typeof closeMessage>) => {
  const data = event.data
  if (data === closeMessage) void pump.close().then(() => self.postMessage(closedMessage))
  else if (Array.isArray(data)) pump.enqueue(data)
  else void pump.target(data.host, data.port)
}
