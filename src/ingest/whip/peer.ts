import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  useAbsSendTime,
  useNACK,
  usePLI,
  useSdesMid,
  useTransportWideCC,
  useTWCC,
  type RtpPacket,
  type RTCRtpTransceiver,
} from 'werift';
import type { WhipConfig } from '../../config/whip.ts';
import { addAnnouncedCandidates, rewriteBundleOnlyPorts, type OfferChoice } from './sdp.ts';

/** No UDP socket could be opened for ICE: the port range is used up, or no host address works. */
export class NoCandidatesError extends Error {
  constructor() {
    super('no UDP port for ICE: whip.ice.portRange is used up (one port per publisher) or whip.ice.hostAddresses lists no usable address');
    this.name = 'NoCandidatesError';
  }
}

/** Why a publisher's peer connection ended. */
export type PeerEndReason = 'closed' | 'connect-timeout' | 'failed' | 'ice-failed' | 'ice-disconnected' | 'media-timeout' | 'dtls-closed';

export interface PeerEvents {
  onVideoRtp(rtp: RtpPacket): void;
  onAudioRtp?(rtp: RtpPacket): void;
  /** Connected (ICE + DTLS up). */
  onConnected?(): void;
  /** The publisher is gone without DELETE (or close() was called: reason 'closed'). Fires once. */
  onEnd(reason: PeerEndReason): void;
}

/** The answer carries every candidate (no trickle); host-only gathering normally ends in milliseconds. */
const GATHER_TIMEOUT_MS = 3000;
const RECV_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * One publisher's werift peer connection: receive-only, H.264 (+ Opus), bundled, host
 * candidates from config. Owns its timers; close() is idempotent and releases the UDP socket.
 */
export class WhipPeer {
  readonly pc: RTCPeerConnection;
  private videoSsrc: number | undefined;
  private videoTransceiver: RTCRtpTransceiver | undefined;
  private ended = false;
  private connected = false;
  private connectTimer: NodeJS.Timeout | undefined;
  private disconnectTimer: NodeJS.Timeout | undefined;
  private mediaTimer: NodeJS.Timeout | undefined;
  private lastMediaAt = 0;
  private closing: Promise<void> | undefined;

  private constructor(private readonly cfg: WhipConfig, private readonly events: PeerEvents, choice: OfferChoice) {
    const ice = cfg.ice;
    const h264 = new RTCRtpCodecParameters({
      mimeType: 'video/H264',
      clockRate: 90_000,
      payloadType: choice.h264.payloadType,
      rtcpFeedback: [useNACK(), usePLI(), useTWCC()],
      parameters: choice.h264.fmtp || undefined,
    });
    const video = [h264];
    if (choice.rtx) {
      video.push(new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90_000, payloadType: choice.rtx.payloadType, rtcpFeedback: [], parameters: `apt=${choice.h264.payloadType}` }));
    }
    const audio = choice.opus
      ? [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48_000, channels: 2, payloadType: choice.opus.payloadType, rtcpFeedback: [], parameters: choice.opus.fmtp || undefined })]
      : [];
    const only = ice.hostAddresses.length > 0;
    this.pc = new RTCPeerConnection({
      codecs: { video, audio },
      headerExtensions: { video: [useSdesMid(), useAbsSendTime(), useTransportWideCC()], audio: [useSdesMid()] },
      iceServers: [],
      iceLite: ice.lite,
      bundlePolicy: 'max-bundle',
      // Listed addresses only, when given: werift then gathers nothing else (loopback included).
      iceUseIpv4: !only,
      iceUseIpv6: !only && ice.ipv6,
      iceAdditionalHostAddresses: only ? ice.hostAddresses : undefined,
      iceInterfaceAddresses: only && ice.hostAddresses.length === 1 && !ice.hostAddresses[0]!.includes(':') ? { udp4: ice.hostAddresses[0]! } : undefined,
      icePortRange: ice.portRange ? [ice.portRange.min, ice.portRange.max] : undefined,
      iceUseTcp: false,
    });
  }

  /**
   * Negotiates an offer that `chooseOfferCodecs` accepted. Resolves with the peer and its
   * answer once host candidates are gathered; on failure the peer is closed before rethrowing.
   */
  static async answer(cfg: WhipConfig, offer: string, choice: OfferChoice, events: PeerEvents): Promise<{ peer: WhipPeer; answer: string }> {
    const peer = new WhipPeer(cfg, events, choice);
    try {
      const answer = await peer.negotiate(offer);
      return { peer, answer };
    } catch (err) {
      await peer.close();
      throw err;
    }
  }

  private async negotiate(offer: string): Promise<string> {
    const pc = this.pc;
    pc.onTrack.subscribe((track) => {
      const transceiver = pc.getTransceivers().find((t) => t.receiver.tracks.includes(track));
      if (track.kind === 'video') {
        this.videoTransceiver ??= transceiver;
        track.onReceiveRtp.subscribe((rtp) => {
          this.videoSsrc = rtp.header.ssrc;
          this.lastMediaAt = performance.now();
          if (!this.ended) this.events.onVideoRtp(rtp);
        });
      } else if (track.kind === 'audio') {
        track.onReceiveRtp.subscribe((rtp) => {
          this.lastMediaAt = performance.now();
          if (!this.ended) this.events.onAudioRtp?.(rtp);
        });
      }
    });
    pc.iceConnectionStateChange.subscribe((s) => this.onIceState(s));
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') this.onConnected();
      else if (s === 'failed') this.end('failed'); // ICE or the DTLS handshake
      else if (s === 'closed') this.end('dtls-closed');
    });

    await pc.setRemoteDescription({ type: 'offer', sdp: rewriteBundleOnlyPorts(offer) });
    await pc.setLocalDescription(await pc.createAnswer());
    await this.gathered();
    this.enlargeReceiveBuffers();
    let sdp = pc.localDescription?.sdp;
    if (!sdp) throw new Error('werift produced no local description');
    if (!/^m=video [1-9]/m.test(sdp)) throw new Error('werift rejected the video m-line');
    if (!/^a=candidate:/m.test(sdp)) throw new NoCandidatesError();
    if (this.cfg.ice.announcedIp) sdp = addAnnouncedCandidates(sdp, this.cfg.ice.announcedIp);
    this.connectTimer = setTimeout(() => this.end('connect-timeout'), this.cfg.connectTimeoutMs);
    return sdp;
  }

  /**
   * A 720p publisher sends ~250 packets/s; with Linux's default 208 KiB receive buffer (about
   * 100 full-size datagrams) a busy event loop stalled for well under a second already drops
   * packets. Ask for more (the kernel caps it at net.core.rmem_max). werift keeps its sockets
   * private, hence the reach-in, guarded: a werift change only loses the tuning.
   */
  private enlargeReceiveBuffers(): void {
    try {
      for (const t of this.pc.iceTransports) {
        const protocols = (t.connection as unknown as { protocols?: { transport?: { socket?: { setRecvBufferSize?(n: number): void } } }[] }).protocols ?? [];
        for (const p of protocols) {
          try {
            p.transport?.socket?.setRecvBufferSize?.(RECV_BUFFER_BYTES);
          } catch {
            /* not a UDP socket, or closed */
          }
        }
      }
    } catch {
      /* werift internals changed */
    }
  }

  private gathered(): Promise<void> {
    if (this.pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, GATHER_TIMEOUT_MS);
      const sub = this.pc.iceGatheringStateChange.subscribe((s) => {
        if (s === 'complete') done();
      });
      function done() {
        clearTimeout(t);
        sub.unSubscribe();
        resolve();
      }
    });
  }

  private onConnected(): void {
    if (this.connected || this.ended) return;
    this.connected = true;
    clearTimeout(this.connectTimer);
    this.lastMediaAt = performance.now();
    // Consent freshness covers a publisher that vanishes; this covers one that stays but stops sending.
    this.mediaTimer = setInterval(() => {
      if (performance.now() - this.lastMediaAt > this.cfg.disconnectTimeoutMs) this.end('media-timeout');
    }, Math.min(1000, this.cfg.disconnectTimeoutMs / 2));
    this.events.onConnected?.();
  }

  private onIceState(s: string): void {
    if (s === 'disconnected') {
      this.disconnectTimer ??= setTimeout(() => this.end('ice-disconnected'), this.cfg.disconnectTimeoutMs);
    } else if (s === 'connected' || s === 'completed') {
      clearTimeout(this.disconnectTimer);
      this.disconnectTimer = undefined;
    } else if (s === 'failed') {
      this.end('ice-failed');
    }
  }

  get isConnected(): boolean {
    return this.connected && !this.ended;
  }

  /** Picture Loss Indication to the publisher; harmless when it ignores it. */
  requestKeyframe(): void {
    if (this.ended || this.videoSsrc === undefined || !this.videoTransceiver) return;
    this.videoTransceiver.receiver.sendRtcpPLI(this.videoSsrc).catch(() => {});
  }

  private end(reason: PeerEndReason): void {
    if (this.ended) return;
    this.ended = true;
    this.clearTimers();
    void this.close();
    this.events.onEnd(reason);
  }

  private clearTimers(): void {
    clearTimeout(this.connectTimer);
    clearTimeout(this.disconnectTimer);
    clearInterval(this.mediaTimer);
  }

  /** Closes the peer connection (sockets included). Idempotent; fires onEnd('closed') if still live. */
  close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      this.clearTimers();
      this.events.onEnd('closed');
    }
    this.closing ??= this.pc.close().catch(() => {});
    return this.closing;
  }
}
