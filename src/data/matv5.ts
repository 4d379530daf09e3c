/**
 * Minimal reader for MATLAB Level 5 MAT-files (what `save -v6/-v7` writes),
 * enough for the Oxford 102 label and split files: real numeric matrices of
 * any class, stored in any mi* type, optionally zlib-compressed.
 * Cells, structs, chars, sparse and objects are skipped; v7.3 (HDF5) is refused.
 *
 * Format reference: MathWorks, "MAT-File Format" (matfile_format.pdf), ch. 1.
 */
import { inflateSync } from 'node:zlib';

export type MatNumericClass = 'double' | 'single' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64';

export interface MatVariable {
  dims: number[];
  /** Real part in column-major order, converted to float64 whatever the stored type. */
  data: Float64Array;
  className: MatNumericClass;
  /** Set when the array had the logical flag (stored as uint8). */
  logical?: boolean;
}

export class MatFileError extends Error {
  override readonly name = 'MatFileError';
}

// Data element types (miXXX).
const MI = {
  INT8: 1,
  UINT8: 2,
  INT16: 3,
  UINT16: 4,
  INT32: 5,
  UINT32: 6,
  SINGLE: 7,
  DOUBLE: 9,
  INT64: 12,
  UINT64: 13,
  MATRIX: 14,
  COMPRESSED: 15,
  UTF8: 16,
} as const;

// Array classes (mxXXX_CLASS) that we read; others are skipped.
const NUMERIC_CLASSES: Readonly<Record<number, MatNumericClass>> = {
  6: 'double',
  7: 'single',
  8: 'int8',
  9: 'uint8',
  10: 'int16',
  11: 'uint16',
  12: 'int32',
  13: 'uint32',
  14: 'int64',
  15: 'uint64',
};

const FLAG_LOGICAL = 0x02;
const HEADER_BYTES = 128;

interface Element {
  type: number;
  data: Uint8Array;
  /** Offset of the next element in the enclosing buffer. */
  next: number;
}

/** Parse a MAT v5 file into its numeric variables, by name. */
export function readMat(file: Uint8Array): Map<string, MatVariable> {
  if (file.length < HEADER_BYTES) throw new MatFileError('not a MAT-file: shorter than the 128-byte header');
  const text = Buffer.from(file.subarray(0, 116)).toString('latin1');
  if (text.startsWith('MATLAB 7.3')) throw new MatFileError('MAT v7.3 (HDF5) files are not supported; re-save with -v7');
  const indicator = String.fromCharCode(file[126]!, file[127]!);
  if (indicator !== 'IM' && indicator !== 'MI') throw new MatFileError('not a MAT v5 file: missing endian indicator');
  // 'MI' written as a 16-bit value reads back as 'IM' on little-endian files.
  const le = indicator === 'IM';

  const vars = new Map<string, MatVariable>();
  let offset = HEADER_BYTES;
  while (offset + 8 <= file.length) {
    let el = readElement(file, offset, le, true);
    offset = el.next;
    if (el.type === MI.COMPRESSED) {
      el = readElement(inflate(el.data), 0, le, false);
    }
    if (el.type !== MI.MATRIX) continue;
    const parsed = readMatrix(el.data, le);
    if (parsed) vars.set(parsed.name, parsed.variable);
  }
  return vars;
}

function inflate(data: Uint8Array): Uint8Array {
  try {
    return inflateSync(data);
  } catch (cause) {
    throw new MatFileError('corrupt compressed variable', { cause });
  }
}

/** Read one tagged data element at `offset`, handling the 4-byte "small element" form. */
function readElement(buf: Uint8Array, offset: number, le: boolean, topLevel: boolean): Element {
  if (offset + 8 > buf.length) throw new MatFileError('truncated data element tag');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const first = view.getUint32(offset, le);
  if (first >>> 16 !== 0) {
    // Small element: type and byte count share the first word, data fits in the second.
    const size = first >>> 16;
    if (size > 4) throw new MatFileError('bad small data element');
    return { type: first & 0xffff, data: buf.subarray(offset + 4, offset + 4 + size), next: offset + 8 };
  }
  const size = view.getUint32(offset + 4, le);
  const start = offset + 8;
  if (start + size > buf.length) throw new MatFileError('truncated data element');
  // Elements are padded to 8 bytes, except compressed ones at top level.
  const padded = topLevel && first === MI.COMPRESSED ? size : Math.ceil(size / 8) * 8;
  return { type: first, data: buf.subarray(start, start + size), next: Math.min(start + padded, buf.length) };
}

/** miMATRIX body: array flags, dimensions, name, then real (and maybe imaginary) data. */
function readMatrix(body: Uint8Array, le: boolean): { name: string; variable: MatVariable } | null {
  if (body.length === 0) return null; // empty matrix placeholder, e.g. inside cells
  const flagsEl = readElement(body, 0, le, false);
  if (flagsEl.type !== MI.UINT32 || flagsEl.data.length < 8) throw new MatFileError('bad array flags');
  const flagsWord = new DataView(flagsEl.data.buffer, flagsEl.data.byteOffset, 8).getUint32(0, le);
  const classId = flagsWord & 0xff;
  const flags = (flagsWord >>> 8) & 0xff;

  const dimsEl = readElement(body, flagsEl.next, le, false);
  const dims = Array.from(readNumbers(dimsEl, le));
  const nameEl = readElement(body, dimsEl.next, le, false);
  const name = Buffer.from(nameEl.data).toString(nameEl.type === MI.UTF8 ? 'utf8' : 'latin1');

  const className = NUMERIC_CLASSES[classId];
  if (className === undefined) return null; // cell/struct/char/sparse/object: not needed here
  const realEl = readElement(body, nameEl.next, le, false);
  const data = readNumbers(realEl, le);
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new MatFileError(`variable "${name}": ${data.length} values for dimensions ${dims.join('x')}`);
  }
  const variable: MatVariable = { dims, data, className };
  if (flags & FLAG_LOGICAL) variable.logical = true;
  // For complex arrays (flag 0x08) the imaginary part follows; only real data is needed here.
  return { name, variable };
}

/** Decode a numeric data element of any mi* storage type into float64. */
function readNumbers(el: Element, le: boolean): Float64Array {
  const view = new DataView(el.data.buffer, el.data.byteOffset, el.data.byteLength);
  const read = READERS[el.type];
  if (!read) throw new MatFileError(`unsupported numeric storage type ${el.type}`);
  const [width, get] = read;
  if (el.data.length % width !== 0) throw new MatFileError('numeric data length is not a multiple of its type size');
  const out = new Float64Array(el.data.length / width);
  for (let i = 0; i < out.length; i++) out[i] = get(view, i * width, le);
  return out;
}

type Getter = (view: DataView, at: number, le: boolean) => number;

const READERS: Readonly<Record<number, readonly [number, Getter]>> = {
  [MI.INT8]: [1, (v, at) => v.getInt8(at)],
  [MI.UINT8]: [1, (v, at) => v.getUint8(at)],
  [MI.INT16]: [2, (v, at, le) => v.getInt16(at, le)],
  [MI.UINT16]: [2, (v, at, le) => v.getUint16(at, le)],
  [MI.INT32]: [4, (v, at, le) => v.getInt32(at, le)],
  [MI.UINT32]: [4, (v, at, le) => v.getUint32(at, le)],
  [MI.SINGLE]: [4, (v, at, le) => v.getFloat32(at, le)],
  [MI.DOUBLE]: [8, (v, at, le) => v.getFloat64(at, le)],
  [MI.INT64]: [8, (v, at, le) => Number(v.getBigInt64(at, le))],
  [MI.UINT64]: [8, (v, at, le) => Number(v.getBigUint64(at, le))],
};

/** Convenience: a variable's data as plain numbers, or an error naming what is missing. */
export function requireVariable(vars: ReadonlyMap<string, MatVariable>, name: string): MatVariable {
  const v = vars.get(name);
  if (!v) throw new MatFileError(`variable "${name}" not found (have: ${[...vars.keys()].join(', ') || 'none'})`);
  return v;
}
