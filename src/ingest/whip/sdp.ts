/**
 * Pure SDP helpers for WHIP offers and answers: no I/O, no werift. Only what kibitz needs:
 * checking an offer before a peer connection is spent on it, choosing the H.264 format,
 * the port-0 bundle-only rewrite, and announcing a public address.
 */

export interface SdpCodec {
  payloadType: number;
  /** As written in a=rtpmap, e.g. "H264", "opus", "rtx". */
  name: string;
  clockRate: number;
  channels?: number;
  /** a=fmtp parameters, verbatim ("" when none). */
  fmtp: string;
  rtcpFb: string[];
}

export interface SdpMedia {
  kind: string;
  port: number;
  proto: string;
  mid?: string;
  bundleOnly: boolean;
  direction?: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  codecs: SdpCodec[];
}

export interface ParsedSdp {
  bundleMids: string[];
  media: SdpMedia[];
}

export class SdpError extends Error {
  constructor(
    readonly code: 'MALFORMED_SDP' | 'NO_VIDEO' | 'UNSUPPORTED_CODEC',
    message: string,
  ) {
    super(message);
    this.name = 'SdpError';
  }
}

const lines = (sdp: string) => sdp.split(/\r?\n/).filter((l) => l.length > 0);

/** Parses the subset of SDP kibitz reads; throws SdpError('MALFORMED_SDP') on anything that is not SDP. */
export function parseSdp(sdp: string): ParsedSdp {
  const ls = lines(sdp);
  if (ls[0] !== 'v=0') throw new SdpError('MALFORMED_SDP', 'SDP must start with "v=0"');
  const out: ParsedSdp = { bundleMids: [], media: [] };
  let cur: SdpMedia | undefined;
  for (const l of ls) {
    if (!/^[a-z]=/.test(l)) throw new SdpError('MALFORMED_SDP', `not an SDP line: ${JSON.stringify(l.slice(0, 60))}`);
    if (l.startsWith('m=')) {
      const m = /^m=(\w+) (\d+)(?:\/\d+)? (\S+)((?: \S+)*)$/.exec(l);
      if (!m) throw new SdpError('MALFORMED_SDP', `bad m-line: ${JSON.stringify(l.slice(0, 80))}`);
      cur = { kind: m[1]!, port: Number(m[2]), proto: m[3]!, bundleOnly: false, codecs: [] };
      for (const pt of m[4]!.trim().split(' ').filter(Boolean)) {
        if (/^\d+$/.test(pt)) cur.codecs.push({ payloadType: Number(pt), name: '', clockRate: 0, fmtp: '', rtcpFb: [] });
      }
      out.media.push(cur);
      continue;
    }
    if (l.startsWith('a=group:BUNDLE')) {
      out.bundleMids = l.slice('a=group:BUNDLE'.length).trim().split(/\s+/).filter(Boolean);
      continue;
    }
    if (!cur || !l.startsWith('a=')) continue;
    const attr = l.slice(2);
    if (attr.startsWith('mid:')) cur.mid = attr.slice(4).trim();
    else if (attr === 'bundle-only') cur.bundleOnly = true;
    else if (attr === 'sendrecv' || attr === 'sendonly' || attr === 'recvonly' || attr === 'inactive') cur.direction = attr;
    else {
      const rtpmap = /^rtpmap:(\d+) ([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(attr);
      const fmtp = /^fmtp:(\d+) (.*)$/.exec(attr);
      const fb = /^rtcp-fb:(\d+) (.*)$/.exec(attr);
      const pt = Number((rtpmap ?? fmtp ?? fb)?.[1]);
      const codec = cur.codecs.find((c) => c.payloadType === pt);
      if (!codec) continue;
      if (rtpmap) {
        codec.name = rtpmap[2]!;
        codec.clockRate = Number(rtpmap[3]);
        if (rtpmap[4]) codec.channels = Number(rtpmap[4]);
      } else if (fmtp) codec.fmtp = fmtp[2]!.trim();
      else if (fb) codec.rtcpFb.push(fb[2]!.trim());
    }
  }
  if (out.media.length === 0) throw new SdpError('MALFORMED_SDP', 'SDP has no m-lines');
  return out;
}

export function fmtpParams(fmtp: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of fmtp.split(';')) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i).trim().toLowerCase()] = kv.slice(i + 1).trim();
  }
  return out;
}

export interface OfferChoice {
  parsed: ParsedSdp;
  /** The H.264 format kibitz answers with (the offer's payload type and fmtp, verbatim). */
  h264: SdpCodec;
  /** RTX for that format, when offered. */
  rtx?: SdpCodec;
  /** Opus, when an audio m-line offers it; audio is received and kept, not decoded. */
  opus?: SdpCodec;
}

/**
 * Checks a WHIP offer and picks the formats to answer with. Rejects (SdpError) offers that are
 * not SDP, that send no video, or whose video has no H.264: kibitz decodes H.264 only.
 */
export function chooseOfferCodecs(sdp: string): OfferChoice {
  const parsed = parseSdp(sdp);
  const videos = parsed.media.filter((m) => m.kind === 'video' && m.direction !== 'recvonly' && m.direction !== 'inactive');
  if (videos.length === 0) throw new SdpError('NO_VIDEO', 'the offer has no video m-line to receive; WHIP ingest needs H.264 video');
  const video = videos[0]!;
  const h264s = video.codecs.filter((c) => c.name.toUpperCase() === 'H264' && c.clockRate === 90000);
  if (h264s.length === 0) {
    const offered = [...new Set(video.codecs.map((c) => c.name).filter((n) => n && !['rtx', 'red', 'ulpfec', 'flexfec-03'].includes(n.toLowerCase())))];
    throw new SdpError('UNSUPPORTED_CODEC', `video must be H.264; the offer has only ${offered.join(', ') || 'unknown formats'} (in OBS pick the x264 or a hardware H.264 encoder)`);
  }
  // packetization-mode=1 (FU-A, STAP-A) is what every real encoder sends; mode 0 would cap NAL size to the MTU.
  const rank = (c: SdpCodec) => (fmtpParams(c.fmtp)['packetization-mode'] === '1' ? 0 : 1);
  const h264 = [...h264s].sort((a, b) => rank(a) - rank(b))[0]!;
  const rtx = video.codecs.find((c) => c.name.toLowerCase() === 'rtx' && fmtpParams(c.fmtp).apt === String(h264.payloadType));
  const audio = parsed.media.find((m) => m.kind === 'audio');
  const opus = audio?.codecs.find((c) => c.name.toLowerCase() === 'opus' && c.clockRate === 48000);
  return { parsed, h264, rtx, opus };
}

/**
 * werift treats any m-line with port 0 as rejected, but RFC 8843 bundle-only m-lines (what
 * GStreamer sends with max-bundle) carry port 0 and are live. Give those a real-looking
 * port (9, the usual discard placeholder) so werift negotiates them.
 */
export function rewriteBundleOnlyPorts(sdp: string): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const parsed = parseSdp(sdp);
  const bundled = new Set(parsed.bundleMids);
  const sections = splitSections(sdp);
  let idx = -1;
  return sections
    .map((sec) => {
      if (!sec.startsWith('m=')) return sec;
      idx++;
      const m = parsed.media[idx]!;
      if (m.port === 0 && m.bundleOnly && m.mid !== undefined && bundled.has(m.mid)) {
        return sec.replace(/^m=(\w+) 0( |\/)/, 'm=$1 9$2');
      }
      return sec;
    })
    .join('')
    .replace(/\r?\n/g, eol);
}

/** Splits an SDP into the session part and one chunk per m-section, each keeping its line endings. */
function splitSections(sdp: string): string[] {
  const parts: string[] = [];
  let start = 0;
  const re = /(^|\n)m=/g;
  let mm: RegExpExecArray | null;
  while ((mm = re.exec(sdp))) {
    const at = mm.index + mm[1]!.length;
    if (at > start) parts.push(sdp.slice(start, at));
    start = at;
  }
  parts.push(sdp.slice(start));
  return parts.filter((p) => p.length > 0);
}

/**
 * Adds, for each UDP host candidate in an answer, the same candidate on `publicIp` (the NAT's
 * address, port forwarded 1:1), so publishers outside the NAT can reach kibitz. The private
 * candidates stay for publishers on the LAN.
 */
export function addAnnouncedCandidates(sdp: string, publicIp: string): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const out: string[] = [];
  for (const l of sdp.split(/\r?\n/)) {
    out.push(l);
    const c = /^a=candidate:(\S+) (\d+) (udp|UDP) (\d+) (\S+) (\d+) typ host(.*)$/.exec(l);
    if (c && c[5] !== publicIp) {
      // A lower priority than the host candidate: LAN publishers keep the direct path.
      const prio = Math.max(1, Number(c[4]) - 256);
      out.push(`a=candidate:${c[1]}p ${c[2]} ${c[3]} ${prio} ${publicIp} ${c[6]} typ host${c[7]}`);
    }
  }
  return out.join(eol);
}
