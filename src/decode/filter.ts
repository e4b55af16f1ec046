/**
 * The frame chain the model was trained with (models/CONTRACT.md). Do not "improve" it: a
 * different scaler or padding shifts the inputs the model learned on.
 *
 * `round=up` makes output frame n the newest source frame at or before n/fps, so a frame
 * stamped t never shows anything later than t (the default `near` shows up to half a frame
 * interval later: 0.23 s at 2 fps from a 30 fps source, which made commentary look early).
 *
 * `setpts=PTS-STARTPTS` puts the fps grid's origin on this run's first frame, as when training
 * decodes a file. Without it the origin is media time 0, and live RTMP timestamps start wherever
 * the encoder's B-frame delay and ffmpeg's probing put them: sample 0 of a 30 fps stream showed
 * source frame 14 (ffmpeg 5.1) or 13 (the bundled 4.x), 0.45 s after its stamp. Pixels unchanged.
 */
export function frameFilter(fps: number, width: number, height: number): string {
  return `setpts=PTS-STARTPTS,fps=${fps}:round=up,scale=${width}:${height}:force_original_aspect_ratio=decrease:flags=bilinear,` +
    `pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2:black,format=rgb24`;
}
