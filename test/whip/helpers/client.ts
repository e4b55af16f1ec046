import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  useNACK,
  usePLI,
  useSdesMid,
} from 'werift';
import type { RtpPacket } from 'werift/nonstandard';
import { H264Packetizer } from './packetizer.ts';

/**
 * A WHIP publisher built on werift (the offerer side): light enough to run many at once, and it
 * sends exactly the access units it is given. Used for offers in the HTTP tests and by bench/whip.ts.
 * The real-client tests use Chromium and GStreamer instead.
 */
export type OfferVideo = 'h264' | 'vp8' | 'none';

const h264Codec = () => new RTCRtpCodecParameters({
  mimeType: 'video/H264', clockRate: 90_000, payloadType: 102, rtcpFeedback: [useNACK(), usePLI()],
  parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
});
const vp8Codec = () => new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90_000, payloadType: 96, rtcpFeedback: [useNACK(), usePLI()] });
const opusCodec = () => new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48_000, channels: 2, payloadType: 111, rtcpFeedback: [] });

export function clientPeer(video: OfferVideo = 'h264', audio = true): { pc: RTCPeerConnection; videoTrack?: MediaStreamTrack } {
  const pc = new RTCPeerConnection({
    codecs: { video: video === 'h264' ? [h264Codec()] : video === 'vp8' ? [vp8Codec()] : [], audio: audio ? [opusCodec()] : [] },
    headerExtensions: { video: [useSdesMid()], audio: [useSdesMid()] },
    iceServers: [],
    bundlePolicy: 'max-bundle',
    iceUseIpv6: false,
  });
  let videoTrack: MediaStreamTrack | undefined;
  if (video !== 'none') {
    videoTrack = new MediaStreamTrack({ kind: 'video' });
    pc.addTransceiver(videoTrack, { direction: 'sendonly' });
  }
  if (audio) pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
  return { pc, videoTrack };
}

/** An SDP offer from a throwaway werift peer (closed before returning). */
export async function makeOffer(video: OfferVideo = 'h264', audio = true): Promise<string> {
  const { pc } = clientPeer(video, audio);
  await pc.setLocalDescription(await pc.createOffer());
  await waitGathered(pc);
  const sdp = pc.localDescription!.sdp;
  await pc.close();
  return sdp;
}

async function waitGathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 3000);
    pc.iceGatheringStateChange.subscribe((s) => {
      if (s === 'complete') {
        clearTimeout(t);
        resolve();
      }
    });
  });
}

export class WeriftWhipPublisher {
  private readonly packetizer = new H264Packetizer({ payloadType: 102, maxPayloadSize: 1100 });
  resource: string | null = null;
  keyframeRequests = 0;

  private constructor(readonly pc: RTCPeerConnection, private readonly track: MediaStreamTrack) {}

  /** POSTs the offer, applies the answer and waits until connected. */
  static async start(url: string, token: string, timeoutMs = 15_000): Promise<WeriftWhipPublisher> {
    const { pc, videoTrack } = clientPeer('h264', false);
    const pub = new WeriftWhipPublisher(pc, videoTrack!);
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await waitGathered(pc);
      const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` }, body: pc.localDescription!.sdp });
      const body = await r.text();
      if (r.status !== 201) throw new Error(`WHIP POST: HTTP ${r.status} ${body}`);
      pub.resource = new URL(r.headers.get('location')!, url).href;
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      const sender = pc.getTransceivers()[0]!.sender;
      sender.onRtcp.subscribe((p) => {
        if (p.type === 206) pub.keyframeRequests++;
      });
      await new Promise<void>((resolve, reject) => {
        if (pc.connectionState === 'connected') return resolve();
        const t = setTimeout(() => reject(new Error(`not connected after ${timeoutMs} ms (ice ${pc.iceConnectionState}, connection ${pc.connectionState})`)), timeoutMs);
        pc.connectionStateChange.subscribe((s) => {
          if (s === 'connected') {
            clearTimeout(t);
            resolve();
          }
        });
      });
      return pub;
    } catch (err) {
      if (pub.resource) await fetch(pub.resource, { method: 'DELETE' }).catch(() => {});
      await pc.close();
      throw err;
    }
  }

  /** Sends one access unit (Annex-B) with the given 90 kHz timestamp. */
  send(au: Buffer, rtpTimestamp: number): void {
    for (const p of this.packetizer.packetize(au, rtpTimestamp >>> 0)) this.track.writeRtp(p);
  }

  /** Forwards an already packetized RTP packet (werift rewrites SSRC, payload type and offsets). */
  sendRtp(p: RtpPacket): void {
    this.track.writeRtp(p);
  }

  /** DELETE (unless `vanish`: just drop off the network, as a crashed encoder would) and close. */
  async stop(opts: { vanish?: boolean } = {}): Promise<number | null> {
    let status: number | null = null;
    if (this.resource && !opts.vanish) status = (await fetch(this.resource, { method: 'DELETE' })).status;
    await this.pc.close();
    return status;
  }
}
