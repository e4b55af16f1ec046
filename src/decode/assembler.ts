/**
 * Cuts a raw byte stream (ffmpeg rawvideo on stdout, arbitrary chunk sizes) into whole frames.
 * Pure: no I/O, testable with byte fixtures. Copies only when a frame spans chunks.
 */
export class FrameAssembler {
  private partial: Buffer | null = null;
  private filled = 0;

  constructor(readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) throw new RangeError(`frameBytes must be a positive integer, got ${frameBytes}`);
  }

  /** Feed a chunk; returns the frames it completed, in order. */
  push(chunk: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    let off = 0;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.partial) {
      const n = Math.min(this.frameBytes - this.filled, buf.length);
      buf.copy(this.partial, this.filled, 0, n);
      this.filled += n;
      off = n;
      if (this.filled === this.frameBytes) {
        out.push(this.partial);
        this.partial = null;
        this.filled = 0;
      }
    }
    while (buf.length - off >= this.frameBytes) {
      // A copy, so a queued frame never pins (or aliases) ffmpeg's larger read buffer.
      out.push(Buffer.from(buf.subarray(off, off + this.frameBytes)));
      off += this.frameBytes;
    }
    if (off < buf.length) {
      this.partial = Buffer.allocUnsafe(this.frameBytes);
      buf.copy(this.partial, 0, off);
      this.filled = buf.length - off;
    }
    return out;
  }

  /** Bytes of an incomplete trailing frame (dropped when the decoder ends). */
  get pendingBytes(): number {
    return this.filled;
  }
}
