import { describe, expect, it } from 'vitest';
import { DEFAULT_WHIP_CONFIG, parseWhipConfig } from '../../src/config/whip.ts';
import { addAnnouncedCandidates, chooseOfferCodecs, parseSdp, rewriteBundleOnlyPorts, SdpError } from '../../src/ingest/whip/sdp.ts';

// Trimmed from a GStreamer webrtcbin offer with bundle-policy=max-bundle.
const GST_OFFER = [
  'v=0', 'o=- 1 0 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=ice-options:trickle', 'a=group:BUNDLE video0 audio1',
  'm=video 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', 'a=setup:actpass', 'a=ice-ufrag:u', 'a=ice-pwd:p', 'a=rtcp-mux',
  'a=mid:video0', 'a=sendonly', 'a=rtpmap:96 H264/90000', 'a=rtcp-fb:96 nack pli',
  'a=fmtp:96 packetization-mode=1;profile-level-id=42c01f;sprop-parameter-sets=Z0LAH9kAoD2wEQAAAwABAAADADyPGDKA,aMuMsg==',
  'm=audio 0 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 0.0.0.0', 'a=bundle-only', 'a=setup:actpass', 'a=rtcp-mux', 'a=mid:audio1',
  'a=sendonly', 'a=rtpmap:111 OPUS/48000/2', '',
].join('\r\n');

// Trimmed from a Chromium offer: H.264 in several profiles, both packetization modes, RTX.
const CHROME_OFFER = [
  'v=0', 'o=- 2 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105', 'c=IN IP4 0.0.0.0', 'a=mid:0', 'a=sendonly',
  'a=rtpmap:96 VP8/90000', 'a=rtpmap:97 rtx/90000', 'a=fmtp:97 apt=96',
  'a=rtpmap:102 H264/90000', 'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f',
  'a=rtpmap:103 rtx/90000', 'a=fmtp:103 apt=102',
  'a=rtpmap:104 H264/90000', 'a=rtcp-fb:104 nack', 'a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  'a=rtpmap:105 rtx/90000', 'a=fmtp:105 apt=104', '',
].join('\r\n');

describe('WHIP SDP', () => {
  it('chooses packetization-mode 1 H.264 with its RTX, and Opus', () => {
    const c = chooseOfferCodecs(CHROME_OFFER);
    expect(c.h264.payloadType).toBe(104);
    expect(c.rtx?.payloadType).toBe(105);
    expect(c.h264.rtcpFb).toEqual(['nack']);
    const g = chooseOfferCodecs(GST_OFFER);
    expect(g.h264.payloadType).toBe(96);
    expect(g.opus?.payloadType).toBe(111);
  });

  it('rejects non-SDP, offers without video and VP8-only offers with their own codes', () => {
    const code = (sdp: string) => {
      try {
        chooseOfferCodecs(sdp);
        return 'ok';
      } catch (e) {
        return (e as SdpError).code;
      }
    };
    expect(code('')).toBe('MALFORMED_SDP');
    expect(code('{"sdp": "v=0"}')).toBe('MALFORMED_SDP');
    expect(code('v=0\r\ns=-\r\n')).toBe('MALFORMED_SDP');
    expect(code(GST_OFFER.replace(/m=video[\s\S]*?(?=m=audio)/, ''))).toBe('NO_VIDEO');
    expect(code(CHROME_OFFER.replace('m=video', 'm=video').replace(/a=rtpmap:(102|104) H264/g, 'a=rtpmap:$1 VP9'))).toBe('UNSUPPORTED_CODEC');
    expect(() => chooseOfferCodecs(CHROME_OFFER.replace(/a=rtpmap:(102|104) H264/g, 'a=rtpmap:$1 VP9'))).toThrow(/VP8, VP9/);
  });

  it('rewrites port 0 only on bundle-only m-lines inside the BUNDLE group', () => {
    const out = rewriteBundleOnlyPorts(GST_OFFER);
    expect(out).toContain('m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n');
    expect(out.split('\r\n').length).toBe(GST_OFFER.split('\r\n').length);
    // A rejected m-line (port 0, not bundle-only) stays rejected.
    const rejected = GST_OFFER.replace('a=bundle-only\r\n', '');
    expect(rewriteBundleOnlyPorts(rejected)).toContain('m=audio 0 ');
    expect(parseSdp(out).media.map((m) => m.port)).toEqual([9, 9]);
  });

  it('announces the public IP next to each UDP host candidate', () => {
    const answer = 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=candidate:1 1 udp 2130706431 10.0.0.5 40001 typ host\r\na=end-of-candidates\r\n';
    const out = addAnnouncedCandidates(answer, '203.0.113.7');
    expect(out).toContain('a=candidate:1 1 udp 2130706431 10.0.0.5 40001 typ host\r\n');
    expect(out).toMatch(/a=candidate:1p 1 udp 2130706175 203\.0\.113\.7 40001 typ host\r\n/);
  });
});

describe('whip config slice', () => {
  it('has defaults and names the bad key', () => {
    expect(parseWhipConfig(undefined)).toEqual(DEFAULT_WHIP_CONFIG);
    expect(parseWhipConfig({ ice: { portRange: { min: 40000, max: 40100 } } }).ice.portRange).toEqual({ min: 40000, max: 40100 });
    expect(() => parseWhipConfig({ ice: { portRange: { min: 40100, max: 40000 } } })).toThrow(/^whip\.ice\.portRange: max must be greater/);
    expect(() => parseWhipConfig({ ice: { announcedIp: 'my-host' } })).toThrow(/^whip\.ice\.announcedIp/);
    expect(() => parseWhipConfig({ maxOfferBytes: 10 })).toThrow(/^whip\.maxOfferBytes/);
    // What KIBITZ_WHIP_* environment variables look like.
    const env = parseWhipConfig({ maxPublishers: '8', enabled: 'true', ice: { hostAddresses: '10.0.0.5, 10.0.0.6', announcedIp: '', portRange: { min: '40000', max: '40099' } } });
    expect(env).toMatchObject({ maxPublishers: 8, enabled: true, ice: { hostAddresses: ['10.0.0.5', '10.0.0.6'], announcedIp: null, portRange: { min: 40000, max: 40099 } } });
  });
});
