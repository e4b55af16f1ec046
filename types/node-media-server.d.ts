// node-media-server 4.4.3 ships no types (@types/node-media-server describes v2). Only what
// kibitz uses: its RTMP session/protocol classes (we own the TCP listener), the shared
// Context and its logger.
declare module 'node-media-server/src/session/rtmp_session.js' {
  import type { Socket } from 'node:net';
  interface NmsPacket {
    codec_id: number;
    /** 8 audio, 9 video, 18 script data */
    codec_type: number;
    /** 0 audio header, 1 audio frame, 2 video header, 3 video keyframe, 4 video frame, 5 metadata */
    flags: number;
    dts: number;
    pts: number;
    size: number;
    data: Buffer;
  }
  interface NmsRtmpProtocol {
    onConnectCallback: (req: { app: string; name: string; host: string; query: unknown }) => void;
    onPushCallback: () => void;
    onPlayCallback: () => void;
    onPacketCallback: (packet: NmsPacket) => void;
    onOutputCallback: (buffer: Buffer) => void;
    parserData(buffer: Buffer): string | null;
  }
  interface NmsBroadcast {
    streamPath: string;
    publisher: RtmpSession | null;
    subscribers: Map<string, { close(): void; ip: string; protocol: string }>;
  }
  class RtmpSession {
    constructor(socket: Socket);
    id: string;
    ip: string;
    socket: Socket;
    rtmp: NmsRtmpProtocol;
    broadcast: NmsBroadcast;
    streamApp: string;
    streamName: string;
    streamPath: string;
    isPublisher: boolean;
    videoCodec: number;
    run(): void;
    onConnect: NmsRtmpProtocol['onConnectCallback'];
    onPush: () => void;
    onPlay: () => void;
    onPacket: (packet: NmsPacket) => void;
    onData: (data: Buffer) => void;
    onClose: () => void;
    onError: (err: Error) => void;
    close(): void;
    sendBuffer: (buffer: Buffer) => void;
  }
  export = RtmpSession;
}

declare module 'node-media-server/src/core/context.js' {
  const Context: {
    config: Record<string, unknown>;
    sessions: Map<string, unknown>;
    broadcasts: Map<string, { publisher: unknown; subscribers: Map<string, unknown> }>;
  };
  export = Context;
}

declare module 'node-media-server/src/core/logger.js' {
  const logger: { level: string; log(message: string, level?: string): void };
  export = logger;
}

declare module 'node-media-server/src/protocol/rtmp_client.js' {
  class RtmpClient {
    constructor();
    baseUri: string;
    streamId: number;
    socket: import('node:net').Socket | null;
    connect(url: string): Promise<void>;
    sendConnect(): Promise<unknown>;
    sendCreateStream(): Promise<number>;
    sendPublish(streamName: string, type?: string): Promise<unknown>;
    sendMetaData(meta: Record<string, unknown>): void;
    sendPacket(packet: { codec_id: number; codec_type: number; flags: number; dts: number; pts: number; size: number; data: Buffer; duration?: number; offset?: number }): void;
    disconnect(): void;
    onCloseCallback: (hadError: boolean) => void;
    onErrorCallback: (err: Error) => void;
  }
  export = RtmpClient;
}
