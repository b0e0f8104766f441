// Drive footfall's dashboard (served at /) in a real headless Chromium through playwright-core.
//
// usage: node tests/browser/dashboard.mjs FOOTFALL_BASE READ_KEY WRITE_KEY RUN_ID
//
// Tries a wrong read key, then the right one; reads the overview's numbers and top pages;
// clicks a top page to filter the whole page; opens the live page and sends an event,
// timing how long the page takes to show it. Prints one JSON line:
//   {"errors": [...], "bad_key_error": "...", "kpis": {...}, "top_pages": [...],
//    "filtered": {...}, "hash": "...", "chips": [...], "live_ms": N, "live_rows": [...]}
// The Python test (tests/integration/test_dashboard.py) checks them against the API.

import { chromium } from 'playwright-core'

const [base, readKey, writeKey, run, mode] = process.argv.slice(2)
if (!base || !readKey || !writeKey || !run) {
  console.error('usage: dashboard.mjs FOOTFALL_BASE READ_KEY WRITE_KEY RUN_ID')
  process.exit(2)
}

const out = { errors: [] }
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
})

async function kpis(page) {
  const cards = await page.$$eval('.kpi', (els) => els.map((e) => [e.querySelector('.label').textContent, e.querySelector('.value').textContent]))
  return Object.fromEntries(cards)
}

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1200 } })
  page.on('pageerror', (e) => out.errors.push(`page error: ${e.message}`))
  // everything comes from footfall itself: the dashboard works without the internet
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith('data:')) out.errors.push(`a request left footfall: ${r.url()}`)
  })
  if (mode === 'empty') { // a project without page views: the tag to add, with its write key
    await page.goto(base + '/')
    await page.fill('input[type=password]', readKey)
    await page.click('button[type=submit]')
    await page.waitForFunction(() => { const t = (document.querySelector('.welcome pre') || {}).textContent || ''; return t && !t.includes('YOUR_WRITE_KEY') }, null, { timeout: 20000 })
    out.snippet = await page.textContent('.welcome pre')
    await browser.close()
    console.log(JSON.stringify(out))
    process.exit(0)
  }
  page.on('console', (m) => { if (m.type() === 'error' && !/401/.test(m.text())) out.errors.push(`console: ${m.text()}`) })

  await page.goto(base + '/')
  await page.fill('input[type=password]', 'ffr_not_a_key')
  await page.click('button[type=submit]')
  out.bad_key_error = await page.textContent('.keyform .error', { timeout: 10000 })
  await page.fill('input[type=password]', readKey)
  await page.click('button[type=submit]')

  await page.waitForSelector('.kpi .value', { timeout: 20000 })
  out.kpis = await kpis(page)
  await page.waitForSelector('[data-list=path] table.top tr.row', { timeout: 20000 })
  out.top_pages = await page.$$eval('[data-list=path] table.top tr.row', (rows) =>
    rows.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.textContent)))

  // a click on a row filters the whole page
  const before = out.kpis.Pageviews
  await page.click('[data-list=path] table.top tr.row:has-text("/pricing")')
  await page.waitForFunction(() => decodeURIComponent(location.hash).includes('f=path:/pricing'), null, { timeout: 10000 })
  await page.waitForFunction((b) => {
    const k = Array.from(document.querySelectorAll('.kpi')).find((e) => e.querySelector('.label').textContent === 'Pageviews')
    return k && k.querySelector('.value').textContent !== b
  }, before, { timeout: 20000 })
  out.filtered = await kpis(page)
  out.hash = decodeURIComponent(await page.evaluate(() => location.hash))
  out.chips = await page.$$eval('.chip', (els) => els.map((e) => e.firstChild.textContent))

  // the live page: an event shows within a second of its acknowledgement
  await page.goto(base + '/#/live')
  await page.waitForSelector('.dot:not(.off)', { timeout: 10000 })
  await page.waitForTimeout(1500)
  const name = `Live ${run}`
  const sent = await fetch(base + '/v1/track', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Basic ' + Buffer.from(writeKey + ':').toString('base64') },
    body: JSON.stringify({ event: name, userId: 'live-' + run, properties: { run } }),
  })
  const acked = Date.now()
  if (sent.status !== 200) throw new Error(`the live event was answered ${sent.status}`)
  await page.waitForFunction((n) => Array.from(document.querySelectorAll('table.events td')).some((td) => td.textContent === n), name, { timeout: 10000, polling: 20 })
  out.live_ms = Date.now() - acked
  out.live_rows = await page.$$eval('table.events tbody tr', (rows) => rows.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.textContent)))
  out.active_now = await page.textContent('.live-now')

  // insights, each kind from its URL; a funnel saved to a board, and opened from a link
  const cells = (sel) => page.$$eval(sel, (rows) => rows.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.textContent)))
  const funnelUrl = base + '/#/insights?kind=funnel&range=7d&window=7d&steps=' + encodeURIComponent('Product Viewed,Order Completed')
  await page.goto(funnelUrl)
  await page.waitForSelector('table.funnel tr td', { timeout: 20000 })
  out.funnel = await cells('table.funnel tr')
  await page.click('text=Save to a board')
  await page.fill('.saveform input[name=board]', 'growth')
  await page.fill('.saveform input[name=title]', 'Checkout funnel')
  await page.click('.saveform button[type=submit]')
  await page.waitForSelector('.saveform .note a', { timeout: 10000 })
  out.saved_note = await page.textContent('.saveform .note')

  await page.goto(base + '/#/insights?kind=trends&range=7d&measure=unique_persons&chart=table&events=' + encodeURIComponent('$pageview'))
  await page.waitForSelector('table.series tr td', { timeout: 20000 })
  out.trends = await cells('table.series tr')
  // a filter from the editor: any field, any operator
  await page.click('text=+ Filter')
  await page.fill('input[name=filter-field]', 'path')
  await page.selectOption('select[name=filter-op]', 'contains')
  await page.fill('input[name=filter-value]', 'PRIC')
  await page.click('form.inline button[type=submit]')
  await page.waitForFunction(() => decodeURIComponent(location.hash).includes('f=path|contains:PRIC'), null, { timeout: 10000 })
  await page.waitForFunction((before) => {
    const td = document.querySelector('table.series tr td.num')
    return td && td.textContent !== before
  }, out.trends[1][1], { timeout: 20000 })
  out.trends_filtered = await cells('table.series tr')
  out.filter_chips = await page.$$eval('.chip', (els) => els.map((e) => e.firstChild.textContent))
  await page.goto(base + '/#/insights?kind=retention&period=day&periods=3&start=' + encodeURIComponent('Product Viewed'))
  await page.waitForSelector('table.heat tr td', { timeout: 20000 })
  out.retention = await cells('table.heat tr')
  await page.goto(base + '/#/insights?kind=paths&range=7d&depth=3')
  await page.waitForSelector('.result canvas', { timeout: 20000 })
  out.paths_drawn = true

  await page.goto(base + '/#/boards?board=growth')
  await page.waitForSelector('.card.insight table.funnel tr td', { timeout: 20000 })
  out.board_titles = await page.$$eval('.card.insight h2 a', (els) => els.map((e) => e.textContent))
  out.board_funnel = await cells('.card.insight table.funnel tr')

  // a link sent to a colleague: a fresh browser asks for the key, then shows the same funnel
  const other = await browser.newPage()
  other.on('pageerror', (e) => out.errors.push(`page error (shared link): ${e.message}`))
  await other.goto(funnelUrl)
  await other.fill('input[type=password]', readKey)
  await other.click('button[type=submit]')
  await other.waitForSelector('table.funnel tr td', { timeout: 20000 })
  out.shared_funnel = await other.$$eval('table.funnel tr', (rows) => rows.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.textContent)))
} catch (e) {
  out.errors.push(e.stack || String(e))
}
await browser.close()
console.log(JSON.stringify(out))
