import net from 'node:net';
import RtmpClient from 'node-media-server/src/protocol/rtmp_client.js';

/** Sends bytes to the RTMP port and resolves when the server closes the connection (or after `holdMs`). */
export function sendRaw(port: number, bytes: Buffer, holdMs = 1000): Promise<'closed' | 'held'> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      resolve('held');
    }, holdMs);
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

/** A real RTMP handshake, then `connect` with a tcUrl that is not a URL (node-media-server throws on it). */
export async function malformedConnect(port: number): Promise<void> {
  const c = new RtmpClient();
  c.onErrorCallback = () => {};
  await c.connect(`rtmp://127.0.0.1:${port}/live/x`);
  c.baseUri = 'this is not a url';
  await Promise.race([c.sendConnect().catch(() => {}), new Promise((r) => setTimeout(r, 2000))]);
  c.disconnect();
}

/**
 * Publishes video tags whose FLV codec id (13) no decoder knows, at 30 fps for `seconds`.
 * ffmpeg can publish only codecs it can also decode, so this one is hand-made.
 */
export async function publishUnknownCodec(port: number, key: string, seconds = 4): Promise<void> {
  const c = new RtmpClient();
  c.onErrorCallback = () => {};
  await c.connect(`rtmp://127.0.0.1:${port}/live/${key}`);
  await c.sendConnect();
  await c.sendCreateStream();
  await c.sendPublish(key);
  c.sendMetaData({ width: 640, height: 360, framerate: 30, videocodecid: 13 });
  const payload = Buffer.alloc(2000, 0x55);
  for (let i = 0; i < seconds * 30 && c.socket; i++) {
    const data = Buffer.concat([Buffer.from([(i % 60 === 0 ? 0x10 : 0x20) | 13]), payload]);
    c.sendPacket({ codec_id: 13, codec_type: 9, flags: i % 60 === 0 ? 3 : 4, dts: Math.round(i * 1000 / 30), pts: Math.round(i * 1000 / 30), size: data.length, data });
    await new Promise((r) => setTimeout(r, 1000 / 30));
  }
  c.disconnect();
}
