// Screenshots of the dashboard for the README: make screenshots (scripts/screenshots) runs a
// server on generated data, then this takes the overview, live, funnel and retention pages.
//
// usage: node scripts/screenshots.mjs FOOTFALL_BASE READ_KEY OUT_DIR

import { chromium } from 'playwright-core'

const [base, key, dir] = process.argv.slice(2)
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
})
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
const errors = []
page.on('pageerror', (e) => errors.push(e.message))
await page.goto(base + '/')
await page.fill('input[type=password]', key)
await page.click('button[type=submit]')
await page.waitForSelector('header.top')

const shots = [
  ['overview', '#/overview?range=30d', '[data-list=deviceType] table.top tr.row'],
  ['live', '#/live', 'table.events tbody tr'],
  ['funnel', '#/insights?kind=funnel&range=30d&window=1d&steps=' + encodeURIComponent('Product Viewed,Product Added,Checkout Started,Order Completed'), 'table.funnel tr td'],
  ['retention', '#/insights?kind=retention&range=30d&period=week&periods=4&start=' + encodeURIComponent('Product Viewed'), 'table.heat tr td'],
]
for (const [name, hash, ready] of shots) {
  await page.goto(base + '/' + hash)
  await page.waitForSelector(ready, { timeout: 30000 })
  await page.waitForTimeout(1200) // charts finish their animation
  await page.screenshot({ path: `${dir}/${name}.png`, fullPage: name === 'overview' })
  console.log(`${dir}/${name}.png`)
}
await browser.close()
if (errors.length) {
  console.error(errors.join('\n'))
  process.exit(1)
}
