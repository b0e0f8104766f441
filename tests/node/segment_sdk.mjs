// Drive footfall with Segment's own Node SDK (@segment/analytics-node).
//
// usage: node tests/node/segment_sdk.mjs http://127.0.0.1:PORT WRITE_KEY RUN_ID
//
// Sends identify, track, page, screen, group and alias calls (flushAt 3, so several batches),
// then closeAndFlush. Prints one JSON line to stdout:
//   {"requests":[{"status":..,"body":<the JSON the SDK sent>}...], "errors":[...]}
// and exits 0 when every call was delivered (the SDK resolved it without a delivery failure).

import { Analytics } from '@segment/analytics-node'

const [host, writeKey, runId] = process.argv.slice(2)
if (!host || !writeKey || !runId) {
  console.error('usage: segment_sdk.mjs HOST WRITE_KEY RUN_ID')
  process.exit(2)
}

const analytics = new Analytics({
  writeKey,
  host,
  flushAt: 3,
  flushInterval: 200,
  maxRetries: 2,
  httpRequestTimeout: 10000,
})

const requests = []
const errors = []
analytics.on('http_request', (req) => {
  requests.push({ url: req.url, raw: req.body, body: JSON.parse(req.body) })
})
analytics.on('http_response', (res) => {
  const r = requests.find((q) => q.status === undefined && q.raw === res.body)
  if (r) r.status = res.status
})
analytics.on('error', (err) => {
  errors.push(String(err && (err.reason || err.message || err.code || err)))
})

const userId = `user-${runId}`
const anonymousId = `anon-${runId}`

const calls = []
function done(label) {
  return (err) => {
    if (err) errors.push(`${label}: ${err.message || err}`)
  }
}

// the same calls as the SDK's own documentation examples
calls.push(analytics.identify({
  userId,
  traits: { name: 'Michael Bolton', email: 'mbolton@example.com', plan: 'Enterprise', friends: 42 },
}, done('identify')))
calls.push(analytics.track({
  userId,
  event: 'Item Purchased',
  properties: { revenue: 39.95, shippingMethod: '2-day' },
}, done('track')))
calls.push(analytics.track({
  anonymousId,
  event: 'Article Bookmarked',
  properties: { title: 'Snow Fall', subtitle: 'The Avalanche at Tunnel Creek', author: 'John Branch' },
  timestamp: new Date('2024-02-03T04:05:06.789Z'),
}, done('track2')))
calls.push(analytics.page({
  userId,
  category: 'Docs',
  name: 'Node.js Library',
  properties: { url: 'https://segment.com/docs/libraries/node', path: '/docs/libraries/node/', title: 'Node.js Library - Segment', referrer: 'https://github.com/segmentio/analytics-node' },
}, done('page')))
calls.push(analytics.screen({
  userId,
  name: 'Home',
  properties: { variation: 'blue' },
}, done('screen')))
calls.push(analytics.group({
  userId,
  groupId: `group-${runId}`,
  traits: { name: 'Initech', industry: 'Technology', employees: 329 },
}, done('group')))
calls.push(analytics.alias({
  previousId: anonymousId,
  userId,
}, done('alias')))

try {
  await analytics.closeAndFlush({ timeout: 20000 })
} catch (e) {
  errors.push(`closeAndFlush: ${e.message || e}`)
}

for (const r of requests) delete r.raw
process.stdout.write(JSON.stringify({ requests, errors }) + '\n')
process.exit(errors.length ? 1 : 0)
