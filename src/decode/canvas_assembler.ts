/**
 * Cuts ffmpeg's `image2pipe` PGM stream (the decoder's grey canvas branch) into pictures. Each
 * picture carries its size in its header, so the reader need not know the source's size (the
 * canvas is `min(source width, maxWidth)` wide). Pure: no I/O, testable with byte fixtures.
 */
export interface GreyPicture {
  width: number;
  height: number;
  /** One byte per pixel, row-major. */
  data: Uint8Array;
}

/** The largest canvas accepted (8K); a header asking for more is corrupt. */
const MAX_SIDE = 8192;

export class CanvasAssembler {
  /** Bytes of an incomplete header. */
  private head: Buffer = Buffer.alloc(0);
  /** The picture being filled (its header parsed), and how much of it is. */
  private picture: GreyPicture | null = null;
  private filled = 0;

  /** Feed a chunk; returns the pictures it completed, in order. Throws on bytes that are not PGM. */
  push(chunk: Uint8Array): GreyPicture[] {
    const out: GreyPicture[] = [];
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (buf.length > 0) {
      if (!this.picture) {
        // Headers are a few bytes; only they are ever concatenated (a picture is copied once).
        const joined = this.head.length ? Buffer.concat([this.head, buf]) : buf;
        const header = parseHeader(joined);
        if (!header) {
          this.head = Buffer.from(joined);
          return out;
        }
        this.head = Buffer.alloc(0);
        this.picture = { width: header.width, height: header.height, data: new Uint8Array(header.width * header.height) };
        this.filled = 0;
        buf = joined.subarray(header.offset);
      }
      const p = this.picture;
      const n = Math.min(p.data.length - this.filled, buf.length);
      p.data.set(buf.subarray(0, n), this.filled);
      this.filled += n;
      buf = buf.subarray(n);
      if (this.filled === p.data.length) {
        out.push(p);
        this.picture = null;
      }
    }
    return out;
  }
}

/** `P5 <w> <h> 255` and one whitespace byte; null while the header is incomplete. */
function parseHeader(buf: Buffer): { width: number; height: number; offset: number } | null {
  if (buf.length < 2) return null;
  if (buf[0] !== 0x50 || buf[1] !== 0x35) throw new Error(`canvas stream: expected a PGM picture (P5), got bytes ${buf.subarray(0, 2).toString('hex')}`);
  const fields: number[] = [];
  let i = 2;
  while (fields.length < 3) {
    while (i < buf.length && isSpace(buf[i]!)) i++;
    if (i >= buf.length) return null;
    if (buf[i] === 0x23) { // a comment line
      while (i < buf.length && buf[i] !== 0x0a) i++;
      continue;
    }
    const start = i;
    while (i < buf.length && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
    if (i >= buf.length) return null;
    if (i === start || !isSpace(buf[i]!)) throw new Error('canvas stream: a PGM header field is not a number');
    fields.push(Number(buf.subarray(start, i).toString('latin1')));
  }
  const [width, height, max] = fields as [number, number, number];
  if (max !== 255 || width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) {
    throw new Error(`canvas stream: unsupported PGM ${width}x${height} max ${max} (8-bit, at most ${MAX_SIDE} a side)`);
  }
  return { width, height, offset: i + 1 };
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}
