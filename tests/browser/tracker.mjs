// Drive footfall's tracker (t.js) in a real headless Chromium through playwright-core.
//
// usage: node tests/browser/tracker.mjs SITE_BASE RUN_ID
//
// SITE_BASE serves tests/browser/site (its pages include FOOTFALL/t.js). The script clicks,
// scrolls, searches, fills and submits forms, navigates a single-page app, identifies and
// resets, goes offline and comes back (in the same page, and across a page load), and tries
// consent mode and opting out. It prints one JSON line:
//   {"errors": [...], "batches": [<bodies sent to /v1/batch>], "phases": {...}}
// The Python test (tests/integration/test_tracker.py) checks what footfall stored.

import { chromium } from 'playwright-core'

const [site, run] = process.argv.slice(2)
if (!site || !run) {
  console.error('usage: tracker.mjs SITE_BASE RUN_ID')
  process.exit(2)
}

const errors = []
const out = {}
const batches = []
const phases = {}
let phase = 'start'
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
// A desktop Chrome's user agent, for every request (beacons too): headless Chromium's own says
// "HeadlessChrome", which footfall flags as a bot; these pages are meant to be a person's visit.
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-agent=${UA}`],
})

function watch(context) {
  context.on('request', (req) => {
    if (!req.url().endsWith('/v1/batch')) return
    phases[phase] = (phases[phase] || 0) + 1
    try {
      batches.push({ phase, body: JSON.parse(req.postData() || '{}') })
    } catch (e) {
      errors.push(`unparseable batch body in ${phase}: ${e}`)
    }
  })
}

async function open(context, path) {
  const page = await context.newPage()
  page.on('pageerror', (e) => errors.push(`page error on ${path}: ${e.message}`))
  page.on('console', (m) => {
    // the requests the 'failing' phase drops on purpose (connection resets) are logged as errors
    if (m.type() === 'error' && !m.text().includes('ERR_CONNECTION_RESET')) errors.push(`console error on ${path}: ${m.text()}`)
  })
  await page.goto(site + path)
  await page.waitForFunction(() => window.footfall && window.footfall.version)
  return page
}

// Waits until a batch with an event of this name (and test) was sent, or fails.
async function sent(name, test = () => true, timeout = 10000) {
  const deadline = Date.now() + timeout
  while (Date.now() < deadline) {
    if (batches.some((b) => (b.body.batch || []).some((e) => (e.event === name || (e.type === 'page' && name === '$page')) && test(e)))) return
    await sleep(50)
  }
  throw new Error(`no batch carried ${name} within ${timeout} ms (phase ${phase})`)
}

try {
  // ---- a page of a shop: clicks, a custom event, forms, scrolling, a search ----
  phase = 'home'
  let ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } })
  watch(ctx)
  let page = await open(ctx, '/index.html')
  await page.click('#buy')
  await page.click('#promo')
  await page.click('#out')
  await page.click('#dl')
  await page.fill('#contact input[name=name]', 'Zebediah Quux')
  await page.fill('#contact input[name=email]', 'jane.doe@example.com')
  await page.fill('#contact textarea', 'secret message')
  await page.click('#contact button')
  out.thrown = await page.evaluate((r) => {
    const thrown = []
    const tryIt = (f) => { try { f() } catch (e) { thrown.push(String(e)) } }
    tryIt(() => window.footfall.track('Custom Event', { run: r, n: 1 }))
    tryIt(() => window.footfall.track(null)) // ignored
    tryIt(() => window.footfall('hasOwnProperty')) // not a method of the tracker: ignored
    const loop = { run: r }
    loop.self = loop // no JSON for this: sent without its properties, and the queue goes on
    tryIt(() => window.footfall.track('Circular Event', loop))
    tryIt(() => window.footfall('track', 'Queued Form Call', { run: r }))
    return thrown
  }, run)
  await page.mouse.move(200, 200)
  for (let y = 0; y <= 3200; y += 400) {
    await page.mouse.wheel(0, 400)
    await sleep(30)
  }
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight))
  await sleep(100)
  await sent('Custom Event')
  await page.fill('#search input[name=q]', 'running shoes')
  await Promise.all([page.waitForURL('**/search.html?q=*'), page.click('#search button')])
  await page.waitForFunction(() => window.footfall && window.footfall.version)
  await sent('Searched', (e) => e.properties.source === 'url')

  // ---- a single-page app: pushState and hash changes are page views ----
  phase = 'spa'
  await page.goto(site + '/app.html')
  await page.waitForFunction(() => window.footfall && window.footfall.version)
  await page.click('#to-settings')
  await page.click('#to-tab')
  await sent('$page', (e) => e.properties.url.endsWith('#billing'))

  // ---- identify, then reset ----
  phase = 'identify'
  await page.evaluate((r) => {
    window.footfall.identify('user-' + r, { plan: 'pro', name: 'Jane' })
    window.footfall.track('After Identify', { run: r })
  }, run)
  await sent('After Identify')
  await page.evaluate((r) => {
    window.footfall.reset()
    window.footfall.track('After Reset', { run: r })
  }, run)
  await sent('After Reset')

  // ---- requests that fail (the network drops them): retried with back-off until one passes ----
  phase = 'failing'
  const attempts = []
  await page.route('**/v1/batch', (route) => { attempts.push(Date.now()); route.abort('connectionreset') })
  await page.evaluate((r) => window.footfall.track('Retried Event', { run: r }), run)
  for (let i = 0; i < 300 && attempts.length < 3; i++) await sleep(50)
  phases.failed_attempts = attempts.map((t) => t - attempts[0])
  phase = 'recovered'
  const passed = page.waitForResponse((r) => r.url().endsWith('/v1/batch') && r.status() === 200 &&
    (r.request().postData() || '').includes('Retried Event'), { timeout: 15000 })
  await page.unroute('**/v1/batch')
  await passed

  // ---- offline in one page, back online: the 'online' event sends what waited ----
  phase = 'offline-page'
  await ctx.setOffline(true)
  await page.evaluate((r) => window.footfall.track('Offline Then Online', { run: r }), run)
  await sleep(1500)
  phase = 'back-online'
  await ctx.setOffline(false)
  await sent('Offline Then Online')

  // ---- offline, and the page closed: the next page load sends the stored events ----
  phase = 'offline-closed'
  await ctx.setOffline(true)
  await page.evaluate((r) => window.footfall.track('Offline Across Loads', { run: r }), run)
  await sleep(1500)
  await page.close({ runBeforeUnload: true })
  await sleep(200)
  phase = 'reloaded'
  await ctx.setOffline(false)
  page = await open(ctx, '/page2.html')
  await sent('Offline Across Loads')
  await page.close({ runBeforeUnload: true })
  await ctx.close()

  // ---- consent mode: nothing leaves before optIn; nothing after optOut ----
  phase = 'before-consent'
  ctx = await browser.newContext()
  watch(ctx)
  page = await open(ctx, '/consent.html')
  await page.evaluate((r) => window.footfall.track('Before Consent', { run: r }), run)
  await sleep(1500)
  out.stored_before_consent = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('ff:')))
  phase = 'consented'
  await page.evaluate(() => window.footfall.optIn())
  await sent('Before Consent')
  phase = 'opted-out'
  await page.evaluate((r) => {
    window.footfall.optOut()
    window.footfall.track('After Opt Out', { run: r })
  }, run)
  await sleep(1500)
  await page.close({ runBeforeUnload: true })
  await ctx.close()
} catch (e) {
  errors.push(`${phase}: ${e.stack || e}`)
}
await browser.close()
console.log(JSON.stringify({ errors, batches, phases, ...out }))
