// The console page in real headless Chromium (Debian's package), driven by playwright-core.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Browser, chromium } from 'playwright-core'
import { startDev } from '../dev'
import { captureLog, waitUntil } from '../testing'

const chromiumPath = '/usr/bin/chromium'
const artifacts = join(import.meta.dir, '..', '..', 'test-artifacts')
const dataDir = mkdtempSync(join(tmpdir(), 'console-page-'))
let dev: Awaited<ReturnType<typeof startDev>>
let browser: Browser

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error('the page test needs Debian chromium: apt-get install chromium')
  dev = await startDev(
    { logLevel: 'error', usermgmtPort: 0, notificationPort: 0, smtpPort: 0, daemonPort: 0, dataDir },
    captureLog('error').log,
    '0.0.0',
  )
  await waitUntil(async () => expect((await fetch(`${dev.usermgmtUrl}/usermgmt/health/readiness`)).status).toBe(200))
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
  await dev?.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

test('shows the course map, a trace timeline and the received mail in a real browser', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  await page.goto(dev.consoleUrl)
  expect(await page.title()).toBe('Local X-Ray console')
  expect((await fetch(`${dev.usermgmtUrl}/usermgmt/notification-xray`)).status).toBe(200)
  const user = {
    username: 'pageuser',
    email: 'page@example.com',
    role: 'ROLE_USER',
    enabled: true,
    firstname: 'Page',
    lastname: 'User',
    password: 'Passw0rd!',
  }
  expect((await fetch(`${dev.usermgmtUrl}/usermgmt/user`, { method: 'POST', body: JSON.stringify(user) })).status).toBe(
    200,
  )
  for (const name of [
    'client',
    'User-Management-Microservice',
    'V1-Notification-Microservice',
    'pageuser-db',
    '127.0.0.1',
  ]) {
    if (name === 'pageuser-db')
      await page.waitForSelector('g.node[data-name="usermgmt.sqlite@localhost"]', { timeout: 15_000 })
    else await page.waitForSelector(`g.node[data-name="${name}"]`, { timeout: 15_000 })
  }
  await page.waitForSelector(
    'g.edge[data-source="User-Management-Microservice"][data-target="V1-Notification-Microservice"]',
  )
  mkdirSync(artifacts, { recursive: true })
  await page.screenshot({ path: join(artifacts, 'console-map.png') })

  await page.click('button[data-tab="traces"]')
  await page.waitForSelector('tr.trace')
  await page.click('tr.trace')
  await page.waitForSelector('.timeline .bar-row')
  expect(await page.locator('.timeline .bar-row').count()).toBeGreaterThan(1)
  await page.screenshot({ path: join(artifacts, 'console-trace.png') })

  await page.click('button[data-tab="mail"]')
  await page.waitForSelector('tr.mail-row')
  await page.click('tr.mail-row')
  const mail = (await page.locator('.mail').textContent()) ?? ''
  expect(mail).toContain('Stack Simplify account creation.')
  expect(mail).toContain('Hello Page, your stack simplify account is created successfully!')
  await page.close()
})
