// The console page in real headless Chromium (Debian's package), driven by playwright-core.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { startDev } from '../dev'
import { captureLog, userFixture, waitUntil } from '../testing'
import { type RunningConsole, startConsole } from '.'
import { knownTraffic } from './known-traffic-fixture'

const chromiumPath = '/usr/bin/chromium'
const artifacts = join(import.meta.dir, '..', '..', 'test-artifacts')
const dataDir = mkdtempSync(join(tmpdir(), 'console-page-'))
let dev: Awaited<ReturnType<typeof startDev>>
let known: RunningConsole
let browser: Browser

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error('the page test needs Debian chromium: apt-get install chromium')
  mkdirSync(artifacts, { recursive: true })
  dev = await startDev(
    { logLevel: 'error', usermgmtPort: 0, notificationPort: 0, smtpPort: 0, daemonPort: 0, dataDir },
    captureLog('error').log,
    '0.0.0',
  )
  known = await startConsole({
    udp: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    log: captureLog().log,
  })
  const socket = await Bun.udpSocket({})
  const datagrams = knownTraffic()
  for (const datagram of datagrams) socket.send(datagram, known.udpPort, '127.0.0.1')
  socket.close()
  await waitUntil(() => expect(known.collector.stats().received).toBe(datagrams.length))
  await waitUntil(async () => expect((await fetch(`${dev.usermgmtUrl}/usermgmt/health/readiness`)).status).toBe(200))
  // Playwright gives each launch a fresh temporary profile (its own --user-data-dir) and removes it on close.
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
})
afterAll(async () => {
  await browser?.close()
  await known?.stop()
  await dev?.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

/** The cells of a table's body rows, as the page shows them. */
function tableText(page: Page, id: string): Promise<string[][]> {
  return page.$$eval(`#${id} tbody tr`, (rows) =>
    rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent ?? '')),
  )
}

test('shows exactly the numbers of a known set of requests', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
  await page.goto(known.url)
  await page.waitForSelector('#edge-table tbody tr:nth-child(5)')
  // Worked out by hand from what known-traffic-fixture.ts sends (see the comments there).
  const sortRows = (rows: string[][]) => rows.sort((a, b) => `${a[0]}>${a[1]}`.localeCompare(`${b[0]}>${b[1]}`))
  expect(sortRows(await tableText(page, 'node-table'))).toEqual(
    sortRows([
      ['client', 'client', '20', '105', '190', '10%', '5%', '5%'],
      ['Front', 'service', '20', '105', '190', '10%', '5%', '5%'],
      ['Back', 'service', '10', '44', '80', '0%', '0%', '10%'],
      ['orders@db-host', 'database', '4', '2.5', '4', '0%', '0%', '0%'],
      ['ghost-host', 'remote', '1', '3', '3', '0%', '0%', '100%'],
      ['smtp-host', 'mail', '1', '7', '7', '0%', '0%', '0%'],
    ]),
  )
  expect(sortRows(await tableText(page, 'edge-table'))).toEqual(
    sortRows([
      ['client', 'Front', '20', '105', '190', '10%', '5%', '5%'],
      ['Front', 'Back', '10', '55', '100', '0%', '0%', '10%'],
      ['Front', 'orders@db-host', '4', '2.5', '4', '0%', '0%', '0%'],
      ['Front', 'ghost-host', '1', '3', '3', '0%', '0%', '100%'],
      ['Back', 'smtp-host', '1', '7', '7', '0%', '0%', '0%'],
    ]),
  )
  const label = (source: string, target: string) =>
    page.locator(`g.edge[data-source="${source}"][data-target="${target}"] text`).textContent()
  expect(await label('Front', 'Back')).toBe('10 req · 55 ms avg · p95 100')
  expect(await page.locator('g.node[data-name="Front"] text.numbers').textContent()).toBe('20 req · 105 ms')
  await page.screenshot({ path: join(artifacts, 'console-known-set.png'), fullPage: true })

  await page.click('button[data-tab="traces"]')
  await page.fill('#f-status', '500')
  await page.waitForFunction("document.querySelectorAll('#trace-table tbody tr').length === 1")
  expect((await tableText(page, 'trace-table'))[0]?.slice(1, 6)).toEqual([
    'GET',
    'http://front/orders/12',
    '500',
    '120',
    'Front → Back',
  ])
  await page.close()
})

test('shows the course map, a trace timeline and the received mail of ./app dev in a real browser', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  await page.goto(dev.consoleUrl)
  expect(await page.title()).toBe('Local X-Ray console')
  expect((await fetch(`${dev.usermgmtUrl}/usermgmt/notification-xray`)).status).toBe(200)
  const user = userFixture('pageuser')
  const created = await fetch(`${dev.usermgmtUrl}/usermgmt/user`, { method: 'POST', body: JSON.stringify(user) })
  expect(created.status).toBe(200)
  const um = 'User-Management-Microservice'
  const notification = 'V1-Notification-Microservice'
  for (const name of ['client', um, notification, 'usermgmt.sqlite@localhost', '127.0.0.1'])
    await page.waitForSelector(`g.node[data-name="${name}"]`, { timeout: 15_000 })
  // The course's call, and the account mail delivered from the outbox.
  await page.waitForSelector(`#edge-table tr[data-source="${um}"][data-target="${notification}"]`)
  await waitUntil(async () => {
    const graph = (await (await fetch(`${dev.consoleUrl}/api/service-graph`)).json()) as {
      edges: { source: string; target: string; requests: number }[]
    }
    expect(graph.edges.find((e) => e.source === um && e.target === notification)?.requests).toBe(2)
  })
  // What the page shows is what the API says, number for number.
  const graph = (await (await fetch(`${dev.consoleUrl}/api/service-graph`)).json()) as {
    edges: {
      source: string
      target: string
      requests: number
      averageMs: number
      p95Ms: number
      errorRate: number
      throttleRate: number
      faultRate: number
    }[]
  }
  const shown = (rate: number) => `${Math.round(rate * 1000) / 10}%`
  const expected = graph.edges.map((e) => [
    e.source,
    e.target,
    String(e.requests),
    String(e.averageMs),
    String(e.p95Ms),
    shown(e.errorRate),
    shown(e.throttleRate),
    shown(e.faultRate),
  ])
  await waitUntil(async () => expect(await tableText(page, 'edge-table')).toEqual(expected))
  await page.screenshot({ path: join(artifacts, 'console-map.png') })

  await page.click('button[data-tab="traces"]')
  await page.waitForSelector('tr.trace')
  await page.click('tr.trace:has-text("/usermgmt/user")')
  await page.waitForSelector('.timeline .span-row')
  const rows = await page.$$eval('.timeline .span-row', (list) =>
    list.map((row) => ({
      kind: row.getAttribute('data-kind'),
      name: row.querySelector('.span-label')?.firstChild?.textContent,
      indent: row.querySelector('.span-label')?.getAttribute('style'),
    })),
  )
  // The request, its SQL, the outbox's later call, the notification segment under that call, and its mail.
  expect(rows[0]).toEqual({ kind: 'segment', name: um, indent: 'padding-left:0px' })
  expect(rows.filter((r) => r.kind === 'subsegment' && r.name === 'usermgmt.sqlite@localhost').length).toBeGreaterThan(
    0,
  )
  expect(rows.slice(-3)).toEqual([
    { kind: 'subsegment', name: '127.0.0.1', indent: 'padding-left:16px' },
    { kind: 'segment', name: notification, indent: 'padding-left:32px' },
    { kind: 'subsegment', name: '127.0.0.1', indent: 'padding-left:48px' },
  ])
  await page.click('.span-row[data-kind="subsegment"]:has-text("SQL")')
  await page.waitForSelector('#span-details h4:text-is("SQL")')
  expect(await page.locator('#span-details').textContent()).toContain('SQLite')
  await page.locator('.span-row').last().click()
  await page.waitForSelector('#span-details h4:text-is("Annotations")')
  expect(await page.locator('#span-details').textContent()).toContain('smtp_response_code250')
  await page.screenshot({ path: join(artifacts, 'console-trace.png') })

  await page.click('button[data-tab="mail"]')
  await page.waitForSelector('tr.mail-row')
  await page.click('tr.mail-row')
  const mail = (await page.locator('.mail').textContent()) ?? ''
  expect(mail).toContain('Stack Simplify account creation.')
  expect(mail).toContain('Hello First, your stack simplify account is created successfully!')
  await page.screenshot({ path: join(artifacts, 'console-mail.png') })
  await page.close()
})
