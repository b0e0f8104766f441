// Shop in footfall's demo (/demo) with a real headless Chromium: view a product, add it to the
// cart, check out. The demo's own tracker tag sends the visit to the default project.
//
// usage: node tests/browser/demo.mjs FOOTFALL_BASE
// Prints one JSON line: {"errors": [...], "key": "<the data-key of the tracker tag>"}

import { chromium } from 'playwright-core'

const [base] = process.argv.slice(2)
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const out = { errors: [] }
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-agent=${UA}`],
})
try {
  const page = await browser.newPage()
  page.on('pageerror', (e) => out.errors.push(`page error: ${e.message}`))
  await page.goto(base + '/demo')
  await page.waitForFunction(() => window.footfall && window.footfall.version)
  out.key = await page.getAttribute('script[src="/t.js"]', 'data-key')
  await page.click('text=Rain jacket')
  await page.click('text=Add to cart')
  await page.click('#cart-link')
  await page.fill('#checkout input[name=name]', 'Ada Example')
  await page.click('#checkout button')
  await page.waitForSelector('text=Thank you')
  await page.evaluate(() => window.footfall.flush())
  await page.waitForTimeout(500)
  await page.close({ runBeforeUnload: true })
  // straight to a product page (a link from elsewhere): its Product Viewed, called before
  // t.js has loaded, waits in the stub's queue and is sent
  const direct = await browser.newPage()
  direct.on('pageerror', (e) => out.errors.push(`page error: ${e.message}`))
  await direct.goto(base + '/demo/p/head-lamp')
  await direct.waitForFunction(() => window.footfall && window.footfall.version)
  await direct.evaluate(() => window.footfall.flush())
  await direct.waitForTimeout(500)
  await direct.close({ runBeforeUnload: true })
} catch (e) {
  out.errors.push(e.stack || String(e))
}
await browser.close()
console.log(JSON.stringify(out))
