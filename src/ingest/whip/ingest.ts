import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { RtpPacket } from 'werift/nonstandard';
import type { DecoderInput } from '../../decode/decoder.ts';
import type { Logger } from '../../log.ts';
import { PublishError, type PublishHandle, type PublishRequest } from '../../stream/sessions.ts';
import { matchStreamKey } from '../keys.ts';
import type { WhipConfig } from '../../config/whip.ts';
import { WhipError } from './errors.ts';
import { spropToAnnexB } from './h264.ts';
import { NoCandidatesError, WhipPeer, type PeerEndReason } from './peer.ts';
import { VideoPipeline, type VideoPipelineStats } from './pipeline.ts';
import { SdpError, chooseOfferCodecs, fmtpParams } from './sdp.ts';

/**
 * ffmpeg input for a WHIP publish: MPEG-TS on stdin (see mpegts.ts for why). The stream
 * starts at a keyframe with SPS/PPS, so ffmpeg needs almost no probing. `-fpsprobesize 0`
 * matters most: without it ffmpeg buffers seconds of a live pipe to guess a frame rate that
 * the PTS already give. They override the decoder's defaults (later options win).
 */
export const WHIP_DECODER_INPUT_ARGS = ['-fpsprobesize', '0', '-probesize', '4096', '-analyzeduration', '1', '-f', 'mpegts', '-i', 'pipe:0'];

/** TS bytes waiting for ffmpeg beyond this are not queued: drop to the next keyframe instead. */
const MAX_BUFFERED_BYTES = 2 * 1024 * 1024;
/** Loss-driven PLIs are spaced at least this far apart. */
const MIN_PLI_GAP_MS = 250;

export interface WhipStreamConfig {
  name: string;
  key: string;
}

/** The part of the stream sessions WHIP uses (StreamSessions satisfies it). */
export interface WhipPublishTarget {
  startPublish(req: PublishRequest): PublishHandle;
  get(name: string): { publisher: unknown } | undefined;
}

export interface WhipIngestOptions {
  config: WhipConfig;
  streams: readonly WhipStreamConfig[];
  sessions: WhipPublishTarget;
  log: Logger;
}

export interface WhipPublishRequest {
  /** The `:streamKey` path segment: a stream name or a stream key. */
  target: string;
  /** The Authorization header, verbatim. */
  authorization: string | undefined;
  offer: string;
  ip?: string;
}

export interface WhipResourceInfo {
  id: string;
  stream: string;
  connected: boolean;
  /** werift's view: ICE state / peer connection state (for diagnostics). */
  iceState: string;
  connectionState: string;
  createdAt: string;
  video: VideoPipelineStats;
  audioPackets: number;
  droppedForBackpressure: number;
  pliSent: number;
}

interface Resource {
  id: string;
  stream: string;
  createdAt: Date;
  peer?: WhipPeer;
  handle?: PublishHandle;
  pipeline: VideoPipeline;
  stdin: PassThrough | null;
  decoderRuns: number;
  pliTimer?: NodeJS.Timeout;
  lastPliAt: number;
  pliSent: number;
  audioPackets: number;
  droppedForBackpressure: number;
  badPackets: number;
  ended: boolean;
}

/**
 * WHIP publishers: one werift peer connection each, feeding the same sessions/decoder path as
 * RTMP. Owns every peer connection it creates; `size` and `openPeers` are what leak checks count.
 */
export class WhipIngest {
  private readonly resources = new Map<string, Resource>();
  /** Streams with a POST being negotiated: a concurrent second POST gets 409 without a peer. */
  private readonly negotiating = new Set<string>();
  private pending = 0;
  private closed = false;

  constructor(private readonly opts: WhipIngestOptions) {}

  get config(): WhipConfig {
    return this.opts.config;
  }

  /** Live resources (publishers answered and not yet gone). */
  get size(): number {
    return this.resources.size;
  }

  /** Peer connections this ingest holds open, including ones being negotiated. */
  get openPeers(): number {
    return this.resources.size + this.pending;
  }

  info(id: string): WhipResourceInfo | undefined {
    const r = this.resources.get(id);
    if (!r) return undefined;
    return {
      id: r.id, stream: r.stream, connected: r.peer?.isConnected ?? false,
      iceState: r.peer?.pc.iceConnectionState ?? 'new', connectionState: r.peer?.pc.connectionState ?? 'new', createdAt: r.createdAt.toISOString(),
      video: r.pipeline.stats, audioPackets: r.audioPackets, droppedForBackpressure: r.droppedForBackpressure, pliSent: r.pliSent,
    };
  }

  list(): WhipResourceInfo[] {
    return [...this.resources.keys()].map((id) => this.info(id)!);
  }

  /** Checks, negotiates and starts a publish. Throws WhipError (with its HTTP status) on refusal. */
  async publish(req: WhipPublishRequest): Promise<{ id: string; stream: string; answer: string }> {
    const { config, log } = this.opts;
    if (this.closed) throw new WhipError('SHUTTING_DOWN', 'kibitz is shutting down');
    const stream = this.opts.streams.find((s) => s.name === req.target) ?? matchStreamKey(this.opts.streams, req.target);
    if (!stream) throw new WhipError('UNKNOWN_STREAM', 'no such stream: the WHIP URL must end in a configured stream name or key (http://HOST:8080/whip/<name>)');
    const token = /^Bearer\s+(\S+)\s*$/i.exec(req.authorization ?? '')?.[1];
    if (!token || !matchStreamKey([stream], token)) {
      throw new WhipError('UNAUTHORIZED', token ? 'wrong bearer token: set the Bearer Token to the stream key' : 'missing bearer token: set the Bearer Token (OBS: Settings > Stream) to the stream key');
    }
    let choice;
    try {
      choice = chooseOfferCodecs(req.offer);
    } catch (err) {
      if (err instanceof SdpError) throw new WhipError(err.code, err.message);
      throw err;
    }
    if (this.negotiating.has(stream.name) || this.opts.sessions.get(stream.name)?.publisher) {
      throw new WhipError('ALREADY_PUBLISHING', `stream "${stream.name}" already has a publisher; stop it first (a second simultaneous publisher is refused, not mixed in)`);
    }
    if (this.openPeers >= config.maxPublishers) {
      throw new WhipError('TOO_MANY_PUBLISHERS', `kibitz is at its WHIP publisher limit (${config.maxPublishers}, config whip.maxPublishers); try again later`);
    }

    const res: Resource = {
      id: randomBytes(16).toString('hex'), stream: stream.name, createdAt: new Date(),
      pipeline: new VideoPipeline({
        jitterBufferMs: config.jitterBufferMs,
        parameterSets: spropToAnnexB(fmtpParams(choice.h264.fmtp)['sprop-parameter-sets']),
        onNeedKeyframe: () => this.requestKeyframe(res, false),
      }),
      stdin: null, decoderRuns: 0, lastPliAt: -Infinity, pliSent: 0, audioPackets: 0, droppedForBackpressure: 0, badPackets: 0, ended: false,
    };
    this.pending++;
    this.negotiating.add(stream.name);
    try {
      let answered;
      try {
        answered = await WhipPeer.answer(config, req.offer, choice, {
          onVideoRtp: (rtp) => this.onVideoRtp(res, rtp),
          onAudioRtp: () => void res.audioPackets++,
          onConnected: () => log.info({ stream: res.stream, resource: res.id.slice(0, 8) }, 'WHIP publisher connected'),
          onEnd: (reason) => this.onPeerEnd(res, reason),
        });
      } catch (err) {
        if (err instanceof NoCandidatesError) throw new WhipError('TOO_MANY_PUBLISHERS', err.message);
        throw new WhipError('NEGOTIATION_FAILED', `could not negotiate the offer: ${(err as Error).message}`);
      }
      res.peer = answered.peer;
      if (this.closed) {
        await res.peer.close();
        throw new WhipError('SHUTTING_DOWN', 'kibitz is shutting down');
      }
      try {
        res.handle = this.opts.sessions.startPublish({
          stream: stream.name,
          protocol: 'whip',
          ip: req.ip,
          input: () => this.decoderInput(res),
          disconnect: (reason) => {
            log.info({ stream: res.stream, reason }, 'dropping WHIP publisher');
            void this.endResource(res, false);
          },
        });
      } catch (err) {
        await res.peer.close();
        if (err instanceof PublishError) {
          const e = new WhipError(err.code === 'UNKNOWN_STREAM' ? 'UNKNOWN_STREAM' : err.code === 'SHUTTING_DOWN' ? 'SHUTTING_DOWN' : 'ALREADY_PUBLISHING', err.message);
          e.countedByRegistry = err.code === 'ALREADY_PUBLISHING';
          throw e;
        }
        throw err;
      }
      if (res.ended) throw new WhipError('NEGOTIATION_FAILED', 'the peer connection failed while the publish was starting; publish again');
      this.resources.set(res.id, res);
      res.pliTimer = setInterval(() => {
        if (res.pipeline.waitingForKeyframe) this.requestKeyframe(res, true);
      }, config.pliIntervalMs);
      log.info({ stream: res.stream, resource: res.id.slice(0, 8), ip: req.ip }, 'WHIP publish answered');
      return { id: res.id, stream: res.stream, answer: answered.answer };
    } finally {
      this.pending--;
      this.negotiating.delete(stream.name);
    }
  }

  /** DELETE: the publisher ends its session. False when there is no such resource. */
  async remove(id: string): Promise<boolean> {
    const res = this.resources.get(id);
    if (!res) return false;
    this.opts.log.info({ stream: res.stream, resource: id.slice(0, 8) }, 'WHIP publisher sent DELETE');
    await this.endResource(res, true);
    return true;
  }

  private decoderInput(res: Resource): DecoderInput {
    res.stdin?.end();
    const stdin = new PassThrough({ highWaterMark: 256 * 1024 });
    res.stdin = stdin;
    // A new ffmpeg must start at a keyframe with PAT/PMT and SPS/PPS.
    if (res.decoderRuns++ > 0) {
      res.pipeline.resync();
      this.requestKeyframe(res, true);
    }
    return { args: WHIP_DECODER_INPUT_ARGS, stdin, label: 'whip' };
  }

  private onVideoRtp(res: Resource, rtp: RtpPacket): void {
    if (res.ended) return;
    let units;
    try {
      units = res.pipeline.processRtp(rtp);
    } catch (err) {
      // A malformed packet must cost one packet, never the publisher or the process.
      if (res.badPackets++ === 0) this.opts.log.warn({ stream: res.stream, err }, 'dropping a malformed RTP packet (logged once)');
      return;
    }
    if (units.length === 0) return;
    const stdin = res.stdin;
    if (!stdin || !res.handle?.active) return;
    for (const u of units) {
      if (stdin.writableLength + stdin.readableLength > MAX_BUFFERED_BYTES) {
        // ffmpeg is not keeping up: drop rather than queue (queued video is only latency).
        res.droppedForBackpressure++;
        res.pipeline.resync();
        this.requestKeyframe(res, true);
        return;
      }
      stdin.write(u.ts);
    }
    res.handle.inputFrames(units.length);
  }

  private requestKeyframe(res: Resource, periodic: boolean): void {
    const now = performance.now();
    if (res.ended || !res.peer) return;
    if (!periodic && now - res.lastPliAt < MIN_PLI_GAP_MS) return;
    res.lastPliAt = now;
    res.pliSent++;
    res.peer.requestKeyframe();
  }

  private onPeerEnd(res: Resource, reason: PeerEndReason): void {
    if (reason === 'closed' || res.ended) return;
    this.opts.log.info({ stream: res.stream, resource: res.id.slice(0, 8), reason }, 'WHIP publisher gone without DELETE');
    void this.endResource(res, true);
  }

  /** Idempotent teardown; `notifyRegistry`: the publisher is gone (the stream sessions start its grace period). */
  private async endResource(res: Resource, notifyRegistry: boolean): Promise<void> {
    if (res.ended) return;
    res.ended = true;
    this.resources.delete(res.id);
    clearInterval(res.pliTimer);
    res.stdin?.end();
    res.stdin = null;
    if (notifyRegistry) res.handle?.end();
    await res.peer?.close();
  }

  /** Ends every publisher (shutdown). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.resources.values()].map((r) => this.endResource(r, true)));
  }
}
