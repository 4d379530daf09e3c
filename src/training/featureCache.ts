// Frozen-backbone features on disk, keyed by image content hash, backbone and
// view, so a retrain only extracts images (or views) it has not seen.
// One append-only file per (backbone, view): records of [sha256 (32 B)][float32 × dim].
// A torn last record (crash mid-append) is ignored on load.
import fs from 'node:fs';
import path from 'node:path';

const HASH_BYTES = 32;

export class FeatureCache {
  private readonly tables = new Map<string, Map<string, Float32Array>>();
  hits = 0;
  misses = 0;

  constructor(readonly dir: string) {}

  private file(backboneId: string, view: string): string {
    const safe = (s: string) => s.replace(/[^a-zA-Z0-9._-]/g, '_');
    return path.join(this.dir, safe(backboneId), `${safe(view)}.bin`);
  }

  private table(backboneId: string, view: string, dim: number): Map<string, Float32Array> {
    const key = `${backboneId}\u0000${view}`;
    let t = this.tables.get(key);
    if (t) return t;
    t = new Map();
    const file = this.file(backboneId, view);
    if (fs.existsSync(file)) {
      const buf = fs.readFileSync(file);
      const rec = HASH_BYTES + dim * 4;
      // Drop a torn tail so later appends stay aligned.
      if (buf.length % rec) fs.truncateSync(file, buf.length - (buf.length % rec));
      for (let off = 0; off + rec <= buf.length; off += rec) {
        const hash = buf.subarray(off, off + HASH_BYTES).toString('hex');
        // A view into the file buffer when aligned (records are multiples of 4 bytes), else a copy.
        const at = buf.byteOffset + off + HASH_BYTES;
        const vec =
          at % 4 === 0
            ? new Float32Array(buf.buffer, at, dim)
            : new Float32Array(new Uint8Array(buf.subarray(off + HASH_BYTES, off + rec)).buffer);
        t.set(hash, vec);
      }
    }
    this.tables.set(key, t);
    return t;
  }

  get(backboneId: string, view: string, sha256: string, dim: number): Float32Array | undefined {
    const v = this.table(backboneId, view, dim).get(sha256);
    if (v) this.hits++;
    else this.misses++;
    return v;
  }

  /** Appends entries in one write. */
  put(backboneId: string, view: string, dim: number, entries: { sha256: string; vector: Float32Array }[]): void {
    if (entries.length === 0) return;
    const t = this.table(backboneId, view, dim);
    const fresh = entries.filter((e) => !t.has(e.sha256));
    if (fresh.length === 0) return;
    const rec = HASH_BYTES + dim * 4;
    const out = Buffer.alloc(rec * fresh.length);
    fresh.forEach((e, i) => {
      if (e.vector.length !== dim) throw new Error(`feature of length ${e.vector.length}, expected ${dim}`);
      out.write(e.sha256, i * rec, 'hex');
      Buffer.from(e.vector.buffer, e.vector.byteOffset, dim * 4).copy(out, i * rec + HASH_BYTES);
      t.set(e.sha256, e.vector);
    });
    const file = this.file(backboneId, view);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.appendFileSync(file, out);
  }

  /**
   * Visits every record of one (backbone, view) file without keeping the file:
   * it is read a slice at a time, and `visit` must copy what it wants (the
   * vector is a view into a reused buffer). Uses the loaded table if there is one.
   */
  scan(backboneId: string, view: string, dim: number, visit: (sha256: string, vector: Float32Array) => void): void {
    const loaded = this.tables.get(`${backboneId}\u0000${view}`);
    if (loaded) {
      for (const [sha, v] of loaded) visit(sha, v);
      return;
    }
    const file = this.file(backboneId, view);
    if (!fs.existsSync(file)) return;
    const rec = HASH_BYTES + dim * 4;
    const perRead = Math.max(1, Math.floor((1 << 20) / rec));
    const buf = Buffer.alloc(rec * perRead);
    const vec = new Float32Array(dim);
    const bytes = new Uint8Array(vec.buffer);
    const fd = fs.openSync(file, 'r');
    try {
      for (let pos = 0; ;) {
        const n = fs.readSync(fd, buf, 0, buf.length, pos);
        const whole = Math.floor(n / rec);
        for (let r = 0; r < whole; r++) {
          const off = r * rec;
          bytes.set(buf.subarray(off + HASH_BYTES, off + rec));
          visit(buf.toString('hex', off, off + HASH_BYTES), vec);
        }
        if (whole < perRead) break; // end of file (a torn tail is ignored)
        pos += whole * rec;
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Lets go of the loaded files. Vectors already handed out stay valid (they
   * keep their own file buffer alive); an ensemble's rows are copies, so after
   * extraction this frees the per-backbone buffers they were copied from.
   */
  forget(): void {
    this.tables.clear();
  }

  /** forget() for one view of every backbone. */
  forgetView(view: string): void {
    for (const key of this.tables.keys()) if (key.endsWith(`\u0000${view}`)) this.tables.delete(key);
  }

  size(backboneId: string, view: string, dim: number): number {
    return this.table(backboneId, view, dim).size;
  }
}
