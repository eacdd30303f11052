/** FNV-1a (32 bit): a stable, fast, non-cryptographic hash of a string. */
export const FNV1A_OFFSET = 0x811c9dc5;

/** Folds `text` into a running FNV-1a hash `h` (start with {@link FNV1A_OFFSET}). */
export function fnv1a(text: string, h: number = FNV1A_OFFSET): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
