/* footfall's browser tracker, served at /t.js. A site adds one tag:
 *   <script defer src="https://HOST/t.js" data-key="WRITE_KEY"></script>
 * Options, as data- attributes of that tag:
 *   data-key      the project's write key (required)
 *   data-api      where events go (default: where t.js came from)
 *   data-consent  "required": hold events in memory until footfall.optIn()
 *   data-auto     "false": no automatic capture beyond page views
 *   data-id       "storage": keep a random anonymousId in localStorage; by default the page
 *                 sends none and the server gives the visitor a cookieless daily id
 * It sends Segment-spec events in batches to /v1/batch (text/plain, so no CORS preflight),
 * keeps them in localStorage until footfall has acknowledged them (a beacon, which nobody
 * answers, does not count: the next page load sends those again, and footfall's messageId
 * dedup stores each once), and never throws into the page. */
(function (w, d) {
  'use strict';
  var V = '1.0.0', LS = 'ff:', MAX_Q = 1000, BATCH = 100, BEACON_BYTES = 60000;
  /* Older events are dropped rather than sent: footfall remembers messageIds for 24 hours. */
  var MAX_AGE_MS = 23 * 3600 * 1000;
  var old = w.footfall;
  if (old && old.version) return; /* included twice */
  var me = d.currentScript || d.querySelector('script[data-key][src*="t.js"]');
  var attr = function (n) { return me ? me.getAttribute('data-' + n) : null; };
  var key = attr('key') || '';
  var api = (attr('api') || (me && me.src ? new URL(me.src, location.href).origin : location.origin)).replace(/\/$/, '');
  var auto = attr('auto') !== 'false', needConsent = attr('consent') === 'required';
  var store = {
    get: function (k) { try { return w.localStorage.getItem(LS + k); } catch (e) { return null; } },
    set: function (k, v) { try { w.localStorage.setItem(LS + k, v); } catch (e) { /* full or blocked */ } },
    del: function (k) { try { w.localStorage.removeItem(LS + k); } catch (e) { /* blocked */ } },
    keys: function () {
      var out = [];
      try { for (var i = 0; i < w.localStorage.length; i++) out.push(w.localStorage.key(i)); } catch (e) { /* blocked */ }
      return out;
    }
  };
  var safe = function (f) {
    return function () { try { return f.apply(this, arguments); } catch (e) { /* never into the page */ } };
  };
  var uuid = function () {
    var c = w.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    var b = new Uint8Array(16), h = [];
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (var i = 0; i < 16; i++) b[i] = Math.random() * 256;
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    for (var j = 0; j < 16; j++) h.push((b[j] + 256).toString(16).slice(1));
    h = h.join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  };

  var optedOut = store.get('optout') === '1';
  var consented = !needConsent || store.get('consent') === '1';
  var uid = store.get('uid');
  var aid = attr('id') === 'storage' ? store.get('aid') || uuid() : null;
  if (aid && consented) store.set('aid', aid); /* nothing is stored before consent */
  /* Another tab of the site opted out (or back in). */
  w.addEventListener('storage', function (e) { if (e.key === LS + 'optout') optedOut = e.newValue === '1'; });

  /* ---- the queue: this tab's unsent events under ff:q:TAB, with when it last wrote them ---- */
  var tab = uuid(), q = [], held = [], busy = false, timer = 0, tries = 0;
  var persist = function (alive) {
    if (!consented) return;
    if (q.length) store.set('q:' + tab, JSON.stringify({ t: alive ? Date.now() : 0, q: q }));
    else store.del('q:' + tab);
  };
  var fresh = function (e) { return Date.now() - Date.parse(e.timestamp) < MAX_AGE_MS; };
  var queues = function () { return store.keys().filter(function (k) { return k && !k.indexOf(LS + 'q:'); }); };
  /* Events other tabs left behind (closed, or silent for 10 s): ours to send now. */
  var adopt = function () {
    queues().forEach(function (k) {
      if (k === LS + 'q:' + tab) return;
      var v = null;
      try { v = JSON.parse(w.localStorage.getItem(k)); } catch (e) { /* not ours */ }
      if (!optedOut && (!v || !v.q || Date.now() - v.t < 10000)) return;
      store.del(k.slice(LS.length));
      if (!optedOut) q = q.concat(v.q.filter(fresh)).slice(-MAX_Q);
    });
  };
  var schedule = function (ms) {
    if (timer) return;
    timer = setTimeout(function () { timer = 0; flush(false); }, ms);
  };
  var url = function () { return api + '/v1/batch'; };
  var body = function (batch) { return JSON.stringify({ batch: batch, sentAt: new Date().toISOString(), writeKey: key }); };
  var drop = function (batch) {
    var sent = {};
    batch.forEach(function (e) { sent[e.messageId] = 1; });
    q = q.filter(function (e) { return !sent[e.messageId]; });
  };
  /* Sends the oldest events. `leaving`: the page is being hidden or unloaded, so the request
   * must outlive it (sendBeacon, else fetch keepalive). */
  var flush = safe(function (leaving) {
    if (optedOut || !consented || !q.length || !key) return;
    if (w.navigator.onLine === false) return persist(!leaving); /* the 'online' event brings us back */
    if (leaving) {
      /* The newest events that fit one beacon (browsers cap what may be in flight while a
       * page goes); all stay stored for the next page load: a beacon gets no answer. */
      var part = q.slice(-BATCH), b = body(part);
      while (part.length > 1 && new Blob([b]).size > BEACON_BYTES) b = body(part = part.slice(Math.ceil(part.length / 2)));
      if (!(w.navigator.sendBeacon && w.navigator.sendBeacon(url(), new Blob([b], { type: 'text/plain' }))) && w.fetch)
        w.fetch(url(), { method: 'POST', body: b, keepalive: true, credentials: 'omit', headers: { 'Content-Type': 'text/plain' } })
          .catch(function () { /* stays stored */ });
      return persist(false);
    }
    if (busy || !w.fetch) return;
    var batch = q.slice(0, BATCH), b = body(batch);
    busy = true;
    w.fetch(url(), { method: 'POST', body: b, keepalive: b.length < BEACON_BYTES, credentials: 'omit', headers: { 'Content-Type': 'text/plain' } })
      .then(function (r) {
        busy = false;
        /* 2xx stored; another 4xx will never be (bad key, bad events): drop them, say why once */
        if (r.ok || (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429)) {
          if (!r.ok && w.console) w.console.warn('footfall: events refused (' + r.status + ')');
          drop(batch);
          tries = 0;
          persist(true);
          if (q.length) schedule(0);
        } else retry(+r.headers.get('Retry-After') * 1000);
      }, function () { busy = false; retry(0); })
      .catch(function () { busy = false; });
  });
  /* Back-off: 1, 2, 4 … 60 s with jitter, or what the server asked for. */
  var retry = function (ms) {
    tries++;
    persist(true);
    schedule(ms > 0 ? ms : Math.min(60000, 1000 * Math.pow(2, tries - 1)) * (0.75 + Math.random() / 2));
  };
  var enqueue = function (e) {
    if (optedOut) return;
    if (!consented) return void held.push(e);
    q.push(e);
    if (q.length > MAX_Q) q.splice(0, q.length - MAX_Q);
    persist(true);
    if (q.length >= 20) flush(false);
    else schedule(1000);
  };

  /* ---- events ---- */
  var ref = d.referrer, here = location.href;
  var pageInfo = function () {
    return { url: location.href, path: location.pathname, search: location.search, title: d.title, referrer: ref };
  };
  var send = function (type, fields) {
    var e = {
      type: type, messageId: uuid(), timestamp: new Date().toISOString(),
      context: {
        library: { name: 'footfall.js', version: V }, page: pageInfo(), locale: w.navigator.language,
        screen: { width: w.screen.width, height: w.screen.height }
      }
    };
    if (uid) e.userId = uid;
    if (aid) e.anonymousId = aid;
    for (var k in fields) if (fields[k] !== undefined) e[k] = fields[k];
    /* What cannot be sent as JSON (a cycle, a BigInt, a DOM node) must not stop the queue:
     * the event goes without its properties or traits, saying so. */
    try { JSON.stringify(e); } catch (x) {
      if (e.properties) e.properties = { $error: 'properties are not JSON: ' + String(x && x.message).slice(0, 100) };
      if (e.traits) e.traits = { $error: 'traits are not JSON' };
    }
    enqueue(e);
  };
  var track = function (name, props) {
    if (typeof name !== 'string' || !name) return;
    send('track', { event: name, properties: props && typeof props === 'object' ? props : {} });
  };

  /* Engaged time: the page visible, with some interaction in the last 30 s. */
  var eng = 0, since = 0, lastAct = 0, depth = 0, leftSent = false;
  var active = function () {
    var t = Date.now();
    if (d.visibilityState !== 'hidden') {
      if (!since || t - lastAct > 30000) { if (since) eng += Math.min(lastAct + 30000, t) - since; since = t; }
      lastAct = t;
    }
  };
  var engaged = function () {
    var t = Date.now();
    if (since) { eng += Math.min(lastAct + 30000, t) - since; since = d.visibilityState === 'hidden' || t - lastAct > 30000 ? 0 : t; }
    return eng;
  };
  var scrolled = function () {
    var el = d.documentElement, h = Math.max(el.scrollHeight, d.body ? d.body.scrollHeight : 0);
    var p = h ? Math.min(100, Math.round(((w.scrollY || el.scrollTop) + w.innerHeight) / h * 100)) : 100;
    if (p > depth) depth = p;
  };
  var leave = function () {
    if (leftSent || !auto) return;
    leftSent = true;
    scrolled();
    track('Page Left', { url: here, path: new URL(here).pathname, engaged_ms: engaged(), scroll_depth: depth });
  };
  var SEARCH = ['q', 's', 'search', 'query', 'keyword', 'keywords', 'term'];
  var page = function (name, props) {
    eng = 0; since = 0; depth = 0; leftSent = false;
    active();
    scrolled();
    var f = { properties: Object.assign(pageInfo(), props && typeof props === 'object' ? props : {}) };
    if (typeof name === 'string') f.name = name;
    send('page', f);
    if (!auto) return;
    var sp = new URLSearchParams(location.search);
    for (var i = 0; i < SEARCH.length; i++) {
      var v = sp.get(SEARCH[i]);
      if (v) return track('Searched', { query: v, parameter: SEARCH[i], source: 'url' });
    }
  };
  /* 1 when the URL has changed: the old page is left, and it is the new one's referrer. */
  var moved = function () {
    if (location.href === here) return 0;
    leave();
    ref = here;
    here = location.href;
    return 1;
  };
  /* A new URL in a single-page app: viewed after the app has had its turn (pushState comes
   * before the new page's title). */
  var navigated = safe(function () { if (moved()) setTimeout(safe(function () { page(); }), 0); });

  /* ---- automatic capture ---- */
  var text = function (el) {
    var t = (el.innerText || el.textContent || el.value || el.getAttribute('aria-label') || el.title || '');
    return t.replace(/\s+/g, ' ').trim().slice(0, 100);
  };
  var selector = function (el) {
    var parts = [];
    for (var n = 0; el && el.nodeType === 1 && n < 5; n++, el = el.parentElement) {
      var s = el.tagName.toLowerCase();
      if (el.id) { parts.unshift(s + '#' + el.id); break; }
      var cls = typeof el.className === 'string' ? el.className.trim().split(/\s+/).slice(0, 2).join('.') : '';
      if (cls) s += '.' + cls;
      var p = el.parentElement;
      if (p) {
        var same = [].filter.call(p.children, function (c) { return c.tagName === el.tagName; });
        if (same.length > 1) s += ':nth-of-type(' + (same.indexOf(el) + 1) + ')';
      }
      parts.unshift(s);
    }
    return parts.join(' > ');
  };
  var FILES = /\.(pdf|zip|gz|tgz|rar|7z|dmg|exe|msi|pkg|deb|rpm|apk|iso|docx?|xlsx?|pptx?|odt|csv|txt|mp3|mp4|mov|avi|wav)$/i;
  var onClick = safe(function (e) {
    var el = e.target && e.target.closest && e.target.closest('a,button,[data-ff-event],input[type=submit],input[type=button],[role=button]');
    if (!el) return;
    var props = { text: text(el), selector: selector(el), tag: el.tagName.toLowerCase(), x: Math.round(e.pageX), y: Math.round(e.pageY) };
    var custom = el.getAttribute('data-ff-event');
    if (custom) {
      for (var i = 0; i < el.attributes.length; i++) {
        var a = el.attributes[i];
        if (a.name.indexOf('data-ff-') === 0 && a.name !== 'data-ff-event') props[a.name.slice(8).replace(/-/g, '_')] = a.value;
      }
      return track(custom, props);
    }
    if (el.tagName === 'A' && el.getAttribute('href')) {
      var u = new URL(el.href, location.href);
      props.href = u.href;
      if (el.hasAttribute('download') || FILES.test(u.pathname)) {
        props.file = u.pathname.split('/').pop();
        return track('File Downloaded', props);
      }
      if (/^https?:$/.test(u.protocol) && u.host !== location.host) return track('Outbound Link Clicked', props);
      return track('Link Clicked', props);
    }
    track('Button Clicked', props);
  });
  var isSearch = function (el) {
    return el && el.tagName === 'INPUT' && (el.type === 'search' || SEARCH.indexOf((el.name || '').toLowerCase()) >= 0);
  };
  var searched = function (el, how) {
    if (el.value && el.value.trim()) track('Searched', { query: el.value.trim().slice(0, 200), source: how });
  };
  var onSubmit = safe(function (e) {
    var f = e.target;
    if (!f || f.tagName !== 'FORM') return;
    /* what the form is, never what was typed in it (a search box's query excepted) */
    track('Form Submitted', {
      form_id: f.id || undefined, form_name: f.getAttribute('name') || undefined,
      action: f.getAttribute('action') || undefined, method: (f.method || 'get').toLowerCase(),
      fields: f.elements.length, selector: selector(f)
    });
    var s = [].filter.call(f.elements, isSearch)[0];
    if (s) searched(s, 'form');
  });
  var onKey = safe(function (e) {
    active();
    if (e.key === 'Enter' && isSearch(e.target) && !e.target.form) searched(e.target, 'input');
  });

  var going = function () { leave(); flush(true); };
  var hidden = safe(function () { if (d.visibilityState === 'hidden') going(); else active(); });

  /* ---- the API ---- */
  var ff = {
    version: V,
    track: safe(track),
    page: safe(function (name, props) {
      moved();
      page(name, props);
    }),
    identify: safe(function (userId, traits) {
      if (userId !== undefined && userId !== null && userId !== '') {
        uid = String(userId);
        if (consented) store.set('uid', uid);
      }
      send('identify', { traits: traits && typeof traits === 'object' ? traits : {} });
    }),
    reset: safe(function () {
      uid = null;
      store.del('uid');
      if (aid) { aid = uuid(); if (consented) store.set('aid', aid); }
    }),
    optOut: safe(function () {
      optedOut = true;
      q = []; held = [];
      queues().forEach(function (k) { store.del(k.slice(LS.length)); }); /* every tab's */
      store.del('uid');
      store.del('aid');
      store.set('optout', '1');
      store.del('consent');
    }),
    optIn: safe(function () {
      optedOut = false;
      store.del('optout');
      if (!consented) {
        consented = true;
        store.set('consent', '1');
        if (uid) store.set('uid', uid);
        if (aid) store.set('aid', aid);
        held.forEach(enqueue);
        held = [];
      }
      flush(false);
    }),
    flush: safe(function () { flush(false); })
  };
  var queued = old && old.q; /* calls made before t.js loaded: footfall('track', ...) */
  var fn = safe(function (m) {
    if (Object.prototype.hasOwnProperty.call(ff, m) && typeof ff[m] === 'function') ff[m].apply(null, [].slice.call(arguments, 1));
  });
  for (var k in ff) fn[k] = ff[k];
  w.footfall = fn;

  safe(function () {
    adopt();
    q = q.filter(fresh);
    if (consented) persist(true);
    if (queued) for (var i = 0; i < queued.length; i++) fn.apply(null, queued[i]);
    page();
  })();
  var on = function (t, ev, f, o) { t.addEventListener(ev, f, o || false); };
  ['mousemove', 'mousedown', 'touchstart', 'wheel'].forEach(function (ev) { on(d, ev, safe(active), { passive: true, capture: true }); });
  on(w, 'scroll', safe(function () { active(); scrolled(); }), { passive: true });
  on(d, 'visibilitychange', hidden);
  on(w, 'pagehide', safe(going));
  /* back from the back/forward cache: a new view of the page */
  on(w, 'pageshow', safe(function (e) { if (e.persisted) page(); }));
  on(w, 'online', safe(function () { tries = 0; flush(false); }));
  on(w, 'popstate', navigated);
  on(w, 'hashchange', navigated);
  ['pushState', 'replaceState'].forEach(function (m) {
    var orig = w.history[m];
    w.history[m] = function () {
      var r = orig.apply(this, arguments);
      navigated();
      return r;
    };
  });
  if (auto) {
    on(d, 'click', onClick, true);
    on(d, 'submit', onSubmit, true);
    on(d, 'keydown', onKey, true);
  }
  if (q.length) schedule(0);
})(window, document);
