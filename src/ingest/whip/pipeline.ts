import { JitterBufferBase, type RtpPacket } from 'werift/nonstandard';
import { AccessUnitAssembler, NAL_PPS, NAL_SPS, RtpClock, nalTypes, type AccessUnit } from './h264.ts';
import { TsMuxer } from './mpegts.ts';

/**
 * One publisher's video path as a pure processor: RTP packets in, MPEG-TS bytes out.
 * jitter buffer (reorder, skip gaps after `jitterBufferMs` of RTP time) -> access units ->
 * keyframe gate -> PTS = unwrapped RTP time since the first keyframe -> MPEG-TS.
 *
 * Keyframes: nothing is emitted before the first IDR with SPS/PPS (in band, earlier in band,
 * or from the offer's sprop-parameter-sets). The owner sends PLIs while `waitingForKeyframe`,
 * but the gate only waits: encoders that ignore PLI (OBS) still start at their next periodic
 * keyframe. After a loss the stream keeps flowing (the decoder conceals until the next IDR,
 * which a PLI asks for) rather than stalling commentary for a whole GOP.
 */
export interface VideoPipelineOptions {
  jitterBufferMs: number;
  /** SPS/PPS from the SDP, Annex-B; prepended to the first keyframe when it lacks them. */
  parameterSets?: Buffer;
  /** Called when a keyframe would help (loss, undecodable unit). */
  onNeedKeyframe?: () => void;
  now?: () => number;
}

export interface VideoPipelineStats {
  packets: number;
  accessUnits: number;
  /** Access units emitted into the TS. */
  emitted: number;
  /** Access units dropped while waiting for the first keyframe. */
  droppedBeforeKeyframe: number;
  broken: number;
  lostPackets: number;
  keyframes: number;
}

export interface EmittedUnit {
  ts: Buffer;
  /** Stream time of the unit, ms from the first keyframe (RTP time). */
  ptsMs: number;
  unit: AccessUnit;
}

export class VideoPipeline {
  private readonly jitter: JitterBufferBase;
  private readonly assembler: AccessUnitAssembler;
  private readonly clock = new RtpClock();
  private readonly mux = new TsMuxer();
  private started = false;
  private ptsBase: number | undefined;
  private paramsSeen = false;
  private readonly stats_: Omit<VideoPipelineStats, 'accessUnits' | 'broken' | 'lostPackets'> = {
    packets: 0, emitted: 0, droppedBeforeKeyframe: 0, keyframes: 0,
  };

  constructor(private readonly opts: VideoPipelineOptions) {
    this.jitter = new JitterBufferBase(90_000, { latency: opts.jitterBufferMs, bufferSize: 2000 });
    this.assembler = new AccessUnitAssembler(() => opts.onNeedKeyframe?.(), opts.now);
    if (opts.parameterSets && opts.parameterSets.length > 0) {
      const t = nalTypes(opts.parameterSets);
      this.paramsSeen = t.includes(NAL_SPS) && t.includes(NAL_PPS);
    }
  }

  /**
   * Wait for the next keyframe again (a new decoder is reading from here on, or bytes were
   * dropped under backpressure). Stream time continues.
   */
  resync(): void {
    this.started = false;
  }

  get waitingForKeyframe(): boolean {
    return !this.started;
  }

  get stats(): VideoPipelineStats {
    const a = this.assembler.stats;
    return { ...this.stats_, accessUnits: a.accessUnits, broken: a.broken, lostPackets: a.lostPackets };
  }

  processRtp(rtp: RtpPacket): EmittedUnit[] {
    this.stats_.packets++;
    const out: EmittedUnit[] = [];
    for (const o of this.jitter.processInput({ rtp })) {
      if (o.rtp) for (const au of this.assembler.processInput(o.rtp)) this.onUnit(au, out);
    }
    return out;
  }

  /** Drains what is buffered (publisher gone). */
  flush(): EmittedUnit[] {
    const out: EmittedUnit[] = [];
    for (const o of this.jitter.processInput({ eol: true })) {
      if (o.rtp) for (const au of this.assembler.processInput(o.rtp)) this.onUnit(au, out);
    }
    for (const au of this.assembler.flush()) this.onUnit(au, out);
    return out;
  }

  private onUnit(au: AccessUnit, out: EmittedUnit[]): void {
    if (au.hasParameterSets) this.paramsSeen = true;
    if (!this.started) {
      if (!au.keyframe || !this.paramsSeen) {
        this.clock.ticks(au.rtpTimestamp); // keep the clock unwrapping across long waits
        this.stats_.droppedBeforeKeyframe++;
        return;
      }
      this.started = true;
      if (!au.hasParameterSets && this.opts.parameterSets) au = { ...au, data: Buffer.concat([this.opts.parameterSets, au.data]) };
    }
    if (au.keyframe) this.stats_.keyframes++;
    const raw = this.clock.ticks(au.rtpTimestamp);
    this.ptsBase ??= raw; // PTS 0 = the first keyframe emitted
    const ticks = raw - this.ptsBase;
    this.stats_.emitted++;
    out.push({ ts: this.mux.mux({ data: au.data, pts90k: Math.max(0, ticks), keyframe: au.keyframe }), ptsMs: ticks / 90, unit: au });
  }
}
