// The tracker in the other two browser engines: Firefox (Debian's firefox-esr, driven through
// WebDriver BiDi by npm's puppeteer-core) and WebKit, Safari's engine (Debian's WebKitGTK
// MiniBrowser, driven by its WebKitWebDriver over the W3C WebDriver protocol, on an Xvfb
// display). Chromium has its own, longer test (tracker.mjs).
//
// usage: node tests/browser/engines.mjs SITE_BASE RUN_ID
//
// In each engine: a page of the test site, a click on a button, a tracked event, an in-app
// navigation (pushState), identify, then leaving the page. Prints one JSON line:
//   {"errors": [...], "engines": {"firefox": {"ua": ..., "page_errors": [...]}, "webkit": {...}}}
// The Python test (tests/integration/test_tracker.py) checks what footfall stored.

import { spawn } from 'node:child_process'
import puppeteer from 'puppeteer-core'

const [site, run] = process.argv.slice(2)
const out = { errors: [], engines: {} }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// The same steps in every engine, as scripts run in the page.
const READY = 'return !!(window.footfall && window.footfall.version)'
const ACT = (engine) => `
  window.footfall.track('Engine Check', { engine: '${engine}', run: '${run}' });
  history.pushState({}, '', '/app/settings?engine=${engine}');
  window.footfall.identify('engine-${engine}-${run}', { engine: '${engine}' });
  window.footfall.flush();
  return navigator.userAgent`
const ERRORS = 'return window.__errors'

async function firefox() {
  const browser = await puppeteer.launch({ browser: 'firefox', executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr', headless: true })
  try {
    const page = await browser.newPage()
    await page.goto(`${site}/index.html?engine=firefox`)
    await page.waitForFunction(new Function(READY), { timeout: 20000 })
    await page.click('#buy')
    const ua = await page.evaluate(new Function(ACT('firefox')))
    await sleep(1500)
    const errs = await page.evaluate(new Function(ERRORS))
    await page.goto('about:blank') // leaves the page: Page Left goes with sendBeacon
    await sleep(500)
    return { ua, page_errors: errs }
  } finally {
    await browser.close()
  }
}

// A child process whose first line on `stream` matching `re` is waited for.
function start(cmd, args, env, re, stream = 'stderr') {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let buf = ''
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start: ${buf.slice(-500)}`)), 20000)
    const seen = (d) => {
      buf += d
      const m = buf.match(re)
      if (m) { clearTimeout(timer); resolve({ p, m }) }
    }
    p.stdout.on('data', (d) => { if (stream === 'stdout') seen(d) })
    p.stderr.on('data', (d) => { if (stream === 'stderr') seen(d); else buf += d })
    p.on('error', reject)
  })
}

async function webdriver(base, method, path, body) {
  const r = await fetch(base + path, { method, headers: { 'Content-Type': 'application/json' }, body: body ? JSON.stringify(body) : undefined })
  const j = await r.json()
  if (!r.ok) throw new Error(`WebDriver ${method} ${path}: ${JSON.stringify(j.value)}`)
  return j.value
}

async function webkit() {
  // a display of its own (-displayfd prints its number), then the driver on a free port
  const x = await start('Xvfb', ['-displayfd', '1', '-screen', '0', '1280x900x24', '-nolisten', 'tcp'], {}, /^(\d+)\n/, 'stdout')
  const port = 20000 + Math.floor(Math.random() * 30000)
  let wd
  try {
    wd = spawn('WebKitWebDriver', [`--port=${port}`], { env: { ...process.env, DISPLAY: ':' + x.m[1] }, stdio: 'ignore' })
    const base = `http://127.0.0.1:${port}`
    let session
    for (let i = 0; i < 100 && !session; i++) {
      try {
        session = (await webdriver(base, 'POST', '/session', { capabilities: { alwaysMatch: { 'webkitgtk:browserOptions': {
          binary: process.env.MINIBROWSER || '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser', args: ['--automation'] } } } })).sessionId
      } catch (e) {
        if (i === 99) throw e
        await sleep(100)
      }
    }
    const s = `/session/${session}`
    const exec = (script) => webdriver(base, 'POST', `${s}/execute/sync`, { script, args: [] })
    try {
      await webdriver(base, 'POST', `${s}/url`, { url: `${site}/index.html?engine=webkit` })
      for (let i = 0; i < 200 && !(await exec(READY)); i++) await sleep(100)
      const buy = await webdriver(base, 'POST', `${s}/element`, { using: 'css selector', value: '#buy' })
      await webdriver(base, 'POST', `${s}/element/${Object.values(buy)[0]}/click`, {})
      const ua = await exec(ACT('webkit'))
      await sleep(1500)
      const errs = await exec(ERRORS)
      await webdriver(base, 'POST', `${s}/url`, { url: 'about:blank' })
      await sleep(500)
      return { ua, page_errors: errs }
    } finally {
      await webdriver(base, 'DELETE', s).catch(() => {})
    }
  } finally {
    if (wd) wd.kill()
    x.p.kill()
  }
}

for (const [name, fn] of [['firefox', firefox], ['webkit', webkit]]) {
  try {
    out.engines[name] = await fn()
  } catch (e) {
    out.errors.push(`${name}: ${e.stack || e}`)
  }
}
console.log(JSON.stringify(out))
