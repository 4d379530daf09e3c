// Which attachments are photos worth downloading (cheap checks before any byte
// is fetched; the bytes are sniffed again after download).
import type { Attachment } from 'discord.js';

const PHOTO_EXT = /\.(jpe?g|png|webp|gif|tiff?|avif|heic|heif|bmp)$/i;

export function isPhotoAttachment(a: Pick<Attachment, 'contentType' | 'name'>): boolean {
  if (a.contentType) return a.contentType.startsWith('image/') && !a.contentType.includes('svg');
  return PHOTO_EXT.test(a.name ?? '');
}
