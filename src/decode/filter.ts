/**
 * The frame chain the model was trained with (models/CONTRACT.md; the toolkit's
 * `render.frame_filter` builds the same string). Do not "improve" it: a different scaler or
 * padding shifts the inputs the model learned on.
 *
 * `round=up` makes output frame n the newest source frame at or before n/fps, so a frame
 * stamped t never shows anything later than t (the default `near` shows up to half a frame
 * interval later: 0.23 s at 2 fps from a 30 fps source, which made commentary look early).
 *
 * `setpts=PTS-STARTPTS` puts the fps grid's origin on this run's first frame, as when training
 * decodes a file. Without it the origin is media time 0, and live RTMP timestamps start wherever
 * the encoder's B-frame delay and ffmpeg's probing put them: sample 0 of a 30 fps stream showed
 * source frame 14 (ffmpeg 5.1) or 13 (the bundled 4.x), 0.45 s after its stamp. Pixels unchanged.
 *
 * A package may look at part of the screen (manifest `frame.view`, e.g. the chess package looks
 * at the xboard window): that part is cropped first and stretched to width x height. Without a
 * view the whole frame is scaled keeping its aspect and letterboxed.
 */
export function frameFilter(fps: number, width: number, height: number, view?: FrameView, scaler: FrameScaler = 'bilinear'): string {
  return `${sampling(fps)},${view ? crop(view) + ',' : ''}${fit(width, height, view ? 'stretch' : 'letterbox', scaler)}`;
}

/**
 * The frame chain while kibitz looks for the package's picture on the canvas (src/view/): the
 * same sampling, then two branches. `[frames]`: the model's frames through `scale@fit` (frames
 * pass untouched, unless a scaled picture is being brought back to the package's own size:
 * viewCommands) and a crop named `crop@view`, both moved by the decoder at run time (ffmpeg
 * filter commands), so a found view takes effect without restarting the decoder and the model
 * still gets ffmpeg's own pixels. `[canvas]`:
 * the whole picture in grey, at most `canvas.maxWidth` wide (aspect kept), `canvas.fps` times a
 * second: what the search reads.
 *
 * The `null` after the crop is load-bearing: a crop command that changes the crop's size also
 * resizes the link it writes to, so a scaler right behind it never sees the change and keeps
 * scaling with its old context (ffmpeg 5.1 stalls). Behind `null` the scaler gets frames of a
 * new size on an unchanged link and re-initialises (test/decode/view_move.test.ts).
 *
 * `fit` is how the model's frames are made from the crop: a package trained on a view of the
 * screen stretches it; one trained on whole frames letterboxes (a found view keeps its aspect, so
 * both give the package's own geometry).
 */
export function searchFilterGraph(fps: number, width: number, height: number, view: FrameView, fitMode: 'stretch' | 'letterbox', canvas: CanvasSpec, scaler: FrameScaler = 'bilinear'): string {
  return `[0:v:0]${sampling(fps)},split=2[model][whole];` +
    `[model]scale@fit=w=iw:h=ih:flags=bicubic,crop@view=${crop(view).slice('crop='.length)}:exact=1,null,${fit(width, height, fitMode, scaler)}[frames];` +
    `[whole]fps=${canvas.fps},scale='min(iw\\,${canvas.maxWidth})':-2:flags=bilinear,format=gray[canvas]`;
}

/** The grey canvas the view search reads: how often and how wide at most. */
export interface CanvasSpec {
  fps: number;
  maxWidth: number;
}

/**
 * ffmpeg filter commands that move the model's view to `view`: `scale@fit` first (the crop
 * re-reads its input's size with each command of its own), then the crop's w and h (x and y are
 * clipped to fit them, never refused). `scale@fit` writes straight into the crop: behind a
 * `null` the crop would keep cutting by the old size. `toSize`: the picture at
 * `view` is shown scaled and the package was trained on it at this size in pixels: `scale@fit`
 * scales the whole source so that the view is exactly that size, and the crop cuts it at a whole
 * pixel of that grid (scaledCut). Without it the source is not scaled (scale@fit passes frames
 * through untouched) and the crop cuts `view` as ffmpeg rounds it, as a fixed view is cut.
 */
export function viewCommands(view: FrameView, toSize?: readonly [number, number]): string[] {
  const [x, y, w, h] = checkView(view);
  if (!toSize) {
    return ['scale@fit -1 w iw', 'scale@fit -1 h ih', ...[`w iw*${num(w)}`, `h ih*${num(h)}`, `x iw*${num(x)}`, `y ih*${num(y)}`].map((c) => `crop@view -1 ${c}`)];
  }
  const c = scaledCut(view, toSize);
  return [`scale@fit -1 w ${c.fitW}`, `scale@fit -1 h ${c.fitH}`, ...[`w ${toSize[0]}`, `h ${toSize[1]}`, `x ${c.x}`, `y ${c.y}`].map((v) => `crop@view -1 ${v}`)];
}

/**
 * How a scaled picture at `view` is brought to `size` pixels and cut: the size the whole source
 * is scaled to (fitW x fitH) and the whole-pixel place of the view on it. Of the sizes within a
 * few pixels of the exact one, the one that puts the view's corner nearest a whole pixel wins,
 * counting what the slightly different scale moves the far corner: both stay small, typically
 * under a quarter pixel of the package's own (measured: 1 px off cost the chess package 6-9 F1 points, a scale
 * 0.3% off 1 point).
 */
export function scaledCut(view: FrameView, size: readonly [number, number]): { fitW: number; fitH: number; x: number; y: number } {
  const [x, y, w, h] = checkView(view);
  const pick = (at: number, share: number, n: number) => {
    const exact = n / share; // the fitted size at which the view is n pixels
    let best = { fit: Math.round(exact), cost: Infinity };
    for (let fit = Math.round(exact) - 6; fit <= Math.round(exact) + 6; fit++) {
      const cost = Math.abs(at * fit - Math.round(at * fit)) + (n * Math.abs(fit - exact)) / exact;
      if (cost < best.cost && Math.round(at * fit) + n <= fit) best = { fit, cost };
    }
    return { fit: best.fit, at: Math.round(at * best.fit) };
  };
  const px = pick(x, w, size[0]), py = pick(y, h, size[1]);
  return { fitW: px.fit, fitH: py.fit, x: px.at, y: py.at };
}

function sampling(fps: number): string {
  return `setpts=PTS-STARTPTS,fps=${fps}:round=up`;
}

function crop(view: FrameView): string {
  const [x, y, w, h] = checkView(view);
  return `crop=iw*${num(w)}:ih*${num(h)}:iw*${num(x)}:ih*${num(y)}`;
}

function fit(width: number, height: number, mode: 'stretch' | 'letterbox', scaler: FrameScaler): string {
  const keep = mode === 'letterbox' ? ':force_original_aspect_ratio=decrease' : '';
  return `scale=${width}:${height}${keep}:flags=${scaler},pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2:black,format=rgb24`;
}

/**
 * ffmpeg's scaler for the model's frames: what its training data went through (manifest
 * frame.scaler). The bundled packages were trained on bilinear; VideoLLM-online's data on bicubic
 * (its data/utils.py ffmpeg_once).
 */
export type FrameScaler = 'bilinear' | 'bicubic';

/** The part of the source frame a model looks at: [x, y, w, h] in fractions of the frame. */
export type FrameView = readonly [number, number, number, number];

/** The one rule for a view (the toolkit's `render.check_view` is the same): inside the frame, not empty. */
export function checkView(view: readonly number[]): FrameView {
  if (view.length !== 4 || !view.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new Error(`a view is [x, y, w, h] in fractions of the frame, got ${JSON.stringify(view)}`);
  }
  const [x, y, w, h] = view as [number, number, number, number];
  if (!(x >= 0 && x < 1 && y >= 0 && y < 1 && w > 0 && h > 0 && x + w <= 1 + 1e-9 && y + h <= 1 + 1e-9)) {
    throw new Error(`view ${JSON.stringify(view)} is not inside the frame (x, y >= 0; x + w, y + h <= 1)`);
  }
  return [x, y, w, h];
}

/** Whether two views are the same (both absent: the whole frame). */
export function sameView(a: readonly number[] | undefined, b: readonly number[] | undefined): boolean {
  if (!a || !b) return !a && !b;
  return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) < 1e-9);
}

/** Like Python's `{:g}` for the fractions a view is written with (up to 6 significant digits). */
function num(v: number): string {
  return String(Number(v.toPrecision(6)));
}
