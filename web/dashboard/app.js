/* footfall's dashboard: a single-page app over the read API (POST /api/query, GET /api/live),
 * served by the binary at /. Pages are hash routes (#/overview, #/live) whose state (range,
 * filters) lives in the URL, so a view can be shared by sending its address. Everything from
 * the API is put into the page as text (DOM nodes), never as HTML. */
(function () {
  'use strict';
  var KEY = 'footfall.readKey';
  var app = document.getElementById('app');
  var charts = []; /* ECharts instances of the current page, disposed on leaving it */
  var stopLive = null; /* closes the live stream when leaving the live page */

  /* ---- DOM ---- */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    for (var k in attrs || {}) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (var i = 2; i < arguments.length; i++) add(el, arguments[i]);
    return el;
  }
  function add(el, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) c.forEach(function (x) { add(el, x); });
    else el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  /* ---- formatting ---- */
  function num(n) {
    if (n === null || n === undefined || isNaN(n)) return '–';
    if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1).replace(/\.0$/, '') + 'M';
    if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1).replace(/\.0$/, '') + 'k';
    return String(Math.round(n * 100) / 100);
  }
  function pct(x) { return x === null || x === undefined ? '–' : Math.round(x * 1000) / 10 + '%'; }
  function dur(s) {
    if (s === null || s === undefined) return '–';
    s = Math.round(s);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor(s % 3600 / 60) + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor(s % 86400 / 3600) + 'h';
  }
  function clock(iso) {
    var d = new Date(iso);
    return isNaN(d) ? '' : d.toLocaleTimeString();
  }

  /* ---- the API ---- */
  function key() { try { return localStorage.getItem(KEY) || ''; } catch (e) { return ''; } }
  function setKey(k) { try { if (k) localStorage.setItem(KEY, k); else localStorage.removeItem(KEY); } catch (e) { /* private mode */ } }
  function ApiError(status, body) {
    this.status = status;
    this.message = body && body.error ? body.error + (body.field ? ' (' + body.field + ')' : '') : 'HTTP ' + status;
  }
  /* A 401: the key is forgotten and asked for again. */
  function refused() {
    setKey('');
    keyPage('footfall refused that read key (401). Enter a read key of this project.');
  }
  function request(path, opts) {
    opts = opts || {};
    opts.headers = Object.assign({ Authorization: 'Bearer ' + key() }, opts.headers || {});
    return fetch(path, opts).then(function (r) {
      if (r.status === 401) {
        refused();
        throw new ApiError(401, { error: 'the read key was refused' });
      }
      return r.text().then(function (t) {
        var body = null;
        try { body = t ? JSON.parse(t) : null; } catch (e) { /* not JSON */ }
        if (!r.ok) throw new ApiError(r.status, body);
        return body;
      });
    }, function () { throw new ApiError(0, { error: 'footfall cannot be reached' }); });
  }
  function query(q) {
    return request('/api/query', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(q) });
  }

  /* ---- the URL: #/page?range=7d&f=field:value ---- */
  function parseHash() {
    var hs = location.hash.replace(/^#\/?/, ''), qi = hs.indexOf('?');
    var page = (qi < 0 ? hs : hs.slice(0, qi)) || 'overview';
    return { page: page, params: new URLSearchParams(qi < 0 ? '' : hs.slice(qi + 1)) };
  }
  function go(page, params) {
    var s = params.toString();
    location.hash = '#/' + page + (s ? '?' + s : '');
  }
  /* Goes to `page` with a copy of `params` that fn has changed. */
  function withParams(page, params, fn) { var p = new URLSearchParams(params.toString()); fn(p); go(page, p); }
  var RANGES = [['24h', 'Last 24 hours'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days'], ['90d', 'Last 90 days'],
    ['custom', 'Custom range']];
  function rangeOf(params) {
    var r = params.get('range') || '7d';
    if (r === 'custom') return { range: r, from: params.get('from') || '-7d', to: params.get('to') || 'now' };
    if (!/^\d+[hd]$/.test(r)) r = '7d';
    return { range: r, from: '-' + r, to: 'now' };
  }
  function intervalOf(rg) {
    if (rg.range === '24h') return 'hour';
    if (rg.range === 'custom') {
      var a = Date.parse(rg.from), b = rg.to === 'now' ? Date.now() : Date.parse(rg.to);
      if (!isNaN(a) && !isNaN(b) && b - a <= 2 * 86400000) return 'hour';
    }
    return 'day';
  }
  /* Filters in the URL: f=FIELD:VALUE (equals) or f=FIELD|OP:VALUE. */
  var OPS = [['eq', 'is'], ['neq', 'is not'], ['contains', 'contains'], ['gt', 'is more than'], ['lt', 'is less than']];
  var FIELDS = ['path', 'event', 'source', 'channel', 'utm_campaign', 'utm_source', 'country', 'city', 'browser', 'os',
    'deviceType', 'referrer', 'title', 'properties.', 'person.'];
  function filtersOf(params) {
    return params.getAll('f').map(function (f) {
      var i = f.indexOf(':'), head = i < 0 ? '' : f.slice(0, i), bar = head.indexOf('|');
      var flt = { field: bar < 0 ? head : head.slice(0, bar), op: bar < 0 ? 'eq' : head.slice(bar + 1), value: f.slice(i + 1) };
      if (flt.op === 'gt' || flt.op === 'lt') flt.value = Number(flt.value);
      return flt;
    }).filter(function (f) { return f.field && OPS.some(function (o) { return o[0] === f.op; }); });
  }
  function filterParam(field, op, value) { return field + (op === 'eq' ? '' : '|' + op) + ':' + value; }
  function opLabel(op) { return (OPS.filter(function (o) { return o[0] === op; })[0] || [op, op])[1]; }

  /* ---- pages ---- */
  /* What the page being left holds: its charts and its live stream. */
  function leave() {
    charts.forEach(function (c) { c.dispose(); });
    charts = [];
    if (stopLive) { stopLive(); stopLive = null; }
  }
  function shell(page) {
    leave();
    var nav = [['overview', 'Overview'], ['live', 'Live'], ['insights', 'Insights'], ['boards', 'Boards'], ['analysis', 'Analysis']].map(function (p) {
      return h('a', { href: '#/' + p[0], class: p[0] === page ? 'on' : null, text: p[1] });
    });
    var main = h('main');
    clear(app);
    add(app, [h('header', { class: 'top' }, h('span', { class: 'brand', text: 'footfall' }), h('nav', null, nav),
      h('span', { class: 'spacer' }),
      h('button', { class: 'link', text: 'Change key', onclick: function () { setKey(''); route(); } })), main]);
    return main;
  }
  function chart(el, option) {
    var c = echarts.init(el);
    c.setOption(option);
    charts.push(c);
    return c;
  }
  window.addEventListener('resize', function () { charts.forEach(function (c) { c.resize(); }); });

  function keyPage(message) {
    leave();
    clear(app);
    var input = h('input', { type: 'password', placeholder: 'ffr_…', autocomplete: 'off', 'aria-label': 'read key' });
    var err = h('div');
    var form = h('form', {
      class: 'keyform', onsubmit: function (e) {
        e.preventDefault();
        var k = input.value.trim();
        if (!k) return;
        setKey(k);
        request('/api/stats').then(route, function (x) {
          if (x.status === 401) return; /* keyPage says so */
          setKey('');
          clear(err);
          add(err, h('div', { class: 'error', text: x.message }));
        });
      }
    }, h('h1', { text: 'footfall' }),
      h('p', { text: 'Enter a read key of your project. footfall printed one when it created the project; ' +
        '`footfall project add-key NAME --read` makes another.' }),
      input, h('button', { type: 'submit', text: 'Open the dashboard' }), err);
    if (message) add(err, h('div', { class: 'error', text: message }));
    add(app, form);
    input.focus();
  }

  function errorBox(el, e) { clear(el); add(el, h('div', { class: 'error', text: 'Could not load: ' + (e && e.message || e) })); }

  /* The range picker and the filter chips, above a page; changing them changes the URL. */
  function toolbar(page, params, rg, filters) {
    var change = function (fn) { withParams(page, params, fn); };
    var select = h('select', {
      'aria-label': 'date range', onchange: function () {
        change(function (p) { p.set('range', select.value); });
      }
    }, RANGES.map(function (r) { return h('option', { value: r[0], selected: r[0] === rg.range, text: r[1] }); }));
    var custom = rg.range !== 'custom' ? null : [
      h('input', { type: 'date', value: rg.from.slice(0, 10), 'aria-label': 'from', onchange: function (e) { change(function (p) { p.set('from', e.target.value); }); } }),
      h('input', { type: 'date', value: rg.to === 'now' ? '' : rg.to.slice(0, 10), 'aria-label': 'to', onchange: function (e) { change(function (p) { p.set('to', e.target.value); }); } })];
    var chips = filters.map(function (f, i) {
      return h('span', { class: 'chip' }, f.field + ' ' + opLabel(f.op) + ' ' + f.value, h('button', {
        title: 'remove this filter', text: '×', onclick: function () {
          change(function (p) { var all = p.getAll('f'); all.splice(i, 1); p.delete('f'); all.forEach(function (x) { p.append('f', x); }); });
        }
      }));
    });
    /* a filter of any field, with any operator */
    var editor = h('span', { class: 'filter-editor' });
    var open = h('button', { class: 'link', text: '+ Filter', onclick: function () {
      clear(editor);
      var field = h('input', { name: 'filter-field', list: 'ff-fields', placeholder: 'field', 'aria-label': 'filter field', size: 14 });
      var op = h('select', { name: 'filter-op', 'aria-label': 'filter operator' }, OPS.map(function (o) { return h('option', { value: o[0], text: o[1] }); }));
      var value = h('input', { name: 'filter-value', placeholder: 'value', 'aria-label': 'filter value', size: 14 });
      add(editor, h('form', { class: 'inline', onsubmit: function (e) {
        e.preventDefault();
        if (!field.value.trim()) return field.focus();
        change(function (p) { p.append('f', filterParam(field.value.trim(), op.value, value.value)); });
      } }, field, op, value, h('button', { type: 'submit', class: 'primary', text: 'Add' }),
        h('datalist', { id: 'ff-fields' }, FIELDS.map(function (f) { return h('option', { value: f }); }))));
      field.focus();
    } });
    return h('div', { class: 'toolbar' }, select, custom, h('div', { class: 'chips' }, chips), open, editor);
  }

  /* Overview: Plausible's page. */
  function overview(params) {
    var main = shell('overview');
    var rg = rangeOf(params), filters = filtersOf(params), interval = intervalOf(rg);
    var base = { from: rg.from, to: rg.to, filters: filters };

    add(main, toolbar('overview', params, rg, filters));

    var kpis = h('div', { class: 'kpis' }, h('div', { class: 'progress', text: 'Counting' }));
    var trend = h('div', { class: 'chart' });
    add(main, [kpis, h('div', { class: 'card' }, h('h2', { text: 'Visitors' }), trend)]);
    var grid = h('div', { class: 'grid' });
    add(main, grid);

    Promise.all([
      query(Object.assign({ kind: 'trends', events: ['$pageview'], measure: 'unique_persons', interval: interval, compare: true }, base)),
      query(Object.assign({ kind: 'trends', events: ['$pageview'], measure: 'count', interval: interval, compare: true }, base)),
      query(Object.assign({ kind: 'sessions', compare: true, limit: 1 }, base))
    ]).then(function (r) {
      var vis = r[0], pv = r[1], ses = r[2];
      var total = function (t) { return t && t.series && t.series[0] ? t.series[0].total : 0; };
      clear(kpis);
      if (!total(pv) && !filters.length && rg.range !== 'custom') welcome(main);
      var cards = [
        ['Unique visitors', total(vis), total(vis.previous), num],
        ['Pageviews', total(pv), total(pv.previous), num],
        ['Visits', ses.sessions, ses.previous && ses.previous.sessions, num],
        ['Bounce rate', ses.bounce_rate, ses.previous && ses.previous.bounce_rate, pct, true],
        ['Visit duration', ses.avg_duration_seconds, ses.previous && ses.previous.avg_duration_seconds, dur]
      ];
      cards.forEach(function (c) {
        var d = null;
        if (c[2] && c[1] !== null && c[1] !== undefined) {
          var ch = (c[1] - c[2]) / c[2];
          d = h('div', { class: 'delta ' + (ch >= 0 ? 'up' : 'down') + (c[4] ? ' inverse' : ''), text: (ch >= 0 ? '↑ ' : '↓ ') + Math.abs(Math.round(ch * 100)) + '% vs previous period' });
        } else {
          d = h('div', { class: 'delta', text: 'no previous period to compare' });
        }
        add(kpis, h('div', { class: 'kpi' }, h('div', { class: 'label', text: c[0] }), h('div', { class: 'value', text: c[3](c[1]) }), d));
      });
      var cur = vis.series[0] ? vis.series[0].data : [];
      var prev = vis.previous && vis.previous.series[0] ? vis.previous.series[0].data : [];
      chart(trend, {
        tooltip: { trigger: 'axis' }, legend: { data: ['This period', 'Previous period'], bottom: 0 },
        grid: { left: 40, right: 16, top: 16, bottom: 40 },
        xAxis: { type: 'category', data: vis.buckets, boundaryGap: false },
        yAxis: { type: 'value', minInterval: 1 },
        series: [
          { name: 'This period', type: 'line', data: cur, smooth: true, areaStyle: { opacity: 0.12 }, color: '#4f5bd5' },
          { name: 'Previous period', type: 'line', data: prev, smooth: true, lineStyle: { type: 'dashed' }, color: '#b3b8c7', symbol: 'none' }
        ]
      });
    }, function (e) { errorBox(kpis, e); });

    var lists = [['Top pages', 'path', 'path'], ['Entry pages', 'entry_page', 'page'], ['Exit pages', 'exit_page', 'page'],
      ['Sources', 'source', 'source'], ['Channels', 'channel', 'channel'], ['UTM campaigns', 'utm_campaign', 'utm_campaign'],
      ['Countries', 'country', 'country'], ['Browsers', 'browser', 'browser'], ['Operating systems', 'os', 'os'],
      ['Devices', 'deviceType', 'deviceType']];
    lists.forEach(function (l) {
      var body = h('div', null, h('div', { class: 'progress', text: 'Loading' }));
      add(grid, h('div', { class: 'card', 'data-list': l[1] }, h('h2', { text: l[0] }), body));
      query(Object.assign({ kind: 'top', dimension: l[1], limit: 10 }, base)).then(function (r) {
        topTable(body, r, l[1], function (value) {
          withParams('overview', params, function (p) { p.append('f', filterParam(l[2], 'eq', value)); });
        });
      }, function (e) { errorBox(body, e); });
    });
  }

  function topTable(el, r, dim, pick) {
    clear(el);
    var rows = r.results || [];
    if (!rows.length) return add(el, h('div', { class: 'empty', text: 'Nothing in this range' }));
    var visits = dim === 'entry_page' || dim === 'exit_page';
    var max = Math.max.apply(null, rows.map(function (x) { return x.visitors || 0; })) || 1;
    add(el, h('table', { class: 'top' },
      h('tr', null, h('th', { text: 'Value' }), h('th', { class: 'num', text: 'Visitors' }), h('th', { class: 'num', text: visits ? 'Visits' : 'Views' })),
      rows.map(function (x) {
        var v = x.value === null || x.value === '' ? '(none)' : String(x.value);
        return h('tr', { class: 'row', title: 'Filter the page by ' + v, onclick: x.value === null || x.value === '' ? null : function () { pick(String(x.value)); } },
          h('td', { class: 'value' }, h('div', { class: 'bar', style: 'width:' + Math.max(1, Math.round(100 * (x.visitors || 0) / max)) + '%' }), h('span', { text: v })),
          h('td', { class: 'num', text: num(x.visitors) }), h('td', { class: 'num', text: num(visits ? x.visits : x.views) }));
      })));
  }

  /* The empty state: the tag to add, with the project's own write key. */
  function welcome(main) {
    var tag = function (k) { return '<script defer src="' + location.origin + '/t.js" data-key="' + k + '"></script>'; };
    var pre = h('pre', { class: 'snippet', text: tag('YOUR_WRITE_KEY') });
    main.insertBefore(h('div', { class: 'card welcome' },
      h('h2', { text: 'No page views yet' }),
      h('p', { text: 'Add this tag to the pages of your site, and visits appear here within a second:' }),
      pre,
      h('p', { text: 'Or load a realistic history to look around: `footfall generate`. The Live page shows events as they arrive.' })),
    main.firstChild.nextSibling);
    request('/api/project').then(function (p) { if (p && p.write_key) pre.textContent = tag(p.write_key); }, function () { /* the placeholder stays */ });
  }

  /* Live: server-sent events from /api/live, read with fetch (EventSource cannot send the key). */
  function live() {
    var main = shell('live');
    var status = h('span', { class: 'dot off' }), now = h('div', { class: 'live-now', text: '–' });
    var perSecond = h('div', { class: 'chart small' }), perMinute = h('div', { class: 'chart small' });
    var tbody = h('tbody');
    add(main, [
      h('div', { class: 'kpis' }, h('div', { class: 'kpi' }, h('div', { class: 'label' }, status, 'Visitors active now (last 5 minutes)'), now)),
      h('div', { class: 'grid' },
        h('div', { class: 'card' }, h('h2', { text: 'Events per second, last minute' }), perSecond),
        h('div', { class: 'card' }, h('h2', { text: 'Events per minute, last 30 minutes' }), perMinute)),
      h('div', { class: 'card' }, h('h2', { text: 'Latest events' }),
        h('table', { class: 'events' }, h('thead', null, h('tr', null, ['Time', 'Event', 'Person', 'Page', 'Country', 'Browser'].map(function (t) { return h('th', { text: t }); }))), tbody))
    ]);
    var bar = function (el) {
      return chart(el, { grid: { left: 36, right: 8, top: 8, bottom: 20 }, xAxis: { type: 'category', data: [], axisLabel: { show: false } },
        yAxis: { type: 'value', minInterval: 1 }, series: [{ type: 'bar', data: [], color: '#4f5bd5', animation: false }] });
    };
    var cs = bar(perSecond), cm = bar(perMinute);
    var seen = {};
    function show(d) {
      now.textContent = num(d.active_persons);
      var ps = d.per_second || [], pm = d.per_minute || [];
      cs.setOption({ xAxis: { data: ps.map(function (_, i) { return (i - ps.length + 1) + 's'; }) }, series: [{ data: ps }] });
      cm.setOption({ xAxis: { data: pm.map(function (_, i) { return (i - pm.length + 1) + 'm'; }) }, series: [{ data: pm }] });
      clear(tbody);
      var fresh = {};
      (d.latest || []).forEach(function (e) {
        var name = e.event || (e.type === 'page' ? 'Page view' : e.type);
        var ctx = e.context || {}, page = ctx.page || {}, en = e.enrichment || {};
        add(tbody, h('tr', { class: seen[e.messageId] ? null : 'fresh', 'data-mid': e.messageId },
          h('td', { text: clock(e.receivedAt || e.timestamp) }), h('td', { text: name }),
          h('td', { text: e.userId || e.anonymousId || '' }), h('td', { text: page.path || (e.properties && e.properties.path) || '' }),
          h('td', { text: en.country || '' }), h('td', { text: en.browser || '' })));
        fresh[e.messageId] = 1;
      });
      seen = fresh;
    }
    var ctl = new AbortController(), closed = false, current = null;
    stopLive = function () { closed = true; ctl.abort(); };
    function connect(delay) {
      setTimeout(function () {
        if (closed) return;
        fetch('/api/live', { headers: { Authorization: 'Bearer ' + key() }, signal: ctl.signal }).then(function (r) {
          if (r.status === 401) return refused();
          if (!r.ok || !r.body) throw new Error('HTTP ' + r.status);
          status.className = 'dot';
          status.title = '';
          var reader = r.body.getReader(), dec = new TextDecoder(), buf = '';
          current = reader;
          function pump() {
            return reader.read().then(function (x) {
              if (x.done) throw new Error('the stream ended');
              buf += dec.decode(x.value, { stream: true });
              var at;
              while ((at = buf.indexOf('\n\n')) >= 0) {
                var msg = buf.slice(0, at), ev = 'message', data = '';
                buf = buf.slice(at + 2);
                msg.split('\n').forEach(function (line) {
                  if (line.indexOf('event:') === 0) ev = line.slice(6).trim();
                  else if (line.indexOf('data:') === 0) data += line.slice(5).trim();
                });
                if (ev === 'message' && data) show(JSON.parse(data));
                else if (ev === 'error') { status.className = 'dot off'; status.title = data; } /* a failed query: the next may do */
              }
              return pump();
            });
          }
          return pump();
        }).catch(function () {
          status.className = 'dot off';
          if (current) { current.cancel().catch(function () {}); current = null; } /* no stream left open */
          if (!closed) connect(1000); /* reconnect */
        });
      }, delay);
    }
    connect(0);
  }

  /* ---- Insights: a builder for trends, funnels, retention and paths; the URL holds the
   * whole insight, so sending the address shares it. ---- */
  var KINDS = [['trends', 'Trends'], ['funnel', 'Funnel'], ['retention', 'Retention'], ['paths', 'Paths']];
  var MEASURES = [['count', 'Events'], ['unique_persons', 'Unique persons'], ['unique_sessions', 'Unique sessions'],
    ['per_person_avg', 'Events per person'], ['sum', 'Sum of'], ['avg', 'Average of'], ['min', 'Minimum of'],
    ['max', 'Maximum of'], ['p50', 'Median of'], ['p90', '90th percentile of'], ['p99', '99th percentile of']];
  var BREAKDOWNS = ['', 'path', 'source', 'channel', 'utm_campaign', 'country', 'browser', 'os', 'deviceType', 'event'];
  function list(v) { return (v || '').split(',').map(function (x) { return x.trim(); }).filter(Boolean); }

  /* The query an insight's URL parameters describe. */
  function insightQuery(params) {
    var rg = rangeOf(params), kind = params.get('kind') || 'trends';
    var q = { kind: kind, from: rg.from, to: rg.to, filters: filtersOf(params) };
    if (kind === 'trends') {
      var evs = list(params.get('events'));
      if (evs.length) q.events = evs;
      q.measure = params.get('measure') || 'count';
      if (params.get('property')) q.property = params.get('property');
      if (params.get('breakdown')) q.breakdown = params.get('breakdown');
      q.interval = params.get('interval') || intervalOf(rg);
    } else if (kind === 'funnel') {
      q.steps = list(params.get('steps')).map(function (e) { return { event: e }; });
      q.window = params.get('window') || '14d';
      q.order = params.get('order') || 'loose';
    } else if (kind === 'retention') {
      q.start_event = params.get('start') || 'any';
      q.return_event = params.get('return') || 'any';
      q.period = params.get('period') || 'week';
      q.periods = +(params.get('periods') || 8);
      delete q.from; /* enough periods back for a full row */
      if (rg.range === 'custom') { q.from = rg.from; q.to = rg.to; }
    } else if (kind === 'paths') {
      if (params.get('start')) q.start = params.get('start');
      q.direction = params.get('direction') || 'next';
      q.depth = +(params.get('depth') || 4);
    }
    return q;
  }

  function field(label, input) { return h('label', { class: 'field' }, h('span', { text: label }), input); }

  function insights(params) {
    var main = shell('insights');
    var rg = rangeOf(params), filters = filtersOf(params), kind = params.get('kind') || 'trends';
    function set(k, v) {
      var p = new URLSearchParams(params.toString());
      if (v === '' || v === null || v === undefined) p.delete(k); else p.set(k, v);
      go('insights', p);
    }
    function input(k, placeholder, attrs) {
      return h('input', Object.assign({ value: params.get(k) || '', placeholder: placeholder, list: 'ff-events', name: k,
        onchange: function (e) { set(k, e.target.value.trim()); } }, attrs || {}));
    }
    function choice(k, options, dflt) {
      var cur = params.get(k) || dflt;
      return h('select', { name: k, onchange: function (e) { set(k, e.target.value); } },
        options.map(function (o) { return h('option', { value: o[0], selected: o[0] === cur, text: o[1] }); }));
    }
    add(main, h('div', { class: 'tabs' }, KINDS.map(function (k) {
      return h('button', { class: k[0] === kind ? 'on' : null, text: k[1], 'data-kind': k[0], onclick: function () { set('kind', k[0]); } });
    })));
    add(main, toolbar('insights', params, rg, filters));
    var form = h('div', { class: 'builder' });
    if (kind === 'trends') {
      add(form, [
        field('Events (comma-separated; empty: all)', input('events', 'Order Completed, $pageview')),
        field('Measure', choice('measure', MEASURES, 'count')),
        /^(sum|avg|min|max|p50|p90|p99)$/.test(params.get('measure') || '') ? field('Property', input('property', 'properties.revenue', { list: null })) : null,
        field('Breakdown', choice('breakdown', BREAKDOWNS.map(function (b) { return [b, b || 'none']; }), '')),
        field('Interval', choice('interval', [['hour', 'Hour'], ['day', 'Day'], ['week', 'Week'], ['month', 'Month']], intervalOf(rg))),
        field('Chart', choice('chart', [['line', 'Line'], ['bar', 'Bar'], ['table', 'Table']], 'line'))]);
    } else if (kind === 'funnel') {
      add(form, [
        field('Steps (comma-separated, in order)', input('steps', 'Product Viewed, Product Added, Order Completed', { style: 'min-width: 30rem' })),
        field('Conversion window', choice('window', [['1h', '1 hour'], ['1d', '1 day'], ['7d', '7 days'], ['14d', '14 days'], ['30d', '30 days']], '14d')),
        field('Order', choice('order', [['loose', 'Loose'], ['strict', 'Strict']], 'loose'))]);
    } else if (kind === 'retention') {
      add(form, [
        field('Cohort: first did', input('start', 'any')),
        field('Came back and did', input('return', 'any')),
        field('Period', choice('period', [['day', 'Day'], ['week', 'Week'], ['month', 'Month']], 'week')),
        field('Periods', choice('periods', [4, 8, 12, 16].map(function (n) { return [String(n), String(n)]; }), '8'))]);
    } else {
      add(form, [
        field('Start at (page path or event; empty: first)', input('start', '/pricing')),
        field('Direction', choice('direction', [['next', 'What came next'], ['previous', 'What came before']], 'next')),
        field('Depth', choice('depth', [3, 4, 5, 6, 8].map(function (n) { return [String(n), String(n) + ' steps']; }), '4'))]);
    }
    var datalist = h('datalist', { id: 'ff-events' }), saving = h('div', { class: 'saving' });
    add(form, datalist);
    add(main, h('div', { class: 'card' }, form,
      h('div', { class: 'actions' },
        h('button', { class: 'primary', text: 'Save to a board', onclick: function () { saveForm(saving, kind, params); } }),
        h('button', { class: 'link', text: 'Copy link', onclick: function () { copyLink(this); } })), saving));
    var result = h('div', { class: 'card result' }, h('div', { class: 'progress', text: 'Asking footfall' }));
    add(main, result);
    query({ kind: 'top', dimension: 'event', limit: 50, from: rg.from, to: rg.to }).then(function (r) {
      (r.results || []).forEach(function (x) { if (x.value) add(datalist, h('option', { value: x.value })); });
    }, function () { /* suggestions only */ });
    var q = insightQuery(params);
    if (kind === 'funnel' && q.steps.length < 2) {
      clear(result);
      return add(result, h('div', { class: 'empty', text: 'Name at least two steps, separated by commas.' }));
    }
    renderInsight(result, q, params.get('chart') || 'line');
  }

  /* Draws the answer to q into el; used by the builder and by boards. */
  function renderInsight(el, q, chartType) {
    var started = Date.now();
    return query(q).then(function (r) {
      clear(el);
      add(el, h('div', { class: 'took', text: 'Answered in ' + (Date.now() - started) + ' ms' }));
      if (q.kind === 'trends') trendsView(el, r, chartType);
      else if (q.kind === 'funnel') funnelView(el, r);
      else if (q.kind === 'retention') retentionView(el, r);
      else pathsView(el, r);
    }, function (e) { errorBox(el, e); });
  }

  function seriesName(s) {
    var n = s.formula ? s.formula : (s.event || 'All events');
    return s.breakdown !== undefined ? n + ' · ' + (s.breakdown === null ? '(none)' : s.breakdown) : n;
  }

  function trendsView(el, r, chartType) {
    var series = r.series || [];
    if (!series.length || series.every(function (s) { return !s.total; })) add(el, h('div', { class: 'empty', text: 'No events in this range.' }));
    if (chartType !== 'table') {
      var c = h('div', { class: 'chart' });
      add(el, c);
      chart(c, {
        tooltip: { trigger: 'axis' }, legend: { type: 'scroll', bottom: 0 },
        grid: { left: 50, right: 16, top: 16, bottom: 48 },
        xAxis: { type: 'category', data: r.buckets, boundaryGap: chartType === 'bar' },
        yAxis: { type: 'value' },
        series: series.map(function (s) { return { name: seriesName(s), type: chartType === 'bar' ? 'bar' : 'line', data: s.data, smooth: true }; })
      });
    }
    add(el, h('table', { class: 'top series' },
      h('tr', null, h('th', { text: 'Series' }), h('th', { class: 'num', text: 'Total' })),
      series.map(function (s) { return h('tr', null, h('td', { class: 'value' }, h('span', { text: seriesName(s) })), h('td', { class: 'num', text: num(s.total) })); })));
  }

  function funnelView(el, r) {
    var steps = r.steps || [];
    var c = h('div', { class: 'chart' });
    add(el, c);
    chart(c, {
      tooltip: { trigger: 'axis' }, grid: { left: 50, right: 16, top: 16, bottom: 40 },
      xAxis: { type: 'category', data: steps.map(function (s, i) { return (i + 1) + '. ' + s.event; }) },
      yAxis: { type: 'value', minInterval: 1 },
      series: [{ type: 'bar', data: steps.map(function (s) { return s.persons; }), color: '#4f5bd5',
        label: { show: true, position: 'top', formatter: function (p) { return pct(steps[p.dataIndex].conversion_rate); } } }]
    });
    add(el, h('table', { class: 'top funnel' },
      h('tr', null, ['Step', 'Persons', 'Conversion', 'From previous', 'Median time', '90% within'].map(function (t, i) { return h('th', { class: i ? 'num' : null, text: t }); })),
      steps.map(function (s, i) {
        return h('tr', null, h('td', { class: 'value' }, h('span', { text: (i + 1) + '. ' + s.event })), h('td', { class: 'num', text: num(s.persons) }),
          h('td', { class: 'num', text: pct(s.conversion_rate) }), h('td', { class: 'num', text: pct(s.step_conversion_rate) }),
          h('td', { class: 'num', text: i ? dur(s.median_seconds) : '' }), h('td', { class: 'num', text: i ? dur(s.p90_seconds) : '' }));
      })));
  }

  function retentionView(el, r) {
    var cohorts = r.cohorts || [];
    if (!cohorts.length) return add(el, h('div', { class: 'empty', text: 'No cohort in this range.' }));
    var n = (r.periods || 8) + 1, head = [h('th', { text: 'Cohort' }), h('th', { class: 'num', text: 'Persons' })];
    for (var k = 0; k < n; k++) head.push(h('th', { class: 'num', text: (r.period || 'period') + ' ' + k }));
    add(el, h('table', { class: 'heat' }, h('tr', null, head),
      cohorts.map(function (c) {
        var cells = [h('td', { text: c.cohort }), h('td', { class: 'num', text: num(c.persons) })];
        for (var k = 0; k < n; k++) {
          var v = c.returned[k], share = c.persons && v !== undefined ? v / c.persons : null;
          cells.push(h('td', { class: 'num cell', title: v === undefined ? '' : v + ' of ' + c.persons,
            style: share === null ? null : 'background: rgba(79, 91, 213, ' + (0.08 + 0.85 * share).toFixed(2) + '); color: ' + (share > 0.55 ? '#fff' : 'inherit'),
            text: share === null ? '' : pct(share) }));
        }
        return h('tr', null, cells);
      }),
      h('tr', { class: 'average' }, h('td', { text: 'Average' }), h('td'), (r.average || []).map(function (a) { return h('td', { class: 'num', text: pct(a) }); }))));
  }

  function pathsView(el, r) {
    var nodes = r.nodes || [], edges = r.edges || [];
    if (!edges.length) return add(el, h('div', { class: 'empty', text: 'No paths in this range.' }));
    var c = h('div', { class: 'chart tall' });
    add(el, [h('div', { class: 'took', text: num(r.sessions) + ' sessions' }), c]);
    chart(c, {
      tooltip: { trigger: 'item' },
      series: [{ type: 'sankey', left: 8, right: 120, nodeGap: 10, emphasis: { focus: 'adjacency' },
        data: nodes.map(function (x) { return { name: x.name, value: x.sessions }; }),
        links: edges.map(function (x) { return { source: x.source, target: x.target, value: x.sessions }; }),
        label: { formatter: function (p) { return p.name.replace(/^\d+_/, ''); } },
        lineStyle: { color: 'gradient', opacity: 0.35 } }]
    });
  }

  function copyLink(btn) {
    var done = function () { btn.textContent = 'Link copied'; };
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(location.href).then(done, function () { prompt('Copy this link', location.href); });
    else prompt('Copy this link', location.href);
  }

  /* ---- Boards: insights saved together (PUT /api/boards/NAME), each drawn as the builder
   * draws it from the URL parameters it was saved with. ---- */
  function insightTitle(params) {
    var k = params.get('kind') || 'trends';
    if (k === 'trends') return (params.get('events') || 'All events') + ' · ' + (params.get('measure') || 'count');
    if (k === 'funnel') return 'Funnel: ' + list(params.get('steps')).join(' → ');
    if (k === 'retention') return 'Retention of ' + (params.get('start') || 'any') + ' by ' + (params.get('period') || 'week');
    return 'Paths ' + (params.get('direction') || 'next') + ' from ' + (params.get('start') || 'the first page');
  }
  function boardUrl(name) { return '/api/boards/' + encodeURIComponent(name); }
  /* A board's definition, or an empty one when there is none by that name yet. */
  function getBoard(name) {
    return request('/api/boards').then(function (r) {
      var b = (r.boards || []).filter(function (x) { return x.name === name; })[0];
      return b ? b.definition : { insights: [] };
    });
  }
  function putBoard(name, def) {
    return request(boardUrl(name), { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(def) });
  }

  function saveForm(el, kind, params) {
    clear(el);
    var p = new URLSearchParams(params.toString());
    var board = h('input', { name: 'board', value: 'main', list: 'ff-boards', 'aria-label': 'board' });
    var title = h('input', { name: 'title', value: insightTitle(p), size: 40, 'aria-label': 'title' });
    var names = h('datalist', { id: 'ff-boards' }), note = h('span', { class: 'note' });
    request('/api/boards').then(function (r) { (r.boards || []).forEach(function (b) { add(names, h('option', { value: b.name })); }); }, function () {});
    add(el, h('form', {
      class: 'saveform', onsubmit: function (e) {
        e.preventDefault();
        var name = board.value.trim();
        note.textContent = 'Saving…';
        getBoard(name).then(function (def) {
          def.insights = (def.insights || []).concat([{ title: title.value.trim() || insightTitle(p), params: p.toString() }]);
          return putBoard(name, def);
        }).then(function () {
          clear(note);
          add(note, ['Saved to ', h('a', { href: '#/boards?board=' + encodeURIComponent(name), text: name }), '.']);
        }, function (x) { note.textContent = 'Not saved: ' + x.message; });
      }
    }, field('Board', board), field('Title', title), names, h('button', { type: 'submit', class: 'primary', text: 'Save' }), note));
  }

  function boards(params) {
    var main = shell('boards');
    var body = h('div', null, h('div', { class: 'progress', text: 'Loading the boards' }));
    add(main, body);
    request('/api/boards').then(function (r) {
      clear(body);
      var all = r.boards || [];
      if (!all.length) return add(body, h('div', { class: 'card empty', text: 'No boards yet: build an insight (Insights) and save it to a board.' }));
      var name = params.get('board') || all[0].name;
      var board = all.filter(function (b) { return b.name === name; })[0] || all[0];
      add(body, h('div', { class: 'tabs' }, all.map(function (b) {
        return h('button', { class: b.name === board.name ? 'on' : null, text: b.name, onclick: function () { go('boards', new URLSearchParams({ board: b.name })); } });
      })));
      var ins = board.definition.insights || [];
      if (!ins.length) add(body, h('div', { class: 'card empty', text: 'This board is empty.' }));
      var grid = h('div', { class: 'grid boards' });
      add(body, grid);
      ins.forEach(function (x, i) {
        var p = new URLSearchParams(x.params || '');
        var out = h('div', null, h('div', { class: 'progress', text: 'Asking footfall' }));
        add(grid, h('div', { class: 'card insight' },
          h('h2', null, h('a', { href: '#/insights?' + p.toString(), text: x.title || insightTitle(p) }),
            h('button', { class: 'link remove', title: 'remove from the board', text: '×', onclick: function () {
              board.definition.insights.splice(i, 1);
              putBoard(board.name, board.definition).then(route, function (e) { errorBox(out, e); });
            } })), out));
        renderInsight(out, insightQuery(p), p.get('chart') || 'line');
      });
    }, function (e) { errorBox(body, e); });
  }

  /* ---- analysis: segments, rules, forecasts (POST /api/analysis/…) ---- */
  function analysisRequest(what, body) {
    return request('/api/analysis/' + what, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  }
  function fixed(x, d) { return x === null || x === undefined ? '–' : (Math.round(x * Math.pow(10, d)) / Math.pow(10, d)).toLocaleString(); }

  function analysis(params) {
    var main = shell('analysis');
    var rg = rangeOf(params), filters = filtersOf(params), tab = params.get('tab') || 'segments';
    var base = { from: rg.from, to: rg.to, filters: filters };
    function set(k, v) { withParams('analysis', params, function (p) { if (v === '' || v === null) p.delete(k); else p.set(k, v); }); }
    function input(k, placeholder, dflt) {
      return h('input', { name: k, value: params.get(k) || dflt || '', placeholder: placeholder, onchange: function (e) { set(k, e.target.value.trim()); } });
    }
    add(main, h('div', { class: 'tabs' }, [['segments', 'Segments'], ['rules', 'Rules'], ['forecast', 'Forecast']].map(function (t) {
      return h('button', { class: t[0] === tab ? 'on' : null, text: t[1], 'data-tab': t[0], onclick: function () { set('tab', t[0]); } });
    })));
    add(main, toolbar('analysis', params, rg, filters));
    var form = h('div', { class: 'builder' }), out = h('div', { class: 'card analysis' }, h('div', { class: 'progress', text: 'Asking footfall' }));
    add(main, [form, out]);
    if (tab === 'segments') {
      var k = params.get('k') || '';
      add(form, [field('Segments (k; empty: chosen by silhouette, 2–8)', input('k', 'auto')),
        field('Method', h('select', { name: 'method', onchange: function (e) { set('method', e.target.value); } },
          [['kmeans', 'k-means'], ['dbscan', 'DBSCAN']].map(function (m) { return h('option', { value: m[0], selected: m[0] === (params.get('method') || 'kmeans'), text: m[1] }); })))]);
      var body = Object.assign({ persons: 5, method: params.get('method') || 'kmeans' }, base);
      if (/^\d+$/.test(k)) body.k = +k;
      analysisRequest('segments', body).then(function (a) {
        clear(out);
        var segs = a.segments || [];
        add(out, h('p', { class: 'summary', text: a.method === 'kmeans'
          ? a.persons + ' persons in ' + a.k + ' segments (' + (a.chosen_by === 'silhouette' ? 'k chosen by silhouette ' + fixed(a.silhouette, 3) + ', elbow at ' + a.elbow : 'k given') + ')'
          : a.persons + ' persons: ' + a.clusters + ' clusters, ' + a.noise + ' noise (eps ' + fixed(a.eps, 3) + ', min ' + a.min_pts + ')' }));
        var el = h('div', { class: 'chart small' });
        add(out, el);
        chart(el, { tooltip: {}, grid: { left: 50, right: 20, top: 20, bottom: 30 },
          xAxis: { type: 'category', data: segs.map(function (x) { return 'Segment ' + x.segment; }) }, yAxis: { type: 'value' },
          series: [{ type: 'bar', data: segs.map(function (x) { return x.size; }), itemStyle: { color: '#4f5bd5' } }] });
        add(out, h('table', { class: 'profile' }, [
          h('thead', null, h('tr', null, [h('th', { text: 'Feature' })].concat(segs.map(function (x) { return h('th', { class: 'num', text: 'Segment ' + x.segment + ' (' + x.size + ')' }); })))),
          h('tbody', null, (a.columns || []).map(function (c) {
            return h('tr', null, [h('td', { text: c })].concat(segs.map(function (x) { return h('td', { class: 'num', text: fixed(x.centroid[c], 2) }); })));
          }))]));
        var name = h('input', { name: 'save-as', placeholder: 'name', 'aria-label': 'save as' });
        add(out, h('form', { class: 'inline save', onsubmit: function (e) {
          e.preventDefault();
          if (!name.value.trim()) return;
          analysisRequest('segments', Object.assign({}, body, { save: name.value.trim() })).then(function (r) {
            add(out, h('p', { class: 'saved', text: 'Saved as ' + r.segments.map(function (x) { return x.saved; }).join(', ') + ': any insight can use them as its segment.' }));
          }, function (e) { errorBox(out, e); });
        } }, [h('span', { text: 'Save as segments ' }), name, h('button', { text: 'Save' })]));
      }, function (e) { errorBox(out, e); });
    } else if (tab === 'rules') {
      add(form, [field('Transactions', h('select', { name: 'transactions', onchange: function (e) { set('transactions', e.target.value); } },
          [['sessions', 'Sessions'], ['persons', 'Persons']].map(function (m) { return h('option', { value: m[0], selected: m[0] === (params.get('transactions') || 'sessions'), text: m[1] }); }))),
        field('Items (event, page, properties.KEY)', input('items', 'event', 'event')),
        field('Min support', input('support', '0.01', '0.01')), field('Min confidence', input('confidence', '0.5', '0.5'))]);
      analysisRequest('rules', Object.assign({ transactions: params.get('transactions') || 'sessions', items: params.get('items') || 'event',
        min_support: +(params.get('support') || 0.01), min_confidence: +(params.get('confidence') || 0.5), limit: 200 }, base)).then(function (a) {
        clear(out);
        add(out, h('p', { class: 'summary', text: a.transactions + ' ' + a.by + ', ' + a.distinct_items + ' items: ' + a.itemsets_found + ' frequent itemsets, ' + a.rules_found + ' rules' }));
        var sortBy = params.get('sort') || 'lift', cols = [['if', 'If'], ['then', 'Then'], ['support', 'Support'], ['confidence', 'Confidence'], ['lift', 'Lift'], ['conviction', 'Conviction']];
        var rows = (a.rules || []).slice().sort(function (x, y) { return (y[sortBy] === null ? Infinity : y[sortBy]) - (x[sortBy] === null ? Infinity : x[sortBy]); });
        add(out, h('table', { class: 'rules' }, [
          h('thead', null, h('tr', null, cols.map(function (c) {
            var sortable = c[0] !== 'if' && c[0] !== 'then';
            return h('th', { class: (sortable ? 'num sortable' : '') + (c[0] === sortBy ? ' on' : ''), text: c[1] + (c[0] === sortBy ? ' ↓' : ''),
              onclick: sortable ? function () { set('sort', c[0]); } : null });
          }))),
          h('tbody', null, rows.map(function (r) {
            return h('tr', null, [h('td', { text: r['if'].join(' + ') }), h('td', { text: r.then.join(' + ') }),
              h('td', { class: 'num', text: fixed(r.support, 4) }), h('td', { class: 'num', text: fixed(r.confidence, 3) }),
              h('td', { class: 'num', text: fixed(r.lift, 2) }), h('td', { class: 'num', text: r.conviction === null ? '∞' : fixed(r.conviction, 2) })]);
          }))]));
      }, function (e) { errorBox(out, e); });
    } else {
      var iv = params.get('interval') || (intervalOf(rg) === 'hour' ? 'hour' : 'day');
      add(form, [field('Event (empty: all)', input('event', 'Order Completed')),
        field('Interval', h('select', { name: 'interval', onchange: function (e) { set('interval', e.target.value); } },
          [['hour', 'Hour'], ['day', 'Day']].map(function (m) { return h('option', { value: m[0], selected: m[0] === iv, text: m[1] }); })))]);
      var fb = Object.assign({ interval: iv }, base);
      if (params.get('event')) fb.events = [params.get('event')];
      analysisRequest('forecast', fb).then(function (a) {
        clear(out);
        var s = (a.series || [])[0];
        if (!s || s.error) { add(out, h('div', { class: 'error', text: s ? s.error : 'no series' })); return; }
        var n = a.buckets.length - (a.open ? 1 : 0), labels = a.buckets.slice(0, n).concat(s.forecast.map(function (f) { return f.bucket; }));
        var pad = function (xs) { return new Array(n).fill(null).concat(xs); };
        var band = function (lo, hi) { return [pad(s.forecast.map(function (f) { return f[lo]; })), pad(s.forecast.map(function (f) { return f[hi] - f[lo]; }))]; };
        var b95 = band('lower95', 'upper95'), b80 = band('lower80', 'upper80');
        var idx = {};
        labels.forEach(function (l, i) { idx[l] = i; });
        var m = s.model;
        add(out, h('p', { class: 'summary', text: 'ARIMA(' + m.order.join(',') + ')' + (m.seasonal_order[3] ? '(' + m.seasonal_order.join(',') + ')' : '') +
          ', AIC ' + fixed(m.aic, 1) + '; ' + s.anomalies.length + ' anomal' + (s.anomalies.length === 1 ? 'y' : 'ies') + ' outside the ' + s.anomaly_level + '% interval' }));
        var el = h('div', { class: 'chart' });
        add(out, el);
        chart(el, { tooltip: { trigger: 'axis' }, legend: { top: 0 }, grid: { left: 50, right: 20, top: 30, bottom: 30 },
          xAxis: { type: 'category', data: labels }, yAxis: { type: 'value' },
          series: [
            { name: '95% low', type: 'line', data: b95[0], stack: 'b95', lineStyle: { opacity: 0 }, symbol: 'none' },
            { name: '95% interval', type: 'line', data: b95[1], stack: 'b95', lineStyle: { opacity: 0 }, symbol: 'none', areaStyle: { color: '#e9ebfb' } },
            { name: '80% low', type: 'line', data: b80[0], stack: 'b80', lineStyle: { opacity: 0 }, symbol: 'none' },
            { name: '80% interval', type: 'line', data: b80[1], stack: 'b80', lineStyle: { opacity: 0 }, symbol: 'none', areaStyle: { color: '#cfd3f6' } },
            { name: 'actual', type: 'line', data: s.data.slice(0, n), itemStyle: { color: '#1d2433' }, symbol: 'none' },
            { name: 'forecast', type: 'line', data: pad(s.forecast.map(function (f) { return f.mean; })), lineStyle: { type: 'dashed' }, itemStyle: { color: '#4f5bd5' } },
            { name: 'anomaly', type: 'scatter', symbolSize: 10, itemStyle: { color: '#c0392b' },
              data: s.anomalies.map(function (x) { return [idx[x.bucket], x.actual]; }) }] });
        add(out, h('table', { class: 'anomalies' }, [h('thead', null, h('tr', null, ['Anomaly', 'Actual', 'Expected', 'Interval'].map(function (t) { return h('th', { text: t }); }))),
          h('tbody', null, s.anomalies.map(function (x) {
            return h('tr', null, [h('td', { text: x.bucket }), h('td', { class: 'num', text: fixed(x.actual, 1) }), h('td', { class: 'num', text: fixed(x.expected, 1) }),
              h('td', { class: 'num', text: fixed(x.lower, 1) + ' – ' + fixed(x.upper, 1) })]);
          }))]));
        request('/api/analysis/alert-events?limit=20').then(function (r) {
          if (!r.events.length) return;
          add(out, h('h3', { text: 'Alerts fired' }));
          add(out, h('ul', { class: 'alerts' }, r.events.map(function (e) {
            return h('li', { text: e.alert + ' · ' + e.bucket + ' · ' + e.payload.condition + ' ' + fixed(e.payload.value, 1) + (e.delivered ? ' · delivered' : '') });
          })));
        }, function () { /* no alerts to show */ });
      }, function (e) { errorBox(out, e); });
    }
  }

  function route() {
    if (!key()) return keyPage();
    var r = parseHash();
    if (r.page === 'analysis') return analysis(r.params);
    if (r.page === 'live') return live();
    if (r.page === 'insights') return insights(r.params);
    if (r.page === 'boards') return boards(r.params);
    return overview(r.params);
  }
  window.addEventListener('hashchange', route);
  route();
})();
