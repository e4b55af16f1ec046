/**
 * GET /whip: a small page that publishes a camera or the screen to kibitz over WHIP from any
 * browser, H.264 forced. Settings can come from the URL fragment (never sent to the server):
 * /whip#stream=main&key=SECRET&source=camera&width=1280&height=720&fps=30&autostart=1
 * Scripts (tests) drive it through `window.kibitzWhip`.
 */
export const PUBLISH_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>kibitz — publish over WHIP</title>
<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:44em}label{display:block;margin:.4em 0}
input,select{font:inherit}video{width:100%;max-width:40em;background:#111;margin-top:1em}#status{font-weight:600}</style>
</head><body>
<h1>Publish to kibitz</h1>
<p>Sends your camera or screen to kibitz over WebRTC (WHIP), like OBS's WHIP output.</p>
<label>Stream name <input id="stream" value="main"></label>
<label>Stream key <input id="key" type="password"></label>
<label>Source <select id="source"><option value="camera">camera</option><option value="screen">screen</option></select></label>
<button id="start">Start</button> <button id="stop" disabled>Stop</button> <span id="status">idle</span>
<video id="preview" muted autoplay playsinline></video>
<script>
const $ = (id) => document.getElementById(id);
const state = { pc: null, resource: null, stream: null, status: 'idle', error: null };
function setStatus(s, err) { state.status = s; state.error = err || null; $('status').textContent = err ? s + ': ' + err : s; }
function gathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((res) => { const t = setTimeout(res, ms);
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') { clearTimeout(t); res(); } }); });
}
async function start(opts) {
  opts = Object.assign({ stream: $('stream').value, key: $('key').value, source: $('source').value, width: 1280, height: 720, fps: 30, audio: true }, opts || {});
  setStatus('starting');
  try {
    const media = opts.mediaStream || (opts.source === 'screen'
      ? await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: opts.fps }, audio: false })
      : await navigator.mediaDevices.getUserMedia({ video: { width: opts.width, height: opts.height, frameRate: opts.fps }, audio: !!opts.audio }));
    state.stream = media; $('preview').srcObject = media;
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    state.pc = pc;
    const v = pc.addTransceiver(media.getVideoTracks()[0], { direction: 'sendonly' });
    const codecs = RTCRtpSender.getCapabilities('video').codecs;
    const h264 = codecs.filter((c) => c.mimeType.toLowerCase() === 'video/h264');
    if (!h264.length) throw new Error('this browser cannot send H.264');
    // H.264 only (constrained baseline first: every decoder takes it), plus RTX for retransmissions.
    h264.sort((a, b) => (/42e01f/.test(b.sdpFmtpLine || '') ? 1 : 0) - (/42e01f/.test(a.sdpFmtpLine || '') ? 1 : 0));
    v.setCodecPreferences([...h264, ...codecs.filter((c) => c.mimeType.toLowerCase() === 'video/rtx')]);
    for (const t of media.getAudioTracks()) pc.addTransceiver(t, { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 2000);
    const endpoint = new URL('/whip/' + encodeURIComponent(opts.stream), location.href);
    const r = await fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + opts.key }, body: pc.localDescription.sdp });
    const body = await r.text();
    if (r.status !== 201) throw new Error('HTTP ' + r.status + ' ' + body);
    state.resource = new URL(r.headers.get('Location'), endpoint).href;
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    pc.addEventListener('connectionstatechange', () => setStatus(pc.connectionState));
    setStatus('negotiated'); $('start').disabled = true; $('stop').disabled = false;
    return state.resource;
  } catch (e) { setStatus('error', String(e && e.message || e)); throw e; }
}
async function stop(opts) {
  const r = state.resource; state.resource = null;
  let status = null;
  if (r && !(opts && opts.skipDelete)) status = (await fetch(r, { method: 'DELETE' })).status;
  if (state.pc) state.pc.close();
  if (state.stream && !(opts && opts.keepMedia)) state.stream.getTracks().forEach((t) => t.stop());
  state.pc = null; setStatus('stopped'); $('start').disabled = false; $('stop').disabled = true;
  return status;
}
window.kibitzWhip = { start, stop, state };
$('start').onclick = () => start().catch(() => {});
$('stop').onclick = () => stop();
const f = new URLSearchParams(location.hash.slice(1));
for (const k of ['stream', 'key', 'source']) if (f.get(k)) $(k).value = f.get(k);
if (f.get('autostart') === '1') start({ width: +(f.get('width') || 1280), height: +(f.get('height') || 720), fps: +(f.get('fps') || 30) }).catch(() => {});
</script></body></html>
`;
