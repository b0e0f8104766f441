// Drive the dashboard's Analysis page (segments, rules, forecast) in headless Chromium.
//
// usage: node tests/browser/analysis.mjs FOOTFALL_BASE READ_KEY QUERY
//   QUERY: the range part of the page's URL (range=custom&from=…&to=…)
//
// Prints one JSON line: {"errors": [...], "segments": {"summary", "head", "sizes"},
// "saved": "...", "rules": {"summary", "rows", "sorted"}, "forecast": {"summary", "anomalies",
// "canvas"}} for tests/integration/test_analysis_dashboard.py to check against the API.

import { chromium } from 'playwright-core'

const [base, readKey, query] = process.argv.slice(2)
const out = { errors: [] }
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
})
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } })
  page.on('pageerror', (e) => out.errors.push(`page error: ${e.message}`))
  await page.goto(base + '/')
  await page.evaluate((k) => localStorage.setItem('footfall.readKey', k), readKey)
  await page.goto(`${base}/#/analysis?tab=segments&k=3&${query}`)
  await page.waitForSelector('table.profile', { timeout: 30000 })
  out.segments = {
    summary: await page.textContent('.card.analysis .summary'),
    head: await page.$$eval('table.profile thead th', (els) => els.map((e) => e.textContent)),
    rows: await page.$$eval('table.profile tbody tr', (els) => els.map((r) => [...r.children].map((c) => c.textContent))),
  }
  await page.fill('input[name=save-as]', 'dash')
  await page.click('form.save button')
  await page.waitForSelector('p.saved', { timeout: 30000 })
  out.saved = await page.textContent('p.saved')

  await page.click('button[data-tab=rules]')
  await page.waitForSelector('table.rules', { timeout: 30000 })
  out.rules = {
    summary: await page.textContent('.card.analysis .summary'),
    rows: await page.$$eval('table.rules tbody tr', (els) => els.map((r) => [...r.children].map((c) => c.textContent))),
  }
  await page.click('table.rules th:nth-child(4)') // Confidence
  await page.waitForSelector('table.rules th.on:nth-child(4)', { timeout: 30000 })
  out.rules.by_confidence = await page.$$eval('table.rules tbody tr td:nth-child(4)', (els) => els.map((e) => e.textContent))

  await page.click('button[data-tab=forecast]')
  await page.waitForSelector('input[name=event]')
  await page.fill('input[name=event]', 'Signed In')
  await page.$eval('input[name=event]', (e) => e.dispatchEvent(new Event('change')))
  await page.waitForSelector('table.anomalies', { timeout: 60000 })
  out.forecast = {
    hash: await page.evaluate(() => location.hash),
    summary: await page.textContent('.card.analysis .summary'),
    anomalies: await page.$$eval('table.anomalies tbody tr td:first-child', (els) => els.map((e) => e.textContent)),
    canvas: await page.$$eval('.card.analysis .chart canvas', (els) => els.length),
  }
} catch (e) {
  out.errors.push(String(e && e.stack || e))
}
await browser.close()
console.log(JSON.stringify(out))
