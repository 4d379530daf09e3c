import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import * as tar from 'tar';
import { downloadFlowers } from '../src/data/flowersDownload.ts';
import { MatFileError, readMat } from '../src/data/matv5.ts';

// ---------------------------------------------------------------------------
// A tiny MAT v5 writer, just enough to produce files like MATLAB's.

type MiType = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'single' | 'double' | 'int64' | 'uint64';
const MI_CODE: Record<MiType, number> = {
  int8: 1,
  uint8: 2,
  int16: 3,
  uint16: 4,
  int32: 5,
  uint32: 6,
  single: 7,
  double: 9,
  int64: 12,
  uint64: 13,
};
const MI_WIDTH: Record<MiType, number> = {
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  single: 4,
  double: 8,
  int64: 8,
  uint64: 8,
};
const MX_CLASS = {
  char: 4,
  double: 6,
  single: 7,
  int8: 8,
  uint8: 9,
  int16: 10,
  uint16: 11,
  int32: 12,
  uint32: 13,
  int64: 14,
  uint64: 15,
} as const;

interface MatVar {
  name: string;
  className: keyof typeof MX_CLASS;
  dims: number[];
  data: number[];
  /** Storage type, e.g. MATLAB stores small-integer doubles as uint8. Default: the class's own type. */
  storeAs?: MiType;
}

function matFile(vars: MatVar[], { compress = false, bigEndian = false } = {}): Buffer {
  const le = !bigEndian;
  const u32 = (...values: number[]) => {
    const b = Buffer.alloc(4 * values.length);
    values.forEach((v, i) => (le ? b.writeUInt32LE(v, 4 * i) : b.writeUInt32BE(v, 4 * i)));
    return b;
  };
  const element = (type: number, data: Buffer): Buffer => {
    if (data.length <= 4 && data.length > 0) {
      return Buffer.concat([u32((data.length << 16) | type), data, Buffer.alloc(4 - data.length)]); // small element
    }
    const pad = (8 - (data.length % 8)) % 8;
    return Buffer.concat([u32(type, data.length), data, Buffer.alloc(pad)]);
  };
  const numbers = (type: MiType, values: number[]): Buffer => {
    const w = MI_WIDTH[type];
    const b = Buffer.alloc(w * values.length);
    const view = new DataView(b.buffer, b.byteOffset, b.length);
    values.forEach((v, i) => {
      const at = i * w;
      const set: Record<MiType, () => void> = {
        int8: () => view.setInt8(at, v),
        uint8: () => view.setUint8(at, v),
        int16: () => view.setInt16(at, v, le),
        uint16: () => view.setUint16(at, v, le),
        int32: () => view.setInt32(at, v, le),
        uint32: () => view.setUint32(at, v, le),
        single: () => view.setFloat32(at, v, le),
        double: () => view.setFloat64(at, v, le),
        int64: () => view.setBigInt64(at, BigInt(v), le),
        uint64: () => view.setBigUint64(at, BigInt(v), le),
      };
      set[type]();
    });
    return element(MI_CODE[type], b);
  };
  const header = Buffer.alloc(128, 0x20);
  header.write('MATLAB 5.0 MAT-file, Platform: bloom-test, Created on: today', 0, 'latin1');
  header.fill(0, 116, 124);
  const tail = Buffer.alloc(4);
  if (le) {
    tail.writeUInt16LE(0x0100, 0);
    tail.writeUInt16LE(0x4d49, 2);
  } else {
    tail.writeUInt16BE(0x0100, 0);
    tail.writeUInt16BE(0x4d49, 2);
  }
  tail.copy(header, 124);

  const body = vars.map((v) => {
    const storeAs = v.storeAs ?? (v.className === 'char' ? 'uint16' : v.className);
    const matrix = element(
      14,
      Buffer.concat([
        element(MI_CODE.uint32, u32(MX_CLASS[v.className], 0)),
        numbers('int32', v.dims),
        element(MI_CODE.int8, Buffer.from(v.name, 'latin1')),
        numbers(storeAs, v.data),
      ]),
    );
    if (!compress) return matrix;
    const z = deflateSync(matrix);
    return Buffer.concat([u32(15, z.length), z]); // miCOMPRESSED: not padded
  });
  return Buffer.concat([header, ...body]);
}

// ---------------------------------------------------------------------------

describe('readMat (MAT v5)', () => {
  const vars: MatVar[] = [
    { name: 'labels', className: 'double', dims: [1, 5], data: [77, 1, 102, 5, 77] },
    { name: 'greeting', className: 'char', dims: [1, 2], data: [104, 105] }, // skipped, but must not derail parsing
    { name: 'grid', className: 'double', dims: [2, 3], data: [1.5, -2, 3.25, 4, 5, 6], storeAs: 'double' },
    { name: 'ids', className: 'double', dims: [1, 3], data: [1, 8189, 300], storeAs: 'uint16' },
    { name: 'big', className: 'int64', dims: [1, 2], data: [-5, 2 ** 40] },
    { name: 'f', className: 'single', dims: [1, 1], data: [0.5] },
    { name: 'empty', className: 'double', dims: [0, 0], data: [] },
  ];

  for (const variant of [
    { compress: false, bigEndian: false },
    { compress: true, bigEndian: false },
    { compress: false, bigEndian: true },
    { compress: true, bigEndian: true },
  ]) {
    it(`reads numeric variables (${variant.compress ? 'compressed' : 'uncompressed'}, ${variant.bigEndian ? 'big' : 'little'}-endian)`, () => {
      const mat = readMat(matFile(vars, variant));
      assert.deepEqual([...mat.keys()], ['labels', 'grid', 'ids', 'big', 'f', 'empty']);
      assert.deepEqual(mat.get('labels'), { dims: [1, 5], data: Float64Array.from([77, 1, 102, 5, 77]), className: 'double' });
      assert.deepEqual(mat.get('grid')?.dims, [2, 3]);
      assert.deepEqual(Array.from(mat.get('grid')!.data), [1.5, -2, 3.25, 4, 5, 6]);
      assert.deepEqual(Array.from(mat.get('ids')!.data), [1, 8189, 300]);
      assert.deepEqual(Array.from(mat.get('big')!.data), [-5, 2 ** 40]);
      assert.equal(mat.get('big')!.className, 'int64');
      assert.deepEqual(Array.from(mat.get('f')!.data), [0.5]);
      assert.equal(mat.get('empty')!.data.length, 0);
    });
  }

  it('reports broken and unsupported files clearly', () => {
    const good = matFile(vars.slice(0, 1));
    assert.throws(() => readMat(good.subarray(0, 100)), MatFileError);
    assert.throws(() => readMat(good.subarray(0, good.length - 8)), /truncated/);
    const v73 = Buffer.from(good);
    v73.write('MATLAB 7.3 MAT-file', 0, 'latin1');
    assert.throws(() => readMat(v73), /7\.3/);
    const badZ = matFile(vars.slice(0, 1), { compress: true });
    badZ.fill(0xaa, 140);
    assert.throws(() => readMat(badZ), /corrupt/);
    assert.throws(() => readMat(matFile([{ name: 'x', className: 'double', dims: [1, 3], data: [1, 2] }])), /2 values for dimensions 1x3/);
  });
});

// ---------------------------------------------------------------------------

describe('downloadFlowers', () => {
  let dir: string;
  let server: http.Server;
  let origin: string;
  const requests: string[] = [];
  const files = new Map<string, Buffer>();

  // Six images: ids 1..6 with labels 1,2,1,3,2,3; official split 1-2 train, 3-4 valid, 5-6 test.
  const labels = [1, 2, 1, 3, 2, 3];
  const names = { '1': 'pink primrose', '2': 'hard-leaved pocket orchid', '3': 'canterbury bells', '10': 'globe thistle' };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bloom-flowers-'));
    const src = join(dir, 'src');
    await mkdir(join(src, 'jpg'), { recursive: true });
    for (let id = 1; id <= labels.length; id++) {
      const jpg = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 40 * id, g: 100, b: 200 } } })
        .jpeg()
        .toBuffer();
      await writeFile(join(src, 'jpg', `image_0000${id}.jpg`), jpg);
    }
    await writeFile(join(src, 'README.txt'), 'not an image');
    await tar.c({ gzip: true, cwd: src, file: join(dir, '102flowers.tgz') }, ['jpg', 'README.txt']);

    files.set('/vgg/102flowers.tgz', await readFile(join(dir, '102flowers.tgz')));
    // Like MATLAB: compressed, integer-valued doubles stored in the smallest type.
    files.set(
      '/vgg/imagelabels.mat',
      matFile([{ name: 'labels', className: 'double', dims: [1, 6], data: labels, storeAs: 'uint8' }], { compress: true }),
    );
    files.set(
      '/vgg/setid.mat',
      matFile(
        [
          { name: 'trnid', className: 'double', dims: [1, 2], data: [1, 2], storeAs: 'uint16' },
          { name: 'valid', className: 'double', dims: [1, 2], data: [3, 4], storeAs: 'uint16' },
          { name: 'tstid', className: 'double', dims: [1, 2], data: [6, 5], storeAs: 'uint16' },
        ],
        { compress: true },
      ),
    );
    files.set('/names.json', Buffer.from(JSON.stringify(names)));

    server = http.createServer((req, res) => {
      requests.push(req.url ?? '');
      const body = files.get(req.url ?? '');
      if (body) res.writeHead(200, { 'content-length': body.length }).end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const listTree = async (root: string): Promise<string[]> =>
    (await readdir(root, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
      .sort();

  it('downloads, extracts and lays out the official split', async () => {
    const out = join(dir, 'data', 'flowers102');
    const summary = await downloadFlowers({ outDir: out, baseUrl: `${origin}/vgg`, namesUrl: `${origin}/names.json` });

    assert.deepEqual(summary, {
      outDir: out,
      skipped: false,
      classes: 3,
      total: 6,
      splits: { train: { images: 2, classes: 2 }, valid: { images: 2, classes: 2 }, test: { images: 2, classes: 2 } },
    });
    assert.deepEqual(await listTree(out), [
      'cat_to_name.json',
      'summary.json',
      'test/2/image_00005.jpg',
      'test/3/image_00006.jpg',
      'train/1/image_00001.jpg',
      'train/2/image_00002.jpg',
      'valid/1/image_00003.jpg',
      'valid/3/image_00004.jpg',
    ]);
    const written = JSON.parse(await readFile(join(out, 'cat_to_name.json'), 'utf8')) as Record<string, string>;
    assert.deepEqual(Object.keys(written), ['1', '2', '3', '10']);
    assert.equal(written['3'], 'canterbury bells');
    assert.deepEqual(await readdir(join(dir, 'data')), ['flowers102'], 'no cache, temp or old dirs left behind');
    assert.equal((await sharp(join(out, 'train/1/image_00001.jpg')).metadata()).format, 'jpeg');
  });

  it('is idempotent, and --force rebuilds reusing kept downloads', async () => {
    const out = join(dir, 'data', 'flowers102');
    const before = requests.length;
    const again = await downloadFlowers({ outDir: out, baseUrl: `${origin}/vgg`, namesUrl: `${origin}/names.json` });
    assert.equal(again.skipped, true);
    assert.equal(again.total, 6);
    assert.equal(requests.length, before, 'nothing fetched');

    const opts = { outDir: out, baseUrl: `${origin}/vgg/`, namesUrl: `${origin}/names.json`, force: true, keepArchive: true };
    assert.equal((await downloadFlowers(opts)).skipped, false);
    assert.equal(requests.length, before + 4);
    assert.ok(existsSync(`${out}.downloads/102flowers.tgz`));
    await downloadFlowers(opts);
    assert.equal(requests.length, before + 4, 'kept downloads reused');
    assert.equal((await listTree(out)).length, 8);
  });

  it('fails cleanly on inconsistent metadata, leaving no partial layout', async () => {
    const out = join(dir, 'broken', 'flowers102');
    const good = files.get('/vgg/setid.mat')!;
    files.set(
      '/vgg/setid.mat',
      matFile([
        { name: 'trnid', className: 'double', dims: [1, 2], data: [1, 2] },
        { name: 'valid', className: 'double', dims: [1, 1], data: [2] },
        { name: 'tstid', className: 'double', dims: [1, 1], data: [9] },
      ]),
    );
    try {
      await assert.rejects(
        downloadFlowers({ outDir: out, baseUrl: `${origin}/vgg`, namesUrl: `${origin}/names.json` }),
        /more than one split/,
      );
      assert.equal(existsSync(out), false);
      assert.deepEqual(await readdir(join(dir, 'broken')), ['flowers102.downloads'], 'downloads kept for a retry');
    } finally {
      files.set('/vgg/setid.mat', good);
    }
  });

  it('runs as a CLI and prints a summary', async () => {
    const out = join(dir, 'cli', 'flowers102');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        'scripts/download-flowers.ts',
        '--out',
        out,
        '--base-url',
        `${origin}/vgg`,
        '--names-url',
        `${origin}/names.json`,
      ],
      { env: { ...process.env, NO_COLOR: '1' } },
    );
    assert.match(stdout, /ready in/);
    assert.match(stdout, /train\s+2 images\s+2 classes/);
    assert.match(stdout, /total\s+6 images\s+3 classes/);
  });
});
