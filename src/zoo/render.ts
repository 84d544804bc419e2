/**
 * Text → pixels with sharp (librsvg renders an SVG). The only zoo module that touches sharp.
 */
import sharp from 'sharp';
import type { RgbImage } from './preprocess/image.js';
import { KilnError } from '../errors.js';

export interface RenderTextOptions {
  /** Canvas size in pixels. @default width: 40 + 0.7·fontSize·text length, height: 2·fontSize */
  width?: number;
  height?: number;
  /** @default 40 */
  fontSize?: number;
  /** Left edge of the text and its baseline, in pixels. @default x: 20, baseline: a third below the middle */
  x?: number;
  baseline?: number;
  /** @default 'DejaVu Sans, Liberation Sans, Arial, sans-serif' */
  fontFamily?: string;
  /** CSS colours. @default text '#000', background '#fff' */
  color?: string;
  background?: string;
}

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The SVG that renderText draws (pure). */
export function textSvg(text: string, options: RenderTextOptions = {}): { svg: string; width: number; height: number } {
  const fontSize = options.fontSize ?? 40;
  const width = options.width ?? Math.ceil(40 + 0.7 * fontSize * [...text].length);
  const height = options.height ?? 2 * fontSize;
  const x = options.x ?? 20;
  const baseline = options.baseline ?? Math.round(height / 2 + fontSize / 3);
  const family = options.fontFamily ?? 'DejaVu Sans, Liberation Sans, Arial, sans-serif';
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="100%" height="100%" fill="${escapeXml(options.background ?? '#fff')}"/>` +
    `<text x="${x}" y="${baseline}" font-family="${escapeXml(family)}" font-size="${fontSize}" fill="${escapeXml(options.color ?? '#000')}">${escapeXml(text)}</text>` +
    `</svg>`;
  return { svg, width, height };
}

/** Render one line of text into an RGB image. */
export async function renderText(text: string, options: RenderTextOptions = {}): Promise<RgbImage> {
  const { svg } = textSvg(text, options);
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new KilnError('INTERNAL', `renderText: expected 3 channels from sharp, got ${info.channels}`);
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
