// IEEE 754 binary16 conversions (float16 storage of features, heads and centroids).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of x, rounded to nearest. */
export function toHalf(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = ((bits >>> 23) & 0xff) - 127 + 15;
  const mant = bits & 0x7fffff;
  if (((bits >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // NaN, ±∞
  if (exp >= 31) return sign | 0x7c00; // too large: ±∞
  if (exp <= 0) {
    if (exp < -10) return sign; // too small: ±0
    return sign | ((((mant | 0x800000) >> (1 - exp)) + 0x1000) >> 13); // subnormal
  }
  // Adding (not or-ing) lets a rounding carry move into the exponent.
  return sign | ((exp << 10) + ((mant + 0x1000) >> 13));
}

export function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
