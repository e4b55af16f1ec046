import net from 'node:net';
import Context from 'node-media-server/src/core/context.js';
import nmsLogger from 'node-media-server/src/core/logger.js';
import RtmpSession from 'node-media-server/src/session/rtmp_session.js';
import type { StreamConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { PublishError, type PublishHandle, type StreamSessions } from '../stream/sessions.ts';
import { matchStreamKey } from './keys.ts';
import { RtmpTap, type Broadcast } from './rtmp_tap.ts';

export class PortInUseError extends Error {
  constructor(readonly what: string, readonly host: string, readonly port: number) {
    super(`${what} port ${port} is already in use on ${host} — stop the other program or choose another port (config ${what === 'RTMP' ? 'rtmp.port / KIBITZ_RTMP_PORT' : 'http.port / KIBITZ_HTTP_PORT'})`);
    this.name = 'PortInUseError';
  }
}

export interface RtmpIngestOptions {
  host: string;
  /** 0 = any free port (tests); read `port` after start(). */
  port: number;
  streams: readonly StreamConfig[];
  sessions: StreamSessions;
  metrics: Metrics;
  log: Logger;
  /** Let non-loopback clients play streams back (default: loopback only; kibitz's decoder reads publishes in process, rtmp_tap.ts). */
  allowRemotePlay?: boolean;
  /** Connections that have not published or played after this long are dropped (truncated handshakes). */
  idleTimeoutMs?: number;
}

/** node-media-server logs stream paths, which end in the stream key. */
function redactNms(message: string): string {
  return message.replace(/(\/[A-Za-z0-9_-]+\/)[A-Za-z0-9_-]+/g, '$1***').replace(/name=[^,\s]*/g, 'name=***');
}

let nmsLogSink: Logger | null = null;
/** It forces debug logging to console.log; route it to our logger at debug, keys scrubbed. */
function captureNmsLogging(log: Logger): void {
  nmsLogSink = log;
  nmsLogger.log = (message: string) => nmsLogSink?.debug({ component: 'node-media-server' }, redactNms(String(message)));
}

/** ~10 s of a 10 Mbit/s stream. */
const PLAYER_BUFFER_LIMIT = 12 * 1024 * 1024;

const isLoopback = (addr: string | undefined) => !!addr && (addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.'));

/**
 * RTMP ingest on node-media-server's protocol code, with our own TCP listener (so a busy port
 * is an error we report, not its process.exit(1), and nothing of its HTTP server, store or
 * recorder runs). Each connection gets a node-media-server RtmpSession whose callbacks we
 * wrap: publishes are checked against the stream keys before they register, protocol
 * exceptions (a malformed `connect` throws `Invalid URL` inside the library) drop only that
 * connection.
 */
export class RtmpIngest {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private boundPort = 0;

  constructor(private readonly opts: RtmpIngestOptions) {}

  /** The bound port once started. */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const { host, port, log } = this.opts;
    captureNmsLogging(log);
    const server = net.createServer((socket) => this.onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new PortInUseError('RTMP', host, port) : err));
      server.listen(port, host, () => resolve());
    });
    server.on('error', (err) => log.error({ err }, 'RTMP listener error'));
    this.server = server;
    this.boundPort = (server.address() as net.AddressInfo).port;
  }

  private onConnection(socket: net.Socket): void {
    const { log, metrics } = this.opts;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    const ip = socket.remoteAddress ?? '?';
    const session = new RtmpSession(socket);
    session.run();
    let engaged = false;
    socket.setTimeout(this.opts.idleTimeoutMs ?? 15_000, () => {
      if (!engaged) {
        log.debug({ ip }, 'RTMP connection idle before publishing; closed');
        socket.destroy();
      }
    });

    // Exceptions thrown while parsing (e.g. `new URL(tcUrl)` on a bad connect) would be
    // uncaught: the socket 'data' handler is where the library parses, so guard it there.
    socket.removeListener('data', session.onData);
    let first = true;
    socket.on('data', (data: Buffer) => {
      if (first) {
        first = false;
        // C0 is the protocol version: 3 (plain RTMP). The library does not check it, so an HTTP
        // request or random bytes would otherwise sit in its parser until the idle timeout.
        if (data[0] !== 3) {
          metrics.protocolErrors.inc({ protocol: 'rtmp' });
          log.warn({ ip }, 'RTMP connection dropped: not an RTMP handshake');
          socket.destroy();
          return;
        }
      }
      try {
        session.onData(data);
      } catch (err) {
        metrics.protocolErrors.inc({ protocol: 'rtmp' });
        log.warn({ ip, error: (err as Error).message }, 'RTMP connection dropped: malformed request');
        socket.destroy();
      }
    });
    socket.on('error', () => {}); // resets from misbehaving clients are normal; 'close' follows

    session.rtmp.onPlayCallback = () => {
      engaged = true;
      socket.setTimeout(0);
      if (!this.opts.allowRemotePlay && !isLoopback(socket.remoteAddress)) {
        log.warn({ ip }, 'RTMP play refused: only kibitz itself may play streams back');
        socket.end();
        return;
      }
      session.onPlay();
      // node-media-server writes to players without backpressure. If our decoder falls this far
      // behind, drop its connection: it restarts from the latest keyframe instead of node
      // buffering video without bound.
      const send = session.sendBuffer;
      session.sendBuffer = (buffer: Buffer) => {
        if (socket.writableLength > PLAYER_BUFFER_LIMIT) {
          log.warn({ ip, bufferedMB: Math.round(socket.writableLength / 1e6) }, 'RTMP player too slow (decoder overloaded?); dropping it');
          socket.destroy();
          return;
        }
        send(buffer);
      };
    };
    session.rtmp.onPushCallback = () => {
      engaged = true;
      socket.setTimeout(0);
      this.onPublish(session, ip);
    };
  }

  private onPublish(session: RtmpSession, ip: string): void {
    const { log, metrics, sessions } = this.opts;
    const socket = session.socket;
    const stream = session.streamApp === 'live' ? matchStreamKey(this.opts.streams, session.streamName) : undefined;
    if (!stream) {
      metrics.refused.inc({ reason: session.streamApp === 'live' ? 'unknown-key' : 'bad-app', protocol: 'rtmp' });
      log.warn({ ip, app: session.streamApp }, session.streamApp === 'live'
        ? 'RTMP publish refused: unknown stream key'
        : 'RTMP publish refused: publish to rtmp://HOST:PORT/live/<stream key>');
      this.forgetBroadcast(session);
      socket.end();
      return;
    }
    let handle: PublishHandle;
    const tap = new RtmpTap(session.broadcast as unknown as Broadcast, log, stream.name);
    try {
      handle = sessions.startPublish({
        stream: stream.name,
        protocol: 'rtmp',
        ip,
        // The decoder reads the publish in process, from its first packet (rtmp_tap.ts).
        input: () => tap.open(),
        disconnect: () => socket.end(),
      });
    } catch (err) {
      const code = err instanceof PublishError ? err.code : 'ERROR';
      log.warn({ ip, stream: stream.name, code }, `RTMP publish refused: ${(err as Error).message}`);
      tap.close();
      this.forgetBroadcast(session);
      socket.end();
      return;
    }
    // kibitz keeps its own reconnect grace (config ingest.graceMs); the library's 30 s one would
    // replay a stale GOP to the next decoder and delay its events.
    (session.broadcast as unknown as { publishGraceMs: number }).publishGraceMs = 0;
    session.onPush();
    if (!session.isPublisher) {
      handle.end();
      tap.close();
      return;
    }
    const origPacket = session.rtmp.onPacketCallback;
    session.rtmp.onPacketCallback = (packet) => {
      // Video frames only; an AVC "end of sequence" tag (packet type 2) carries no picture.
      if (packet.codec_type === 9 && (packet.flags === 3 || packet.flags === 4) && !(packet.codec_id === 7 && packet.data[1] !== 1)) handle.inputFrames(1);
      origPacket(packet);
    };
    socket.once('close', () => {
      handle.end();
      // The decoder's tap and any other player of this path see the end of the stream too.
      tap.close();
      for (const sub of session.broadcast.subscribers.values()) sub.close();
    });
  }

  /** onConnect registered a broadcast for the refused path; drop it if nothing else uses it. */
  private forgetBroadcast(session: RtmpSession): void {
    const b = Context.broadcasts.get(session.streamPath);
    if (b && b.publisher === null && b.subscribers.size === 0) Context.broadcasts.delete(session.streamPath);
  }

  /** Stop listening and drop every connection. Idempotent. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
