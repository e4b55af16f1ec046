/**
 * The overlay page: one self-contained HTML document (no external assets) for an OBS browser
 * source. Viewer and model text is only ever set through textContent; the little config that is
 * embedded is JSON with '<' escaped, so nothing from a stream or a question becomes markup.
 */
export interface OverlayPageConfig {
  stream: string;
  eventsUrl: string;
  /** Where `?debug=1` reads the stream's state (its `view`: where the model looks and how it got there). */
  streamsUrl: string;
  fadeAfterMs: number;
  maxItems: number;
  kinds: string[];
}

function jsonForScript(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export function overlayHtml(cfg: OverlayPageConfig): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kibitz overlay</title>
<style>
  html, body { margin: 0; padding: 0; background: transparent; overflow: hidden; }
  body {
    font-family: "DejaVu Sans", "Segoe UI", Roboto, Arial, sans-serif;
    /* 1080p: ~40px, 720p: ~27px; the same share of the frame at either size. */
    font-size: clamp(16px, 2.1vw, 64px);
    line-height: 1.3;
    color: #fff;
    height: 100vh;
    display: flex;
    flex-direction: column;
    justify-content: flex-end;
  }
  #feed { display: flex; flex-direction: column; gap: 0.4em; padding: 0 3vw 4vh 3vw; max-width: 70vw; }
  .item {
    background: rgba(12, 14, 20, 0.72);
    border-left: 0.22em solid #7ad1ff;
    border-radius: 0.35em;
    padding: 0.45em 0.7em;
    text-shadow: 0 0.06em 0.12em rgba(0, 0, 0, 0.9);
    opacity: 1;
    transition: opacity 900ms ease, transform 900ms ease;
    overflow-wrap: anywhere;
  }
  .item.answer { border-left-color: #ffd166; }
  .item.summary { border-left-color: #9be59b; }
  .item.status { border-left-color: #bbb; font-size: 0.8em; }
  .item.fading { opacity: 0; transform: translateY(-0.3em); }
  .label { display: block; font-size: 0.62em; letter-spacing: 0.06em; text-transform: uppercase; color: #cfe9ff; margin-bottom: 0.15em; }
  .answer .label { color: #ffe3a3; }
  .q { display: block; font-size: 0.78em; color: #e6e6e6; font-style: italic; margin-bottom: 0.2em; }
  #debug { position: fixed; top: 1vh; left: 1vw; font: 14px/1.4 monospace; background: rgba(0, 0, 0, 0.75); color: #9f9; padding: 0.5em 0.8em; white-space: pre; }
  #debug[hidden] { display: none; }
</style>
</head>
<body>
<div id="feed" aria-live="polite"></div>
<div id="debug" hidden></div>
<script id="kibitz-config" type="application/json">${jsonForScript(cfg)}</script>
<script>
(function () {
  var cfg = JSON.parse(document.getElementById('kibitz-config').textContent);
  var params = new URLSearchParams(location.search);
  var fadeAfter = Number(params.get('fade')) || cfg.fadeAfterMs;
  var maxItems = Number(params.get('max')) || cfg.maxItems;
  var kinds = {}; cfg.kinds.forEach(function (k) { kinds[k] = true; });
  var feed = document.getElementById('feed');
  var seen = [];
  var retryMs = 1000;
  var es = null;

  function remove(el) {
    el.classList.add('fading');
    setTimeout(function () { if (el.parentNode) el.parentNode.removeChild(el); }, 1000);
  }

  function show(ev) {
    if (!ev || typeof ev.text !== 'string' || !kinds[ev.kind]) return;
    if (ev.id) { if (seen.indexOf(ev.id) >= 0) return; seen.push(ev.id); if (seen.length > 200) seen.shift(); }
    var el = document.createElement('div');
    el.className = 'item ' + ev.kind;
    var label = document.createElement('span');
    label.className = 'label';
    label.textContent = ev.kind === 'answer' && ev.user ? 'answer for ' + ev.user : ev.kind;
    el.appendChild(label);
    if (ev.kind === 'answer' && ev.question) {
      var q = document.createElement('span');
      q.className = 'q';
      q.textContent = ev.question;
      el.appendChild(q);
    }
    el.appendChild(document.createTextNode(ev.text));
    feed.appendChild(el);
    var items = feed.querySelectorAll('.item:not(.fading)');
    for (var i = 0; i < items.length - maxItems; i++) remove(items[i]);
    var ttl = ev.kind === 'commentary' ? fadeAfter : fadeAfter * 2;
    setTimeout(function () { remove(el); }, ttl);
  }

  function onData(msg) {
    try { show(JSON.parse(msg.data)); } catch (e) { /* not an event */ }
  }

  function connect() {
    es = new EventSource(cfg.eventsUrl);
    es.onopen = function () { retryMs = 1000; document.body.setAttribute('data-connected', '1'); };
    es.onmessage = onData;
    cfg.kinds.forEach(function (k) { es.addEventListener(k, onData); });
    es.onerror = function () {
      document.body.removeAttribute('data-connected');
      // The browser retries by itself after a dropped connection, but gives up for good after
      // an HTTP error (readyState CLOSED); then we start over, backing off to 30 s.
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      }
    };
  }
  connect();

  // ?debug=1: where the model looks (the view search, src/view/), refreshed every 2 s.
  if (params.get('debug') === '1') {
    var box = document.getElementById('debug');
    box.hidden = false;
    var poll = function () {
      fetch(cfg.streamsUrl).then(function (r) { return r.json(); }).then(function (body) {
        var s = (body.streams || []).filter(function (x) { return x.name === cfg.stream; })[0];
        if (!s) { box.textContent = cfg.stream + ': not live'; return; }
        var v = s.view || {};
        var rect = v.view ? v.view.map(function (n) { return n.toFixed(4); }).join(', ') : 'whole frame';
        box.textContent = cfg.stream + ' (' + s.state + ')\\nview [' + rect + '] from ' + v.from + ', ' + v.state +
          (v.score !== undefined && v.score !== null ? '\\nmatch ' + v.score : '') +
          (v.searches !== undefined ? '\\nsearches ' + v.searches + ', ' + v.searchMs + ' ms' : '') +
          (v.foundAtMs !== undefined && v.foundAtMs !== null ? '\\nfound at ' + (v.foundAtMs / 1000).toFixed(1) + ' s' : '');
      }).catch(function () { box.textContent = cfg.stream + ': no answer from kibitz'; });
    };
    poll();
    setInterval(poll, 2000);
  }
})();
</script>
</body>
</html>
`;
}
