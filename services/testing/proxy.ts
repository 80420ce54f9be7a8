import { connect, createServer, type Server, type Socket } from 'node:net'

export interface TcpProxy {
  readonly port: number
  /** The dependency goes away: the listener closes and every open connection is reset. */
  cut(): Promise<void>
  /** The dependency answers the TCP handshake and then says nothing (a black-holed network). */
  stall(): Promise<void>
  /**
   * Open connections stay open but silently stop passing data both ways (an instance that failed over and left
   * its connections hanging); new connections are forwarded as usual.
   */
  silenceOpenConnections(): void
  /** Nothing gets through any more: open connections go silent, and new ones are accepted and then ignored. */
  blackhole(): void
  /** What each client sent through the proxy so far, one buffer per connection, oldest first. */
  sentByClients(): Buffer[]
  /** Back to normal, on the same port. */
  restore(): Promise<void>
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** A real TCP proxy in front of a real server, so a test can take the server away and bring it back. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sent: Buffer[][] = []
  const sockets = new Set<Socket>()
  const pairs = new Set<{ client: Socket; upstream: Socket }>()
  let mode: 'forward' | 'stall' = 'forward'
  let server: Server | undefined
  let port = 0

  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
  }

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer((client) => {
        track(client)
        const chunks: Buffer[] = []
        sent.push(chunks)
        client.on('data', (chunk: Buffer) => chunks.push(chunk))
        if (mode === 'stall') return
        const upstream = connect(target.port, target.host)
        track(upstream)
        client.pipe(upstream).pipe(client)
        const pair = { client, upstream }
        pairs.add(pair)
        client.on('close', () => {
          pairs.delete(pair)
          upstream.destroy()
        })
        upstream.on('close', () => client.destroy())
      })
      next.once('error', reject)
      next.listen(port, '127.0.0.1', () => {
        const address = next.address()
        if (typeof address === 'object' && address) port = address.port
        server = next
        resolve()
      })
    })

  const closeListener = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      if (!server) return resolve()
      server.close(() => resolve())
      server = undefined
    })

  const silenceOpenConnections = () => {
    for (const pair of pairs) {
      // Unpiped and unread, whatever either side sends stays in a socket buffer: nothing gets through.
      pair.client.unpipe(pair.upstream)
      pair.upstream.unpipe(pair.client)
      pair.client.pause()
      pair.upstream.pause()
      pairs.delete(pair)
    }
  }

  await listen()
  const close = async () => closeListener()
  return {
    get port() {
      return port
    },
    cut: closeListener,
    async stall() {
      await closeListener()
      mode = 'stall'
      await listen()
    },
    sentByClients: () => sent.map((chunks) => Buffer.concat(chunks)),
    silenceOpenConnections,
    blackhole() {
      mode = 'stall'
      silenceOpenConnections()
    },
    async restore() {
      await closeListener()
      mode = 'forward'
      await listen()
    },
    close,
    [Symbol.asyncDispose]: close,
  }
}
