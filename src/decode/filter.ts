/**
 * The frame chain the model was trained with (models/CONTRACT.md). Do not "improve" it: a
 * different scaler or padding shifts the inputs the model learned on.
 */
export function frameFilter(fps: number, width: number, height: number): string {
  return `fps=${fps},scale=${width}:${height}:force_original_aspect_ratio=decrease:flags=bilinear,` +
    `pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2:black,format=rgb24`;
}
